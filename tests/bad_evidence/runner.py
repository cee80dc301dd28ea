"""Running corpus cases: in a worker process that keeps the package imported, or as a real CLI subprocess.

A case costs one or two notebook kernels either way; what a worker saves is starting Python and
importing the package for every case (about 1.5 s of CPU of a reader-level case's 2.7 s). Each
worker owns one county whose published bundle it checks after every case. In-process cases go
through `cli.main` — the same function the `assessment` command runs — with stdout and stderr
captured at the file-descriptor level, so a kernel's own output and any traceback are caught too.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Result:
    case: str
    county: str
    via: str
    returncode: int
    stdout: str
    stderr: str
    intact: bool
    leftovers: list[str]
    seconds: float


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(county_dir: Path) -> list[str]:
    """What a run may leave beside the bundle: only its lock file (and the bundle)."""
    return sorted(p.name for p in county_dir.iterdir() if p.name not in {"2023", ".2023.lock"})


@contextlib.contextmanager
def _environment(extra: dict[str, str]):
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _in_process(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """`cli.main(argv)` with this process's fds 1 and 2 captured (kernels inherit them), as a CLI run would be."""
    from assessment import cli

    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        saved = os.dup(1), os.dup(2)
        os.dup2(out_f.fileno(), 1)
        os.dup2(err_f.fileno(), 2)
        out, err = io.StringIO(), io.StringIO()
        try:
            with _environment(env), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = cli.main(argv)
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 1
                except BaseException:  # what the interpreter would print before exiting 1
                    traceback.print_exc()
                    code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out_f.seek(0)
        err_f.seek(0)
        return code, out.getvalue() + out_f.read().decode("utf-8", "replace"), err.getvalue() + err_f.read().decode("utf-8", "replace")


def _subprocess(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "assessment.cli", *argv], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)
    return done.returncode, done.stdout, done.stderr


def run_cases(county: str, case_ids: list[str], root: str, out: str, baseline: dict[str, str], framework: str) -> list[Result]:
    """Run the cases one after the other against `county`'s published bundle (the body of one worker)."""
    from bad_evidence import CASES, build

    by_id = {c.id: c for c in CASES}
    results = []
    bundle = Path(out) / county / "2023"
    for cid in case_ids:
        case = by_id[cid]
        raw = build(case, Path(root) / "cases" / case.id)
        argv = [case.command, "--county", county, "--year", "2023", "--framework", framework, "--raw", str(raw), "--out", out] + list(case.args)
        t0 = time.perf_counter()
        code, stdout, stderr = (_subprocess if case.via == "cli" else _in_process)(argv, case.env)
        seconds = time.perf_counter() - t0
        results.append(Result(case.id, county, case.via, code, stdout, stderr, tree_hashes(bundle) == baseline,
                              leftovers(Path(out) / county), seconds))
    return results
