"""Scoring: line items → indicator scores → unit totals, grades and ranks.

`score(framework, evidence)` is the one call the notebooks, the CLI and the tests use. Every
point in a unit's total is a row of `line_items`, naming its rule and its evidence rows: the rules
produce the raw lines, and this module adds the lines an auditor needs to see how the raw lines
became the total — pool bases, caps and floors (每项扣完为止, 得满为止), the normalisation to the
applicable maximum, the bonus gate, and a floor at zero. Summing a unit's lines gives its total.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .calendar import CalendarError, WorkCalendar
from .evidence import Evidence
from .frameworks import Framework, Indicator
from .rules import LINE_COLUMNS, RULES, RuleInput, apply

UNIT_SCORE_COLUMNS = ["unit_id", "unit_name", "unit_group", "base", "bonus", "penalty", "total", "grade", "rank", "vetoed", "veto_reasons"]
INDICATOR_SCORE_COLUMNS = ["unit_id", "indicator", "name", "depth", "points", "score"]
DECIMALS = 2  # points are booked to the cent, so a unit's lines sum exactly to its (2-decimal) total


@dataclass(frozen=True)
class Period:
    """The assessment period: a year ('2023') or a quarter ('2023Q3')."""

    label: str
    start: dt.date
    end: dt.date

    @classmethod
    def parse(cls, fw: Framework, period: str | int | None = None) -> "Period":
        """The framework's year, or the quarter asked for; a quarterly framework needs one."""
        text = str(period if period is not None else fw.year).strip().upper()
        m = re.fullmatch(r"(\d{4})(?:Q([1-4]))?", text)
        if not m:
            raise ValueError(f"考核期 “{period}” 无效，应为 2023 或 2023Q3（invalid period '{period}': use 2023 or 2023Q3）")
        year, q = int(m.group(1)), m.group(2)
        if fw.period == "quarter" and q is None:
            raise ValueError(f"框架 {fw.id} 按季度考核，请给出季度，如 {fw.year}Q3（framework {fw.id} is quarterly: give --period {fw.year}Q3）")
        if fw.period == "year" and q is not None:
            raise ValueError(f"框架 {fw.id} 按年度考核，不能按季度运行（framework {fw.id} is annual; give a year, not a quarter）")
        if year != fw.year:
            raise ValueError(f"考核期 {text} 与框架年度 {fw.year} 不一致（period {text} does not match the framework's year {fw.year}）")
        if q is None:
            return cls(text, dt.date(year, 1, 1), dt.date(year, 12, 31))
        qi = int(q)
        start = dt.date(year, 3 * qi - 2, 1)
        end = (pd.Timestamp(start) + pd.offsets.QuarterEnd(0)).date()
        return cls(text, start, end)


@dataclass
class Results:
    """What scoring produces: the three tables of the run bundle's scores/ folder."""

    framework: Framework
    period: Period
    unit_scores: pd.DataFrame
    indicator_scores: pd.DataFrame
    line_items: pd.DataFrame

    def unit_lines(self, unit_id: str) -> pd.DataFrame:
        return self.line_items[self.line_items["unit_id"] == unit_id]


# ---- tree helpers ---------------------------------------------------------------------------

def _kind(node: Indicator) -> str:
    """base / veto / bonus / penalty for a node (by the rules of the leaves under it)."""
    kinds = {RULES[n.rule.type].kind for n, _, _ in node.walk() if n.is_leaf and n.rule is not None and n.scored}
    if not kinds:
        return "none"
    if kinds == {"veto"}:
        return "veto"
    kinds.discard("veto")
    if len(kinds) == 1:
        return kinds.pop()
    return "mixed" if kinds <= {"bonus", "penalty"} else "base"


def _pool_member(fw: Framework, node: Indicator) -> bool:
    parent = fw.parents.get(node.code)
    return bool(parent and fw.nodes[parent].pool)


def applicability(fw: Framework, units: pd.DataFrame) -> pd.DataFrame:
    """units × leaves: does the leaf apply to the unit (by its group, or by its name)?"""
    cols = {}
    group = units["unit_group"].to_numpy()
    name = units["unit_name"].to_numpy()
    for leaf in fw.leaves():
        if leaf.applies_to:
            wanted = list(leaf.applies_to)
            cols[leaf.code] = np.isin(group, wanted) | np.isin(name, wanted)
        else:
            cols[leaf.code] = np.ones(len(units), dtype=bool)
    return pd.DataFrame(cols, index=units["unit_id"].to_numpy())


def applicable_maxima(fw: Framework, app: pd.DataFrame) -> pd.DataFrame:
    """units × nodes: the points each node can give each unit (0 where nothing applies)."""
    out: dict[str, np.ndarray] = {}
    n = len(app)

    def visit(node: Indicator, parent_pool: bool) -> np.ndarray:
        if not node.scored:
            out[node.code] = np.zeros(n)
            return out[node.code]
        if node.is_leaf:
            applies = app[node.code].to_numpy() if node.code in app else np.zeros(n, dtype=bool)
            pts = 0.0 if (node.points is None or parent_pool) else float(node.points)
            out[node.code] = np.where(applies, pts, 0.0)
            if parent_pool:  # a pool member has no maximum of its own; mark applicability for the pool
                out[node.code] = np.where(applies, np.nan, 0.0)
            return out[node.code]
        child = [visit(c, node.pool) for c in node.children]
        if node.pool:
            any_app = np.zeros(n, dtype=bool)
            for c in child:
                any_app |= np.isnan(c) | (c > 0)
            out[node.code] = np.where(any_app, float(node.points), 0.0)
        else:
            s = np.nansum(np.vstack(child), axis=0) if child else np.zeros(n)
            out[node.code] = np.minimum(s, node.points) if node.points is not None else s
        return out[node.code]

    for top in fw.indicators:
        visit(top, False)
    return pd.DataFrame(out, index=app.index)


def work_calendar(fw: Framework, evidence: Evidence, period: Period) -> WorkCalendar | None:
    """A working-day calendar covering the evidence, built only where a rule needs one."""
    if not any(l.rule.type == "timeliness" for l in fw.leaves()):
        return None
    dates = pd.concat([evidence.events["date"], evidence.events["done_date"]]).dropna()
    lo = min([period.start.year] + ([dates.min().year] if len(dates) else []))
    hi = max([period.end.year] + ([dates.max().year] if len(dates) else []))
    try:  # deadlines late in December fall in January of the next year
        return WorkCalendar.for_years(range(lo, hi + 2))
    except CalendarError:
        return WorkCalendar.for_years(range(lo, hi + 1))


# ---- the score ----------------------------------------------------------------------------

def score(fw: Framework, evidence: Evidence, period: Period | str | None = None, calendar: WorkCalendar | None = None) -> Results:
    """Score every unit of one county-year under one framework, with the full audit trail."""
    period = period if isinstance(period, Period) else Period.parse(fw, period)
    units = evidence.units[["unit_id", "unit_name", "unit_group"]].reset_index(drop=True)
    unit_ids = units["unit_id"].to_numpy()
    app = applicability(fw, units)
    maxima = applicable_maxima(fw, app)
    calendar = calendar if calendar is not None else work_calendar(fw, evidence, period)

    events = evidence.events
    facts = evidence.facts
    items = fw.item_codes()
    fact_leaf = facts["indicator"].map(lambda c: items.get(c, c)) if len(facts) else facts["indicator"]
    events_by_leaf = {k: v for k, v in events.groupby("indicator", sort=False)} if len(events) else {}
    facts_by_leaf = {k: v for k, v in facts.groupby(fact_leaf, sort=False)} if len(facts) else {}
    empty_events = events.iloc[0:0]
    empty_facts = facts.iloc[0:0]

    parts: list[pd.DataFrame] = []
    # pools start full; their members' deductions are taken from them
    for node, _, _ in fw.walk():
        if node.pool and node.scored:
            has = maxima[node.code].to_numpy() > 0
            ids = unit_ids[has]
            parts.append(pd.DataFrame({"unit_id": ids, "indicator": node.code, "rule": "pool", "points": float(node.points),
                                       "evidence_ids": "", "explanation": f"{node.name}：基础分 {node.points:g} 分（扣分池，扣完为止）", "kind": "base"}))
    parents = fw.parents
    for leaf in fw.leaves():
        rt = RULES[leaf.rule.type]
        mask = app[leaf.code].to_numpy()
        if not mask.any():
            continue  # no unit of this county-year is scored on the leaf (e.g. a named lead unit is absent)
        applicable = pd.Series(unit_ids[mask])
        own = events_by_leaf.get(leaf.code, empty_events)
        own = own[own["unit_id"].isin(applicable)] if len(own) else own
        f = facts_by_leaf.get(leaf.code, empty_facts)
        f = f[f["unit_id"].isin(applicable)] if len(f) else f
        parent = parents.get(leaf.code)
        r = RuleInput(code=leaf.code, name=leaf.name, points=leaf.points, in_pool=bool(parent and fw.nodes[parent].pool),
                      params=rt.params.model_validate(leaf.rule.params), units=applicable, events=own,
                      all_events=events if rt.name == "threshold" else empty_events, facts=f, calendar=calendar, period_end=period.end)
        parts.append(apply(rt.name, r))
    lines = _concat(parts)

    # 单项否决: a vetoed unit is not scored on anything else
    veto_lines = lines[lines["kind"] == "veto"]
    vetoed_ids = set(veto_lines["unit_id"])
    lines = lines[(lines["kind"] == "veto") | ~lines["unit_id"].isin(vetoed_ids)]

    lines = _clamp(fw, lines, maxima, unit_ids)
    unit_scores, lines = _totals(fw, units, lines, maxima, vetoed_ids)
    indicator_scores = _indicator_scores(fw, lines, maxima, units, vetoed_ids)
    lines = order_lines(fw, lines, unit_scores)
    return Results(framework=fw, period=period, unit_scores=unit_scores, indicator_scores=indicator_scores, line_items=lines)


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "points" else "object") for c in LINE_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    out["points"] = out["points"].astype(float).round(DECIMALS)
    for c in ("unit_id", "indicator", "rule", "evidence_ids", "explanation", "kind"):
        out[c] = out[c].astype(object)
    return out


def _subtree_matrix(fw: Framework, lines: pd.DataFrame, unit_ids: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """units × nodes sums of the lines booked on each node (not yet rolled up)."""
    codes = list(fw.nodes)
    col = {c: i for i, c in enumerate(codes)}
    row = pd.Index(unit_ids)
    mat = np.zeros((len(unit_ids), len(codes)))
    booked = lines[lines["indicator"].isin(col)]
    if len(booked):
        agg = booked.groupby(["unit_id", "indicator"], sort=False)["points"].sum()
        r = row.get_indexer(agg.index.get_level_values(0))
        c = np.array([col[x] for x in agg.index.get_level_values(1)])
        np.add.at(mat, (r, c), agg.to_numpy())
    return mat, col


def _clamp(fw: Framework, lines: pd.DataFrame, maxima: pd.DataFrame, unit_ids: np.ndarray) -> pd.DataFrame:
    """Keep every node within [0, its applicable maximum] (penalties within [−max, 0]) with explicit lines."""
    mat, col = _subtree_matrix(fw, lines, unit_ids)
    subtree = {node.code: [col[n.code] for n, _, _ in node.walk()] for node, _, _ in fw.walk()}
    extra: list[pd.DataFrame] = []
    order = [n for n, _, _ in fw.walk()][::-1]  # children before parents
    for node in order:
        kind = _kind(node)
        if kind in ("veto", "none", "mixed") or not node.scored:
            continue
        if _pool_member(fw, node):
            continue  # its deductions are clamped by the pool
        m = np.nan_to_num(maxima[node.code].to_numpy())
        total = mat[:, subtree[node.code]].sum(axis=1)
        lo, hi = (-m, np.zeros_like(m)) if kind == "penalty" else (np.zeros_like(m), m)
        adj = np.clip(total, lo, hi) - total
        hit = np.abs(adj) > 1e-9
        if not hit.any():
            continue
        mat[hit, col[node.code]] += adj[hit]
        if kind == "penalty":
            text = pd.Series([f"{node.name}：扣分以 {x:g} 分为限" for x in m[hit]])
        else:
            text = pd.Series([(f"{node.name}：得分以满分 {x:g} 分为限" if a < 0 else f"{node.name}：扣分以本项 {x:g} 分为限，扣完为止")
                              for a, x in zip(adj[hit], m[hit])])
        extra.append(pd.DataFrame({"unit_id": unit_ids[hit], "indicator": node.code, "rule": "cap",
                                   "points": adj[hit], "evidence_ids": "", "explanation": text.to_numpy(), "kind": "adjust"}))
    return _concat([lines] + extra)


def _totals(fw: Framework, units: pd.DataFrame, lines: pd.DataFrame, maxima: pd.DataFrame, vetoed: set) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Base, bonus, penalty and total per unit, with the normalisation and gate lines."""
    unit_ids = units["unit_id"].to_numpy()
    kind_of = {n.code: _kind(n) for n, _, _ in fw.walk()}
    node_kind = lines["indicator"].map(kind_of).fillna("base")
    part = np.where(node_kind.isin(["bonus", "penalty"]), node_kind, "base")
    sums = lines.assign(_part=part).groupby(["unit_id", "_part"])["points"].sum().unstack(fill_value=0.0)
    sums = sums.reindex(index=unit_ids, columns=["base", "bonus", "penalty"], fill_value=0.0)
    base = sums["base"].to_numpy().copy()
    bonus = sums["bonus"].to_numpy().copy()
    penalty = sums["penalty"].to_numpy().copy()
    is_vetoed = np.isin(unit_ids, list(vetoed))
    extra: list[pd.DataFrame] = []

    if fw.normalise_to:
        top_base = [n.code for n in fw.indicators if kind_of[n.code] == "base" and n.scored]
        mx = maxima[top_base].sum(axis=1).to_numpy() if top_base else np.zeros(len(units))
        need = (~is_vetoed) & (mx > 0) & (np.abs(mx - fw.normalise_to) > 1e-9)
        scaled = np.round(base * fw.normalise_to / np.where(mx > 0, mx, 1), 2)
        adj = np.where(need, scaled - base, 0.0)
        hit = np.abs(adj) > 1e-9
        if hit.any():
            text = [f"按适用指标满分 {m:g} 分折算为 {fw.normalise_to:g} 分：{b:g} × {fw.normalise_to:g}/{m:g} = {s:g}" for m, b, s in zip(mx[hit], base[hit], scaled[hit])]
            extra.append(pd.DataFrame({"unit_id": unit_ids[hit], "indicator": "", "rule": "normalise", "points": adj[hit],
                                       "evidence_ids": "", "explanation": text, "kind": "normalise"}))
        base = base + adj

    if fw.bonus_requires_base is not None:
        gate = (~is_vetoed) & (bonus > 0) & (base < fw.bonus_requires_base - 1e-9)
        if gate.any():
            text = [f"基础得分 {b:g} 分，未达到 {fw.bonus_requires_base:g} 分，加分不计入" for b in base[gate]]
            extra.append(pd.DataFrame({"unit_id": unit_ids[gate], "indicator": "", "rule": "bonus_gate", "points": -bonus[gate],
                                       "evidence_ids": "", "explanation": text, "kind": "adjust"}))
            bonus = np.where(gate, 0.0, bonus)

    total = base + bonus + penalty
    neg = (~is_vetoed) & (total < -1e-9)
    if neg.any():
        extra.append(pd.DataFrame({"unit_id": unit_ids[neg], "indicator": "", "rule": "floor", "points": -total[neg],
                                   "evidence_ids": "", "explanation": "总分扣至 0 分为止", "kind": "adjust"}))
        penalty = penalty - np.where(neg, total, 0.0)
        total = np.where(neg, 0.0, total)
    lines = _concat([lines] + extra)

    us = units.copy()
    us["base"] = np.round(base, 2)
    us["bonus"] = np.round(bonus, 2)
    us["penalty"] = np.round(penalty, 2)
    us["total"] = np.where(is_vetoed, np.nan, np.round(total, 2))
    us["vetoed"] = is_vetoed
    us.loc[is_vetoed, ["base", "bonus", "penalty"]] = np.nan
    veto_text = lines[lines["kind"] == "veto"].groupby("unit_id")["explanation"].agg("；".join)
    us["veto_reasons"] = us["unit_id"].map(veto_text).fillna("").astype(object)
    us["grade"] = [fw.veto_grade if v else fw.grade_for(t) for v, t in zip(is_vetoed, us["total"].to_numpy())]
    us["rank"] = rank_units(fw, us)
    group_order = {g: i for i, g in enumerate(fw.unit_groups)}
    us = us.assign(_g=us["unit_group"].map(group_order).fillna(len(group_order)))
    us = us.sort_values(["_g", "rank", "unit_id"], kind="stable").drop(columns="_g").reset_index(drop=True)
    return us[UNIT_SCORE_COLUMNS], lines


def rank_units(fw: Framework, us: pd.DataFrame) -> np.ndarray:
    """Rank by total within the framework's scope; ties share the better rank; vetoed units last."""
    scope = us["unit_group"] if fw.rank_within == "unit_group" else pd.Series("all", index=us.index)
    key = us["total"].fillna(-np.inf)
    rank = key.groupby(scope).rank(method="min", ascending=False)
    n_ok = (~us["vetoed"]).groupby(scope).transform("sum")
    rank = np.where(us["vetoed"], n_ok + 1, rank)
    return rank.astype(int)


def _indicator_scores(fw: Framework, lines: pd.DataFrame, maxima: pd.DataFrame, units: pd.DataFrame, vetoed: set) -> pd.DataFrame:
    """Each node's score per applicable unit (NaN for vetoed units), rolled up from its lines."""
    unit_ids = units["unit_id"].to_numpy()
    mat, col = _subtree_matrix(fw, lines, unit_ids)
    is_vetoed = np.isin(unit_ids, list(vetoed))
    frames = []
    for node, depth, parent in fw.walk():
        kind = _kind(node)
        if kind in ("veto", "none") or not node.scored:
            continue
        m = maxima[node.code].to_numpy()
        pool_member = _pool_member(fw, node)
        applies = np.isnan(m) if pool_member else (m > 0)
        s = mat[:, [col[n.code] for n, _, _ in node.walk()]].sum(axis=1)
        frames.append(pd.DataFrame({"unit_id": unit_ids[applies], "indicator": node.code, "name": node.name, "depth": depth,
                                    "points": np.where(pool_member, np.nan, m)[applies],
                                    "score": np.where(is_vetoed, np.nan, np.round(s, 2))[applies]}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=INDICATOR_SCORE_COLUMNS)
    order = {c: i for i, c in enumerate(fw.nodes)}
    unit_pos = {u: i for i, u in enumerate(unit_ids)}
    out = out.assign(_u=out["unit_id"].map(unit_pos), _c=out["indicator"].map(order)).sort_values(["_u", "_c"], kind="stable")
    return out.drop(columns=["_u", "_c"]).reset_index(drop=True)[INDICATOR_SCORE_COLUMNS]


def order_lines(fw: Framework, lines: pd.DataFrame, unit_scores: pd.DataFrame) -> pd.DataFrame:
    """A stable order an auditor can read: unit as in the score table, indicator as in the framework."""
    order = {c: i for i, c in enumerate(fw.nodes)}
    kind_rank = {"veto": 0, "base": 1, "bonus": 1, "penalty": 1, "appeal": 2, "adjust": 3, "normalise": 4}
    unit_pos = {u: i for i, u in enumerate(unit_scores["unit_id"])}
    out = lines.assign(_u=lines["unit_id"].map(unit_pos), _c=lines["indicator"].map(order).fillna(len(order)),
                       _k=lines["kind"].map(kind_rank).fillna(9), _e=lines["evidence_ids"].fillna(""))
    out = out.sort_values(["_u", "_c", "_k", "_e", "explanation"], kind="stable")
    return out.drop(columns=["_u", "_c", "_k", "_e"]).reset_index(drop=True)[LINE_COLUMNS]
