"""Rule types: each a function over whole tables, registered by name.

A rule turns the evidence of one leaf indicator into line items — one row per point added or
taken, naming its evidence rows and explaining itself in Chinese. Rules never loop over events:
they are pandas operations over the leaf's events or facts. Caps, floors and pools are not the
rules' business; `scoring` clamps every node to [0, its points] with an explicit line.

Adding a rule type is one function here with `@register` and its parameter model.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from .calendar import WorkCalendar
from .values import parse_bool, parse_date, parse_number

LINE_COLUMNS = ["unit_id", "indicator", "rule", "points", "evidence_ids", "explanation", "kind"]


@dataclass(frozen=True)
class RuleInput:
    """What a rule sees: one leaf, its parameters, and the evidence that concerns it."""

    code: str
    name: str
    points: float | None
    in_pool: bool
    params: BaseModel
    units: pd.Series  # unit_id of every unit the leaf applies to
    events: pd.DataFrame  # events of this leaf, applicable units only
    all_events: pd.DataFrame  # every event of applicable units (thresholds count other leaves)
    facts: pd.DataFrame  # facts of this leaf or its checklist items, applicable units only
    calendar: WorkCalendar | None
    period_end: dt.date


@dataclass(frozen=True)
class RuleType:
    name: str
    params: type[BaseModel]
    fn: Callable[[RuleInput], pd.DataFrame]
    kind: Literal["base", "veto", "bonus", "penalty"]
    evidence: Literal["events", "facts"]
    needs_points: bool
    needs_level: bool = False
    needs_done_date: bool = False
    description: str = ""


RULES: dict[str, RuleType] = {}


def register(name: str, params: type[BaseModel], *, kind: str = "base", evidence: str = "events",
             needs_points: bool = True, needs_level: bool = False, needs_done_date: bool = False,
             description: str = "") -> Callable:
    """Register a rule function under its name (the `type:` of a framework's rule)."""

    def wrap(fn: Callable[[RuleInput], pd.DataFrame]) -> Callable[[RuleInput], pd.DataFrame]:
        RULES[name] = RuleType(name, params, fn, kind, evidence, needs_points, needs_level, needs_done_date, description)
        return fn

    return wrap


# ---- parameter models ---------------------------------------------------------------------

class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _EventParams(_Params):
    """Parameters every rule over events may carry.

    `sources`: only events whose 来源 is one of these count for the rule (names normalised as
    evidence values are); the others are listed in `Results.unused_evidence` with that reason."""

    sources: list[str] | None = Field(default=None, min_length=1)


class VetoParams(_EventParams):
    """单项否决 when the leaf's count reaches `min_count` (栏目不更新累计5个以上的，单项否决)."""

    min_count: int = Field(default=1, ge=1)
    count: Literal["quantity", "events"] = "quantity"


class PerEventParams(_EventParams):
    """Points per event (× quantity), or per level of the event."""

    per: float | None = Field(default=None, gt=0)
    per_level: dict[str, float] | None = None

    @model_validator(mode="after")
    def _one_price(self) -> "PerEventParams":
        if (self.per is None) == (self.per_level is None):
            raise ValueError("per（每次分值）与 per_level（按级别分值）须写且只写一个（give exactly one of per / per_level）")
        return self


class DeductParams(PerEventParams):
    """`deduct`, which may also veto: 每处扣2分，累计10处以上单项否决 → per: 2, veto_at: 10."""

    veto_at: int | None = Field(default=None, ge=1)
    count: Literal["quantity", "events"] = "quantity"


class BestLevelParams(_EventParams):
    levels: dict[str, float]


class ThresholdParams(_EventParams):
    indicators: list[str] = Field(min_length=1)
    max_count: int = Field(ge=0)
    count: Literal["quantity", "events"] = "quantity"


class ChecklistItem(_Params):
    code: str
    name: str


class ChecklistParams(_Params):
    items: list[ChecklistItem] = Field(min_length=1)
    partial: Literal["all", "proportional"] = "all"


class TargetParams(_Params):
    target: float = Field(gt=0)
    unit: Literal["percent", "number"] = "percent"
    mode: Literal["full", "proportional"] = "full"

    @model_validator(mode="after")
    def _fraction(self) -> "TargetParams":
        if self.unit == "percent" and self.target > 1:
            raise ValueError(f"百分比目标写成小数：{self.target:g}% 请写 {self.target / 100:g}（a percent target is a fraction: write {self.target / 100:g} for {self.target:g}%）")
        return self


class DeadlineParams(_Params):
    due: dt.date


class TimelinessParams(_EventParams):
    within: int = Field(ge=0, description="working days after receipt; the day of receipt does not count")
    mode: Literal["deduct", "share"] = "deduct"
    per: float = Field(default=1, gt=0)


# ---- helpers ------------------------------------------------------------------------------

def _text(values) -> np.ndarray:
    """Values as an object array of Python strings, missing as NaN (what pandas' str dtype would give).

    Lines are built as object columns from the start: letting pandas 3 infer its Arrow-backed str
    dtype and converting back to object later cost seconds per million lines (speed and scale)."""
    arr = pd.Series(values, dtype="object").to_numpy()
    missing = pd.isna(arr)
    return np.where(missing, np.nan, arr) if missing.any() else arr


def _constant(value: str, n: int) -> pd.Series:
    """One string repeated n times as an object column (one shared str object, no per-row copies)."""
    return pd.Series(np.array([value], dtype=object).repeat(n), dtype="object", copy=False)  # np.full is 10× slower for objects


def _lines(r: RuleInput, unit_id, points, evidence_ids, explanation, kind: str | None = None) -> pd.DataFrame:
    pts = np.asarray(points, dtype=float)
    n = len(pts)
    out = pd.DataFrame({
        "unit_id": pd.Series(_text(unit_id), dtype="object", copy=False),
        "indicator": _constant(r.code, n),
        "rule": _constant("", n),
        "points": pts,
        "evidence_ids": pd.Series(_text(evidence_ids), dtype="object", copy=False),
        "explanation": pd.Series(_text(explanation), dtype="object", copy=False),
        "kind": _constant(kind or "base", n),
    }, copy=False)
    return out[LINE_COLUMNS]


def per_combination(frame: pd.DataFrame, columns: list[str], build: Callable[[pd.DataFrame], object]) -> np.ndarray:
    """`build` (a vectorised text builder) evaluated once per distinct combination of `columns`.

    An explanation such as "错别字：2023-05-06 2次，扣2分" depends only on a few columns with few
    distinct values (date, quantity, level), so a million events need a few thousand strings: the
    builder runs on one representative row of each combination and the result is spread back by
    position. Same builder, same rows → the same strings as building them row by row."""
    n = len(frame)
    if n == 0:
        return np.array([], dtype=object)
    key = np.zeros(n, dtype=np.int64)
    n_keys = 1
    for c in columns:
        codes, uniques = pd.factorize(frame[c], use_na_sentinel=False)
        key, combos = pd.factorize(key * len(uniques) + codes)  # re-factorised: stays below n
        n_keys = len(combos)
    first = np.empty(n_keys, dtype=np.int64)
    first[key[::-1]] = np.arange(n - 1, -1, -1)  # first row of each combination
    built = pd.Series(build(frame.iloc[first]), dtype="object").to_numpy()
    return built[key]


def _fmt(x: pd.Series | np.ndarray | float) -> pd.Series:
    """Points as an analyst writes them: 1, 0.5, 2.5 (no trailing zeros)."""
    s = pd.Series(np.round(np.asarray(x, dtype=float), 4))
    return s.map(lambda v: f"{v:g}")


def _count(x: pd.Series | np.ndarray) -> pd.Series:
    """Counts (quantities, problems, cases) as whole numbers: 3, not 3.0, and 1200000, not 1.2e+06;
    a count that is not whole (it should not happen: quantities are integers) shows its decimals."""
    return pd.Series(np.asarray(x, dtype=float)).map(lambda v: f"{v:.0f}" if float(v).is_integer() else f"{v:.10g}")


def _date_str(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).dt.strftime("%Y-%m-%d").fillna("")


def base_line(r: RuleInput, explanation: str) -> pd.DataFrame:
    """The full points a leaf starts from before its deductions."""
    n = len(r.units)
    return _lines(r, r.units, np.full(n, r.points or 0.0), [""] * n, [explanation] * n)


def _price(r: RuleInput, ev: pd.DataFrame) -> np.ndarray:
    """Points per event: `per` × quantity, or the price of the event's level × quantity."""
    p = r.params
    qty = ev["quantity"].to_numpy(dtype=float)
    if p.per is not None:
        return p.per * qty
    codes, levels = pd.factorize(ev["level"].to_numpy(dtype=object))  # = level.map(per_level), once per level
    price = np.array([float(p.per_level[x]) if x in p.per_level else np.nan for x in levels] + [np.nan])[codes]
    return np.where(np.isnan(price), 0.0, price) * qty


def _event_lines(r: RuleInput, sign: float, verb: str, kind: str) -> pd.DataFrame:
    ev = r.events
    if ev.empty:
        return pd.DataFrame(columns=LINE_COLUMNS)
    pts = _price(r, ev)

    def explain(rows: pd.DataFrame) -> pd.Series:
        level = rows["level"].fillna("").astype(str)
        level = level.where(level == "", "（" + level + "）")
        return (r.name + level + "：" + _date_str(rows["date"]) + " " + _count(rows["quantity"]).to_numpy()
                + "次，" + verb + _fmt(_price(r, rows)).to_numpy() + "分")

    why = per_combination(ev, ["level", "date", "quantity"], explain)
    return _lines(r, ev["unit_id"], sign * pts, ev["event_id"], why, kind)


def _join_ids(ev: pd.DataFrame, id_col: str = "event_id") -> pd.Series:
    """Evidence ids per unit, sorted and joined with ';' (stable for byte-identical output)."""
    if ev.empty:
        return pd.Series(dtype="object")
    if not ev[id_col].is_monotonic_increasing:  # evidence usually arrives in id order: no sort needed
        ev = ev.sort_values(id_col)
    # = ev.groupby("unit_id", sort=True)[id_col].agg(";".join), without a Python call per unit through
    # pandas (half the time of the rules at 10 k units): units in sorted order, ids in the order above
    codes, units = pd.factorize(ev["unit_id"].to_numpy(dtype=object), sort=True)
    rows = np.flatnonzero(codes >= 0)  # a missing unit id is no group
    rows = rows[np.argsort(codes[rows], kind="stable")]
    starts = np.flatnonzero(np.r_[True, np.diff(codes[rows]) != 0])
    ids = ev[id_col].to_numpy(dtype=object)[rows]
    joined = [";".join(part) for part in np.split(ids, starts[1:])] if len(rows) else []
    return pd.Series(joined, index=pd.Index(units[codes[rows[starts]]] if len(rows) else [], dtype=object, name="unit_id"),
                     name=id_col, dtype="object")


def per_value(parse: Callable[[pd.Series], pd.Series], values: pd.Series) -> pd.Series:
    """An element-wise parser (parse_bool, parse_number, parse_date) run on distinct values only."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=False)
    return pd.Series(parse(pd.Series(uniques, dtype="object")).to_numpy()[codes], index=values.index)


# ---- rule functions -----------------------------------------------------------------------

@register("veto", VetoParams, kind="veto", needs_points=False,
          description="事件计数达到 min_count（默认1）即单项否决：等次不合格，不计总分或按 veto_score 记分 (vetoes the unit at min_count)")
def veto(r: RuleInput) -> pd.DataFrame:
    p: VetoParams = r.params
    if p.min_count == 1:
        ids = _join_ids(r.events)
        why = "单项否决：" + r.name + "（" + ids.astype(str) + "）"
        return _lines(r, ids.index, np.zeros(len(ids)), ids.to_numpy(), why.to_numpy(), "veto")
    return _veto_at_count(r, p.min_count, p.count, "单项否决")


def _unit_counts(ev: pd.DataFrame, count: str) -> pd.Series:
    """unit_id → the leaf's count: sum of 数量 (`quantity`) or number of rows (`events`)."""
    weight = ev["quantity"] if count == "quantity" else pd.Series(1.0, index=ev.index)
    return weight.groupby(ev["unit_id"], sort=True).sum()


def _count_words(count: str) -> tuple[str, str]:
    """How a count is named in a line: (noun before the number, measure word after it)."""
    return ("数量合计", "个") if count == "quantity" else ("事件", "条")


def _veto_at_count(r: RuleInput, at: int, count: str, opening: str) -> pd.DataFrame:
    """Veto lines (0 points) for the units whose count reaches `at`, naming the count."""
    ev = r.events
    if ev.empty:
        return pd.DataFrame(columns=LINE_COLUMNS)
    counts = _unit_counts(ev, count)
    hit = counts[counts >= at - 1e-9]
    if hit.empty:
        return pd.DataFrame(columns=LINE_COLUMNS)
    ids = _join_ids(ev[ev["unit_id"].isin(hit.index)]).reindex(hit.index)
    noun, measure = _count_words(count)
    why = (f"{opening}：{r.name}，{noun} " + _count(hit).to_numpy() + f" {measure}，达到 {at} {measure}（"
           + ids.astype(str) + "）")
    return _lines(r, hit.index, np.zeros(len(hit)), ids.to_numpy(), why.to_numpy(), "veto")


@register("deduct", DeductParams, needs_points=True, needs_level=False,
          description="每次（×数量）扣 per 分，本项或扣分池扣完为止；写 veto_at 时累计达到即单项否决 (minus per points per event; vetoes at veto_at)")
def deduct(r: RuleInput) -> pd.DataFrame:
    p: DeductParams = r.params
    parts = []
    if not r.in_pool:
        parts.append(base_line(r, f"{r.name}：基础分 {r.points:g} 分"))
    parts.append(_event_lines(r, -1.0, "扣", "base"))
    if p.veto_at is not None:
        vetoes = _veto_at_count(r, p.veto_at, p.count, "单项否决")
        vetoes["rule"] = "veto_at"
        parts.append(vetoes)
    return _concat(parts)


@register("award", PerEventParams, description="每次（×数量）加 per 分或按级别计分，得满为止 (plus per points per event, capped)")
def award(r: RuleInput) -> pd.DataFrame:
    return _event_lines(r, 1.0, "得", "base")


@register("best_level", BestLevelParams, needs_level=True,
          description="按达到的最高级别计分 (points of the highest level reached)")
def best_level(r: RuleInput) -> pd.DataFrame:
    ev = r.events.assign(_pts=r.events["level"].map(r.params.levels).astype(float).fillna(0.0))
    if ev.empty:
        return pd.DataFrame(columns=LINE_COLUMNS)
    best = ev.sort_values(["unit_id", "_pts", "event_id"], ascending=[True, False, True]).drop_duplicates("unit_id")
    why = r.name + "：最高为" + best["level"].astype(str) + "（" + _date_str(best["date"]) + "），得" + _fmt(best["_pts"]).to_numpy() + "分"
    return _lines(r, best["unit_id"], best["_pts"], best["event_id"], why)


@register("threshold", ThresholdParams, description="所列指标问题数不超过 max_count 得满分，否则不得分 (full points if the count is at most max_count)")
def threshold(r: RuleInput) -> pd.DataFrame:
    p: ThresholdParams = r.params
    ev = r.all_events.loc[r.all_events["indicator"].isin(p.indicators), ["event_id", "unit_id", "quantity"]]
    weight = ev["quantity"] if p.count == "quantity" else pd.Series(1, index=ev.index)
    counts = weight.groupby(ev["unit_id"]).sum().reindex(r.units.to_numpy(), fill_value=0)
    ids = _join_ids(ev).reindex(counts.index).fillna("")
    ok = counts.to_numpy() <= p.max_count
    pts = np.where(ok, r.points, 0.0)
    names = "、".join(p.indicators) + (f"（只计来源为{'、'.join(p.sources)}的）" if p.sources else "")
    shown = _count(counts).to_numpy()  # the sum of quantities is a float: 3, never 3.0
    what, m = ("问题数（数量合计）", "个") if p.count == "quantity" else ("问题记录", "条")
    why = np.where(ok, f"{r.name}：{names} {what}共 " + shown + f" {m}，不多于 {p.max_count} {m}，得 {r.points:g} 分",
                   f"{r.name}：{names} {what}共 " + shown + f" {m}，多于 {p.max_count} {m}，不得分")
    return _lines(r, counts.index, pts, ids.to_numpy(), why)


@register("checklist", ChecklistParams, evidence="facts",
          description="逐项核对（是/否）：全部满足得满分，或按满足比例计分 (all items met, or proportional)")
def checklist(r: RuleInput) -> pd.DataFrame:
    p: ChecklistParams = r.params
    codes = [i.code for i in p.items]
    names = {i.code: i.name for i in p.items}
    f = r.facts[r.facts["indicator"].isin(codes)].drop_duplicates(["unit_id", "indicator"], keep="last")
    met = f.assign(_met=per_value(parse_bool, f["value"]).fillna(False).astype(bool))
    grid = met.pivot(index="unit_id", columns="indicator", values="_met") if not met.empty else pd.DataFrame()
    grid = grid.reindex(index=r.units.to_numpy(), columns=codes).fillna(False).astype(bool)
    n_met = grid.sum(axis=1).to_numpy()
    share = n_met / len(codes)
    pts = r.points * (share if p.partial == "proportional" else (n_met == len(codes)).astype(float))
    status = pd.Series("", index=grid.index, dtype="object")
    for code in codes:  # a handful of items, not events
        status = status + np.where(grid[code], f"{names[code]}✓ ", f"{names[code]}✗ ")
    ids = _join_ids(f, "record_id").reindex(grid.index).fillna("")
    why = f"{r.name}：" + status.str.strip() + f"，满足 " + pd.Series(n_met, index=grid.index).astype(str) + f"/{len(codes)} 项，得 " + _fmt(pts).to_numpy() + " 分"
    return _lines(r, grid.index, pts, ids.to_numpy(), why.to_numpy())


def _one_fact(r: RuleInput) -> pd.DataFrame:
    """The leaf's own fact per applicable unit (last one wins), unit order kept."""
    f = r.facts[r.facts["indicator"] == r.code].drop_duplicates("unit_id", keep="last").set_index("unit_id")
    f = f.reindex(r.units.to_numpy())
    return f.astype({"value": object, "record_id": object})  # all-missing facts stay text, not float NaN


@register("target", TargetParams, evidence="facts",
          description="数值指标对照目标值（如 ≥97%），达标得满分或按比例计分 (a numeric fact against its target)")
def target(r: RuleInput) -> pd.DataFrame:
    p: TargetParams = r.params
    f = _one_fact(r)
    value = parse_number(f["value"], percent=p.unit == "percent")
    shown = (value * 100).map(lambda v: f"{v:g}%") if p.unit == "percent" else value.map(lambda v: f"{v:g}")
    goal = f"{p.target * 100:g}%" if p.unit == "percent" else f"{p.target:g}"
    v = value.fillna(0.0).to_numpy()
    ratio = np.clip(v / p.target, 0, 1)
    pts = r.points * (ratio if p.mode == "proportional" else (v >= p.target - 1e-12).astype(float))
    why = np.where(value.isna(), f"{r.name}：未提供数值，按未达标计 0 分（目标 {goal}）",
                   f"{r.name}：实际 " + shown.fillna("").astype(str) + f"，目标 {goal}，得 " + _fmt(pts).to_numpy() + " 分")
    return _lines(r, f.index, pts, f["record_id"].fillna("").to_numpy(), why)


@register("deadline", DeadlineParams, evidence="facts",
          description="在截止日期当日或之前完成得满分 (a date fact on or before the due date)")
def deadline(r: RuleInput) -> pd.DataFrame:
    p: DeadlineParams = r.params
    f = _one_fact(r)
    done = parse_date(f["value"])
    ok = (done <= pd.Timestamp(p.due)).fillna(False).to_numpy(dtype=bool)
    pts = np.where(ok, r.points, 0.0)
    shown = done.dt.strftime("%Y-%m-%d")
    why = np.where(done.isna(), f"{r.name}：未提供完成日期，按未完成计 0 分（截止 {p.due:%Y-%m-%d}）",
                   np.where(ok, f"{r.name}：" + shown.fillna("") + f" 完成，未超过截止日期 {p.due:%Y-%m-%d}，得 {r.points:g} 分",
                            f"{r.name}：" + shown.fillna("") + f" 完成，晚于截止日期 {p.due:%Y-%m-%d}，不得分"))
    return _lines(r, f.index, pts, f["record_id"].fillna("").to_numpy(), why)


@register("timeliness", TimelinessParams, needs_done_date=True,
          description="按中国法定工作日计算办理时限（受理当日不计），超时扣分或按及时率计分 (Chinese working days)")
def timeliness(r: RuleInput) -> pd.DataFrame:
    p: TimelinessParams = r.params
    ev = r.events
    if r.calendar is None:
        raise ValueError("timeliness needs a working-day calendar")
    received = ev["date"].to_numpy(dtype="datetime64[D]")
    due = r.calendar.deadline(received, p.within) if len(ev) else np.array([], dtype="datetime64[D]")
    done = ev["done_date"]
    open_ = done.isna().to_numpy()
    done_d = done.fillna(pd.Timestamp(r.period_end)).to_numpy(dtype="datetime64[D]")
    late = open_ | (done_d > due)

    def explain(rows: pd.DataFrame) -> np.ndarray:  # a function of (date, done_date) only
        received = rows["date"].to_numpy(dtype="datetime64[D]")
        due = r.calendar.deadline(received, p.within)
        open_ = rows["done_date"].isna().to_numpy()
        done_d = rows["done_date"].fillna(pd.Timestamp(r.period_end)).to_numpy(dtype="datetime64[D]")
        late = open_ | (done_d > due)
        used = r.calendar.elapsed(received, done_d)
        due_s = pd.Series(due).dt.strftime("%Y-%m-%d").to_numpy()
        state = np.where(open_, "未办结", np.where(late, "超时", "按时"))
        return (r.name + "：" + _date_str(rows["date"]).to_numpy() + " 受理，" + np.where(open_, "未办结", "用时 " + pd.Series(used).astype(str).to_numpy() + " 个工作日")
                + f"（限 {p.within} 个工作日，截止 " + due_s + "），" + state)

    detail = per_combination(ev, ["date", "done_date"], explain)
    if p.mode == "deduct":
        parts = [] if r.in_pool else [base_line(r, f"{r.name}：基础分 {r.points:g} 分")]
        sel = late
        parts.append(_lines(r, ev["unit_id"].to_numpy()[sel], -p.per * ev["quantity"].to_numpy(dtype=float)[sel],
                            ev["event_id"].to_numpy()[sel], detail[sel] + f"，扣 {p.per:g} 分"))
        return _concat(parts)
    # share: points × on-time share; units without events get full points (nothing was late)
    on_time = pd.Series(~late, index=ev.index).groupby(ev["unit_id"]).agg(["sum", "count"]).reindex(r.units.to_numpy(), fill_value=0)
    share = np.where(on_time["count"] > 0, on_time["sum"] / on_time["count"].clip(lower=1), 1.0)
    pts = r.points * share
    ids = _join_ids(ev).reindex(on_time.index).fillna("")
    why = (f"{r.name}：按时办结 " + _count(on_time["sum"]).to_numpy() + "/" + _count(on_time["count"]).to_numpy() + " 件，得 " + _fmt(pts).to_numpy() + " 分")
    return _lines(r, on_time.index, pts, ids.to_numpy(), np.asarray(why, dtype=object))


@register("bonus", PerEventParams, kind="bonus", description="加分指标，计入基础分之外，得满为止 (bonus outside the base, capped)")
def bonus(r: RuleInput) -> pd.DataFrame:
    return _event_lines(r, 1.0, "加", "bonus")


@register("penalty", PerEventParams, kind="penalty", description="扣分指标，从总分中扣除，扣满为止 (penalty outside the base, capped)")
def penalty(r: RuleInput) -> pd.DataFrame:
    return _event_lines(r, -1.0, "扣", "penalty")


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=LINE_COLUMNS)


def apply(rule_name: str, r: RuleInput) -> pd.DataFrame:
    """Run a registered rule; the `rule` column names the rule type for the auditor."""
    out = RULES[rule_name].fn(r)
    named = out["rule"].to_numpy(dtype=object) if len(out) else np.array([], dtype=object)
    if len(out) and (named != "").any():  # a line a rule named itself (veto_at) keeps its name
        out["rule"] = pd.Series(np.where(named == "", rule_name, named), index=out.index, dtype="object")
    else:
        out["rule"] = pd.Series(np.array([rule_name], dtype=object).repeat(len(out)), index=out.index, dtype="object", copy=False)  # kept object
    return out
