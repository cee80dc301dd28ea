"""The hand-computed fixture for sihong-new-media-2023 (tests/fixtures/sihong_small).

Every expected number below is worked out by hand from the annex's rules, not copied from the
program. Rules: 规范管理 A is a 30-point pool (A1 −10, A2 −5, A3 −5, A4 −1, A5 −5, A6 −5 per time,
not below 0); B1 checklist of three items, all 是 → 10; B2 10 − 1 per missed repost, not below 0;
B3 +0.5 per item, cap 10; C1 10 if A2–A6 findings (quantity) ≤ 5; C2 省级 0.5 / 国家级 1, cap 10;
C3 +1 each, cap 10; C4 best level 省级 5 / 国家级 10. Grades 优秀 ≥90, 良好 ≥80, 合格 ≥60.

乡镇街道
  001 青阳街道  A 30 | B1 10, B2 10, B3 20×0.5=10 | C1 10, C2 10×1=10, C3 10, C4 国家级 10     = 100   优秀
  002 大楼街道  A 30−3=27 | B1 10, B2 10−2=8, B3 10×0.5=5 | C1 (3≤5) 10, C2 4×0.5=2, C3 5, C4 省级 5
                27 + 23 + 22                                                                  = 72    合格
  003 城头乡    A 30−5=25 | B1 (B1.c 否) 0, B2 10, B3 30×0.5=15→cap 10 | C1 (1≤5) 10,
                C2 1×1+2×0.5=2, C3 13→cap 10, C4 省级 5          25 + 20 + 27                 = 72    合格 (tie with 002)
  004 四河乡    A 30−20−5−5−5 = −5 → pool floor 0 | B1 10, B2 10−12 → floor 0, B3 0 |
                C1 (A2+A3+A5 = 3 ≤ 5) 10, C2–C4 0                 0 + 10 + 10                 = 20    不合格
  005 半城镇    A 30−5=25 | B1 10, B2 10, B3 16×0.5=8 | C1 (exactly 5 ≤ 5) 10, C2 20×0.5=10 (=cap), C3 0, C4 0
                25 + 28 + 20                                                                  = 73    合格
  006 龙集镇    V1 → vetoed: no total, 不合格, ranked last
  ranks: 001 1; 005 2; 002 and 003 share 3; 004 5; 006 6
县直部门
  101 县发改局  A 30−6=24 | B 10+10+10 | C1 (6 > 5) 0, C2 12×1=12→cap 10, C3 10, C4 best 国家级 10
                24 + 30 + 30                                                                  = 84    良好
  102 县教育局  A 30 | B1 (B1.c missing → not met) 0, B2 10, B3 18×0.5=9 | C1 10, C2 0.5, C3 0, C4 0
                30 + 19 + 10.5                                                                = 59.5  不合格
  103 县公安局  A 30−10=20 | B 10+10+0 | C1 10, C2 0, C3 10, C4 0    20 + 20 + 20              = 60    合格 (60 included)
  104 县民政局  A 30 | B 10+10+10 | C1 10, C2 5×1+10×0.5=10, C3 10, C4 0   30 + 30 + 30        = 90    优秀 (90 included)
  105 县财政局  V2 → vetoed
  106 县交通局  A 30−2=28 | B 10+10+(24×0.5=12→cap 10) | C1 10, C2 14×0.5=7, C3 10, C4 省级 5
                28 + 30 + 32                                                                  = 90    优秀 (tie with 104)
  ranks: 104 and 106 share 1; 101 3; 103 4; 102 5; 105 6
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from assessment import evidence, frameworks, scoring

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"

EXPECTED = {
    # unit_id: (total, grade, rank, A, B, C)
    "001": (100, "优秀", 1, 30, 30, 40),
    "002": (72, "合格", 3, 27, 23, 22),
    "003": (72, "合格", 3, 25, 20, 27),
    "004": (20, "不合格", 5, 0, 10, 10),
    "005": (73, "合格", 2, 25, 28, 20),
    "006": (None, "不合格", 6, None, None, None),
    "101": (84, "良好", 3, 24, 30, 30),
    "102": (59.5, "不合格", 5, 30, 19, 10.5),
    "103": (60, "合格", 4, 20, 20, 20),
    "104": (90, "优秀", 1, 30, 30, 30),
    "105": (None, "不合格", 6, None, None, None),
    "106": (90, "优秀", 1, 28, 30, 32),
}


@pytest.fixture(scope="module")
def results() -> scoring.Results:
    fw = frameworks.load("sihong-new-media-2023")
    return scoring.score(fw, evidence.read(FIXTURE))


def test_totals_grades_ranks_match_hand_computation(results):
    us = results.unit_scores.set_index("unit_id")
    assert sorted(us.index) == sorted(EXPECTED)
    for uid, (total, grade, rank, *_rest) in EXPECTED.items():
        row = us.loc[uid]
        if total is None:
            assert pd.isna(row["total"]) and row["vetoed"], uid
        else:
            assert row["total"] == pytest.approx(total, abs=0.5 - 1e-9), uid  # "to the half point"
            assert row["total"] == total, uid
            assert not row["vetoed"]
        assert row["grade"] == grade, uid
        assert row["rank"] == rank, uid


def test_first_level_subscores(results):
    ind = results.indicator_scores.set_index(["unit_id", "indicator"])["score"]
    for uid, (total, _g, _r, a, b, c) in EXPECTED.items():
        if total is None:
            continue
        assert (ind[(uid, "A")], ind[(uid, "B")], ind[(uid, "C")]) == (a, b, c), uid


def test_leading_zero_ids_stay_strings(results):
    assert set(results.unit_scores["unit_id"]) >= {"001", "101"}
    assert results.line_items["unit_id"].map(type).eq(str).all()


def test_vetoes_name_their_reason_and_evidence(results):
    us = results.unit_scores.set_index("unit_id")
    assert "E025" in us.loc["006", "veto_reasons"] and "抽查检查中被判定不合格" in us.loc["006", "veto_reasons"]
    assert "E041" in us.loc["105", "veto_reasons"]
    # a vetoed unit's only lines are its veto lines, worth nothing
    vetoed_lines = results.line_items[results.line_items["unit_id"] == "006"]
    assert set(vetoed_lines["kind"]) == {"veto"} and vetoed_lines["points"].sum() == 0


def test_line_items_sum_to_totals_and_name_evidence(results):
    li = results.line_items
    sums = li.groupby("unit_id")["points"].sum()
    for uid, row in results.unit_scores.set_index("unit_id").iterrows():
        if not row["vetoed"]:
            assert sums[uid] == pytest.approx(row["total"], abs=1e-9)
    # every deduction and award from an event names that event
    per_event = li[li["rule"].isin(["deduct", "award"]) & (li["points"] != 0) & ~li["explanation"].str.contains("基础分")]
    assert per_event["evidence_ids"].str.match(r"^E\d{3}$").all()


def test_pool_floor_and_caps_are_explicit_lines(results):
    li = results.line_items
    pool = li[(li["unit_id"] == "004") & (li["indicator"] == "A")]
    # +30 base, then an adjustment of +5 lifting the pool from −5 to 0
    assert sorted(pool["points"]) == [5, 30]
    assert (pool["kind"] == "adjust").sum() == 1
    b2 = li[(li["unit_id"] == "004") & (li["indicator"] == "B2")]
    assert b2["points"].sum() == 0 and (b2["kind"] == "adjust").any()
    cap = li[(li["unit_id"] == "003") & (li["indicator"] == "B3") & (li["kind"] == "adjust")]
    assert cap["points"].tolist() == [-5]  # 15 capped to 10


def test_threshold_at_and_past_its_bound(results):
    ind = results.indicator_scores.set_index(["unit_id", "indicator"])["score"]
    assert ind[("005", "C1")] == 10  # exactly 5 findings
    assert ind[("101", "C1")] == 0  # 6 findings


def test_missing_checklist_fact_scores_not_met(results):
    ind = results.indicator_scores.set_index(["unit_id", "indicator"])["score"]
    assert ind[("102", "B1")] == 0
    line = results.line_items[(results.line_items["unit_id"] == "102") & (results.line_items["indicator"] == "B1")]
    assert "咨询问答库✗" in line["explanation"].iloc[0]
