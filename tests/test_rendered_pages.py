"""Rendered pages: the documents through LibreOffice → PDF, read back with pdftotext and pdfinfo.

What only the rendered page shows: a signature and date left alone on the last page, a table
whose header row does not repeat on the pages it runs onto, a row split across pages, an id broken
inside (LS2023-/008), a title line broken inside a word (政务新/媒体). Covers the 通报 (a long
attachment table), an ordinary and a vetoed unit's 整改通知, the quarterly 通报 on the
sihong-digital-gov-2023 demo data, the comparison and appeals annexes, and the rules annex.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from docx import Document

from assessment import evidence as evidence_mod
from assessment import frameworks, scoring
from assessment.documents import write_reports
from assessment.documents.docformat import printed_width
from assessment.documents.rules_annex import write_rules_annex
from assessment.documents.titles import split_at_words, title_lines, words
import test_documents as td
import test_documents_annexes as ta

ROOT = Path(__file__).resolve().parents[1]
FONTS_CONF = ROOT / "templates" / "fonts.conf"
DATE = "2024年1月8日"
SIGNATURE = "泗洪县人民政府办公室"


def render(docx: Path, tmp: Path) -> list[str]:
    """The document's pages as text (pdftotext -layout, pages split at form feeds); pdfinfo's
    page count must agree."""
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is required: apt-get install libreoffice-writer"
    out = tmp / f"pdf-{docx.stem}"
    out.mkdir(parents=True, exist_ok=True)
    src = out / "doc.docx"
    shutil.copy(docx, src)
    env = {**os.environ, "FONTCONFIG_FILE": str(FONTS_CONF), "HOME": str(out)}
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{out}/lo-profile",
                    "--convert-to", "pdf", "--outdir", str(out), str(src)],
                   check=True, env=env, capture_output=True, timeout=300)
    pdf = out / "doc.pdf"
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    n = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True,
                          timeout=120).stdout
    pages = text.split("\f")
    if pages and not pages[-1].strip():
        pages = pages[:-1]
    assert len(pages) == n
    return pages


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def lines_of(page: str) -> list[str]:
    return [flat(x) for x in page.splitlines() if flat(x)]


PAGE_NUMBER = re.compile(r"^—\d+—$")
COLUMNS = re.compile(r"\S {3,}\S")


def assert_signature_with_text(pages: list[str], signature: str = SIGNATURE, date: str = DATE) -> None:
    """The page holding the 署名 and 成文日期 holds body text too (at least one line that is neither
    of them nor the page number)."""
    where = [i for i, p in enumerate(pages)
             if any(a == signature and b == date for a, b in zip(lines_of(p), lines_of(p)[1:]))]
    assert where, "署名 and 成文日期 not found on consecutive lines"
    page = lines_of(pages[where[0]])
    others = [x for x in page if x not in (signature, date) and not PAGE_NUMBER.match(x)]
    assert others, f"page {where[0] + 1} holds only the signature and date"


def assert_title_unbroken(pages: list[str], docx: Path, title_text: str) -> list[str]:
    """The title paragraph's lines (set at jieba word boundaries) are the rendered lines, one for one:
    LibreOffice broke no line of its own inside them."""
    para = next(p for p in Document(docx).paragraphs if p.text.replace("\n", "") == title_text)
    lines = para.text.split("\n")
    assert split_at_words(lines, title_text), (lines, "/".join(words(title_text)))
    rendered = [ln for p in pages for ln in lines_of(p)]
    start = rendered.index(lines[0])
    assert rendered[start:start + len(lines)] == lines
    return lines


def assert_header_on_every_page(pages: list[str], header: str | list[str], row_marks: list[str]) -> int:
    """Every page holding a row (a line set in columns with one of `row_marks`) also holds the
    header row (each header cell's first line: a cell over two lines interleaves with its
    neighbours in the text); returns the number of pages the table spans."""
    # a header cell wraps in a narrow column: its first two characters stand on the header's first line
    cells = [header] if isinstance(header, str) else [flat(c.split("\n")[0])[:2] for c in header if c.strip()]
    spanned = 0
    for i, page in enumerate(pages):
        rows = [ln for ln in page.splitlines() if COLUMNS.search(ln.strip()) and any(m in flat(ln) for m in row_marks)]
        if rows:  # a line set in columns (body text has no wide gaps) holding a row's mark
            spanned += 1
            missing = [c for c in cells if flat(c) not in flat(page)]
            assert not missing, f"page {i + 1}: table rows without the header row (missing {missing})"
    return spanned


# --- the 通报 with a long attachment table ---------------------------------------------------------

@pytest.fixture(scope="module")
def long_reports(tmp_path_factory):
    """The documents' sample with 45 more 乡镇街道 (the attachment runs over pages) and one unit with
    28 deductions whose ids look like LS2023-008 (its notice's table runs over pages)."""
    fw, us, ins, li, ev, prev = td.sample()
    extra = [(f"09{i:02d}", f"泗洪县第{i}号经济开发区管理委员会", "乡镇街道", 20 + i % 7, 20 + i % 5, 30, 70.0 + i / 2,
              "合格", 3 + i, False, "") for i in range(45)]
    more_us = pd.DataFrame([{"unit_id": u[0], "unit_name": u[1], "unit_group": u[2], "base": u[6], "bonus": 0.0,
                             "penalty": 0.0, "total": u[6], "grade": u[7], "rank": u[8], "vetoed": u[9],
                             "veto_reasons": u[10]} for u in extra])
    more_ins = pd.DataFrame([{"unit_id": u[0], "indicator": code, "name": fw.nodes[code].name, "depth": 1,
                              "points": fw.nodes[code].points, "score": u[col]}
                             for u in extra for code, col in (("A", 3), ("B", 4), ("C", 5))])
    ids = [f"LS2023-{i:03d}" for i in range(1, 29)]
    more_li = pd.DataFrame([("0900", "A4" if i % 2 else "A2", "deduct", -1.0, x, f"问题记录 {x}", "base")
                            for i, x in enumerate(ids)], columns=li.columns)
    more_ev = pd.DataFrame({"event_id": ids, "unit_id": "0900", "indicator": ["A4" if i % 2 else "A2" for i in range(28)],
                            "date": pd.to_datetime([f"2023-{1 + i % 12:02d}-{1 + i:02d}" for i in range(28)]),
                            "quantity": [1 + i % 3 for i in range(28)], "level": None, "done_date": pd.NaT,
                            "source": "日常监测", "note": ""})
    us = pd.concat([us, more_us], ignore_index=True)
    out = tmp_path_factory.mktemp("long")
    paths = write_reports(fw, us, pd.concat([ins, more_ins], ignore_index=True), pd.concat([li, more_li], ignore_index=True),
                          pd.concat([ev, more_ev], ignore_index=True), out, office=td.OFFICE)
    return paths, us, ids


def test_notification_pages(long_reports, tmp_path):
    paths, us, _ = long_reports
    pages = render(paths["notification"], tmp_path)
    assert len(pages) >= 5
    assert_signature_with_text(pages)
    lines = assert_title_unbroken(pages, paths["notification"], "泗洪县人民政府办公室关于2023年度政务新媒体监管工作考核结果的通报")
    assert lines == ["泗洪县人民政府办公室关于2023年度", "政务新媒体监管工作考核结果的通报"]
    annex = next(i for i, p in enumerate(pages) if lines_of(p)[0] == "附件")
    spanned = assert_header_on_every_page(pages[annex:], "序号单位名称", ["合格"])  # the grade column of each row
    assert spanned >= 2  # the attachment table runs over pages, its header row on each
    assert "共发现" in flat("".join(pages)) and not re.search(r"\d\.0(?!\d)", flat("".join(pages[:3])))


def test_ordinary_notice_pages(long_reports, tmp_path):
    """A notice whose table runs over pages: header row on each page, no row split (a row's ids on
    one page), every id printed whole and identical to the evidence (searchable), dates as
    2023年1月1日, the signature with text, the title at word boundaries, and 本通知 wording."""
    paths, _, ids = long_reports
    docx = paths["notice:0900"]
    pages = render(docx, tmp_path)
    assert len(pages) >= 2
    assert_signature_with_text(pages)
    assert_title_unbroken(pages, docx, "关于泗洪县第0号经济开发区管理委员会2023年度政务新媒体监管工作考核扣分问题的整改通知")
    assert assert_header_on_every_page(pages, "序号指标扣分日期证据编号说明及依据", ids) >= 2
    tokens = [set(re.findall(r"\S+", p)) for p in pages]
    for x in ids:
        on = [i for i, t in enumerate(tokens) if x in t]
        assert len(on) == 1, f"{x} not printed whole exactly once: pages {on}"
    body = flat("".join(pages))
    assert "2023年1月1日" in body and "2023.1.1" not in body and "2023-01-01" not in body
    assert "本通报" not in body and "洪政办函〔2024〕号" in body  # 发文字号 with its number left to fill
    table = Document(docx).tables[0]
    assert all(r._tr.trPr.find("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}cantSplit") is not None
               for r in table.rows)
    assert table.rows[1].cells[4].text == ids[0]  # the id's text is the evidence's, character for character


def test_vetoed_notice_pages(long_reports, tmp_path):
    """The vetoed unit's notice names the veto evidence (id, date, 来源) and fills its first page."""
    paths, *_ = long_reports
    docx = paths["notice:0103"]
    pages = render(docx, tmp_path)
    assert_signature_with_text(pages)
    assert_title_unbroken(pages, docx, "关于龙集镇2023年度政务新媒体监管工作考核扣分问题的整改通知")
    first = flat(pages[0])
    assert "E011" in first and "2023年10月11日" in first and "抽查" in first and "来源" in first
    assert len(lines_of(pages[0])) >= 15  # page 1 is not half empty: the veto table is on it


# --- the quarterly 通报 on the digital-government demo -----------------------------------------------

@pytest.fixture(scope="module")
def quarterly(tmp_path_factory):
    fw = frameworks.load("sihong-digital-gov-2023")
    ev = evidence_mod.read(ROOT / "data" / "raw" / "sihong-dg-demo" / "2023", events_required=False)
    res = scoring.score(fw, ev, "2023Q3")
    out = tmp_path_factory.mktemp("quarterly")
    office = {"date": "2024-01-08"}
    paths = write_reports(res.framework, res.unit_scores, res.indicator_scores, res.line_items, ev.events, out,
                          office=office, period=res.period.label, facts=ev.facts)
    return paths, res


def test_quarterly_pages(quarterly, tmp_path):
    paths, res = quarterly
    pages = render(paths["notification"], tmp_path)
    assert_signature_with_text(pages)
    assert_title_unbroken(pages, paths["notification"], "泗洪县人民政府办公室关于2023年第三季度数字政府建设工作推进情况的通报")
    names = list(res.unit_scores["unit_name"])
    tasks = Document(paths["notification"]).tables[0]
    header = [c.text for c in tasks.rows[0].cells]
    codes = sorted({r.cells[1].text.split()[0] for r in tasks.rows[1:] if r.cells[1].text.strip()})
    assert assert_header_on_every_page(pages, header, codes) >= 1
    units_table = Document(paths["notification"]).tables[-1]
    header2 = [c.text for c in units_table.rows[0].cells]
    assert assert_header_on_every_page(pages, header2, ["优秀", "良好", "合格"]) >= 1


# --- the annexes ---------------------------------------------------------------------------------------

def test_comparison_and_appeals_annex_pages(tmp_path):
    fw, us, ins, li = ta.sample()
    paths = write_reports(fw, us, ins, li, None, tmp_path / "docs", office=ta.OFFICE, comparison=ta.COMPARISON,
                          appeals=ta.APPEALS)
    docx = paths["notification"]
    pages = render(docx, tmp_path)
    assert_signature_with_text(pages)
    body = flat("".join(pages))
    for title in ("2023年度与上年度考评结果对比", "2023年度政务新媒体监管工作考核复核情况"):
        if title in [p.text.replace("\n", "") for p in Document(docx).paragraphs]:
            assert_title_unbroken(pages, docx, title)
    assert "2024年1月15日" in body and "2024.1.15" not in body  # the appeals table's dates in 公文 style
    annex = next(i for i, p in enumerate(pages) if lines_of(p)[0].startswith("附件"))
    tables = Document(docx).tables
    headers = [[flat(c.text.split("\n")[0])[:2] for c in t.rows[0].cells if c.text.strip()] for t in tables]
    marks = {r.cells[1].text[:2] for t in tables for r in t.rows[1:]}
    table_pages = 0
    for i, page in enumerate(pages[annex:], start=annex + 1):  # several tables: each row page holds one's header
        if any(COLUMNS.search(ln.strip()) and any(m in flat(ln) for m in marks) for ln in page.splitlines()):
            table_pages += 1
            assert any(all(c in flat(page) for c in h) for h in headers), f"page {i}: rows without a header row"
    assert table_pages >= 3


@pytest.mark.parametrize("fid", ["sihong-new-media-2023"])
def test_rules_annex_pages(fid, tmp_path):
    fw = frameworks.load(fid)
    docx = write_rules_annex(fw, tmp_path / "annex.docx")
    pages = render(docx, tmp_path)
    title = next(p.text for p in Document(docx).paragraphs if p.style.name == "公文标题").replace("\n", "")
    assert_title_unbroken(pages, docx, title)
    table = Document(docx).tables[0]
    header = list(dict.fromkeys(c.text for c in table.rows[0].cells))
    codes = [t.code for t in fw.indicators]
    assert assert_header_on_every_page(pages, header, codes) >= 1


# --- title lines (no rendering) --------------------------------------------------------------------

REAL_TITLES = [
    ("泗洪县人民政府办公室关于2023年度政务新媒体监管工作考核结果的通报", ["泗洪县人民政府办公室"]),
    ("泗洪县人民政府办公室关于2023年度政府网站工作考评结果的通报", ["泗洪县人民政府办公室"]),
    ("厦门市人民政府办公厅关于2023年度政府网站与政务新媒体绩效考核结果的通报", ["厦门市人民政府办公厅"]),
    ("泗洪县人民政府办公室关于2023年第三季度数字政府建设工作推进情况的通报", ["泗洪县人民政府办公室", "2023年第三季度"]),
    ("关于泗洪县经济开发区管理委员会2023年度政务新媒体监管工作考核扣分问题的整改通知", ["泗洪县经济开发区管理委员会"]),
    ("关于县卫生健康委员会2023年度政府网站工作考评扣分问题的整改通知", ["县卫生健康委员会"]),
    ("泗洪县人民政府办公室关于2023年度政府网站与政务新媒体综合考评结果的通报", ["泗洪县人民政府办公室"]),
    ("关于泗洪县住房和城乡建设局（县人民防空办公室）2023年度政务新媒体监管工作考核扣分问题的整改通知",
     ["泗洪县住房和城乡建设局（县人民防空办公室）"]),
]


@pytest.mark.parametrize("title,keep", REAL_TITLES)
def test_title_lines_break_between_words_and_balance(title, keep):
    lines = title_lines(title, keep)
    assert "".join(lines) == title
    assert split_at_words(lines, title), lines  # no break inside a jieba word
    for term in ("政务新媒体", "政府网站", *keep):  # nor inside a term or a name that fits a line
        if term in title and printed_width(term) <= 20:
            assert any(term in ln for ln in lines), (term, lines)
    widths = [printed_width(ln) for ln in lines]
    assert max(widths) <= 20
    assert len(lines) <= -(-printed_width(title) // 20) + 1  # the fewest lines, or one more where words demand
    if len(lines) == 2:  # balanced: no line more than half again as long as another
        assert max(widths) <= 1.6 * min(widths), lines


def test_title_break_points_known_splits():
    """The two splits the issue saw: 政务新/媒体 and 工作考/核 (a word processor's, by width)."""
    lines = title_lines("泗洪县人民政府办公室关于2023年度政务新媒体监管工作考核结果的通报", ["泗洪县人民政府办公室"])
    assert lines == ["泗洪县人民政府办公室关于2023年度", "政务新媒体监管工作考核结果的通报"]
    assert title_lines("短标题") == ["短标题"]


def test_jieba_loads_quietly_without_cache(tmp_path):
    """The segmenter is loaded without a log line on stderr and without a cache file anywhere."""
    import sys

    code = ("from assessment.documents.titles import title_lines;"
            "print('|'.join(title_lines('泗洪县人民政府办公室关于2023年度政务新媒体监管工作考核结果的通报')))")
    env = {**os.environ, "HOME": str(tmp_path), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.strip() == "泗洪县人民政府办公室关于2023年度|政务新媒体监管工作考核结果的通报"
    assert not list((tmp_path / "tmp").iterdir())  # no cache in TMPDIR (jieba's default place)
    assert not [p for p in tmp_path.rglob("*") if "jieba" in p.name.lower()]  # nor in HOME or cwd
