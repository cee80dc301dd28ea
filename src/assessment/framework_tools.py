"""Tools over framework files: derive next year's (or another county's) framework, check a file,
and the JSON Schema an editor uses to complete and check keys as the analyst types.

Everything here works from the pydantic models and the rule registry, never from a list of keys:
a key added to `Framework`, `Indicator` or a rule's parameter model is carried, checked and shown
without an edit here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import frameworks
from .frameworks import FRAMEWORK_ID, Framework
from .problems import FrameworkError, ParameterError, Problem

SCHEMA_FILE = "framework.schema.json"
SCHEMA_ID = "https://assessment.example/framework.schema.json"  # a name, not fetched


def schema_line(schema_ref: str = f"./{SCHEMA_FILE}") -> str:
    """The first line of a framework file: the YAML language server reads the schema from it."""
    return f"# yaml-language-server: $schema={schema_ref}"


# ---- frameworks new -----------------------------------------------------------------------

@dataclass(frozen=True)
class Derived:
    """What `frameworks new` wrote, for the command's summary."""

    path: Path
    framework: Framework
    shifted: list[tuple[str, str, str, str]]  # (indicator, key, before, after)


def shift_date(d: dt.date, years: int) -> dt.date:
    """The same day `years` later; 29 February becomes 28 February in a common year."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def _date_fields(model: type[BaseModel]) -> set[str]:
    """Parameters a rule's model types as dates (deadline `due`, and any a new rule declares)."""
    out = set()
    for name, field in model.model_fields.items():
        ann = str(field.annotation)
        if "datetime.date" in ann or field.annotation in (dt.date, dt.datetime):
            out.add(name)
    return out


def _shift_value(value: Any, years: int) -> Any:
    """Dates (and ISO date strings) moved by `years`; lists and maps element by element."""
    if isinstance(value, dt.datetime):
        return dt.datetime.combine(shift_date(value.date(), years), value.time())
    if isinstance(value, dt.date):
        return shift_date(value, years)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return shift_date(dt.date.fromisoformat(value.strip()), years)
    if isinstance(value, list):
        return [_shift_value(v, years) for v in value]
    if isinstance(value, dict):
        return {k: _shift_value(v, years) for k, v in value.items()}
    return value


def _shift_rules(node: dict, years: int, shifted: list) -> None:
    """Every dated parameter of every rule in the (raw) indicator tree, shifted in place."""
    from .rules import RULES

    rule = node.get("rule")
    if isinstance(rule, dict) and rule.get("type") in RULES:
        dated = _date_fields(RULES[rule["type"]].params)
        for key, value in list(rule.items()):
            if key == "type":
                continue
            is_date = key in dated or _holds_date(value)
            if is_date:
                new = _shift_value(value, years)
                if new != value:
                    rule[key] = new
                    shifted.append((str(node.get("code")), key, _iso(value), _iso(new)))
    for child in node.get("children") or []:
        if isinstance(child, dict):
            _shift_rules(child, years, shifted)


def _holds_date(value: Any) -> bool:
    if isinstance(value, dt.date):
        return True
    if isinstance(value, list):
        return any(_holds_date(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_date(v) for v in value.values())
    return False


def _iso(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def new_title(title: str, old_year: int, new_year: int, old_place: str, new_place: str) -> str:
    """The title with the old year and the old jurisdiction replaced (where the title names them)."""
    out = title.replace(str(old_year), str(new_year)) if old_year != new_year else title
    if old_place and new_place and old_place != new_place:
        out = out.replace(old_place, new_place)
    return out


def _leading_comments(text: str) -> list[str]:
    """The comment block a framework file opens with (without the schema line)."""
    out = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if "yaml-language-server" in line:
            continue
        out.append(line)
    return out


def derive_text(source: Framework, raw_text: str, new_id: str, year: int | None = None,
                jurisdiction: str | None = None, schema_ref: str = f"./{SCHEMA_FILE}") -> tuple[str, list]:
    """The new framework file as text, and the dated parameters it shifted.

    Works on the file as written (its own keys, in its own order, defaults not expanded), so any
    key the models know is carried over unchanged; only id, year, jurisdiction, title, dated rule
    parameters and one added `choices` line differ."""
    data = yaml.safe_load(raw_text)
    new_year = int(year) if year is not None else source.year
    place = jurisdiction.strip() if jurisdiction else source.jurisdiction
    years = new_year - source.year
    shifted: list = []
    if years:
        for top in data.get("indicators") or []:
            if isinstance(top, dict):
                _shift_rules(top, years, shifted)
    changes = []
    if years:
        changes.append(f"年度 {source.year} → {new_year}")
    if place != source.jurisdiction:
        changes.append(f"地区 {source.jurisdiction} → {place}")
    if shifted:
        changes.append(f"日期参数顺延 {years} 年（" + "，".join(f"{c} {k} {a} → {b}" for c, k, a, b in shifted) + "）")
    line = (f"本框架由 {source.id}（{source.title}，文件 sha256 {source.file_hash}）经 assessment frameworks new 派生"
            + (f"：{'；'.join(changes)}" if changes else "")
            + "；指标、分值、规则、依据（basis）与来源（source）沿用原框架。"
            + f"(derived from {source.id} by `assessment frameworks new`; indicators, points, rules and basis unchanged)")
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "indicators" and "choices" not in data:
            out["choices"] = [line]
        out[key] = value
    out["id"] = new_id
    out["year"] = new_year
    out["jurisdiction"] = place
    out["title"] = new_title(str(data.get("title", source.title)), source.year, new_year, source.jurisdiction, place)
    if "choices" in data:
        out["choices"] = list(data.get("choices") or []) + [line]
    header = [schema_line(schema_ref),
              f"# {out['title']}（{new_id}）",
              f"# 由 assessment frameworks new 从 {source.id} 派生 (derived from {source.id}, sha256 {source.file_hash})。"]
    carried = _leading_comments(raw_text)
    if carried:
        header.append(f"# 以下为原框架 {source.id} 的说明 (notes of the source framework):")
        header += carried
    return "\n".join(header) + "\n" + dump_yaml(out), shifted


def derive(new_id: str, from_id: str, year: int | str | None = None, jurisdiction: str | None = None,
           folder: str | Path | None = None) -> Derived:
    """Write `folder/new_id.yaml` from framework `from_id`; refuse a bad id or an existing file."""
    problems = []

    def bad(param: str, value: Any, zh: str, en: str) -> None:
        problems.append(Problem(file=param, value=value, message_zh=zh, message_en=en, rule="parameter"))

    if not FRAMEWORK_ID.match(new_id or ""):
        bad("NEW_ID", new_id, "新框架编号只能由小写字母、数字和连字符组成（如 sihong-new-media-2024）",
            "the new framework id must be lowercase letters, digits and '-' (e.g. sihong-new-media-2024)")
    if year is not None and (not re.fullmatch(r"\d{4}", str(year)) or not 2000 <= int(year) <= 2100):
        bad("--year", year, "年度应为四位数字，如 2024", "year must be four digits, e.g. 2024")
    if jurisdiction is not None and not str(jurisdiction).strip():
        bad("--jurisdiction", jurisdiction, "地区名称不能为空", "jurisdiction must not be empty")
    folder = Path(folder) if folder else frameworks.frameworks_dir()
    target = folder / f"{new_id}.yaml"
    if not problems and target.exists():
        bad(str(target), None, "文件已存在，不会覆盖；请换一个编号，或先删除该文件", "the file exists and is not overwritten; choose another id or remove it")
    if not problems and not folder.is_dir():
        bad("--dir", str(folder), "目录不存在", "folder does not exist")
    if problems:
        raise ParameterError(problems)
    source = frameworks.load(from_id)
    raw_text = Path(source.path).read_text(encoding="utf-8")
    # the schema line names ./framework.schema.json: the file's home is the frameworks folder
    text, shifted = derive_text(source, raw_text, new_id, int(year) if year is not None else None, jurisdiction)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    try:
        fw = frameworks.load_file(tmp.rename(target))
    except FrameworkError:
        target.unlink(missing_ok=True)  # never leave a file that does not load
        raise
    return Derived(target, fw, shifted)


# ---- readable YAML ------------------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, short all-scalar maps and lists on one line
    (`rule: {type: deduct, per: 1}`, `unit_groups: [乡镇街道, 县直部门]`), Chinese unescaped."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:  # a list written once per use, never &id001 / *id001
        return True


FLOW_LIMIT = 90  # characters: a longer all-scalar map or list is written one item a line


def _flow_ok(node: yaml.Node) -> bool:
    if isinstance(node, yaml.MappingNode):
        parts = [x for pair in node.value for x in pair]
    else:
        parts = list(node.value)
    if not parts or not all(isinstance(p, yaml.ScalarNode) for p in parts):
        return False
    if any("\n" in p.value for p in parts):
        return False
    return sum(len(p.value) + 2 for p in parts) <= FLOW_LIMIT


def _repr_map(dumper: _Dumper, data: dict) -> yaml.Node:
    node = dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=False)
    node.flow_style = _flow_ok(node)
    return node


def _repr_list(dumper: _Dumper, data: list) -> yaml.Node:
    node = dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=False)
    node.flow_style = _flow_ok(node)
    return node


def _repr_str(dumper: _Dumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data.strip("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(dict, _repr_map)
_Dumper.add_representer(list, _repr_list)
_Dumper.add_representer(str, _repr_str)


def dump_yaml(data: Any) -> str:
    """Deterministic, readable YAML: key order kept, no line wrapping inside Chinese prose."""
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100000,
                     default_flow_style=False, indent=2)


# ---- frameworks check ---------------------------------------------------------------------

def resolve_file(name: str | Path) -> Path:
    """A path as given, or the id of a framework in the frameworks folder."""
    path = Path(name)
    if not path.exists() and FRAMEWORK_ID.match(str(name)):
        candidate = frameworks.frameworks_dir() / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    return path


def check_file(name: str | Path) -> tuple[Framework | None, list[Problem]]:
    """Load and check one framework file, running nothing: the framework, or every problem."""
    try:
        return frameworks.load_file(resolve_file(name)), []
    except FrameworkError as exc:
        return None, list(exc.problems)


def summary(fw: Framework) -> str:
    """One line saying what a valid file holds."""
    from .rules import RULES

    leaves = fw.leaves()
    vetoes = sum(1 for l in leaves if RULES[l.rule.type].kind == "veto")
    return (f"框架文件有效：{fw.id}（{fw.title}，{fw.jurisdiction}，{fw.year}年），{len(fw.nodes)} 个指标、"
            f"{len(leaves)} 个评分项（其中单项否决 {vetoes} 项）"
            f"（framework file is valid: {len(fw.nodes)} indicators, {len(leaves)} scored leaves, {vetoes} veto）")


# ---- frameworks schema --------------------------------------------------------------------

# Chinese descriptions for the model's fields that carry none of their own (a field's own
# `description` always wins, so a key added with a description needs nothing here).
DESCRIPTIONS = {
    "Framework": "考评框架文件（frameworks/<id>.yaml）：元数据、等次、排名范围和指标树",
    "Framework.id": "框架编号，与文件名相同：小写字母、数字和连字符，如 sihong-new-media-2024",
    "Framework.title": "考评名称，如 2024年泗洪县政府网站工作考评",
    "Framework.jurisdiction": "地区（县区或市），决定公文的发文机关",
    "Framework.year": "考核年度",
    "Framework.period": "考核周期：year 年度，quarter 季度",
    "Framework.source": "指标来源文件及章节",
    "Framework.unit_groups": "单位类别，如 乡镇街道、县直部门",
    "Framework.levels": "级别（国家级、省级……），按级别计分的规则只能使用这些级别",
    "Framework.grades": "等次，从高到低；最后一档不写 min",
    "Framework.veto_grade": "单项否决单位的等次",
    "Framework.rank_within": "排名范围：unit_group 按单位类别分别排名，overall 全部单位一起排名",
    "Framework.normalise_to": "适用满分不同的单位，基础分折算到的满分（如 100）；不折算写 null",
    "Framework.bonus_requires_base": "基础分达到此分数（含）方可计加分",
    "Framework.choices": "框架中由分析人员作出的选择（来源文件未规定之处），逐条说明",
    "Framework.indicators": "指标树：一级 → 二级 → 三级",
    "Source": "指标来源",
    "Source.file": "来源文件名",
    "Source.section": "来源文件中的章节或附件",
    "Grade": "等次：总分 ≥ min 的单位为该等次；最后一档不写 min",
    "Grade.name": "等次名称，如 优秀",
    "Grade.min": "该等次的最低分（含）",
    "Indicator": "指标（一级/二级/三级）；末级指标带计分规则 rule",
    "Indicator.code": "指标编码，全框架唯一，如 A1",
    "Indicator.name": "指标名称",
    "Indicator.points": "分值（本项满分）",
    "Indicator.pool": "扣分池：从本项分值中扣除下级指标的扣分，扣完为止",
    "Indicator.rule": "计分规则（末级指标）：type 为规则类型，其余为该规则的参数",
    "Indicator.applies_to": "适用的单位类别或单位名称；不写则适用全部单位",
    "Indicator.responsible": "牵头（责任）单位",
    "Indicator.assisting": "配合（协办）单位",
    "Indicator.basis": "来源文件中该项要求的原文",
    "Indicator.scored": "是否评分；不评分的末级指标写 false",
    "Indicator.note": "备注",
    "Indicator.evidence": "需要收集的证据（文字说明）",
    "Indicator.children": "下级指标",
    "RuleSpec": "计分规则：type 为规则类型，其余键为该规则的参数",
}


def _rule_models() -> dict[str, type[BaseModel]]:
    from .rules import RULES

    return {name: RULES[name].params for name in sorted(RULES)}


def build_schema() -> dict[str, Any]:
    """The JSON Schema of a framework file, from the models and the rule registry.

    `rule` is checked per rule type: an if/then per registered type applies that type's
    parameter model (its keys, types and bounds; no other key)."""
    from .rules import RULES

    rule_models = _rule_models()
    models = [(Framework, "validation")] + [(m, "validation") for m in dict.fromkeys(rule_models.values())]
    keys, defs = models_json_schema(models, ref_template="#/$defs/{model}")
    defs = defs["$defs"]
    fw_ref = keys[(Framework, "validation")]["$ref"].split("/")[-1]
    root = defs.pop(fw_ref)
    # fields the loader fills in itself (file hash, path) are not written in a file
    for name, field in Framework.model_fields.items():
        if field.exclude:
            root.get("properties", {}).pop(name, None)
    _describe(root, "Framework")
    for name, d in defs.items():
        _describe(d, name)
    rule_def = _rule_schema(rule_models, keys, RULES)
    defs[_rule_def_name(defs)] = rule_def
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID,
              "title": "考评框架文件 Assessment framework file",
              **{k: v for k, v in root.items() if k != "title"}, "$defs": defs}
    return schema


def _rule_def_name(defs: dict[str, Any]) -> str:
    """The definition `Indicator.rule` refers to (RuleSpec today), found from the model, not by name."""
    prop = (defs.get("Indicator") or {}).get("properties", {}).get("rule") or {}
    for alt in [prop] + list(prop.get("anyOf") or []):
        if "$ref" in alt:
            return alt["$ref"].split("/")[-1]
    raise RuntimeError("Indicator.rule refers to no model definition")


def _describe(d: dict, model: str) -> None:
    if model in DESCRIPTIONS and not _has_chinese(d.get("description")):
        d["description"] = DESCRIPTIONS[model] + (f"（{d['description']}）" if d.get("description") else "")
    for key, prop in (d.get("properties") or {}).items():
        text = DESCRIPTIONS.get(f"{model}.{key}")
        if text and not prop.get("description"):
            prop["description"] = text


def _has_chinese(text: Any) -> bool:
    return isinstance(text, str) and any("\u4e00" <= c <= "\u9fff" for c in text)


def _rule_schema(rule_models: dict[str, type[BaseModel]], keys: dict, rules: dict) -> dict[str, Any]:
    """`rule`: an object with `type` from the registry, and for each type its parameters only."""
    branches = []
    for name, model in rule_models.items():
        branches.append({
            "if": {"properties": {"type": {"const": name}}, "required": ["type"]},
            "then": {"$ref": f"#/$defs/Rule_{name}"},
        })
    return {
        "type": "object",
        "description": DESCRIPTIONS["RuleSpec"],
        "required": ["type"],
        "properties": {"type": {"enum": list(rule_models), "description": "规则类型：" + "；".join(
            f"{n} {rules[n].description}" for n in rule_models)}},
        "allOf": branches,
    }


def _rule_branch_defs(schema: dict[str, Any]) -> None:
    """Per rule type: its parameter model's properties plus `type`, nothing else."""
    from .rules import RULES

    defs = schema["$defs"]
    for name, rt in sorted(RULES.items()):
        params = defs.get(rt.params.__name__) or {}
        props = {"type": {"const": name, "description": rt.description or name}}
        props.update(params.get("properties") or {})
        branch = {"type": "object", "description": f"{name}：{rt.description}".rstrip("："),
                  "properties": props, "required": ["type"] + list(params.get("required") or []),
                  "additionalProperties": False}
        for k in ("allOf", "anyOf", "oneOf"):
            if k in params:
                branch[k] = params[k]
        defs[f"Rule_{name}"] = branch


def schema() -> dict[str, Any]:
    s = build_schema()
    _rule_branch_defs(s)
    while True:  # parameter models now copied into their branches, and anything else unused
        text = json.dumps(s, ensure_ascii=False)
        unused = [n for n in s["$defs"] if f'"#/$defs/{n}"' not in text]
        if not unused:
            break
        for n in unused:
            del s["$defs"][n]
    s["$defs"] = dict(sorted(s["$defs"].items()))
    return s


def schema_text() -> str:
    """The schema as the shipped file holds it (stable key order, Chinese unescaped)."""
    return json.dumps(schema(), ensure_ascii=False, indent=2) + "\n"


def yaml_for_schema(text: str) -> Any:
    """A framework file read the way a YAML language server reads it (YAML 1.2: dates stay text)."""

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.yaml_implicit_resolvers = {k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
                                       for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return yaml.load(text, Loader=_Loader)


def schema_check(text: str, schema_doc: dict | None = None) -> list[str]:
    """Messages from validating a framework file's text against the JSON Schema (for tests and editors)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema_doc or schema())
    data = yaml_for_schema(text)

    def leaves(e):  # "not valid under any of the given schemas" → what is wrong inside
        if not e.context:
            yield e
            return
        for sub in e.context:
            if sub.validator == "type" and sub.validator_value == "null":
                continue  # the `null` alternative of an optional key
            yield from leaves(sub)

    found = {f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for top in validator.iter_errors(data) for e in leaves(top)}
    return sorted(found)
