"""Reading evidence: CSV in UTF-8 (BOM or not) and GB18030, English or Chinese headers and sheet
names, values never formulas, source file/sheet/row kept for every record."""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from assessment import evidence
from assessment.problems import EvidenceError

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"


def copy_fixture(tmp_path: Path) -> Path:
    dst = tmp_path / "raw"
    shutil.copytree(FIXTURE, dst)
    return dst


def to_workbook(src: Path, dst: Path, sheet_names=("单位", "事件", "指标事实")) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for table, title in zip(("units", "events", "facts"), sheet_names):
        df = pd.read_csv(src / f"{table}.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
        ws = wb.create_sheet(title)
        ws.append(list(df.columns))
        for row in df.itertuples(index=False):
            ws.append([v if v != "" else None for v in row])
    dst.mkdir(parents=True, exist_ok=True)
    wb.save(dst / "evidence.xlsx")
    return dst


def test_csv_with_chinese_headers_and_leading_zeros():
    ev = evidence.read(FIXTURE)
    assert len(ev.units) == 12 and len(ev.events) == 46 and len(ev.facts) == 35
    assert ev.units["unit_id"].tolist()[:2] == ["001", "002"]
    assert ev.events["date"].dtype.kind == "M" and ev.events["quantity"].dtype == float
    row = ev.events.iloc[4]
    assert (row["_file"], row["_row"]) == ("events.csv", 6)
    assert set(ev.files) == {"units.csv", "events.csv", "facts.csv"} and all(len(h) == 64 for h in ev.files.values())


def test_gb18030_csv(tmp_path):
    raw = copy_fixture(tmp_path)
    text = (raw / "units.csv").read_text(encoding="utf-8")
    (raw / "units.csv").write_bytes(text.encode("gb18030"))
    assert evidence.read(raw).units["unit_name"].iloc[0] == "青阳街道"


def test_workbook_with_chinese_sheet_names_matches_csv(tmp_path):
    book = to_workbook(FIXTURE, tmp_path / "book")
    a, b = evidence.read(FIXTURE), evidence.read(book)
    cols = ["event_id", "unit_id", "indicator", "date", "quantity", "level"]
    pd.testing.assert_frame_equal(a.events[cols], b.events[cols])
    assert b.events["_sheet"].iloc[0] == "事件" and b.events["_row"].iloc[0] == 2


def test_formula_cell_is_refused_with_its_cell(tmp_path):
    book = to_workbook(FIXTURE, tmp_path / "book")
    wb = openpyxl.load_workbook(book / "evidence.xlsx")
    wb["事件"]["E3"] = "=1+1"
    wb.save(book / "evidence.xlsx")
    with pytest.raises(EvidenceError) as exc:
        evidence.read(book)
    p = exc.value.problems[0]
    assert (p.sheet, p.row, p.rule) == ("事件", 3, "formula") and p.column.startswith("E")
    assert "公式" in p.render() and "formula" in p.render()


def test_full_width_digits_and_spaces_are_normalised_and_said(tmp_path):
    raw = copy_fixture(tmp_path)
    text = (raw / "events.csv").read_text(encoding="utf-8")
    text = text.replace("E005,002,A4,2023-03-02,3", "E005, 002 ,A4,2023-03-02,３")
    (raw / "events.csv").write_text(text, encoding="utf-8")
    ev = evidence.read(raw)
    row = ev.events.set_index("event_id").loc["E005"]
    assert row["unit_id"] == "002" and row["quantity"] == 3
    assert any(n.rule == "normalised" and n.row == 6 for n in ev.notes)


def test_impossible_date_names_row_column_and_value(tmp_path):
    raw = copy_fixture(tmp_path)
    text = (raw / "events.csv").read_text(encoding="utf-8").replace("E007,002,B3,2023-03-04", "E007,002,B3,2023-02-30")
    (raw / "events.csv").write_text(text, encoding="utf-8")
    with pytest.raises(EvidenceError) as exc:
        evidence.read(raw)
    p = exc.value.problems[0]
    assert (p.file, p.row, p.value) == ("events.csv", 8, "2023-02-30") and "date" in p.column


def test_missing_column_and_missing_file(tmp_path):
    raw = copy_fixture(tmp_path)
    text = (raw / "events.csv").read_text(encoding="utf-8").replace("indicator", "indicatr", 1)
    (raw / "events.csv").write_text(text, encoding="utf-8")
    with pytest.raises(EvidenceError, match="缺少必需的列"):
        evidence.read(raw)
    (raw / "facts.csv").unlink()
    with pytest.raises(EvidenceError, match="facts.csv"):
        evidence.read(raw)


def test_parquet_round_trip_keeps_types(tmp_path):
    ev = evidence.read(FIXTURE)
    evidence.write_parquet(ev, tmp_path)
    back = evidence.read_parquet(tmp_path)
    assert back.units["unit_id"].tolist() == ev.units["unit_id"].tolist()
    assert back.events["date"].equals(ev.events["date"])


# ---- issue 11: ambiguity, invisible characters, empty tables, numbers, bounds, office habits

def edit(raw: Path, table: str, old: str, new: str) -> None:
    text = (raw / f"{table}.csv").read_text(encoding="utf-8-sig")
    assert old in text, old
    (raw / f"{table}.csv").write_text(text.replace(old, new, 1), encoding="utf-8")


def refused(raw: Path, **kw) -> list:
    with pytest.raises(EvidenceError) as exc:
        evidence.read(raw, **kw)
    return exc.value.problems


def test_two_sheets_meaning_one_table_are_refused_naming_both(tmp_path):
    book = to_workbook(FIXTURE, tmp_path / "book")
    wb = openpyxl.load_workbook(book / "evidence.xlsx")
    wb.copy_worksheet(wb["事件"]).title = "Events "  # differs from 'events' by case and a blank only
    wb.save(book / "evidence.xlsx")
    [p] = [p for p in refused(book) if p.rule == "input-ambiguous"]
    assert "事件" in p.value and "Events" in p.value and p.file == "evidence.xlsx"


def test_two_columns_meaning_one_field_are_refused(tmp_path):
    raw = copy_fixture(tmp_path)
    lines = (raw / "units.csv").read_text(encoding="utf-8-sig").splitlines()
    (raw / "units.csv").write_text("\n".join([lines[0] + ",unit_id"] + [l + "," + l.split(",")[0] for l in lines[1:]]) + "\n", encoding="utf-8")
    [p] = refused(raw)
    assert (p.rule, p.row, p.column) == ("header-duplicate", 1, "第 4 列（unit_id）") and "第 1 列（单位编码）" in p.message_zh


def test_columns_and_sheets_read_by_nobody_are_said(tmp_path):
    book = to_workbook(FIXTURE, tmp_path / "book")
    wb = openpyxl.load_workbook(book / "evidence.xlsx")
    wb["事件"]["J1"] = "审核人"
    wb["事件"]["J2"] = "张三"
    wb.create_sheet("填报说明")["A1"] = "请按模板填写"
    wb.save(book / "evidence.xlsx")
    notes = {(n.rule, n.sheet, n.column) for n in evidence.read(book).notes}
    assert ("column-unused", "事件", "J（审核人）") in notes and ("sheet-unused", "填报说明", None) in notes


def test_invisible_characters_are_refused_in_codes_with_their_code_point(tmp_path):
    raw = copy_fixture(tmp_path)
    edit(raw, "events", "E005,002,", "E005,002\u200b,")
    edit(raw, "units", "003,城头乡,乡镇街道", "003,城头乡,乡镇\u202e街道")
    problems = refused(raw)
    got = {(p.file, p.row, p.column, p.rule) for p in problems}
    assert got == {("events.csv", 6, "单位编码（unit_id）", "invisible-char"), ("units.csv", 4, "单位类别（unit_group）", "invisible-char")}
    assert "U+200B" in problems[0].render() + problems[1].render() and "U+202E" in problems[0].render() + problems[1].render()


def test_invisible_characters_are_removed_from_names_and_said(tmp_path):
    raw = copy_fixture(tmp_path)
    edit(raw, "units", "002,大楼街道", "002,大楼\u202e街道\u200b")
    ev = evidence.read(raw)
    assert ev.units.set_index("unit_id").loc["002", "unit_name"] == "大楼街道"
    [n] = [n for n in ev.notes if n.rule == "invisible-removed"]
    assert (n.row, n.severity) == (3, "warning") and "U+202E、U+200B" in n.message_zh


def test_no_invisible_character_reaches_a_tidy_table(tmp_path):
    from assessment.values import has_invisible

    raw = copy_fixture(tmp_path)
    edit(raw, "units", "002,大楼街道", "002,大楼\u2066街道\u2069")
    edit(raw, "events", "E005,002,A4,2023-03-02,3,,,,", "E005,002,A4,2023-03-02,3,,,\ufeff来源\u00ad,备注\x07")
    ev = evidence.read(raw)
    for df in (ev.units, ev.events, ev.facts):
        for c in df.columns:
            assert not has_invisible(df[c]).any(), c


def test_an_events_table_with_only_its_header_is_refused_unless_declared(tmp_path):
    raw = copy_fixture(tmp_path)
    header = (raw / "events.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    (raw / "events.csv").write_text(header + "\n", encoding="utf-8")
    [p] = refused(raw)
    assert (p.file, p.row, p.rule) == ("events.csv", 1, "table-empty") and "--no-events" in p.render()
    ev = evidence.read(raw, no_events=True)
    assert len(ev.events) == 0 and [n.rule for n in ev.notes] == ["no-events"]


def test_a_framework_that_scores_no_events_needs_no_event_rows(tmp_path):
    """sihong-digital-gov-2023 scores targets, deadlines and checklists only: its header-only events
    table is no sign of missing evidence (the refusal is for frameworks that score events)."""
    from assessment import stages

    raw = copy_fixture(tmp_path)
    header = (raw / "events.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    (raw / "events.csv").write_text(header + "\n", encoding="utf-8")
    assert len(evidence.read(raw, events_required=False).events) == 0
    assert stages.scores_events("sihong-new-media-2023") and not stages.scores_events("sihong-digital-gov-2023")


def test_declaring_no_events_with_events_is_a_contradiction(tmp_path):
    [p] = refused(copy_fixture(tmp_path), no_events=True)
    assert (p.rule, p.row) == ("no-events-contradiction", 2)


def test_an_empty_units_table_is_refused_and_an_empty_facts_table_is_not(tmp_path):
    raw = copy_fixture(tmp_path)
    (raw / "facts.csv").write_text("单位编码,指标编码,值,备注\n", encoding="utf-8")
    assert len(evidence.read(raw).facts) == 0
    (raw / "units.csv").write_text("单位编码,单位名称,单位类别\n", encoding="utf-8")
    assert [p.rule for p in refused(raw)] == ["table-empty"]


@pytest.mark.parametrize("quantity, rule", [("inf", "quantity-not-finite"), ("-inf", "quantity-not-finite"), ("nan", "quantity-not-finite"),
                                            ("1e400", "quantity-not-finite"), ("1e309", "quantity-not-finite"),
                                            ("1000001", "quantity-too-large"), ("99999999999999999999", "quantity-too-large"),
                                            ('"1,5"', "quantity-number"), ("0x10", "quantity-number")])
def test_quantities_that_are_no_finite_bounded_number_are_refused(tmp_path, quantity, rule):
    raw = copy_fixture(tmp_path)
    edit(raw, "events", "E005,002,A4,2023-03-02,3", f"E005,002,A4,2023-03-02,{quantity}")
    [p] = refused(raw)
    assert (p.row, p.column, p.rule) == (6, "数量（quantity）", rule)


def test_a_thousands_separator_is_read(tmp_path):
    raw = copy_fixture(tmp_path)
    edit(raw, "events", "E005,002,A4,2023-03-02,3", 'E005,002,A4,2023-03-02,"1,000"')
    assert evidence.read(raw).events.set_index("event_id").loc["E005", "quantity"] == 1000


def test_a_fact_number_that_is_not_finite_is_refused(tmp_path):
    raw = copy_fixture(tmp_path)
    edit(raw, "facts", "003,B1.c,否,", "003,B1.c,-Infinity,")
    [p] = refused(raw)
    assert (p.file, p.row, p.rule) == ("facts.csv", 10, "number-not-finite")


@pytest.mark.parametrize("old, new, rule, column", [
    ("002,大楼街道", "002," + "大" * 101, "too-long", "单位名称（unit_name）"),
    ("002,大楼街道", "002," + "\U00020000" * 51, "too-long", "单位名称（unit_name）"),  # 51 characters, 204 bytes
    ("002,大楼街道", "0" * 33 + ",大楼街道", "too-long", "单位编码（unit_id）"),
])
def test_names_and_codes_past_their_bounds_are_refused(tmp_path, old, new, rule, column):
    raw = copy_fixture(tmp_path)
    edit(raw, "units", old, new)
    [p] = refused(raw)
    assert (p.row, p.rule, p.column) == (3, rule, column) and str(evidence.MAX_NAME_CHARS if "名称" in column else evidence.MAX_CODE_CHARS) in p.message_zh


def test_a_csv_of_200000_columns_is_refused_at_once(tmp_path):
    import time

    raw = copy_fixture(tmp_path)
    header = ",".join("c" for _ in range(200_000))
    (raw / "events.csv").write_text(header + "\n" + header + "\n", encoding="utf-8")
    t0 = time.perf_counter()
    [p] = refused(raw)
    assert p.rule == "too-many-columns" and str(evidence.MAX_COLUMNS) in p.message_zh
    assert time.perf_counter() - t0 < 10  # the bound is about seconds, not minutes


def test_a_header_below_title_rows_is_found_and_rows_keep_their_excel_numbers(tmp_path):
    book = to_workbook(FIXTURE, tmp_path / "book")
    wb = openpyxl.load_workbook(book / "evidence.xlsx")
    ws = wb["事件"]
    ws.insert_rows(1, 2)
    ws["A1"] = "2023年度考评事件登记表"
    ws["D10"] = "2023-02-30"  # E007's date, now on row 10
    wb.save(book / "evidence.xlsx")
    problems = refused(book)
    assert [(p.sheet, p.row, p.rule) for p in problems] == [("事件", 10, "date-format")]
    ws["D10"] = "2023-03-04"
    wb.save(book / "evidence.xlsx")
    ev = evidence.read(book)
    assert ev.events["_row"].iloc[0] == 4
    [n] = [n for n in ev.notes if n.rule == "header-row"]
    assert (n.sheet, n.row) == ("事件", 3) and "表头位于第 3 行" in n.message_zh


def test_a_csv_title_row_and_blank_lines_keep_row_numbers(tmp_path):
    raw = copy_fixture(tmp_path)
    text = (raw / "events.csv").read_text(encoding="utf-8-sig")
    lines = ("事件登记表\n\n" + text).splitlines()
    lines.insert(5, "")
    (raw / "events.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    ev = evidence.read(raw)
    rows = ev.events.set_index("event_id")["_row"]
    assert rows["E001"] == 4 and rows["E002"] == 5 and rows["E003"] == 7  # the blank line 6 counts, as in Excel


def test_a_unit_code_typed_as_a_number_gets_a_leading_zero_hint(tmp_path):
    book = to_workbook(FIXTURE, tmp_path / "book")
    wb = openpyxl.load_workbook(book / "evidence.xlsx")
    wb["事件"]["B11"] = 3.0
    wb.save(book / "evidence.xlsx")
    ev = evidence.read(book)
    [n] = [n for n in ev.notes if n.rule == "leading-zeros"]
    assert (n.sheet, n.row) == ("事件", 11) and "003" in n.message_zh


def test_all_reading_problems_of_all_tables_come_in_one_round(tmp_path):
    book = to_workbook(FIXTURE, tmp_path / "book")
    wb = openpyxl.load_workbook(book / "evidence.xlsx")
    wb["单位"]["C1"] = "单位类型"  # a header problem in one sheet
    wb["事件"]["E4"] = "=2*5"  # a formula in another
    wb["事件"]["D8"] = "2023-02-30"  # and a bad cell in the same sheet
    wb["指标事实"]["A5"] = "00\u200b3"  # and an invisible character in a third
    wb.save(book / "evidence.xlsx")
    rules = sorted(p.rule for p in refused(book))
    assert rules == ["column-missing", "date-format", "formula", "invisible-char"]


def _office_workbook(path: Path, merge_title: str | None, extra_merge: tuple[str, str] | None = None) -> None:
    """The fixture as an office types it: each sheet under a title row merged across its columns."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, sheet in (("units", "单位"), ("events", "事件"), ("facts", "指标事实")):
        df = pd.read_csv(FIXTURE / f"{name}.csv", dtype=str, keep_default_na=False)
        ws = wb.create_sheet(sheet)
        ws.append([f"2023年度{sheet}登记表"])
        ws.append(list(df.columns))
        for row in df.itertuples(index=False):
            ws.append(list(row))
        if merge_title:
            ws.merge_cells(merge_title.replace("END", openpyxl.utils.get_column_letter(len(df.columns))))
    if extra_merge:
        wb[extra_merge[0]].merge_cells(extra_merge[1])
    wb.save(path)


def test_a_merged_title_above_the_header_reads_like_the_csv(tmp_path):
    """A title merged across the columns above the header is a title, not data: the workbook reads as
    the CSV files do, with the header-row note; a merge that reaches the header or the data is refused."""
    raw = tmp_path / "raw"
    raw.mkdir()
    _office_workbook(raw / "证据.xlsx", "A1:END1")
    ev = evidence.read(raw)
    direct = evidence.read(FIXTURE)
    pd.testing.assert_frame_equal(ev.events.drop(columns=[c for c in ev.events.columns if c.startswith("_")]).reset_index(drop=True),
                                  direct.events.drop(columns=[c for c in direct.events.columns if c.startswith("_")]).reset_index(drop=True),
                                  check_dtype=False)
    notes = [n for n in ev.notes if n.rule == "header-row"]
    assert {n.sheet for n in notes} == {"单位", "事件", "指标事实"} and all(n.row == 2 for n in notes)

    for where, sheet, ref in (("into the header", "事件", "A1:A2"), ("in the data", "单位", "C3:C4")):
        (raw / "证据.xlsx").unlink()
        _office_workbook(raw / "证据.xlsx", None, (sheet, ref))
        with pytest.raises(EvidenceError) as exc:
            evidence.read(raw)
        assert [(p.sheet, p.value) for p in exc.value.problems if p.rule == "merged-cells"] == [(sheet, ref)], where
