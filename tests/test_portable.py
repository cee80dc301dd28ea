"""Portability (issue 14, item 7): `assessment` runs where the POSIX-only modules are missing (Windows).

This machine is Linux, so Windows is stood in for by what matters to the package: a `sitecustomize`
on PYTHONPATH refuses to import `fcntl`, `termios`, `pwd`, `grp` and `resource` and deletes
`os.pread`, `os.pwrite` and `os.fork` — in the run's process and, since the stage kernels inherit
the environment, in every kernel too (each process that loads the prelude notes its pid, and the
test checks kernels did). A real `assessment run` of tests/fixtures/sihong_small in that process,
from and into folders with Chinese names and spaces, publishes a complete bundle whose files are
those of a normal run's, byte for byte (manifest aside: it names its folders). Two overlapping runs
without `fcntl` still refuse the second one at once, naming the first's pid (exit 1, as today).
Statically: no module imports a POSIX-only module at top level, and every text file is opened with
an explicit encoding (and written with "\\n" line ends), so Windows' locale and CRLF never creep in.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from assessment import pipeline, verify

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "assessment"
FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"
POSIX_ONLY = ("fcntl", "termios", "pwd", "grp", "resource")
WAIT = 300  # seconds: an upper bound for waits, never an assertion about speed

PRELUDE = '''
"""Stand-in for Windows (tests/test_portable.py): POSIX-only modules refused, POSIX-only os functions gone."""
import importlib.abc
import os
import sys

REFUSED = {refused!r}


class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in REFUSED:
            with open(os.environ["NOPOSIX_LOG"], "a", encoding="utf-8") as log:
                log.write(f"refused {{os.getpid()}} {{name}}\\n")
            raise ModuleNotFoundError(f"No module named {{name!r}} (refused: no POSIX here)", name=name)
        return None


sys.meta_path.insert(0, _Refuse())
for _name in REFUSED:
    sys.modules.pop(_name, None)
for _attr in ("pread", "pwrite", "fork", "forkpty"):
    if hasattr(os, _attr):
        delattr(os, _attr)
with open(os.environ["NOPOSIX_LOG"], "a", encoding="utf-8") as _log:
    _log.write(f"loaded {{os.getpid()}} {{' '.join(sys.argv)[:120]}}\\n")
'''


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def run_cmd(raw: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "assessment.cli", "run", "--county", "sihong", "--year", "2023", "--framework", FW,
            "--raw", str(raw), "--out", str(out)]


@pytest.fixture(scope="module")
def no_posix(tmp_path_factory) -> dict:
    """The environment of a process (and its kernels) without the POSIX-only modules, and the log its prelude keeps."""
    folder = tmp_path_factory.mktemp("noposix")
    (folder / "sitecustomize.py").write_text(PRELUDE.format(refused=set(POSIX_ONLY)), encoding="utf-8")
    log = folder / "prelude.log"
    log.write_text("", encoding="utf-8")
    path = os.pathsep.join([str(folder), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    return {"env": {**os.environ, "PYTHONPATH": path, "NOPOSIX_LOG": str(log)}, "log": log}


def prelude_pids(log: Path) -> set[str]:
    return {line.split()[1] for line in log.read_text(encoding="utf-8").splitlines() if line.startswith("loaded ")}


@pytest.fixture(scope="module")
def runs(no_posix, tmp_path_factory) -> dict:
    """A normal run, and the same run without the POSIX-only modules from and into `数据 目录/`."""
    root = tmp_path_factory.mktemp("portable")
    normal_out = root / "normal"
    normal = subprocess.run(run_cmd(FIXTURE, normal_out), capture_output=True, text=True, timeout=WAIT,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])})
    data = root / "数据 目录"
    raw = data / "原始 证据 2023"
    shutil.copytree(FIXTURE, raw)
    out = data / "输出 结果"
    bare = subprocess.run(run_cmd(raw, out), capture_output=True, text=True, timeout=WAIT, env=no_posix["env"])
    return {"normal": (normal, normal_out / "sihong" / "2023"), "bare": (bare, out / "sihong" / "2023"), "raw": raw}


def test_the_prelude_refuses_the_posix_only_modules(no_posix):
    code = ("import importlib, os\n"
            f"for m in {POSIX_ONLY!r}:\n"
            "    try:\n        importlib.import_module(m)\n        print('imported', m)\n"
            "    except ImportError:\n        pass\n"
            "print(sorted(a for a in ('pread', 'pwrite', 'fork') if hasattr(os, a)))\n"
            "import assessment.pipeline\nprint('pipeline imported')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=WAIT, env=no_posix["env"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "pipeline imported"], done.stdout


def test_a_run_without_posix_modules_publishes_from_and_into_chinese_folders_with_spaces(runs, no_posix):
    done, bundle = runs["bare"]
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert str(bundle) in done.stdout  # "运行包 bundle: …/数据 目录/输出 结果/sihong/2023"
    # the prelude was loaded by the run and by its stage kernels (four notebooks: four more processes)
    assert len(prelude_pids(no_posix["log"])) >= 5, no_posix["log"].read_text(encoding="utf-8")
    m = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert m["parameters"]["raw_dir"] == str(runs["raw"]) and "数据 目录" in m["parameters"]["out_dir"]
    assert m["outputs"] == {k: v for k, v in tree_hashes(bundle).items() if k != "manifest.json"}
    assert all("\\" not in name for name in m["outputs"]) and "evidence/raw/events.csv" in m["outputs"]
    assert m["run_by"]["user"] and m["run_by"]["host"]
    assert verify.verify(bundle).ok
    # no holder file, staging or .previous left behind (the lock file itself stays on Linux, goes with the lock elsewhere)
    assert sorted(p.name for p in bundle.parent.iterdir() if p.name != ".2023.lock") == ["2023"]


def test_its_bundle_is_a_normal_runs_byte_for_byte(runs):
    normal, normal_bundle = runs["normal"]
    assert normal.returncode == 0, normal.stderr
    done, bundle = runs["bare"]
    assert done.returncode == 0, done.stderr
    ours, theirs = tree_hashes(bundle), tree_hashes(normal_bundle)
    assert set(ours) == set(theirs)
    assert any(k.startswith("scores/") for k in ours) and any(k.startswith("reports/") for k in ours)
    differ = sorted(k for k in ours if ours[k] != theirs[k] and k != "manifest.json")
    assert differ == []


def test_the_lock_refuses_a_second_run_without_fcntl(no_posix, tmp_path):
    """Run A (no fcntl) is held inside its ingest stage; run B (no fcntl) of the same county-year is refused at
    once naming A's pid (exit 1); A stopped by SIGTERM releases the lock and leaves no holder file behind."""
    out = tmp_path / "数据 目录" / "输出"
    first = subprocess.Popen(run_cmd(FIXTURE, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**no_posix["env"], "ASSESSMENT_FAULT": "ingest:sleep:600"})
    holder = out / "sihong" / ".2023.lock.holder"
    try:
        deadline = time.monotonic() + WAIT
        while not list((out / "sihong").glob(".2023.staging-*/evidence/inputs.json")):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.5)
        assert holder.read_text(encoding="utf-8").startswith(f"pid {first.pid} since ")
        second = subprocess.run(run_cmd(FIXTURE, out), capture_output=True, text=True, timeout=WAIT, env=no_posix["env"])
        assert second.returncode == 1, second.stderr
        assert "正在由另一个运行处理" in second.stderr and "holds the lock" in second.stderr and f"pid {first.pid} since" in second.stderr
        assert "Traceback" not in second.stdout + second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        stdout, stderr = first.communicate(timeout=WAIT)
    assert first.returncode == 1 and "SIGTERM" in stderr, stderr
    assert not holder.exists() and not (out / "sihong" / "2023").exists()
    free = subprocess.run([sys.executable, "-c", (
        "import sys\nfrom assessment import pipeline\n"
        f"p = pipeline.resolve('sihong', 2023, {FW!r}, {str(FIXTURE)!r}, {str(out)!r}, None)\n"
        "with pipeline.county_year_lock(p):\n    print('free')")], capture_output=True, text=True, timeout=WAIT, env=no_posix["env"])
    assert done_line(free) == "free", free.stderr


def done_line(done: subprocess.CompletedProcess) -> str:
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def test_the_lock_names_its_holder_in_process(tmp_path):
    """The same lock, taken here (with fcntl): a second taker is refused with the holder's pid; released, it is free."""
    params = pipeline.resolve("sihong", 2023, FW, FIXTURE, tmp_path / "输出 目录", None)
    with pipeline.county_year_lock(params):
        with pytest.raises(pipeline.RunLocked, match=f"pid {os.getpid()} since "):
            with pipeline.county_year_lock(params):
                pass
    assert not (tmp_path / "输出 目录" / "sihong" / ".2023.lock.holder").exists()
    with pipeline.county_year_lock(params):
        pass


# ---- static checks ------------------------------------------------------------------------

def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def top_level_imports(tree: ast.Module) -> set[str]:
    """Modules imported when the module is imported: its body and the if/try/with blocks in it, not functions."""
    names: set[str] = set()
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            todo += [n for field in ("body", "orelse", "finalbody") for n in getattr(node, field, [])]
            todo += [n for h in getattr(node, "handlers", []) for n in h.body]
    return names


def test_no_module_imports_a_posix_only_module_at_top_level():
    found = {f.relative_to(SRC).as_posix(): sorted(top_level_imports(ast.parse(f.read_text(encoding="utf-8"))) & set(POSIX_ONLY))
             for f in modules()}
    assert len(found) > 20  # the scan saw the package
    assert {k: v for k, v in found.items() if v} == {}


TEXT_CALLS = {"open", "read_text", "write_text"}


def text_calls_missing_options(tree: ast.Module) -> list[tuple[int, str, str]]:
    """(line, call, what is missing) for text-mode open()/Path.open()/read_text()/write_text() without
    encoding= (and, when writing, newline=): the platform's defaults are GBK and CRLF on a Chinese Windows."""
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
        if name not in TEXT_CALLS:
            continue
        if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) and fn.value.id in {"os", "z", "zf", "zipfile", "tarfile"}:
            continue  # os.open (a descriptor), zip members (bytes)
        kw = {k.arg: k.value for k in node.keywords}
        mode = "w" if name == "write_text" else "r"
        if name == "open":
            given = kw.get("mode") or (node.args[1] if isinstance(fn, ast.Name) and len(node.args) > 1 else
                                       node.args[0] if isinstance(fn, ast.Attribute) and node.args else None)
            mode = given.value if isinstance(given, ast.Constant) else ("r" if given is None else "?")
        if "b" in mode:
            continue
        missing = [opt for opt in ("encoding", "newline") if opt not in kw and (opt == "encoding" or any(c in mode for c in "wax+"))]
        if missing:
            out.append((node.lineno, ast.unparse(node)[:80], ",".join(missing)))
    return out


def test_every_text_file_is_opened_with_an_explicit_encoding_and_written_with_newline():
    found = {f.relative_to(SRC).as_posix(): text_calls_missing_options(ast.parse(f.read_text(encoding="utf-8"))) for f in modules()}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_text_check_catches_what_it_is_for():
    tree = ast.parse("open(p)\nopen(p, 'w', encoding='utf-8')\nPath(p).write_text(t, encoding='utf-8')\n"
                     "open(p, 'rb')\nPath(p).read_text(encoding='utf-8')\nos.open(p, 0)\n"
                     "open(p, 'w', encoding='utf-8', newline='')\n")
    assert [(line, what) for line, _, what in text_calls_missing_options(tree)] == [(1, "encoding"), (2, "newline"), (3, "newline")]


# ---- the platform's way, where this machine cannot show it -------------------------------

def test_run_by_names_someone_without_pwd_or_uid(monkeypatch):
    """Windows with no USERNAME: getpass then imports pwd, which is not there; the uid is not there either."""
    import getpass

    from assessment import provenance

    def no_pwd():
        raise ModuleNotFoundError("No module named 'pwd'", name="pwd")

    monkeypatch.setattr(getpass, "getuser", no_pwd)
    assert provenance.run_by()["user"] == f"uid {os.getuid()}"
    monkeypatch.delattr(os, "getuid")
    who = provenance.run_by()
    assert who["user"] == "unknown" and who["host"]


def test_problems_named_with_windows_separators_name_the_delivered_folder(monkeypatch, tmp_path):
    """A stage on Windows names `evidence\\raw\\events.csv`; the analyst reads the folder they gave (--raw)."""
    from assessment import delivered
    from assessment.problems import Problem

    monkeypatch.setattr(os, "sep", "\\")
    found = delivered.named_as_delivered([Problem(file="evidence\\raw\\events.csv", message_zh="x", message_en="x"),
                                          Problem(file="evidence\\raw", message_zh="y", message_en="y"),
                                          Problem(file="frameworks\\x.yaml", message_zh="z", message_en="z")], tmp_path)
    assert [p.file for p in found] == [str(tmp_path / "events.csv"), str(tmp_path), "frameworks\\x.yaml"]


def test_a_console_in_gbk_shows_every_message_without_crashing(tmp_path):
    """On a Chinese Windows, output redirected to a file or pipe is GBK: characters it lacks (✓ ⚠ −) are
    replaced, and the command still ends with its own exit code."""
    env = {**os.environ, "PYTHONIOENCODING": "gbk", "PYTHONPATH": str(ROOT / "src")}
    code = ("import sys; from assessment import cli; rc = cli.main(['frameworks', 'list']); "
            "print('✓ ⚠ − ½ 通过'); print('⚠', file=sys.stderr); sys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, cwd=tmp_path)
    assert res.returncode == 0, res.stderr.decode("gbk", "replace")
    assert "通过".encode("gbk") in res.stdout and b"Traceback" not in res.stderr
