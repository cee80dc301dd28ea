"""What-if: re-score a bundle under changed rule parameters, before an office adopts them.

A change is a dotted path and a value: `A4.per=2` (a rule parameter), `C2.per_level.省级=1`,
`B3.points=15` (an indicator's maximum, i.e. a cap), `C1.max_count=3` (a threshold),
`grades.优秀=85` (a grade band), `normalise_to=100`, `bonus_requires_base=80`. The changed
framework is checked like any framework file, so an impossible change is refused, not scored.

The uncertainty run varies several parameters over ranges (uniform, integers stay integers),
re-scores the bundle for each draw and reports each unit's rank stability.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import frameworks, stages
from .frameworks import Framework
from .problems import FrameworkError, ParameterError, Problem
from .scoring import Period, Results


@dataclass(frozen=True)
class Change:
    path: str
    value: float


def parse_change(text: str) -> Change:
    m = re.fullmatch(r"\s*([^=\s]+)\s*=\s*([-+]?\d+(?:\.\d+)?)\s*", text)
    if not m:
        raise ParameterError([Problem(file="--set", value=text, message_zh="参数修改应写作 路径=数值，如 A4.per=2 或 grades.优秀=85",
                                      message_en="a change is PATH=NUMBER, e.g. A4.per=2 or grades.优秀=85", rule="parameter")])
    return Change(m.group(1), float(m.group(2)))


def parse_range(text: str) -> tuple[str, float, float]:
    m = re.fullmatch(r"\s*([^=\s]+)\s*=\s*([-+]?\d+(?:\.\d+)?)\s*:\s*([-+]?\d+(?:\.\d+)?)\s*", text)
    if not m or float(m.group(2)) > float(m.group(3)):
        raise ParameterError([Problem(file="--vary", value=text, message_zh="取值范围应写作 路径=下限:上限，如 A4.per=0.5:2",
                                      message_en="a range is PATH=LOW:HIGH, e.g. A4.per=0.5:2", rule="parameter")])
    return m.group(1), float(m.group(2)), float(m.group(3))


def _find(tree: list[dict], code: str) -> dict | None:
    for node in tree:
        if node["code"] == code:
            return node
        found = _find(node.get("children", []), code)
        if found is not None:
            return found
    return None


def _current(data: dict, path: str) -> Any:
    """The value at a dotted path (used to keep integers integers)."""
    head, *rest = path.split(".")
    if head == "grades":
        return next((g.get("min") for g in data["grades"] if g["name"] == rest[0]), None)
    if head in data and not rest:
        return data[head]
    node = _find(data["indicators"], head)
    if node is None:
        return None
    if rest == ["points"]:
        return node.get("points")
    target = node.get("rule") or {}
    for part in rest[:-1]:
        target = target.get(part, {})
    return target.get(rest[-1]) if rest else None


def apply_changes(fw: Framework, changes: list[Change]) -> Framework:
    """A checked copy of the framework with the changes made; refused like a malformed file."""
    data = copy.deepcopy(fw.model_dump(mode="json", exclude_none=True))
    problems = []
    for ch in changes:
        head, *rest = ch.path.split(".")
        old = _current(data, ch.path)
        value: Any = int(ch.value) if isinstance(old, int) and float(ch.value).is_integer() else ch.value
        if head == "grades" and len(rest) == 1 and any(g["name"] == rest[0] for g in data["grades"]):
            next(g for g in data["grades"] if g["name"] == rest[0])["min"] = value
        elif head in ("normalise_to", "bonus_requires_base") and not rest:
            data[head] = value
        elif (node := _find(data["indicators"], head)) is not None and rest == ["points"]:
            node["points"] = value
        elif node is not None and rest and node.get("rule") is not None:
            target = node["rule"]
            for part in rest[:-1]:
                target = target.setdefault(part, {})
            target[rest[-1]] = value
        else:
            problems.append(Problem(file="--set", value=ch.path, message_zh=f"无法识别的参数路径 “{ch.path}”（指标编码.参数、grades.等次、normalise_to）",
                                    message_en=f"unknown parameter path '{ch.path}'", rule="parameter"))
    if problems:
        raise ParameterError(problems)
    changed = Framework.model_validate(data)
    found = frameworks.check(changed, f"{fw.id}.yaml")
    if found:
        raise FrameworkError(found)
    changed.file_hash = None
    return changed


def rescore(bundle: Path, fw: Framework) -> Results:
    """Score a published bundle's own evidence (with its review decisions) under a framework."""
    p = _params(bundle)
    res, _ = stages.compute(fw, stages.load_evidence(p), Period.parse(fw, p.period), stages.load_adjustments(p))
    return res


def _params(bundle: Path) -> stages.RunParams:
    import json

    m = json.loads((Path(bundle) / "manifest.json").read_text(encoding="utf-8"))["parameters"]
    return stages.RunParams(county=m["county"], year=int(m["year"]), framework=m["framework"], raw_dir=str(bundle / "evidence"),
                            out_dir=str(Path(bundle).parents[1]), period=m.get("period"), bundle_dir=str(bundle))


def compare(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Units whose total, grade or rank changes: before beside after."""
    b = before.set_index("unit_id")[["unit_name", "unit_group", "total", "grade", "rank"]]
    a = after.set_index("unit_id")[["total", "grade", "rank"]]
    t = b.join(a, rsuffix="_new").reset_index()
    t["total_change"] = (t["total_new"] - t["total"]).round(2)
    t["grade_changed"] = t["grade"] != t["grade_new"]
    t["rank_changed"] = t["rank"] != t["rank_new"]
    return t


def whatif(bundle: Path, changes: list[Change]) -> pd.DataFrame:
    """Re-score the bundle with the changes; every unit with before/after (filter on the *_changed columns)."""
    p = _params(bundle)
    fw = frameworks.load(p.framework)
    before = stages.load_results(p).unit_scores
    after = rescore(bundle, apply_changes(fw, changes)).unit_scores
    return compare(before, after)


def uncertainty(bundle: Path, ranges: list[tuple[str, float, float]], runs: int = 100, seed: int = 0) -> pd.DataFrame:
    """Rank stability per unit over random draws of the parameters (uniform in each range)."""
    p = _params(bundle)
    fw = frameworks.load(p.framework)
    base = stages.load_results(p).unit_scores.set_index("unit_id")
    rng = np.random.default_rng(seed)
    data = fw.model_dump(mode="json", exclude_none=True)
    ints = {path: isinstance(_current(data, path), int) and float(lo).is_integer() and float(hi).is_integer() for path, lo, hi in ranges}
    ranks, grades = [], []
    for _ in range(runs):  # each draw is a full vectorised scoring of every unit
        changes = []
        for path, lo, hi in ranges:
            v = rng.integers(int(lo), int(hi) + 1) if ints[path] else rng.uniform(lo, hi)
            changes.append(Change(path, float(np.round(v, 2))))
        us = rescore(bundle, apply_changes(fw, changes)).unit_scores.set_index("unit_id")
        ranks.append(us["rank"].reindex(base.index))
        grades.append(us["grade"].reindex(base.index))
    r = pd.concat(ranks, axis=1)
    g = pd.concat(grades, axis=1)
    out = base[["unit_name", "unit_group", "total", "grade", "rank"]].copy()
    out["rank_median"] = r.median(axis=1)
    out["rank_p05"] = r.quantile(0.05, axis=1)
    out["rank_p95"] = r.quantile(0.95, axis=1)
    out["rank_min"] = r.min(axis=1)
    out["rank_max"] = r.max(axis=1)
    out["p_same_rank"] = r.eq(base["rank"], axis=0).mean(axis=1).round(3)
    out["p_same_grade"] = g.eq(base["grade"], axis=0).mean(axis=1).round(3)
    return out.reset_index()


def stability_chart(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Each unit's base rank and its 5–95 % rank range over the draws (Chinese labels)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from .documents.charts import rc  # the project's CJK font settings, a CJK font ensured

    t = table.sort_values(["unit_group", "rank"]).reset_index(drop=True)
    with matplotlib.rc_context(rc()):
        fig = Figure(figsize=(8, max(3.0, 0.28 * len(t) + 1)), dpi=120)
        ax = fig.add_subplot(1, 1, 1)
        y = np.arange(len(t))
        ax.hlines(y, t["rank_p05"], t["rank_p95"], color="#4472C4", lw=4, alpha=0.6, label="5%–95% 排名区间")
        ax.plot(t["rank"], y, "o", color="#C00000", ms=4, label="原排名")
        ax.set_yticks(y, [f"{n}（{g}）" for n, g in zip(t["unit_name"], t["unit_group"])], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("排名 rank")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", metadata={"Software": None})
    return path
