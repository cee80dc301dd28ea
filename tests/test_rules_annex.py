"""The rules annex (`assessment frameworks annex`): the framework as the published 考核指标 table."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from docx import Document
from docx.oxml.ns import qn

from assessment import cli, frameworks
from assessment.documents import rules_annex
from assessment.documents.rules_annex import describe_rule, write_rules_annex
from assessment.frameworks import Framework

ROOT = Path(__file__).resolve().parents[1]
FONTS_CONF = ROOT / "templates" / "fonts.conf"
GRADES = [{"name": "优秀", "min": 90}, {"name": "良好", "min": 80}, {"name": "合格", "min": 60}, {"name": "不合格"}]


def fw_of(indicators: list[dict], **extra) -> Framework:
    data = {"id": "t", "title": "测试县政务新媒体考核", "jurisdiction": "测试县", "year": 2023,
            "source": {"file": "x", "section": "y"}, "unit_groups": ["乡镇街道", "县直部门"], "grades": GRADES,
            "indicators": indicators} | extra
    return Framework.model_validate(data)


def leaf(fw: Framework, code: str) -> str:
    parent = fw.parents[code]
    pool = fw.nodes[parent] if parent and fw.nodes[parent].pool else None
    return describe_rule(fw, fw.nodes[code], pool)


# ---- rule readings ------------------------------------------------------------------------

def test_each_rule_type_reads_in_chinese():
    fw = fw_of([
        {"code": "A", "name": "规范管理", "points": 30, "pool": True, "children": [
            {"code": "A1", "name": "错别字", "rule": {"type": "deduct", "per": 1}},
            {"code": "A2", "name": "留言", "rule": {"type": "timeliness", "within": 2, "per": 0.5}}]},
        {"code": "B", "name": "内容", "points": 70, "children": [
            {"code": "B1", "name": "上级采用", "points": 10, "rule": {"type": "award", "per_level": {"省级": 0.5, "国家级": 1}}},
            {"code": "B2", "name": "表彰", "points": 10, "rule": {"type": "best_level", "levels": {"省级": 5, "国家级": 10}}},
            {"code": "B3", "name": "合格率", "points": 10, "rule": {"type": "threshold", "indicators": ["A1"], "max_count": 5}},
            {"code": "B4", "name": "保障", "points": 10, "rule": {"type": "checklist", "items": [
                {"code": "B4.a", "name": "制度"}, {"code": "B4.b", "name": "防护"}]}},
            {"code": "B5", "name": "共享率", "points": 10, "rule": {"type": "target", "target": 0.97, "mode": "proportional"}},
            {"code": "B6", "name": "年报", "points": 10, "rule": {"type": "deadline", "due": "2023-01-10"}},
            {"code": "B7", "name": "原创", "points": 10, "rule": {"type": "award", "per": 0.5}}]},
    ])
    assert leaf(fw, "A1") == "每发现1次扣1分，从“规范管理”30分中扣除，扣完为止"
    assert leaf(fw, "B1") == "国家级每次1分，省级每次0.5分，最高10分，得满为止"  # the framework's order of levels
    assert leaf(fw, "B2") == "按获得的最高级别计分：国家级10分，省级5分（不累加）"
    assert leaf(fw, "B3").startswith("A1发现的问题（按问题数量合计）不多于5个的，得10分")
    assert leaf(fw, "B4") == "以下2项全部达到的得10分，否则不得分：（1）B4.a 制度；（2）B4.b 防护"
    assert leaf(fw, "B5") == "达到97%的得10分；未达到的按实际值与97%之比计分"
    assert leaf(fw, "B6") == "2023年1月10日前（含当日）完成的得10分，逾期或未完成的不得分"
    assert leaf(fw, "B7") == "每1次得0.5分，最高10分，得满为止"
    assert "2个工作日内办结" in leaf(fw, "A2") and "每超时或未办结1件扣0.5分" in leaf(fw, "A2")


def test_keys_no_reading_knows_are_printed_not_dropped(monkeypatch):
    """A rule type without a reading, or a key a reading does not use, still shows as written."""
    fw = fw_of([{"code": "A", "name": "规范管理", "points": 30, "children": [
        {"code": "A1", "name": "错别字", "points": 10, "rule": {"type": "deduct", "per": 2}}]}])
    node = fw.nodes["A1"]
    node.rule.__pydantic_extra__["sources"] = ["国务院办公厅抽查"]
    node.rule.__pydantic_extra__["veto_at"] = 10
    node.rule.__pydantic_extra__["brand_new_key"] = {"x": 1}
    text = describe_rule(fw, node)
    assert "每发现1次扣2分，扣完为止" in text
    assert "只计来源为“国务院办公厅抽查”的问题" in text and "累计达到10次（处）的，单项否决" in text
    assert 'brand_new_key={"x": 1}' in text
    monkeypatch.delitem(rules_annex.READINGS, "deduct")
    text = describe_rule(fw, node)
    assert "per=2" in text and "deduct" in text


# ---- the document -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def annex(tmp_path_factory):
    out = tmp_path_factory.mktemp("annex")
    fw = frameworks.load("sihong-new-media-2023")
    return fw, write_rules_annex(fw, out / "annex.docx")


def cells(doc) -> list[str]:
    return [c.text for t in doc.tables for r in t.rows for c in r.cells]


def test_annex_holds_every_indicator_veto_and_grade(annex):
    fw, path = annex
    doc = Document(path)
    paras = [p.text.replace("\n", "") for p in doc.paragraphs]  # a title's lines are joined by a line break
    assert paras[0] == "附件" and "2023年泗洪县政务新媒体监管工作年度考核指标" in paras
    text = "\n".join(paras + cells(doc))
    for node, _, _ in fw.walk():
        assert f"{node.code} {node.name}" in text, node.code
    assert "一、考核指标及评分标准" in paras and "二、单项否决（V 单项否决指标）" in paras and "三、等次评定" in paras
    assert "A 规范管理\n（30分，扣完为止）" in cells(doc)
    assert any("每发现1次扣10分，从“规范管理”30分中扣除，扣完为止" in c for c in cells(doc))
    assert any(p.startswith("总分90分（含）以上为优秀") for p in paras)
    table = doc.tables[0]
    header = [c.text for c in table.rows[0].cells]
    assert header == ["一级指标", "二级指标", "分值", "评分标准"]
    tr_pr = table.rows[0]._tr.trPr
    assert tr_pr.find(qn("w:tblHeader")) is not None  # header repeats on each page
    assert all(r._tr.trPr.find(qn("w:cantSplit")) is not None for r in table.rows)  # rows never split
    # East Asian fonts named on the runs and the page numbers in the footers
    xml = zipfile.ZipFile(path).read("word/document.xml").decode()
    assert 'w:eastAsia="仿宋_GB2312"' in xml and 'w:eastAsia="黑体"' in xml
    footers = [zipfile.ZipFile(path).read(n).decode() for n in zipfile.ZipFile(path).namelist() if "footer" in n]
    assert any("PAGE" in f for f in footers)


def test_bonus_section_and_gate():
    fw = frameworks.load("xiamen-website-new-media-2023")
    doc = rules_annex.build_rules_annex(fw)
    paras = [p.text for p in doc.paragraphs]
    assert "三、加分和扣分指标" in paras or "三、加分指标" in paras
    assert "基础分达到80分（含）以上的单位，方可计入加分。" in paras
    assert len(doc.tables) == 2  # base table, bonus/penalty table
    bonus_text = "\n".join(c.text for r in doc.tables[1].rows for c in r.cells)
    for top in fw.indicators:
        if rules_annex.part_of(top) in ("bonus", "penalty"):
            for node, _, _ in top.walk():
                if node.is_leaf:
                    assert node.code in bonus_text


def test_same_file_same_bytes(annex, tmp_path):
    fw, path = annex
    again = write_rules_annex(frameworks.load("sihong-new-media-2023"), tmp_path / "again.docx")
    assert again.read_bytes() == path.read_bytes()


def test_cli_annex(tmp_path, capsys):
    out = tmp_path / "附件.docx"
    assert cli.main(["frameworks", "annex", "sihong-website-2023", "--out", str(out)]) == 0
    assert out.is_file() and "rules annex" in capsys.readouterr().out
    assert cli.main(["frameworks", "annex", "no-such-framework", "--out", str(out)]) == 2


def printed_after(name: str, flat: str, code: str, window: int = 600) -> bool:
    """The name's characters in order soon after its code: a name wrapped in a narrow column
    comes out of pdftotext interleaved line by line with the cell beside it."""
    name = re.sub(r"\s+", "", name)
    for m in re.finditer(re.escape(code), flat):
        rest = iter(flat[m.end(): m.end() + window])
        if all(ch in rest for ch in name):
            return True
    return False


@pytest.mark.parametrize("fid", ["sihong-new-media-2023", "xiamen-website-new-media-2023"])
def test_renders_with_libreoffice(fid, tmp_path):
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is required: apt-get install libreoffice-writer"
    fw = frameworks.load(fid)
    src = write_rules_annex(fw, tmp_path / "annex.docx")
    env = {**os.environ, "FONTCONFIG_FILE": str(FONTS_CONF), "HOME": str(tmp_path)}
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo-profile",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(src)],
                   check=True, env=env, capture_output=True, timeout=180)
    pdf = tmp_path / "annex.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages > 0
    flat = re.sub(r"\s+", "", subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                                             text=True, timeout=60).stdout)
    assert flat.startswith("附件")
    for node, _, _ in fw.walk():
        assert node.code in flat, node.code
        assert printed_after(node.name, flat, node.code), node.name
    assert "单项否决" in flat and "—1—" in flat and f"—{pages}—" in flat
