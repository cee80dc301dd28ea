"""A published scheme's framework keys end to end: `assessment run` on the 肇庆 2019 指标说明
(tests/fixtures/scheme_keys), then unit_scores.csv, line_items.csv and the 通报's text.

Hand-worked (A 发布解读 30 pool, B 20, C 15, D 15, S 办事服务 20 for 县(市、区) only, X 加分 25):
- k2 乙县: A 30 − min(6 × 2, 10) = 20, B 20, C 15, D 15, S 20 → 90 > 80 → + 国家级 10 + 案例 5 = 105.
- k1 甲县: 单项否决 (V1) → 59 (veto_score for 县(市、区)), ranked 2nd of its group.
- c1 市教育局: 办事服务 20 → 5 each to A, B, C, D; A 35 − 5 × 2 = 25, B 25, C 20, D 20 → 90 → + 省级 5 = 95.
- c2 市民政局: V2 4 < 5 (no veto); A 35 − (3 + 2 上级抽查; 3 本级检查 not counted) = 30, B 25, C 20,
  D 0 + 5 → exactly 80: not above 80, the 案例 5 is not counted → 80.
- c3 市税务局: V2 2 + 3 = 5 → 单项否决, 市直单位 have no veto_score: no total, ranked last.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from docx import Document

ROOT = Path(__file__).resolve().parents[1]
FIX = ROOT / "tests" / "fixtures" / "scheme_keys"


def test_published_scheme_keys_end_to_end(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "assessment.cli", "run", "--county", "zhaoqing", "--year", "2019",
                           "--framework", "zhaoqing-new-media-2019", "--raw", str(FIX / "raw" / "2019"), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=900,
                          env={**os.environ, "ASSESSMENT_FRAMEWORKS": str(FIX / "frameworks")})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bundle = out / "zhaoqing" / "2019"
    read = lambda name: pd.read_csv(bundle / "scores" / name, dtype={"unit_id": str}, keep_default_na=False,  # noqa: E731
                                    na_values=[""], encoding="utf-8-sig")
    us = read("unit_scores.csv").set_index("unit_id")
    assert us["total"].drop("c3").to_dict() == {"k2": 105, "k1": 59, "c1": 95, "c2": 80}
    assert pd.isna(us.loc["c3", "total"])
    assert us["rank"].to_dict() == {"k2": 1, "k1": 2, "c1": 1, "c2": 2, "c3": 3}
    assert us["grade"].to_dict() == {"k2": "优秀", "k1": "不合格", "c1": "优秀", "c2": "良好", "c3": "不合格"}
    assert us["vetoed"].astype(str).to_dict() == {"k2": "False", "k1": "True", "c1": "False", "c2": "False", "c3": "True"}
    assert us.loc["k1", "unit_group"] == us.loc["k2", "unit_group"] == "县(市、区)"  # 县（市、区） in the file

    li = read("line_items.csv")
    sums = li.groupby("unit_id")["points"].sum().round(2)
    for uid, total in us["total"].items():
        assert sums.get(uid, 0.0) == (0.0 if pd.isna(total) else total), uid
    why = set(li["explanation"])
    assert {"单项否决，按方案记 59 分", "信息更新不及时：本项最多扣 10 分，已扣满", "办事服务 20 分不适用，平均分配至其他 4 项，各加 5 分",
            "基础得分 80 分，未高于 80 分，加分不计入"} <= why
    assert set(li.loc[li["unit_id"] == "c1", "rule"]) >= {"spread", "best_level"}
    assert li.loc[(li["unit_id"] == "c2") & (li["indicator"] == "A2"), "evidence_ids"].tolist() == ["E09", "E10"]  # E11 本级检查 not counted
    assert li.loc[li["unit_id"] == "c3", "explanation"].tolist() == ["单项否决：栏目不更新累计5个以上，数量合计 5 个，达到 5 个（E13;E14）"]

    doc = Document(next((bundle / "reports").glob("通报*.docx")))
    text = "\n".join([p.text for p in doc.paragraphs] + ["|".join(c.text for c in r.cells) for t in doc.tables for r in t.rows])
    assert "甲县（单项否决，按方案记59分）" in text
    assert "市税务局（单项否决）" in text
    assert "市税务局因“栏目不更新累计5个以上，数量合计 5 个，达到 5 个”被单项否决" in text
    assert "|甲县|" in text and "|59|2|不合格*" in text  # its total and rank in the score table
    assert "按考核方案记固定分" in text and "平均分配至该单位其他适用指标" in text
    assert "折算为100分制" not in text  # spread is not the proportional rule
