"""Does a published bundle say what its own evidence and framework give? (`assessment verify BUNDLE`)

An auditor's check: every file still has the hash the manifest recorded, the framework file is the
one that was used, and the scores recomputed from the bundle's own tidy evidence are identical,
byte for byte, to the published tables.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

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


def verify(bundle: str | Path) -> Verification:
    """Check hashes, framework identity and a full recomputation of the scores."""
    bundle = Path(bundle)
    v = Verification(bundle=bundle)
    manifest_path = bundle / "manifest.json"
    if not manifest_path.is_file():
        v.differences.append(f"缺少 manifest.json（no manifest in {bundle}）")
        return v
    try:
        m = json.loads(manifest_path.read_text(encoding="utf-8"))
        _ = (m["parameters"]["county"], m["framework"]["id"], m["framework"]["sha256"])  # what the checks below need
    except (ValueError, KeyError, TypeError) as exc:
        v.differences.append(f"manifest.json 无法读取或缺少必需的项（unreadable or incomplete manifest）：{type(exc).__name__}: {exc}")
        return v

    on_disk = {str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file()} - {"manifest.json"}
    for rel, digest in sorted(m.get("outputs", {}).items()):
        path = bundle / rel
        v.checked.append(f"hash {rel}")
        if not path.is_file():
            v.differences.append(f"{rel}：文件缺失（missing）")
        elif sha256_file(path) != digest:
            v.differences.append(f"{rel}：内容与清单记录的哈希不符（hash differs from the manifest）")
    for rel in sorted(on_disk - set(m.get("outputs", {}))):
        v.differences.append(f"{rel}：清单中没有这个文件（not in the manifest）")

    params = m["parameters"]
    fw_id = m["framework"]["id"]
    try:
        fw = frameworks.load(fw_id)
    except Exception as exc:  # a framework that no longer loads is a finding, not a crash
        v.differences.append(f"框架 {fw_id} 无法加载（cannot load framework）：{exc}")
        return v
    v.checked.append(f"framework {fw_id}")
    if fw.file_hash != m["framework"]["sha256"]:
        v.differences.append(f"框架文件 frameworks/{fw_id}.yaml 已改变（the framework file differs from the one used: "
                             f"{m['framework']['sha256'][:12]}… → {fw.file_hash[:12]}…）")

    p = stages.RunParams(county=params["county"], year=int(params["year"]), framework=fw_id, raw_dir=str(bundle / "evidence"),
                         out_dir=str(bundle.parents[1]), period=params.get("period"), bundle_dir=str(bundle))
    try:  # a bundle whose evidence was deleted or damaged is a finding, not a crash
        recomputed, _ = stages.compute(fw, stages.load_evidence(p), stages._period(fw, p), stages.load_adjustments(p))
    except Exception as exc:
        v.differences.append(f"无法由运行包的证据重新计算得分（cannot recompute the scores from the bundle's evidence）：{type(exc).__name__}: {exc}")
        return v
    with tempfile.TemporaryDirectory() as tmp:
        stages.write_scores(recomputed, Path(tmp))
        for name in ("unit_scores.csv", "indicator_scores.csv", "line_items.csv", "scores.xlsx"):
            v.checked.append(f"recomputed {name}")
            published = bundle / "scores" / name
            if not published.is_file():
                continue  # reported above as missing
            if sha256_file(Path(tmp) / name) != sha256_file(published):
                v.differences.append(f"scores/{name}：由运行包证据重新计算的结果与发布的不同（recomputed from the bundle's evidence, it differs）")
    return v
