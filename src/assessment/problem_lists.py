"""Problem lists imported as events: a monitoring platform's export, or a 上级 通报's table.

An office receives its findings as somebody else's table: a platform export naming the *account*
(泗洪青阳发布), a date with a time, a free-text description (发现错别字“泗红”) and a link. A mapping
file (YAML, one per kind of list) says which column is which, how names become unit codes (an
alias list, then the exact unit names of a units table) and which indicator a description means
(a keyword or regular-expression table, first match wins, in the file's order). The result is an
``events.csv`` in the evidence contract's columns, so the list is scored like any evidence.

Every row of the list is either an event or a line of the unmatched list (file, sheet, row,
column, value, why): none is dropped unseen. Unmatched rows stop the import (exit 2, no events
file written, the previous one kept) unless the analyst says ``--allow-unmatched``: then the
matched rows are written and the unmatched ones stay listed beside them.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import csvio
from .evidence import (COLUMNS, HEADER_SCAN_ROWS, MAX_CELL_CHARS, Grid, _check_zip, _csv_grid, _table)
from .frameworks import Framework, explain_error
from .problems import InputError, Problem
from .values import INVISIBLE, parse_date, visible

EVENT_COLUMNS = list(COLUMNS["events"])
UNMATCHED_COLUMNS = ["文件 file", "工作表 sheet", "行 row", "列 column", "值 value", "原因 reason"]


class MappingError(InputError):
    """A mapping file (or the units table it names) cannot be used as it is."""


# ---- the mapping file -----------------------------------------------------------------------

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Columns(_Strict):
    """Headers of the problem list, as they are written in it (compared without blanks, full/half width alike)."""

    unit: str = Field(min_length=1)
    date: str = Field(min_length=1)
    description: str = Field(min_length=1)
    link: str | None = None
    quantity: str | None = None
    level: str | None = None
    source: str | None = None


class Constants(_Strict):
    """Values every event of the list gets, where the list has no column for them."""

    source: str | None = None
    level: str | None = None
    quantity: int = Field(default=1, ge=1)


class IndicatorRule(_Strict):
    """One line of the description → indicator table: a keyword (plain text) or a regular expression."""

    keyword: str | None = Field(default=None, min_length=1)
    regex: str | None = Field(default=None, min_length=1)
    indicator: str = Field(min_length=1)


class ListMapping(_Strict):
    """A mapping file (`mapping.yaml`)."""

    id_prefix: str = Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")
    title: str | None = None
    sheet: str | None = None
    columns: Columns
    constants: Constants = Field(default_factory=Constants)
    ignore_columns: list[str] = Field(default_factory=list)
    units: str | None = None
    aliases: dict[str, str] = Field(default_factory=dict)
    indicators: list[IndicatorRule] = Field(min_length=1)


@dataclass
class Mapping:
    """A checked mapping: the file's model plus what matching needs, compiled."""

    spec: ListMapping
    file: str
    rules: list[tuple[re.Pattern, str, str, bool]]  # (pattern, indicator, how it reads in a note, keyword: matched without blanks)
    aliases: dict[str, str]  # name key → unit code
    units_path: Path | None


def name_key(text: object) -> str:
    """A name as compared: invisible characters and all blanks out, full-width → half-width (NFKC)."""
    t = unicodedata.normalize("NFKC", INVISIBLE.sub("", str(text)))
    return re.sub(r"\s+", "", t)


def _problem(file: str, key: str, zh: str, en: str, value: Any = None) -> Problem:
    return Problem(file=file, column=key, value=value, message_zh=f"{key}：{zh}" if key else zh,
                   message_en=f"{key}: {en}" if key else en, rule="import-mapping")


def load_mapping(path: str | Path, fw: Framework) -> Mapping:
    """Read and check a mapping file; refuse it whole, every problem named with its key path."""
    path = Path(path)
    file = str(path)
    try:
        data = yaml.safe_load(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise MappingError([_problem(file, "", f"无法读取映射文件：{exc.strerror}", f"cannot read the mapping file: {exc}")])
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise MappingError([_problem(file, "", f"映射文件不是有效的 UTF-8 YAML：{exc}", f"not valid UTF-8 YAML: {exc}")])
    if not isinstance(data, dict):
        raise MappingError([_problem(file, "", "映射文件应为一个映射（键: 值）", "the mapping file must be a mapping (key: value)")])
    try:
        spec = ListMapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError([_schema_problem(file, err) for err in exc.errors()])
    problems: list[Problem] = []
    rules = _compile_rules(spec, fw, file, problems)
    aliases: dict[str, str] = {}
    for name, code in spec.aliases.items():
        k = name_key(name)
        if k in aliases and aliases[k] != code:
            problems.append(_problem(file, f"aliases.{name}", f"与另一个别名规范化后相同（全角半角、空格不计），却指向不同单位 {aliases[k]} 与 {code}",
                                     f"equals another alias once normalised, but names another unit ({aliases[k]} vs {code})", name))
        aliases[k] = str(code)
    if set(spec.columns.model_dump(exclude_none=True)) & {k for k, v in spec.constants.model_dump().items() if v is not None and k != "quantity"}:
        both = sorted(set(spec.columns.model_dump(exclude_none=True)) & {k for k, v in spec.constants.model_dump().items() if v is not None})
        problems.append(_problem(file, "constants", f"{'、'.join(both)} 既在 columns 中指定了列，又在 constants 中给了固定值，请只保留一处",
                                 f"{', '.join(both)} given both as a column and as a constant; keep one"))
    if problems:
        raise MappingError(problems)
    units_path = None
    if spec.units:
        units_path = Path(spec.units)
        if not units_path.is_absolute():
            units_path = path.parent / units_path
    return Mapping(spec=spec, file=file, rules=rules, aliases=aliases, units_path=units_path)


def _model_at(loc: tuple) -> type[BaseModel]:
    """The model holding the last key of an error's location (for "可用：…", the keys it accepts)."""
    model: type[BaseModel] = ListMapping
    for part in loc[:-1]:
        ann = model.model_fields[part].annotation if part in model.model_fields else None
        inner = [a for a in (getattr(ann, "__args__", None) or (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if inner:
            model = inner[0]
    return model


def _schema_problem(file: str, err: dict) -> Problem:
    """A pydantic error of the mapping file, as a Chinese sentence naming the key path (frameworks' wording)."""
    loc = tuple(str(x) for x in err.get("loc", ()))
    zh, en = explain_error({**err, "loc": loc}, allowed=list(_model_at(loc).model_fields))
    if loc[:1] == ("aliases",) and err.get("type") == "string_type":
        zh += "（单位编码请加引号，如 \"0004\"：不加引号时 YAML 把它读作数字，前导 0 会丢失）"
        en += " (quote unit codes, e.g. \"0004\": unquoted, YAML reads a number and the leading zeros are lost)"
    return Problem(file=file, column=".".join(loc) or None, message_zh=f"映射文件有误：{zh}", message_en=f"mapping file: {en}", rule="import-mapping")


def _compile_rules(spec: ListMapping, fw: Framework, file: str, problems: list[Problem]) -> list[tuple[re.Pattern, str, str, bool]]:
    """The indicator table, in its order; each line one keyword or one regex, naming a leaf scored from events."""
    from .rules import RULES

    leaves = {leaf.code: leaf for leaf in fw.leaves()}
    rules = []
    for i, r in enumerate(spec.indicators):
        key = f"indicators[{i}]"
        if (r.keyword is None) == (r.regex is None):
            problems.append(_problem(file, key, "每一行应有且只有 keyword（关键词）或 regex（正则表达式）之一",
                                     "each line needs exactly one of keyword or regex"))
            continue
        leaf = leaves.get(r.indicator)
        if leaf is None:
            problems.append(_problem(file, f"{key}.indicator", f"框架 {fw.id} 中没有可计分的指标 “{r.indicator}”；可用：{'、'.join(leaves)}",
                                     f"framework {fw.id} has no scored leaf '{r.indicator}'", r.indicator))
            continue
        if RULES[leaf.rule.type].evidence != "events":
            problems.append(_problem(file, f"{key}.indicator", f"指标 {r.indicator} 按指标事实计分（{leaf.rule.type}），不能由问题清单的事件计分",
                                     f"indicator {r.indicator} is scored from facts ({leaf.rule.type}), not from events", r.indicator))
            continue
        if r.keyword is not None:
            rules.append((re.compile(re.escape(name_key(r.keyword))), r.indicator, f"{key} 关键词 “{r.keyword}”", True))
            continue
        try:
            rules.append((re.compile(r.regex), r.indicator, f"{key} 正则 “{r.regex}”", False))
        except re.error as exc:
            problems.append(_problem(file, f"{key}.regex", f"不是有效的正则表达式：{exc}", f"not a valid regular expression: {exc}", r.regex))
    return rules


# ---- the units table ------------------------------------------------------------------------

def read_units(path: Path) -> dict[str, str]:
    """Unit name key → unit code, from a units table as the evidence contract reads it (CSV, any accepted encoding and headers)."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise MappingError([Problem(file=str(path), message_zh="单位表应为 CSV 文件（如 units.csv）", message_en="the units table must be a CSV file", rule="import-units")])
    cells, rows = _csv_grid(path)
    table, problems, _ = _table(Grid(cells=cells, rows=rows, file=path.name), "units")
    errors = [p for p in problems if p.severity == "error"]
    if errors or table is None:
        raise MappingError(errors)
    out: dict[str, str] = {}
    for code, name in zip(table["unit_id"], table["unit_name"]):
        if code is not None and name is not None:
            out[name_key(name)] = str(code).strip()
    return out


# ---- the problem list -----------------------------------------------------------------------

@dataclass
class ListRows:
    """The list's records under its header: canonical field → value, with file, sheet and row."""

    rows: pd.DataFrame  # columns: the mapped fields present, `_file`, `_sheet`, `_row`
    labels: dict[str, str]  # field → its column as the analyst finds it ('C（账号名称）')
    notes: list[Problem] = field(default_factory=list)  # warnings: title rows, columns not read, merged cells filled, other sheets


def read_list(path: Path, mapping: Mapping) -> ListRows:
    """The problem list as a grid (CSV in any accepted encoding, or an xlsx sheet), cut below its header."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        cells, rows = _csv_grid(path)
        grid, notes = Grid(cells=cells, rows=rows, file=path.name), []
    elif path.suffix.lower() in (".xlsx", ".xlsm"):
        grid, notes = _xlsx_grid(path, mapping)
    else:
        raise MappingError([Problem(file=path.name, value=path.suffix, rule="import-file", message_zh="问题清单应为 .xlsx 或 .csv 文件",
                                    message_en="the problem list must be an .xlsx or .csv file")])
    return _cut(grid, mapping, notes)


def _xlsx_grid(path: Path, mapping: Mapping) -> tuple[Grid, list[Problem]]:
    """One sheet of a workbook by position; cells of merged ranges below the header get the range's value (a 通报 merges a unit's rows)."""
    import openpyxl

    _check_zip(path)
    wb = openpyxl.load_workbook(path, data_only=False)
    notes: list[Problem] = []
    filled = [ws.title for ws in wb.worksheets if ws.max_row > 1 or ws.cell(1, 1).value is not None]
    want = mapping.spec.sheet
    if want is None and len(filled) > 1:
        raise MappingError([Problem(file=path.name, value="、".join(filled), rule="import-sheet",
                                    message_zh=f"工作簿有多个工作表（{'、'.join(filled)}）：请在映射文件中用 sheet 写明读哪一个",
                                    message_en="the workbook has several sheets: name the one to read with `sheet` in the mapping")])
    title = want if want is not None else (filled[0] if filled else wb.worksheets[0].title)
    if title not in wb.sheetnames:
        raise MappingError([Problem(file=path.name, sheet=title, value="、".join(wb.sheetnames), rule="import-sheet",
                                    message_zh=f"找不到映射文件 sheet 指定的工作表；现有：{'、'.join(wb.sheetnames)}",
                                    message_en=f"no sheet named as the mapping's `sheet`; sheets found: {', '.join(wb.sheetnames)}")])
    for other in filled:
        if other != title:
            notes.append(Problem(file=path.name, sheet=other, rule="sheet-unused", severity="warning", value=other,
                                 message_zh="该工作表不是映射文件指定的工作表，未读取", message_en="not the sheet the mapping names; not read"))
    ws = wb[title]
    values = [[c.value for c in row] for row in ws.iter_rows()]
    formulas = {(c.row, c.column) for row in ws.iter_rows() for c in row if c.data_type == "f"}
    for rng in ws.merged_cells.ranges:
        if rng.max_row == rng.min_row:
            continue  # a title across the table, or a wide cell: one value, read once
        top = values[rng.min_row - 1][rng.min_col - 1] if rng.min_row - 1 < len(values) else None
        for r in range(rng.min_row, rng.max_row + 1):
            for c in range(rng.min_col, rng.max_col + 1):
                if (r, c) != (rng.min_row, rng.min_col) and r - 1 < len(values) and c - 1 < len(values[r - 1]):
                    values[r - 1][c - 1] = top
        notes.append(Problem(file=path.name, sheet=title, row=rng.min_row, value=str(rng), rule="merged-filled", severity="warning",
                             message_zh=f"合并单元格 {rng} 的值“{visible(top)}”按其覆盖的每一行读取",
                             message_en=f"merged cells {rng}: the value is read for every row they cover"))
    wb.close()
    bad = [(r, c - 1, "formula", values[r - 1][c - 1]) for r, c in sorted(formulas)]
    for r, c, _, _ in bad:
        values[r - 1][c] = None
    keep = [i for i, v in enumerate(values) if any(x is not None and str(x).strip() for x in v)]
    width = max((len(v) for v in values), default=1)
    cells = pd.DataFrame([values[i] + [None] * (width - len(values[i])) for i in keep], columns=list(range(width)), dtype=object)
    return Grid(cells=cells, rows=np.array([i + 1 for i in keep], dtype=np.int64), file=path.name, sheet=title, bad=bad, letters=True), notes


def _label(grid: Grid, j: int, header: object) -> str:
    from openpyxl.utils import get_column_letter

    name = "" if header is None else str(visible(header))
    return f"{get_column_letter(j + 1)}（{name}）" if grid.letters else f"第 {j + 1} 列（{name}）"


def _cut(grid: Grid, mapping: Mapping, notes: list[Problem]) -> ListRows:
    """Find the header (the first of the first rows naming every mapped column) and take the records below it."""
    wanted = mapping.spec.columns.model_dump(exclude_none=True)  # field → header
    keys = {f: name_key(h) for f, h in wanted.items()}
    where = {"file": grid.file, "sheet": grid.sheet}
    cells = grid.cells
    best, best_hits, h = -1, -1, -1
    for i in range(min(HEADER_SCAN_ROWS, len(cells))):
        row_keys = [name_key(v) if v is not None else "" for v in cells.iloc[i]]
        hits = sum(k in row_keys for k in keys.values())
        if hits == len(keys):
            h = i
            break
        if hits > best_hits:
            best, best_hits = i, hits
    if h < 0:
        row_keys = [name_key(v) if v is not None else "" for v in cells.iloc[best]] if best >= 0 else []
        missing = [f"{wanted[f]}（{f}）" for f, k in keys.items() if k not in row_keys]
        have = "、".join(str(visible(v)) for v in (cells.iloc[best] if best >= 0 else []) if v is not None and str(v).strip())
        raise MappingError([Problem(**where, row=int(grid.rows[best]) if best >= 0 else None, value=have, rule="import-header",
                                    message_zh=f"前 {HEADER_SCAN_ROWS} 行中没有一行含有映射文件 columns 写的全部表头；缺少：{'、'.join(missing)}；最接近的一行是：{have}",
                                    message_en=f"none of the first {HEADER_SCAN_ROWS} rows holds every header named under `columns`; missing: {', '.join(missing)}")])
    header_row = int(grid.rows[h])
    if h > 0:
        title = " ".join(str(v) for v in cells.iloc[0] if v is not None and str(v).strip())
        notes.append(Problem(**where, row=header_row, value=visible(title), rule="header-row", severity="warning",
                             message_zh=f"表头位于第 {header_row} 行；其上 {h} 行（如“{str(visible(title))[:20]}”）视为标题，未作为数据读取",
                             message_en=f"the header is on row {header_row}; the {h} row(s) above it are read as a title, not as data"))
    headers = cells.iloc[h]
    position = {name_key(v): j for j, v in reversed(list(headers.items())) if v is not None}
    twice = [f"{wanted[f]}（{f}）" for f, k in keys.items() if sum(name_key(v) == k for v in headers if v is not None) > 1]
    if twice:
        raise MappingError([Problem(**where, row=header_row, value="、".join(twice), rule="header-duplicate",
                                    message_zh=f"表头 {'、'.join(twice)} 出现不止一次，无法确定读哪一列：请只保留一列，或在 columns 中写另一列的表头",
                                    message_en="a mapped header appears more than once; which column is meant cannot be guessed")])
    ignored = {name_key(x) for x in mapping.spec.ignore_columns}
    used = {position[k] for k in keys.values()}
    body = cells.iloc[h + 1:]
    for j, v in headers.items():
        if j in used or (v is not None and name_key(v) in ignored):
            continue
        if v is None and body[j].isna().all():
            continue
        notes.append(Problem(**where, row=header_row, column=_label(grid, j, v), value=None if v is None else visible(str(v)), rule="column-unused", severity="warning",
                             message_zh="该列未映射，未读取（若确实不需要，请在映射文件 ignore_columns 中列出）",
                             message_en="the column is not mapped and was not read (list it under ignore_columns if it is not needed)"))
    out = pd.DataFrame({f: body[position[k]].to_numpy(dtype=object) for f, k in keys.items()})
    out["_file"], out["_sheet"] = grid.file, grid.sheet
    out["_row"] = grid.rows[h + 1:].astype(np.int64)
    formula_at = {(r, j) for r, j, _, _ in grid.bad}
    out["_formula"] = [next((f for f, k in keys.items() if (int(r), position[k]) in formula_at), None) for r in out["_row"]]
    labels = {f: _label(grid, position[k], headers[position[k]]) for f, k in keys.items()}
    return ListRows(rows=out.reset_index(drop=True), labels=labels, notes=notes)


# ---- matching -------------------------------------------------------------------------------

@dataclass
class Imported:
    """The events made from a list, the rows that could not be made into one, and what was noticed on the way."""

    events: pd.DataFrame
    unmatched: pd.DataFrame
    notes: list[Problem]


def _date(value: object) -> pd.Timestamp | None:
    """A date as platforms write it, with or without a time of day ('2023-05-06 14:23:11', '2023/5/6', a real datetime)."""
    if isinstance(value, str):
        value = re.sub(r"[\sT]+\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$", "", unicodedata.normalize("NFKC", value).strip())
    d = parse_date(pd.Series([value], dtype=object)).iloc[0]
    return None if pd.isna(d) else d


def _text(value: object) -> str | None:
    """A cell as text for the event: invisible characters out, blanks trimmed and runs of them made one; wording kept as written."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    t = " ".join(INVISIBLE.sub("", str(value)).split())
    return t or None


def match(rows: ListRows, mapping: Mapping, units: dict[str, str]) -> Imported:
    """Each record → one event, or one unmatched line per reason (no unit, no indicator, bad date, …)."""
    spec = mapping.spec
    events, unmatched = [], []
    for rec in rows.rows.to_dict("records"):
        file, sheet, row = rec["_file"], rec["_sheet"], int(rec["_row"])
        why: list[tuple[str, object, str, str]] = []  # (field, value, zh, en)
        if rec["_formula"]:
            why.append((rec["_formula"], None, "单元格是公式而不是数值：请粘贴为数值", "the cell holds a formula, not a value"))
        name = _text(rec["unit"])
        unit = None
        if name is None:
            why.append(("unit", None, "单位或账号名称为空", "no unit or account name"))
        else:
            k = name_key(name)
            unit = mapping.aliases.get(k) or units.get(k)
            if unit is None:
                why.append(("unit", name, "名称既不在映射文件的别名（aliases）中，也不是单位表中的单位名称：请在 aliases 中加上它",
                            "the name is neither an alias of the mapping nor a unit name of the units table; add it to aliases"))
        desc = _text(rec["description"])
        indicator, how = None, None
        if desc is None:
            why.append(("description", None, "问题描述为空", "no description"))
        else:
            hit = next(((ind, label) for pat, ind, label, plain in mapping.rules if pat.search(name_key(desc) if plain else unicodedata.normalize("NFKC", desc))), None)
            if hit is None:
                why.append(("description", desc, "问题描述不含映射文件 indicators 中的任何关键词或正则：请在 indicators 中加一行",
                            "the description matches no line of the mapping's indicators; add one"))
            else:
                indicator, how = hit
        date = _date(rec["date"]) if rec["date"] is not None else None
        if date is None:
            why.append(("date", rec["date"], "日期为空或无法识别（应如 2023-05-06 或 2023-05-06 14:30）",
                        "empty or unreadable date (write 2023-05-06 or 2023-05-06 14:30)"))
        quantity = spec.constants.quantity
        if "quantity" in rec and _text(rec["quantity"]) is not None:
            q = pd.to_numeric(pd.Series([_text(rec["quantity"])]), errors="coerce").iloc[0]
            if pd.isna(q) or q < 1 or q != int(q):
                why.append(("quantity", rec["quantity"], "数量应为不小于 1 的整数", "quantity must be a whole number of at least 1"))
            else:
                quantity = int(q)
        link = _text(rec.get("link"))
        note = "；".join(x for x in [desc, f"链接 {link}" if link else None,
                                      f"导入自 {file}{'，工作表 ' + sheet if sheet else ''}，第 {row} 行，按 {how}" if how else None] if x)
        if indicator is not None and len(note) > MAX_CELL_CHARS:
            why.append(("description", desc, f"问题描述过长（备注超过 {MAX_CELL_CHARS} 字）", f"the description is too long (note above {MAX_CELL_CHARS} characters)"))
        if why:
            for f, value, zh, en in why:
                unmatched.append({"文件 file": file, "工作表 sheet": sheet, "行 row": row, "列 column": rows.labels.get(f, f),
                                  "值 value": None if value is None else str(visible(value)), "原因 reason": f"{zh}（{en}）"})
            continue
        events.append({"event_id": f"{spec.id_prefix}-{row:04d}", "unit_id": unit, "indicator": indicator,
                       "date": date.strftime("%Y-%m-%d"), "quantity": quantity,
                       "level": _text(rec.get("level")) or spec.constants.level, "done_date": None,
                       "source": _text(rec.get("source")) or spec.constants.source, "note": note})
    notes = list(rows.notes)
    ev = pd.DataFrame(events, columns=EVENT_COLUMNS)
    ev["quantity"] = ev["quantity"].astype("int64")
    return Imported(events=ev, unmatched=pd.DataFrame(unmatched, columns=UNMATCHED_COLUMNS), notes=notes)


# ---- the whole import -----------------------------------------------------------------------

@dataclass
class ImportResult:
    imported: Imported
    events_path: Path | None  # None where unmatched rows kept the events file from being written
    unmatched_path: Path


def unmatched_path(out: Path) -> Path:
    """`events.csv` → `events.unmatched.csv`, beside it."""
    out = Path(out)
    return out.with_name(f"{out.stem}.unmatched.csv")


def _write_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write beside the target and swap it in: a failed write leaves the previous file as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        csvio.write_csv(df, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def import_list(source: str | Path, mapping_file: str | Path, out: str | Path, fw: Framework, units: str | Path | None = None,
                allow_unmatched: bool = False) -> ImportResult:
    """Read a problem list through its mapping; write the events (and always the unmatched list beside them).

    With unmatched rows and no `allow_unmatched`, the events file is not written: a half list would
    score as if the other findings never happened."""
    source, out = Path(source), Path(out)
    if out.resolve() == source.resolve():
        raise MappingError([Problem(file=str(out), rule="import-out", message_zh="输出文件不能是问题清单本身（原始数据不得改写）",
                                    message_en="the output cannot be the problem list itself (raw data is never rewritten)")])
    mapping = load_mapping(mapping_file, fw)
    units_path = Path(units) if units else mapping.units_path
    names = read_units(units_path) if units_path else {}
    if not names and not mapping.aliases:
        raise MappingError([Problem(file=mapping.file, column="aliases / units", rule="import-mapping",
                                    message_zh="没有办法把名称对应到单位编码：请在映射文件中写 aliases，或用 --units 或映射文件的 units 给出单位表",
                                    message_en="no way to match names to unit codes: give aliases, or a units table (--units or `units`)")])
    strays = sorted({code for code in mapping.aliases.values() if names and code not in set(names.values())})
    if strays:
        raise MappingError([Problem(file=mapping.file, column="aliases", value=code, rule="import-mapping",
                                    message_zh=f"aliases：别名指向的单位编码 “{code}” 不在单位表 {units_path.name} 中",
                                    message_en=f"aliases: an alias names unit '{code}', which the units table does not hold") for code in strays])
    imported = match(read_list(source, mapping), mapping, names)
    side = unmatched_path(out)
    _write_atomic(imported.unmatched, side)
    if len(imported.unmatched) and not allow_unmatched:
        return ImportResult(imported, None, side)
    _write_atomic(imported.events, out)
    return ImportResult(imported, out, side)
