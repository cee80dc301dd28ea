"""Per-unit forms out (`template --units`) and back (`collect`), end to end through the CLI.

The small fixture's units get their forms; a script fills each form with that unit's own rows of the
fixture, as an office would by hand; `collect` merges them; scoring the merged folder gives the
same unit scores as the fixture given directly."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import load_workbook

from assessment import cli, evidence, forms, frameworks, scoring

from bundles import make_bundle

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def sent(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sent") / "forms"
    assert cli.main(["template", "--framework", FW, "--units", str(FIXTURE / "units.csv"), "--out", str(out)]) == 0
    return out


def fixture_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    ev = pd.read_csv(FIXTURE / "events.csv", dtype=str, keep_default_na=False)
    facts = pd.read_csv(FIXTURE / "facts.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    facts.columns = ["unit_id", "indicator", "value", "note"]
    return ev, facts


def copy_forms(sent: Path, dest: Path) -> Path:
    shutil.copytree(sent, dest)
    return dest


def fill(path: Path, events: pd.DataFrame, facts: pd.DataFrame, ids: bool = True) -> None:
    """Type rows into a form as an office would: values only, the prefilled unit code left as it is."""
    wb = load_workbook(path)
    ws = wb["事件"]
    for i, r in enumerate(events.itertuples(), start=2):
        if ids:
            ws[f"A{i}"] = r.event_id
        if r.unit_id != ws[f"B{i}"].value:
            ws[f"B{i}"] = r.unit_id  # a misreported row (the sheet is protected in Excel; a script writes anyway)
        ws[f"C{i}"] = r.indicator
        ws[f"D{i}"] = dt.date.fromisoformat(r.date)
        ws[f"E{i}"] = int(r.quantity)
        ws[f"F{i}"] = r.level or None
    fs = wb["指标事实"]
    for i, r in enumerate(facts.itertuples(), start=2):
        fs[f"B{i}"] = r.indicator
        fs[f"C{i}"] = r.value
    wb.save(path)


def fill_all(folder: Path, ids_for: set[str] | None = None, skip: set[str] = frozenset()) -> None:
    """Each unit's own fixture rows into its own form (ids typed only for `ids_for`, all when None)."""
    ev, facts = fixture_tables()
    sent_list = pd.read_csv(folder / forms.UNITS_SENT, dtype=str)
    for r in sent_list.itertuples():
        if r.unit_id in skip:
            continue
        fill(folder / r.file, ev[ev["unit_id"] == r.unit_id], facts[facts["unit_id"] == r.unit_id],
             ids=ids_for is None or r.unit_id in ids_for)


def collect(folder: Path, out: Path, *extra: str) -> int:
    return cli.main(["collect", str(folder), "--framework", FW, "--out", str(out), *extra])


def test_round_trip_gives_the_fixtures_scores(sent, published_small, tmp_path, capsys):
    """template --units → filled by script → collect → a real `assessment run`: the same scores as the
    fixture's evidence given directly (published_small is that run), and the same line items but for
    the ids 002 left empty and collect assigned."""
    folder = copy_forms(sent, tmp_path / "back")
    ids_for = {u for u in pd.read_csv(FIXTURE / "units.csv", dtype=str)["单位编码"] if u != "002"}  # 002 leaves its ids empty
    fill_all(folder, ids_for=ids_for)
    before = {p.name: sha(p) for p in folder.iterdir()}
    assert collect(folder, tmp_path / "raw") == 0
    assert {p.name: sha(p) for p in folder.iterdir()} == before  # the returned workbooks are only read
    out = capsys.readouterr().out
    assert "已填写 filled 12" in out and "事件 46 行" in out and "指标事实 35 行" in out

    code = cli.main(["run", "--county", "sihong", "--year", "2023", "--framework", "sihong-new-media-2023",
                     "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "merged")])
    assert code == 0, capsys.readouterr().err
    merged = tmp_path / "merged" / "sihong" / "2023"
    assert (published_small / "scores" / "unit_scores.csv").read_bytes() == (merged / "scores" / "unit_scores.csv").read_bytes()
    a = pd.read_csv(published_small / "scores" / "line_items.csv", dtype=str)
    b = pd.read_csv(merged / "scores" / "line_items.csv", dtype=str)
    pd.testing.assert_frame_equal(a[a["unit_id"] != "002"].reset_index(drop=True), b[b["unit_id"] != "002"].reset_index(drop=True))
    assert b.loc[b["unit_id"] == "002", "evidence_ids"].fillna("").str.contains("002-").any()
    pd.testing.assert_frame_equal(a.drop(columns=["evidence_ids", "explanation"], errors="ignore"),
                                  b.drop(columns=["evidence_ids", "explanation"], errors="ignore"))


def test_empty_ids_are_assigned_in_row_order_and_rows_keep_their_workbook_row(sent, tmp_path):
    folder = copy_forms(sent, tmp_path / "back")
    fill_all(folder, ids_for={"001"}, skip={"003", "004", "005", "006", "101", "102", "103", "104", "105", "106"})
    assert collect(folder, tmp_path / "raw") == 0
    ev = pd.read_csv(tmp_path / "raw" / "events.csv", dtype=str, encoding="utf-8-sig")
    assert list(ev["事件编号"]) == ["E001", "E002", "E003", "E004", "002-001", "002-002", "002-003", "002-004", "002-005", "002-006"]
    rows = pd.read_csv(tmp_path / "raw" / forms.COLLECTED_ROWS, dtype=str, encoding="utf-8-sig")
    r = rows[rows["event_id"] == "002-003"].iloc[0]
    assert (r["table"], r["row"], r["file"], r["sheet"], r["source_row"], r["event_id_assigned"]) == \
        ("events", "8", "002-大楼街道.xlsx", "事件", "4", "是")
    f = rows[rows["table"] == "facts"].iloc[3]
    assert (f["unit_id"], f["file"], f["sheet"], f["source_row"]) == ("002", "002-大楼街道.xlsx", "指标事实", "2")
    # the collected folder reads without a word about the two records beside the tables
    assert not [n for n in evidence.read(tmp_path / "raw").notes if n.rule == "file-unused"]


def test_units_that_returned_nothing_are_listed(sent, tmp_path, capsys):
    folder = copy_forms(sent, tmp_path / "back")
    fill_all(folder, skip={"102"})
    (folder / "103-县公安局.xlsx").unlink()
    (folder / "104-县民政局.xlsx").unlink()
    assert collect(folder, tmp_path / "raw") == 0
    summary = pd.read_csv(tmp_path / "raw" / forms.SUMMARY, dtype=str, encoding="utf-8-sig").set_index("unit_id")
    assert summary.loc["102", ["returned", "events", "facts", "status"]].tolist() == ["是", "0", "0", "交回但未填写"]
    assert summary.loc["103", ["returned", "status"]].tolist() == ["否", "未交回"]
    assert summary.loc["101", ["returned", "events", "facts", "status"]].tolist() == ["是", "6", "3", "已填写"]
    out = capsys.readouterr().out
    assert "102 县教育局（交回但未填写）、103 县公安局（未交回）、104 县民政局（未交回）" in out
    assert "未交回 not returned 2" in out


def test_a_row_of_another_unit_is_refused_where_it_is(sent, tmp_path, capsys):
    folder = copy_forms(sent, tmp_path / "back")
    fill_all(folder)
    ev, facts = fixture_tables()
    mine = ev[ev["unit_id"] == "001"].copy()
    mine.loc[mine.index[2], "unit_id"] = "002"  # the third row of 001's form reports 002's event
    fill(folder / "001-青阳街道.xlsx", mine, facts[facts["unit_id"] == "001"])
    assert collect(folder, tmp_path / "raw") == 2
    err = capsys.readouterr().err
    assert "文件 001-青阳街道.xlsx，工作表 事件，第 4 行，列 单位编码（unit_id），值 “002”：本表格属于单位 001，不能填报其他单位（002）的记录" in err
    assert not (tmp_path / "raw").exists()


def test_an_id_used_in_two_workbooks_is_refused_naming_both(sent, tmp_path, capsys):
    folder = copy_forms(sent, tmp_path / "back")
    ev, facts = fixture_tables()
    ev.loc[ev["event_id"] == "E005", "event_id"] = "E001"  # 002's first event takes 001's id
    for unit, name in (("001", "001-青阳街道.xlsx"), ("002", "002-大楼街道.xlsx")):
        fill(folder / name, ev[ev["unit_id"] == unit], facts[facts["unit_id"] == unit])
    assert collect(folder, tmp_path / "raw") == 2
    err = capsys.readouterr().err
    assert ("文件 002-大楼街道.xlsx，工作表 事件，第 2 行，列 事件编号（event_id），值 “E001”："
            "事件编号与 文件 001-青阳街道.xlsx，工作表 事件，第 2 行 的事件编号重复") in err


def test_a_workbook_of_a_unit_not_sent_and_a_file_not_listed_are_refused(sent, tmp_path, capsys):
    folder = copy_forms(sent, tmp_path / "back")
    units = pd.read_csv(FIXTURE / "units.csv", dtype=str)
    extra = tmp_path / "units_extra.csv"
    pd.concat([units, pd.DataFrame([{"单位编码": "999", "单位名称": "县外来局", "单位类别": "县直部门"}])]).to_csv(extra, index=False)
    assert cli.main(["template", "--framework", FW, "--units", str(extra), "--out", str(tmp_path / "other")]) == 0
    shutil.copy(tmp_path / "other" / "999-县外来局.xlsx", folder)
    shutil.copy(folder / "001-青阳街道.xlsx", folder / "001-青阳街道(1).xlsx")  # saved twice by a browser
    assert collect(folder, tmp_path / "raw") == 2
    err = capsys.readouterr().err
    assert "文件 999-县外来局.xlsx：该工作簿不在下发清单 units_sent.csv 中，未回收" in err
    assert "文件 999-县外来局.xlsx，工作表 单位，第 2 行，列 单位编码（unit_id），值 “999”：该表格所属单位不在下发清单 units_sent.csv 中" in err
    assert "文件 001-青阳街道(1).xlsx，工作表 单位，第 2 行，列 单位编码（unit_id），值 “001”：该文件不在下发清单中；表格是单位 001 的，其文件应为 001-青阳街道.xlsx" in err


def test_an_indicator_that_does_not_apply_is_refused(tmp_path, capsys):
    units = tmp_path / "units.csv"
    units.write_text("单位编码,单位名称,单位类别\nD01,思明区,区人民政府\nX01,市信息中心,市信息中心\n", encoding="utf-8")
    fw_id = "xiamen-website-new-media-2023"
    assert cli.main(["template", "--framework", fw_id, "--units", str(units), "--out", str(tmp_path / "forms")]) == 0
    fw = frameworks.load(fw_id)
    app = scoring.applicability(fw, pd.DataFrame({"unit_id": ["D01", "X01"], "unit_name": ["思明区", "市信息中心"],
                                                  "unit_group": ["区人民政府", "市信息中心"]}))
    only_district = [c for c in app.columns if app.at["D01", c] and not app.at["X01", c]]
    assert only_district
    wb = load_workbook(tmp_path / "forms" / "X01-市信息中心.xlsx")
    listed = {str(c.value).strip() for c in wb["说明"]["A"][1:] if c.value}
    assert not listed & set(only_district)
    wb_d = load_workbook(tmp_path / "forms" / "D01-思明区.xlsx")
    listed_d = {str(c.value).strip() for c in wb_d["说明"]["A"][1:] if c.value}
    assert set(only_district) <= listed_d
    # …and a row with such an indicator is refused at collection, where it is
    event_code = next(c for c in only_district if c in set(v.value for v in wb_d["下拉列表"]["B"][1:]))
    ws = wb["事件"]
    ws["A2"], ws["C2"], ws["D2"] = "X-1", event_code, dt.date(2023, 5, 1)
    wb.save(tmp_path / "forms" / "X01-市信息中心.xlsx")
    assert cli.main(["collect", str(tmp_path / "forms"), "--framework", fw_id, "--out", str(tmp_path / "raw")]) == 2
    err = capsys.readouterr().err
    assert f"文件 X01-市信息中心.xlsx，工作表 事件，第 2 行，列 指标编码（indicator），值 “{event_code}”：该指标编码不适用于单位 X01" in err


def test_forms_are_byte_identical_and_carry_the_unit_locked(sent, tmp_path):
    again = tmp_path / "again"
    assert cli.main(["template", "--framework", FW, "--units", str(FIXTURE / "units.csv"), "--out", str(again)]) == 0
    assert sorted(p.name for p in again.iterdir()) == sorted(p.name for p in sent.iterdir())
    for p in sent.iterdir():
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name
    listed = pd.read_csv(sent / forms.UNITS_SENT, dtype=str, encoding="utf-8-sig")
    assert all(sha(sent / r.file) == r.sha256 for r in listed.itertuples())
    wb = load_workbook(sent / "003-城头乡.xlsx")
    ev, unit = wb["事件"], wb["单位"]
    assert [c.value for c in unit[2]] == ["003", "城头乡", "乡镇街道"]
    assert ev.protection.sheet and unit.protection.sheet and wb.security.lockStructure
    assert ev["B2"].value == "003" and ev["B2"].protection.locked and ev["B2000"].value == "003"
    assert not ev["A2"].protection.locked and not ev["C2"].protection.locked and ev["A1"].protection.locked
    assert wb["指标事实"]["A2"].value == "003" and not wb["指标事实"]["B2"].protection.locked
    assert wb["下拉列表"].sheet_state == "hidden"
    checks = {str(dv.sqref): dv.formula1 for dv in ev.data_validations.dataValidation}
    assert checks["C2:C2000"].startswith("='下拉列表'!") and "F2:F2000" in checks and "B2:B2000" in checks
    # the same forms asked for again into their own folder: left as they are; a folder with other files: refused
    assert cli.main(["template", "--framework", FW, "--units", str(FIXTURE / "units.csv"), "--out", str(again)]) == 0
    (again / "001-青阳街道.xlsx").write_bytes(b"returned")
    assert cli.main(["template", "--framework", FW, "--units", str(FIXTURE / "units.csv"), "--out", str(again)]) == 2
    assert (again / "001-青阳街道.xlsx").read_bytes() == b"returned"


def test_a_bad_units_table_is_refused_where_it_is(tmp_path, capsys):
    units = tmp_path / "units.csv"
    units.write_text("单位编码,单位名称,单位类别\n001,青阳街道,乡镇\n002,青阳街道,县直部门\n", encoding="gb18030")
    assert cli.main(["template", "--framework", FW, "--units", str(units), "--out", str(tmp_path / "forms")]) == 2
    err = capsys.readouterr().err
    assert "文件 units.csv，第 2 行，列 单位类别（unit_group），值 “乡镇”：单位类别不是框架 sihong-new-media-2023 的单位类别" in err
    assert "文件 units.csv，第 3 行，列 单位名称（unit_name），值 “青阳街道”：与第 2 行重复" in err
    assert not (tmp_path / "forms").exists()


def test_office_findings_are_collected_with_their_own_provenance(sent, tmp_path):
    folder = copy_forms(sent, tmp_path / "back")
    fill_all(folder)
    (folder / "office_findings.csv").write_text("事件编号,单位编码,指标编码,日期,数量,来源\n,001,A4,2023-09-09,2,县政府办公室抽查\n"
                                                ",106,A2,2023-09-10,1,县政府办公室抽查\n", encoding="utf-8")  # ids left to collect
    assert collect(folder, tmp_path / "raw") == 0
    ev = pd.read_csv(tmp_path / "raw" / "events.csv", dtype=str, encoding="utf-8-sig")
    assert list(ev["事件编号"].iloc[-2:]) == ["F-001", "F-002"] and list(ev["来源"].iloc[-2:]) == ["县政府办公室抽查"] * 2
    rows = pd.read_csv(tmp_path / "raw" / forms.COLLECTED_ROWS, dtype=str, encoding="utf-8-sig")
    assert rows[rows["event_id"] == "F-002"][["file", "source_row"]].values.tolist() == [["office_findings.csv", "3"]]
    # the findings change 001's score (A4 −2) and nothing of the others but 106 (A2 −5)
    fw = frameworks.load(FW)
    merged = scoring.score(fw, evidence.read(tmp_path / "raw")).unit_scores.set_index("unit_id")["total"]
    direct = scoring.score(fw, evidence.read(FIXTURE)).unit_scores.set_index("unit_id")["total"]
    diff = (direct - merged).fillna(0)
    assert diff[diff != 0].round(6).to_dict() == {"001": 2.0, "106": 5.0}


def test_a_collected_folder_is_replaced_whole_and_only_if_it_holds_nothing_else(sent, tmp_path, capsys):
    folder = copy_forms(sent, tmp_path / "back")
    fill_all(folder)
    raw = tmp_path / "raw"
    assert collect(folder, raw) == 0
    first = (raw / "events.csv").read_bytes()
    assert collect(folder, raw) == 0 and (raw / "events.csv").read_bytes() == first  # same forms, same bytes
    (raw / "复核.csv").write_text("x", encoding="utf-8")
    assert collect(folder, raw) == 2
    assert "复核.csv" in capsys.readouterr().err and (raw / "events.csv").read_bytes() == first
