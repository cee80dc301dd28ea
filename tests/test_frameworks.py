"""Framework files: the seed frameworks load; malformed ones are refused naming file and indicator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from assessment import cli, frameworks
from assessment.problems import FrameworkError

ROOT = Path(__file__).resolve().parents[1]
GOOD = yaml.safe_load((ROOT / "frameworks" / "sihong-new-media-2023.yaml").read_text(encoding="utf-8"))


def write(tmp_path: Path, data: dict, name: str = "sihong-new-media-2023") -> Path:
    p = tmp_path / f"{name}.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def refused(tmp_path, mutate) -> str:
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    path = write(tmp_path, data)
    with pytest.raises(FrameworkError) as exc:
        frameworks.load_file(path)
    text = str(exc.value)
    assert str(path) in text
    return text


def node(data, code):
    for top in data["indicators"]:
        if top["code"] == code:
            return top
        for child in top.get("children", []):
            if child["code"] == code:
                return child
    raise KeyError(code)


def test_sihong_new_media_codes_are_fixed():
    fw = frameworks.load("sihong-new-media-2023")
    assert [n.code for n, _, _ in fw.walk()] == ["V", "V1", "V2", "V3", "A", "A1", "A2", "A3", "A4", "A5", "A6",
                                                 "B", "B1", "B2", "B3", "C", "C1", "C2", "C3", "C4"]
    assert fw.nodes["A"].pool and fw.nodes["A"].points == 30
    assert fw.item_codes() == {"B1.a": "B1", "B1.b": "B1", "B1.c": "B1"}
    assert len(fw.file_hash) == 64


def test_unknown_rule_type(tmp_path):
    text = refused(tmp_path, lambda d: node(d, "A4")["rule"].update(type="subtract"))
    assert "A4" in text and "未知的规则类型" in text and "unknown rule type" in text


def test_duplicate_code(tmp_path):
    text = refused(tmp_path, lambda d: node(d, "B2").update(code="B1"))
    assert "B1" in text and "重复" in text


def test_children_exceed_parent(tmp_path):
    text = refused(tmp_path, lambda d: node(d, "B3").update(points=15))
    assert "指标 B" in text and "超过" in text


def test_threshold_unknown_code(tmp_path):
    text = refused(tmp_path, lambda d: node(d, "C1")["rule"].update(indicators=["A2", "A9"]))
    assert "C1" in text and "A9" in text


def test_level_the_rule_does_not_price(tmp_path):
    text = refused(tmp_path, lambda d: node(d, "C2")["rule"].update(per_level={"省级": 0.5, "世界级": 2}))
    assert "C2" in text and "世界级" in text


def test_bands_out_of_order(tmp_path):
    text = refused(tmp_path, lambda d: d.update(grades=[{"name": "优秀", "min": 80}, {"name": "良好", "min": 90}, {"name": "不合格"}]))
    assert "顺序" in text and "out of order" in text


def test_bad_rule_parameter_and_missing_field(tmp_path):
    text = refused(tmp_path, lambda d: node(d, "A4")["rule"].update(per=-1))
    assert "A4" in text
    text = refused(tmp_path, lambda d: node(d, "B2").pop("name"))
    assert "B2" in text


def test_id_must_match_file_and_be_safe(tmp_path):
    with pytest.raises(FrameworkError):
        frameworks.load("../etc/passwd")
    data = dict(GOOD, id="other-id")
    with pytest.raises(FrameworkError, match="文件名"):
        frameworks.load_file(write(tmp_path, data))


def test_cli_show_json_has_the_whole_tree(capsys):
    assert cli.main(["frameworks", "show", "sihong-new-media-2023", "--format", "json"]) == 0
    tree = json.loads(capsys.readouterr().out)
    a4 = tree["indicators"][1]["children"][3]
    assert a4["code"] == "A4" and a4["rule"] == {"type": "deduct", "per": 1.0} and "错别字" in a4["basis"]
    assert cli.main(["frameworks", "list"]) == 0
    assert "sihong-new-media-2023" in capsys.readouterr().out


def test_cli_unknown_framework_exits_2(capsys):
    assert cli.main(["frameworks", "show", "no-such-framework"]) == 2
    assert "找不到框架" in capsys.readouterr().err


# ---- issue 10: nothing in a framework is silently ignored; messages name the indicator path ----

A1_PATH = "A 规范管理 › A1 未按照上级要求落实相关工作"


def loaded(tmp_path, mutate) -> frameworks.Framework:
    data = json.loads(json.dumps(GOOD))
    mutate(data)
    return frameworks.load_file(write(tmp_path, data))


def no_raw_pydantic(text: str) -> None:
    """Every line leads with Chinese; pydantic's English only ever beside it, never alone."""
    for line in text.splitlines():
        zh = line.split("（", 1)[0]
        assert "Input should" not in zh and "Extra inputs" not in zh and "Field required" not in zh, line


@pytest.mark.parametrize("mutate, expect", [
    (lambda d: node(d, "A1").update(foo=1), [A1_PATH, "不认识的键 “foo”"]),
    (lambda d: node(d, "A1")["rule"].update(min_count=3), [A1_PATH, "不认识的键 “rule.min_count”"]),
    (lambda d: d["grades"][0].update(min="九十"), ["grades[0] 优秀", "“min” 应为数字，现为 “九十”"]),
    (lambda d: d.update(colour="red"), ["colour", "不认识的键 “colour”"]),
    (lambda d: d.update(rank_within="county"), ["rank_within", "只能是 “unit_group”、“overall”"]),
    (lambda d: d.update(veto_score="五十九"), ["veto_score", "应为数字（如 59）或按单位类别的映射"]),
    (lambda d: d.update(veto_score={"乡镇街道": "五十九"}), ["“veto_score.乡镇街道” 应为数字，现为 “五十九”"]),
    (lambda d: node(d, "A").update(part="extra"), ["指标 A 规范管理", "“part” 只能是"]),
    (lambda d: node(d, "A1")["rule"].update(per=0), [A1_PATH, "“rule.per” 应大于 0"]),
    (lambda d: node(d, "V1").update(points=5), ["V 单项否决指标 › V1", "单项否决指标不计分值，points 不起作用"]),
    (lambda d: node(d, "C2")["rule"].update(per_level={"世界级": 2}), ["C 创新管理 › C2 上级采用", "级别 “世界级” 不在框架的级别"]),
    (lambda d: d.update(veto_score={"街道": 59}), ["veto_score.街道", "单位类别 “街道” 不在 unit_groups"]),
    (lambda d: d.update(normalise_method="spread"), ["normalise_method", "需要 normalise_to"]),
    (lambda d: node(d, "B1")["rule"].update(sources=["国务院办公厅抽查"]), ["B 内容保障 › B1 保障措施", "没有来源，不能写 sources"]),
    (lambda d: node(d, "B3")["rule"].update(count="events"), ["B3 内容发布", "规则 award 不计数，count 不起作用"]),
    (lambda d: node(d, "A4")["rule"].update(count="events"), ["A4", "deduct 只有写了 veto_at 才计数"]),
    (lambda d: node(d, "V1")["rule"].update(count="events"), ["V1", "veto 只有 min_count 大于 1 才计数"]),
    (lambda d: d.update(bonus_requires_base=80, bonus_requires_above=80), ["只能写一个"]),
    (lambda d: d.update(bonus_requires_above=80), ["没有加分部分，bonus_requires_above 不起作用"]),
    (lambda d: node(d, "A4").update(part="bonus"), ["A4", "part 只能写在一级指标上"]),
    (lambda d: node(d, "B3")["rule"].update(type="bonus"), ["B 内容保障", "既有基础分规则又有加分"]),
    (lambda d: node(d, "V1")["rule"].update(min_count=0), ["V1", "“rule.min_count” 应不小于 1"]),
    (lambda d: node(d, "A1")["rule"].update(veto_at="十"), [A1_PATH, "“rule.veto_at” 应为整数"]),
    (lambda d: node(d, "A1")["rule"].update(per_level={"省级": 1}), [A1_PATH, "per（每次分值）与 per_level（按级别分值）须写且只写一个"]),
    (lambda d: d.update(unit_groups=["乡镇街道", "乡镇街道 "]), ["unit_groups", "名称重复"]),
    (lambda d: node(d, "B").update(applies_to=["乡镇街道"]), ["指标 B 内容保障", "applies_to 只对末级指标起作用"]),
    (lambda d: node(d, "C").update(part="penalty"), ["C 创新管理 › C1 合格率", "扣分部分（part: penalty）只能用"]),
    (lambda d: node(d, "C3")["rule"].update(type="penalty"), ["C 创新管理", "既有基础分规则又有加分/扣分"]),
])
def test_keys_without_effect_and_bad_values_are_refused_in_chinese(tmp_path, mutate, expect):
    text = refused(tmp_path, mutate)
    for piece in expect:
        assert piece in text, text
    no_raw_pydantic(text)


def test_keys_the_loader_sets_itself_are_refused_in_the_file(tmp_path):
    text = refused(tmp_path, lambda d: d.update(file_hash="0" * 64, path="/etc/passwd"))
    assert "file_hash：此键由程序在读取时填写" in text and "path：此键由程序在读取时填写" in text


def test_veto_score_without_any_veto_rule_is_refused(tmp_path):
    def mutate(d):
        d["indicators"] = [n for n in d["indicators"] if n["code"] != "V"]
        d["veto_score"] = 59
    assert "没有任何单项否决规则" in refused(tmp_path, mutate)


def test_new_keys_load_and_names_are_normalised(tmp_path):
    def mutate(d):
        d["unit_groups"] = ["乡镇街道（含开发区）", "县直部门"]
        d["veto_score"] = {"乡镇街道(含开发区)": 59}
        d["levels"] = ["国家级", "省级", "市级", "县级"]
        node(d, "V1")["rule"].update(min_count=2, count="events")
        node(d, "A1").update(points=10)
        node(d, "A1")["rule"].update(veto_at=3, count="events", sources=["国务院办公厅抽查"])
        node(d, "B3").update(applies_to=["乡镇街道（含开发区）"])
    fw = loaded(tmp_path, mutate)
    assert fw.unit_groups[0] == "乡镇街道(含开发区)" and fw.nodes["B3"].applies_to == ["乡镇街道(含开发区)"]
    assert fw.veto_score_for("乡镇街道(含开发区)") == 59 and fw.veto_score_for("县直部门") is None
    assert fw.indicator_path("A1") == A1_PATH


def test_frameworks_show_prints_every_key_that_changes_a_score(tmp_path, monkeypatch, capsys):
    data = json.loads(json.dumps(GOOD))
    data["id"] = "shown-fw"
    data["veto_score"] = {"乡镇街道": 59}
    data["normalise_to"], data["normalise_method"] = 100, "spread"
    node(data, "A1").update(points=10)
    node(data, "A1")["rule"].update(veto_at=3, sources=["国务院办公厅抽查"])
    node(data, "V1")["rule"].update(min_count=5)
    write(tmp_path, data, "shown-fw")
    monkeypatch.setenv("ASSESSMENT_FRAMEWORKS", str(tmp_path))
    assert cli.main(["frameworks", "show", "shown-fw"]) == 0
    out = capsys.readouterr().out
    for piece in ["单项否决等次 veto grade: 不合格", "veto_score: 乡镇街道 记 59 分；县直部门 不计总分、排在最后",
                  "加分门槛 bonus gate: 无", "normalise_method: spread", "rank within: unit_group",
                  "扣分池 pool: 起 30 分", "本项最多扣 10 分", "veto_at=3", "sources=['国务院办公厅抽查']", "min_count=5",
                  "部分 part: base", "等次 grades: 优秀 ≥ 90"]:
        assert piece in out, piece
