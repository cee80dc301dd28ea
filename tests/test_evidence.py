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
