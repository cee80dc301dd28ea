"""Small things the command line says (issue 12 §10), and file modes of the atomic writer (12 §9)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from assessment import filemodes
from assessment.documents.reproducible import write_bytes


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assessment.cli", *args], capture_output=True, text=True, timeout=300)


def test_frameworks_show_unknown_says_nothing_about_bundles():
    done = cli("frameworks", "show", "nonexistent")
    assert done.returncode == 2 and "找不到框架" in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "共 1 个问题（1 problems）"
    assert "运行包" not in done.stderr and "bundle" not in done.stderr


def test_a_run_refused_says_no_bundle_was_written(tmp_path):
    done = cli("run", "--county", "demo", "--year", "2023", "--framework", "nonexistent", "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "共 1 个问题，未生成运行包（1 problems; no bundle written）"


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077, 0o002])
def test_atomic_writer_gives_the_mode_open_would(tmp_path, umask):
    old = os.umask(umask)
    try:
        assert filemodes.current_umask() == umask
        assert (filemodes.file_mode(), filemodes.dir_mode()) == (0o666 & ~umask, 0o777 & ~umask)
        path = write_bytes(tmp_path / "sub" / "a.docx", b"x")
        with open(tmp_path / "plain.csv", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask == stat.S_IMODE((tmp_path / "plain.csv").stat().st_mode)
    assert stat.S_IMODE((tmp_path / "sub").stat().st_mode) == 0o777 & ~umask
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name.startswith(".tmp-")]
