"""Attachment pages (附件): where each annex starts, how wide its table is, and the 附件说明.

An annex opens on a new page with its label ("附件2") flush left on line 1 and its title centred on
line 3 (GB/T 9704-2012 8.3). A table too wide for the portrait text block at 小四 is set in 五号,
and past that on a landscape page (GB/T 9704-2012 10.1), chosen from the table's own text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from .docformat import (
    CHAR_TWIPS, LANDSCAPE_TEXT_WIDTH_MM, TABLE_PT, TEXT_WIDTH_MM, Writer, fit_widths, is_landscape,
    keep_previous_with_next, start_section, table_xml, text_width_chars,
)
from docx.shared import Twips

from .titles import write_title

SMALL_TABLE_PT = 10.5  # 五号


@dataclass(frozen=True)
class TableLayout:
    widths: list[float]
    size_pt: float
    landscape: bool
    header: list[str]

    def xml(self, w: Writer, rows: Sequence[Sequence[str | None]], aligns: Sequence[str],
            split_rows: bool = False, keep_end: bool = False) -> str:
        size = None if self.size_pt == TABLE_PT else self.size_pt
        return table_xml(self.widths, self.header, rows, w.fonts, aligns, split_rows=split_rows, size_pt=size,
                         keep_end=keep_end)


COMFORTABLE_CHARS = 8.0  # a name column this wide (or as wide as its longest name) reads without wrapping


def table_layout(header: Sequence[str], rows: Sequence[Sequence[str | None]], flex: Sequence[int],
                 min_flex_chars: float = 4.0, narrow_header: Sequence[str] | None = None) -> TableLayout:
    """The first that fits: portrait, then landscape (GB/T 9704-2012 10.1); within each, names on one
    line (小四, then 五号) before names wrapped (五号); the office's header before its narrow header
    (“30分” for “（30分）”)."""
    headers = [list(header)] + ([list(narrow_header)] if narrow_header else [])
    for landscape in (False, True):
        width = LANDSCAPE_TEXT_WIDTH_MM if landscape else TEXT_WIDTH_MM
        for comfortable, sizes in ((COMFORTABLE_CHARS, (TABLE_PT, SMALL_TABLE_PT)), (None, (SMALL_TABLE_PT,))):
            for size in sizes:  # where text must wrap anyway, 五号 wraps it less
                for h in headers:
                    widths = fit_widths(h, rows, size, width, flex, min_flex_chars, comfortable)
                    if widths is not None:
                        return TableLayout(widths, size, landscape, h)
    # nothing fits: landscape 五号, the flexible columns squeezed (the office should trim columns)
    h = headers[-1]
    widths = fit_widths(h, rows, SMALL_TABLE_PT, LANDSCAPE_TEXT_WIDTH_MM, flex, 1.0) or \
        [LANDSCAPE_TEXT_WIDTH_MM / len(h)] * len(h)
    return TableLayout(widths, SMALL_TABLE_PT, True, h)


def open_annex(w: Writer, label: str, title: str, landscape: bool = False) -> None:
    """A new page (or a new section when the orientation changes), the label, the title."""
    if landscape != is_landscape(w):
        start_section(w, landscape)
        w.para(label, "GwAnnexLabel")
    else:
        w.page_break_before(w.para(label, "GwAnnexLabel"))
    w.blank(1)
    write_title(w, title, landscape=landscape)
    w.blank(1)


@dataclass
class Annex:
    """One attachment: its title (for the 附件说明 and its page) and how to draw it."""

    title: str
    render: Callable[[Writer, str, str], None]  # (writer, label such as 附件2, title)
    key: str = ""


def annex_labels(annexes: Sequence[Annex], label: str = "附件") -> list[str]:
    """附件 alone, or 附件1, 附件2 … when there are several."""
    return [label] if len(annexes) == 1 else [f"{label}{i}" for i in range(1, len(annexes) + 1)]


def annex_ref(annexes: Sequence[Annex], key: str, label: str = "附件") -> str:
    """How the body refers to an annex: 附件 or 附件3."""
    for lab, a in zip(annex_labels(annexes, label), annexes):
        if a.key == key:
            return lab
    return label


def annex_note(w: Writer, annexes: Sequence[Annex], note_pattern: Callable[[str], str]) -> None:
    """附件说明 (GB/T 9704-2012 7.3.4): “附件：1.…”, later titles numbered 2. 3. …, and a title
    that runs over a line continues under its own first character."""
    keep_previous_with_next(w)  # the last lines of the body go with the 附件说明 and the signature
    w.para("", "GwFlush").paragraph_format.keep_with_next = True
    if not annexes:
        return
    lead = note_pattern("")  # 附件：
    many = len(annexes) > 1
    for i, a in enumerate(annexes, start=1):
        number = f"{i}." if many else ""
        text = note_pattern(number + a.title) if i == 1 else number + a.title
        hang = text_width_chars((lead if i == 1 else "") + number)
        p = w.para(text)  # the first line starts 2 characters in; “2.” stands under “1.”
        p.paragraph_format.left_indent = Twips(round((2 + text_width_chars(lead + number)) * CHAR_TWIPS))
        p.paragraph_format.first_line_indent = Twips(-round(hang * CHAR_TWIPS))
        p.paragraph_format.keep_with_next = True


def render_annexes(w: Writer, annexes: Sequence[Annex], label: str = "附件") -> None:
    for lab, a in zip(annex_labels(annexes, label), annexes):
        a.render(w, lab, a.title)
