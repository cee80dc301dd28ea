"""The quarterly progress notification (季度通报) of a task framework such as a digital-government plan.

A task is the topmost indicator that names its lead units (`responsible`); each lead unit scored on
it gets a status from its score ratio (score ÷ points) by the bands in the office file
(`quarterly.status`), so 完成 / 推进中 / 滞后 is the office's rule, not the code's. The notification
lists every task with its lead units, status, numeric targets against the actual values (from the
facts table, else from the line items' explanations), and the tasks behind schedule by lead unit.
Documents never score: ratios are read off `indicator_scores`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import pandas as pd
from docx.document import Document as DocumentObject

from . import annexes as extra
from . import summary
from .docformat import Fonts, Writer, chinese_numeral, office_document, red_header
from .layout import Annex, annex_ref, open_annex, table_layout
from .notification import chart_attachment, close_document, requirements, score_annex
from .office import context, doc_number, fill, fmt
from .titles import title_keep, write_title

CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩"


@dataclass
class Target:
    code: str
    name: str
    goal: str  # 97%
    actual: str | None  # 93.5%, or None when not reported


@dataclass
class TaskState:
    """One lead unit's state on one task this period."""

    part: str  # the 一级 node's code
    code: str
    name: str
    unit_id: str
    unit_name: str
    points: float
    score: float
    status: str
    targets: list[Target] = field(default_factory=list)
    met: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.score / self.points if self.points else float("nan")


def _rule_type(node: Any) -> str | None:
    rule = getattr(node, "rule", None)
    return getattr(rule, "type", None) if rule is not None else None


def _params(node: Any) -> dict:
    rule = getattr(node, "rule", None)
    return dict(getattr(rule, "params", None) or {}) if rule is not None else {}


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for child in getattr(node, "children", None) or []:
        yield from _walk(child)


def tasks(fw: Any) -> list[tuple[Any, Any]]:
    """(一级 node, task node) in framework order: the topmost nodes that name lead units, else the leaves."""
    out = []

    def visit(top: Any, node: Any) -> None:
        if getattr(node, "responsible", None) and getattr(node, "scored", True):
            out.append((top, node))
            return
        for child in getattr(node, "children", None) or []:
            visit(top, child)

    for top in fw.indicators:
        visit(top, top)
    if not out:
        out = [(top, n) for top in fw.indicators for n in _walk(top) if not getattr(n, "children", None)
               and getattr(n, "rule", None) is not None and _rule_type(n) != "veto"]
    return out


def status_for(ratio: float, bands: list[dict], quarter: str | None) -> str:
    """The first band whose minimum the ratio reaches; a minimum may be given per quarter (Q1–Q4)."""
    for band in bands:
        low = band.get("min")
        if isinstance(low, dict):
            low = low.get(quarter, low.get("default"))
        if low is None or ratio >= float(low) - 1e-9:
            return str(band["name"])
    return str(bands[-1]["name"])


def _quarter(period: str | None) -> str | None:
    m = re.search(r"[Qq]([1-4])$", str(period or ""))
    return f"Q{m.group(1)}" if m else None


def _percent(value: float) -> str:
    return f"{fmt(value * 100, 1)}%"


def _facts_by(facts: pd.DataFrame | None) -> dict[tuple[str, str], Any]:
    if facts is None or facts.empty:
        return {}
    f = facts.astype({"unit_id": str, "indicator": str})
    return {(u, i): v for u, i, v in zip(f["unit_id"], f["indicator"], f["value"])}


def _explanations(line_items: pd.DataFrame) -> dict[tuple[str, str], str]:
    lines = line_items[line_items["kind"].astype(str) == "base"]
    return {(str(u), str(i)): str(e) for u, i, e in zip(lines["unit_id"], lines["indicator"], lines["explanation"])}


def _target(leaf: Any, unit_id: str, facts: dict, explain: dict) -> Target:
    from ..values import parse_number

    p = _params(leaf)
    percent = p.get("unit", "percent") == "percent"
    goal = _percent(float(p["target"])) if percent else fmt(float(p["target"]))
    actual = None
    if facts:
        raw = facts.get((unit_id, leaf.code))
        if raw is not None and not (isinstance(raw, float) and pd.isna(raw)):
            number = parse_number(pd.Series([raw], dtype=object), percent=percent).iloc[0]
            if pd.notna(number):
                actual = _percent(number) if percent else fmt(number)
    else:  # the target rule's own words: “…：实际 93.5%，目标 100%，得 …”
        m = re.search(r"实际 ([^，,\s]+)", explain.get((unit_id, leaf.code), ""))
        actual = m.group(1) if m else None
    return Target(leaf.code, leaf.name, goal, actual)


def _items(leaf: Any, unit_id: str, facts: dict, explain: dict) -> tuple[list[str], list[str]]:
    from ..values import parse_bool

    items = [(str(i["code"]), str(i["name"])) for i in _params(leaf).get("items", [])]
    met, missing = [], []
    if facts:
        for code, name in items:
            raw = facts.get((unit_id, code))
            ok = raw is not None and bool(parse_bool(pd.Series([raw], dtype=object)).fillna(False).iloc[0])
            (met if ok else missing).append(name)
        return met, missing
    text = explain.get((unit_id, leaf.code), "")
    for code, name in items:
        (met if f"{name}✓" in text else missing).append(name)
    return met, missing


def task_states(fw: Any, units: pd.DataFrame, indicator_scores: pd.DataFrame, line_items: pd.DataFrame,
                facts: pd.DataFrame | None, office: dict, period: str | None) -> list[TaskState]:
    """Every (task, lead unit) scored this period, in framework then unit-table order."""
    bands = office["quarterly"]["status"]
    quarter = _quarter(period)
    names = dict(zip(units["unit_id"].astype(str), units["unit_name"]))
    order = {u: i for i, u in enumerate(summary.table_order(units)["unit_id"].astype(str))}
    scores = indicator_scores.assign(unit_id=indicator_scores["unit_id"].astype(str))
    by_code = {c: part for c, part in scores.groupby("indicator", sort=False)}
    fact_map = _facts_by(facts)
    explain = _explanations(line_items) if not fact_map else {}
    out = []
    for top, task in tasks(fw):
        rows = by_code.get(task.code)
        if rows is None:
            continue
        rows = rows.assign(_o=rows["unit_id"].map(order)).sort_values("_o", kind="mergesort")
        leaves = [n for n in _walk(task) if not getattr(n, "children", None)]
        for r in rows.itertuples():
            if pd.isna(r.score) or not r.points:
                continue  # a vetoed unit is not scored on anything
            state = TaskState(top.code, task.code, task.name, r.unit_id, names.get(r.unit_id, r.unit_id),
                              float(r.points), float(r.score), status_for(float(r.score) / float(r.points), bands, quarter))
            for leaf in leaves:
                kind = _rule_type(leaf)
                if kind == "target":
                    target = _target(leaf, r.unit_id, fact_map, explain)
                    if leaf is task:  # the task's own number: “目标90%，实际92.4%”
                        target.name = ""
                    state.targets.append(target)
                elif kind == "checklist":
                    met, missing = _items(leaf, r.unit_id, fact_map, explain)
                    state.met += met
                    state.missing += missing
            out.append(state)
    return out


# ---- wording ------------------------------------------------------------------------------

def target_text(t: Target, cfg: dict, ctx: dict) -> str:
    if t.actual is None:
        return fill(cfg["target_missing"], ctx, name=t.name, goal=t.goal)
    return fill(cfg["target"], ctx, name=t.name, goal=t.goal, actual=t.actual)


def detail_text(s: TaskState, cfg: dict, ctx: dict) -> str:
    """What stands behind one lead unit's status: targets against actuals, items done and not done."""
    parts = [target_text(t, cfg, ctx) for t in s.targets]
    n_items = len(s.met) + len(s.missing)
    if n_items and s.missing:
        parts.append(fill(cfg["items_missing"], ctx, met=len(s.met), n=n_items, missing="、".join(s.missing)))
    elif n_items:
        parts.append(fill(cfg["items_done"], ctx, n=n_items))
    return "，".join(parts)


def task_line(states: list[TaskState], cfg: dict, ctx: dict) -> str:
    """“T04 推动数据资源共享开放（牵头单位：大数据中心）：推进中。公共数据按需共享率目标97%，实际100%…。”"""
    first = states[0]
    leads = "、".join(s.unit_name for s in states)
    if len(states) == 1:
        status = first.status
        details = detail_text(first, cfg, ctx)
    else:
        by_status: dict[str, list[str]] = {}
        for s in states:
            by_status.setdefault(s.status, []).append(s.unit_name)
        status = "；".join(fill(cfg["status_units"], ctx, units="、".join(u), status=st) for st, u in by_status.items())
        details = "；".join(fill(cfg["unit_detail"], ctx, unit=s.unit_name, detail=d)
                           for s in states if (d := detail_text(s, cfg, ctx)))
    text = fill(cfg["task_line"], ctx, code=first.code, name=first.name, leads=leads, status=status)
    return text + (details + "。" if details else "")


def _grouped(states: list[TaskState]) -> dict[str, list[TaskState]]:
    out: dict[str, list[TaskState]] = {}
    for s in states:
        out.setdefault(s.code, []).append(s)
    return out


def task_table(states: list[TaskState], cfg: dict, ctx: dict) -> tuple[list[str], list[list[str | None]]]:
    """序号 | 任务 | 牵头单位 | 目标值 | 实际值 | 得分 | 状态: one row per lead unit, the task's cells merged."""
    rows: list[list[str | None]] = []
    for seq, (code, group) in enumerate(_grouped(states).items(), start=1):
        for k, s in enumerate(group):
            many = len(s.targets) > 1
            mark = (lambda i: CIRCLED[i] if many and i < len(CIRCLED) else "")
            task = f"{code} {s.name}" + "".join(f"\n{mark(i)}{t.name}" for i, t in enumerate(s.targets) if many)
            if s.targets:
                goal = "\n".join(mark(i) + t.goal for i, t in enumerate(s.targets))
                actual = "\n".join(mark(i) + (t.actual or cfg["not_reported"]) for i, t in enumerate(s.targets))
            elif s.met or s.missing:
                n = len(s.met) + len(s.missing)
                goal, actual = fill(cfg["items_goal"], ctx, n=n), fill(cfg["items_actual"], ctx, n=len(s.met))
            else:
                goal = actual = "—"
            rows.append([str(seq) if k == 0 else None, task if k == 0 else None, s.unit_name, goal, actual,
                         f"{fmt(s.score)}/{fmt(s.points)}", s.status])
    return list(cfg["columns"]), rows


def task_annex(states: list[TaskState], office: dict, ctx: dict) -> Annex:
    cfg = office["quarterly"]

    def render(w: Writer, label: str, title: str) -> None:
        header, rows = task_table(states, cfg, ctx)
        layout = table_layout(header, rows, flex=[1, 2], min_flex_chars=4)
        open_annex(w, label, title, layout.landscape)
        aligns = ["center", "left", "center", "center", "center", "center", "center"]
        w.table(layout.xml(w, rows, aligns, keep_end=bool(cfg.get("table_note"))))
        if cfg.get("table_note"):
            w.para(fill(cfg["table_note"], ctx, bands=band_text(cfg, ctx)), "GwFlush")

    return Annex(fill(cfg["tasks_title"], ctx), render, "tasks")


def band_text(cfg: dict, ctx: dict) -> str:
    """“得分率达到100%为完成，达到60%为推进中，其余为滞后” from the office's bands."""
    parts = []
    quarter = ctx.get("quarter")
    for band in cfg["status"]:
        low = band.get("min")
        if isinstance(low, dict):
            low = low.get(quarter, low.get("default"))
        parts.append(fill(cfg["band"], ctx, status=band["name"], min=_percent(float(low))) if low is not None
                     else fill(cfg["band_rest"], ctx, status=band["name"]))
    return "，".join(parts)


# ---- the document -------------------------------------------------------------------------

def build_quarterly(fw: Any, unit_scores: pd.DataFrame, indicator_scores: pd.DataFrame, line_items: pd.DataFrame,
                    office: dict, period: str | None, facts: pd.DataFrame | None = None, charts: list[bytes] | None = None,
                    *, comparison: pd.DataFrame | None = None, appeals: pd.DataFrame | None = None,
                    no_events: bool = False, comparison_note: str | None = None) -> DocumentObject:
    """The 季度通报 as a python-docx Document (not yet saved); `comparison_note` says why there is no comparison."""
    cfg = office["quarterly"]
    fonts = Fonts.from_office(office)
    doc = office_document(office, fonts)
    w = Writer(doc, fonts)
    states = task_states(fw, unit_scores, indicator_scores, line_items, facts, office, period)
    by_task = _grouped(states)
    late_name = cfg["late_status"]
    ctx = context(fw, office, period, len(unit_scores))
    ctx.update(quarter=_quarter(period), n_tasks=len(by_task), n_rows=len(states),
               n_leads=len({s.unit_id for s in states}))
    title = fill(cfg["title"], ctx)
    red_header(w, office["mark"], doc_number(fw, office), office.get("mark_color", "FF0000"))
    w.blank(2)
    write_title(w, title, keep=title_keep(office, ctx))
    w.blank(1)
    w.para(fill(cfg.get("recipients") or office["recipients"], ctx).rstrip("：:") + "：", "GwFlush")
    from .notification import demo_paragraph

    demo_paragraph(w, office, ctx)
    w.para(fill(cfg["opening"], ctx))
    if no_events:
        from .notification import NO_EVENTS_SENTENCE

        w.para(NO_EVENTS_SENTENCE)

    annex_cfg = office["attachment"]
    annexes = [task_annex(states, office, ctx),
               _unit_annex(fw, unit_scores, indicator_scores, office, ctx)]
    if annex_cfg.get("include_charts") and charts:
        annexes.append(Annex(fill(annex_cfg["charts_title"], ctx),
                             lambda w_, label, t: chart_attachment(w_, charts, label, t), "charts"))
    if comparison is not None:
        annexes.append(extra.comparison_annex(fw, comparison, office, ctx))
    if appeals is not None:
        annexes.append(extra.appeals_annex(fw, appeals, office, ctx))
    label = annex_cfg.get("label", "附件")
    heads = cfg["headings"]

    # 一、总体情况
    w.heading(f"一、{heads['overview']}", 1)
    counts = {b["name"]: 0 for b in cfg["status"]}
    for s in states:
        counts[s.status] = counts.get(s.status, 0) + 1
    ov = summary.overview(fw, unit_scores)
    text = fill(cfg["overview"], ctx, status_counts="、".join(fill(cfg["status_count"], ctx, status=k, n=n)
                                                              for k, n in counts.items()),
                average=fmt(ov.average), grade_counts="、".join(fill(office["overview"]["grade_count"], ctx, grade=g, n=n)
                                                               for g, n in ov.grade_counts.items()),
                tasks_annex=annex_ref(annexes, "tasks", label), units_annex=annex_ref(annexes, "units", label))
    if comparison is not None and len(comparison):
        text += extra.comparison_sentence(fw, comparison, office, ctx, annex_ref(annexes, "comparison", label))
    w.para(text + (comparison_note or ""))

    # 二、各项任务推进情况, by part
    w.heading(f"二、{heads['tasks']}", 1)
    n_sub = 0
    for top in fw.indicators:
        part = {c: g for c, g in by_task.items() if g[0].part == top.code}
        if not part:
            continue
        n_sub += 1
        w.heading(f"（{chinese_numeral(n_sub)}）{top.name}", 2)
        for i, group in enumerate(part.values(), start=1):
            w.heading(f"{i}." + task_line(group, cfg, ctx), 3)
    if appeals is not None and len(appeals):
        w.heading(f"（{chinese_numeral(n_sub + 1)}）{office['headings']['appeals']}", 2)
        w.para(extra.appeals_sentence(appeals, office, ctx, annex_ref(annexes, "appeals", label)))

    # 三、滞后任务, by lead unit
    w.heading(f"三、{heads['late']}", 1)
    late = [s for s in states if s.status == late_name]
    if not late:
        w.para(fill(cfg["late_none"], ctx))
    else:
        per_unit: dict[str, list[TaskState]] = {}
        for s in late:
            per_unit.setdefault(s.unit_id, []).append(s)
        order = sorted(per_unit, key=lambda u: (-len(per_unit[u]), min(states.index(s) for s in per_unit[u])))
        w.para(fill(cfg["late_intro"], ctx, n=len(late), n_units=len(per_unit), status=late_name))
        for i, unit_id in enumerate(order, start=1):
            items = "；".join(fill(cfg["late_item"], ctx, code=s.code, name=s.name, ratio=_percent(s.ratio),
                                  detail=(("，" + d) if (d := detail_text(s, cfg, ctx)) else ""))
                             for s in per_unit[unit_id])
            unit = per_unit[unit_id][0].unit_name
            w.heading(f"{i}." + fill(cfg["late_unit"], ctx, unit=unit, n=len(per_unit[unit_id]), tasks=items), 3)

    # 四、工作要求
    w.heading(f"四、{heads['requirements']}", 1)
    requirements(w, cfg.get("requirements") or [], ctx)

    return close_document(doc, w, fw, office, ctx, annexes, label, annex_cfg["note"], title)


def _unit_annex(fw: Any, unit_scores: pd.DataFrame, indicator_scores: pd.DataFrame, office: dict, ctx: dict) -> Annex:
    annex = score_annex(fw, unit_scores, indicator_scores, office, ctx)
    return Annex(fill(office["quarterly"]["units_title"], ctx), annex.render, "units")


def task_sheet(states: list[TaskState]) -> tuple[str, list[tuple[str, float, str]], list[list[Any]]]:
    """The task table for the workbook: one row per lead unit and task, targets as text."""
    columns = [("任务编码", 9, "text"), ("任务名称", 36, "text"), ("单位编码", 12, "text"), ("牵头单位", 16, "text"),
               ("分值", 7, "score"), ("得分", 7, "score"), ("得分率", 8, "percent"), ("状态", 8, "text"),
               ("数值目标", 30, "text"), ("实际值", 20, "text"), ("已完成事项", 40, "text"), ("未完成事项", 40, "text")]
    rows = [[s.code, s.name, s.unit_id, s.unit_name, s.points, s.score, round(s.ratio, 4), s.status,
             "；".join(f"{t.name} {t.goal}" for t in s.targets), "；".join(t.actual or "未填报" for t in s.targets),
             "；".join(s.met), "；".join(s.missing)] for s in states]
    return "任务推进情况", columns, rows
