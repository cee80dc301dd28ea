"""Text kept verbatim (issue 13 §7): every cell read as other than delivered is recorded with its
cell and its original in evidence/reading_changes.csv, so an auditor can rebuild the delivered value."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pandas as pd

from assessment import csvio, evidence, stages

UNITS = [["单位编码", "单位名称", "单位类别"], ["001", "青阳\u200b街道", "乡镇街道"], ["002", "ＡＢ局", "县直部门"]]
EVENTS = [["事件编号", "单位编码", "指标编码", "日期", "数量", "级别", "办结日期", "来源", "备注"],
          ["E1", "001", "B3", "2023年5月6日", 1, None, None, "抽查检查（合成）", "原样"],
          ["E2", "001", "B3", dt.datetime(2023, 5, 7), "２", None, None, "本级检查", None],
          ["E3", "002", "B3", 45057, 1, None, None, "  本级  检查 ", None]]
FACTS = [["单位编码", "指标编码", "值", "备注"], ["001", "B1.a", "是", None], ["002", "B1.a", "９７％", None]]


def workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in (("单位", UNITS), ("事件", EVENTS), ("指标事实", FACTS)):
        ws = wb.create_sheet(name)
        for r in rows:
            ws.append(r)
    wb.save(path)
    return path


def test_each_changed_cell_is_recorded_with_its_cell_and_original(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    workbook(raw / "evidence.xlsx")
    ev = evidence.read(raw)
    ch = ev.changes
    got = {(r.sheet, r.row, r.column): (r.original, r.normalised, r.change) for r in ch.itertuples()}
    assert got == {
        ("单位", 2, "单位名称（unit_name）"): ("青阳\u200b街道", "青阳街道", "invisible_removed"),
        ("单位", 3, "单位名称（unit_name）"): ("ＡＢ局", "AB局", "normalised"),
        ("事件", 2, "日期（date）"): ("2023年5月6日", "2023-05-06", "date_text"),
        ("事件", 2, "来源（source）"): ("抽查检查（合成）", "抽查检查(合成)", "normalised"),
        ("事件", 3, "数量（quantity）"): ("２", "2", "number_text"),
        ("事件", 4, "日期（date）"): ("45057", "2023-05-11", "date_serial"),
        ("事件", 4, "来源（source）"): ("  本级  检查 ", "本级 检查", "normalised"),
        ("指标事实", 3, "值（value）"): ("９７％", "97%", "normalised"),
    }
    assert set(ch["file"]) == {"evidence.xlsx"}

    # the auditor's reconstruction: the original is the delivered cell, the normalised value is the tidy table's
    wb = openpyxl.load_workbook(raw / "evidence.xlsx")
    tidy = {"单位": ev.units, "事件": ev.events, "指标事实": ev.facts}
    for r in ch.itertuples():
        ws = wb[r.sheet]
        canon = r.column.split("（")[1].rstrip("）")
        header = [c.value for c in ws[1]]
        cell = ws.cell(row=r.row, column=header.index(r.column.split("（")[0]) + 1).value
        assert str(cell) == r.original
        row = tidy[r.sheet][tidy[r.sheet]["_row"] == r.row].iloc[0]
        value = row[canon]
        shown = value.strftime("%Y-%m-%d") if canon == "date" else (f"{value:g}" if canon == "quantity" else value)
        assert shown == r.normalised


def test_reading_changes_travel_with_the_bundle_and_read_back_exactly(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    workbook(raw / "evidence.xlsx")
    p = stages.RunParams(county="demo", year=2023, framework="sihong-new-media-2023", raw_dir=str(raw), out_dir=str(tmp_path / "out"))
    stages.ingest(p)
    path = p.bundle / "evidence" / evidence.CHANGES_FILE
    back = csvio.read_csv(path, dtype=str, keep_default_na=False)
    assert list(back.columns) == evidence.CHANGE_COLUMNS
    assert "  本级  检查 " in set(back["original"]) and "青阳\u200b街道" in set(back["original"])
    first = path.read_bytes()
    stages.ingest(p)
    assert path.read_bytes() == first  # same inputs, same bytes


def test_csv_evidence_without_changes_has_an_empty_record(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    pd.DataFrame(UNITS[1:], columns=UNITS[0]).replace({"青阳\u200b街道": "青阳街道", "ＡＢ局": "AB局"}).to_csv(raw / "units.csv", index=False)
    (raw / "events.csv").write_text("事件编号,单位编码,指标编码,日期,数量\nE1,001,B3,2023-05-06,1\n", encoding="utf-8")
    (raw / "facts.csv").write_text("单位编码,指标编码,值\n001,B1.a,是\n", encoding="utf-8")
    ev = evidence.read(raw)
    assert ev.changes.empty and list(ev.changes.columns) == evidence.CHANGE_COLUMNS
