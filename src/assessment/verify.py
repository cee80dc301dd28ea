"""Does a published bundle say what its own delivered evidence gives? (`assessment verify BUNDLE [--raw DIR]`)

An auditor's check: the bundle is regenerated — a full run of the same code from the delivered
files it carries (`evidence/raw/`), or from the office's archive of them (`--raw`) — and every
file is compared byte for byte with the published one: the tidy evidence, the validation, the
scores, every document, the executed notebooks and their HTML. Outputs are byte-identical by
design, so any difference is an edit, and it is named by file, unit, row and column. Besides: each
file's hash against the manifest, the files a bundle of its framework and period must hold, the
manifest against the bundle's own records and this installation.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
import shutil
from pathlib import Path, PurePosixPath

import pandas as pd

from . import appeals, csvio, delivered, differences, frameworks, pipeline, provenance, stages
from .evidence import sha256_file
from .problems import InputError, ParameterError


@dataclass
class Verification:
    bundle: Path
    checked: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def render(self) -> str:
        head = f"运行包 bundle: {self.bundle}"
        if self.ok:
            return head + f"\n一致 verified: {len(self.checked)} 项检查全部通过 (all {len(self.checked)} checks passed)"
        return (head + "\n差异写作 重新生成的值 → 发布的值（differences read: regenerated → published）\n"
                + "\n".join(f"不一致 difference: {d}" for d in self.differences))


MANIFEST_MAX_BYTES = 50 * 1024 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BadManifest(ValueError):
    """The manifest is not what `assessment run` writes; the message says what (Chinese and English)."""


def _inside(bundle: Path, rel: str) -> Path:
    """The file `rel` names inside the bundle; refused when it is absolute, climbs out with '..', or leads out through a link."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise BadManifest(f"路径无效 {rel!r}（invalid path）")
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or Path(rel).is_absolute():
        raise BadManifest(f"路径 {rel} 指向运行包之外（points outside the bundle）")
    path = bundle / rel
    real = path.resolve()
    if real != bundle and bundle not in real.parents:
        raise BadManifest(f"路径 {rel} 经链接指向运行包之外（leads outside the bundle through a link）")
    return path


def read_manifest(bundle: Path) -> dict:
    """manifest.json checked for the shape `assessment run` writes: the keys verify needs, with their types."""
    path = bundle / "manifest.json"
    if path.is_symlink() or not path.is_file():
        raise BadManifest(f"缺少 manifest.json（no manifest in {bundle}）")
    if path.stat().st_size > MANIFEST_MAX_BYTES:
        raise BadManifest("manifest.json 过大（manifest.json is too large）")
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadManifest(f"manifest.json 不是有效的 JSON（not valid JSON: {' '.join(str(exc).split())[:120]}）") from None

    def need(ok: bool, zh: str, en: str) -> None:
        if not ok:
            raise BadManifest(f"manifest.json {zh}（manifest.json: {en}）")

    need(isinstance(m, dict), "应为一个对象", "must be an object")
    params, fw, outputs = m.get("parameters"), m.get("framework"), m.get("outputs")
    need(isinstance(params, dict), "缺少 parameters 或其类型不对", "parameters missing or not an object")
    need(isinstance(fw, dict), "缺少 framework 或其类型不对", "framework missing or not an object")
    need(isinstance(outputs, dict), "缺少 outputs 或其类型不对（应为 路径 → sha256）", "outputs missing or not an object of path → sha256")
    need(isinstance(params.get("county"), str) and bool(params["county"]), "parameters.county 缺失或不是文字", "parameters.county missing or not text")
    year = params.get("year")
    need(isinstance(year, int) and not isinstance(year, bool) or (isinstance(year, str) and year.isdigit() and len(year) == 4),
         f"parameters.year 应为年份，实为 {year!r}"[:120], f"parameters.year must be a year, got {year!r}"[:120])
    period = params.get("period")
    need(period is None or isinstance(period, (str, int)), "parameters.period 类型不对", "parameters.period has the wrong type")
    need(isinstance(fw.get("id"), str) and bool(frameworks.FRAMEWORK_ID.match(fw["id"])), "framework.id 缺失或不是框架编号",
         "framework.id missing or not a framework id")
    need(isinstance(fw.get("sha256"), str), "framework.sha256 缺失或不是文字", "framework.sha256 missing or not text")
    need(params.get("framework") in (None, fw["id"]), f"parameters.framework {params.get('framework')!r} 与 framework.id 不一致"[:160],
         "parameters.framework differs from framework.id")
    need(isinstance(params.get("no_events", False), bool), "parameters.no_events 应为 true/false", "parameters.no_events must be true/false")
    inputs = m.get("inputs")
    need(isinstance(inputs, dict) and all(isinstance(k, str) and isinstance(v, str) and SHA256.match(v) for k, v in inputs.items()),
         "缺少 inputs 或其类型不对（应为 文件名 → sha256）", "inputs missing or not an object of file name → sha256")
    need(isinstance(m.get("git_commit"), str), "缺少 git_commit 或其不是文字", "git_commit missing or not text")
    versions = m.get("versions")
    need(isinstance(versions, dict) and all(isinstance(v, str) for v in versions.values()), "缺少 versions 或其类型不对",
         "versions missing or not an object of name → version")
    for key in ("started", "finished"):
        need(isinstance(m.get(key), str) and _when(m[key]) is not None, f"{key} 缺失或不是带时区的时间", f"{key} missing or not a time with its zone")
    seconds = m.get("stage_seconds", {})
    need(isinstance(seconds, dict) and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in seconds.values()),
         "stage_seconds 类型不对", "stage_seconds must map stages to seconds")
    need(m.get("comparison") is None or isinstance(m["comparison"], dict), "comparison 类型不对", "comparison must be an object")
    for rel, digest in outputs.items():
        need(isinstance(digest, str) and bool(SHA256.match(digest)), f"outputs 中 {rel!r} 的哈希无效"[:160], f"invalid hash for {rel!r} in outputs"[:160])
        try:
            _inside(bundle, rel)
        except BadManifest as exc:
            raise BadManifest(f"manifest.json outputs：{exc}") from None
    return m




def _when(text: str):
    """An ISO time with its zone, or None."""
    import datetime as dt

    try:
        t = dt.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return t if t.tzinfo is not None else None


def required_files(fw: frameworks.Framework, p: stages.RunParams, unit_scores: pd.DataFrame, line_items: pd.DataFrame,
                   inputs: dict[str, str]) -> list[str]:
    """The files a published bundle of this framework and period must hold, whatever its manifest lists.

    Named from the writers themselves (the stages' notebooks, the document file names, the notice
    of every unit with a deduction or a veto, the delivered files the evidence was read from), so
    that deleting a file together with its manifest entry is still found."""
    from .documents import _stem
    from .documents.notices import notice_file_name, units_with_notices

    label = stages._period(fw, p).label
    stem = _stem(fw, None if re.fullmatch(r"\d{4}", str(label).strip()) else label)
    names = [f"evidence/{t}.parquet" for t in ("units", "events", "facts")] + ["evidence/inputs.json", "evidence/reading_notes.json"]
    names += [f"{delivered.RAW.as_posix()}/{name}" for name in sorted(inputs)]
    if any(name in appeals.FILES for name in inputs):
        names.append("evidence/adjustments.parquet")
    names += ["validation/results.json", "validation/summary.md"]
    names += [f"scores/{n}" for n in SCORE_FILES]
    names += [f"reports/通报-{stem}.docx", f"reports/考评结果-{stem}.xlsx", f"reports/{stages.COMPARISON_FILE}",
              "reports/charts/等次分布.png", "reports/charts/各类别得分.png"]
    units = units_with_notices(unit_scores, line_items)
    names += [f"reports/notices/{notice_file_name(str(u), str(n))}" for u, n in zip(units["unit_id"], units["unit_name"])]
    for _, nb, _ in stages.STAGES:
        names += [f"notebooks/{nb}", f"notebooks/{Path(nb).with_suffix('.html').name}"]
    return names


SCORE_FILES = ("unit_scores.csv", "indicator_scores.csv", "line_items.csv", "unused_evidence.csv", "scores.xlsx")  # stages.write_scores


def regenerate(params: dict, raw_dir: Path, previous: Path | None, work: Path) -> Path:
    """The bundle `assessment run` makes of `raw_dir` with the manifest's parameters, built under `work`.

    Last year's (last quarter's) bundle, where it lies beside the bundle being verified, is laid
    beside the regenerated one, as the run found it: the 与上年度对比 annex is regenerated too.
    Raises what the run raises (InputError, ParameterError, StageFailed, RunFailed)."""
    out = work / "out"
    p = pipeline.resolve(params["county"], params["year"], params["framework"], raw_dir, out,
                         None if params.get("period") is None else str(params["period"]), bool(params.get("no_events", False)))
    if previous is not None:
        dest = out / p.county / p.previous_slot
        if previous.is_symlink() or not previous.is_dir():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(previous, dest, follow_symlinks=False)
        else:  # what the comparison reads: its scores and its manifest, as they are (links kept as links)
            shutil.copytree(previous, dest, symlinks=True, ignore=lambda d, names: [n for n in names if Path(d) == previous
                                                                                      and n not in ("scores", "manifest.json")])
    return pipeline.run(p).bundle


def _previous_beside(bundle: Path, params: dict) -> Path | None:
    slot = stages.RunParams(county=params["county"], year=int(params["year"]), framework=params["framework"], raw_dir="", out_dir="",
                            period=None if params.get("period") is None else str(params["period"])).previous_slot
    path = bundle.parent / slot
    return path if path.exists() or path.is_symlink() else None


def _scores_of(folder: Path, fw: frameworks.Framework) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """unit_scores and line_items of a bundle folder, typed as the documents read them; None where unreadable."""
    try:
        us = csvio.read_csv(folder / "scores" / "unit_scores.csv", dtype={k: str for k in stages.ID_COLUMNS})
        li = csvio.read_csv(folder / "scores" / "line_items.csv", dtype={k: str for k in stages.ID_COLUMNS})
        us["vetoed"] = us["vetoed"].astype(str).str.strip().str.lower().eq("true")
        return us, li
    except Exception:  # noqa: BLE001 - a damaged table is reported elsewhere
        return None


def _one_line(text: object, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def verify(bundle: str | Path, raw: str | Path | None = None) -> Verification:
    """Regenerate the bundle from its delivered evidence (or from `raw`, the office's archive) and compare every file.

    Checks, in order: the manifest's shape; each file's hash; no links; the framework file; the
    manifest against the bundle's own records (input hashes) and against this installation (code
    commit, package versions) and its times; the delivered files against `raw`; then a full run
    into a temporary folder, compared byte for byte with every published file but the manifest, and
    the files a bundle of this framework and period must hold. A hostile or damaged manifest (paths
    outside the bundle, wrong types, missing keys) is a finding with a clear message, never a crash
    and never a read outside the bundle."""
    shown = Path(bundle)
    v = Verification(bundle=shown)
    bundle = shown.resolve()
    if not bundle.is_dir():
        v.differences.append(f"运行包不存在或不是文件夹（no bundle folder at {shown}）")
        return v
    if stages.is_draft(bundle):  # what notebooks run by hand wrote: never published, so nothing to verify
        v.differences.append("这是草稿运行包（手动运行笔记本所得，未发布），不能核对；只有 assessment run 发布运行包"
                             "（a draft bundle, made by running notebooks by hand and never published: nothing to verify; only assessment run publishes）")
        return v
    try:
        m = read_manifest(bundle)
    except BadManifest as exc:
        v.differences.append(str(exc))
        return v
    except OSError as exc:
        v.differences.append(f"manifest.json 无法读取（cannot read manifest.json: {exc.strerror or exc}）")
        return v

    on_disk, links = set(), False
    for p in bundle.rglob("*"):
        rel = p.relative_to(bundle).as_posix()
        if p.is_symlink():
            links = True
            v.differences.append(f"{rel}：是链接，不属于运行包（a link, not part of a bundle）")
        elif p.is_file():
            on_disk.add(rel)
    on_disk -= {"manifest.json", "manifest.json.sig"}
    outputs = m["outputs"]
    reported_missing = set()
    for rel, digest in sorted(outputs.items()):
        path = bundle / rel
        v.checked.append(f"hash {rel}")
        if path.is_symlink() or not path.is_file():
            v.differences.append(f"{rel}：文件缺失（missing）")
            reported_missing.add(rel)
        elif sha256_file(path) != digest:
            v.differences.append(f"{rel}：内容与清单记录的哈希不符（hash differs from the manifest）")
    for rel in sorted(on_disk - set(outputs)):
        v.differences.append(f"{rel}：清单中没有这个文件（not in the manifest）")
    if links:  # nothing is read through a link: it may lead outside the bundle
        return v

    params = m["parameters"]
    fw_id = m["framework"]["id"]
    try:
        fw = frameworks.load(fw_id)
    except Exception as exc:  # a framework that no longer loads is a finding, not a crash
        v.differences.append(f"框架 {fw_id} 无法加载（cannot load framework）：{_one_line(exc)}")
        return v
    v.checked.append(f"framework {fw_id}")
    if fw.file_hash != m["framework"]["sha256"]:
        v.differences.append(f"框架文件 frameworks/{fw_id}.yaml 已改变（the framework file differs from the one used: "
                             f"{m['framework']['sha256'][:12]}… → {fw.file_hash[:12]}…）")
    recorded_checked, recorded_differences = provenance.check(bundle, m)  # templates, suites, environment, previous bundle, 复核
    v.checked += recorded_checked
    v.differences += recorded_differences
    _check_records(bundle, m, v)
    raw_src = bundle / delivered.RAW
    if raw is not None:
        raw_src = Path(raw).resolve()
        v.checked.append("delivered files --raw")
        if not raw_src.is_dir():
            v.differences.append(f"--raw {raw} 不是文件夹（--raw is not a folder）")
            return v
        v.differences += delivered.compare(raw_src, bundle / delivered.RAW)
    elif not raw_src.is_dir():
        v.differences.append(f"{delivered.RAW.as_posix()}：运行包中没有交付的证据文件，无法重新生成（the bundle holds no delivered evidence: "
                             f"it cannot be regenerated）")

    run_params = {**params, "framework": fw_id}
    with tempfile.TemporaryDirectory(prefix="assessment-verify-") as tmp:
        regenerated = None
        if raw_src.is_dir():
            v.checked.append("regenerated")
            try:
                regenerated = regenerate(run_params, raw_src, _previous_beside(bundle, params), Path(tmp))
            except (InputError, ParameterError) as exc:
                first = "；".join(x.render() for x in exc.problems[:3])
                v.differences.append(f"由{'归档 --raw' if raw is not None else '运行包'}中的交付证据无法重新生成运行包，证据或参数无效"
                                     f"（cannot regenerate the bundle: invalid evidence or parameters）：{_one_line(first, 500)}")
            except Exception as exc:  # noqa: BLE001 - a run that fails is a finding, not a crash
                v.differences.append(f"无法重新生成运行包（cannot regenerate the bundle）：{_one_line(exc)}")
        if regenerated is not None:
            made = {p.relative_to(regenerated).as_posix() for p in regenerated.rglob("*") if p.is_file()} - {"manifest.json", "manifest.json.sig"}
            for rel in sorted(made - on_disk - reported_missing):
                v.differences.append(f"{rel}：文件缺失，运行会生成这个文件（missing: a run writes this file）")
                reported_missing.add(rel)
            for rel in sorted(on_disk - made):
                v.differences.append(f"{rel}：重新生成的运行包中没有这个文件（a file the regenerated bundle does not have）")
            for rel in sorted(made & on_disk):
                v.checked.append(f"regenerated {rel}")
                if sha256_file(regenerated / rel) != sha256_file(bundle / rel):
                    v.differences += differences.describe(rel, regenerated / rel, bundle / rel)
            status = regenerated / "reports" / stages.COMPARISON_FILE
            if (bundle / "reports" / stages.COMPARISON_FILE).is_file() and status.is_file() and \
                    sha256_file(status) != sha256_file(bundle / "reports" / stages.COMPARISON_FILE):
                v.differences.append(f"提示：与上年度对比所用的运行包 {_previous_slot_name(params)} 应在被核对运行包的旁边，且与当时相同"
                                     f"（note: the previous bundle used for the comparison must lie beside this one, as it was）")
        scores = _scores_of(regenerated, fw) if regenerated is not None else _scores_of(bundle, fw)
        if scores is not None:
            try:
                p = stages.RunParams(county=params["county"], year=int(params["year"]), framework=fw_id, raw_dir="", out_dir="",
                                     period=None if params.get("period") is None else str(params["period"]))
                needed = required_files(fw, p, *scores, m["inputs"])
            except Exception as exc:  # noqa: BLE001
                needed = []
                v.differences.append(f"无法确定运行包应有的文件（cannot tell which files the bundle must hold）：{_one_line(exc)}")
            v.checked.append("required files")
            for rel in needed:
                if rel not in on_disk and rel not in reported_missing:
                    v.differences.append(f"{rel}：文件缺失，此框架和考核期的运行包必须有这个文件（missing: a bundle of this framework and period must hold it）")
    return v


def _previous_slot_name(params: dict) -> str:
    try:
        return stages.RunParams(county=params["county"], year=int(params["year"]), framework="x", raw_dir="", out_dir="",
                                period=None if params.get("period") is None else str(params["period"])).previous_slot
    except Exception:  # noqa: BLE001
        return "?"


def _check_records(bundle: Path, m: dict, v: Verification) -> None:
    """The manifest against what the bundle itself records and against this installation."""
    v.checked.append("manifest inputs")
    path = bundle / "evidence" / "inputs.json"
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError, RecursionError):
        recorded = None
    if not isinstance(recorded, dict):
        v.differences.append("evidence/inputs.json：缺失或无法读取（missing or unreadable）")
    else:
        for name in sorted(set(recorded) | set(m["inputs"])):
            if recorded.get(name) != m["inputs"].get(name):
                v.differences.append(f"manifest.json inputs {name}：与 evidence/inputs.json 记录的哈希不同（differs from evidence/inputs.json）")
            raw = bundle / delivered.RAW / str(name)
            if name in recorded and isinstance(recorded[name], str) and raw.is_file() and not raw.is_symlink() \
                    and sha256_file(raw) != recorded[name]:
                v.differences.append(f"{delivered.RAW.as_posix()}/{name}：与 evidence/inputs.json 记录的读取时哈希不同"
                                     f"（differs from the hash recorded when it was read）")
    v.checked.append("code and versions")
    here = pipeline.git_commit(frameworks.project_root())
    if m["git_commit"] != here:
        v.differences.append(f"manifest.json git_commit：运行包记录的代码版本 {m['git_commit'][:50]} 与核对所用的 {here[:50]} 不同，"
                             f"请用记录的版本核对（the bundle records another code commit than the one verifying it; verify with that commit）")
    versions = pipeline.versions()
    for name in sorted(set(versions) | set(m["versions"])):
        if m["versions"].get(name) != versions.get(name):
            v.differences.append(f"manifest.json versions {name}：记录 {str(m['versions'].get(name))[:40]}，本机 {str(versions.get(name))[:40]}"
                                 f"（recorded version differs from this installation）")
    v.checked.append("times")
    import datetime as dt

    started, finished = _when(m["started"]), _when(m["finished"])
    took = sum(m.get("stage_seconds", {}).values())
    if finished < started:
        v.differences.append("manifest.json：finished 早于 started（finished before started）")
    elif took > (finished - started).total_seconds() + 5:
        v.differences.append(f"manifest.json：各阶段用时之和 {took:.0f} 秒超过 started 到 finished 的时长（stage times exceed the run's duration）")
    if finished > dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10):
        v.differences.append("manifest.json：finished 在未来（finished lies in the future）")
