"""Issue 12 §2: an office's own Word template (letterhead) carries the 通报 and the notices.

The sample template (made here with python-docx, as an office would save its 红头文件) differs from
the built-in page on purpose: another 红头 text (“涟水县人民政府办公室文件”), another body font
(楷体), other margins (top 30 mm instead of 37) and a page header line of its own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Mm, Pt, RGBColor

from assessment import pipeline
from assessment.documents import write_reports
from assessment.documents.office import OfficeError, office_for
from assessment.problems import ParameterError

from test_documents import OFFICE, sample

ROOT = Path(__file__).resolve().parents[1]
FONTS_CONF = ROOT / "templates" / "fonts.conf"
HEADER = "涟水县人民政府办公室文件"
BODY_FONT = "楷体"


def make_letterhead(path: Path) -> Path:
    """A 红头文件 as an office keeps it: red 发文机关标志, {{发文字号}}, red rule, then {{正文}}."""
    doc = Document()
    normal = doc.styles["Normal"]
    rpr = normal.element.get_or_add_rPr()
    rpr.insert(0, parse_xml(f'<w:rFonts {nsdecls("w")} w:ascii="{BODY_FONT}" w:hAnsi="{BODY_FONT}" w:eastAsia="{BODY_FONT}"/>'))
    normal.font.size = Pt(16)
    s = doc.sections[0]
    s.page_width, s.page_height = Mm(210), Mm(297)
    s.top_margin, s.bottom_margin, s.left_margin, s.right_margin = Mm(30), Mm(30), Mm(28), Mm(26)
    s.header.paragraphs[0].text = "涟水县人民政府办公室公文用纸"
    mark = doc.paragraphs[0] if doc.paragraphs else doc.add_paragraph()
    run = mark.add_run(HEADER)
    run.font.size, run.font.color.rgb = Pt(30), RGBColor(0xFF, 0, 0)
    mark.alignment = WD_ALIGN_PARAGRAPH.CENTER
    number = doc.add_paragraph()
    number.add_run("{{发文")  # Word splits a marker over runs; the program must not care
    number.add_run("字号}}")
    number.alignment = WD_ALIGN_PARAGRAPH.CENTER
    number._p.get_or_add_pPr().append(parse_xml(
        f'<w:pBdr {nsdecls("w")}><w:bottom w:val="single" w:sz="18" w:space="4" w:color="FF0000"/></w:pBdr>'))
    doc.add_paragraph("{{正文}}")
    doc.add_paragraph("")
    doc.save(path)
    return path


@pytest.fixture()
def templates(tmp_path, monkeypatch):
    """A templates folder holding office.yaml with 泗洪's entry pointed at the sample letterhead."""
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    make_letterhead(folder / "lianshui-letterhead.docx")
    data = yaml.safe_load((folder / "office.yaml").read_text(encoding="utf-8"))
    data["jurisdictions"]["泗洪县"]["letterhead"] = "lianshui-letterhead.docx"
    (folder / "office.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("ASSESSMENT_TEMPLATES", str(folder))
    return folder


def _run(tmp_path: Path, name: str = "out", **kw) -> dict:
    fw, us, ins, li, ev, prev = sample()
    return write_reports(fw, us, ins, li, ev, tmp_path / name, office=OFFICE, previous=prev, **kw)


def test_notification_is_built_on_the_letterhead(templates, tmp_path):
    paths = _run(tmp_path)
    doc = Document(paths["notification"])
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == HEADER and "泗洪县人民政府办公室" not in texts[:3]  # the template's 红头, not the generated one
    assert texts[1] == "洪政办函〔2024〕3号"  # {{发文字号}} filled, the marker gone
    assert not any("{{" in t for t in texts)
    assert "泗洪县人民政府办公室关于2023年度政务新媒体监管工作考核结果的通报" in [t.replace("\n", "") for t in texts]  # title lines joined
    s = doc.sections[0]
    assert (round(s.top_margin.mm), round(s.bottom_margin.mm)) == (30, 30)  # the template's, not GB/T's 37 and 35
    assert s.header.paragraphs[0].text == "涟水县人民政府办公室公文用纸"
    body = doc.styles["公文正文"].element.find(qn("w:rPr")).find(qn("w:rFonts"))
    assert body.get(qn("w:eastAsia")) == BODY_FONT  # generated text in the template's body font
    table_font = doc.tables[0].rows[1].cells[1].paragraphs[0].runs[0].element.find(qn("w:rPr")).find(qn("w:rFonts"))
    assert table_font.get(qn("w:eastAsia")) == BODY_FONT
    first_body = next(p for p in doc.paragraphs if p.style.name == "公文正文" and p.text)
    assert first_body.style.base_style.name == "Normal"
    assert doc.styles["Normal"].element.find(qn("w:rPr")).find(qn("w:rFonts")).get(qn("w:eastAsia")) == BODY_FONT


def test_notices_use_the_letterhead_and_output_is_byte_identical(templates, tmp_path):
    a, b = _run(tmp_path, "a"), _run(tmp_path, "b")
    notices = [k for k in a if k.startswith("notice:")]
    assert notices
    for key in ["notification", *notices]:
        assert a[key].read_bytes() == b[key].read_bytes(), key
    for key in notices:
        texts = [p.text for p in Document(a[key]).paragraphs]
        # the notice's own 发文字号 (the office's 代字, its number left to fill) in the template's {{发文字号}}
        assert texts[0] == HEADER and texts[1] == "洪政办函〔2024〕　　号" and not any("{{" in t for t in texts)


def test_demo_marks_the_letterhead(templates, tmp_path):
    texts = [p.text for p in Document(_run(tmp_path, synthetic=True)["notification"]).paragraphs]
    assert texts[0] == HEADER + "（演示）" and any(t.startswith("（演示文书：") for t in texts)


def test_letterhead_renders_with_libreoffice(templates, tmp_path):
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is required: apt-get install libreoffice-writer"
    src = tmp_path / "notification.docx"
    shutil.copy(_run(tmp_path)["notification"], src)
    env = {**os.environ, "FONTCONFIG_FILE": str(FONTS_CONF), "HOME": str(tmp_path)}
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo-profile",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(src)],
                   check=True, env=env, capture_output=True, timeout=180)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "notification.pdf"), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    flat = re.sub(r"\s+", "", text)
    first_page = re.sub(r"\s+", "", text.split("\f")[0])
    assert first_page.startswith("涟水县人民政府办公室公文用纸") and HEADER in first_page
    assert "洪政办函〔2024〕3号" in first_page and "{{" not in flat
    assert "泗洪县人民政府办公室关于2023年度政务新媒体监管工作考核结果的通报" in flat and "印发" in flat


def test_a_bad_letterhead_is_refused_clearly(templates, tmp_path):
    fw = sample()[0]
    for name, match in (("../office.yaml", "模板目录"), ("/etc/passwd.docx", "模板目录"), ("nope.docx", "不存在"),
                        ("office.yaml", r"\.docx")):
        with pytest.raises(OfficeError, match=match):
            office_for(fw, {"letterhead": name})
    broken = templates / "broken.docx"
    doc = Document()
    doc.add_paragraph("没有标记")
    doc.save(broken)
    with pytest.raises(OfficeError, match="正文"):
        write_reports(*sample()[:5], tmp_path / "x", office={**OFFICE, "letterhead": "broken.docx"})
    # a run refuses it before it starts: exit 2, the file and the key named
    data = yaml.safe_load((templates / "office.yaml").read_text(encoding="utf-8"))
    data["jurisdictions"]["泗洪县"]["letterhead"] = "missing.docx"
    (templates / "office.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ParameterError) as exc:
        pipeline.check_office(pipeline.frameworks.load("sihong-new-media-2023"))
    (p,) = exc.value.problems
    assert p.file == "templates/office.yaml" and p.column == "letterhead" and "不存在" in p.message_zh
