"""Reproducibility (issue 5): same inputs, same code → the same bytes; `assessment verify` says when not.

Two real runs of the same evidence into two different out dirs (at different depths, at the same
time) must give byte-identical bundles in every file but `manifest.json`, which alone holds times
and where the run wrote: scores, workbooks, documents, evidence parquet, validation JSON, executed
notebooks and their HTML. The manifest is then enough to tell whether a bundle came from given
inputs, and `verify` recomputes a bundle from its own evidence and names what differs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from assessment import cli, frameworks, verify

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("twins")
    outs = [root / "one", root / "two" / "deeper" / "still"]

    def run(out: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "assessment.cli", "run", "--county", "sihong", "--year", "2023", "--framework", FW,
                               "--raw", str(FIXTURE), "--out", str(out)], capture_output=True, text=True, timeout=600)

    with ThreadPoolExecutor(2) as pool:
        for done in pool.map(run, outs):
            assert done.returncode == 0, done.stderr
    return outs[0] / "sihong" / "2023", outs[1] / "sihong" / "2023"


def test_two_runs_give_byte_identical_bundles(twins):
    a, b = (tree_hashes(x) for x in twins)
    assert sorted(a) == sorted(b)
    for part in ("scores/unit_scores.csv", "scores/indicator_scores.csv", "scores/line_items.csv", "scores/scores.xlsx",
                 "evidence/units.parquet", "evidence/events.parquet", "evidence/facts.parquet", "validation/results.json",
                 "validation/summary.md", "notebooks/01_ingest.ipynb", "notebooks/04_report.html"):
        assert part in a, part
    assert any(k.startswith("reports/") and k.endswith(".docx") for k in a) and any(k.startswith("reports/") and k.endswith(".xlsx") for k in a)
    differ = sorted(k for k in a if a[k] != b[k])
    assert differ == ["manifest.json"], differ


def test_the_manifest_alone_says_where_a_bundle_came_from(twins):
    one, two = (json.loads((x / "manifest.json").read_text(encoding="utf-8")) for x in twins)
    for key in ("framework", "inputs", "outputs", "versions", "git_commit"):
        assert one[key] == two[key], key
    assert one["framework"]["sha256"] == frameworks.load(FW).file_hash
    assert one["inputs"] == {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(FIXTURE.glob("*.csv"))}
    assert one["parameters"]["out_dir"] != two["parameters"]["out_dir"]  # where it ran lives here, and only here


def verify_exit(bundle: Path, capsys) -> tuple[int, str]:
    code = cli.main(["verify", str(bundle)])
    return code, capsys.readouterr().out


@pytest.fixture
def copy(twins, tmp_path) -> Path:
    """A copy of a published bundle (same <out>/<county>/<year> shape) to tamper with."""
    dst = tmp_path / "out" / "sihong" / "2023"
    shutil.copytree(twins[0], dst)
    return dst


def test_verify_command_on_a_fresh_bundle(twins):
    done = subprocess.run([sys.executable, "-m", "assessment.cli", "verify", str(twins[0])], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "一致 verified" in done.stdout


def test_verify_names_an_edited_scores_csv(copy, capsys):
    path = copy / "scores" / "unit_scores.csv"
    text = path.read_text(encoding="utf-8-sig")
    edited = text.replace(",73.0,合格,", ",83.0,良好,", 1)  # 005 半城镇: a total and its grade, changed by hand
    assert edited != text
    path.write_text(edited, encoding="utf-8-sig")
    code, out = verify_exit(copy, capsys)
    assert code == 1
    assert "scores/unit_scores.csv：内容与清单记录的哈希不符" in out
    assert "scores/unit_scores.csv：005 total 73.0 → 83.0" in out and "scores/unit_scores.csv：005 grade 合格 → 良好" in out


def test_verify_names_a_changed_framework_file(copy, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "frameworks"
    shutil.copytree(frameworks.frameworks_dir(), folder)
    path = folder / f"{FW}.yaml"
    text = path.read_text(encoding="utf-8")
    edited = text.replace("rule: {type: deduct, per: 1}", "rule: {type: deduct, per: 2}", 1)  # A4 错别字: 2 points a typo
    assert edited != text
    path.write_text(edited, encoding="utf-8")
    monkeypatch.setenv("ASSESSMENT_FRAMEWORKS", str(folder))
    code, out = verify_exit(copy, capsys)
    assert code == 1
    assert f"框架文件 frameworks/{FW}.yaml 已改变" in out and "differs from the one used" in out
    assert "scores/line_items.csv：" in out and "scores/unit_scores.csv：" in out  # and the scores it gives now differ


def test_verify_names_a_deleted_output(copy, capsys):
    notice = sorted((copy / "reports").glob("*.docx"))[-1]
    notice.unlink()
    code, out = verify_exit(copy, capsys)
    assert code == 1 and f"reports/{notice.name}：文件缺失（missing）" in out


def test_verify_reports_deleted_scores_and_evidence_instead_of_crashing(copy, capsys):
    (copy / "scores" / "line_items.csv").unlink()
    (copy / "evidence" / "events.parquet").unlink()
    code, out = verify_exit(copy, capsys)
    assert code == 1
    assert "scores/line_items.csv：文件缺失" in out and "evidence/events.parquet：文件缺失" in out
    assert "regenerated scores/unit_scores.csv" in verify.verify(copy).checked  # regenerated from the delivered files all the same
