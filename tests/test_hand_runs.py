"""Stage notebooks run by hand (issue 14): JupyterLab in the install, and a rerun in Jupyter never
touches a published bundle.

A notebook run with its default parameters (no bundle_dir) writes to the draft bundle
<out>/<county>/<year>.draft/ and says so in its first output; it reads the earlier stages' results
from the draft, or copies them from the published bundle, which it only reads. Only `assessment run`
publishes; a draft is never verified, combined or taken as last year's bundle.

The notebooks are the real ones (notebooks/*.ipynb), executed by papermill in a real kernel with
the notebooks folder as working folder, as JupyterLab runs them; only out_dir and raw_dir are given.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest
import yaml

from assessment import cli, pipeline, stages, verify

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"
NOTEBOOKS = ["01_ingest", "02_validate", "03_score", "04_report"]


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def tree_state(root: Path) -> dict[str, tuple[str, int, int]]:
    """Each file's hash, and its inode and modification time: a file rewritten with the same bytes
    (the same evidence scores the same) is still a write into the published bundle."""
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def by_hand(name: str, out: Path, raw: Path, executed: Path) -> nbformat.NotebookNode:
    """Run one stage notebook as an analyst would in JupyterLab: its own folder as working folder,
    the default parameters (county demo, 2023, no bundle_dir) but for where the data are."""
    executed.mkdir(parents=True, exist_ok=True)
    dest = executed / f"{name}.ipynb"
    pm.execute_notebook(str(pipeline.notebooks_dir() / f"{name}.ipynb"), str(dest), parameters={"out_dir": str(out), "raw_dir": str(raw)},
                        cwd=str(pipeline.notebooks_dir()), progress_bar=False, log_output=False)
    return nbformat.read(dest, as_version=4)


def first_output(nb: nbformat.NotebookNode) -> str:
    """The text of the first output a person sees (the first code cell that shows anything)."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.get("outputs"))
    data = cell.outputs[0].get("data", {})
    return data.get("text/markdown") or data.get("text/plain") or cell.outputs[0].get("text", "")


@pytest.fixture(scope="module")
def site(published_small, tmp_path_factory) -> dict[str, Path]:
    """A copy of a published run's output tree (2023 published, 2022 beside it) as the demo county, so
    that the notebooks' own defaults (county demo, 2023) name it and only out_dir and raw_dir are given."""
    root = tmp_path_factory.mktemp("hand")
    out = root / "out"
    shutil.copytree(published_small.parent, out / "demo")
    return {"out": out, "published": out / "demo" / "2023", "draft": out / "demo" / "2023.draft", "root": root}


def test_score_run_by_hand_leaves_the_published_bundle_byte_for_byte_and_writes_the_draft(site):
    published, last_year = site["published"], site["out"] / "demo" / "2022"
    before = (tree_state(published), tree_state(last_year))
    assert not site["draft"].exists()
    nb = by_hand("03_score", site["out"], FIXTURE, site["root"] / "executed-03")

    assert (tree_state(published), tree_state(last_year)) == before
    # the new scores are in the draft: the same evidence gives the same bytes as the published ones
    draft = site["draft"]
    for name in ("unit_scores.csv", "indicator_scores.csv", "line_items.csv", "unused_evidence.csv", "scores.xlsx"):
        assert (draft / "scores" / name).read_bytes() == (published / "scores" / name).read_bytes(), name
    # the evidence and validation it read were copied from the published bundle, whole
    assert tree_hashes(draft / "evidence") == tree_hashes(published / "evidence")
    assert tree_hashes(draft / "validation") == tree_hashes(published / "validation")
    assert not (draft / "reports").exists() and not (draft / "manifest.json").exists()
    # it says it is a draft, to the notebook's reader and to whoever opens the folder
    shown = first_output(nb)
    assert shown.startswith("**草稿运行包 draft bundle：") and f"{draft.as_posix()}/" in shown
    assert "只有 `assessment run` 发布运行包" in shown and "copied from the published bundle" in shown
    record = json.loads((draft / stages.DRAFT_FILE).read_text(encoding="utf-8"))
    assert record["draft"] is True and record["published"] is False and "草稿，未发布" in record["说明 note"]
    copied = {"from": "published", "copied_from": f"{published.as_posix()}/",
              "published_manifest": hashlib.sha256((published / "manifest.json").read_bytes()).hexdigest()}
    assert record["stages"] == {"ingest": copied, "validate": copied, "score": {"from": "draft"}}
    assert "草稿，未发布" in (draft / stages.DRAFT_MARKER).read_text(encoding="utf-8")


def test_a_second_hand_run_reads_the_draft_and_the_report_completes_it(site):
    """After 03_score by hand, 04_report by hand reads the draft's own scores (nothing copied again)."""
    if not (site["draft"] / "scores").is_dir():
        by_hand("03_score", site["out"], FIXTURE, site["root"] / "executed-03")
    before = tree_state(site["published"])
    nb = by_hand("04_report", site["out"], FIXTURE, site["root"] / "executed-04")
    assert tree_state(site["published"]) == before
    shown = first_output(nb)
    assert "读取 reading `scores/`：草稿中已有的结果 the draft's own" in shown and "copied from" not in shown
    reports = site["draft"] / "reports"
    assert list(reports.glob("通报*.docx")) and json.loads((reports / stages.COMPARISON_FILE).read_text(encoding="utf-8"))["used"] is True


def test_stages_run_by_hand_in_order_make_a_complete_draft_and_publish_nothing(tmp_path, published_small):
    out = tmp_path / "out"
    shutil.copytree(published_small.parent / "2022", out / "demo" / "2022")  # last year's, for the comparison
    shown = {}
    for name in NOTEBOOKS:
        shown[name] = first_output(by_hand(name, out, FIXTURE, tmp_path / "executed"))
        assert shown[name].startswith("**草稿运行包 draft bundle："), name
    assert sorted(p.name for p in (out / "demo").iterdir()) == ["2022", "2023.draft"]  # nothing published
    draft = out / "demo" / "2023.draft"
    for folder in ("evidence", "validation", "scores", "reports"):
        assert (draft / folder).is_dir(), folder
    assert "copied from" not in "".join(shown.values())  # each stage read the draft's own earlier results
    assert json.loads((draft / stages.DRAFT_FILE).read_text(encoding="utf-8"))["stages"] == {s: {"from": "draft"} for s in stages.STAGE_ORDER}
    # the same evidence as the published run: the same scores and the same 通报
    for rel in ("scores/unit_scores.csv", "scores/line_items.csv", "scores/scores.xlsx", "validation/results.json", "evidence/events.parquet"):
        assert (draft / rel).read_bytes() == (published_small / rel).read_bytes(), rel
    note = next((draft / "reports").glob("通报*.docx")).name
    assert (draft / "reports" / note).read_bytes() == (published_small / "reports" / note).read_bytes()
    assert not (draft / "manifest.json").exists()

    # the draft is never last year's bundle: a 2024 run finds no 2023
    p2024 = stages.RunParams(county="demo", year=2024, framework=FW, raw_dir=str(FIXTURE), out_dir=str(out))
    assert stages.previous_scores(p2024) is None
    _, _, status = stages.comparison_with_previous(p2024, stages.load_results(stages.RunParams(
        county="demo", year=2023, framework=FW, raw_dir="", out_dir=str(out), bundle_dir=str(draft))).unit_scores)
    assert status["used"] is False and "没有 2023 的运行包" in status["reason"]


def test_a_draft_is_neither_verified_nor_combined(site, tmp_path, capsys):
    draft = tmp_path / "demo" / "2023.draft"
    shutil.copytree(site["published"], draft, ignore=shutil.ignore_patterns("manifest.json*"))
    (draft / stages.DRAFT_FILE).write_text(json.dumps({"draft": True, "published": False, "stages": {}}), encoding="utf-8")
    v = verify.verify(draft)
    assert not v.ok and v.differences[0].startswith("这是草稿运行包") and "only assessment run publishes" in v.differences[0]
    assert cli.main(["verify", str(draft)]) == 1
    assert "这是草稿运行包" in capsys.readouterr().out
    # even a draft folder that somehow holds a manifest is not a component
    shutil.copy(site["published"] / "manifest.json", draft / "manifest.json")
    spec = {"id": "demo-2023-combined", "title": "演示综合考评", "jurisdiction": "泗洪县", "county": "demo", "year": 2023,
            "components": [{"id": "draft", "title": "草稿", "weight": 0.5, "bundle": str(draft)},
                           {"id": "published", "title": "已发布", "weight": 0.5, "bundle": str(site["published"])}]}
    comb = tmp_path / "combination.yaml"
    comb.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    assert cli.main(["combine", str(comb), "--out", str(tmp_path / "combined")]) == 2
    err = capsys.readouterr()
    assert "组成部分是草稿运行包" in err.out + err.err
    assert not (tmp_path / "combined").exists() or not any((tmp_path / "combined").rglob("manifest.json"))


def test_a_later_stage_by_hand_says_which_notebook_to_run_first(tmp_path):
    """Neither draft nor published results: 02 asks for 01. A draft whose evidence is new but not yet
    validated: 03 asks for 02 (it never scores the new evidence with the published validation)."""
    p = stages.RunParams(county="demo", year=2023, framework=FW, raw_dir=str(FIXTURE), out_dir=str(tmp_path / "out"))
    with pytest.raises(stages.DraftIncomplete, match="请先手动运行 01_ingest"):
        stages.open_bundle(p, "validate")
    hand, shown = stages.open_bundle(p, "ingest")
    assert hand.bundle == p.draft and hand.bundle_dir and "草稿运行包" in shown
    stages.ingest(hand)
    with pytest.raises(stages.DraftIncomplete, match="请先手动运行 02_validate"):
        stages.open_bundle(p, "score")
    # a rerun of a stage drops the draft's later results, which came from the old inputs
    hand, _ = stages.open_bundle(p, "validate")
    stages.validate(hand)
    assert (p.draft / "validation" / "results.json").is_file()
    stages.open_bundle(p, "ingest")
    assert not (p.draft / "validation").exists() and not (p.draft / "evidence").exists()
    assert json.loads((p.draft / stages.DRAFT_FILE).read_text(encoding="utf-8"))["stages"] == {}


def test_a_run_of_assessment_run_shows_no_draft_and_no_path(published_small):
    """The pipeline passes bundle_dir: its executed notebooks keep the path-free heading, no draft is made."""
    for name in NOTEBOOKS:
        nb = nbformat.read(published_small / "notebooks" / f"{name}.ipynb", as_version=4)
        assert first_output(nb) == "**sihong 2023**，框架 `sihong-new-media-2023`", name
    assert not (published_small.parent / "2023.draft").exists()
    assert not list(published_small.rglob(stages.DRAFT_FILE)) and not stages.is_draft(published_small)


def test_drafts_are_ignored_by_git():
    root = Path(pipeline.notebooks_dir()).parent
    paths = ["data/processed/demo/2023.draft/draft.json", "data/processed/demo/2023Q3.draft/scores/unit_scores.csv"]
    done = subprocess.run(["git", "check-ignore", *paths], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == paths  # every path given is ignored


def test_jupyterlab_is_installed_and_runs_the_notebooks_in_this_venv():
    """`make install` puts JupyterLab in the venv; the notebooks' kernel (python3) is this interpreter."""
    from jupyter_client.manager import KernelManager

    done = subprocess.run([str(Path(sys.executable).parent / "jupyter"), "lab", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip().split(".")[0]) >= 4
    for name in NOTEBOOKS:
        assert nbformat.read(pipeline.notebooks_dir() / f"{name}.ipynb", as_version=4).metadata.kernelspec.name == "python3"
    assert Path(KernelManager(kernel_name="python3").format_kernel_cmd()[0]) == Path(sys.executable)


def test_a_hand_run_says_when_what_it_reads_is_out_of_date(published_small, tmp_path):
    """Evidence read before the delivered files changed, or copied from a bundle since republished, is
    named in bold in the first output, never read on in silence."""
    out, raw = tmp_path / "out", tmp_path / "raw"
    shutil.copytree(published_small.parent, out / "demo")
    shutil.copytree(FIXTURE, raw)
    p = stages.RunParams(county="demo", year=2023, framework=FW, raw_dir=str(raw), out_dir=str(out))

    _, note = stages.open_bundle(p, "score")  # evidence and validation copied from the published bundle
    assert "copied from the published bundle" in note and "⚠" not in note

    events = raw / "events.csv"
    events.write_bytes(events.read_bytes() + events.read_bytes().splitlines(keepends=True)[-1])
    _, note = stages.open_bundle(p, "score")  # now from the draft: read before the change
    assert "the draft's own" in note
    assert "⚠" in note and "events.csv" in note and "01_ingest" in note

    manifest = out / "demo" / "2023" / "manifest.json"
    manifest.write_text(manifest.read_text(encoding="utf-8") + "\n", encoding="utf-8")  # republished since
    _, note = stages.open_bundle(p, "score")
    assert "republished" in note and "2023.draft" in note

    shutil.copytree(FIXTURE, raw, dirs_exist_ok=True)  # the delivered files as they were read
    assert "01_ingest" not in stages.open_bundle(p, "score")[1]
