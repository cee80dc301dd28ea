"""Combined results: one ranked result from several bundles of the same county-year.

A combination file names the component bundles and their weights — websites 30 % + new media
70 %, or the office's own assessment 80 % + a third-party evaluation 20 % — and the combined
grade bands. Each unit's combined total is the weighted sum of its component totals; every
component's contribution is a line item naming the component bundle's score row, so the
combined number is as traceable as the components.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import csvio, frameworks
from .evidence import sha256_file
from .frameworks import Grade
from .problems import BilingualValueError, FrameworkError, Problem
from .scoring import rank_units


class Component(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    title: str
    weight: float = Field(gt=0, le=1)
    bundle: str


class Combination(BaseModel):
    """A combination file (`combinations/<id>.yaml`)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,80}$")
    title: str
    jurisdiction: str
    county: str
    year: int
    components: list[Component] = Field(min_length=2)
    unit_groups: list[str] | None = None
    grades: list[Grade] | None = None
    veto_grade: str = "不合格"
    rank_within: Literal["unit_group", "overall"] = "unit_group"
    missing: Literal["renormalise", "zero"] = "renormalise"
    choices: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _weights(self) -> "Combination":
        total = sum(c.weight for c in self.components)
        if abs(total - 1) > 1e-9:
            shown = "、".join(f"{c.id} {c.weight:g}" for c in self.components)
            raise BilingualValueError(f"components 各组成部分的权重 weight 之和应为 1，现为 {total:g}（{shown}）：请调整权重",
                                      f"components: the weights must add up to 1 (they add up to {total:g})")
        ids = [c.id for c in self.components]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise BilingualValueError(f"components 中组成部分的 id 重复：{'、'.join(dupes)}，每个组成部分的 id 应各不相同",
                                      f"components: component ids must be unique (repeated: {', '.join(dupes)})")
        return self


@dataclass
class CombinedFramework:
    """What the documents need to know of a framework, for a combination (duck-typed)."""

    id: str
    title: str
    jurisdiction: str
    year: int
    unit_groups: list[str]
    grades: list[Grade]
    veto_grade: str
    rank_within: str
    components: list[Component]
    period: str = "year"
    levels: list[str] = field(default_factory=list)

    def top_level(self) -> list[SimpleNamespace]:
        return [SimpleNamespace(code=c.id, name=c.title, points=round(100 * c.weight, 2), basis=f"权重 {c.weight:.0%}") for c in self.components]

    @property
    def nodes(self) -> dict[str, SimpleNamespace]:
        return {n.code: n for n in self.top_level()}

    def grade_for(self, total: float) -> str:
        for band in self.grades:
            if band.min is None or total >= band.min - 1e-9:
                return band.name
        return self.grades[-1].name


def load(path: str | Path) -> Combination:
    """Read and check a combination file; refuse it whole, each problem a Chinese sentence naming the key path."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FrameworkError([Problem(file=str(path), message_zh=f"无法读取组合文件：{exc.strerror or exc}", message_en=f"cannot read combination file: {exc}", rule="combination")])
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise FrameworkError([Problem(file=str(path), message_zh=f"组合文件不是有效的 UTF-8 YAML：{exc}", message_en=f"not valid UTF-8 YAML: {exc}", rule="combination")])
    if not isinstance(data, dict):
        raise FrameworkError([Problem(file=str(path), message_zh="组合文件应为一个映射（键: 值），如 id: …、components: […]",
                                      message_en="a combination file must be a mapping (key: value)", rule="combination")])
    try:
        return Combination.model_validate(data)
    except ValidationError as exc:
        raise FrameworkError([_schema_problem(str(path), data, err) for err in exc.errors()])


def _schema_problem(file: str, data: dict, err: dict) -> Problem:
    """A pydantic error of a combination file, in the words `frameworks` uses: key path, what to write, the keys allowed there."""
    loc = tuple(err.get("loc", ()))
    key = ".".join(f"[{x}]" if isinstance(x, int) else str(x) for x in loc).replace(".[", "[")
    model = Combination
    if len(loc) >= 2 and loc[0] == "components" and isinstance(loc[1], int):
        model = Component
    elif len(loc) >= 2 and loc[0] == "grades" and isinstance(loc[1], int):
        model = Grade
    zh, en = frameworks.explain_error({**err, "loc": (key,) if key else ()}, allowed=list(model.model_fields))
    return Problem(file=file, column=key or None, message_zh=f"组合文件有误：{zh}", message_en=f"combination file: {en}", rule="combination")


def _bundle(comb_path: Path, c: Component) -> Path:
    p = Path(c.bundle)
    if not p.is_absolute():
        root = frameworks.project_root()
        p = (root / p) if (root / p).exists() else (comb_path.parent / p)
    return p


def _component_scores(bundle: Path, c: Component, comb_file: str) -> tuple[pd.DataFrame, dict]:
    from .stages import is_draft

    if is_draft(bundle):  # what notebooks run by hand wrote: never published, never a component
        raise FrameworkError([Problem(file=comb_file, column=f"components.{c.id}.bundle", value=str(bundle),
                                      message_zh="组成部分是草稿运行包（手动运行笔记本所得，未发布），不能组合；请先用 assessment run 发布",
                                      message_en="the component is a draft bundle (notebooks run by hand, not published): publish it with assessment run first",
                                      rule="combination")])
    manifest = bundle / "manifest.json"
    if not manifest.is_file():
        raise FrameworkError([Problem(file=comb_file, column=f"components.{c.id}.bundle", value=str(bundle),
                                      message_zh="组成部分的运行包不存在（没有 manifest.json）", message_en="component bundle not found (no manifest.json)", rule="combination")])
    m = json.loads(manifest.read_text(encoding="utf-8"))
    us = csvio.read_csv(bundle / "scores" / "unit_scores.csv", dtype={"unit_id": str, "unit_name": str, "unit_group": str, "grade": str, "veto_reasons": str})
    us["vetoed"] = us["vetoed"].astype(str).str.lower().eq("true")
    return us, m


def combine(comb: Combination, comb_path: Path) -> tuple[CombinedFramework, pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """Combined unit_scores, indicator_scores (one 'indicator' per component), line_items, and provenance."""
    parts, provenance = [], {}
    first_fw = None
    for c in comb.components:
        b = _bundle(comb_path, c)
        us, m = _component_scores(b, c, str(comb_path))
        if m["parameters"]["county"] != comb.county or int(m["parameters"]["year"]) != comb.year:
            raise FrameworkError([Problem(file=str(comb_path), column=f"components.{c.id}", value=f"{m['parameters']['county']} {m['parameters']['year']}",
                                          message_zh="组成部分不是同一县区年度", message_en="component is from another county-year", rule="combination")])
        first_fw = first_fw or frameworks.load(m["framework"]["id"])
        provenance[c.id] = {"bundle": str(b), "framework": m["framework"], "unit_scores_sha256": sha256_file(b / "scores" / "unit_scores.csv")}
        if isinstance(m.get("office"), dict):  # a component made of demo data makes the combined result a demo
            provenance[c.id]["office"] = {"synthetic": bool(m["office"].get("synthetic"))}
        parts.append(us.assign(_component=c.id, _weight=c.weight, _title=c.title, _bundle=str(b)))
    allp = pd.concat(parts, ignore_index=True)
    units = allp.drop_duplicates("unit_id")[["unit_id", "unit_name", "unit_group"]].reset_index(drop=True)
    present = allp["total"].notna() | allp["vetoed"]
    w_present = allp[present].groupby("unit_id")["_weight"].sum()
    share = allp["unit_id"].map(w_present) if comb.missing == "renormalise" else pd.Series(1.0, index=allp.index)
    allp["contribution"] = (allp["total"] * allp["_weight"] / share).round(2)
    vetoed = allp.groupby("unit_id")["vetoed"].any()
    reasons = allp[allp["vetoed"]].assign(r=lambda d: d["_title"] + "：" + d["veto_reasons"].fillna("")).groupby("unit_id")["r"].agg("；".join)

    lines = allp[allp["total"].notna()].copy()
    eff = (lines["_weight"] / share[lines.index]).round(4)
    lines = pd.DataFrame({
        "unit_id": lines["unit_id"], "indicator": lines["_component"], "rule": "weight", "points": lines["contribution"],
        "evidence_ids": lines["_bundle"] + "/scores/unit_scores.csv#" + lines["unit_id"],
        "explanation": lines["_title"] + " " + lines["total"].map(lambda v: f"{v:g}") + " 分 × " + (eff * 100).map(lambda v: f"{v:g}") + "% = "
        + lines["contribution"].map(lambda v: f"{v:g}") + " 分", "kind": "base"})
    lines = lines[~lines["unit_id"].map(vetoed)]
    veto_lines = allp[allp["vetoed"]]
    lines = pd.concat([lines, pd.DataFrame({"unit_id": veto_lines["unit_id"], "indicator": veto_lines["_component"], "rule": "veto", "points": 0.0,
                                            "evidence_ids": veto_lines["_bundle"] + "/scores/unit_scores.csv#" + veto_lines["unit_id"],
                                            "explanation": "单项否决（" + veto_lines["_title"] + "）：" + veto_lines["veto_reasons"].fillna(""), "kind": "veto"})],
                      ignore_index=True)

    cfw = CombinedFramework(id=comb.id, title=comb.title, jurisdiction=comb.jurisdiction, year=comb.year,
                            unit_groups=comb.unit_groups or list(first_fw.unit_groups), grades=comb.grades or list(first_fw.grades),
                            veto_grade=comb.veto_grade, rank_within=comb.rank_within, components=list(comb.components))
    us = units.copy()
    totals = lines[lines["kind"] == "base"].groupby("unit_id")["points"].sum().round(2)
    us["vetoed"] = us["unit_id"].map(vetoed).astype(bool)
    us["total"] = np.where(us["vetoed"], np.nan, us["unit_id"].map(totals).fillna(0.0))
    for c in comb.components:
        mine = allp[allp["_component"] == c.id].set_index("unit_id")
        us[c.id] = us["unit_id"].map(mine["total"])
    us["base"], us["bonus"], us["penalty"] = us["total"], 0.0, 0.0
    us["veto_reasons"] = us["unit_id"].map(reasons).fillna("")
    us["grade"] = [cfw.veto_grade if v else cfw.grade_for(t) for v, t in zip(us["vetoed"], us["total"])]
    us["rank"] = rank_units(cfw, us)
    order = {g: i for i, g in enumerate(cfw.unit_groups)}
    us = us.assign(_g=us["unit_group"].map(order).fillna(len(order))).sort_values(["_g", "rank", "unit_id"], kind="stable").drop(columns="_g")
    us = us[["unit_id", "unit_name", "unit_group", *[c.id for c in comb.components], "base", "bonus", "penalty", "total", "grade", "rank", "vetoed", "veto_reasons"]].reset_index(drop=True)

    ind = allp.assign(indicator=allp["_component"], name=allp["_title"], depth=1, points=(100 * allp["_weight"] / share).round(2),
                      score=np.where(allp["unit_id"].map(vetoed), np.nan, allp["contribution"]))[["unit_id", "indicator", "name", "depth", "points", "score"]]
    pos = {u: i for i, u in enumerate(us["unit_id"])}
    comp_pos = {c.id: i for i, c in enumerate(comb.components)}
    ind = ind.assign(_u=ind["unit_id"].map(pos), _c=ind["indicator"].map(comp_pos)).sort_values(["_u", "_c"]).drop(columns=["_u", "_c"]).reset_index(drop=True)
    lines = lines.assign(_u=lines["unit_id"].map(pos), _c=lines["indicator"].map(comp_pos)).sort_values(["_u", "_c", "kind"]).drop(columns=["_u", "_c"]).reset_index(drop=True)
    return cfw, us, ind, lines, provenance


def run(path: str | Path, out: str | Path | None = None) -> Path:
    """Combine, write scores and the combined notification, and publish atomically."""
    from . import documents

    path = Path(path)
    comb = load(path)
    cfw, us, ind, lines, provenance = combine(comb, path)
    root = Path(out) if out else frameworks.project_root() / "data" / "processed"
    final = root / comb.county / f"combined-{comb.id}"
    staging = final.parent / f".{final.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    started = dt.datetime.now(dt.timezone.utc).astimezone()
    try:
        (staging / "scores").mkdir(parents=True)
        for name, df in (("unit_scores", us), ("indicator_scores", ind), ("line_items", lines)):
            csvio.write_csv(df, staging / "scores" / f"{name}.csv")
        comps = [{"id": c.id, "title": c.title, "weight": c.weight} for c in comb.components]
        synthetic = any(bool((p_.get("office") or {}).get("synthetic")) for p_ in provenance.values())
        documents.write_reports(cfw, us, ind, lines, None, staging / "reports", components=comps, synthetic=synthetic)
        office_status = documents.office.office_status(documents.office_for(cfw, synthetic=synthetic))
        manifest = {"combination": {"id": comb.id, "file": str(path), "sha256": sha256_file(path)}, "components": provenance,
                    "office": office_status,
                    "outputs": {p.relative_to(staging).as_posix(): sha256_file(p) for p in sorted(staging.rglob("*")) if p.is_file()},
                    "started": started.isoformat(timespec="seconds"),
                    "finished": dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds")}
        (staging / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8", newline="\n")
        old = final.parent / f".{final.name}.previous"
        if final.exists():
            os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final
