"""The rules annex: a framework as the 考核指标 table an office publishes at the start of the year.

The rules published in January and the rules scored in December come from one file: every row
is a leaf of the framework, its 评分标准 the leaf's `basis` and a Chinese reading of its rule.
Rule readings are a registry keyed by rule type; a parameter no reader knows is printed as it is
written (never silently left out), so a new rule type or key still shows.

Layout (GB/T 9704-2012 8.3, 10.1): 附件 flush left on line 1, title centred on line 3, the table
with its header row repeating on every page and rows that never split, then 单项否决, 加分/扣分
and 等次评定. Same file → same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable

from ..frameworks import Framework, Indicator
from ..rules import RULES
from .docformat import (
    LANDSCAPE_TEXT_WIDTH_MM, PT_MM, CELL_PAD_MM, TEXT_WIDTH_MM, TWIPS_PER_MM, Fonts, Writer, cell_xml, chinese_date, chinese_numeral,
    natural_width_mm, new_document, set_core, set_landscape, table_xml, to_bytes, unfold,
)
from .layout import SMALL_TABLE_PT
from .office import fmt, merged, office_for
from .reproducible import write_package
from .titles import write_title

LEVEL_HEADERS = ["一级指标", "二级指标", "三级指标", "四级指标", "五级指标", "六级指标"]

# Wording of the annex; an office overrides any of it under `rules_annex:` in templates/office.yaml.
WORDING = {
    "label": "附件",
    "title": "{title}",  # {title}: the framework's title with its year, ending in 考核指标
    "points_header": "分值",
    "criteria_header": "评分标准",
    "table_heading": "考核指标及评分标准",
    "veto_heading": "单项否决",
    "veto_lead": "有下列情形之一的，实行单项否决，考核等次直接定为{veto_grade}{veto_score}：",
    "bonus_heading": "加分指标",
    "penalty_heading": "扣分指标",
    "bonus_penalty_heading": "加分和扣分指标",
    "grades_heading": "等次评定",
    "rule_label": "计分：",
    "applies_label": "适用：",
    "responsible_label": "牵头单位：",
    "assisting_label": "配合单位：",
    "not_scored": "本项不评分",
}


# ---- rule readings ------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleContext:
    """What a reading needs: the leaf, its raw parameters, the pool it deducts from, the framework."""

    fw: Framework
    node: Indicator
    params: dict[str, Any]
    pool: Indicator | None


Reading = Callable[[RuleContext], tuple[str, set[str]]]  # (Chinese text, parameter keys it read)
READINGS: dict[str, Reading] = {}
KEY_READINGS: dict[str, Callable[[Any, RuleContext], str]] = {}  # keys any rule type may carry


def reading(name: str) -> Callable[[Reading], Reading]:
    def wrap(fn: Reading) -> Reading:
        READINGS[name] = fn
        return fn
    return wrap


def key_reading(name: str) -> Callable:
    def wrap(fn: Callable[[Any, RuleContext], str]) -> Callable[[Any, RuleContext], str]:
        KEY_READINGS[name] = fn
        return fn
    return wrap


def n(x: Any) -> str:
    """10, 0.5, 2.25: a number as an office writes it."""
    return fmt(x, 4)


def _levels_text(prices: dict, ctx: RuleContext, each: str, verb: str = "") -> str:
    """国家级每次1分，省级每次0.5分 — in the framework's order of levels."""
    order = {lvl: i for i, lvl in enumerate(ctx.fw.levels)}
    items = sorted(prices.items(), key=lambda kv: order.get(kv[0], len(order)))
    return "，".join(f"{lvl}{each}{verb}{n(v)}分" for lvl, v in items)


def _cap_deduct(ctx: RuleContext) -> str:
    """扣完为止, with the pool it is taken from and the leaf's own cap where it has one."""
    pts = ctx.node.points
    if ctx.pool is not None:
        own = f"本项最多扣{n(pts)}分，" if pts is not None else ""
        return f"{own}从“{ctx.pool.name}”{n(ctx.pool.points)}分中扣除，扣完为止"
    return "扣完为止" if pts is not None else ""


@reading("veto")
def _veto(ctx: RuleContext) -> tuple[str, set[str]]:
    p = ctx.params
    if p.get("min_count") not in (None, 1):
        unit = "条" if p.get("count") == "events" else "次（处）"
        return f"累计达到{n(p['min_count'])}{unit}的，单项否决", {"min_count", "count"}
    return "出现即单项否决", {"min_count", "count"} & set(p)


def _per_event(ctx: RuleContext, verb: str) -> tuple[str, set[str]]:
    p = ctx.params
    if p.get("per") is not None:
        return (f"每发现1次扣{n(p['per'])}分" if verb == "扣" else f"每1次{verb}{n(p['per'])}分"), {"per"}
    return _levels_text(p.get("per_level") or {}, ctx, "每次", verb), {"per_level"}


@reading("deduct")
def _deduct(ctx: RuleContext) -> tuple[str, set[str]]:
    text, used = _per_event(ctx, "扣")
    cap = _cap_deduct(ctx)
    return text + (f"，{cap}" if cap else ""), used


@reading("award")
def _award(ctx: RuleContext) -> tuple[str, set[str]]:
    text, used = _per_event(ctx, "得")
    if ctx.params.get("per_level") is not None:
        text, used = _levels_text(ctx.params["per_level"], ctx, "每次", ""), {"per_level"}
    cap = f"，最高{n(ctx.node.points)}分，得满为止" if ctx.node.points is not None else ""
    return text + cap, used


@reading("bonus")
def _bonus(ctx: RuleContext) -> tuple[str, set[str]]:
    text, used = _per_event(ctx, "加")
    cap = f"，最多加{n(ctx.node.points)}分" if ctx.node.points is not None else ""
    return text + cap, used


@reading("penalty")
def _penalty(ctx: RuleContext) -> tuple[str, set[str]]:
    text, used = _per_event(ctx, "扣")
    cap = f"，最多扣{n(ctx.node.points)}分" if ctx.node.points is not None else ""
    return text + cap, used


@reading("best_level")
def _best_level(ctx: RuleContext) -> tuple[str, set[str]]:
    text = _levels_text(ctx.params.get("levels") or {}, ctx, "")
    return f"按获得的最高级别计分：{text}（不累加）", {"levels"}


@reading("threshold")
def _threshold(ctx: RuleContext) -> tuple[str, set[str]]:
    p = ctx.params
    names = "、".join(str(c) for c in p.get("indicators") or [])
    unit = "条" if p.get("count") == "events" else "个"
    how = "（按问题条数计）" if p.get("count") == "events" else "（按问题数量合计）"
    return (f"{names}发现的问题{how}不多于{n(p.get('max_count'))}{unit}的，得{n(ctx.node.points)}分；"
            f"多于{n(p.get('max_count'))}{unit}的不得分"), {"indicators", "max_count", "count"}


@reading("checklist")
def _checklist(ctx: RuleContext) -> tuple[str, set[str]]:
    p = ctx.params
    items = p.get("items") or []
    listed = "；".join(f"（{i}）{it.get('code')} {it.get('name')}" for i, it in enumerate(items, start=1))
    if p.get("partial") == "proportional":
        head = f"按达到的项数比例计分（共{len(items)}项，全部达到得{n(ctx.node.points)}分）"
    else:
        head = f"以下{len(items)}项全部达到的得{n(ctx.node.points)}分，否则不得分"
    return f"{head}：{listed}", {"items", "partial"}


@reading("target")
def _target(ctx: RuleContext) -> tuple[str, set[str]]:
    p = ctx.params
    t = p.get("target")
    goal = f"{n(float(t) * 100)}%" if p.get("unit", "percent") == "percent" else n(t)
    if p.get("mode") == "proportional":
        text = f"达到{goal}的得{n(ctx.node.points)}分；未达到的按实际值与{goal}之比计分"
    else:
        text = f"达到{goal}的得{n(ctx.node.points)}分，未达到的不得分"
    return text, {"target", "unit", "mode"}


@reading("deadline")
def _deadline(ctx: RuleContext) -> tuple[str, set[str]]:
    due = ctx.params.get("due")
    when = chinese_date(_as_date(due)) if due is not None else "—"
    return f"{when}前（含当日）完成的得{n(ctx.node.points)}分，逾期或未完成的不得分", {"due"}


@reading("timeliness")
def _timeliness(ctx: RuleContext) -> tuple[str, set[str]]:
    p = ctx.params
    within = f"受理后{n(p.get('within'))}个工作日内办结（受理当日不计，按法定节假日和调休计算工作日）"
    if p.get("mode") == "share":
        return f"{within}；按按时办结的比例计分，全部按时办结得{n(ctx.node.points)}分", {"within", "mode"}
    cap = _cap_deduct(ctx)
    return f"{within}；每超时或未办结1件扣{n(p.get('per', 1))}分" + (f"，{cap}" if cap else ""), {"within", "mode", "per"}


@key_reading("sources")
def _sources(value: Any, ctx: RuleContext) -> str:
    names = "、".join(f"“{s}”" for s in (value if isinstance(value, list) else [value]))
    return f"只计来源为{names}的问题"


@key_reading("veto_at")
def _veto_at(value: Any, ctx: RuleContext) -> str:
    unit = "条" if ctx.params.get("count") == "events" else "次（处）"
    return f"累计达到{n(value)}{unit}的，单项否决"


@key_reading("count")
def _count(value: Any, ctx: RuleContext) -> str:
    return "按事件条数计" if value == "events" else "按数量合计"


@key_reading("min_count")
def _min_count(value: Any, ctx: RuleContext) -> str:
    unit = "条" if ctx.params.get("count") == "events" else "次（处）"
    return f"累计达到{n(value)}{unit}方计"


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _plain(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return n(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def describe_rule(fw: Framework, node: Indicator, pool: Indicator | None = None) -> str:
    """The rule of a leaf in Chinese: its type's reading, then every other parameter it carries."""
    if node.rule is None:
        return ""
    params = dict(node.rule.params)
    ctx = RuleContext(fw, node, params, pool)
    read = READINGS.get(node.rule.type)
    parts, used = [], set()
    if read is not None:
        text, used = read(ctx)
        parts.append(text)
    else:
        rt = RULES.get(node.rule.type)
        parts.append(f"规则 {node.rule.type}" + (f"（{rt.description}）" if rt and rt.description else ""))
    left = [k for k in params if k not in used]
    for key in [k for k in left if k in KEY_READINGS]:
        parts.append(KEY_READINGS[key](params[key], ctx))
    rest = [k for k in left if k not in KEY_READINGS]
    if rest:  # never silently left out: the parameter as the file writes it
        parts.append("其他参数：" + "，".join(f"{k}={_plain(params[k])}" for k in rest))
    return "；".join(p for p in parts if p)


# ---- the parts of a framework -------------------------------------------------------------

def _leaves(node: Indicator) -> list[Indicator]:
    return [x for x, _, _ in node.walk() if x.is_leaf]


def part_of(top: Indicator) -> str:
    """base, bonus, penalty or veto: a node's `part` where it says so, else what its rules are."""
    explicit = getattr(top, "part", None) if "part" in top.model_fields_set else None  # as the file writes it
    if explicit:
        return str(explicit)
    kinds = {RULES[l.rule.type].kind for l in _leaves(top) if l.rule is not None and l.rule.type in RULES}
    if kinds and kinds <= {"veto"}:
        return "veto"
    outside = kinds - {"veto"}
    if outside and outside <= {"bonus", "penalty"}:  # 附加指标 holding both 加分 and 扣分 items
        return outside.pop() if len(outside) == 1 else "bonus_penalty"
    return "base"


def _is_veto(node: Indicator) -> bool:
    return node.rule is not None and node.rule.type in RULES and RULES[node.rule.type].kind == "veto"


def annex_title(fw: Framework) -> str:
    """The framework's title with its year, as the 考核指标: 2023年泗洪县政务新媒体监管工作年度考核指标."""
    title = str(fw.title).strip()
    if str(fw.year) not in title:
        title = f"{fw.year}年{title}"
    if title.endswith("指标"):
        return title
    if title.endswith(("考核", "考评", "评估", "评价")):
        return title + "指标"
    return title + "考核指标"


def _label(node: Indicator, leaf: bool) -> str:
    if leaf:
        return f"{node.code} {node.name}"
    pts = ""
    if node.points is not None:
        pts = f"\n（{n(node.points)}分{'，扣完为止' if node.pool else ''}）"
    return f"{node.code} {node.name}{pts}"


def _criteria(fw: Framework, node: Indicator, pool: Indicator | None, words: dict) -> str:
    lines = []
    if node.basis:
        lines.append(unfold(node.basis))
    if not node.scored:
        lines.append(words["not_scored"] + (f"（{unfold(node.note)}）" if node.note else ""))
    elif node.rule is not None:
        lines.append(words["rule_label"] + describe_rule(fw, node, pool))
    if node.applies_to:
        lines.append(words["applies_label"] + "、".join(node.applies_to))
    who = []
    if node.responsible:
        who.append(words["responsible_label"] + "、".join(node.responsible))
    if node.assisting:
        who.append(words["assisting_label"] + "、".join(node.assisting))
    if who:
        lines.append("；".join(who))
    return "\n".join(lines)


Cell = tuple[str | None, int]  # (text, or None to continue the cell above; columns spanned)


def table_rows(fw: Framework, tops: list[Indicator], words: dict, depth: int) -> list[list[Cell]]:
    """One row per leaf: its ancestors (a cell continuing the one above is None, a vertical merge),
    its own name at its level spanning the deeper level columns, 分值 and 评分标准."""
    rows: list[list[Cell]] = []
    above: list[str] = []  # codes of the ancestors shown in the last row
    for top in tops:
        for leaf, _, _ in top.walk():
            if not leaf.is_leaf or _is_veto(leaf):
                continue
            path = _path(fw, leaf)
            ancestors = [a.code for a in path[:-1]]
            row: list[Cell] = []
            for level, node in enumerate(path[:-1]):
                same = ancestors[: level + 1] == above[: level + 1]
                row.append((None if same else _label(node, False), 1))
            row.append((_label(leaf, True), depth - len(path) + 1))
            above = ancestors
            pool = next((a for a in reversed(path[:-1]) if a.pool), None)
            row.append((n(leaf.points) if leaf.points is not None else "—", 1))
            row.append((_criteria(fw, leaf, pool, words), 1))
            rows.append(row)
    return rows


def _grid(row: list[Cell]) -> dict[int, str | None]:
    """Grid column → the text of the cell starting there."""
    out, col = {}, 0
    for text, span in row:
        out[col] = text
        col += span
    return out


def table_xml_spans(widths_mm: list[float], header: list[str], rows: list[list[Cell]], fonts: Fonts,
                    aligns: list[str], size_pt: float) -> str:
    """The rules table: like docformat.table_xml (header row repeats on every page, rows never
    split), with cells that span level columns; a merged ancestor may run over a page break
    (it is not kept with its rows, or a long 一级 would push the table to the next page)."""
    widths = [round(mm * TWIPS_PER_MM) for mm in widths_mm]
    out = [table_xml(widths_mm, header, [], fonts, aligns, size_pt=size_pt).replace("</w:tbl>", "")]  # tblPr, header
    tr = f'<w:tr><w:trPr><w:cantSplit/><w:trHeight w:val="{round(7 * TWIPS_PER_MM)}" w:hRule="atLeast"/></w:trPr>'
    grids = [_grid(r) for r in rows]
    for i, row in enumerate(rows):
        out.append(tr)
        below = grids[i + 1] if i + 1 < len(rows) else {}
        col = 0
        for text, span in row:
            wd = sum(widths[col:col + span])
            merge = "continue" if text is None else ("restart" if col in below and below[col] is None else None)
            xml = cell_xml(text, wd, "GwTable", fonts.table, aligns[col], size_pt, merge)
            if span > 1:
                xml = xml.replace('w:type="dxa"/>', f'w:type="dxa"/><w:gridSpan w:val="{span}"/>', 1)
            out.append(xml)
            col += span
        out.append("</w:tr>")
    out.append("</w:tbl>")
    return "".join(out)


def _path(fw: Framework, node: Indicator) -> list[Indicator]:
    out = [node]
    while fw.parents.get(out[0].code):
        out.insert(0, fw.nodes[fw.parents[out[0].code]])
    return out


def _depth(fw: Framework, tops: list[Indicator]) -> int:
    return max((len(_path(fw, x)) for t in tops for x, _, _ in t.walk() if x.is_leaf and not _is_veto(x)), default=1)


# ---- layout -------------------------------------------------------------------------------

NAME_CHARS = {1: 9.0, 2: 7.0, 3: 6.0, 4: 5.0}  # widest a level column gets, in characters
MIN_CRITERIA_CHARS = 20.0  # narrower than this, the table goes on a landscape page


def _texts(rows: list[list[Cell]], col: int) -> list[str | None]:
    """Texts starting in grid column `col` and spanning only it (a spanning leaf name does not
    widen the level column it starts in)."""
    out = []
    for row in rows:
        c = 0
        for text, span in row:
            if c == col and span == 1:
                out.append(text)
            c += span
    return out


def column_widths(header: list[str], rows: list[list[Cell]], depth: int, text_mm: float,
                  size_pt: float) -> list[float] | None:
    """Level columns at their natural width up to NAME_CHARS, 分值 natural, 评分标准 the rest."""
    char_mm = size_pt * PT_MM
    cap = NAME_CHARS.get(depth, 4.5) * char_mm + CELL_PAD_MM
    widths = []
    for c in range(depth):
        natural = max(natural_width_mm([header[c]], size_pt, header=True), natural_width_mm(_texts(rows, c), size_pt))
        widths.append(min(natural, cap))
    widths.append(max(natural_width_mm([header[depth]], size_pt, header=True), natural_width_mm(_texts(rows, depth), size_pt)))
    rest = text_mm - sum(widths)
    if rest < MIN_CRITERIA_CHARS * char_mm + CELL_PAD_MM:
        return None
    return [round(w, 2) for w in widths + [rest]]


def _table(w: Writer, rows: list[list[Cell]], depth: int, words: dict, landscape: bool) -> None:
    header = LEVEL_HEADERS[:depth] + [words["points_header"], words["criteria_header"]]
    text_mm = LANDSCAPE_TEXT_WIDTH_MM if landscape else TEXT_WIDTH_MM
    widths = column_widths(header, rows, depth, text_mm, SMALL_TABLE_PT)
    if widths is None:  # squeezed: the level columns share what 评分标准 leaves
        crit = MIN_CRITERIA_CHARS * SMALL_TABLE_PT * PT_MM + CELL_PAD_MM
        pts = natural_width_mm([header[depth]], SMALL_TABLE_PT, header=True)
        widths = [(text_mm - crit - pts) / depth] * depth + [pts, crit]
    aligns = ["center"] * depth + ["center", "left"]
    w.table(table_xml_spans(widths, header, rows, w.fonts, aligns, SMALL_TABLE_PT))


def needs_landscape(fw: Framework, tops: list[Indicator], words: dict) -> bool:
    depth = _depth(fw, tops)
    rows = table_rows(fw, tops, words, depth)
    header = LEVEL_HEADERS[:depth] + [words["points_header"], words["criteria_header"]]
    return bool(rows) and column_widths(header, rows, depth, TEXT_WIDTH_MM, SMALL_TABLE_PT) is None


# ---- the document -------------------------------------------------------------------------

def _veto_score_text(fw: Framework) -> str:
    score = getattr(fw, "veto_score", None)
    if score is None:
        return ""
    if isinstance(score, dict):
        return "，" + "、".join(f"{g}总分记{n(v)}分" for g, v in score.items())
    return f"，总分记{n(score)}分"


def _grades_lines(fw: Framework) -> list[str]:
    """等次, ranking, normalisation and the bonus gate, as the office states them."""
    out = []
    bands = []
    upper = None
    for g in fw.grades:
        if g.min is None:
            bands.append(f"{n(upper)}分以下为{g.name}" if upper is not None else f"其余为{g.name}")
        elif upper is None:
            bands.append(f"{n(g.min)}分（含）以上为{g.name}")
        else:
            bands.append(f"{n(g.min)}分（含）至{n(upper)}分为{g.name}")
        upper = g.min if g.min is not None else upper
    out.append("总分" + "，".join(bands) + f"；单项否决的，等次为{fw.veto_grade}{_veto_score_text(fw)}。")
    if fw.rank_within == "overall":
        out.append("全部单位统一排名。")
    else:
        out.append(f"按单位类别（{'、'.join(fw.unit_groups)}）分别排名。")
    if fw.normalise_to is not None:
        method = getattr(fw, "normalise_method", None) or "proportional"
        if method == "spread":
            out.append(f"不适用的一级指标分值平均分配到本单位适用的其他基础一级指标，基础分满分为{n(fw.normalise_to)}分。")
        else:
            out.append(f"适用满分不同的单位，基础分按“得分 × {n(fw.normalise_to)} ÷ 适用满分”折算。")
    if fw.period == "quarter":
        out.append("按季度考核。")
    return out


def _gate_text(fw: Framework) -> str:
    above = getattr(fw, "bonus_requires_above", None)
    if above is not None:
        return f"基础分高于{n(above)}分的单位，方可计入加分。"
    if fw.bonus_requires_base is not None:
        return f"基础分达到{n(fw.bonus_requires_base)}分（含）以上的单位，方可计入加分。"
    return ""


def build_rules_annex(fw: Framework, office: dict | None = None):
    """The annex as a python-docx Document (not yet saved)."""
    office = office_for(fw) if office is None else office
    words = merged(WORDING, office.get("rules_annex") or {})
    fonts = Fonts.from_office(office)
    doc = new_document(fonts)
    w = Writer(doc, fonts)
    parts = {"base": [], "bonus": [], "penalty": [], "veto": []}
    for top in fw.indicators:
        parts.setdefault(part_of(top), []).append(top)
    base = parts["base"]
    if needs_landscape(fw, base, words):
        set_landscape(w.doc.sections[0])
    landscape = needs_landscape(fw, base, words)
    w.para(words["label"], "GwAnnexLabel")
    w.blank(1)
    write_title(w, words["title"].format(title=annex_title(fw)), keep=[str(getattr(fw, "jurisdiction", "") or "")])
    w.blank(1)
    section = 0

    def heading(text: str) -> None:
        nonlocal section
        section += 1
        w.heading(f"{chinese_numeral(section)}、{text}", 1)

    if base:
        heading(words["table_heading"])
        depth = _depth(fw, base)
        _table(w, table_rows(fw, base, words, depth), depth, words, landscape)
    vetoes = [(x, p) for x, _, p in fw.walk() if x.is_leaf and _is_veto(x)]
    veto_at = [x for x, _, _ in fw.walk() if x.is_leaf and x.rule is not None and "veto_at" in x.rule.params]
    if vetoes or veto_at:
        tops = "、".join(f"{t.code} {t.name}" for t in parts["veto"])
        heading(words["veto_heading"] + (f"（{tops}）" if tops else ""))
        w.para(words["veto_lead"].format(veto_grade=fw.veto_grade, veto_score=_veto_score_text(fw)))
        for i, (x, _) in enumerate(vetoes, start=1):
            text = f"{i}. {x.code} {x.name}"
            rule = describe_rule(fw, x)
            extra = [unfold(x.basis)] if x.basis and unfold(x.basis) != x.name else []
            if rule and rule != "出现即单项否决":
                extra.append(rule)
            if x.applies_to:
                extra.append(words["applies_label"] + "、".join(x.applies_to))
            w.para(text + ("：" + "；".join(e.rstrip("。；;. ") for e in extra) if extra else "") + "。")
        for j, x in enumerate(veto_at, start=len(vetoes) + 1):
            w.para(f"{j}. {x.code} {x.name}：{KEY_READINGS['veto_at'](x.rule.params['veto_at'], RuleContext(fw, x, dict(x.rule.params), None))}。")
    extra_tops = parts["bonus"] + parts["penalty"] + parts.get("bonus_penalty", [])
    if extra_tops:
        kinds = {part_of(t) for t in extra_tops}
        mixed = len(kinds) > 1 or "bonus_penalty" in kinds
        heading(words["bonus_penalty_heading"] if mixed else words["bonus_heading" if "bonus" in kinds else "penalty_heading"])
        for top in extra_tops:
            verb = {"bonus": "最多加", "penalty": "最多扣"}.get(part_of(top), "")
            cap = f"（{verb}{n(top.points)}分）" if top.points is not None and verb else ""
            w.para(f"{top.code} {top.name}{cap}" + (f"：{unfold(top.basis)}" if top.basis and unfold(top.basis) != top.name else ""))
        gate = _gate_text(fw) if kinds & {"bonus", "bonus_penalty"} else ""
        if gate:
            w.para(gate)
        depth = _depth(fw, extra_tops)
        _table(w, table_rows(fw, extra_tops, words, depth), depth, words, landscape)
    heading(words["grades_heading"])
    for line in _grades_lines(fw):
        w.para(line)
    if not {part_of(t) for t in extra_tops} & {"bonus", "bonus_penalty"} and _gate_text(fw):
        w.para(_gate_text(fw))
    set_core(doc, annex_title(fw), str(fw.jurisdiction), datetime(int(fw.year), 1, 1))
    return doc


def write_rules_annex(fw: Framework, out: str | Path, office: dict | None = None) -> Path:
    """Write the annex; the same framework file gives the same bytes."""
    out = Path(out)
    if out.suffix.lower() != ".docx":
        out = out.with_suffix(".docx")
    return write_package(out, to_bytes(build_rules_annex(fw, office)), datetime(int(fw.year), 1, 1))
