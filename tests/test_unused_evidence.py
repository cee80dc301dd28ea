"""Every evidence row is accounted for (issue 13 §6): the ids line items cite and the rows of
unused_evidence.csv together are every event and every fact, each in exactly one of the two, and
each unused row has a reason code other than `uncited`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from assessment import evidence, frameworks, scoring, synth
from assessment.scoring import UNUSED_REASONS

from conftest import make_evidence, make_framework

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = sorted(p.stem for p in (ROOT / "frameworks").glob("*.yaml"))


def cited_ids(lines: pd.DataFrame) -> set[str]:
    return {i for s in lines["evidence_ids"].dropna() for i in str(s).split(";") if i}


def assert_accounted(ev: evidence.Evidence, res: scoring.Results) -> pd.DataFrame:
    un = res.unused_evidence
    rows = set(ev.events["event_id"]) | set(ev.facts["record_id"])
    assert len(rows) == len(ev.events) + len(ev.facts)  # ids are unique across both tables
    cited = cited_ids(res.line_items) & rows
    unused = set(un["evidence_id"])
    assert not un["evidence_id"].duplicated().any(), "one row per evidence row"
    assert not cited & unused, f"cited and unused: {sorted(cited & unused)[:5]}"
    assert cited | unused == rows, f"neither cited nor unused: {sorted(rows - cited - unused)[:5]}"
    assert (un["reason_code"] != "uncited").all(), un[un["reason_code"] == "uncited"].head().to_dict("records")
    assert set(un["reason_code"]) <= set(UNUSED_REASONS)
    assert un["reason"].str.len().gt(0).all()
    acc = scoring.evidence_accounts(ev, res.line_items, un)
    assert (acc["被引用 cited"] + acc["未引用 unused"] == acc["读入 read"]).all() and (acc["重复 both"] == 0).all()
    return un


def _read(tables: dict[str, pd.DataFrame], tmp: Path) -> evidence.Evidence:
    synth.write(tables, tmp)
    return evidence.read(tmp, events_required=False)


@pytest.mark.parametrize("fw_id", FRAMEWORKS)
@pytest.mark.parametrize("seed", [1, 7])
def test_synthetic_evidence_every_row_accounted_for(fw_id, seed, tmp_path):
    """Synthetic evidence of every bundled framework, with noise that must land in unused_evidence:
    events of a vetoed unit, events from a source a rule does not count, a fact given twice."""
    fw = frameworks.load(fw_id)
    period = f"{fw.year}Q1" if fw.period == "quarter" else None
    tables = synth.synthesize(fw, n_units=30, n_events=400, seed=seed, period=period)
    facts = tables["facts"]
    if len(facts):  # the same fact twice: the later row is read, the earlier one is superseded
        tables["facts"] = pd.concat([facts.iloc[[0]].assign(value=facts["value"].iloc[0]), facts], ignore_index=True)
    ev = _read(tables, tmp_path)
    res = scoring.score(fw, ev, period)
    un = assert_accounted(ev, res)
    if len(facts):
        first = ev.facts["record_id"].iloc[0]
        assert un.set_index("evidence_id").loc[first, "reason_code"] in ("superseded_row", "vetoed", "not_applicable")
    if res.unit_scores["vetoed"].any():
        vetoed = set(res.unit_scores.loc[res.unit_scores["vetoed"], "unit_id"])
        theirs = ev.events[ev.events["unit_id"].isin(vetoed)]
        cited = cited_ids(res.line_items)
        assert set(un.loc[un["unit_id"].isin(vetoed), "evidence_id"]) == set(theirs["event_id"]) - cited | set(
            un.loc[un["unit_id"].isin(vetoed) & (un["table"] == "facts"), "evidence_id"])


def test_demo_evidence_every_row_accounted_for():
    fw = frameworks.load("sihong-new-media-2023")
    ev = evidence.read(ROOT / "data" / "raw" / "demo" / "2023")
    res = scoring.score(fw, ev)
    un = assert_accounted(ev, res)
    assert len(un) > 0 and "vetoed" in set(un["reason_code"])


def test_reasons_by_hand():
    """A small case, each reason by hand.
    V1 veto (min_count 2): u3 has 1 → below_veto_count (e7); u2 vetoed by e5 (cited) → its A1 e6 vetoed.
    A1 deduct counts only 上级抽查: e2 本级检查 off_source. A2 best_level: u1 国家级 e3 cited, 省级 e4 superseded.
    A3 applies to 县直部门 only: e8 of u1 (乡镇街道) not_applicable. T1 timeliness within 5: e9 on time → on_time,
    e10 open → cited. Facts: F1 target — u1 twice, the first row superseded_row; u2 vetoed → vetoed; C1 checklist
    read through items, a fact under C1 itself → not_scored."""
    fw = make_framework([
        {"code": "V", "name": "单项否决", "children": [
            {"code": "V1", "name": "栏目不更新", "rule": {"type": "veto", "min_count": 2, "count": "events"}},
            {"code": "V2", "name": "严重错误", "rule": {"type": "veto"}}]},
        {"code": "A", "name": "内容", "points": 60, "children": [
            {"code": "A1", "name": "错别字", "points": 20, "rule": {"type": "deduct", "per": 1, "sources": ["上级抽查"]}},
            {"code": "A2", "name": "获奖", "points": 10, "rule": {"type": "best_level", "levels": {"国家级": 10, "省级": 6}}},
            {"code": "A3", "name": "部门事项", "points": 10, "applies_to": ["县直部门"], "rule": {"type": "deduct", "per": 1}},
            {"code": "T1", "name": "办理", "points": 20, "rule": {"type": "timeliness", "within": 5}}]},
        {"code": "F", "name": "事实", "points": 40, "children": [
            {"code": "F1", "name": "达标率", "points": 20, "rule": {"type": "target", "target": 0.9}},
            {"code": "C1", "name": "清单", "points": 20, "rule": {"type": "checklist", "items": [{"code": "C1.a", "name": "甲项"}]}}]}])
    ev = make_evidence(
        [("u1", "甲", "乡镇街道"), ("u2", "乙", "乡镇街道"), ("u3", "丙", "县直部门")],
        [{"date": "2023-05-01"} | e for e in [{"event_id": "e1", "unit_id": "u1", "indicator": "A1", "source": "上级抽查"},
         {"event_id": "e2", "unit_id": "u1", "indicator": "A1", "source": "本级检查"},
         {"event_id": "e3", "unit_id": "u1", "indicator": "A2", "level": "国家级"},
         {"event_id": "e4", "unit_id": "u1", "indicator": "A2", "level": "省级"},
         {"event_id": "e5", "unit_id": "u2", "indicator": "V2"},
         {"event_id": "e6", "unit_id": "u2", "indicator": "A1", "source": "上级抽查"},
         {"event_id": "e7", "unit_id": "u3", "indicator": "V1"},
         {"event_id": "e8", "unit_id": "u1", "indicator": "A3"},
         {"event_id": "e9", "unit_id": "u1", "indicator": "T1", "date": "2023-03-01", "done_date": "2023-03-02"},
         {"event_id": "e10", "unit_id": "u3", "indicator": "T1", "date": "2023-03-01"}]],
        [("u1", "F1", "80%"), ("u1", "F1", "95%"), ("u2", "F1", "95%"), ("u3", "F1", "95%"),
         ("u1", "C1.a", "是"), ("u3", "C1", "是")])
    res = scoring.score(fw, ev)
    un = assert_accounted(ev, res).set_index("evidence_id")
    fid = ev.facts["record_id"].tolist()
    assert un["reason_code"].to_dict() == {
        "e2": "off_source", "e4": "superseded_level", "e6": "vetoed", "e7": "below_veto_count", "e8": "not_applicable",
        "e9": "on_time", fid[0]: "superseded_row", fid[2]: "vetoed", fid[5]: "not_scored"}
    assert un.loc["e2", "reason"].startswith("来源“本级检查”不在本项计分来源（上级抽查）之内")
    assert un.loc[fid[0], "table"] == "facts" and un.loc[fid[0], "indicator"] == "F1"
