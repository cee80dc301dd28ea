"""Per-unit forms: one workbook per unit sent out, and the returned workbooks merged into one evidence folder.

Out (`write_forms`): for each unit of a units table, a workbook named `<code>-<name>.xlsx` with the
contract's sheets (单位, 事件, 指标事实) and headers, so its rows read like any evidence. The unit's
code is prefilled on every row of 事件 and 指标事实 and locked (sheet protection, no password: a
guard against slips, not a secret — `collect` checks every row's code anyway); all other cells of
those rows are open. Drop-downs offer only the indicator codes that apply to the unit (framework
`applies_to`, by group or by name, as scoring decides), deductions and vetoes included, since an
office may record its own findings in a unit's form. The 说明 sheet lists those indicators with their
评分标准, the proof to attach and the seed's wording. Beside the workbooks, `units_sent.csv` lists
what was sent (code, name, group, file, sha256 of the workbook as sent).

Back (`collect`): the workbooks listed in `units_sent.csv` (and the office's own findings file) are
read with the evidence reader's own table reading — the same messages — and merged into `units.csv`,
`events.csv`, `facts.csv`, which `assessment run --raw` reads. A row where only the prefilled unit
code is set is no record: it is dropped and counted. Rows of another unit, a workbook of a unit not
sent, a file not in the list, and one event id used twice are refused, naming workbook, sheet, row
and column. Event ids left empty are assigned `<unit code>-<nnn>` (the row's place among the
workbook's events). `collected_rows.csv` maps every output row back to its workbook, sheet and row;
`collection_summary.csv` says per unit what came back. The folder is built aside and then put in
place; the returned workbooks are only read.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Protection
from openpyxl.workbook.protection import WorkbookProtection
from openpyxl.worksheet.datavalidation import DataValidation

from . import csvio, evidence, template
from .evidence import COLUMNS, HEADER_ZH, TABLE_ZH
from .frameworks import Framework
from .problems import EvidenceError, ParameterError, Problem

UNITS_SENT = "units_sent.csv"
SENT_COLUMNS = ["unit_id", "unit_name", "unit_group", "file", "sha256"]
COLLECTED_ROWS = "collected_rows.csv"
SUMMARY = "collection_summary.csv"
COLLECT_RECORDS = (COLLECTED_ROWS, SUMMARY)  # beside the evidence tables: read by no stage, kept with the bundle
EVIDENCE_FILES = ("units.csv", "events.csv", "facts.csv")
FINDINGS = ("office_findings.xlsx", "office_findings.csv")  # the office's own findings, collected beside the forms
FINDINGS_PREFIX = "F"  # event ids assigned to findings rows: F-001, F-002, …
ROW_COLUMNS = ["table", "row", "event_id", "unit_id", "file", "sheet", "source_row", "event_id_assigned"]
SUMMARY_COLUMNS = ["unit_id", "unit_name", "unit_group", "file", "returned", "events", "facts", "prefilled_rows", "status"]
UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]')
FORM_GUIDE_HEADERS = ["指标编码", "指标名称", "分值", "适用单位", "评分标准", "填报表", "需附证明材料", "依据（原文）"]
OWN_SHEETS = (template.GUIDE_SHEET, template.LISTS_SHEET)  # a form's sheets that hold no evidence


# ---- out ----------------------------------------------------------------------------------

def form_file(unit_id: str, unit_name: str) -> str:
    """`<code>-<name>.xlsx`, with the characters a file name cannot hold (Windows' list) as '_'."""
    stem = UNSAFE.sub("_", f"{unit_id}-{unit_name}").strip().rstrip(". ")
    return f"{stem}.xlsx"


def applicable(fw: Framework, units: pd.DataFrame) -> dict[str, set[str]]:
    """unit_id → the leaf codes that apply to it (by group or by name, as scoring decides)."""
    from .scoring import applicability

    app = applicability(fw, units)
    return {str(uid): {c for c in app.columns if bool(app.at[uid, c])} for uid in app.index}


def _where(row: pd.Series, column: str | None = None) -> dict:
    out = {"file": str(row["_file"]), "sheet": row["_sheet"] if isinstance(row["_sheet"], str) else None, "row": int(row["_row"])}
    if column:
        out["column"] = f"{HEADER_ZH.get(column, column)}（{column}）"
    return out


def check_units(fw: Framework, units: pd.DataFrame) -> list[Problem]:
    """What would make a unit's form wrong or two forms one: a group the framework does not have,
    a code or a name twice, two file names that come out the same."""
    problems = []
    for _, r in units.iterrows():
        if r["unit_group"] not in fw.unit_groups:
            problems.append(Problem(**_where(r, "unit_group"), value=r["unit_group"], rule="unit-group",
                                    message_zh=f"单位类别不是框架 {fw.id} 的单位类别（可选：{'、'.join(fw.unit_groups)}）",
                                    message_en=f"not a unit group of framework {fw.id} ({', '.join(fw.unit_groups)})"))
    for column in ("unit_id", "unit_name"):
        dup = units[units[column].notna() & units[column].duplicated(keep="first")]
        for _, r in dup.iterrows():
            first = units[units[column] == r[column]].iloc[0]
            problems.append(Problem(**_where(r, column), value=r[column], rule="duplicate",
                                    message_zh=f"与第 {int(first['_row'])} 行重复：每个单位只能出现一次",
                                    message_en=f"the same as row {int(first['_row'])}; each unit once"))
    names = units.apply(lambda r: form_file(r["unit_id"], r["unit_name"]).lower(), axis=1)
    for i in names[names.duplicated(keep="first") & ~units["unit_id"].duplicated(keep=False)].index:
        r = units.loc[i]
        problems.append(Problem(**_where(r, "unit_name"), value=form_file(r["unit_id"], r["unit_name"]), rule="file-name",
                                message_zh="与另一单位的表格文件同名（文件名中不能用的字符已换为 _）：请调整单位编码或名称",
                                message_en="the form's file name is the same as another unit's (unsafe characters become _)"))
    return problems


def _protect(ws) -> None:
    """Protection on, no password: rows and columns may still be sized, nothing locked may be typed over."""
    ws.protection.sheet = True
    ws.protection.formatColumns = False
    ws.protection.formatRows = False


def _open_cells(ws, columns: list[str], rows: int) -> None:
    open_ = Protection(locked=False)
    for c in columns:
        for r in range(2, rows + 1):
            ws[f"{c}{r}"].protection = open_


def unit_form(fw: Framework, unit: dict, applies: set[str], rows: int = template.ROWS) -> Workbook:
    """One unit's workbook: its code prefilled and locked, drop-downs and 说明 narrowed to what applies to it."""
    wb = Workbook()
    wb.remove(wb.active)
    sheets = template.table_sheets(wb, ("events", "facts", "units"))
    sheets["units"].append([unit["unit_id"], unit["unit_name"], unit["unit_group"]])
    lists = template._lists(fw, applies)
    lists["单位编码"] = [unit["unit_id"]]
    refs = template.lists_sheet(wb, lists)
    for table in ("events", "facts"):
        ws = sheets[table]
        uc = template.column_of(table, "unit_id")
        for r in range(2, rows + 1):
            ws[f"{uc}{r}"] = unit["unit_id"]
        template.dropdown(ws, uc, refs["单位编码"], f"本单位编码 {unit['unit_id']}", rows)
        _open_cells(ws, [template.column_of(table, c) for c in COLUMNS[table] if c != "unit_id"], rows)
        _protect(ws)
    ev = sheets["events"]
    template.dropdown(ev, template.column_of("events", "indicator"), refs["事件指标编码"], "本单位适用的指标编码", rows)
    template.dropdown(ev, template.column_of("events", "level"), refs["级别"], "级别", rows)
    q = template.column_of("events", "quantity")
    dv = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="1", allow_blank=True, showErrorMessage=True,
                        errorTitle="无效取值", error="数量为正整数，缺省为 1")
    ev.add_data_validation(dv)
    dv.add(f"{q}2:{q}{rows}")
    template.date_columns(ev, rows)
    template.dropdown(sheets["facts"], template.column_of("facts", "indicator"), refs["事实指标编码"], "本单位适用的指标编码", rows)
    _protect(sheets["units"])
    guide = template.guide_sheet(wb, template.guide_rows(fw, applies), [
        ("填报单位", f"{unit['unit_id']} {unit['unit_name']}（{unit['unit_group']}）"),
        ("填报说明", template.filling_note(fw)),
        ("本表说明", f"本表只填写本单位（{unit['unit_name']}）的记录：单位编码已预先填好并锁定；只列出适用于本单位的指标。"
                  f"事件编号可留空，回收时按“单位编码-序号”自动编号。每条记录请附上“需附证明材料”一栏所列的材料。"
                  f"本表最多可填 {rows - 1} 行记录。只有单位编码的行视为空行。"),
    ])
    for c, h in enumerate(FORM_GUIDE_HEADERS, start=1):
        guide.cell(row=1, column=c, value=h)
    _protect(guide)
    _protect(wb[template.LISTS_SHEET])
    wb.security = WorkbookProtection(lockStructure=True)  # sheet names stay as the reader knows them
    return wb


@dataclass
class Sent:
    """What `write_forms` wrote: the folder, the list of units sent (SENT_COLUMNS) and notes on reading the units table."""

    folder: Path
    units: pd.DataFrame
    notes: list[Problem] = field(default_factory=list)


def write_forms(fw: Framework, units_path: Path, out_dir: Path) -> Sent:
    """One workbook per unit and `units_sent.csv`, built aside and put in place whole.

    A folder that already holds other files (returned forms?) is refused rather than overwritten; the
    same forms written again into their own folder leave it as it is."""
    units = evidence.read_units_file(Path(units_path))
    problems = check_units(fw, units)
    if problems:
        raise EvidenceError(problems)
    out_dir = Path(out_dir)
    apps = applicable(fw, units)
    tmp = _build_folder(out_dir)
    try:
        sent = []
        for _, r in units.iterrows():
            unit = {"unit_id": r["unit_id"], "unit_name": r["unit_name"], "unit_group": r["unit_group"]}
            name = form_file(unit["unit_id"], unit["unit_name"])
            path = template.save(unit_form(fw, unit, apps[unit["unit_id"]]), tmp / name)
            sent.append({**unit, "file": name, "sha256": evidence.sha256_file(path)})
        table = pd.DataFrame(sent, columns=SENT_COLUMNS)
        csvio.write_csv(table, tmp / UNITS_SENT)
        _put_in_place(tmp, out_dir, set(table["file"]) | {UNITS_SENT}, "forms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Sent(folder=out_dir, units=table, notes=units.attrs.get("notes", []))


def _build_folder(dest: Path) -> Path:
    """A folder beside `dest` to build in, with the mode a plain mkdir gives (mkdtemp makes 0700)."""
    from .filemodes import dir_mode

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp-"))
    os.chmod(tmp, dir_mode())
    return tmp


def _same_files(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all((a / n).read_bytes() == (b / n).read_bytes() for n in names)


def _put_in_place(built: Path, dest: Path, replaceable: set[str], what: str) -> None:
    """`built` becomes `dest`: at once (two renames), and only over a folder holding nothing but what we write.

    forms: a folder with any other file is refused (returned forms must never be overwritten by
    empty ones); collect: a folder with files other than the collected tables is refused (an evidence
    folder's 复核 or dataset.yaml would be lost)."""
    if dest.exists() and not dest.is_dir():
        raise ParameterError([Problem(file=str(dest), rule="output", message_zh="输出路径已存在且不是文件夹",
                                      message_en="the output path exists and is not a folder")])
    if dest.is_dir():
        present = {p.name for p in dest.iterdir()}
        if what == "forms" and present and _same_files(built, dest):
            return  # the same forms, already there
        other = sorted(present - (replaceable if what == "collect" else set()))
        if other:
            listed = "、".join(other[:5]) + ("…" if len(other) > 5 else "")
            zh = ("输出文件夹中已有文件，为免覆盖已交回的表格，未写入：请换一个空文件夹" if what == "forms"
                  else "输出文件夹中有回收结果以外的文件，为免丢失，未写入：请换一个空文件夹或移走这些文件")
            raise ParameterError([Problem(file=str(dest), value=listed, rule="output-not-empty", message_zh=f"{zh}（{listed}）",
                                          message_en="the output folder holds other files; nothing written (use an empty folder)")])
    aside = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.is_dir():
        os.replace(dest, aside)
    try:
        os.replace(built, dest)
    except BaseException:
        if aside.is_dir():
            os.replace(aside, dest)
        raise
    shutil.rmtree(aside, ignore_errors=True)


# ---- back ---------------------------------------------------------------------------------

def read_sent(path: Path) -> pd.DataFrame:
    """The list of units sent, as written by `write_forms` (or saved again by Excel: any accepted encoding)."""
    path = Path(path)
    if not path.is_file():
        raise EvidenceError([Problem(file=str(path), rule="input-missing", message_zh="找不到下发清单 units_sent.csv（由 assessment template --units 生成）",
                                     message_en="the list of units sent (units_sent.csv, written by assessment template --units) is missing")])
    df = evidence.read_csv_table(path, "units")
    missing = [c for c in SENT_COLUMNS if c not in df.columns]
    if missing:
        raise EvidenceError([Problem(file=path.name, row=1, column=", ".join(missing), rule="column-missing",
                                     message_zh=f"下发清单缺少列 {', '.join(missing)}", message_en=f"missing columns {', '.join(missing)}")])
    df = csvio.restored(df, ["unit_id", "unit_name", "unit_group", "file"])
    problems = []
    for c in ("unit_id", "unit_name", "unit_group", "file"):
        for _, r in df[df[c].isna()].iterrows():
            problems.append(Problem(**_where(r, c), rule="required", message_zh="必填项为空", message_en="required value is empty"))
    for c in ("unit_id", "unit_name", "file"):
        for _, r in df[df[c].notna() & df[c].duplicated()].iterrows():
            problems.append(Problem(**_where(r, c), value=r[c], rule="duplicate", message_zh="下发清单中重复", message_en="listed twice"))
    for _, r in df[df["file"].notna()].iterrows():
        if Path(r["file"]).name != r["file"] or r["file"] in (".", ".."):
            problems.append(Problem(**_where(r, "file"), value=r["file"], rule="file-name",
                                    message_zh="文件名中不能含路径：表格应在清单所在的文件夹中", message_en="a file name, not a path: forms lie beside the list"))
    if problems:
        raise EvidenceError(problems)
    return df


@dataclass
class Source:
    """One returned file as read: its typed events and facts, and what it said about itself."""

    path: Path
    unit_id: str | None  # the unit it was sent to; None for the office's findings
    events: pd.DataFrame | None = None
    facts: pd.DataFrame | None = None
    prefilled_rows: int = 0


@dataclass
class Collection:
    """What `collect` wrote: the folder, the per-unit summary (SUMMARY_COLUMNS) and warnings."""

    folder: Path
    summary: pd.DataFrame
    findings: Path | None
    findings_rows: tuple[int, int] = (0, 0)
    notes: list[Problem] = field(default_factory=list)

    def returned_nothing(self) -> pd.DataFrame:
        return self.summary[self.summary["status"] != "已填写"]


def _read_form(path: Path, unit_id: str | None, sent: pd.DataFrame, findings: bool = False) -> tuple[Source, list[Problem]]:
    """A returned form (or the findings workbook) through the evidence reader: its 单位 row checked,
    its events and facts typed, rows holding only the prefilled unit code dropped (not in findings)."""
    grids, problems = evidence.read_workbook(path)
    problems = [p for p in problems if not (p.rule == "sheet-unused" and p.sheet in OWN_SHEETS)]
    src = Source(path=path, unit_id=unit_id)
    if findings:  # the office's own file: events required, facts optional, no units sheet needed
        problems = [p for p in problems if not (p.rule == "sheet-missing" and not str(p.sheet).startswith("events"))]
    for table in ("events", "facts"):
        if table in grids:
            df, p, _ = evidence.read_table(grids[table], table, prefilled=() if findings else ("unit_id",))
            problems += _unless_id_missing(p, table)
            if df is not None:
                setattr(src, table, df)
                src.prefilled_rows += int(df.attrs.get("prefilled_rows", 0))
    if "units" in grids:
        df, p, _ = evidence.read_table(grids["units"], "units")
        problems += p
        if df is not None:
            problems += _check_own_unit(path, df, unit_id, sent) if not findings else _units_in_findings(df)
    return src, problems


def _unless_id_missing(problems: list[Problem], table: str) -> list[Problem]:
    """An empty 事件编号 is no error here: `collect` assigns one."""
    if table != "events":
        return problems
    return [p for p in problems if not (p.rule == "required" and p.column == f"{HEADER_ZH['event_id']}（event_id）")]


def _check_own_unit(path: Path, units: pd.DataFrame, unit_id: str, sent: pd.DataFrame) -> list[Problem]:
    """The form's 单位 sheet names the unit it was sent to, and no other."""
    known = dict(zip(sent["unit_id"], sent["file"]))
    out = []
    if not len(units):
        out.append(Problem(file=path.name, sheet=TABLE_ZH["units"], row=2, rule="form-unit",
                           message_zh="单位表为空：表格中应有预填的单位行", message_en="the units sheet is empty; the form's prefilled unit row is missing"))
    for _, r in units.iterrows():
        code = r["unit_id"]
        if code not in known:
            out.append(Problem(**_where(r, "unit_id"), value=code, rule="form-unknown-unit",
                               message_zh="该表格所属单位不在下发清单 units_sent.csv 中（未向该单位下发表格）",
                               message_en="the form belongs to a unit that is not in the list of units sent"))
        elif unit_id is not None and code != unit_id:
            out.append(Problem(**_where(r, "unit_id"), value=code, rule="form-other-unit",
                               message_zh=f"该文件按下发清单属于单位 {unit_id}，但表格是单位 {code} 的（其文件应为 {known[code]}）",
                               message_en=f"by the list this file is unit {unit_id}'s, but the form is unit {code}'s (its file is {known[code]})"))
        elif unit_id is None:
            out.append(Problem(**_where(r, "unit_id"), value=code, rule="file-not-sent",
                               message_zh=f"该文件不在下发清单中；表格是单位 {code} 的，其文件应为 {known[code]}（文件是否被改名或重复保存？）",
                               message_en=f"this file is not in the list; the form is unit {code}'s, whose file is {known[code]} (renamed or saved twice?)"))
    return out


def _units_in_findings(units: pd.DataFrame) -> list[Problem]:
    if not len(units):
        return []
    r = units.iloc[0]
    return [Problem(**_where(r), rule="sheet-unused", severity="warning", value=f"{len(units)} rows",
                    message_zh="检查发现文件中的单位表未读取：单位以下发清单 units_sent.csv 为准",
                    message_en="the units sheet of the findings file is not read: units come from units_sent.csv")]


def _read_findings(path: Path) -> tuple[Source, list[Problem]]:
    """The office's own findings: a workbook (事件, optional 指标事实) or one CSV of events."""
    if path.suffix.lower() == ".xlsx":
        return _read_form(path, None, pd.DataFrame({"unit_id": [], "file": []}), findings=True)
    df, problems, _ = evidence.read_table(evidence.csv_grid(path), "events", csv=True)
    src = Source(path=path, unit_id=None, events=df)
    return src, _unless_id_missing(problems, "events")


def _rows_of_unit(src: Source, unit_id: str, sent_ids: set[str], allowed: dict[str, dict[str, set[str]]]) -> list[Problem]:
    """Every row of a unit's form is that unit's, with an indicator that applies to it."""
    out = []
    for table in ("events", "facts"):
        df = getattr(src, table)
        if df is None:
            continue
        for _, r in df.iterrows():
            out += _row_checks(r, table, unit_id, sent_ids, allowed)
    return out


def _row_checks(r: pd.Series, table: str, owner: str | None, sent_ids: set[str], allowed: dict[str, dict[str, set[str]]]) -> list[Problem]:
    code = r["unit_id"]
    if code is None:
        return []  # refused by the reader (required)
    if code not in sent_ids:
        return [Problem(**_where(r, "unit_id"), value=code, rule="unknown-unit",
                        message_zh="单位编码不在下发清单 units_sent.csv 中", message_en="the unit code is not in the list of units sent")]
    if owner is not None and code != owner:
        return [Problem(**_where(r, "unit_id"), value=code, rule="other-unit-row",
                        message_zh=f"本表格属于单位 {owner}，不能填报其他单位（{code}）的记录",
                        message_en=f"this form is unit {owner}'s; it cannot report rows of unit {code}")]
    ind = r["indicator"]
    ok = allowed[code]["events" if table == "events" else "facts"]
    if ind is not None and ind not in ok:
        listed = "、".join(sorted(ok)) or "无"
        return [Problem(**_where(r, "indicator"), value=ind, rule="indicator-not-applicable",
                        message_zh=f"该指标编码不适用于单位 {code} 的{TABLE_ZH[table]}表（可填：{listed}）",
                        message_en=f"the indicator does not apply to unit {code} in the {table} table (allowed: {', '.join(sorted(ok))})")]
    return []


def _assign_ids(sources: list[Source]) -> tuple[pd.DataFrame, list[Problem]]:
    """All events in order, ids kept where given and assigned where empty; an id twice is refused, naming both places."""
    frames = []
    for src in sources:
        df = src.events
        if df is None or not len(df):
            continue
        df = df.copy()
        prefix = src.unit_id if src.unit_id is not None else FINDINGS_PREFIX
        width = max(3, len(str(len(df))))
        empty = df["event_id"].isna()
        assigned = [f"{prefix}-{i:0{width}d}" for i in range(1, len(df) + 1)]
        df["event_id_assigned"] = empty.map({True: "是", False: "否"})
        df.loc[empty, "event_id"] = [a for a, e in zip(assigned, empty) if e]
        df["record_id"] = df["event_id"]
        frames.append(df)
    if not frames:
        return pd.DataFrame(columns=list(COLUMNS["events"]) + ["event_id_assigned", "_file", "_sheet", "_row"]), []
    events = pd.concat(frames, ignore_index=True)
    problems = []
    dup = events[events["event_id"].duplicated(keep=False)]
    for eid, group in dup.groupby("event_id", sort=False):
        first = group.iloc[0]
        for _, r in group.iloc[1:].iterrows():
            auto = r["event_id_assigned"] == "是" or first["event_id_assigned"] == "是"
            zh = (f"事件编号与 文件 {first['_file']}，工作表 {first['_sheet']}，第 {int(first['_row'])} 行 的事件编号重复"
                  + ("（其中一个为自动编号：请为该行填写事件编号）" if auto else "：事件编号在全部表格中只能出现一次"))
            problems.append(Problem(**_where(r, "event_id"), value=eid, rule="duplicate-event-id", message_zh=zh,
                                    message_en=f"the event id is also used in {first['_file']}, sheet {first['_sheet']}, row {int(first['_row'])}"
                                    + (" (one was assigned: give this row an id)" if auto else "; ids must be unique across all forms")))
    return events, problems


def _files_in(forms_dir: Path, sent: pd.DataFrame, findings: Path | None) -> list[Problem]:
    """Files of the forms folder that are neither listed, nor the list, nor the findings: an .xlsx is
    refused (a form not sent), anything else is said and not read."""
    known = set(sent["file"]) | {UNITS_SENT} | ({findings.name} if findings is not None and findings.parent == forms_dir else set())
    out = []
    for p in sorted(forms_dir.iterdir()):
        if not p.is_file() or p.name.startswith((".", "~$")) or p.name in known:
            continue
        if p.suffix.lower() == ".xlsx":
            continue  # read and refused by `collect` (it says whose form it is)
        out.append(Problem(file=p.name, rule="file-unused", severity="warning", value=p.name,
                           message_zh="该文件不是下发清单中的表格，未读取", message_en="this file is not a form of the list; not read"))
    return out


def _unlisted_forms(forms_dir: Path, sent: pd.DataFrame, findings: Path | None) -> list[Path]:
    known = set(sent["file"]) | ({findings.name} if findings is not None and findings.parent == forms_dir else set())
    return [p for p in sorted(forms_dir.iterdir()) if p.is_file() and p.suffix.lower() == ".xlsx"
            and not p.name.startswith((".", "~$")) and p.name not in known]


def find_findings(forms_dir: Path, findings: Path | None) -> Path | None:
    """The findings file given, or office_findings.xlsx / .csv in the forms folder (not both)."""
    if findings is not None:
        findings = Path(findings)
        if not findings.is_file():
            raise ParameterError([Problem(file=str(findings), rule="input-missing", message_zh="检查发现文件不存在",
                                          message_en="the findings file does not exist")])
        return findings
    found = [forms_dir / n for n in FINDINGS if (forms_dir / n).is_file()]
    if len(found) > 1:
        raise ParameterError([Problem(file=str(forms_dir), value=", ".join(p.name for p in found), rule="input-ambiguous",
                                      message_zh="同时存在 office_findings.xlsx 和 office_findings.csv，无法确定以哪个为准：请只保留一个或用 --findings 指定",
                                      message_en="both office_findings.xlsx and .csv are present; keep one or name it with --findings")])
    return found[0] if found else None


def collect(fw: Framework, forms_dir: Path, out_dir: Path, findings: Path | None = None, sent_path: Path | None = None) -> Collection:
    """Merge the returned forms (and the office's findings) into one evidence folder; every refusal found at once."""
    forms_dir = Path(forms_dir)
    if not forms_dir.is_dir():
        raise ParameterError([Problem(file=str(forms_dir), rule="input-missing", message_zh="表格文件夹不存在", message_en="the forms folder does not exist")])
    sent = read_sent(Path(sent_path) if sent_path else forms_dir / UNITS_SENT)
    units = pd.DataFrame({"unit_id": sent["unit_id"], "unit_name": sent["unit_name"], "unit_group": sent["unit_group"],
                          "_file": sent["_file"], "_sheet": None, "_row": sent["_row"]})
    problems = check_units(fw, units)
    if problems:
        raise EvidenceError(problems)
    findings = find_findings(forms_dir, findings)
    apps = applicable(fw, units)
    allowed = {u: {"events": set(l["事件指标编码"]), "facts": set(l["事实指标编码"])}
               for u, l in ((u, template._lists(fw, a)) for u, a in apps.items())}
    sent_ids = set(sent["unit_id"])
    notes = _files_in(forms_dir, sent, findings)
    sources: list[Source] = []
    returned: dict[str, Source] = {}
    for _, r in sent.iterrows():
        path = forms_dir / r["file"]
        if not path.is_file():
            continue
        try:
            src, p = _read_form(path, r["unit_id"], sent)
        except EvidenceError as exc:  # a damaged or oversized workbook: said with the others, not alone
            problems += exc.problems
            continue
        problems += p + _rows_of_unit(src, r["unit_id"], sent_ids, allowed)
        sources.append(src)
        returned[r["unit_id"]] = src
    for path in _unlisted_forms(forms_dir, sent, findings):
        problems.append(Problem(file=path.name, rule="file-not-sent",
                                message_zh="该工作簿不在下发清单 units_sent.csv 中，未回收", message_en="this workbook is not in the list of units sent; not collected"))
        try:
            _, p = _read_unlisted(path, sent)
        except EvidenceError as exc:
            p = exc.problems
        problems += p
    findings_src = None
    if findings is not None:
        findings_src, p = _read_findings(findings)
        problems += p
        for table in ("events", "facts"):
            df = getattr(findings_src, table)
            for _, r in (df.iterrows() if df is not None else []):
                problems += _row_checks(r, table, None, sent_ids, allowed)
        sources.append(findings_src)
    events, p = _assign_ids(sources)
    problems += p
    errors = [x for x in problems if x.severity == "error"]
    notes += [x for x in problems if x.severity != "error"]
    if errors:
        raise EvidenceError(errors)
    facts = pd.concat([s.facts for s in sources if s.facts is not None and len(s.facts)] or [pd.DataFrame(columns=list(COLUMNS["facts"]) + ["_file", "_sheet", "_row"])],
                      ignore_index=True)
    summary = _summary(sent, returned)
    out_dir = Path(out_dir)
    tmp = _build_folder(out_dir)
    try:
        _write_collected(tmp, units, events, facts, summary)
        evidence.read(tmp, events_required=False)  # what `run --raw` will read: readable, or nothing is put in place
        _put_in_place(tmp, out_dir, set(EVIDENCE_FILES) | set(COLLECT_RECORDS), "collect")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    counts = (0, 0) if findings_src is None else tuple(len(getattr(findings_src, t)) if getattr(findings_src, t) is not None else 0 for t in ("events", "facts"))
    return Collection(folder=out_dir, summary=summary, findings=findings, findings_rows=counts, notes=notes)


def _read_unlisted(path: Path, sent: pd.DataFrame) -> tuple[Source, list[Problem]]:
    """A workbook not in the list: read only to say whose form it is (its rows are not collected)."""
    src, problems = _read_form(path, None, sent)
    keep = {"form-unknown-unit", "file-not-sent"}
    return src, [p for p in problems if p.rule in keep]


def _summary(sent: pd.DataFrame, returned: dict[str, Source]) -> pd.DataFrame:
    rows = []
    for _, r in sent.iterrows():
        src = returned.get(r["unit_id"])
        ne = len(src.events) if src is not None and src.events is not None else 0
        nf = len(src.facts) if src is not None and src.facts is not None else 0
        status = "未交回" if src is None else ("已填写" if ne + nf else "交回但未填写")
        rows.append({"unit_id": r["unit_id"], "unit_name": r["unit_name"], "unit_group": r["unit_group"], "file": r["file"],
                     "returned": "是" if src is not None else "否", "events": ne, "facts": nf,
                     "prefilled_rows": src.prefilled_rows if src is not None else 0, "status": status})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _day(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s).dt.strftime("%Y-%m-%d").where(s.notna(), None)


def _write_collected(folder: Path, units: pd.DataFrame, events: pd.DataFrame, facts: pd.DataFrame, summary: pd.DataFrame) -> None:
    """The three evidence tables (Chinese headers, values as read: dates 2023-10-08, whole quantities) and the two records.

    The evidence tables are written as plain UTF-8 CSV with BOM, cell for cell (the evidence reader
    reads a leading quote as part of the text, so they are not escaped as `csvio` escapes the program's own tables)."""
    def plain(df: pd.DataFrame, table: str, name: str) -> None:
        out = df[list(COLUMNS[table])].rename(columns=HEADER_ZH)
        out.to_csv(folder / name, index=False, encoding="utf-8-sig", lineterminator="\n")

    plain(units, "units", "units.csv")
    ev = events.copy()
    ev["date"] = _day(ev["date"]) if len(ev) else ev["date"]
    ev["done_date"] = _day(ev["done_date"]) if len(ev) else ev["done_date"]
    ev["quantity"] = ev["quantity"].map(lambda q: f"{q:g}", na_action="ignore") if len(ev) else ev["quantity"]
    plain(ev, "events", "events.csv")
    plain(facts, "facts", "facts.csv")
    rows = []
    for i, (_, r) in enumerate(ev.iterrows(), start=2):
        rows.append({"table": "events", "row": i, "event_id": r["event_id"], "unit_id": r["unit_id"], "file": r["_file"],
                     "sheet": r["_sheet"], "source_row": int(r["_row"]), "event_id_assigned": r["event_id_assigned"]})
    for i, (_, r) in enumerate(facts.iterrows(), start=2):
        rows.append({"table": "facts", "row": i, "event_id": None, "unit_id": r["unit_id"], "file": r["_file"],
                     "sheet": r["_sheet"], "source_row": int(r["_row"]), "event_id_assigned": None})
    csvio.write_csv(pd.DataFrame(rows, columns=ROW_COLUMNS), folder / COLLECTED_ROWS)
    csvio.write_csv(summary, folder / SUMMARY)
