"""Concurrency (issue 5): one run per county-year at a time; different county-years side by side.

Three real `assessment run` processes are started at once into one out dir: two of sihong/2023 —
on evidence that differ in one quantity, so a mixed bundle would show — and one of suqian/2023.
Exactly one sihong run publishes; the other is refused with the lock message (exit 1) and leaves
nothing behind; the published bundle is wholly one run's (its manifest's hashes match its files,
its inputs are one evidence set and its scores are that set's). The suqian run publishes too, and
the manifests' start and end times show it overlapped the sihong run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from assessment import evidence, frameworks, scoring, verify

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def race(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("race")
    out = root / "out"
    raws = {"a": root / "a", "b": root / "b"}
    shutil.copytree(FIXTURE, raws["a"])
    shutil.copytree(FIXTURE, raws["b"])
    text = (raws["b"] / "events.csv").read_text(encoding="utf-8")
    (raws["b"] / "events.csv").write_text(text.replace("E005,002,A4,2023-03-02,3", "E005,002,A4,2023-03-02,4"), encoding="utf-8")
    runs = {"a": ("sihong", raws["a"]), "b": ("sihong", raws["b"]), "other": ("suqian", raws["a"])}
    procs = {k: subprocess.Popen([sys.executable, "-m", "assessment.cli", "run", "--county", county, "--year", "2023", "--framework", FW,
                                  "--raw", str(raw), "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k, (county, raw) in runs.items()}
    done = {}
    for k, p in procs.items():
        stdout, stderr = p.communicate(timeout=600)
        done[k] = (p.returncode, stdout, stderr)
    return {"out": out, "raws": raws, "done": done}


def test_exactly_one_run_of_the_same_county_year_publishes(race):
    codes = {k: race["done"][k][0] for k in ("a", "b")}
    assert sorted(codes.values()) == [0, 1], race["done"]
    loser = next(k for k, c in codes.items() if c == 1)
    _, stdout, stderr = race["done"][loser]
    assert "正在由另一个运行处理" in stderr and "holds the lock" in stderr and "Traceback" not in stdout + stderr
    county = race["out"] / "sihong"
    assert sorted(p.name for p in county.iterdir()) == [".2023.lock", "2023"]  # the refused run left nothing


def test_the_published_bundle_is_wholly_one_runs(race):
    winner = next(k for k in ("a", "b") if race["done"][k][0] == 0)
    raw = race["raws"][winner]
    bundle = race["out"] / "sihong" / "2023"
    m = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert m["outputs"] == {k: v for k, v in tree_hashes(bundle).items() if k != "manifest.json"}
    assert m["inputs"] == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(raw.glob("*.csv"))}
    assert m["parameters"]["raw_dir"] == str(raw.resolve())
    expected = scoring.score(frameworks.load(FW), evidence.read(raw)).unit_scores
    got = pd.read_csv(bundle / "scores" / "unit_scores.csv", dtype={"unit_id": str}, encoding="utf-8-sig")
    assert got["total"].tolist() == pytest.approx(expected["total"].tolist(), nan_ok=True)
    assert verify.verify(bundle).ok


def test_different_county_years_run_side_by_side(race):
    assert race["done"]["other"][0] == 0, race["done"]["other"][2]
    winner = next(k for k in ("a", "b") if race["done"][k][0] == 0)
    times = {}
    for county in ("sihong", "suqian"):
        m = json.loads((race["out"] / county / "2023" / "manifest.json").read_text(encoding="utf-8"))
        times[county] = (dt.datetime.fromisoformat(m["started"]), dt.datetime.fromisoformat(m["finished"]))
    (s1, f1), (s2, f2) = times["sihong"], times["suqian"]
    assert s1 < f2 and s2 < f1, times  # each started before the other finished: they overlapped
    assert race["done"][winner][0] == 0
