"""Appeals (复核): reviewed adjustments to the evidence, applied on a rerun with a full record.

An adjustments file (`adjustments.csv` / `复核.csv` beside the evidence) lists decisions: a unit,
an evidence id or an indicator, an action (withdraw 撤销 / amend 变更), the new values for an
amendment, the reason, the approver and the date. The raw evidence is never touched: the
decisions are applied to the tidy tables in memory, every adjustment becomes a line item of its
own (worth 0 points: the changed evidence's lines already carry the effect) and a row of the
复核 annex, which shows each unit's total and grade before and after.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .evidence import Evidence, _key, read_csv_table, sha256_file
from .problems import EvidenceError, Problem
from .values import normalise_text, parse_date, parse_number

FILES = ("adjustments.csv", "复核.csv")
COLUMNS = {
    "unit_id": ["unit_id", "单位编码"],
    "evidence_id": ["evidence_id", "event_id", "证据编号", "事件编号"],
    "indicator": ["indicator", "指标编码"],
    "action": ["action", "操作", "处理"],
    "quantity": ["quantity", "数量"],
    "level": ["level", "级别"],
    "value": ["value", "值"],
    "reason": ["reason", "理由", "复核理由"],
    "approver": ["approver", "批准人", "审批人"],
    "date": ["date", "日期", "批准日期"],
}
HEADER_ZH = {"unit_id": "单位编码", "evidence_id": "证据编号", "indicator": "指标编码", "action": "操作", "quantity": "数量",
             "level": "级别", "value": "值", "reason": "理由", "approver": "批准人", "date": "日期"}
ACTIONS = {"withdraw": "withdraw", "撤销": "withdraw", "撤回": "withdraw", "amend": "amend", "变更": "amend", "更正": "amend", "修改": "amend"}
ACTION_ZH = {"withdraw": "撤销", "amend": "变更"}
APPLIED_COLUMNS = ["unit_id", "evidence_id", "indicator", "action", "detail", "reason", "approver", "date", "_file", "_row"]


def locate(raw_dir: Path) -> Path | None:
    for name in FILES:
        path = Path(raw_dir) / name
        if path.is_file():
            return path
    return None


def read(raw_dir: Path) -> pd.DataFrame | None:
    """The adjustments of a county-year, typed; None where there are none."""
    path = locate(raw_dir)
    if path is None:
        return None
    df = read_csv_table(path, "adjustments")
    rename, problems = {}, []
    for col in df.columns:
        if col.startswith("_"):
            continue
        for canon, aliases in COLUMNS.items():
            if _key(col) in {_key(a) for a in aliases}:
                rename[col] = canon
    df = df.rename(columns=rename)
    for need in ("unit_id", "action", "reason", "approver", "date"):
        if need not in df.columns:
            problems.append(Problem(file=path.name, row=1, column=f"{HEADER_ZH[need]}（{need}）", message_zh=f"复核文件缺少必需的列“{HEADER_ZH[need]}”",
                                    message_en=f"adjustments file is missing column '{need}'", rule="column-missing"))
    if problems:
        raise EvidenceError(problems)
    for c in COLUMNS:
        if c not in df.columns:
            df[c] = None
    text = {c: normalise_text(df[c]).astype(object) for c in ("unit_id", "evidence_id", "indicator", "action", "level", "value", "reason", "approver")}
    out = pd.DataFrame({c: v.where(v.notna(), None) for c, v in text.items()})
    out["quantity"] = parse_number(df["quantity"])
    out["date"] = parse_date(df["date"])
    out[["_file", "_row"]] = df[["_file", "_row"]]
    return _check(out)


def _check(adj: pd.DataFrame) -> pd.DataFrame:
    problems = []

    def bad(i, col, zh, en):
        r = adj.loc[i]
        problems.append(Problem(file=r["_file"], row=int(r["_row"]), column=f"{HEADER_ZH[col]}（{col}）", value=r[col],
                                message_zh=zh, message_en=en, rule="adjustment"))

    action = adj["action"].map(lambda a: ACTIONS.get(str(a).strip().lower()) if a is not None else None)
    for i in adj.index[action.isna()]:
        bad(i, "action", "操作应为 撤销(withdraw) 或 变更(amend)", "action must be withdraw or amend")
    for i in adj.index[adj["evidence_id"].isna() & adj["indicator"].isna()]:
        bad(i, "evidence_id", "须给出证据编号或指标编码", "give an evidence id or an indicator")
    for col in ("unit_id", "reason", "approver"):
        for i in adj.index[adj[col].isna()]:
            bad(i, col, "复核记录必须写明此项", "required for every adjustment")
    for i in adj.index[adj["date"].isna()]:
        bad(i, "date", "批准日期无效或为空", "approval date missing or invalid")
    amend = action == "amend"
    nothing = amend & adj["quantity"].isna() & adj["level"].isna() & adj["value"].isna()
    for i in adj.index[nothing]:
        bad(i, "value", "变更须给出新的数量、级别或值", "an amendment needs a new quantity, level or value")
    if problems:
        raise EvidenceError(problems)
    return adj.assign(action=action)


def apply(ev: Evidence, adj: pd.DataFrame | None) -> tuple[Evidence, pd.DataFrame]:
    """The evidence as decided on review, and one row per adjustment applied (what changed)."""
    if adj is None or adj.empty:
        return ev, pd.DataFrame(columns=APPLIED_COLUMNS)
    events, facts = ev.events.copy(), ev.facts.copy()
    problems, applied = [], []
    known_units = set(ev.units["unit_id"])
    rows = adj.rename(columns={"_file": "src_file", "_row": "src_row"}).astype({c: object for c in ("unit_id", "evidence_id", "indicator", "level", "value")})
    for c in ("unit_id", "evidence_id", "indicator", "level", "value"):  # parquet brings missing text back as NaN
        rows[c] = rows[c].where(rows[c].notna(), None)
    for r in rows.itertuples(index=False):  # a handful of review decisions, not events
        where = dict(file=r.src_file, row=int(r.src_row))
        if r.unit_id not in known_units:
            problems.append(Problem(**where, column="单位编码（unit_id）", value=r.unit_id, message_zh="单位编码不在单位表中", message_en="unknown unit", rule="adjustment"))
            continue
        if r.evidence_id is not None:
            hit = (events["event_id"] == r.evidence_id) & (events["unit_id"] == r.unit_id)
            if not hit.any():
                problems.append(Problem(**where, column="证据编号（evidence_id）", value=r.evidence_id, message_zh="该单位没有这个事件编号",
                                        message_en="no such event for this unit", rule="adjustment"))
                continue
            indicator = events.loc[hit, "indicator"].iloc[0]
            if r.action == "withdraw":
                events = events[~hit]
                detail = f"撤销事件 {r.evidence_id}"
            else:
                changes = []
                if pd.notna(r.quantity):
                    changes.append(f"数量 {events.loc[hit, 'quantity'].iloc[0]:g}→{r.quantity:g}")
                    events.loc[hit, "quantity"] = float(r.quantity)
                if r.level is not None:
                    changes.append(f"级别 {events.loc[hit, 'level'].iloc[0] or '无'}→{r.level}")
                    events.loc[hit, "level"] = r.level
                detail = f"变更事件 {r.evidence_id}：" + "，".join(changes)
            applied.append((r.unit_id, r.evidence_id, indicator, r.action, detail, r.reason, r.approver, r.date, r.src_file, r.src_row))
            continue
        # by indicator: withdraw all the unit's events of it, or amend the unit's fact
        if r.action == "withdraw":
            hit = (events["indicator"] == r.indicator) & (events["unit_id"] == r.unit_id)
            if not hit.any():
                problems.append(Problem(**where, column="指标编码（indicator）", value=r.indicator, message_zh="该单位在此指标下没有事件可撤销",
                                        message_en="no events of this indicator for this unit", rule="adjustment"))
                continue
            ids = ";".join(sorted(events.loc[hit, "event_id"]))
            events = events[~hit]
            applied.append((r.unit_id, ids, r.indicator, r.action, f"撤销 {r.indicator} 下全部事件（{ids}）", r.reason, r.approver, r.date, r.src_file, r.src_row))
        else:
            if r.value is None:
                problems.append(Problem(**where, column="值（value）", message_zh="按指标变更须给出新的值", message_en="amending an indicator needs a value", rule="adjustment"))
                continue
            hit = (facts["indicator"] == r.indicator) & (facts["unit_id"] == r.unit_id)
            before = facts.loc[hit, "value"].iloc[-1] if hit.any() else "（缺）"
            if hit.any():
                facts.loc[hit, "value"] = r.value
                rid = ";".join(facts.loc[hit, "record_id"])
            else:
                rid = f"{r.src_file}!{int(r.src_row)}"
                facts = pd.concat([facts, pd.DataFrame([{"unit_id": r.unit_id, "indicator": r.indicator, "value": r.value, "note": "复核补充",
                                                         "record_id": rid, "_file": r.src_file, "_sheet": None, "_row": int(r.src_row)}])], ignore_index=True)
            applied.append((r.unit_id, rid, r.indicator, r.action, f"变更 {r.indicator} 的值：{before}→{r.value}", r.reason, r.approver, r.date, r.src_file, r.src_row))
    if problems:
        raise EvidenceError(problems)
    return replace(ev, events=events.reset_index(drop=True), facts=facts.reset_index(drop=True)), pd.DataFrame(applied, columns=APPLIED_COLUMNS)


def record_lines(applied: pd.DataFrame, original_lines: pd.DataFrame) -> pd.DataFrame:
    """One 0-point line item per adjustment, naming what it changed and what it was worth before."""
    if applied.empty:
        return pd.DataFrame(columns=["unit_id", "indicator", "rule", "points", "evidence_ids", "explanation", "kind"])
    worth = original_lines.assign(evidence_ids=original_lines["evidence_ids"].fillna(""))
    rows = []
    for a in applied.itertuples(index=False):
        ids = set(str(a.evidence_id).split(";"))
        mine = worth[(worth["unit_id"] == a.unit_id) & worth["evidence_ids"].map(lambda s: bool(ids & set(s.split(";"))))]
        before = mine["points"].sum()
        date = pd.Timestamp(a.date).strftime("%Y-%m-%d")
        rows.append((a.unit_id, a.indicator, "appeal", 0.0, a.evidence_id,
                     f"复核{ACTION_ZH[a.action]}：{a.detail}（原计 {before:g} 分）；理由：{a.reason}；批准：{a.approver}（{date}）", "appeal"))
    return pd.DataFrame(rows, columns=["unit_id", "indicator", "rule", "points", "evidence_ids", "explanation", "kind"])


def annex(applied: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """The 复核 annex: each adjustment with its unit's total and grade before and after review."""
    cols = ["unit_id", "unit_name", "evidence_id", "indicator", "action", "detail", "reason", "approver", "date",
            "total_before", "total_after", "grade_before", "grade_after"]
    if applied.empty:
        return pd.DataFrame(columns=cols)
    b = before.set_index("unit_id")
    a = after.set_index("unit_id")
    out = applied.copy()
    out["unit_name"] = out["unit_id"].map(a["unit_name"])
    out["total_before"] = out["unit_id"].map(b["total"])
    out["total_after"] = out["unit_id"].map(a["total"])
    out["grade_before"] = out["unit_id"].map(b["grade"])
    out["grade_after"] = out["unit_id"].map(a["grade"])
    out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    return out[cols].reset_index(drop=True)
