"""The empty evidence workbook an analyst fills in for a framework.

Chinese headers (the reader accepts them), drop-down lists for unit groups, indicator codes and
levels, and a 说明 sheet that explains each indicator, its rule and the evidence it needs.

The pieces (lists, header row, drop-downs, guide rows, reproducible save) are shared with the
per-unit forms of `forms`, which narrow them to the indicators that apply to one unit.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Iterable

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from .evidence import COLUMNS, HEADER_ZH, TABLE_ZH
from .frameworks import Framework, Indicator
from .rules import RULES

ROWS = 2000  # rows that carry the drop-down lists
FIXED_TIME = dt.datetime(2000, 1, 1)
LISTS_SHEET = "下拉列表"
GUIDE_SHEET = "说明"
GUIDE_HEADERS = ["指标编码", "指标名称", "分值", "适用单位", "规则", "填报表", "需要的证据", "依据（原文）"]
GUIDE_WIDTHS = {"A": 10, "B": 30, "C": 8, "D": 20, "E": 50, "F": 10, "G": 50, "H": 80}


def _lists(fw: Framework, applies: set[str] | None = None) -> dict[str, list[str]]:
    """The drop-down values; `applies` (leaf codes) narrows the indicator codes to one unit's."""
    leaves = [l for l in fw.leaves() if applies is None or l.code in applies]
    event_codes = [l.code for l in leaves if RULES[l.rule.type].evidence == "events" and l.rule.type != "threshold"]
    fact_codes = []
    for l in leaves:
        if RULES[l.rule.type].evidence == "facts":
            items = l.rule.params.get("items")
            fact_codes += [i["code"] for i in items] if items else [l.code]
    return {"单位类别": list(fw.unit_groups), "事件指标编码": event_codes, "事实指标编码": fact_codes, "级别": list(fw.levels)}


def _explain_rule(leaf) -> str:
    rt = RULES[leaf.rule.type]
    params = "，".join(f"{k}={v}" for k, v in leaf.rule.params.items() if k != "items")
    items = leaf.rule.params.get("items")
    if items:
        params += ("；" if params else "") + "核对项：" + "、".join(f"{i['code']} {i['name']}" for i in items)
    return f"{rt.name}：{rt.description}" + (f"（{params}）" if params else "")


def table_of(node: Indicator) -> str:
    """Where a leaf's evidence is written: 事件, 指标事实, or nowhere (a threshold is counted from other leaves)."""
    if node.rule is None:
        return ""
    return "指标事实" if RULES[node.rule.type].evidence == "facts" else ("（自动计算）" if node.rule.type == "threshold" else "事件")


def _header(ws, headers: list[str]) -> None:
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center")
    ws.freeze_panes = "A2"
    for i, h in enumerate(headers):
        ws.column_dimensions[get_column_letter(i + 1)].width = max(12, len(h) * 2 + 4)


def _neutralise(wb: Workbook) -> None:
    """Text from a framework file that starts with = + - @ stays text, never a formula (formula injection)."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith(("=", "+", "-", "@")):
                    cell.data_type = "s"  # openpyxl made "=…" a formula
                    cell.quotePrefix = True


def table_sheets(wb: Workbook, tables: Iterable[str]) -> dict:
    """One sheet per contract table, named and headed in Chinese as the reader reads them."""
    sheets = {}
    for table in tables:
        ws = wb.create_sheet(TABLE_ZH[table])
        _header(ws, [HEADER_ZH[c] for c in COLUMNS[table]])
        sheets[table] = ws
    return sheets


def column_of(table: str, column: str) -> str:
    """The Excel letter of a contract column in a sheet made by `table_sheets`."""
    return get_column_letter(list(COLUMNS[table]).index(column) + 1)


def lists_sheet(wb: Workbook, lists: dict[str, list[str]]) -> dict[str, str]:
    """The hidden 下拉列表 sheet the drop-downs point at (the reader passes over it); name → range."""
    lw = wb.create_sheet(LISTS_SHEET)
    refs = {}
    for j, (name, values) in enumerate(lists.items()):
        col = get_column_letter(j + 1)
        lw.cell(row=1, column=j + 1, value=name)
        for i, v in enumerate(values, start=2):
            lw.cell(row=i, column=j + 1, value=v)
        refs[name] = f"'{LISTS_SHEET}'!${col}${2}:${col}${max(2, len(values) + 1)}"
    lw.sheet_state = "hidden"
    return refs


def dropdown(ws, column: str, ref: str, title: str, rows: int = ROWS) -> None:
    """A list validation that refuses other values, rows 2…`rows` of a column."""
    dv = DataValidation(type="list", formula1=f"={ref}", allow_blank=True, showErrorMessage=True,
                        errorTitle="无效取值", error=f"请从下拉列表中选择{title}")
    ws.add_data_validation(dv)
    dv.add(f"{column}2:{column}{rows}")


def date_columns(ws, rows: int = ROWS) -> None:
    """日期 and 办结日期 shown as 2023-10-08 however they are typed."""
    for c in (column_of("events", "date"), column_of("events", "done_date")):
        for row in range(2, rows + 1):
            ws[f"{c}{row}"].number_format = "yyyy-mm-dd"


def guide_rows(fw: Framework, applies: set[str] | None = None) -> list[list]:
    """The 说明 sheet's indicator rows: every node, or (with `applies`) the leaves that apply and the nodes above them."""
    keep = None
    if applies is not None:
        keep = set(applies)
        for code in applies:
            parent = fw.parents.get(code)
            while parent:
                keep.add(parent)
                parent = fw.parents.get(parent)
    rows = []
    for node, depth, _ in fw.walk():
        if keep is not None and node.code not in keep:
            continue
        rule = _explain_rule(node) if node.rule is not None and node.is_leaf else ("不评分" if not node.scored else "")
        rows.append(["　" * (depth - 1) + node.code, node.name, node.points, "、".join(node.applies_to) or "全部",
                     rule, table_of(node), node.evidence or "", node.basis or ""])
    return rows


def guide_sheet(wb: Workbook, rows: list[list], notes: list[tuple[str, str]]):
    """The 说明 sheet: one row per indicator, then the filling notes (label, text)."""
    guide = wb.create_sheet(GUIDE_SHEET)
    _header(guide, GUIDE_HEADERS)
    for c, w in GUIDE_WIDTHS.items():
        guide.column_dimensions[c].width = w
    for row in rows:
        guide.append(row)
    for row in guide.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    guide.append([])
    for label, text in notes:
        guide.append([label, text])
    return guide


def filling_note(fw: Framework) -> str:
    return (f"框架：{fw.title}（{fw.id}），考核期：{fw.year}{'（按季度）' if fw.period == 'quarter' else ''}。"
            f"日期写作 {fw.year}-10-08；数量为正整数，缺省为 1；指标事实的值写 是/否、百分比（如 97%）或日期。"
            "每个单位编码、单位名称、事件编号只能出现一次。请只填数值，不要使用公式或合并单元格。")


def save(wb: Workbook, out: Path) -> Path:
    """Save byte for byte the same for the same content: fixed core times and zip entry dates."""
    import io

    from .documents.reproducible import write_package

    _neutralise(wb)
    wb.properties.creator = "assessment"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    buf = io.BytesIO()
    wb.save(buf)
    return write_package(out, buf.getvalue(), FIXED_TIME)


def write_template(fw: Framework, out: str | Path) -> Path:
    """Write the workbook; drop-downs come from a hidden 下拉列表 sheet that the reader ignores."""
    out = Path(out)
    if out.suffix.lower() != ".xlsx":
        out = out.with_suffix(".xlsx")
    wb = Workbook()
    wb.remove(wb.active)
    sheets = table_sheets(wb, ("units", "events", "facts"))
    refs = lists_sheet(wb, _lists(fw))
    dropdown(sheets["units"], column_of("units", "unit_group"), refs["单位类别"], "单位类别")
    dropdown(sheets["events"], column_of("events", "indicator"), refs["事件指标编码"], "指标编码")
    dropdown(sheets["events"], column_of("events", "level"), refs["级别"], "级别")
    dropdown(sheets["facts"], column_of("facts", "indicator"), refs["事实指标编码"], "指标编码")
    date_columns(sheets["events"])
    guide_sheet(wb, guide_rows(fw), [("填报说明", filling_note(fw))])
    return save(wb, out)
