"""The bad-evidence corpus: each case is the valid sihong fixture with ONE defect, made at test time.

A case is a row of a table — (id, mutation, what the message must name) — not a committed folder:
the mutation edits a copy of `tests/fixtures/sihong_small` (CSV) or of the same evidence saved as
one workbook (`evidence.xlsx`, made here with real date and number cells). Binary cases (a zip bomb,
a renamed file, a file in an unexpected encoding) are generated the same way.

`Where` lists what the refusal must point at, as `Problem.render()` writes it: the file, the sheet
(workbook cases), the row, the column and the offending value — each `None` where the defect has no
such place (a missing file has no row). Accepted cases (Excel serial dates, dates as text, full-width
digits, stray spaces) are read, normalised and *said*: they name the warning's rule and place.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import openpyxl
import pandas as pd

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"
SHEETS = {"units": "单位", "events": "事件", "facts": "指标事实"}
DATE_COLUMNS = ("date", "done_date")


@dataclass(frozen=True)
class Where:
    """The place a message must name; None where the defect has no such place."""

    file: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None
    rule: str | None = None


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Callable[[Path], None]
    where: Where
    accepted: bool = False  # normalised with a warning, exit 0 (validate only: nothing published)
    command: str = "run"  # "run" (the real publish path) or "validate"
    env: dict[str, str] = field(default_factory=dict)
    stage: str = "ingest"  # where the refusal comes from: the reader (ingest) or Great Expectations (validate)
    via: str = "inproc"  # "cli": a real `python -m assessment.cli` subprocess; "inproc": cli.main in a worker
    args: tuple[str, ...] = ()  # more command-line arguments (e.g. --no-events)


# ---- building evidence sets ---------------------------------------------------------------

def copy_fixture(dst: Path) -> Path:
    shutil.copytree(FIXTURE, dst)
    return dst


def _lines(raw: Path, table: str) -> list[str]:
    return (raw / f"{table}.csv").read_text(encoding="utf-8-sig").splitlines()


def edit_csv_cell(raw: Path, table: str, row: int, column: int, value: str) -> None:
    """Set one cell of a CSV (row as Excel counts: header = 1; column 0-based); no quoting needed here."""
    lines = _lines(raw, table)
    cells = lines[row - 1].split(",")
    cells[column] = value
    lines[row - 1] = ",".join(cells)
    (raw / f"{table}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def replace_in_csv(raw: Path, table: str, old: str, new: str) -> None:
    text = (raw / f"{table}.csv").read_text(encoding="utf-8-sig")
    assert old in text, (table, old)
    (raw / f"{table}.csv").write_text(text.replace(old, new, 1), encoding="utf-8")


def to_workbook(raw: Path) -> Path:
    """The CSV evidence in `raw` as one evidence.xlsx with Chinese sheet names, real dates and numbers."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for table, title in SHEETS.items():
        df = pd.read_csv(raw / f"{table}.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
        ws = wb.create_sheet(title)
        ws.append(list(df.columns))
        for rec in df.to_dict("records"):
            row = []
            for col, v in rec.items():
                if v == "":
                    row.append(None)
                elif col in DATE_COLUMNS:
                    row.append(dt.datetime.strptime(v, "%Y-%m-%d"))
                elif col == "quantity":
                    row.append(int(v))
                else:
                    row.append(v)  # ids stay text: "001" keeps its zeros
            ws.append(row)
        for cell in ws["A"]:
            cell.number_format = "@"
        (raw / f"{table}.csv").unlink()
    wb.save(raw / "evidence.xlsx")
    return raw / "evidence.xlsx"


def _set(raw: Path, sheet: str, ref: str, value) -> None:
    path = raw / "evidence.xlsx"
    wb = openpyxl.load_workbook(path)
    wb[sheet][ref] = value
    wb.save(path)


def xlsx(edit: Callable[[openpyxl.Workbook], None]) -> Callable[[Path], None]:
    """A mutation that turns the fixture into a workbook, then edits the workbook."""
    def mutate(raw: Path) -> None:
        path = to_workbook(raw)
        wb = openpyxl.load_workbook(path)
        edit(wb)
        wb.save(path)
    return mutate


def csv_cell(table: str, row: int, column: int, value: str) -> Callable[[Path], None]:
    return lambda raw: edit_csv_cell(raw, table, row, column, value)


def csv_replace(table: str, old: str, new: str) -> Callable[[Path], None]:
    return lambda raw: replace_in_csv(raw, table, old, new)


def xlsx_cell(sheet: str, ref: str, value, number_format: str | None = None) -> Callable[[Path], None]:
    def edit(wb: openpyxl.Workbook) -> None:
        wb[sheet][ref] = value
        if number_format:
            wb[sheet][ref].number_format = number_format
    return xlsx(edit)


# ---- binary cases -------------------------------------------------------------------------

SJIS_NAME = "ﾃｽﾄ"  # half-width katakana: in Shift-JIS b'\xc3\xbd\xc4', and b'\xc4,' is neither UTF-8 nor GB18030


def shift_jis_row(raw: Path) -> None:
    """units.csv saved as GB18030, except row 3 whose unit name came in as Shift-JIS bytes."""
    lines = _lines(raw, "units")
    out = b""
    for i, line in enumerate(lines, 1):
        if i == 3:
            uid, _, group = line.split(",")
            out += uid.encode() + b"," + SJIS_NAME.encode("shift_jis") + b"," + group.encode("gb18030") + b"\n"
        else:
            out += line.encode("gb18030") + b"\n"
    (raw / "units.csv").write_bytes(out)


def utf16(raw: Path) -> None:
    """units.csv saved by Excel as "Unicode text": UTF-16 with a byte-order mark."""
    text = (raw / "units.csv").read_text(encoding="utf-8-sig")
    (raw / "units.csv").write_bytes(text.encode("utf-16"))


def empty_csv(raw: Path) -> None:
    (raw / "events.csv").write_bytes(b"")


def workbook_named_csv(raw: Path) -> None:
    """units.csv that is really a workbook (saved as .xlsx, renamed)."""
    wb = openpyxl.Workbook()
    wb.active.append(["unit_id", "unit_name", "unit_group"])
    buf = io.BytesIO()
    wb.save(buf)
    (raw / "units.csv").write_bytes(buf.getvalue())


def huge_csv(raw: Path) -> None:
    """events.csv of ~2 MB (rows repeated); the test sets the limit to 1 MB via ASSESSMENT_MAX_FILE_MB."""
    lines = _lines(raw, "events")
    body = lines[1:]
    out = [lines[0]]
    n = 0
    while sum(len(x) + 1 for x in out) < 2 * 1024 * 1024:
        for line in body:
            n += 1
            out.append(f"X{n:07d}," + line.split(",", 1)[1])
    (raw / "events.csv").write_text("\n".join(out) + "\n", encoding="utf-8")


def empty_xlsx(raw: Path) -> None:
    to_workbook(raw).write_bytes(b"")


def csv_named_xlsx(raw: Path) -> None:
    """evidence.xlsx that is really CSV text (saved as CSV, renamed)."""
    text = (raw / "units.csv").read_bytes()
    for t in SHEETS:
        (raw / f"{t}.csv").unlink()
    (raw / "evidence.xlsx").write_bytes(text)


BOMB_MB = 24  # what the bomb inflates to; the test allows 8 MB (ASSESSMENT_MAX_UNZIPPED_MB)


def zip_bomb(raw: Path) -> None:
    """A real workbook whose 事件 sheet XML is padded with 24 MB of blanks: ~25 KB on disk."""
    path = to_workbook(raw)
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    sheet = "xl/worksheets/sheet2.xml"
    xml = parts[sheet]
    assert b"<sheetData" in xml
    parts[sheet] = xml.replace(b"<sheetData", b" " * (BOMB_MB * 1024 * 1024) + b"<sheetData", 1)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in parts.items():
            z.writestr(name, data)


# ---- workbook edits -----------------------------------------------------------------------

def _drop_sheet(title: str) -> Callable[[openpyxl.Workbook], None]:
    def edit(wb):
        wb.remove(wb[title])
    return edit


def _hide(title: str) -> Callable[[openpyxl.Workbook], None]:
    def edit(wb):
        wb[title].sheet_state = "hidden"
    return edit


def _merge(title: str, ref: str) -> Callable[[openpyxl.Workbook], None]:
    def edit(wb):
        wb[title].merge_cells(ref)
    return edit


def _rename_sheet(old: str, new: str) -> Callable[[openpyxl.Workbook], None]:
    def edit(wb):
        wb[old].title = new
    return edit


def _drop_column(raw: Path, table: str, name: str) -> None:
    df = pd.read_csv(raw / f"{table}.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    df.drop(columns=[name]).to_csv(raw / f"{table}.csv", index=False, encoding="utf-8", lineterminator="\n")


# ---- issue 11: ambiguity, invisible characters, empty tables, numbers, bounds, office spreadsheets

def _copy_sheet(src: str, title: str) -> Callable[[openpyxl.Workbook], None]:
    def edit(wb):
        wb.copy_worksheet(wb[src]).title = title
    return edit


def _add_sheet(title: str, value: str = "说明") -> Callable[[openpyxl.Workbook], None]:
    def edit(wb):
        wb.create_sheet(title)["A1"] = value
    return edit


def _many_sheets(n: int) -> Callable[[openpyxl.Workbook], None]:
    def edit(wb):
        for i in range(n):
            wb.create_sheet(f"Sheet{i + 1}")
    return edit


def _title_rows(title: str, n: int) -> Callable[[openpyxl.Workbook], None]:
    def edit(wb):
        ws = wb[title]
        ws.insert_rows(1, n)
        ws["A1"] = "2023年度政务新媒体考评事件登记表"
    return edit


def _column(title: str, col: int, header, values) -> Callable[[openpyxl.Workbook], None]:
    """Write a column: its header (None: left blank) and values for the rows below."""
    def edit(wb):
        ws = wb[title]
        if header is not None:
            ws.cell(row=1, column=col, value=header)
        for r, v in enumerate(values, 2):
            ws.cell(row=r, column=col, value=v)
    return edit


def _header_only(table: str) -> Callable[[Path], None]:
    return lambda raw: (raw / f"{table}.csv").write_text(_lines(raw, table)[0] + "\n", encoding="utf-8")


def _header_only_xlsx(title: str) -> Callable[[openpyxl.Workbook], None]:
    def edit(wb):
        ws = wb[title]
        ws.delete_rows(2, ws.max_row)
    return edit


def _csv_and_workbook(raw: Path) -> None:
    """evidence.xlsx beside units.csv: which one is meant cannot be guessed."""
    keep = (raw / "units.csv").read_bytes()
    to_workbook(raw)
    (raw / "units.csv").write_bytes(keep)


def _two_csv(raw: Path) -> None:
    shutil.copy(raw / "events.csv", raw / "事件.csv")


def _duplicate_column(table: str, index: int, header: str) -> Callable[[Path], None]:
    """The column at `index` once more at the end, under `header`."""
    def mutate(raw: Path) -> None:
        lines = _lines(raw, table)
        out = [lines[0] + "," + header] + [l + "," + l.split(",")[index] for l in lines[1:]]
        (raw / f"{table}.csv").write_text("\n".join(out) + "\n", encoding="utf-8")
    return mutate


def _extra_column(table: str, header: str) -> Callable[[Path], None]:
    def mutate(raw: Path) -> None:
        lines = _lines(raw, table)
        out = [lines[0] + "," + header] + [l + ",x" for l in lines[1:]]
        (raw / f"{table}.csv").write_text("\n".join(out) + "\n", encoding="utf-8")
    return mutate


def _stray_file(raw: Path) -> None:
    (raw / "说明.txt").write_text("本目录为 2023 年度证据", encoding="utf-8")


def _title_csv(table: str, title: str) -> Callable[[Path], None]:
    def mutate(raw: Path) -> None:
        text = (raw / f"{table}.csv").read_text(encoding="utf-8-sig")
        (raw / f"{table}.csv").write_text(title + "\n" + text, encoding="utf-8")
    return mutate


def _wide_csv(raw: Path) -> None:
    """events.csv of 200,000 columns (a header of 400 KB: under the line bound, over the column bound)."""
    header = ",".join("c" for _ in range(200_000))
    (raw / "events.csv").write_text(header + "\n" + header + "\n", encoding="utf-8")


def _long_line(raw: Path) -> None:
    lines = _lines(raw, "events")
    lines[4] = lines[4] + "x" * (2 * 1024 * 1024)
    (raw / "events.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


# Fixture rows (Excel numbering, header = 1): units.csv 2–13 (001–006, 101–106);
# events.csv 2–47 (E001–E046); facts.csv 2–36. events columns: 0 event_id, 1 unit_id, 2 indicator,
# 3 date, 4 quantity, 5 level, 6 done_date, 7 source, 8 note.
# Events in the workbook: columns A event_id … D date, E quantity, F level, G done_date.

EV, UN, FA = "events.csv", "units.csv", "facts.csv"
BOOK = "evidence.xlsx"

CASES: list[Case] = [
    # -- missing pieces
    Case("missing-file", lambda raw: (raw / "facts.csv").unlink(), Where("facts.csv", rule="input-missing")),
    Case("missing-sheet", xlsx(_drop_sheet("指标事实")), Where(BOOK, sheet="facts", value="单位", rule="sheet-missing")),
    Case("misnamed-sheet", xlsx(_rename_sheet("事件", "事件表")), Where(BOOK, sheet="events", value="事件表", rule="sheet-missing")),
    Case("missing-column", lambda raw: _drop_column(raw, "events", "indicator"), Where(EV, row=1, column="indicator", value="event_id", rule="column-missing")),
    Case("misspelt-column", csv_replace("events", "indicator", "indicatr"), Where(EV, row=1, column="indicator", value="indicatr", rule="column-missing")),
    Case("misspelt-column-xlsx", xlsx_cell("单位", "C1", "单位类型"), Where(BOOK, sheet="单位", row=1, column="unit_group", value="单位类型", rule="column-missing")),
    # -- unknown codes (Great Expectations, validate stage)
    Case("unknown-unit", csv_cell("events", 11, 1, "999"), Where(EV, row=11, column="unit_id", value="999"), stage="validate"),
    Case("unknown-unit-xlsx", xlsx_cell("事件", "B11", "999"), Where(BOOK, sheet="事件", row=11, column="unit_id", value="999"), stage="validate"),
    Case("unknown-indicator", csv_cell("events", 12, 2, "A9"), Where(EV, row=12, column="indicator", value="A9"), stage="validate"),
    Case("unknown-unit-group", csv_cell("units", 4, 2, "乡镇"), Where(UN, row=4, column="unit_group", value="乡镇"), stage="validate"),
    Case("unknown-level", csv_cell("events", 9, 5, "区级"), Where(EV, row=9, column="level", value="区级"), stage="validate"),
    # -- duplicates
    Case("duplicate-unit-id", csv_cell("units", 5, 0, "003"), Where(UN, row=5, column="unit_id", value="003"), stage="validate"),
    Case("duplicate-unit-name", csv_cell("units", 6, 1, "城头乡"), Where(UN, row=6, column="unit_name", value="城头乡"), stage="validate"),
    Case("duplicate-event-id", csv_cell("events", 13, 0, "E011"), Where(EV, row=13, column="event_id", value="E011"), stage="validate"),
    # -- dates
    Case("impossible-date", csv_cell("events", 8, 3, "2023-02-30"), Where(EV, row=8, column="date", value="2023-02-30", rule="date-format")),
    Case("impossible-date-xlsx", xlsx_cell("事件", "D8", "2023-02-30"), Where(BOOK, sheet="事件", row=8, column="date", value="2023-02-30", rule="date-format")),
    Case("ambiguous-date", csv_cell("events", 8, 3, "03/04/2023"), Where(EV, row=8, column="date", value="03/04/2023", rule="date-format")),
    Case("date-outside-period", csv_cell("events", 8, 3, "2022-12-31"), Where(EV, row=8, column="date", value="2022-12-31"), stage="validate"),
    Case("done-date-before-date", csv_cell("events", 12, 6, "2023-04-01"), Where(EV, row=12, column="done_date", value="2023-04-01"), stage="validate"),
    # -- quantities
    Case("quantity-zero", csv_cell("events", 6, 4, "0"), Where(EV, row=6, column="quantity", value="0"), stage="validate"),
    Case("quantity-negative", csv_cell("events", 6, 4, "-2"), Where(EV, row=6, column="quantity", value="-2"), stage="validate"),
    Case("quantity-fraction", csv_cell("events", 6, 4, "1.5"), Where(EV, row=6, column="quantity", value="1.5", rule="quantity-integer")),
    Case("quantity-not-a-number", csv_cell("events", 6, 4, "若干"), Where(EV, row=6, column="quantity", value="若干", rule="quantity-number")),
    # -- Excel leftovers
    Case("excel-ref-error", xlsx_cell("事件", "E3", "#REF!"), Where(BOOK, sheet="事件", row=3, column="E", value="#REF!", rule="excel-error")),
    Case("excel-na-error", xlsx_cell("单位", "C4", "#N/A"), Where(BOOK, sheet="单位", row=4, column="C", value="#N/A", rule="excel-error")),
    Case("excel-div0-error-csv", csv_cell("events", 6, 4, "#DIV/0!"), Where(EV, row=6, column="quantity", value="#DIV/0!", rule="excel-error")),
    Case("formula", xlsx_cell("事件", "E4", "=2*5"), Where(BOOK, sheet="事件", row=4, column="E", value="=2*5", rule="formula")),
    Case("merged-cells", xlsx(_merge("单位", "C2:C3")), Where(BOOK, sheet="单位", row=2, column="C", value="C2:C3", rule="merged-cells")),
    Case("hidden-sheet", xlsx(_hide("事件")), Where(BOOK, sheet="事件", value="hidden", rule="hidden-sheet")),
    # -- files that are not what they say
    Case("empty-csv", empty_csv, Where(EV, value="0", rule="empty-file")),
    Case("empty-xlsx", empty_xlsx, Where(BOOK, value="0", rule="empty-file")),
    Case("xlsx-named-csv", workbook_named_csv, Where(UN, value="PK", rule="file-type")),
    Case("csv-named-xlsx", csv_named_xlsx, Where(BOOK, value="单位编码", rule="file-type")),
    Case("encoding-shift-jis", shift_jis_row, Where(UN, row=3, value="c4 2c", rule="encoding")),
    Case("encoding-utf16", utf16, Where(UN, row=1, value="UTF-16", rule="encoding")),
    Case("huge-file", huge_csv, Where(EV, value="bytes", rule="size-limit"), env={"ASSESSMENT_MAX_FILE_MB": "1"}),
    Case("zip-bomb", zip_bomb, Where(BOOK, sheet="事件", value="bytes", rule="zip-bomb"), env={"ASSESSMENT_MAX_UNZIPPED_MB": "8"}),
    # -- facts
    Case("fact-value-not-yes-no", csv_cell("facts", 10, 2, "也许"), Where(FA, row=10, column="value", value="也许"), stage="validate"),
    # -- accepted: normalised where the meaning is certain, and said (exit 0, nothing published)
    Case("serial-date-csv", csv_cell("events", 8, 3, "44989"), Where(EV, row=8, column="date", value="44989", rule="date-serial"), accepted=True),
    Case("serial-date-xlsx", xlsx_cell("事件", "D8", 44989, "General"), Where(BOOK, sheet="事件", row=8, column="date", value="44989", rule="date-serial"), accepted=True),
    Case("text-date-xlsx", xlsx_cell("事件", "D8", "2023年3月4日"), Where(BOOK, sheet="事件", row=8, column="date", value="2023年3月4日", rule="date-text"), accepted=True),
    Case("full-width-digits", csv_cell("events", 6, 4, "３"), Where(EV, row=6, column="quantity", value="３", rule="normalised"), accepted=True),
    Case("stray-spaces", csv_cell("events", 6, 1, " 002 "), Where(EV, row=6, column="unit_id", value=" 002 ", rule="normalised"), accepted=True),
    # -- issue 11: ambiguous evidence is refused; what maps to nothing is said
    Case("two-sheets-one-table", xlsx(_copy_sheet("事件", "events")), Where(BOOK, sheet="events", value="事件", rule="input-ambiguous")),
    Case("two-sheets-case-space", xlsx(_copy_sheet("单位", " Units ")), Where(BOOK, sheet="units", value="Units", rule="input-ambiguous")),
    Case("two-sheets-full-width", xlsx(_copy_sheet("指标事实", "ｆａｃｔｓ")), Where(BOOK, sheet="facts", value="ｆａｃｔｓ", rule="input-ambiguous")),
    Case("two-sheets-invisible", xlsx(_copy_sheet("事件", "事件\u200b")), Where(BOOK, sheet="events", value="事件<U+200B>", rule="input-ambiguous")),
    Case("csv-and-workbook", _csv_and_workbook, Where("csv-and-workbook", value="evidence.xlsx", rule="input-ambiguous")),
    Case("two-csv-one-table", _two_csv, Where("two-csv-one-table", value="事件.csv", rule="input-ambiguous")),
    Case("two-columns-one-field", _duplicate_column("events", 1, "单位编码"), Where(EV, row=1, column="单位编码", value="单位编码", rule="header-duplicate")),
    Case("duplicate-header", _duplicate_column("units", 1, "单位名称"), Where(UN, row=1, column="单位名称", value="单位名称", rule="header-duplicate")),
    Case("duplicate-header-xlsx", xlsx(_column("事件", 10, "次数", [1] * 46)), Where(BOOK, sheet="事件", row=1, column="J", value="次数", rule="header-duplicate")),
    Case("unused-column", _extra_column("events", "审核人"), Where(EV, row=1, column="审核人", value="审核人", rule="column-unused"), accepted=True),
    Case("unused-column-no-header", xlsx(_column("单位", 4, None, ["x"])), Where(BOOK, sheet="单位", row=1, column="D", rule="column-unused"), accepted=True),
    Case("unused-sheet", xlsx(_add_sheet("填报说明")), Where(BOOK, sheet="填报说明", value="填报说明", rule="sheet-unused"), accepted=True),
    Case("unused-file", _stray_file, Where("说明.txt", value="说明.txt", rule="file-unused"), accepted=True),
    # -- invisible and control characters: refused in codes, removed (and said) in text
    Case("zero-width-unit-id", csv_cell("events", 6, 1, "002\u200b"), Where(EV, row=6, column="unit_id", value="002<U+200B>", rule="invisible-char")),
    Case("bom-in-unit-id", csv_cell("units", 3, 0, "\ufeff002"), Where(UN, row=3, column="unit_id", value="<U+FEFF>002", rule="invisible-char")),
    Case("rlo-event-id", csv_cell("events", 7, 0, "E\u202e006"), Where(EV, row=7, column="event_id", value="E<U+202E>006", rule="invisible-char")),
    Case("word-joiner-indicator", csv_cell("events", 8, 2, "B\u20603"), Where(EV, row=8, column="indicator", value="B<U+2060>3", rule="invisible-char")),
    Case("lrm-level", csv_cell("events", 3, 5, "国家级\u200e"), Where(EV, row=3, column="level", value="国家级<U+200E>", rule="invisible-char")),
    Case("isolate-in-date", csv_cell("events", 9, 3, "\u20662023-03-06\u2069"), Where(EV, row=9, column="date", value="<U+2066>2023-03-06", rule="invisible-char")),
    Case("escape-in-unit-group", csv_cell("units", 4, 2, "乡镇\x1b街道"), Where(UN, row=4, column="unit_group", value="乡镇<U+001B>街道", rule="invisible-char")),
    Case("zero-width-joiner-quantity", csv_cell("events", 6, 4, "3\u200d"), Where(EV, row=6, column="quantity", value="3<U+200D>", rule="invisible-char")),
    Case("zero-width-unit-id-xlsx", xlsx_cell("事件", "B11", "003\u200c"), Where(BOOK, sheet="事件", row=11, column="unit_id", value="003<U+200C>", rule="invisible-char")),
    Case("rlo-unit-name", csv_cell("units", 3, 1, "大楼\u202e街道"), Where(UN, row=3, column="unit_name", value="大楼<U+202E>街道", rule="invisible-removed"), accepted=True),
    Case("zero-width-note", csv_cell("events", 5, 8, "已整改\u200b"), Where(EV, row=5, column="note", value="已整改<U+200B>", rule="invisible-removed"), accepted=True),
    Case("soft-hyphen-source", csv_cell("events", 5, 7, "省办\u00ad抽查"), Where(EV, row=5, column="source", value="省办<U+00AD>抽查", rule="invisible-removed"), accepted=True),
    Case("invisible-header", csv_replace("events", "indicator", "indi\u200bcator"), Where(EV, row=1, column="indi<U+200B>cator", rule="invisible-removed"), accepted=True),
    # -- empty tables; a year without events is declared
    Case("events-header-only", _header_only("events"), Where(EV, row=1, rule="table-empty")),
    Case("units-header-only", _header_only("units"), Where(UN, row=1, rule="table-empty")),
    Case("events-header-only-xlsx", xlsx(_header_only_xlsx("事件")), Where(BOOK, sheet="事件", row=1, rule="table-empty")),
    Case("no-events-but-events", lambda raw: None, Where(EV, row=2, value="46 events", rule="no-events-contradiction"), args=("--no-events",)),
    Case("no-events-declared", _header_only("events"), Where(EV, row=1, rule="no-events"), accepted=True, args=("--no-events",)),
    # -- numbers: finite, whole, bounded
    Case("quantity-inf", csv_cell("events", 6, 4, "inf"), Where(EV, row=6, column="quantity", value="inf", rule="quantity-not-finite")),
    Case("quantity-nan", csv_cell("events", 6, 4, "NaN"), Where(EV, row=6, column="quantity", value="NaN", rule="quantity-not-finite")),
    Case("quantity-1e400", csv_cell("events", 6, 4, "1e400"), Where(EV, row=6, column="quantity", value="1e400", rule="quantity-not-finite")),
    Case("quantity-minus-inf", csv_cell("events", 6, 4, "-Infinity"), Where(EV, row=6, column="quantity", value="-Infinity", rule="quantity-not-finite")),
    Case("quantity-overflow-digits", csv_cell("events", 6, 4, "9" * 400), Where(EV, row=6, column="quantity", value="9999", rule="too-long")),
    Case("quantity-beyond-int64", csv_cell("events", 6, 4, "99999999999999999999999"), Where(EV, row=6, column="quantity", value="99999999999999999999999", rule="quantity-too-large")),
    Case("quantity-too-large", csv_cell("events", 6, 4, "2000000"), Where(EV, row=6, column="quantity", value="2000000", rule="quantity-too-large")),
    Case("quantity-decimal-comma", csv_replace("events", "E005,002,A4,2023-03-02,3", 'E005,002,A4,2023-03-02,"1,5"'), Where(EV, row=6, column="quantity", value="1,5", rule="quantity-number")),
    Case("quantity-negative-zero", csv_cell("events", 6, 4, "-0"), Where(EV, row=6, column="quantity", value="0"), stage="validate"),
    Case("quantity-xlsx-text-1e309", xlsx_cell("事件", "E6", "1e309"), Where(BOOK, sheet="事件", row=6, column="quantity", value="1e309", rule="quantity-not-finite")),
    Case("fact-value-1e999", csv_cell("facts", 10, 2, "1e999"), Where(FA, row=10, column="value", value="1e999", rule="number-not-finite")),
    Case("fact-value-nan", csv_cell("facts", 10, 2, "nan"), Where(FA, row=10, column="value", value="nan", rule="number-not-finite")),
    # -- bounds, refused before costly work
    Case("long-unit-name", csv_cell("units", 3, 1, "大" * 2000), Where(UN, row=3, column="unit_name", value="大大大", rule="too-long")),
    Case("long-note", csv_cell("events", 5, 8, "长" * 3000), Where(EV, row=5, column="note", value="长长长", rule="too-long")),
    Case("long-event-id", csv_cell("events", 7, 0, "E" * 100), Where(EV, row=7, column="event_id", value="EEE", rule="too-long")),
    Case("many-columns", _wide_csv, Where(EV, row=1, value="200000 columns", rule="too-many-columns")),
    Case("long-line", _long_line, Where(EV, row=5, value="bytes", rule="line-too-long")),
    Case("many-sheets", xlsx(_many_sheets(60)), Where(BOOK, value="63 sheets", rule="too-many-sheets")),
    Case("wide-sheet", xlsx(_column("事件", 300, "x", ["y"])), Where(BOOK, sheet="事件", row=1, value="300 columns", rule="too-many-columns")),
    # -- spreadsheets as offices type them
    Case("title-row-csv", _title_csv("units", "2023年度考评单位名单,,"), Where(UN, row=2, value="2023年度考评单位名单", rule="header-row"), accepted=True),
    Case("title-rows-xlsx", xlsx(_title_rows("事件", 2)), Where(BOOK, sheet="事件", row=3, value="2023年度", rule="header-row"), accepted=True),
    Case("title-rows-xlsx-bad-date", lambda raw: (xlsx(_title_rows("事件", 2))(raw), _set(raw, "事件", "D10", "2023-02-30")),
         Where(BOOK, sheet="事件", row=10, column="date", value="2023-02-30", rule="date-format")),
    Case("unit-id-as-number", xlsx_cell("事件", "B11", 3), Where(BOOK, sheet="事件", row=11, column="unit_id", value="3"), stage="validate"),
]

# a handful go through `assessment validate` (same messages, nothing written); the rest through `assessment run`
VALIDATE_ONLY = {"unknown-indicator", "duplicate-unit-name", "quantity-zero", "excel-na-error", "encoding-utf16", "missing-sheet"}
# and a handful through the real command in its own process; the rest through cli.main in a worker process
REAL_CLI = {"missing-file", "zero-width-unit-id", "many-columns", "unknown-unit", "formula", "zip-bomb", "huge-file", "encoding-utf16", "quantity-zero", "serial-date-csv"}
CASES = [Case(**{**c.__dict__, "command": "validate" if c.accepted or c.id in VALIDATE_ONLY else "run",
                 "via": "cli" if c.id in REAL_CLI else "inproc"}) for c in CASES]


def build(case: Case, dst: Path) -> Path:
    """The case's evidence folder: a copy of the fixture with the case's one defect."""
    raw = copy_fixture(dst)
    case.mutate(raw)
    return raw


CJK = re.compile(r"[\u4e00-\u9fff]")
