"""GB/T 9704-2012 page, styles and parts shared by every official document.

python-docx has no API for the document grid, East Asian fonts on styles, outline levels or
PAGE fields, so this module writes that XML itself. Fonts live on styles; runs carry no
formatting of their own except in table cells, where the cell's runs name the East Asian font
again (Word and LibreOffice otherwise may fall back to the Latin font there).

The section declares the GB/T grid (docGrid linesAndChars, linePitch 579, charSpace -848), so
Word's page set-up shows 22 × 28; paragraphs reproduce it with exact 28.95 pt lines and 0.25 pt
condensed characters instead of snapping, because LibreOffice gives each 16 pt glyph two
15.8 pt grid cells (14 characters a line) when text snaps to a compressed character grid.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Sequence
from xml.sax.saxutils import escape

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Mm, Pt, RGBColor, Twips
from docx.table import Table
from docx.text.paragraph import Paragraph

# GB/T 9704-2012 in numbers (REFERENCE.md).
PAGE_WIDTH_MM, PAGE_HEIGHT_MM = 210, 297
MARGINS_MM = {"top": 37, "bottom": 35, "left": 28, "right": 26}
TEXT_WIDTH_MM = PAGE_WIDTH_MM - MARGINS_MM["left"] - MARGINS_MM["right"]  # 156
LINE_PITCH_TWIPS = 579  # 22 lines in the 225 mm text block
CHAR_SPACE = -848  # 28 characters of 16 pt in 156 mm
FOOTER_DISTANCE_MM = 22  # puts the page number's top about 7 mm below the text block
BODY_PT, TITLE_PT, PAGE_NUMBER_PT, IMPRINT_PT, TABLE_PT = 16, 22, 14, 14, 12
CHAR_TWIPS = 316  # one 3号 character on the grid (15.8 pt)
CONDENSE_TWIPS = -5  # 16 pt − 0.25 pt: 28 characters fill the 156 mm line
TWIPS_PER_MM = 1440 / 25.4

# Paragraph styles: id → (name shown in Word, font key, size pt, outline level or None).
STYLES = {
    "GwBody": ("公文正文", "body", BODY_PT, None),
    "GwTitle": ("公文标题", "title", TITLE_PT, None),
    "GwHeading1": ("公文一级标题", "heading1", BODY_PT, 0),
    "GwHeading2": ("公文二级标题", "heading2", BODY_PT, 1),
    "GwHeading3": ("公文三级标题", "body", BODY_PT, None),  # 1. and （1） are run-in, in the body font:
    "GwHeading4": ("公文四级标题", "body", BODY_PT, None),  # no outline level, or the navigation pane fills up
    "GwFlush": ("公文顶格", "body", BODY_PT, None),
    "GwMark": ("发文机关标志", "title", 36, None),
    "GwDocNumber": ("发文字号", "body", BODY_PT, None),
    "GwAnnexLabel": ("附件标识", "heading1", BODY_PT, None),
    "GwTable": ("公文表格", "table", TABLE_PT, None),
    "GwTableHeader": ("公文表头", "table_header", TABLE_PT, None),
    "GwImprint": ("版记", "body", IMPRINT_PT, None),
    "GwPageNumber": ("页码", "page_number", PAGE_NUMBER_PT, None),
}
INDENTED = {"GwBody", "GwHeading1", "GwHeading2", "GwHeading3", "GwHeading4"}
OFF_GRID = {"GwTitle", "GwMark", "GwTable", "GwTableHeader", "GwImprint", "GwPageNumber"}


def chinese_date(d: date | datetime | None, blank: str = "　　　　年　　月　　日") -> str:
    """2024年1月8日: Arabic numerals, no leading zeros (GB/T 9704 7.3.5)."""
    if d is None:
        return blank
    return f"{d.year}年{d.month}月{d.day}日"


def chinese_numeral(n: int) -> str:
    """一 … 九十九, for heading numbers 一、 and （一）."""
    digits = "〇一二三四五六七八九"
    if n < 10:
        return digits[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else digits[tens]) + "十" + ("" if ones == 0 else digits[ones])


def text_width_chars(text: str) -> float:
    """Width in 3号 characters: CJK and full-width count 1, ASCII counts ½."""
    return sum(0.5 if ord(c) < 0x2E80 else 1.0 for c in text)


def rfonts_xml(font: str) -> str:
    return f'<w:rFonts w:ascii="{font}" w:hAnsi="{font}" w:eastAsia="{font}" w:cs="{font}" w:hint="eastAsia"/>'


def set_rfonts(rpr, font: str) -> None:
    """Name one font in every slot of an rPr (ascii, hAnsi, eastAsia, cs), dropping theme fonts."""
    old = rpr.find(qn("w:rFonts"))
    new = parse_xml(f"<w:rFonts {nsdecls('w')} " + rfonts_xml(font)[len("<w:rFonts "):])
    if old is not None:
        old.addprevious(new)
        rpr.remove(old)
    else:
        rpr.insert(0, new)


@dataclass(frozen=True)
class Fonts:
    body: str = "仿宋_GB2312"
    title: str = "方正小标宋简体"
    heading1: str = "黑体"
    heading2: str = "楷体_GB2312"
    page_number: str = "宋体"
    table: str = "仿宋_GB2312"
    table_header: str = "黑体"

    @classmethod
    def from_office(cls, office: dict) -> "Fonts":
        return cls(**{k: v for k, v in (office.get("fonts") or {}).items() if k in cls.__dataclass_fields__})

    def get(self, key: str) -> str:
        return getattr(self, key)


def new_document(fonts: Fonts, mark_size_pt: float = 36, mark_color: str = "FF0000") -> DocumentObject:
    """An empty A4 document with GB/T 9704 margins, 22 × 28 grid, styles and odd/even page numbers."""
    doc = Document()
    body = doc.element.body
    for child in list(body):
        if child.tag != qn("w:sectPr"):
            body.remove(child)
    _setup_defaults(doc, fonts)
    _add_styles(doc, fonts, mark_size_pt, mark_color)
    section = doc.sections[0]
    _page_setup(section)
    doc.settings.odd_and_even_pages_header_footer = True
    _page_number(section.footer.paragraphs[0], doc.styles["页码"], odd=True)
    _page_number(section.even_page_footer.paragraphs[0], doc.styles["页码"], odd=False)
    return doc


def office_document(office: dict, fonts: Fonts) -> DocumentObject:
    """The document an office's 通报 or notice is written into: a blank GB/T 9704 page, or the office's
    own Word template (`letterhead`, see letterhead.py) with its 版头, page set-up and styles kept."""
    from . import letterhead

    size, color = office.get("mark_size_pt", 36), office.get("mark_color", "FF0000")
    path = letterhead.path_of(office)
    if path is None:
        return new_document(fonts, size, color)
    doc, lh = letterhead.open_document(path, (office.get("_demo") or {}).get("mark"))
    _add_styles(doc, fonts, size, color)
    sect = doc.element.body.find(qn("w:sectPr"))
    if sect.find(qn("w:footerReference")) is None:  # a template without page numbers gets GB/T's
        doc.settings.odd_and_even_pages_header_footer = True
        section = doc.sections[-1]
        _page_number(section.footer.paragraphs[0], doc.styles["页码"], odd=True)
        _page_number(section.even_page_footer.paragraphs[0], doc.styles["页码"], odd=False)
    doc._gw_letterhead = lh
    return doc


def _portrait(doc: DocumentObject, section) -> None:
    """A portrait section's page set-up: the office template's, else GB/T 9704's."""
    from . import letterhead

    if not letterhead.portrait_setup(doc, section):
        _page_setup(section)


def _page_setup(section) -> None:
    section.page_width, section.page_height = Mm(PAGE_WIDTH_MM), Mm(PAGE_HEIGHT_MM)
    section.top_margin, section.bottom_margin = Mm(MARGINS_MM["top"]), Mm(MARGINS_MM["bottom"])
    section.left_margin, section.right_margin = Mm(MARGINS_MM["left"]), Mm(MARGINS_MM["right"])
    section.header_distance, section.footer_distance = Mm(15), Mm(FOOTER_DISTANCE_MM)
    section.gutter = 0
    sect = section._sectPr
    grid = sect.find(qn("w:docGrid"))
    if grid is None:
        grid = parse_xml(f"<w:docGrid {nsdecls('w')}/>")
        sect.append(grid)
    for attr in list(grid.attrib):
        del grid.attrib[attr]
    grid.set(qn("w:type"), "linesAndChars")
    grid.set(qn("w:linePitch"), str(LINE_PITCH_TWIPS))
    grid.set(qn("w:charSpace"), str(CHAR_SPACE))
    for attr in list(sect.attrib):  # rsid attributes copied from the default template
        del sect.attrib[attr]


# A landscape page for a wide attachment table (GB/T 9704-2012 10.1: a table may run across the
# page; its head faces the binding edge on odd pages): the portrait text block turned, 225 × 156 mm.
LANDSCAPE_MARGINS_MM = {"top": 28, "bottom": 26, "left": 35, "right": 37}
LANDSCAPE_TEXT_WIDTH_MM = PAGE_HEIGHT_MM - LANDSCAPE_MARGINS_MM["left"] - LANDSCAPE_MARGINS_MM["right"]  # 225
LANDSCAPE_FOOTER_DISTANCE_MM = 13  # the page number about 7 mm below the turned text block


def set_landscape(section) -> None:
    """A4 landscape with the annex margins (wide tables: 评分标准 too narrow in portrait)."""
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = Mm(PAGE_HEIGHT_MM), Mm(PAGE_WIDTH_MM)
    m = LANDSCAPE_MARGINS_MM
    section.top_margin, section.bottom_margin = Mm(m["top"]), Mm(m["bottom"])
    section.left_margin, section.right_margin = Mm(m["left"]), Mm(m["right"])
    section.footer_distance = Mm(LANDSCAPE_FOOTER_DISTANCE_MM)


def start_section(w: "Writer", landscape: bool) -> None:
    """Everything written after this goes on a new page in a new section, landscape or portrait;
    page numbers continue (the footers are linked)."""
    w.doc.add_section(WD_SECTION.NEW_PAGE)
    breaker = w.doc.paragraphs[-1]  # holds the previous section's sectPr: one hair high, so no blank page
    breaker.style = w.doc.styles["版记"]
    breaker.paragraph_format.line_spacing = Pt(1)
    section = w.doc.sections[-1]
    if landscape:
        set_landscape(section)
    else:
        section.orientation = WD_ORIENT.PORTRAIT
        _portrait(w.doc, section)


def is_landscape(w: "Writer") -> bool:
    return w.doc.sections[-1].orientation == WD_ORIENT.LANDSCAPE


def _setup_defaults(doc: DocumentObject, fonts: Fonts) -> None:
    styles = doc.styles.element
    rpr_default = styles.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    set_rfonts(rpr_default, fonts.body)
    for tag, val in (("w:sz", "32"), ("w:szCs", "32")):
        rpr_default.find(qn(tag)).set(qn("w:val"), val)
    lang = rpr_default.find(qn("w:lang"))
    lang.set(qn("w:eastAsia"), "zh-CN")
    ppr_default = styles.find(qn("w:docDefaults")).find(qn("w:pPrDefault")).find(qn("w:pPr"))
    spacing = ppr_default.find(qn("w:spacing"))
    for attr in list(spacing.attrib):
        del spacing.attrib[attr]
    spacing.set(qn("w:after"), "0")
    spacing.set(qn("w:line"), "240")
    spacing.set(qn("w:lineRule"), "auto")
    normal = doc.styles["Normal"]
    _style_font(normal, fonts.body, BODY_PT)
    normal.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    normal.paragraph_format.widow_control = False
    # The section declares the 22 × 28 grid (what Word's page set-up shows the office), but text
    # does not snap to it: LibreOffice gives a 16 pt glyph two 15.8 pt grid cells (14 characters a
    # line). Exact 28.95 pt lines and 0.25 pt condensed spacing give 22 × 28 in Word, WPS and LO alike.
    normal.paragraph_format.line_spacing = Twips(LINE_PITCH_TWIPS)
    ppr = normal.element.get_or_add_pPr()
    ppr.append(parse_xml(f'<w:snapToGrid {nsdecls("w")} w:val="0"/>'))
    _order_ppr(ppr)
    rpr = normal.element.get_or_add_rPr()
    rpr.append(parse_xml(f'<w:spacing {nsdecls("w")} w:val="{CONDENSE_TWIPS}"/>'))
    _order_rpr(rpr)


def _style_font(style, font: str, size_pt: float, color: str = "000000") -> None:
    rpr = style.element.get_or_add_rPr()
    set_rfonts(rpr, font)
    style.font.size = Pt(size_pt)
    style.font.color.rgb = RGBColor.from_string(color)
    style.font.bold = False


def _adopt_style(doc: DocumentObject, name: str, style_id: str) -> bool:
    """A style of ours the document (an office template) already defines by name: it is used as the
    template defines it, under our style id (references in the template's body follow). True if so."""
    existing = next((s for s in doc.styles.element.iterfind(qn("w:style"))
                     if (s.find(qn("w:name")) is not None and s.find(qn("w:name")).get(qn("w:val")) == name)), None)
    if existing is None:
        return False
    old = existing.get(qn("w:styleId"))
    if old != style_id:
        existing.set(qn("w:styleId"), style_id)
        for tag in ("w:pStyle", "w:rStyle", "w:basedOn", "w:next", "w:link"):
            for ref in doc.element.iter(qn(tag)):
                if ref.get(qn("w:val")) == old:
                    ref.set(qn("w:val"), style_id)
            for ref in doc.styles.element.iter(qn(tag)):
                if ref.get(qn("w:val")) == old:
                    ref.set(qn("w:val"), style_id)
    return True


def _add_styles(doc: DocumentObject, fonts: Fonts, mark_size_pt: float, mark_color: str) -> None:
    adopted = {name for style_id, (name, *_rest) in STYLES.items() if _adopt_style(doc, name, style_id)}
    for style_id, (name, font_key, size, outline) in STYLES.items():
        if name in adopted:
            continue
        style = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.style_id = style_id
        style.base_style = doc.styles["Normal"]
        style.quick_style = True
        color = mark_color if style_id == "GwMark" else "000000"
        _style_font(style, fonts.get(font_key), mark_size_pt if style_id == "GwMark" else size, color)
        pf = style.paragraph_format
        pf.space_before = pf.space_after = Pt(0)
        ppr = style.element.get_or_add_pPr()
        if style_id in INDENTED:
            ppr.append(parse_xml(f'<w:ind {nsdecls("w")} w:firstLineChars="200" w:firstLine="{2 * CHAR_TWIPS}"/>'))
        if style_id in OFF_GRID:
            ppr.append(parse_xml(f'<w:snapToGrid {nsdecls("w")} w:val="0"/>'))
        if outline is not None:
            ppr.append(parse_xml(f'<w:outlineLvl {nsdecls("w")} w:val="{outline}"/>'))
        _order_ppr(ppr)
    centred = {"GwTitle", "GwMark", "GwDocNumber", "GwTable", "GwTableHeader"}
    def ours(style_id: str):  # a style we added (an office template's own is left as it is)
        name = STYLES[style_id][0]
        return None if name in adopted else doc.styles[name]

    for style_id in centred:
        if ours(style_id) is not None:
            ours(style_id).paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for style_id in ("GwFlush", "GwAnnexLabel", "GwImprint"):
        if ours(style_id) is not None:
            ours(style_id).paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT
    for style_id, spacing in (("GwTitle", Pt(35)),  # 2号 lines, as offices set them
                              ("GwMark", Pt(mark_size_pt * 1.25)), ("GwTable", Pt(TABLE_PT * 1.25)),
                              ("GwTableHeader", Pt(TABLE_PT * 1.25)), ("GwImprint", Pt(IMPRINT_PT * 1.6))):
        if ours(style_id) is not None:
            ours(style_id).paragraph_format.line_spacing = spacing
    for style_id in ("GwTitle", "GwHeading1", "GwHeading2", "GwAnnexLabel"):
        if ours(style_id) is not None:
            ours(style_id).paragraph_format.keep_with_next = True
    if not _adopt_style(doc, "公文二级标题字符", "GwHeading2Char"):
        lead = doc.styles.add_style("公文二级标题字符", WD_STYLE_TYPE.CHARACTER)
        lead.style_id = "GwHeading2Char"
        set_rfonts(lead.element.get_or_add_rPr(), fonts.heading2)
    _order_ppr_all(doc)


# w:pPr children must follow the schema order or Word refuses the file.
_PPR_ORDER = [
    "pStyle", "keepNext", "keepLines", "pageBreakBefore", "framePr", "widowControl", "numPr",
    "suppressLineNumbers", "pBdr", "shd", "tabs", "suppressAutoHyphens", "kinsoku", "wordWrap",
    "overflowPunct", "topLinePunct", "autoSpaceDE", "autoSpaceDN", "bidi", "adjustRightInd",
    "snapToGrid", "spacing", "ind", "contextualSpacing", "mirrorIndents", "suppressOverlap", "jc",
    "textDirection", "textAlignment", "textboxTightWrap", "outlineLvl", "divId", "cnfStyle", "rPr",
    "sectPr", "pPrChange",
]
_PPR_RANK = {qn(f"w:{t}"): i for i, t in enumerate(_PPR_ORDER)}


def _order_ppr(ppr) -> None:
    children = sorted(ppr, key=lambda c: _PPR_RANK.get(c.tag, len(_PPR_ORDER)))
    for child in children:
        ppr.append(child)


_RPR_ORDER = [
    "rStyle", "rFonts", "b", "bCs", "i", "iCs", "caps", "smallCaps", "strike", "dstrike", "outline", "shadow",
    "emboss", "imprint", "noProof", "snapToGrid", "vanish", "webHidden", "color", "spacing", "w", "kern",
    "position", "sz", "szCs", "highlight", "u", "effect", "bdr", "shd", "fitText", "vertAlign", "rtl", "cs",
    "em", "lang", "eastAsianLayout", "specVanish", "oMath",
]
_RPR_RANK = {qn(f"w:{t}"): i for i, t in enumerate(_RPR_ORDER)}


def _order_rpr(rpr) -> None:
    for child in sorted(rpr, key=lambda c: _RPR_RANK.get(c.tag, len(_RPR_ORDER))):
        rpr.append(child)


def _order_ppr_all(doc: DocumentObject) -> None:
    for style in doc.styles.element.iterfind(qn("w:style")):
        ppr = style.find(qn("w:pPr"))
        if ppr is not None:
            _order_ppr(ppr)


def _page_number(paragraph: Paragraph, style, odd: bool) -> None:
    """"— 1 —" as text + PAGE field: odd pages right, even pages left, one character in."""
    paragraph.style = style
    side = "right" if odd else "left"
    jc = "right" if odd else "left"
    ppr = paragraph._p.get_or_add_pPr()
    ppr.append(parse_xml(f'<w:ind {nsdecls("w")} w:{side}="{PAGE_NUMBER_PT * 20}"/>'))
    ppr.append(parse_xml(f'<w:jc {nsdecls("w")} w:val="{jc}"/>'))
    _order_ppr(ppr)
    runs = (
        '<w:r><w:t xml:space="preserve">— </w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="begin"/></w:r>'
        '<w:r><w:instrText xml:space="preserve"> PAGE </w:instrText></w:r>'
        '<w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        '<w:r><w:t>1</w:t></w:r>'
        '<w:r><w:fldChar w:fldCharType="end"/></w:r>'
        '<w:r><w:t xml:space="preserve"> —</w:t></w:r>'
    )
    for run in parse_xml(f"<w:p {nsdecls('w')}>{runs}</w:p>"):
        paragraph._p.append(run)


def unfold(text: str) -> str:
    """Join the lines of a YAML block: Chinese prose wraps without spaces."""
    return "".join(line.strip() for line in str(text).splitlines())


class Writer:
    """Appends styled paragraphs and tables to a document body, in order."""

    def __init__(self, doc: DocumentObject, fonts: Fonts):
        self.doc, self.fonts = doc, fonts

    def para(self, text: str = "", style: str = "GwBody") -> Paragraph:
        """A paragraph in one of the STYLES, written as XML (python-docx's style look-up costs 1 ms)."""
        run = f'<w:r><w:t xml:space="preserve">{escape(text)}</w:t></w:r>' if text else ""
        p = parse_xml(f'<w:p {nsdecls("w")}><w:pPr><w:pStyle w:val="{style}"/></w:pPr>{run}</w:p>')
        self.doc.element.body.sectPr.addprevious(p)
        return Paragraph(p, self.doc._body)

    def blank(self, n: int = 1, style: str = "GwFlush") -> None:
        for _ in range(n):
            self.para("", style)

    def heading(self, text: str, level: int) -> Paragraph:
        return self.para(text, f"GwHeading{level}")

    def lead_para(self, lead: str, text: str) -> Paragraph:
        """A body paragraph opening with a （一） heading in 楷体, as in "（一）抓好整改。各单位要……"."""
        p = self.para("", "GwBody")
        p.add_run(lead, style=self.doc.styles["公文二级标题字符"])
        p.add_run(text)
        return p

    def indent_right(self, p: Paragraph, chars: float) -> None:
        """Right indent in characters (署名, 成文日期)."""
        ppr = p._p.get_or_add_pPr()
        ppr.append(parse_xml(
            f'<w:ind {nsdecls("w")} w:right="{round(chars * CHAR_TWIPS)}" w:rightChars="{round(chars * 100)}"'
            ' w:firstLine="0" w:firstLineChars="0"/>'))
        ppr.append(parse_xml(f'<w:jc {nsdecls("w")} w:val="right"/>'))
        _order_ppr(ppr)

    def page_break_before(self, p: Paragraph) -> None:
        ppr = p._p.get_or_add_pPr()
        ppr.append(parse_xml(f'<w:pageBreakBefore {nsdecls("w")}/>'))
        _order_ppr(ppr)

    def table(self, xml: str) -> Table:
        tbl = parse_xml(xml)
        self.doc.element.body.sectPr.addprevious(tbl)
        return Table(tbl, self.doc._body)


def red_header(w: Writer, mark: str, doc_number: str | None, color: str) -> None:
    """版头: 发文机关标志 35 mm below the text block's top, 发文字号 two lines down, red line under it.
    Without a 发文字号 the red line sits under the 标志 itself: no empty lines where a number would be.
    On an office's own template the template's 版头 stands instead; only its {{发文字号}} is filled."""
    lh = getattr(w.doc, "_gw_letterhead", None)
    if lh is not None:
        lh.write_number(doc_number or "")
        return
    p = w.para(mark, "GwMark")
    size = w.doc.styles["发文机关标志"].font.size
    fit = TEXT_WIDTH_MM * 72 / 25.4 / max(text_width_chars(mark), 1)  # one line across the text block at most
    if size is not None and size.pt > fit:  # a long name, or one marked （演示）: smaller, never wrapped
        p.runs[0].font.size = Pt(int(fit * 2) / 2)
    p.paragraph_format.space_before = Pt(35 * 72 / 25.4 - 6)
    if doc_number:
        w.blank(1)
        number = w.para(doc_number, "GwDocNumber")
    else:
        number = p
    ppr = number._p.get_or_add_pPr()
    ppr.append(parse_xml(
        f'<w:pBdr {nsdecls("w")}><w:bottom w:val="single" w:sz="12" w:space="11" w:color="{color}"/></w:pBdr>'))
    _order_ppr(ppr)


def signature(w: Writer, name: str, when: str, seal: bool) -> None:
    """署名 and 成文日期 (GB/T 9704 7.3.5): with a seal the date is 4 characters in from the right
    and the name centred on it; without, the name 2 in and the date 2 further right than the name.
    They keep together with what precedes them (the 附件说明 and the last lines of the body), so
    the date never stands alone on a page."""
    name_w, date_w = text_width_chars(name), text_width_chars(when)
    if seal:
        blanks = 2
        date_right = 4.0
        name_right = max(0.0, date_right + (date_w - name_w) / 2)
    else:
        blanks = 1
        name_right = 2.0
        date_right = max(0.0, name_right + name_w - 2 - date_w)
    keep_previous_with_next(w)
    for _ in range(blanks):
        w.para("", "GwFlush").paragraph_format.keep_with_next = True
    p = w.para(name, "GwFlush")
    w.indent_right(p, name_right)
    p.paragraph_format.keep_with_next = True
    w.indent_right(w.para(when, "GwFlush"), date_right)


def keep_previous_with_next(w: Writer, n: int = 1) -> None:
    """Keep the last `n` paragraphs written with what comes next."""
    body = w.doc.element.body
    paras = [el for el in body.iterchildren(qn("w:p"))][-n:]
    for el in paras:
        Paragraph(el, w.doc._body).paragraph_format.keep_with_next = True


def cell_xml(text: str | None, width: int, style: str, font: str, align: str = "center", size_pt: float | None = None,
             merge: str | None = None, keep_next: bool = False) -> str:
    """One table cell with its width, style and the font named in every slot of its runs.

    `size_pt` overrides the style's size (a wide table in 五号); `merge` is "restart" for the top
    cell of a vertical merge and "continue" for the cells it covers (their text is ignored)."""
    vmerge = {"restart": '<w:vMerge w:val="restart"/>', "continue": "<w:vMerge/>"}.get(merge or "", "")
    size = f'<w:sz w:val="{round(size_pt * 2)}"/><w:szCs w:val="{round(size_pt * 2)}"/>' if size_pt else ""
    jc = "" if align == "center" else f'<w:jc w:val="{align}"/>'
    keep = "<w:keepNext/>" if keep_next else ""
    if merge == "continue" or text is None:
        body = ""
    else:
        lines = escape(text).split("\n")
        runs = '<w:br/>'.join(f'<w:t xml:space="preserve">{line}</w:t>' for line in lines)
        body = f'<w:r><w:rPr>{rfonts_xml(font)}{size}</w:rPr>{runs}</w:r>'
    return (
        f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/>{vmerge}<w:vAlign w:val="center"/></w:tcPr>'
        f'<w:p><w:pPr><w:pStyle w:val="{style}"/>{keep}{jc}</w:pPr>{body}</w:p></w:tc>'
    )


def table_xml(widths_mm: Sequence[float], header: Sequence[str], rows: Iterable[Sequence[str | None]], fonts: Fonts,
              aligns: Sequence[str] | None = None, border_sz: int = 4, split_rows: bool = False,
              row_height_mm: float = 7, size_pt: float | None = None, keep_end: bool = False) -> str:
    """A fixed-layout table as one XML string: built as text, parsed once, fast at 10 000 rows.

    The header row repeats on every page (w:tblHeader); rows never split across pages unless
    `split_rows`. A cell given as None continues the cell above it (a vertical merge), as a task
    with several lead units shows its name once."""
    widths = [round(mm * TWIPS_PER_MM) for mm in widths_mm]
    aligns = list(aligns or ["center"] * len(widths))
    head = "".join(cell_xml(h, wd, "GwTableHeader", fonts.table_header, size_pt=size_pt) for h, wd in zip(header, widths))
    out = [
        f'<w:tbl {nsdecls("w")}><w:tblPr><w:tblW w:w="{sum(widths)}" w:type="dxa"/><w:jc w:val="center"/>'
        '<w:tblBorders>'
        + "".join(f'<w:{b} w:val="single" w:sz="{border_sz}" w:space="0" w:color="000000"/>'
                  for b in ("top", "left", "bottom", "right", "insideH", "insideV"))
        + '</w:tblBorders><w:tblLayout w:type="fixed"/>'
        '<w:tblCellMar><w:left w:w="57" w:type="dxa"/><w:right w:w="57" w:type="dxa"/></w:tblCellMar>'
        '<w:tblLook w:val="0000" w:firstRow="0" w:lastRow="0" w:firstColumn="0" w:lastColumn="0"'
        ' w:noHBand="1" w:noVBand="1"/></w:tblPr><w:tblGrid>'
        + "".join(f'<w:gridCol w:w="{wd}"/>' for wd in widths)
        + f'</w:tblGrid><w:tr><w:trPr><w:cantSplit/><w:tblHeader/></w:trPr>{head}</w:tr>'
    ]
    body_font = fonts.table
    tr = "<w:tr><w:trPr>" + ("" if split_rows else "<w:cantSplit/>") + \
        f'<w:trHeight w:val="{round(row_height_mm * TWIPS_PER_MM)}" w:hRule="atLeast"/></w:trPr>'
    rows = list(rows)
    for i, row in enumerate(rows):
        out.append(tr)
        below = rows[i + 1] if i + 1 < len(rows) else None
        keep = (below is not None and any(v is None for v in below)) or (below is None and keep_end)
        for j, (v, wd, al) in enumerate(zip(row, widths, aligns)):
            if v is None:
                merge = "continue"
            elif below is not None and j < len(below) and below[j] is None:
                merge = "restart"
            else:
                merge = None
            out.append(cell_xml(None if v is None else str(v), wd, "GwTable", body_font, al, size_pt, merge, keep))
        out.append("</w:tr>")
    out.append("</w:tbl>")
    return "".join(out)


# ---- fitting a table to the page ----------------------------------------------------------

PT_MM = 25.4 / 72
CELL_PAD_MM = 2.6  # cell margins (2 × 1 mm) and a little air
HEADER_WRAP_CHARS = 4.0  # a long header line wraps; a short one (“（30分）”) must not


def printed_width(text: str) -> float:
    """Width in characters as a CJK font prints it: ASCII a little over ½, everything else 1
    (full-width punctuation, circled numbers, arrows and CJK alike), plus the ¼ character Word and
    LibreOffice put between Asian and Latin text."""
    width, last = 0.0, None
    for c in text:
        latin = ord(c) < 0x2000
        width += 0.56 if latin else 1.0
        if last is not None and latin != last and not c.isspace():
            width += 0.25
        last = latin
    return width


def natural_width_mm(texts: Iterable[str | None], size_pt: float, header: bool = False) -> float:
    """The width the longest line of any text needs; a header line longer than 5½ characters may
    wrap to HEADER_WRAP_CHARS."""
    def need(line: str) -> float:
        w = printed_width(line)
        return min(w, HEADER_WRAP_CHARS) if header and w > 5.5 else w

    widest = max((need(line) for t in texts if t for line in str(t).split("\n")), default=1.0)
    return widest * size_pt * PT_MM + CELL_PAD_MM


def fit_widths(header: Sequence[str], rows: Sequence[Sequence[str | None]], size_pt: float, text_mm: float,
               flex: Sequence[int], min_flex_chars: float = 4.0, comfortable_chars: float | None = None) -> list[float] | None:
    """Column widths (mm) that fill `text_mm`: every column at its natural width except the `flex`
    columns (names, reasons), which wrap and share what is left. A flex column may not be narrower
    than `min_flex_chars` characters, or — with `comfortable_chars` — than its own text or that many
    characters, whichever is less. None when the table does not fit so."""
    cols = range(len(header))
    natural = [max(natural_width_mm([header[c]], size_pt, header=True), natural_width_mm([r[c] for r in rows], size_pt))
               for c in cols]
    char_mm = size_pt * PT_MM
    floors = {c: (min(natural[c], comfortable_chars * char_mm + CELL_PAD_MM) if comfortable_chars
                  else min_flex_chars * char_mm + CELL_PAD_MM) for c in flex}
    fixed = sum(natural[c] for c in cols if c not in flex)
    left = text_mm - fixed
    if left < sum(floors.values()) - 1e-6:
        return None
    widths = list(natural)
    if flex:
        for c, w in zip(flex, _share(left, [natural[c] for c in flex], [floors[c] for c in flex])):
            widths[c] = w
    spare = text_mm - sum(widths)
    if spare > 1e-6:  # a wide page: spread the rest over the other columns
        others = [c for c in cols if c not in flex] or list(cols)
        for c in others:
            widths[c] += spare / len(others)
    return [round(w, 2) for w in widths]


def _share(total: float, wants: list[float], floors: list[float]) -> list[float]:
    """Split `total` over columns wanting `wants`: each gets at most what it wants, at least its floor."""
    if sum(wants) <= total:
        return wants
    rest = total - sum(floors)
    need = [max(0.0, w - f) for w, f in zip(wants, floors)]
    scale = rest / sum(need) if sum(need) else 0
    return [f + x * scale for f, x in zip(floors, need)]


def imprint(w: Writer, cc: str | None, cc_label: str, printer: str, printed: str) -> None:
    """版记 on its own last page, at the foot of the text block, between full-width rules, with no
    page number.

    The last section's footers (odd and even) hold the 版记 instead of a page number, with the
    footer distance equal to the bottom margin: the lower rule sits on the text block's bottom
    edge, in Word and LibreOffice alike (LibreOffice ignores a section's w:vAlign=bottom)."""
    w.doc.add_section(WD_SECTION.NEW_PAGE)
    breaker = w.doc.paragraphs[-1]  # holds the previous section's sectPr: keep it one hair high
    breaker.style = w.doc.styles["版记"]
    breaker.paragraph_format.line_spacing = Pt(1)
    section = w.doc.sections[-1]
    if section.orientation == WD_ORIENT.LANDSCAPE:  # after a landscape attachment table
        section.orientation = WD_ORIENT.PORTRAIT
        _portrait(w.doc, section)
    templated = getattr(w.doc, "_gw_letterhead", None) is not None
    section.footer_distance = section.bottom_margin if templated else Mm(MARGINS_MM["bottom"])
    width = (section.page_width - section.left_margin - section.right_margin) / 36000 if templated else TEXT_WIDTH_MM
    xml = imprint_xml(w.fonts.body, cc, cc_label, printer, printed, width)
    for footer in (section.footer, section.even_page_footer):
        footer.is_linked_to_previous = False
        tail = footer.paragraphs[0]
        tail.style = w.doc.styles["版记"]
        tail.paragraph_format.line_spacing = Pt(1)
        tail._p.addprevious(parse_xml(xml))


def imprint_xml(font: str, cc: str | None, cc_label: str, printer: str, printed: str,
                text_width_mm: float = TEXT_WIDTH_MM) -> str:
    """The 版记 table: outer rules 0.35 mm (sz 8 = 1 pt), inner rule 0.25 mm (sz 6 = ¾ pt); 抄送
    one character in with a hanging indent; 印发机关 left and 印发日期 right, one character in."""
    width = round(text_width_mm * TWIPS_PER_MM)
    one = IMPRINT_PT * 20
    rows = []
    if cc:
        label_w = text_width_chars(cc_label)
        rows.append(
            f'<w:p><w:pPr><w:pStyle w:val="GwImprint"/><w:ind w:left="{round((label_w + 1) * one)}"'
            f' w:right="{one}" w:hanging="{round(label_w * one)}"/></w:pPr>'
            f'<w:r><w:rPr>{rfonts_xml(font)}</w:rPr><w:t xml:space="preserve">{escape(cc_label + cc)}</w:t></w:r></w:p>'
        )
    rows.append(
        f'<w:p><w:pPr><w:pStyle w:val="GwImprint"/><w:tabs><w:tab w:val="right" w:pos="{width - 2 * one}"/></w:tabs>'
        f'<w:ind w:left="{one}"/></w:pPr>'
        f'<w:r><w:rPr>{rfonts_xml(font)}</w:rPr><w:t xml:space="preserve">{escape(printer)}</w:t>'
        f'<w:tab/><w:t xml:space="preserve">{escape(printed)}</w:t></w:r></w:p>'
    )
    trs = []
    for i, p in enumerate(rows):
        top = 8 if i == 0 else 6
        bottom = 8 if i == len(rows) - 1 else 6
        trs.append(
            f'<w:tr><w:trPr><w:cantSplit/><w:trHeight w:val="{round(one * 1.9)}" w:hRule="atLeast"/></w:trPr>'
            f'<w:tc><w:tcPr><w:tcW w:w="{width}" w:type="dxa"/>'
            f'<w:tcBorders><w:top w:val="single" w:sz="{top}" w:space="0" w:color="000000"/>'
            f'<w:bottom w:val="single" w:sz="{bottom}" w:space="0" w:color="000000"/></w:tcBorders>'
            f'<w:vAlign w:val="center"/></w:tcPr>{p}</w:tc></w:tr>'
        )
    return (
        f'<w:tbl {nsdecls("w")}><w:tblPr><w:tblW w:w="{width}" w:type="dxa"/><w:jc w:val="center"/>'
        '<w:tblBorders><w:top w:val="nil"/><w:left w:val="nil"/><w:bottom w:val="nil"/><w:right w:val="nil"/>'
        '<w:insideH w:val="nil"/><w:insideV w:val="nil"/></w:tblBorders><w:tblLayout w:type="fixed"/>'
        '<w:tblCellMar><w:left w:w="0" w:type="dxa"/><w:right w:w="0" w:type="dxa"/></w:tblCellMar></w:tblPr>'
        f'<w:tblGrid><w:gridCol w:w="{width}"/></w:tblGrid>{"".join(trs)}</w:tbl>'
    )


def _core_text(text: str, limit: int = 255) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def set_core(doc: DocumentObject, title: str, author: str, when: datetime) -> None:
    """Fixed core properties so the same scores give the same bytes."""
    cp = doc.core_properties
    title, author = _core_text(title), _core_text(author)  # python-docx refuses more than 255 characters
    cp.title, cp.author, cp.last_modified_by = title, author, author
    cp.created = cp.modified = when
    cp.revision = 1
    cp.comments = cp.keywords = cp.subject = cp.category = ""


def to_bytes(doc: DocumentObject) -> bytes:
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()
