"""The score workbook (.xlsx): 总分, 指标得分, 扣分明细, laid out as an analyst would by hand."""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Sequence

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from ..values import INVISIBLE_CLASS
from . import summary
from .office import fmt
from .reproducible import write_package

SCORE_FORMAT = "0.00"
PERCENT_FORMAT = "0.0%"
TEXT_FORMAT = "@"
FORMULA_START = ("=", "+", "-", "@")
# 扣分明细: what a line did, in Chinese — by its kind and sign (a base-indicator line taking points
# away is 扣分, not 基础分), and the rule by its Chinese name with the English id beside it for auditors
KIND_NAMES = {"base": "基础分", "veto": "单项否决", "bonus": "加分", "penalty": "扣分项扣分", "adjust": "调整",
              "normalise": "折算"}
RULE_NAMES = {
    "deduct": "扣分", "award": "得分", "best_level": "最高级别", "threshold": "问题数门槛", "checklist": "逐项核对",
    "target": "目标值", "deadline": "截止日期", "timeliness": "办理时限", "bonus": "加分", "penalty": "扣分项",
    "veto": "单项否决", "veto_at": "累计达到即否决", "pool": "扣分池", "spread": "不适用分值分配", "cap": "封顶保底",
    "normalise": "百分制折算", "bonus_gate": "加分条件", "floor": "总分保底", "veto_score": "否决记分",
    "adjustment": "复核调整", "weight": "加权", "combination": "综合",
}


def line_kind(kind: str, points: float) -> str:
    """类型 of a 扣分明细 line: 扣分 for a base line that took points away, 加分 for a bonus, …"""
    if kind == "base":
        return "扣分" if points < 0 else "得分"
    if kind == "adjust":
        return "调整（扣减）" if points < 0 else "调整"
    return KIND_NAMES.get(kind, kind)


def rule_name(rule: str) -> str:
    """The rule's Chinese name; an id this table does not know shows as itself (never blank)."""
    return RULE_NAMES.get(str(rule), str(rule))
HEADER_FONT = Font(name="黑体", bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
THIN = Side(style="thin", color="A6A6A6")
HEADER_BORDER = Border(bottom=THIN)
WRAP = Alignment(wrap_text=True, vertical="center", horizontal="center")

# (header, width in characters, kind): kind is text | score | int | percent
TOTAL_COLUMNS = [
    ("单位编码", 12, "text"), ("单位名称", 28, "text"), ("单位类别", 12, "text"), ("基础分", 9, "score"),
    ("加分", 8, "score"), ("扣分", 8, "score"), ("总分", 9, "score"), ("排名", 7, "int"), ("等次", 8, "text"),
    ("单项否决", 9, "text"), ("否决原因", 40, "text"),
]
DETAIL_COLUMNS = [
    ("单位编码", 12, "text"), ("单位名称", 28, "text"), ("单位类别", 12, "text"), ("指标编码", 9, "text"),
    ("指标名称", 30, "text"), ("类型", 9, "text"), ("分值", 8, "score"), ("计分规则", 14, "text"),
    ("证据编号", 22, "text"), ("说明", 50, "text"), ("规则编码", 12, "text"),
]


# characters XML 1.0 (so .docx and .xlsx) cannot hold, and invisible ones (zero-width, bidi controls)
_UNPRINTABLE = re.compile(f"{INVISIBLE_CLASS}|[\ud800-\udfff\ufffe\uffff]")


def printable(text: str) -> str:
    """Text as a document can show it: no control, invisible or XML-illegal characters.

    The evidence reader refuses or reports such characters; this is the writers' own guard, so a
    name that slipped through never crashes the report stage nor reorders what a reader sees."""
    return _UNPRINTABLE.sub("", text)


def _put(ws, row: int, col: int, value: Any, kind: str) -> None:
    """One cell; text that starts with = + - @ stays text (never a formula) and is quote-prefixed."""
    cell = ws.cell(row=row, column=col)
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return
    if kind == "score":
        cell.value = float(value)
        cell.number_format = SCORE_FORMAT
    elif kind == "int":
        cell.value = int(value)
    elif kind == "percent":
        cell.value = float(value)
        cell.number_format = PERCENT_FORMAT
    else:
        text = printable(str(value))
        cell.value = text
        cell.data_type = "s"  # openpyxl turns "=…" into a formula otherwise
        cell.number_format = TEXT_FORMAT
        if text.startswith(FORMULA_START):
            cell.quotePrefix = True


_SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\\x00-\x1f]")


def sheet_title(title: str, taken: Sequence[str] = ()) -> str:
    """A title Excel accepts: at most 31 characters, none of []:*?/\\, not empty, not starting or ending with ', unique."""
    text = _SHEET_UNSAFE.sub("_", str(title)).strip("'") or "Sheet"
    text = text[:31]
    n = 1
    base = text
    while text.lower() in {t.lower() for t in taken}:
        n += 1
        text = f"{base[:31 - len(str(n)) - 1]}~{n}"
    return text


def _sheet(wb: Workbook, title: str, columns: Sequence[tuple[str, float, str]], rows: Iterable[Sequence[Any]],
           header_rows: int = 1, freeze_col: int = 3) -> None:
    ws = wb.create_sheet(sheet_title(title, wb.sheetnames))
    for c, (name, width, _) in enumerate(columns, start=1):
        cell = ws.cell(row=1, column=c, value=name)
        cell.font, cell.fill, cell.alignment, cell.border = HEADER_FONT, HEADER_FILL, WRAP, HEADER_BORDER
        ws.column_dimensions[get_column_letter(c)].width = width
    kinds = [k for _, _, k in columns]
    n = 1
    for n, row in enumerate(rows, start=2):
        for c, (value, kind) in enumerate(zip(row, kinds), start=1):
            _put(ws, n, c, value, kind)
    ws.row_dimensions[1].height = 32
    ws.freeze_panes = ws.cell(row=header_rows + 1, column=freeze_col)
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{max(n, 1)}"


Sheet = tuple[str, Sequence[tuple[str, float, str]], Iterable[Sequence[Any]]]  # title, columns, rows


def build_workbook(fw: Any, unit_scores: pd.DataFrame, indicator_scores: pd.DataFrame,
                   line_items: pd.DataFrame, when: datetime, extra_sheets: Sequence[Sheet] = ()) -> bytes:
    """The workbook's bytes (normalise before writing); `extra_sheets` follow the three standard
    ones (the annexes: 任务推进情况, 综合得分, 与上年对比, 复核情况)."""
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = wb.properties.lastModifiedBy = "assessment"
    wb.properties.created = wb.properties.modified = when
    unit_scores = unit_scores.assign(**{c: float("nan") for c in ("base", "bonus", "penalty") if c not in unit_scores})
    group_order = {g: i for i, g in enumerate(summary.groups_of(fw, unit_scores))}
    units = summary.table_order(unit_scores).assign(_g=lambda d: d["unit_group"].map(group_order))
    units = units.sort_values("_g", kind="mergesort")

    _sheet(wb, "总分", TOTAL_COLUMNS, (
        [r.unit_id, r.unit_name, r.unit_group, r.base, r.bonus, r.penalty, r.total, r.rank, r.grade,
         "是" if bool(r.vetoed) else "否", summary.veto_reason_text(fw, r.veto_reasons)]
        for r in units.itertuples()))

    order = list(dict.fromkeys(indicator_scores["indicator"]))
    names = indicator_scores.drop_duplicates("indicator").set_index("indicator")
    wide = indicator_scores.pivot_table(index="unit_id", columns="indicator", values="score", aggfunc="first",
                                        dropna=False).reindex(index=units["unit_id"], columns=order)
    columns = [("单位编码", 12, "text"), ("单位名称", 28, "text"), ("单位类别", 12, "text")]
    for code in order:
        pts = names.loc[code, "points"]
        columns.append((f"{code} {names.loc[code, 'name']}（{fmt(pts)}分）", 11, "score"))
    _sheet(wb, "指标得分", columns, (
        [r.unit_id, r.unit_name, r.unit_group, *scores]
        for r, scores in zip(units.itertuples(), wide.itertuples(index=False))))
    ws = wb["指标得分"]
    ws.row_dimensions[1].height = 60

    lines = line_items[(line_items["points"] < 0) | (line_items["kind"] == "veto")]
    meta = unit_scores.set_index("unit_id")[["unit_name", "unit_group"]]
    lines = lines.join(meta, on="unit_id").sort_values(["unit_id", "indicator", "rule"], kind="mergesort")
    _sheet(wb, "扣分明细", DETAIL_COLUMNS, (
        [r.unit_id, r.unit_name, r.unit_group, r.indicator,
         fw.nodes[r.indicator].name if r.indicator in fw.nodes else "", line_kind(r.kind, r.points), r.points,
         rule_name(r.rule), r.evidence_ids, r.explanation, r.rule]
        for r in lines.itertuples()))
    for title, columns, rows in extra_sheets:
        _sheet(wb, title, columns, rows)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_workbook(fw: Any, unit_scores: pd.DataFrame, indicator_scores: pd.DataFrame, line_items: pd.DataFrame,
                   path: Path, when: datetime, extra_sheets: Sequence[Sheet] = ()) -> Path:
    return write_package(path, build_workbook(fw, unit_scores, indicator_scores, line_items, when, extra_sheets), when)


def components_sheet(fw: Any, unit_scores: pd.DataFrame, components: list[dict]) -> Sheet:
    """综合得分: each component's total beside the combined total, rank and grade."""
    group_order = {g: i for i, g in enumerate(summary.groups_of(fw, unit_scores))}
    units = summary.table_order(unit_scores).assign(_g=lambda d: d["unit_group"].map(group_order))
    units = units.sort_values("_g", kind="mergesort")
    columns: list[tuple[str, float, str]] = [("单位编码", 12, "text"), ("单位名称", 28, "text"), ("单位类别", 12, "text")]
    for c in components:
        w = float(c.get("weight", 0) or 0)
        columns.append((f"{c.get('title') or c['id']}（{fmt(w * 100 if w <= 1 else w)}%）", 12, "score"))
    columns += [("综合总分", 10, "score"), ("排名", 7, "int"), ("等次", 8, "text")]
    rows = [[r["unit_id"], r["unit_name"], r["unit_group"], *[r.get(c["id"]) for c in components], r["total"], r["rank"],
             r["grade"]] for r in units.to_dict("records")]
    return "综合得分", columns, rows
