"""Title lines (GB/T 9704-2012 7.3.1: 回行时，要做到词意完整，排列对称，长短适宜，间距恰当).

A title longer than one line is broken by the program, not by the word processor: Word and
LibreOffice break Chinese anywhere (政务新/媒体, 工作考/核). The break points are word boundaries
found by jieba (its own dictionary, loaded once, in memory: no cache file, no log line), never
inside a name the document names (the unit, the issuer), a number with its 年/月/季度, or before
closing punctuation. Among the ways to set the title in the fewest lines, the most even one wins
(the smallest spread of line widths; on a tie, longer lines first — an inverted pyramid).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Sequence

from .docformat import LANDSCAPE_TEXT_WIDTH_MM, TEXT_WIDTH_MM, TITLE_PT, printed_width

CONDENSE_PT = 0.25  # the Normal style's character spacing, which titles inherit (docformat.CONDENSE_TWIPS)
NO_BREAK_BEFORE = set("，。、；：？！）》」』】〕”’%％·…—")
NO_BREAK_AFTER = set("（《「『【〔“‘")
# terms of the trade jieba's general dictionary splits (政务/新/媒体, 政府/网站): kept whole like names
TERMS = ("政务新媒体", "政府网站", "数字政府", "政务服务", "政务公开", "新媒体", "整改通知", "工作要点", "单项否决")
_NUMBER_UNIT = re.compile(r"[0-9０-９]+(?:年(?:度|第[一二三四]季度)?|月|日|季度|号|项|家|个|分)?|第[一二三四五六七八九十]+季度")


def line_chars(landscape: bool = False) -> float:
    """How many 2号 characters one title line holds: 156 mm / 21.75 pt ≈ 20.3 → 20 (portrait), 29 landscape."""
    width_pt = (LANDSCAPE_TEXT_WIDTH_MM if landscape else TEXT_WIDTH_MM) * 72 / 25.4
    return float(int(width_pt / (TITLE_PT - CONDENSE_PT)))


@lru_cache(maxsize=1)
def _tokenizer():
    """jieba's default dictionary, built in memory. `Tokenizer.initialize` would read or write a
    cache file in the temp folder (whose content then decides nothing, but is a file we did not
    ask for) and log to stderr; building the prefix dictionary ourselves does neither."""
    import jieba

    tok = jieba.Tokenizer()
    with tok.lock:
        tok.FREQ, tok.total = tok.gen_pfdict(tok.get_dict_file())
        tok.initialized = True
    return tok


def words(text: str) -> list[str]:
    """jieba's words of `text` (precise mode with its HMM for unknown words: deterministic)."""
    return list(_tokenizer().cut(text, HMM=True))


def break_points(text: str, keep: Iterable[str] = ()) -> list[int]:
    """Positions (0 < i < len) where a line may end: between jieba words, not inside a `keep`
    phrase or a term of the trade (TERMS), a number with its unit, not before closing or after opening punctuation."""
    bounds, pos = set(), 0
    for word in words(text):
        pos += len(word)
        bounds.add(pos)
    bounds.discard(len(text))
    blocked: set[int] = set()
    spans = [m.span() for m in _NUMBER_UNIT.finditer(text)]
    for phrase in sorted({str(k) for k in (*TERMS, *keep) if k and len(str(k)) > 1}):
        start = text.find(phrase)
        while start >= 0:
            spans.append((start, start + len(phrase)))
            start = text.find(phrase, start + 1)
    for a, b in spans:
        blocked.update(range(a + 1, b))
    ascii_run = [c.isascii() and c.isalnum() for c in text]
    out = []
    for i in sorted(bounds - blocked):
        if text[i] in NO_BREAK_BEFORE or text[i - 1] in NO_BREAK_AFTER:
            continue
        if ascii_run[i] and ascii_run[i - 1]:
            continue
        out.append(i)
    return out


def title_lines(text: str, keep: Iterable[str] = (), landscape: bool = False, capacity: float | None = None) -> list[str]:
    """The title as lines: fewest lines that fit, broken at word boundaries, most even widths.

    Worked example (20 characters a line): “泗洪县人民政府办公室关于2023年度政务新媒体监管工作考核结果的通报”
    (33 characters, 4 digits at about ½) fits two lines; the most even break at a word boundary is
    after 关于 → “泗洪县人民政府办公室关于” / “2023年度政务新媒体监管工作考核结果的通报”."""
    text = str(text)
    cap = capacity if capacity is not None else line_chars(landscape)
    if printed_width(text) <= cap or len(text) < 2:
        return [text]
    keep = [k for k in keep if printed_width(str(k)) <= cap]  # a name longer than a line must break: between its words
    cuts = [0] + break_points(text, keep) + [len(text)]
    n = len(cuts)

    def w(i: int, j: int) -> float:
        return printed_width(text[cuts[i]:cuts[j]])

    for n_lines in range(2, n):
        best = _best_split(n, n_lines, w, cap)
        if best is not None:
            return [text[cuts[a]:cuts[b]] for a, b in zip(best, best[1:])]
    return _forced(text, cap)  # no word boundary makes it fit (one endless word): break by width


def _best_split(n: int, n_lines: int, w, cap: float) -> list[int] | None:
    """Cut indices 0 = c0 < c1 < … < c_n_lines = n−1 minimising the squared deviation of line widths
    from their mean, each line ≤ cap; ties: longer earlier lines. Exhaustive over few cut points."""
    total = w(0, n - 1)
    mean = total / n_lines
    # dynamic programme over (lines used, cut index) → (cost, -widths for the tie, path)
    layer = {0: (0.0, (), [0])}
    for k in range(1, n_lines + 1):
        nxt: dict[int, tuple[float, tuple, list[int]]] = {}
        for i, (cost, tie, path) in layer.items():
            for j in range(i + 1, n):
                if k == n_lines and j != n - 1:
                    continue
                if k < n_lines and j == n - 1:
                    continue
                width = w(i, j)
                if width > cap + 1e-9:
                    break
                cand = (cost + (width - mean) ** 2, tie + (-width,), path + [j])
                if j not in nxt or cand[:2] < nxt[j][:2]:
                    nxt[j] = cand
        layer = nxt
        if not layer:
            return None
    return layer[n - 1][2] if n - 1 in layer else None


def _forced(text: str, cap: float) -> list[str]:
    lines, line = [], ""
    for c in text:
        if line and printed_width(line + c) > cap:
            lines.append(line)
            line = ""
        line += c
    return lines + ([line] if line else [])


def split_at_words(lines: Sequence[str], text: str) -> bool:
    """Whether the lines join to `text` and every line end is a jieba word boundary (for tests)."""
    if "".join(lines) != text:
        return False
    bounds, pos = set(), 0
    for word in words(text):
        pos += len(word)
        bounds.add(pos)
    ends = [sum(len(x) for x in lines[:i]) for i in range(1, len(lines))]
    return all(e in bounds for e in ends)


def write_title(w, text: str, keep: Iterable[str] = (), landscape: bool | None = None):
    """A 公文标题 paragraph (GwTitle) with the title's lines separated by line breaks (w:br): one
    paragraph, the words themselves unchanged, so the title copies and searches as written (a
    copied title gets a line break where the page has one, nothing else)."""
    from xml.sax.saxutils import escape

    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls
    from docx.text.paragraph import Paragraph

    from .docformat import is_landscape

    wide = is_landscape(w) if landscape is None else landscape
    lines = title_lines(text, keep, wide)
    runs = "<w:br/>".join(f'<w:t xml:space="preserve">{escape(line)}</w:t>' for line in lines)
    p = parse_xml(f'<w:p {nsdecls("w")}><w:pPr><w:pStyle w:val="GwTitle"/></w:pPr><w:r>{runs}</w:r></w:p>')
    w.doc.element.body.sectPr.addprevious(p)
    return Paragraph(p, w.doc._body)


def title_keep(office: dict, ctx: dict, *more: str) -> list[str]:
    """Names a title line may not break inside: the issuer, the jurisdiction, the period, and
    whatever the caller adds (the unit's name in a notice)."""
    return [str(x) for x in (office.get("issuer"), ctx.get("jurisdiction"), ctx.get("period_label"), *more) if x]
