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
from .values import normalise_name

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
    part: Literal["base", "bonus", "penalty"] | None = None  # 一级 only: which part of the total it is
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
    normalise_method: Literal["proportional", "spread"] | None = None
    bonus_requires_base: float | None = None
    bonus_requires_above: float | None = None
    veto_score: float | dict[str, float] | None = None
    choices: list[str] = Field(default_factory=list)
    indicators: list[Indicator]
    file_hash: str | None = Field(default=None, exclude=True)
    path: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _normalise_names(self) -> "Framework":
        """Names as evidence values are read (`values.normalise_name`): `县（市、区）` in the file and
        `县(市、区)` in a workbook are one group. Levels priced by rules and `sources` likewise."""
        n = normalise_name
        self.unit_groups = [n(g) for g in self.unit_groups]
        self.levels = [n(x) for x in self.levels]
        for g in self.grades:
            g.name = n(g.name)
        self.veto_grade = n(self.veto_grade)
        if isinstance(self.veto_score, dict):
            self.veto_score = {n(k): v for k, v in self.veto_score.items()}
        for node, _, _ in self.walk():
            node.applies_to = [n(x) for x in node.applies_to]
            if node.rule is not None and node.rule.model_extra:
                extra = node.rule.model_extra
                for key in ("per_level", "levels"):
                    if isinstance(extra.get(key), dict):
                        extra[key] = {n(k): v for k, v in extra[key].items()}
                if isinstance(extra.get("sources"), list):
                    extra["sources"] = [n(x) for x in extra["sources"]]
        return self

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

    @cached_property
    def kinds(self) -> dict[str, str]:
        """code → the part a node's points count in: base / bonus / penalty, or veto (only veto
        leaves), none (nothing scored), mixed (a node over bonus and penalty sub-nodes).

        A 一级 node's `part` decides for its whole subtree (nodes with only veto leaves stay veto);
        without it, a node is bonus (penalty) when all its scored rules are bonus (penalty) rules,
        as before `part` existed."""
        out = {node.code: _raw_kind(node) for node, _, _ in self.walk()}
        for top in self.indicators:
            if top.part is not None:
                for node, _, _ in top.walk():
                    if out[node.code] not in ("veto", "none"):
                        out[node.code] = top.part
        return out

    @cached_property
    def top_of(self) -> dict[str, str]:
        """code → the code of its 一级 indicator."""
        return {node.code: top.code for top in self.indicators for node, _, _ in top.walk()}

    def indicator_path(self, code: str) -> str:
        """`A 规范管理 › A1 未按照上级要求落实相关工作`: how a message names an indicator."""
        chain = []
        while code is not None and code in self.nodes:
            chain.append(f"{code} {self.nodes[code].name}")
            code = self.parents.get(code)
        return " › ".join(reversed(chain))

    @property
    def method(self) -> str:
        """How totals are brought to `normalise_to`: proportional (default) or spread."""
        return self.normalise_method or "proportional"

    @property
    def gate(self) -> tuple[str, float] | None:
        """The bonus gate: ("base", 80) = 基础分达到 80 分; ("above", 80) = 高于 80 分; or None."""
        if self.bonus_requires_above is not None:
            return "above", float(self.bonus_requires_above)
        if self.bonus_requires_base is not None:
            return "base", float(self.bonus_requires_base)
        return None

    def veto_score_for(self, group: str) -> float | None:
        """The total a vetoed unit of `group` gets (单项否决，按方案记 59 分), or None (no total)."""
        if isinstance(self.veto_score, dict):
            v = self.veto_score.get(group)
            return None if v is None else float(v)
        return None if self.veto_score is None else float(self.veto_score)

    def grade_for(self, total: float) -> str:
        for band in self.grades:
            if band.min is None or total >= band.min - 1e-9:
                return band.name
        return self.grades[-1].name


def _leaves_under(node: Indicator) -> list[Indicator]:
    return [n for n, _, _ in node.walk() if n.is_leaf]


def _raw_kind(node: Indicator) -> str:
    """base / veto / bonus / penalty / mixed / none by the rule types of the scored leaves under it."""
    from .rules import RULES

    kinds = {RULES[n.rule.type].kind for n, _, _ in node.walk()
             if n.is_leaf and n.rule is not None and n.scored and n.rule.type in RULES}
    if not kinds:
        return "none"
    if kinds == {"veto"}:
        return "veto"
    kinds.discard("veto")
    if len(kinds) == 1:
        return kinds.pop()
    return "mixed" if kinds <= {"bonus", "penalty"} else "base"


# ---- checks ---------------------------------------------------------------------------------

# rules that can sit in a penalty part: they only take points away (no base line of their own there)
PENALTY_RULES = {"penalty", "deduct", "veto", "timeliness"}


def check(fw: Framework, file: str) -> list[Problem]:
    """Everything a loader must refuse, each problem naming the file and the indicator path, with a
    Chinese sentence saying what to write instead (English beside). Keys that would have no effect
    are refused too: nothing in a framework is silently ignored."""
    problems: list[Problem] = []

    def bad(code: str | None, zh: str, en: str, rule: str = "framework", where: str | None = None) -> None:
        spot = where or (fw.indicator_path(code) if code in fw.nodes else code)
        problems.append(Problem(file=file, column=spot, message_zh=(f"指标 {spot}：" if code else (f"{spot}：" if spot else "")) + zh,
                                message_en=(f"indicator {code}: " if code else (f"{spot}: " if spot else "")) + en, rule=rule))

    if not FRAMEWORK_ID.match(fw.id):
        bad(None, f"框架编号 “{fw.id}” 只能由小写字母、数字和连字符组成", f"framework id '{fw.id}' must be lowercase letters, digits and hyphens", where="id")
    stem = Path(file).stem
    if stem != fw.id:
        bad(None, f"框架编号 “{fw.id}” 与文件名 “{stem}” 不一致，请把 id 改为 {stem} 或重命名文件", f"framework id '{fw.id}' differs from file stem '{stem}'", where="id")

    # names: unique after normalisation (县（市、区） and 县(市、区) are one name)
    for key, names in (("unit_groups", fw.unit_groups), ("levels", fw.levels), ("grades", [g.name for g in fw.grades])):
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            bad(None, f"名称重复（全角/半角视为相同）：{'、'.join(dup)}，请只写一次", f"duplicate names (full/half width are the same): {', '.join(dup)}", where=key)
        for x in names:
            if not str(x).strip():
                bad(None, "名称不能为空", "empty name", where=key)

    # grade bands: strictly descending minima, only the last may be open
    mins = [g.min for g in fw.grades]
    if not fw.grades:
        bad(None, "未定义等次，请至少写一档，如 - {name: 合格}", "no grade bands", where="grades")
    for i, g in enumerate(fw.grades):
        if g.min is None and i != len(fw.grades) - 1:
            bad(None, f"等次 “{g.name}” 没有下限，只有最后一档可以没有，请写 min", f"grade '{g.name}' has no minimum; only the last band may be open", where=f"grades[{i}] {g.name}")
    numeric = [m for m in mins if m is not None]
    if any(a <= b for a, b in zip(numeric, numeric[1:])):
        bad(None, f"等次分数线顺序错误：{numeric}，应从高到低", f"grade bands out of order: {numeric}; they must descend", where="grades")
    if fw.veto_grade not in {g.name for g in fw.grades}:
        bad(None, f"单项否决等次 “{fw.veto_grade}” 不在等次中，请写其中之一：{'、'.join(g.name for g in fw.grades)}", f"veto grade '{fw.veto_grade}' is not a grade band", where="veto_grade")

    seen: dict[str, int] = {}
    for node, _, _ in fw.walk():
        seen[node.code] = seen.get(node.code, 0) + 1
        for item in (node.rule.params.get("items", []) if node.rule else []):
            c = str(item.get("code")) if isinstance(item, dict) else str(item)
            seen[c] = seen.get(c, 0) + 1
    for code, n in seen.items():
        if n > 1:
            bad(code, f"指标编码重复（出现 {n} 次），请改用不同的编码", f"duplicate indicator code ({n} times)")

    _check_framework_keys(fw, bad)
    known = set(seen)
    has_veto = False
    for node, depth, parent in fw.walk():
        _check_shape(fw, node, depth, bad)
        if node.rule is not None:
            has_veto |= _check_rule(fw, node, parent, known, bad)
    if fw.veto_score is not None and not has_veto:
        bad(None, "框架没有任何单项否决规则（veto 或 veto_at），veto_score 不起作用，请删除", "veto_score has no effect: the framework has no veto rule", where="veto_score")
    if fw.gate is not None and not any(k == "bonus" for k in fw.kinds.values()):
        key = "bonus_requires_above" if fw.bonus_requires_above is not None else "bonus_requires_base"
        bad(None, f"框架没有加分部分，{key} 不起作用，请删除（或给加分的一级指标写 part: bonus）", f"{key} has no effect: the framework has no bonus part", where=key)
    return problems


def _check_shape(fw: Framework, node: Indicator, depth: int, bad) -> None:
    """A node's place in the tree: rules only on leaves, pools with points, `part` only on 一级,
    children within their parent's points (except under a pool or a bonus/penalty part)."""
    code = node.code
    if node.part is not None and depth != 1:
        bad(code, f"part 只能写在一级指标上，请移到 {fw.top_of[code]} 或删除", "part is a key of 一级 (top-level) indicators only")
    if depth == 1 and node.part is None and _raw_kind(node) == "base" and _has_kinds(node, {"bonus", "penalty"}):
        bad(code, "本项下既有基础分规则又有加分/扣分（bonus/penalty）规则，请写 part: base 或 part: bonus / penalty，或拆分为两个一级指标",
            "mixes base rules with bonus/penalty rules: write part: base | bonus | penalty, or split it")
    if node.children and node.rule is not None:
        bad(code, "有下级指标的节点不能有规则，请把规则移到下级指标", "a node with children cannot carry a rule")
    if node.is_leaf and node.scored and node.rule is None:
        bad(code, "末级指标缺少规则（不评分的指标请写 scored: false）", "leaf without a rule (mark unscored leaves scored: false)")
    if not node.scored and node.rule is not None:
        bad(code, "不评分（scored: false）的指标不能有规则，请删除 rule 或 scored: false", "an unscored node cannot carry a rule")
    if node.pool and node.points is None:
        bad(code, "扣分池必须给出分值 points", "a pool needs points")
    if node.pool and node.is_leaf:
        bad(code, "pool: true 只能写在有下级指标的节点上", "only a node with children can be a pool")
    if node.children and node.applies_to:
        bad(code, "applies_to 只对末级指标起作用，请写在各末级指标上", "applies_to only works on leaves: write it on each leaf")
    for name in node.applies_to:
        if not name.strip():
            bad(code, "适用范围中有空白项，请删除", "empty name in applies_to")
    # children's maxima within the parent's; a pool or a bonus/penalty part caps them (得满为止/扣完为止)
    capping = node.pool or (depth == 1 and fw.kinds.get(code) in ("bonus", "penalty"))
    if node.points is not None and node.children and not capping:
        child_pts = sum(c.points or 0 for c in node.children if c.scored and not _outside_base(fw, c))
        if child_pts > node.points + 1e-9:
            bad(code, f"下级指标分值合计 {child_pts:g} 超过本级分值 {node.points:g}（扣分池请写 pool: true，加分/扣分部分请写 part）",
                f"children's maxima {child_pts:g} exceed the parent's {node.points:g}")


def _check_rule(fw: Framework, node: Indicator, parent: Indicator | None, known: set[str], bad) -> bool:
    """A leaf's rule: its type, its parameters (each refused key or value in Chinese), and the
    parameters that would have no effect here. True if the rule can veto (veto, deduct veto_at)."""
    from .rules import RULES

    code = node.code
    rt = RULES.get(node.rule.type)
    if rt is None:
        bad(code, f"未知的规则类型 “{node.rule.type}”，可用：{', '.join(sorted(RULES))}", f"unknown rule type '{node.rule.type}'")
        return False
    raw = node.rule.params
    if "sources" in raw and rt.evidence == "facts":
        bad(code, f"规则 {rt.name} 按指标事实计分，没有来源，不能写 sources，请删除", f"rule {rt.name} scores facts, which have no source: remove sources")
        return False
    if "count" in raw and not _counts(rt.name, raw):
        bad(code, f"规则 {rt.name} 不计数，count 不起作用，请删除（deduct 只有写了 veto_at 才计数，veto 只有 min_count 大于 1 才计数）",
            f"rule {rt.name} counts nothing here: remove count (deduct counts only with veto_at, veto only with min_count above 1)")
        return False
    try:
        params = rt.params.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            zh, en = explain_error(err, prefix="rule", allowed=["type"] + list(rt.params.model_fields))
            bad(code, f"规则 {rt.name} 的参数有误：{zh}", f"rule {rt.name} parameter {en}")
        return False
    kind = fw.kinds.get(code)
    if rt.kind == "veto" and node.points is not None:
        bad(code, "单项否决指标不计分值，points 不起作用，请删除（否决单位的总分用框架的 veto_score）",
            "a veto leaf has no points: remove points (a vetoed unit's total is the framework's veto_score)")
    if rt.needs_points and node.points is None and not (parent is not None and parent.pool):
        bad(code, f"规则 {rt.name} 需要本指标的分值 points", f"rule {rt.name} needs the indicator's points")
    if rt.kind == "bonus" and kind in ("base", "penalty"):
        bad(code, f"加分规则 bonus 不能放在{_PART_ZH[kind]}中：一级指标写 part: bonus，或改用 award", f"a bonus rule inside the {kind} part: write part: bonus on its 一级 indicator, or use award")
    if rt.kind == "penalty" and kind in ("base", "bonus"):
        bad(code, f"扣分规则 penalty 不能放在{_PART_ZH[kind]}中：一级指标写 part: penalty，或改用 deduct", f"a penalty rule inside the {kind} part: write part: penalty, or use deduct")
    if kind == "penalty" and (rt.name not in PENALTY_RULES or (rt.name == "timeliness" and getattr(params, "mode", "") != "deduct")):
        bad(code, f"扣分部分（part: penalty）只能用 {'、'.join(sorted(PENALTY_RULES))}（timeliness 用 mode: deduct）规则，{rt.name} 会给出正分，请改用 penalty 或 deduct",
            f"a penalty part only takes points away: use penalty or deduct, not {rt.name}")
    for ref in getattr(params, "indicators", None) or []:
        if ref not in known:
            bad(code, f"阈值规则引用了不存在的指标 “{ref}”，请写框架中的指标编码", f"threshold names an unknown indicator '{ref}'")
    for lvl in list(getattr(params, "per_level", None) or {}) + list(getattr(params, "levels", None) or {}):
        if lvl not in fw.levels:
            bad(code, f"规则给出的级别 “{lvl}” 不在框架的级别 {fw.levels} 中，请写其中之一或在 levels 中加上它", f"the rule prices level '{lvl}', which is not one of the framework's levels")
    return rt.kind == "veto" or getattr(params, "veto_at", None) is not None


_PART_ZH = {"base": "基础分部分", "bonus": "加分部分", "penalty": "扣分部分"}


def _counts(rule: str, raw: dict) -> bool:
    """Does `count` (quantity | events) mean something for this rule and these parameters?"""
    min_count = raw.get("min_count", 1)
    if rule == "veto":  # with min_count 1 any event vetoes, however it is counted
        return not isinstance(min_count, (int, float)) or min_count != 1
    return rule == "threshold" or (rule == "deduct" and raw.get("veto_at") is not None)


def _has_kinds(node: Indicator, wanted: set[str]) -> bool:
    from .rules import RULES

    return any(RULES[n.rule.type].kind in wanted for n, _, _ in node.walk() if n.is_leaf and n.rule is not None and n.scored and n.rule.type in RULES)


def _check_framework_keys(fw: Framework, bad) -> None:
    """The framework-level keys that change a score: gates, normalisation, veto_score."""
    if fw.bonus_requires_above is not None and fw.bonus_requires_base is not None:
        bad(None, "bonus_requires_above（高于）与 bonus_requires_base（达到）只能写一个：“高于80分”写 bonus_requires_above: 80，“80分以上（含）”写 bonus_requires_base: 80",
            "write only one of bonus_requires_above (strictly above) and bonus_requires_base (at least)", where="bonus_requires_above")
    if fw.normalise_method is not None and fw.normalise_to is None:
        bad(None, f"normalise_method: {fw.normalise_method} 需要 normalise_to（如 normalise_to: 100），否则不起作用", "normalise_method needs normalise_to (e.g. 100)", where="normalise_method")
    if fw.normalise_to is not None and fw.normalise_to <= 0:
        bad(None, "normalise_to 应大于 0，如 100", "normalise_to must be positive", where="normalise_to")
    if fw.method == "spread" and fw.normalise_to is not None:
        base_tops = [t for t in fw.indicators if t.scored and fw.kinds.get(t.code) == "base"]
        missing = [t.code for t in base_tops if t.points is None]
        if missing:
            bad(None, f"normalise_method: spread 按一级指标分值平均分配，一级指标 {'、'.join(missing)} 须写 points", f"spread needs the points of every base 一级 indicator: {', '.join(missing)}", where="normalise_method")
        else:
            total = sum(t.points for t in base_tops)
            if abs(total - fw.normalise_to) > 1e-9:
                bad(None, f"normalise_method: spread 要求基础分一级指标分值合计等于 normalise_to（现为 {total:g} ≠ {fw.normalise_to:g}），请调整分值或改用 proportional",
                    f"spread needs the base 一级 points to add up to normalise_to ({total:g} ≠ {fw.normalise_to:g})", where="normalise_method")
    if isinstance(fw.veto_score, dict):
        if not fw.veto_score:
            bad(None, "veto_score 映射为空，请写 {单位类别: 分数} 或删除", "veto_score map is empty", where="veto_score")
        for group, value in fw.veto_score.items():
            if group not in fw.unit_groups:
                bad(None, f"veto_score 中的单位类别 “{group}” 不在 unit_groups（{'、'.join(fw.unit_groups)}）中，请改为其中之一",
                    f"veto_score names unknown unit group '{group}'", where=f"veto_score.{group}")
            if value < 0:
                bad(None, f"veto_score 中 “{group}” 的分数 {value:g} 不能为负", f"veto_score for '{group}' is negative", where=f"veto_score.{group}")
    elif fw.veto_score is not None and fw.veto_score < 0:
        bad(None, f"veto_score {fw.veto_score:g} 不能为负", "veto_score is negative", where="veto_score")


def _outside_base(fw: Framework, node: Indicator) -> bool:
    """A node whose points are not part of its parent's base maximum (bonus, penalty, veto only)."""
    return fw.kinds.get(node.code) in ("bonus", "penalty", "veto", "mixed")


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
    internal = [k for k in ("file_hash", "path") if k in data]
    if internal:  # set by the loader itself: a value written in the file would be overwritten unseen
        raise FrameworkError([Problem(file=file, column=k, message_zh=f"{k}：此键由程序在读取时填写，不能写在框架文件中，请删除",
                                      message_en=f"{k}: set by the loader when the file is read; remove it from the file",
                                      rule="framework-schema") for k in internal])
    try:
        fw = Framework.model_validate(data)
    except ValidationError as exc:
        problems, said = [], set()
        found = [(err, *_locate(data, err["loc"], err.get("type", ""))) for err in exc.errors()]
        for err, spot, loc in found:
            deeper = any(s2 == spot and len(l2) > len(loc) and l2[:len(loc)] == loc for _, s2, l2 in found)
            if (spot, loc) in said or deeper:
                continue  # a union (veto_score: number or map) reports each alternative: the closest one
            said.add((spot, loc))
            zh, en = explain_error({**err, "loc": loc}, allowed=_allowed_keys(spot, err["loc"]))
            problems.append(Problem(file=file, column=spot, message_zh=f"{spot}：{zh}", message_en=f"{spot}: {en}", rule="framework-schema"))
        raise FrameworkError(problems)
    problems = check(fw, file)
    if problems:
        raise FrameworkError(problems)
    fw.file_hash = hashlib.sha256(raw_bytes).hexdigest()
    fw.path = file
    return fw


def _locate(data: Any, loc: tuple, kind: str = "missing") -> tuple[str, tuple]:
    """A pydantic location → (where, as an analyst names it; the keys below that point).

    Inside the indicator tree the place is the indicator path `A 规范管理 › A1 …` and the keys
    left are those within the node (`rule.per`); a grade is `grades[0] 优秀`; otherwise the
    top-level key. Parts of the location that are not in the data (union alternatives such as
    `float`) are dropped."""
    node, chain, spot, rest = data, [], None, list(loc)
    consumed: list = []
    for i, part in enumerate(loc):
        try:
            child = node[part]
        except (KeyError, IndexError, TypeError):
            if i < len(loc) - 1 or kind not in ("missing", "extra_forbidden"):
                continue  # a union's alternative (veto_score: `float` | `dict[str,float]`), not a key
            if isinstance(node, dict) and isinstance(part, str):
                consumed.append(part)  # a missing or unknown key: still named
                rest.append(part)
            break
        consumed.append(part)
        node = child
        if isinstance(node, dict) and "code" in node and ("name" in node or "children" in node or "rule" in node):
            chain.append(f"{node.get('code')} {node.get('name', '')}".strip())
            spot, rest = "指标 " + " › ".join(chain), []
            continue
        if len(consumed) == 2 and consumed[0] == "grades" and isinstance(part, int):
            name = node.get("name") if isinstance(node, dict) else None
            spot, rest = f"grades[{part}] {name or ''}".strip(), []
            continue
        rest.append(part)
    if spot is None:  # a top-level key names itself
        spot = str(consumed[0]) if consumed else "框架文件"
        rest = consumed
    return spot, tuple(str(x) for x in rest)


_TYPE_ZH = {
    "float_parsing": "应为数字", "float_type": "应为数字", "int_parsing": "应为整数", "int_type": "应为整数",
    "int_from_float": "应为整数", "bool_parsing": "应为 true 或 false", "bool_type": "应为 true 或 false",
    "string_type": "应为文字", "list_type": "应为列表，如 [甲, 乙]", "dict_type": "应为映射（键: 值）",
    "model_type": "应为映射（键: 值）", "model_attributes_type": "应为映射（键: 值）", "date_parsing": "应为日期，如 2023-01-10",
    "date_type": "应为日期，如 2023-01-10", "date_from_datetime_parsing": "应为日期，如 2023-01-10",
    "date_from_datetime_inexact": "应为日期（不含时间），如 2023-01-10", "finite_number": "应为有限的数字",
}


def _allowed_keys(spot: str, loc: tuple) -> list[str]:
    """The keys the model at an error's place accepts (for "不认识的键 … 可用：…")."""
    public = lambda model: [k for k in model.model_fields if k not in ("file_hash", "path")]  # noqa: E731
    if spot.startswith("指标"):
        return public(Indicator)
    if spot.startswith("grades"):
        return public(Grade)
    if loc and loc[0] == "source":
        return public(Source)
    return public(Framework)


HINTS = {"min_count": "deduct 累计达到即否决请写 veto_at；min_count 属于 veto 规则",
         "veto_at": "veto 规则的门槛请写 min_count；veto_at 属于 deduct 规则"}


def _num(value: Any) -> str:
    """A bound as people write it: 1.0 → 1, 0.5 → 0.5."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def explain_error(err: dict, prefix: str | None = None, allowed: list[str] | None = None) -> tuple[str, str]:
    """One pydantic error as a Chinese sentence naming the key and what to write (and English beside).

    `err["loc"]` holds the keys within the place already named (e.g. ('rule', 'per')); `prefix`
    is put before them when the place is a rule's parameters."""
    loc = [str(x) for x in err.get("loc", ())]
    key = ".".join(([prefix] if prefix else []) + loc) if loc else (prefix or "")
    name = f"“{key}”" if key else "本项"
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    given = err.get("input")
    shown = "" if isinstance(given, (dict, list)) or given is None else f"，现为 “{given}”"
    if kind == "extra_forbidden":
        last = loc[-1] if loc else ""
        hint = f"（{HINTS[last]}）" if last in HINTS else ""
        zh = f"不认识的键 {name}，不会被使用，请删除或改正拼写{hint}" + (f"；可用：{'、'.join(allowed)}" if allowed else "")
    elif kind == "missing":
        zh = f"缺少必填键 {name}，请补上"
    elif kind == "literal_error":
        choices = "、".join(f"“{c.strip().strip(chr(39))}”" for c in str(ctx.get("expected", "")).replace(" or ", ",").split(",") if c.strip())
        zh = f"{name} 只能是 {choices}{shown}"
    elif kind == "greater_than":
        zh = f"{name} 应大于 {_num(ctx.get('gt'))}{shown}"
    elif kind == "greater_than_equal":
        zh = f"{name} 应不小于 {_num(ctx.get('ge'))}{shown}"
    elif kind == "less_than":
        zh = f"{name} 应小于 {_num(ctx.get('lt'))}{shown}"
    elif kind == "less_than_equal":
        zh = f"{name} 应不大于 {_num(ctx.get('le'))}{shown}"
    elif kind == "too_short":
        zh = f"{name} 至少要有 {ctx.get('min_length')} 项"
    elif kind in _TYPE_ZH:
        zh = f"{name} {_TYPE_ZH[kind]}{shown}"
        if key == "veto_score":
            zh = f"{name} 应为数字（如 59）或按单位类别的映射（如 {{县(市、区): 59}}）{shown}"
    elif kind == "value_error" and hasattr(ctx.get("error"), "message_zh"):  # a validator's own sentence, in both languages
        zh = f"{name}：{ctx['error'].message_zh}" if loc or prefix else ctx["error"].message_zh
        return zh, (f"{key}: " if key else "") + ctx["error"].message_en
    elif kind == "value_error":
        text = str(ctx.get("error", err.get("msg", "")))
        zh = f"{name}：{text}" if loc or prefix else text
    else:
        zh = f"{name} 的值无效{shown}"
    en_key = key or "value"
    return zh, f"{en_key}: {err.get('msg', kind)}"


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
