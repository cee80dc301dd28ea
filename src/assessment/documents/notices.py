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
from .docformat import TEXT_WIDTH_MM, Fonts, Writer, office_document, red_header, set_core, signature, table_xml, to_bytes
from .office import context, demo_line, fill, fixed_time, fmt
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
    if events is None or events.empty or "date" not in events:
        return {}
    dates = pd.to_datetime(events["date"], errors="coerce")
    return {str(e): f"{d.year}.{d.month}.{d.day}" for e, d in zip(events["event_id"], dates) if pd.notna(d)}


class NoticeWriter:
    """Writes the notices of one run; build once, call `write` per unit."""

    def __init__(self, fw: Any, office: dict, events: pd.DataFrame | None, period: str | None, n_units: int):
        self.fw, self.office, self.period = fw, office, period
        self.fonts = Fonts.from_office(office)
        self.doc = office_document(office, self.fonts)
        self.writer = Writer(self.doc, self.fonts)
        self.ctx = context(fw, office, period, n_units)
        self.dates = _event_dates(events)
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
            ids = [x.strip() for x in str(line.evidence_ids or "").split(";") if x.strip()]
            dates = [self.dates.get(i, "—") for i in ids]  # line k of both cells is one event
            yield [
                str(seq),
                f"{line.indicator} {node.name}" if node is not None else str(line.indicator),
                fmt(line.points),
                "\n".join(dates) or "—",
                "\n".join(ids) or "—",
                self.detail(str(line.explanation or ""), getattr(node, "basis", None) if node is not None else None),
            ]

    def detail(self, explanation: str, basis: str | None) -> str:
        cfg = self.office["notice"]
        if basis:
            return fill(cfg["detail"], self.ctx, explanation=explanation, basis=str(basis).strip()).replace("\\n", "\n")
        return fill(cfg["detail_no_basis"], self.ctx, explanation=explanation)

    def build(self, unit: Any, lines: pd.DataFrame) -> bytes:
        """One unit's notice as .docx bytes (not yet normalised)."""
        self._clear()
        w, cfg, ctx = self.writer, self.office["notice"], self.ctx
        title = fill(cfg["title"], ctx, unit=unit.unit_name)
        red_header(w, self.office["mark"], "", self.office.get("mark_color", "FF0000"))
        w.blank(2)
        w.para(title, "GwTitle")
        w.blank(1)
        w.para(f"{unit.unit_name}：", "GwFlush")
        if demo_line(self.office, ctx):  # demo data: said under the addressee, as in the 通报
            w.para(demo_line(self.office, ctx))
        if bool(unit.vetoed):
            w.para(fill(cfg["opening_vetoed"], ctx, reasons=summary.quoted(summary.veto_reason_text(self.fw, unit.veto_reasons)),
                        grade=unit.grade))
        else:
            w.para(fill(cfg["opening_scored"], ctx, total=fmt(unit.total), group=unit.unit_group,
                        rank=int(unit.rank), grade=unit.grade))
        if lines.empty:
            w.para(fill(cfg["no_deductions"], ctx))
        else:
            widths = [12.0, 34.0, 13.0, 22.0, 20.0]
            widths.append(TEXT_WIDTH_MM - sum(widths))
            aligns = ["center", "left", "center", "center", "center", "left"]
            w.table(table_xml(widths, cfg["columns"], self.rows(lines), self.fonts, aligns, split_rows=True))
            w.para(fill(cfg["total"], ctx, points=fmt(-lines["points"].sum())))
        signature(w, self.office.get("signature") or self.office["issuer"], ctx["date_text"],
                  bool(self.office.get("seal", True)))
        set_core(self.doc, title, self.office["issuer"], self.when)
        return to_bytes(self.doc)

    def write(self, unit: Any, lines: pd.DataFrame, folder: Path) -> Path:
        return write_package(folder / notice_file_name(str(unit.unit_id), str(unit.unit_name)),
                             self.build(unit, lines), self.when)


def write_notices(fw: Any, unit_scores: pd.DataFrame, line_items: pd.DataFrame, events: pd.DataFrame | None,
                  folder: Path, office: dict, period: str | None = None) -> dict[str, Path]:
    """Every unit's notice into `folder`; returns unit_id → path."""
    writer = NoticeWriter(fw, office, events, period, len(unit_scores))
    lines = summary.deductions(line_items).sort_values(["unit_id", "indicator", "rule"], kind="mergesort")
    by_unit = {u: part for u, part in lines.groupby("unit_id", sort=False)}
    empty = lines.iloc[0:0]
    out = {}
    for unit in units_with_notices(unit_scores, line_items).itertuples():
        out[str(unit.unit_id)] = writer.write(unit, by_unit.get(unit.unit_id, empty), folder)
    return out
