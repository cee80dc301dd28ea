"""Does a published bundle say what its own evidence and framework give? (`assessment verify BUNDLE`)

An auditor's check: every file still has the hash the manifest recorded, the framework file is the
one that was used, and the scores recomputed from the bundle's own tidy evidence are identical,
byte for byte, to the published tables.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import frameworks, stages
from .evidence import sha256_file


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
        return head + "\n" + "\n".join(f"不一致 difference: {d}" for d in self.differences)


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
    for rel, digest in outputs.items():
        need(isinstance(digest, str) and bool(SHA256.match(digest)), f"outputs 中 {rel!r} 的哈希无效"[:160], f"invalid hash for {rel!r} in outputs"[:160])
        try:
            _inside(bundle, rel)
        except BadManifest as exc:
            raise BadManifest(f"manifest.json outputs：{exc}") from None
    return m


def verify(bundle: str | Path) -> Verification:
    """Check hashes, framework identity and a full recomputation of the scores.

    A hostile or damaged manifest (paths outside the bundle, wrong types, missing keys) is a finding
    with a clear message, never a crash and never a read outside the bundle."""
    shown = Path(bundle)
    v = Verification(bundle=shown)
    bundle = shown.resolve()
    if not bundle.is_dir():
        v.differences.append(f"运行包不存在或不是文件夹（no bundle folder at {shown}）")
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
        rel = str(p.relative_to(bundle))
        if p.is_symlink():
            links = True
            v.differences.append(f"{rel}：是链接，不属于运行包（a link, not part of a bundle）")
        elif p.is_file():
            on_disk.add(rel)
    on_disk -= {"manifest.json", "manifest.json.sig"}
    outputs = m["outputs"]
    for rel, digest in sorted(outputs.items()):
        path = bundle / rel
        v.checked.append(f"hash {rel}")
        if path.is_symlink() or not path.is_file():
            v.differences.append(f"{rel}：文件缺失（missing）")
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
        v.differences.append(f"框架 {fw_id} 无法加载（cannot load framework）：{' '.join(str(exc).split())[:300]}")
        return v
    v.checked.append(f"framework {fw_id}")
    if fw.file_hash != m["framework"]["sha256"]:
        v.differences.append(f"框架文件 frameworks/{fw_id}.yaml 已改变（the framework file differs from the one used: "
                             f"{m['framework']['sha256'][:12]}… → {fw.file_hash[:12]}…）")
    from . import provenance  # templates, expectation suites, environment, previous bundle, 复核 file

    checked, differences = provenance.check(bundle, m)
    v.checked += checked
    v.differences += differences

    period = params.get("period")
    p = stages.RunParams(county=params["county"], year=int(params["year"]), framework=fw_id, raw_dir=str(bundle / "evidence"),
                         out_dir=str(bundle.parent.parent), period=None if period is None else str(period), bundle_dir=str(bundle))
    try:  # a bundle whose evidence was deleted or damaged is a finding, not a crash
        recomputed, _ = stages.compute(fw, stages.load_evidence(p), stages._period(fw, p), stages.load_adjustments(p))
    except Exception as exc:
        v.differences.append(f"无法由运行包的证据重新计算得分（cannot recompute the scores from the bundle's evidence）：{type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:300]}")
        return v
    with tempfile.TemporaryDirectory() as tmp:
        stages.write_scores(recomputed, Path(tmp))
        for name in ("unit_scores.csv", "indicator_scores.csv", "line_items.csv", "unused_evidence.csv", "scores.xlsx"):
            v.checked.append(f"recomputed {name}")
            published = bundle / "scores" / name
            if published.is_symlink() or not published.is_file():
                continue  # reported above as missing
            if sha256_file(Path(tmp) / name) != sha256_file(published):
                v.differences.append(f"scores/{name}：由运行包证据重新计算的结果与发布的不同（recomputed from the bundle's evidence, it differs）")
    return v
