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
