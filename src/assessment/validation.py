"""Validating one county-year's evidence against a framework, with Great Expectations 1.x.

Two kinds of expectations run over the three tidy tables (`units`, `events`, `facts`):

- **static suites**, stored as GX JSON in `expectations/<table>.json` and loaded from there at run
  time: required columns present, ids not empty, `unit_id` / `unit_name` / `event_id` unique,
  quantity a whole number ≥ 1, `done_date` on or after `date`, one fact per unit and indicator;
- **framework suites**, built in code from the framework and the period at run time: unit groups,
  indicator codes (event leaves; fact leaves and checklist items), units known to the units table,
  dates inside the period, the levels each rule prices, indicators that apply to the unit's group,
  fact values that fit their rule (是/否, a number or percentage, a date).

Every expectation runs with result format COMPLETE and `unexpected_index_column_names=["_idx"]`
(`_idx` is the record's position, added here), so each failure comes back with its rows; each
failing row becomes one :class:`Problem` naming file, sheet, spreadsheet row and column, the value,
the expectation type, and a Chinese message with the English beside it. The messages themselves
live in each expectation's `meta` (the JSON suites carry theirs), so an office can read and edit
them next to the check they belong to.

What GX cannot say cleanly is plain pandas, still producing Problems: a fact that is *absent*
(an applicable unit × a required fact or checklist item with no row) is a warning — it scores as
not met and the run goes on.

Errors stop the run (`raise_for_errors`); warnings are listed. `ValidationReport.to_json()` is
deterministic (sorted keys, no GX run ids, timestamps or fingerprints), so two runs on the same
inputs give the same bytes.

GX is imported only inside functions (the import costs seconds), its analytics are off and its
progress bars silent. No module-level state: pass a context from :func:`new_context` to reuse one,
or let each call make its own (a few milliseconds).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .evidence import HEADER_ZH, TABLE_ZH, Evidence
from .frameworks import Framework, project_root
from .problems import EvidenceError, Problem
from .rules import RULES
from .scoring import Period, applicability
from .values import FALSE, TRUE, normalise_text, parse_date

TABLES = ("units", "events", "facts")
MAX_MESSAGES = 50  # per expectation; past this one summary line says how many more
MAX_RESULT_ROWS = 1000  # failing rows kept per expectation in the JSON results
RESULT_FORMAT = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": ["_idx"],
    "return_unexpected_index_query": False,
}
# columns a hand-built table may lack; added empty (quantity defaults to 1, as the contract says)
OPTIONAL = {"units": {}, "events": {"level": None, "done_date": pd.NaT, "quantity": 1.0}, "facts": {}}
NUMBER_REGEX = r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?$|^[+-]?\.\d+%?$"
BOOL_WORDS = sorted(TRUE | FALSE)


# ---- the report ---------------------------------------------------------------------------

@dataclass
class ValidationReport:
    """What validation found: every problem (errors and warnings) and the trimmed GX results."""

    problems: list[Problem] = field(default_factory=list)
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    framework: str = ""
    period: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != "error"]

    @property
    def ok(self) -> bool:
        """No errors (warnings do not stop a run)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "period": self.period,
            "ok": self.ok,
            "counts": dict(self.counts),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "results": self.results,
            "problems": [_plain(p.to_dict()) for p in self.problems],
        }

    def to_json(self) -> str:
        """Deterministic JSON: sorted keys, no timestamps or run ids — same inputs, same bytes."""
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True, indent=2, default=_json_default) + "\n"

    def summary_markdown(self) -> str:
        """A readable summary: outcome, records per table, each expectation ✓/✗, every problem."""
        out = [f"# 证据校验结果 Evidence validation", "",
               f"- 框架 Framework：`{self.framework}`",
               f"- 考核期 Period：{self.period}",
               f"- 结论 Outcome：{'✓ 通过 passed' if self.ok else '✗ 未通过，运行已停止 failed, the run stops'}"
               f"（错误 errors {len(self.errors)}，警告 warnings {len(self.warnings)}）", "",
               "## 记录数 Records", "", "| 表 table | 记录数 records |", "|---|---:|"]
        for t in TABLES:
            out.append(f"| {TABLE_ZH[t]} {t} | {self.counts.get(t, 0)} |")
        out += ["", "## 校验项 Expectations", ""]
        for t in TABLES:
            out += [f"### {TABLE_ZH[t]} {t}", "", "| | 校验项 check | 规则 expectation | 不符合 unexpected |", "|---|---|---|---:|"]
            for r in self.results.get(t, []):
                mark = "–" if r.get("success") is None else ("✓" if r["success"] else ("⚠" if r.get("severity") == "warning" else "✗"))
                title = f"{r.get('title_zh', '')} {r.get('title_en', '')}".strip().replace("|", "\\|")
                n = r.get("unexpected_count")
                note = f"（跳过 skipped：{r['skipped']}）" if r.get("skipped") else ""
                out.append(f"| {mark} | {title}{note} | `{r.get('type', '')}` | {'' if n is None else n} |")
            out.append("")
        out += ["## 问题 Problems", ""]
        if not self.problems:
            out.append("无 None.")
        for i, p in enumerate(self.problems, 1):
            out.append(f"{i}. {p.render()}")
        return "\n".join(out) + "\n"


def raise_for_errors(report: ValidationReport) -> None:
    """Stop the run: raise EvidenceError carrying every error of the report."""
    if report.errors:
        raise EvidenceError(report.errors)


# ---- Great Expectations plumbing ----------------------------------------------------------

def new_context():
    """An ephemeral GX context with analytics off and progress bars silent (~5 ms once GX is imported)."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"  # read by GX when it starts its analytics
    import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig, InMemoryStoreBackendDefaults, ProgressBarsConfig

    bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    config = DataContextConfig(analytics_enabled=False, store_backend_defaults=InMemoryStoreBackendDefaults(), progress_bars=bars)
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.variables.progress_bars = bars
    return context


def expectations_dir(root: Path | None = None) -> Path:
    """Where the static suites live: `<project>/expectations`, or $ASSESSMENT_EXPECTATIONS."""
    if root is not None:
        return Path(root)
    env = os.environ.get("ASSESSMENT_EXPECTATIONS")
    return Path(env) if env else project_root() / "expectations"


def load_suite(table: str, folder: Path | None = None):
    """A stored suite, as a GX ExpectationSuite (`gx.ExpectationSuite(**json)`)."""
    import great_expectations as gx

    path = expectations_dir(folder) / f"{table}.json"
    with open(path, encoding="utf-8") as f:
        return gx.ExpectationSuite(**json.load(f))


def _batch(context, table: str, frame: pd.DataFrame):
    name = "assessment-evidence"
    try:
        source = context.data_sources.get(name)
    except KeyError:
        source = context.data_sources.add_pandas(name)
    try:
        asset = source.get_asset(table)
    except LookupError:
        asset = source.add_dataframe_asset(table)
    try:
        definition = asset.get_batch_definition("whole")
    except KeyError:
        definition = asset.add_batch_definition_whole_dataframe("whole")
    return definition.get_batch(batch_parameters={"dataframe": frame})


# ---- the tables as GX sees them -----------------------------------------------------------

def _obj(s: pd.Series) -> pd.Series:
    """Text columns as object with None for empty (whatever dtype the caller built them with)."""
    return s.astype(object).where(s.notna(), None)


def _dates(s: pd.Series) -> pd.Series:
    """datetime64[ns] at midnight: GX compares ns datetimes vectorised, other units row by row."""
    return pd.to_datetime(s, errors="coerce").dt.normalize().astype("datetime64[ns]")


def _source(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """The table with its location columns (hand-built tables get `<table>.csv`, row = index + 2)."""
    src = df.reset_index(drop=True)
    if "_file" not in src:
        src = src.assign(_file=f"{table}.csv")
    if "_sheet" not in src:
        src = src.assign(_sheet=None)
    if "_row" not in src:
        src = src.assign(_row=np.arange(2, len(src) + 2))
    for c, default in OPTIONAL[table].items():
        if c not in src:
            src[c] = default
    return src


def _frames(fw: Framework, ev: Evidence) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """(source tables with locations, the frames GX validates: needed columns + helper columns)."""
    src = {t: _source(getattr(ev, t), t) for t in TABLES}
    gxf: dict[str, pd.DataFrame] = {}
    for t in TABLES:
        s = src[t]
        g = pd.DataFrame({"_idx": np.arange(len(s), dtype=np.int64)})
        for c in s.columns:
            if c.startswith("_") or c in ("record_id", "note", "source"):
                continue
            if c in ("date", "done_date"):
                g[c] = _dates(s[c])
            elif c == "quantity":
                g[c] = pd.to_numeric(s[c], errors="coerce").astype(float)
            else:
                g[c] = _obj(s[c])
        gxf[t] = g

    units = src["units"]
    known = units.dropna(subset=["unit_id"]).drop_duplicates("unit_id") if "unit_id" in units else units.iloc[0:0]
    if {"unit_id", "unit_group", "unit_name"} <= set(known.columns):
        # a unit of an unknown group is reported once, by its group; its rows are not judged again
        app = applicability(fw, known[known["unit_group"].isin(fw.unit_groups)])
    else:
        app = pd.DataFrame()
    e = gxf["events"]
    if "quantity" in e:
        e["_quantity_fraction"] = np.mod(e["quantity"].to_numpy(), 1.0)
    if {"unit_id", "indicator"} <= set(e.columns):
        e["_applies"] = _applies(app, e["unit_id"], e["indicator"])
    for c in ("unit_id", "indicator", "level"):  # few distinct values: categories hash and filter fast
        if c in e:
            e[c] = e[c].astype("category")
    f = gxf["facts"]
    if "value" in f:
        key = normalise_text(f["value"]).astype(object)
        f["_value_key"] = key.map(lambda v: str(v).lower(), na_action="ignore").astype(object).where(key.notna(), None)
        f["_value_date"] = _dates(parse_date(f["value"].astype(object)))
    if {"unit_id", "indicator"} <= set(f.columns):
        leaf_of = fw.item_codes()
        f["_applies"] = _applies(app, f["unit_id"], f["indicator"].map(lambda c: leaf_of.get(c, c), na_action="ignore"))
    return src, gxf


def _applies(app: pd.DataFrame, unit_id: pd.Series, leaf: pd.Series) -> pd.Series:
    """True/False where both unit and leaf are known, None otherwise (another check reports those)."""
    n = len(unit_id)
    out = np.full(n, None, dtype=object)
    if app.empty or n == 0:
        return pd.Series(out, index=unit_id.index, dtype=object)
    ui = app.index.get_indexer(unit_id.astype(object))
    ci = app.columns.get_indexer(leaf.astype(object))
    ok = (ui >= 0) & (ci >= 0)
    out[ok] = app.to_numpy(dtype=bool)[ui[ok], ci[ok]].astype(object)
    return pd.Series(out, index=unit_id.index, dtype=object).astype("category")


# ---- expectations derived from the framework ----------------------------------------------

def _esc(text: str) -> str:
    return str(text).replace("{", "{{").replace("}", "}}")


def _list(values: Iterable[str], limit: int = 20) -> str:
    values = [str(v) for v in values]
    head = "、".join(values[:limit])
    return head + (f" 等 {len(values)} 项" if len(values) > limit else "")


def _meta(check: str, column: str, title_zh: str, title_en: str, zh: str, en: str, **extra) -> dict[str, Any]:
    return {"check": check, "column": column, "title_zh": title_zh, "title_en": title_en, "message_zh": zh, "message_en": en, **extra}


def framework_expectations(fw: Framework, period: Period, unit_ids: list[str]) -> dict[str, list]:
    """The run-time expectations of each table, from the framework and the period."""
    import great_expectations.expectations as gxe
    from great_expectations.expectations.row_conditions import Column

    leaves = fw.leaves()
    event_leaves = [l for l in leaves if RULES[l.rule.type].evidence == "events"]
    fact_leaves = [l for l in leaves if RULES[l.rule.type].evidence == "facts"]
    items = fw.item_codes()
    fact_codes = [l.code for l in fact_leaves if l.rule.type != "checklist"] + list(items)
    start = dt.datetime.combine(period.start, dt.time())
    end = dt.datetime.combine(period.end, dt.time())
    span = f"{period.start:%Y-%m-%d} 至 {period.end:%Y-%m-%d}"
    span_en = f"{period.start:%Y-%m-%d} to {period.end:%Y-%m-%d}"

    units = [
        gxe.ExpectColumnValuesToBeInSet(column="unit_group", value_set=list(fw.unit_groups), meta=_meta(
            "units.unit_group.in_framework", "unit_group", "单位类别属于框架", "unit_group is one of the framework's groups",
            f"单位类别“{{value}}”不是框架 {_esc(fw.id)} 的单位类别（可选：{_esc(_list(fw.unit_groups))}）",
            f"unknown unit group '{{value}}' (framework {_esc(fw.id)} has: {_esc(', '.join(fw.unit_groups))})")),
    ]

    events = [
        gxe.ExpectColumnValuesToBeInSet(column="unit_id", value_set=unit_ids, meta=_meta(
            "events.unit_id.in_units", "unit_id", "单位编码在单位表中", "unit_id is in the units table",
            "单位编码“{value}”不在单位表中{hint}", "unknown unit '{value}': not in the units table{hint_en}")),
        gxe.ExpectColumnValuesToBeInSet(column="indicator", value_set=[l.code for l in event_leaves], meta=_meta(
            "events.indicator.event_leaf", "indicator", "指标编码为以事件计分的末级指标", "indicator is a leaf scored from events",
            f"指标编码“{{value}}”不是框架 {_esc(fw.id)} 中以事件计分的末级指标{{hint}}（可选：{_esc(_list([l.code for l in event_leaves]))}）",
            f"unknown indicator '{{value}}': not a leaf of framework {_esc(fw.id)} scored from events{{hint_en}}")),
        gxe.ExpectColumnValuesToBeBetween(column="date", min_value=start, max_value=end, meta=_meta(
            "events.date.in_period", "date", f"日期在考核期 {span} 内", f"date inside the period {span_en}",
            f"日期不在考核期 {span} 内", f"date outside the assessment period {span_en}")),
        gxe.ExpectColumnValuesToBeBetween(column="done_date", max_value=end, severity="warning", meta=_meta(
            "events.done_date.by_period_end", "done_date", f"办结日期不晚于考核期末 {period.end:%Y-%m-%d}", f"done_date by the end of the period",
            f"办结日期晚于考核期末 {period.end:%Y-%m-%d}：按实际办结日期计算是否超时",
            f"done_date after the end of the period ({period.end:%Y-%m-%d}): timeliness is measured with the actual date")),
        gxe.ExpectColumnValuesToBeInSet(column="_applies", value_set=[True], meta=_meta(
            "events.indicator.applies_to_unit", "indicator", "指标适用于该单位的类别", "indicator applies to the unit's group",
            "指标“{indicator}”不适用于单位“{unit_id}”（类别“{group}”）：该单位不考核此项",
            "indicator '{indicator}' does not apply to unit '{unit_id}' (group '{group}')")),
    ]
    # levels: rows of a leaf whose rule prices levels need one of those levels; others none at all
    priced: dict[tuple[str, ...], list[str]] = {}
    unpriced: list[str] = []
    for leaf in event_leaves:
        levels = tuple(fw.levels_priced(leaf.code))
        needs = bool(levels) or RULES[leaf.rule.type].needs_level
        if needs:
            priced.setdefault(levels, []).append(leaf.code)
        else:
            unpriced.append(leaf.code)
    for levels, codes in sorted(priced.items(), key=lambda kv: kv[1]):
        tag = "_".join(codes)
        cond = Column("indicator").is_in(codes)
        events += [
            gxe.ExpectColumnValuesToNotBeNull(column="level", row_condition=cond, meta=_meta(
                f"events.level.required.{tag}", "level", f"{_list(codes)} 须填级别", f"{', '.join(codes)} need a level",
                f"指标“{{indicator}}”按级别计分，级别不能为空（可选：{_esc(_list(levels))}）",
                f"indicator '{{indicator}}' is scored by level: the level is required (one of {_esc(', '.join(levels))})")),
            gxe.ExpectColumnValuesToBeInSet(column="level", value_set=list(levels), row_condition=cond, meta=_meta(
                f"events.level.priced.{tag}", "level", f"{_list(codes)} 的级别为 {_list(levels)}", f"{', '.join(codes)}: level in {', '.join(levels)}",
                f"级别“{{value}}”不是指标“{{indicator}}”的规则计分的级别（可选：{_esc(_list(levels))}）",
                f"level '{{value}}' is not priced by the rule of indicator '{{indicator}}' (one of {_esc(', '.join(levels))})")),
        ]
    if unpriced:
        events.append(gxe.ExpectColumnValuesToBeNull(column="level", row_condition=Column("indicator").is_in(unpriced), meta=_meta(
            "events.level.not_priced", "level", "不按级别计分的指标不填级别", "no level where the rule prices none",
            "指标“{indicator}”的规则不按级别计分，级别“{value}”应留空（级别信息可写在“备注”列）",
            "the rule of indicator '{indicator}' prices no level: leave the level '{value}' empty (write it in the note)")))
    timely = [l.code for l in event_leaves if RULES[l.rule.type].needs_done_date]
    if timely:
        events.append(gxe.ExpectColumnValuesToNotBeNull(column="done_date", severity="warning", row_condition=Column("indicator").is_in(timely), meta=_meta(
            "events.done_date.present", "done_date", f"{_list(timely)} 填写办结日期", f"{', '.join(timely)} have a done_date",
            "尚未办结（办结日期为空）：按未按时办结计分", "still open (no done_date): scored as not done in time")))

    facts = [
        gxe.ExpectColumnValuesToBeInSet(column="unit_id", value_set=unit_ids, meta=_meta(
            "facts.unit_id.in_units", "unit_id", "单位编码在单位表中", "unit_id is in the units table",
            "单位编码“{value}”不在单位表中{hint}", "unknown unit '{value}': not in the units table{hint_en}")),
        gxe.ExpectColumnValuesToBeInSet(column="indicator", value_set=fact_codes, meta=_meta(
            "facts.indicator.fact_code", "indicator", "指标编码为事实类指标或检查项", "indicator is a fact leaf or checklist item",
            f"指标编码“{{value}}”不是框架 {_esc(fw.id)} 中以指标事实计分的指标或检查项{{hint}}（可选：{_esc(_list(fact_codes))}）",
            f"unknown indicator '{{value}}': not a fact indicator or checklist item of framework {_esc(fw.id)}{{hint_en}}")),
        gxe.ExpectColumnValuesToBeInSet(column="_applies", value_set=[True], severity="warning", meta=_meta(
            "facts.indicator.applies_to_unit", "indicator", "指标适用于该单位的类别", "indicator applies to the unit's group",
            "指标“{indicator}”不适用于单位“{unit_id}”（类别“{group}”）：此条事实不计分",
            "indicator '{indicator}' does not apply to unit '{unit_id}' (group '{group}'): the fact is not scored")),
    ]
    by_type: dict[str, list[str]] = {}
    for leaf in fact_leaves:
        codes = [str(i["code"]) for i in leaf.rule.params.get("items", [])] if leaf.rule.type == "checklist" else [leaf.code]
        by_type.setdefault(leaf.rule.type, []).extend(codes)
    filled = Column("value").is_not_null()
    if by_type.get("checklist"):
        codes = by_type["checklist"]
        facts.append(gxe.ExpectColumnValuesToBeInSet(column="_value_key", value_set=BOOL_WORDS, row_condition=Column("indicator").is_in(codes), meta=_meta(
            "facts.value.checklist", "value", "检查项的值为 是/否", "checklist values are yes/no",
            "检查项“{indicator}”的值“{value}”不是 是/否（可填 是/否、true/false、1/0、√/×）",
            "checklist item '{indicator}': value '{value}' is not yes/no (use 是/否, true/false, 1/0)")))
    if by_type.get("target"):
        codes = by_type["target"]
        facts.append(gxe.ExpectColumnValuesToMatchRegex(column="_value_key", regex=NUMBER_REGEX, row_condition=Column("indicator").is_in(codes), meta=_meta(
            "facts.value.target", "value", "目标类指标的值为数值或百分比", "target values are numbers or percentages",
            "指标“{indicator}”的值“{value}”不是数值或百分比（如 97 或 97%）",
            "indicator '{indicator}': value '{value}' is not a number or percentage (e.g. 97 or 97%)")))
    if by_type.get("deadline"):
        codes = by_type["deadline"]
        facts.append(gxe.ExpectColumnValuesToNotBeNull(column="_value_date", row_condition=Column("indicator").is_in(codes) & filled, meta=_meta(
            "facts.value.deadline", "value", "期限类指标的值为日期", "deadline values are dates",
            "指标“{indicator}”的值“{value}”不是有效日期（如 2023-01-10）",
            "indicator '{indicator}': value '{value}' is not a valid date (e.g. 2023-01-10)")))
    return {"units": units, "events": events, "facts": facts}


# ---- running and translating --------------------------------------------------------------

def _columns_of(config: dict[str, Any]) -> set[str]:
    kw = config.get("kwargs", {})
    cols = {kw[k] for k in ("column", "column_A", "column_B") if k in kw}
    cols.update(kw.get("column_list") or [])

    def walk(cond: Any) -> None:
        if isinstance(cond, dict):
            if isinstance(cond.get("column"), dict):
                cols.add(cond["column"]["name"])
            for c in cond.get("conditions", []):
                walk(c)

    walk(kw.get("row_condition"))
    return cols


def _display(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NaT:
        return ""
    if isinstance(v, (pd.Timestamp, dt.datetime, np.datetime64)):
        ts = pd.Timestamp(v)
        return "" if pd.isna(ts) else ts.strftime("%Y-%m-%d")
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _format(template: str, fields: dict[str, str]) -> str:
    return string.Formatter().vformat(template, (), _Fields(fields))


def _indicator_hint(fw: Framework, code: str, table: str) -> tuple[str, str]:
    """Where the analyst probably meant the code to go."""
    node = fw.nodes.get(code)
    items = fw.item_codes()
    if node is not None and not node.is_leaf:
        return f"：“{code}”是上级指标，请填写其下的末级指标编码", f": '{code}' is a parent node; use one of its leaves"
    if code in items and table == "events":
        return f"：“{code}”是检查项，应填在指标事实表", f": '{code}' is a checklist item; it belongs in the facts table"
    if node is not None and node.rule is not None and node.rule.type in RULES:
        kind = RULES[node.rule.type].evidence
        if table == "events" and kind == "facts":
            if node.rule.type == "checklist":
                subs = [c for c, leaf in items.items() if leaf == code]
                return f"：该指标以检查项计分，请在指标事实表按 {'、'.join(subs)} 分别填报", f": scored from checklist items ({', '.join(subs)}) in the facts table"
            return "：该指标以指标事实计分，应填在指标事实表", ": this indicator is scored from facts; it belongs in the facts table"
        if table == "facts" and kind == "events":
            return "：该指标按事件计分，应填在事件表", ": this indicator is scored from events; it belongs in the events table"
        if table == "facts" and node.rule.type == "checklist":
            subs = [c for c, leaf in items.items() if leaf == code]
            return f"：该指标以检查项计分，请按 {'、'.join(subs)} 分别填报", f": report each checklist item ({', '.join(subs)}) separately"
    if node is not None and not node.scored:
        return "：该指标不评分", ": this indicator is not scored"
    return "", ""


def _unit_hint(code: str, known: Iterable[str]) -> tuple[str, str]:
    """Which known unit an unknown code probably meant: leading zeros lost ('1' for '0001', a code
    typed as a number), or another case."""
    code = str(code)
    if code.isdigit():
        same = [u for u in known if u.isdigit() and u != code and u.lstrip("0") == code.lstrip("0")]
        if same and len(same[0]) > len(code):
            return (f"：单位表中有“{same[0]}”，疑似前导零丢失（单元格为数字格式？请将该列设为文本后重新填写）",
                    f": the units table has '{same[0]}'; leading zeros were probably lost (a number cell? format the column as text)")
        if same:
            return f"：单位表中有“{same[0]}”，疑似多写了前导零", f": the units table has '{same[0]}'; leading zeros added?"
    same = [u for u in known if u != code and u.casefold() == code.casefold()]
    if same:
        return f"：单位表中有“{same[0]}”（仅大小写不同）", f": the units table has '{same[0]}' (differs only in case)"
    return "", ""


def _translate(fw: Framework, table: str, src: pd.DataFrame, result, config: dict[str, Any], groups: dict[str, str]) -> tuple[list[Problem], dict[str, Any]]:
    """One GX result → Problems (one per failing row, capped) and its trimmed, JSON-safe record."""
    meta = config.get("meta", {})
    severity = "warning" if str(config.get("severity", "critical")).lower().endswith("warning") else "error"
    res = result.result or {}
    kwargs = {k: v for k, v in config.get("kwargs", {}).items() if k != "batch_id"}
    column = meta.get("column") or kwargs.get("column") or ""
    col_label = f"{HEADER_ZH.get(column, column)}（{column}）" if column else None
    idx = sorted(int(d["_idx"]) for d in (res.get("unexpected_index_list") or []))
    rows = src["_row"].to_numpy()[idx] if idx else np.array([], dtype=int)
    ids = src["record_id"].to_numpy()[idx] if idx and "record_id" in src else np.array([], dtype=object)
    record = {
        "check": meta.get("check", ""), "type": config.get("type", ""), "kwargs": kwargs, "severity": severity,
        "success": bool(result.success), "title_zh": meta.get("title_zh", ""), "title_en": meta.get("title_en", ""),
        "element_count": res.get("element_count"), "unexpected_count": res.get("unexpected_count", 0 if result.success else None),
        "rows": [int(r) for r in rows[:MAX_RESULT_ROWS]], "ids": [_display(i) for i in ids[:MAX_RESULT_ROWS]],
    }
    if len(idx) > MAX_RESULT_ROWS:
        record["rows_truncated"] = True
    problems: list[Problem] = []
    exc = _exception(result.exception_info)
    if exc:
        record["exception"] = exc
        problems.append(Problem(file=_first(src, "_file", f"{table}.csv"), sheet=_first(src, "_sheet", None), column=col_label, severity="error", rule=config.get("type"),
                                message_zh=f"校验项“{meta.get('title_zh', '')}”无法执行：{exc}", message_en=f"check '{meta.get('title_en', '')}' could not run: {exc}"))
        return problems, record
    if result.success:
        return problems, record
    if not idx:  # a table-level failure (a column missing)
        problems.append(Problem(file=_first(src, "_file", f"{table}.csv"), sheet=_first(src, "_sheet", None), column=col_label, severity=severity,
                                rule=config.get("type"), message_zh=meta.get("message_zh", "校验未通过"), message_en=meta.get("message_en", "check failed")))
        return problems, record
    shown = idx[:MAX_MESSAGES]
    also: dict[int, tuple[str, str]] = {}
    if config.get("type") in ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"):
        keys = kwargs.get("column_list") or [kwargs["column"]]
        sub = src.iloc[idx][keys + ["_row"]]
        for _, g in sub.groupby(keys, sort=False, dropna=False):
            for i, r in zip(g.index, g["_row"]):
                others = [str(int(x)) for x in g["_row"] if x != r][:5]
                if others:
                    also[i] = (f"（与第 {'、'.join(others)} 行重复）", f" (also in row {', '.join(others)})")
    cols = [c for c in src.columns if not c.startswith("_")]
    for i in shown:
        row = src.iloc[i]
        fields = {c: _display(row[c]) for c in cols}
        value = fields.get(column, "")
        fields["value"] = value
        value = value if value != "" else None
        fields["group"] = groups.get(fields.get("unit_id", ""), "")
        fields["also"], fields["also_en"] = also.get(i, ("", ""))
        if column == "unit_id" and meta.get("check", "").endswith(".unit_id.in_units"):
            fields["hint"], fields["hint_en"] = _unit_hint(value or "", groups)
        if column == "indicator" and meta.get("check", "").endswith((".event_leaf", ".fact_code")):
            fields["hint"], fields["hint_en"] = _indicator_hint(fw, value, table)
        problems.append(Problem(file=str(row["_file"]), sheet=None if pd.isna(row["_sheet"]) else str(row["_sheet"]), row=int(row["_row"]),
                                column=col_label, value=value, severity=severity, rule=config.get("type"),
                                message_zh=_format(meta.get("message_zh", "校验未通过"), fields), message_en=_format(meta.get("message_en", "check failed"), fields)))
    if len(idx) > MAX_MESSAGES:
        first = src.iloc[idx[0]]
        problems.append(Problem(file=str(first["_file"]), sheet=None if pd.isna(first["_sheet"]) else str(first["_sheet"]), column=col_label, severity=severity,
                                rule=config.get("type"), message_zh=f"另有 {len(idx) - MAX_MESSAGES} 行同样的问题未逐一列出（{meta.get('title_zh', '')}）",
                                message_en=f"{len(idx) - MAX_MESSAGES} more rows with the same problem ({meta.get('title_en', '')})"))
    return problems, record


def _first(src: pd.DataFrame, col: str, default: Any) -> Any:
    if len(src) and col in src and pd.notna(src[col].iloc[0]):
        return str(src[col].iloc[0])
    return default


def _exception(info: Any) -> str | None:
    """GX reports an expectation that could not run either flat or keyed by metric."""
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info.get("raised_exception") else None
    for v in info.values():
        if isinstance(v, dict) and v.get("raised_exception"):
            return v.get("exception_message") or "exception"
    return None


def _missing_facts(fw: Framework, src: dict[str, pd.DataFrame]) -> tuple[list[Problem], dict[str, Any]]:
    """Applicable unit × required fact (target/deadline leaf or checklist item) with no row: a warning."""
    units = src["units"]
    facts = src["facts"]
    record = {"check": "facts.missing", "type": "missing_facts (pandas)", "kwargs": {}, "severity": "warning",
              "title_zh": "每个适用单位都有所需的指标事实", "title_en": "every applicable unit has its required facts"}
    if not {"unit_id", "unit_group", "unit_name"} <= set(units.columns) or not {"unit_id", "indicator"} <= set(facts.columns):
        return [], record | {"success": None, "skipped": "缺少列 missing columns"}
    known = units.dropna(subset=["unit_id"]).drop_duplicates("unit_id")
    app = applicability(fw, known)
    parts = []
    for leaf in fw.leaves():
        if RULES[leaf.rule.type].evidence != "facts":
            continue
        codes = [(str(i["code"]), str(i["name"])) for i in leaf.rule.params.get("items", [])] if leaf.rule.type == "checklist" else [(leaf.code, leaf.name)]
        who = app.index[app[leaf.code].to_numpy(dtype=bool)] if leaf.code in app else app.index[:0]
        for code, name in codes:  # a handful of codes; the units are vectorised
            parts.append(pd.DataFrame({"unit_id": who.to_numpy(dtype=object), "indicator": code, "name": name}))
    need = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["unit_id", "indicator", "name"])
    have = facts[["unit_id", "indicator"]].dropna().astype(object).drop_duplicates()
    merged = need.merge(have, on=["unit_id", "indicator"], how="left", indicator=True)
    missing = merged[merged["_merge"] == "left_only"]
    order = {u: i for i, u in enumerate(known["unit_id"])}
    missing = missing.assign(_o=missing["unit_id"].map(order)).sort_values(["_o", "indicator"], kind="stable")
    names = dict(zip(known["unit_id"], known["unit_name"]))
    file = _first(facts, "_file", None) or ("facts.csv" if _first(units, "_sheet", None) is None else _first(units, "_file", "evidence.xlsx"))
    sheet = _first(facts, "_sheet", None) or (None if _first(units, "_sheet", None) is None else TABLE_ZH["facts"])
    col = f"{HEADER_ZH['indicator']}（indicator）"
    problems = [Problem(file=file, sheet=sheet, column=col, value=code, severity="warning", rule="missing_fact",
                        message_zh=f"缺少指标事实，按未达标计分：单位“{u}（{names.get(u, '')}）”未填报“{code} {name}”",
                        message_en=f"missing fact, scored as not met: unit '{u}' has no row for '{code}'")
                for u, code, name in missing[["unit_id", "indicator", "name"]].head(MAX_MESSAGES).itertuples(index=False)]
    if len(missing) > MAX_MESSAGES:
        problems.append(Problem(file=file, sheet=sheet, column=col, severity="warning", rule="missing_fact",
                                message_zh=f"另有 {len(missing) - MAX_MESSAGES} 项缺少的指标事实未逐一列出（完整清单见校验结果 JSON）",
                                message_en=f"{len(missing) - MAX_MESSAGES} more missing facts (full list in the validation JSON)"))
    record |= {"success": missing.empty, "element_count": int(len(need)), "unexpected_count": int(len(missing)),
               "missing": [[str(u), str(c)] for u, c in missing[["unit_id", "indicator"]].head(MAX_RESULT_ROWS).itertuples(index=False)]}
    return problems, record


def validate(fw: Framework, evidence: Evidence, period: Period | str | int | None = None, *, context=None,
             expectations_folder: Path | None = None) -> ValidationReport:
    """Check one county-year's evidence against the framework; every problem at once.

    `period` is a :class:`Period` or its label ('2023', '2023Q3'; default the framework's year).
    Pass `context` (from :func:`new_context`) to reuse one GX context across calls.
    """
    import great_expectations as gx

    if not isinstance(period, Period):
        period = Period.parse(fw, period)
    context = context if context is not None else new_context()
    src, frames = _frames(fw, evidence)
    units = src["units"]
    unit_ids = sorted({str(u) for u in units["unit_id"].dropna()}) if "unit_id" in units else []
    groups = {}
    if {"unit_id", "unit_group"} <= set(units.columns):
        groups = {str(k): _display(v) for k, v in units.dropna(subset=["unit_id"]).drop_duplicates("unit_id")[["unit_id", "unit_group"]].itertuples(index=False)}
    dynamic = framework_expectations(fw, period, unit_ids)
    report = ValidationReport(framework=fw.id, period=period.label, counts={t: int(len(src[t])) for t in TABLES})
    # what reading said (normalised cells, a header below a title, columns not read …) is part of the
    # one list of problems: the summary, the JSON results, the CLI and the notebooks count the same list
    report.problems.extend(p for p in evidence.notes if p.severity != "error")
    for table in TABLES:
        stored = load_suite(table, expectations_folder)
        expectations = list(stored.expectations) + dynamic[table]
        for i, e in enumerate(expectations):  # an office may add expectations without our meta
            e.meta = {"check": f"{table}.{i}.{e.expectation_type}", **(e.meta or {})}
        frame = frames[table]
        runnable, skipped = [], []
        for e in expectations:
            config = e.configuration.to_json_dict()
            missing = sorted(c for c in _columns_of(config) if c not in frame.columns)
            if missing and config["type"] != "expect_column_to_exist":
                skipped.append((config, missing))
            else:
                runnable.append(e)
        order = {e.meta["check"]: i for i, e in enumerate(expectations)}
        suite = gx.ExpectationSuite(name=f"{table}-{fw.id}", expectations=runnable)
        outcome = _batch(context, table, frame).validate(suite, result_format=RESULT_FORMAT)
        records: list[tuple[int, dict[str, Any]]] = []
        problems: list[tuple[int, list[Problem]]] = []
        for result in outcome.results:
            config = result.expectation_config.to_json_dict()
            p, rec = _translate(fw, table, src[table], result, config, groups)
            key = order[config["meta"]["check"]]
            records.append((key, rec))
            problems.append((key, p))
        for config, missing in skipped:
            meta = config.get("meta", {})
            records.append((order[meta["check"]], {"check": meta["check"], "type": config["type"], "kwargs": config["kwargs"], "severity": "error",
                                                   "success": None, "title_zh": meta.get("title_zh", ""), "title_en": meta.get("title_en", ""),
                                                   "skipped": f"缺少列 missing column {', '.join(missing)}"}))
        records.sort(key=lambda kv: kv[0])
        problems.sort(key=lambda kv: kv[0])
        report.results[table] = [_plain(r) for _, r in records]
        for _, p in problems:
            report.problems.extend(p)
    p, rec = _missing_facts(fw, src)
    report.results["facts"].append(_plain(rec))
    report.problems.extend(p)
    return report


def bundle_warnings(bundle: Path) -> list[Problem]:
    """The warnings of a run, as one list: those of `validation/results.json` (reading notes and
    validation warnings), or, before validation ran, the reading notes of the ingest stage.

    The command line, `validation/summary.md`, `validation/results.json` and the notebooks all count
    this list, so they say the same number."""
    results = Path(bundle) / "validation" / "results.json"
    if results.is_file():
        data = json.loads(results.read_text(encoding="utf-8"))
        return [Problem(**d) for d in data.get("problems", []) if d.get("severity") != "error"]
    notes = Path(bundle) / "evidence" / "reading_notes.json"
    if notes.is_file():
        return [Problem(**d) for d in json.loads(notes.read_text(encoding="utf-8")) if d.get("severity") != "error"]
    return []


# ---- JSON ---------------------------------------------------------------------------------

def _json_default(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if isinstance(v, (pd.Timestamp, dt.datetime, dt.date)):
        return v.isoformat()
    return str(v)


def _plain(obj: Any) -> Any:
    """Round-trip through JSON so the report holds only plain data."""
    return json.loads(json.dumps(obj, ensure_ascii=False, default=_json_default))
