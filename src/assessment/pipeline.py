"""A run: the four stage notebooks through papermill, then an atomic publish of the bundle.

The bundle is built in a staging folder beside its final place and replaces the previous bundle
only when every stage succeeded; a failed or killed run leaves the previous bundle as it was.
One run per county-year at a time (a lock file); different county-years run in parallel.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

from . import frameworks
from .evidence import sha256_file
from .problems import InputError, ParameterError, Problem
from .stages import STAGES, RunParams, read_problems

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
PERIOD = re.compile(r"^\d{4}(Q[1-4])?$")
PACKAGES = ["assessment", "pandas", "numpy", "pyarrow", "great-expectations", "papermill", "nbconvert", "nbclient", "ipykernel",
            "python-docx", "openpyxl", "chinesecalendar", "matplotlib", "pydantic", "pyyaml"]


class StageFailed(Exception):
    """A stage raised something other than an input error; the failure report says where."""

    def __init__(self, stage: str, report: Path, message: str):
        super().__init__(message)
        self.stage, self.report = stage, report


class RunLocked(Exception):
    """Another run of the same county-year holds the lock."""


@dataclass
class RunResult:
    bundle: Path
    notification: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)


# ---- parameters ---------------------------------------------------------------------------

def check_params(county: str, year: int | str, framework: str, period: str | None) -> list[Problem]:
    """Names are names, not paths or code: checked before anything runs."""
    problems = []

    def bad(param: str, value, zh: str, en: str) -> None:
        problems.append(Problem(file=param, value=value, message_zh=zh, message_en=en, rule="parameter"))

    if not isinstance(county, str) or not NAME.match(county):
        bad("--county", county, "县区名只能由字母、数字、下划线和连字符组成（如 sihong）", "county must be letters, digits, '_' or '-' (e.g. sihong)")
    if not re.fullmatch(r"\d{4}", str(year)) or not 2000 <= int(str(year)) <= 2100:
        bad("--year", year, "年度应为四位数字，如 2023", "year must be four digits, e.g. 2023")
    if not isinstance(framework, str) or not frameworks.FRAMEWORK_ID.match(framework):
        bad("--framework", framework, "框架编号只能由小写字母、数字和连字符组成", "framework id must be lowercase letters, digits and '-'")
    if period is not None and not PERIOD.match(str(period)):
        bad("--period", period, "考核期应为 2023 或 2023Q3", "period must be like 2023 or 2023Q3")
    return problems


def _default_raw(root: Path, county: str, year: int | str, period: str | None) -> Path:
    """data/raw/<county>/<year>, or data/raw/<county>/<year>Q<n> where a quarter has its own folder."""
    if period and "Q" in str(period).upper():
        quarter = root / "data" / "raw" / county / str(period).upper()
        if quarter.is_dir():
            return quarter
    return root / "data" / "raw" / county / str(year)


def resolve(county: str, year: int | str, framework: str, raw: str | Path | None, out: str | Path | None, period: str | None,
            no_events: bool = False) -> RunParams:
    """Checked run parameters with absolute folders; a ParameterError lists everything wrong."""
    problems = check_params(county, year, framework, period)
    if problems:
        raise ParameterError(problems)
    root = frameworks.project_root()
    raw_dir = Path(raw) if raw else _default_raw(root, county, year, period)
    out_dir = Path(out) if out else root / "data" / "processed"
    fw = frameworks.load(framework)  # refuses unknown or malformed frameworks with exit 2
    if int(year) != fw.year:
        raise ParameterError([Problem(file="--year", value=year,
                                      message_zh=f"年度 {year} 与框架 {fw.id} 的年度 {fw.year} 不一致；新年度的框架请用 "
                                                 f"assessment frameworks new <新编号> --from {fw.id} --year {year} 生成",
                                      message_en=f"year {year} differs from the framework's year {fw.year}; derive that year's "
                                                 f"framework with `assessment frameworks new NEW_ID --from {fw.id} --year {year}`",
                                      rule="parameter")])
    if fw.period == "quarter" and not period:
        raise ParameterError([Problem(file="--period", message_zh=f"框架 {fw.id} 按季度考核，请给出 --period，如 {fw.year}Q3",
                                      message_en=f"framework {fw.id} is quarterly: give --period, e.g. {fw.year}Q3", rule="parameter")])
    if not raw_dir.is_dir():
        raise ParameterError([Problem(file=str(raw_dir), message_zh="证据目录不存在（--raw）", message_en="evidence folder does not exist (--raw)", rule="parameter")])
    return RunParams(county=county, year=int(year), framework=framework, raw_dir=str(raw_dir.resolve()), out_dir=str(out_dir.resolve()),
                     period=period, no_events=bool(no_events))


# ---- the folder dance ---------------------------------------------------------------------

def _paths(p: RunParams) -> dict[str, Path]:
    county_dir = Path(p.out_dir) / p.county
    y = p.slot
    return {"county": county_dir, "final": county_dir / y, "lock": county_dir / f".{y}.lock",
            "previous": county_dir / f".{y}.previous", "failed": county_dir / f"{y}.failed"}


@contextmanager
def county_year_lock(p: RunParams) -> Iterator[None]:
    """One run per county-year: a second one is refused at once with a clear message."""
    paths = _paths(p)
    paths["county"].mkdir(parents=True, exist_ok=True)
    fd = os.open(paths["lock"], os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
            raise RunLocked(f"{p.county} {p.year} 正在由另一个运行处理（{holder}），请等待其结束后再运行"
                            f"（another run of {p.county}/{p.year} holds the lock: {holder}）") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} since {dt.datetime.now().isoformat(timespec='seconds')}".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock, also when the process is killed


def recover(p: RunParams) -> None:
    """Undo what a killed run left behind: restore a bundle moved aside, drop stale staging folders."""
    paths = _paths(p)
    if paths["previous"].exists():
        if paths["final"].exists():
            shutil.rmtree(paths["previous"])
        else:
            os.replace(paths["previous"], paths["final"])
    for stale in paths["county"].glob(f".{p.slot}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)


def publish(staging: Path, p: RunParams) -> Path:
    """Swap the finished staging folder into place; the old bundle is moved aside, then removed."""
    paths = _paths(p)
    final, previous = paths["final"], paths["previous"]
    _fsync_tree(staging)
    if final.exists():
        os.replace(final, previous)
    os.replace(staging, final)
    _fsync_dir(final.parent)
    if previous.exists():
        shutil.rmtree(previous)
    return final


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    _fsync_dir(root)


# ---- notebooks ----------------------------------------------------------------------------

def notebooks_dir() -> Path:
    return frameworks.project_root() / "notebooks"


def kernel_env() -> dict[str, str]:
    """The stage kernels' environment: the run's own, with its data folders fixed as absolute paths.

    The kernels work inside the bundle being built, so a folder named relative to the run's working
    folder, or looked up above it (the templates), is resolved here, where the run itself stands.
    """
    env = dict(os.environ)
    for var in ("ASSESSMENT_FRAMEWORKS", "ASSESSMENT_TEMPLATES", "ASSESSMENT_EXPECTATIONS"):
        if env.get(var):
            env[var] = str(Path(env[var]).resolve())
    if not env.get("ASSESSMENT_TEMPLATES"):
        from .documents import office

        try:
            env["ASSESSMENT_TEMPLATES"] = str(office.templates_dir().resolve())
        except office.OfficeError:
            pass  # the report stage says so itself
    return env


SOCKETS_PREFIX = "assessment-kernel-"


def kernel_socket_dir() -> Path:
    """A fresh folder for this run's kernel sockets and connection files, named with the run's pid.

    A run killed with SIGKILL cannot remove its folder; the next run removes the folders of runs
    whose process is gone, so killed runs do not pile up stray files in the temp folder.
    """
    root = Path(tempfile.gettempdir())
    for stale in root.glob(f"{SOCKETS_PREFIX}*-*"):
        pid = stale.name[len(SOCKETS_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or not stale.is_dir() or stale.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(stale, ignore_errors=True)
        except PermissionError:
            pass  # alive, someone else's
    return Path(tempfile.mkdtemp(prefix=f"{SOCKETS_PREFIX}{os.getpid()}-"))


def _ipc_kernel_manager(socket_dir: Path):
    """A kernel manager speaking over local IPC sockets (no open TCP ports, no transport warning)."""
    from jupyter_client.manager import AsyncKernelManager

    env = kernel_env()

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", str(socket_dir / "kernel"))
            # beside the sockets (not a loose /tmp/tmpXXXX.json), so it goes with them
            kwargs.setdefault("connection_file", str(socket_dir / f"connection-{uuid.uuid4().hex[:12]}.json"))
            super().__init__(**kwargs)

        async def start_kernel(self, **kw):
            kw.setdefault("env", env)
            return await super().start_kernel(**kw)

    return IPCKernelManager


def execute_stage(notebook: Path, output: Path, params: RunParams, cwd: Path, socket_dir: Path) -> None:
    """Run one stage notebook in a real kernel (the venv's python3), no papermill progress bar or logs."""
    import logging

    import papermill as pm

    logging.getLogger("papermill").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm.execute_notebook(str(notebook), str(output), parameters=params.to_dict(), kernel_name="python3",
                            progress_bar=False, log_output=False, cwd=str(cwd),
                            kernel_manager_class=_ipc_kernel_manager(socket_dir))


def scrub(nb_path: Path) -> None:
    """Drop execution times and papermill's random cell id from an executed notebook: same inputs, same bytes."""
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key in ("start_time", "end_time", "duration", "input_path", "output_path"):
        meta.pop(key, None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.id = "injected-parameters"  # papermill gives it a random id
        pm = cell.metadata.get("papermill")
        if pm:
            for key in ("start_time", "end_time", "duration"):
                pm.pop(key, None)
    nbformat.write(nb, nb_path)


def to_html(nb_path: Path) -> Path:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_filename(str(nb_path))
    out = nb_path.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def failure_report(stage: str, executed: Path, dest: Path, exc: BaseException) -> Path:
    """Which notebook, which cell, the error: kept beside the bundle for the analyst.

    The cell is named as the analyst finds it in the executed notebook copied beside the report
    (its position, its id and its `In [n]`), with the error and the kernel's traceback.
    """
    dest.mkdir(parents=True, exist_ok=True)
    cell, source, trace = "?", "", ""
    try:
        import nbformat

        nb = nbformat.read(executed, as_version=4)
        for i, c in enumerate(nb.cells):
            errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"] if c.cell_type == "code" else []
            if errors:
                cell = f"第 {i + 1} 个单元格 cell {i + 1}（id {c.get('id', '?')}，In [{c.get('execution_count') or ' '}]）"
                source = c.source
                trace = "\n".join(errors[0].get("traceback", []))
                break
        shutil.copy2(executed, dest / executed.name)
    except Exception:  # the report must be written whatever state the notebook is in
        pass
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    trace = re.sub(r"\x1b\[[0-9;]*m", "", trace or str(getattr(exc, "traceback", "") or ""))
    text = (f"# 运行失败 run failed\n\n- 阶段 stage: {stage}\n- 笔记本 notebook: {executed.name}\n- 单元格 cell: {cell}\n"
            f"- 错误 error: {ename}: {evalue}\n\n## 出错单元格 failing cell\n\n```python\n{source}\n```\n"
            + (f"\n## 内核报告的错误经过 traceback\n\n```\n{trace.strip()}\n```\n" if trace.strip() else ""))
    path = dest / "failure.md"
    path.write_text(text, encoding="utf-8")
    return path


# ---- manifest -----------------------------------------------------------------------------

def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10)
            return out.stdout.strip() + ("+uncommitted-changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return "not a git checkout"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def file_hashes(root: Path, skip: set[str] = frozenset()) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file() and str(p.relative_to(root)) not in skip}


def write_manifest(staging: Path, p: RunParams, fw: frameworks.Framework, started: dt.datetime, timings: dict[str, float]) -> Path:
    inputs = json.loads((staging / "evidence" / "inputs.json").read_text(encoding="utf-8"))
    manifest = {
        "parameters": {"county": p.county, "year": p.year, "framework": p.framework, "period": p.period,
                       "raw_dir": p.raw_dir, "out_dir": p.out_dir, "no_events": bool(p.no_events)},
        "framework": {"id": fw.id, "file": f"frameworks/{fw.id}.yaml", "sha256": fw.file_hash},
        "inputs": inputs,
        "outputs": file_hashes(staging, skip={"manifest.json"}),
        "versions": versions(),
        "git_commit": git_commit(frameworks.project_root()),
        "started": started.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "stage_seconds": {k: round(v, 2) for k, v in timings.items()},
    }
    path = staging / "manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8")
    return path


# ---- the run ------------------------------------------------------------------------------

def run(params: RunParams, stages: list[str] | None = None, progress: Callable[[str], None] | None = None, publish_bundle: bool = True) -> RunResult:
    """Run the stages through papermill and publish the bundle; InputError → exit 2, StageFailed → exit 1."""
    say = progress or (lambda msg: None)
    started = dt.datetime.now(dt.timezone.utc).astimezone()
    fw = frameworks.load(params.framework)
    wanted = [s for s in STAGES if stages is None or s[0] in stages]
    paths = _paths(params)
    with county_year_lock(params):
        recover(params)
        staging = paths["county"] / f".{params.slot}.staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        p = RunParams(**{**params.to_dict(), "bundle_dir": str(staging)})
        # the notebooks work inside the bundle being built, with paths relative to it: an executed notebook
        # must not record where the output root or the staging folder happened to be (same inputs, same bytes)
        nb_params = RunParams(**{**params.to_dict(), "raw_dir": str(Path(params.raw_dir).resolve()), "bundle_dir": ".",
                                 "out_dir": os.path.relpath(params.out_dir, staging)})
        timings: dict[str, float] = {}
        sockets = kernel_socket_dir()
        try:
            nb_out = staging / "notebooks"
            nb_out.mkdir()
            for i, (stage, nb_name, label) in enumerate(wanted, 1):
                say(f"[{i}/{len(wanted)}] {label} {stage} …")
                t0 = time.perf_counter()
                executed = nb_out / nb_name
                try:
                    execute_stage(notebooks_dir() / nb_name, executed, nb_params, cwd=staging, socket_dir=sockets)
                except Exception as exc:  # papermill wraps what the kernel raised
                    problems = read_problems(staging)
                    if problems:
                        raise InputError(problems) from None
                    report = failure_report(stage, executed, paths["failed"], exc)
                    error = f"{getattr(exc, 'ename', type(exc).__name__)}: {getattr(exc, 'evalue', exc)}"
                    raise StageFailed(stage, report, f"阶段 {stage}（{nb_name}）失败：{error}；详见 {report}"
                                                     f"（stage {stage} failed in {nb_name}: {error}; see {report}）") from None
                scrub(executed)
                timings[stage] = time.perf_counter() - t0
                say(f"      {timings[stage]:.1f} s")
            for nb in sorted(nb_out.glob("*.ipynb")):
                to_html(nb)
            warnings_found = _warnings(staging)
            if not publish_bundle:
                shutil.rmtree(staging)
                return RunResult(bundle=staging, notification=None, timings=timings, warnings=warnings_found)
            write_manifest(staging, p, fw, started, timings)
            final = publish(staging, params)
            shutil.rmtree(paths["failed"], ignore_errors=True)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(sockets, ignore_errors=True)
    notes = sorted((final / "reports").glob("*通报*.docx")) if (final / "reports").is_dir() else []
    return RunResult(bundle=final, notification=notes[0] if notes else None, timings=timings, warnings=warnings_found)


def _warnings(bundle: Path) -> list[Problem]:
    """The run's warnings: the one list the summary, the JSON results and the notebooks count."""
    from .validation import bundle_warnings

    return bundle_warnings(bundle)
