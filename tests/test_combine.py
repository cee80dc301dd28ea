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


# ---- combination files refused in Chinese, naming the file and the key path -------------------

SPEC = {"id": "sihong-2023-combined", "title": "泗洪县2023年度政务新媒体综合考评", "jurisdiction": "泗洪县", "county": "sihong", "year": 2023,
        "components": [{"id": "office", "title": "县政府办公室考评", "weight": 0.3, "bundle": "office/sihong/2023"},
                       {"id": "third", "title": "第三方评估", "weight": 0.7, "bundle": "third_party/sihong/2023"}]}


def _refused(tmp_path: Path, change) -> list:
    """The problems of SPEC changed by `change`, as combine.load reports them."""
    import copy

    spec = copy.deepcopy(SPEC)
    change(spec)
    path = tmp_path / "组合.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with pytest.raises(FrameworkError) as exc:
        combine.load(path)
    for p in exc.value.problems:
        assert p.file == str(path) and p.message_zh.startswith("组合文件有误：")
        assert "Field required" not in p.message_zh and "Extra inputs" not in p.message_zh
    return exc.value.problems


def test_missing_key_named_in_chinese(tmp_path):
    (p,) = _refused(tmp_path, lambda s: s.pop("jurisdiction"))
    assert p.column == "jurisdiction" and p.message_zh == "组合文件有误：缺少必填键 “jurisdiction”，请补上"
    assert "Field required" in p.message_en  # English beside, for the one who searches it


def test_extra_key_named_with_its_path_and_the_keys_allowed(tmp_path):
    (p,) = _refused(tmp_path, lambda s: s["components"][1].update(wieght=0.7))
    assert p.column == "components[1].wieght"
    assert p.message_zh == "组合文件有误：不认识的键 “components[1].wieght”，不会被使用，请删除或改正拼写；可用：id、title、weight、bundle"


def test_wrong_types_and_values(tmp_path):
    problems = _refused(tmp_path, lambda s: (s.update(year="二〇二三", missing="drop"), s["components"][0].update(weight="三成")))
    said = {p.column: p.message_zh for p in problems}
    assert said["year"] == "组合文件有误：“year” 应为整数，现为 “二〇二三”"
    assert said["components[0].weight"] == "组合文件有误：“components[0].weight” 应为数字，现为 “三成”"
    assert said["missing"] == "组合文件有误：“missing” 只能是 “renormalise”、“zero”，现为 “drop”"


def test_weights_not_adding_up_and_repeated_ids(tmp_path):
    (p,) = _refused(tmp_path, lambda s: s["components"][1].update(weight=0.8))
    assert p.message_zh == "组合文件有误：components 各组成部分的权重 weight 之和应为 1，现为 1.1（office 0.3、third 0.8）：请调整权重"
    assert "add up to 1" in p.message_en
    (p,) = _refused(tmp_path, lambda s: s["components"][1].update(id="office"))
    assert "id 重复：office" in p.message_zh


def test_cli_combine_refuses_with_exit_2_and_chinese_lines(tmp_path, capsys):
    from assessment.cli import main

    path = tmp_path / "组合.yaml"
    spec = dict(SPEC, components=[dict(SPEC["components"][0], weight=1.5), SPEC["components"][1]])
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    assert main(["combine", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"错误：文件 {path}，列 components[0].weight：组合文件有误：“components[0].weight” 应不大于 1，现为 “1.5”" in err
    assert "未生成运行包" in err and not (tmp_path / "out").exists()
