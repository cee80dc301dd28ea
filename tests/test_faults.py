"""Faults (issue 5): a run killed inside each stage, a stage that raises, and the crash windows of publish.

A run is started as `assessment run` in its own process group with `ASSESSMENT_FAULT=<stage>:sleep`
(the stage's outputs are written, then it waits), the test waits for that stage's output folder to
appear in the staging folder, and kills the whole group with SIGKILL. The published bundle must be
byte for byte as it was, the kernel must not outlive the run (it runs in its own session, as
jupyter_client starts it; ipykernel's parent poller ends it when the run dies), the lock must be free,
and the next run must clean what the killed ones left and publish.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assessment import pipeline, verify

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"
STAGE_OUTPUT = {"ingest": "evidence", "validate": "validation", "score": "scores", "report": "reports"}
WAIT = 300  # seconds: an upper bound for waits, never an assertion about speed


def command(out: Path, county: str = "sihong") -> list[str]:
    return [sys.executable, "-m", "assessment.cli", "run", "--county", county, "--year", "2023", "--framework", FW,
            "--raw", str(FIXTURE), "--out", str(out)]


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def tagged(tag: str) -> list[int]:
    """Processes carrying the run's tag in their environment: the run and any kernel it started."""
    found = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                env = (d / "environ").read_bytes()
            except OSError:
                continue
            if f"ASSESSMENT_TEST_TAG={tag}".encode() in env:
                found.append(int(d.name))
    return found


def wait_until(check, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    """A good bundle, published by a real run."""
    out = tmp_path_factory.mktemp("faults") / "out"
    done = subprocess.run(command(out), capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0, done.stderr
    bundle = out / "sihong" / "2023"
    return {"out": out, "bundle": bundle, "hashes": tree_hashes(bundle)}


def kill_inside(stage: str, out: Path, county: str, logs: Path) -> dict:
    """Start a run, wait until it is inside `stage` with its outputs written, SIGKILL its process group."""
    tag = uuid.uuid4().hex
    env = {**os.environ, "ASSESSMENT_FAULT": f"{stage}:sleep:600", "ASSESSMENT_TEST_TAG": tag}
    with open(logs / f"{stage}.log", "w") as log:
        proc = subprocess.Popen(command(out, county), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    staging = out / county / f".2023.staging-{proc.pid}"
    try:
        wait_until(lambda: (staging / STAGE_OUTPUT[stage]).is_dir() or proc.poll() is not None, f"the {stage} stage")
        assert proc.poll() is None, (logs / f"{stage}.log").read_text()
        kernels = [pid for pid in tagged(tag) if pid != proc.pid]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    survivors: list[int] = []
    try:
        wait_until(lambda: not tagged(tag), "the killed run's kernel to end", timeout=60)
    except AssertionError:
        survivors = tagged(tag)
        for pid in survivors:  # do not leave them behind even when the test fails
            os.kill(pid, signal.SIGKILL)
    return {"returncode": proc.returncode, "pid": proc.pid, "kernels": kernels, "survivors": survivors, "staging": staging,
            "had_output": (staging / STAGE_OUTPUT[stage]).is_dir(),
            "executed": sorted(p.name for p in (staging / "notebooks").glob("*.ipynb"))}


# two lanes side by side (two cores), each killing two runs of its own county-year one after the other:
# the second run of a lane starts on what the first left behind. sihong holds the real published bundle,
# sihong-b a copy of it (all that matters is that no byte of either changes).
LANES = {"sihong": ["validate", "report"], "sihong-b": ["ingest", "score"]}


@pytest.fixture(scope="module")
def killed(site, tmp_path_factory) -> dict[str, dict]:
    """One run killed inside each stage, against a published bundle."""
    logs = tmp_path_factory.mktemp("logs")
    shutil.copytree(site["bundle"], site["out"] / "sihong-b" / "2023")

    def lane(county: str) -> dict[str, dict]:
        results = {}
        for stage in LANES[county]:
            r = kill_inside(stage, site["out"], county, logs)
            r["county"] = county
            r["intact"] = tree_hashes(site["out"] / county / "2023") == site["hashes"]
            r["previous_left"] = (site["out"] / county / ".2023.previous").exists()
            params = pipeline.resolve(county, 2023, FW, FIXTURE, site["out"], None)
            try:
                with pipeline.county_year_lock(params):
                    r["lock_free"] = True
            except pipeline.RunLocked:
                r["lock_free"] = False
            results[stage] = r
        return results

    with ThreadPoolExecutor(len(LANES)) as pool:
        return {stage: r for lane_results in pool.map(lane, LANES) for stage, r in lane_results.items()}


@pytest.mark.parametrize("stage", list(STAGE_OUTPUT))
def test_a_run_killed_inside_a_stage_leaves_the_published_bundle_as_it_was(stage, killed):
    r = killed[stage]
    assert r["returncode"] == -signal.SIGKILL
    assert r["kernels"], "no kernel was running: the kill did not happen inside a notebook"
    assert not r["survivors"], f"the kernel outlived the killed run: {r['survivors']}"
    assert r["intact"], "the published bundle changed"
    assert not r["previous_left"] and r["lock_free"]
    # the kill happened inside this stage: its output was there, the earlier notebooks were done
    assert r["had_output"]
    earlier = list(STAGE_OUTPUT).index(stage)
    assert len(r["executed"]) == earlier + 1, r["executed"]  # the finished ones plus the one being written


def test_the_next_run_cleans_up_and_publishes(site, killed):
    county = site["out"] / "sihong"
    # SIGKILL leaves a staging folder nothing can clean up at once; the next run does (under the lock):
    # the report-killed run cleaned what the validate-killed one left, only its own is still there
    stale = sorted(p.name for p in county.glob(".2023.staging-*"))
    assert stale == [killed["report"]["staging"].name] and not killed["validate"]["staging"].exists()
    # nor could the killed runs remove their kernels' socket folders (and connection files) from the temp folder
    sockets = lambda pid: list(Path(tempfile.gettempdir()).glob(f"{pipeline.SOCKETS_PREFIX}{pid}-*"))  # noqa: E731
    assert sockets(killed["report"]["pid"])
    # and the crash window of publish: the old bundle moved aside, the new one not yet in place
    os.replace(site["bundle"], county / ".2023.previous")
    done = subprocess.run(command(site["out"]), capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in county.iterdir()) == [".2023.lock", "2023"]
    assert not [d for r in killed.values() for d in sockets(r["pid"])]
    m = json.loads((site["bundle"] / "manifest.json").read_text(encoding="utf-8"))
    assert m["outputs"] == {k: v for k, v in tree_hashes(site["bundle"]).items() if k != "manifest.json"}
    assert verify.verify(site["bundle"]).ok
    # same inputs, same code: the new bundle equals the one the killed runs could not touch
    assert {k: v for k, v in tree_hashes(site["bundle"]).items() if k != "manifest.json"} == \
           {k: v for k, v in site["hashes"].items() if k != "manifest.json"}


def test_a_stage_that_raises_leaves_a_readable_failure_report(site, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(site["bundle"], out / "sihong" / "2023")
    before = tree_hashes(out / "sihong" / "2023")
    done = subprocess.run(command(out), capture_output=True, text=True, timeout=WAIT,
                          env={**os.environ, "ASSESSMENT_FAULT": "validate:raise"})
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    report = out / "sihong" / "2023.failed" / "failure.md"
    assert "阶段 validate（02_validate.ipynb）失败" in done.stderr and str(report) in done.stderr and "RuntimeError" in done.stderr
    text = report.read_text(encoding="utf-8")
    assert "- 阶段 stage: validate" in text and "- 笔记本 notebook: 02_validate.ipynb" in text
    assert "id cell-03" in text and "report = stages.validate(p)" in text  # which cell, as it reads in the notebook
    assert "RuntimeError: injected fault in stage validate" in text
    assert (report.parent / "02_validate.ipynb").is_file()  # the executed notebook, to open at that cell
    assert tree_hashes(out / "sihong" / "2023") == before
    assert sorted(p.name for p in (out / "sihong").iterdir()) == [".2023.lock", "2023", "2023.failed"]


# ---- the folder dance, crashed at each step (in-process) -----------------------------------

@pytest.fixture
def dance(site, tmp_path):
    """Params for a fresh out dir, its county folder, and a copy of a published bundle with its hashes."""
    out = tmp_path / "out"
    params = pipeline.resolve("sihong", 2023, FW, FIXTURE, out, None)
    county = out / "sihong"
    county.mkdir(parents=True)
    source = tmp_path / "published"
    shutil.copytree(site["bundle"], source)
    return params, county, source, tree_hashes(source)


def test_recover_restores_a_bundle_moved_aside_when_the_new_one_never_arrived(site, dance):
    params, county, source, hashes = dance
    shutil.copytree(source, county / ".2023.previous")  # killed between the two renames of publish
    (county / ".2023.staging-999999").mkdir()
    pipeline.recover(params)
    assert tree_hashes(county / "2023") == hashes
    assert sorted(p.name for p in county.iterdir()) == ["2023"]


def test_a_crash_between_the_renames_of_publish_is_undone(site, dance, monkeypatch):
    params, county, source, hashes = dance
    shutil.copytree(source, county / "2023")
    staging = county / ".2023.staging-1"
    shutil.copytree(source, staging)
    (staging / "scores" / "unit_scores.csv").write_text("half-written", encoding="utf-8")
    real = os.replace
    calls = []

    def dies_on_the_second(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")  # what is left is what a kill here leaves
        return real(src, dst)

    monkeypatch.setattr(pipeline.os, "replace", dies_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        pipeline.publish(staging, params)
    monkeypatch.setattr(pipeline.os, "replace", real)
    assert not (county / "2023").exists() and (county / ".2023.previous").is_dir()
    pipeline.recover(params)
    assert tree_hashes(county / "2023") == hashes
    assert sorted(p.name for p in county.iterdir()) == ["2023"]


def test_a_crash_after_the_renames_keeps_the_new_bundle(site, dance):
    params, county, source, _ = dance
    shutil.copytree(source, county / "2023")
    (county / "2023" / "new.txt").write_text("the new bundle", encoding="utf-8")
    shutil.copytree(source, county / ".2023.previous")  # killed before the old one was removed
    pipeline.recover(params)
    assert (county / "2023" / "new.txt").is_file()
    assert sorted(p.name for p in county.iterdir()) == ["2023"]
