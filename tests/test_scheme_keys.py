"""The framework keys published schemes need beyond the seeds (DESIGN "What published schemes beyond
the seeds also say"), each at its edges, with hand-computed numbers.

veto_score, veto min_count/count, deduct veto_at, a pooled leaf's points as its cap,
bonus_requires_above, part: bonus | penalty, normalise_method: spread, sources — and for every
test, a unit's line items sum to its total.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from assessment import scoring
from conftest import make_evidence, make_framework

GROUPS3 = ["乡镇街道", "县直部门", "重点部门"]


def lines_sum_to_totals(res) -> None:
    """Every unit: its line items add up to its total (0 where it has no total)."""
    sums = res.line_items.groupby("unit_id")["points"].sum()
    for r in res.unit_scores.itertuples():
        expected = 0.0 if pd.isna(r.total) else r.total
        assert round(float(sums.get(r.unit_id, 0.0)), 2) == pytest.approx(expected), r.unit_id


def unit(res, uid: str):
    return res.unit_scores.set_index("unit_id").loc[uid]


def lines(res, uid: str, **where) -> pd.DataFrame:
    out = res.line_items[res.line_items["unit_id"] == uid]
    for k, v in where.items():
        out = out[out[k] == v]
    return out


def ev(eid, uid, code, qty=1, **kw) -> dict:
    return {"event_id": eid, "unit_id": uid, "indicator": code, "date": "2023-05-01", "quantity": qty} | kw


VETO = {"code": "V", "name": "单项否决", "children": [{"code": "V1", "name": "抽查不合格", "rule": {"type": "veto"}}]}


def pool(points=100, *children) -> dict:
    kids = list(children) or [{"code": "A1", "name": "问题", "rule": {"type": "deduct", "per": 41}}]
    return {"code": "A", "name": "规范管理", "points": points, "pool": True, "children": kids}


# ---- veto_score -----------------------------------------------------------------------------

def test_veto_score_gives_the_total_and_ties_with_a_scored_unit():
    """u1 vetoed → 59 by veto_score; u2 100 − 41 = 59, scored; u3 100. Ranks: u3 1, u1 and u2 share 2."""
    fw = make_framework([VETO, pool()], veto_score=59)
    res = scoring.score(fw, make_evidence(
        [("u1", "甲", "乡镇街道"), ("u2", "乙", "乡镇街道"), ("u3", "丙", "乡镇街道")],
        [ev("e1", "u1", "V1"), ev("e2", "u1", "A1"), ev("e3", "u2", "A1")]))
    u1, u2, u3 = unit(res, "u1"), unit(res, "u2"), unit(res, "u3")
    assert (u1.total, u1["rank"], bool(u1.vetoed), u1.grade) == (59, 2, True, "不合格")
    assert (u2.total, u2["rank"], bool(u2.vetoed), u2.grade) == (59, 2, False, "不合格")
    assert (u3.total, u3["rank"]) == (100, 1)
    line = lines(res, "u1", rule="veto_score")
    assert line["points"].tolist() == [59] and line["explanation"].tolist() == ["单项否决，按方案记 59 分"]
    assert lines(res, "u1", kind="veto")["evidence_ids"].tolist() == ["e1"]
    assert pd.isna(u1.base)  # not scored on anything else
    # the vetoed unit's other finding is kept for the audit
    un = res.unused_evidence.set_index("evidence_id")
    assert "单项否决" in un.loc["e2", "reason"]
    lines_sum_to_totals(res)


def test_veto_score_per_group_other_groups_rank_last_and_names_are_normalised():
    """veto_score {县（市、区）: 59} (full-width brackets in the file, half-width in the evidence):
    the county unit k1 gets 59 and is ranked among the others; the city department c1 has no total
    and is ranked last."""
    fw = make_framework([VETO, pool()], unit_groups=["县（市、区）", "市直部门 "], veto_score={"县（市、区）": 59},
                        rank_within="overall")
    assert fw.unit_groups == ["县(市、区)", "市直部门"] and fw.veto_score == {"县(市、区)": 59}
    res = scoring.score(fw, make_evidence(
        [("k1", "甲县", "县(市、区)"), ("k2", "乙县", "县(市、区)"), ("c1", "市局", "市直部门"), ("c2", "市委", "市直部门")],
        [ev("e1", "k1", "V1"), ev("e2", "c1", "V1"), ev("e3", "k2", "A1", 2)]))
    assert (unit(res, "k1").total, unit(res, "k1")["rank"]) == (59, 2)  # c2 100, k1 59, k2 100 − 82 → 18
    assert (unit(res, "k2").total, unit(res, "k2")["rank"]) == (18, 3)
    assert pd.isna(unit(res, "c1").total) and unit(res, "c1")["rank"] == 4
    assert unit(res, "c1").grade == unit(res, "k1").grade == "不合格"
    lines_sum_to_totals(res)


# ---- veto min_count / count; deduct veto_at -------------------------------------------------

@pytest.mark.parametrize("count, expected", [("quantity", {"u1": True, "u2": False, "u3": True}),
                                             ("events", {"u1": False, "u2": False, "u3": False})])
def test_veto_min_count_exactly_at_and_one_below(count, expected):
    """min_count 5. u1: 3 + 2 = 5 (2 events) → vetoed by quantity, not by events; u2: 4 → never;
    u3: one event of 5 → vetoed by quantity only."""
    veto = {"code": "V", "name": "单项否决", "children": [
        {"code": "V1", "name": "栏目不更新", "rule": {"type": "veto", "min_count": 5, "count": count}}]}
    fw = make_framework([veto, pool()])
    res = scoring.score(fw, make_evidence(
        [("u1", "甲", "乡镇街道"), ("u2", "乙", "乡镇街道"), ("u3", "丙", "县直部门")],
        [ev("e1", "u1", "V1", 3), ev("e2", "u1", "V1", 2), ev("e3", "u2", "V1", 4), ev("e4", "u3", "V1", 5)]))
    assert {u: bool(unit(res, u).vetoed) for u in ("u1", "u2", "u3")} == expected
    if count == "quantity":
        assert lines(res, "u1", kind="veto")["explanation"].tolist() == ["单项否决：栏目不更新，数量合计 5 个，达到 5 个（e1;e2）"]
    un = res.unused_evidence.set_index("evidence_id")
    assert "未达到" in un.loc["e3", "reason"]  # u2's 4 is below the count
    lines_sum_to_totals(res)


def test_deduct_veto_at_deducts_below_and_vetoes_at_the_count():
    """deduct 2 per item, veto_at 10: u1 9 items → 30 − 18 = 12; u2 10 items → vetoed (no total)."""
    fw = make_framework([pool(30, {"code": "A1", "name": "栏目不更新", "rule": {"type": "deduct", "per": 2, "veto_at": 10}})])
    res = scoring.score(fw, make_evidence([("u1", "甲", "乡镇街道"), ("u2", "乙", "乡镇街道")],
                                          [ev("e1", "u1", "A1", 9), ev("e2", "u2", "A1", 10)]))
    assert unit(res, "u1").total == 12 and not unit(res, "u1").vetoed
    u2 = unit(res, "u2")
    assert bool(u2.vetoed) and pd.isna(u2.total) and u2.grade == "不合格"
    v = lines(res, "u2", kind="veto")
    assert v["rule"].tolist() == ["veto_at"] and "数量合计 10 个，达到 10 个" in v["explanation"].iloc[0]
    assert "栏目不更新" in u2.veto_reasons
    lines_sum_to_totals(res)


# ---- a pooled leaf's points ------------------------------------------------------------------

def test_pooled_leaf_points_cap_its_deductions_exactly_at_and_one_over():
    """Pool 30; A1 每次扣2分，本项最多扣10分 (points 10); A2 每次扣1分.
    u1: 5 × 2 = 10, exactly the cap → 20, no cap line; u2: 6 × 2 = 12 → held at 10 (+2) → 20;
    u3: 8 × 2 = 16 → 10 (+6), A2 25 → 30 − 35 → pool floor (+5) → 0."""
    fw = make_framework([pool(30, {"code": "A1", "name": "错别字", "points": 10, "rule": {"type": "deduct", "per": 2}},
                              {"code": "A2", "name": "其他", "rule": {"type": "deduct", "per": 1}})])
    res = scoring.score(fw, make_evidence([("u1", "甲", "乡镇街道"), ("u2", "乙", "乡镇街道"), ("u3", "丙", "乡镇街道")],
                                          [ev("e1", "u1", "A1", 5), ev("e2", "u2", "A1", 6), ev("e3", "u3", "A1", 8),
                                           ev("e4", "u3", "A2", 25)]))
    assert [unit(res, u).total for u in ("u1", "u2", "u3")] == [20, 20, 0]
    assert lines(res, "u1", rule="cap").empty
    cap = lines(res, "u2", rule="cap")
    assert cap["points"].tolist() == [2] and cap["explanation"].tolist() == ["错别字：本项最多扣 10 分，已扣满"]
    assert cap["indicator"].tolist() == ["A1"]
    assert sorted(lines(res, "u3", rule="cap")["points"].tolist()) == [5, 6]
    lines_sum_to_totals(res)


def test_pool_children_may_add_up_to_more_than_the_pool():
    """Two 最多扣15分 items in a 20-point pool: accepted, the pool caps them (扣完为止)."""
    fw = make_framework([pool(20, {"code": "A1", "name": "甲项", "points": 15, "rule": {"type": "deduct", "per": 5}},
                              {"code": "A2", "name": "乙项", "points": 15, "rule": {"type": "deduct", "per": 5}})])
    res = scoring.score(fw, make_evidence([("u1", "甲", "乡镇街道")], [ev("e1", "u1", "A1", 4), ev("e2", "u1", "A2", 1)]))
    # A1 20 → 15 (+5); A2 5; 20 − 15 − 5 = 0 exactly: no pool line
    assert unit(res, "u1").total == 0
    assert lines(res, "u1", rule="cap")["indicator"].tolist() == ["A1"]
    lines_sum_to_totals(res)


# ---- bonus gate, part: bonus / penalty ---------------------------------------------------------

BONUS = {"code": "X", "name": "加分指标", "points": 10, "part": "bonus", "children": [
    {"code": "X1", "name": "表彰", "points": 10, "rule": {"type": "best_level", "levels": {"国家级": 10, "省级": 5}}},
    {"code": "X2", "name": "创新", "points": 10, "rule": {"type": "award", "per": 3}}]}


def gate_framework(**gate):
    return make_framework([pool(100, {"code": "A1", "name": "问题", "rule": {"type": "deduct", "per": 1}}), BONUS], **gate)


GATE_EVIDENCE = ([("u1", "甲", "乡镇街道"), ("u2", "乙", "乡镇街道"), ("u3", "丙", "乡镇街道")],
                 [ev("e1", "u1", "A1", 20), ev("e2", "u1", "X1", level="国家级"),
                  ev("e3", "u2", "A1", 19), ev("e4", "u2", "X1", level="省级"),
                  ev("e5", "u3", "X1", level="国家级"), ev("e6", "u3", "X1", level="省级"), ev("e7", "u3", "X2", 2)])


def test_bonus_requires_above_exactly_at_the_gate_gets_no_bonus():
    """高于80分: u1 base exactly 80 → no bonus (80); u2 81 + 省级 5 = 86;
    u3 100 + min(国家级 10 + 2 × 3, 10) = 110 (best_level is bonus, capped at the part's 10)."""
    res = scoring.score(gate_framework(bonus_requires_above=80), make_evidence(*GATE_EVIDENCE))
    u1 = unit(res, "u1")
    assert (u1.base, u1.bonus, u1.total) == (80, 0, 80)
    assert lines(res, "u1", rule="bonus_gate")["explanation"].tolist() == ["基础得分 80 分，未高于 80 分，加分不计入"]
    assert (unit(res, "u2").base, unit(res, "u2").bonus, unit(res, "u2").total) == (81, 5, 86)
    assert (unit(res, "u3").base, unit(res, "u3").bonus, unit(res, "u3").total) == (100, 10, 110)
    assert set(lines(res, "u3", indicator="X1")["kind"]) == {"bonus"}
    assert lines(res, "u3", indicator="X", rule="cap")["explanation"].tolist() == ["加分指标：得分以满分 10 分为限"]
    un = res.unused_evidence.set_index("evidence_id")
    assert "更高级别" in un.loc["e6", "reason"]  # u3's 省级 is superseded by its 国家级
    lines_sum_to_totals(res)


def test_bonus_requires_base_exactly_at_the_gate_gets_the_bonus():
    """达到80分: u1 base exactly 80 → 80 + 10 = 90."""
    res = scoring.score(gate_framework(bonus_requires_base=80), make_evidence(*GATE_EVIDENCE))
    assert (unit(res, "u1").bonus, unit(res, "u1").total) == (10, 90)
    lines_sum_to_totals(res)


def test_part_bonus_best_level_behind_the_gate_without_gate_counts_as_bonus():
    res = scoring.score(gate_framework(), make_evidence(*GATE_EVIDENCE))
    assert (unit(res, "u1").base, unit(res, "u1").bonus, unit(res, "u1").total) == (80, 10, 90)
    lines_sum_to_totals(res)


def test_part_penalty_deduct_has_no_base_and_is_capped():
    """扣分指标 5 分: deduct 2 each, capped at −5. u1 3 × 2 = 6 → −5 (cap +1): 100 − 5 = 95; u2 2 → 98."""
    pen = {"code": "Y", "name": "扣分指标", "points": 5, "part": "penalty", "children": [
        {"code": "Y1", "name": "表述错误", "points": 5, "rule": {"type": "deduct", "per": 2}}]}
    fw = make_framework([pool(100, {"code": "A1", "name": "问题", "rule": {"type": "deduct", "per": 1}}), pen])
    res = scoring.score(fw, make_evidence([("u1", "甲", "乡镇街道"), ("u2", "乙", "乡镇街道")],
                                          [ev("e1", "u1", "Y1", 3), ev("e2", "u2", "Y1", 1)]))
    assert (unit(res, "u1").penalty, unit(res, "u1").total) == (-5, 95)
    assert (unit(res, "u2").penalty, unit(res, "u2").total) == (-2, 98)
    lines_sum_to_totals(res)


# ---- normalise_method: spread -----------------------------------------------------------------

def spread_framework():
    """A 30 pool, B 20 checklist, C 20 award, S 20 (县直部门, 重点部门), T 10 (县直部门) = 100; X bonus 5."""
    return make_framework([
        pool(30, {"code": "A1", "name": "问题", "rule": {"type": "deduct", "per": 5}}),
        {"code": "B", "name": "保障", "points": 20, "children": [
            {"code": "B1", "name": "制度", "points": 20, "rule": {"type": "checklist", "items": [{"code": "B1.a", "name": "制度"}]}}]},
        {"code": "C", "name": "发布", "points": 20, "children": [
            {"code": "C1", "name": "原创", "points": 20, "rule": {"type": "award", "per": 2}}]},
        {"code": "S", "name": "办事服务", "points": 20, "children": [
            {"code": "S1", "name": "服务", "points": 20, "applies_to": ["县直部门", "重点部门"],
             "rule": {"type": "checklist", "items": [{"code": "S1.a", "name": "服务"}]}}]},
        {"code": "T", "name": "专题", "points": 10, "children": [
            {"code": "T1", "name": "专题", "points": 10, "applies_to": ["县直部门"],
             "rule": {"type": "checklist", "items": [{"code": "T1.a", "name": "专题"}]}}]},
        {"code": "X", "name": "加分", "points": 5, "part": "bonus", "children": [
            {"code": "X1", "name": "创新", "points": 5, "rule": {"type": "award", "per": 1}}]},
    ], unit_groups=GROUPS3, normalise_to=100, normalise_method="spread")


def test_spread_one_and_two_indicators_not_applicable():
    """u1 乡镇街道: S 20 + T 10 = 30 over A, B, C → 10 each: A 40 − 5 = 35, B 20 + 10 = 30,
    C 3 × 2 + 10 = 16, bonus X 1 → 82. u2 重点部门: T 10 over A, B, C, S → 2.5 each: 32.5 + 22.5 +
    2.5 + 22.5 = 80. u3 县直部门: all apply, nothing spread: 30 + 20 + 0 + 20 + 10 = 80.
    u4 乡镇街道: 9 × 5 = 45 from a 40 pool → 0 (capped), B no fact 0 + 10, C 0 + 10 → 20."""
    fw = spread_framework()
    facts = [(u, c, "是") for u in ("u1", "u2", "u3") for c in ("B1.a", "S1.a", "T1.a")]
    res = scoring.score(fw, make_evidence(
        [("u1", "甲", "乡镇街道"), ("u2", "乙", "重点部门"), ("u3", "丙", "县直部门"), ("u4", "丁", "乡镇街道")],
        [ev("e1", "u1", "A1"), ev("e2", "u1", "C1", 3), ev("e3", "u1", "X1"), ev("e4", "u4", "A1", 9)], facts))
    assert unit(res, "u1").total == 82 and unit(res, "u1").bonus == 1
    assert unit(res, "u2").total == 80
    assert unit(res, "u3").total == 80
    assert unit(res, "u4").total == 20
    s1 = lines(res, "u1", rule="spread")
    assert s1["indicator"].tolist() == ["A", "B", "C"] and s1["points"].tolist() == [10, 10, 10]
    assert set(s1["explanation"]) == {"办事服务 20 分、专题 10 分不适用，平均分配至其他 3 项，各加 10 分"}
    s2 = lines(res, "u2", rule="spread")
    assert s2["indicator"].tolist() == ["A", "B", "C", "S"] and set(s2["explanation"]) == {"专题 10 分不适用，平均分配至其他 4 项，各加 2.5 分"}
    assert lines(res, "u3", rule="spread").empty and lines(res, "u1", rule="normalise").empty
    assert lines(res, "u4", indicator="A", rule="cap")["explanation"].tolist() == ["规范管理：扣分以本项 40 分为限，扣完为止"]
    maxima = res.indicator_scores.set_index(["unit_id", "indicator"])["points"]
    assert maxima[("u1", "A")] == 40 and maxima[("u2", "S")] == 22.5
    lines_sum_to_totals(res)


def test_spread_uneven_share_is_booked_to_the_cent():
    """20 over 3 → 6.67, 6.67, 6.66: a unit without findings has exactly 100."""
    fw = make_framework([
        pool(30, {"code": "A1", "name": "问题", "rule": {"type": "deduct", "per": 5}}),
        {"code": "B", "name": "保障", "points": 30, "children": [{"code": "B1", "name": "b", "points": 30, "rule": {"type": "award", "per": 30}}]},
        {"code": "C", "name": "发布", "points": 20, "children": [{"code": "C1", "name": "c", "points": 20, "rule": {"type": "award", "per": 20}}]},
        {"code": "S", "name": "办事服务", "points": 20, "children": [
            {"code": "S1", "name": "s", "points": 20, "applies_to": ["县直部门"], "rule": {"type": "award", "per": 20}}]},
    ], normalise_to=100, normalise_method="spread")
    res = scoring.score(fw, make_evidence([("u1", "甲", "乡镇街道")], [ev("e1", "u1", "B1"), ev("e2", "u1", "C1")]))
    assert unit(res, "u1").total == 100
    assert lines(res, "u1", rule="spread")["points"].tolist() == [6.67, 6.67, 6.66]
    lines_sum_to_totals(res)


# ---- sources --------------------------------------------------------------------------------

def test_sources_only_listed_events_count_and_the_others_are_listed_unused():
    """A1 counts only 上级抽查 (5 each): e1 国务院 + e3 省政府 → 30 − 10 = 20; e2 本级检查 is unused.
    C1 合格率 counts only 上级抽查 findings of A1, ≤ 1 → 10: u1 has 2 → 0; u2 has 1 (+ 1 本级) → 10."""
    src = ["国务院办公厅抽查", "省政府办公厅抽查"]
    fw = make_framework([
        pool(30, {"code": "A1", "name": "问题", "rule": {"type": "deduct", "per": 5, "sources": src}}),
        {"code": "C", "name": "创新", "points": 10, "children": [
            {"code": "C1", "name": "合格率", "points": 10, "rule": {"type": "threshold", "indicators": ["A1"], "max_count": 1, "sources": src}}]}])
    res = scoring.score(fw, make_evidence([("u1", "甲", "乡镇街道"), ("u2", "乙", "乡镇街道")], [
        ev("e1", "u1", "A1", source="国务院办公厅抽查"), ev("e2", "u1", "A1", source="本级检查"),
        ev("e3", "u1", "A1", source="省政府办公厅抽查"), ev("e4", "u2", "A1", source="省政府办公厅抽查"),
        ev("e5", "u2", "A1", source="本级检查")]))
    assert unit(res, "u1").total == 20 + 0
    assert unit(res, "u2").total == 25 + 10
    un = res.unused_evidence
    assert list(un.columns) == ["evidence_id", "table", "unit_id", "indicator", "reason_code", "reason"]
    a1 = un[un["indicator"] == "A1"].set_index("evidence_id")
    assert sorted(a1.index) == ["e2", "e5"] and "来源“本级检查”不在本项计分来源（国务院办公厅抽查、省政府办公厅抽查）之内" in a1.loc["e2", "reason"]
    assert set(a1["reason_code"]) == {"off_source"} and len(un) == 2  # one row per evidence row, its own leaf's reason first
    assert "只计来源为国务院办公厅抽查、省政府办公厅抽查的" in lines(res, "u2", indicator="C1")["explanation"].iloc[0]
    lines_sum_to_totals(res)


def test_sources_on_a_veto_only_listed_sources_veto():
    """V1 vetoes only on 上级抽查 findings: u1's 本级检查 finding does not veto (100); u2's 省级 one does."""
    veto = {"code": "V", "name": "单项否决", "children": [
        {"code": "V1", "name": "抽查不合格", "rule": {"type": "veto", "sources": ["省政府办公厅抽查"]}}]}
    fw = make_framework([veto, pool()])
    res = scoring.score(fw, make_evidence([("u1", "甲", "乡镇街道"), ("u2", "乙", "乡镇街道")],
                                          [ev("e1", "u1", "V1", source="本级检查"), ev("e2", "u2", "V1", source="省政府办公厅抽查")]))
    assert (bool(unit(res, "u1").vetoed), unit(res, "u1").total) == (False, 100)
    assert bool(unit(res, "u2").vetoed) and pd.isna(unit(res, "u2").total) and unit(res, "u2")["rank"] == 2
    assert res.unused_evidence["evidence_id"].tolist() == ["e1"]
    lines_sum_to_totals(res)


def test_sources_names_normalised_like_evidence():
    fw = make_framework([pool(30, {"code": "A1", "name": "问题", "rule": {"type": "deduct", "per": 5, "sources": [" 国务院办公厅抽查（一） "]}})])
    assert fw.nodes["A1"].rule.params["sources"] == ["国务院办公厅抽查(一)"]


def test_unused_evidence_lists_leaves_not_applicable():
    fw = make_framework([pool(30, {"code": "A1", "name": "问题", "applies_to": ["县直部门"], "rule": {"type": "deduct", "per": 5}})])
    res = scoring.score(fw, make_evidence([("u1", "甲", "乡镇街道"), ("u2", "乙", "县直部门")], [ev("e1", "u1", "A1")]))
    assert res.unused_evidence.set_index("evidence_id").loc["e1", "reason"].startswith("指标不适用")
    lines_sum_to_totals(res)


def test_seed_scores_have_no_unused_evidence_columns_missing():
    from assessment import frameworks

    fw = frameworks.load("sihong-new-media-2023")
    res = scoring.score(fw, make_evidence([("u1", "甲", "乡镇街道")], [ev("e1", "u1", "A4", source="本级检查")]))
    assert res.unused_evidence.empty and list(res.unused_evidence.columns) == ["evidence_id", "table", "unit_id", "indicator", "reason_code", "reason"]
    assert any("不论来源" in c for c in fw.choices)
    lines_sum_to_totals(res)
