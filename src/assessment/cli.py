"""The `assessment` command: a thin shell over the Python API.

Exit codes: 0 done; 2 the evidence or parameters are invalid (messages say where); 1 anything else.
"""

from __future__ import annotations

import argparse
import json
import sys
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
    from .rules import RULES

    fw = frameworks.load(args.id)
    if args.format == "json":
        print(json.dumps(frameworks.to_tree(fw), ensure_ascii=False, indent=2))
        return 0
    print(f"{fw.title}（{fw.id}）")
    print(f"来源 source: {fw.source.file} {fw.source.section}")
    print(f"单位类别 unit groups: {'、'.join(fw.unit_groups)}；排名 rank within: {fw.rank_within}")
    print("等次 grades: " + "，".join(f"{g.name} ≥ {g.min:g}" if g.min is not None else g.name for g in fw.grades))
    for node, depth, _ in fw.walk():
        pts = f" {node.points:g}分" if node.points is not None else ""
        rule = ""
        if node.rule is not None:
            params = ", ".join(f"{k}={v}" for k, v in node.rule.params.items())
            rule = f"  [{node.rule.type}{': ' + params if params else ''}]"
        pool = " (扣分池 pool)" if node.pool else ""
        scored = "" if node.scored else " (不评分 not scored)"
        applies = f"  适用: {'、'.join(node.applies_to)}" if node.applies_to else ""
        resp = f"  责任: {'、'.join(node.responsible)}" if node.responsible else ""
        assist = f"  协办: {'、'.join(node.assisting)}" if node.assisting else ""
        print(f"{'  ' * (depth - 1)}{node.code} {node.name}{pts}{pool}{scored}{rule}{applies}{resp}{assist}")
        if node.basis and args.basis:
            print(f"{'  ' * depth}依据: {node.basis}")
    return 0


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    from . import pipeline

    params = pipeline.resolve(args.county, args.year, args.framework, args.raw, args.out, args.period)
    try:
        result = pipeline.run(params, progress=None if args.quiet else _progress)
    except pipeline.RunLocked as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    except pipeline.StageFailed as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 1
    for w in result.warnings:
        print(w.render(), file=sys.stderr)
    total = sum(result.timings.values())
    print(f"考评完成 done in {total:.1f} s")
    print(f"运行包 bundle: {result.bundle}")
    if result.notification:
        print(f"通报 notification: {result.notification}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from . import pipeline

    params = pipeline.resolve(args.county, args.year, args.framework, args.raw, args.out, args.period)
    result = pipeline.run(params, stages=["ingest", "validate"], progress=None if args.quiet else _progress, publish_bundle=False)
    for w in result.warnings:
        print(w.render(), file=sys.stderr)
    print(f"证据有效 evidence is valid ({len(result.warnings)} 条警告 warnings)")
    return 0


def _template(args: argparse.Namespace) -> int:
    from . import frameworks, template

    fw = frameworks.load(args.framework)
    path = template.write_template(fw, args.out)
    print(f"证据模板 evidence template: {path}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from pathlib import Path

    from . import frameworks, synth

    fw = frameworks.load(args.framework)
    tables = synth.synthesize(fw, args.units, args.events, args.seed, args.period)
    for path in synth.write(tables, Path(args.out), args.format):
        print(path)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .verify import verify

    v = verify(args.bundle)
    print(v.render())
    return 0 if v.ok else 1


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--county", required=True, help="县区 county, e.g. sihong")
    p.add_argument("--year", required=True, help="年度 year, e.g. 2023")
    p.add_argument("--framework", required=True, help="框架编号 framework id")
    p.add_argument("--period", default=None, help="季度考核期 quarter for quarterly frameworks, e.g. 2023Q3")
    p.add_argument("--raw", default=None, help="证据目录 evidence folder (default data/raw/<county>/<year>)")
    p.add_argument("--out", default=None, help="输出根目录 output root (default data/processed)")
    p.add_argument("--quiet", action="store_true", help="不显示进度 no progress display")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="assessment", description="政府网站与政务新媒体年度考评 (government website and new-media assessment)")
    sub = p.add_subparsers(dest="command", required=True)

    fw = sub.add_parser("frameworks", help="考评框架 frameworks: list | show ID | diff A B")
    fsub = fw.add_subparsers(dest="action", required=True)
    fsub.add_parser("list", help="列出全部框架 list frameworks").set_defaults(func=_frameworks_list)
    show = fsub.add_parser("show", help="显示框架指标树 show a framework's indicator tree")
    show.add_argument("id")
    show.add_argument("--format", choices=["text", "json"], default="text")
    show.add_argument("--basis", action="store_true", help="同时显示依据原文 also print each basis")
    show.set_defaults(func=_frameworks_show)

    run = sub.add_parser("run", help="完整考评 run the full assessment of one county-year")
    _add_run_args(run)
    run.set_defaults(func=_run)
    val = sub.add_parser("validate", help="只读取并校验证据 ingest and validate only")
    _add_run_args(val)
    val.set_defaults(func=_validate)

    tpl = sub.add_parser("template", help="生成空白证据工作簿 write an empty evidence workbook")
    tpl.add_argument("--framework", required=True)
    tpl.add_argument("--out", required=True, help="输出文件 .xlsx")
    tpl.set_defaults(func=_template)

    ver = sub.add_parser("verify", help="由运行包自身证据重算并核对 recompute a bundle and report differences")
    ver.add_argument("bundle")
    ver.set_defaults(func=_verify)

    syn = sub.add_parser("synth", help="生成合成证据 write synthetic evidence")
    syn.add_argument("--framework", required=True)
    syn.add_argument("--units", type=int, required=True)
    syn.add_argument("--events", type=int, required=True)
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--period", default=None)
    syn.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    syn.add_argument("--out", required=True)
    syn.set_defaults(func=_synth)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(exc.render(), file=sys.stderr)
        print(f"共 {len(exc.problems)} 个问题，未生成运行包（{len(exc.problems)} problems; no bundle written）", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断 interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
