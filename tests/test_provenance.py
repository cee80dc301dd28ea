"""The manifest records what a run read besides evidence and framework, and `verify` checks it
(issue 13 §5): office settings and templates, expectation suites, environment overrides, last
year's bundle used for the comparison, the 复核 file, who ran it and with which tools."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from bundles import make_bundle

from assessment import provenance, verify

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
ADJUSTMENTS = """单位编码,证据编号,指标编码,操作,数量,级别,值,理由,批准人,日期
101,E027,,撤销,,,,抽查截图显示为转载内容，非本单位原创,县政府办公室 王某,2024-01-05
"""
SECRET_VALUE = "correct horse battery staple"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A 2023 bundle compared with a 2022 bundle beside it, run with templates and suites copied
    aside ($ASSESSMENT_TEMPLATES / $ASSESSMENT_EXPECTATIONS), a 复核 file and a secret in the environment."""
    tmp = tmp_path_factory.mktemp("prov")
    templates, suites = tmp / "templates", tmp / "expectations"
    shutil.copytree(ROOT / "templates", templates)
    shutil.copytree(ROOT / "expectations", suites)
    raw = tmp / "raw"
    shutil.copytree(FIXTURE, raw)
    (raw / "adjustments.csv").write_text(ADJUSTMENTS, encoding="utf-8")
    env = {"ASSESSMENT_TEMPLATES": str(templates), "ASSESSMENT_EXPECTATIONS": str(suites),
           "ASSESSMENT_SIGN_KEY_PASSPHRASE": SECRET_VALUE}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        out = tmp / "out"
        first = make_bundle(FIXTURE, out)
        shutil.copytree(first, out / "sihong" / "2022")  # last year's bundle, with its own manifest
        bundle = make_bundle(raw, out, report=True)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"bundle": bundle, "templates": templates, "suites": suites, "raw": raw, "out": out, "env": env}


@pytest.fixture
def here(world, tmp_path, monkeypatch):
    """A copy of the world to damage: the bundle and last year's beside it, templates and suites aside."""
    out = tmp_path / "out"
    shutil.copytree(world["out"], out)
    templates, suites = tmp_path / "templates", tmp_path / "expectations"
    shutil.copytree(world["templates"], templates)
    shutil.copytree(world["suites"], suites)
    monkeypatch.setenv("ASSESSMENT_TEMPLATES", str(templates))
    monkeypatch.setenv("ASSESSMENT_EXPECTATIONS", str(suites))
    return {"bundle": out / "sihong" / "2023", "previous": out / "sihong" / "2022", "templates": templates, "suites": suites}


def manifest(b: Path) -> dict:
    return json.loads((b / "manifest.json").read_text(encoding="utf-8"))


def test_manifest_records_templates_suites_environment_previous_adjustments_and_who(world):
    m = manifest(world["bundle"])
    assert {"parameters", "outputs"} <= set(m)  # kept as DESIGN.md names them
    t = m["templates"]["files"]
    assert t["office.yaml"] == sha(world["templates"] / "office.yaml") and t["fonts.conf"] == sha(world["templates"] / "fonts.conf")
    assert set(t) == {p.relative_to(world["templates"]).as_posix() for p in world["templates"].rglob("*") if p.is_file()}
    assert m["expectations"]["files"] == {n: sha(world["suites"] / n) for n in ("events.json", "facts.json", "units.json")}
    env = m["environment"]
    assert env["ASSESSMENT_TEMPLATES"] == world["env"]["ASSESSMENT_TEMPLATES"]
    assert env["ASSESSMENT_SIGN_KEY_PASSPHRASE"] == provenance.SECRET_SET  # set, never its value
    assert SECRET_VALUE not in (world["bundle"] / "manifest.json").read_text(encoding="utf-8")
    prev = world["out"] / "sihong" / "2022"
    c = m["comparison"]
    assert c["used"] is True and c["bundle"] == "sihong/2022"
    assert c["manifest_sha256"] == sha(prev / "manifest.json")
    assert c["unit_scores_sha256"] == sha(prev / "scores" / "unit_scores.csv")
    assert m["adjustments"] == {"file": "adjustments.csv", "sha256": sha(world["raw"] / "adjustments.csv"), "rows": 1}
    assert m["run_by"]["user"] and m["run_by"]["host"]
    assert m["tools"]["python"] and m["tools"]["libreoffice"] == "not used"


def test_an_untouched_world_verifies(here):
    """Every recorded item checks out. (This bundle is built by the stages without notebooks, so only
    the provenance checks are asked here; whole-bundle verification is in test_tamper.py.)"""
    checked, differences = provenance.check(here["bundle"], manifest(here["bundle"]))
    assert not differences, differences
    assert "comparison with sihong/2022" in checked and any(c.startswith("templates (") for c in checked)


def _rehash_previous(prev: Path) -> None:
    """An insider's consistent edit of last year's bundle: its manifest rehashed after the edit."""
    m = manifest(prev)
    m["outputs"]["scores/unit_scores.csv"] = sha(prev / "scores" / "unit_scores.csv")
    (prev / "manifest.json").write_text(json.dumps(m, ensure_ascii=False, indent=2), encoding="utf-8")


def test_a_planted_previous_year_score_is_named(here):
    """Last year's unit_scores.csv gets a fake total and its manifest is rehashed to match: last
    year's bundle is consistent on its own, but not the one this year's comparison was drawn from."""
    scores = here["previous"] / "scores" / "unit_scores.csv"
    lines = scores.read_text(encoding="utf-8-sig").splitlines()
    head, first = lines[0].split(","), lines[1].split(",")
    first[head.index("total")] = "99.5"
    scores.write_text("\ufeff" + "\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n", encoding="utf-8")
    _rehash_previous(here["previous"])
    v = verify.verify(here["bundle"])
    assert not v.ok
    named = [d for d in v.differences if "sihong/2022" in d]
    assert any("manifest.json 已改变" in d for d in named) and any("scores/unit_scores.csv 已改变" in d for d in named)


def test_a_removed_previous_bundle_is_named(here):
    shutil.rmtree(here["previous"])
    v = verify.verify(here["bundle"])
    assert any("sihong/2022" in d and "已不存在" in d for d in v.differences)


def test_changed_office_settings_are_named(here):
    path = here["templates"] / "office.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("洪政办函", "洪政办发"), encoding="utf-8")
    v = verify.verify(here["bundle"])
    assert "templates/office.yaml 已改变（公文设置或模板；office settings or templates changed since the run）" in v.differences


def test_a_letterhead_added_to_templates_is_named(here):
    (here["templates"] / "letterhead.docx").write_bytes(b"PK fake")
    assert any(d.startswith("templates/letterhead.docx 是运行后新增的文件") for d in verify.verify(here["bundle"]).differences)


def test_changed_or_removed_expectation_suite_is_named(here):
    suite = here["suites"] / "events.json"
    data = json.loads(suite.read_text(encoding="utf-8"))
    data["expectations"] = data["expectations"][:-1]
    suite.write_text(json.dumps(data), encoding="utf-8")
    (here["suites"] / "units.json").unlink()
    d = verify.verify(here["bundle"]).differences
    assert any(x.startswith("expectations/events.json 已改变") for x in d)
    assert any(x.startswith("expectations/units.json 已不存在") for x in d)


def test_changed_adjustments_file_is_named(here, world):
    m = manifest(here["bundle"])
    raw = Path(m["parameters"]["raw_dir"])
    original = (raw / "adjustments.csv").read_bytes()
    try:
        (raw / "adjustments.csv").write_bytes(original.replace("王某".encode(), "李某".encode()))
        assert any("复核文件" in x and "已改变" in x for x in verify.verify(here["bundle"]).differences)
    finally:
        (raw / "adjustments.csv").write_bytes(original)


def test_environment_differences_are_said_but_not_findings(here, monkeypatch):
    monkeypatch.setenv("ASSESSMENT_MAX_FILE_MB", "7")
    checked, differences = provenance.check(here["bundle"], manifest(here["bundle"]))
    assert not differences, differences
    assert any(c.startswith("environment ASSESSMENT_MAX_FILE_MB:") for c in checked)


def _set(path: list, value):
    def mutate(m: dict) -> None:
        node = m
        for k in path[:-1]:
            node = node[k]
        if value is KeyError:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return mutate


HOSTILE = {
    "templates_list": (_set(["templates"], []), "templates 应为对象"),
    "templates_files_number": (_set(["templates", "files", "office.yaml"], 5), "templates.files 中 'office.yaml' 的哈希无效"),
    "templates_missing": (_set(["templates"], KeyError), "未记录 templates"),
    "expectations_text": (_set(["expectations", "files"], "x"), "expectations.files 应为"),
    "environment_list": (_set(["environment"], ["ASSESSMENT_X"]), "environment 应为"),
    "environment_files_unknown": (_set(["environment_files"], {"HOME": "0" * 64}), "未知的变量"),
    "comparison_used_text": (_set(["comparison", "used"], "yes"), "comparison.used 应为 true/false"),
    "comparison_bundle_escape": (_set(["comparison", "bundle"], "../../etc"), "comparison.bundle 应为"),
    "comparison_hash_number": (_set(["comparison", "manifest_sha256"], 12), "comparison.manifest_sha256"),
    "adjustments_rows_negative": (_set(["adjustments", "rows"], -1), "adjustments.rows 应为非负整数"),
    "adjustments_file_path": (_set(["adjustments", "file"], "../../etc/passwd"), "adjustments.file 应为文件名"),
    "adjustments_none_but_parquet": (_set(["adjustments"], {"file": None, "sha256": None, "rows": 0}), "复核文件不一致"),
    "run_by_missing": (_set(["run_by"], KeyError), "未记录 run_by"),
    "run_by_number": (_set(["run_by"], {"user": 1, "host": "h"}), "run_by 应为"),
    "tools_list": (_set(["tools"], [1]), "tools 应为"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_provenance_keys_are_clear_findings(here, case):
    mutate, words = HOSTILE[case]
    b = here["bundle"]
    m = manifest(b)
    mutate(m)
    checked, diffs = provenance.check(b, m)  # never raises
    assert any(words in d for d in diffs), diffs
    assert all("Traceback" not in d for d in diffs)
    (b / "manifest.json").write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")
    v = verify.verify(b)
    assert not v.ok and any(words in d for d in v.differences)
