"""Every seed framework end to end on its own demo data: `assessment run` through real papermill
kernels into a temp dir, then the bundle's numbers and the notification's text.

The demo data (data/raw/*-demo/2023, synthetic) is made by data/raw/make_demo_evidence.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from docx import Document

from assessment import frameworks
from assessment.documents.office import fmt

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
FONTS_CONF = ROOT / "templates" / "fonts.conf"

RUNS = {
    "xiamen": ("xiamen-demo", "xiamen-website-new-media-2023", None,
               "厦门市人民政府办公厅关于2023年度政府网站与政务新媒体绩效考核结果的通报"),
    "website": ("sihong-web-demo", "sihong-website-2023", None,
                "泗洪县人民政府办公室关于2023年度政府网站工作考评结果的通报"),
    "digital": ("sihong-dg-demo", "sihong-digital-gov-2023", "2023Q3",
                "泗洪县人民政府办公室关于2023年第三季度数字政府建设工作推进情况的通报"),
}


def read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"unit_id": str, "indicator": str}, keep_default_na=False, na_values=[""],
                       encoding="utf-8-sig")


def doc_text(path: Path) -> tuple[list[str], list[list[list[str]]]]:
    """Paragraph texts and every table's cells, as python-docx reads them back."""
    doc = Document(path)
    return [p.text for p in doc.paragraphs], [[[c.text for c in r.cells] for r in t.rows] for t in doc.tables]


class Bundle:
    def __init__(self, root: Path, framework: str, period: str | None, title: str):
        self.root, self.fw, self.period, self.title = root, frameworks.load(framework), period, title
        self.units = read_csv(root / "scores" / "unit_scores.csv")
        self.indicators = read_csv(root / "scores" / "indicator_scores.csv")
        self.lines = read_csv(root / "scores" / "line_items.csv")
        self.notification = next((root / "reports").glob("通报*.docx"))
        self.paragraphs, self.tables = doc_text(self.notification)
        self.text = "\n".join(self.paragraphs + ["\t".join(row) for t in self.tables for row in t])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Runs each demo once per module, on first use."""
    done: dict[str, Bundle] = {}

    def get(name: str) -> Bundle:
        if name not in done:
            county, framework, period, title = RUNS[name]
            out = tmp_path_factory.mktemp(name)
            args = ["run", "--county", county, "--year", "2023", "--framework", framework,
                    "--raw", str(RAW / county / "2023"), "--out", str(out), "--quiet"] + (["--period", period] if period else [])
            proc = subprocess.run([sys.executable, "-m", "assessment.cli", *args], capture_output=True, text=True,
                                  timeout=900)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            # a quarter's bundle is <out>/<county>/2023Q3 (quarters do not overwrite each other), a year's …/2023
            done[name] = Bundle(out / county / (period or "2023"), framework, period, title)
        return done[name]

    return get


@pytest.fixture(scope="module", params=list(RUNS))
def bundle(request, run) -> Bundle:
    return run(request.param)


@pytest.fixture(scope="module")
def xiamen(run) -> Bundle:
    return run("xiamen")


@pytest.fixture(scope="module")
def quarterly(run) -> Bundle:
    return run("digital")


def test_bundle_is_complete(bundle):
    for part in ("manifest.json", "evidence/units.parquet", "validation/results.json", "scores/unit_scores.csv",
                 "scores/line_items.csv", "notebooks/04_report.ipynb"):
        assert (bundle.root / part).is_file(), part
    assert list((bundle.root / "reports").glob("考评结果*.xlsx"))
    units = read_csv(RAW / bundle.root.parent.name / "2023" / "units.csv")
    assert bundle.notification.name == f"通报-{bundle.fw.id}{'-' + bundle.period if bundle.period else ''}.docx"
    assert sorted(bundle.units["unit_id"]) == sorted(units["unit_id"])  # every unit of the demo is scored


def test_line_items_sum_to_totals(bundle):
    sums = bundle.lines.groupby("unit_id")["points"].sum().round(2)
    for u in bundle.units.itertuples():
        if str(u.vetoed).lower() == "true":
            assert pd.isna(u.total)
            continue
        assert sums.get(u.unit_id, 0.0) == pytest.approx(u.total, abs=0.005), u.unit_name


def test_notification_has_title_and_every_unit(bundle):
    assert bundle.title in [p.replace("\n", "") for p in bundle.paragraphs]  # its lines joined by line breaks
    for name in bundle.units["unit_name"]:
        assert name in bundle.text, name
    assert "{" not in bundle.text and "}" not in bundle.text


# ---- Xiamen: units scored only on the indicators they are responsible for ----------------------

def _score_rows(bundle: Bundle) -> dict[str, tuple[list[str], list[str]]]:
    """Unit name → (header, cells) of the attachment's score tables."""
    out = {}
    for table in bundle.tables:
        header = table[0]
        if header[:2] != ["序号", "单位名称"] or "总分" not in header:
            continue
        for row in table[1:]:
            out[row[1]] = (header, row)
    return out


def test_xiamen_attachment_marks_indicators_a_unit_does_not_carry(xiamen):
    bundle = xiamen
    rows = _score_rows(bundle)
    assert set(rows) == set(bundle.units["unit_name"])
    top = [i for i in bundle.fw.top_level() if i.points]
    scored = bundle.indicators[bundle.indicators["depth"] == 1].set_index(["unit_id", "indicator"])["score"]
    for u in bundle.units.itertuples():
        header, cells = rows[u.unit_name]
        for node in top:
            col = next(i for i, h in enumerate(header) if h.split("\n")[0] == node.name)
            if (u.unit_id, node.code) not in scored.index or str(u.vetoed).lower() == "true":
                assert cells[col] == "—", (u.unit_name, node.name)
            else:
                assert float(cells[col]) == pytest.approx(scored[(u.unit_id, node.code)]), (u.unit_name, node.name)
    header, centre = rows["市信息中心"]
    by_name = dict(zip([h.split("\n")[0] for h in header], centre))
    assert [by_name[n] for n in ("发布解读", "互动交流", "融合应用", "政务新媒体")] == ["—"] * 4  # not its indicators
    assert "“—”表示该单位不承担该项指标" in bundle.text and "折算为100分制" in bundle.text


def test_xiamen_information_centre_total_is_normalised(xiamen):
    bundle = xiamen
    unit = bundle.units[bundle.units["unit_name"] == "市信息中心"].iloc[0]
    top_codes = [i.code for i in bundle.fw.top_level() if i.points]
    mine = bundle.indicators[(bundle.indicators["unit_id"] == unit.unit_id) & (bundle.indicators["depth"] == 1)
                             & bundle.indicators["indicator"].isin(top_codes)]
    maximum = mine["points"].sum()
    assert maximum == 13  # 功能设计 11 (智能搜索 4, 智能问答 4, 适老化 2, 一号登录 1) + 协同发展 2 (机制保障)
    base = round(mine["score"].sum() * 100 / maximum, 2)
    assert unit.total == pytest.approx(base + unit.bonus + unit.penalty, abs=0.01)
    header, cells = _score_rows(bundle)["市信息中心"]
    by_name = dict(zip([h.replace("\n", "") for h in header], cells))
    assert by_name["适用满分"] == "13" and by_name["总分"] == fmt(unit.total)
    assert float(by_name["总分"]) != pytest.approx(mine["score"].sum() + unit.bonus + unit.penalty)  # really normalised


# ---- the quarterly progress notification ----------------------------------------------------

def _tasks(fw) -> list:
    return [n for top in fw.indicators for n in top.children if n.responsible]


def test_quarterly_lists_each_task_with_its_lead_units(quarterly):
    bundle = quarterly
    names = dict(zip(bundle.units["unit_id"], bundle.units["unit_name"]))
    tasks = _tasks(bundle.fw)
    assert len(tasks) == 22
    for task in tasks:
        line = next((p for p in bundle.paragraphs if f"{task.code} {task.name}（牵头单位：" in p), None)
        assert line is not None, task.code
        leads = bundle.indicators.loc[bundle.indicators["indicator"] == task.code, "unit_id"].map(names)
        assert set(leads) and set(leads) <= set(task.responsible)
        for lead in leads:
            assert lead in line, (task.code, lead)
        assert re.search(r"：.*(完成|推进中|滞后)", line), line


def test_quarterly_shows_targets_against_actual_values(quarterly):
    bundle = quarterly
    facts = read_csv(RAW / "sihong-dg-demo" / "2023" / "facts.csv")
    value = dict(zip(zip(facts["unit_id"], facts["indicator"]), facts["value"]))
    names = dict(zip(bundle.units["unit_id"], bundle.units["unit_name"]))
    shared = next(p for p in bundle.paragraphs if "T04 推动数据资源共享开放（" in p)
    actual = value[(bundle.units.set_index("unit_name").loc["大数据中心", "unit_id"], "T04.a")]
    assert f"公共数据按需共享率目标97%，实际{fmt(float(actual.rstrip('%')), 1)}%" in shared
    for leaf in (n for n in bundle.fw.leaves() if n.rule.type == "target"):
        goal = f"{leaf.rule.params['target'] * 100:g}%"
        for unit_id in bundle.indicators.loc[bundle.indicators["indicator"] == leaf.code, "unit_id"]:
            shown = f"{fmt(float(value[(unit_id, leaf.code)].rstrip('%')), 1)}%"
            line = next(p for p in bundle.paragraphs if names[unit_id] in p and leaf.code.split(".")[0] + " " in p)
            assert f"目标{goal}" in line and f"实际{shown}" in line, (leaf.code, unit_id)
    table = next(t for t in bundle.tables if t[0][:3] == ["序号", "任务", "牵头单位"])
    row = next(r for r in table if r[1].startswith("T17 "))
    centre = bundle.units.set_index("unit_name").loc["大数据中心", "unit_id"]
    assert row[2:5] == ["大数据中心", "100%", f"{fmt(float(value[(centre, 'T17')].rstrip('%')), 1)}%"]


def test_quarterly_lists_tasks_behind_schedule_by_lead_unit(quarterly):
    bundle = quarterly
    start = bundle.paragraphs.index("三、滞后任务")
    end = bundle.paragraphs.index("四、工作要求")
    section = "\n".join(bundle.paragraphs[start:end])
    names = dict(zip(bundle.units["unit_id"], bundle.units["unit_name"]))
    codes = {t.code for t in _tasks(bundle.fw)}
    ratios = bundle.indicators[bundle.indicators["indicator"].isin(codes)].assign(
        ratio=lambda d: d["score"] / d["points"])
    late = ratios[ratios["ratio"] < 0.6]  # templates/office.yaml: 推进中 from 60 %, below it 滞后
    assert len(late) >= 3  # the demo data has tasks behind schedule
    assert f"滞后任务共{len(late)}项次，涉及{late['unit_id'].nunique()}家牵头单位" in section
    for r in late.itertuples():
        unit_line = next(p for p in bundle.paragraphs[start:end] if re.match(rf"\d+\.{re.escape(names[r.unit_id])}（", p))
        assert f"{r.indicator} " in unit_line, (names[r.unit_id], r.indicator)
    on_track = ratios[ratios["ratio"] >= 0.6]
    for r in on_track.itertuples():
        assert not any(re.match(rf"\d+\.{re.escape(names[r.unit_id])}（.*{r.indicator} ", p)
                       for p in bundle.paragraphs[start:end]), (names[r.unit_id], r.indicator)


def test_quarterly_renders_with_libreoffice(quarterly, tmp_path):
    bundle = quarterly
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is required: apt-get install libreoffice-writer"
    src = tmp_path / "quarterly.docx"
    shutil.copy(bundle.notification, src)
    env = {**os.environ, "FONTCONFIG_FILE": str(FONTS_CONF), "HOME": str(tmp_path)}
    subprocess.run([soffice, "--headless", f"-env:UserInstallation=file://{tmp_path}/lo-profile",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(src)],
                   check=True, env=env, capture_output=True, timeout=180)
    pdf = tmp_path / "quarterly.pdf"
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(pdf), str(tmp_path / "page")], check=True, timeout=120)
    assert len(sorted(tmp_path.glob("page-*.png"))) >= 6  # pages kept in the temp dir to look at
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True,
                          timeout=60).stdout
    flat = re.sub(r"\s+", "", text)
    assert bundle.title in flat
    assert "—1—" in flat and "—2—" in flat and "三、滞后任务" in flat and "附件1" in flat and "附件2" in flat
    for task in _tasks(bundle.fw):
        assert task.code in flat
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True).stdout
    assert "NotoSerifCJK" in fonts and "NotoSansCJK" in fonts


def test_quarterly_without_facts_reads_actuals_from_line_items(quarterly, tmp_path):
    """Called without the facts table, the document takes the actual values from the target rule's
    own explanation in line_items, and says the same."""
    from assessment.documents import write_reports

    paths = write_reports(quarterly.fw, quarterly.units, quarterly.indicators, quarterly.lines, None, tmp_path,
                          period="2023Q3")
    paragraphs, _ = doc_text(paths["notification"])
    start, end = quarterly.paragraphs.index("二、各项任务推进情况"), quarterly.paragraphs.index("四、工作要求")
    # the run's document is marked as a demo (one more paragraph above); this call declares no demo data
    here = paragraphs.index("二、各项任务推进情况")
    assert paragraphs[here:here + end - start] == quarterly.paragraphs[start:end]
