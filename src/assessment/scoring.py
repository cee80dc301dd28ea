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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .calendar import CalendarError, WorkCalendar
from .evidence import Evidence
from .frameworks import Framework, Indicator
from .rules import LINE_COLUMNS, RULES, RuleInput, apply

UNIT_SCORE_COLUMNS = ["unit_id", "unit_name", "unit_group", "base", "bonus", "penalty", "total", "grade", "rank", "vetoed", "veto_reasons"]
INDICATOR_SCORE_COLUMNS = ["unit_id", "indicator", "name", "depth", "points", "score"]
UNUSED_COLUMNS = ["evidence_id", "table", "unit_id", "indicator", "reason_code", "reason"]
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
            raise ValueError(f"考核期 {text} 与框架年度 {fw.year} 不一致；另一年度请先派生框架：assessment frameworks new <新编号> --from {fw.id} --year {year}"
                             f"（period {text} does not match the framework's year {fw.year}: derive one with `assessment frameworks new`）")
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
    _unused: Any = field(default=None, repr=False)

    @property
    def unused_evidence(self) -> pd.DataFrame:
        """Evidence rows (events and facts) no line item cites, once each, with the reason
        (evidence_id, table, unit_id, indicator, reason_code, reason; see `unused_evidence`).
        Worked out on first use (speed: scoring a million events need not pay for it)."""
        if callable(self._unused):
            self._unused = self._unused()
        if self._unused is None:
            self._unused = pd.DataFrame({c: pd.Series(dtype="object") for c in UNUSED_COLUMNS})
        return self._unused

    @unused_evidence.setter
    def unused_evidence(self, value: pd.DataFrame) -> None:
        self._unused = value

    def unit_lines(self, unit_id: str) -> pd.DataFrame:
        return self.line_items[self.line_items["unit_id"] == unit_id]


# ---- tree helpers ---------------------------------------------------------------------------

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
    event_rows = _event_rows_by_leaf(events, app)
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
    kinds = fw.kinds
    excluded: list[pd.DataFrame] = []  # events a rule's `sources` kept out of that rule
    for leaf in fw.leaves():
        rt = RULES[leaf.rule.type]
        mask = app[leaf.code].to_numpy()
        if not mask.any():
            continue  # no unit of this county-year is scored on the leaf (e.g. a named lead unit is absent)
        applicable = pd.Series(unit_ids[mask])
        params = rt.params.model_validate(leaf.rule.params)
        own = events.take(event_rows[leaf.code]) if leaf.code in event_rows else empty_events
        every = events if rt.name == "threshold" else empty_events
        sources = getattr(params, "sources", None)
        if sources:
            own, out = _from_sources(own, sources, leaf.code)
            excluded.append(out)
            if rt.name == "threshold":
                counted = every[every["indicator"].isin(params.indicators) & every["unit_id"].isin(applicable)]
                every, out = _from_sources(counted, sources, leaf.code)
                excluded.append(out)
        f = facts_by_leaf.get(leaf.code, empty_facts)
        f = f[f["unit_id"].isin(applicable)] if len(f) else f
        parent = parents.get(leaf.code)
        part = kinds.get(leaf.code)
        # a penalty part starts from nothing: its deduct rules take points away without a base line
        in_pool = bool(parent and fw.nodes[parent].pool) or part == "penalty"
        r = RuleInput(code=leaf.code, name=leaf.name, points=leaf.points, in_pool=in_pool,
                      params=params, units=applicable, events=own,
                      all_events=every, facts=f, calendar=calendar, period_end=period.end)
        lines = apply(rt.name, r)
        if part in ("bonus", "penalty") and len(lines):  # part: bonus — every rule under it counts as bonus
            k = lines["kind"].to_numpy(dtype=object)
            lines["kind"] = pd.Series(np.where(k == "base", part, k), index=lines.index, dtype="object")
        parts.append(lines)
    book = _Book(fw, _concat(parts), unit_ids)
    del parts  # the rules' frames, now copied into the book: at 10 M events they are half a GiB

    # 单项否决: a vetoed unit is not scored on anything else
    vetoed_ids = book.drop_vetoed_units()

    if fw.normalise_to and fw.method == "spread":
        spread_lines, maxima = _spread(fw, units, maxima, vetoed_ids)
        book.add([spread_lines])
    book.add(_clamp(fw, book, maxima, unit_ids))
    unit_scores, extra = _totals(fw, units, book, maxima, vetoed_ids)
    book.add(extra)
    indicator_scores = _indicator_scores(fw, book, maxima, units, vetoed_ids)
    lines = book.ordered(fw, unit_scores)
    unused = lambda: unused_evidence(fw, evidence, app, lines, vetoed_ids, excluded)  # noqa: E731
    return Results(framework=fw, period=period, unit_scores=unit_scores, indicator_scores=indicator_scores, line_items=lines,
                   _unused=unused)


def _from_sources(ev: pd.DataFrame, sources: list[str], leaf: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The events whose 来源 is listed, and the others as unused rows (reason: their source)."""
    ok = ev["source"].isin(sources).to_numpy() if len(ev) else np.zeros(0, dtype=bool)
    out = ev.loc[~ok, ["event_id", "unit_id", "source"]]
    listed = "、".join(sources)
    src = out["source"].astype(object).where(out["source"].notna(), "（空）")
    reason = ("来源“" + src.astype(str) + f"”不在本项计分来源（{listed}）之内，不计入指标 {leaf}"
              + f"（source not counted by {leaf}）")
    return ev[ok], pd.DataFrame({"evidence_id": out["event_id"].to_numpy(dtype=object), "unit_id": out["unit_id"].to_numpy(dtype=object),
                                 "indicator": leaf, "reason": reason.to_numpy(dtype=object)})


def _spread(fw: Framework, units: pd.DataFrame, maxima: pd.DataFrame, vetoed: set) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`normalise_method: spread` (无对外服务职能的，办事服务20分平均分配到其他指标).

    The points of base 一级 indicators that do not apply to a unit (declared points − applicable
    maximum: all of them where nothing applies, the rest where part applies) are divided evenly
    among the unit's applicable base 一级 indicators; bonus and penalty parts take none. Each
    receiving indicator gets a line crediting its share, and its maximum grows by the same amount:
    a pool starts from its points + the share (deductions are taken from the larger base and are
    not scaled); a node summing its leaves (deduct, award, checklist, …) is credited the share
    outright and its cap grows by it, so the redistributed points are given, not earned — a unit
    that met every applicable requirement has `normalise_to`. Shares are booked to the cent; where
    they do not divide evenly, the first receivers (framework order) take the extra cent, and each
    line says its own amount. Worked example: tops 30 + 30 + 20 + 20, 办事服务 20 not applicable →
    the other three get 6.67, 6.67, 6.66, and a unit without findings has 100."""
    tops = [t for t in fw.indicators if t.scored and fw.kinds.get(t.code) == "base" and t.points is not None]
    unit_ids = units["unit_id"].to_numpy()
    maxima = maxima.copy()
    if not tops:
        return pd.DataFrame(columns=LINE_COLUMNS), maxima
    m = np.nan_to_num(maxima[[t.code for t in tops]].to_numpy(dtype=float))
    declared = np.array([float(t.points) for t in tops])
    missing = np.clip(declared[None, :] - m, 0, None)
    receives = m > 0  # a vetoed unit's maxima grow too (the table shows them); it gets no lines
    frames = []
    for pattern in np.unique(np.hstack([np.round(missing * 100).astype(np.int64), receives.astype(np.int64)]), axis=0):
        miss_c, recv = pattern[:len(tops)], pattern[len(tops):].astype(bool)
        rows = np.flatnonzero((np.round(missing * 100).astype(np.int64) == miss_c).all(axis=1) & (receives == recv).all(axis=1))
        k = int(recv.sum())
        total_c = int(miss_c.sum())
        if k == 0 or total_c == 0 or not len(rows):
            continue
        share = np.full(k, total_c // k)
        share[: total_c % k] += 1
        gone = "、".join((f"{t.name} {c / 100:g} 分" if abs(c / 100 - float(t.points)) < 1e-9 else f"{t.name}中 {c / 100:g} 分")
                         for t, c in zip(tops, miss_c) if c > 0)
        even = total_c % k == 0
        for j, t_idx in enumerate(np.flatnonzero(recv)):
            amount = share[j] / 100
            text = (f"{gone}不适用，平均分配至其他 {k} 项，各加 {amount:g} 分" if even
                    else f"{gone}不适用，平均分配至其他 {k} 项（{total_c / 100:g} ÷ {k}，分至分位），本项加 {amount:g} 分")
            code = tops[t_idx].code
            lined = rows[~np.isin(unit_ids[rows], list(vetoed))]
            frames.append(pd.DataFrame({"unit_id": unit_ids[lined], "indicator": code, "rule": "spread", "points": amount,
                                        "evidence_ids": "", "explanation": text, "kind": "normalise"}))
            col = maxima[code].to_numpy(dtype=float).copy()
            col[rows] += amount
            maxima[code] = col
    return (_concat(frames) if frames else pd.DataFrame(columns=LINE_COLUMNS)), maxima


def _event_rows_by_leaf(events: pd.DataFrame, app: pd.DataFrame) -> dict[str, np.ndarray]:
    """Positions of each leaf's events that belong to a unit the leaf applies to, in evidence order.

    Speed and scale: one factorisation of `indicator` and one look-up of `unit_id` replace a
    group-by into per-leaf frames and a string `isin` per leaf (the same rows, in the same order)."""
    if not len(events):
        return {}
    codes, names = pd.factorize(events["indicator"].to_numpy(dtype=object))
    unit_pos = _objects(app.index).get_indexer(_objects(events["unit_id"]))  # unit ids are unique (else this raises)
    order = np.argsort(codes.astype(np.int32), kind="stable")  # rows grouped by leaf, evidence order kept within
    bounds = np.searchsorted(codes[order], np.arange(-1, len(names) + 1))
    out = {}
    for j, leaf in enumerate(names):
        if leaf not in app.columns:
            continue
        rows = order[bounds[j + 1]:bounds[j + 2]]
        pos = unit_pos[rows]
        ok = pos >= 0
        ok[ok] = app[leaf].to_numpy()[pos[ok]]
        out[leaf] = rows[ok]
    return out


def _objects(values) -> pd.Index:
    """Values as an object Index, so that pandas 3 does not first convert them to its str dtype."""
    return pd.Index(np.asarray(values, dtype=object), dtype=object)


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "points" else "object") for c in LINE_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    out["points"] = out["points"].astype(float).round(DECIMALS)
    for c in ("unit_id", "indicator", "rule", "evidence_ids", "explanation", "kind"):
        out[c] = out[c].astype(object)
    return out


class _Book:
    """The line items while they are booked: the rules' lines, the lines added after them (caps,
    normalisation, gate, floor), and for every line its unit's row and its node's column.

    Speed and scale. Booking used to copy a million lines' text at every step (veto filter, caps,
    totals, ordering) and to group by (unit_id, indicator) strings three times. Here the lines are
    kept as built, dropped lines are only masked, the sums run over integer keys, and the text is
    copied once, into the final order. pandas sums a group in row order whatever its key, and the
    rows are in the same order as before, so every number is the same, bit for bit."""

    def __init__(self, fw: Framework, lines: pd.DataFrame, unit_ids: np.ndarray):
        self.col = {c: i for i, c in enumerate(fw.nodes)}
        self.units = _objects(unit_ids)  # unique (else get_indexer raises, as the group-bys did)
        self.frames: list[pd.DataFrame] = []
        self.keep: list[np.ndarray] = []
        self.row: list[np.ndarray] = []
        self.node: list[np.ndarray] = []
        self._keys: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.add([lines])

    def add(self, frames: list[pd.DataFrame]) -> None:
        """Append lines (rounded to the cent as they are booked)."""
        self._keys = None
        for lines in frames:
            if not len(lines):
                continue
            lines = lines.reset_index(drop=True)
            lines["points"] = lines["points"].astype(float).round(DECIMALS)
            codes, names = pd.factorize(lines["indicator"].to_numpy(dtype=object))
            self.frames.append(lines)
            self.keep.append(np.ones(len(lines), dtype=bool))
            self.row.append(self.units.get_indexer(_objects(lines["unit_id"])))
            self.node.append(np.array([self.col.get(x, -1) for x in names] + [-1], dtype=np.int64)[codes])

    def drop_vetoed_units(self) -> set:
        """Mask every line of a vetoed unit except its veto lines; the vetoed unit ids."""
        if not self.frames:
            return set()
        lines = self.frames[0]
        is_veto = lines["kind"].to_numpy(dtype=object) == "veto"
        vetoed = set(lines["unit_id"].to_numpy()[is_veto])
        if vetoed:
            self.keep[0] &= is_veto | ~lines["unit_id"].isin(vetoed).to_numpy()
            self._keys = None
        return vetoed

    def _cat(self, parts: list[np.ndarray]) -> np.ndarray:
        kept = [p[k] for p, k in zip(parts, self.keep)]
        return np.concatenate(kept) if kept else np.array([])

    def keys(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(points, unit row, node column) of the booked lines, in booking order."""
        if self._keys is None:
            pts = self._cat([f["points"].to_numpy(dtype=float) for f in self.frames])
            self._keys = pts, self._cat(self.row).astype(np.int64), self._cat(self.node).astype(np.int64)
        return self._keys

    def veto_reasons(self) -> pd.Series:
        """unit_id → its veto lines' explanations joined with '；'."""
        if not self.frames:
            return pd.Series(dtype=object)
        lines = self.frames[0]
        return lines[(lines["kind"].to_numpy(dtype=object) == "veto") & self.keep[0]].groupby("unit_id")["explanation"].agg("；".join)

    def frame(self) -> pd.DataFrame:
        """The booked lines as one table, in booking order."""
        return _concat([f[k] for f, k in zip(self.frames, self.keep)])

    def ordered(self, fw: Framework, unit_scores: pd.DataFrame) -> pd.DataFrame:
        """The booked lines in `order_lines` order, their text copied once."""
        if not self.frames:
            return order_lines(fw, self.frame(), unit_scores)
        where = np.flatnonzero(np.concatenate(self.keep))  # booked lines among all lines built
        _, row, node = self.keys()
        table = _objects(unit_scores["unit_id"])
        if len(row) == 0 or (row < 0).any() or not table.is_unique or len(table) != len(self.units):
            return order_lines(fw, self.frame(), unit_scores)
        position = table.get_indexer(self.units)  # unit row → its place in the score table
        if (position < 0).any():
            return order_lines(fw, self.frame(), unit_scores)
        columns = {c: np.concatenate([f[c].to_numpy(dtype=object) for f in self.frames])
                   for c in ("unit_id", "indicator", "rule", "evidence_ids", "explanation", "kind")}
        kinds = _ranks(columns["kind"], KIND_RANK, 9)[where]
        n_nodes = len(self.col)
        group = _group_key(position[row], np.where(node >= 0, node, n_nodes), n_nodes + 1, kinds)
        found = None if group is None else _ordered_in_groups(group, columns["evidence_ids"], columns["explanation"], where)
        if found is None:
            return order_lines(fw, self.frame(), unit_scores)
        perm, ids, why = found
        take = where[perm]  # the lines in their final order, as positions among all lines built
        points = np.concatenate([f["points"].to_numpy(dtype=float) for f in self.frames])
        unit_id = self.units.to_numpy()[row[perm]]  # the same values, taken from the small unit table
        out = {"unit_id": unit_id, "points": points[take],
               "evidence_ids": ids if ids is not None else columns["evidence_ids"][take],
               "explanation": why if why is not None else columns["explanation"][take]}
        out.update({c: columns[c][take] for c in ("indicator", "rule", "kind")})
        return pd.DataFrame({c: pd.Series(out[c], dtype=float if c == "points" else "object", copy=False) for c in LINE_COLUMNS}, copy=False)


def _subtree_matrix(fw: Framework, book: "_Book", unit_ids: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
    """units × nodes sums of the lines booked on each node (not yet rolled up)."""
    codes = list(fw.nodes)
    col = {c: i for i, c in enumerate(codes)}
    mat = np.zeros((len(unit_ids), len(codes)))
    pts, row, node = book.keys()
    booked = (node >= 0) & (row >= 0)
    if booked.any():
        width = len(codes)
        agg = pd.Series(pts[booked]).groupby(row[booked] * width + node[booked], sort=False).sum()
        key = agg.index.to_numpy()
        mat[key // width, key % width] = agg.to_numpy()
    return mat, col


def _clamp(fw: Framework, book: "_Book", maxima: pd.DataFrame, unit_ids: np.ndarray) -> list[pd.DataFrame]:
    """Keep every node within [0, its applicable maximum] (penalties within [−max, 0]) with explicit lines."""
    mat, col = _subtree_matrix(fw, book, unit_ids)
    subtree = {node.code: [col[n.code] for n, _, _ in node.walk()] for node, _, _ in fw.walk()}
    extra: list[pd.DataFrame] = []
    order = [n for n, _, _ in fw.walk()][::-1]  # children before parents
    kinds = fw.kinds
    for node in order:
        kind = kinds[node.code]
        if kind in ("veto", "none", "mixed") or not node.scored:
            continue
        if _pool_member(fw, node):
            if node.points is not None:  # 每次扣2分，本项最多扣10分: the leaf's own cap inside the pool
                extra += _leaf_cap(node, mat, col[node.code], subtree[node.code], maxima, unit_ids)
            continue  # its deductions are otherwise clamped by the pool
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
    return extra


def _leaf_cap(node: Indicator, mat: np.ndarray, at: int, cols: list[int], maxima: pd.DataFrame, unit_ids: np.ndarray) -> list[pd.DataFrame]:
    """A pooled leaf with `points` takes at most that much from its pool (and gives at most that
    much): deductions of 8 × 2 = 16 under `points: 10` are held at 10 by a +6 line."""
    cap = float(node.points)
    applies = np.isnan(maxima[node.code].to_numpy(dtype=float))  # pool members mark applicability with NaN
    total = mat[:, cols].sum(axis=1)
    adj = np.where(applies, np.clip(total, -cap, cap) - total, 0.0)
    hit = np.abs(adj) > 1e-9
    if not hit.any():
        return []
    mat[hit, at] += adj[hit]
    text = np.where(adj[hit] > 0, f"{node.name}：本项最多扣 {cap:g} 分，已扣满", f"{node.name}：本项最多得 {cap:g} 分，已得满")
    return [pd.DataFrame({"unit_id": unit_ids[hit], "indicator": node.code, "rule": "cap", "points": adj[hit],
                          "evidence_ids": "", "explanation": text, "kind": "adjust"})]


def _totals(fw: Framework, units: pd.DataFrame, book: "_Book", maxima: pd.DataFrame, vetoed: set) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Base, bonus, penalty and total per unit, with the normalisation and gate lines."""
    unit_ids = units["unit_id"].to_numpy()
    kind_of = fw.kinds
    sums = _part_sums(fw, book, unit_ids, kind_of)
    base = sums["base"].to_numpy().copy()
    bonus = sums["bonus"].to_numpy().copy()
    penalty = sums["penalty"].to_numpy().copy()
    is_vetoed = np.isin(unit_ids, list(vetoed))
    extra: list[pd.DataFrame] = []

    if fw.normalise_to and fw.method == "proportional":
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

    if fw.gate is not None:
        how, bar = fw.gate
        short = (base <= bar + 1e-9) if how == "above" else (base < bar - 1e-9)
        gate = (~is_vetoed) & (bonus > 0) & short
        if gate.any():
            word = "未高于" if how == "above" else "未达到"
            text = [f"基础得分 {b:g} 分，{word} {bar:g} 分，加分不计入" for b in np.round(base[gate], 2)]
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

    # 任一账号单项否决，即判定为不合格（59分）: a vetoed unit of a group with a veto_score gets it
    fixed = np.array([fw.veto_score_for(g) if v else None for g, v in zip(units["unit_group"], is_vetoed)], dtype=object)
    has_fixed = np.array([x is not None for x in fixed], dtype=bool)
    fixed = np.where(has_fixed, fixed, np.nan).astype(float)
    if has_fixed.any():
        text = [f"单项否决，按方案记 {x:g} 分" for x in fixed[has_fixed]]
        extra.append(pd.DataFrame({"unit_id": unit_ids[has_fixed], "indicator": "", "rule": "veto_score", "points": fixed[has_fixed],
                                   "evidence_ids": "", "explanation": text, "kind": "adjust"}))

    us = units.copy()
    us["base"] = np.round(base, 2)
    us["bonus"] = np.round(bonus, 2)
    us["penalty"] = np.round(penalty, 2)
    us["total"] = np.where(is_vetoed, np.round(fixed, 2), np.round(total, 2))
    us["vetoed"] = is_vetoed
    us.loc[is_vetoed, ["base", "bonus", "penalty"]] = np.nan
    veto_text = book.veto_reasons()
    us["veto_reasons"] = us["unit_id"].map(veto_text).fillna("").astype(object)
    us["grade"] = [fw.veto_grade if v else fw.grade_for(t) for v, t in zip(is_vetoed, us["total"].to_numpy())]
    us["rank"] = rank_units(fw, us)
    group_order = {g: i for i, g in enumerate(fw.unit_groups)}
    us = us.assign(_g=us["unit_group"].map(group_order).fillna(len(group_order)))
    us = us.sort_values(["_g", "rank", "unit_id"], kind="stable").drop(columns="_g").reset_index(drop=True)
    return us[UNIT_SCORE_COLUMNS], extra


def _part_sums(fw: Framework, book: "_Book", unit_ids: np.ndarray, kind_of: dict[str, str]) -> pd.DataFrame:
    """units × (base, bonus, penalty): the sums of each unit's lines by the kind of their node."""
    parts = ["base", "bonus", "penalty"]
    part_of_node = np.array([parts.index(kind_of[c]) if kind_of[c] in ("bonus", "penalty") else 0 for c in fw.nodes] + [0])
    pts, row, node = book.keys()
    part = part_of_node[node]  # node −1 (not a node of the tree) → base
    ok = row >= 0
    agg = pd.Series(pts[ok]).groupby(row[ok] * 3 + part[ok], sort=False).sum()
    mat = np.zeros((len(unit_ids), 3))
    key = agg.index.to_numpy()
    mat[key // 3, key % 3] = agg.to_numpy()
    return pd.DataFrame(mat, index=unit_ids, columns=parts)


def rank_units(fw: Framework, us: pd.DataFrame) -> np.ndarray:
    """Rank by total within the framework's scope; ties share the better rank; units without a total
    (vetoed, no `veto_score`) last. A vetoed unit with a `veto_score` is ranked by that total."""
    scope = us["unit_group"] if fw.rank_within == "unit_group" else pd.Series("all", index=us.index)
    key = us["total"].fillna(-np.inf)
    rank = key.groupby(scope).rank(method="min", ascending=False)
    no_total = us["total"].isna() & us["vetoed"].astype(bool)
    n_ok = (~no_total).groupby(scope).transform("sum")
    rank = np.where(no_total, n_ok + 1, rank)
    return rank.astype(int)


def _indicator_scores(fw: Framework, book: "_Book", maxima: pd.DataFrame, units: pd.DataFrame, vetoed: set) -> pd.DataFrame:
    """Each node's score per applicable unit (NaN for vetoed units), rolled up from its lines."""
    unit_ids = units["unit_id"].to_numpy()
    mat, col = _subtree_matrix(fw, book, unit_ids)
    is_vetoed = np.isin(unit_ids, list(vetoed))
    frames = []
    for node, depth, parent in fw.walk():
        kind = fw.kinds[node.code]
        if kind in ("veto", "none") or not node.scored:
            continue
        m = maxima[node.code].to_numpy()
        pool_member = _pool_member(fw, node)
        applies = np.isnan(m) if pool_member else (m > 0)
        s = mat[:, [col[n.code] for n, _, _ in node.walk()]].sum(axis=1)
        frames.append(pd.DataFrame({"unit_id": unit_ids[applies], "indicator": node.code, "name": node.name, "depth": depth,
                                    "points": np.where(pool_member, np.nan, m)[applies],
                                    "score": np.where(is_vetoed, np.nan, np.round(s, 2))[applies],
                                    "_u": np.flatnonzero(applies), "_c": col[node.code]}))
    if not frames:
        return pd.DataFrame(columns=INDICATOR_SCORE_COLUMNS)
    out = pd.concat(frames, ignore_index=True).sort_values(["_u", "_c"], kind="stable")  # unit, then framework order
    return out.drop(columns=["_u", "_c"]).reset_index(drop=True)[INDICATOR_SCORE_COLUMNS]


KIND_RANK = {"veto": 0, "base": 1, "bonus": 1, "penalty": 1, "appeal": 2, "adjust": 3, "normalise": 4}


def order_lines(fw: Framework, lines: pd.DataFrame, unit_scores: pd.DataFrame) -> pd.DataFrame:
    """A stable order an auditor can read: unit as in the score table, indicator as in the framework."""
    order = {c: i for i, c in enumerate(fw.nodes)}
    kind_rank = KIND_RANK
    perm = _line_order(lines, unit_scores["unit_id"], order, kind_rank)
    if perm is not None:
        return lines.take(perm).reset_index(drop=True)[LINE_COLUMNS]
    unit_pos = {u: i for i, u in enumerate(unit_scores["unit_id"])}
    out = lines.assign(_u=lines["unit_id"].map(unit_pos), _c=lines["indicator"].map(order).fillna(len(order)),
                       _k=lines["kind"].map(kind_rank).fillna(9), _e=lines["evidence_ids"].fillna(""))
    out = out.sort_values(["_u", "_c", "_k", "_e", "explanation"], kind="stable")
    return out.drop(columns=["_u", "_c", "_k", "_e"]).reset_index(drop=True)[LINE_COLUMNS]


# ---- ordering a million lines (speed and scale) -------------------------------------------------

def _ranks(values: np.ndarray, table: dict[str, int], missing: int) -> np.ndarray:
    """table[value] for each value (`missing` where absent), through one factorisation."""
    codes, names = pd.factorize(np.asarray(values, dtype=object))
    return np.array([table.get(x, missing) for x in names] + [missing], dtype=np.int64)[codes]


def _group_key(unit: np.ndarray, node: np.ndarray, n_nodes: int, kind: np.ndarray) -> np.ndarray | None:
    """One integer per (unit, node, kind), ordered as the tuple; None if it could overflow."""
    n_kinds = int(kind.max(initial=0)) + 1
    if (int(unit.max(initial=0)) + 1) * n_nodes * n_kinds * max(len(unit), 1) >= 2**62:
        return None
    return (unit.astype(np.int64) * n_nodes + node) * n_kinds + kind


def _line_order(lines: pd.DataFrame, unit_order: pd.Series, node_order: dict[str, int], kind_rank: dict[str, int]) -> np.ndarray | None:
    """The permutation `order_lines` sorts by, without sorting a million strings; None where only
    the plain pandas sort can say (a line of a unit not in the table, repeated unit ids)."""
    units = _objects(unit_order)
    if len(lines) == 0 or not units.is_unique:
        return None
    u = units.get_indexer(_objects(lines["unit_id"]))
    if (u < 0).any():
        return None
    group = _group_key(u, _ranks(lines["indicator"], node_order, len(node_order)), len(node_order) + 1,
                       _ranks(lines["kind"], kind_rank, 9))
    if group is None:
        return None
    return _order_in_groups(group, lines["evidence_ids"].to_numpy(dtype=object), lines["explanation"].to_numpy(dtype=object))


def _order_in_groups(group: np.ndarray, ids: np.ndarray, why: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray | None:
    """The stable sort by (group, evidence ids, explanation), or None where it cannot be had cheaply.
    `group` is given for the lines `rows` of `ids` and `why` (all of them by default).

    Lines are put in group order by one integer sort that keeps their order within a group.
    Rules emit a leaf's lines in evidence order, so within a group they are usually already in
    (evidence ids, explanation) order: one vectorised comparison of neighbours proves it, and then
    this order is exactly the stable sort's. Otherwise (evidence not in id order) Arrow sorts by
    the same keys. A missing explanation or a value that is not text returns None."""
    perm, _, _ = _ordered_in_groups(group, ids, why, rows) or (None, None, None)
    return perm


def _ordered_in_groups(group: np.ndarray, ids: np.ndarray, why: np.ndarray, rows: np.ndarray | None = None):
    """`_order_in_groups`, also giving the evidence ids and explanations already taken into that
    order when the cheap proof held (else None for them): the caller need not take them again."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(group)
    rows = np.arange(n) if rows is None else rows
    perm = np.argsort(group * n + np.arange(n))  # unique keys: (group, position)
    g, raw, x = group[perm], ids[rows[perm]], why[rows[perm]]
    same = g[1:] == g[:-1]

    def in_order(e: np.ndarray) -> bool:  # neighbours compared through views: no copies
        tie = np.flatnonzero(same & ~(e[:-1] < e[1:]))
        return bool(((e[tie] == e[tie + 1]) & (x[tie] <= x[tie + 1])).all())

    try:
        try:
            ok = in_order(raw)
        except TypeError:  # a missing evidence id (NaN) sorts as "" (a missing explanation fails below)
            ok = in_order(np.where(pd.isna(raw), "", raw))
        if ok:
            return perm, raw, x
        kept = ids[rows]
        table = pa.table({"g": group, "e": pa.array(np.where(pd.isna(kept), "", kept), pa.string()),
                          "x": pa.array(why[rows], pa.string()), "p": np.arange(n)})
    except (TypeError, ValueError, pa.ArrowException):
        return None
    keys = [("g", "ascending"), ("e", "ascending"), ("x", "ascending"), ("p", "ascending")]
    return pc.sort_indices(table, sort_keys=keys).to_numpy(), None, None


# ---- evidence no line item uses (audit) -------------------------------------------------------

# reason_code → the reason in Chinese (English beside), as unused_evidence.csv gives it; the order of
# UNUSED_PRIORITY is the order in which reasons are tried (the first that holds is given)
UNUSED_REASONS = {
    "not_scored": "指标不评分或不是末级指标，本条不计分（indicator not scored）",
    "not_applicable": "指标不适用于该单位，本条不计分（indicator does not apply to the unit）",
    "off_source": "来源不在本项计分来源之内，不计入本项（source not counted by this rule）",
    "vetoed": "单位已被单项否决，其他指标不计分（unit vetoed: nothing else is scored）",
    "superseded_level": "同一单位本项已按更高级别计分，本条不再计分（a higher level was scored）",
    "below_veto_count": "累计数量未达到单项否决的数量，不否决（below the veto count）",
    "on_time": "按时办结，未超过办理时限，不扣分（done in time: nothing deducted）",
    "not_counted": "本项只计所列指标的问题数，不计本条（the threshold counts other indicators only）",
    "superseded_row": "同一单位同一指标有多行，以最后一行为准，本行不计分（a later row of the same unit and indicator is used）",
    "rule_reads_events": "本指标按事件计分，不读取指标事实（the rule scores events, not facts）",
    "rule_reads_facts": "本指标按指标事实计分，不读取事件（the rule scores facts, not events）",
    "uncited": "未被任何计分行引用（cited by no line item）",
}


def unused_evidence(fw: Framework, evidence: Evidence, app: pd.DataFrame, lines: pd.DataFrame, vetoed: set,
                    excluded: list[pd.DataFrame]) -> pd.DataFrame:
    """Every evidence row — event or fact — that no line item cites, once, with why (a code and the
    reason in Chinese, English beside). With the ids the lines cite, they make up every row of the
    events and facts tables, each row in exactly one of the two (an event is named by its event_id,
    a fact by its record_id `<sheet or file>!<row>`, as line items cite it).

    Reasons, the first that holds: the leaf is not scored (not_scored) or does not apply to the unit
    (not_applicable); its 来源 is not one the rule counts (off_source: the event's own leaf, or a
    threshold counting it, whose leaf is then named in the reason); the unit is vetoed (vetoed); a
    higher level was scored (superseded_level, best_level); the veto count was not reached
    (below_veto_count); done in time under a timeliness deduction (on_time); a threshold leaf's own
    events it does not list (not_counted); an earlier row of a fact given twice (superseded_row); a
    fact for a rule over events or an event for a rule over facts. Anything else is `uncited`, which
    the tests require never to happen. An event that reaches a cap (扣完为止) stays cited by its own
    line: the cap line beside it says how much of it counted."""
    cited = _cited(lines["evidence_ids"])
    parts = []
    ev = evidence.events
    if len(ev):
        rest = ev.loc[~_in(ev["event_id"], cited), ["event_id", "unit_id", "indicator", "source", "level"]]
        if len(rest):
            parts.append(_why_unused(fw, rest, app, vetoed, _source_exclusions(excluded, rest["event_id"])))
    facts = evidence.facts
    if len(facts):
        uncited = ~_in(facts["record_id"], cited)
        if uncited.any():
            parts.append(_why_unused_facts(fw, facts, uncited, app, vetoed))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in UNUSED_COLUMNS})
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["table", "evidence_id"], kind="stable").reset_index(drop=True)
    return out[UNUSED_COLUMNS].astype(object)


def _in(ids: pd.Series, value_set) -> np.ndarray:
    """Which ids are in the Arrow set `value_set` (missing ids are in no set)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(ids.to_numpy(dtype=object), pa.string(), from_pandas=True)
    return pc.fill_null(pc.is_in(arr, value_set=value_set), False).to_numpy(zero_copy_only=False)


def _source_exclusions(excluded: list[pd.DataFrame], ids: pd.Series) -> pd.DataFrame:
    """The first exclusion by a rule's `sources` of each uncited event (indicator = the excluding leaf)."""
    parts = [e for e in excluded if len(e)]
    if not parts:
        return pd.DataFrame(columns=["evidence_id", "indicator", "reason"])
    out = pd.concat(parts, ignore_index=True).drop_duplicates("evidence_id", keep="first")
    return out[out["evidence_id"].isin(ids)]


def _cited(evidence_ids: pd.Series):
    """Every evidence id the lines cite: a line cites one id, or several joined with ';'.
    Speed and scale: Arrow finds and splits the joined ones (a few per unit and leaf) in C."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(evidence_ids.to_numpy(dtype=object), pa.string(), from_pandas=True)
    joined = pc.fill_null(pc.match_substring(arr, ";"), False)
    single = pc.filter(arr, pc.invert(joined))
    parts = pc.list_flatten(pc.split_pattern(pc.filter(arr, joined), ";"))
    both = pa.concat_arrays([single.cast(pa.string()), parts.cast(pa.string())])
    return pc.unique(pc.drop_null(both))


def _applies(app: pd.DataFrame, leaf: np.ndarray, unit: np.ndarray) -> np.ndarray:
    """Per row: does its leaf apply to its unit (False for a code that is no leaf, or an unknown unit)?"""
    codes, names = pd.factorize(pd.Series(leaf, dtype=object))
    pos = _objects(app.index).get_indexer(_objects(unit))
    out = np.zeros(len(leaf), dtype=bool)
    for j, code in enumerate(names):  # one pass per leaf, not per row
        if code in app.columns:
            rows = (codes == j) & (pos >= 0)
            out[rows] = app[code].to_numpy()[pos[rows]]
    return out


def _why_unused(fw: Framework, rest: pd.DataFrame, app: pd.DataFrame, vetoed: set, by_sources: pd.DataFrame) -> pd.DataFrame:
    from .rules import RULES

    leaves = {l.code: l for l in fw.leaves()}
    codes, names = pd.factorize(rest["indicator"].to_numpy(dtype=object))  # a few leaves: per-leaf values by code
    per_leaf = lambda f, missing: np.array([f(c) for c in names] + [missing], dtype=object)[codes]  # noqa: E731
    ind = rest["indicator"].to_numpy(dtype=object)
    unit = rest["unit_id"].to_numpy(dtype=object)
    is_leaf = per_leaf(lambda c: c in leaves and leaves[c].scored, False).astype(bool)
    applies = _applies(app, ind, unit)
    src = rest["source"].astype(object)
    sources = {c: (l.rule.params.get("sources") or None) for c, l in leaves.items()}
    off_source = np.zeros(len(rest), dtype=bool)
    for j, code in enumerate(names):
        if sources.get(code):
            rows = codes == j
            off_source[rows] = ~src[rows].isin(sources[code]).to_numpy()
    listed_text = per_leaf(lambda c: "、".join(sources.get(c) or []), "")
    shown = src.where(src.notna(), "（空）").astype(str).to_numpy(dtype=object)
    src_text = ("来源“" + pd.Series(shown, dtype=object) + "”不在本项计分来源（" + pd.Series(listed_text, dtype=object)
                + "）之内，不计入本项（source not counted by this rule）").to_numpy(dtype=object)
    other = by_sources.set_index("evidence_id")
    ids = rest["event_id"].to_numpy(dtype=object)
    other_pos = _objects(other.index).get_indexer(_objects(ids))
    off_other = other_pos >= 0
    other_text = np.where(off_other, other["reason"].to_numpy(dtype=object)[np.where(off_other, other_pos, 0)] if len(other) else "", "")
    rule = per_leaf(lambda c: leaves[c].rule.type if c in leaves else "", "")
    params = {c: l.rule.params for c, l in leaves.items()}
    counts_veto = per_leaf(lambda c: c in leaves and (leaves[c].rule.type == "veto" or params[c].get("veto_at") is not None), False).astype(bool)
    on_time = per_leaf(lambda c: c in leaves and leaves[c].rule.type == "timeliness" and params[c].get("mode", "deduct") == "deduct", False).astype(bool)
    unlisted = per_leaf(lambda c: c in leaves and leaves[c].rule.type == "threshold" and c not in params[c].get("indicators", []), False).astype(bool)
    reads_facts = per_leaf(lambda c: c in leaves and leaves[c].rule.type in RULES and RULES[leaves[c].rule.type].evidence == "facts", False).astype(bool)
    is_vetoed = pd.Series(unit, dtype=object).isin(vetoed).to_numpy()
    conditions = [~is_leaf, ~applies, off_source, off_other, is_vetoed, rule == "best_level", counts_veto, on_time, unlisted, reads_facts]
    code = np.select(conditions, ["not_scored", "not_applicable", "off_source", "off_source", "vetoed", "superseded_level",
                                  "below_veto_count", "on_time", "not_counted", "rule_reads_facts"], "uncited").astype(object)
    reason = np.array([UNUSED_REASONS[c] for c in UNUSED_REASONS] + [""], dtype=object)[
        pd.Categorical(code, categories=list(UNUSED_REASONS)).codes]
    reason = np.where(off_source & is_leaf & applies, src_text, reason)
    reason = np.where(code == "off_source", np.where(off_source, reason, other_text), reason)
    return pd.DataFrame({"evidence_id": ids, "table": "events", "unit_id": unit, "indicator": ind,
                         "reason_code": code, "reason": reason.astype(object)})


def _why_unused_facts(fw: Framework, facts: pd.DataFrame, uncited: np.ndarray, app: pd.DataFrame, vetoed: set) -> pd.DataFrame:
    """The facts no line cites, with why (see `unused_evidence`)."""
    from .rules import RULES

    leaves = {l.code: l for l in fw.leaves()}
    items = fw.item_codes()
    later = facts.duplicated(["unit_id", "indicator"], keep="last").to_numpy()  # rules read the last row of a unit and code
    rest = facts.loc[uncited, ["record_id", "unit_id", "indicator"]]
    later = later[uncited]
    ind = rest["indicator"].to_numpy(dtype=object)
    unit = rest["unit_id"].to_numpy(dtype=object)
    codes, names = pd.factorize(pd.Series(ind, dtype=object))
    leaf_of = np.array([items.get(c, c) for c in names] + [""], dtype=object)[codes]

    def leaf_is(test) -> np.ndarray:
        return np.array([test(leaves.get(items.get(c, c))) for c in names] + [False], dtype=bool)[codes]

    is_leaf = leaf_is(lambda l: l is not None and l.scored)
    reads_events = leaf_is(lambda l: l is not None and l.rule.type in RULES and RULES[l.rule.type].evidence == "events")
    # a checklist reads its items, not a fact under its own code; target and deadline read their own code
    wrong_code = leaf_is(lambda l: l is not None and l.rule.type == "checklist") & (leaf_of == ind)
    applies = _applies(app, leaf_of, unit)
    is_vetoed = pd.Series(unit, dtype=object).isin(vetoed).to_numpy()
    code = np.select([~is_leaf | wrong_code, reads_events, ~applies, is_vetoed, later],
                     ["not_scored", "rule_reads_events", "not_applicable", "vetoed", "superseded_row"], "uncited").astype(object)
    reason = np.array([UNUSED_REASONS[c] for c in UNUSED_REASONS] + [""], dtype=object)[
        pd.Categorical(code, categories=list(UNUSED_REASONS)).codes]
    return pd.DataFrame({"evidence_id": rest["record_id"].to_numpy(dtype=object), "table": "facts", "unit_id": unit,
                         "indicator": ind, "reason_code": code, "reason": reason.astype(object)})


def evidence_accounts(evidence: Evidence, line_items: pd.DataFrame, unused: pd.DataFrame) -> pd.DataFrame:
    """Rows read, cited and unused (by reason), per table: the auditor's check that every evidence
    row is accounted for. `cited` counts the table's rows some line item names; cited + unused =
    read, and a row counted as both is shown in `重复 both` (always 0 when scoring is right)."""
    cited = _cited(line_items["evidence_ids"])
    rows = []
    for table, ids in (("events", evidence.events["event_id"]), ("facts", evidence.facts["record_id"])):
        is_cited = _in(ids, cited) if len(ids) else np.zeros(0, dtype=bool)
        mine = unused[unused["table"] == table]
        both = int(np.isin(ids.to_numpy(dtype=object)[is_cited], mine["evidence_id"].to_numpy(dtype=object)).sum())
        row = {"表 table": table, "读入 read": len(ids), "被引用 cited": int(is_cited.sum()), "未引用 unused": len(mine),
               "重复 both": both}
        counts = mine["reason_code"].value_counts()
        row.update({f"未引用：{code}": int(counts.get(code, 0)) for code in UNUSED_REASONS if counts.get(code, 0)})
        rows.append(row)
    return pd.DataFrame(rows).fillna(0)
