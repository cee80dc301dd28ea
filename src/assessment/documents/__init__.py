"""Official documents from the scores: the 通报 (GB/T 9704-2012) with its score-table attachment,
the score workbook, one 整改通知 per unit with deductions, and charts.

Documents read scores; they never compute them. Wording and office details come from
templates/office.yaml. Same inputs → byte-identical files.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from . import annexes, quarterly
from .charts import chart_pngs, write_charts
from .docformat import to_bytes
from .notices import write_notices
from .notification import build_notification, notification_title
from .office import OfficeError, fixed_time, load_office, office_for
from .quarterly import build_quarterly
from .reproducible import write_package
from .workbook import components_sheet, printable, write_workbook

__all__ = ["write_reports", "load_office", "office_for", "build_notification", "build_quarterly", "notification_title",
           "OfficeError"]

REQUIRED = {
    "unit_scores": ["unit_id", "unit_name", "unit_group", "total", "grade", "rank", "vetoed", "veto_reasons"],
    "indicator_scores": ["unit_id", "indicator", "name", "depth", "points", "score"],
    "line_items": ["unit_id", "indicator", "rule", "points", "evidence_ids", "explanation", "kind"],
}


def _check(name: str, df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED[name] if c not in df.columns]
    if missing:
        raise ValueError(f"{name} 缺少列 / is missing columns: {', '.join(missing)}")
    out = df.copy()
    out["unit_id"] = out["unit_id"].astype(str)
    for col in ("unit_id", "unit_name", "unit_group", "veto_reasons", "explanation", "evidence_ids", "name"):
        if col in out.columns and out[col].dtype == object:
            out[col] = out[col].map(lambda v: printable(v) if isinstance(v, str) else v)
    return out


def _flag(values: pd.Series) -> pd.Series:
    """vetoed as bool, whether it arrives as bool or as text from a CSV ('True', 'true', '是')."""
    if values.dtype == bool:
        return values
    return values.astype(str).str.strip().str.lower().isin(["true", "1", "yes", "是"])


def _stem(fw: Any, period: str | None) -> str:
    return re.sub(r"[^\w.-]", "_", f"{fw.id}-{period}" if period else str(fw.id))


def write_reports(fw: Any, unit_scores: pd.DataFrame, indicator_scores: pd.DataFrame, line_items: pd.DataFrame,
                  events: pd.DataFrame | None, out_dir: Path, office: dict | None = None,
                  previous: pd.DataFrame | None = None, period: str | None = None, *,
                  facts: pd.DataFrame | None = None, comparison: pd.DataFrame | None = None,
                  appeals: pd.DataFrame | None = None, components: list[dict] | None = None,
                  no_events: bool = False, comparison_note: str | None = None, synthetic: bool = False) -> dict[str, Path]:
    """Write the notification, workbook, notices and charts into `out_dir`; returns name → path.

    Names: "notification", "workbook", "chart_grades", "chart_groups", "notice:<unit_id>".
    `office` is laid over templates/office.yaml (and its entries for the framework's jurisdiction
    and id), so a partial dict overrides single settings. A quarterly framework (`fw.period ==
    "quarter"`) gets the 季度通报, whose numeric targets are read from `facts` where given.
    Optional annexes (None: not shown), each an attachment page and a workbook sheet:
    `comparison` (years side by side), `appeals` (复核), `components` (a combined result: one
    column of `unit_scores` per component id, shown beside the combined total).
    `no_events`: the run declared a year without events; the notification says so. `comparison_note`:
    one sentence in the overview saying why last year is not compared (its bundle was unusable).
    `synthetic`: the evidence is demo data (its dataset.yaml says so); every document is marked （演示）."""
    out_dir = Path(out_dir)
    office = office_for(fw, office, synthetic=synthetic)
    if period is not None and re.fullmatch(r"\d{4}", str(period).strip()):
        period = None  # a whole year ('2023', as scoring labels it) is the annual document
    units = _check("unit_scores", unit_scores)
    units["vetoed"] = _flag(units["vetoed"])
    if previous is not None:
        previous = previous.assign(vetoed=_flag(previous["vetoed"]))
    for col, default in (("base", float("nan")), ("bonus", 0.0), ("penalty", 0.0)):
        if col not in units:
            units[col] = default
    units["veto_reasons"] = units["veto_reasons"].fillna("").astype(str)
    indicators = _check("indicator_scores", indicator_scores)
    lines = _check("line_items", line_items)
    if events is not None:
        events = events.copy()
        events["event_id"] = events["event_id"].astype(str)
    if components:
        missing = [str(c.get("id")) for c in components if c.get("id") not in units]
        if missing:
            raise ValueError(f"unit_scores 缺少分项得分列 / is missing component columns: {', '.join(missing)}")
    if comparison is not None:
        comparison = annexes.check_columns("comparison", comparison, annexes.COMPARISON_COLUMNS)
    if appeals is not None:
        appeals = annexes.check_columns("appeals", appeals, annexes.APPEAL_COLUMNS)
    when = fixed_time(fw, office)
    stem = _stem(fw, period)

    pngs = chart_pngs(fw, units, office, period)
    sheets: list = []
    if getattr(fw, "period", "year") == "quarter":
        doc = build_quarterly(fw, units, indicators, lines, office, period, facts, list(pngs.values()),
                              comparison=comparison, appeals=appeals, no_events=no_events, comparison_note=comparison_note)
        sheets.append(quarterly.task_sheet(quarterly.task_states(fw, units, indicators, lines, facts, office, period)))
    else:
        doc = build_notification(fw, units, indicators, lines, office, previous, period, list(pngs.values()),
                                 comparison=comparison, appeals=appeals, components=components,
                                 no_events=no_events, comparison_note=comparison_note, events=events)
    if components:
        sheets.append(components_sheet(fw, units, components))
    if comparison is not None:
        sheets.append(annexes.comparison_sheet(comparison))
    if appeals is not None:
        sheets.append(annexes.appeals_sheet(fw, appeals, office))
    paths: dict[str, Path] = {
        "notification": write_package(out_dir / f"通报-{stem}.docx", to_bytes(doc), when),
        "workbook": write_workbook(fw, units, indicators, lines, out_dir / f"考评结果-{stem}.xlsx", when, sheets),
    }
    paths.update(write_charts(fw, units, out_dir / "charts", office, period, pngs))
    for unit_id, path in write_notices(fw, units, lines, events, out_dir / "notices", office, period).items():
        paths[f"notice:{unit_id}"] = path
    return paths
