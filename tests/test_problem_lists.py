"""Problem lists imported through a mapping (`assessment import`), then scored like any evidence.

The example list (examples/problem_list, synthetic) has 11 rows under two title rows (header on row
3, rows 4–14); rows 11 (an account that is no unit's, a problem the mapping does not know) and 12
(a problem the mapping does not know) are meant not to match.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import yaml

from assessment import csvio, frameworks, problem_lists
from assessment.cli import main
from assessment.problem_lists import MappingError
from bundles import make_bundle

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "problem_list"
LIST_XLSX = EXAMPLE / "监测平台导出（合成示例）.xlsx"
LIST_CSV = EXAMPLE / "监测平台导出（合成示例）.csv"
MAPPING = EXAMPLE / "mapping.yaml"
DEMO = ROOT / "data" / "raw" / "demo" / "2023"
FW = "sihong-new-media-2023"


def _example_module():
    spec = importlib.util.spec_from_file_location("make_example", EXAMPLE / "make_example.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _mapping(tmp_path: Path, **changes) -> Path:
    """The example mapping with some keys changed (None removes a key); units given by absolute path."""
    spec = yaml.safe_load(MAPPING.read_text(encoding="utf-8"))
    spec["units"] = str(DEMO / "units.csv")
    for k, v in changes.items():
        if v is None:
            spec.pop(k, None)
        else:
            spec[k] = v
    path = tmp_path / "mapping.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _events(path: Path) -> pd.DataFrame:
    return csvio.read_csv(path, dtype=str).set_index("event_id")


def test_shipped_example_is_what_its_script_writes(tmp_path):
    mod = _example_module()
    assert mod.write_xlsx(tmp_path / "a.xlsx").read_bytes() == LIST_XLSX.read_bytes()
    assert mod.write_csv(tmp_path / "a.csv").read_bytes() == LIST_CSV.read_bytes()
    assert "合成示例" in LIST_XLSX.name and "合成示例" in MAPPING.read_text(encoding="utf-8")


def test_unmatched_rows_stop_the_import_and_are_listed_with_their_rows(tmp_path, capsys):
    out = tmp_path / "events.csv"
    out.write_text("previous\n", encoding="utf-8")
    rc = main(["import", str(LIST_XLSX), "--mapping", str(MAPPING), "--framework", FW, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2
    assert out.read_text(encoding="utf-8") == "previous\n"  # no events written, the previous file kept
    side = csvio.read_csv(tmp_path / "events.unmatched.csv", dtype=str)
    assert list(side.columns) == problem_lists.UNMATCHED_COLUMNS
    assert side[["行 row", "列 column", "值 value"]].values.tolist() == [
        ["11", "B（账号名称）", "泗洪美食推荐"], ["11", "D（问题描述）", "发布商业广告"], ["12", "D（问题描述）", "页面样式错乱"]]
    assert (side["文件 file"] == LIST_XLSX.name).all() and (side["工作表 sheet"] == "问题清单").all()
    assert "2 行未能匹配" in err and "第 11 行，列 B（账号名称），值 “泗洪美食推荐”" in err and "--allow-unmatched" in err


def test_example_imported_aliases_names_and_precedence(tmp_path, capsys):
    out = tmp_path / "events.csv"
    rc = main(["import", str(LIST_XLSX), "--mapping", str(MAPPING), "--framework", FW, "--out", str(out), "--allow-unmatched"])
    assert rc == 0 and "已导入 9 条事件" in capsys.readouterr().out
    ev = _events(out)
    assert list(csvio.read_csv(out, dtype=str).columns) == ["event_id", "unit_id", "indicator", "date", "quantity", "level", "done_date", "source", "note"]
    assert list(ev.index) == ["JC2023-0004", "JC2023-0005", "JC2023-0006", "JC2023-0007", "JC2023-0008", "JC2023-0009", "JC2023-0010",
                              "JC2023-0013", "JC2023-0014"]
    got = {i: (r.unit_id, r.indicator, r.date) for i, r in ev.iterrows()}
    assert got["JC2023-0004"] == ("0001", "A4", "2023-03-14")  # alias 泗洪青阳发布 → 0001, time of day dropped
    assert got["JC2023-0005"] == ("0005", "A2", "2023-04-02")  # exact unit name 双沟镇, regex 未更新
    assert got["JC2023-0008"] == ("0007", "A4", "2023-07-03")  # "上 塘 镇" matches 上塘镇 (blanks out); 2023年7月3日
    assert got["JC2023-0009"] == ("0010", "A3", "2023-08-21")  # 泗洪公安（微博） matches alias 泗洪公安(微博) (full/half width)
    assert got["JC2023-0010"] == ("0005", "A4", "2023-09-12")  # 无法访问 and 错别字: the first line (错别字 → A4) wins
    assert (ev["quantity"] == "1").all() and (ev["source"] == "县政务新媒体监测平台（合成）").all()
    note = ev.loc["JC2023-0004", "note"]
    assert note.startswith("文章中出现错别字“泗红县”；链接 https://example.invalid/wx/1001；")
    assert "导入自 监测平台导出（合成示例）.xlsx，工作表 问题清单，第 4 行" in note
    # same inputs, same bytes; the CSV export gives the same events (but for the file name in the notes)
    first = out.read_bytes()
    assert main(["import", str(LIST_XLSX), "--mapping", str(MAPPING), "--framework", FW, "--out", str(out), "--allow-unmatched"]) == 0
    assert out.read_bytes() == first
    assert main(["import", str(LIST_CSV), "--mapping", str(MAPPING), "--framework", FW, "--out", str(tmp_path / "c.csv"), "--allow-unmatched"]) == 0
    from_csv = _events(tmp_path / "c.csv")
    assert from_csv.drop(columns="note").equals(ev.drop(columns="note"))
    assert "第 4 行" in from_csv.loc["JC2023-0004", "note"] and "工作表" not in from_csv.loc["JC2023-0004", "note"]


def test_imported_list_is_scored(tmp_path):
    """Merged with the demo county's evidence, the imported findings become deductions citing their event ids."""
    imported = tmp_path / "imported.csv"
    assert main(["import", str(LIST_XLSX), "--mapping", str(MAPPING), "--framework", FW, "--out", str(imported), "--allow-unmatched"]) == 0
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("units.csv", "facts.csv", "dataset.yaml"):
        shutil.copy(DEMO / name, raw / name)
    demo_events = csvio.read_csv(DEMO / "events.csv", dtype=str)
    merged = pd.concat([demo_events, csvio.read_csv(imported, dtype=str)], ignore_index=True)
    csvio.write_csv(merged, raw / "events.csv")
    bundle = make_bundle(raw, tmp_path / "out")
    lines = csvio.read_csv(bundle / "scores" / "line_items.csv", dtype={"unit_id": str, "evidence_ids": str})

    lines = lines.assign(ids=lines["evidence_ids"].fillna("").str.split(r"[;,；， ]+"))

    def deduction(event_id: str) -> list:
        """(unit, indicator, points, explanation) of the A-pool lines citing one imported event."""
        mine = lines[lines["ids"].map(lambda ids: event_id in ids) & lines["indicator"].str.match(r"A\d")]
        return mine[["unit_id", "indicator", "points", "explanation"]].values.tolist()

    # 泗洪财政 以个人名义发布 (row 13) → 0016 A6, 5 points off
    assert deduction("JC2023-0013") == [["0016", "A6", -5.0, "以企业、商会、协会、个人名义发布政务信息，违规发布：2023-11-08 1次，扣5分"]]
    # 泗洪青阳发布 错别字, rows 4 and 14 → 0001 A4, 1 point each
    assert deduction("JC2023-0004") == [["0001", "A4", -1.0, "发布信息内容中出现错别字：2023-03-14 1次，扣1分"]]
    assert deduction("JC2023-0014") == [["0001", "A4", -1.0, "发布信息内容中出现错别字：2023-12-01 1次，扣1分"]]
    # 泗洪公安（微博） 互动回应不及时 (row 9) → 0010 A3
    assert [(u, i, p) for u, i, p, _ in deduction("JC2023-0009")] == [("0010", "A3", -5.0)]
    # every imported event is cited by a line item (none left unused)
    unused = csvio.read_csv(bundle / "scores" / "unused_evidence.csv", dtype=str)
    assert not unused.astype(str).apply(lambda c: c.str.startswith("JC2023")).any().any()
    for eid in ("JC2023-0005", "JC2023-0006", "JC2023-0007", "JC2023-0008", "JC2023-0010"):
        assert deduction(eid), eid


def test_unknown_mapping_keys_are_refused_with_their_path(tmp_path, capsys):
    spec_columns = {"unit": "账号名称", "date": "发现时间", "description": "问题描述", "lnk": "链接"}
    bad = _mapping(tmp_path, columns=spec_columns, indicator=[{"keyword": "错别字", "indicator": "A4"}])
    rc = main(["import", str(LIST_XLSX), "--mapping", str(bad), "--framework", FW, "--out", str(tmp_path / "e.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and not (tmp_path / "e.csv").exists() and not (tmp_path / "e.unmatched.csv").exists()
    assert "不认识的键 “columns.lnk”" in err and "可用：unit、date、description、link" in err
    assert "不认识的键 “indicator”" in err and "indicators" in err
    assert "Extra inputs are not permitted" in err  # the English beside, never alone
    for line in err.strip().splitlines()[:-1]:
        assert line.startswith("错误：文件 ") and "映射文件有误" in line


def test_unquoted_unit_code_in_aliases_gets_a_hint(tmp_path):
    bad = tmp_path / "mapping.yaml"
    bad.write_text(MAPPING.read_text(encoding="utf-8").replace('泗洪教育: "0004"', "泗洪教育: 0004"), encoding="utf-8")
    with pytest.raises(MappingError) as exc:
        problem_lists.load_mapping(bad, frameworks.load(FW))
    (p,) = exc.value.problems
    assert p.column == "aliases.泗洪教育" and "应为文字，现为 “4”" in p.message_zh and "请加引号" in p.message_zh


def test_mapping_indicator_codes_checked_against_the_framework(tmp_path):
    bad = _mapping(tmp_path, indicators=[{"keyword": "错别字", "indicator": "A9"}, {"keyword": "制度", "indicator": "B1"},
                                         {"regex": "更新(", "indicator": "A2"}, {"keyword": "x", "regex": "y", "indicator": "A2"}])
    with pytest.raises(MappingError) as exc:
        problem_lists.import_list(LIST_XLSX, bad, tmp_path / "e.csv", frameworks.load(FW))
    text = exc.value.render()
    assert "indicators[0].indicator：框架 sihong-new-media-2023 中没有可计分的指标 “A9”" in text
    assert "indicators[1].indicator：指标 B1 按指标事实计分" in text
    assert "indicators[2].regex：不是有效的正则表达式" in text
    assert "indicators[3]：每一行应有且只有 keyword" in text


def test_alias_to_a_unit_not_in_the_units_table_is_refused(tmp_path):
    bad = _mapping(tmp_path, aliases={"泗洪青阳发布": "9999"})
    with pytest.raises(MappingError, match="别名指向的单位编码 “9999” 不在单位表"):
        problem_lists.import_list(LIST_XLSX, bad, tmp_path / "e.csv", frameworks.load(FW))


def test_regex_precedence_follows_the_file_order(tmp_path):
    """Row 10 says both 无法访问 and 错别字: with the A5 line first it is A5, with 错别字 first A4."""
    a5_first = [{"regex": r"无法(访问|使用)", "indicator": "A5"}, {"keyword": "错别字", "indicator": "A4"},
                {"regex": "更新|未更新", "indicator": "A2"}, {"keyword": "互动", "indicator": "A3"},
                {"keyword": "个人名义", "indicator": "A6"}, {"regex": ".", "indicator": "A1"}]
    out = tmp_path / "e.csv"
    result = problem_lists.import_list(LIST_XLSX, _mapping(tmp_path, indicators=a5_first), out, frameworks.load(FW), allow_unmatched=True)
    ev = _events(out)
    assert ev.loc["JC2023-0010", "indicator"] == "A5" and ev.loc["JC2023-0006", "indicator"] == "A5"
    assert ev.loc["JC2023-0004", "indicator"] == "A4"
    # the catch-all last line takes what nothing else did (页面样式错乱, 商业广告); the account stays unmatched
    assert ev.loc["JC2023-0012", "indicator"] == "A1"
    assert result.events_path == out and list(result.imported.unmatched["行 row"]) == [11]


def test_title_row_above_the_header_and_merged_unit_cells(tmp_path):
    """A 通报's table: a title merged across, the header on row 3, one unit's cell merged down over its two problems."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "附件"
    ws.append(["2023年第三季度政务新媒体抽查问题清单"])
    ws.append([])
    ws.append(["序号", "账号名称", "问题描述", "发现时间", "链接"])
    ws.append([1, "县教育局", "错别字", "2023-07-01", None])
    ws.append([2, None, "栏目无法使用", "2023-07-02", None])
    ws.append([3, "县科技局", "更新不及时", "2023-07-03", None])
    ws.merge_cells("A1:E1")
    ws.merge_cells("B4:B5")
    src = tmp_path / "通报问题清单.xlsx"
    wb.save(src)
    before = src.read_bytes()
    mapping = _mapping(tmp_path, sheet=None, indicators=[{"keyword": "错别字", "indicator": "A4"}, {"regex": "无法使用", "indicator": "A5"},
                                                          {"keyword": "更新不及时", "indicator": "A2"}])
    out = tmp_path / "e.csv"
    result = problem_lists.import_list(src, mapping, out, frameworks.load(FW))
    ev = _events(out)
    assert ev[["unit_id", "indicator", "date"]].values.tolist() == [["0004", "A4", "2023-07-01"], ["0004", "A5", "2023-07-02"], ["0006", "A2", "2023-07-03"]]
    assert list(ev.index) == ["JC2023-0004", "JC2023-0005", "JC2023-0006"]
    rules = {p.rule for p in result.imported.notes}
    assert {"header-row", "merged-filled"} <= rules
    assert not any(p.rule == "column-unused" for p in result.imported.notes)  # 序号 is in ignore_columns, 链接 mapped
    assert src.read_bytes() == before and len(result.imported.unmatched) == 0


def test_gbk_csv_with_a_bad_date_and_an_unmapped_column(tmp_path, capsys):
    text = ("泗洪县政务新媒体抽查情况（合成）\r\n"
            "账号名称,问题描述,发现时间,链接,整改情况\r\n"
            "泗洪教育,出现错别字,2023-05-06 14:30,,已整改\r\n"
            "县财政局,更新不及时,2023-13-45,,未整改\r\n"
            "县　财政局,以个人名义发布信息,20230808,,已整改\r\n")
    src = tmp_path / "抽查.csv"
    src.write_bytes(text.encode("gbk"))
    before = src.read_bytes()
    out = tmp_path / "e.csv"
    rc = main(["import", str(src), "--mapping", str(_mapping(tmp_path)), "--framework", FW, "--out", str(out), "--allow-unmatched"])
    err = capsys.readouterr().err
    assert rc == 0 and src.read_bytes() == before
    ev = _events(out)
    assert ev[["unit_id", "indicator", "date"]].values.tolist() == [["0004", "A4", "2023-05-06"], ["0016", "A6", "2023-08-08"]]
    assert list(ev.index) == ["JC2023-0003", "JC2023-0005"]  # 县　财政局: the full-width blank is no obstacle
    side = csvio.read_csv(tmp_path / "e.unmatched.csv", dtype=str)
    assert side[["行 row", "列 column", "值 value"]].values.tolist() == [["4", "第 3 列（发现时间）", "2023-13-45"]]
    assert "日期为空或无法识别" in side["原因 reason"].iloc[0]
    assert "第 5 列（整改情况）" in err and "该列未映射" in err  # a column nobody mapped is said, not silently dropped
    assert "1 行未能匹配" in err


def test_no_way_to_match_names_is_refused(tmp_path):
    bad = _mapping(tmp_path, units=None, aliases=None)
    with pytest.raises(MappingError, match="没有办法把名称对应到单位编码"):
        problem_lists.import_list(LIST_XLSX, bad, tmp_path / "e.csv", frameworks.load(FW))
