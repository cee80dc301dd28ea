"""Official documents: read the generated files back and check format, numbers and bytes.

The fixture is six hand-made units in two groups: one vetoed, one 不合格 on points, two 优秀.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt
from openpyxl import load_workbook

from assessment.documents import load_office, write_reports
from assessment.documents.charts import grade_chart, group_chart
from assessment.documents.docformat import chinese_date, chinese_numeral
from assessment.documents.office import fmt, merged
from assessment.documents.summary import overview, problems

ROOT = Path(__file__).resolve().parents[1]
FONTS_CONF = ROOT / "templates" / "fonts.conf"


# --- fixture -----------------------------------------------------------------------------------------

@dataclass
class Node:
    code: str
    name: str
    points: float | None = None
    basis: str | None = None


@dataclass
class Fw:
    id: str = "sihong-new-media-2023"
    title: str = "泗洪县政务新媒体监管工作年度考核"
    jurisdiction: str = "泗洪县"
    year: int = 2023
    unit_groups: list = field(default_factory=lambda: ["乡镇街道", "县直部门"])
    grades: list = field(default_factory=lambda: [
        SimpleNamespace(name="优秀", min=90), SimpleNamespace(name="良好", min=80),
        SimpleNamespace(name="合格", min=60), SimpleNamespace(name="不合格", min=None)])
    veto_grade: str = "不合格"
    nodes: dict = field(default_factory=lambda: {n.code: n for n in [
        Node("V1", "抽查检查中被判定不合格", None, "抽查检查中被判定不合格的，实行单项否决。"),
        Node("A", "规范管理", 30), Node("B", "内容保障", 30), Node("C", "创新管理", 40),
        Node("A2", "每周更新内容少于1次", None, "每周更新内容少于1次的，每次扣5分。"),
        Node("A4", "发布信息内容中出现错别字", None, "发布信息内容中出现错别字的，每次扣1分。"),
        Node("B2", "权威信息转发", 10, "未按要求转发权威信息的，每次扣1分。"),
        Node("C1", "合格率", 10, "问题总数不多于5个的得10分。"),
    ]})

    def top_level(self):
        return [self.nodes[c] for c in ("V1", "A", "B", "C")]


UNITS = [
    # unit_id, name, group, A, B, C, total, grade, rank, vetoed, reasons
    ("0101", "青阳街道", "乡镇街道", 28, 30, 36, 94.0, "优秀", 1, False, ""),
    ("0102", "双沟镇", "乡镇街道", 25, 27, 30.5, 82.5, "良好", 2, False, ""),
    ("0103", "龙集镇", "乡镇街道", None, None, None, None, "不合格", 3, True, "V1"),
    ("0201", "县教育局", "县直部门", 30, 28.5, 34, 92.5, "优秀", 1, False, ""),
    ("0202", "县交通运输局", "县直部门", 26, 24, 22, 72.0, "合格", 2, False, ""),
    ("0203", "县卫生健康委员会", "县直部门", 20, 25, 10, 55.0, "不合格", 3, False, ""),
]


def sample():
    fw = Fw()
    unit_scores = pd.DataFrame([{
        "unit_id": u[0], "unit_name": u[1], "unit_group": u[2], "base": u[6], "bonus": 0.0, "penalty": 0.0,
        "total": float("nan") if u[6] is None else u[6], "grade": u[7], "rank": u[8], "vetoed": u[9],
        "veto_reasons": u[10]} for u in UNITS])
    rows = []
    for u in UNITS:
        for code, col in (("A", 3), ("B", 4), ("C", 5)):
            rows.append({"unit_id": u[0], "indicator": code, "name": fw.nodes[code].name, "depth": 1,
                         "points": fw.nodes[code].points, "score": float("nan") if u[col] is None else u[col]})
    indicator_scores = pd.DataFrame(rows)
    line_items = pd.DataFrame([
        ("0101", "A4", "deduct", -2.0, "E001;E002", "错别字2处，每处扣1分", "base"),
        ("0102", "A4", "deduct", -5.0, "E003;E004;E005;E006;E007", "错别字5处，每处扣1分", "base"),
        ("0102", "B2", "deduct", -3.0, "E008;E009;E010", "未转发权威信息3次", "base"),
        ("0103", "V1", "veto", 0.0, "E011", "抽查检查中被判定不合格", "veto"),
        ("0202", "A2", "deduct", -4.0, "E012", "每周更新内容少于1次", "base"),
        ("0203", "A2", "deduct", -10.0, "E013;E014", "每周更新内容少于1次，2次", "base"),
        ("0203", "A4", "deduct", -1.0, "E015", "错别字1处", "base"),
        ("0201", "C1", "threshold", 10.0, "", "问题总数不多于5个", "base"),
    ], columns=["unit_id", "indicator", "rule", "points", "evidence_ids", "explanation", "kind"])
    events = pd.DataFrame({
        "event_id": [f"E{i:03d}" for i in range(1, 16)],
        "unit_id": ["0101", "0101"] + ["0102"] * 8 + ["0103", "0202", "0203", "0203", "0203"],
        "indicator": ["A4", "A4"] + ["A4"] * 5 + ["B2"] * 3 + ["V1", "A2", "A2", "A2", "A4"],
        "date": pd.to_datetime([f"2023-{m:02d}-{d:02d}" for m, d in [
            (3, 1), (3, 8), (4, 2), (4, 9), (5, 3), (5, 10), (6, 1), (7, 5), (8, 9), (9, 6), (10, 11),
            (11, 1), (2, 14), (6, 20), (12, 5)]]),
        "quantity": 1, "level": None, "done_date": pd.NaT, "source": "抽查", "note": "",
    })
    previous = unit_scores.assign(total=[88.0, 80.0, 70.0, 90.0, 60.0, 50.0],
                                  grade=["良好", "良好", "合格", "优秀", "合格", "不合格"], vetoed=False)
    return fw, unit_scores, indicator_scores, line_items, events, previous


OFFICE = {"date": "2024-01-08", "due_date": "2024-02-08", "doc_number": {"number": 3}}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    fw, us, ins, li, ev, prev = sample()
    out = tmp_path_factory.mktemp("reports")
    paths = write_reports(fw, us, ins, li, ev, out, office=OFFICE, previous=prev)
    return SimpleNamespace(paths=paths, out=out, fw=fw, us=us, ins=ins, li=li, ev=ev, prev=prev,
                           doc=Document(paths["notification"]))


def style_font(style, slot="eastAsia"):
    """The font a style names in one rFonts slot, following base styles."""
    while style is not None:
        rpr = style.element.rPr
        rf = rpr.find(qn("w:rFonts")) if rpr is not None else None
        if rf is not None and rf.get(qn(f"w:{slot}")):
            return rf.get(qn(f"w:{slot}"))
        style = style.base_style
    return None


def style_size(style):
    while style is not None:
        if style.font.size is not None:
            return style.font.size
        style = style.base_style
    return None


# --- helpers and summaries ---------------------------------------------------------------------------

def test_number_and_date_forms():
    assert [fmt(92.5), fmt(90.0), fmt(87.25), fmt(float("nan")), fmt(-0.0), fmt(1 / 3)] == \
        ["92.5", "90", "87.25", "—", "0", "0.33"]
    assert chinese_date(pd.Timestamp("2024-01-08")) == "2024年1月8日"
    assert [chinese_numeral(n) for n in (1, 10, 11, 20, 23)] == ["一", "十", "十一", "二十", "二十三"]


def test_overview_and_problems_figures():
    fw, us, ins, li, *_ = sample()
    ov = overview(fw, us)
    assert ov.grade_counts == {"优秀": 2, "良好": 1, "合格": 1, "不合格": 2}
    assert ov.n_vetoed == 1 and round(ov.pass_rate, 2) == 66.67
    assert ov.average == pytest.approx((94 + 82.5 + 92.5 + 72 + 55) / 5)
    assert ov.best == {"乡镇街道": [("青阳街道", 94.0)], "县直部门": [("县教育局", 92.5)]}
    p = problems(fw, us, li)
    assert list(p["indicator"]) == ["A4", "A2", "B2"]  # 8 typos, then 3 and 3: ties by code
    assert list(p["count"]) == [8, 3, 3]
    assert p.iloc[0]["share"] == pytest.approx(8 / 14 * 100)
    assert p.iloc[0]["unit_names"] == ["双沟镇", "青阳街道", "县卫生健康委员会"]


# --- the notification --------------------------------------------------------------------------------

def test_page_setup_grid_and_footers(reports):
    doc = reports.doc
    s = doc.sections[0]
    mm = lambda length: round(length.mm, 1)  # noqa: E731  (stored in twips)
    assert (mm(s.page_width), mm(s.page_height)) == (210, 297)
    assert [mm(s.top_margin), mm(s.bottom_margin), mm(s.left_margin), mm(s.right_margin)] == [37, 35, 28, 26]
    grid = s._sectPr.find(qn("w:docGrid"))
    assert (grid.get(qn("w:type")), grid.get(qn("w:linePitch")), grid.get(qn("w:charSpace"))) == \
        ("linesAndChars", "579", "-848")
    assert doc.settings.odd_and_even_pages_header_footer is True
    for footer, align in ((s.footer, WD_ALIGN_PARAGRAPH.RIGHT), (s.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)):
        p = footer.paragraphs[0]
        xml = p._p.xml
        assert 'w:fldCharType="begin"' in xml and "PAGE" in xml and 'w:fldCharType="end"' in xml
        assert p.text.startswith("— ") and p.text.endswith(" —")
        assert p.paragraph_format.alignment == align
        assert style_font(p.style) == "宋体" and style_size(p.style) == Pt(14)
    last = doc.sections[-1]  # the 版记 page: its footers hold the 版记 instead of a page number
    assert len(doc.sections) == 2
    for footer in (last.footer, last.even_page_footer):
        assert not footer.is_linked_to_previous
        assert "PAGE" not in footer._element.xml
        assert footer.tables[0].rows[0].cells[0].text.startswith("抄送：")


def test_fonts_sizes_and_heading_levels(reports):
    doc = reports.doc
    normal = doc.styles["Normal"]
    for slot in ("ascii", "hAnsi", "eastAsia"):
        assert style_font(normal, slot) == "仿宋_GB2312"
    assert style_size(normal) == Pt(16)
    defaults = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    rf = defaults.find(qn("w:rFonts"))
    assert rf.get(qn("w:eastAsia")) == "仿宋_GB2312" and rf.get(qn("w:asciiTheme")) is None
    paras = doc.paragraphs
    title = next(p for p in paras if p.style.name == "公文标题")
    assert title.text.split("\n") == ["泗洪县人民政府办公室关于2023年度", "政务新媒体监管工作考核结果的通报"]  # lines at words
    assert title.alignment is None and title.style.paragraph_format.alignment == WD_ALIGN_PARAGRAPH.CENTER
    assert style_font(title.style) == "方正小标宋简体" and style_size(title.style) == Pt(22)
    expected = {"公文一级标题": ("黑体", 0), "公文二级标题": ("楷体_GB2312", 1), "公文三级标题": ("仿宋_GB2312", None)}
    seen = {}
    for p in paras:
        if p.style.name in expected:
            seen.setdefault(p.style.name, []).append(p.text)
    assert seen["公文一级标题"][:4] == ["一、总体情况", "二、考评结果", "三、存在问题", "四、工作要求"]
    assert seen["公文二级标题"][:2] == ["（一）乡镇街道", "（二）县直部门"]
    assert seen["公文三级标题"][:4] == ["1.优秀（1家）：青阳街道（94分）。", "2.良好（1家）：双沟镇（82.5分）。",
                                     "3.合格（0家）：无。", "4.不合格（1家）：龙集镇（单项否决）。"]
    for name, (font, level) in expected.items():
        style = doc.styles[name]
        assert style_font(style) == font and style_font(style, "ascii") == font and style_size(style) == Pt(16)
        outline = style.element.pPr.find(qn("w:outlineLvl"))
        assert (outline.get(qn("w:val")) if outline is not None else None) == (None if level is None else str(level))
    body = doc.styles["公文正文"]
    assert body.element.pPr.find(qn("w:ind")).get(qn("w:firstLineChars")) == "200"
    mark = next(p for p in paras if p.style.name == "发文机关标志")
    assert mark.text == "泗洪县人民政府办公室"
    assert str(mark.style.font.color.rgb) == "FF0000"
    number = next(p for p in paras if p.style.name == "发文字号")
    assert number.text == "洪政办函〔2024〕3号"
    assert number._p.pPr.find(qn("w:pBdr")).find(qn("w:bottom")).get(qn("w:color")) == "FF0000"
    texts = [p.text for p in paras]
    assert "各乡镇人民政府、街道办事处，县各部门、各直属单位：" in texts
    i = texts.index("2024年1月8日")  # 成文日期 under the 署名, 4 characters in from the right (sealed)
    assert texts[i - 1] == "泗洪县人民政府办公室"
    ind = paras[i]._p.pPr.find(qn("w:ind"))
    assert ind.get(qn("w:rightChars")) == "400" and paras[i].paragraph_format.alignment == WD_ALIGN_PARAGRAPH.RIGHT
    assert normal.paragraph_format.line_spacing.twips == 579  # the 22-line pitch, also where the grid is ignored
    assert any(t.startswith("附件：2023年度政务新媒体监管工作考核结果") for t in texts)
    annex = next(p for p in paras if p.text == "附件" and p.style.name == "附件标识")
    assert annex._p.pPr.find(qn("w:pageBreakBefore")) is not None
    assert style_font(annex.style) == "黑体"


def test_body_sentences(reports):
    text = "\n".join(p.text for p in reports.doc.paragraphs)
    assert "本次共考评6家单位，其中乡镇街道3家、县直部门3家" in text
    assert "优秀2家、良好1家、合格1家、不合格2家（其中单项否决1家）" in text
    assert "合格率66.7%" in text and "平均得分79.2分" in text
    assert "乡镇街道得分最高的是青阳街道（94分），县直部门得分最高的是县教育局（92.5分）。" in text
    assert "与上年相比，平均得分提高6.2分，合格率由83.3%下降到66.7%，优秀单位增加1家。" in text
    assert "龙集镇（单项否决）" in text and "县卫生健康委员会（55分）" in text
    assert "予以通报表扬：青阳街道、县教育局。" in text
    assert "龙集镇因“抽查检查中被判定不合格”被单项否决" in text
    assert "共发现8个（8条记录），占扣分问题总数的57.1%，合计扣8分，涉及双沟镇、青阳街道、县卫生健康委员会共3家单位。" in text
    assert "本次考评共发现扣分问题14个（14条记录，问题数按记录的数量合计），涉及4家单位" in text
    assert "并于2024年2月8日前将书面整改报告报送县政府办公室" in text
    assert "{" not in text and "}" not in text


def test_attachment_table_matches_unit_scores(reports):
    doc, us, ins = reports.doc, reports.us, reports.ins
    tables = doc.tables
    assert len(tables) == 2
    header = [c.text for c in tables[0].rows[0].cells]
    assert header == ["序号", "单位名称", "规范管理\n（30分）", "内容保障\n（30分）", "创新管理\n（40分）", "总分", "排名", "等次"]
    seen = set()
    scores = ins.set_index(["unit_id", "indicator"])["score"]
    for table, group in zip(tables, ["乡镇街道", "县直部门"]):
        assert table.autofit is False
        assert table.columns[1].width > table.columns[0].width > 0
        assert table.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
        first_cell_run = table.rows[1].cells[1].paragraphs[0].runs[0]._r
        rf = first_cell_run.rPr.find(qn("w:rFonts"))
        assert rf.get(qn("w:eastAsia")) == rf.get(qn("w:ascii")) == "仿宋_GB2312"
        for row in table.rows[1:]:
            cells = [c.text for c in row.cells]
            unit = us[us["unit_name"] == cells[1]].iloc[0]
            assert unit["unit_group"] == group
            seen.add(unit["unit_id"])
            assert cells[6] == str(unit["rank"])
            if unit["vetoed"]:
                assert cells[2:6] == ["—"] * 4 and cells[7] == "不合格*"
                continue
            assert float(cells[5]) == unit["total"]
            assert cells[7] == unit["grade"]
            for cell, code in zip(cells[2:5], "ABC"):
                assert float(cell) == scores[(unit["unit_id"], code)]
    assert seen == set(us["unit_id"])
    imprint = doc.sections[-1].even_page_footer.tables[0]
    assert imprint.rows[0].cells[0].text.startswith("抄送：")
    assert "2024年1月8日印发" in imprint.rows[-1].cells[0].text
    borders = imprint.rows[0].cells[0]._tc.tcPr.find(qn("w:tcBorders"))
    assert borders.find(qn("w:top")).get(qn("w:sz")) == "8"


def test_same_scores_same_bytes(reports, tmp_path):
    fw, us, ins, li, ev, prev = sample()
    again = write_reports(fw, us, ins, li, ev, tmp_path, office=OFFICE, previous=prev)
    assert set(again) == set(reports.paths)
    for name, path in reports.paths.items():
        assert path.read_bytes() == again[name].read_bytes(), name
    with zipfile.ZipFile(again["notification"]) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert b"2024-01-08T00:00:00Z" in z.read("docProps/core.xml")


# --- notices, workbook, charts -----------------------------------------------------------------------

def test_notices_list_each_deduction(reports):
    notices = {k.split(":", 1)[1]: v for k, v in reports.paths.items() if k.startswith("notice:")}
    assert set(notices) == {"0101", "0102", "0103", "0202", "0203"}  # 0201 only gained points
    assert notices["0102"].name == "0102-双沟镇.docx"
    doc = Document(notices["0102"])
    assert round(doc.sections[0].top_margin.mm, 1) == 37 and doc.settings.odd_and_even_pages_header_footer
    texts = [p.text.replace("\n", "") for p in doc.paragraphs]
    assert "关于双沟镇2023年度政务新媒体监管工作考核扣分问题的整改通知" in texts
    assert any("你单位得分82.5分，在乡镇街道中排名第2，等次为良好" in t for t in texts)
    rows = [[c.text for c in r.cells] for r in doc.tables[0].rows]
    assert rows[0] == ["序号", "指标", "扣分", "日期", "证据编号", "说明及依据"]
    assert rows[1][:3] == ["1", "A4 发布信息内容中出现错别字", "-5"]
    assert rows[1][3].split("\n") == ["2023年4月2日", "2023年4月9日", "2023年5月3日", "2023年5月10日", "2023年6月1日"]
    assert rows[1][4] == "E003\nE004\nE005\nE006\nE007"
    assert "依据：发布信息内容中出现错别字的，每次扣1分。" in rows[1][5]
    assert rows[2][:3] == ["2", "B2 权威信息转发", "-3"]
    assert "以上合计扣8分。" in texts
    vetoed = [p.text for p in Document(notices["0103"]).paragraphs]
    assert any("你单位因“抽查检查中被判定不合格”被单项否决，等次为不合格" in t for t in vetoed)


def test_workbook_sheets_formats_and_formula_safety(tmp_path):
    fw, us, ins, li, ev, _ = sample()
    li = pd.concat([li, pd.DataFrame([("0202", "A4", "deduct", -1.0, "E099", "=HYPERLINK(\"x\")", "base")],
                                     columns=li.columns)])
    paths = write_reports(fw, us, ins, li, ev, tmp_path, office=OFFICE)
    wb = load_workbook(paths["workbook"])
    assert wb.sheetnames == ["总分", "指标得分", "扣分明细"]
    total = wb["总分"]
    assert total.freeze_panes == "C2"
    assert [c.value for c in total[1]][:8] == ["单位编码", "单位名称", "单位类别", "基础分", "加分", "扣分", "总分", "排名"]
    rows = {r[0]: r for r in total.iter_rows(min_row=2, values_only=True)}
    assert set(rows) == set(us["unit_id"])  # leading zeros kept: ids are text
    for u in us.itertuples():
        assert rows[u.unit_id][6] == (None if u.vetoed else u.total)
        assert rows[u.unit_id][7] == u.rank and rows[u.unit_id][8] == u.grade
    assert total["G2"].number_format == "0.00" and total["A2"].number_format == "@"
    assert total.column_dimensions["B"].width == 28
    detail = wb["扣分明细"]
    cell = next(c for c in detail["J"] if str(c.value).startswith("=HYPERLINK"))
    assert cell.data_type == "s" and cell.quotePrefix
    with zipfile.ZipFile(paths["workbook"]) as z:
        assert "<f>" not in z.read("xl/worksheets/sheet3.xml").decode()
    assert wb["指标得分"]["D1"].value == "A 规范管理（30分）"


def test_charts_draw_chinese_without_missing_glyphs():
    fw, us, *_ = sample()
    office = load_office()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        png = grade_chart(fw, us, office)
        png2 = group_chart(fw, us, office)
    assert not [w for w in caught if "missing from font" in str(w.message) or "Glyph" in str(w.message)]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png2[:8] == b"\x89PNG\r\n\x1a\n"
    assert grade_chart(fw, us, office) == png
    assert b"Software" not in png


def test_year_label_and_text_flags_as_scoring_writes_them(tmp_path, reports):
    fw, us, ins, li, ev, prev = sample()
    us = us.assign(vetoed=us["vetoed"].map({True: "True", False: "False"}))  # as read back from CSV
    paths = write_reports(fw, us, ins, li, ev, tmp_path, office=OFFICE, previous=prev, period="2023")
    assert paths["notification"].name == reports.paths["notification"].name
    assert paths["notification"].read_bytes() == reports.paths["notification"].read_bytes()


def test_office_file_is_data(tmp_path):
    office = load_office()
    # the top of the file names no office; 泗洪's settings live under its jurisdiction
    assert office["issuer"] is None and office["fonts"]["body"] == "仿宋_GB2312"
    assert office["jurisdictions"]["泗洪县"]["issuer"] == "泗洪县人民政府办公室"
    fw, us, ins, li, ev, _ = sample()
    paths = write_reports(fw, us, ins, li, ev, tmp_path, office=merged(OFFICE, {
        "issuer": "某县人民政府办公室", "mark": "某县人民政府办公室", "doc_number": {"prefix": "某政办函"},
        "recipients": "各有关单位", "seal": False}))
    texts = [p.text for p in Document(paths["notification"]).paragraphs]
    assert texts[0] == "某县人民政府办公室" and "某政办函〔2024〕3号" in texts and "各有关单位：" in texts
    assert any(t.startswith("某县人民政府办公室关于") for t in texts)
    with pytest.raises(ValueError, match="未知的占位符"):
        write_reports(fw, us, ins, li, ev, tmp_path / "bad", office={**OFFICE, "title": "{nonsense}"})


# --- rendering with LibreOffice ----------------------------------------------------------------------

def test_renders_with_libreoffice(reports, tmp_path):
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is required: apt-get install libreoffice-writer"
    src = tmp_path / "notification.docx"
    shutil.copy(reports.paths["notification"], src)
    env = {**os.environ, "FONTCONFIG_FILE": str(FONTS_CONF), "HOME": str(tmp_path)}
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo-profile",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(src)],
                   check=True, env=env, capture_output=True, timeout=180)
    pdf = tmp_path / "notification.pdf"
    assert pdf.is_file()
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 3
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True, timeout=60).stdout
    flat = re.sub(r"\s+", "", text)
    assert "泗洪县人民政府办公室关于2023年度政务新媒体监管工作考核结果的通报" in flat
    assert "—1—" in flat and "—2—" in flat
    for u in reports.us.itertuples():
        row = re.compile(rf"^\s*\d+\s+{re.escape(u.unit_name)}\s")  # the attachment's table row
        line = next((ln for ln in text.splitlines() if row.match(ln)), None)
        assert line is not None, u.unit_name
        cells = line.split()
        assert cells[-3:] == [fmt(u.total) if not u.vetoed else "—", str(u.rank), u.grade + ("*" if u.vetoed else "")]
    assert "抄送：" in text and "2024年1月8日印发" in flat
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "NotoSerifCJK" in fonts and "NotoSansCJK" in fonts


def test_quarter_charts_attachment_and_unknown_group(tmp_path):
    fw, us, ins, li, ev, _ = sample()
    us.loc[us["unit_id"] == "0203", "unit_group"] = "开发区管委会"  # a group the framework does not list
    office = merged(OFFICE, {"attachment": {"include_charts": True}})
    paths = write_reports(fw, us, ins, li, ev, tmp_path, office=office, period="2023Q3")
    assert paths["notification"].name == "通报-sihong-new-media-2023-2023Q3.docx"
    doc = Document(paths["notification"])
    texts = [p.text.replace("\n", "") for p in doc.paragraphs]
    assert texts[texts.index("泗洪县人民政府办公室关于2023年第三季度政务新媒体监管工作考核结果的通报") + 1] == ""
    assert "附件：1.2023年第三季度政务新媒体监管工作考核结果" in texts and "2.2023年第三季度政务新媒体监管工作考核结果图表" in texts
    assert "附件1" in texts and "附件2" in texts
    assert len(doc.inline_shapes) == 2
    assert len(doc.tables) == 3 and "县卫生健康委员会" in doc.tables[2].rows[1].cells[1].text
    assert any("（三）开发区管委会" == t for t in texts)


def test_problem_counts_are_quantities_and_say_so(tmp_path):
    """Problems are counted by the evidence rows' 数量 everywhere. Hand count: E003 (双沟镇 A4) holds
    4 typos and E013 (卫健委 A2) 3 shortfalls; A4: 2 + (4 + 4 rows) + 1 = 11 in 8 records, A2: 1 + (3 + 1)
    = 5 in 3 records, B2: 3 in 3 records; 19 problems in 14 records. Without events the quantities
    are unknown and the text says records instead — never a count that means something else."""
    fw, us, ins, li, ev, _ = sample()
    ev.loc[ev["event_id"] == "E003", "quantity"] = 4
    ev.loc[ev["event_id"] == "E013", "quantity"] = 3
    p = problems(fw, us, li, ev)
    assert list(p["indicator"]) == ["A4", "A2", "B2"]
    assert list(p["count"]) == [11, 5, 3] and list(p["records"]) == [8, 3, 3]
    assert p.iloc[0]["share"] == pytest.approx(11 / 19 * 100)
    assert p.iloc[0]["unit_names"] == ["双沟镇", "青阳街道", "县卫生健康委员会"]  # 8 typos, 2, 1
    paths = write_reports(fw, us, ins, li, ev, tmp_path / "q", office=OFFICE)
    text = "\n".join(x.text for x in Document(paths["notification"]).paragraphs)
    assert "本次考评共发现扣分问题19个（14条记录，问题数按记录的数量合计），涉及4家单位。" in text
    assert "共发现11个（8条记录），占扣分问题总数的57.9%，合计扣8分" in text
    assert not re.search(r"[0-9]\.0(?![0-9])", text)  # no 3.0 anywhere
    paths = write_reports(fw, us, ins, li, None, tmp_path / "n", office=OFFICE)
    text = "\n".join(x.text for x in Document(paths["notification"]).paragraphs)
    assert "本次考评共发现扣分问题记录14条，涉及4家单位。" in text and "共8条记录，占扣分问题记录总数的57.1%" in text
