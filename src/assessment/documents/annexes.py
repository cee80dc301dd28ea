"""Optional annexes of the notification: years side by side (与上年度对比) and appeals (复核).

Each is a table the caller computed (documents never compute results): this module checks its
columns, renders it as an attachment page and as a workbook sheet, and writes the sentence the
body says about it. Wording comes from the office file (`annexes:`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd

from . import summary
from .docformat import Writer, chinese_date, chinese_numeral
from .layout import Annex, open_annex, table_layout
from .office import fill, fmt

COMPARISON_COLUMNS = ["unit_id", "unit_name", "unit_group", "total_prev", "total", "total_change", "rank_prev", "rank",
                      "rank_change", "grade_prev", "grade", "grade_changed"]
APPEAL_COLUMNS = ["unit_id", "unit_name", "evidence_id", "indicator", "action", "detail", "reason", "approver", "date",
                  "total_before", "total_after", "grade_before", "grade_after"]


def check_columns(name: str, df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} 缺少列 / is missing columns: {', '.join(missing)}")
    out = df.copy()
    out["unit_id"] = out["unit_id"].astype(str)
    return out


def _blank(x: Any) -> bool:
    return x is None or (isinstance(x, float) and pd.isna(x)) or (not isinstance(x, str) and pd.isna(x)) or x == ""


def _text(x: Any) -> str:
    return "" if _blank(x) else str(x)


def signed(x: Any, digits: int = 2) -> str:
    """+2.5, -1, 0; a dash where there is nothing to compare."""
    if _blank(x):
        return "—"
    v = round(float(x), digits)
    return f"+{fmt(v, digits)}" if v > 0 else fmt(v, digits)


def rank_text(x: Any) -> str:
    return "—" if _blank(x) else str(int(float(x)))


def short_date(x: Any) -> str:
    """2024年1月15日: one date style in every document and table (GB/T 9704 7.3.5)."""
    if _blank(x):
        return "—"
    d = pd.Timestamp(x) if not isinstance(x, (date, datetime)) else x
    return chinese_date(d)


def _flag(x: Any) -> bool:
    if isinstance(x, str):
        return x.strip().lower() in ("true", "1", "yes", "是")
    return bool(x) if not _blank(x) else False


def grade_moves(fw: Any, comparison: pd.DataFrame) -> tuple[int, int]:
    """Units whose grade rose and fell, by the framework's order of grades (best first)."""
    order = {g.name: i for i, g in enumerate(fw.grades)}
    up = down = 0
    for r in comparison.itertuples():
        if not _flag(r.grade_changed):
            continue
        a, b = order.get(_text(r.grade_prev)), order.get(_text(r.grade))
        if a is None or b is None:
            continue
        up += b < a
        down += b > a
    return up, down


# ---- years side by side -------------------------------------------------------------------

def comparison_rows(fw: Any, comparison: pd.DataFrame, office: dict) -> dict[str, list[list[str]]]:
    """Per unit group (display order), units by this year's rank; cells as printed."""
    cfg = office["annexes"]["comparison"]
    order = {g.name: i for i, g in enumerate(fw.grades)}
    out: dict[str, list[list[str]]] = {}
    for group in summary.groups_of(fw, comparison):
        members = comparison[comparison["unit_group"] == group]
        members = members.assign(_r=pd.to_numeric(members["rank"], errors="coerce")).sort_values(
            ["_r", "unit_id"], na_position="last", kind="mergesort")
        rows = []
        for seq, r in enumerate(members.itertuples(), start=1):
            before, after = pd.to_numeric(r.rank_prev, errors="coerce"), pd.to_numeric(r.rank, errors="coerce")
            if _blank(r.rank_change) or pd.isna(before) or pd.isna(after):
                moved = "—"
            elif after < before:
                moved = fill(cfg["rank_up"], {}, n=abs(int(float(r.rank_change))))
            elif after > before:
                moved = fill(cfg["rank_down"], {}, n=abs(int(float(r.rank_change))))
            else:
                moved = fill(cfg["rank_same"], {})
            grade = _text(r.grade) or "—"
            if _flag(r.grade_changed) and _text(r.grade_prev) in order and grade in order:
                grade += cfg["grade_up_mark"] if order[grade] < order[_text(r.grade_prev)] else cfg["grade_down_mark"]
            rows.append([str(seq), str(r.unit_name), fmt(r.total_prev), fmt(r.total), signed(r.total_change),
                         rank_text(r.rank_prev), rank_text(r.rank), moved, _text(r.grade_prev) or "—", grade])
        out[group] = rows
    return out


def comparison_annex(fw: Any, comparison: pd.DataFrame, office: dict, ctx: dict) -> Annex:
    cfg = office["annexes"]["comparison"]
    rows = comparison_rows(fw, comparison, office)

    def render(w: Writer, label: str, title: str) -> None:
        header = list(cfg["columns"])
        everything = [r for group_rows in rows.values() for r in group_rows]
        layout = table_layout(header, everything, flex=[1])
        open_annex(w, label, title, layout.landscape)
        for i, (group, group_rows) in enumerate(rows.items(), start=1):
            if len(rows) > 1:
                w.para(fill(office["attachment"]["group_heading"], ctx, n=chinese_numeral(i), group=group), "GwAnnexLabel")
            w.table(layout.xml(w, group_rows, ["center", "left"] + ["center"] * (len(header) - 2)))
            if i < len(rows):
                w.blank(1)
        if cfg.get("note"):
            w.para(fill(cfg["note"], ctx), "GwFlush")

    return Annex(fill(cfg["title"], ctx), render, "comparison")


def comparison_sentence(fw: Any, comparison: pd.DataFrame, office: dict, ctx: dict, ref: str) -> str:
    cfg = office["annexes"]["comparison"]
    up, down = grade_moves(fw, comparison)
    return fill(cfg["sentence"], ctx, n_up=up, n_down=down, n_units=len(comparison), annex=ref)


def comparison_sheet(comparison: pd.DataFrame) -> tuple[str, list[tuple[str, float, str]], list[list[Any]]]:
    columns = [("单位编码", 12, "text"), ("单位名称", 28, "text"), ("单位类别", 12, "text"), ("上年总分", 9, "score"),
               ("本年总分", 9, "score"), ("增减", 8, "score"), ("上年排名", 8, "int"), ("本年排名", 8, "int"),
               ("名次变化", 8, "int"), ("上年等次", 8, "text"), ("本年等次", 8, "text"), ("等次变化", 8, "text")]
    rows = [[r.unit_id, r.unit_name, r.unit_group, _num(r.total_prev), _num(r.total), _num(r.total_change),
             _int(r.rank_prev), _int(r.rank), _int(r.rank_change), _text(r.grade_prev), _text(r.grade),
             "是" if _flag(r.grade_changed) else "否"] for r in comparison.itertuples()]
    return "与上年对比", columns, rows


# ---- appeals (复核) -----------------------------------------------------------------------

def _appeal_order(appeals: pd.DataFrame) -> pd.DataFrame:
    return appeals.assign(_d=pd.to_datetime(appeals["date"], errors="coerce")).sort_values(
        ["_d", "unit_id", "evidence_id"], na_position="last", kind="mergesort")


def appeal_rows(fw: Any, appeals: pd.DataFrame, office: dict) -> list[list[str]]:
    cfg = office["annexes"]["appeals"]
    actions = cfg["actions"]
    nodes = getattr(fw, "nodes", {}) or {}
    rows = []
    for seq, r in enumerate(_appeal_order(appeals).itertuples(), start=1):
        code = _text(r.indicator)
        node = nodes.get(code)
        what = "\n".join(x for x in (_text(r.evidence_id), f"{code} {node.name}" if node is not None else code) if x)
        detail = summary.chinese_dates(_text(r.detail))
        reason = summary.chinese_dates(_text(r.reason))
        text = detail + ("\n" if detail and reason else "") + (fill(cfg["reason"], {}, reason=reason) if reason else "")
        before = f"{fmt(r.total_before)}\n{_text(r.grade_before) or '—'}"
        after = f"{fmt(r.total_after)}\n{_text(r.grade_after) or '—'}"
        who = "\n".join(x for x in (_text(r.approver), short_date(r.date)) if x)
        rows.append([str(seq), str(r.unit_name), what or "—", actions.get(_text(r.action), _text(r.action)), text or "—",
                     who, before, after])
    return rows


def appeals_annex(fw: Any, appeals: pd.DataFrame, office: dict, ctx: dict) -> Annex:
    cfg = office["annexes"]["appeals"]
    rows = appeal_rows(fw, appeals, office)

    def render(w: Writer, label: str, title: str) -> None:
        header = list(cfg["columns"])
        layout = table_layout(header, rows, flex=[1, 2, 4], min_flex_chars=4)
        open_annex(w, label, title, layout.landscape)
        aligns = ["center", "left", "left", "center", "left", "center", "center", "center"]
        w.table(layout.xml(w, rows, aligns, split_rows=True))
        if cfg.get("note"):
            w.para(fill(cfg["note"], ctx), "GwFlush")

    return Annex(fill(cfg["title"], ctx), render, "appeals")


def appeals_sentence(appeals: pd.DataFrame, office: dict, ctx: dict, ref: str) -> str:
    cfg = office["annexes"]["appeals"]
    action = appeals["action"].astype(str)
    # the grade a unit ends with is its last adjustment's; compare first before with last after
    ordered = _appeal_order(appeals)
    first = ordered.groupby("unit_id", sort=False)["grade_before"].first().astype(str)
    last = ordered.groupby("unit_id", sort=False)["grade_after"].last().astype(str)
    changed = int((first != last).sum())
    grades = fill(cfg["grade_changed"], ctx, n=changed) if changed else fill(cfg["grade_same"], ctx)
    return fill(cfg["sentence"], ctx, n_items=len(appeals), n_units=appeals["unit_id"].nunique(),
                n_withdraw=int((action == "withdraw").sum()), n_amend=int((action == "amend").sum()),
                grades=grades, annex=ref)


def appeals_sheet(fw: Any, appeals: pd.DataFrame, office: dict) -> tuple[str, list[tuple[str, float, str]], list[list[Any]]]:
    actions = office["annexes"]["appeals"]["actions"]
    nodes = getattr(fw, "nodes", {}) or {}
    columns = [("单位编码", 12, "text"), ("单位名称", 24, "text"), ("证据编号", 14, "text"), ("指标编码", 10, "text"),
               ("指标名称", 24, "text"), ("处理", 8, "text"), ("复核内容", 36, "text"), ("理由", 36, "text"),
               ("批准人", 12, "text"), ("日期", 12, "text"), ("复核前总分", 10, "score"), ("复核后总分", 10, "score"),
               ("复核前等次", 10, "text"), ("复核后等次", 10, "text")]
    rows = []
    for r in _appeal_order(appeals).itertuples():
        code = _text(r.indicator)
        node = nodes.get(code)
        d = pd.to_datetime(r.date, errors="coerce") if not _blank(r.date) else pd.NaT
        rows.append([r.unit_id, r.unit_name, _text(r.evidence_id), code, node.name if node is not None else "",
                     actions.get(_text(r.action), _text(r.action)), _text(r.detail), _text(r.reason), _text(r.approver),
                     "" if pd.isna(d) else d.strftime("%Y-%m-%d"), _num(r.total_before), _num(r.total_after),
                     _text(r.grade_before), _text(r.grade_after)])
    return "复核情况", columns, rows


def _num(x: Any) -> float | None:
    return None if _blank(x) else float(x)


def _int(x: Any) -> int | None:
    return None if _blank(x) else int(float(x))
