"""`assessment verify` against hostile and damaged bundles (issue 11, item 12 and the class around it).

`assessment verify b` for a bundle at a short relative path raised IndexError (`bundle.parents[1]`).
A manifest is input like any other: paths outside the bundle, wrong types and missing keys are a
clear finding (exit 1), never a traceback, and nothing outside the bundle is read.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assessment import cli, verify

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"


@pytest.fixture
def bundle(published_small, tmp_path) -> Path:
    """A copy of the session's published bundle (a real run: verify regenerates all of it)."""
    b = tmp_path / "b"
    shutil.copytree(published_small, b)
    shutil.copytree(published_small.parent / "2022", tmp_path / "2022")  # last year's, beside it (the comparison annex)
    return b


def _manifest(b: Path) -> dict:
    return json.loads((b / "manifest.json").read_text(encoding="utf-8"))


def _write(b: Path, m) -> None:
    (b / "manifest.json").write_text(json.dumps(m, ensure_ascii=False), encoding="utf-8")


def _cli(b: Path, capsys) -> tuple[int, str]:
    code = cli.main(["verify", str(b)])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("where", ["b", "./b", "b/"])
def test_a_bundle_at_a_short_relative_path_verifies(bundle, where):
    done = subprocess.run([sys.executable, "-m", "assessment.cli", "verify", where], cwd=bundle.parent,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "一致 verified" in done.stdout and "Traceback" not in done.stderr


def test_the_bundle_as_the_working_folder_verifies(bundle):
    done = subprocess.run([sys.executable, "-m", "assessment.cli", "verify", "."], cwd=bundle, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


OUTSIDE = "outside-secret.txt"


def _outside_file(b: Path) -> tuple[str, str]:
    """A file beside the bundle with its true hash: if verify read it, the hash would match."""
    path = b.parent / OUTSIDE
    path.write_text("not part of the bundle", encoding="utf-8")
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


def mutate_parent_path(b, m):
    path, digest = _outside_file(b)
    m["outputs"][f"../{OUTSIDE}"] = digest


def mutate_deep_parent_path(b, m):
    m["outputs"]["../../../../../../etc/hostname"] = "0" * 64


def mutate_absolute_path(b, m):
    path, digest = _outside_file(b)
    m["outputs"][path] = digest


def mutate_dotdot_inside(b, m):
    path, digest = _outside_file(b)
    m["outputs"][f"scores/../../{OUTSIDE}"] = digest


def mutate_nul_in_path(b, m):
    m["outputs"]["scores/unit_scores.csv\x00x"] = "0" * 64


def mutate_bad_digest(b, m):
    m["outputs"]["scores/unit_scores.csv"] = 42


def mutate_year_text(b, m):
    m["parameters"]["year"] = "abc"


def mutate_year_list(b, m):
    m["parameters"]["year"] = [2023]


def mutate_year_missing(b, m):
    del m["parameters"]["year"]


def mutate_outputs_list(b, m):
    m["outputs"] = list(m["outputs"])


def mutate_outputs_missing(b, m):
    del m["outputs"]


def mutate_parameters_missing(b, m):
    del m["parameters"]


def mutate_parameters_text(b, m):
    m["parameters"] = "sihong 2023"


def mutate_framework_missing(b, m):
    del m["framework"]


def mutate_framework_path(b, m):
    m["framework"]["id"] = "../../etc/passwd"


def mutate_framework_unknown(b, m):
    m["framework"]["id"] = "no-such-framework"


def mutate_framework_sha_number(b, m):
    m["framework"]["sha256"] = 1


def mutate_county_none(b, m):
    m["parameters"]["county"] = None


def mutate_period_dict(b, m):
    m["parameters"]["period"] = {"q": 3}


def mutate_list_manifest(b, m):
    return [m]


def mutate_null_manifest(b, m):
    return None


MUTATIONS = {name[len("mutate_"):]: f for name, f in globals().items() if name.startswith("mutate_")}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_hostile_manifest_is_a_finding_not_a_crash(name, bundle, capsys):
    m = _manifest(bundle)
    replaced = MUTATIONS[name](bundle, m)
    _write(bundle, m if replaced is None and name != "null_manifest" else replaced)
    code, text = _cli(bundle, capsys)
    assert code == 1, text
    assert "Traceback" not in text and "不一致 difference" in text
    assert "（" in text  # Chinese with English beside


RAW_MANIFESTS = {"not_json": "{not json", "empty": "", "binary": "\udcff", "deep": "[" * 100000 + "]" * 100000}


@pytest.mark.parametrize("name", sorted(RAW_MANIFESTS))
def test_an_unreadable_manifest_is_a_finding(name, bundle, capsys):
    (bundle / "manifest.json").write_bytes(RAW_MANIFESTS[name].encode("utf-8", "surrogateescape"))
    code, text = _cli(bundle, capsys)
    assert code == 1 and "Traceback" not in text and "manifest.json" in text


def test_a_manifest_that_is_a_folder_or_missing(bundle, capsys):
    (bundle / "manifest.json").unlink()
    code, text = _cli(bundle, capsys)
    assert code == 1 and "manifest.json" in text
    (bundle / "manifest.json").mkdir()
    code, text = _cli(bundle, capsys)
    assert code == 1 and "manifest.json" in text and "Traceback" not in text


def test_no_bundle_at_all(tmp_path, capsys):
    code, text = _cli(tmp_path / "nothing-here", capsys)
    assert code == 1 and "Traceback" not in text


def test_a_link_inside_the_bundle_is_not_followed(bundle, capsys, monkeypatch):
    """A file replaced by a link to a file outside (with the outside file's hash recorded) is refused, not read."""
    path, digest = _outside_file(bundle)
    m = _manifest(bundle)
    m["outputs"]["evidence/extra.txt"] = digest
    _write(bundle, m)
    os.symlink(path, bundle / "evidence" / "extra.txt")
    opened = []
    real = verify.sha256_file
    monkeypatch.setattr(verify, "sha256_file", lambda p: opened.append(Path(p).resolve()) or real(p))
    v = verify.verify(bundle)
    assert not v.ok and any("extra.txt" in d for d in v.differences)
    assert Path(path).resolve() not in opened
    code, text = _cli(bundle, capsys)
    assert code == 1 and "Traceback" not in text


def test_a_linked_evidence_table_is_not_read(bundle, tmp_path):
    """The recomputation reads evidence/*.parquet: a link there to a file outside stops verify before it reads."""
    outside = tmp_path / "units.parquet"
    shutil.move(bundle / "evidence" / "units.parquet", outside)
    os.symlink(outside, bundle / "evidence" / "units.parquet")
    v = verify.verify(bundle)
    assert not v.ok and any("units.parquet" in d and "链接" in d for d in v.differences)
    assert not any("recomputed" in c for c in v.checked)


def test_the_untouched_bundle_still_verifies(bundle):
    assert verify.verify(bundle).ok
