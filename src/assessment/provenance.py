"""What a run read besides its evidence and framework, recorded in the manifest and checked by `verify`.

A number in a bundle depends on more than the evidence and the framework: the office settings and
templates (文号, 发文机关, letterhead), the Great Expectations suites that let the evidence through,
the environment the run was given (`ASSESSMENT_*` overrides, the fonts configuration), last year's
bundle the 与上年度对比 annex was drawn from, the review decisions (复核) applied, and who ran it
with which tools. `collect` records each with its hash beside `parameters` and `outputs`;
`check` compares each record with what is there now and names what changed.

Manifest keys (all beside `parameters` and `outputs`):

- `templates`: {"dir": str, "files": {path in templates/ → sha256}, "outside": {path → sha256}}
  — every file of the templates folder the run used (office.yaml, fonts.conf, letterheads …), and
  any .docx/.dotx the office settings name outside it.
- `expectations`: {"dir": str, "files": {file name → sha256}} — the stored suites (`<table>.json`);
  the expectations made from the framework follow from the framework's hash and the code's commit.
- `environment`: {name → value} — every `ASSESSMENT_*` variable set, and FONTCONFIG_FILE,
  FONTCONFIG_PATH, SOURCE_DATE_EPOCH, TZ, LANG, LC_ALL where set; a name that looks secret (KEY,
  PASS, SECRET, TOKEN) is recorded as set, never with its value. `environment_files`: {name →
  sha256} of the files such variables name (FONTCONFIG_FILE).
- `comparison`: as before {used, previous, reason}, plus `bundle` (the previous bundle, relative to
  the output root: "<county>/<slot>"), `manifest_sha256` and `unit_scores_sha256` when it was used.
- `adjustments`: {"file": name or null, "sha256": str or null, "rows": int} — the 复核 file.
- `run_by`: {"user": str, "host": str}; `tools`: {"platform": str, "python": str, "libreoffice": str}.
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import re
import socket
from pathlib import Path
from typing import Any

from .evidence import sha256_file

OUTPUT_ENV = ("FONTCONFIG_FILE", "FONTCONFIG_PATH", "SOURCE_DATE_EPOCH", "TZ", "LANG", "LC_ALL")
FILE_ENV = ("FONTCONFIG_FILE",)  # variables naming a file whose content shapes the outputs
SECRET = re.compile(r"KEY|PASS|SECRET|TOKEN|CREDENTIAL", re.I)
SECRET_SET = "（已设置，值不记录 set, value not recorded）"
KEYS = ("templates", "expectations", "environment", "environment_files", "adjustments", "run_by", "tools")


# ---- collect ------------------------------------------------------------------------------

def collect(params, staging: Path) -> dict[str, Any]:
    """The provenance keys of a run's manifest (merged beside `parameters` and `outputs`)."""
    out: dict[str, Any] = {
        "templates": templates_record(),
        "expectations": expectations_record(),
        "environment": environment(),
        "environment_files": environment_files(),
        "adjustments": adjustments_record(params),
        "run_by": run_by(),
        "tools": tools(),
    }
    comparison = comparison_record(params, Path(staging))
    if comparison is not None:
        out["comparison"] = comparison
    return out


def _folder_hashes(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden files and editor back-ups included: they are there), by relative path."""
    if not folder.is_dir():
        return {}
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def templates_dir() -> Path | None:
    from .documents import office

    try:
        return office.templates_dir().resolve()
    except office.OfficeError:
        return None


def _named_documents(settings: Any) -> list[str]:
    """Every .docx/.dotx file name anywhere in the office settings (letterheads, per jurisdiction too)."""
    found: list[str] = []
    if isinstance(settings, dict):
        for v in settings.values():
            found += _named_documents(v)
    elif isinstance(settings, list):
        for v in settings:
            found += _named_documents(v)
    elif isinstance(settings, str) and settings.strip().lower().endswith((".docx", ".dotx")):
        found.append(settings.strip())
    return found


def templates_record() -> dict[str, Any]:
    folder = templates_dir()
    if folder is None:
        return {"dir": None, "files": {}, "outside": {}}
    outside: dict[str, str] = {}
    try:
        import yaml

        settings = yaml.safe_load((folder / "office.yaml").read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - the report stage says what is wrong with the settings
        settings = None
    for name in _named_documents(settings):
        path = (folder / name).resolve()
        if not path.is_relative_to(folder) and path.is_file():
            outside[str(path)] = sha256_file(path)
    return {"dir": str(folder), "files": _folder_hashes(folder), "outside": dict(sorted(outside.items()))}


def expectations_record() -> dict[str, Any]:
    from .validation import expectations_dir

    folder = expectations_dir().resolve()
    return {"dir": str(folder), "files": _folder_hashes(folder)}


def environment(env: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    names = sorted(n for n in env if n.startswith("ASSESSMENT_") or n in OUTPUT_ENV)
    return {n: (SECRET_SET if SECRET.search(n) else env[n]) for n in names}


def environment_files(env: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if env is None else env)
    out = {}
    for name in FILE_ENV:
        value = env.get(name)
        if value and Path(value).is_file():
            out[name] = sha256_file(Path(value))
    return out


def adjustments_record(params) -> dict[str, Any]:
    from . import appeals

    path = appeals.locate(Path(params.raw_dir))
    tidy = Path(params.bundle) / "evidence" / "adjustments.parquet"
    rows = 0
    if tidy.is_file():
        import pyarrow.parquet as pq

        rows = pq.ParquetFile(tidy).metadata.num_rows
    if path is None:
        return {"file": None, "sha256": None, "rows": rows}
    return {"file": path.name, "sha256": sha256_file(path), "rows": rows}


def run_by() -> dict[str, str]:
    """Who ran it: the login name (getpass: USERNAME on Windows, LOGNAME/USER or the password database on POSIX).

    No name to be found (a container's bare uid, or no environment variable and no `pwd` module):
    the uid where the platform has one."""
    try:
        user = getpass.getuser()
    except (ImportError, KeyError, OSError):
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return {"user": user, "host": socket.gethostname()}


def tools() -> dict[str, str]:
    # LibreOffice is not called by a run (documents are written with python-docx); it is named so
    # that an auditor need not wonder
    return {"platform": platform.platform(), "python": platform.python_version(), "libreoffice": "not used"}


def comparison_record(params, staging: Path) -> dict[str, Any] | None:
    """reports/comparison.json as the report stage wrote it, with the previous bundle's hashes when used."""
    path = staging / "reports" / "comparison.json"
    try:
        status = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict):
        return None
    out = {k: status.get(k) for k in ("used", "previous", "reason")}
    previous = str(status.get("previous") or params.previous_slot)
    slot = Path(params.out_dir) / params.county / previous
    out["bundle"] = f"{params.county}/{previous}"
    if status.get("used"):
        manifest = slot / "manifest.json"
        scores = slot / "scores" / "unit_scores.csv"
        out["manifest_sha256"] = sha256_file(manifest) if manifest.is_file() else None
        out["unit_scores_sha256"] = sha256_file(scores) if scores.is_file() else None
    return out


# ---- check --------------------------------------------------------------------------------

class _Bad(ValueError):
    """A provenance key of the manifest has the wrong shape (the message says which, Chinese and English)."""


def _need(ok: bool, key: str, zh: str, en: str) -> None:
    if not ok:
        raise _Bad(f"manifest.json {key} {zh}（manifest.json: {key} {en}）")


def _hash_map(value: Any, key: str) -> dict[str, str]:
    _need(isinstance(value, dict), key, "应为 路径 → sha256 的对象", "must be an object of path → sha256")
    for k, v in value.items():
        _need(isinstance(k, str) and isinstance(v, str) and bool(re.fullmatch(r"[0-9a-f]{64}", v)), key,
              f"中 {str(k)[:60]!r} 的哈希无效", f"holds an invalid hash for {str(k)[:60]!r}")
    return value


def _str_map(value: Any, key: str) -> dict[str, str]:
    _need(isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()), key,
          "应为 名称 → 文字 的对象", "must be an object of name → text")
    return value


def _compare_files(label: str, recorded: dict[str, str], now: dict[str, str], what_zh: str, what_en: str) -> list[str]:
    out = []
    for rel in sorted(set(recorded) | set(now)):
        name = f"{label}/{rel}"
        if rel not in now:
            out.append(f"{name} 已不存在（{what_en}: the file used by the run is gone）")
        elif rel not in recorded:
            out.append(f"{name} 是运行后新增的文件（{what_en}: a file added since the run）")
        elif recorded[rel] != now[rel]:
            out.append(f"{name} 已改变（{what_zh}；{what_en} changed since the run）")
    return out


def check(bundle: Path, manifest: dict) -> tuple[list[str], list[str]]:
    """Each provenance record of `manifest` against the current state: (checks made, differences).

    A key missing or of the wrong type is a difference with a clear message, never a traceback.
    An environment variable that differs now is said among the checks, not as a difference: the
    files such variables point at (templates, expectations, frameworks, fonts.conf) are compared by
    hash, and only their contents shape the outputs."""
    bundle = Path(bundle)
    checked: list[str] = []
    diffs: list[str] = []
    sections = (("templates", _check_templates), ("expectations", _check_expectations), ("environment", _check_environment),
                ("environment_files", _check_environment_files), ("adjustments", _check_adjustments),
                ("run_by", _check_run_by), ("tools", _check_tools), ("comparison", _check_comparison))
    for key, fn in sections:
        if key not in manifest:
            if key == "comparison":
                continue  # a run without the report stage compares with nothing
            diffs.append(f"manifest.json 未记录 {key}（manifest.json does not record {key}）")
            continue
        try:
            c, d = fn(bundle, manifest[key], manifest)
        except _Bad as exc:
            diffs.append(str(exc))
            continue
        checked += c
        diffs += d
    return checked, diffs


def _check_templates(bundle: Path, rec: Any, m: dict) -> tuple[list[str], list[str]]:
    _need(isinstance(rec, dict), "templates", "应为对象", "must be an object")
    files = _hash_map(rec.get("files"), "templates.files")
    outside = _hash_map(rec.get("outside", {}), "templates.outside")
    folder = templates_dir()
    if folder is None:
        return ["templates"], ["templates/ 已找不到（the templates folder is not found now）"]
    diffs = _compare_files("templates", files, _folder_hashes(folder), "公文设置或模板", "office settings or templates")
    for path, digest in sorted(outside.items()):
        p = Path(path)
        if not p.is_file():
            diffs.append(f"{path} 已不存在（a letterhead the office settings named is gone）")
        elif sha256_file(p) != digest:
            diffs.append(f"{path} 已改变（a letterhead the office settings named changed since the run）")
    return [f"templates ({len(files) + len(outside)} files)"], diffs


def _check_expectations(bundle: Path, rec: Any, m: dict) -> tuple[list[str], list[str]]:
    from .validation import expectations_dir

    _need(isinstance(rec, dict), "expectations", "应为对象", "must be an object")
    files = _hash_map(rec.get("files"), "expectations.files")
    diffs = _compare_files("expectations", files, _folder_hashes(expectations_dir().resolve()), "校验规则（期望套件）",
                           "expectation suites")
    return [f"expectations ({len(files)} suites)"], diffs


def _check_environment(bundle: Path, rec: Any, m: dict) -> tuple[list[str], list[str]]:
    then = _str_map(rec, "environment")
    now = environment()
    notes = [f"environment {n}: 运行时 then {then.get(n, '（未设置 unset）')} → 现在 now {now.get(n, '（未设置 unset）')}"
             f"（不影响重新计算：其所指文件按哈希核对 does not change the recomputation: the files it names are checked by hash）"
             for n in sorted(set(then) | set(now)) if then.get(n) != now.get(n)]
    return ["environment"] + notes, []


def _check_environment_files(bundle: Path, rec: Any, m: dict) -> tuple[list[str], list[str]]:
    files = _hash_map(rec, "environment_files")
    diffs = []
    env = m.get("environment") if isinstance(m.get("environment"), dict) else {}
    for name, digest in sorted(files.items()):
        if name not in FILE_ENV:
            diffs.append(f"manifest.json environment_files 含未知的变量 {name[:40]!r}（names a variable that names no file）")
            continue
        path = os.environ.get(name) or env.get(name)
        if not isinstance(path, str) or not Path(path).is_file():
            diffs.append(f"{name} 所指文件已不存在（the file {name} named at the run is gone）")
        elif sha256_file(Path(path)) != digest:
            diffs.append(f"{name}（{path}）已改变（the file {name} names changed since the run）")
    return [f"environment files ({len(files)})"], diffs


def _check_adjustments(bundle: Path, rec: Any, m: dict) -> tuple[list[str], list[str]]:
    _need(isinstance(rec, dict), "adjustments", "应为对象", "must be an object")
    name, digest, rows = rec.get("file"), rec.get("sha256"), rec.get("rows")
    _need(name is None or (isinstance(name, str) and "/" not in name and name not in ("", ".", "..")), "adjustments.file",
          "应为文件名或 null", "must be a file name or null")
    _need(digest is None or (isinstance(digest, str) and bool(re.fullmatch(r"[0-9a-f]{64}", digest))), "adjustments.sha256",
          "应为 sha256 或 null", "must be a sha256 or null")
    _need(isinstance(rows, int) and not isinstance(rows, bool) and rows >= 0, "adjustments.rows", "应为非负整数", "must be a count")
    diffs = []
    tidy = bundle / "evidence" / "adjustments.parquet"
    has_tidy = tidy.is_file() and not tidy.is_symlink()
    if (name is None) == has_tidy:
        diffs.append("evidence/adjustments.parquet 与清单记录的复核文件不一致（the review decisions in the bundle do not match "
                     f"the manifest's adjustments record: {name or 'none recorded'}）")
    if has_tidy:
        import pyarrow.parquet as pq

        try:
            n = pq.ParquetFile(tidy).metadata.num_rows
        except Exception:  # noqa: BLE001 - a damaged file is a finding
            n = -1
        if n != rows:
            diffs.append(f"evidence/adjustments.parquet 有 {n} 行，清单记录 {rows} 行（holds {n} rows, the manifest says {rows}）")
    inputs = m.get("inputs") if isinstance(m.get("inputs"), dict) else {}
    if name is not None and inputs.get(name) != digest:
        diffs.append(f"复核文件 {name} 的哈希与 inputs 记录的不一致（its hash differs from the one in inputs）")
    raw = (m.get("parameters") or {}).get("raw_dir") if isinstance(m.get("parameters"), dict) else None
    checked = [f"adjustments {name or 'none'}"]
    if name is not None and isinstance(raw, str) and (Path(raw) / name).is_file():
        if sha256_file(Path(raw) / name) != digest:
            diffs.append(f"复核文件 {Path(raw) / name} 已改变（the review decisions file changed since the run）")
        else:
            checked.append(f"adjustments file {Path(raw) / name}")
    return checked, diffs


def _check_run_by(bundle: Path, rec: Any, m: dict) -> tuple[list[str], list[str]]:
    _need(isinstance(rec, dict) and isinstance(rec.get("user"), str) and isinstance(rec.get("host"), str), "run_by",
          "应为 {user, host} 文字", "must be {user, host} as text")
    return [f"run by {rec['user']}@{rec['host']}"], []


def _check_tools(bundle: Path, rec: Any, m: dict) -> tuple[list[str], list[str]]:
    _str_map(rec, "tools")
    return ["tools"], []


def _check_comparison(bundle: Path, rec: Any, m: dict) -> tuple[list[str], list[str]]:
    """The previous bundle the comparison used still holds the manifest and unit_scores.csv recorded."""
    _need(isinstance(rec, dict), "comparison", "应为对象", "must be an object")
    used = rec.get("used")
    _need(isinstance(used, bool), "comparison.used", "应为 true/false", "must be true or false")
    if not used:
        return ["comparison: not used"], []
    where = rec.get("bundle")
    _need(isinstance(where, str) and bool(re.fullmatch(r"[^/\\\x00]+/[0-9]{4}(Q[1-4])?", where)) and ".." not in where,
          "comparison.bundle", "应为 <county>/<year>", "must be <county>/<year>")
    manifest_hash, scores_hash = rec.get("manifest_sha256"), rec.get("unit_scores_sha256")
    for key, value in (("manifest_sha256", manifest_hash), ("unit_scores_sha256", scores_hash)):
        _need(value is None or (isinstance(value, str) and bool(re.fullmatch(r"[0-9a-f]{64}", value))), f"comparison.{key}",
              "应为 sha256 或 null", "must be a sha256 or null")
    slot = bundle.parent / where.split("/", 1)[1]  # beside this bundle, whatever root it was moved under
    label = f"上年度运行包 {where}（previous bundle {where}）"
    diffs = []
    for rel, digest in (("manifest.json", manifest_hash), ("scores/unit_scores.csv", scores_hash)):
        path = slot / rel
        if digest is None:
            continue
        if path.is_symlink() or not path.is_file():
            diffs.append(f"{label} 的 {rel} 已不存在（is gone: the comparison cannot be checked）")
        elif sha256_file(path) != digest:
            diffs.append(f"{label} 的 {rel} 已改变（changed since this year's comparison was drawn from it）")
    return [f"comparison with {where}"], diffs
