"""The 通报: 版头, title, body written from the scores, signature, the score-table attachment and
the optional annexes (charts, years side by side, 复核), 版记."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pandas as pd
from docx.document import Document as DocumentObject
from docx.shared import Mm, Twips

from . import annexes as extra
from . import summary
from .docformat import (
    CHAR_TWIPS, TEXT_WIDTH_MM, Fonts, Writer, chinese_numeral, imprint, office_document, red_header, set_core, signature,
    text_width_chars,
)
from .layout import Annex, annex_note, annex_ref, open_annex, render_annexes, table_layout
from .office import context, demo_line, doc_number, fill, fill_keep_lines, fixed_time, fmt
from .titles import title_keep, write_title


def notification_title(fw: Any, office: dict, period: str | None, n_units: int = 0,
                       components: list[dict] | None = None) -> str:
    pattern = office["combined"]["title"] if components else office["title"]
    return fill(pattern, context(fw, office, period, n_units))


def component_label(c: dict) -> tuple[str, str]:
    """(title, weight in percent as printed) of one component of a combined result."""
    w = float(c.get("weight", 0) or 0)
    return str(c.get("title") or c["id"]), fmt(w * 100 if w <= 1 else w)


def combined_context(ctx: dict, components: list[dict] | None, office: dict) -> dict:
    if not components:
        return ctx
    parts = [fill(office["combined"]["component"], ctx, title=t, weight=w) for t, w in map(component_label, components)]
    return {**ctx, "components": "、".join(parts), "n_components": len(components)}


# said in the body when the run declared a year without events (`--no-events`): an empty events
# table is otherwise refused, so a reader of the 通报 knows the base scores were meant
NO_EVENTS_SENTENCE = "本考核期无考评事件记录（经确认），各单位事件类指标按基础分计分。"


def build_notification(fw: Any, unit_scores: pd.DataFrame, indicator_scores: pd.DataFrame,
                       line_items: pd.DataFrame, office: dict, previous: pd.DataFrame | None = None,
                       period: str | None = None, charts: list[bytes] | None = None, *,
                       comparison: pd.DataFrame | None = None, appeals: pd.DataFrame | None = None,
                       components: list[dict] | None = None, no_events: bool = False,
                       comparison_note: str | None = None, events: pd.DataFrame | None = None) -> DocumentObject:
    """The whole notification as a python-docx Document (not yet saved).

    `no_events`: the run declared a year without events (`--no-events`); the body says so.
    `events` give the quantities the 存在问题 section counts problems by (summary.deductions).

    `charts` (PNG bytes) become an attachment when the office sets attachment.include_charts;
    `comparison` and `appeals` add their annexes; `components` make it a combined result whose
    score table shows each component's total beside the combined one. `comparison_note` (one
    sentence) says why last year is not compared, when its bundle could not be used."""
    fonts = Fonts.from_office(office)
    doc = office_document(office, fonts)
    w = Writer(doc, fonts)
    ctx = combined_context(context(fw, office, period, len(unit_scores)), components, office)
    cfg = office["combined"] if components else office
    title = fill(cfg["title"], ctx)
    red_header(w, office["mark"], doc_number(fw, office), office.get("mark_color", "FF0000"))
    w.blank(2)
    write_title(w, title, keep=title_keep(office, ctx))
    w.blank(1)
    w.para(fill(office["recipients"], ctx).rstrip("：:") + "：", "GwFlush")
    demo_paragraph(w, office, ctx)
    w.para(fill(cfg["opening"], ctx))
    if no_events:
        w.para(NO_EVENTS_SENTENCE)

    annex = office["attachment"]
    annexes = [score_annex(fw, unit_scores, indicator_scores, office, ctx, components)]
    if annex.get("include_charts") and charts:
        charts_title = fill(annex["charts_title"], ctx)
        annexes.append(Annex(charts_title, lambda w_, label, t: chart_attachment(w_, charts, label, t), "charts"))
    if comparison is not None:
        annexes.append(extra.comparison_annex(fw, comparison, office, ctx))
    if appeals is not None:
        annexes.append(extra.appeals_annex(fw, appeals, office, ctx))
    label = annex.get("label", "附件")

    heads = office["headings"]
    w.heading(f"一、{heads['overview']}", 1)
    more = extra.comparison_sentence(fw, comparison, office, ctx, annex_ref(annexes, "comparison", label)) \
        if comparison is not None and len(comparison) else ""
    more += comparison_note or ""
    _overview(w, fw, unit_scores, previous, office, ctx, more)
    w.heading(f"二、{heads['results']}", 1)
    n_sub = _results(w, fw, unit_scores, office, ctx)
    if appeals is not None and len(appeals):
        w.heading(f"（{chinese_numeral(n_sub + 1)}）{heads['appeals']}", 2)
        w.para(extra.appeals_sentence(appeals, office, ctx, annex_ref(annexes, "appeals", label)))
    w.heading(f"三、{heads['problems']}", 1)
    _problems(w, fw, unit_scores, line_items, office, ctx, events)
    w.heading(f"四、{heads['requirements']}", 1)
    requirements(w, office.get("requirements") or [], ctx)

    return close_document(doc, w, fw, office, ctx, annexes, label, annex["note"], title)


def close_document(doc, w, fw: Any, office: dict, ctx: dict, annexes, label, note: str, title: str):
    """What every notification ends with: 附件说明, 署名 and date, the annex pages, the 版记, fixed core properties."""
    annex_note(w, annexes, lambda t: fill(note, ctx, attachment_title=t))
    signature(w, office.get("signature") or office["issuer"], ctx["date_text"], bool(office.get("seal", True)))
    render_annexes(w, annexes, label)
    imp = office.get("imprint") or {}
    imprint(w, fill(imp["cc"], ctx) if imp.get("cc") else None, imp.get("cc_label", "抄送："),
            imp.get("printer") or office["issuer"], ctx["date_text"] + imp.get("printed_suffix", "印发"))
    set_core(doc, title, office["issuer"], fixed_time(fw, office))
    return doc


def demo_paragraph(w: Writer, office: dict, ctx: dict) -> None:
    """Demo data: a paragraph under the 主送机关 saying the data are synthetic (office.yaml `demo.line`)."""
    line = demo_line(office, ctx)
    if line:
        w.para(line)


def requirements(w: Writer, items: list[dict], ctx: dict) -> None:
    """四、工作要求: （一）（二）… each a run-in heading (ending 。) or a heading line and a paragraph."""
    for i, item in enumerate(items, start=1):
        lead = f"（{chinese_numeral(i)}）{fill(item['heading'], ctx)}"
        if lead.endswith("。"):  # a run-in heading: 楷体 lead, body text in the same paragraph
            w.lead_para(lead, fill(item["text"], ctx))
        else:
            w.heading(lead, 2)
            w.para(fill(item["text"], ctx))


def _overview(w: Writer, fw: Any, units: pd.DataFrame, previous: pd.DataFrame | None, office: dict, ctx: dict,
              more: str = "") -> None:
    o = office["overview"]
    ov = summary.overview(fw, units)
    group_counts = "、".join(fill(o["group_count"], ctx, group=g, n=n) for g, n in ov.group_counts.items())
    grade_counts = "、".join(fill(o["grade_count"], ctx, grade=g, n=n) for g, n in ov.grade_counts.items())
    if ov.n_vetoed:
        grade_counts += fill(o["vetoed_note"], ctx, n=ov.n_vetoed)
    text = fill(o["summary"], ctx, group_counts=group_counts, grade_counts=grade_counts,
                pass_rate=fmt(ov.pass_rate, 1), average=fmt(ov.average))
    best = []
    for group, members in ov.best.items():
        names = "、".join(fill(o["unit_score"], ctx, unit=n, score=fmt(s)) for n, s in members)
        best.append(fill(o["best"], ctx, group=group, units=names))
    if best:
        text += "，".join(best) + "。"
    if previous is not None and len(previous):
        text += _change(fw, ov, summary.overview(fw, previous), o, ctx)
    w.para(text + more)


def _change(fw: Any, now: summary.Overview, before: summary.Overview, o: dict, ctx: dict) -> str:
    def delta(a: float, b: float, up: str, down: str, same: str, digits: int = 2) -> str:
        d = round(a - b, digits)
        if d > 0:
            return fill(o[up], ctx, delta=fmt(d, digits))
        if d < 0:
            return fill(o[down], ctx, delta=fmt(-d, digits))
        return fill(o[same], ctx)

    rate_key = "rate_same"
    if round(now.pass_rate, 1) > round(before.pass_rate, 1):
        rate_key = "rate_up"
    elif round(now.pass_rate, 1) < round(before.pass_rate, 1):
        rate_key = "rate_down"
    top = fw.grades[0].name
    return fill(
        o["previous"], ctx,
        average_change=delta(now.average, before.average, "change_up", "change_down", "change_same"),
        pass_rate_change=fill(o[rate_key], ctx, before=fmt(before.pass_rate, 1), after=fmt(now.pass_rate, 1)),
        top_grade=top,
        top_change=delta(now.grade_counts.get(top, 0), before.grade_counts.get(top, 0),
                         "count_up", "count_down", "count_same", 0),
    )


def _unit_label(r: Any, o: dict, r_cfg: dict, ctx: dict) -> str:
    if bool(r.vetoed):
        if pd.notna(r.total):  # 单项否决，按方案记 59 分
            return fill(r_cfg.get("vetoed_unit_scored", "{unit}（单项否决，按方案记{score}分）"), ctx, unit=r.unit_name, score=fmt(r.total))
        return fill(r_cfg["vetoed_unit"], ctx, unit=r.unit_name)
    return fill(o["unit_score"], ctx, unit=r.unit_name, score=fmt(r.total))


def _results(w: Writer, fw: Any, units: pd.DataFrame, office: dict, ctx: dict) -> int:
    """二、考评结果 by unit group and grade, then praise and criticism; returns the （n） used."""
    r_cfg, o = office["results"], office["overview"]
    n_sub = 0
    for group in summary.groups_of(fw, units):
        members = summary.ordered_units(units[units["unit_group"] == group])
        if members.empty:
            continue
        n_sub += 1
        w.heading(f"（{chinese_numeral(n_sub)}）{group}", 2)
        for i, grade in enumerate(g.name for g in fw.grades):
            in_grade = members[members["grade"] == grade]
            lead = f"{i + 1}." + fill(r_cfg["grade_line"], ctx, grade=grade, n=len(in_grade)) + "："
            names = "、".join(_unit_label(r, o, r_cfg, ctx) for r in in_grade.itertuples()) + "。"
            w.heading(lead + (names if len(in_grade) else fill(r_cfg["none"], ctx)), 3)
    ordered = summary.ordered_units(units)
    commend = ordered[ordered["grade"].isin(r_cfg.get("commend_grades") or [])]
    criticise = ordered[ordered["grade"].isin(r_cfg.get("criticise_grades") or []) | ordered["vetoed"].astype(bool)]
    if commend.empty and criticise.empty:
        return n_sub
    n_sub += 1
    w.heading(f"（{chinese_numeral(n_sub)}）{office['headings']['praise']}", 2)
    if not commend.empty:
        w.para(fill(r_cfg["commend"], ctx, grades="、".join(r_cfg["commend_grades"]), n=len(commend),
                    units="、".join(commend["unit_name"])))
    if not criticise.empty:
        grades = "、".join(dict.fromkeys(list(r_cfg.get("criticise_grades") or []) + [fw.veto_grade]))
        text = fill(r_cfg["criticise"], ctx, grades=grades, n=len(criticise), units="、".join(criticise["unit_name"]))
        vetoed = criticise[criticise["vetoed"].astype(bool)]
        if not vetoed.empty:
            reasons = "；".join(fill(r_cfg["veto_reason"], ctx, unit=r.unit_name,
                                    reason=summary.quoted(summary.veto_reason_text(fw, r.veto_reasons))) for r in vetoed.itertuples())
            text += fill(r_cfg["veto_intro"], ctx) + reasons + "。"
        w.para(text)
    return n_sub


PROBLEM_WORDING_BY_RECORDS = {
    "intro_records": "本次考评共发现扣分问题记录{n_records}条，涉及{n_units}家单位。主要问题如下：",
    "item_records": "共{records}条记录，占扣分问题记录总数的{share}%，合计扣{points}分，涉及{units}。",
}


def _problems(w: Writer, fw: Any, units: pd.DataFrame, line_items: pd.DataFrame, office: dict, ctx: dict,
              events: pd.DataFrame | None = None) -> None:
    """三、存在问题. Problems are counted by the evidence rows' 数量 (see summary.deductions), and the
    text says so and gives the records beside: “共发现5个（2条记录）”. Without events (quantities
    unknown) it counts records and says records."""
    p_cfg = office["problems"]
    table = summary.problems(fw, units, line_items, events)
    if table.empty:
        w.para(fill(p_cfg["none"], ctx))
        return
    lines = summary.deductions(line_items, events)
    by_quantity = summary.counts_known(lines)
    n_problems = int(round(lines["count"].sum())) if by_quantity else int(lines["records"].sum())
    intro = p_cfg["intro"] if by_quantity else p_cfg.get("intro_records", PROBLEM_WORDING_BY_RECORDS["intro_records"])
    w.para(fill(intro, ctx, n_problems=n_problems, n_records=int(lines["records"].sum()),
                n_units=lines["unit_id"].nunique()))
    item = p_cfg["item"] if by_quantity else p_cfg.get("item_records", PROBLEM_WORDING_BY_RECORDS["item_records"])
    cap = int(p_cfg.get("max_units_listed", 10))
    for i, row in enumerate(table.head(int(p_cfg.get("top", 5))).itertuples(), start=1):
        names = row.unit_names
        key = "units_all" if len(names) <= cap else "units_some"
        unit_text = fill(p_cfg[key], ctx, names="、".join(names[:cap]), n=len(names))
        w.heading(f"（{chinese_numeral(i)}）{row.name}", 2)
        w.para(fill(item, ctx, count=int(row.count), records=int(row.records), share=fmt(row.share, 1),
                    points=fmt(row.points), units=unit_text))


@dataclass(frozen=True)
class ScoreColumn:
    """A sub-score column of the score table: its header and each unit's value (NaN: not scored)."""

    header: str
    values: pd.Series  # indexed by unit_id
    kind: str = "score"  # score (an indicator or component) | maximum | extra (bonus, penalty)
    narrow: str | None = None  # the header where the table is short of room (“30分” for “（30分）”)


def score_columns(fw: Any, units: pd.DataFrame, indicator_scores: pd.DataFrame, office: dict, ctx: dict,
                  components: list[dict] | None = None) -> list[ScoreColumn]:
    """The table's sub-score columns: the components of a combined result, else the 一级 indicators
    (NaN where an indicator does not apply to the unit), then the applicable maximum where the
    framework normalises and the maxima differ, then bonus and penalty where any unit has them."""
    cols_cfg = office["attachment"]["columns"]
    ids = units["unit_id"]
    out: list[ScoreColumn] = []
    if components:
        for c in components:
            t, weight = component_label(c)
            values = units.set_index("unit_id")[c["id"]] if c["id"] in units else pd.Series(float("nan"), index=ids)
            out.append(ScoreColumn(fill_keep_lines(cols_cfg["component"], ctx, title=t, weight=weight), values, "score",
                                   fill_keep_lines(cols_cfg.get("component_narrow") or cols_cfg["component"], ctx,
                                                   title=t, weight=weight)))
    else:
        top = indicator_scores[indicator_scores["depth"] == 1]
        columns = summary.top_level_columns(fw, indicator_scores) if hasattr(fw, "top_level") else []
        wide = top.pivot_table(index="unit_id", columns="indicator", values="score", aggfunc="first", dropna=False)
        for code, name, points in columns:
            values = wide[code] if code in wide else pd.Series(dtype=float)
            out.append(ScoreColumn(fill_keep_lines(cols_cfg["indicator"], ctx, name=name, points=fmt(points)), values, "score",
                                   fill_keep_lines(cols_cfg.get("indicator_narrow") or cols_cfg["indicator"], ctx,
                                                   name=name, points=fmt(points))))
        maxima = applicable_maxima(fw, indicator_scores, [c for c, _, _ in columns])
        if maxima is not None:
            out.append(ScoreColumn(cols_cfg["maximum"], maxima, "maximum"))
    for col in ("bonus", "penalty"):
        if col in units and pd.to_numeric(units[col], errors="coerce").fillna(0).ne(0).any():
            out.append(ScoreColumn(cols_cfg[col], units.set_index("unit_id")[col], "extra"))
    return out


def applicable_maxima(fw: Any, indicator_scores: pd.DataFrame, codes: list[str]) -> pd.Series | None:
    """Each unit's applicable maximum over the 一级 columns, where the framework normalises totals
    and the maxima differ between units (or from the normalised scale); else None."""
    scale = getattr(fw, "normalise_to", None)
    if not scale or not codes or getattr(fw, "method", "proportional") == "spread":
        return None  # spread: every unit's applicable maxima add up to the scale already
    top = indicator_scores[(indicator_scores["depth"] == 1) & indicator_scores["indicator"].isin(codes)]
    maxima = pd.to_numeric(top["points"], errors="coerce").groupby(top["unit_id"]).sum().round(2)
    if maxima.empty or (maxima.nunique() == 1 and abs(float(maxima.iloc[0]) - float(scale)) < 1e-9):
        return None
    return maxima


def score_table(fw: Any, units: pd.DataFrame, indicator_scores: pd.DataFrame, office: dict, ctx: dict,
                components: list[dict] | None = None
                ) -> tuple[list[str], list[str], dict[str, list[list[str]]], list[str]]:
    """The attachment's header (and its narrow form), cells per unit group (display order) and
    notes, as printed."""
    annex = office["attachment"]
    cols = annex["columns"]
    mark = annex.get("vetoed_mark", "*")
    sub = score_columns(fw, units, indicator_scores, office, ctx, components)
    header = [cols["seq"], cols["name"]] + [c.header for c in sub] + [cols["total"], cols["rank"], cols["grade"]]
    narrow = [cols["seq"], cols["name"]] + [c.narrow or c.header for c in sub] + [cols["total"], cols["rank"], cols["grade"]]
    rows: dict[str, list[list[str]]] = {}
    not_applicable = False
    for group in summary.groups_of(fw, units):
        members = summary.table_order(units[units["unit_group"] == group])
        if members.empty:
            continue
        group_rows = []
        for seq, r in enumerate(members.itertuples(), start=1):
            vetoed = bool(r.vetoed)
            cells = [str(seq), str(r.unit_name)]
            for c in sub:
                value = c.values.get(r.unit_id, float("nan"))
                if c.kind == "score" and not vetoed and pd.isna(value):
                    not_applicable = True  # the unit is not responsible for this indicator
                cells.append(fmt(value) if (c.kind == "maximum" or not vetoed) else "—")
            cells += [fmt(r.total), str(int(r.rank)) if pd.notna(r.rank) else "—",
                      f"{r.grade}{mark}" if vetoed else str(r.grade)]
            group_rows.append(cells)
        rows[group] = group_rows
    notes = []
    if not_applicable:
        notes.append(fill(annex["not_applicable_note"], ctx))
    if getattr(fw, "normalise_to", None) and getattr(fw, "method", "proportional") == "spread" and not_applicable:
        notes.append(fill(annex.get("spread_note", "不承担指标的分值按考核方案平均分配至该单位其他适用指标（见扣分明细），扣分不折算。"), ctx))
    if any(c.kind == "maximum" for c in sub):
        extras = fill(annex["extras_clause"], ctx) if any(c.kind == "extra" for c in sub) else ""
        notes.append(fill(annex["normalise_note"], ctx, scale=fmt(getattr(fw, "normalise_to", 100)), extras=extras))
    if components:
        weights = "＋".join(fill(office["combined"]["weighted"], ctx, title=t, weight=w)
                           for t, w in map(component_label, components))
        notes.append(fill(office["combined"]["note"], ctx, weights=weights))
    vetoed_rows = [r for group_rows in rows.values() for r in group_rows if r[-1].endswith(mark)]
    if any(r[-3] == "—" for r in vetoed_rows):  # no total
        notes.append(fill(annex["vetoed_note"], ctx))
    if any(r[-3] != "—" for r in vetoed_rows):  # a veto_score total
        notes.append(fill(annex.get("vetoed_scored_note", "注：标“*”的单位被单项否决，按考核方案记固定分（见总分栏）。"), ctx))
    return header, narrow, rows, notes


def write_notes(w: Writer, notes: list[str], label: str = "注：") -> None:
    """注：one note, or 注：1.… with the later ones aligned under the first."""
    notes = [n[len(label):] if n.startswith(label) else n for n in notes]
    if len(notes) == 1:
        w.para(label + notes[0], "GwFlush")
        return
    for i, note in enumerate(notes, start=1):
        p = w.para((label if i == 1 else "") + f"{i}.{note}", "GwFlush")
        p.paragraph_format.left_indent = Twips(round(text_width_chars(label) * CHAR_TWIPS))
        p.paragraph_format.first_line_indent = Twips(-round(text_width_chars(label) * CHAR_TWIPS)) if i == 1 else 0


def score_annex(fw: Any, units: pd.DataFrame, indicator_scores: pd.DataFrame, office: dict, ctx: dict,
                components: list[dict] | None = None) -> Annex:
    """The score table per unit group: the notification's first attachment."""
    annex = office["attachment"]
    title = fill(office["combined"]["attachment_title"] if components else annex["title"], ctx)

    def render(w: Writer, label: str, title_: str) -> None:
        header, narrow, rows, notes = score_table(fw, units, indicator_scores, office, ctx, components)
        everything = [r for group_rows in rows.values() for r in group_rows]
        layout = table_layout(header, everything, flex=[1], narrow_header=narrow)
        open_annex(w, label, title_, layout.landscape)
        aligns = ["center", "left"] + ["center"] * (len(header) - 2)
        for i, (group, group_rows) in enumerate(rows.items(), start=1):
            if len(rows) > 1:
                w.para(fill(annex["group_heading"], ctx, n=chinese_numeral(i), group=group), "GwAnnexLabel")
            w.table(layout.xml(w, group_rows, aligns, keep_end=bool(notes) and i == len(rows)))
            if i < len(rows):
                w.blank(1)
        if notes:
            write_notes(w, notes, annex.get("note_label", "注："))

    return Annex(title, render, "scores")


def chart_attachment(w: Writer, charts: list[bytes], label_text: str, title: str) -> None:
    """The charts as a further attachment, each as wide as the text block."""
    open_annex(w, label_text, title, False)
    for png in charts:
        p = w.para("", "GwTable")
        p.paragraph_format.line_spacing = 1.0  # auto: an exact line height would clip the picture
        p.add_run().add_picture(io.BytesIO(png), width=Mm(TEXT_WIDTH_MM - 6))
        w.blank(1)
