"""Reading one county-year's evidence into typed, tidy tables.

Evidence arrives as one workbook (`evidence.xlsx`) or three CSV files (`units.csv`, `events.csv`,
`facts.csv`), written by people in Excel: English or Chinese headers and sheet names, UTF-8 or
GB18030, full-width digits, dates as text or serial numbers. The reader keeps every record's file,
sheet and row so that any later message or line item can point back to the cell.

The reader checks what it must to type the data (a date that is no date, a quantity that is no
number, a formula or an error cell). Checks of meaning (unknown unit, duplicate id, date outside
the period) belong to `validation`.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .problems import EvidenceError, Problem
from .values import normalise_text, parse_date, parse_number

# canonical column → accepted headers (compared after NFKC, lower case, blanks removed)
COLUMNS: dict[str, dict[str, list[str]]] = {
    "units": {
        "unit_id": ["unit_id", "单位编码", "单位代码", "单位编号"],
        "unit_name": ["unit_name", "单位名称"],
        "unit_group": ["unit_group", "单位类别", "单位分组", "类别"],
    },
    "events": {
        "event_id": ["event_id", "事件编号"],
        "unit_id": ["unit_id", "单位编码", "单位代码", "单位编号"],
        "indicator": ["indicator", "指标编码", "指标代码"],
        "date": ["date", "日期", "发生日期", "发现日期"],
        "quantity": ["quantity", "数量", "次数"],
        "level": ["level", "级别"],
        "done_date": ["done_date", "办结日期", "完成日期"],
        "source": ["source", "来源"],
        "note": ["note", "备注"],
    },
    "facts": {
        "unit_id": ["unit_id", "单位编码", "单位代码", "单位编号"],
        "indicator": ["indicator", "指标编码", "指标代码"],
        "value": ["value", "值", "取值"],
        "note": ["note", "备注"],
    },
}
REQUIRED = {
    "units": ["unit_id", "unit_name", "unit_group"],
    "events": ["event_id", "unit_id", "indicator", "date"],
    "facts": ["unit_id", "indicator", "value"],
}
TABLE_NAMES = {
    "units": ["units", "单位", "单位名单", "单位信息"],
    "events": ["events", "事件", "扣加分事件", "事件记录"],
    "facts": ["facts", "指标事实", "事实"],
}
HEADER_ZH = {"unit_id": "单位编码", "unit_name": "单位名称", "unit_group": "单位类别", "event_id": "事件编号",
             "indicator": "指标编码", "date": "日期", "quantity": "数量", "level": "级别", "done_date": "办结日期",
             "source": "来源", "note": "备注", "value": "值"}
TABLE_ZH = {"units": "单位", "events": "事件", "facts": "指标事实"}
EXCEL_ERRORS = {"#REF!", "#N/A", "#DIV/0!", "#VALUE!", "#NAME?", "#NUM!", "#NULL!", "#SPILL!", "#CALC!", "#GETTING_DATA"}
MAX_FILE_MB = 512  # a county-year's evidence is megabytes; past this we refuse ($ASSESSMENT_MAX_FILE_MB)
MAX_UNZIPPED_MB = 2048  # what a workbook may inflate to ($ASSESSMENT_MAX_UNZIPPED_MB)
MAX_ZIP_RATIO = 200
MAX_MESSAGES_PER_COLUMN = 50
EXCEL_EPOCH = pd.Timestamp("1899-12-30")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?: 00:00(?::00)?)?")  # a date in text that needs no word


@dataclass
class Evidence:
    """The tidy evidence of one county-year, with the input files' hashes."""

    units: pd.DataFrame
    events: pd.DataFrame
    facts: pd.DataFrame
    files: dict[str, str] = field(default_factory=dict)  # file name → sha256
    notes: list[Problem] = field(default_factory=list)  # warnings and normalisations made

    def counts(self) -> pd.DataFrame:
        """Records per table, for the auditor's first look."""
        return pd.DataFrame({"表 table": ["单位 units", "事件 events", "指标事实 facts"],
                             "记录数 records": [len(self.units), len(self.events), len(self.facts)]})


def limit_bytes(variable: str, default_mb: float) -> int:
    """A size limit in bytes, set in MiB by an environment variable (an office with big files, or a test with a small limit)."""
    text = os.environ.get(variable, "").strip()
    try:
        mb = float(text) if text else default_mb
    except ValueError:
        mb = default_mb
    return int(max(mb, 0) * 2**20)


def max_file_bytes() -> int:
    return limit_bytes("ASSESSMENT_MAX_FILE_MB", MAX_FILE_MB)


def max_unzipped_bytes() -> int:
    return limit_bytes("ASSESSMENT_MAX_UNZIPPED_MB", MAX_UNZIPPED_MB)


def _too_large(path: Path, size: int) -> EvidenceError:
    limit = max_file_bytes()
    return EvidenceError([Problem(file=path.name, value=f"{size} bytes", rule="size-limit",
                                  message_zh=f"文件过大（{size / 2**20:.1f} MiB，上限 {limit / 2**20:g} MiB，可用环境变量 ASSESSMENT_MAX_FILE_MB 调整）：未读取",
                                  message_en=f"file too large ({size} bytes, limit {limit} bytes, set by ASSESSMENT_MAX_FILE_MB); not read")])


def _empty(path: Path, size: int) -> EvidenceError:
    return EvidenceError([Problem(file=path.name, value=f"{size} bytes", message_zh="文件为空", message_en="empty file", rule="empty-file")])


def _leading(data: bytes) -> str:
    """What a file starts with, for a message about a file that is not what its name says."""
    text = data[:60].decode("utf-8", "replace")
    if sum(ch.isprintable() for ch in text) >= 0.9 * max(len(text), 1):
        return text.split("\n")[0].lstrip("\ufeff")
    return repr(data[:8])[2:-1]


def _key(text: object) -> str:
    t = unicodedata.normalize("NFKC", str(text)).strip().lower()
    t = re.sub(r"\s+", "", t)
    return t


def _match_header(table: str, header: object) -> str | None:
    """'单位编码', 'unit_id', '单位编码(unit_id)', 'Unit ID' → 'unit_id'."""
    k = _key(header).replace(" ", "")
    candidates = {k, k.replace("_", ""), re.sub(r"[（(].*?[)）]", "", k)}
    inner = re.findall(r"[（(](.*?)[)）]", k)
    candidates.update(inner)
    for canon, aliases in COLUMNS[table].items():
        keys = {_key(a) for a in aliases} | {_key(a).replace("_", "") for a in aliases}
        if candidates & keys:
            return canon
    return None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- locating the input -------------------------------------------------------------------

def locate(raw_dir: Path) -> tuple[str, dict[str, Path]]:
    """Which form the evidence has: ('xlsx', {'workbook': path}) or ('csv', {table: path})."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise EvidenceError([Problem(file=str(raw_dir), message_zh="证据目录不存在", message_en="evidence folder does not exist", rule="input-missing")])
    files = {p.name: p for p in raw_dir.iterdir() if p.is_file() and not p.name.startswith((".", "~$"))}
    workbook = [p for n, p in files.items() if n.lower() in {"evidence.xlsx", "证据.xlsx"}]
    csvs: dict[str, Path] = {}
    for table, names in TABLE_NAMES.items():
        for n, p in files.items():
            if p.suffix.lower() == ".csv" and _key(p.stem) in {_key(x) for x in names}:
                csvs[table] = p
    if workbook and csvs:
        raise EvidenceError([Problem(file=str(raw_dir), message_zh="同时存在 evidence.xlsx 和 CSV 文件，无法确定以哪个为准，请只保留一种",
                                     message_en="both evidence.xlsx and CSV files are present; keep one form", rule="input-ambiguous")])
    if workbook:
        return "xlsx", {"workbook": workbook[0]}
    if csvs:
        missing = [t for t in ("units", "events", "facts") if t not in csvs]
        problems = [Problem(file=str(raw_dir / f"{t}.csv"), message_zh=f"缺少 {TABLE_ZH[t]} 表文件 {t}.csv", message_en=f"missing file {t}.csv", rule="input-missing") for t in missing]
        if problems:
            raise EvidenceError(problems)
        return "csv", csvs
    raise EvidenceError([Problem(file=str(raw_dir), message_zh="证据目录中没有 evidence.xlsx，也没有 units.csv / events.csv / facts.csv",
                                 message_en="no evidence.xlsx and no units.csv/events.csv/facts.csv in the evidence folder", rule="input-missing")])


# ---- CSV ----------------------------------------------------------------------------------

def _wide_encoding(data: bytes) -> str | None:
    """UTF-16/32 (Excel's "Unicode text"), by its byte-order mark or the zero bytes of ASCII text."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    head = data[:64]
    if len(head) >= 8 and max(head[0::2].count(0), head[1::2].count(0)) >= len(head) // 4:
        return "UTF-16"
    return None


def _decode(path: Path, data: bytes) -> tuple[str, str]:
    """UTF-8 (BOM or not) or GB18030; anything else is refused naming the first line that is neither."""
    wide = _wide_encoding(data)
    if wide:
        raise EvidenceError([Problem(file=path.name, row=1, value=wide, rule="encoding",
                                     message_zh=f"文件是 {wide} 编码（Excel 的“Unicode 文本”）：请在 Excel 中另存为“CSV UTF-8（逗号分隔）”",
                                     message_en=f"the file is {wide} (Excel 'Unicode text'); save it as 'CSV UTF-8 (comma delimited)'")])
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError as exc:
            last = exc
    line = data.count(b"\n", 0, last.start) + 1
    bad = " ".join(f"{b:02x}" for b in data[last.start:last.start + 2])
    raise EvidenceError([Problem(file=path.name, row=line, value=bad, rule="encoding",
                                 message_zh=f"文件编码无法识别：第 {line} 行的字节 {bad} 既不是 UTF-8 也不是 GB18030（可能是 Shift-JIS、Big5 等编码），请在 Excel 中另存为“CSV UTF-8”",
                                 message_en=f"unknown encoding: the bytes {bad} on line {line} are neither UTF-8 nor GB18030 (Shift-JIS? Big5?); save as CSV UTF-8")])


def read_csv_table(path: Path, table: str) -> pd.DataFrame:
    """A CSV as strings (leading zeros kept), with file and row (header = row 1) of each record.

    The size is checked before a byte is read, so memory stays bounded by the limit.
    """
    size = path.stat().st_size
    if size > max_file_bytes():
        raise _too_large(path, size)
    data = path.read_bytes()
    if not data.strip():
        raise _empty(path, len(data))
    if data[:4] == b"PK\x03\x04" or data[:4] == b"\xd0\xcf\x11\xe0":
        raise EvidenceError([Problem(file=path.name, value=_leading(data), rule="file-type",
                                     message_zh="文件内容不是 CSV 文本，而是 Excel 工作簿（改了扩展名？）：请另存为 CSV，或命名为 evidence.xlsx",
                                     message_en="not CSV text but an Excel workbook (renamed?); save it as CSV or name it evidence.xlsx")])
    text, encoding = _decode(path, data)
    if "\x00" in text[:4096]:
        raise EvidenceError([Problem(file=path.name, value=_leading(data), rule="file-type",
                                     message_zh="文件内容不是 CSV 文本（可能是改了扩展名的二进制文件）", message_en="not a CSV text file (a renamed binary file?)")])
    import io

    try:
        # speed and scale: UTF-8 goes to the parser as bytes (no round trip through a str), and cells
        # come out as Python strings (dtype=object), not as Arrow strings converted one by one below
        source = io.BytesIO(data) if encoding == "utf-8-sig" else io.StringIO(text)
        df = pd.read_csv(source, dtype=object, encoding="utf-8-sig" if encoding == "utf-8-sig" else None,
                         keep_default_na=False, na_values=[], skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise EvidenceError([Problem(file=path.name, message_zh=f"CSV 格式错误：{exc}", message_en=f"malformed CSV: {exc}", rule="csv-format")])
    df = df.astype(object).where(df != "", None)
    df["_row"] = np.arange(2, len(df) + 2)
    df["_file"] = path.name
    df["_sheet"] = None
    return df


def _error_values(s: pd.Series) -> pd.Series:
    """Which values are Excel error values (#N/A …): per distinct value, only those holding '#'."""
    def one(v: object) -> bool:
        return isinstance(v, str) and v.strip().upper() in EXCEL_ERRORS

    if not (_all_text(s) and len(s)):
        return s.map(one, na_action="ignore").fillna(False).astype(bool)
    import pyarrow as pa
    import pyarrow.compute as pc

    values, codes, missing = _distinct(s)
    hit = np.zeros(len(values), dtype=bool)
    if len(values):
        maybe = pc.match_substring(pa.array(values.to_numpy(dtype=object), pa.string()), "#").to_numpy(zero_copy_only=False)
        hit[maybe] = [one(v) for v in values[maybe]]
    return _spread(pd.Series(hit), codes, missing, s.index, False).astype(bool)


def _csv_error_cells(df: pd.DataFrame, table: str) -> tuple[pd.DataFrame, list[Problem]]:
    """Excel error values saved into a CSV (#N/A, #DIV/0!) are refused like error cells of a workbook."""
    problems: list[Problem] = []
    out = df.copy()
    for col in [c for c in df.columns if not str(c).startswith("_")]:
        s = df[col]
        mask = _error_values(s)
        canon = _match_header(table, col)
        label = f"{HEADER_ZH[canon]}（{canon}）" if canon else str(col)
        for i in mask[mask].index[:MAX_MESSAGES_PER_COLUMN]:
            problems.append(Problem(file=str(df.at[i, "_file"]), row=int(df.at[i, "_row"]), column=label, value=s.at[i], rule="excel-error",
                                    message_zh="单元格是 Excel 错误值（导出 CSV 前公式出错）：请改为正确的值",
                                    message_en="the cell holds an Excel error value (a formula failed before the CSV was saved)"))
        out.loc[mask, col] = None
    return out, problems


# ---- xlsx ---------------------------------------------------------------------------------

def _check_zip(path: Path) -> None:
    """Refuse what is not a workbook, and zip bombs, before openpyxl inflates anything.

    The sizes checked are those the zip declares; Python's zipfile never inflates a member past its
    declared size, so a member that lies about its size cannot grow past the limit either.
    """
    size = path.stat().st_size
    if size == 0:
        raise _empty(path, 0)
    if size > max_file_bytes():
        raise _too_large(path, size)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(256)
        kind = "旧版 .xls" if head.startswith(b"\xd0\xcf\x11\xe0") else "文本或其他文件"
        raise EvidenceError([Problem(file=path.name, value=_leading(head), rule="file-type",
                                     message_zh=f"文件不是有效的 .xlsx 工作簿（内容像是{kind}，可能改了扩展名）：请在 Excel 中另存为 .xlsx",
                                     message_en="not a valid .xlsx workbook (a renamed CSV or old .xls?); save it as .xlsx in Excel")])
    limit = max_unzipped_bytes()
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            names = {i.filename for i in infos}
            total = sum(i.file_size for i in infos)
            packed = sum(i.compress_size for i in infos) or 1
            biggest = max(infos, key=lambda i: i.file_size) if infos else None
            wbx = z.getinfo("xl/workbook.xml") if "xl/workbook.xml" in names else None
            small_index = wbx is not None and wbx.file_size < 16 * 2**20
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise EvidenceError([Problem(file=path.name, value=type(exc).__name__, message_zh=f"工作簿已损坏，无法打开：{exc}",
                                     message_en=f"the workbook is damaged: {exc}", rule="file-type")])
    if total > limit or total / packed > MAX_ZIP_RATIO and total > 50 * 2**20:
        sheet = None
        if biggest is not None and small_index:
            sheet = next((t for t, part in _sheet_parts(path).items() if part == biggest.filename), None)
        part = biggest.filename if biggest is not None else ""
        raise EvidenceError([Problem(file=path.name, sheet=sheet, value=f"{total} bytes unzipped", rule="zip-bomb",
                                     message_zh=f"工作簿解压后过大（{total / 2**20:.0f} MiB，压缩比 {total / packed:.0f}，最大部件 {part} {biggest.file_size / 2**20:.0f} MiB；"
                                                f"上限 {limit / 2**20:g} MiB，可用环境变量 ASSESSMENT_MAX_UNZIPPED_MB 调整），疑似压缩炸弹，未解压",
                                     message_en=f"the workbook inflates to {total} bytes (ratio {total / packed:.0f}, largest part {part}; limit {limit} bytes, "
                                                f"set by ASSESSMENT_MAX_UNZIPPED_MB); refused as a possible zip bomb, nothing inflated")])
    if wbx is None:
        raise EvidenceError([Problem(file=path.name, value=", ".join(sorted(names))[:80], message_zh="文件是 zip 压缩包，但不是 .xlsx 工作簿（缺少 xl/workbook.xml）",
                                     message_en="a zip archive but not an .xlsx workbook (no xl/workbook.xml)", rule="file-type")])


def _merged_ranges(path: Path) -> dict[str, list[str]]:
    """Merged ranges per sheet XML part, read from the zip (read-only openpyxl cannot see them).

    The part is scanned in chunks (memory stays small whatever the sheet's size)."""
    pattern = re.compile(rb'<mergeCell ref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"')
    out: dict[str, list[str]] = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/sheet") and name.endswith(".xml"):
                refs: list[bytes] = []
                carry = b""
                with z.open(name) as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        buf = carry + chunk
                        refs += pattern.findall(buf)
                        carry = buf[-64:]
                        refs = list(dict.fromkeys(refs))  # a ref straddling two chunks is found twice
                if refs:
                    out[name] = [r.decode() for r in refs]
    return out


def read_workbook(path: Path) -> dict[str, pd.DataFrame]:
    """Each of the three tables from the workbook, as values (never formulas), with cell rows."""
    _check_zip(path)
    try:
        return _read_workbook(path)
    except EvidenceError:
        raise
    except Exception as exc:  # openpyxl reads lazily: a damaged part may only fail while rows are read
        raise EvidenceError([Problem(file=path.name, value=type(exc).__name__, rule="file-type",
                                     message_zh=f"工作簿已损坏或不是 Excel 保存的 .xlsx，无法读取：{exc}",
                                     message_en=f"the workbook is damaged or not an .xlsx saved by Excel: {type(exc).__name__}: {exc}")]) from None


def _read_workbook(path: Path) -> dict[str, pd.DataFrame]:
    import openpyxl
    from openpyxl.utils.cell import range_boundaries, get_column_letter

    wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    problems: list[Problem] = []
    tables: dict[str, pd.DataFrame] = {}
    sheet_of: dict[str, str] = {}
    for ws in wb.worksheets:
        for table, names in TABLE_NAMES.items():
            if _key(ws.title) in {_key(n) for n in names}:
                sheet_of[table] = ws.title
    merged = _merged_ranges(path)
    sheet_parts = _sheet_parts(path)
    present = "、".join(wb.sheetnames)
    for table in ("units", "events", "facts"):
        title = sheet_of.get(table)
        if title is None:
            names = "、".join(TABLE_NAMES[table])
            problems.append(Problem(file=path.name, sheet=f"{table} / {TABLE_ZH[table]}", value=present, rule="sheet-missing",
                                    message_zh=f"工作簿中缺少工作表“{TABLE_ZH[table]}”（可用名称：{names}）；现有工作表：{present}",
                                    message_en=f"missing sheet '{table}' (accepted names: {', '.join(TABLE_NAMES[table])}); sheets found: {present}"))
            continue
        ws = wb[title]
        if ws.sheet_state != "visible":
            problems.append(Problem(file=path.name, sheet=title, value=ws.sheet_state, message_zh="该工作表是隐藏的：请取消隐藏并核对其内容后再运行",
                                    message_en=f"the sheet is {ws.sheet_state}: unhide it and check its content", rule="hidden-sheet"))
        df, cell_problems = _sheet_frame(ws, path.name, title, table)
        headers = [c for c in df.columns if not str(c).startswith("_")] if df is not None else []
        for ref in merged.get(sheet_parts.get(title, ""), []):
            min_col, min_row, _, _ = range_boundaries(ref)
            header = headers[min_col - 1] if min_col - 1 < len(headers) else ""
            problems.append(Problem(file=path.name, sheet=title, row=min_row, column=f"{get_column_letter(min_col)}（{header}）", value=ref, rule="merged-cells",
                                    message_zh=f"存在合并单元格 {ref}：每个单元格应各有其值，请取消合并并逐行填写",
                                    message_en=f"merged cells {ref}: unmerge them so every row holds its own value"))
        problems.extend(cell_problems)
        if df is not None:
            tables[table] = df
    wb.close()
    if problems:
        raise EvidenceError(problems)
    return tables


def _sheet_parts(path: Path) -> dict[str, str]:
    """Sheet title → its XML part, from workbook.xml and its relationships."""
    with zipfile.ZipFile(path) as z:
        wbx = z.read("xl/workbook.xml").decode("utf-8", "replace")
        rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace") if "xl/_rels/workbook.xml.rels" in z.namelist() else ""
    targets = dict(re.findall(r'Id="([^"]+)"[^>]*Target="([^"]+)"', rels)) | {k: v for v, k in re.findall(r'Target="([^"]+)"[^>]*Id="([^"]+)"', rels)}
    out = {}
    for name, rid in re.findall(r'<sheet[^>]*name="([^"]+)"[^>]*r:id="([^"]+)"', wbx):
        t = targets.get(rid, "")
        t = t.lstrip("/")
        out[_unescape(name)] = t if t.startswith("xl/") else "xl/" + t
    return out


def _unescape(s: str) -> str:
    import html

    return html.unescape(s)


def _sheet_frame(ws, file: str, sheet: str, table: str) -> tuple[pd.DataFrame | None, list[Problem]]:
    """Rows of a sheet as objects, refusing formulas and Excel error cells with their cell address."""
    from openpyxl.utils import get_column_letter

    problems: list[Problem] = []
    rows = ws.iter_rows()
    header_cells = None
    header_row = 0
    for cells in rows:
        header_row = cells[0].row if cells and hasattr(cells[0], "row") else header_row + 1
        if any(c.value not in (None, "") for c in cells):
            header_cells = cells
            break
    if header_cells is None:
        problems.append(Problem(file=file, sheet=sheet, message_zh="工作表为空，没有表头", message_en="empty sheet: no header row", rule="empty-sheet"))
        return None, problems
    headers = [c.value for c in header_cells]
    values: list[list[object]] = []
    row_numbers: list[int] = []
    bad_cells: list[tuple[int, int, str, object]] = []
    for cells in rows:
        vals = []
        r = None
        for j, c in enumerate(cells):
            v = c.value
            if getattr(c, "data_type", None) == "f" or (isinstance(v, str) and v.startswith("=") and getattr(c, "data_type", None) == "f"):
                bad_cells.append((c.row, j, "formula", v))
                v = None
            elif getattr(c, "data_type", None) == "e" or (isinstance(v, str) and v.strip() in EXCEL_ERRORS):
                bad_cells.append((c.row, j, "error", v))
                v = None
            if r is None and hasattr(c, "row"):
                r = c.row
            vals.append(v)
        if r is None or all(v is None or (isinstance(v, str) and not v.strip()) for v in vals):
            continue
        values.append(vals)
        row_numbers.append(r)
    for r, j, kind, v in bad_cells[:MAX_MESSAGES_PER_COLUMN * 4]:
        col = f"{get_column_letter(j + 1)}（{headers[j] if j < len(headers) else ''}）"
        if kind == "formula":
            problems.append(Problem(file=file, sheet=sheet, row=r, column=col, value=v, message_zh="单元格是公式而不是数值：请粘贴为数值后再提交",
                                    message_en="the cell holds a formula, not a value: paste as values", rule="formula"))
        else:
            problems.append(Problem(file=file, sheet=sheet, row=r, column=col, value=v, message_zh="单元格是 Excel 错误值", message_en="the cell holds an Excel error value", rule="excel-error"))
    width = len(headers)
    df = pd.DataFrame([v[:width] + [None] * (width - len(v)) for v in values], columns=[str(h) if h is not None else f"_blank{i}" for i, h in enumerate(headers)], dtype=object)
    df["_row"] = np.array(row_numbers, dtype=np.int64)
    df["_file"] = file
    df["_sheet"] = sheet
    df.attrs["header_row"] = header_row  # messages about a missing column point at this row
    df.attrs["sheet"] = sheet
    return df, problems


# ---- typing the tables --------------------------------------------------------------------

def _rename(df: pd.DataFrame, table: str, file: str, sheet: str | None) -> tuple[pd.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    mapping: dict[str, str] = {}
    for col in df.columns:
        if col.startswith("_"):
            continue
        canon = _match_header(table, col)
        if canon is None:
            continue
        if canon in mapping.values():
            problems.append(Problem(file=file, sheet=sheet, row=int(df.attrs.get("header_row", 1)), column=str(col), value=col,
                                    message_zh=f"表头“{col}”与另一列重复表示 {canon}（{HEADER_ZH[canon]}）", message_en=f"header '{col}' duplicates column {canon}", rule="header-duplicate"))
            continue
        mapping[col] = canon
    unmatched = [str(c) for c in df.columns if not str(c).startswith("_") and c not in mapping]
    header_row = int(df.attrs.get("header_row", 1))
    for need in REQUIRED[table]:
        if need not in mapping.values():
            have = "、".join(str(c) for c in df.columns if not str(c).startswith("_"))
            guess = _close_header(table, need, unmatched)
            hint_zh = f"表头“{guess}”疑似“{HEADER_ZH[need]}”（{need}）的误写；" if guess else ""
            hint_en = f"header '{guess}' looks like a misspelling of '{need}'; " if guess else ""
            problems.append(Problem(file=file, sheet=sheet, row=header_row, column=f"{HEADER_ZH[need]}（{need}）", value=guess or have.replace("、", ","),
                                    message_zh=f"缺少必需的列“{HEADER_ZH[need]}”（{need}）；{hint_zh}现有表头：{have}",
                                    message_en=f"missing required column '{need}'; {hint_en}headers found: {have.replace('、', ', ')}", rule="column-missing"))
    out = df.rename(columns=mapping)
    keep = [c for c in COLUMNS[table] if c in out.columns] + ["_file", "_sheet", "_row"]
    out = out[keep].copy()
    for c in COLUMNS[table]:
        if c not in out.columns:
            out[c] = None
    return out, problems


def _close_header(table: str, need: str, headers: list[str]) -> str | None:
    """The unmatched header that is most likely a misspelling of a required column ('indicatr', '单位类型')."""
    import difflib

    aliases = {_key(a) for a in COLUMNS[table][need]}
    best, score = None, 0.0
    for h in headers:
        for a in aliases:
            r = difflib.SequenceMatcher(None, _key(h), a).ratio()
            if r > score:
                best, score = h, r
    return best if score >= 0.6 else None


def _all_text(s: pd.Series) -> bool:
    """Every value is a string or missing (CSV columns): distinct values can then stand for all rows."""
    return pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")


def _distinct(s: pd.Series) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """(the distinct non-missing values, each row's position among them, rows that are missing).

    Speed and scale: a million event rows hold a few hundred units, a dozen indicators and 365
    dates, so per-value Python (normalising, parsing) runs once per distinct value; only used where
    every value is a string (a string equals only itself, where 1, 1.0 and True would collide)."""
    codes, uniques = pd.factorize(s.to_numpy(dtype=object))
    return pd.Series(np.asarray(uniques, dtype=object), dtype="object"), codes, codes < 0


def _spread(values: pd.Series, codes: np.ndarray, missing: np.ndarray, index: pd.Index, fill) -> pd.Series:
    """Per-distinct results back onto the rows; missing rows get `fill` (a scalar, or the raw values)."""
    arr = values.to_numpy()
    if not len(arr):  # every row missing
        out = fill.copy() if isinstance(fill, np.ndarray) else np.array([fill] * len(codes), dtype=object)
        return pd.Series(out, index=index, dtype=out.dtype, copy=False)
    out = arr[np.where(missing, 0, codes)]
    if missing.any():
        if isinstance(fill, np.ndarray):
            out = out.astype(object)
            out[missing] = fill[missing]
        elif out.dtype.kind == "M" and fill is pd.NaT:
            out[missing] = np.datetime64("NaT")
        elif (out.dtype.kind == "f" and isinstance(fill, float)) or (out.dtype.kind == "b" and isinstance(fill, bool)):
            out[missing] = fill
        else:
            out = out.astype(object)
            out[missing] = fill
    return pd.Series(out, index=index, dtype=out.dtype, copy=False)  # dtype kept: no str inference


def _per_distinct(parse, s: pd.Series, fill) -> pd.Series:
    """An element-wise parser run once per distinct value of a text column; `fill` where missing."""
    if not (_all_text(s) and len(s)):
        return parse(s)
    values, codes, missing = _distinct(s)
    return _spread(parse(values) if len(values) else values, codes, missing, s.index, fill)


def _plain_ascii(values: pd.Series) -> np.ndarray:
    """Strings that normalising leaves as they are: ASCII (NFKC changes none of it), not empty, no
    tab, newline or other blank but single inner spaces — checked by Arrow, not per value in Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(values.to_numpy(dtype=object), pa.string())
    blanks = pc.match_substring_regex(arr, r"[\t\n\x0b\x0c\r\x1c-\x1f]|^ | $|  ")
    ok = pc.and_(pc.and_(pc.string_is_ascii(arr), pc.invert(blanks)), pc.greater(pc.utf8_length(arr), 0))
    return ok.to_numpy(zero_copy_only=False)


def _text(s: pd.Series) -> pd.Series:
    """Identifiers and labels as text: numbers typed by Excel lose their '.0', full width → half."""
    if _all_text(s) and len(s):  # the same result, per distinct value, skipping plain ASCII (speed and scale)
        values, codes, missing = _distinct(s)
        done = values.copy()
        todo = ~_plain_ascii(values) if len(values) else np.zeros(0, dtype=bool)
        if todo.any():
            done[todo] = _text_each(values[todo]).to_numpy(dtype=object)
        if done.notna().any():  # as value by value: pandas reads a column of strings as str, missing → NaN
            return _spread(done.where(done.notna(), np.nan), codes, missing, s.index, np.nan).astype("object")
        return _spread(done, codes, missing, s.index, s.to_numpy(dtype=object)).astype("object")
    return _text_each(s)


def _text_each(s: pd.Series) -> pd.Series:
    """`_text`, value by value."""
    def one(v: object) -> object:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        if isinstance(v, (pd.Timestamp,)) or hasattr(v, "isoformat"):
            return v.isoformat()[:10]
        return str(v)

    return normalise_text(s.map(one, na_action="ignore")).astype("object")


def _cell_problem(df: pd.DataFrame, idx, column: str, value: object, zh: str, en: str, rule: str, severity: str = "error") -> Problem:
    r = df.loc[idx]
    return Problem(file=r["_file"], sheet=r["_sheet"], row=int(r["_row"]), column=f"{HEADER_ZH.get(column, column)}（{column}）", value=value,
                   message_zh=zh, message_en=en, rule=rule, severity=severity)


def _report(df: pd.DataFrame, mask: pd.Series, column: str, raw: pd.Series, zh: str, en: str, rule: str, severity: str = "error") -> list[Problem]:
    """One problem per offending row (the first MAX per column, then a count)."""
    bad = mask[mask].index
    out = [_cell_problem(df, i, column, raw.loc[i], zh, en, rule, severity) for i in bad[:MAX_MESSAGES_PER_COLUMN]]
    if len(bad) > MAX_MESSAGES_PER_COLUMN:
        first = df.loc[bad[0]]
        out.append(Problem(file=first["_file"], sheet=first["_sheet"], column=f"{HEADER_ZH.get(column, column)}（{column}）", severity=severity,
                           message_zh=f"另有 {len(bad) - MAX_MESSAGES_PER_COLUMN} 行同样的问题未逐一列出", message_en=f"{len(bad) - MAX_MESSAGES_PER_COLUMN} more rows with the same problem", rule=rule))
    return out


def _report_each(df: pd.DataFrame, mask: pd.Series, column: str, raw: pd.Series, messages, rule: str, severity: str = "error") -> list[Problem]:
    """Like `_report`, with a message made for each row (e.g. what a date was read as)."""
    bad = mask[mask].index
    out = []
    for i in bad[:MAX_MESSAGES_PER_COLUMN]:
        zh, en = messages(i)
        out.append(_cell_problem(df, i, column, raw.loc[i], zh, en, rule, severity))
    if len(bad) > MAX_MESSAGES_PER_COLUMN:
        first = df.loc[bad[0]]
        out.append(Problem(file=first["_file"], sheet=first["_sheet"], column=f"{HEADER_ZH.get(column, column)}（{column}）", severity=severity,
                           message_zh=f"另有 {len(bad) - MAX_MESSAGES_PER_COLUMN} 行同样的情况未逐一列出", message_en=f"{len(bad) - MAX_MESSAGES_PER_COLUMN} more rows alike", rule=rule))
    return out


def _normalised_note(df: pd.DataFrame, raw: pd.Series, clean: pd.Series, column: str) -> list[Problem]:
    """Say so where full-width characters or stray spaces were normalised (meaning is certain)."""
    r = raw.astype(object) if _all_text(raw) else raw.map(lambda v: v if isinstance(v, str) else None, na_action="ignore")
    changed = (r.notna() & (r != clean) & clean.notna()).fillna(False).astype(bool)
    return _report_each(df, changed, column, raw, lambda i: (f"全角字符或多余空格已按半角、去空格处理，读作“{clean[i]}”",
                                                         f"full-width characters or stray spaces were normalised: read as '{clean[i]}'"), "normalised", "warning")


def _dates(df: pd.DataFrame, column: str, required: bool) -> tuple[pd.Series, list[Problem]]:
    raw = df[column]
    if _all_text(raw) and len(raw):  # read once per distinct date (speed and scale): the same values and flags
        values, codes, missing = _distinct(raw)
        one = _date_columns(values)
        fills = {"numeric": np.nan, "serial": False, "parsed": pd.NaT, "texty": False, "blank": False}
        cols = {k: _spread(v, codes, missing, raw.index, fills[k]) for k, v in one.items()}
        cols = {k: v.astype({"numeric": float, "parsed": "datetime64[ns]"}.get(k, bool)) for k, v in cols.items()}
    else:
        cols = _date_columns(raw)
    numeric, serial, parsed = cols["numeric"], cols["serial"], cols["parsed"]
    problems: list[Problem] = []
    if serial.any():
        problems += _report_each(df, serial, column, raw, lambda i: (
            f"日期是 Excel 序列号，已按 Excel 日期（1900 日期系统）换算为 {parsed[i]:%Y-%m-%d}",
            f"the date is an Excel serial number; read as {parsed[i]:%Y-%m-%d} (1900 date system)"), "date-serial", "warning")
    texty = cols["texty"] & parsed.notna() & ~serial
    problems += _report_each(df, texty, column, raw, lambda i: (
        f"日期以文本填写，含义确定，已读作 {parsed[i]:%Y-%m-%d}（请使用 2023-10-08 的格式）",
        f"the date is written as text; its meaning is certain, read as {parsed[i]:%Y-%m-%d} (use the form 2023-10-08)"), "date-text", "warning")
    empty = raw.isna() | cols["blank"]
    bad = parsed.isna() & ~empty
    problems += _report(df, bad, column, raw, "不是有效日期（应为 2023-10-08 这样的日期，且日期须真实存在）",
                        "not a valid date (expected e.g. 2023-10-08, and the day must exist)", "date-format")
    if required:
        problems += _report(df, empty, column, raw, "日期为空", "date is empty", "required")
    return parsed, problems


def _date_columns(raw: pd.Series) -> dict[str, pd.Series]:
    """Per value: as a number (an Excel serial?), is it a serial, the date read, text other than
    2023-10-08, blank text."""
    numeric = pd.to_numeric(raw.map(lambda v: v if isinstance(v, (int, float)) and not isinstance(v, bool) else (v if isinstance(v, str) and v.strip().isdigit() and len(v.strip()) == 5 else None), na_action="ignore"), errors="coerce")
    serial = numeric.notna() & numeric.between(20000, 80000)
    parsed = parse_date(raw.where(~serial, None))
    if serial.any():
        parsed[serial] = EXCEL_EPOCH + pd.to_timedelta(numeric[serial].astype(int), unit="D")
    texty = raw.map(lambda v: isinstance(v, str) and not ISO_DATE.fullmatch(v), na_action="ignore").fillna(False).astype(bool)
    blank = raw.map(lambda v: isinstance(v, str) and not v.strip(), na_action="ignore").fillna(False).astype(bool)
    return {"numeric": numeric, "serial": serial, "parsed": parsed, "texty": texty, "blank": blank}


def type_units(df: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    out = pd.DataFrame(index=df.index)
    for c in ("unit_id", "unit_name", "unit_group"):
        out[c] = _text(df[c])
        problems += _normalised_note(df, df[c], out[c], c)
        problems += _report(df, out[c].isna(), c, df[c], "必填项为空", "required value is empty", "required")
    out["record_id"] = out["unit_id"]
    out[["_file", "_sheet", "_row"]] = df[["_file", "_sheet", "_row"]]
    return out.reset_index(drop=True), problems


def type_events(df: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    out = pd.DataFrame(index=df.index)
    for c in ("event_id", "unit_id", "indicator", "level", "source", "note"):
        out[c] = _text(df[c])
        if c in ("event_id", "unit_id", "indicator", "level"):
            problems += _normalised_note(df, df[c], out[c], c)
    for c in ("event_id", "unit_id", "indicator"):
        problems += _report(df, out[c].isna(), c, df[c], "必填项为空", "required value is empty", "required")
    out["date"], p = _dates(df, "date", required=True)
    problems += p
    out["done_date"], p = _dates(df, "done_date", required=False)
    problems += p
    raw_q = df["quantity"]
    q_text = _text(raw_q)
    q = _per_distinct(parse_number, q_text, np.nan).astype(float)
    empty = q_text.isna()
    problems += _normalised_note(df, raw_q, q_text, "quantity")
    problems += _report(df, ~empty & q.isna(), "quantity", raw_q, "数量不是数字", "quantity is not a number", "quantity-number")
    problems += _report(df, q.notna() & (q != np.floor(q)), "quantity", raw_q, "数量应为整数", "quantity must be a whole number", "quantity-integer")
    out["quantity"] = q.where(~empty, 1.0)
    out["record_id"] = out["event_id"]
    out[["_file", "_sheet", "_row"]] = df[["_file", "_sheet", "_row"]]
    return out.reset_index(drop=True), problems


def type_facts(df: pd.DataFrame) -> tuple[pd.DataFrame, list[Problem]]:
    problems: list[Problem] = []
    out = pd.DataFrame(index=df.index)
    for c in ("unit_id", "indicator", "value", "note"):
        out[c] = _text(df[c])
    for c in ("unit_id", "indicator"):
        problems += _normalised_note(df, df[c], out[c], c)
        problems += _report(df, out[c].isna(), c, df[c], "必填项为空", "required value is empty", "required")
    sheet = df["_sheet"].fillna(df["_file"]).astype(str)
    out["record_id"] = sheet + "!" + df["_row"].astype(str)
    out[["_file", "_sheet", "_row"]] = df[["_file", "_sheet", "_row"]]
    return out.reset_index(drop=True), problems


TYPERS = {"units": type_units, "events": type_events, "facts": type_facts}


def read(raw_dir: Path) -> Evidence:
    """Read and type one county-year's evidence; every problem found at once, or none."""
    raw_dir = Path(raw_dir)
    form, paths = locate(raw_dir)
    problems: list[Problem] = []
    if form == "xlsx":
        frames = read_workbook(paths["workbook"])
        sources = {t: (paths["workbook"].name, frames[t].attrs.get("sheet", t)) for t in frames}
        hashed = [paths["workbook"]]
    else:
        frames = {}
        for t, p in paths.items():  # each file's own refusal, all files at once
            try:
                frames[t], cells = _csv_error_cells(read_csv_table(p, t), t)
            except EvidenceError as exc:
                problems += exc.problems
                continue
            problems += cells
        if problems and len(frames) < len(paths):
            raise EvidenceError(errors_of(problems))
        sources = {t: (p.name, None) for t, p in paths.items()}
        hashed = list(paths.values())
    error_cells = {(p.file, p.row, _canon_of(p.column)) for p in problems if p.rule == "excel-error"}
    typed: dict[str, pd.DataFrame] = {}
    for table in ("units", "events", "facts"):
        file, sheet = sources[table]
        df, p = _rename(frames[table], table, file, sheet)
        problems += p
        if any(x.rule == "column-missing" for x in p):
            continue
        typed[table], p = TYPERS[table](df)
        # an error cell is reported once, as an error cell, not again as an empty or non-numeric value
        problems += [x for x in p if (x.file, x.row, _canon_of(x.column)) not in error_cells]
    errors = errors_of(problems)
    if errors:
        raise EvidenceError(errors)
    files = {p.name: sha256_file(p) for p in sorted(hashed)}
    return Evidence(units=typed["units"], events=typed["events"], facts=typed["facts"], files=files,
                    notes=[p for p in problems if p.severity != "error"])


def errors_of(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def _canon_of(label: str | None) -> str | None:
    """'数量（quantity）' → 'quantity': the canonical column a typed problem names."""
    m = re.search(r"（([a-z_]+)）$", label or "")
    return m.group(1) if m else None


def write_parquet(ev: Evidence, folder: Path) -> dict[str, Path]:
    """The tidy tables as parquet, for the next stage and the bundle."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in ("units", "events", "facts"):
        path = folder / f"{name}.parquet"
        getattr(ev, name).to_parquet(path, index=False)
        out[name] = path
    return out


def read_parquet(folder: Path, files: dict[str, str] | None = None) -> Evidence:
    """Tidy tables written by `write_parquet`, with types restored."""
    t = {n: pd.read_parquet(folder / f"{n}.parquet") for n in ("units", "events", "facts")}
    for n, df in t.items():
        shared: dict[str, tuple] = {}
        for c in df.columns:
            if c not in ("date", "done_date", "quantity", "_row"):
                df[c] = _text_objects(df[c], shared)
    return Evidence(units=t["units"], events=t["events"], facts=t["facts"], files=files or {})


def _text_objects(s: pd.Series, shared: dict[str, np.ndarray]) -> pd.Series:
    """`s.astype(object).where(s.notna(), None)`, with one Python string per distinct value.

    Speed and scale: converted value by value, 10 M events made 10 M copies of "events.csv", of each
    unit id and of each indicator code — 4 of the 6.6 GiB the score stage held before scoring. A
    column equal to one already converted (record_id = event_id) shares its strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    to_arrow = getattr(s.array, "__arrow_array__", None)  # pandas' str columns are Arrow already
    try:
        arr = to_arrow() if to_arrow is not None else None
    except (TypeError, ValueError, pa.ArrowException):
        arr = None
    if isinstance(arr, pa.Array):
        arr = pa.chunked_array([arr])
    if arr is None or not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)) or len(s) == 0:
        return s.astype("object").where(s.notna(), None)
    for other in shared.values():  # a column equal to one already converted shares its strings
        if pc.all(pc.equal(arr, other[0])).as_py() and arr.null_count == 0 and other[0].null_count == 0:
            return pd.Series(other[1], index=s.index, dtype="object", copy=False)
    encoded = arr.combine_chunks().dictionary_encode()
    words = np.asarray(encoded.dictionary.to_pylist() + [None], dtype=object)
    codes = encoded.indices.fill_null(len(words) - 1).to_numpy(zero_copy_only=False)
    out = words[codes]
    shared[s.name] = (arr, out)
    return pd.Series(out, index=s.index, dtype="object", copy=False)
