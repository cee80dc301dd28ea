"""The four stages of a run — ingest, validate, score, report — as plain functions over a bundle folder.

The notebooks call these (and only display what they return); the benchmark calls them directly
as the floor a notebook run is compared with. Each stage reads what the previous one wrote into
the bundle being built, so a stage can be rerun alone by an analyst in Jupyter.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from . import csvio
from . import evidence as evidence_mod
from . import frameworks
from .problems import InputError, Problem
from .scoring import Period, Results

PROBLEMS_FILE = "problems.json"
DRAFT_SUFFIX = ".draft"  # <slot>.draft/: what notebooks run by hand write (never a published bundle)
DRAFT_MARKER = "DRAFT.txt"  # in a draft: says it is one, so nobody sends it
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

    def __post_init__(self) -> None:
        # the one spelling (params.canonical) also for a notebook run by hand: ' Demo ' and 'demo',
        # '２０２３q3' and '2023Q3' are one county-period and one folder
        from .params import canonical_county, canonical_period

        object.__setattr__(self, "county", canonical_county(self.county))
        if self.period is not None:
            object.__setattr__(self, "period", canonical_period(self.period))

    @property
    def bundle(self) -> Path:
        return Path(self.bundle_dir) if self.bundle_dir else Path(self.out_dir) / self.county / self.slot

    @property
    def published(self) -> Path:
        """Where `assessment run` publishes this county-period: <out_dir>/<county>/<slot>."""
        return Path(self.out_dir) / self.county / self.slot

    @property
    def draft(self) -> Path:
        """Where a notebook run by hand writes: <out_dir>/<county>/<slot>.draft, beside the published bundle."""
        return Path(self.out_dir) / self.county / f"{self.slot}{DRAFT_SUFFIX}"

    @property
    def by_hand(self) -> bool:
        """No bundle_dir given: a notebook opened and run in Jupyter, not a stage of `assessment run`."""
        return not self.bundle_dir

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
        (bundle / PROBLEMS_FILE).write_text(json.dumps([p.to_dict() for p in exc.problems], ensure_ascii=False, indent=1), encoding="utf-8", newline="\n")
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
    inside it), "<stage>:raise" makes it fail (so a test can read the failure report) and
    "<stage>:enospc" raises the OSError a full disk gives. Besides the four stages, the run itself
    has the points "html" (writing the notebooks' HTML) and "publish" (writing the manifest).
    Unset — as in every real run — it does nothing.
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
    elif action == "stderr":  # what ipykernel sometimes logs while shutting down: must not reach the terminal
        os.write(2, f"Traceback (most recent call last):\n  injected kernel noise in stage {stage}\n".encode())
    elif action == "enospc":
        import errno

        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), f"injected at {stage} ({FAULT_ENV}={spec})")


# ---- runs by hand: the draft bundle ---------------------------------------------------------
#
# A stage notebook opened in JupyterLab and run with its default parameters (no bundle_dir) must
# never rewrite a published bundle: only `assessment run` publishes (lock, building aside, manifest).
# It works in <out_dir>/<county>/<slot>.draft/ instead. The draft holds draft.json, which says it is a
# draft and records which stages are done in it and where their inputs were read from. A stage reads
# the earlier stages' results from the draft where the draft has them, else it copies them from the
# published bundle (read only) into the draft first; its own results and the later stages' are redone.

DRAFT_FILE = "draft.json"
STAGE_ORDER = ["ingest", "validate", "score", "report"]
STAGE_OUTPUTS = {"ingest": "evidence", "validate": "validation", "score": "scores", "report": "reports"}
STAGE_NOTEBOOKS = {"ingest": "01_ingest", "validate": "02_validate", "score": "03_score", "report": "04_report"}
DRAFT_NOTE = "草稿，未发布：手动运行笔记本所得，不得作为考评结果报送；只有 assessment run 发布运行包（draft, not published: made by running notebooks by hand, not to be sent; only assessment run publishes）"
FROM_DRAFT, FROM_PUBLISHED = "draft", "published"


class DraftIncomplete(Exception):
    """A stage run by hand whose earlier results are neither in the draft nor in a published bundle (Chinese and English)."""


def is_draft(folder: str | Path) -> bool:
    """A draft bundle, by its name or its marker: never to be verified, combined, compared or sent."""
    folder = Path(folder)
    return folder.name.endswith(DRAFT_SUFFIX) or (folder / DRAFT_FILE).exists() or (folder / DRAFT_MARKER).exists()


def shown_path(path: Path) -> str:
    """A folder as a note shows it: relative to the project where it lies inside it (no machine-specific prefix)."""
    real = Path(os.path.abspath(path))
    root = frameworks.project_root().resolve()
    try:
        return real.relative_to(root).as_posix() + "/"
    except ValueError:
        return real.as_posix() + "/"


def read_draft(draft: Path) -> dict:
    """draft.json of a draft: {"stages": {stage: {"from": "draft"} or {"from": "published", "copied_from": …}}, …}
    (a fresh record where there is none yet)."""
    path = Path(draft) / DRAFT_FILE
    if path.is_file():
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(record, dict) and isinstance(record.get("stages"), dict):
                return record
        except (OSError, ValueError):
            pass  # a damaged record: the draft is started again from the published bundle
    return {"draft": True, "published": False, "stages": {}}


def _write_draft(draft: Path, p: RunParams, record: dict) -> None:
    """draft.json (written aside, then renamed) and DRAFT.txt, the marker a person sees first."""
    record.update({"draft": True, "published": False, "说明 note": DRAFT_NOTE, "county": p.county, "year": int(p.year),
                   "period": p.period, "framework": p.framework})
    draft.mkdir(parents=True, exist_ok=True)
    tmp = draft / f".{DRAFT_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8", newline="\n")
    os.replace(tmp, draft / DRAFT_FILE)
    (draft / DRAFT_MARKER).write_text(f"草稿运行包（draft bundle）\n\n{DRAFT_NOTE}\n", encoding="utf-8", newline="\n")


def draft_sources(p: RunParams, stage: str) -> dict[str, str]:
    """Where a stage run by hand reads each earlier stage's results: {"evidence": "draft" | "published", …}.

    All from the draft when the draft holds any of them (the draft's own chain, never mixed with the
    published one), else all from the published bundle. Raises DraftIncomplete, naming the notebook
    to run first, when neither holds them."""
    earlier = STAGE_ORDER[: STAGE_ORDER.index(stage)]
    done = read_draft(p.draft)["stages"] if p.draft.is_dir() else {}
    draft_has = [s for s in earlier if s in done and (p.draft / STAGE_OUTPUTS[s]).is_dir()]
    if draft_has:
        missing = [s for s in earlier if s not in draft_has]
        if missing:
            nb = STAGE_NOTEBOOKS[missing[0]]
            raise DraftIncomplete(f"草稿运行包 {shown_path(p.draft)} 中还没有 {STAGE_OUTPUTS[missing[0]]}/：请先手动运行 {nb}"
                                  f"（the draft bundle has no {STAGE_OUTPUTS[missing[0]]}/ yet: run {nb} by hand first）")
        return {STAGE_OUTPUTS[s]: FROM_DRAFT for s in earlier}
    absent = [s for s in earlier if not (p.published / STAGE_OUTPUTS[s]).is_dir()]
    if absent or (earlier and not (p.published / "manifest.json").is_file()):
        nb = STAGE_NOTEBOOKS[absent[0] if absent else earlier[0]]
        raise DraftIncomplete(f"草稿运行包和已发布运行包 {shown_path(p.published)} 中都没有前一步的结果：请先手动运行 {nb}，或用 assessment run 发布"
                              f"（neither the draft nor the published bundle holds the earlier results: run {nb} by hand first, or publish with assessment run）")
    return {STAGE_OUTPUTS[s]: FROM_PUBLISHED for s in earlier}


def _copy_in(src: Path, dest: Path) -> None:
    """Copy a published folder into the draft, whole or not at all; the published folder is only read."""
    tmp = dest.parent / f".{dest.name}.copying-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, copy_function=shutil.copyfile)  # the draft's own modes, not the published files'
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


def open_bundle(p: RunParams, stage: str) -> tuple[RunParams, str]:
    """The parameters a stage notebook works with, and the first thing it shows (Markdown).

    Given a bundle_dir (`assessment run`): unchanged, and the heading it always showed, with no path
    (the executed notebooks in a bundle do not depend on where it was built). Run by hand: the draft
    bundle, prepared for the stage (earlier results from the draft, or copied from the published
    bundle; this stage's and later stages' old results removed, so nothing stale mixes in), and a
    note that says where the results go and that only `assessment run` publishes."""
    head = f"**{p.county} {p.year}**，框架 `{p.framework}`"
    if not p.by_hand:
        return p, head
    sources = draft_sources(p, stage)
    draft = p.draft
    record = read_draft(draft)
    draft.mkdir(parents=True, exist_ok=True)
    for folder, where in sources.items():
        if where == FROM_PUBLISHED:
            _copy_in(p.published / folder, draft / folder)
            done_stage = next(s for s, f in STAGE_OUTPUTS.items() if f == folder)
            record["stages"][done_stage] = {"from": FROM_PUBLISHED, "copied_from": shown_path(p.published),
                                            "published_manifest": _manifest_digest(p.published)}
    for later in STAGE_ORDER[STAGE_ORDER.index(stage):]:  # redone: an old result must not outlive its inputs
        shutil.rmtree(draft / STAGE_OUTPUTS[later], ignore_errors=True)
        record["stages"].pop(later, None)
    (draft / PROBLEMS_FILE).unlink(missing_ok=True)
    _write_draft(draft, p, record)
    lines = [f"**草稿运行包 draft bundle：`{shown_path(draft)}`**（手动运行，结果写入草稿，不改动已发布运行包 "
             f"run by hand: results go to the draft, the published bundle is not touched）；只有 `assessment run` 发布运行包"
             f"（only `assessment run` publishes）"]
    for folder, where in sources.items():
        if where == FROM_PUBLISHED:
            lines.append(f"读取 reading `{folder}/`：复制自已发布运行包 copied from the published bundle `{shown_path(p.published)}`（只读 read only）")
        else:
            lines.append(f"读取 reading `{folder}/`：草稿中已有的结果 the draft's own")
    lines += [f"⚠ **{w}**" for w in draft_staleness(p, record)]
    lines.append(head)
    return replace(p, bundle_dir=str(draft)), "\n\n".join(lines)


def _manifest_digest(bundle: Path) -> str | None:
    path = bundle / "manifest.json"
    return evidence_mod.sha256_file(path) if path.is_file() else None


def draft_staleness(p: RunParams, record: dict) -> list[str]:
    """Why the results a hand run reads may be out of date (Chinese, English beside): the delivered files
    changed since the evidence was read, or the published bundle they were copied from was republished.
    A hand run never refuses on this (the analyst may be trying something); it says so first, in bold."""
    found = []
    inputs = p.draft / "evidence" / "inputs.json"
    raw = Path(p.raw_dir)
    if inputs.is_file() and raw.is_dir():
        try:
            read = json.loads(inputs.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            read = {}
        changed = sorted(n for n, digest in read.items()
                         if not (raw / n).is_file() or evidence_mod.sha256_file(raw / n) != digest)
        if changed:
            found.append(f"原始证据 {'、'.join(changed)} 在读取后已改动或删除，草稿中的证据已过时：请先重新运行 01_ingest"
                         f"（the delivered files {', '.join(changed)} changed after the evidence was read: rerun 01_ingest first）")
    now = _manifest_digest(p.published)
    republished = sorted(stage for stage, done in record.get("stages", {}).items()
                         if done.get("from") == FROM_PUBLISHED and "published_manifest" in done and done["published_manifest"] != now)
    if republished:
        found.append(f"草稿中的结果复制自已发布运行包，该运行包此后已重新发布或删除：如需以最新发布为准，请删除 {shown_path(p.draft)} 后重新运行"
                     f"（the results were copied from a published bundle that has since been republished or removed: "
                     f"delete the draft and run again to start from the newest one）")
    return found


def _stage_done(p: RunParams, stage: str) -> None:
    """Record a stage finished in a draft (a run by hand); a bundle of `assessment run` is left as it is."""
    if not (p.bundle / DRAFT_FILE).is_file():
        return
    record = read_draft(p.bundle)
    record["stages"][stage] = {"from": FROM_DRAFT}  # run by hand in the draft
    _write_draft(p.bundle, p, record)


# ---- ingest -------------------------------------------------------------------------------

def ingest(p: RunParams) -> evidence_mod.Evidence:
    """Read the raw evidence and keep it, typed, in the bundle (with the input files' hashes)."""
    bundle = p.bundle
    from . import appeals, dataset, delivered

    # the delivered files, verbatim, travel with the bundle (evidence/raw/): what the tables are read from
    copies = delivered.copy_raw(Path(p.raw_dir), bundle)
    with recording_problems(bundle):
        declared = dataset.read(Path(p.raw_dir))  # dataset.yaml: synthetic demo data say so
        try:
            ev = evidence_mod.read(Path(p.raw_dir), no_events=bool(p.no_events), events_required=scores_events(p.framework))
        except evidence_mod.EvidenceError as exc:
            raise evidence_mod.EvidenceError(exc.problems + same_round_checks(p, getattr(exc, "partial", None), exc.problems)) from None
        adjustments = appeals.read(Path(p.raw_dir))
    folder = bundle / "evidence"
    evidence_mod.write_parquet(ev, folder)
    if adjustments is not None:  # review decisions (复核) travel with the evidence they change
        adjustments.to_parquet(folder / "adjustments.parquet", index=False)
        ev.files[appeals.locate(Path(p.raw_dir)).name] = evidence_mod.sha256_file(appeals.locate(Path(p.raw_dir)))
    if declared is not None:  # kept in the bundle: the documents regenerated from it are marked the same
        dataset.keep(declared, folder)
        ev.files[dataset.FILE] = evidence_mod.sha256_file(Path(p.raw_dir) / dataset.FILE)
    changed = sorted(n for n, digest in ev.files.items() if not (copies / n).is_file() or evidence_mod.sha256_file(copies / n) != digest)
    if changed:  # a file replaced between copying and reading: the bundle would not hold what was read
        raise OSError(f"证据文件 {'、'.join(changed)} 在读取时发生变化（evidence files changed while being read: {', '.join(changed)}）")
    (folder / "inputs.json").write_text(json.dumps(ev.files, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8", newline="\n")
    (folder / "reading_notes.json").write_text(json.dumps([n.to_dict() for n in ev.notes], ensure_ascii=False, indent=1), encoding="utf-8", newline="\n")
    if ev.changes is not None:  # every cell read as other than delivered, with its original (reading_changes.csv)
        csvio.write_csv(ev.changes, folder / evidence_mod.CHANGES_FILE)
    _stage_done(p, "ingest")
    fault_point("ingest")
    return ev


def scores_events(framework_id: str) -> bool:
    """Does the framework score any event? (A framework of targets and deadlines needs no events table rows.)"""
    from .rules import RULES

    fw = frameworks.load(framework_id)
    return any(RULES[leaf.rule.type].evidence == "events" for leaf in fw.leaves())


def same_round_checks(p: RunParams, partial: evidence_mod.Evidence | None, found: list[Problem]) -> list[Problem]:
    """Validation's errors on the rows that did read, when reading already failed: one round of
    messages for an office, not a second run to discover unknown units or dates outside the period.

    A problem at a place reading already named is not repeated. Anything going wrong here leaves the
    reading problems as they are (they alone already stop the run)."""
    if partial is None:
        return []
    try:
        from . import validation

        fw = frameworks.load(p.framework)
        report = validation.validate(fw, partial, _period(fw, p))
    except Exception:  # noqa: BLE001 - an extra round of checks must never hide the reading problems
        return []
    named = {(x.file, x.sheet, x.row, x.column) for x in found}
    return [x for x in report.errors if (x.file, x.sheet, x.row, x.column) not in named]


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
        report.problems.extend(office_warnings(fw))  # counted with the others: CLI, summary.md, notebooks
        folder = bundle / "validation"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "results.json").write_text(report.to_json(), encoding="utf-8", newline="\n")
        (folder / "summary.md").write_text(report.summary_markdown(), encoding="utf-8", newline="\n")
        validation.raise_for_errors(report)
    _stage_done(p, "validate")
    fault_point("validate")
    return report


def office_warnings(fw: frameworks.Framework) -> list[Problem]:
    """The run's documents would go out under a derived issuer: templates/office.yaml has no entry
    for the framework's jurisdiction (a broken office file is refused before the run starts)."""
    from .documents import office

    try:
        found = office.unconfigured_problem(office.office_for(fw))
    except office.OfficeError:
        return []
    return [] if found is None else [found]


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
        csvio.write_csv(annex, p.bundle / "scores" / "appeals.csv")
    _stage_done(p, "score")
    fault_point("score")
    return res


def write_scores(res: Results, folder: Path) -> dict[str, Path]:
    """unit_scores.csv, indicator_scores.csv, line_items.csv, unused_evidence.csv (UTF-8 with BOM, for Excel) + scores.xlsx."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in ("unit_scores", "indicator_scores", "line_items"):
        path = folder / f"{name}.csv"
        csvio.write_csv(getattr(res, name), path)
        out[name] = path
    # evidence rows no line item cites, each with its reason (outside a rule's sources, vetoed unit, …)
    out["unused_evidence"] = folder / "unused_evidence.csv"
    csvio.write_csv(res.unused_evidence, out["unused_evidence"])
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
        df = csvio.read_csv(folder / f"{name}.csv", dtype={k: str for k in ID_COLUMNS})
        for c in df.columns:
            if c in ID_COLUMNS:
                df[c] = df[c].astype(object).where(df[c].notna(), "")
        tables[name] = df
    tables["unit_scores"]["vetoed"] = tables["unit_scores"]["vetoed"].astype(str).str.lower().eq("true")
    return Results(framework=fw, period=_period(fw, p), **tables)


# ---- report -------------------------------------------------------------------------------

PREVIOUS_COLUMNS = ["unit_id", "unit_name", "unit_group", "total", "grade", "rank", "vetoed"]
COMPARISON_FILE = "comparison.json"  # in reports/: whether last year's bundle was used, and why not
OFFICE_FILE = "office.json"  # in reports/: the issuer's jurisdiction, whether configured (else the warning), letterhead, demo


def office_status(bundle: Path) -> dict | None:
    """reports/office.json as the report stage wrote it (None before the report stage ran)."""
    path = Path(bundle) / "reports" / OFFICE_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None


class PreviousUnusable(Exception):
    """Last year's bundle is there but cannot be trusted for the comparison (the reason, Chinese and English)."""


def previous_scores(p: RunParams) -> pd.DataFrame | None:
    """Last year's (or last quarter's) published unit scores for the same county, where they exist.

    None when there is no previous bundle (a first year). A previous bundle that is there but
    broken — its unit_scores.csv missing, empty, a folder, not UTF-8, without the columns, with
    totals that are not numbers, with a unit twice, or not the file its manifest recorded — raises
    :class:`PreviousUnusable`: this year's run goes on without the comparison and says so.
    """
    slot = Path(p.out_dir) / p.county / p.previous_slot
    rel = f"{p.county}/{p.previous_slot}/scores/unit_scores.csv"
    if not slot.exists():
        return None
    prev = slot / "scores" / "unit_scores.csv"

    def unusable(zh: str, en: str) -> PreviousUnusable:
        return PreviousUnusable(f"{p.previous_slot} 年度的 {rel} {zh}（{rel} of {p.previous_slot}: {en}）")

    if not prev.exists():
        raise unusable("不存在", "missing")
    if not prev.is_file():
        raise unusable("不是文件", "not a file")
    _check_previous_manifest(slot, prev, unusable)
    try:
        df = csvio.read_csv(prev, dtype={"unit_id": str, "unit_name": str, "unit_group": str, "grade": str, "veto_reasons": str})
    except UnicodeDecodeError:
        raise unusable("不是 UTF-8 编码", "not UTF-8 text") from None
    except pd.errors.EmptyDataError:
        raise unusable("是空文件", "empty file") from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise unusable(f"无法读取：{_one_line(exc)}", f"cannot be read: {_one_line(exc)}") from None
    missing = [c for c in PREVIOUS_COLUMNS if c not in df.columns]
    if missing:
        raise unusable(f"缺少列 {'、'.join(missing)}", f"missing columns {', '.join(missing)}")
    if df.empty:
        raise unusable("没有任何单位", "no units")
    if df["unit_id"].isna().any() or df["unit_id"].duplicated().any():
        raise unusable("单位编码为空或重复", "unit ids empty or repeated")
    vetoed = df["vetoed"].astype(str).str.strip().str.lower()
    if not vetoed.isin(["true", "false"]).all():
        raise unusable("vetoed 列应为 True/False", "vetoed must be True/False")
    df["vetoed"] = vetoed.eq("true")
    for col in ("total", "rank"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() & df[col].notna() | ~np.isfinite(values.fillna(0))
        if bad.any():
            raise unusable(f"{col} 列有非数值（如 “{str(df.loc[bad, col].iloc[0])[:20]}”）",
                           f"{col} has values that are not numbers (e.g. {str(df.loc[bad, col].iloc[0])[:20]!r})")
        df[col] = values
    if (df["total"].isna() & ~df["vetoed"]).any():
        raise unusable("有未否决单位没有总分", "a unit not vetoed has no total")
    return df


def _check_previous_manifest(slot: Path, prev: Path, unusable) -> None:
    """Where the previous bundle has a manifest, it must be readable and record this very unit_scores.csv."""
    manifest = slot / "manifest.json"
    if not manifest.exists():
        return  # a bundle from before manifests, or laid down by hand: the table is checked on its own
    try:
        m = json.loads(manifest.read_text(encoding="utf-8"))
        recorded = m["outputs"]["scores/unit_scores.csv"] if isinstance(m, dict) and isinstance(m.get("outputs"), dict) else None
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        raise unusable("所在运行包的 manifest.json 无法读取", "its bundle's manifest.json cannot be read") from None
    if recorded is None:
        raise unusable("未记录在所在运行包的 manifest.json 中", "is not recorded in its bundle's manifest.json")
    if evidence_mod.sha256_file(prev) != recorded:
        raise unusable("与所在运行包 manifest.json 记录的哈希不符（已被改动）", "differs from the hash its manifest recorded (changed)")


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def comparison_with_previous(p: RunParams, unit_scores: pd.DataFrame) -> tuple[pd.DataFrame | None, pd.DataFrame | None, dict]:
    """Last year's scores, the comparison table and its status ({used, previous, reason}); never raises for a broken previous bundle."""
    from .compare import compare_years

    status = {"used": False, "previous": p.previous_slot, "reason": None}
    try:
        previous = previous_scores(p)
        if previous is None:
            status["reason"] = f"没有 {p.previous_slot} 的运行包（no bundle for {p.previous_slot}）"
            return None, None, status
        comparison = compare_years(unit_scores, previous)
    except PreviousUnusable as exc:
        status["reason"], status["warning"] = str(exc), True
        return None, None, status
    except Exception as exc:  # defence in depth: a comparison is never worth this year's result
        status["reason"], status["warning"] = (f"{p.previous_slot} 年度结果无法比较：{_one_line(exc)}"
                                               f"（cannot compare with {p.previous_slot}: {type(exc).__name__}）"), True
        return None, None, status
    status["used"] = True
    return previous, comparison, status


def report(p: RunParams) -> dict[str, Path]:
    """The notification, its attachment, the per-unit notices and the charts."""
    from . import documents

    res = load_results(p)
    ev = load_evidence(p)
    previous, comparison, status = comparison_with_previous(p, res.unit_scores)
    note = None
    if status.get("warning"):
        note = f"因{p.previous_slot}年度考评结果无法使用，本通报未与{p.previous_slot}年度对比。"
    appeals_path = p.bundle / "scores" / "appeals.csv"
    appeals = csvio.read_csv(appeals_path, dtype=str, na_values=None) if appeals_path.is_file() else None
    if appeals is not None:
        for c in ("total_before", "total_after"):
            appeals[c] = pd.to_numeric(appeals[c], errors="coerce")
    reports = p.bundle / "reports"
    from . import dataset
    from .documents import office

    declared = dataset.of_bundle(p.bundle)
    synthetic = bool(declared and declared.synthetic)
    files = documents.write_reports(res.framework, res.unit_scores, res.indicator_scores, res.line_items, ev.events,
                                    reports, previous=previous, period=res.period.label, facts=ev.facts,
                                    comparison=comparison, appeals=appeals, comparison_note=note, no_events=bool(p.no_events),
                                    synthetic=synthetic)
    issuer = office.office_status(office.office_for(res.framework, synthetic=synthetic))
    issuer["dataset"] = declared.to_dict() if declared else None
    (reports / OFFICE_FILE).write_text(json.dumps(issuer, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8", newline="\n")
    files["office_status"] = reports / OFFICE_FILE
    if comparison is not None:  # years side by side, also as a table for the analyst
        path = reports / f"与{p.previous_slot}对比.csv"
        csvio.write_csv(comparison, path)
        files["comparison"] = path
    reports.mkdir(parents=True, exist_ok=True)
    (reports / COMPARISON_FILE).write_text(json.dumps(status, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8", newline="\n")
    files["comparison_status"] = reports / COMPARISON_FILE
    _stage_done(p, "report")
    fault_point("report")
    return files


STAGES = [
    ("ingest", "01_ingest.ipynb", "读取证据"),
    ("validate", "02_validate.ipynb", "校验证据"),
    ("score", "03_score.ipynb", "计算得分"),
    ("report", "04_report.ipynb", "生成文书"),
]


def evidence_accounts(p: RunParams) -> pd.DataFrame:
    """Evidence rows read, cited by line items and unused (by reason), per table, from the bundle
    (the report notebook shows it): cited + unused = read, every row once."""
    from .scoring import evidence_accounts as accounts

    unused = csvio.read_csv(p.bundle / "scores" / "unused_evidence.csv", dtype=str, keep_default_na=False)
    return accounts(load_evidence(p), load_results(p).line_items, unused)
