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
]

# a handful go through `assessment validate` (same messages, nothing written); the rest through `assessment run`
VALIDATE_ONLY = {"unknown-indicator", "duplicate-unit-name", "quantity-zero", "excel-na-error", "encoding-utf16", "missing-sheet"}
# and a handful through the real command in its own process; the rest through cli.main in a worker process
REAL_CLI = {"missing-file", "unknown-unit", "formula", "zip-bomb", "huge-file", "encoding-utf16", "quantity-zero", "serial-date-csv"}
CASES = [Case(**{**c.__dict__, "command": "validate" if c.accepted or c.id in VALIDATE_ONLY else "run",
                 "via": "cli" if c.id in REAL_CLI else "inproc"}) for c in CASES]


def build(case: Case, dst: Path) -> Path:
    """The case's evidence folder: a copy of the fixture with the case's one defect."""
    raw = copy_fixture(dst)
    case.mutate(raw)
    return raw


CJK = re.compile(r"[\u4e00-\u9fff]")
