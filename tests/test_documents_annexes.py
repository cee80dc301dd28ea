"""The optional annexes of the notification — years side by side, appeals (复核), a combined
result's components — from small hand-made tables: text present, numbers as given, same bytes twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import pandas as pd
import pytest
from docx import Document
from openpyxl import load_workbook

from assessment.documents import write_reports
from test_documents import Fw as DocumentsFw
from test_documents import Node

OFFICE = {"date": "2024-01-08", "due_date": "2024-02-08", "doc_number": {"number": 5}}


@dataclass
class Fw(DocumentsFw):
    """The documents tests' stand-in framework, for a combined result with two parts."""

    id: str = "test-combined-2023"
    title: str = "泗洪县政府网站与政务新媒体年度考核"
    nodes: dict = field(default_factory=lambda: {n.code: n for n in [
        Node("A", "规范管理", 60), Node("B", "内容保障", 40), Node("A4", "发布信息内容中出现错别字"),
        Node("B2", "权威信息转发", 10)]})

    def top_level(self):
        return [self.nodes["A"], self.nodes["B"]]


UNITS = [  # unit_id, name, group, A, B, total, grade, rank, website, new media
    ("0101", "青阳街道", "乡镇街道", 55, 38, 93.0, "优秀", 1, 90.0, 94.29),
    ("0102", "双沟镇", "乡镇街道", 50, 31.5, 81.5, "良好", 2, 85.0, 80.0),
    ("0201", "县教育局", "县直部门", 45, 34, 79.0, "合格", 1, 70.0, 82.86),
    ("0202", "县交通运输局", "县直部门", 40, 18, 58.0, "不合格", 2, 60.0, 57.14),
]


def sample():
    fw = Fw()
    us = pd.DataFrame([{"unit_id": u[0], "unit_name": u[1], "unit_group": u[2], "base": u[5], "bonus": 0.0,
                        "penalty": 0.0, "total": u[5], "grade": u[6], "rank": u[7], "vetoed": False, "veto_reasons": "",
                        "website": u[8], "newmedia": u[9]} for u in UNITS])
    ins = pd.DataFrame([{"unit_id": u[0], "indicator": code, "name": fw.nodes[code].name, "depth": 1,
                         "points": fw.nodes[code].points, "score": u[col]} for u in UNITS for code, col in (("A", 3), ("B", 4))])
    li = pd.DataFrame([("0102", "A4", "deduct", -5.0, "E1;E2;E3;E4;E5", "错别字5处", "base"),
                       ("0202", "B2", "deduct", -4.0, "E6;E7;E8;E9", "未转发4次", "base")],
                      columns=["unit_id", "indicator", "rule", "points", "evidence_ids", "explanation", "kind"])
    return fw, us, ins, li


COMPARISON = pd.DataFrame([
    # unit, name, group, prev, now, change, rank_prev, rank, rank_change, grade_prev, grade, changed
    ("0101", "青阳街道", "乡镇街道", 88.5, 93.0, 4.5, 2, 1, 1, "良好", "优秀", True),
    ("0102", "双沟镇", "乡镇街道", 91.0, 81.5, -9.5, 1, 2, -1, "优秀", "良好", True),
    ("0201", "县教育局", "县直部门", 79.0, 79.0, 0.0, 1, 1, 0, "合格", "合格", False),
    ("0202", "县交通运输局", "县直部门", None, 58.0, None, None, 2, None, None, "不合格", False),
], columns=["unit_id", "unit_name", "unit_group", "total_prev", "total", "total_change", "rank_prev", "rank",
            "rank_change", "grade_prev", "grade", "grade_changed"])

APPEALS = pd.DataFrame([
    ("0201", "县教育局", "E0042", "A4", "withdraw", "撤销错别字扣分1处", "经核实为引用原文，不属错别字", "张三", "2024-01-15",
     78.0, 79.0, "合格", "合格"),
    ("0102", "双沟镇", "E0007", "B2", "amend", "未转发次数由3次改为1次", "补充提供了转发截图", "李四", "2024-01-16",
     79.5, 81.5, "合格", "良好"),
], columns=["unit_id", "unit_name", "evidence_id", "indicator", "action", "detail", "reason", "approver", "date",
            "total_before", "total_after", "grade_before", "grade_after"])

COMPONENTS = [{"id": "website", "title": "政府网站", "weight": 0.3}, {"id": "newmedia", "title": "政务新媒体", "weight": 0.7}]


def texts(path):
    doc = Document(path)
    return [p.text for p in doc.paragraphs], [[[c.text for c in r.cells] for r in t.rows] for t in doc.tables]


def table_with(tables, first_header):
    return next(t for t in tables if t[0][:len(first_header)] == first_header)


@pytest.fixture(scope="module")
def all_three(tmp_path_factory):
    fw, us, ins, li = sample()
    out = tmp_path_factory.mktemp("annexes")
    paths = write_reports(fw, us, ins, li, None, out, office=OFFICE, comparison=COMPARISON, appeals=APPEALS,
                          components=COMPONENTS)
    paras, tables = texts(paths["notification"])
    return SimpleNamespace(paths=paths, paras=paras, tables=tables, text="\n".join(paras))


def test_comparison_annex_and_sentence(tmp_path):
    fw, us, ins, li = sample()
    paths = write_reports(fw, us, ins, li, None, tmp_path, office=OFFICE, comparison=COMPARISON)
    paras, tables = texts(paths["notification"])
    assert "附件：1.2023年度政府网站与政务新媒体考核结果" in paras and "2.2023年度与上年度考评结果对比" in paras
    assert "附件1" in paras and "附件2" in paras
    overview = paras[paras.index("一、总体情况") + 1]
    assert overview.endswith("与上年度相比，1家单位等次上升，1家单位等次下降（详见附件2）。")
    rows = {r[1]: r for t in tables if t[0][2] == "上年\n得分" for r in t[1:]}
    assert rows["青阳街道"] == ["1", "青阳街道", "88.5", "93", "+4.5", "2", "1", "↑1", "良好", "优秀↑"]
    assert rows["双沟镇"] == ["2", "双沟镇", "91", "81.5", "-9.5", "1", "2", "↓1", "优秀", "良好↓"]
    assert rows["县教育局"][2:] == ["79", "79", "0", "1", "1", "持平", "合格", "合格"]
    assert rows["县交通运输局"][2:] == ["—", "58", "—", "—", "2", "—", "—", "不合格"]  # new this year
    sheet = load_workbook(paths["workbook"])["与上年对比"]
    got = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    for c in COMPARISON.itertuples():
        row = got[c.unit_id]
        assert row[3] == (None if pd.isna(c.total_prev) else c.total_prev) and row[4] == c.total
        assert row[7] == c.rank and row[10] == c.grade and row[11] == ("是" if c.grade_changed else "否")


def test_appeals_annex_and_paragraph(tmp_path):
    fw, us, ins, li = sample()
    paths = write_reports(fw, us, ins, li, None, tmp_path, office=OFFICE, appeals=APPEALS)
    paras, tables = texts(paths["notification"])
    i = paras.index("（四）复核情况")  # after the two unit groups and 通报表扬和批评
    assert paras[i - 1].startswith("对考评等次为不合格的1家单位予以通报批评")
    assert paras[i + 1] == ("考评结果反馈期间，共对2家单位提出的2项考评事项进行了复核，撤销1项、变更1项，"
                            "其中1家单位等次发生变化（详见附件2）。")
    assert "2.2023年度政府网站与政务新媒体考核复核情况" in paras
    table = table_with(tables, ["序号", "单位名称", "证据编号\n及指标"])
    assert table[1] == ["1", "县教育局", "E0042\nA4 发布信息内容中出现错别字", "撤销",
                        "撤销错别字扣分1处\n理由：经核实为引用原文，不属错别字", "张三\n2024年1月15日", "78\n合格", "79\n合格"]
    assert table[2][:4] == ["2", "双沟镇", "E0007\nB2 权威信息转发", "变更"]
    assert table[2][6:] == ["79.5\n合格", "81.5\n良好"]
    sheet = load_workbook(paths["workbook"])["复核情况"]
    rows = list(sheet.iter_rows(min_row=2, values_only=True))
    assert [r[2] for r in rows] == ["E0042", "E0007"] and [r[5] for r in rows] == ["撤销", "变更"]
    assert [(r[10], r[11], r[12], r[13]) for r in rows] == [(78.0, 79.0, "合格", "合格"), (79.5, 81.5, "合格", "良好")]


def test_components_are_sub_scores_of_a_combined_result(tmp_path):
    fw, us, ins, li = sample()
    paths = write_reports(fw, us, ins, li, None, tmp_path, office=OFFICE, components=COMPONENTS)
    paras, tables = texts(paths["notification"])
    assert "泗洪县人民政府办公室关于2023年度\n政府网站与政务新媒体综合考评结果的通报" in paras  # title lines at words
    opening = paras[paras.index("各乡镇人民政府、街道办事处，县各部门、各直属单位：") + 1]
    assert "考评结果由政府网站（30%）、政务新媒体（70%）2项考评结果加权综合而成" in opening
    assert "附件：2023年度政府网站与政务新媒体综合考评结果" in paras
    header = tables[0][0]
    assert header == ["序号", "单位名称", "政府网站\n（30%）", "政务新媒体\n（70%）", "总分", "排名", "等次"]
    rows = {r[1]: r for t in tables[:2] for r in t[1:]}
    for u in UNITS:
        assert rows[u[1]][2:] == [f"{u[8]:g}", f"{u[9]:g}", f"{u[5]:g}", str(u[7]), u[6]]
    assert "注：总分 = 政府网站得分×30%＋政务新媒体得分×70%。" in paras
    sheet = load_workbook(paths["workbook"])["综合得分"]
    assert [c.value for c in sheet[1]] == ["单位编码", "单位名称", "单位类别", "政府网站（30%）", "政务新媒体（70%）",
                                          "综合总分", "排名", "等次"]
    got = {r[0]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert all(got[u[0]][3:6] == (u[8], u[9], u[5]) for u in UNITS)
    with pytest.raises(ValueError, match="component"):
        write_reports(fw, us.drop(columns="website"), ins, li, None, tmp_path / "bad", office=OFFICE, components=COMPONENTS)


def test_all_annexes_numbered_in_order(all_three):
    paras = all_three.paras
    i = paras.index("附件：1.2023年度政府网站与政务新媒体综合考评结果")
    assert paras[i + 1:i + 3] == ["2.2023年度与上年度考评结果对比", "3.2023年度政府网站与政务新媒体考核复核情况"]
    assert [p for p in paras if p.startswith("附件") and len(p) <= 3] == ["附件1", "附件2", "附件3"]
    assert "（详见附件2）" in paras[paras.index("一、总体情况") + 1]
    assert any(p.endswith("（详见附件3）。") for p in paras)
    assert load_workbook(all_three.paths["workbook"]).sheetnames == ["总分", "指标得分", "扣分明细", "综合得分", "与上年对比",
                                                                     "复核情况"]


def test_annexes_same_bytes_twice(all_three, tmp_path):
    fw, us, ins, li = sample()
    again = write_reports(fw, us, ins, li, None, tmp_path, office=OFFICE, comparison=COMPARISON, appeals=APPEALS,
                          components=COMPONENTS)
    assert set(again) == set(all_three.paths)
    for name, path in all_three.paths.items():
        assert path.read_bytes() == again[name].read_bytes(), name


def test_missing_annex_columns_are_refused(tmp_path):
    fw, us, ins, li = sample()
    with pytest.raises(ValueError, match="comparison.*grade_changed"):
        write_reports(fw, us, ins, li, None, tmp_path, office=OFFICE, comparison=COMPARISON.drop(columns="grade_changed"))
    with pytest.raises(ValueError, match="appeals.*approver"):
        write_reports(fw, us, ins, li, None, tmp_path, office=OFFICE, appeals=APPEALS.drop(columns="approver"))


def test_office_settings_are_read_only_from_the_templates_folder(tmp_path):
    import pytest as _pytest

    from assessment.documents.office import OfficeError, load_office

    outside = tmp_path / "office.yaml"
    outside.write_text("issuer: 冒充机关\n", encoding="utf-8")
    with _pytest.raises(OfficeError, match="模板目录"):
        load_office(outside)
    with _pytest.raises(OfficeError, match="模板目录"):
        load_office("../../../../../../" + str(outside))
    assert load_office()["jurisdictions"]["泗洪县"]["issuer"] == "泗洪县人民政府办公室"
