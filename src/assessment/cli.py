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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(exc.render(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断 interrupted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
