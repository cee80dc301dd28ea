"""Parameters (issue 11, item 7): one canonical spelling per county-period, or a refusal (exit 2).

`--period ２０２３Q3` once made a second bundle folder beside `2023Q3`. Every spelling of the same
county-period must land in the one folder; what cannot be a folder name is refused before anything
is written.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from assessment import batch, cli, params, pipeline

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"
QFW = "sihong-digital-gov-2023"  # quarterly


@pytest.mark.parametrize("county, year, period, want", [
    ("sihong", "2023", None, ("sihong", 2023, None)),
    (" sihong ", " 2023 ", None, ("sihong", 2023, None)),
    ("Sihong", 2023, None, ("sihong", 2023, None)),
    ("ＳＩＨＯＮＧ", "２０２３", None, ("sihong", 2023, None)),  # full-width letters and digits
    ("\u3000sihong\u3000", "2023", None, ("sihong", 2023, None)),  # ideographic spaces around
    ("sihong", "2023", "2023q3", ("sihong", 2023, "2023Q3")),
    ("sihong", "2023", "２０２３Q3", ("sihong", 2023, "2023Q3")),
    ("sihong", "2023", "２０２３ｑ３", ("sihong", 2023, "2023Q3")),
    ("sihong", "2023", " 2023Q3 ", ("sihong", 2023, "2023Q3")),
    ("sihong", "2023", "2023", ("sihong", 2023, "2023")),
])
def test_spellings_of_one_county_period_are_one(county, year, period, want):
    c, problems = params.canonical(county, year, FW, period)
    assert problems == []
    assert (c.county, c.year, c.period) == want


@pytest.mark.parametrize("county", [
    "../etc", "a/b", "a\\b", "..", ".hidden", "sihong\u200b", "\u202esihong", "sih\tong", "sihong\n", "si\x00hong",
    "x" * 65, "", "   ", "泗洪", "a b", "sihong;rm", "\ufeffsihong",
])
def test_counties_that_cannot_be_a_folder_name_are_refused(county):
    _, problems = params.canonical(county, "2023", FW, None)
    assert [p.file for p in problems] == ["--county"]
    assert all(p.message_zh and p.message_en for p in problems)


@pytest.mark.parametrize("year, period", [
    ("20233", None), ("abc", None), ("2023\u200b", None), ("1999", None), ("", None),
    ("2023", "2023Q5"), ("2023", "2023-Q3"), ("2023", "Q3"), ("2023", "2022Q3"), ("2023", "2023Q3\u200b"), ("2023", "2023\nQ3"),
])
def test_years_and_periods_that_are_not_one_are_refused(year, period):
    _, problems = params.canonical("sihong", year, FW, period)
    assert problems and {p.file for p in problems} <= {"--year", "--period"}


def test_every_problem_is_listed_at_once():
    _, problems = params.canonical("../x", "20x3", "Bad Id!", "2023Q9")
    assert [p.file for p in problems] == ["--county", "--year", "--framework", "--period"]


@pytest.mark.parametrize("period", ["2023Q3", "2023q3", "２０２３Q3", "２０２３ｑ３", " 2023Q3"])
def test_every_spelling_of_a_quarter_resolves_to_the_one_bundle_folder(period, tmp_path):
    p = pipeline.resolve(" Sihong ", "２０２３", QFW, FIXTURE, tmp_path, period)
    assert (p.county, p.year, p.period, p.slot) == ("sihong", 2023, "2023Q3", "2023Q3")
    assert pipeline._paths(p)["final"] == tmp_path.resolve() / "sihong" / "2023Q3"


@pytest.mark.parametrize("args", [
    ["--county", "../evil"], ["--county", "sihong\u200b"], ["--county", "a/b"], ["--county", "x" * 200],
    ["--year", "２０２３x"], ["--period", "2023Q7"],
])
def test_the_cli_refuses_with_exit_2_and_writes_nothing(args, tmp_path, capsys):
    base = {"--county": "sihong", "--year": "2023", "--framework": FW}
    base.update(dict(zip(args[::2], args[1::2])))
    argv = ["run", *[x for kv in base.items() for x in kv], "--raw", str(FIXTURE), "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "错误" in err and "（" in err and args[0] in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_batch_jobs_are_canonical_and_not_repeated():
    jobs = batch.jobs_for([" Demo ", "demo", "ＤＥＭＯ"], ["２０２３", "2023"], FW)
    assert [(j.county, j.year) for j in jobs] == [("demo", 2023)]


def test_a_run_with_odd_spellings_publishes_the_canonical_folder_only(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "assessment.cli", "run", "--county", " SIHONG ", "--year", "２０２３",
                           "--framework", f" {FW} ", "--raw", str(FIXTURE), "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["sihong"]
    assert sorted(p.name for p in (out / "sihong").iterdir()) == [".2023.lock", "2023"]
    import json

    m = json.loads((out / "sihong" / "2023" / "manifest.json").read_text(encoding="utf-8"))
    assert (m["parameters"]["county"], m["parameters"]["year"], m["parameters"]["framework"]) == ("sihong", 2023, FW)
