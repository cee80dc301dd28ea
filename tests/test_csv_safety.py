"""CSV outputs people open in Excel (issue 11, item 9): formula-looking cells neutralised, round trip exact.

A unit named `=HYPERLINK("http://x","y")` must not be a live formula in unit_scores.csv, and the
program's own readers (verify, the year comparison, combine, what-if, batch) must get the name back
exactly. Numbers stay numbers: a -5-point line is written as -5.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pandas as pd
import pytest
from bundles import make_bundle, run_bundle

from assessment import csvio, stages, verify

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
HOSTILE = {
    "001": '=HYPERLINK("http://x","y")',
    "002": "=1+1",
    "003": "@SUM(A1)",
    "004": "+1",
    "005": "-1+2",
    "006": "'=x",
    "101": "-2+3+cmd|' /C calc'!A0",  # the classic DDE payload
    "102": "-5",  # text, even if it looks like a number: written '-5, read back -5
}


@pytest.mark.parametrize("value, written", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1+2", "'-1+2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("'=x", "''=x"), ("'plain", "''plain"), ("''", "'''"), ("-5", "'-5"), ("+1.5", "'+1.5"),
    ("青阳街道", "青阳街道"), ("a=b", "a=b"), ("", ""), ("-", "'-"), ("=", "'="),
])
def test_one_cell_each_way(value, written):
    assert csvio.neutralise(value) == written
    assert csvio.restore(written) == value


def test_numbers_and_missing_values_are_not_touched(tmp_path):
    df = pd.DataFrame({"name": ["=1+1", None, "-5"], "points": [-5.0, 2.5, float("nan")], "rank": [1, 2, 3], "flag": [True, False, True]})
    path = csvio.write_csv(df, tmp_path / "t.csv")
    text = path.read_text(encoding="utf-8-sig")
    assert text.splitlines()[1] == "'=1+1,-5.0,1,True"
    back = csvio.read_csv(path, dtype={"name": str})
    assert back["name"].tolist()[0] == "=1+1" and pd.isna(back["name"][1]) and back["name"][2] == "-5"
    assert back["points"].tolist()[:2] == [-5.0, 2.5] and back["points"].dtype == float


@pytest.fixture(scope="module")
def hostile_bundle(tmp_path_factory):
    """A published bundle whose units are named as an attacker would."""
    tmp = tmp_path_factory.mktemp("csv")
    raw = tmp / "raw"
    shutil.copytree(FIXTURE, raw)
    units = pd.read_csv(raw / "units.csv", dtype=str)
    units["单位名称"] = [HOSTILE.get(u, n) for u, n in zip(units["单位编码"], units["单位名称"])]
    units.to_csv(raw / "units.csv", index=False, encoding="utf-8")  # delivered as an office would, formulas and all
    out = tmp / "out"
    return run_bundle(raw, out), raw, out  # a real run: verify regenerates all of it


def _cells(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))


def test_the_csv_text_starts_formula_cells_with_a_quote(hostile_bundle):
    bundle, _, _ = hostile_bundle
    rows = _cells(bundle / "scores" / "unit_scores.csv")
    name = {r[0]: r[1] for r in rows[1:]}
    for uid, value in HOSTILE.items():
        expected = "'" + value
        assert name[uid] == expected, uid
    # no cell anywhere in the person-facing CSVs starts a formula
    for path in [*bundle.glob("scores/*.csv"), *bundle.glob("reports/*.csv")]:
        for row in _cells(path)[1:]:
            for cell in row:
                assert not (cell[:1] in ("=", "+", "@", "\t", "\r") or (cell[:1] == "-" and not _number(cell))), (path.name, cell)
    # numbers stay numbers: the deductions are written as negative numbers
    points = [r[3] for r in _cells(bundle / "scores" / "line_items.csv")[1:]]
    assert any(p.startswith("-") and _number(p) for p in points)


def _number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def test_the_program_reads_its_own_csvs_back_exactly(hostile_bundle):
    bundle, _, out = hostile_bundle
    p = stages.RunParams(county="sihong", year=2023, framework="sihong-new-media-2023", raw_dir="", out_dir=str(out))
    res = stages.load_results(p)
    names = dict(zip(res.unit_scores["unit_id"], res.unit_scores["unit_name"]))
    for uid, value in HOSTILE.items():
        assert names[uid] == value
    assert res.line_items["points"].dtype == float and (res.line_items["points"] < 0).any()  # deductions stay numbers
    assert verify.verify(bundle).ok


def test_the_year_comparison_matches_escaped_names_exactly(hostile_bundle, tmp_path):
    """Last year's bundle holds the escaped names; this year's comparison reads them back as they were."""
    bundle, raw, _ = hostile_bundle
    out = tmp_path / "out"
    prev = out / "sihong" / "2022"
    shutil.copytree(bundle, prev)
    (prev / "manifest.json").unlink()  # not last year's manifest: the table is checked on its own
    # last year's unit ids differed: matching falls back to the (escaped, then restored) names
    us = csvio.read_csv(prev / "scores" / "unit_scores.csv", dtype={"unit_id": str, "unit_name": str})
    us["unit_id"] = "X" + us["unit_id"]
    csvio.write_csv(us, prev / "scores" / "unit_scores.csv")
    now = make_bundle(raw, out, report=True)
    cmp = csvio.read_csv(now / "reports" / "与2022对比.csv", dtype={"unit_id": str, "unit_name": str, "grade_prev": str, "grade": str})
    for uid, value in HOSTILE.items():
        row = cmp[cmp["unit_id"] == uid].iloc[0]
        assert row["unit_name"] == value
        # matched by name (the ids changed): last year's rank and grade are this year's, the same evidence
        assert row["rank_prev"] == row["rank"] and row["grade_prev"] == row["grade"], uid
    assert "'=1+1" in (now / "reports" / "与2022对比.csv").read_text(encoding="utf-8-sig")


def test_delivered_evidence_copies_stay_verbatim(hostile_bundle):
    bundle, raw, _ = hostile_bundle
    copies = list((bundle / "evidence" / "raw").glob("*")) if (bundle / "evidence" / "raw").is_dir() else []
    for copy in copies:
        assert copy.read_bytes() == (raw / copy.name).read_bytes()
