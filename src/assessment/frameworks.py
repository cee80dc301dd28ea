"""Indicator frameworks as data: `frameworks/<id>.yaml` → typed, checked objects.

A framework is what an office edits, so every mistake in it is refused with a message that
names the file and the indicator, before any evidence is read.
"""

from __future__ import annotations

import hashlib
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .problems import FrameworkError, Problem

DEFAULT_LEVELS = ["国家级", "省级", "市级", "县级"]
FRAMEWORK_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")


class Source(BaseModel):
    """Where in the seed documents the framework comes from."""

    model_config = ConfigDict(extra="forbid")
    file: str
    section: str


class Grade(BaseModel):
    """A grade band: units with a total ≥ `min` get `name`; the last band has no minimum."""

    model_config = ConfigDict(extra="forbid")
    name: str
    min: float | None = None


class RuleSpec(BaseModel):
    """A rule type and its parameters; the parameters are checked by the rule's own model."""

    model_config = ConfigDict(extra="allow")
    type: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Indicator(BaseModel):
    """A node of the indicator tree (一级/二级/三级); a leaf carries a rule."""

    model_config = ConfigDict(extra="forbid")
    code: str
    name: str
    points: float | None = None
    pool: bool = False
    rule: RuleSpec | None = None
    applies_to: list[str] = Field(default_factory=list)
    responsible: list[str] = Field(default_factory=list)
    assisting: list[str] = Field(default_factory=list)
    basis: str | None = None
    scored: bool = True
    note: str | None = None
    evidence: str | None = None  # what an analyst must collect, in words
    children: list["Indicator"] = Field(default_factory=list)

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def walk(self, depth: int = 1, parent: "Indicator | None" = None) -> Iterator[tuple["Indicator", int, "Indicator | None"]]:
        yield self, depth, parent
        for child in self.children:
            yield from child.walk(depth + 1, self)


class Framework(BaseModel):
    """One framework file: metadata, grade bands, ranking scope and the indicator tree."""

    model_config = ConfigDict(extra="forbid")
    id: str
    title: str
    jurisdiction: str
    year: int
    period: Literal["year", "quarter"] = "year"
    source: Source
    unit_groups: list[str]
    levels: list[str] = Field(default_factory=lambda: list(DEFAULT_LEVELS))
    grades: list[Grade]
    veto_grade: str = "不合格"
    rank_within: Literal["unit_group", "overall"] = "unit_group"
    normalise_to: float | None = None
    bonus_requires_base: float | None = None
    choices: list[str] = Field(default_factory=list)
    indicators: list[Indicator]
    file_hash: str | None = Field(default=None, exclude=True)
    path: str | None = Field(default=None, exclude=True)

    # ---- navigation -------------------------------------------------------------------------
    def walk(self) -> Iterator[tuple[Indicator, int, Indicator | None]]:
        """Every node with its depth (1 = 一级) and its parent, in document order."""
        for top in self.indicators:
            yield from top.walk()

    @cached_property
    def nodes(self) -> dict[str, Indicator]:
        return {node.code: node for node, _, _ in self.walk()}

    @cached_property
    def parents(self) -> dict[str, str | None]:
        return {node.code: (parent.code if parent else None) for node, _, parent in self.walk()}

    @cached_property
    def depths(self) -> dict[str, int]:
        return {node.code: depth for node, depth, _ in self.walk()}

    def leaves(self) -> list[Indicator]:
        """Leaves that are scored (办事服务 in Xiamen 2023 is a leaf that is not)."""
        return [n for n, _, _ in self.walk() if n.is_leaf and n.scored and n.rule is not None]

    def item_codes(self) -> dict[str, str]:
        """Checklist item codes (e.g. `B1.a`) → the leaf they belong to."""
        out: dict[str, str] = {}
        for leaf in self.leaves():
            for item in leaf.rule.params.get("items", []) if leaf.rule else []:
                out[str(item["code"])] = leaf.code
        return out

    def top_level(self) -> list[Indicator]:
        """一级 indicators that carry points (the columns of the score table)."""
        from .rules import RULES

        out = []
        for top in self.indicators:
            kinds = {RULES[l.rule.type].kind for l in _leaves_under(top) if l.rule and l.rule.type in RULES}
            if top.scored and kinds and kinds != {"veto"}:
                out.append(top)
        return out

    def levels_priced(self, code: str) -> list[str]:
        """Levels (国家级 …) that the leaf's rule gives points for; empty if it needs none."""
        leaf = self.nodes[code]
        if leaf.rule is None:
            return []
        p = leaf.rule.params
        prices = p.get("per_level") or p.get("levels") or {}
        return list(prices)

    def grade_for(self, total: float) -> str:
        for band in self.grades:
            if band.min is None or total >= band.min - 1e-9:
                return band.name
        return self.grades[-1].name


def _leaves_under(node: Indicator) -> list[Indicator]:
    return [n for n, _, _ in node.walk() if n.is_leaf]


# ---- checks ---------------------------------------------------------------------------------

def check(fw: Framework, file: str) -> list[Problem]:
    """Everything a loader must refuse, each problem naming the file and the indicator."""
    from .rules import RULES

    problems: list[Problem] = []

    def bad(code: str | None, zh: str, en: str, rule: str = "framework") -> None:
        where = f"指标 {code}：" if code else ""
        problems.append(Problem(file=file, column=code, message_zh=where + zh, message_en=(f"indicator {code}: " if code else "") + en, rule=rule))

    if not FRAMEWORK_ID.match(fw.id):
        bad(None, f"框架编号 “{fw.id}” 只能由小写字母、数字和连字符组成", f"framework id '{fw.id}' must be lowercase letters, digits and hyphens")
    stem = Path(file).stem
    if stem != fw.id:
        bad(None, f"框架编号 “{fw.id}” 与文件名 “{stem}” 不一致", f"framework id '{fw.id}' differs from file stem '{stem}'")

    # grade bands: strictly descending minima, only the last may be open
    mins = [g.min for g in fw.grades]
    if not fw.grades:
        bad(None, "未定义等次", "no grade bands")
    for i, g in enumerate(fw.grades):
        if g.min is None and i != len(fw.grades) - 1:
            bad(None, f"等次 “{g.name}” 没有下限，只有最后一档可以没有", f"grade '{g.name}' has no minimum; only the last band may be open")
    numeric = [m for m in mins if m is not None]
    if any(a <= b for a, b in zip(numeric, numeric[1:])):
        bad(None, f"等次分数线顺序错误：{numeric}，应从高到低", f"grade bands out of order: {numeric}; they must descend")
    if fw.veto_grade not in {g.name for g in fw.grades}:
        bad(None, f"单项否决等次 “{fw.veto_grade}” 不在等次中", f"veto grade '{fw.veto_grade}' is not a grade band")

    seen: dict[str, int] = {}
    for node, _, _ in fw.walk():
        seen[node.code] = seen.get(node.code, 0) + 1
        for item in (node.rule.params.get("items", []) if node.rule else []):
            c = str(item.get("code")) if isinstance(item, dict) else str(item)
            seen[c] = seen.get(c, 0) + 1
    for code, n in seen.items():
        if n > 1:
            bad(code, f"指标编码重复（出现 {n} 次）", f"duplicate indicator code ({n} times)")

    known = set(seen)
    for node, depth, parent in fw.walk():
        code = node.code
        if node.children and node.rule is not None:
            bad(code, "有下级指标的节点不能有规则", "a node with children cannot carry a rule")
        if node.is_leaf and node.scored and node.rule is None:
            bad(code, "末级指标缺少规则（不评分的指标请写 scored: false）", "leaf without a rule (mark unscored leaves scored: false)")
        if node.pool and node.points is None:
            bad(code, "扣分池必须给出分值", "a pool needs points")
        # children's maxima within the parent's
        if node.points is not None and node.children:
            child_pts = sum(c.points or 0 for c in node.children if c.scored and not _outside_base(c))
            if child_pts > node.points + 1e-9:
                bad(code, f"下级指标分值合计 {child_pts:g} 超过本级分值 {node.points:g}", f"children's maxima {child_pts:g} exceed the parent's {node.points:g}")
        if node.rule is not None:
            rt = RULES.get(node.rule.type)
            if rt is None:
                bad(code, f"未知的规则类型 “{node.rule.type}”，可用：{', '.join(sorted(RULES))}", f"unknown rule type '{node.rule.type}'")
                continue
            try:
                params = rt.params.model_validate(node.rule.params)
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(x) for x in first["loc"])
                bad(code, f"规则 {rt.name} 的参数 {loc} 有误：{first['msg']}", f"rule {rt.name} parameter {loc}: {first['msg']}")
                continue
            in_pool = parent is not None and parent.pool
            if rt.needs_points and node.points is None and not in_pool:
                bad(code, f"规则 {rt.name} 需要本指标的分值 points", f"rule {rt.name} needs the indicator's points")
            for ref in getattr(params, "indicators", None) or []:
                if ref not in known:
                    bad(code, f"阈值规则引用了不存在的指标 “{ref}”", f"threshold names an unknown indicator '{ref}'")
            for lvl in list(getattr(params, "per_level", None) or {}) + list(getattr(params, "levels", None) or {}):
                if lvl not in fw.levels:
                    bad(code, f"规则给出的级别 “{lvl}” 不在框架的级别 {fw.levels} 中", f"the rule prices level '{lvl}', which is not one of the framework's levels")
        for name in node.applies_to:
            if not name.strip():
                bad(code, "适用范围中有空白项", "empty name in applies_to")
    return problems


def _outside_base(node: Indicator) -> bool:
    from .rules import RULES

    leaves = _leaves_under(node)
    kinds = {RULES[l.rule.type].kind for l in leaves if l.rule and l.rule.type in RULES}
    return bool(kinds) and kinds <= {"bonus", "penalty", "veto"}


# ---- loading --------------------------------------------------------------------------------

def frameworks_dir(root: Path | None = None) -> Path:
    """The folder frameworks are read from: `<project>/frameworks`, or $ASSESSMENT_FRAMEWORKS."""
    import os

    if root is not None:
        return Path(root)
    env = os.environ.get("ASSESSMENT_FRAMEWORKS")
    if env:
        return Path(env)
    return project_root() / "frameworks"


def project_root() -> Path:
    """The checkout this package is installed from (src layout), or the working directory."""
    here = Path(__file__).resolve().parents[2]
    if (here / "frameworks").is_dir():
        return here
    return Path.cwd()


def load_file(path: Path) -> Framework:
    """Read and check one framework file; refuse it whole with every problem named."""
    path = Path(path)
    file = str(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise FrameworkError([Problem(file=file, message_zh=f"无法读取框架文件：{exc.strerror}", message_en=f"cannot read framework file: {exc}", rule="framework")])
    try:
        data = yaml.safe_load(raw_bytes.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FrameworkError([Problem(file=file, message_zh=f"框架文件不是有效的 UTF-8 YAML：{exc}", message_en=f"not valid UTF-8 YAML: {exc}", rule="framework")])
    if not isinstance(data, dict):
        raise FrameworkError([Problem(file=file, message_zh="框架文件应为一个映射（键: 值）", message_en="framework file must be a mapping", rule="framework")])
    try:
        fw = Framework.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = _locate(data, err["loc"])
            problems.append(Problem(file=file, column=loc, message_zh=f"{loc}：{err['msg']}", message_en=f"{loc}: {err['msg']}", rule="framework-schema"))
        raise FrameworkError(problems)
    problems = check(fw, file)
    if problems:
        raise FrameworkError(problems)
    fw.file_hash = hashlib.sha256(raw_bytes).hexdigest()
    fw.path = file
    return fw


def _locate(data: Any, loc: tuple) -> str:
    """Turn a pydantic location into the indicator code it falls in, where there is one."""
    node, last_code, path = data, None, []
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and "code" in node:
            last_code = str(node["code"])
        path.append(str(part))
    spot = ".".join(path)
    return f"指标 {last_code} ({spot})" if last_code else spot


def load(framework_id: str, root: Path | None = None) -> Framework:
    """Load a framework by id, only ever from the frameworks folder."""
    if not FRAMEWORK_ID.match(framework_id or ""):
        raise FrameworkError([Problem(file=str(framework_id), message_zh=f"框架编号 “{framework_id}” 无效：只能由小写字母、数字和连字符组成", message_en=f"invalid framework id '{framework_id}'", rule="parameter")])
    folder = frameworks_dir(root)
    path = folder / f"{framework_id}.yaml"
    if not path.is_file():
        have = ", ".join(available(root)) or "无"
        raise FrameworkError([Problem(file=str(path), message_zh=f"找不到框架 “{framework_id}”；可用：{have}", message_en=f"no framework '{framework_id}'", rule="parameter")])
    return load_file(path)


def available(root: Path | None = None) -> list[str]:
    folder = frameworks_dir(root)
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def to_tree(fw: Framework) -> dict[str, Any]:
    """The whole framework as plain data, for `frameworks show --format json`."""
    return fw.model_dump(mode="json", exclude_none=True)
