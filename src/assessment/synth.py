"""Synthetic evidence, valid against a framework, deterministic for a seed.

For demos, tests at scale and benchmarks. Distributions follow what offices see: most units have
few findings and a long tail has many (a gamma–Poisson mixture per unit), vetoes are rare, most
checklist facts are met. Everything is vectorised over units and events.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from .calendar import WorkCalendar
from .frameworks import Framework
from .rules import RULES
from .scoring import Period, applicability

TOWNS = ["青阳街道", "大楼街道", "双沟镇", "上塘镇", "魏营镇", "临淮镇", "半城镇", "孙园镇", "梅花镇", "归仁镇", "金锁镇", "朱湖镇",
         "界集镇", "太平镇", "龙集镇", "四河乡", "峰山乡", "天岗湖乡", "车门乡", "瑶沟乡", "石集乡", "城头乡", "陈圩乡", "曹庙乡", "洪泽湖农场"]
DEPARTMENTS = ["县发改局", "县教育局", "县科技局", "县工信局", "县公安局", "县民政局", "县司法局", "县财政局", "县人社局", "县资规局",
               "县生态环境局", "县住建局", "县交通运输局", "县水务局", "县农业农村局", "县商务局", "县文广旅局", "县卫健委", "县退役军人事务局",
               "县应急管理局", "县审计局", "县市场监管局", "县统计局", "县医保局", "县城管局", "县行政审批局", "县大数据中心", "县信访局"]
MARK = "（合成数据，非真实单位 synthetic, not a real unit）"


def _unit_names(fw: Framework, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Unit names by group: real-sounding for small sets, numbered for large ones; groups cycle."""
    groups = fw.unit_groups
    named = set(n2 for leaf in fw.leaves() for n2 in leaf.applies_to if n2 not in groups)
    rows = []
    for name in sorted(named):  # units a framework names (e.g. 市发改委, 大数据中心) exist once
        rows.append((name, groups[0] if len(groups) == 1 else _group_for_named(fw, name)))
    pools = {g: (TOWNS if ("乡镇" in g or "街道" in g) else DEPARTMENTS if ("部门" in g or "县直" in g) else []) for g in groups}
    counters = {g: 0 for g in groups}
    used = set(named)
    i = 0
    while len(rows) < n:
        g = groups[i % len(groups)]
        i += 1
        k = counters[g]
        counters[g] += 1
        pool = pools[g]
        name = pool[k] if k < len(pool) and n <= 200 else f"{g}{k + 1:05d}"
        if name in used:  # groups may share a name pool (重点部门 and 县直部门): numbered instead
            name = f"{g}{k + 1:05d}"
        if name in used:
            continue
        used.add(name)
        rows.append((name, g))
    return pd.DataFrame(rows[:n], columns=["unit_name", "unit_group"])


def _group_for_named(fw: Framework, name: str) -> str:
    for g in fw.unit_groups:
        if g in name or name in g:
            return g
    return fw.unit_groups[-1] if "中心" in name or "委" in name else fw.unit_groups[0]


def synthesize(fw: Framework, n_units: int, n_events: int, seed: int = 0, period: str | None = None) -> dict[str, pd.DataFrame]:
    """units, events and facts tables (as a person would fill them in) for one county-year."""
    rng = np.random.default_rng(seed)
    period_ = Period.parse(fw, period)
    units = _unit_names(fw, n_units, rng)
    units.insert(0, "unit_id", [f"{i + 1:04d}" for i in range(len(units))])
    app = applicability(fw, units)

    leaves = [l for l in fw.leaves() if RULES[l.rule.type].evidence == "events" and l.rule.type != "threshold"]
    kinds = np.array([RULES[l.rule.type].kind for l in leaves])
    # weights per leaf: vetoes rare, awards common, deductions in between
    types = np.array([l.rule.type for l in leaves])
    per = np.array([float(l.rule.params.get("per") or 1.0) for l in leaves])
    base_w = np.where(kinds == "veto", 0.0, np.where(np.isin(types, ["award", "bonus"]), 3.0, 0.15 / np.maximum(per, 1.0) ** 0.75))
    base_w = np.where(types == "best_level", 0.4, base_w)
    activity = rng.gamma(shape=0.8, scale=1.0, size=len(units))  # long tail of busy units
    mask = app[[l.code for l in leaves]].to_numpy() if leaves else np.zeros((len(units), 0), dtype=bool)
    w = activity[:, None] * base_w[None, :] * mask
    events = _events(fw, leaves, units, w, n_events, rng, period_)
    vetoes = _vetoes(fw, units, app, rng, period_)
    events = pd.concat([events, vetoes], ignore_index=True)
    events.insert(0, "event_id", _event_ids(len(events)) if len(events) else [])
    facts = _facts(fw, units, app, rng)
    units["note"] = MARK
    return {"units": units, "events": events, "facts": facts}


def _events(fw: Framework, leaves, units: pd.DataFrame, w: np.ndarray, n_events: int, rng: np.random.Generator, per: Period) -> pd.DataFrame:
    cols = ["unit_id", "indicator", "date", "quantity", "level", "done_date", "source", "note"]
    total = w.sum()
    if n_events <= 0 or total <= 0:
        return pd.DataFrame(columns=cols)
    flat = (w / total).ravel()
    cells = rng.choice(flat.size, size=n_events, p=flat)
    ui, li = np.divmod(cells, len(leaves))
    span = (per.end - per.start).days
    dates = np.datetime64(per.start) + rng.integers(0, span + 1, size=n_events).astype("timedelta64[D]")
    awards = np.isin(np.array([l.rule.type for l in leaves])[li], ["award", "bonus"])
    qty = 1 + np.where(awards, rng.poisson(2.0, size=n_events), rng.poisson(0.3, size=n_events))
    codes = np.array([l.code for l in leaves])[li]
    level = np.full(n_events, None, dtype=object)
    done = np.full(n_events, np.datetime64("NaT"), dtype="datetime64[D]")
    for j, leaf in enumerate(leaves):  # per leaf (a handful), never per event
        sel = li == j
        if not sel.any():
            continue
        priced = leaf.rule.params.get("per_level") or leaf.rule.params.get("levels")
        if priced:
            names = list(priced)
            probs = np.array([0.25 if "国家" in n else 1.0 for n in names])
            level[sel] = rng.choice(names, size=sel.sum(), p=probs / probs.sum())
            qty[sel] = 1 + rng.poisson(0.5 if leaf.rule.type != "best_level" else 0, size=sel.sum())
        if leaf.rule.type == "timeliness":
            within = int(leaf.rule.params.get("within", 1))
            cal = WorkCalendar.for_years(range(per.start.year, per.end.year + 1))
            lag = np.where(rng.random(sel.sum()) < 0.9, rng.integers(0, within + 1, sel.sum()), within + rng.integers(1, 4, sel.sum()))
            start_idx = cal.count_before(dates[sel])
            k = np.clip(start_idx + lag, 1, len(cal.workdays))
            done_sel = np.maximum(cal.workdays[k - 1], dates[sel])
            done[sel] = np.minimum(done_sel, np.datetime64(per.end))
            dates[sel] = np.minimum(dates[sel], done[sel])
    # text columns built by Arrow from small tables (units, leaf codes, one string per day): the
    # same strings and dtypes as formatting every row, ten million rows in seconds (speed and scale)
    return pd.DataFrame({
        "unit_id": _take_text(units["unit_id"].to_numpy(), ui), "indicator": _take_text(np.array([l.code for l in leaves]), li),
        "date": _day_text(dates), "quantity": qty, "level": level,
        "done_date": _day_text(done, missing=np.nan),
        "source": _take_text(np.array(["抽查检查（合成）"]), np.zeros(n_events, dtype=np.int64)), "note": None})


TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' default str dtype


def _take_text(table: np.ndarray, rows: np.ndarray) -> pd.Series:
    """table[rows] as a str column, taken by Arrow (no Python string per row)."""
    import pyarrow as pa

    return pd.Series(pd.array(pa.array([str(x) for x in table], pa.large_string()).take(pa.array(rows)), dtype=TEXT))


def _day_text(days: np.ndarray, missing: object = "keep") -> pd.Series:
    """Dates as 2023-05-06: each distinct day formatted once. With `missing` given, an object column
    holding it where the date is missing (the done_date column), else a str column."""
    days = np.asarray(days, dtype="datetime64[D]")
    known = ~np.isnat(days)
    if not known.any():
        return pd.Series(np.full(len(days), missing, dtype=object), dtype=object) if missing != "keep" else pd.Series([], dtype=TEXT)
    first = days[known].min()
    offsets = np.where(known, (days - first).astype("timedelta64[D]").astype(np.int64, copy=False), 0)
    span = int(offsets.max()) + 1
    table = pd.date_range(pd.Timestamp(first), periods=span, freq="D").strftime("%Y-%m-%d").to_numpy(dtype=object)
    if missing == "keep":
        return _take_text(table, offsets)
    out = table[offsets]
    out[~known] = missing
    return pd.Series(out, dtype=object)


def _event_ids(n: int) -> pd.Series:
    """E0000001 …: zero-padded to the same width (7 digits, more past ten million) so that text order is number order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    width = max(7, len(str(n)))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1, dtype=np.int64)), pa.large_string()), width, "0")
    joined = pc.binary_join_element_wise(pa.scalar("E", pa.large_string()), digits, pa.scalar("", pa.large_string()))
    return pd.Series(pd.array(joined, dtype=TEXT))


def _vetoes(fw: Framework, units: pd.DataFrame, app: pd.DataFrame, rng: np.random.Generator, per: Period) -> pd.DataFrame:
    """About one unit in forty is vetoed, at least one where there are ten units or more."""
    codes = [l.code for l in fw.leaves() if l.rule.type == "veto"]
    if not codes:
        return pd.DataFrame(columns=["unit_id", "indicator", "date", "quantity", "level", "done_date", "source", "note"])
    n = max(1 if len(units) >= 10 else 0, int(round(len(units) / 40)))
    who = rng.choice(len(units), size=n, replace=False)
    which = rng.choice(codes, size=n)
    ok = app.to_numpy()[who, [list(app.columns).index(c) for c in which]] if n else np.array([], dtype=bool)
    day = np.datetime64(per.start) + rng.integers(0, (per.end - per.start).days + 1, n).astype("timedelta64[D]")
    return pd.DataFrame({"unit_id": units["unit_id"].to_numpy()[who][ok], "indicator": which[ok],
                         "date": pd.to_datetime(day[ok]).strftime("%Y-%m-%d"), "quantity": 1, "level": None, "done_date": None,
                         "source": "上级抽查通报（合成）", "note": None})


def _facts(fw: Framework, units: pd.DataFrame, app: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    frames = []
    for leaf in fw.leaves():
        rt = RULES[leaf.rule.type]
        if rt.evidence != "facts":
            continue
        who = units["unit_id"].to_numpy()[app[leaf.code].to_numpy()]
        p = leaf.rule.params
        if leaf.rule.type == "checklist":
            for item in p["items"]:
                met = rng.random(len(who)) < 0.88
                frames.append(pd.DataFrame({"unit_id": who, "indicator": item["code"], "value": np.where(met, "是", "否")}))
        elif leaf.rule.type == "target":
            t = float(p["target"])
            if p.get("unit", "percent") == "percent":
                v = np.clip(rng.normal(t + 0.01, 0.03, len(who)), 0, 1)
                vals = [f"{x * 100:.1f}%" for x in v]
            else:
                vals = [str(int(x)) for x in np.maximum(0, np.round(rng.normal(t + 1, 2, len(who))))]
            frames.append(pd.DataFrame({"unit_id": who, "indicator": leaf.code, "value": vals}))
        elif leaf.rule.type == "deadline":
            due = pd.Timestamp(p["due"])
            offs = np.where(rng.random(len(who)) < 0.9, -rng.integers(0, 20, len(who)), rng.integers(1, 15, len(who)))
            frames.append(pd.DataFrame({"unit_id": who, "indicator": leaf.code, "value": (due + pd.to_timedelta(offs, unit="D")).strftime("%Y-%m-%d")}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["unit_id", "indicator", "value"])
    out["note"] = None
    return out


def write(tables: dict[str, pd.DataFrame], out: Path, form: str = "csv", description: str | None = None,
          made_with: str | None = None) -> list[Path]:
    """Write the tables as a person would deliver them: three CSV files (UTF-8) or one workbook, and
    the folder's `dataset.yaml` declaring the data synthetic, so every document made from them is
    marked as a demo (（演示）)."""
    from . import dataset

    out.mkdir(parents=True, exist_ok=True)
    if form == "csv":
        paths = []
        for name, df in tables.items():
            path = out / f"{name}.csv"
            df.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
            paths.append(path)
    else:
        paths = [write_workbook(tables, out / "evidence.xlsx")]  # refused before anything is declared when too big
    return paths + [dataset.write(out, description or describe(tables), made_with)]


def describe(tables: dict[str, pd.DataFrame]) -> str:
    """What `dataset.yaml` says of synthetic evidence: that it is synthetic, and how much of it there is."""
    units = tables.get("units", pd.DataFrame(columns=["unit_group"]))
    groups = "、".join(f"{g}{n}家" for g, n in units["unit_group"].value_counts(sort=False).items())
    counts = {k: len(tables[k]) if k in tables else 0 for k in ("events", "facts")}
    return (f"演示数据（合成）：{len(units)}家单位（{groups}），{counts['events']}条事件，{counts['facts']}条指标事实，"
            f"均为程序随机生成，不是任何真实单位的考评结果；单位名称借用真实名称只为看起来真实。\n"
            f"Synthetic demo evidence: every unit, event and fact is randomly generated, not any real unit's result.")


EXCEL_MAX_ROWS = 1_048_576


def write_workbook(tables: dict[str, pd.DataFrame], path: Path) -> Path:
    """One workbook, a sheet per table, values only (text stays text: 0001 keeps its zeros).

    Streamed row by row (openpyxl write-only): a 100 k-event workbook takes seconds and little
    memory. A sheet holds at most 1 048 576 rows; larger evidence is refused here (write CSV)."""
    import datetime as _dt

    from openpyxl import Workbook

    too_big = {name: len(df) for name, df in tables.items() if len(df) + 1 > EXCEL_MAX_ROWS}
    if too_big:
        raise ValueError(f"工作表最多 {EXCEL_MAX_ROWS} 行，{too_big} 超出，请用 CSV（an Excel sheet holds at most {EXCEL_MAX_ROWS} rows: use --format csv）")
    wb = Workbook(write_only=True)
    wb.properties.creator = "assessment synth"
    wb.properties.created = wb.properties.modified = _dt.datetime(2000, 1, 1)
    for name, df in tables.items():
        ws = wb.create_sheet(name)
        ws.append([str(c) for c in df.columns])
        columns = [_cells(df[c]) for c in df.columns]
        for row in zip(*columns):
            ws.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


def _cells(s: pd.Series) -> list:
    """A column's values as workbook cells: numbers as numbers, text as text, missing as empty."""
    if pd.api.types.is_integer_dtype(s):
        return s.astype(object).tolist()
    if pd.api.types.is_float_dtype(s):
        return [None if v != v else v for v in s.tolist()]
    return [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in s.astype(object).tolist()]
