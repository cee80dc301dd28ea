"""Synthetic demo evidence for the seed frameworks other than sihong-new-media-2023 (SYNTHETIC DATA).

    .venv/bin/python data/raw/make_demo_evidence.py            # all three
    .venv/bin/python data/raw/make_demo_evidence.py xiamen-demo

Each demo folder's dataset.yaml (written here, as `assessment synth` writes it) declares the data
synthetic, so its documents are marked （演示）. Each demo is made by `assessment synth` (the `synth.synthesize` call behind it) for the framework,
then relabelled onto a fixed unit list that reads like the jurisdiction's own: synth names units by
pattern (区人民政府00001, 县发改局 in a city framework) and guesses the group of a unit a framework
names (it files 市发改委 under 市信息中心 and 行政审批局 under 乡镇街道). Relabelling keeps synth's
evidence intact: every target unit takes the events and facts of a synth unit scored on exactly the
same indicators, and a leaf only the target unit has (e.g. F3.1 for 市发改委) takes the evidence of
the synth unit that leaf applied to. Deterministic: same script, same seed → same files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from assessment import frameworks, synth
from assessment.scoring import applicability

HERE = Path(__file__).resolve().parent
MARK = synth.MARK

DEMOS = {
    "xiamen-demo": {
        "framework": "xiamen-website-new-media-2023", "units": 48, "events": 700, "seed": 2031, "period": None,
        "target": [(f"{d}人民政府", "区人民政府") for d in ("思明区", "湖里区", "集美区", "海沧区", "同安区", "翔安区")]
        + [(n, "市直部门") for n in ("市发改委", "市教育局", "市科技局", "市工信局", "市公安局", "市民政局", "市财政局",
                                  "市人社局", "市资源规划局", "市生态环境局", "市建设局", "市卫健委")]
        + [(n, "开发区管委会") for n in ("火炬高新区管委会", "海沧台商投资区管委会", "集美台商投资区管委会")]
        + [("市信息中心", "市信息中心")],
    },
    "sihong-web-demo": {
        "framework": "sihong-website-2023", "units": 48, "events": 600, "seed": 2023, "period": None,
        "target": [(n, "乡镇街道") for n in ("青阳街道", "大楼街道", "双沟镇", "上塘镇", "魏营镇", "临淮镇", "半城镇", "孙园镇")]
        + [(n, "重点部门") for n in ("县发改局", "县教育局", "县公安局", "县人社局", "县卫健委", "行政审批局")]
        + [(n, "县直部门") for n in ("县科技局", "县民政局", "县司法局", "县住建局", "县交通运输局", "县水务局", "县农业农村局",
                                  "县统计局")],
    },
    "sihong-dg-demo": {
        "framework": "sihong-digital-gov-2023", "units": 11, "events": 0, "seed": 2023, "period": "2023Q3",
        "target": None,  # synth already names the eleven lead units exactly as the framework's applies_to
    },
}


def relabel(fw: frameworks.Framework, tables: dict[str, pd.DataFrame], target: list[tuple[str, str]]) -> dict[str, pd.DataFrame]:
    """Move synth's evidence onto the target units (name, group); see the module docstring."""
    src = tables["units"]
    units = pd.DataFrame(target, columns=["unit_name", "unit_group"])
    units.insert(0, "unit_id", [f"{i + 1:04d}" for i in range(len(units))])
    app_src = applicability(fw, src).to_numpy()
    app_dst = applicability(fw, units).to_numpy()
    leaves = [leaf.code for leaf in fw.leaves()]
    used: set[int] = set()
    events, facts = [], []
    item_leaf = fw.item_codes()
    fact_leaf = tables["facts"]["indicator"].map(lambda c: item_leaf.get(c, c))
    for t, unit_id in enumerate(units["unit_id"]):
        same = [s for s in range(len(src)) if (app_src[s] == app_dst[t]).all()]
        primary = next((s for s in same if s not in used), same[0] if same else None)
        if primary is not None:
            used.add(primary)
        for j, code in enumerate(leaves):
            if not app_dst[t, j]:
                continue
            donor = primary if primary is not None and app_src[primary, j] else \
                next(s for s in range(len(src)) if app_src[s, j])
            donor_id = src["unit_id"].iloc[donor]
            ev = tables["events"]
            events.append(ev[(ev["unit_id"] == donor_id) & (ev["indicator"] == code)].assign(unit_id=unit_id))
            fa = tables["facts"]
            facts.append(fa[(fa["unit_id"] == donor_id) & (fact_leaf == code)].assign(unit_id=unit_id))
    ev = pd.concat(events, ignore_index=True).sort_values(["date", "unit_id", "indicator"], kind="mergesort")
    ev["event_id"] = [f"E{i + 1:05d}" for i in range(len(ev))]
    fa = pd.concat(facts, ignore_index=True)
    units["note"] = MARK
    return {"units": units, "events": ev.reset_index(drop=True), "facts": fa.reset_index(drop=True)}


def make(name: str) -> list[Path]:
    spec = DEMOS[name]
    fw = frameworks.load(spec["framework"])
    tables = synth.synthesize(fw, spec["units"], spec["events"], spec["seed"], spec["period"])
    if spec["target"]:
        tables = relabel(fw, tables, spec["target"])
    made_with = f"data/raw/make_demo_evidence.py {name}（assessment synth --framework {spec['framework']} --units {spec['units']} " \
        f"--events {spec['events']} --seed {spec['seed']}" + (f" --period {spec['period']}" if spec["period"] else "") + \
        ("，再换成本脚本中的单位名单 relabelled onto the script's unit list）" if spec["target"] else "）")
    return synth.write(tables, HERE / name / str(fw.year), made_with=made_with)


if __name__ == "__main__":
    for demo in sys.argv[1:] or list(DEMOS):
        for path in make(demo):
            print(path.relative_to(HERE.parent.parent))
