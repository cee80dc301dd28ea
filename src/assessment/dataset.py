"""What an evidence folder is: its declaration `dataset.yaml` (synthetic demo data, or an office's own).

Demo evidence (data/raw/demo/2023, `assessment synth`, data/raw/make_demo_evidence.py) declares

    synthetic: true
    description: 演示数据（合成）……
    made_with: assessment synth --framework … --seed 2023

and every document made from it says it is a demo (（演示） in the 红头, a line under the 主送机关),
so a demo document never passes for a real one. The file is read and checked like the evidence
(an unknown key, a missing one or a value of the wrong kind is refused with the file and key); the
ingest stage keeps it in the bundle as `evidence/dataset.json`, where the report stage — and
`verify`, regenerating the documents — reads it. An evidence folder without it is an office's own.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from .problems import EvidenceError, Problem

FILE = "dataset.yaml"
BUNDLE_FILE = "dataset.json"  # in the bundle's evidence/ folder
KEYS = {"synthetic": "是否为合成的演示数据（true/false）", "description": "数据说明", "made_with": "生成方法（可省略）"}
REQUIRED = ("synthetic", "description")


@dataclass(frozen=True)
class Dataset:
    synthetic: bool
    description: str
    made_with: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _problem(key: str | None, zh: str, en: str, value: object = None) -> Problem:
    return Problem(file=FILE, column=key, value=value, message_zh=zh, message_en=en, rule="dataset")


def parse(text: str) -> Dataset:
    """The declaration, checked: every problem at once, each with its key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise EvidenceError([_problem(None, f"无法读取（YAML 格式有误）：{' '.join(str(exc).split())[:200]}",
                                      "cannot be read (malformed YAML)")]) from None
    if not isinstance(data, dict):
        raise EvidenceError([_problem(None, "应为键值表（synthetic、description）", "must be a mapping (synthetic, description)")])
    problems = [_problem(str(k), f"未知的键；可用的键为 {'、'.join(KEYS)}", f"unknown key; known keys: {', '.join(KEYS)}", k)
                for k in data if k not in KEYS]
    problems += [_problem(k, f"缺少必填的键 {k}（{KEYS[k]}）", f"missing required key {k}") for k in REQUIRED if k not in data]
    if "synthetic" in data and not isinstance(data["synthetic"], bool):
        problems.append(_problem("synthetic", "应为 true 或 false", "must be true or false", data["synthetic"]))
    for k in ("description", "made_with"):
        v = data.get(k)
        if k in data and not (isinstance(v, str) and v.strip()) and not (k == "made_with" and v is None):
            problems.append(_problem(k, "应为非空文字", "must be non-empty text", v))
    if problems:
        raise EvidenceError(problems)
    return Dataset(synthetic=data["synthetic"], description=data["description"].strip(),
                   made_with=(data.get("made_with") or None) and str(data["made_with"]).strip())


def read(raw_dir: Path) -> Dataset | None:
    """The evidence folder's declaration, or None where it has none (an office's own evidence)."""
    path = Path(raw_dir) / FILE
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvidenceError([_problem(None, f"无法读取：{type(exc).__name__}", "cannot be read (not a UTF-8 text file?)")]) from None
    return parse(text)


def write(folder: Path, description: str, made_with: str | None = None, synthetic: bool = True) -> Path:
    """Declare a folder's evidence (synth and the demo script: synthetic)."""
    path = Path(folder) / FILE
    lines = "".join(f"  {line.strip()}\n" for line in description.strip().splitlines() if line.strip())
    text = ("# 证据目录说明（assessment 读取并校验）dataset declaration, read and checked\n"
            f"synthetic: {'true' if synthetic else 'false'}\ndescription: |-\n{lines}")
    if made_with:
        text += yaml.safe_dump({"made_with": made_with}, allow_unicode=True, width=1000)
    parse(text)  # what is written reads back as written
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def keep(ds: Dataset | None, evidence_folder: Path) -> None:
    """Into the bundle (evidence/dataset.json), so the documents regenerated from the bundle say the same."""
    if ds is not None:
        (Path(evidence_folder) / BUNDLE_FILE).write_text(json.dumps(ds.to_dict(), ensure_ascii=False, indent=1, sort_keys=True),
                                                         encoding="utf-8", newline="\n")


def of_bundle(bundle: Path) -> Dataset | None:
    """The declaration a bundle keeps (None: real evidence, or a bundle made before declarations)."""
    path = Path(bundle) / "evidence" / BUNDLE_FILE
    if not path.is_file():
        return None
    return Dataset(**json.loads(path.read_text(encoding="utf-8")))
