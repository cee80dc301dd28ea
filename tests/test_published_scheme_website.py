"""A second published scheme end to end: the 肇庆 2019 指标说明 read as a *website* scheme, whose
veto items are worded as in the 全国政府网站普查评分表 (tests/fixtures/scheme_website, sources and
the analyst's choices in the file). `assessment run`, then unit_scores.csv, line_items.csv, 通报.

Framework: V 单项否决 (V2 栏目不更新 at 5 or more); A 网站可用性 25 pool (A1 首页 −5 each, at most 15;
A2 链接 −1 each, at most 10); B 信息更新情况 25 pool; C 互动回应情况 30 pool; D 办事服务 20 pool,
only for 县（市、区） and 有对外服务职能的市直单位, spread to A, B, C for the others; E 加分 25
(part: bonus; E1 best level 国家级 10 / 省级 5; E2 3 each, at most 20), only above 80.
veto_score 59 for 县（市、区） (the evidence writes 县(市、区)).

Hand-worked:
- Q1 端州区: A 25 − 5 − min(12, 10) = 10, B 25 − 2 = 23, C 30, D 20 → 83 > 80 → + 省级 5 + 2 × 3 = 11 → 94 优秀, rank 1.
- Q2 鼎湖区: V2 with 5 columns (exactly at min_count) → vetoed, 59 by the scheme; its A1 finding is unused.
- Q3 高要区: V2 with 4 columns (one below) → not vetoed; A 20, B 25, C 30 − 26 = 4, D 20 − 10 = 10 → 59;
  not above 80, so its 3-point bonus is gated → 59 不合格, tied with Q2: both rank 2.
- S1 市水务局: A 25 − 10 = 15, B 25 − 10 = 15, C 30, D 20 → exactly 80 → not above 80: 国家级 10 gated → 80 良好, rank 2.
- S2 市医保局: A 25 − 9 = 16, B 15, C 30, D 20 → 81 → 国家级 10 + 6 × 3 = 28 → part cap 25 → 106 优秀, rank 1.
- N1 市档案馆: no 办事服务: 20 spread as 6.67 + 6.67 + 6.66 to A, B, C (booked to the cent, in framework
  order) → 31.67 − 2 + 31.67 + 36.66 = 98 (the proportional rule would give 78 × 100/80 = 97.5) → 优秀, rank 1.
- N2 市地方志办: V1 → vetoed, 市直单位 have no veto_score → no total, ranked last (2).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from docx import Document

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "scheme_website"


def _run(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assessment.cli", "run", "--county", "zhaoqing", "--year", "2019",
                           "--framework", "zhaoqing-website-2019", "--raw", str(FIX / "raw" / "2019"), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "ASSESSMENT_FRAMEWORKS": str(FIX / "frameworks")})


def _read(bundle: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(bundle / "scores" / name, dtype={"unit_id": str, "evidence_ids": str}, keep_default_na=False,
                       na_values=[""], encoding="utf-8-sig")


def test_website_scheme_scores_by_hand(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bundle = tmp_path / "zhaoqing" / "2019"
    us = _read(bundle, "unit_scores.csv").set_index("unit_id")
    assert us["total"].drop("N2").to_dict() == {"Q1": 94, "Q2": 59, "Q3": 59, "S1": 80, "S2": 106, "N1": 98}
    assert pd.isna(us.loc["N2", "total"])
    assert us["rank"].to_dict() == {"Q1": 1, "Q2": 2, "Q3": 2, "S1": 2, "S2": 1, "N1": 1, "N2": 2}
    assert us["grade"].to_dict() == {"Q1": "优秀", "Q2": "不合格", "Q3": "不合格", "S1": "良好", "S2": "优秀",
                                     "N1": "优秀", "N2": "不合格"}
    assert us.loc[us["vetoed"].astype(str) == "True"].index.tolist() == ["Q2", "N2"]
    assert us.loc["S2", "bonus"] == 25 and us.loc["S1", "bonus"] == 0 and us.loc["Q1", "base"] == 83

    li = _read(bundle, "line_items.csv")
    sums = li.groupby("unit_id")["points"].sum().round(2)
    for uid, total in us["total"].items():
        assert sums.get(uid, 0.0) == (0.0 if pd.isna(total) else total), uid
    spread = li[(li["unit_id"] == "N1") & (li["rule"] == "spread")]
    assert spread[["indicator", "points"]].values.tolist() == [["A", 6.67], ["B", 6.67], ["C", 6.66]]
    q1_cap = li[(li["unit_id"] == "Q1") & (li["indicator"] == "A2") & (li["rule"] == "cap")]
    assert q1_cap["points"].tolist() == [2.0] and "本项最多扣 10 分" in q1_cap["explanation"].iloc[0]
    gate = li[(li["unit_id"] == "S1") & (li["rule"] == "bonus_gate")]
    assert gate["points"].tolist() == [-10.0] and "未高于 80 分" in gate["explanation"].iloc[0]
    assert li[(li["unit_id"] == "S2") & (li["indicator"] == "E") & (li["rule"] == "cap")]["points"].tolist() == [-3.0]
    q2 = li[li["unit_id"] == "Q2"]
    assert q2["rule"].tolist() == ["veto", "veto_score"] and q2["points"].sum() == 59
    assert "ZQ-006" in q2["evidence_ids"].iloc[0]
    assert "ZQ-008" not in set(li["evidence_ids"].dropna())  # Q3's 4 columns: below min_count, no veto line

    unused = _read(bundle, "unused_evidence.csv").set_index("evidence_id")
    assert "单项否决" in unused.loc["ZQ-007", "reason"]          # Q2 vetoed: its A1 finding is not scored
    assert "未达到单项否决的数量" in unused.loc["ZQ-008", "reason"]  # Q3: 4 columns, below 5
    assert "单项否决" in unused.loc["ZQ-022", "reason"]          # N2 vetoed
    cited = set(";".join(li["evidence_ids"].dropna()).split(";")) - {""}
    events = pd.read_csv(FIX / "raw" / "2019" / "events.csv", dtype=str)["事件编号"]
    assert cited | set(unused.index) == set(events) and not cited & set(unused.index)

    doc = Document(next((bundle / "reports").glob("通报*.docx")))
    text = "\n".join([p.text for p in doc.paragraphs] + ["|".join(c.text for c in r.cells) for t in doc.tables for r in t.rows])
    assert "鼎湖区人民政府（单项否决，按方案记59分）" in text
    assert "市地方志办（单项否决）" in text
    for name in us["unit_name"]:
        assert name in text
