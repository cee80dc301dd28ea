"""整改通知: one document per unit with a deduction or a veto, in the notification's format.

One Document object is reused for every unit (its body cleared between units): styles, footers
and settings are built once, so a notice costs one body and one save.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
from docx.oxml.ns import qn

from . import summary
from .docformat import (
    CELL_PAD_MM, PT_MM, TABLE_PT, TEXT_WIDTH_MM, Fonts, Writer, chinese_date, fit_widths, natural_width_mm, office_document,
    red_header, set_core, signature, table_xml, to_bytes,
)
from .layout import SMALL_TABLE_PT
from .office import context, demo_line, doc_number, fill, fixed_time, fmt
from .titles import title_keep, write_title
from .reproducible import write_package
from ..values import INVISIBLE

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f-\x9f]')
NAME_CHARS = 80  # of the unit name in a file name
ID_CHARS = 40
FILE_BYTES = 200  # a file name stays well under the 255 bytes file systems allow, in UTF-8


def safe_name_part(text: str, limit: int) -> str:
    """A piece of a file name: no path separators, control or invisible characters, at most `limit` characters."""
    text = _UNSAFE.sub("_", INVISIBLE.sub("", str(text)))  # a right-to-left override would make a file list lie
    return text[:limit]


def notice_file_name(unit_id: str, unit_name: str) -> str:
    """<unit_id>-<unit_name>.docx: characters Windows refuses replaced, invisible ones dropped, bounded.

    The id keeps two notices apart (ids are unique); a name cut short, or an id cut short, gets a
    short hash of the whole "<id>-<name>" so that two long names never share one file."""
    full = f"{unit_id}-{unit_name}"
    uid, name = safe_name_part(unit_id, ID_CHARS), safe_name_part(unit_name, NAME_CHARS)
    stem = f"{uid}-{name}"
    while len(stem.encode("utf-8")) > FILE_BYTES:
        name = name[:-1]
        stem = f"{uid}-{name}"
    if uid != str(unit_id) or name != safe_name_part(unit_name, len(str(unit_name)) + 1):
        stem += "-" + hashlib.sha256(full.encode("utf-8")).hexdigest()[:8]
    return stem.strip(" .") + ".docx"


def units_with_notices(unit_scores: pd.DataFrame, line_items: pd.DataFrame) -> pd.DataFrame:
    """Units that lost points for a finding or were vetoed, in unit-id order."""
    hit = set(summary.deductions(line_items)["unit_id"])
    mask = unit_scores["unit_id"].isin(hit) | unit_scores["vetoed"].astype(bool)
    return unit_scores[mask].sort_values("unit_id", kind="mergesort")


def _event_dates(events: pd.DataFrame | None) -> dict[str, str]:
    """event_id → 2023年2月14日 (the 公文 date style, in tables too)."""
    if events is None or events.empty or "date" not in events:
        return {}
    dates = pd.to_datetime(events["date"], errors="coerce")
    return {str(e): chinese_date(d) for e, d in zip(events["event_id"], dates) if pd.notna(d)}


def _event_sources(events: pd.DataFrame | None) -> dict[str, str]:
    """event_id → 来源 (抽查, 日常监测 …), for the veto evidence a notice names."""
    if events is None or events.empty or "source" not in events:
        return {}
    return {str(e): str(s) for e, s in zip(events["event_id"], events["source"]) if isinstance(s, str) and s.strip()}


def notice_office(office: dict) -> dict:
    """The settings a notice is written with: its own 报送期限 wording (“收到本通知之日起…”, never
    the 通报's “收到本通报之日起…”), from the `notice:` block where it gives one."""
    cfg = office.get("notice") or {}
    out = dict(office)
    for key in ("due_date_text", "due_by", "due_by_text"):
        if cfg.get(key):
            out[key] = cfg[key]
    return out


def notice_doc_number(fw: Any, office: dict) -> str:
    """发文字号 of a notice: `notice.doc_number` (a dict like the office's doc_number, merged over
    it; false: none), else the office's 代字 and year with the number left blank — every notice is
    numbered by the office when it is sent, so the 通报's number is never repeated on them."""
    spec = (office.get("notice") or {}).get("doc_number")
    if spec is False:
        return ""
    base = {**(office.get("doc_number") or {}), "number": None}
    return doc_number(fw, {**office, "doc_number": {**base, **(spec or {})}})


VETO_COLUMNS = ["序号", "否决事项", "日期", "证据编号", "来源", "说明及依据"]


def _ids(evidence_ids: Any) -> list[str]:
    return [x.strip() for x in str(evidence_ids or "").split(";") if x.strip()]


# the 指标 (and 来源) columns wrap at a few characters; 说明及依据, last, takes the rest
NOTICE_FLEX = (1, 5)
VETO_FLEX = (1, 4, 5)
NOTICE_SIDE_CHARS = 6.0  # 指标, 来源: at most this wide (narrower when their text is)
NOTICE_MAIN = ((TABLE_PT, 14.0), (SMALL_TABLE_PT, 12.0))  # 说明及依据 at least so many characters, at 小四, else 五号


def main_column_widths(header: list[str], rows: list[list[str]], size_pt: float, flex: tuple[int, ...],
                       side_chars: float, main_chars: float) -> list[float] | None:
    """Widths (mm) filling the text block: fixed columns at their natural width, the side text
    columns at most `side_chars` characters, the last flex column the rest — None when that rest is
    under `main_chars` characters (the caller tries a smaller size)."""
    char_mm = size_pt * PT_MM
    cols = range(len(header))
    natural = [max(natural_width_mm([header[c]], size_pt, header=True), natural_width_mm([r[c] for r in rows], size_pt))
               for c in cols]
    main, sides = flex[-1], flex[:-1]
    widths = [min(natural[c], side_chars * char_mm + CELL_PAD_MM) if c in sides else natural[c] for c in cols]
    rest = TEXT_WIDTH_MM - sum(w for c, w in enumerate(widths) if c != main)
    if rest < main_chars * char_mm + CELL_PAD_MM:
        return None
    widths[main] = rest
    return [round(w, 2) for w in widths]


class NoticeWriter:
    """Writes the notices of one run; build once, call `write` per unit."""

    def __init__(self, fw: Any, office: dict, events: pd.DataFrame | None, period: str | None, n_units: int):
        self.fw, self.office, self.period = fw, office, period
        self.fonts = Fonts.from_office(office)
        self.doc = office_document(office, self.fonts)
        self.writer = Writer(self.doc, self.fonts)
        self.ctx = context(fw, notice_office(office), period, n_units)
        self.number = notice_doc_number(fw, office)
        self.dates = _event_dates(events)
        self.sources = _event_sources(events)
        self.when = fixed_time(fw, office)

    def _clear(self) -> None:
        if getattr(self.doc, "_gw_letterhead", None) is not None:  # an office template: a fresh copy brings its 版头 back
            self.doc = office_document(self.office, self.fonts)
            self.writer = Writer(self.doc, self.fonts)
            return
        body = self.doc.element.body
        for child in list(body):
            if child.tag != qn("w:sectPr"):
                body.remove(child)

    def rows(self, lines: pd.DataFrame) -> Iterator[list[str]]:
        for seq, line in enumerate(lines.itertuples(), start=1):
            node = self.fw.nodes.get(line.indicator)
            ids = _ids(line.evidence_ids)
            dates = [self.dates.get(i, "—") for i in ids]  # line k of both cells is one event
            yield [
                str(seq),
                f"{line.indicator} {node.name}" if node is not None else str(line.indicator),
                fmt(line.points),
                "\n".join(dates) or "—",
                "\n".join(ids) or "—",
                self.detail(str(line.explanation or ""), getattr(node, "basis", None) if node is not None else None),
            ]

    def veto_rows(self, lines: pd.DataFrame) -> list[list[str]]:
        """The veto evidence: each veto line's item, and per evidence row its date, id and 来源."""
        out = []
        for seq, line in enumerate(lines.itertuples(), start=1):
            node = self.fw.nodes.get(line.indicator)
            ids = _ids(line.evidence_ids)
            out.append([
                str(seq),
                f"{line.indicator} {node.name}" if node is not None else str(line.indicator),
                "\n".join(self.dates.get(i, "—") for i in ids) or "—",
                "\n".join(ids) or "—",
                "\n".join(self.sources.get(i, "—") for i in ids) or "—",
                self.detail(str(line.explanation or ""), getattr(node, "basis", None) if node is not None else None),
            ])
        return out

    def table(self, header: list[str], rows: list[list[str]], aligns: list[str], flex: tuple[int, ...] = NOTICE_FLEX,
              keep_end: bool = False) -> str:
        """A notice table whose date, id and 来源 columns are as wide as their longest entry (an id
        such as LS2023-008 never breaks inside; its text stays exactly as in the evidence, so it
        can be searched and copied), rows that never split across pages, the header repeated.
        The last `flex` column (说明及依据, the long one) gets what the others leave, so rows stay
        short enough that an unsplittable row does not push the table off a half-empty page."""
        widths, size = None, SMALL_TABLE_PT
        for size, main_chars in NOTICE_MAIN:
            widths = main_column_widths(header, rows, size, flex, NOTICE_SIDE_CHARS, main_chars)
            if widths is not None:
                break
        if widths is None:  # very wide ids or dates: the shared fitting, down to narrow text columns
            for size, floor, comfortable in ((SMALL_TABLE_PT, 5.0, None), (SMALL_TABLE_PT, 3.0, None)):
                widths = fit_widths(header, rows, size, TEXT_WIDTH_MM, flex, floor, comfortable)
                if widths is not None:
                    break
        widths = widths or [TEXT_WIDTH_MM / len(header)] * len(header)  # an id wider than the page
        # keep_end: the last row keeps with the line under the table (以上合计…), which keeps with the
        # signature, so the signature's page holds a row of the table as well
        return table_xml(widths, header, rows, self.fonts, aligns, split_rows=False,
                         size_pt=None if size == TABLE_PT else size, keep_end=keep_end)

    def detail(self, explanation: str, basis: str | None) -> str:
        cfg = self.office["notice"]
        explanation = summary.chinese_dates(explanation)
        if basis:
            return fill(cfg["detail"], self.ctx, explanation=explanation, basis=str(basis).strip()).replace("\\n", "\n")
        return fill(cfg["detail_no_basis"], self.ctx, explanation=explanation)

    def build(self, unit: Any, lines: pd.DataFrame, vetoes: pd.DataFrame | None = None) -> bytes:
        """One unit's notice as .docx bytes (not yet normalised). `vetoes`: the unit's veto lines."""
        self._clear()
        w, cfg, ctx = self.writer, self.office["notice"], self.ctx
        title = fill(cfg["title"], ctx, unit=unit.unit_name)
        red_header(w, self.office["mark"], self.number, self.office.get("mark_color", "FF0000"))
        w.blank(2)
        write_title(w, title, keep=title_keep(self.office, ctx, str(unit.unit_name)))
        w.blank(1)
        w.para(f"{unit.unit_name}：", "GwFlush")
        if demo_line(self.office, ctx):  # demo data: said under the addressee, as in the 通报
            w.para(demo_line(self.office, ctx))
        if bool(unit.vetoed):
            w.para(fill(cfg["opening_vetoed"], ctx, reasons=summary.quoted(summary.veto_reason_text(self.fw, unit.veto_reasons)),
                        grade=unit.grade))
            if vetoes is not None and len(vetoes):
                intro = w.para(fill(cfg.get("veto_intro", "单项否决事项及证据如下："), ctx))
                intro.paragraph_format.keep_with_next = True  # never left at a page's foot without its table
                w.table(self.table(list(cfg.get("veto_columns") or VETO_COLUMNS), self.veto_rows(vetoes),
                                   ["center", "left", "center", "center", "left", "left"], VETO_FLEX))
        else:
            w.para(fill(cfg["opening_scored"], ctx, total=fmt(unit.total), group=unit.unit_group,
                        rank=int(unit.rank), grade=unit.grade))
        if lines.empty:
            w.para(fill(cfg["no_deductions"], ctx))
        else:
            aligns = ["center", "left", "center", "center", "center", "left"]
            w.table(self.table(list(cfg["columns"]), list(self.rows(lines)), aligns, keep_end=True))
            w.para(fill(cfg["total"], ctx, points=fmt(-lines["points"].sum())))
        signature(w, self.office.get("signature") or self.office["issuer"], ctx["date_text"],
                  bool(self.office.get("seal", True)))
        set_core(self.doc, title, self.office["issuer"], self.when)
        return to_bytes(self.doc)

    def write(self, unit: Any, lines: pd.DataFrame, folder: Path, vetoes: pd.DataFrame | None = None) -> Path:
        return write_package(folder / notice_file_name(str(unit.unit_id), str(unit.unit_name)),
                             self.build(unit, lines, vetoes), self.when)


def write_notices(fw: Any, unit_scores: pd.DataFrame, line_items: pd.DataFrame, events: pd.DataFrame | None,
                  folder: Path, office: dict, period: str | None = None) -> dict[str, Path]:
    """Every unit's notice into `folder`; returns unit_id → path."""
    writer = NoticeWriter(fw, office, events, period, len(unit_scores))
    lines = summary.deductions(line_items).sort_values(["unit_id", "indicator", "rule"], kind="mergesort")
    by_unit = {u: part for u, part in lines.groupby("unit_id", sort=False)}
    veto_lines = line_items[line_items["kind"] == "veto"].sort_values(["unit_id", "indicator", "rule"], kind="mergesort")
    vetoes = {u: part for u, part in veto_lines.groupby("unit_id", sort=False)}
    empty = lines.iloc[0:0]
    out = {}
    for unit in units_with_notices(unit_scores, line_items).itertuples():
        out[str(unit.unit_id)] = writer.write(unit, by_unit.get(unit.unit_id, empty), folder, vetoes.get(unit.unit_id))
    return out
