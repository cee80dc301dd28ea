"""The tamper corpus (issue 13): every kind of edit an outsider or an insider could make to a published
bundle, and `assessment verify` catching it, naming the file and, where it applies, the unit and row.

One real bundle is published per session (`published_small`: tests/fixtures/sihong_small, with a
2022 bundle beside it for the year comparison); each test edits a copy. verify regenerates the
whole bundle (a full papermill run) from the delivered evidence; a regeneration depends only on the
delivered files, the parameters and last year's bundle, so the tests reuse one regeneration per
distinct set of those (`cached_regeneration`), as a second identical run would give the same bytes
(tests/test_reproducibility.py holds that).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import docx
import openpyxl
import pandas as pd
import pytest
from bundles import run_bundle

from assessment import cli, csvio, evidence, frameworks, stages, verify

FIXTURE = Path(__file__).parent / "fixtures" / "sihong_small"
FW = "sihong-new-media-2023"
NOTICE_006 = "reports/notices/006-"  # unit 006 is vetoed (E025, V1) and has a notice
TONGBAO = f"reports/通报-{FW}.docx"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree_key(folder: Path | None) -> str:
    if folder is None or not folder.exists():
        return "-"
    return json.dumps(sorted((str(p.relative_to(folder)), _digest(p) if p.is_file() else "dir") for p in folder.rglob("*")))


@pytest.fixture(scope="session")
def regenerations(tmp_path_factory) -> dict:
    return {"root": tmp_path_factory.mktemp("regenerated"), "done": {}, "runs": 0}


@pytest.fixture(autouse=True)
def cached_regeneration(regenerations, monkeypatch):
    real = verify.regenerate

    def cached(params: dict, raw_dir: Path, previous: Path | None, work: Path) -> Path:
        key = json.dumps([sorted(params.items()), _tree_key(Path(raw_dir)), _tree_key(previous)], default=str)
        if key not in regenerations["done"]:
            regenerations["runs"] += 1
            regenerations["done"][key] = real(params, raw_dir, previous, regenerations["root"] / str(regenerations["runs"]))
        return regenerations["done"][key]

    monkeypatch.setattr(verify, "regenerate", cached)


@pytest.fixture
def b(published_small, tmp_path) -> Path:
    """A copy of the published bundle, its 2022 neighbour beside it."""
    shutil.copytree(published_small.parent, tmp_path / "out" / "sihong", symlinks=True)
    return tmp_path / "out" / "sihong" / "2023"


def check(bundle: Path, capsys, *extra: str) -> tuple[int, str]:
    code = cli.main(["verify", str(bundle), *extra])
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text
    return code, text


def rehash(bundle: Path, *, drop: tuple[str, ...] = ()) -> dict:
    """The insider's last step: the manifest's outputs made to match the files as they now are."""
    m = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    m["outputs"] = {p.relative_to(bundle).as_posix(): _digest(p) for p in sorted(bundle.rglob("*"))
                    if p.is_file() and p.name != "manifest.json"}
    for rel in drop:
        m["outputs"].pop(rel, None)
    (bundle / "manifest.json").write_text(json.dumps(m, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8")
    return m


def notice(bundle: Path) -> str:
    return next(p.relative_to(bundle).as_posix() for p in (bundle / "reports" / "notices").glob("006-*.docx"))


def edit_docx(path: Path, old: str, new: str) -> None:
    d = docx.Document(str(path))
    cells = [p for t in d.tables for row in t.rows for c in row.cells for p in c.paragraphs]
    for p in [*d.paragraphs, *cells]:
        for r in p.runs:
            if old in r.text:
                r.text = r.text.replace(old, new, 1)
                d.save(str(path))
                return
    raise AssertionError(f"{old!r} not in {path.name}")


# ---- the untouched bundle ---------------------------------------------------------------------

def test_the_untouched_bundle_regenerates_byte_for_byte(b, capsys):
    code, text = check(b, capsys)
    assert code == 0, text
    assert "一致 verified" in text
    v = verify.verify(b)
    regenerated = [c for c in v.checked if c.startswith("regenerated ")]
    for part in ("notebooks/01_ingest.ipynb", "notebooks/04_report.html", TONGBAO, "scores/unit_scores.csv", "evidence/events.parquet",
                 "validation/results.json", "evidence/raw/events.csv", "reports/与2022对比.csv"):
        assert f"regenerated {part}" in regenerated, part
    assert "required files" in v.checked


def test_the_delivered_files_are_in_the_bundle_verbatim(published_small):
    raw = published_small / "evidence" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(p.name for p in FIXTURE.iterdir())
    for p in FIXTURE.iterdir():
        assert _digest(raw / p.name) == _digest(p)
    inputs = json.loads((published_small / "evidence" / "inputs.json").read_text(encoding="utf-8"))
    assert inputs == {p.name: _digest(p) for p in FIXTURE.glob("*.csv")}
    nb = (published_small / "notebooks" / "01_ingest.ipynb").read_text(encoding="utf-8")
    assert str(FIXTURE) not in nb and 'raw_dir = \\"evidence/raw\\"' in nb  # the notebooks read the bundle's copy


def test_review_decisions_travel_with_the_evidence(tmp_path):
    """adjustments.csv (复核), read from the evidence folder, is copied as delivered like the tables."""
    from bundles import make_bundle

    raw = tmp_path / "raw"
    shutil.copytree(FIXTURE, raw)
    (raw / "adjustments.csv").write_text("unit_id,evidence_id,action,reason,approver,date\n001,E001,撤销,复核认定不实,张三,2024-01-10\n",
                                         encoding="utf-8")
    (raw / "说明.txt").write_text("不是证据表", encoding="utf-8")
    bundle = make_bundle(raw, tmp_path / "out")
    for name in ("adjustments.csv", "说明.txt", "events.csv"):
        assert (bundle / "evidence" / "raw" / name).read_bytes() == (raw / name).read_bytes(), name
    assert "adjustments.csv" in json.loads((bundle / "evidence" / "inputs.json").read_text(encoding="utf-8"))


# ---- single-file edits (the manifest left as it was) -------------------------------------------

def test_a_csv_cell(b, capsys):
    path = b / "scores" / "unit_scores.csv"
    us = csvio.read_csv(path, dtype={"unit_id": str})
    before = us.loc[us["unit_id"] == "001", "total"].iloc[0]
    us.loc[us["unit_id"] == "001", "total"] = before + 10
    csvio.write_csv(us, path)
    code, text = check(b, capsys)
    assert code == 1
    assert "scores/unit_scores.csv：内容与清单记录的哈希不符" in text
    assert f"scores/unit_scores.csv：001 total {before} → {before + 10}" in text


def test_a_line_item(b, capsys):
    path = b / "scores" / "line_items.csv"
    li = csvio.read_csv(path, dtype={"unit_id": str, "evidence_ids": str})
    i = li.index[(li["unit_id"] == "004") & (li["indicator"] == "A1")][0]
    li.loc[i, "points"] = 0.0
    csvio.write_csv(li, path)
    code, text = check(b, capsys)
    assert code == 1 and f"scores/line_items.csv：004 A1 {li.loc[i, 'rule']} points" in text


def test_a_parquet_row(b, capsys):
    path = b / "evidence" / "events.parquet"
    ev = pd.read_parquet(path)
    ev.loc[ev["event_id"] == "E001", "quantity"] = 25.0
    ev.to_parquet(path, index=False)
    code, text = check(b, capsys)
    assert code == 1 and "evidence/events.parquet：E001 quantity 20.0 → 25.0" in text


def test_a_notice_paragraph(b, capsys):
    rel = notice(b)
    edit_docx(b / rel, "龙集镇", "龙集镇（已整改）")
    code, text = check(b, capsys)
    assert code == 1 and f"{rel}：第 " in text and "已整改" in text


def test_the_tongbao(b, capsys):
    edit_docx(b / TONGBAO, "单项否决", "通报表扬")
    code, text = check(b, capsys)
    assert code == 1 and f"{TONGBAO}：内容与清单记录的哈希不符" in text and f"{TONGBAO}：第 " in text and "通报表扬" in text


def test_an_xlsx_cell(b, capsys):
    path = b / "reports" / f"考评结果-{FW}.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb[wb.sheetnames[0]]
    cell = next(c for row in ws.iter_rows() for c in row if isinstance(c.value, (int, float)) and not isinstance(c.value, bool))
    old, where = cell.value, f"{ws.title}!{cell.coordinate}"
    cell.value = old + 1
    wb.save(path)
    code, text = check(b, capsys)
    assert code == 1 and f"reports/考评结果-{FW}.xlsx：{where} " in text and f"→ {old + 1}" in text


def test_the_scores_workbook(b, capsys):
    path = b / "scores" / "scores.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb[wb.sheetnames[0]]
    ws["B2"] = "篡改"
    wb.save(path)
    code, text = check(b, capsys)
    assert code == 1 and f"scores/scores.xlsx：{ws.title}!B2 " in text and "→ 篡改" in text


def test_a_validation_json(b, capsys):
    path = b / "validation" / "results.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["warnings"] = int(data.get("warnings", 0)) + 3
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    code, text = check(b, capsys)
    assert code == 1 and "validation/results.json：" in text and "hash differs" in text


def test_an_executed_notebook(b, capsys):
    path = b / "notebooks" / "03_score.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and c.get("outputs"))
    nb["cells"][cell]["outputs"] = []
    path.write_text(json.dumps(nb, ensure_ascii=False, indent=1), encoding="utf-8")
    code, text = check(b, capsys)
    assert code == 1 and f"notebooks/03_score.ipynb：单元格 {cell + 1}（cell {cell + 1}）输出 outputs" in text


def test_an_html_export(b, capsys):
    path = b / "notebooks" / "04_report.html"
    path.write_text(path.read_text(encoding="utf-8").replace("通报", "通知", 1), encoding="utf-8")
    code, text = check(b, capsys)
    assert code == 1 and "notebooks/04_report.html：第 " in text and "通知" in text


def test_a_chart(b, capsys):
    path = b / "reports" / "charts" / "等次分布.png"
    path.write_bytes(path.read_bytes() + b"\0")
    code, text = check(b, capsys)
    assert code == 1 and "reports/charts/等次分布.png：内容不同（differs）" in text


def test_a_delivered_file(b, capsys):
    path = b / "evidence" / "raw" / "events.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("E001,001,B3,2023-03-01,20", "E001,001,B3,2023-03-01,2"), encoding="utf-8")
    code, text = check(b, capsys)
    assert code == 1
    assert "evidence/raw/events.csv：内容与清单记录的哈希不符" in text
    assert "evidence/raw/events.csv：与 evidence/inputs.json 记录的读取时哈希不同" in text
    assert "evidence/events.parquet：E001 quantity 2.0 → 20.0" in text  # the tidy table no longer follows from what was delivered


# ---- consistent insider edits (the manifest rehashed) --------------------------------------------

def test_insider_tongbao_and_manifest(b, capsys):
    edit_docx(b / TONGBAO, "单项否决", "通报表扬")
    rehash(b)
    code, text = check(b, capsys)
    assert code == 1 and "hash differs" not in text
    assert f"{TONGBAO}：第 " in text and "通报表扬" in text


def test_insider_veto_removed_scores_recomputed(b, capsys):
    """E025 (006, V1) removed from events.parquet, the scores recomputed from it, the manifest rehashed:
    006 then has a total, while the delivered events.csv and the 通报 still say 单项否决."""
    p = stages.RunParams(county="sihong", year=2023, framework=FW, raw_dir="", out_dir=str(b.parent.parent), bundle_dir=str(b))
    ev = stages.load_evidence(p)
    ev.events = ev.events[ev.events["event_id"] != "E025"].reset_index(drop=True)
    evidence.write_parquet(ev, b / "evidence")
    fw = frameworks.load(FW)
    res, _ = stages.compute(fw, ev, stages._period(fw, p), None)
    stages.write_scores(res, b / "scores")
    total = res.unit_scores.set_index("unit_id").loc["006", "total"]
    rehash(b)
    code, text = check(b, capsys)
    assert code == 1 and "hash differs" not in text
    assert "evidence/events.parquet：E025：发布的表中缺少这一行" in text
    assert f"scores/unit_scores.csv：006 total 空 → {total}" in text
    assert "scores/unit_scores.csv：006 vetoed True → False" in text


def test_insider_scores_and_a_notice_deleted_with_their_entries(b, capsys):
    rel = notice(b)
    for part in ("scores/unit_scores.csv", "scores/line_items.csv", rel):
        (b / part).unlink()
    rehash(b)
    code, text = check(b, capsys)
    assert code == 1
    for part in ("scores/unit_scores.csv", "scores/line_items.csv", rel):
        assert f"{part}：文件缺失" in text, part


def test_an_added_file_with_its_entry(b, capsys):
    (b / "reports" / "notices" / "999-虚构单位.docx").write_bytes((b / notice(b)).read_bytes())
    rehash(b)
    code, text = check(b, capsys)
    assert code == 1 and "reports/notices/999-虚构单位.docx：重新生成的运行包中没有这个文件" in text


def _edit_manifest(b: Path, change) -> None:
    m = json.loads((b / "manifest.json").read_text(encoding="utf-8"))
    change(m)
    (b / "manifest.json").write_text(json.dumps(m, ensure_ascii=False, indent=2), encoding="utf-8")


def test_insider_git_commit(b, capsys):
    _edit_manifest(b, lambda m: m.update(git_commit="0" * 40))
    code, text = check(b, capsys)
    assert code == 1 and "manifest.json git_commit" in text


def test_insider_versions(b, capsys):
    _edit_manifest(b, lambda m: m["versions"].update(pandas="0.1"))
    code, text = check(b, capsys)
    assert code == 1 and "manifest.json versions pandas" in text and "0.1" in text


def test_insider_times(b, capsys):
    _edit_manifest(b, lambda m: m.update(started="2024-02-01T10:00:00+08:00", finished="2024-01-01T10:00:00+08:00"))
    code, text = check(b, capsys)
    assert code == 1 and "finished 早于 started" in text


def test_insider_year(b, capsys):
    _edit_manifest(b, lambda m: m["parameters"].update(year=2022))
    code, text = check(b, capsys)
    assert code == 1 and "无法重新生成运行包" in text and "2022" in text


def test_insider_input_hashes(b, capsys):
    _edit_manifest(b, lambda m: m["inputs"].update({"events.csv": "0" * 64}))
    code, text = check(b, capsys)
    assert code == 1 and "manifest.json inputs events.csv" in text


def test_insider_deletes_the_delivered_evidence(b, capsys):
    """With evidence/raw gone nothing can be regenerated; the files a bundle must hold still are named."""
    shutil.rmtree(b / "evidence" / "raw")
    rehash(b)
    code, text = check(b, capsys)
    assert code == 1 and "运行包中没有交付的证据文件" in text
    assert "evidence/raw/events.csv：文件缺失，此框架和考核期的运行包必须有这个文件" in text


def test_last_years_bundle_changed_since_the_run(b, capsys):
    """The comparison annex is regenerated from the 2022 bundle beside: changed (consistently), the documents differ."""
    prev = b.parent / "2022"
    us = csvio.read_csv(prev / "scores" / "unit_scores.csv", dtype={"unit_id": str})
    us.loc[us["unit_id"] == "001", "total"] = 12.5
    path = csvio.write_csv(us, prev / "scores" / "unit_scores.csv")
    (prev / "manifest.json").write_text(json.dumps({"outputs": {"scores/unit_scores.csv": _digest(path)}}), encoding="utf-8")
    code, text = check(b, capsys)
    assert code == 1 and "reports/与2022对比.csv：001 " in text and "→" in text


def test_a_bundle_rebuilt_from_edited_evidence_against_the_archive(tmp_path, capsys):
    """An insider reruns the whole assessment from edited evidence: the bundle is consistent in itself
    (verify passes), and only the office's archive of the delivered files (--raw) shows it."""
    raw = tmp_path / "edited"
    shutil.copytree(FIXTURE, raw)
    text = (raw / "events.csv").read_text(encoding="utf-8")
    (raw / "events.csv").write_text("\n".join(line for line in text.splitlines() if not line.startswith("E025,")) + "\n", encoding="utf-8")
    bundle = run_bundle(raw, tmp_path / "out")
    code, out = check(bundle, capsys)
    assert code == 0, out
    archive = tmp_path / "archive"
    shutil.copytree(FIXTURE, archive)
    (archive / "说明.txt").write_text("归档说明", encoding="utf-8")
    code, out = check(bundle, capsys, "--raw", str(archive))
    assert code == 1
    assert "evidence/raw/events.csv：与归档 --raw 中的交付文件不同" in out
    assert "evidence/raw/说明.txt：运行包中没有归档中的这个交付文件" in out
    assert "scores/unit_scores.csv：006 total " in out  # regenerated from the archive: 006 vetoed there


def test_the_archive_matches(b, capsys):
    code, text = check(b, capsys, "--raw", str(FIXTURE))
    assert code == 0, text


# ---- hostile manifests (beyond tests/test_verify_hostile.py) --------------------------------------

HOSTILE = {
    "etc_hostname": lambda m, b: m["outputs"].update({"../../etc/hostname": "0" * 64}),
    "inputs_list": lambda m, b: m.update(inputs=["events.csv"]),
    "git_commit_number": lambda m, b: m.update(git_commit=42),
    "versions_list": lambda m, b: m.update(versions=["pandas"]),
    "started_not_a_time": lambda m, b: m.update(started="yesterday"),
    "finished_without_zone": lambda m, b: m.update(finished="2024-01-01T10:00:00"),
    "no_events_text": lambda m, b: m["parameters"].update(no_events="yes"),
    "framework_mismatch": lambda m, b: m["parameters"].update(framework="other-framework-2023"),
    "stage_seconds_text": lambda m, b: m.update(stage_seconds={"ingest": "fast"}),
    "year_abc": lambda m, b: m["parameters"].update(year="abc"),
    "outputs_list": lambda m, b: m.update(outputs=list(m["outputs"])),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_manifest(name, b, capsys):
    _edit_manifest(b, lambda m: HOSTILE[name](m, b))
    code, text = check(b, capsys)
    assert code == 1 and "manifest.json" in text and "（" in text, text


def test_a_huge_manifest(b, capsys):
    with open(b / "manifest.json", "ab") as f:
        f.truncate(verify.MANIFEST_MAX_BYTES + 1)
    code, text = check(b, capsys)
    assert code == 1 and "manifest.json 过大" in text


def test_a_linked_manifest(b, capsys, tmp_path):
    outside = tmp_path / "manifest.json"
    shutil.move(b / "manifest.json", outside)
    os.symlink(outside, b / "manifest.json")
    code, text = check(b, capsys)
    assert code == 1 and "manifest.json" in text


def test_linked_delivered_evidence_is_not_read(b, capsys, tmp_path):
    shutil.move(b / "evidence" / "raw", tmp_path / "raw")
    os.symlink(tmp_path / "raw", b / "evidence" / "raw")
    code, text = check(b, capsys)
    assert code == 1 and "evidence/raw" in text and "链接" in text and "regenerated" not in " ".join(verify.verify(b).checked)


def test_required_files_follow_the_notices_and_stages(published_small):
    fw = frameworks.load(FW)
    p = stages.RunParams(county="sihong", year=2023, framework=FW, raw_dir="", out_dir="", bundle_dir=str(published_small))
    res = stages.load_results(p)
    inputs = json.loads((published_small / "evidence" / "inputs.json").read_text(encoding="utf-8"))
    needed = verify.required_files(fw, p, res.unit_scores, res.line_items, inputs)
    made = {q.relative_to(published_small).as_posix() for q in published_small.rglob("*") if q.is_file()}
    assert set(needed) <= made
    assert any(n.startswith(NOTICE_006) for n in needed) and "notebooks/04_report.html" in needed
    notices = {n for n in made if n.startswith("reports/notices/")}
    assert notices == {n for n in needed if n.startswith("reports/notices/")}
