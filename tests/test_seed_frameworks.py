"""The four seed frameworks: they load, they cover their seed documents, and they score.

The seed documents are the source of truth (see ../shared/seeds/README.md): every indicator name
of the Xiamen table and every numbered task of the Sihong digital-government plan must appear in
its framework, and every `basis` must be text of its seed, so an auditor can hold each rule
against the document. The smoke tests score a few synthetic units under each framework and check
the engine's invariants (line items sum to totals, indicators stay within their points).
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from assessment import evidence, frameworks, scoring, stages

SEED_FRAMEWORKS = [
    "sihong-new-media-2023",
    "sihong-website-2023",
    "sihong-digital-gov-2023",
    "xiamen-website-new-media-2023",
]
XIAMEN_SEED = "000_2c93a4f6a4c781ea.txt"
SIHONG_SEED = "004_8232fb9e99d0a661.txt"
XIAMEN_GROUPS = {"各区人民政府": "区人民政府", "市直各部门": "市直部门", "各开发区管委会": "开发区管委会", "市信息中心": "市信息中心"}


# ---- helpers ------------------------------------------------------------------------------

def seeds_dir() -> Path | None:
    """The seed documents: $ASSESSMENT_SEEDS, <project>/seeds, or ../shared/seeds next to the checkout."""
    root = frameworks.project_root()
    candidates = [os.environ.get("ASSESSMENT_SEEDS"), root / "seeds", root.parent / "shared" / "seeds"]
    for c in candidates:
        if c and (Path(c) / XIAMEN_SEED).is_file() and (Path(c) / SIHONG_SEED).is_file():
            return Path(c)
    return None


@pytest.fixture(scope="module")
def seed_text():
    folder = seeds_dir()
    assert folder is not None, "seed documents not found: they live in seeds/ (or set ASSESSMENT_SEEDS)"
    return {name: (folder / name).read_text(encoding="utf-8") for name in (XIAMEN_SEED, SIHONG_SEED)}


QUOTES = str.maketrans({"“": '"', "”": '"', "＂": '"', "‘": "'", "’": "'"})


def norm(text: str) -> str:
    """NFKC (full-width punctuation → half-width), curly quotes → straight, all whitespace removed."""
    t = unicodedata.normalize("NFKC", text).translate(QUOTES)
    return re.sub(r"\s+", "", t)


@pytest.fixture(scope="module")
def fws():
    return {fid: frameworks.load(fid) for fid in SEED_FRAMEWORKS}


def leaves_all(fw):
    """Every leaf, scored or not (办事服务 and the plan's platform tasks are unscored leaves)."""
    return [n for n, _, _ in fw.walk() if n.is_leaf]


def xiamen_table_names(text: str) -> list[str]:
    """Indicator names (一级/二级/三级) from the extracted Xiamen table.

    Every cell of the table starts with a tab; a cell's text may continue on following lines
    without a tab ("解读" / "回应" → 解读回应). Name cells are the short ones that are not a
    requirement (numbered, or ending in 。；：) and not a responsibility line (责任部门：…).
    """
    cells: list[str] = []
    current: str | None = None
    for line in text.split("\n")[1:]:
        if line.startswith("\t"):
            if current is not None:
                cells.append(current)
            current = line[1:].strip()
        elif line.strip() and current is not None:
            current += line.strip()
    if current is not None:
        cells.append(current)
    header = {"一级指标", "二级指标", "三级指标", "工作任务", "责任单位"}
    names = []
    for c in cells:
        if not c or c in header or len(c) > 20 or re.match(r"^\d", c) or "：" in c or c.endswith(("。", "；", "：")):
            continue
        names.append(c)
    return names


def digital_gov_tasks(text: str) -> dict[int, tuple[str, list[str]]]:
    """Task number → (title, lead units) from the digital-government plan of the Sihong seed."""
    start = text.index("# 2023 年泗洪县数字政府建设工作要点")
    end = text.index("# 2023 年泗洪县政府网站工作要点")
    section = unicodedata.normalize("NFKC", text[start:end])
    heads = list(re.finditer(r"(?m)^[ \t\-]*(\d{1,2})\.\s*([^。\n]+)。", section))
    tasks: dict[int, tuple[str, list[str]]] = {}
    for i, m in enumerate(heads):
        chunk = section[m.start(): heads[i + 1].start() if i + 1 < len(heads) else len(section)]
        lead = re.search(r"\((?:牵头单位|责任单位):([^;)]+)", re.sub(r"\s+", "", chunk))
        tasks[int(m.group(1))] = (re.sub(r"\s+", "", m.group(2)), lead.group(1).split("、") if lead else [])
    return tasks


# ---- loading ------------------------------------------------------------------------------

@pytest.mark.parametrize("fid", SEED_FRAMEWORKS)
def test_seed_framework_loads(fid):
    fw = frameworks.load(fid)
    assert fw.id == fid
    assert fw.leaves(), "a framework without scored leaves"
    assert fw.choices, "the analyst's choices must be declared in the file"


def test_framework_ids_equal_file_stems():
    stems = frameworks.available()
    assert set(SEED_FRAMEWORKS) <= set(stems)
    for stem in stems:
        assert frameworks.load(stem).id == stem


@pytest.mark.parametrize("fid", SEED_FRAMEWORKS)
def test_every_leaf_has_a_basis(fws, fid):
    for leaf in leaves_all(fws[fid]):
        assert leaf.basis and leaf.basis.strip(), f"{fid} {leaf.code} has no basis"


@pytest.mark.parametrize("fid", SEED_FRAMEWORKS)
def test_every_basis_is_seed_text(fws, seed_text, fid):
    """Each basis (or, where it combines text, each line / sentence of it) is verbatim seed text."""
    fw = fws[fid]
    seed = norm(seed_text[fw.source.file])
    for node, _, _ in fw.walk():
        if not node.basis:
            continue
        if norm(node.basis) in seed:
            continue
        pieces = [p for line in node.basis.splitlines() for p in re.split(r"(?<=[。；])", line)]
        missing = [p for p in pieces if norm(p) and norm(p) not in seed]
        assert not missing, f"{fid} {node.code}: basis not found in {fw.source.file}: {missing}"


@pytest.mark.parametrize("fid", SEED_FRAMEWORKS)
def test_source_is_a_seed_file(fws, fid):
    assert fws[fid].source.file in (XIAMEN_SEED, SIHONG_SEED)


# ---- Xiamen -------------------------------------------------------------------------------

def test_xiamen_table_parser_sees_the_merged_names(seed_text):
    names = xiamen_table_names(seed_text[XIAMEN_SEED])
    for expected in ("单项否决", "发布解读", "解读回应", "数据开放", "咨询留言", "留言办理", "在线访谈", "征集调查",
                     "智能搜索", "智能问答", "适老化及无障碍", "IPv6", "“中国福建”小程序保障",
                     "加分指标", "扣分指标（不合格、未完成）", "健康情况", "通报曝光", "办事服务"):
        assert expected in names
    assert len(names) >= 55


def test_every_xiamen_indicator_is_in_the_framework(fws, seed_text):
    fw = fws["xiamen-website-new-media-2023"]
    have = {norm(n.name) for n, _, _ in fw.walk()}
    missing = [n for n in xiamen_table_names(seed_text[XIAMEN_SEED]) if norm(n) not in have]
    assert not missing, f"indicators of the Xiamen table missing from the framework: {missing}"


def test_xiamen_numbered_requirements_are_covered(fws, seed_text):
    """Every numbered sub-requirement line of the table is the basis (or a basis line) of a leaf."""
    fw = fws["xiamen-website-new-media-2023"]
    basis_lines = {norm(line) for leaf in leaves_all(fw) for line in (leaf.basis or "").splitlines()}
    numbered = [line.strip() for line in seed_text[XIAMEN_SEED].split("\n") if re.match(r"^\t\d\.", line)]
    assert len(numbered) == 46
    missing = [line for line in numbered if norm(line) not in basis_lines]
    assert not missing, missing


def test_xiamen_structure_and_rules(fws):
    fw = fws["xiamen-website-new-media-2023"]
    assert fw.unit_groups == ["区人民政府", "市直部门", "开发区管委会", "市信息中心"]
    assert fw.normalise_to == 100 and fw.bonus_requires_base == 80
    by_name = {}
    for n, _, _ in fw.walk():
        by_name.setdefault(n.name, n)
    assert by_name["办事服务"].scored is False
    assert {RULE(l) for l in by_name["单项否决"].children} == {"veto"}
    msg = by_name["留言办理"].rule
    assert msg.type == "timeliness" and msg.params["within"] == 2
    assert by_name["年度报表"].rule.type == "deadline" and str(by_name["年度报表"].rule.params["due"]) == "2023-01-10"
    dues = {str(l.rule.params["due"]) for l in by_name["机制保障"].children if l.rule and l.rule.type == "deadline"}
    assert dues == {"2023-12-10"}
    act = by_name["活动开展"].rule
    assert act.type == "target" and act.params["unit"] == "number" and act.params["target"] == 6
    for name in ("创新案例", "突出贡献"):
        assert by_name[name].rule.type == "bonus"
    health = by_name["健康情况"]
    assert len(health.children) == 3 and {RULE(l) for l in health.children} == {"penalty"}
    assert by_name["通报曝光"].rule.type == "penalty"
    assert by_name["内容保障"].applies_to == ["市发改委"] and by_name["内容保障"].assisting == ["市信息中心"]
    # the scored 一级 indicators share the base of 100; 附加指标 (bonus + penalty) lies outside it
    assert sum(t.points for t in fw.top_level() if t.code != "X") == 100
    assert by_name["附加指标"].points is None


def RULE(leaf):
    return leaf.rule.type if leaf.rule else None


def test_xiamen_applies_to_follows_responsibility(fws):
    """applies_to is the 责任部门 mapped to unit groups (or a named unit); veto applies to every unit."""
    fw = fws["xiamen-website-new-media-2023"]
    for leaf in fw.leaves():
        assert leaf.responsible, f"{leaf.code} has no responsible unit"
        if leaf.rule.type == "veto":
            assert set(leaf.applies_to) == set(fw.unit_groups)
            continue
        expected = {XIAMEN_GROUPS.get(r, r) for r in leaf.responsible}
        assert set(leaf.applies_to) == expected, leaf.code
        for g in leaf.applies_to:
            assert g in fw.unit_groups or g == "市发改委"


# ---- Sihong digital government ------------------------------------------------------------

def test_every_digital_gov_task_is_in_the_framework(fws, seed_text):
    fw = fws["sihong-digital-gov-2023"]
    tasks = digital_gov_tasks(seed_text[SIHONG_SEED])
    assert sorted(tasks) == list(range(1, 23))
    by_name = {norm(n.name): n for n, _, _ in fw.walk()}
    for number, (title, leads) in tasks.items():
        node = by_name.get(norm(title))
        assert node is not None, f"task {number} {title} missing"
        assert node.code == f"T{number:02d}"
        assert leads, f"task {number}: no lead unit parsed"
        for unit in leads:
            assert unit in node.responsible, f"task {number}: lead unit {unit} not responsible"
        for leaf in [n for n, _, _ in node.walk() if n.is_leaf]:
            assert set(leads) == set(leaf.applies_to), f"task {number}: applies_to {leaf.applies_to}"


def test_digital_gov_numeric_targets(fws):
    fw = fws["sihong-digital-gov-2023"]
    assert fw.period == "quarter" and fw.normalise_to == 100
    expected = {"T04.a": (0.97, "97%"), "T04.b": (0.90, "90%"), "T11": (0.90, "90%"), "T17": (1.0, "100%")}
    for code, (value, text) in expected.items():
        leaf = fw.nodes[code]
        assert leaf.rule.type == "target"
        assert leaf.rule.params["unit"] == "percent"
        assert leaf.rule.params["target"] == pytest.approx(value)
        assert text in leaf.basis
    targets = [l.code for l in fw.leaves() if l.rule.type == "target"]
    assert sorted(targets) == sorted(expected)
    assert all(l.rule.type in ("target", "checklist") for l in fw.leaves())


# ---- Sihong website -----------------------------------------------------------------------

def test_sihong_website_targets(fws):
    fw = fws["sihong-website-2023"]
    n = fw.nodes
    assert n["A1"].rule.type == "target" and n["A1"].rule.params["target"] == pytest.approx(1.0)
    assert {n["V1"].rule.type, n["V2"].rule.type} == {"veto"}
    assert n["D2"].rule.type == "timeliness" and n["D2"].rule.params["within"] == 1
    assert n["D1"].rule.type == "deduct"
    assert n["B4.1"].rule.params == {"target": 1, "unit": "number", "mode": "full"}
    assert n["B4.1"].applies_to == ["重点部门"] and "重点部门" in fw.unit_groups
    assert n["D4"].rule.type == "target" and n["D4"].rule.params["target"] == 1
    assert sum(t.points for t in fw.top_level()) == 100


# ---- smoke: score synthetic evidence under each framework ---------------------------------

UNITS = {
    "sihong-new-media-2023": [("N1", "青阳街道", "乡镇街道"), ("N2", "县教育局", "县直部门"), ("N3", "县卫健委", "县直部门")],
    "sihong-website-2023": [("W1", "青阳街道", "乡镇街道"), ("W2", "行政审批局", "县直部门"),
                            ("W3", "县民政局", "县直部门"), ("W4", "县人社局", "重点部门")],
    # every lead unit of the plan, so that every task has a unit to score (see the engine test below)
    "sihong-digital-gov-2023": [(f"D{i:02d}", name, "牵头单位") for i, name in enumerate(
        ["大数据中心", "大数据管理局", "发改局", "城管局", "公安局", "文广旅局", "县财政局", "县人行", "网信办", "行政审批局", "组织部"], 1)],
    "xiamen-website-new-media-2023": [("X1", "思明区人民政府", "区人民政府"), ("X2", "市发改委", "市直部门"),
                                      ("X3", "火炬高新区管委会", "开发区管委会"), ("X4", "市信息中心", "市信息中心")],
}
PERIOD = {"sihong-digital-gov-2023": "2023Q3"}


def synthetic_evidence(fw, units, day: str, veto_unit: str | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A few events and facts for every scored leaf, varied by unit so caps and partial scores occur."""
    u = pd.DataFrame(units, columns=["unit_id", "unit_name", "unit_group"])
    events, facts = [], []
    first_veto = next((l.code for l in fw.leaves() if l.rule.type == "veto"), None)
    for leaf in fw.leaves():
        rt, p = leaf.rule.type, leaf.rule.params
        for i, (uid, name, group) in enumerate(units):
            if leaf.applies_to and group not in leaf.applies_to and name not in leaf.applies_to:
                continue
            eid = f"{leaf.code}-{uid}"
            if rt == "veto":
                if uid == veto_unit and leaf.code == first_veto:
                    events.append(dict(event_id=eid, unit_id=uid, indicator=leaf.code, date=day, quantity=1))
            elif rt in ("deduct", "award", "bonus", "penalty", "best_level"):
                prices = p.get("per_level") or p.get("levels")
                level = list(prices)[i % len(prices)] if prices else None
                events.append(dict(event_id=eid, unit_id=uid, indicator=leaf.code, date=day, quantity=3 * i + 1, level=level))
            elif rt == "timeliness":
                # 2023-09-28 is the last working day before the National Day holiday (workdays resume 10-07)
                events += [dict(event_id=eid + "a", unit_id=uid, indicator=leaf.code, date="2023-09-28", done_date="2023-10-09"),
                           dict(event_id=eid + "b", unit_id=uid, indicator=leaf.code, date="2023-06-05", done_date="2023-06-06")]
                if i % 2:
                    events.append(dict(event_id=eid + "c", unit_id=uid, indicator=leaf.code, date="2023-11-01"))
            elif rt == "checklist":
                for j, item in enumerate(p["items"]):
                    if (i + j) % 4 == 3:
                        continue  # a missing fact scores as not met
                    facts.append(dict(unit_id=uid, indicator=item["code"], value="是" if (i + j) % 3 else "否"))
            elif rt == "target":
                t = float(p["target"])
                value = f"{t * 100 - 4 * i:g}%" if p.get("unit", "percent") == "percent" else f"{max(t + 1 - i, 0):g}"
                facts.append(dict(unit_id=uid, indicator=leaf.code, value=value))
            elif rt == "deadline":
                due = pd.Timestamp(p["due"]) + pd.Timedelta(days=i - 1)
                facts.append(dict(unit_id=uid, indicator=leaf.code, value=due.strftime("%Y-%m-%d")))
    ev = pd.DataFrame(events, columns=["event_id", "unit_id", "indicator", "date", "quantity", "level", "done_date", "source", "note"])
    fa = pd.DataFrame(facts, columns=["unit_id", "indicator", "value", "note"])
    return u, ev, fa


def penalty_node(node) -> bool:
    leaves = [n for n, _, _ in node.walk() if n.is_leaf and n.rule is not None]
    return bool(leaves) and all(l.rule.type == "penalty" for l in leaves)


@pytest.mark.parametrize("fid", SEED_FRAMEWORKS)
def test_seed_framework_scores_synthetic_evidence(tmp_path, fid):
    fw = frameworks.load(fid)
    period = PERIOD.get(fid)
    day = "2023-08-15"
    has_veto = any(l.rule.type == "veto" for l in fw.leaves())
    units = UNITS[fid]
    veto_unit = units[2][0] if has_veto else None
    u, ev, fa = synthetic_evidence(fw, units, day, veto_unit)
    if period:  # quarterly: every event inside the quarter
        ev["date"] = day
        ev["done_date"] = None
    u.to_csv(tmp_path / "units.csv", index=False)
    ev.to_csv(tmp_path / "events.csv", index=False)
    fa.to_csv(tmp_path / "facts.csv", index=False)
    evid = evidence.read(tmp_path, events_required=stages.scores_events(fid))  # digital-gov scores no events
    res = scoring.score(fw, evid, period)

    us = res.unit_scores.set_index("unit_id")
    assert set(us.index) == {x[0] for x in units}
    for uid, row in us.iterrows():
        lines = res.line_items[res.line_items["unit_id"] == uid]
        if row["vetoed"]:
            assert uid == veto_unit and pd.isna(row["total"]) and row["grade"] == fw.veto_grade
            continue
        assert abs(lines["points"].sum() - row["total"]) < 1e-6, (fid, uid, lines["points"].sum(), row["total"])
        assert row["total"] >= 0
    assert (~us["vetoed"]).sum() >= 2 and us.loc[~us["vetoed"], "total"].max() > 0
    if has_veto:
        assert bool(us.loc[veto_unit, "vetoed"])

    scores = res.indicator_scores.dropna(subset=["score"])
    for _, row in scores.iterrows():
        node = fw.nodes[row["indicator"]]
        if node.points is None:
            continue
        if penalty_node(node):
            assert -node.points - 1e-9 <= row["score"] <= 1e-9, (fid, row.to_dict())
        else:
            assert -1e-9 <= row["score"] <= node.points + 1e-9, (fid, row.to_dict())
        if pd.notna(row["points"]):
            assert row["points"] <= node.points + 1e-9


# ---- engine problems found while writing these frameworks (executable bug reports) ----------

def _write(tmp_path, units, facts=()):
    pd.DataFrame(units, columns=["unit_id", "unit_name", "unit_group"]).to_csv(tmp_path / "units.csv", index=False)
    pd.DataFrame(columns=["event_id", "unit_id", "indicator", "date"]).to_csv(tmp_path / "events.csv", index=False)
    pd.DataFrame(list(facts), columns=["unit_id", "indicator", "value"]).to_csv(tmp_path / "facts.csv", index=False)
    return evidence.read(tmp_path, events_required=False)  # these cases are about facts alone


def test_engine_scores_leaves_that_apply_to_no_unit_present(tmp_path):
    fw = frameworks.load("sihong-digital-gov-2023")
    ev = _write(tmp_path, [("D1", "组织部", "牵头单位")], [("D1", "T20.a", "是"), ("D1", "T21.a", "是")])
    res = scoring.score(fw, ev, "2023Q3")
    # 组织部 carries T20 and T21 (10 points): 1/4 × 5 + 1/2 × 5 = 3.75 → 37.5 of 100
    assert res.unit_scores["total"].iloc[0] == pytest.approx(37.5)


def test_engine_missing_target_and_deadline_facts_score_zero(tmp_path):
    fw = frameworks.load("xiamen-website-new-media-2023")
    # 市发改委 and 市信息中心 between them are applicable to every leaf (so only this problem shows)
    ev = _write(tmp_path, [("X2", "市发改委", "市直部门"), ("X4", "市信息中心", "市信息中心")], [("X2", "A2.a", "是")])
    res = scoring.score(fw, ev)
    ind = res.indicator_scores[res.indicator_scores["unit_id"] == "X2"].set_index("indicator")["score"]
    assert ind["B3.1"] == 0 and ind["F5"] == 0


def test_engine_line_items_sum_to_total_when_not_normalised(tmp_path):
    fw = frameworks.load("sihong-website-2023")
    # 行政审批局 in 重点部门: every scored leaf applies, so the applicable maximum is exactly 100 (no normalisation)
    facts = [("W2", "A1", "100%"), ("W2", "B4.1", "1"), ("W2", "D4", "1"),
             ("W2", "E1.a", "是"), ("W2", "E1.b", "是"), ("W2", "E1.c", "否")]  # E1: 4 × 2/3 = 2.6667
    res = scoring.score(fw, _write(tmp_path, [("W2", "行政审批局", "重点部门")], facts))
    # A1 20 + B4.1 5 + D4 5 + D1 10 + D2 10 + D6 5 (nothing found) + E1 4 × 2/3 booked to the cent 2.67 = 57.67
    assert res.line_items["points"].sum() == pytest.approx(57.67, abs=1e-9)
    assert abs(res.line_items["points"].sum() - res.unit_scores["total"].iloc[0]) < 1e-6
