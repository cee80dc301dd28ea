"""Figures the notification quotes, read off the scores (documents never re-score anything)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pandas as pd


def groups_of(fw: Any, units: pd.DataFrame) -> list[str]:
    """The framework's unit groups in display order, then any other group the scores carry
    (so no unit silently drops out of a document)."""
    present = list(dict.fromkeys(units["unit_group"].astype(str)))
    return [g for g in fw.unit_groups if g in present] + [g for g in present if g not in fw.unit_groups]


def ordered_units(units: pd.DataFrame) -> pd.DataFrame:
    """Units by total (best first), then vetoed ones without a total; ties by rank, then unit id.
    A vetoed unit with a `veto_score` total sits at its total (it is ranked by it)."""
    return units.assign(_v=units["vetoed"].astype(bool) & units["total"].isna()).sort_values(
        ["_v", "total", "rank", "unit_id"], ascending=[True, False, True, True], na_position="last", kind="mergesort"
    ).drop(columns="_v")


def table_order(units: pd.DataFrame) -> pd.DataFrame:
    """Rows of the attachment: by rank within the group, vetoed units without a total last."""
    return units.assign(_v=units["vetoed"].astype(bool) & units["total"].isna()).sort_values(
        ["_v", "rank", "total", "unit_id"], ascending=[True, True, False, True], na_position="last", kind="mergesort"
    ).drop(columns="_v")


@dataclass
class Overview:
    n_units: int
    group_counts: dict[str, int]
    grade_counts: dict[str, int]
    n_vetoed: int
    pass_rate: float  # percent
    average: float  # over units that were not vetoed
    best: dict[str, list[tuple[str, float]]]  # group → [(unit name, total)], ties included


def overview(fw: Any, units: pd.DataFrame) -> Overview:
    grades = [g.name for g in fw.grades]
    counts = units["grade"].value_counts()
    n = len(units)
    scored = units[~units["vetoed"].astype(bool)]
    best: dict[str, list[tuple[str, float]]] = {}
    for group in groups_of(fw, units):
        members = scored[scored["unit_group"] == group].dropna(subset=["total"])
        if len(members):
            top = members["total"].max()
            best[group] = [(r.unit_name, float(r.total)) for r in ordered_units(members[members["total"] == top]).itertuples()]
    return Overview(
        n_units=n,
        group_counts={g: int((units["unit_group"] == g).sum()) for g in groups_of(fw, units)},
        grade_counts={g: int(counts.get(g, 0)) for g in grades},
        n_vetoed=int(units["vetoed"].astype(bool).sum()),
        pass_rate=100.0 * float((units["grade"] != fw.veto_grade).sum()) / n if n else 0.0,
        average=float(scored["total"].mean()) if len(scored) else float("nan"),
        best=best,
    )


def deductions(line_items: pd.DataFrame, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Lines that took points away for a finding (normalisation and adjustments are not findings),
    with `records` (evidence rows named) and `count` (problems found).

    One count everywhere: a problem is one unit of an evidence row's 数量 (quantity), as the rules
    price it (错别字 每处扣1分, a row of 数量 5 is 5 typos) and as `threshold` counts 问题数. With
    `events` the count is the sum of the named rows' quantities; without them (a combined result,
    whose lines name score files) quantities are unknown and `count` is NaN — say records then."""
    lines = line_items[(line_items["points"] < 0) & ~line_items["kind"].isin(["normalise", "adjust"])].copy()
    ids = lines["evidence_ids"].fillna("").astype(str).map(lambda s: [x.strip() for x in s.split(";") if x.strip()])
    lines["records"] = ids.map(lambda xs: max(1, len(xs))).astype(int)
    if events is None or "quantity" not in events:
        lines["count"] = float("nan")
        return lines
    qty = pd.to_numeric(events["quantity"], errors="coerce").fillna(1.0)
    quantity = dict(zip(events["event_id"].astype(str), qty))
    # a line naming no event row (or one the events do not hold) is one problem per named row
    lines["count"] = ids.map(lambda xs: sum(quantity.get(x, 1.0) for x in xs) if xs else 1.0).astype(float)
    return lines


def counts_known(lines: pd.DataFrame) -> bool:
    """Whether `deductions` could read the quantities (else documents count evidence records)."""
    return bool(len(lines)) and bool(lines["count"].notna().all())


def problems(fw: Any, units: pd.DataFrame, line_items: pd.DataFrame, events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Deductions by indicator, most frequent first: count (the evidence rows' quantities, see
    `deductions`; the records where quantities are unknown), records, share of all problems (%),
    points, units concerned (most problems first)."""
    lines = deductions(line_items, events)
    columns = ["indicator", "name", "count", "records", "share", "points", "unit_names"]
    if lines.empty:
        return pd.DataFrame(columns=columns)
    if not counts_known(lines):
        lines["count"] = lines["records"].astype(float)
    names = dict(zip(units["unit_id"], units["unit_name"]))
    total = lines["count"].sum()
    rows = []
    for code, part in lines.groupby("indicator", sort=True):
        per_unit = part.groupby("unit_id")["count"].sum().sort_values(ascending=False, kind="mergesort")
        node = fw.nodes.get(code)
        rows.append({
            "indicator": code,
            "name": node.name if node is not None else code,
            "count": int(round(part["count"].sum())),
            "records": int(part["records"].sum()),
            "share": 100.0 * part["count"].sum() / total,
            "points": float(-part["points"].sum()),
            "unit_names": [names.get(u, u) for u in per_unit.index],
        })
    return pd.DataFrame(rows, columns=columns).sort_values(["count", "indicator"], ascending=[False, True], kind="mergesort")


def veto_reason_text(fw: Any, reasons: Any) -> str:
    """Veto reasons as names: a code such as V1, or a veto line's explanation as scoring writes it
    (“单项否决：抽查中被判定不合格（E0012）”), becomes the indicator's name."""
    if reasons is None or (isinstance(reasons, float) and pd.isna(reasons)):
        return ""
    # a veto line's evidence ids are joined with ';' inside its closing bracket: drop them before splitting
    text = re.sub(r"(^|；)(单项否决[^；]*?)（[^（）]*）(?=；|$)", r"\1\2", str(reasons))
    parts = [p.strip() for p in text.replace("；", ";").split(";") if p.strip()]
    nodes = getattr(fw, "nodes", {}) or {}
    out = []
    for p in parts:
        node = nodes.get(p)
        if node is None:
            if p.startswith("单项否决"):  # its evidence ids were dropped above
                p = re.sub(r"^单项否决[：:]", "", p).strip()
            else:
                p = re.sub(r"（[^（）]*）$", "", p).strip()  # the evidence ids
        out.append(node.name if node is not None else p)
    return "；".join(dict.fromkeys(out))


_ISO_DATE = re.compile(r"(?<![0-9])([12][0-9]{3})-([01][0-9])-([0-3][0-9])(?![0-9])")


def chinese_dates(text: str) -> str:
    """ISO dates inside a sentence (as rules write their explanations: “2023-05-06 2次”) in the
    公文 style, 2023年5月6日, so a document shows one date style throughout."""
    return _ISO_DATE.sub(lambda m: f"{int(m.group(1))}年{int(m.group(2))}月{int(m.group(3))}日", str(text))


def quoted(text: str) -> str:
    """Text to be set inside “…”: its own double quotes become single ones (‘…’), as Chinese nests them."""
    return str(text).replace("“", "‘").replace("”", "’")


def top_level_columns(fw: Any, indicator_scores: pd.DataFrame) -> list[tuple[str, str, float]]:
    """一级 indicators that carry points: (code, name, points) in framework order."""
    present = set(indicator_scores.loc[indicator_scores["depth"] == 1, "indicator"])
    return [(i.code, i.name, float(i.points)) for i in fw.top_level() if i.points and i.code in present]
