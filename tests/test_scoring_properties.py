"""For any evidence: line items sum to the total, no indicator leaves [0, its points], vetoed units have no total."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessment import frameworks, scoring
from conftest import make_evidence

FW = frameworks.load("sihong-new-media-2023")
LEAVES = [l.code for l in FW.leaves() if l.rule.type != "checklist"]
LEVELS = ["国家级", "省级"]
UNITS = [(f"{i:03d}", f"单位{i}", "乡镇街道" if i % 2 else "县直部门") for i in range(8)]

event = st.fixed_dictionaries({
    "unit": st.integers(0, len(UNITS) - 1),
    "indicator": st.sampled_from(LEAVES),
    "quantity": st.integers(1, 40),
    "level": st.sampled_from(LEVELS),
    "day": st.integers(0, 364),
})
fact = st.tuples(st.integers(0, len(UNITS) - 1), st.sampled_from(["B1.a", "B1.b", "B1.c"]), st.sampled_from(["是", "否"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, max_size=60), st.lists(fact, max_size=24, unique_by=lambda f: (f[0], f[1])))
def test_any_evidence_keeps_the_invariants(events, facts):
    rows = [{"event_id": f"E{i}", "unit_id": UNITS[e["unit"]][0], "indicator": e["indicator"], "quantity": e["quantity"],
             "level": e["level"], "date": (np.datetime64("2023-01-01") + e["day"]).astype(str)} for i, e in enumerate(events)]
    ev = make_evidence(UNITS, rows, [(UNITS[u][0], c, v) for u, c, v in facts])
    res = scoring.score(FW, ev)
    us = res.unit_scores.set_index("unit_id")
    sums = res.line_items.groupby("unit_id")["points"].sum()
    vetoed = {r["unit_id"] for r in rows if r["indicator"].startswith("V")}
    for uid, row in us.iterrows():
        if uid in vetoed:
            assert row["vetoed"] and np.isnan(row["total"]) and row["grade"] == "不合格"
        else:
            assert not row["vetoed"]
            assert abs(sums.get(uid, 0.0) - row["total"]) < 1e-6
            assert 0 <= row["total"] <= 100
    ind = res.indicator_scores.dropna(subset=["points"])
    scored = ind.dropna(subset=["score"])
    assert ((scored["score"] >= -1e-9) & (scored["score"] <= scored["points"] + 1e-9)).all()
