"""End to end: `assessment run` through real papermill kernels into a temp dir, and what a bad run leaves."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from assessment import evidence, frameworks, pipeline, scoring

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assessment.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("out")
    done = cli("run", "--county", "sihong", "--year", "2023", "--framework", FW, "--raw", str(FIXTURE), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out / "sihong" / "2023", done


def test_bundle_scores_equal_the_library_call(published):
    bundle, _ = published
    expected = scoring.score(frameworks.load(FW), evidence.read(FIXTURE)).unit_scores
    got = pd.read_csv(bundle / "scores" / "unit_scores.csv", dtype={"unit_id": str}, encoding="utf-8-sig")
    assert got["unit_id"].tolist() == expected["unit_id"].tolist()  # leading zeros kept end to end
    pd.testing.assert_series_equal(got["total"], expected["total"], check_names=False)
    assert got["grade"].tolist() == expected["grade"].tolist() and got["rank"].tolist() == expected["rank"].tolist()
    lines = pd.read_csv(bundle / "scores" / "line_items.csv", dtype={"unit_id": str}, encoding="utf-8-sig")
    assert len(lines) == len(scoring.score(frameworks.load(FW), evidence.read(FIXTURE)).line_items)


def test_bundle_layout_notebooks_and_html(published):
    bundle, done = published
    for stage in ("01_ingest", "02_validate", "03_score", "04_report"):
        nb = json.loads((bundle / "notebooks" / f"{stage}.ipynb").read_text(encoding="utf-8"))
        assert any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), stage  # really executed
        assert "start_time" not in nb["metadata"].get("papermill", {})
        assert (bundle / "notebooks" / f"{stage}.html").stat().st_size > 10_000
    for part in ("evidence/units.parquet", "evidence/events.parquet", "evidence/facts.parquet", "validation/results.json",
                 "validation/summary.md", "scores/scores.xlsx", "manifest.json"):
        assert (bundle / part).is_file(), part
    notification = next((bundle / "reports").glob("通报*.docx"))
    assert str(notification) in done.stdout and str(bundle) in done.stdout


def test_manifest_hashes_match_the_files(published):
    bundle, _ = published
    m = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert m["parameters"]["county"] == "sihong" and m["framework"]["id"] == FW
    assert m["framework"]["sha256"] == frameworks.load(FW).file_hash
    assert m["inputs"] == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(FIXTURE.glob("*.csv"))}
    on_disk = {k: v for k, v in tree_hashes(bundle).items() if k != "manifest.json"}
    assert m["outputs"] == on_disk
    assert m["versions"]["pandas"] == pd.__version__ and m["git_commit"]
    assert m["started"] <= m["finished"]


def test_invalid_evidence_exits_2_and_keeps_the_previous_bundle(published, tmp_path):
    bundle, _ = published
    before = tree_hashes(bundle)
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURE, raw)
    text = (raw / "events.csv").read_text(encoding="utf-8").replace("E010,002,C4", "E010,999,C4")
    (raw / "events.csv").write_text(text, encoding="utf-8")
    done = cli("run", "--county", "sihong", "--year", "2023", "--framework", FW, "--raw", str(raw), "--out", str(bundle.parents[1]))
    assert done.returncode == 2, done.stderr
    assert "events.csv" in done.stderr and "第 11 行" in done.stderr and "unit_id" in done.stderr and "999" in done.stderr
    assert "Traceback" not in done.stderr
    assert tree_hashes(bundle) == before
    assert not list(bundle.parent.glob(".2023.staging-*"))


def test_validate_command_reports_the_same_and_writes_nothing(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURE, raw)
    text = (raw / "events.csv").read_text(encoding="utf-8").replace("E007,002,B3,2023-03-04", "E007,002,B3,2022-12-31")
    (raw / "events.csv").write_text(text, encoding="utf-8")
    done = cli("validate", "--county", "x", "--year", "2023", "--framework", FW, "--raw", str(raw), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "第 8 行" in done.stderr and "2022-12-31" in done.stderr
    assert not (tmp_path / "out" / "x" / "2023").exists()


@pytest.mark.parametrize("args", [
    ["--county", "../etc", "--year", "2023", "--framework", FW],
    ["--county", "sihong", "--year", "20x3", "--framework", FW],
    ["--county", "sihong", "--year", "2023", "--framework", "../../secret"],
    ["--county", "sihong", "--year", "2023", "--framework", FW, "--period", "2023Q9"],
])
def test_hostile_parameters_are_refused_before_anything_runs(args, tmp_path):
    done = cli("run", *args, "--raw", str(FIXTURE), "--out", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not any(tmp_path.iterdir())


def test_a_second_run_of_the_same_county_year_is_refused(tmp_path):
    params = pipeline.resolve("sihong", 2023, FW, FIXTURE, tmp_path, None)
    with pipeline.county_year_lock(params):
        done = cli("run", "--county", "sihong", "--year", "2023", "--framework", FW, "--raw", str(FIXTURE), "--out", str(tmp_path))
    assert done.returncode == 1 and "正在由另一个运行处理" in done.stderr


def test_template_is_what_an_analyst_fills_in(tmp_path):
    done = cli("template", "--framework", FW, "--out", str(tmp_path / "raw" / "evidence.xlsx"))
    assert done.returncode == 0, done.stderr
    import openpyxl

    wb = openpyxl.load_workbook(tmp_path / "raw" / "evidence.xlsx")
    assert [c.value for c in wb["事件"][1]][:4] == ["事件编号", "单位编码", "指标编码", "日期"]
    lists = {str(dv.sqref).split(":")[0][0]: dv.formula1 for dv in wb["事件"].data_validations.dataValidation}
    assert "下拉列表" in lists["C"]
    codes = [c.value for c in wb["下拉列表"]["B"][1:] if c.value]
    assert "A4" in codes and "V1" in codes and "C1" not in codes  # C1 is computed, not filled in
    guide = {row[0].value.strip(): row for row in wb["说明"].iter_rows(min_row=2) if row[0].value}
    assert "错别字" in guide["A4"][7].value
    # filled in, it reads back
    wb["单位"].append(["001", "青阳街道", "乡镇街道"])
    wb["事件"].append(["E1", "001", "A4", "2023-05-06", 2])
    wb.save(tmp_path / "raw" / "evidence.xlsx")
    ev = evidence.read(tmp_path / "raw")
    assert ev.events["unit_id"].tolist() == ["001"] and ev.events["quantity"].tolist() == [2.0]
