"""The office's own Word template (红头文件): documents built on it instead of on a blank page.

An office names its template in templates/office.yaml (`letterhead: lianshui-letterhead.docx`,
a file inside templates/). The contract, also in the README:

- The body holds the office's 版头 — 发文机关标志, red line, anything else — followed by a paragraph
  that reads exactly ``{{正文}}``. Everything before that paragraph is kept as it is; the generated
  document (title, 主送机关, body, signature, attachments, 版记) takes the place of the marker.
  Nothing but empty paragraphs may follow the marker (it would be lost: refused instead).
- ``{{发文字号}}`` anywhere in the 版头 is replaced by the 发文字号 (empty in a notice). Without it no
  发文字号 is printed: the template's own 版头 decides. No other ``{{…}}`` is allowed.
- The template's page setup (size, margins, grid), headers and footers (page numbers), styles and
  settings are kept. Generated text uses the template's Normal font (East Asian, else its default
  font) for the body and tables; a style named as ours (公文正文, 公文标题, 公文一级标题, …) in the
  template is used as the template defines it, the others are added based on its Normal style.
  A template without footers gets the GB/T 9704 page numbers.
- For demo data, （演示） is appended to the first line of text of the 版头.

Reading the template is deterministic and the package is normalised like every other document
(fixed core times, zip dates), so the same template and scores give the same bytes.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from docx import Document
from docx.document import Document as DocumentObject
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph

from .office import OfficeError, templates_dir

BODY_MARKER = "{{正文}}"
NUMBER_MARKER = "{{发文字号}}"
MARKER = re.compile(r"\{\{[^{}]*\}\}")


def path_of(office: dict) -> Path | None:
    """The template file named by `letterhead`, checked: a .docx inside the templates folder that exists."""
    name = office.get("letterhead")
    if name in (None, ""):
        return None
    folder = templates_dir().resolve()
    given = Path(str(name))
    if given.parts[:1] == ("templates",):  # “templates/x.docx”, as the README's examples say it
        given = Path(*given.parts[1:])
    path = (folder / given).resolve()
    if given.is_absolute() or not path.is_relative_to(folder):
        raise OfficeError(f"公文模板 letterhead 只能是模板目录 {folder} 中的文件：{name}",
                          f"the letterhead must be a file inside the templates folder {folder}: {name}", "letterhead")
    if path.suffix.lower() != ".docx":
        raise OfficeError(f"公文模板 letterhead 应为 .docx 文件：{name}", f"the letterhead must be a .docx file: {name}", "letterhead")
    if not path.is_file():
        raise OfficeError(f"公文模板 letterhead 不存在：{path}", f"letterhead file not found: {path}", "letterhead")
    return path


@lru_cache(maxsize=8)
def _read(path: str, mtime_ns: int, size: int) -> bytes:
    return Path(path).read_bytes()


def _load(path: Path) -> DocumentObject:
    import io

    st = path.stat()
    try:
        return Document(io.BytesIO(_read(str(path), st.st_mtime_ns, st.st_size)))
    except Exception as exc:  # not a Word document: one clear line
        raise OfficeError(f"公文模板 {path.name} 不是可读取的 Word 文档：{type(exc).__name__}",
                          f"the letterhead {path.name} is not a readable Word document", "letterhead") from None


def body_font(path: Path) -> str | None:
    """The template's body font: its Normal style's East Asian font, else the document default's."""
    doc = _load(path)
    styles = doc.styles.element
    candidates = []
    normal = next((s for s in styles.iterfind(qn("w:style"))
                   if s.get(qn("w:type")) == "paragraph" and s.get(qn("w:default")) in ("1", "true")), None)
    if normal is not None:
        candidates.append(normal.find(qn("w:rPr")))
    defaults = styles.find(qn("w:docDefaults"))
    if defaults is not None:
        candidates.append(defaults.find(f"{qn('w:rPrDefault')}/{qn('w:rPr')}"))
    for rpr in candidates:
        fonts = rpr.find(qn("w:rFonts")) if rpr is not None else None
        if fonts is not None:
            for attr in ("w:eastAsia", "w:ascii", "w:hAnsi"):
                if fonts.get(qn(attr)):
                    return fonts.get(qn(attr))
    return None


class Letterhead:
    """The kept 版头 of one document built on the template: where the 发文字号 goes."""

    def __init__(self, number_paragraphs: list[Paragraph], sect_pr):
        self.number_paragraphs = number_paragraphs
        self.sect_pr = copy.deepcopy(sect_pr)  # the template's page set-up, for portrait sections after landscape ones

    def write_number(self, number: str) -> None:
        for p in self.number_paragraphs:
            _replace_text(p, NUMBER_MARKER, number)


def open_document(path: Path, demo_suffix: str | None = None) -> tuple[DocumentObject, Letterhead]:
    """The template with everything from the ``{{正文}}`` paragraph on removed; see the module docstring."""
    doc = _load(path)
    body = doc.element.body
    blocks = [c for c in body if c.tag != qn("w:sectPr")]
    texts = [_text(c) for c in blocks]
    at = [i for i, t in enumerate(texts) if t.strip() == BODY_MARKER]
    if len(at) != 1:
        raise OfficeError(f"公文模板 {path.name} 中应有且只有一个内容为 {BODY_MARKER} 的段落（生成的正文放在那里），现有 {len(at)} 个",
                          f"the letterhead {path.name} must hold exactly one paragraph reading {BODY_MARKER} (found {len(at)})",
                          "letterhead")
    after = [t for t in texts[at[0] + 1:] if t.strip()] + [
        "表格" for c in blocks[at[0] + 1:] if c.tag == qn("w:tbl")]
    if after:
        raise OfficeError(f"公文模板 {path.name} 中 {BODY_MARKER} 之后还有内容（“{after[0][:20]}”），生成时会丢失，请删去或移到其前",
                          f"the letterhead {path.name} has content after {BODY_MARKER}; it would be lost", "letterhead")
    unknown = sorted({m for t in texts[: at[0]] for m in MARKER.findall(t) if m not in (NUMBER_MARKER,)})
    if unknown:
        raise OfficeError(f"公文模板 {path.name} 中有未知的标记 {'、'.join(unknown)}（可用的标记为 {BODY_MARKER}、{NUMBER_MARKER}）",
                          f"unknown markers in the letterhead {path.name}: {', '.join(unknown)}", "letterhead")
    for c in blocks[at[0]:]:
        body.remove(c)
    head = [Paragraph(c, doc._body) for c in blocks[: at[0]] if c.tag == qn("w:p")]
    numbered = [p for p in head if NUMBER_MARKER in p.text]
    if demo_suffix:
        first = next((p for p in head if p.text.strip() and NUMBER_MARKER not in p.text), None)
        if first is not None:
            _append_text(first, demo_suffix)
    sect = body.find(qn("w:sectPr"))
    for attr in list(sect.attrib):  # rsids: the template's editing history, not part of the page set-up
        del sect.attrib[attr]
    return doc, Letterhead(numbered, sect)


def _text(el) -> str:
    return "".join(t.text or "" for t in el.iter(qn("w:t")))


def _replace_text(p: Paragraph, marker: str, value: str) -> None:
    """Put the marker's value in the paragraph: the text lands in the first run (its formatting kept),
    whatever runs Word split the marker into."""
    runs = p.runs
    if not runs:
        return
    text = p.text.replace(marker, value)
    runs[0].text = text
    for r in runs[1:]:
        r._r.getparent().remove(r._r)


def _append_text(p: Paragraph, text: str) -> None:
    """A run after the paragraph's last one, formatted as it (（演示） in the 发文机关标志's red)."""
    last = p.runs[-1]
    new = copy.deepcopy(last._r)
    for child in list(new):
        if child.tag != qn("w:rPr"):
            new.remove(child)
    last._r.addnext(new)
    from docx.text.run import Run

    Run(new, p).text = text


def portrait_setup(doc: Any, section) -> bool:
    """Give `section` the template's page set-up (after a landscape attachment); False without a template."""
    lh = getattr(doc, "_gw_letterhead", None)
    if lh is None:
        return False
    sect = section._sectPr
    for tag in ("w:pgSz", "w:pgMar", "w:cols", "w:docGrid"):
        old = sect.find(qn(tag))
        new = lh.sect_pr.find(qn(tag))
        if new is None:
            continue
        if old is not None:
            old.addprevious(copy.deepcopy(new))
            sect.remove(old)
        else:
            sect.append(copy.deepcopy(new))
    return True
