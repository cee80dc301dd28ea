"""`frameworks new / check / schema / diff` and the template's year (issue 10, items 3 and 4).

A county-year for another county and for 2024 runs from `frameworks new` alone: the end-to-end
tests derive the frameworks into a temporary frameworks folder and run `assessment run` on
evidence dated 2024, with no hand edits.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
import yaml
from docx import Document
from openpyxl import load_workbook

from assessment import cli, compare, framework_tools, frameworks, template
from assessment.frameworks import Framework, Indicator

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "frameworks"
SCHEMA_LINE = "# yaml-language-server: $schema=./framework.schema.json"


@pytest.fixture
def fw_dir(tmp_path, monkeypatch) -> Path:
    """A frameworks folder holding copies of the shipped frameworks (and the schema)."""
    folder = tmp_path / "frameworks"
    shutil.copytree(SHIPPED, folder)
    monkeypatch.setenv("ASSESSMENT_FRAMEWORKS", str(folder))
    return folder


# ---- frameworks new -----------------------------------------------------------------------

def test_shift_date_keeps_the_day_and_feb_29_becomes_feb_28():
    assert framework_tools.shift_date(dt.date(2023, 1, 10), 1) == dt.date(2024, 1, 10)
    assert framework_tools.shift_date(dt.date(2024, 2, 29), 1) == dt.date(2025, 2, 28)
    assert framework_tools.shift_date(dt.date(2024, 2, 29), 4) == dt.date(2028, 2, 29)
    assert framework_tools.shift_date(dt.date(2023, 12, 31), -1) == dt.date(2022, 12, 31)


def test_new_year_shifts_dates_and_keeps_everything_else(fw_dir, capsys):
    src = frameworks.load("xiamen-website-new-media-2023")
    assert cli.main(["frameworks", "new", "xiamen-website-new-media-2024", "--from", src.id, "--year", "2024"]) == 0
    out = capsys.readouterr().out
    assert "F5 due 2023-01-10 → 2024-01-10" in out and "F6.1 due 2023-12-10 → 2024-12-10" in out
    path = fw_dir / "xiamen-website-new-media-2024.yaml"
    new = frameworks.load("xiamen-website-new-media-2024")
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == SCHEMA_LINE
    assert "\\u" not in text and "厦门市2024年度政府网站与政务新媒体绩效考核" in text  # Chinese unescaped
    assert (new.id, new.year, new.jurisdiction, new.title) == (
        "xiamen-website-new-media-2024", 2024, "厦门市", "厦门市2024年度政府网站与政务新媒体绩效考核")
    assert new.nodes["F5"].rule.params["due"] == dt.date(2024, 1, 10)
    assert new.nodes["F6.1"].rule.params["due"] == dt.date(2024, 12, 10)
    # basis, source and the earlier choices are the seed's; one choice line names the source and its hash
    assert new.source == src.source
    assert all(new.nodes[c].basis == src.nodes[c].basis for c in src.nodes)
    assert new.choices[:-1] == src.choices
    assert src.id in new.choices[-1] and src.file_hash in new.choices[-1] and "2023 → 2024" in new.choices[-1]
    # top-level keys stay in the source's order
    assert list(yaml.safe_load(text)) == list(yaml.safe_load(Path(src.path).read_text(encoding="utf-8")))
    # and diff names exactly what changed: id, title, year, choices, and the two dated rules
    d = compare.diff_frameworks(src, new)
    assert set(zip(d["code"], d["field"])) == {("(框架)", "id"), ("(框架)", "title"), ("(框架)", "year"),
                                              ("(框架)", "choices"), ("F5", "rule"), ("F6.1", "rule")}


def test_another_county_replaces_the_jurisdiction_in_the_title_and_diff_names_it(fw_dir):
    d = framework_tools.derive("tongshan-new-media-2024", "sihong-new-media-2023", 2024, "铜山区")
    new, src = d.framework, frameworks.load("sihong-new-media-2023")
    assert (new.jurisdiction, new.year, new.title) == ("铜山区", 2024, "铜山区政务新媒体监管工作年度考核")
    assert d.shifted == []  # nothing dated in this framework
    assert "地区 泗洪县 → 铜山区" in new.choices[-1]
    diff = compare.diff_frameworks(src, new)
    changed = dict(zip(diff["field"], zip(diff["before"], diff["after"])))
    assert changed["jurisdiction"] == ("泗洪县", "铜山区")
    assert changed["year"] == ("2023", "2024")
    assert changed["title"] == ("泗洪县政务新媒体监管工作年度考核", "铜山区政务新媒体监管工作年度考核")
    # a title that names the year gets the new one
    assert framework_tools.new_title("2023年泗洪县政府网站工作考评", 2023, 2025, "泗洪县", "宿豫区") == "2025年宿豫区政府网站工作考评"


def test_same_inputs_same_bytes(fw_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    pa = framework_tools.derive("sihong-website-2024", "sihong-website-2023", 2024, None, a).path
    pb = framework_tools.derive("sihong-website-2024", "sihong-website-2023", 2024, None, b).path
    assert pa.read_bytes() == pb.read_bytes()


def test_new_refuses_overwrite_bad_id_and_bad_year(fw_dir, capsys):
    before = (fw_dir / "sihong-new-media-2023.yaml").read_bytes()
    assert cli.main(["frameworks", "new", "sihong-new-media-2023", "--from", "sihong-website-2023"]) == 2
    assert "文件已存在" in capsys.readouterr().err
    assert (fw_dir / "sihong-new-media-2023.yaml").read_bytes() == before
    assert cli.main(["frameworks", "new", "Bad_ID", "--from", "sihong-new-media-2023"]) == 2
    assert "新框架编号" in capsys.readouterr().err
    assert cli.main(["frameworks", "new", "x-2024", "--from", "sihong-new-media-2023", "--year", "24"]) == 2
    assert cli.main(["frameworks", "new", "x-2024", "--from", "no-such-framework"]) == 2
    assert not (fw_dir / "x-2024.yaml").exists() and not (fw_dir / "bad_id.yaml").exists()


def test_year_mismatch_points_to_frameworks_new(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    assert cli.main(["run", "--county", "demo", "--year", "2024", "--framework", "sihong-new-media-2023",
                     "--raw", str(raw), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "不一致" in err and "assessment frameworks new" in err and "--from sihong-new-media-2023 --year 2024" in err


def _run(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assessment.cli", *args], capture_output=True, text=True,
                          timeout=900, env=env)


@pytest.mark.parametrize("new_id, jurisdiction, county", [("sihong-new-media-2024", None, "demo"),
                                                         ("tongshan-new-media-2024", "铜山区", "tongshan")])
def test_a_derived_framework_runs_with_no_hand_edits(tmp_path, new_id, jurisdiction, county):
    """`frameworks new` then `assessment run --year 2024` on evidence dated 2024: the demo
    evidence moved one year on for 泗洪, synthetic evidence for the other county."""
    folder = tmp_path / "frameworks"
    shutil.copytree(SHIPPED, folder)
    env = {**os.environ, "ASSESSMENT_FRAMEWORKS": str(folder)}
    args = ["frameworks", "new", new_id, "--from", "sihong-new-media-2023", "--year", "2024"]
    proc = _run(args + (["--jurisdiction", jurisdiction] if jurisdiction else []), env)
    assert proc.returncode == 0, proc.stderr
    raw = tmp_path / "raw" / county / "2024"
    raw.mkdir(parents=True)
    if county == "demo":
        src = ROOT / "data" / "raw" / "demo" / "2023"
        for name in ("units.csv", "facts.csv"):
            shutil.copy(src / name, raw / name)
        events = pd.read_csv(src / "events.csv", dtype=str, keep_default_na=False)
        events["date"] = events["date"].str.replace(r"^2023-02-29$", "2023-02-28", regex=True).str.replace("2023-", "2024-", n=1)
        events.to_csv(raw / "events.csv", index=False, encoding="utf-8")
    else:
        proc = _run(["synth", "--framework", new_id, "--units", "12", "--events", "200", "--seed", "3", "--out", str(raw)], env)
        assert proc.returncode == 0, proc.stderr
    proc = _run(["run", "--county", county, "--year", "2024", "--framework", new_id, "--raw", str(raw),
                 "--out", str(tmp_path / "out"), "--quiet"], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bundle = tmp_path / "out" / county / "2024"
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["parameters"]["framework"] == new_id and str(manifest["parameters"]["year"]) == "2024"
    units = pd.read_csv(bundle / "scores" / "unit_scores.csv", dtype={"unit_id": str})
    assert len(units) > 0
    note = next((bundle / "reports").glob("通报*.docx"))
    doc = Document(note)
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "2024年度" in text and "2023年度" not in text


# ---- diff ---------------------------------------------------------------------------------

class Node(Indicator):
    cap_note: str | None = None
    children: list["Node"] = []


class Fw(Framework):
    veto_score_test: float | None = None
    indicators: list[Node]


def test_diff_is_generic_over_the_models():
    """A key the diff has never heard of (here on a subclass, as a new framework key would be)
    is named when it changes, at framework level and on an indicator."""
    base = yaml.safe_load((SHIPPED / "sihong-new-media-2023.yaml").read_text(encoding="utf-8"))
    a = Fw.model_validate(base)
    changed = json.loads(json.dumps(base, default=str))
    changed["veto_score_test"] = 59
    changed["indicators"][1]["children"][0]["cap_note"] = "最多扣10分"
    b = Fw.model_validate(changed)
    d = compare.diff_frameworks(a, b)
    assert set(zip(d["code"], d["field"], d["after"])) == {("(框架)", "veto_score_test", "59"), ("A1", "cap_note", "最多扣10分")}


# ---- template -----------------------------------------------------------------------------

def test_template_takes_the_year_from_the_framework(fw_dir, tmp_path):
    new = framework_tools.derive("sihong-new-media-2025", "sihong-new-media-2023", 2025).framework
    wb = load_workbook(template.write_template(new, tmp_path / "t.xlsx"))
    text = " ".join(str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None)
    assert "2025" in text and "2023" not in text


# ---- check --------------------------------------------------------------------------------

def test_check_ok_and_every_problem(tmp_path, capsys):
    assert cli.main(["frameworks", "check", str(SHIPPED / "sihong-new-media-2023.yaml")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "框架文件有效" in out and "is valid" in out
    data = yaml.safe_load((SHIPPED / "sihong-new-media-2023.yaml").read_text(encoding="utf-8"))
    data["indicators"][1]["children"][0]["rule"] = {"type": "nosuch"}
    data["indicators"][2]["children"][2]["rule"]["per"] = -1
    bad = tmp_path / "sihong-new-media-2023.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert cli.main(["frameworks", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "A1" in err and "B3" in err and "共 2 个问题" in err
    assert cli.main(["frameworks", "check", str(tmp_path / "missing.yaml")]) == 2


# ---- schema -------------------------------------------------------------------------------

def test_shipped_schema_is_the_generated_one():
    """A model change must regenerate it: assessment frameworks schema --out frameworks/framework.schema.json"""
    assert (SHIPPED / framework_tools.SCHEMA_FILE).read_text(encoding="utf-8") == framework_tools.schema_text()


def test_schema_on_stdout(capsys):
    assert cli.main(["frameworks", "schema"]) == 0
    assert json.loads(capsys.readouterr().out) == framework_tools.schema()


def test_every_shipped_framework_validates_and_names_the_schema():
    schema = json.loads((SHIPPED / framework_tools.SCHEMA_FILE).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    files = sorted(SHIPPED.glob("*.yaml"))
    assert [p.stem for p in files] == frameworks.available(SHIPPED)  # the schema is no framework
    assert "framework.schema" not in frameworks.available(SHIPPED)
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert text.splitlines()[0] == SCHEMA_LINE, path.name
        assert framework_tools.schema_check(text, schema) == [], path.name


def test_schema_checks_rule_parameters_per_type():
    from assessment.rules import RULES

    schema = framework_tools.schema()
    assert set(schema["$defs"]["RuleSpec"]["properties"]["type"]["enum"]) == set(RULES)
    text = (SHIPPED / "sihong-new-media-2023.yaml").read_text(encoding="utf-8")
    bad = (text.replace("rule: {type: deduct, per: 10}", "rule: {type: deduct, per: 10, typo: 1}")
               .replace("rule: {type: threshold, indicators: [A2, A3, A4, A5, A6], max_count: 5, count: quantity}",
                        "rule: {type: threshold, indicators: [A2], count: nope}")
               .replace("unit_groups: [乡镇街道, 县直部门]", "unit_groups: [乡镇街道, 县直部门]\nunknown_key: 1"))
    errors = "\n".join(framework_tools.schema_check(bad, schema))
    assert "typo" in errors and "max_count" in errors and "nope" in errors and "unknown_key" in errors
    assert "type" in schema["$defs"]["Rule_deadline"]["properties"] and "due" in schema["$defs"]["Rule_deadline"]["required"]
    # descriptions in Chinese where the models have none of their own
    assert "扣分池" in schema["$defs"]["Indicator"]["properties"]["pool"]["description"]


def test_derived_file_validates_against_the_schema(fw_dir):
    path = framework_tools.derive("xiamen-website-new-media-2024", "xiamen-website-new-media-2023", 2024).path
    assert framework_tools.schema_check(path.read_text(encoding="utf-8")) == []


def test_new_from_a_file_with_feb_29_aliases_and_a_quoted_date(tmp_path, monkeypatch):
    """A leap-day deadline lands on 28 February; a date written as text is shifted too; YAML
    aliases are written out in full (no &id001 in the new file)."""
    src = tmp_path / "leap-2024.yaml"
    src.write_text(
        "id: leap-2024\ntitle: 2024年测试县考评\njurisdiction: 测试县\nyear: 2024\n"
        "source: {file: x, section: y}\nunit_groups: &groups [乡镇街道, 县直部门]\n"
        "grades:\n  - {name: 合格, min: 60}\n  - {name: 不合格}\n"
        "indicators:\n  - code: A\n    name: 年报\n    points: 10\n"
        "    children:\n      - {code: A1, name: 年报, points: 5, applies_to: *groups, rule: {type: deadline, due: 2024-02-29}}\n"
        "      - {code: A2, name: 报告, points: 5, rule: {type: deadline, due: '2024-03-01'}}\n",
        encoding="utf-8")
    monkeypatch.setenv("ASSESSMENT_FRAMEWORKS", str(tmp_path))
    d = framework_tools.derive("leap-2025", "leap-2024", 2025)
    assert d.framework.nodes["A1"].rule.params["due"] == dt.date(2025, 2, 28)
    assert d.framework.nodes["A2"].rule.params["due"] == dt.date(2025, 3, 1)
    assert d.framework.title == "2025年测试县考评"
    text = d.path.read_text(encoding="utf-8")
    assert "&id" not in text and "*id" not in text and "applies_to: [乡镇街道, 县直部门]" in text
    assert [c for c, _, _, _ in d.shifted] == ["A1", "A2"]
