"""Issue 12 §1 and §3: documents in the name of the framework's own jurisdiction, never another's;
demo data say they are a demo.

A framework copied for 涟水县 (no entry in templates/office.yaml) must give documents under
涟水县人民政府办公室 with the 代字 left blank, and a warning in the command line, the report
notebook and the manifest — with not one character of 泗洪's header anywhere, in the 通报, the
notices, the workbooks, or a combination of two such bundles."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from docx import Document

from assessment import dataset, frameworks, framework_tools, stages, synth, validation
from assessment.documents.office import BLANK_PREFIX, OfficeError, load_office, office_for
from assessment.problems import EvidenceError

from bundles import make_bundle
from test_rendered_pages import render

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "raw" / "demo" / "2023"
SIHONG = ("泗洪", "洪政办", "县委办公室，县人大常委会办公室")  # 泗洪's name, its 代字, its 抄送
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def package_text(path: Path) -> str:
    """Every XML part of a .docx/.xlsx (body, headers, footers, core properties, shared strings)."""
    with zipfile.ZipFile(path) as z:
        return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith((".xml", ".rels")))


def assert_no_sihong(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".docx", ".xlsx"))
    assert files
    for f in files:
        text = package_text(f)
        for word in SIHONG:
            assert word not in text, (f.name, word)
    return files


@pytest.fixture(scope="module")
def lianshui(tmp_path_factory):
    """The seed frameworks plus lianshui-new-media-2023 (sihong-new-media-2023 copied for 涟水县), and
    its synthetic evidence twice: as synth writes it (declared synthetic) and as an office's own."""
    root = tmp_path_factory.mktemp("lianshui")
    fws = root / "frameworks"
    shutil.copytree(ROOT / "frameworks", fws)
    old = os.environ.get("ASSESSMENT_FRAMEWORKS")
    os.environ["ASSESSMENT_FRAMEWORKS"] = str(fws)
    try:
        framework_tools.derive("lianshui-new-media-2023", "sihong-new-media-2023", 2023, "涟水县", str(fws))
        fw = frameworks.load("lianshui-new-media-2023")
        tables = synth.synthesize(fw, 12, 150, seed=7)
        demo, own = root / "raw-demo", root / "raw-own"
        synth.write(tables, demo)
        synth.write(tables, own)
        (own / dataset.FILE).unlink()  # an office's own evidence declares nothing
        yield {"root": root, "fw": fw, "demo": demo, "own": own, "fws": fws}
    finally:
        if old is None:
            os.environ.pop("ASSESSMENT_FRAMEWORKS", None)
        else:
            os.environ["ASSESSMENT_FRAMEWORKS"] = old


def test_settings_follow_the_jurisdiction(lianshui):
    """No entry for 涟水县: the issuer is derived from its name, the 代字 left blank, the recipients
    generic, no 抄送 — and nothing of 泗洪's entry leaks in. 泗洪 and 厦门 keep their own."""
    fw = lianshui["fw"]
    assert fw.jurisdiction == "涟水县" and "泗洪" not in fw.title
    office = office_for(fw)
    assert office["issuer"] == office["mark"] == "涟水县人民政府办公室"
    assert (office["office_short"], office["area"], office["level"]) == ("县政府办公室", "全县", "县")
    assert office["doc_number"]["prefix"] is None and office["imprint"]["cc"] is None
    assert office["recipients"] == "各有关单位"
    assert not any(w in json.dumps(office, ensure_ascii=False) for w in SIHONG)
    status = office["_status"]
    assert status["configured"] is False and "涟水县" in status["warning"] and "templates/office.yaml" in status["warning"]
    sihong = office_for(frameworks.load("sihong-new-media-2023"))
    assert sihong["issuer"] == "泗洪县人民政府办公室" and sihong["doc_number"]["prefix"] == "洪政办函"
    assert sihong["_status"] == {"jurisdiction": "泗洪县", "configured": True, "issuer": "泗洪县人民政府办公室", "warning": None}
    xiamen = office_for(frameworks.load("xiamen-website-new-media-2023"))
    assert xiamen["office_short"] == "市政府办公厅" and "县" not in xiamen["opening"]


def test_a_misspelt_key_under_a_jurisdiction_is_refused(lianshui):
    base = load_office()
    base["jurisdictions"]["涟水县"] = {"isuer": "涟水县人民政府办公室"}
    with pytest.raises(OfficeError, match="isuer") as exc:
        office_for(lianshui["fw"], base=base)
    assert exc.value.key == "jurisdictions.涟水县.isuer"


def test_neutral_wording_names_no_office(lianshui):
    """The jurisdiction-neutral top of the file names no office: “县政府办公室”, “全县” and “县级”
    come from placeholders, so 厦门市 and a jurisdiction of unknown level get their own words."""
    top = {k: v for k, v in load_office().items() if k != "jurisdictions"}
    text = json.dumps(top, ensure_ascii=False)
    for word in ("县政府办公室", "全县", "县级", "泗洪", "洪政办"):
        assert word not in text, word
    odd = type("F", (), {"jurisdiction": "某某", "id": "x", "year": 2023, "title": "某某2023年度政务新媒体考评"})()
    office = office_for(odd)
    assert office["issuer"] == "某某人民政府办公室" and office["office_short"] == "某某人民政府办公室" and office["level"] == "本"


def test_documents_of_an_unconfigured_jurisdiction(lianshui, tmp_path):
    """An in-process run for 涟水县: no 泗洪 in any .docx or .xlsx; the 发文字号 shows the blank
    代字 form; the warning is one of the run's warnings and in reports/office.json and the manifest."""
    bundle = make_bundle(lianshui["own"], tmp_path, county="lianshui", framework="lianshui-new-media-2023", report=True)
    files = assert_no_sihong(bundle)
    assert any("notices" in str(f) for f in files) and any(f.suffix == ".xlsx" for f in files)
    doc = Document(next((bundle / "reports").glob("通报-*.docx")))
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == "涟水县人民政府办公室"
    assert f"{BLANK_PREFIX}〔2024〕　　号" in texts
    assert "各有关单位：" in texts and not any("演示" in t for t in texts)
    assert any("县政府办公室采取" in t and "对全县12家单位" in t for t in texts)
    warnings = validation.bundle_warnings(bundle)
    (w,) = [x for x in warnings if x.rule == "office-unconfigured"]
    assert w.value == "涟水县" and w.message_zh.startswith("公文设置") and w.message_en.startswith("templates/office.yaml")
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["office"]["jurisdiction"] == "涟水县" and manifest["office"]["configured"] is False
    assert "涟水县人民政府办公室" in manifest["office"]["warning"] and manifest["office"]["synthetic"] is False
    # as printed: LibreOffice renders the 通报 and a notice under 涟水's derived name, nothing of 泗洪's
    notice = sorted((bundle / "reports" / "notices").glob("*.docx"))[0]
    for docx in (bundle / "reports").glob("通报-*.docx"), [notice]:
        pages = render(next(iter(docx)), tmp_path)
        printed = re.sub(r"\s+", "", "".join(pages))
        assert printed.startswith("涟水县人民政府办公室") and "〔2024〕" in pages[0]
        assert not any(word in printed for word in SIHONG)


def test_cli_run_and_report_notebook_warn(lianshui, tmp_path):
    """`assessment run` prints the warning with the others and counts it; the executed report
    notebook shows it; exit 0 (the documents are usable once the office fills in its 代字)."""
    env = {**ENV, "ASSESSMENT_FRAMEWORKS": str(lianshui["fws"])}
    done = subprocess.run([sys.executable, "-m", "assessment.cli", "run", "--county", "lianshui", "--year", "2023",
                           "--framework", "lianshui-new-media-2023", "--raw", str(lianshui["own"]), "--out", str(tmp_path),
                           "--quiet"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    line = next(l for l in done.stderr.splitlines() if "office-unconfigured" in l)
    assert line.startswith("警告：") and "涟水县" in line and "templates/office.yaml" in line
    bundle = tmp_path / "lianshui" / "2023"
    nb = (bundle / "notebooks" / "04_report.ipynb").read_text(encoding="utf-8")
    assert "警告 warning" in nb and "涟水县人民政府办公室" in nb
    assert_no_sihong(bundle / "reports")


def test_combine_follows_the_jurisdiction(lianshui, tmp_path):
    """A combination for 涟水县 of two 涟水县 bundles: its 通报 is 涟水's, with the warning."""
    a = make_bundle(lianshui["own"], tmp_path / "a", county="lianshui", framework="lianshui-new-media-2023")
    b = make_bundle(lianshui["own"], tmp_path / "b", county="lianshui", framework="lianshui-new-media-2023")
    spec = {"id": "lianshui-2023-combined", "title": "涟水县2023年度政务新媒体综合考评", "jurisdiction": "涟水县",
            "county": "lianshui", "year": 2023,
            "components": [{"id": "own", "title": "县政府办公室考评", "weight": 0.3, "bundle": str(a)},
                           {"id": "third", "title": "第三方评估", "weight": 0.7, "bundle": str(b)}]}
    comb = tmp_path / "comb.yaml"
    comb.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    env = {**ENV, "ASSESSMENT_FRAMEWORKS": str(lianshui["fws"])}
    done = subprocess.run([sys.executable, "-m", "assessment.cli", "combine", str(comb), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "警告：" in done.stderr and "涟水县" in done.stderr
    final = tmp_path / "out" / "lianshui" / "combined-lianshui-2023-combined"
    assert_no_sihong(final / "reports")
    texts = [p.text for p in Document(next((final / "reports").glob("通报*.docx"))).paragraphs]
    assert texts[0] == "涟水县人民政府办公室" and not any("演示" in t for t in texts)
    m = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
    assert m["office"]["configured"] is False and "涟水县" in m["office"]["warning"]


# ---- §3: the demo says it is a demo --------------------------------------------------------

def _texts(path: Path) -> list[str]:
    return [p.text for p in Document(path).paragraphs]


def test_demo_documents_are_marked_and_own_ones_are_not(tmp_path):
    """The bundled demo (dataset.yaml: synthetic) gives （演示） in the 红头 and the line saying the data
    are synthetic, in the 通报 and every notice; the same evidence without the declaration does not.
    The mark travels in the bundle: the report regenerated after the raw folder is gone is the same."""
    raw = tmp_path / "raw"
    shutil.copytree(DEMO, raw)
    bundle = make_bundle(raw, tmp_path / "out", county="demo")
    shutil.rmtree(raw)  # the report stage reads the declaration kept in the bundle, not the raw folder
    p = stages.RunParams(county="demo", year=2023, framework="sihong-new-media-2023", raw_dir=str(raw), out_dir=str(tmp_path / "out"))
    stages.report(p)
    note = next((bundle / "reports").glob("通报-*.docx"))
    texts = _texts(note)
    assert texts[0] == "泗洪县人民政府办公室（演示）"
    assert any(t.startswith("（演示文书：") and "合成" in t for t in texts)
    assert texts.count("泗洪县人民政府办公室（演示）") == 2  # 红头 and 署名
    assert "泗洪县人民政府办公室（演示）" in package_text(note)  # and the 印发机关 in the 版记 footer
    notices = sorted((bundle / "reports" / "notices").glob("*.docx"))
    assert notices and all(_texts(n)[0].endswith("（演示）") and any("合成" in t for t in _texts(n)) for n in notices)
    status = json.loads((bundle / "reports" / "office.json").read_text(encoding="utf-8"))
    assert status["synthetic"] is True and status["dataset"]["synthetic"] is True
    first = note.read_bytes()
    stages.report(p)
    assert note.read_bytes() == first

    own = tmp_path / "own"
    shutil.copytree(DEMO, own)
    (own / dataset.FILE).unlink()
    b2 = make_bundle(own, tmp_path / "out2", county="demo", report=True)
    texts = _texts(next((b2 / "reports").glob("通报-*.docx")))
    assert texts[0] == "泗洪县人民政府办公室" and not any("演示" in t for t in texts)
    assert json.loads((b2 / "reports" / "office.json").read_text(encoding="utf-8"))["synthetic"] is False


def test_dataset_declaration_is_read_and_checked(tmp_path):
    """dataset.yaml is evidence metadata: an unknown key, a missing one or a wrong value is refused
    with the file and key (exit 2), and it is not reported as an unused file."""
    assert dataset.read(DEMO).synthetic is True
    assert dataset.read(tmp_path) is None
    (tmp_path / dataset.FILE).write_text("synthetic: yes please\ndescripton: x\n", encoding="utf-8")
    with pytest.raises(EvidenceError) as exc:
        dataset.read(tmp_path)
    where = {(p.file, p.column) for p in exc.value.problems}
    assert where == {("dataset.yaml", "descripton"), ("dataset.yaml", "description"), ("dataset.yaml", "synthetic")}
    raw = tmp_path / "raw"
    shutil.copytree(DEMO, raw)
    (raw / dataset.FILE).write_text("synthetic: true\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "assessment.cli", "validate", "--county", "demo", "--year", "2023",
                           "--framework", "sihong-new-media-2023", "--raw", str(raw), "--out", str(tmp_path / "out"), "--quiet"],
                          capture_output=True, text=True, env=ENV, timeout=300)
    assert done.returncode == 2 and "dataset.yaml" in done.stderr and "description" in done.stderr
    from assessment.evidence import unused_files

    assert not [p for p in unused_files(DEMO, [DEMO / "units.csv", DEMO / "events.csv", DEMO / "facts.csv"])]


def test_synth_declares_its_output_synthetic(tmp_path):
    fw = frameworks.load("sihong-new-media-2023")
    paths = synth.write(synth.synthesize(fw, 4, 10, seed=1), tmp_path, made_with="assessment synth …")
    assert tmp_path / dataset.FILE in paths
    declared = dataset.read(tmp_path)
    assert declared.synthetic and "演示数据（合成）：4家单位" in declared.description and declared.made_with == "assessment synth …"
    assert re.search(r"Synthetic demo evidence", declared.description)
