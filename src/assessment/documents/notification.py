"""The 通报: 版头, title, body written from the scores, signature, the score-table attachment, 版记."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from docx.document import Document as DocumentObject
from docx.shared import Mm, Twips

from . import summary
from .docformat import (
    CHAR_TWIPS, TEXT_WIDTH_MM, Fonts, Writer, chinese_numeral, imprint, new_document, red_header, set_core, signature,
    table_xml, text_width_chars,
)
from .office import context, doc_number, fill, fill_keep_lines, fixed_time, fmt


def notification_title(fw: Any, office: dict, period: str | None, n_units: int = 0) -> str:
    return fill(office["title"], context(fw, office, period, n_units))


def build_notification(fw: Any, unit_scores: pd.DataFrame, indicator_scores: pd.DataFrame,
                       line_items: pd.DataFrame, office: dict, previous: pd.DataFrame | None = None,
                       period: str | None = None, charts: list[bytes] | None = None) -> DocumentObject:
    """The whole notification as a python-docx Document (not yet saved).

    `charts` (PNG bytes) become a second attachment when the office sets attachment.include_charts."""
    fonts = Fonts.from_office(office)
    doc = new_document(fonts, office.get("mark_size_pt", 36), office.get("mark_color", "FF0000"))
    w = Writer(doc, fonts)
    ctx = context(fw, office, period, len(unit_scores))
    title = fill(office["title"], ctx)
    red_header(w, office["mark"], doc_number(fw, office), office.get("mark_color", "FF0000"))
    w.blank(2)
    w.para(title, "GwTitle")
    w.blank(1)
    w.para(fill(office["recipients"], ctx).rstrip("：:") + "：", "GwFlush")
    w.para(fill(office["opening"], ctx))

    heads = office["headings"]
    w.heading(f"一、{heads['overview']}", 1)
    _overview(w, fw, unit_scores, previous, office, ctx)
    w.heading(f"二、{heads['results']}", 1)
    _results(w, fw, unit_scores, office, ctx)
    w.heading(f"三、{heads['problems']}", 1)
    _problems(w, fw, unit_scores, line_items, office, ctx)
    w.heading(f"四、{heads['requirements']}", 1)
    for i, item in enumerate(office.get("requirements") or [], start=1):
        lead = f"（{chinese_numeral(i)}）{fill(item['heading'], ctx)}"
        if lead.endswith("。"):  # a run-in heading: 楷体 lead, body text in the same paragraph
            w.lead_para(lead, fill(item["text"], ctx))
        else:
            w.heading(lead, 2)
            w.para(fill(item["text"], ctx))

    annex = office["attachment"]
    annex_title = fill(annex["title"], ctx)
    with_charts = bool(annex.get("include_charts")) and bool(charts)
    w.blank(1)
    if with_charts:
        charts_title = fill(annex["charts_title"], ctx)
        first = w.para(fill(annex["note"], ctx, attachment_title=f"1.{annex_title}"))
        second = w.para(f"2.{charts_title}")
        _hang_under(first, second, fill(annex["note"], ctx, attachment_title=""))
    else:
        w.para(fill(annex["note"], ctx, attachment_title=annex_title))
    signature(w, office.get("signature") or office["issuer"], ctx["date_text"], bool(office.get("seal", True)))

    attachment(w, fw, unit_scores, indicator_scores, office, ctx, annex_title, "1" if with_charts else "")
    if with_charts:
        chart_attachment(w, charts, annex.get("label", "附件") + "2", charts_title)

    imp = office.get("imprint") or {}
    imprint(w, fill(imp["cc"], ctx) if imp.get("cc") else None, imp.get("cc_label", "抄送："),
            office["issuer"], ctx["date_text"] + imp.get("printed_suffix", "印发"))
    set_core(doc, title, office["issuer"], fixed_time(fw, office))
    return doc


def _overview(w: Writer, fw: Any, units: pd.DataFrame, previous: pd.DataFrame | None, office: dict, ctx: dict) -> None:
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
    w.para(text)


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
        return fill(r_cfg["vetoed_unit"], ctx, unit=r.unit_name)
    return fill(o["unit_score"], ctx, unit=r.unit_name, score=fmt(r.total))


def _results(w: Writer, fw: Any, units: pd.DataFrame, office: dict, ctx: dict) -> None:
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
        return
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
                                    reason=summary.veto_reason_text(fw, r.veto_reasons)) for r in vetoed.itertuples())
            text += fill(r_cfg["veto_intro"], ctx) + reasons + "。"
        w.para(text)


def _problems(w: Writer, fw: Any, units: pd.DataFrame, line_items: pd.DataFrame, office: dict, ctx: dict) -> None:
    p_cfg = office["problems"]
    table = summary.problems(fw, units, line_items)
    if table.empty:
        w.para(fill(p_cfg["none"], ctx))
        return
    lines = summary.deductions(line_items)
    w.para(fill(p_cfg["intro"], ctx, n_problems=int(lines["count"].sum()), n_units=lines["unit_id"].nunique()))
    cap = int(p_cfg.get("max_units_listed", 10))
    for i, row in enumerate(table.head(int(p_cfg.get("top", 5))).itertuples(), start=1):
        names = row.unit_names
        key = "units_all" if len(names) <= cap else "units_some"
        unit_text = fill(p_cfg[key], ctx, names="、".join(names[:cap]), n=len(names))
        w.heading(f"（{chinese_numeral(i)}）{row.name}", 2)
        w.para(fill(p_cfg["item"], ctx, count=row.count, share=fmt(row.share, 1), points=fmt(row.points),
                    units=unit_text))


def attachment_rows(fw: Any, units: pd.DataFrame, indicator_scores: pd.DataFrame, office: dict,
                    columns: list[tuple[str, str, float]], extra: list[str]) -> dict[str, list[list[str]]]:
    """The attachment's cells as text, per unit group in display order."""
    annex = office["attachment"]
    mark = annex.get("vetoed_mark", "*")
    top = indicator_scores[indicator_scores["depth"] == 1]
    wide = top.pivot_table(index="unit_id", columns="indicator", values="score", aggfunc="first", dropna=False)
    out: dict[str, list[list[str]]] = {}
    for group in summary.groups_of(fw, units):
        members = summary.table_order(units[units["unit_group"] == group])
        if members.empty:
            continue
        sub = wide.reindex(index=members["unit_id"], columns=[c for c, _, _ in columns])
        rows = []
        for seq, (r, scores) in enumerate(zip(members.itertuples(), sub.itertuples(index=False)), start=1):
            vetoed = bool(r.vetoed)
            cells = [str(seq), str(r.unit_name)]
            cells += ["—" if vetoed else fmt(s) for s in scores]
            cells += ["—" if vetoed else fmt(getattr(r, col)) for col in extra]
            cells += [fmt(r.total), str(int(r.rank)) if pd.notna(r.rank) else "—",
                      f"{r.grade}{mark}" if vetoed else str(r.grade)]
            rows.append(cells)
        out[group] = rows
    return out


def _hang_under(first: Any, second: Any, label: str) -> None:
    """附件说明 with several attachments: "2." lines up under "1."."""
    indent = round((2 + text_width_chars(label)) * CHAR_TWIPS)
    second.paragraph_format.first_line_indent = 0
    second.paragraph_format.left_indent = Twips(indent)


def chart_attachment(w: Writer, charts: list[bytes], label_text: str, title: str) -> None:
    """The charts as a further attachment, each as wide as the text block."""
    label = w.para(label_text, "GwAnnexLabel")
    w.page_break_before(label)
    w.blank(1)
    w.para(title, "GwTitle")
    w.blank(1)
    for png in charts:
        p = w.para("", "GwTable")
        p.paragraph_format.line_spacing = 1.0  # auto: an exact line height would clip the picture
        p.add_run().add_picture(io.BytesIO(png), width=Mm(TEXT_WIDTH_MM - 6))
        w.blank(1)


def attachment(w: Writer, fw: Any, units: pd.DataFrame, indicator_scores: pd.DataFrame, office: dict,
               ctx: dict, annex_title: str, number: str = "") -> None:
    """附件 on a new page: label flush left, title centred on line 3, one table per unit group."""
    annex = office["attachment"]
    cols = annex["columns"]
    label = w.para(annex.get("label", "附件") + number, "GwAnnexLabel")
    w.page_break_before(label)
    w.blank(1)
    w.para(annex_title, "GwTitle")
    w.blank(1)
    columns = summary.top_level_columns(fw, indicator_scores)
    extra = [c for c in ("bonus", "penalty") if c in units and units[c].fillna(0).ne(0).any()]
    header = [cols["seq"], cols["name"]]
    header += [fill_keep_lines(cols["indicator"], ctx, name=n, points=fmt(p)) for _, n, p in columns]
    header += [cols[c] for c in extra] + [cols["total"], cols["rank"], cols["grade"]]
    n_scores = len(columns) + len(extra)
    fixed = {"seq": 11.0, "total": 15.0, "rank": 11.0, "grade": 17.0}
    score_w = max(14.0, min(23.0, (TEXT_WIDTH_MM - sum(fixed.values()) - 38) / max(n_scores, 1)))
    name_w = TEXT_WIDTH_MM - sum(fixed.values()) - score_w * n_scores
    widths = [fixed["seq"], name_w] + [score_w] * n_scores + [fixed["total"], fixed["rank"], fixed["grade"]]
    aligns = ["center", "left"] + ["center"] * (len(widths) - 2)
    rows = attachment_rows(fw, units, indicator_scores, office, columns, extra)
    for i, (group, group_rows) in enumerate(rows.items(), start=1):
        if len(rows) > 1:
            w.para(fill(annex["group_heading"], ctx, n=chinese_numeral(i), group=group), "GwAnnexLabel")
        w.table(table_xml(widths, header, group_rows, w.fonts, aligns))
        if any(r[-1].endswith(annex.get("vetoed_mark", "*")) for r in group_rows):
            w.para(fill(annex["vetoed_note"], ctx), "GwFlush")
        if i < len(rows):
            w.blank(1)
