"""Years side by side: each unit's score, rank and grade against last year; and what changed
between two years' frameworks (`assessment frameworks diff A B`)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
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

FIELDS = ["name", "points", "pool", "scored", "rule", "applies_to", "responsible", "assisting", "basis"]
TOP_FIELDS = ["title", "year", "period", "unit_groups", "levels", "grades", "veto_grade", "rank_within", "normalise_to", "bonus_requires_base"]


def _value(node: Any, field: str) -> Any:
    v = getattr(node, field)
    if hasattr(v, "model_dump"):
        v = v.model_dump(mode="json")
    elif isinstance(v, list):
        v = [x.model_dump(mode="json") if hasattr(x, "model_dump") else x for x in v]
    return v


def _show(v: Any) -> str:
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, sort_keys=True)
    return "" if v is None else str(v)


def diff_frameworks(a: Framework, b: Framework) -> pd.DataFrame:
    """Indicators and rules added, removed or changed from framework A to framework B (by code)."""
    rows = []
    for f in TOP_FIELDS:
        va, vb = _value(a, f), _value(b, f)
        if va != vb:
            rows.append(("修改 changed", "(框架)", "", f, _show(va), _show(vb)))
    na, nb = a.nodes, b.nodes
    for code in [c for c in na if c not in nb]:
        rows.append(("删除 removed", code, na[code].name, "", _show(_value(na[code], "rule")) if na[code].rule else "", ""))
    for code in [c for c in nb if c not in na]:
        rows.append(("新增 added", code, nb[code].name, "", "", _show(_value(nb[code], "rule")) if nb[code].rule else ""))
    for code in [c for c in nb if c in na]:
        for f in FIELDS:
            va, vb = _value(na[code], f), _value(nb[code], f)
            if va != vb:
                rows.append(("修改 changed", code, nb[code].name, f, _show(va), _show(vb)))
        pa, pb = a.parents.get(code), b.parents.get(code)
        if pa != pb:
            rows.append(("移动 moved", code, nb[code].name, "parent", pa or "", pb or ""))
    return pd.DataFrame(rows, columns=["change", "code", "name", "field", "before", "after"])
