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
MAX_FILE_BYTES = 512 * 1024 * 1024  # a county-year's evidence is megabytes; past this we refuse
MAX_UNZIPPED_BYTES = 2 * 1024 * 1024 * 1024
MAX_ZIP_RATIO = 200
MAX_MESSAGES_PER_COLUMN = 50
EXCEL_EPOCH = pd.Timestamp("1899-12-30")


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

def _decode(path: Path, data: bytes) -> tuple[str, str]:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise EvidenceError([Problem(file=path.name, message_zh="文件编码无法识别：既不是 UTF-8 也不是 GB18030，请在 Excel 中另存为“CSV UTF-8”",
                                 message_en="unknown encoding: neither UTF-8 nor GB18030; save as CSV UTF-8", rule="encoding")])


def read_csv_table(path: Path, table: str) -> pd.DataFrame:
    """A CSV as strings (leading zeros kept), with file and row (header = row 1) of each record."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise EvidenceError([Problem(file=path.name, value=f"{size} bytes", message_zh=f"文件过大（{size / 2**20:.0f} MiB，上限 {MAX_FILE_BYTES / 2**20:.0f} MiB）",
                                     message_en=f"file too large ({size} bytes, limit {MAX_FILE_BYTES})", rule="size-limit")])
    data = path.read_bytes()
    if not data.strip():
        raise EvidenceError([Problem(file=path.name, message_zh="文件为空", message_en="empty file", rule="empty-file")])
    if data[:4] == b"PK\x03\x04" or b"\x00" in data[:4096]:
        raise EvidenceError([Problem(file=path.name, message_zh="文件内容不是 CSV 文本（可能是改了扩展名的 Excel 或其他二进制文件）",
                                     message_en="not a CSV text file (a renamed workbook or binary file?)", rule="file-type")])
    text, _ = _decode(path, data)
    import io

    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[], skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise EvidenceError([Problem(file=path.name, message_zh=f"CSV 格式错误：{exc}", message_en=f"malformed CSV: {exc}", rule="csv-format")])
    df = df.astype(object).where(df != "", None)
    df["_row"] = np.arange(2, len(df) + 2)
    df["_file"] = path.name
    df["_sheet"] = None
    return df


# ---- xlsx ---------------------------------------------------------------------------------

def _check_zip(path: Path) -> None:
    """Refuse what is not a workbook, and zip bombs, before openpyxl inflates anything."""
    size = path.stat().st_size
    if size == 0:
        raise EvidenceError([Problem(file=path.name, message_zh="文件为空", message_en="empty file", rule="empty-file")])
    if size > MAX_FILE_BYTES:
        raise EvidenceError([Problem(file=path.name, value=f"{size} bytes", message_zh=f"文件过大（上限 {MAX_FILE_BYTES / 2**20:.0f} MiB）",
                                     message_en=f"file too large (limit {MAX_FILE_BYTES} bytes)", rule="size-limit")])
    if not zipfile.is_zipfile(path):
        raise EvidenceError([Problem(file=path.name, message_zh="文件不是有效的 .xlsx 工作簿（可能是改了扩展名的 CSV 或旧版 .xls）",
                                     message_en="not a valid .xlsx workbook (a renamed CSV or old .xls?)", rule="file-type")])
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        total = sum(i.file_size for i in infos)
        packed = sum(i.compress_size for i in infos) or 1
        if total > MAX_UNZIPPED_BYTES or total / packed > MAX_ZIP_RATIO and total > 50 * 2**20:
            raise EvidenceError([Problem(file=path.name, value=f"{total} bytes unzipped", message_zh=f"工作簿解压后过大（{total / 2**20:.0f} MiB，压缩比 {total / packed:.0f}），疑似压缩炸弹，已拒绝",
                                         message_en=f"workbook inflates to {total} bytes (ratio {total / packed:.0f}); refused as a possible zip bomb", rule="zip-bomb")])
        if "xl/workbook.xml" not in {i.filename for i in infos}:
            raise EvidenceError([Problem(file=path.name, message_zh="文件不是有效的 .xlsx 工作簿", message_en="not an .xlsx workbook", rule="file-type")])


def _merged_ranges(path: Path) -> dict[str, list[str]]:
    """Merged ranges per sheet XML part, read from the zip (read-only openpyxl cannot see them)."""
    out: dict[str, list[str]] = {}
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/sheet") and name.endswith(".xml"):
                with z.open(name) as f:
                    f.seek(0)
                    tail = f.read()[-2_000_000:]
                refs = re.findall(rb'<mergeCell ref="([A-Z]+[0-9]+:[A-Z]+[0-9]+)"', tail)
                if refs:
                    out[name] = [r.decode() for r in refs]
    return out


def read_workbook(path: Path) -> dict[str, pd.DataFrame]:
    """Each of the three tables from the workbook, as values (never formulas), with cell rows."""
    import openpyxl

    _check_zip(path)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many types for broken files
        raise EvidenceError([Problem(file=path.name, message_zh=f"无法打开工作簿：{type(exc).__name__}", message_en=f"cannot open workbook: {exc}", rule="file-type")])
    problems: list[Problem] = []
    tables: dict[str, pd.DataFrame] = {}
    sheet_of: dict[str, str] = {}
    for ws in wb.worksheets:
        for table, names in TABLE_NAMES.items():
            if _key(ws.title) in {_key(n) for n in names}:
                sheet_of[table] = ws.title
    merged = _merged_ranges(path)
    sheet_parts = _sheet_parts(path)
    for table in ("units", "events", "facts"):
        title = sheet_of.get(table)
        if title is None:
            problems.append(Problem(file=path.name, sheet=f"{table} / {TABLE_ZH[table]}", message_zh=f"工作簿中缺少工作表“{TABLE_ZH[table]}”（{table}）",
                                    message_en=f"missing sheet '{table}'", rule="sheet-missing"))
            continue
        ws = wb[title]
        if ws.sheet_state != "visible":
            problems.append(Problem(file=path.name, sheet=title, message_zh="该工作表是隐藏的：请取消隐藏并核对其内容后再运行",
                                    message_en="the sheet is hidden: unhide it and check its content", rule="hidden-sheet"))
        for ref in merged.get(sheet_parts.get(title, ""), []):
            problems.append(Problem(file=path.name, sheet=title, column=ref, value=ref, message_zh=f"存在合并单元格 {ref}：每个单元格应各有其值，请取消合并",
                                    message_en=f"merged cells {ref}: unmerge so every cell holds its own value", rule="merged-cells"))
        df, cell_problems = _sheet_frame(ws, path.name, title, table)
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
            problems.append(Problem(file=file, sheet=sheet, row=1 if sheet is None else None, column=str(col), value=col,
                                    message_zh=f"表头“{col}”与另一列重复表示 {canon}（{HEADER_ZH[canon]}）", message_en=f"header '{col}' duplicates column {canon}", rule="header-duplicate"))
            continue
        mapping[col] = canon
    for need in REQUIRED[table]:
        if need not in mapping.values():
            have = "、".join(str(c) for c in df.columns if not str(c).startswith("_"))
            problems.append(Problem(file=file, sheet=sheet, row=1 if sheet is None else None, column=f"{HEADER_ZH[need]}（{need}）",
                                    message_zh=f"缺少必需的列“{HEADER_ZH[need]}”（{need}）；现有表头：{have}", message_en=f"missing required column '{need}'; headers found: {have}", rule="column-missing"))
    out = df.rename(columns=mapping)
    keep = [c for c in COLUMNS[table] if c in out.columns] + ["_file", "_sheet", "_row"]
    out = out[keep].copy()
    for c in COLUMNS[table]:
        if c not in out.columns:
            out[c] = None
    return out, problems


def _text(s: pd.Series) -> pd.Series:
    """Identifiers and labels as text: numbers typed by Excel lose their '.0', full width → half."""
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


def _normalised_note(df: pd.DataFrame, raw: pd.Series, clean: pd.Series, column: str) -> list[Problem]:
    """Say so where full-width characters or stray spaces were normalised (meaning is certain)."""
    r = raw.map(lambda v: v if isinstance(v, str) else None, na_action="ignore")
    changed = r.notna() & (r != clean) & clean.notna()
    return _report(df, changed.fillna(False).astype(bool), column, raw, "全角字符或多余空格已按半角、去空格处理",
                   "full-width characters or stray spaces were normalised", "normalised", "warning")


def _dates(df: pd.DataFrame, column: str, required: bool) -> tuple[pd.Series, list[Problem]]:
    raw = df[column]
    problems: list[Problem] = []
    numeric = pd.to_numeric(raw.map(lambda v: v if isinstance(v, (int, float)) and not isinstance(v, bool) else (v if isinstance(v, str) and v.strip().isdigit() and len(v.strip()) == 5 else None), na_action="ignore"), errors="coerce")
    serial = numeric.notna() & numeric.between(20000, 80000)
    parsed = parse_date(raw.where(~serial, None))
    if serial.any():
        parsed[serial] = EXCEL_EPOCH + pd.to_timedelta(numeric[serial].astype(int), unit="D")
        problems += _report(df, serial, column, raw, "日期是 Excel 序列号，已按 Excel 日期换算（1900 日期系统）",
                            "the date is an Excel serial number; converted with the 1900 date system", "date-serial", "warning")
    empty = raw.isna() | raw.map(lambda v: isinstance(v, str) and not v.strip(), na_action="ignore").fillna(False).astype(bool)
    bad = parsed.isna() & ~empty
    problems += _report(df, bad, column, raw, "不是有效日期（应为 2023-10-08 这样的日期，且日期须真实存在）",
                        "not a valid date (expected e.g. 2023-10-08, and the day must exist)", "date-format")
    if required:
        problems += _report(df, empty, column, raw, "日期为空", "date is empty", "required")
    return parsed, problems


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
    q = parse_number(q_text)
    empty = q_text.isna()
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
    if form == "xlsx":
        frames = read_workbook(paths["workbook"])
        sources = {t: (paths["workbook"].name, frames[t]["_sheet"].iloc[0] if len(frames[t]) else t) for t in frames}
        hashed = [paths["workbook"]]
    else:
        frames = {t: read_csv_table(p, t) for t, p in paths.items()}
        sources = {t: (p.name, None) for t, p in paths.items()}
        hashed = list(paths.values())
    problems: list[Problem] = []
    typed: dict[str, pd.DataFrame] = {}
    for table in ("units", "events", "facts"):
        file, sheet = sources[table]
        df, p = _rename(frames[table], table, file, sheet)
        problems += p
        if any(x.rule == "column-missing" for x in p):
            continue
        typed[table], p = TYPERS[table](df)
        problems += p
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise EvidenceError(errors)
    files = {p.name: sha256_file(p) for p in sorted(hashed)}
    return Evidence(units=typed["units"], events=typed["events"], facts=typed["facts"], files=files,
                    notes=[p for p in problems if p.severity != "error"])


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
        for c in df.columns:
            if c not in ("date", "done_date", "quantity", "_row"):
                df[c] = df[c].astype("object").where(df[c].notna(), None)
    return Evidence(units=t["units"], events=t["events"], facts=t["facts"], files=files or {})
