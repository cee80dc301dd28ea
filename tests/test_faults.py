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

import pandas as pd
import pytest

from assessment import pipeline, verify

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"
# what a stage writes (ingest: its tables; evidence/raw/, the delivered files, is copied before the stages run)
STAGE_OUTPUT = {"ingest": "evidence/inputs.json", "validate": "validation", "score": "scores", "report": "reports"}
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


def survivors_of(tag: str, grace: float = 60) -> list[int]:
    """The run's processes still alive after a grace period, killed so that none outlives the test.

    A helper may take a moment to see its parent gone (multiprocessing's resource tracker under load);
    a stage kernel asleep for 600 s inside its stage is still here after the grace period."""
    try:
        wait_until(lambda: not tagged(tag), "the run's processes to end", timeout=grace)
        return []
    except AssertionError:
        found = tagged(tag)
        for pid in found:  # do not leave them behind even when the test fails
            os.kill(pid, signal.SIGKILL)
        return found


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
    inside = lambda: list((out / county).glob(f".2023.staging-*/{STAGE_OUTPUT[stage]}"))  # noqa: E731 (a batch's run is its worker's)
    try:
        wait_until(lambda: inside() or proc.poll() is not None, f"the {stage} stage")
        staging = inside()[0].parents[len(Path(STAGE_OUTPUT[stage]).parts) - 1] if inside() else out / county / f".2023.staging-{proc.pid}"
        assert proc.poll() is None, (logs / f"{stage}.log").read_text()
        kernels = [pid for pid in tagged(tag) if pid != proc.pid]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    survivors = survivors_of(tag)
    return {"returncode": proc.returncode, "pid": proc.pid, "kernels": kernels, "survivors": survivors, "staging": staging,
            "had_output": (staging / STAGE_OUTPUT[stage]).exists(),
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


def test_what_a_kernel_writes_to_its_own_stderr_stays_off_the_terminal(tmp_path):
    """ipykernel may log a traceback while it shuts down ("Socket operation on non-socket"): a run
    that succeeded must not show it. The kernels' own stdout/stderr go to a log beside their sockets."""
    out = tmp_path / "out"
    done = subprocess.run(command(out), capture_output=True, text=True, timeout=WAIT,
                          env={**os.environ, "ASSESSMENT_FAULT": "score:stderr"})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stdout + done.stderr and "injected kernel noise" not in done.stdout + done.stderr


def test_a_failed_stage_report_quotes_what_its_kernel_wrote(tmp_path):
    out = tmp_path / "out"
    socket_dir = tmp_path / "sockets"
    socket_dir.mkdir()
    (socket_dir / "kernel-abc.log").write_text("line 1\nSegmentation fault in kernel\n", encoding="utf-8")
    assert pipeline.kernel_log_tail(socket_dir).endswith("Segmentation fault in kernel")
    assert pipeline.kernel_log_tail(tmp_path / "nowhere") == "" and pipeline.kernel_log_tail(None) == ""


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


# ---- issue 11: signals, environment faults, last year's bundle, consistency ----------------

def run_cmd(out: Path, county: str = "sihong", action: str = "run") -> list[str]:
    return [sys.executable, "-m", "assessment.cli", action, "--county", county, "--year", "2023", "--framework", FW,
            "--raw", str(FIXTURE), "--out", str(out)]


def no_staging_and_lock_free(out: Path, county: str = "sihong") -> None:
    assert not list((out / county).glob(".2023.staging-*"))
    assert not (out / county / ".2023.previous").exists()
    params = pipeline.resolve(county, 2023, FW, FIXTURE, out, None)
    with pipeline.county_year_lock(params):
        pass  # would raise RunLocked if anyone still held it


def signal_inside(cmd: list[str], stage: str, out: Path, county: str, sig: int, logs: Path) -> dict:
    """Start a command, wait until it is inside `stage` (its outputs written), send `sig` to the run process alone."""
    tag = uuid.uuid4().hex
    env = {**os.environ, "ASSESSMENT_FAULT": f"{stage}:sleep:600", "ASSESSMENT_TEST_TAG": tag}
    log = logs / f"{stage}-{sig}-{tag}.log"
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    inside = lambda: list((out / county).glob(f".2023.staging-*/{STAGE_OUTPUT[stage]}"))  # noqa: E731 (a batch's run is its worker's)
    try:
        wait_until(lambda: inside() or proc.poll() is not None, f"the {stage} stage")
        staging = inside()[0].parents[len(Path(STAGE_OUTPUT[stage]).parts) - 1] if inside() else out / county / f".2023.staging-{proc.pid}"
        assert proc.poll() is None, log.read_text()
        kernels = [pid for pid in tagged(tag) if pid != proc.pid]
        os.kill(proc.pid, sig)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    survivors = survivors_of(tag)
    return {"returncode": proc.returncode, "kernels": kernels, "survivors": survivors, "staging": staging, "log": log.read_text()}


@pytest.mark.parametrize("action, stage, sig", [
    ("run", "score", signal.SIGTERM),
    ("run", "report", signal.SIGHUP),
    ("run", "ingest", signal.SIGINT),
    ("validate", "validate", signal.SIGTERM),
])
def test_a_signal_inside_a_stage_is_handled_like_a_crash(action, stage, sig, site, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(site["bundle"], out / "sihong" / "2023")
    before = tree_hashes(out / "sihong" / "2023")  # (an earlier test may republish the site's bundle)
    r = signal_inside(run_cmd(out, action=action), stage, out, "sihong", sig, tmp_path)
    name = signal.Signals(sig).name
    assert r["returncode"] == 1, r["log"]
    assert r["kernels"], "the signal did not arrive inside a notebook"
    assert not r["survivors"], "the stage kernel outlived the run"
    assert "Traceback" not in r["log"] and "KeyboardInterrupt" not in r["log"]
    last = r["log"].strip().splitlines()[-1]
    assert last.startswith("错误：") and name in last and f"阶段 {stage}" in last and f"in stage {stage}" in last
    report = out / "sihong" / "2023.failed" / "failure.md"
    text = report.read_text(encoding="utf-8")
    assert f"- 阶段 stage: {stage}" in text and name in text and str(report) in last
    assert not r["staging"].exists()
    no_staging_and_lock_free(out)
    assert tree_hashes(out / "sihong" / "2023") == before


def test_batch_stopped_by_sigterm_stops_its_running_job_cleanly(site, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(site["bundle"], out / "sihong" / "2023")
    before = tree_hashes(out / "sihong" / "2023")  # (an earlier test may republish the site's bundle)
    raw_root = tmp_path / "raw"
    shutil.copytree(FIXTURE, raw_root / "sihong" / "2023")
    cmd = [sys.executable, "-m", "assessment.cli", "batch", "--counties", "sihong", "--years", "2023", "--framework", FW,
           "--raw-root", str(raw_root), "--out", str(out), "--workers", "1", "--quiet"]
    r = signal_inside(cmd, "score", out, "sihong", signal.SIGTERM, tmp_path)
    assert r["returncode"] == 1, r["log"]
    assert "Traceback" not in r["log"] and "SIGTERM" in r["log"].strip().splitlines()[-1]
    assert not r["survivors"]
    assert "SIGTERM" in (out / "sihong" / "2023.failed" / "failure.md").read_text(encoding="utf-8")
    no_staging_and_lock_free(out)
    assert tree_hashes(out / "sihong" / "2023") == before


def one_clear_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("错误")]
    assert len(errors) == 1 and "（" in errors[0], done.stderr
    return errors[0]


def test_out_pointing_at_a_file_or_under_a_file(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    for out in (a_file, a_file / "below"):
        line = one_clear_line(subprocess.run(run_cmd(out) + ["--quiet"], capture_output=True, text=True, timeout=WAIT))
        assert str(a_file) in line and "文件而不是文件夹" in line and "not a folder" in line
    assert a_file.read_text(encoding="utf-8") == "x"


@pytest.mark.parametrize("fault", ["report:enospc", "html:enospc", "publish:enospc", "ingest:enospc"])
def test_a_full_disk_is_one_line_and_leaves_no_empty_failure_report(fault, site, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(site["bundle"], out / "sihong" / "2023")
    before = tree_hashes(out / "sihong" / "2023")  # (an earlier test may republish the site's bundle)
    done = subprocess.run(run_cmd(out) + ["--quiet"], capture_output=True, text=True, timeout=WAIT,
                          env={**os.environ, "ASSESSMENT_FAULT": fault})
    line = one_clear_line(done)
    assert "磁盘空间已满" in line and "No space left on device" in line
    report = out / "sihong" / "2023.failed" / "failure.md"
    assert report.stat().st_size > 0 and "No space left on device" in report.read_text(encoding="utf-8")
    no_staging_and_lock_free(out)
    assert tree_hashes(out / "sihong" / "2023") == before


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True).returncode == 0


def test_a_really_full_disk(site, tmp_path):
    """A tmpfs just big enough for the published bundle: the new run fills it. Where tmpfs cannot be
    mounted (not root), the same path is taken with the failpoint that raises ENOSPC in the report stage."""
    disk = tmp_path / "disk"
    mounted = _tmpfs(disk, f"{sum(p.stat().st_size for p in site['bundle'].rglob('*') if p.is_file()) // 1024 + 700}k")
    try:
        shutil.copytree(site["bundle"], disk / "sihong" / "2023")
        before = tree_hashes(disk / "sihong" / "2023")
        env = dict(os.environ) if mounted else {**os.environ, "ASSESSMENT_FAULT": "report:enospc"}
        done = subprocess.run(run_cmd(disk) + ["--quiet"], capture_output=True, text=True, timeout=WAIT, env=env)
        line = one_clear_line(done)
        assert "磁盘空间已满" in line or "No space left" in line
        report = disk / "sihong" / "2023.failed" / "failure.md"
        if report.exists():
            assert report.stat().st_size > 0
        else:
            assert "无法写入" in line
        assert not [p for p in (disk / "sihong").rglob("*.tmp-*")]
        no_staging_and_lock_free(disk)
        assert tree_hashes(disk / "sihong" / "2023") == before
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=True)


def test_failure_report_on_a_disk_with_no_room_at_all_leaves_nothing_half_written(tmp_path, monkeypatch):
    dest = tmp_path / "2023.failed"
    real_open = open

    def full(path, mode="r", *a, **kw):
        f = real_open(path, mode, *a, **kw)
        if "w" in mode and ".tmp-" in str(path):
            f.close()
            raise OSError(28, "No space left on device", str(path))
        return f

    monkeypatch.setattr("builtins.open", full)
    assert pipeline.write_failure(dest, "# 运行失败") is None
    assert not dest.exists()


def test_validate_while_a_run_holds_the_lock(site, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(site["bundle"], out / "sihong" / "2023")
    before = tree_hashes(out / "sihong" / "2023")  # (an earlier test may republish the site's bundle)
    params = pipeline.resolve("sihong", 2023, FW, FIXTURE, out, None)
    with pipeline.county_year_lock(params):
        for action in ("validate", "run"):
            line = one_clear_line(subprocess.run(run_cmd(out, action=action) + ["--quiet"], capture_output=True, text=True, timeout=WAIT))
            assert "另一个运行" in line and "holds the lock" in line
    assert tree_hashes(out / "sihong" / "2023") == before
    assert not list((out / "sihong").glob(".2023.staging-*"))


def test_an_unexpected_error_is_one_line_and_its_traceback_is_there_on_request(monkeypatch, capsys):
    from assessment import cli

    def boom(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli, "_frameworks_list", boom)
    parser_args = ["frameworks", "list"]
    real = cli.build_parser

    def parser():
        p = real()
        p._subparsers._group_actions[0].choices["frameworks"]._subparsers._group_actions[0].choices["list"].set_defaults(func=boom)
        return p

    monkeypatch.setattr(cli, "build_parser", parser)
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    assert cli.main(parser_args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ZeroDivisionError" in err and "Traceback" not in err
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    assert cli.main(parser_args) == 1
    assert "Traceback" in capsys.readouterr().err


# ---- last year's bundle ---------------------------------------------------------------------

GOOD_PREVIOUS = ("unit_id,unit_name,unit_group,total,grade,rank,vetoed,veto_reasons\n"
                 "001,青阳街道,乡镇街道,95.0,优秀,1,False,\n101,县发改局,县直部门,70.0,合格,4,False,\n")

BROKEN_PREVIOUS = {
    "missing file": None,
    "a folder in its place": "DIR",
    "empty file": b"",
    "header only": "unit_id,unit_name,unit_group,total,grade,rank,vetoed,veto_reasons\n".encode(),
    "wrong columns": "编号,名字,分数\n001,青阳街道,95\n".encode(),
    "missing total column": "unit_id,unit_name,unit_group,grade,rank,vetoed\n001,青阳街道,乡镇街道,优秀,1,False\n".encode(),
    "non-numeric totals": GOOD_PREVIOUS.replace("95.0", "九十五").encode(),
    "infinite total": GOOD_PREVIOUS.replace("95.0", "inf").encode(),
    "non-numeric rank": GOOD_PREVIOUS.replace(",1,False", ",first,False").encode(),
    "GBK encoding": GOOD_PREVIOUS.encode("gbk"),
    "binary garbage": bytes(range(256)) * 4,
    "duplicate unit": (GOOD_PREVIOUS + "001,青阳街道,乡镇街道,90.0,优秀,2,False,\n").encode(),
    "vetoed not a flag": GOOD_PREVIOUS.replace("False,\n101", "maybe,\n101").encode(),
    "a unit with no total": GOOD_PREVIOUS.replace("95.0", "").encode(),
    "ragged rows": (GOOD_PREVIOUS + "001,x,y,1,2,3,4,5,6,7,8\n").encode(),
    "manifest garbage": "MANIFEST",
    "manifest says another file": "MANIFEST-HASH",
}


def _lay_previous(out: Path, kind: str) -> None:
    prev = out / "sihong" / "2022"
    (prev / "scores").mkdir(parents=True)
    content = BROKEN_PREVIOUS[kind]
    target = prev / "scores" / "unit_scores.csv"
    if content == "DIR":
        target.mkdir()
    elif content == "MANIFEST":
        target.write_text(GOOD_PREVIOUS, encoding="utf-8-sig")
        (prev / "manifest.json").write_text("{not json", encoding="utf-8")
    elif content == "MANIFEST-HASH":
        target.write_text(GOOD_PREVIOUS, encoding="utf-8-sig")
        (prev / "manifest.json").write_text(json.dumps({"outputs": {"scores/unit_scores.csv": "0" * 64}}), encoding="utf-8")
    elif content is not None:
        target.write_bytes(content)


@pytest.mark.parametrize("kind", sorted(BROKEN_PREVIOUS))
def test_every_kind_of_broken_previous_bundle_means_no_comparison_and_a_reason(kind, tmp_path):
    from assessment import stages

    out = tmp_path / "out"
    _lay_previous(out, kind)
    p = stages.RunParams(county="sihong", year=2023, framework=FW, raw_dir=str(FIXTURE), out_dir=str(out))
    current = pd.DataFrame([("001", "青阳街道", "乡镇街道", 90.0, 1, "优秀")], columns=["unit_id", "unit_name", "unit_group", "total", "rank", "grade"])
    previous, comparison, status = stages.comparison_with_previous(p, current)
    assert previous is None and comparison is None
    assert status["used"] is False and status["warning"] is True and status["previous"] == "2022"
    assert "2022" in status["reason"] and "（" in status["reason"] and "unit_scores.csv" in status["reason"]


def test_a_good_previous_bundle_is_still_compared(tmp_path):
    from assessment import stages

    out = tmp_path / "out"
    (out / "sihong" / "2022" / "scores").mkdir(parents=True)
    (out / "sihong" / "2022" / "scores" / "unit_scores.csv").write_text(GOOD_PREVIOUS, encoding="utf-8-sig")
    p = stages.RunParams(county="sihong", year=2023, framework=FW, raw_dir=str(FIXTURE), out_dir=str(out))
    current = pd.DataFrame([("001", "青阳街道", "乡镇街道", 90.0, 1, "优秀")], columns=["unit_id", "unit_name", "unit_group", "total", "rank", "grade"])
    previous, comparison, status = stages.comparison_with_previous(p, current)
    assert status == {"used": True, "previous": "2022", "reason": None}
    assert comparison.loc[0, "total_change"] == -5.0


def test_a_broken_previous_bundle_does_not_block_this_year(site, tmp_path):
    """The run goes on: a warning on the CLI, one sentence in the 通报, the reason in the manifest."""
    import docx

    out = tmp_path / "out"
    _lay_previous(out, "wrong columns")
    before = tree_hashes(out / "sihong" / "2022")
    done = subprocess.run(run_cmd(out), capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "[IPKernelApp]" not in done.stderr  # no stray kernel line
    warn = [line for line in done.stderr.splitlines() if "未与上年对比" in line]
    assert len(warn) == 1 and "缺少列" in warn[0] and "missing columns" in warn[0]
    bundle = out / "sihong" / "2023"
    m = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert m["comparison"]["used"] is False and "unit_id" in m["comparison"]["reason"]
    text = "\n".join(p.text for p in docx.Document(str(next((bundle / "reports").glob("通报*.docx")))).paragraphs)
    assert "因2022年度考评结果无法使用，本通报未与2022年度对比。" in text
    assert not list((bundle / "reports").glob("与2022对比.csv"))
    assert tree_hashes(out / "sihong" / "2022") == before  # last year's bundle is read, never repaired
    # the warning count the CLI prints is the one validation/summary.md gives
    results = json.loads((bundle / "validation" / "results.json").read_text(encoding="utf-8"))
    assert f"（{results['warnings']} 条警告 warnings" in done.stdout
    assert f"警告 warnings {results['warnings']}）" in (bundle / "validation" / "summary.md").read_text(encoding="utf-8")
    assert verify.verify(bundle).ok


# ---- the report stage's writers with names nobody should type ---------------------------------

def test_the_report_writers_survive_long_and_odd_names(site, tmp_path):
    """Defence in depth: whatever the reader lets through, the writers bound titles and file names."""
    from assessment import documents, stages

    p = stages.RunParams(county="sihong", year=2023, framework=FW, raw_dir=str(FIXTURE), out_dir=str(site["out"]))
    res = stages.load_results(p)
    us = res.unit_scores.copy()
    odd = ["名" * 2000, "a[b]:c*d?e/f\\g", "..", "x\u202ey\u200bz", "\x00\x07ctl", " . ", "A" * 300 + "/" + "B" * 300]
    us.loc[us.index[: len(odd)], "unit_name"] = odd
    files = documents.write_reports(res.framework, us, res.indicator_scores, res.line_items, None, tmp_path / "reports", period="2023")
    notices = [v for k, v in files.items() if k.startswith("notice:")]
    assert notices and len({n.name for n in notices}) == len(notices)
    for n in notices:
        assert n.parent == tmp_path / "reports" / "notices" and n.is_file()
        assert len(n.name.encode("utf-8")) <= 255 and not any(ch in n.name for ch in "/\\\x00\u202e\u200b")
    from openpyxl import load_workbook

    wb = load_workbook(files["workbook"])
    assert all(len(t) <= 31 for t in wb.sheetnames)
