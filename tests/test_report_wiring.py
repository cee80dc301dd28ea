"""The report stage shows last year beside this year and the 复核 annex when there is something to show."""

from __future__ import annotations

import shutil
from pathlib import Path

import docx
import pandas as pd

from bundles import make_bundle

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
ADJUSTMENTS = """单位编码,证据编号,指标编码,操作,数量,级别,值,理由,批准人,日期
101,E027,,撤销,,,,抽查截图显示为转载内容，非本单位原创,县政府办公室 王某,2024-01-05
"""


def text_of(path: Path) -> str:
    d = docx.Document(str(path))
    parts = [p.text for p in d.paragraphs]
    for t in d.tables:
        for row in t.rows:
            parts.append(" ".join(c.text for c in row.cells))
    return "\n".join(parts)


def test_comparison_and_appeals_reach_the_notification(tmp_path):
    out = tmp_path / "out"
    prev = out / "sihong" / "2022" / "scores"
    prev.mkdir(parents=True)
    pd.DataFrame([("001", "青阳街道", "乡镇街道", 95.0, 1, "优秀", False, ""), ("101", "县发改局", "县直部门", 70.0, 4, "合格", False, "")],
                 columns=["unit_id", "unit_name", "unit_group", "total", "rank", "grade", "vetoed", "veto_reasons"]
                 ).to_csv(prev / "unit_scores.csv", index=False, encoding="utf-8-sig")
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURE, raw)
    (raw / "adjustments.csv").write_text(ADJUSTMENTS, encoding="utf-8")
    bundle = make_bundle(raw, out, report=True)
    comparison = pd.read_csv(bundle / "reports" / "与2022对比.csv", dtype={"unit_id": str}, encoding="utf-8-sig").set_index("unit_id")
    assert comparison.loc["101", "total_change"] == 30  # 100 after review, 70 last year
    text = text_of(next((bundle / "reports").glob("通报*.docx")))
    assert "复核" in text and "E027" in text and "王某" in text
    assert "上年度" in text
