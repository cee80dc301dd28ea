"""Years side by side, and the framework diff, with hand-checked numbers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from assessment import cli, compare, evidence, frameworks, scoring

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
ROOT = Path(__file__).resolve().parents[1]


def test_each_unit_beside_last_year():
    now = scoring.score(frameworks.load("sihong-new-media-2023"), evidence.read(FIXTURE)).unit_scores
    previous = pd.DataFrame([
        # unit_id, unit_name, unit_group, total, rank, grade (last year, made up by hand)
        ("001", "青阳街道", "乡镇街道", 95.0, 1, "优秀"),
        ("101", "县发改局", "县直部门", 92.0, 1, "优秀"),
        ("X03", "城头乡", "乡镇街道", 58.0, 6, "不合格"),  # re-coded this year: matched by name
        ("105", "县财政局", "县直部门", 70.0, 4, "合格"),
    ], columns=["unit_id", "unit_name", "unit_group", "total", "rank", "grade"])
    t = compare.compare_years(now, previous).set_index("unit_id")
    # 001: 100 now, 95 before → +5, rank 1 → 1, grade unchanged
    assert (t.loc["001", "total_change"], t.loc["001", "rank_change"], t.loc["001", "grade_changed"]) == (5, 0, False)
    # 101: 84 (rank 3, 良好) now, 92 (rank 1, 优秀) before → −8, down 2 places, grade changed
    assert (t.loc["101", "total_change"], t.loc["101", "rank_change"], t.loc["101", "grade_changed"]) == (-8, -2, True)
    # 003 (城头乡): 72 (rank 3, 合格) now, 58 (rank 6, 不合格) before → +14, up 3 places
    assert (t.loc["003", "total_prev"], t.loc["003", "total_change"], t.loc["003", "rank_change"]) == (58, 14, 3)
    # 105 is vetoed now: no total, so no change in total, but its grade changed 合格 → 不合格
    assert pd.isna(t.loc["105", "total_change"]) and t.loc["105", "grade_changed"]
    # 002 is new: nothing to compare
    assert pd.isna(t.loc["002", "total_prev"]) and not t.loc["002", "grade_changed"]


def test_framework_diff_lists_added_removed_changed(tmp_path, monkeypatch, capsys):
    data = yaml.safe_load((ROOT / "frameworks" / "sihong-new-media-2023.yaml").read_text(encoding="utf-8"))
    data["id"], data["year"] = "sihong-new-media-2022", 2022
    c = next(n for n in data["indicators"] if n["code"] == "C")
    c["children"] = [ch for ch in c["children"] if ch["code"] != "C4"]  # 2022 had no 表彰表扬
    a = next(n for n in data["indicators"] if n["code"] == "A")
    a["children"][3]["rule"]["per"] = 2  # A4 was 2 per typo
    a["children"].append({"code": "A7", "name": "旧指标", "rule": {"type": "deduct", "per": 1}, "basis": "2022"})
    current = (ROOT / "frameworks" / "sihong-new-media-2023.yaml").read_text(encoding="utf-8")
    (tmp_path / "sihong-new-media-2023.yaml").write_text(current, encoding="utf-8")
    (tmp_path / "sihong-new-media-2022.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ASSESSMENT_FRAMEWORKS", str(tmp_path))
    d = compare.diff_frameworks(frameworks.load("sihong-new-media-2022"), frameworks.load("sihong-new-media-2023"))
    rows = {(r.change.split()[0], r.code, r.field) for r in d.itertuples()}
    assert ("新增", "C4", "") in rows and ("删除", "A7", "") in rows and ("修改", "A4", "rule") in rows
    assert ("修改", "(框架)", "year") in rows
    a4 = d[(d["code"] == "A4") & (d["field"] == "rule")].iloc[0]
    assert '"per": 2' in a4["before"] and '"per": 1' in a4["after"]
    assert ("修改", "(框架)", "id") in rows  # every key of the framework is compared, its id included
    assert len(d) == 5  # the id, the year, A4's rule, A7 removed, C4 added: nothing else differs
    assert cli.main(["frameworks", "diff", "sihong-new-media-2022", "sihong-new-media-2023"]) == 0
    assert "共 5 处差异" in capsys.readouterr().out
