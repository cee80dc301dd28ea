"""Appeals (复核): adjustments applied on a rerun, recorded in the line items and the annex,
the original evidence untouched. Hand-checked against tests/fixtures/sihong_small."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest

from assessment import appeals, evidence, frameworks, stages
from assessment.problems import EvidenceError
from assessment.scoring import Period

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = frameworks.load("sihong-new-media-2023")

ADJUSTMENTS = """单位编码,证据编号,指标编码,操作,数量,级别,值,理由,批准人,日期
101,E027,,撤销,,,,抽查截图显示为转载内容，非本单位原创,县政府办公室 王某,2024-01-05
102,,B1.c,变更,,,是,补充提交咨询问答库建设材料,县政府办公室 王某,2024-01-06
"""


def raw_with_adjustments(tmp_path: Path, text: str = ADJUSTMENTS) -> Path:
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURE, raw)
    (raw / "adjustments.csv").write_text(text, encoding="utf-8")
    return raw


def test_an_appeal_lifts_a_unit_over_a_grade_boundary(tmp_path):
    raw = raw_with_adjustments(tmp_path)
    res, annex = stages.compute(FW, evidence.read(raw), Period.parse(FW), appeals.read(raw))
    us = res.unit_scores.set_index("unit_id")
    # 101 県发改局 had 84 (良好): A 24 after A4 ×6 (E027), C1 0 because 6 findings > 5.
    # E027 withdrawn: A back to 30 (+6), C1 now 0 findings ≤ 5 → 10 (+10): 84 + 16 = 100 → 优秀, rank 1
    assert (us.loc["101", "total"], us.loc["101", "grade"], us.loc["101", "rank"]) == (100, "优秀", 1)
    # 104 and 106 (90) move down to a shared 2nd place
    assert us.loc["104", "rank"] == 2 and us.loc["106", "rank"] == 2
    # 102 had 59.5 (不合格) with B1.c missing; amended to 是: B1 0 → 10: 69.5 → 合格
    assert (us.loc["102", "total"], us.loc["102", "grade"]) == (69.5, "合格")
    a = annex.set_index("unit_id")
    assert (a.loc["101", "total_before"], a.loc["101", "total_after"], a.loc["101", "grade_before"], a.loc["101", "grade_after"]) == (84, 100, "良好", "优秀")
    assert a.loc["102", "action"] == "amend" and "（缺）→是" in a.loc["102", "detail"]


def test_every_adjustment_is_a_line_and_lines_still_sum(tmp_path):
    raw = raw_with_adjustments(tmp_path)
    res, _ = stages.compute(FW, evidence.read(raw), Period.parse(FW), appeals.read(raw))
    lines = res.line_items
    appeal = lines[lines["kind"] == "appeal"].set_index("unit_id")
    assert appeal.loc["101", "evidence_ids"] == "E027" and appeal.loc["101", "points"] == 0
    assert "原计 -6 分" in appeal.loc["101", "explanation"] and "王某" in appeal.loc["101", "explanation"]
    assert "2024-01-05" in appeal.loc["101", "explanation"]
    totals = res.unit_scores.set_index("unit_id")["total"]
    sums = lines.groupby("unit_id")["points"].sum()
    assert all(abs(sums[u] - totals[u]) < 1e-9 for u in totals.dropna().index)
    assert "E027" not in set(lines[lines["kind"] != "appeal"]["evidence_ids"])


def test_bad_adjustments_are_refused_with_row_and_column(tmp_path):
    raw = raw_with_adjustments(tmp_path, ADJUSTMENTS.replace("101,E027", "101,E999"))
    with pytest.raises(EvidenceError) as exc:
        appeals.apply(evidence.read(raw), appeals.read(raw))
    p = exc.value.problems[0]
    assert (p.file, p.row, p.value) == ("adjustments.csv", 2, "E999")
    raw2 = raw_with_adjustments(tmp_path / "b", ADJUSTMENTS.replace("撤销", "删掉"))
    with pytest.raises(EvidenceError, match="withdraw or amend"):
        appeals.read(raw2)


def test_rerun_with_adjustments_keeps_raw_evidence_and_shows_the_annex(tmp_path):
    from bundles import make_bundle

    raw = raw_with_adjustments(tmp_path)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in raw.iterdir()}
    bundle = make_bundle(raw, tmp_path / "out")
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in raw.iterdir()} == before
    annex = pd.read_csv(bundle / "scores" / "appeals.csv", dtype={"unit_id": str}, encoding="utf-8-sig")
    assert annex["unit_id"].tolist() == ["101", "102"]
    tidy = pd.read_parquet(bundle / "evidence" / "events.parquet")
    assert "E027" in set(tidy["event_id"])  # the evidence as delivered stays in the bundle
    import json

    assert "adjustments.csv" in json.loads((bundle / "evidence" / "inputs.json").read_text(encoding="utf-8"))
