"""The empty evidence workbook an analyst fills in for a framework.

Chinese headers (the reader accepts them), drop-down lists for unit groups, indicator codes and
levels, and a 说明 sheet that explains each indicator, its rule and the evidence it needs.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from .evidence import COLUMNS, HEADER_ZH, TABLE_ZH
from .frameworks import Framework
from .rules import RULES

ROWS = 2000  # rows that carry the drop-down lists
FIXED_TIME = dt.datetime(2000, 1, 1)


def _lists(fw: Framework) -> dict[str, list[str]]:
    event_codes = [l.code for l in fw.leaves() if RULES[l.rule.type].evidence == "events" and l.rule.type != "threshold"]
    fact_codes = []
    for l in fw.leaves():
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


def _header(ws, headers: list[str]) -> None:
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
        cell.alignment = Alignment(horizontal="center")
    ws.freeze_panes = "A2"
    for i, h in enumerate(headers):
        ws.column_dimensions[chr(ord("A") + i)].width = max(12, len(h) * 2 + 4)


def _neutralise(wb: Workbook) -> None:
    """Text from a framework file that starts with = + - @ stays text, never a formula (formula injection)."""
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith(("=", "+", "-", "@")):
                    cell.data_type = "s"  # openpyxl made "=…" a formula
                    cell.quotePrefix = True


def write_template(fw: Framework, out: str | Path) -> Path:
    """Write the workbook; drop-downs come from a hidden 下拉列表 sheet that the reader ignores."""
    out = Path(out)
    if out.suffix.lower() != ".xlsx":
        out = out.with_suffix(".xlsx")
    wb = Workbook()
    wb.remove(wb.active)
    lists = _lists(fw)

    sheets = {}
    for table in ("units", "events", "facts"):
        ws = wb.create_sheet(TABLE_ZH[table])
        _header(ws, [HEADER_ZH[c] for c in COLUMNS[table]])
        sheets[table] = ws

    lw = wb.create_sheet("下拉列表")
    refs = {}
    for j, (name, values) in enumerate(lists.items()):
        col = chr(ord("A") + j)
        lw.cell(row=1, column=j + 1, value=name)
        for i, v in enumerate(values, start=2):
            lw.cell(row=i, column=j + 1, value=v)
        refs[name] = f"'下拉列表'!${col}$2:${col}${max(2, len(values) + 1)}"
    lw.sheet_state = "hidden"

    def dropdown(ws, column: str, ref: str, title: str) -> None:
        dv = DataValidation(type="list", formula1=f"={ref}", allow_blank=True, showErrorMessage=True,
                            errorTitle="无效取值", error=f"请从下拉列表中选择{title}")
        ws.add_data_validation(dv)
        dv.add(f"{column}2:{column}{ROWS}")

    dropdown(sheets["units"], "C", refs["单位类别"], "单位类别")
    dropdown(sheets["events"], "C", refs["事件指标编码"], "指标编码")
    dropdown(sheets["events"], "F", refs["级别"], "级别")
    dropdown(sheets["facts"], "B", refs["事实指标编码"], "指标编码")
    for ws, cols in ((sheets["events"], "DG"),):
        for c in cols:
            for row in range(2, ROWS + 1):
                ws[f"{c}{row}"].number_format = "yyyy-mm-dd"

    guide = wb.create_sheet("说明")
    _header(guide, ["指标编码", "指标名称", "分值", "适用单位", "规则", "填报表", "需要的证据", "依据（原文）"])
    widths = {"A": 10, "B": 30, "C": 8, "D": 20, "E": 50, "F": 10, "G": 50, "H": 80}
    for c, w in widths.items():
        guide.column_dimensions[c].width = w
    for node, depth, _ in fw.walk():
        rule = _explain_rule(node) if node.rule is not None and node.is_leaf else ("不评分" if not node.scored else "")
        table = ""
        if node.rule is not None:
            table = "指标事实" if RULES[node.rule.type].evidence == "facts" else ("（自动计算）" if node.rule.type == "threshold" else "事件")
        guide.append(["　" * (depth - 1) + node.code, node.name, node.points, "、".join(node.applies_to) or "全部",
                      rule, table, node.evidence or "", node.basis or ""])
    for row in guide.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    guide.append([])
    guide.append(["填报说明", f"框架：{fw.title}（{fw.id}），考核期：{fw.year}{'（按季度）' if fw.period == 'quarter' else ''}。"
                  f"日期写作 {fw.year}-10-08；数量为正整数，缺省为 1；指标事实的值写 是/否、百分比（如 97%）或日期。"
                  "每个单位编码、单位名称、事件编号只能出现一次。请只填数值，不要使用公式或合并单元格。"])
    _neutralise(wb)
    wb.properties.creator = "assessment"
    wb.properties.created = FIXED_TIME
    wb.properties.modified = FIXED_TIME
    out.parent.mkdir(parents=True, exist_ok=True)
    wb.save(out)
    return out
