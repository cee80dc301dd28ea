"""Evidence validation with real Great Expectations: clean evidence passes, each defect names its cell."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from assessment import evidence, frameworks, validation
from assessment.problems import EvidenceError

UNITS = """unit_id,unit_name,unit_group
001,青阳街道,乡镇街道
002,大楼街道,乡镇街道
101,县发改局,县直部门
"""
EVENTS = """event_id,unit_id,indicator,date,quantity,level,done_date,source,note
E001,001,B3,2023-03-01,20,,,,
E002,001,C2,2023-04-01,10,国家级,,,
E003,002,A4,2023-03-02,3,,,,
E004,002,C4,2023-03-07,1,省级,,,
E005,101,C3,2023-08-04,10,,,,
E006,101,V1,2023-12-31,1,,,,
"""
FACTS = "unit_id,indicator,value,note\n" + "".join(f"{u},B1.{x},是,\n" for u in ("001", "002", "101") for x in "abc")


@pytest.fixture(scope="module")
def fw():
    return frameworks.load("sihong-new-media-2023")


@pytest.fixture(scope="module")
def context():
    return validation.new_context()


def write(folder: Path, units: str = UNITS, events: str = EVENTS, facts: str = FACTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "units.csv").write_text(units, encoding="utf-8")
    (folder / "events.csv").write_text(events, encoding="utf-8")
    (folder / "facts.csv").write_text(facts, encoding="utf-8")
    return folder


def run(fw, folder: Path, context=None) -> validation.ValidationReport:
    return validation.validate(fw, evidence.read(folder), "2023", context=context)


def the_problem(report, column: str, severity: str = "error"):
    found = [p for p in report.problems if p.severity == severity and p.column and p.column.endswith(f"（{column}）")]
    assert found, report.summary_markdown()
    return found


# ---- clean evidence -----------------------------------------------------------------------

def test_clean_evidence_passes(fw, tmp_path, context):
    report = run(fw, write(tmp_path), context)
    assert report.ok and report.problems == [], report.summary_markdown()
    assert report.counts == {"units": 3, "events": 6, "facts": 9}
    checks = [r for t in report.results.values() for r in t]
    assert checks and all(r["success"] for r in checks)
    validation.raise_for_errors(report)  # nothing to raise


def test_fixture_county_is_valid_with_one_missing_fact(fw, context):
    report = validation.validate(fw, evidence.read(Path(__file__).parent / "fixtures" / "sihong_small"), context=context)
    assert report.ok
    assert [(p.value, p.severity, p.rule) for p in report.problems] == [("B1.c", "warning", "missing_fact")]


# ---- one defect each: error naming file, row, column and value --------------------------------

def _replace(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


CASES = {
    # id: (table, old, new, file, row, column, value, expectation)
    "unknown unit": ("events", "E003,002,", "E003,999,", "events.csv", 4, "unit_id", "999", "expect_column_values_to_be_in_set"),
    "unknown indicator": ("events", "E005,101,C3,", "E005,101,C9,", "events.csv", 6, "indicator", "C9", "expect_column_values_to_be_in_set"),
    "unknown unit group": ("units", "101,县发改局,县直部门", "101,县发改局,村委会", "units.csv", 4, "unit_group", "村委会", "expect_column_values_to_be_in_set"),
    "duplicate unit_id": ("units", "002,大楼街道", "001,大楼街道", "units.csv", 3, "unit_id", "001", "expect_column_values_to_be_unique"),
    "duplicate unit_name": ("units", "101,县发改局", "101,青阳街道", "units.csv", 4, "unit_name", "青阳街道", "expect_column_values_to_be_unique"),
    "duplicate event_id": ("events", "E004,002,", "E003,002,", "events.csv", 5, "event_id", "E003", "expect_column_values_to_be_unique"),
    "date before the period": ("events", "E003,002,A4,2023-03-02", "E003,002,A4,2022-12-31", "events.csv", 4, "date", "2022-12-31", "expect_column_values_to_be_between"),
    "date after the period": ("events", "E006,101,V1,2023-12-31", "E006,101,V1,2024-01-01", "events.csv", 7, "date", "2024-01-01", "expect_column_values_to_be_between"),
    "quantity 0": ("events", "A4,2023-03-02,3,", "A4,2023-03-02,0,", "events.csv", 4, "quantity", "0", "expect_column_values_to_be_between"),
    "negative quantity": ("events", "A4,2023-03-02,3,", "A4,2023-03-02,-2,", "events.csv", 4, "quantity", "-2", "expect_column_values_to_be_between"),
    "level not priced by the rule": ("events", "C2,2023-04-01,10,国家级", "C2,2023-04-01,10,县级", "events.csv", 3, "level", "县级", "expect_column_values_to_be_in_set"),
    "level missing where priced": ("events", "C4,2023-03-07,1,省级", "C4,2023-03-07,1,", "events.csv", 5, "level", None, "expect_column_values_to_not_be_null"),
    "level on a rule without levels": ("events", "A4,2023-03-02,3,,", "A4,2023-03-02,3,省级,", "events.csv", 4, "level", "省级", "expect_column_values_to_be_null"),
    "done_date before date": ("events", "C3,2023-08-04,10,,", "C3,2023-08-04,10,,2023-08-01", "events.csv", 6, "done_date", "2023-08-01", "expect_column_pair_values_a_to_be_greater_than_b"),
    "checklist value not yes/no": ("facts", "002,B1.b,是", "002,B1.b,也许", "facts.csv", 6, "value", "也许", "expect_column_values_to_be_in_set"),
    "unknown fact indicator": ("facts", "002,B1.b,是", "002,B1.x,是", "facts.csv", 6, "indicator", "B1.x", "expect_column_values_to_be_in_set"),
    "unknown unit in facts": ("facts", "002,B1.b,是", "009,B1.b,是", "facts.csv", 6, "unit_id", "009", "expect_column_values_to_be_in_set"),
    "duplicate fact": ("facts", "002,B1.b,是", "002,B1.a,否", "facts.csv", 6, "indicator", "B1.a", "expect_compound_columns_to_be_unique"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_defect_is_an_error_naming_its_cell(fw, tmp_path, context, case):
    table, old, new, file, row, column, value, expectation = CASES[case]
    texts = {"units": UNITS, "events": EVENTS, "facts": FACTS}
    texts[table] = _replace(texts[table], old, new)
    report = run(fw, write(tmp_path, **texts), context)
    assert not report.ok
    hits = [p for p in the_problem(report, column) if p.row == row]
    assert hits, report.summary_markdown()
    p = hits[0]
    assert (p.file, p.sheet, p.value, p.rule) == (file, None, value, expectation)
    assert p.message_zh and p.message_en and p.message_zh != p.message_en
    assert f"第 {row} 行" in p.render() and (not value or f"“{value}”" in p.render())
    with pytest.raises(EvidenceError) as info:
        validation.raise_for_errors(report)
    assert p in info.value.problems


def test_duplicate_unit_id_names_the_other_row(fw, tmp_path, context):
    report = run(fw, write(tmp_path, units=_replace(UNITS, "002,大楼街道", "001,大楼街道")), context)
    rows = {p.row: p for p in the_problem(report, "unit_id") if p.rule == "expect_column_values_to_be_unique"}
    assert set(rows) == {2, 3}
    assert "与第 2 行重复" in rows[3].message_zh and "row 2" in rows[3].message_en


def test_indicator_in_the_wrong_table_gets_a_hint(fw, tmp_path, context):
    report = run(fw, write(tmp_path, events=_replace(EVENTS, "E005,101,C3,", "E005,101,B1,")), context)
    (p,) = the_problem(report, "indicator")
    assert "B1.a、B1.b、B1.c" in p.message_zh


def test_fractional_quantity_in_a_table_built_in_code(fw, ev_builder, context):
    ev = ev_builder([("001", "青阳街道", "乡镇街道")], [{"event_id": "E1", "unit_id": "001", "indicator": "A4", "date": "2023-05-01", "quantity": 1.5}])
    report = validation.validate(fw, ev, context=context)
    rules = {p.rule for p in the_problem(report, "quantity")}
    assert "expect_column_values_to_be_between" in rules
    assert any(p.message_en == "quantity must be a whole number" and p.value == "1.5" for p in report.errors)


def test_xlsx_problem_names_the_sheet(fw, tmp_path, context):
    with pd.ExcelWriter(tmp_path / "evidence.xlsx") as xl:
        pd.DataFrame([["001", "青阳街道", "乡镇街道"]], columns=["单位编码", "单位名称", "单位类别"]).to_excel(xl, sheet_name="单位", index=False)
        pd.DataFrame([["E1", "001", "A4", "2023-05-01", 0]], columns=["事件编号", "单位编码", "指标编码", "日期", "数量"]).to_excel(xl, sheet_name="事件", index=False)
        pd.DataFrame([["001", f"B1.{x}", "是"] for x in "abc"], columns=["单位编码", "指标编码", "值"]).to_excel(xl, sheet_name="指标事实", index=False)
    report = validation.validate(fw, evidence.read(tmp_path), context=context)
    (p,) = report.errors
    assert (p.file, p.sheet, p.row, p.column, p.value) == ("evidence.xlsx", "事件", 2, "数量（quantity）", "0")


# ---- a framework with applies_to, target, deadline and timeliness --------------------------

@pytest.fixture(scope="module")
def rich_fw():
    from conftest import make_framework

    return make_framework([
        {"code": "A", "name": "规范", "points": 40, "children": [
            {"code": "A1", "name": "错别字", "points": 10, "rule": {"type": "deduct", "per": 1}},
            {"code": "A2", "name": "部门专项", "points": 10, "rule": {"type": "award", "per": 1}, "applies_to": ["县直部门"]},
            {"code": "A3", "name": "留言办理", "points": 10, "rule": {"type": "timeliness", "within": 2}},
            {"code": "A4", "name": "保障", "points": 10, "rule": {"type": "checklist", "items": [{"code": "A4.a", "name": "制度"}, {"code": "A4.b", "name": "防护"}]}},
        ]},
        {"code": "B", "name": "指标", "points": 20, "children": [
            {"code": "B1", "name": "共享率", "points": 10, "rule": {"type": "target", "target": 0.97}},
            {"code": "B2", "name": "年报", "points": 10, "rule": {"type": "deadline", "due": "2023-01-10"}},
        ]},
    ])


RICH_UNITS = [("001", "青阳街道", "乡镇街道"), ("101", "县发改局", "县直部门")]
RICH_FACTS = [(u, c, v) for u in ("001", "101") for c, v in (("A4.a", "是"), ("A4.b", "否"), ("B1", "97%"), ("B2", "2023-01-09"))]


def rich_events(**change) -> list[dict]:
    rows = [{"event_id": "E1", "unit_id": "001", "indicator": "A1", "date": "2023-02-01"},
            {"event_id": "E2", "unit_id": "101", "indicator": "A2", "date": "2023-02-02"},
            {"event_id": "E3", "unit_id": "001", "indicator": "A3", "date": "2023-02-03", "done_date": "2023-02-06"}]
    for i, r in enumerate(rows):
        rows[i] = r | change.get(r["event_id"], {})
    return rows


def test_rich_framework_clean(rich_fw, ev_builder, context):
    report = validation.validate(rich_fw, ev_builder(RICH_UNITS, rich_events(), RICH_FACTS), context=context)
    assert report.ok and report.problems == [], report.summary_markdown()


def test_indicator_not_applicable_to_the_units_group(rich_fw, ev_builder, context):
    report = validation.validate(rich_fw, ev_builder(RICH_UNITS, rich_events(E2={"unit_id": "001"}), RICH_FACTS), context=context)
    (p,) = report.errors
    assert (p.file, p.row, p.column, p.value) == ("events.csv", 3, "指标编码（indicator）", "A2")
    assert "不适用" in p.message_zh and "乡镇街道" in p.message_zh and "does not apply" in p.message_en


@pytest.mark.parametrize("code,bad,row", [("B1", "abc", 4), ("B2", "2023-02-30", 5), ("A4.a", "也许", 2)])
def test_fact_value_that_does_not_fit_its_rule(rich_fw, ev_builder, context, code, bad, row):
    facts = [(u, c, bad if (u, c) == ("001", code) else v) for u, c, v in RICH_FACTS]
    report = validation.validate(rich_fw, ev_builder(RICH_UNITS, rich_events(), facts), context=context)
    (p,) = report.errors
    assert (p.row, p.column, p.value) == (row, "值（value）", bad)
    assert bad in p.message_zh and bad in p.message_en


def test_open_timeliness_event_is_a_warning(rich_fw, ev_builder, context):
    report = validation.validate(rich_fw, ev_builder(RICH_UNITS, rich_events(E3={"done_date": None}), RICH_FACTS), context=context)
    assert report.ok
    (p,) = report.warnings
    assert (p.row, p.column, p.rule) == (4, "办结日期（done_date）", "expect_column_values_to_not_be_null")


def test_missing_facts_are_warnings_and_the_run_goes_on(rich_fw, ev_builder, context):
    facts = [f for f in RICH_FACTS if (f[0], f[1]) not in {("001", "A4.b"), ("101", "B2")}]
    report = validation.validate(rich_fw, ev_builder(RICH_UNITS, rich_events(), facts), context=context)
    assert report.ok and not report.errors
    assert [(p.value, p.rule, p.severity) for p in report.warnings] == [("A4.b", "missing_fact", "warning"), ("B2", "missing_fact", "warning")]
    assert all("缺少指标事实，按未达标计分" in p.message_zh for p in report.warnings)
    missing = next(r for r in report.results["facts"] if r["check"] == "facts.missing")
    assert missing["missing"] == [["001", "A4.b"], ["101", "B2"]]


def test_missing_checklist_fact_in_the_sihong_framework(fw, tmp_path, context):
    report = run(fw, write(tmp_path, facts=FACTS.replace("002,B1.c,是,\n", "")), context)
    assert report.ok
    (p,) = report.warnings
    assert (p.file, p.value, p.severity) == ("facts.csv", "B1.c", "warning") and "002" in p.message_zh


def test_missing_required_column_is_reported_not_crashed(fw, ev_builder, context):
    ev = ev_builder([("001", "青阳街道", "乡镇街道")], [{"event_id": "E1", "unit_id": "001", "indicator": "A4", "date": "2023-05-01"}])
    ev.events = ev.events.drop(columns=["indicator"])
    report = validation.validate(fw, ev, context=context)
    assert any(p.rule == "expect_column_to_exist" and p.column == "指标编码（indicator）" for p in report.errors)
    assert any(r.get("skipped") for r in report.results["events"])


def test_messages_are_capped_per_expectation(fw, ev_builder, context):
    events = [{"event_id": f"E{i}", "unit_id": "999", "indicator": "A4", "date": "2023-05-01"} for i in range(60)]
    report = validation.validate(fw, ev_builder([("001", "青阳街道", "乡镇街道")], events), context=context)
    unit = [p for p in report.errors if p.column == "单位编码（unit_id）"]
    assert len(unit) == 51 and unit[-1].row is None and "10" in unit[-1].message_zh
    rec = next(r for r in report.results["events"] if r["check"] == "events.unit_id.in_units")
    assert rec["unexpected_count"] == 60 and rec["rows"] == list(range(2, 62))


# ---- output ---------------------------------------------------------------------------------

def test_json_is_byte_identical_across_runs(fw, tmp_path):
    folder = write(tmp_path, events=_replace(EVENTS, "E003,002,", "E003,999,"))
    first = validation.validate(fw, evidence.read(folder), "2023").to_json()  # each with its own context
    second = validation.validate(fw, evidence.read(folder), "2023").to_json()
    assert first == second
    data = json.loads(first)
    assert data["ok"] is False and data["errors"] == 1
    text = first.lower()
    assert "run_id" not in text and "ge_load_time" not in text and "fingerprint" not in text and "batch_id" not in text


def test_summary_markdown(fw, tmp_path, context):
    report = run(fw, write(tmp_path, events=_replace(EVENTS, "E003,002,", "E003,999,")), context)
    md = report.summary_markdown()
    assert "✗" in md and "✓" in md and "未通过" in md and "events" in md
    assert report.errors[0].render() in md


def test_gx_prints_no_progress_bars(fw, tmp_path, capsys):
    folder = write(tmp_path)
    capsys.readouterr()
    validation.validate(fw, evidence.read(folder), "2023")
    out, err = capsys.readouterr()
    assert "Calculating Metrics" not in out + err and "%|" not in out + err


def test_stored_suites_round_trip():
    import great_expectations as gx

    for table in validation.TABLES:
        path = validation.expectations_dir() / f"{table}.json"
        stored = json.loads(path.read_text(encoding="utf-8"))
        assert gx.ExpectationSuite(**stored).to_json_dict() == stored
        assert all(e["meta"].get("check", "").startswith(table + ".") for e in stored["expectations"])


def test_empty_units_table_is_an_error(fw, ev_builder, context):
    report = validation.validate(fw, ev_builder([], [], []), context=context)
    (p,) = report.errors
    assert (p.rule, p.file) == ("expect_table_row_count_to_be_between", "units.csv") and "没有任何单位" in p.message_zh


def test_unknown_group_is_reported_once_not_again_per_event(rich_fw, ev_builder, context):
    units = [("001", "青阳街道", "乡镇街道"), ("101", "县发改局", "村委会")]
    report = validation.validate(rich_fw, ev_builder(units, rich_events(), RICH_FACTS), context=context)
    (p,) = report.errors
    assert (p.row, p.column, p.value) == (3, "单位类别（unit_group）", "村委会")


def test_an_expectation_added_to_a_stored_suite_runs(fw, tmp_path, context):
    folder = tmp_path / "expectations"
    folder.mkdir()
    for table in validation.TABLES:
        (folder / f"{table}.json").write_text((validation.expectations_dir() / f"{table}.json").read_text(encoding="utf-8"), encoding="utf-8")
    suite = json.loads((folder / "events.json").read_text(encoding="utf-8"))
    suite["expectations"].append({"type": "expect_column_values_to_match_regex", "kwargs": {"column": "event_id", "regex": "^E\\d{3}$"}, "meta": {}})
    (folder / "events.json").write_text(json.dumps(suite, ensure_ascii=False), encoding="utf-8")
    ev = evidence.read(write(tmp_path / "raw", events=_replace(EVENTS, "E005,", "X5,")))
    report = validation.validate(fw, ev, context=context, expectations_folder=folder)
    (p,) = report.errors
    assert (p.row, p.value, p.rule) == (6, "X5", "expect_column_values_to_match_regex")


# ---- issue 11: one list of warnings; hints for units typed as numbers

def test_reading_notes_are_counted_in_the_report_summary_and_json(fw, tmp_path, context):
    """A cell normalised while reading (a warning) is one of the report's warnings, so the summary,
    the JSON results and the command line (validation.bundle_warnings) say the same number."""
    folder = write(tmp_path, events=_replace(EVENTS, "E003,002,A4,2023-03-02,3", "E003, 002 ,A4,2023-03-02,３"))
    ev = evidence.read(folder)
    assert len(ev.notes) == 2  # unit_id and quantity normalised
    report = validation.validate(fw, ev, "2023", context=context)
    assert all(n in report.warnings for n in ev.notes)
    data = json.loads(report.to_json())
    assert data["warnings"] == len(report.warnings) == len([p for p in data["problems"] if p["severity"] == "warning"])
    assert f"警告 warnings {len(report.warnings)}" in report.summary_markdown()
    bundle = tmp_path / "bundle"
    (bundle / "validation").mkdir(parents=True)
    (bundle / "validation" / "results.json").write_text(report.to_json(), encoding="utf-8")
    assert validation.bundle_warnings(bundle) == report.warnings


def test_bundle_warnings_before_validation_are_the_reading_notes(tmp_path):
    folder = write(tmp_path / "raw", events=_replace(EVENTS, "E003,002,A4,2023-03-02,3", "E003,002,A4,2023-03-02,３"))
    ev = evidence.read(folder)
    bundle = tmp_path / "bundle"
    (bundle / "evidence").mkdir(parents=True)
    (bundle / "evidence" / "reading_notes.json").write_text(json.dumps([n.to_dict() for n in ev.notes], ensure_ascii=False), encoding="utf-8")
    assert validation.bundle_warnings(bundle) == ev.notes and len(ev.notes) == 1


@pytest.mark.parametrize("typed, hint", [("1", "单位表中有“001”，疑似前导零丢失"), ("01", "单位表中有“001”，疑似前导零丢失"),
                                         ("0101", "单位表中有“101”，疑似多写了前导零"), ("999", None)])
def test_an_unknown_unit_that_lost_its_leading_zeros_gets_a_hint(fw, tmp_path, context, typed, hint):
    report = run(fw, write(tmp_path, events=_replace(EVENTS, "E003,002,", f"E003,{typed},")), context)
    [p] = the_problem(report, "unit_id")
    assert (hint in p.message_zh) if hint else ("单位表中有" not in p.message_zh)
