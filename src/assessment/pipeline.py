"""A run: the four stage notebooks through papermill, then an atomic publish of the bundle.

The bundle is built in a staging folder beside its final place and replaces the previous bundle
only when every stage succeeded; a failed or killed run leaves the previous bundle as it was.
One run per county-year at a time (a lock file); different county-years run in parallel.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

import filelock

from . import delivered, frameworks
from . import params as params_mod
from . import signing
from .evidence import sha256_file
from .interrupts import Terminated, hold
from .problems import InputError, ParameterError, Problem
from .stages import STAGES, RunParams, fault_point, read_problems

PACKAGES = ["assessment", "pandas", "numpy", "pyarrow", "great-expectations", "papermill", "nbconvert", "nbclient", "ipykernel",
            "python-docx", "openpyxl", "chinesecalendar", "matplotlib", "pydantic", "pyyaml"]


class StageFailed(Exception):
    """A stage raised something other than an input error; the failure report says where."""

    def __init__(self, stage: str, report: Path, message: str):
        super().__init__(message)
        self.stage, self.report = stage, report


class RunLocked(Exception):
    """Another run of the same county-year holds the lock."""


class RunFailed(Exception):
    """The run could not be carried out for a reason outside the evidence: a folder that cannot be
    written, a full disk, a signal. The message is one line; `report` is failure.md where it could be written."""

    def __init__(self, message: str, report: Path | None = None, stage: str | None = None):
        super().__init__(message)
        self.report, self.stage = report, stage


@dataclass
class RunResult:
    bundle: Path
    notification: Path | None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)  # reading notes not among the warnings
    comparison: dict | None = None  # {used, previous, reason[, warning]} from the report stage


# ---- parameters ---------------------------------------------------------------------------

def check_params(county: str, year: int | str, framework: str, period: str | None) -> list[Problem]:
    """Names are names, not paths or code: checked (in their canonical spelling) before anything runs."""
    return params_mod.canonical(county, year, framework, period)[1]


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
    canon, problems = params_mod.canonical(county, year, framework, period)
    if problems:
        raise ParameterError(problems)
    county, year, framework, period = canon.county, canon.year, canon.framework, canon.period
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
    check_office(fw)
    if not raw_dir.is_dir():
        raise ParameterError([Problem(file=str(raw_dir), message_zh="证据目录不存在（--raw）", message_en="evidence folder does not exist (--raw)", rule="parameter")])
    return RunParams(county=county, year=int(year), framework=framework, raw_dir=str(raw_dir.resolve()), out_dir=str(out_dir.resolve()),
                     period=period, no_events=bool(no_events))


def check_office(fw: frameworks.Framework) -> None:
    """The office settings (templates/office.yaml, its letterhead) are read before anything runs: a
    misspelt key or a missing template is refused with exit 2, not found in the report stage."""
    from .documents import office

    try:
        office.office_for(fw)
    except office.OfficeError as exc:
        raise ParameterError([Problem(file="templates/office.yaml", column=exc.key, message_zh=exc.zh,
                                      message_en=exc.en or "office settings cannot be used", rule="office")]) from None


# ---- the folder dance ---------------------------------------------------------------------

def _paths(p: RunParams) -> dict[str, Path]:
    county_dir = Path(p.out_dir) / p.county
    y = p.slot
    return {"county": county_dir, "final": county_dir / y, "lock": county_dir / f".{y}.lock",
            "holder": county_dir / f".{y}.lock.holder",
            "previous": county_dir / f".{y}.previous", "failed": county_dir / f"{y}.failed"}


@contextmanager
def county_year_lock(p: RunParams) -> Iterator[None]:
    """One run per county-year: a second one is refused at once, naming the run that holds the lock.

    The lock is the operating system's (filelock: flock on Linux, msvcrt on Windows), so it goes when
    its process goes, also when killed. Who holds it is written to a small file beside it once the
    lock is taken (a locked file cannot be read by others on Windows), and removed on release."""
    paths = _paths(p)
    try:
        paths["county"].mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(paths["lock"]), timeout=0)
        lock.acquire()
    except filelock.Timeout:
        holder = _read_holder(paths["holder"])
        raise RunLocked(f"{p.county} {p.year} 正在由另一个运行处理（{holder}），请等待其结束后再运行"
                        f"（another run of {p.county}/{p.year} holds the lock: {holder}）") from None
    except OSError as exc:
        blocker = next((a for a in [paths["county"], *paths["county"].parents] if a.exists() and not a.is_dir()), None)
        if blocker is not None:
            raise RunFailed(f"输出目录无法使用：{blocker} 是文件而不是文件夹（--out）（the output folder cannot be used: {blocker} is a "
                            f"file, not a folder (--out)）") from None
        raise RunFailed(f"无法在输出目录中建立 {paths['county']}：{os_reason(exc)}（cannot create {paths['county']} under --out: "
                        f"{os_reason_en(exc)}）") from None
    try:
        try:
            write_small_atomic(paths["holder"], f"pid {os.getpid()} since {dt.datetime.now().isoformat(timespec='seconds')}")
        except OSError:
            pass  # who holds it is for the message of a refused run; the lock itself is taken (a full disk fails the run later, reported)
        yield
    finally:
        try:
            paths["holder"].unlink()
        except OSError:
            pass  # already gone, or never written: the next holder writes its own
        lock.release()  # the operating system releases it too when the process is killed


def _read_holder(path: Path) -> str:
    """'pid N since …' as the holder wrote it; the holder may have taken the lock an instant ago and not written it yet."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return text[:200] or "刚刚开始，尚未写明进程号 just started, pid not yet written"


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
    """Make a rename inside `path` durable where the platform can open a folder (POSIX: O_DIRECTORY).

    Windows cannot open a folder as a file; NTFS journals the rename itself."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
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
        if not pid.isdigit() or not stale.is_dir() or not _ours(stale):
            continue
        if not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{SOCKETS_PREFIX}{os.getpid()}-"))


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs. POSIX: signal 0 (PermissionError: alive, someone else's); Windows:
    psutil (ipykernel's own dependency), since os.kill(pid, 0) there does not probe: it ends the process."""
    if os.name == "nt":
        import psutil

        return psutil.pid_exists(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ours(path: Path) -> bool:
    """A folder this user made (POSIX: its owner uid); Windows gives each user a temp folder of their own."""
    if not hasattr(os, "getuid"):
        return True
    return path.stat().st_uid == os.getuid()


def kernel_transport() -> str:
    """"ipc" (Unix domain sockets: no open TCP ports) where ZeroMQ has it, else "tcp" on 127.0.0.1.

    Windows takes tcp whatever its ZeroMQ says: jupyter_client's ipc transport names POSIX socket files."""
    import zmq

    return "ipc" if zmq.has("ipc") and sys.platform != "win32" else "tcp"


def _kernel_manager(socket_dir: Path):
    """A kernel manager speaking over local IPC sockets (no open TCP ports, no transport warning);
    where ZeroMQ has no IPC (Windows), over TCP on 127.0.0.1."""
    from jupyter_client.manager import AsyncKernelManager

    env = kernel_env()

    transport = kernel_transport()

    class LocalKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", transport)
            kwargs.setdefault("ip", str(socket_dir / "kernel") if transport == "ipc" else "127.0.0.1")
            # beside the sockets (not a loose /tmp/tmpXXXX.json), so it goes with them
            kwargs.setdefault("connection_file", str(socket_dir / f"connection-{uuid.uuid4().hex[:12]}.json"))
            super().__init__(**kwargs)

        async def start_kernel(self, **kw):
            kw.setdefault("env", env)
            # the kernel's own stdout/stderr (not the cells' output, which travels over IOPub) go to a log
            # beside its sockets, never to the analyst's terminal: ipykernel may log a harmless traceback
            # while it shuts down; a failed stage's report quotes the log's end (kernel_log_tail)
            self._kernel_log = open(socket_dir / f"kernel-{uuid.uuid4().hex[:12]}.log", "ab")
            kw.setdefault("stdout", self._kernel_log)
            kw.setdefault("stderr", self._kernel_log)
            LIVE_KERNELS.add(self)
            return await super().start_kernel(**kw)

        async def _async_interrupt_kernel(self):
            # jupyter_client interrupts (SIGINT) a kernel before asking it to shut down; an idle
            # ipykernel then logs "KeyboardInterrupt caught in kernel" on the run's stderr. A
            # finished stage has nothing to interrupt: the shutdown request alone ends it.
            if self.shutting_down:
                return
            return await super()._async_interrupt_kernel()

        async def _async_cleanup_resources(self, restart: bool = False):
            LIVE_KERNELS.discard(self)
            log = getattr(self, "_kernel_log", None)
            if log is not None:
                log.close()
            return await super()._async_cleanup_resources(restart=restart)

    return LocalKernelManager


def kernel_log_tail(socket_dir: Path | None, lines: int = 40) -> str:
    """The last lines the stage kernels wrote to their own stdout/stderr (for a failed stage's report)."""
    if socket_dir is None or not socket_dir.is_dir():
        return ""
    text = []
    for log in sorted(socket_dir.glob("kernel-*.log"), key=lambda f: f.stat().st_mtime):
        try:
            text += log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
    return "\n".join(text[-lines:])


LIVE_KERNELS: set = set()  # kernel managers of this process whose kernel may still run


def stop_kernels() -> list[int]:
    """Kill every stage kernel this process started and that still runs (a run cut short by a signal).

    The kernels run in sessions of their own, so a signal to the run's process group does not reach
    them; their process groups are killed here, at once (the run is being abandoned)."""
    import signal

    stopped = []
    for km in list(LIVE_KERNELS):
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        pid = getattr(proc, "pid", None)
        if pid:
            # POSIX: the kernel's whole process group, then the kernel alone; Windows: Popen.kill (TerminateProcess)
            kills = ((lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)) if hasattr(os, "killpg")
                     else (proc.kill,))
            for kill in kills:
                try:
                    kill()
                    stopped.append(pid)
                    break
                except (ProcessLookupError, PermissionError, OSError):
                    continue
            try:
                proc.wait(timeout=10)
            except Exception:
                pass
        try:
            km.cleanup_connection_file()
        except Exception:
            pass
        LIVE_KERNELS.discard(km)
    return stopped


def execute_stage(notebook: Path, output: Path, params: RunParams, cwd: Path, socket_dir: Path) -> None:
    """Run one stage notebook in a real kernel (the venv's python3), no papermill progress bar or logs."""
    import logging

    import papermill as pm

    logging.getLogger("papermill").setLevel(logging.ERROR)
    # a callback that fails inside the run's event loop (a full disk while papermill saves the notebook)
    # is logged by tornado with its traceback; the failure itself reaches the run as an exception and
    # is reported once, in one line and in failure.md
    for name in ("tornado", "tornado.application", "tornado.general", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm.execute_notebook(str(notebook), str(output), parameters=params.to_dict(), kernel_name="python3",
                            progress_bar=False, log_output=False, cwd=str(cwd),
                            kernel_manager_class=_kernel_manager(socket_dir))


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
    # nbformat.write opens in text mode ("\r\n" on Windows): written here with "\n" on every platform
    with open(nb_path, "w", encoding="utf-8", newline="\n") as f:
        nbformat.write(nb, f)


# nbconvert's lab page loads require.js, MathJax and mermaid from cdnjs (and, for notebooks holding widget
# state, the widget manager from unpkg). Government intranets reach no CDN, and a bundle must read the same
# in ten years: those scripts are left out. The stage notebooks use none of them (no widgets, no LaTeX, no
# mermaid); outputs are text, tables and inline (data:) images, which need no script. CSS stays inlined.
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def html_exporter():
    """The lab HTML exporter with nothing loaded from the network (see OFFLINE_TEMPLATE)."""
    import jinja2
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name="lab", template_file="offline.html.j2", embed_images=True,
                        extra_loaders=[jinja2.DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})])


def to_html(nb_path: Path) -> Path:
    """The executed notebook as one self-contained HTML page (readable offline; same notebook, same bytes)."""
    body, _ = html_exporter().from_filename(str(nb_path))
    out = nb_path.with_suffix(".html")
    with open(out, "w", encoding="utf-8", newline="\n") as f:  # "\n" on every platform: same notebook, same bytes
        f.write(body[: len(body) // 2])
        fault_point("html")  # a disk that fills up half way through the file
        f.write(body[len(body) // 2:])
    return out


OS_ZH = {errno.ENOSPC: "磁盘空间已满", errno.EDQUOT: "磁盘配额已满", errno.EROFS: "文件系统只读", errno.EACCES: "没有写入权限",
         errno.EPERM: "没有写入权限", errno.ENOTDIR: "路径中有一段是文件而不是文件夹", errno.EEXIST: "同名文件已存在",
         errno.EISDIR: "应为文件处是文件夹", errno.ENAMETOOLONG: "路径或文件名过长", errno.ENOENT: "文件或文件夹不存在"}


def os_reason(exc: BaseException) -> str:
    """An operating-system error as an analyst reads it (Chinese)."""
    code = getattr(exc, "errno", None)
    where = getattr(exc, "filename", None)
    return OS_ZH.get(code, "系统错误") + (f"（{where}）" if where else "")


def os_reason_en(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    return (os.strerror(code) if isinstance(code, int) else type(exc).__name__) + (f" ({exc.filename})" if getattr(exc, "filename", None) else "")


def write_small_atomic(path: Path, text: str) -> None:
    """Write a small file whole or not at all: a temp file beside it, fsync, rename. Never leaves 0 bytes."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def describe_failure(stage: str, executed: Path | None, exc: BaseException) -> tuple[str, bytes | None]:
    """failure.md's text, and the executed notebook's bytes (to keep beside it), from a failed stage.

    The cell is named as the analyst finds it in the executed notebook copied beside the report
    (its position, its id and its `In [n]`), with the error and the kernel's traceback."""
    cell, source, trace, nb_bytes = "?", "", "", None
    if executed is not None:
        try:
            import nbformat

            nb_bytes = executed.read_bytes()
            nb = nbformat.reads(nb_bytes.decode("utf-8"), as_version=4)
            for i, c in enumerate(nb.cells):
                errors = [o for o in c.get("outputs", []) if o.get("output_type") == "error"] if c.cell_type == "code" else []
                if errors:
                    cell = f"第 {i + 1} 个单元格 cell {i + 1}（id {c.get('id', '?')}，In [{c.get('execution_count') or ' '}]）"
                    source = c.source
                    trace = "\n".join(errors[0].get("traceback", []))
                    break
        except Exception:  # the report must be written whatever state the notebook is in
            pass
    if isinstance(exc, Terminated):
        ename, evalue = "Terminated", exc.describe()
    else:
        ename = getattr(exc, "ename", type(exc).__name__)
        evalue = getattr(exc, "evalue", str(exc))
    if not trace and not isinstance(exc, Terminated):
        import traceback

        trace = str(getattr(exc, "traceback", "") or "") or "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    trace = re.sub(r"\x1b\[[0-9;]*m", "", trace)
    name = executed.name if executed is not None else "—"
    text = (f"# 运行失败 run failed\n\n- 阶段 stage: {stage}\n- 笔记本 notebook: {name}\n- 单元格 cell: {cell}\n"
            f"- 错误 error: {ename}: {evalue}\n"
            + (f"\n## 出错单元格 failing cell\n\n```python\n{source}\n```\n" if source else "")
            + (f"\n## 内核报告的错误经过 traceback\n\n```\n{trace.strip()}\n```\n" if trace.strip() else ""))
    return text, nb_bytes


def write_failure(dest: Path, text: str, executed_name: str | None = None, nb_bytes: bytes | None = None) -> Path | None:
    """`<year>.failed/failure.md` (+ the executed notebook), small and atomic; None when even that cannot be written.

    On a full disk the report is written after the staging folder is gone (that frees the space);
    if it still cannot be written, no empty or half file is left: the caller prints the reason."""
    try:
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True, exist_ok=True)
        path = dest / "failure.md"
        write_small_atomic(path, text)
    except OSError:
        shutil.rmtree(dest, ignore_errors=True)
        return None
    if nb_bytes is not None and executed_name:
        try:
            write_small_atomic(dest / executed_name, nb_bytes.decode("utf-8"))
        except (OSError, UnicodeDecodeError):
            pass  # failure.md says what happened; the notebook copy is a convenience
    return path


def failure_report(stage: str, executed: Path, dest: Path, exc: BaseException) -> Path | None:
    """Which notebook, which cell, the error: kept beside the bundle for the analyst."""
    text, nb_bytes = describe_failure(stage, executed if executed.is_file() else None, exc)
    return write_failure(dest, text, executed.name, nb_bytes)


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
    """Path inside the bundle (POSIX style, "/" on every platform, as verify reads it) → sha256."""
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).as_posix() not in skip}


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
    comparison = _comparison_status(staging)
    if comparison is not None:  # whether last year's bundle was compared with, and why not
        manifest["comparison"] = {k: comparison.get(k) for k in ("used", "previous", "reason")}
    from .stages import office_status

    office = office_status(staging)
    if office is not None:  # issuer's jurisdiction, configured or derived (the warning), letterhead, demo data
        manifest["office"] = office
    from . import provenance

    # templates, expectation suites, environment, previous bundle's hashes, 复核 file, who ran it, tools
    manifest.update(provenance.collect(p, staging))
    path = staging / "manifest.json"
    path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8", newline="\n")
    return path


# ---- the run ------------------------------------------------------------------------------

def run(params: RunParams, stages: list[str] | None = None, progress: Callable[[str], None] | None = None, publish_bundle: bool = True,
        sign_key: "signing.SigningKey | None" = None) -> RunResult:
    """Run the stages through papermill and publish the bundle (signed with `sign_key` when given:
    the signature is written into the staging folder, so the bundle is published signed or not at all).

    InputError → exit 2; StageFailed, RunFailed (a folder that cannot be written, a full disk, a
    signal: `Terminated` arrives as RunFailed), RunLocked → exit 1. Whatever stops the run, the
    staging folder is removed, the stage kernel stopped, the lock released and the published
    bundle left as it was; a failure other than bad input leaves `<slot>.failed/failure.md`."""
    say = progress or (lambda msg: None)
    started = dt.datetime.now(dt.timezone.utc).astimezone()
    fw = frameworks.load(params.framework)
    wanted = [s for s in STAGES if stages is None or s[0] in stages]
    paths = _paths(params)
    with county_year_lock(params):
        staging = paths["county"] / f".{params.slot}.staging-{os.getpid()}"
        where = {"stage": "prepare", "executed": None}
        sockets: Path | None = None
        try:
            recover(params)
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            p = RunParams(**{**params.to_dict(), "bundle_dir": str(staging)})
            # the notebooks work inside the bundle being built, with paths relative to it: an executed notebook
            # must not record where the output root or the staging folder happened to be (same inputs, same bytes)
            # nor where the evidence was delivered: the notebooks read the bundle's own verbatim copy (evidence/raw/),
            # so a bundle regenerated from that copy (`assessment verify`) gives the same notebooks
            delivered.copy_raw(Path(params.raw_dir), staging)
            nb_params = RunParams(**{**params.to_dict(), "raw_dir": delivered.RAW.as_posix(), "bundle_dir": ".",
                                     "out_dir": Path(os.path.relpath(params.out_dir, staging)).as_posix()})
            timings: dict[str, float] = {}
            sockets = kernel_socket_dir()
            nb_out = staging / "notebooks"
            nb_out.mkdir()
            for i, (stage, nb_name, label) in enumerate(wanted, 1):
                say(f"[{i}/{len(wanted)}] {label} {stage} …")
                t0 = time.perf_counter()
                executed = nb_out / nb_name
                where.update(stage=stage, executed=executed)
                try:
                    execute_stage(notebooks_dir() / nb_name, executed, nb_params, cwd=staging, socket_dir=sockets)
                except Exception as exc:  # papermill wraps what the kernel raised
                    problems = delivered.named_as_delivered(read_problems(staging), Path(params.raw_dir))
                    if problems:
                        raise InputError(problems) from None
                    raise _StageError(stage, nb_name, exc) from None
                scrub(executed)
                timings[stage] = time.perf_counter() - t0
                say(f"      {timings[stage]:.1f} s")
            where.update(stage="html", executed=None)
            for nb in sorted(nb_out.glob("*.ipynb")):
                to_html(nb)
            warnings_found, notes = _warnings(staging)
            comparison = _comparison_status(staging)
            if not publish_bundle:
                shutil.rmtree(staging)
                return RunResult(bundle=staging, notification=None, timings=timings, warnings=warnings_found, notes=notes, comparison=comparison)
            where.update(stage="publish")
            fault_point("publish")
            write_manifest(staging, p, fw, started, timings)
            if sign_key is not None:
                signing.write_signature(staging, sign_key)
            final = publish(staging, params)
            shutil.rmtree(paths["failed"], ignore_errors=True)
        except InputError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        except _StageError as err:
            report = _fail(paths, staging, err.stage, where["executed"], err.cause, kernel_log_tail(sockets))
            error = _one_line(f"{getattr(err.cause, 'ename', type(err.cause).__name__)}: {getattr(err.cause, 'evalue', err.cause)}")
            if "[Errno 28]" in error or "No space left" in error:
                error = "磁盘空间已满 disk full: " + error
            raise StageFailed(err.stage, report, f"阶段 {err.stage}（{err.nb_name}）失败：{error}；{_see(report)}"
                                                 f"（stage {err.stage} failed in {err.nb_name}: {error}; {_see_en(report)}）") from None
        except Terminated as exc:
            hold()  # a second signal must not cut the cleanup short
            stop_kernels()
            report = _fail(paths, staging, where["stage"], where["executed"], exc)
            raise RunFailed(f"收到 {exc.name}，运行在阶段 {where['stage']} 中止，未发布运行包，原运行包未改动；{_see(report)}"
                            f"（terminated by {exc.name} in stage {where['stage']}: nothing published, the previous bundle is untouched; "
                            f"{_see_en(report)}）", report, where["stage"]) from None
        except OSError as exc:
            report = _fail(paths, staging, where["stage"], where["executed"], exc)
            raise RunFailed(f"阶段 {where['stage']} 写入失败：{os_reason(exc)}，未发布运行包，原运行包未改动；{_see(report)}"
                            f"（stage {where['stage']} could not write: {os_reason_en(exc)}; nothing published, the previous bundle "
                            f"is untouched; {_see_en(report)}）", report, where["stage"]) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            _undo_half_publish(paths)
            raise
        finally:
            stop_kernels()
            if sockets is not None:
                shutil.rmtree(sockets, ignore_errors=True)
    docs = sorted((final / "reports").glob("*通报*.docx")) if (final / "reports").is_dir() else []
    return RunResult(bundle=final, notification=docs[0] if docs else None, timings=timings, warnings=warnings_found,
                     notes=notes, comparison=comparison)


class _StageError(Exception):
    """A stage notebook raised something other than an input error (inside run(): becomes StageFailed)."""

    def __init__(self, stage: str, nb_name: str, cause: BaseException):
        super().__init__(str(cause))
        self.stage, self.nb_name, self.cause = stage, nb_name, cause


def _fail(paths: dict[str, Path], staging: Path, stage: str, executed: Path | None, exc: BaseException,
          kernel_log: str = "") -> Path | None:
    """Keep the story, drop the staging folder (freeing the space a full disk needs), then write failure.md."""
    text, nb_bytes = describe_failure(stage, executed if executed is not None and executed.is_file() else None, exc)
    if kernel_log.strip():
        text += f"\n## 内核输出 Kernel output (stdout/stderr, last lines)\n\n```\n{kernel_log}\n```\n"
    shutil.rmtree(staging, ignore_errors=True)
    _undo_half_publish(paths)
    return write_failure(paths["failed"], text, executed.name if executed is not None else None, nb_bytes)


def _undo_half_publish(paths: dict[str, Path]) -> None:
    """Stopped between the two renames of publish: put the previous bundle back at once (as recover() would)."""
    try:
        if paths["previous"].exists() and not paths["final"].exists():
            os.replace(paths["previous"], paths["final"])
    except OSError:
        pass  # the next run's recover() does it


def _see(report: Path | None) -> str:
    return f"详见 {report}" if report else "失败报告也无法写入（多为磁盘已满）"


def _see_en(report: Path | None) -> str:
    return f"see {report}" if report else "the failure report could not be written either (most likely a full disk)"


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _comparison_status(bundle: Path) -> dict | None:
    """reports/comparison.json as the report stage wrote it (None when the report stage did not run)."""
    path = bundle / "reports" / "comparison.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _warnings(bundle: Path) -> tuple[list[Problem], list[Problem]]:
    """(warnings, notes): the one list of warnings that validation/summary.md, validation/results.json
    and the notebooks count (`validation.bundle_warnings`), and any reading note that list does not hold."""
    from .validation import bundle_warnings

    found = bundle_warnings(bundle)
    notes = []
    path = bundle / "evidence" / "reading_notes.json"
    if path.is_file():
        notes = [Problem(**d) for d in json.loads(path.read_text(encoding="utf-8"))]
    seen = {w.render() for w in found}
    return found, [n for n in notes if n.render() not in seen and n.severity != "error"]
