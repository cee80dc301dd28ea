"""Years side by side: each unit's score, rank and grade against last year; and what changed
between two years' frameworks (`assessment frameworks diff A B`)."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .frameworks import Framework

COMPARISON_COLUMNS = ["unit_id", "unit_name", "unit_group", "total_prev", "total", "total_change", "rank_prev", "rank",
                      "rank_change", "grade_prev", "grade", "grade_changed"]


def compare_years(current: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Match units by id (else by name, for units whose code changed) and set this year beside last year.

    rank_change > 0 means the unit moved up (a smaller rank number); a unit new this year has no
    previous values. Vetoed units have no total, so no total change.
    """
    cur = current[["unit_id", "unit_name", "unit_group", "total", "rank", "grade"]].copy()
    prev = previous[["unit_id", "unit_name", "total", "rank", "grade"]].copy()
    prev["unit_id"] = prev["unit_id"].astype(str)
    by_id = cur.merge(prev.drop(columns="unit_name"), on="unit_id", how="left", suffixes=("", "_prev"))
    unmatched = by_id["grade_prev"].isna() & ~cur["unit_id"].isin(prev["unit_id"]).to_numpy()
    if unmatched.any():  # a unit re-coded between years keeps its name
        by_name = cur[unmatched].merge(prev.drop(columns="unit_id").drop_duplicates("unit_name"), on="unit_name", how="left", suffixes=("", "_prev"))
        by_id.loc[unmatched, ["total_prev", "rank_prev", "grade_prev"]] = by_name[["total_prev", "rank_prev", "grade_prev"]].to_numpy()
    out = by_id
    out["total_change"] = (out["total"] - pd.to_numeric(out["total_prev"], errors="coerce")).round(2)
    out["rank_prev"] = pd.to_numeric(out["rank_prev"], errors="coerce").astype("Int64")
    out["rank_change"] = (out["rank_prev"] - out["rank"]).astype("Int64")
    out["grade_changed"] = out["grade_prev"].notna() & (out["grade_prev"] != out["grade"])
    out["total_prev"] = pd.to_numeric(out["total_prev"], errors="coerce")
    return out[COMPARISON_COLUMNS].reset_index(drop=True)


# ---- framework diff -----------------------------------------------------------------------
# Generic over the models' dump: every top-level key of the framework (metadata, grades, veto
# settings, normalisation, any key added later) and every key of every indicator is compared, so
# a new key is covered without an edit here. Only `indicators` (compared node by node), `children`
# (the tree) and `code` (the match key) are not fields of their own.

TOP_SKIP = {"indicators"}
NODE_SKIP = {"children", "code"}


def _dump(model: Any, skip: set[str]) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude=skip)


def _show(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return "" if v is None else str(v)


def _changed(da: dict[str, Any], db: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, before, after) for every key whose value differs, in A's key order then B's new keys."""
    keys = list(da) + [k for k in db if k not in da]
    return [(k, da.get(k), db.get(k)) for k in keys if da.get(k) != db.get(k)]


def diff_frameworks(a: Framework, b: Framework) -> pd.DataFrame:
    """Every key changed from framework A to framework B: the framework's own keys (jurisdiction,
    year, title, source, grades, …), then indicators removed, added, changed key by key, or moved."""
    rows = []
    for f, va, vb in _changed(_dump(a, TOP_SKIP), _dump(b, TOP_SKIP)):
        rows.append(("修改 changed", "(框架)", "", f, _show(va), _show(vb)))
    na, nb = a.nodes, b.nodes
    for code in [c for c in na if c not in nb]:
        rows.append(("删除 removed", code, na[code].name, "", _show(_dump(na[code].rule, set())) if na[code].rule else "", ""))
    for code in [c for c in nb if c not in na]:
        rows.append(("新增 added", code, nb[code].name, "", "", _show(_dump(nb[code].rule, set())) if nb[code].rule else ""))
    for code in [c for c in nb if c in na]:
        for f, va, vb in _changed(_dump(na[code], NODE_SKIP), _dump(nb[code], NODE_SKIP)):
            rows.append(("修改 changed", code, nb[code].name, f, _show(va), _show(vb)))
        pa, pb = a.parents.get(code), b.parents.get(code)
        if pa != pb:
            rows.append(("移动 moved", code, nb[code].name, "parent", pa or "", pb or ""))
    return pd.DataFrame(rows, columns=["change", "code", "name", "field", "before", "after"])
