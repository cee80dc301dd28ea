"""The `assessment` command: a thin shell over the Python API.

Exit codes: 0 done; 2 the evidence or parameters are invalid (messages say where); 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import Sequence

from .problems import InputError


def _frameworks_list(args: argparse.Namespace) -> int:
    from . import frameworks

    for fid in frameworks.available():
        fw = frameworks.load(fid)
        print(f"{fw.id}\t{fw.year}\t{'季度' if fw.period == 'quarter' else '年度'}\t{fw.title}")
    return 0


def _frameworks_show(args: argparse.Namespace) -> int:
    from . import frameworks

    fw = frameworks.load(args.id)
    if args.format == "json":
        print(json.dumps(frameworks.to_tree(fw), ensure_ascii=False, indent=2))
        return 0
    for line in show_lines(fw, basis=args.basis):
        print(line)
    return 0


def show_lines(fw, basis: bool = False) -> list[str]:
    """`frameworks show` as text: every key that changes a score, then the indicator tree with each
    node's part, caps and rule parameters (sources, min_count, veto_at included)."""
    out = [f"{fw.title}（{fw.id}）",
           f"来源 source: {fw.source.file} {fw.source.section}",
           f"单位类别 unit groups: {'、'.join(fw.unit_groups)}；排名 rank within: {fw.rank_within}"
           + ("（按单位类别分别排名 per unit group）" if fw.rank_within == "unit_group" else "（全部单位统一排名 overall）"),
           "等次 grades: " + "，".join(f"{g.name} ≥ {g.min:g}" if g.min is not None else g.name for g in fw.grades),
           f"单项否决等次 veto grade: {fw.veto_grade}"]
    if isinstance(fw.veto_score, dict):
        fixed = "；".join(f"{g} 记 {v:g} 分" for g, v in fw.veto_score.items())
        others = [g for g in fw.unit_groups if g not in fw.veto_score]
        out.append(f"单项否决记分 veto_score: {fixed}" + (f"；{'、'.join(others)} 不计总分、排在最后" if others else ""))
    elif fw.veto_score is not None:
        out.append(f"单项否决记分 veto_score: 记 {fw.veto_score:g} 分，按该分参与排名")
    else:
        out.append("单项否决记分 veto_score: 无（否决单位不计总分，排在最后 no total, ranked last）")
    gate = fw.gate
    if gate is None:
        out.append("加分门槛 bonus gate: 无 none")
    elif gate[0] == "above":
        out.append(f"加分门槛 bonus_requires_above: 基础得分高于 {gate[1]:g} 分才计加分（恰好 {gate[1]:g} 分不计）")
    else:
        out.append(f"加分门槛 bonus_requires_base: 基础得分达到 {gate[1]:g} 分（含）才计加分")
    if fw.normalise_to is None:
        out.append("折算 normalisation: 无 none")
    elif fw.method == "spread":
        out.append(f"折算 normalise_to: {fw.normalise_to:g}，normalise_method: spread（不适用的一级指标分值平均分配到其他适用的基础一级指标，扣分不折算）")
    else:
        out.append(f"折算 normalise_to: {fw.normalise_to:g}，normalise_method: proportional（基础分 × {fw.normalise_to:g} / 适用满分）")
    part_zh = {"base": "基础分", "bonus": "加分", "penalty": "扣分", "mixed": "加分/扣分", "veto": "单项否决", "none": "不评分"}
    for node, depth, parent in fw.walk():
        pts = f" {node.points:g}分" if node.points is not None else ""
        rule = ""
        if node.rule is not None:
            params = ", ".join(f"{k}={v}" for k, v in _effective_params(node.rule.type, node.rule.params).items())
            rule = f"  [{node.rule.type}{': ' + params if params else ''}]"
        kind = fw.kinds.get(node.code, "none")
        marks = []
        if depth == 1:
            marks.append(f"部分 part: {kind} {part_zh.get(kind, '')}" + ("（写明 part）" if node.part else ""))
        if node.pool:
            marks.append(f"扣分池 pool: 起 {node.points:g} 分，扣完为止")
        elif node.children and node.points is not None and kind in ("base", "bonus", "penalty"):
            marks.append(f"上限 cap {node.points:g}")
        if parent is not None and parent.pool and node.points is not None:
            marks.append(f"本项最多扣 {node.points:g} 分 leaf cap")
        mark = f" ({'；'.join(marks)})" if marks else ""
        scored = "" if node.scored else " (不评分 not scored)"
        applies = f"  适用: {'、'.join(node.applies_to)}" if node.applies_to else ""
        resp = f"  责任: {'、'.join(node.responsible)}" if node.responsible else ""
        assist = f"  协办: {'、'.join(node.assisting)}" if node.assisting else ""
        out.append(f"{'  ' * (depth - 1)}{node.code} {node.name}{pts}{mark}{scored}{rule}{applies}{resp}{assist}")
        if node.basis and basis:
            out.append(f"{'  ' * depth}依据: {node.basis}")
    return out


def _effective_params(rule: str, raw: dict) -> dict:
    """A rule's parameters with the defaults that change a score (veto min_count=1, count=quantity)."""
    from .rules import RULES

    rt = RULES.get(rule)
    if rt is None:
        return dict(raw)
    shown = rt.params.model_validate(raw).model_dump(mode="json", exclude_none=True)
    if rule == "deduct" and raw.get("veto_at") is None:
        shown.pop("count", None)  # deduct counts only for veto_at
    return {k: shown[k] for k in list(raw) + [k for k in shown if k not in raw] if k in shown}


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _print_warnings(result) -> None:
    """The warnings of validation/summary.md (the same list, so the same count), then reading notes it does not hold."""
    for w in result.warnings:
        print(w.render(), file=sys.stderr)
    for n in result.notes:
        print(n.render(), file=sys.stderr)
    c = result.comparison or {}
    if c.get("warning"):
        print(f"警告：未与上年对比，{c.get('reason')}（warning: no comparison with {c.get('previous')}; the run goes on）", file=sys.stderr)


def _counts(result) -> str:
    notes = f"，{len(result.notes)} 条读取说明 reading notes" if result.notes else ""
    return f"{len(result.warnings)} 条警告 warnings{notes}"


def _run(args: argparse.Namespace) -> int:
    from . import pipeline

    params = pipeline.resolve(args.county, args.year, args.framework, args.raw, args.out, args.period, no_events=args.no_events)
    key = None
    if args.sign_key:  # a bad key is refused before anything runs
        from . import signing

        key = signing.load_private_key(args.sign_key, option="--sign-key")
    result = pipeline.run(params, progress=None if args.quiet else _progress, sign_key=key)
    _print_warnings(result)
    total = sum(result.timings.values())
    print(f"考评完成 done in {total:.1f} s（{_counts(result)}）")
    print(f"运行包 bundle: {result.bundle}")
    if key is not None:
        print(f"已签名 signed: {result.bundle / 'manifest.json.sig'}（{key.comment + ' ' if key.comment else ''}ED25519 {key.fingerprint}）")
    if result.notification:
        print(f"通报 notification: {result.notification}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from . import pipeline

    params = pipeline.resolve(args.county, args.year, args.framework, args.raw, args.out, args.period, no_events=args.no_events)
    result = pipeline.run(params, stages=["ingest", "validate"], progress=None if args.quiet else _progress, publish_bundle=False)
    _print_warnings(result)
    print(f"证据有效 evidence is valid ({_counts(result)})")
    return 0


def _template(args: argparse.Namespace) -> int:
    from . import frameworks, template

    fw = frameworks.load(args.framework)
    if args.units:
        from . import forms

        sent = forms.write_forms(fw, args.units, args.out)
        for note in sent.notes:
            print(note.render(), file=sys.stderr)
        print(f"已生成 {len(sent.units)} 个单位的填报表格（{len(sent.units)} unit forms）：{sent.folder}")
        print(f"下发清单 list of units sent: {sent.folder / forms.UNITS_SENT}")
        return 0
    path = template.write_template(fw, args.out)
    print(f"证据模板 evidence template: {path}")
    return 0


def _collect(args: argparse.Namespace) -> int:
    from . import forms, frameworks

    fw = frameworks.load(args.framework)
    done = forms.collect(fw, args.dir, args.out, findings=args.findings, sent_path=args.sent)
    for note in done.notes:
        print(note.render(), file=sys.stderr)
    s = done.summary
    print(f"回收 collected: {len(s)} 个单位 units — 已填写 filled {int((s['status'] == '已填写').sum())}，"
          f"交回但未填写 returned empty {int((s['status'] == '交回但未填写').sum())}，未交回 not returned {int((s['status'] == '未交回').sum())}；"
          f"事件 {int(s['events'].sum())} 行 events，指标事实 {int(s['facts'].sum())} 行 facts")
    nothing = done.returned_nothing()
    if len(nothing):
        print("未交回或未填写的单位 units that returned nothing: " + "、".join(f"{r.unit_id} {r.unit_name}（{r.status}）" for r in nothing.itertuples()))
    if int(s["prefilled_rows"].sum()):
        print(f"只有预填单位编码的空行 {int(s['prefilled_rows'].sum())} 行，不作为记录（rows holding only the prefilled unit code: not records）")
    if done.findings is not None:
        print(f"检查发现 office findings: {done.findings.name}，事件 {done.findings_rows[0]} 行，指标事实 {done.findings_rows[1]} 行")
    print(f"证据文件夹 evidence folder: {done.folder}（回收汇总 summary: {forms.SUMMARY}，行来源 row provenance: {forms.COLLECTED_ROWS}）")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import frameworks, synth

    fw = frameworks.load(args.framework)
    tables = synth.synthesize(fw, args.units, args.events, args.seed, args.period)
    made_with = (f"assessment synth --framework {args.framework} --units {args.units} --events {args.events} --seed {args.seed}"
                 + (f" --period {args.period}" if args.period else "") + (" --format xlsx" if args.format == "xlsx" else ""))
    for path in synth.write(tables, Path(args.out), args.format, made_with=made_with):
        print(path)
    return 0


def _verify(args: argparse.Namespace) -> int:
    """The bundle's own check, then its signature: checked against --pubkey, or, without it, against the
    key the signature names (shows the manifest is unchanged, not who signed). No signature and no
    --pubkey: a note only, a bundle need not be signed; with --pubkey a missing signature fails."""
    from pathlib import Path

    from . import signing
    from .verify import verify

    if args.pubkey:
        signing.load_public_key(args.pubkey)  # a key file that is not a public key: exit 2 before anything is read
    v = verify(args.bundle, raw=args.raw)
    print(v.render())
    ok = v.ok
    if args.pubkey or (Path(args.bundle) / signing.SIG_NAME).exists():
        c = signing.check(args.bundle, args.pubkey)
        print(c.message)
        ok = ok and c.ok
    else:
        print("签名 signature: 未签名（not signed; `assessment sign BUNDLE --key KEY` signs a bundle）")
    return 0 if ok else 1


def _sign(args: argparse.Namespace) -> int:
    from . import signing

    key = signing.load_private_key(args.key)
    path = signing.sign(args.bundle, args.key)
    print(f"已签名 signed: {path}（{key.comment + ' ' if key.comment else ''}ED25519 {key.fingerprint}）")
    return 0


def _batch(args: argparse.Namespace) -> int:
    from . import batch

    counties = [c.strip() for c in args.counties.split(",") if c.strip()]
    years = [y.strip() for y in args.years.split(",") if y.strip()]
    jobs = batch.jobs_for(counties, years, args.framework, args.raw_root, args.out, args.period)
    outcomes = batch.run_batch(jobs, workers=args.workers, scheduler=args.scheduler, progress=not args.quiet)
    print(batch.summary_table(outcomes))
    return batch.exit_code(outcomes)


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--county", required=True, help="县区 county, e.g. sihong")
    p.add_argument("--year", required=True, help="年度 year, e.g. 2023")
    p.add_argument("--framework", required=True, help="框架编号 framework id")
    p.add_argument("--period", default=None, help="季度考核期 quarter for quarterly frameworks, e.g. 2023Q3")
    p.add_argument("--raw", default=None, help="证据目录 evidence folder (default data/raw/<county>/<year>)")
    p.add_argument("--out", default=None, help="输出根目录 output root (default data/processed)")
    p.add_argument("--no-events", action="store_true", help="本考核期确无考评事件（事件表只有表头），通报中说明 the period truly had no events")
    p.add_argument("--quiet", action="store_true", help="不显示进度 no progress display")


def _frameworks_diff(args: argparse.Namespace) -> int:
    from . import compare, frameworks

    table = compare.diff_frameworks(frameworks.load(args.a), frameworks.load(args.b))
    if args.format == "json":
        print(table.to_json(orient="records", force_ascii=False, indent=1))
    elif table.empty:
        print(f"{args.a} 与 {args.b} 的指标和规则相同 (no differences)")
    else:
        for r in table.itertuples(index=False):
            field = f" [{r.field}]" if r.field else ""
            change = f"：{r.before or '—'} → {r.after or '—'}" if (r.before or r.after) else ""
            print(f"{r.change} {r.code} {r.name}{field}{change}")
        print(f"共 {len(table)} 处差异 ({len(table)} differences)")
    return 0


def _frameworks_new(args: argparse.Namespace) -> int:
    from . import framework_tools

    d = framework_tools.derive(args.new_id, args.source, args.year, args.jurisdiction, args.dir)
    fw = d.framework
    print(f"已生成框架 written: {d.path}")
    print(f"{fw.id}：{fw.title}，{fw.jurisdiction}，{fw.year}年")
    for code, key, before, after in d.shifted:
        print(f"  日期参数顺延 date shifted: {code} {key} {before} → {after}")
    print(f"请核对与原框架的差异 review the differences: assessment frameworks diff {args.source} {fw.id}")
    return 0


def _frameworks_check(args: argparse.Namespace) -> int:
    from . import framework_tools

    fw, problems = framework_tools.check_file(args.file)
    if fw is not None:
        print(framework_tools.summary(fw))
        return 0
    for p in problems:
        print(p.render(), file=sys.stderr)
    print(f"共 {len(problems)} 个问题，框架文件无效（{len(problems)} problems; the framework file is invalid）", file=sys.stderr)
    return 2


def _frameworks_schema(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import framework_tools

    text = framework_tools.schema_text()
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8", newline="\n")
        print(f"框架文件的 JSON Schema written: {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _frameworks_annex(args: argparse.Namespace) -> int:
    from . import frameworks
    from .documents.rules_annex import write_rules_annex

    path = write_rules_annex(frameworks.load(args.id), args.out)
    print(f"考核指标附件 rules annex: {path}")
    return 0


def _whatif(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import csvio, whatif

    bundle = Path(args.bundle)
    if args.vary:
        ranges = [whatif.parse_range(v) for v in args.vary]
        table = whatif.uncertainty(bundle, ranges, runs=args.runs, seed=args.seed)
        cols = ["unit_name", "unit_group", "total", "rank", "rank_median", "rank_p05", "rank_p95", "p_same_rank", "p_same_grade"]
        print(table[cols].to_string(index=False))
        if args.out:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            csvio.write_csv(table, out / "rank_stability.csv")
            whatif.stability_chart(table, out / "rank_stability.png", f"排名稳定性（{args.runs} 次抽样）")
            print(f"表与图 table and chart: {out}")
        return 0
    changes = [whatif.parse_change(c) for c in args.set or []]
    table = whatif.whatif(bundle, changes)
    moved = table[table["grade_changed"] | table["rank_changed"]]
    print(f"修改 changes: {', '.join(f'{c.path}={c.value:g}' for c in changes)}")
    print(f"等次变化 {int(table['grade_changed'].sum())} 个单位，排名变化 {int(table['rank_changed'].sum())} 个单位 "
          f"(grade changes {int(table['grade_changed'].sum())}, rank changes {int(table['rank_changed'].sum())})")
    if len(moved):
        print(moved[["unit_id", "unit_name", "unit_group", "total", "total_new", "grade", "grade_new", "rank", "rank_new"]].to_string(index=False))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        csvio.write_csv(table, args.out)
    return 0


def _combine(args: argparse.Namespace) -> int:
    from . import combine

    final = combine.run(args.file, args.out)
    warning = (json.loads((final / "manifest.json").read_text(encoding="utf-8")).get("office") or {}).get("warning")
    if warning:  # no office settings for the jurisdiction: the issuer was derived
        print(f"警告：{warning}", file=sys.stderr)
    print(f"综合结果 combined result: {final}")
    notes = sorted((final / "reports").glob("通报*.docx"))
    if notes:
        print(f"通报 notification: {notes[0]}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from . import frameworks, problem_lists

    fw = frameworks.load(args.framework)
    result = problem_lists.import_list(args.file, args.mapping, args.out, fw, units=args.units, allow_unmatched=args.allow_unmatched)
    imported = result.imported
    for note in imported.notes:
        print(note.render(), file=sys.stderr)
    n_bad = imported.unmatched["行 row"].nunique()
    if n_bad:
        print(f"警告：{n_bad} 行未能匹配，已列入 {result.unmatched_path}（{n_bad} rows unmatched, listed in {result.unmatched_path}）：", file=sys.stderr)
        for rec in imported.unmatched.head(20).to_dict("records"):
            value = f"，值 “{rec['值 value']}”" if rec["值 value"] is not None else ""
            print(f"  第 {rec['行 row']} 行，列 {rec['列 column']}{value}：{rec['原因 reason']}", file=sys.stderr)
        if len(imported.unmatched) > 20:
            print(f"  ……其余 {len(imported.unmatched) - 20} 条见 {result.unmatched_path}（the rest are in the file）", file=sys.stderr)
    if result.events_path is None:
        print(f"错误：有未匹配的行，未写出事件文件 {args.out}（原有文件保持不变）；请补充映射文件后重新导入，"
              f"或加 --allow-unmatched 只导入已匹配的行（unmatched rows: no events written; extend the mapping, or pass --allow-unmatched）",
              file=sys.stderr)
        return 2
    print(f"已导入 {len(imported.events)} 条事件：{result.events_path}（{len(imported.events)} events written）")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assessment", description="政府网站与政务新媒体年度考评 (government website and new-media assessment)")
    sub = p.add_subparsers(dest="command", required=True)

    fw = sub.add_parser("frameworks", help="考评框架 frameworks: list | show ID | diff A B | new | check | schema | annex")
    fsub = fw.add_subparsers(dest="action", required=True)
    fsub.add_parser("list", help="列出全部框架 list frameworks").set_defaults(func=_frameworks_list)
    show = fsub.add_parser("show", help="显示框架指标树 show a framework's indicator tree")
    show.add_argument("id")
    show.add_argument("--format", choices=["text", "json"], default="text")
    show.add_argument("--basis", action="store_true", help="同时显示依据原文 also print each basis")
    show.set_defaults(func=_frameworks_show)
    diff = fsub.add_parser("diff", help="比较两个框架的指标与规则 indicators and rules added, removed or changed")
    diff.add_argument("a")
    diff.add_argument("b")
    diff.add_argument("--format", choices=["text", "json"], default="text")
    diff.set_defaults(func=_frameworks_diff)
    new = fsub.add_parser("new", help="由已有框架派生新年度或其他县区的框架 derive next year's or another county's framework")
    new.add_argument("new_id", metavar="NEW_ID", help="新框架编号 new framework id, e.g. sihong-new-media-2024")
    new.add_argument("--from", dest="source", required=True, metavar="ID", help="原框架编号 the framework to derive from")
    new.add_argument("--year", default=None, help="新年度 new year (default: the source's)")
    new.add_argument("--jurisdiction", default=None, help="新地区 new jurisdiction (default: the source's)")
    new.add_argument("--dir", default=None, help="输出目录 folder to write NEW_ID.yaml into (default frameworks/)")
    new.set_defaults(func=_frameworks_new)
    chk = fsub.add_parser("check", help="校验框架文件，不运行考评 validate a framework file without running anything")
    chk.add_argument("file", metavar="FILE", help="框架文件（或框架编号）framework file (or id)")
    chk.set_defaults(func=_frameworks_check)
    sch = fsub.add_parser("schema", help="输出框架文件格式的 JSON Schema write the JSON Schema of the file format")
    sch.add_argument("--out", default=None, help="输出文件 output file (default stdout)")
    sch.set_defaults(func=_frameworks_schema)
    anx = fsub.add_parser("annex", help="生成考核指标附件（公文格式 .docx）render the framework as the published 考核指标 table")
    anx.add_argument("id")
    anx.add_argument("--out", required=True, help="输出文件 FILE.docx")
    anx.set_defaults(func=_frameworks_annex)

    run = sub.add_parser("run", help="完整考评 run the full assessment of one county-year")
    _add_run_args(run)
    run.add_argument("--sign-key", default=None, metavar="KEY", help="发布时用此 Ed25519 私钥签名 sign the bundle as it is published")
    run.set_defaults(func=_run)
    val = sub.add_parser("validate", help="只读取并校验证据 ingest and validate only")
    _add_run_args(val)
    val.set_defaults(func=_validate)

    tpl = sub.add_parser("template", help="生成空白证据工作簿，或每单位一份填报表格 write an empty evidence workbook, or one form per unit")
    tpl.add_argument("--framework", required=True)
    tpl.add_argument("--units", default=None, metavar="UNITS.csv", help="单位名单：每个单位一份表格，--out 为文件夹 a units table: one form per unit, --out is a folder")
    tpl.add_argument("--out", required=True, help="输出文件 .xlsx（有 --units 时为文件夹 a folder with --units）")
    tpl.set_defaults(func=_template)

    imp = sub.add_parser("import", help="问题清单导入为事件 a problem list (platform export, 通报 table) → events.csv")
    imp.add_argument("file", help="问题清单 .xlsx 或 .csv")
    imp.add_argument("--mapping", required=True, help="映射文件 mapping YAML")
    imp.add_argument("--framework", required=True, help="考评框架编号，用于核对指标编码 framework id (indicator codes are checked against it)")
    imp.add_argument("--units", default=None, help="单位表 units CSV（按单位名称精确匹配 exact unit names）；也可写在映射文件 units 中")
    imp.add_argument("--out", required=True, help="输出事件文件 events CSV（未匹配的行写在旁边的 <名>.unmatched.csv）")
    imp.add_argument("--allow-unmatched", action="store_true", help="有未匹配的行时仍写出已匹配的事件（退出码 0，附警告）")
    imp.set_defaults(func=_import)

    col = sub.add_parser("collect", help="回收各单位交回的表格，合并为一个证据文件夹 merge the returned forms into one evidence folder")
    col.add_argument("dir", help="表格文件夹（含 units_sent.csv）the forms folder, holding units_sent.csv")
    col.add_argument("--framework", required=True)
    col.add_argument("--out", required=True, help="证据文件夹 the evidence folder to write (units.csv, events.csv, facts.csv)")
    col.add_argument("--findings", default=None, metavar="FILE", help="办公室自己的检查发现（事件表 .xlsx/.csv），缺省为表格文件夹中的 office_findings.xlsx/.csv "
                     "the office's own findings (default office_findings.xlsx/.csv in the forms folder)")
    col.add_argument("--sent", default=None, metavar="units_sent.csv", help="下发清单，缺省为表格文件夹中的 units_sent.csv the list of units sent")
    col.set_defaults(func=_collect)

    wi = sub.add_parser("whatif", help="规则参数变化的影响 re-score a bundle under changed parameters")
    wi.add_argument("bundle")
    wi.add_argument("--set", action="append", help="PATH=VALUE, e.g. A4.per=2, C1.max_count=3, grades.优秀=85")
    wi.add_argument("--vary", action="append", help="PATH=LOW:HIGH for the uncertainty run, e.g. A4.per=0.5:2")
    wi.add_argument("--runs", type=int, default=100)
    wi.add_argument("--seed", type=int, default=0)
    wi.add_argument("--out", default=None, help="CSV (what-if) or folder (uncertainty table and chart)")
    wi.set_defaults(func=_whatif)

    comb = sub.add_parser("combine", help="多个运行包加权综合 combine several bundles of one county-year")
    comb.add_argument("file", help="组合文件 combination YAML")
    comb.add_argument("--out", default=None, help="输出根目录 output root (default data/processed)")
    comb.set_defaults(func=_combine)

    ver = sub.add_parser("verify", help="由交付证据重新生成运行包并逐字节核对 regenerate a bundle and report differences")
    ver.add_argument("bundle")
    ver.add_argument("--pubkey", default=None, metavar="KEY.pub", help="签名者的 OpenSSH 公钥，核对 manifest.json.sig the signer's public key")
    ver.add_argument("--raw", default=None, help="交付证据的归档目录 the office's archive of the delivered evidence, compared and regenerated from")
    ver.set_defaults(func=_verify)

    sgn = sub.add_parser("sign", help="用 Ed25519 私钥签名运行包 sign a bundle's manifest (writes manifest.json.sig)")
    sgn.add_argument("bundle")
    sgn.add_argument("--key", required=True, metavar="KEY", help="OpenSSH Ed25519 私钥（ssh-keygen -t ed25519），口令见 "
                     "ASSESSMENT_KEY_PASSPHRASE private key; passphrase from $ASSESSMENT_KEY_PASSPHRASE")
    sgn.set_defaults(func=_sign)

    syn = sub.add_parser("synth", help="生成合成证据 write synthetic evidence")
    syn.add_argument("--framework", required=True)
    syn.add_argument("--units", type=int, required=True)
    syn.add_argument("--events", type=int, required=True)
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--period", default=None)
    syn.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    syn.add_argument("--out", required=True)
    syn.set_defaults(func=_synth)

    bat = sub.add_parser("batch", help="多个县区、年度并行考评 run many county-years (process pool or Dask)")
    bat.add_argument("--counties", required=True, help="县区，逗号分隔 counties, comma-separated")
    bat.add_argument("--years", required=True, help="年度，逗号分隔 years, comma-separated")
    bat.add_argument("--framework", required=True, help="框架编号，可含 {year} framework id, may contain {year}")
    bat.add_argument("--period", default=None, help="季度考核期 quarter for quarterly frameworks")
    where = bat.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, help="本机并行进程数 local worker processes (default min(2, CPUs))")
    where.add_argument("--scheduler", default=None, help="Dask 调度器地址 Dask scheduler address, e.g. tcp://host:8786")
    bat.add_argument("--raw-root", default=None, help="证据根目录，含 <县区>/<年度> evidence root holding <county>/<year> (default data/raw)")
    bat.add_argument("--out", default=None, help="输出根目录 output root (default data/processed)")
    bat.add_argument("--quiet", action="store_true", help="不显示进度条 no progress bar")
    bat.set_defaults(func=_batch)
    return p


DEBUG_ENV = "ASSESSMENT_DEBUG"


def _printable_streams() -> None:
    """A console or pipe whose encoding lacks a character (GBK on a Chinese Windows: ✓ ⚠ ½ −) shows a
    replacement for it rather than end the command with UnicodeEncodeError; files are always UTF-8."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure") and (stream.errors or "strict") == "strict":
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):  # a stream already in use in a way that cannot change: left as it is
                pass


def main(argv: Sequence[str] | None = None) -> int:
    """Every way a command can end is one of three exit codes and, on failure, one clear line.

    2: the evidence or parameters are invalid (each problem on its line); 1: anything else — a run
    that failed or was stopped by a signal (SIGTERM, SIGINT, SIGHUP: see interrupts.py), a folder
    that cannot be written, a full disk, a lock held by another run, or an unexpected error. No
    traceback reaches the user: failure.md keeps it for a failed run, `ASSESSMENT_DEBUG=1` prints it.
    """
    from . import interrupts

    _printable_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    with interrupts.terminate_on_signals():
        try:
            return args.func(args)
        except InputError as exc:
            print(exc.render(), file=sys.stderr)
            print(problems_line(args, len(exc.problems)), file=sys.stderr)
            return 2
        except _office_error() as exc:  # templates/office.yaml or its letterhead cannot be used (combine, frameworks annex)
            print(f"错误：文件 templates/office.yaml{'，键 ' + exc.key if exc.key else ''}：{exc}", file=sys.stderr)
            return 2
        except interrupts.Terminated as exc:
            interrupts.hold()
            print(f"错误：{exc.describe()}", file=sys.stderr)
            return 1
        except Exception as exc:
            print(f"错误：{_one_line_error(exc)}", file=sys.stderr)
            if os.environ.get(DEBUG_ENV):
                traceback.print_exc()
            return 1


def _office_error() -> type:
    from .documents.office import OfficeError

    return OfficeError


BUNDLE_WRITERS = {"run", "validate", "combine", "batch"}  # the commands that (would) build a bundle


def problems_line(args: argparse.Namespace, n: int) -> str:
    """The count line under the problems; "no bundle written" only where the command would have written one."""
    if getattr(args, "command", None) in BUNDLE_WRITERS:
        return f"共 {n} 个问题，未生成运行包（{n} problems; no bundle written）"
    return f"共 {n} 个问题（{n} problems）"


def _one_line_error(exc: BaseException) -> str:
    """The failure as one line, Chinese with English beside."""
    from . import pipeline

    if isinstance(exc, (pipeline.RunLocked, pipeline.StageFailed, pipeline.RunFailed)):
        return " ".join(str(exc).split())
    if isinstance(exc, OSError):
        return f"无法读写文件：{pipeline.os_reason(exc)}（cannot read or write a file: {pipeline.os_reason_en(exc)}）"
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:299] + "…"
    return (f"意外错误 {type(exc).__name__}: {text}；设置 {DEBUG_ENV}=1 可显示详细经过"
            f"（unexpected error; set {DEBUG_ENV}=1 to see the traceback）")


if __name__ == "__main__":
    sys.exit(main())
