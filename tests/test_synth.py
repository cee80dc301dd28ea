"""Synthetic evidence: deterministic for a seed, valid under the framework's validation, and shaped
like an office's year — most units few deductions, a long tail, rare vetoes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from assessment import evidence, frameworks, stages, synth, validation

FW = "sihong-new-media-2023"


def test_same_seed_same_tables_other_seed_other_tables():
    fw = frameworks.load(FW)
    a, b, c = (synth.synthesize(fw, 80, 3000, seed) for seed in (5, 5, 6))
    for table in ("units", "events", "facts"):
        pd.testing.assert_frame_equal(a[table], b[table])
    assert not a["events"].equals(c["events"])


def test_same_seed_same_files(tmp_path):
    fw = frameworks.load(FW)
    for d in ("one", "two"):
        synth.write(synth.synthesize(fw, 40, 1500, 9), tmp_path / d)
    for name in ("units.csv", "events.csv", "facts.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


@pytest.mark.parametrize("fid", ["sihong-new-media-2023", "sihong-website-2023", "sihong-digital-gov-2023",
                                 "xiamen-website-new-media-2023"])
def test_valid_under_the_frameworks_validation(tmp_path, fid):
    fw = frameworks.load(fid)
    period = f"{fw.year}Q3" if fw.period == "quarter" else None
    synth.write(synth.synthesize(fw, 60, 2500, 3, period), tmp_path)
    ev = evidence.read(tmp_path, events_required=stages.scores_events(fid))  # the real reader, as `assessment run` reads it
    report = validation.validate(fw, ev, period)
    assert report.ok, [p.render() for p in report.errors][:5]
    assert len(ev.units) == 60


def test_distributions_most_units_few_deductions_long_tail_rare_vetoes():
    fw = frameworks.load(FW)
    tables = synth.synthesize(fw, 2000, 100_000, 11)
    events, units = tables["events"], tables["units"]
    rule = {leaf.code: leaf.rule.type for leaf in fw.leaves()}
    deductions = events[events["indicator"].map(rule) == "deduct"].groupby("unit_id")["quantity"].sum()
    per_unit = deductions.reindex(units["unit_id"], fill_value=0)
    assert per_unit.median() <= 3  # most units: few deductions
    assert per_unit.quantile(0.99) >= 4 * max(per_unit.median(), 1)  # a long tail of busy units
    vetoed = events.loc[events["indicator"].map(rule) == "veto", "unit_id"].nunique()
    assert 1 <= vetoed <= 0.05 * len(units)  # rare vetoes
    # every event rule gets evidence, awards more often than deductions
    counts = events["indicator"].map(rule).value_counts()
    assert {"deduct", "award", "best_level", "veto"} <= set(counts.index)
    assert counts["award"] > counts["deduct"]
    assert events["event_id"].is_unique and events["event_id"].is_monotonic_increasing


def test_event_ids_stay_in_text_order_past_ten_million():
    ids = synth._event_ids(12)
    assert ids.tolist()[:2] == ["E0000001", "E0000002"]
    assert list(synth._event_ids(10_000_001).iloc[[0, -1]]) == ["E00000001", "E10000001"]


def test_workbook_path_reads_back_like_the_csv_path(tmp_path):
    fw = frameworks.load(FW)
    tables = synth.synthesize(fw, 50, 2000, 4)
    synth.write(tables, tmp_path / "csv")
    done = subprocess.run([sys.executable, "-m", "assessment.cli", "synth", "--framework", FW, "--units", "50", "--events", "2000",
                           "--seed", "4", "--format", "xlsx", "--out", str(tmp_path / "xlsx")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    from_csv, from_xlsx = evidence.read(tmp_path / "csv"), evidence.read(tmp_path / "xlsx")
    for table in ("units", "events", "facts"):
        a, b = getattr(from_csv, table), getattr(from_xlsx, table)
        cols = [c for c in a.columns if not c.startswith("_") and c != "record_id"]
        pd.testing.assert_frame_equal(a[cols], b[cols], check_dtype=False)
    assert from_xlsx.units["unit_id"].iloc[0] == "0001"  # text stays text in the workbook


def test_a_workbook_larger_than_a_sheet_is_refused(tmp_path):
    big = {"events": pd.DataFrame({"event_id": np.arange(synth.EXCEL_MAX_ROWS)})}
    with pytest.raises(ValueError, match="1048576"):
        synth.write(big, tmp_path, "xlsx")
