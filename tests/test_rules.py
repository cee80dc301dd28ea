"""Every rule type at its edges: floors, caps, thresholds at and past their bound, missing facts,
working-day deadlines across the 2023 National Day holiday and its make-up workdays."""

from __future__ import annotations

import pytest

from assessment import scoring
from assessment.rules import RULES
from conftest import make_evidence, make_framework

UNITS = [("u1", "甲", "乡镇街道"), ("u2", "乙", "乡镇街道"), ("u3", "丙", "县直部门")]


def leaf_score(res, unit, code):
    s = res.indicator_scores.set_index(["unit_id", "indicator"])["score"]
    return s[(unit, code)]


def one_leaf(code: str, points, rule: dict, **extra):
    node = {"code": code, "name": f"指标{code}", "rule": rule, "basis": "test"} | extra
    if points is not None:
        node["points"] = points
    return make_framework([{"code": "X", "name": "一级", "points": 100, "children": [node]}])


def test_registry_has_every_design_rule_type():
    assert {"veto", "deduct", "award", "best_level", "threshold", "checklist", "target", "deadline", "timeliness", "bonus", "penalty"} <= set(RULES)


def test_deduct_floor_at_zero():
    fw = one_leaf("D", 10, {"type": "deduct", "per": 3})
    ev = make_evidence(UNITS, [{"event_id": "e1", "unit_id": "u1", "indicator": "D", "date": "2023-05-01", "quantity": 3},
                               {"event_id": "e2", "unit_id": "u2", "indicator": "D", "date": "2023-05-01", "quantity": 4}])
    res = scoring.score(fw, ev)
    assert leaf_score(res, "u1", "D") == 1  # 10 − 9
    assert leaf_score(res, "u2", "D") == 0  # 10 − 12 → floored
    assert leaf_score(res, "u3", "D") == 10


def test_pool_takes_deductions_and_stops_at_zero():
    fw = make_framework([{"code": "P", "name": "池", "points": 10, "pool": True, "children": [
        {"code": "P1", "name": "a", "rule": {"type": "deduct", "per": 4}, "basis": "t"},
        {"code": "P2", "name": "b", "rule": {"type": "deduct", "per": 1}, "basis": "t"}]}])
    ev = make_evidence(UNITS, [{"event_id": "e1", "unit_id": "u1", "indicator": "P1", "date": "2023-02-01", "quantity": 2},
                               {"event_id": "e2", "unit_id": "u1", "indicator": "P2", "date": "2023-02-01", "quantity": 2},
                               {"event_id": "e3", "unit_id": "u2", "indicator": "P1", "date": "2023-02-01", "quantity": 3}])
    res = scoring.score(fw, ev)
    assert leaf_score(res, "u1", "P") == 0  # 10 − 8 − 2 = 0 exactly, no adjustment
    assert leaf_score(res, "u2", "P") == 0  # 10 − 12 → 0
    assert (res.line_items.query("unit_id == 'u1' and kind == 'adjust'")).empty
    assert res.line_items.query("unit_id == 'u2' and kind == 'adjust'")["points"].tolist() == [2]


def test_award_per_level_capped():
    fw = one_leaf("W", 5, {"type": "award", "per_level": {"省级": 0.5, "国家级": 1}})
    ev = make_evidence(UNITS, [{"event_id": "e1", "unit_id": "u1", "indicator": "W", "date": "2023-03-01", "quantity": 4, "level": "国家级"},
                               {"event_id": "e2", "unit_id": "u1", "indicator": "W", "date": "2023-03-01", "quantity": 1, "level": "省级"},
                               {"event_id": "e3", "unit_id": "u2", "indicator": "W", "date": "2023-03-01", "quantity": 6, "level": "国家级"}])
    res = scoring.score(fw, ev)
    assert leaf_score(res, "u1", "W") == 4.5  # just below the cap
    assert leaf_score(res, "u2", "W") == 5  # 6 → capped at 5
    assert leaf_score(res, "u3", "W") == 0


def test_best_level_takes_the_highest():
    fw = one_leaf("L", 10, {"type": "best_level", "levels": {"省级": 5, "国家级": 10}})
    ev = make_evidence(UNITS, [{"event_id": "e1", "unit_id": "u1", "indicator": "L", "date": "2023-03-01", "level": "省级"},
                               {"event_id": "e2", "unit_id": "u1", "indicator": "L", "date": "2023-04-01", "level": "省级"},
                               {"event_id": "e3", "unit_id": "u2", "indicator": "L", "date": "2023-03-01", "level": "省级"},
                               {"event_id": "e4", "unit_id": "u2", "indicator": "L", "date": "2023-05-01", "level": "国家级"}])
    res = scoring.score(fw, ev)
    assert leaf_score(res, "u1", "L") == 5  # two provincial commendations are still 5
    assert leaf_score(res, "u2", "L") == 10


@pytest.mark.parametrize("findings,expected", [(0, 10), (2, 10), (3, 0)])
def test_threshold_at_and_past_bound(findings, expected):
    fw = make_framework([{"code": "X", "name": "一级", "points": 100, "children": [
        {"code": "F", "name": "问题", "points": 20, "rule": {"type": "deduct", "per": 1}, "basis": "t"},
        {"code": "T", "name": "合格率", "points": 10, "rule": {"type": "threshold", "indicators": ["F"], "max_count": 2}, "basis": "t"}]}])
    events = [{"event_id": "e1", "unit_id": "u1", "indicator": "F", "date": "2023-03-01", "quantity": findings}] if findings else []
    res = scoring.score(fw, make_evidence(UNITS, events))
    assert leaf_score(res, "u1", "T") == expected


def test_checklist_all_and_proportional_and_missing_fact():
    items = [{"code": "K.a", "name": "甲"}, {"code": "K.b", "name": "乙"}]
    facts = [("u1", "K.a", "是"), ("u1", "K.b", "是"), ("u2", "K.a", "是"), ("u2", "K.b", "否"), ("u3", "K.a", "true")]
    res = scoring.score(one_leaf("K", 10, {"type": "checklist", "items": items}), make_evidence(UNITS, [], facts))
    assert [leaf_score(res, u, "K") for u in ("u1", "u2", "u3")] == [10, 0, 0]  # u3 misses K.b: not met
    res = scoring.score(one_leaf("K", 10, {"type": "checklist", "items": items, "partial": "proportional"}), make_evidence(UNITS, [], facts))
    assert [leaf_score(res, u, "K") for u in ("u1", "u2", "u3")] == [10, 5, 5]


def test_target_full_and_proportional():
    facts = [("u1", "G", "97%"), ("u2", "G", "96.9%"), ("u3", "G", "0.98")]
    res = scoring.score(one_leaf("G", 10, {"type": "target", "target": 0.97}), make_evidence(UNITS, [], facts))
    assert [leaf_score(res, u, "G") for u in ("u1", "u2", "u3")] == [10, 0, 10]  # at the target counts
    res = scoring.score(one_leaf("G", 10, {"type": "target", "target": 0.9, "mode": "proportional"}),
                        make_evidence(UNITS, [], [("u1", "G", "45%"), ("u2", "G", "９０％")]))
    assert leaf_score(res, "u1", "G") == 5
    assert leaf_score(res, "u2", "G") == 10  # full-width digits are read
    assert leaf_score(res, "u3", "G") == 0  # missing fact scores as not met


def test_deadline_on_and_after_due_date():
    facts = [("u1", "Y", "2023-01-10"), ("u2", "Y", "2023-01-11"), ("u3", "Y", "2023年1月9日")]
    res = scoring.score(one_leaf("Y", 5, {"type": "deadline", "due": "2023-01-10"}), make_evidence(UNITS, [], facts))
    assert [leaf_score(res, u, "Y") for u in ("u1", "u2", "u3")] == [5, 0, 5]


def test_timeliness_across_national_day_2023():
    # 2023: 9-29..10-6 holiday; Sat 10-7 and Sun 10-8 are make-up workdays.
    # Received Thu 9-28, 2 working days: the day of receipt does not count → 10-7 (1), 10-8 (2): deadline 10-8.
    fw = one_leaf("M", 10, {"type": "timeliness", "within": 2, "per": 2})
    events = [
        {"event_id": "ok1", "unit_id": "u1", "indicator": "M", "date": "2023-09-28", "done_date": "2023-10-08"},  # on the make-up Sunday: on time
        {"event_id": "late", "unit_id": "u2", "indicator": "M", "date": "2023-09-28", "done_date": "2023-10-09"},  # one day late
        {"event_id": "ok2", "unit_id": "u3", "indicator": "M", "date": "2023-10-01", "done_date": "2023-10-08"},  # received in the holiday
    ]
    res = scoring.score(fw, make_evidence(UNITS, events))
    assert [leaf_score(res, u, "M") for u in ("u1", "u2", "u3")] == [10, 8, 10]
    why = res.line_items.query("evidence_ids == 'late'")["explanation"].iloc[0]
    assert "截止 2023-10-08" in why and "超时" in why


def test_timeliness_share_mode_and_open_items():
    fw = one_leaf("M", 10, {"type": "timeliness", "within": 1, "mode": "share"})
    events = [
        {"event_id": "a", "unit_id": "u1", "indicator": "M", "date": "2023-06-01", "done_date": "2023-06-02"},
        {"event_id": "b", "unit_id": "u1", "indicator": "M", "date": "2023-06-01", "done_date": "2023-06-05"},
        {"event_id": "c", "unit_id": "u2", "indicator": "M", "date": "2023-06-01"},  # never done: late
    ]
    res = scoring.score(fw, make_evidence(UNITS, events))
    assert [leaf_score(res, u, "M") for u in ("u1", "u2", "u3")] == [5, 0, 10]


def test_bonus_and_penalty_outside_the_base_and_capped():
    fw = make_framework([
        {"code": "X", "name": "基础", "points": 100, "children": [{"code": "X1", "name": "x", "points": 100, "rule": {"type": "deduct", "per": 10}, "basis": "t"}]},
        {"code": "Z", "name": "附加", "children": [
            {"code": "Z1", "name": "加分", "points": 5, "rule": {"type": "bonus", "per": 2}, "basis": "t"},
            {"code": "Z2", "name": "扣分", "points": 4, "rule": {"type": "penalty", "per": 3}, "basis": "t"}]}],
        bonus_requires_base=80)
    events = [{"event_id": "b1", "unit_id": "u1", "indicator": "Z1", "date": "2023-02-01", "quantity": 4},  # 8 → cap 5
              {"event_id": "p1", "unit_id": "u1", "indicator": "Z2", "date": "2023-02-01", "quantity": 2},  # −6 → cap −4
              {"event_id": "d1", "unit_id": "u2", "indicator": "X1", "date": "2023-02-01", "quantity": 3},  # base 70
              {"event_id": "b2", "unit_id": "u2", "indicator": "Z1", "date": "2023-02-01", "quantity": 1}]  # gated: base < 80
    res = scoring.score(fw, make_evidence(UNITS, events))
    us = res.unit_scores.set_index("unit_id")
    assert us.loc["u1", "total"] == 100 + 5 - 4
    assert us.loc["u2", "total"] == 70
    assert "未达到 80 分" in res.line_items.query("unit_id == 'u2' and rule == 'bonus_gate'")["explanation"].iloc[0]


def test_veto_blanks_the_total_and_ranks_last():
    fw = make_framework([{"code": "V", "name": "否决", "children": [{"code": "V1", "name": "否决项", "rule": {"type": "veto"}, "basis": "t"}]},
                         {"code": "X", "name": "基础", "points": 100, "children": [{"code": "X1", "name": "x", "points": 100, "rule": {"type": "deduct", "per": 50}, "basis": "t"}]}])
    events = [{"event_id": "v", "unit_id": "u1", "indicator": "V1", "date": "2023-02-01"},
              {"event_id": "d", "unit_id": "u2", "indicator": "X1", "date": "2023-02-01", "quantity": 2}]
    us = scoring.score(fw, make_evidence(UNITS, events)).unit_scores.set_index("unit_id")
    assert us.loc["u1", "vetoed"] and us.isna().loc["u1", "total"] and us.loc["u1", "grade"] == "不合格"
    assert us.loc["u2", "total"] == 0 and us.loc["u2", "rank"] == 1 and us.loc["u1", "rank"] == 2


def test_normalisation_to_applicable_maximum():
    fw = make_framework([{"code": "X", "name": "基础", "points": 100, "children": [
        {"code": "X1", "name": "全部适用", "points": 75, "rule": {"type": "deduct", "per": 15}, "basis": "t"},
        {"code": "X2", "name": "仅县直部门", "points": 25, "applies_to": ["县直部门"], "rule": {"type": "deduct", "per": 5}, "basis": "t"}]}],
        normalise_to=100)
    events = [{"event_id": "d1", "unit_id": "u1", "indicator": "X1", "date": "2023-02-01"}]
    res = scoring.score(fw, make_evidence(UNITS, events))
    us = res.unit_scores.set_index("unit_id")
    assert us.loc["u1", "total"] == 80  # (75 − 15) × 100/75
    assert us.loc["u3", "total"] == 100  # all 100 applicable, no scaling
    assert res.line_items.query("unit_id == 'u1'")["points"].sum() == pytest.approx(80)
    assert "X2" not in set(res.indicator_scores.query("unit_id == 'u1'")["indicator"])
