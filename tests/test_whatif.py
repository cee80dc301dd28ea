"""What-if on a bundle, hand-checked: A4 (错别字) priced at 2 instead of 1 per typo."""

from __future__ import annotations

from pathlib import Path

import pytest

from assessment import cli, whatif
from assessment.problems import FrameworkError, ParameterError
from bundles import make_bundle

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return make_bundle(FIXTURE, tmp_path_factory.mktemp("out"))


def test_a_deduction_price_change_moves_ranks_and_grades(bundle):
    t = whatif.whatif(bundle, [whatif.parse_change("A4.per=2")]).set_index("unit_id")
    # 106: A4 ×2 → A 30 − 4 = 26 → 88: 优秀 → 良好, rank 1 → 2 (104 keeps 90 alone at 1)
    assert (t.loc["106", "total_new"], t.loc["106", "grade_new"], t.loc["106", "rank_new"]) == (88, "良好", 2)
    # 101: A4 ×6 → A 30 − 12 = 18 → 78: 良好 → 合格 (rank stays 3)
    assert (t.loc["101", "total_new"], t.loc["101", "grade_new"], t.loc["101", "rank_new"]) == (78, "合格", 3)
    # 乡镇街道: 005 (A4 ×5) 73 → 68 falls from 2nd to 4th; 002 (A4 ×3) 72 → 69 stays 3rd; 003 (no A4) 72 rises to 2nd
    assert (t.loc["005", "total_new"], t.loc["005", "rank_new"]) == (68, 4)
    assert (t.loc["002", "total_new"], t.loc["002", "rank_new"]) == (69, 3)
    assert (t.loc["003", "total_new"], t.loc["003", "rank_new"]) == (72, 2)
    assert not t.loc["001", "rank_changed"] and t.loc["005", "rank_changed"]


def test_grade_band_and_threshold_changes(bundle):
    t = whatif.whatif(bundle, [whatif.parse_change("grades.优秀=85")]).set_index("unit_id")
    assert t["total_change"].abs().sum() == 0  # bands move grades, not totals
    assert t.loc["101", "grade"] == "良好" and t.loc["101", "grade_new"] == "良好"  # 84 < 85
    t = whatif.whatif(bundle, [whatif.parse_change("C1.max_count=6")]).set_index("unit_id")
    assert t.loc["101", "total_new"] == 94  # 6 findings are now within the bound: C1 +10


def test_impossible_changes_are_refused(bundle):
    with pytest.raises(FrameworkError):
        whatif.whatif(bundle, [whatif.parse_change("B3.points=20")])  # B's children would exceed 30
    with pytest.raises(ParameterError):
        whatif.whatif(bundle, [whatif.parse_change("Z9.per=1")])
    with pytest.raises(ParameterError):
        whatif.parse_change("A4.per=__import__('os')")


def test_uncertainty_run_gives_rank_stability_table_and_chart(bundle, tmp_path, capsys):
    t = whatif.uncertainty(bundle, [whatif.parse_range("A4.per=0.5:2"), whatif.parse_range("C1.max_count=3:8")], runs=12, seed=1).set_index("unit_id")
    assert t.loc["001", "p_same_rank"] == 1.0  # 100 points with no typos: first whatever the prices
    assert t["p_same_rank"].between(0, 1).all() and (t["rank_p05"] <= t["rank_p95"]).all()
    assert t.loc["101", "p_same_grade"] < 1  # 84 with 6 typos crosses 80 or 90 in some draws
    assert cli.main(["whatif", str(bundle), "--vary", "A4.per=0.5:2", "--runs", "5", "--out", str(tmp_path / "u")]) == 0
    assert (tmp_path / "u" / "rank_stability.png").stat().st_size > 5000
    assert (tmp_path / "u" / "rank_stability.csv").is_file()
    assert cli.main(["whatif", str(bundle), "--set", "A4.per=2"]) == 0
    assert "等次变化 2 个单位" in capsys.readouterr().out
