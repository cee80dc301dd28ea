"""`assessment batch`: many county-years through the real pipeline, on a local process pool and on a
real Dask LocalCluster; one county-year's failure is reported and does not stop the others."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from assessment import batch

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"


def raw_root(tmp_path: Path, counties: list[str], broken: str | None = None) -> Path:
    """<root>/<county>/2023 holding the hand-checked fixture; `broken` gets an unknown unit in row 11."""
    root = tmp_path / "raw"
    for county in counties:
        shutil.copytree(FIXTURE, root / county / "2023")
    if broken:
        events = root / broken / "2023" / "events.csv"
        events.write_text(events.read_text(encoding="utf-8").replace("E010,002,C4", "E010,999,C4"), encoding="utf-8")
    return root


def test_jobs_pick_the_framework_of_each_year_and_the_raw_folder(tmp_path):
    jobs = batch.jobs_for(["a", "b"], ["2022", "2023"], "sihong-new-media-{year}", tmp_path / "raw", tmp_path / "out")
    assert [(j.county, j.year, j.framework) for j in jobs] == [
        ("a", 2022, "sihong-new-media-2022"), ("a", 2023, "sihong-new-media-2023"),
        ("b", 2022, "sihong-new-media-2022"), ("b", 2023, "sihong-new-media-2023")]
    assert jobs[1].raw_dir == str(tmp_path / "raw" / "a" / "2023")


def test_exit_code_says_whether_every_failure_was_invalid_input():
    def o(status):
        return batch.Outcome("x", 2023, FW, status, 1.0)

    assert batch.exit_code([o("ok"), o("ok")]) == 0
    assert batch.exit_code([o("ok"), o("invalid"), o("invalid")]) == 2
    assert batch.exit_code([o("invalid"), o("failed")]) == 1


def test_process_pool_runs_county_years_and_reports_the_invalid_one(tmp_path):
    root = raw_root(tmp_path, ["a", "b", "c"], broken="b")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "assessment.cli", "batch", "--counties", "a,b,c,nowhere", "--years", "2023",
                           "--framework", FW, "--workers", "2", "--raw-root", str(root), "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 2, done.stdout + done.stderr  # every failure is invalid input
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line.split() and line.split()[0] in {"a", "b", "c", "nowhere"}}
    assert set(rows) == {"a", "b", "c", "nowhere"}
    for county in ("a", "c"):
        bundle = out / county / "2023"
        assert "完成 ok" in rows[county] and str(bundle) in rows[county]
        us = pd.read_csv(bundle / "scores" / "unit_scores.csv", dtype={"unit_id": str}, encoding="utf-8-sig")
        assert len(us) == 12 and int(us["vetoed"].sum()) == 2  # the fixture: 12 units, 006 and 105 vetoed
        assert rows[county].split()[5:7] == ["12", "2"]  # units, vetoed
    assert "输入无效 invalid" in rows["b"] and "events.csv" in rows["b"] and "999" in rows["b"]
    assert not (out / "b" / "2023").exists()  # nothing published for the invalid county-year
    assert "输入无效 invalid" in rows["nowhere"] and "证据目录不存在" in rows["nowhere"]
    assert "考评 county-years" in done.stderr and "4/4" in done.stderr  # the progress bar, on stderr
    assert "Traceback" not in done.stdout


def test_dask_local_cluster_runs_the_same_jobs(tmp_path):
    from distributed import LocalCluster

    root = raw_root(tmp_path, ["d", "e"])
    out = tmp_path / "out"
    jobs = batch.jobs_for(["d", "e"], [2023], FW, root, out)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster:
        outcomes = batch.run_batch(jobs, scheduler=cluster.scheduler_address, progress=False)
    assert [(o.county, o.status) for o in outcomes] == [("d", "ok"), ("e", "ok")], [o.message for o in outcomes]
    assert batch.exit_code(outcomes) == 0
    for o in outcomes:
        assert Path(o.bundle) == out / o.county / "2023"
        assert (Path(o.bundle) / "manifest.json").is_file() and (o.units, o.vetoed) == (12, 2)
    table = batch.summary_table(outcomes)
    assert table.count("完成 ok") == 2 and str(out / "d" / "2023") in table
