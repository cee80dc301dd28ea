"""The four stages of a run — ingest, validate, score, report — as plain functions over a bundle folder.

The notebooks call these (and only display what they return); the benchmark calls them directly
as the floor a notebook run is compared with. Each stage reads what the previous one wrote into
the bundle being built, so a stage can be rerun alone by an analyst in Jupyter.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import pandas as pd

from . import evidence as evidence_mod
from . import frameworks
from .problems import InputError, Problem
from .scoring import Period, Results

PROBLEMS_FILE = "problems.json"
ID_COLUMNS = {"unit_id": str, "unit_name": str, "unit_group": str, "indicator": str, "rule": str, "evidence_ids": str,
              "explanation": str, "kind": str, "grade": str, "veto_reasons": str, "name": str}


@dataclass(frozen=True)
class RunParams:
    """The parameters every notebook takes (its `parameters` cell)."""

    county: str
    year: int
    framework: str
    raw_dir: str
    out_dir: str  # the root under which <county>/<year>/ is published
    period: str | None = None
    bundle_dir: str | None = None  # where this run writes; the pipeline points it at a staging folder
    no_events: bool = False  # a year without events, declared (--no-events): the events table must be empty, the 通报 says so

    @property
    def bundle(self) -> Path:
        return Path(self.bundle_dir) if self.bundle_dir else Path(self.out_dir) / self.county / self.slot

    @property
    def slot(self) -> str:
        """The bundle's folder name: the year, or the quarter (2023Q3) so quarters do not overwrite each other."""
        return str(self.period).upper() if self.period and "Q" in str(self.period).upper() else str(self.year)

    @property
    def previous_slot(self) -> str:
        """Last year for an annual run; the quarter before for a quarterly one."""
        if "Q" not in self.slot:
            return str(int(self.year) - 1)
        year, q = int(self.slot[:4]), int(self.slot[-1])
        return f"{year}Q{q - 1}" if q > 1 else f"{year - 1}Q4"

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def recording_problems(bundle: Path) -> Iterator[None]:
    """Write the problems of an invalid input beside the bundle before the error leaves the kernel."""
    try:
        yield
    except InputError as exc:
        bundle.mkdir(parents=True, exist_ok=True)
        (bundle / PROBLEMS_FILE).write_text(json.dumps([p.to_dict() for p in exc.problems], ensure_ascii=False, indent=1), encoding="utf-8")
        raise


def read_problems(bundle: Path) -> list[Problem]:
    path = bundle / PROBLEMS_FILE
    if not path.is_file():
        return []
    return [Problem(**d) for d in json.loads(path.read_text(encoding="utf-8"))]


FAULT_ENV = "ASSESSMENT_FAULT"


def fault_point(stage: str) -> None:
    """A failpoint for the fault tests, at the end of each stage once its outputs are written.

    `$ASSESSMENT_FAULT` = "<stage>:sleep[:seconds]" holds the stage there (so a test can kill the run
    inside it) or "<stage>:raise" makes it fail (so a test can read the failure report). Unset — as in
    every real run — it does nothing.
    """
    spec = os.environ.get(FAULT_ENV, "")
    if not spec:
        return
    where, _, action = spec.partition(":")
    if where != stage:
        return
    action, _, arg = action.partition(":")
    if action == "sleep":
        time.sleep(float(arg or 3600))
    elif action == "raise":
        raise RuntimeError(f"injected fault in stage {stage} ({FAULT_ENV}={spec})")


# ---- ingest -------------------------------------------------------------------------------

def ingest(p: RunParams) -> evidence_mod.Evidence:
    """Read the raw evidence and keep it, typed, in the bundle (with the input files' hashes)."""
    bundle = p.bundle
    from . import appeals

    with recording_problems(bundle):
        ev = evidence_mod.read(Path(p.raw_dir), no_events=bool(p.no_events))
        adjustments = appeals.read(Path(p.raw_dir))
    folder = bundle / "evidence"
    evidence_mod.write_parquet(ev, folder)
    if adjustments is not None:  # review decisions (复核) travel with the evidence they change
        adjustments.to_parquet(folder / "adjustments.parquet", index=False)
        ev.files[appeals.locate(Path(p.raw_dir)).name] = evidence_mod.sha256_file(appeals.locate(Path(p.raw_dir)))
    (folder / "inputs.json").write_text(json.dumps(ev.files, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    (folder / "reading_notes.json").write_text(json.dumps([n.to_dict() for n in ev.notes], ensure_ascii=False, indent=1), encoding="utf-8")
    fault_point("ingest")
    return ev


def load_evidence(p: RunParams) -> evidence_mod.Evidence:
    folder = p.bundle / "evidence"
    files = json.loads((folder / "inputs.json").read_text(encoding="utf-8"))
    ev = evidence_mod.read_parquet(folder, files)
    ev.notes = [Problem(**d) for d in json.loads((folder / "reading_notes.json").read_text(encoding="utf-8"))]
    return ev


def evidence_counts(ev: evidence_mod.Evidence) -> pd.DataFrame:
    """Records per table and unit, for the auditor's first look at what came in."""
    per_unit = ev.units[["unit_id", "unit_name", "unit_group"]].copy()
    per_unit["事件数 events"] = per_unit["unit_id"].map(ev.events.groupby("unit_id").size()).fillna(0).astype(int)
    per_unit["事实数 facts"] = per_unit["unit_id"].map(ev.facts.groupby("unit_id").size()).fillna(0).astype(int)
    return per_unit.rename(columns={"unit_id": "单位编码", "unit_name": "单位名称", "unit_group": "单位类别"})


# ---- validate -----------------------------------------------------------------------------

def validate(p: RunParams):
    """Validate the ingested evidence against the framework; stop on errors, list warnings."""
    from . import appeals, validation

    bundle = p.bundle
    fw = frameworks.load(p.framework)
    ev = load_evidence(p)
    with recording_problems(bundle):
        period = _period(fw, p)
        ev, _ = appeals.apply(ev, load_adjustments(p))  # the evidence as decided on review is what gets scored
        report = validation.validate(fw, ev, period)
        folder = bundle / "validation"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(report.to_json(), encoding="utf-8")
        (folder / "summary.md").write_text(report.summary_markdown(), encoding="utf-8")
        validation.raise_for_errors(report)
    fault_point("validate")
    return report


def _period(fw: frameworks.Framework, p: RunParams) -> Period:
    try:
        return Period.parse(fw, p.period)
    except ValueError as exc:
        from .problems import ParameterError

        raise ParameterError([Problem(file="--period", value=p.period, message_zh=str(exc), message_en=str(exc), rule="parameter")])


# ---- score --------------------------------------------------------------------------------

def load_adjustments(p: RunParams) -> pd.DataFrame | None:
    path = p.bundle / "evidence" / "adjustments.parquet"
    return pd.read_parquet(path) if path.is_file() else None


def compute(fw: frameworks.Framework, ev: evidence_mod.Evidence, period: Period, adjustments: pd.DataFrame | None) -> tuple[Results, pd.DataFrame]:
    """Scores of the evidence as decided on review, with each adjustment as a line and the 复核 annex."""
    from . import appeals, scoring

    adjusted, applied = appeals.apply(ev, adjustments)
    res = scoring.score(fw, adjusted, period)
    if applied.empty:
        return res, appeals.annex(applied, res.unit_scores, res.unit_scores)
    before = scoring.score(fw, ev, period)
    lines = pd.concat([res.line_items, appeals.record_lines(applied, before.line_items)], ignore_index=True)
    res.line_items = scoring.order_lines(fw, lines, res.unit_scores)
    return res, appeals.annex(applied, before.unit_scores, res.unit_scores)


def score(p: RunParams) -> Results:
    """Score the validated evidence and write the three tables (CSV and one workbook), and the 复核 annex."""
    fw = frameworks.load(p.framework)
    ev = load_evidence(p)
    res, annex = compute(fw, ev, _period(fw, p), load_adjustments(p))
    write_scores(res, p.bundle / "scores")
    if len(annex):
        annex.to_csv(p.bundle / "scores" / "appeals.csv", index=False, encoding="utf-8-sig", lineterminator="\n")
    fault_point("score")
    return res


def write_scores(res: Results, folder: Path) -> dict[str, Path]:
    """unit_scores.csv, indicator_scores.csv, line_items.csv (UTF-8 with BOM, for Excel) + scores.xlsx."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in ("unit_scores", "indicator_scores", "line_items"):
        path = folder / f"{name}.csv"
        getattr(res, name).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
        out[name] = path
    from .documents import office, workbook

    when = office.fixed_time(res.framework, office.load_office())
    out["xlsx"] = workbook.write_workbook(res.framework, res.unit_scores, res.indicator_scores, res.line_items, folder / "scores.xlsx", when)
    return out


def load_results(p: RunParams) -> Results:
    """The scores as written by the score stage, ids kept as text."""
    fw = frameworks.load(p.framework)
    folder = p.bundle / "scores"
    tables = {}
    for name in ("unit_scores", "indicator_scores", "line_items"):
        df = pd.read_csv(folder / f"{name}.csv", dtype={k: str for k in ID_COLUMNS}, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
        for c in df.columns:
            if c in ID_COLUMNS:
                df[c] = df[c].astype(object).where(df[c].notna(), "")
        tables[name] = df
    tables["unit_scores"]["vetoed"] = tables["unit_scores"]["vetoed"].astype(str).str.lower().eq("true")
    return Results(framework=fw, period=_period(fw, p), **tables)


# ---- report -------------------------------------------------------------------------------

def previous_scores(p: RunParams) -> pd.DataFrame | None:
    """Last year's (or last quarter's) published unit scores for the same county, where they exist."""
    prev = Path(p.out_dir) / p.county / p.previous_slot / "scores" / "unit_scores.csv"
    if not prev.is_file():
        return None
    return pd.read_csv(prev, dtype={"unit_id": str, "unit_name": str, "unit_group": str, "grade": str, "veto_reasons": str},
                       keep_default_na=False, na_values=[""], encoding="utf-8-sig")


def report(p: RunParams) -> dict[str, Path]:
    """The notification, its attachment, the per-unit notices and the charts."""
    from . import documents

    from .compare import compare_years

    res = load_results(p)
    ev = load_evidence(p)
    previous = previous_scores(p)
    comparison = compare_years(res.unit_scores, previous) if previous is not None else None
    appeals_path = p.bundle / "scores" / "appeals.csv"
    appeals = pd.read_csv(appeals_path, dtype=str, keep_default_na=False, encoding="utf-8-sig") if appeals_path.is_file() else None
    if appeals is not None:
        for c in ("total_before", "total_after"):
            appeals[c] = pd.to_numeric(appeals[c], errors="coerce")
    files = documents.write_reports(res.framework, res.unit_scores, res.indicator_scores, res.line_items, ev.events,
                                    p.bundle / "reports", previous=previous, period=res.period.label, facts=ev.facts,
                                    comparison=comparison, appeals=appeals, no_events=bool(p.no_events))
    if comparison is not None:  # years side by side, also as a table for the analyst
        path = p.bundle / "reports" / f"与{p.previous_slot}对比.csv"
        comparison.to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
        files["comparison"] = path
    fault_point("report")
    return files


STAGES = [
    ("ingest", "01_ingest.ipynb", "读取证据"),
    ("validate", "02_validate.ipynb", "校验证据"),
    ("score", "03_score.ipynb", "计算得分"),
    ("report", "04_report.ipynb", "生成文书"),
]
