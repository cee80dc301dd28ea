"""Combined results from two bundles of the same county-year, hand-checked (30 % + 70 %)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from assessment import combine
from assessment.problems import FrameworkError
from bundles import make_bundle

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"


@pytest.fixture(scope="module")
def combination(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("comb")
    a = make_bundle(FIXTURE, tmp / "office")
    raw_b = tmp / "raw_b"
    shutil.copytree(FIXTURE, raw_b)
    events = (raw_b / "events.csv").read_text(encoding="utf-8").splitlines()
    (raw_b / "events.csv").write_text("\n".join(l for l in events if not l.startswith("E027,")) + "\n", encoding="utf-8")
    b = make_bundle(raw_b, tmp / "third_party")
    spec = {"id": "sihong-2023-combined", "title": "泗洪县2023年度政务新媒体综合考评", "jurisdiction": "泗洪县", "county": "sihong", "year": 2023,
            "components": [{"id": "office", "title": "县政府办公室考评", "weight": 0.3, "bundle": str(a)},
                           {"id": "third", "title": "第三方评估", "weight": 0.7, "bundle": str(b)}]}
    path = tmp / "combination.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


def test_weighted_totals_grades_and_ranks(combination):
    cfw, us, ind, lines, prov = combine.combine(combine.load(combination), combination)
    u = us.set_index("unit_id")
    # 101: office 84, third party 100 (E027 not found by them) → 0.3 × 84 + 0.7 × 100 = 25.2 + 70 = 95.2 → 优秀
    assert (u.loc["101", "office"], u.loc["101", "third"], u.loc["101", "total"], u.loc["101", "grade"]) == (84, 100, 95.2, "优秀")
    assert u.loc["101", "rank"] == 1  # above 104 and 106 (90 in both)
    # 102: 59.5 in both → 59.5, still 不合格
    assert (u.loc["102", "total"], u.loc["102", "grade"]) == (59.5, "不合格")
    # 006 vetoed in both → vetoed, last
    assert u.loc["006", "vetoed"] and pd.isna(u.loc["006", "total"]) and u.loc["006", "rank"] == 6
    # each component's contribution is a line naming its bundle row; lines sum to the total
    mine = lines[lines["unit_id"] == "101"]
    assert sorted(mine["points"]) == [25.2, 70.0]
    assert mine["evidence_ids"].str.endswith("unit_scores.csv#101").all() and "× 30% = 25.2" in mine["explanation"].iloc[0]
    assert set(prov) == {"office", "third"}


def test_weights_must_add_up(tmp_path, combination):
    spec = yaml.safe_load(combination.read_text(encoding="utf-8"))
    spec["components"][0]["weight"] = 0.4
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises(FrameworkError, match="add up to 1"):
        combine.load(bad)


def test_combined_notification_shows_each_component(combination, tmp_path):
    from assessment import cli
    import docx

    assert cli.main(["combine", str(combination), "--out", str(tmp_path)]) == 0
    final = tmp_path / "sihong" / "combined-sihong-2023-combined"
    us = pd.read_csv(final / "scores" / "unit_scores.csv", dtype={"unit_id": str}, encoding="utf-8-sig").set_index("unit_id")
    assert us.loc["101", "total"] == 95.2
    d = docx.Document(str(next((final / "reports").glob("通报*.docx"))))
    cells = " ".join(c.text for t in d.tables for row in t.rows for c in row.cells)
    assert "县政府办公室考评" in cells and "第三方评估" in cells and "95.2" in cells
    import json

    m = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
    assert set(m["components"]) == {"office", "third"} and len(m["combination"]["sha256"]) == 64
