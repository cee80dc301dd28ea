"""Hardening (issue 5): the bad-evidence corpus, hostile parameters and hostile values.

Corpus: every case of `bad_evidence.CASES` (the valid fixture with one defect) goes through the real
command line — most through `assessment run` (the publish path), a handful through `assessment
validate` — against an out dir where a good bundle was published first. Each refusal must exit 2,
print no traceback, name the file, sheet, row, column and value in Chinese with English beside it,
and leave the published bundle byte for byte as it was, with no staging leftovers. Accepted cases
(serial dates, dates as text, full-width digits, stray spaces) exit 0 and list their warning.

The cases run two at a time in two worker processes, each against its own published county (two
cores; a county-year takes one run at a time); a worker calls `cli.main` itself, saving a Python
start and the package's imports per case, while a handful of cases run as real `assessment`
processes (`bad_evidence.REAL_CLI`). The published bundle is made
from hostile but valid evidence: unit names that look like formulas, a note that looks like code,
an evidence folder whose name tries to break out of a papermill parameter. What the bundle holds
must be plain text: no formula cell in any workbook written, no file created by the "code".
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from assessment import csvio, frameworks, pipeline, stages
from bad_evidence import BOMB_MB, CASES, CJK, FIXTURE, FW, SJIS_NAME, Case, build
from bad_evidence.runner import Result, run_cases, tree_hashes

COUNTIES = ("sihong", "sihong-b")  # one published bundle per worker
PWNED = Path("/tmp") / f"assessment-pwned-{uuid.uuid4().hex}"  # what the hostile "code" would create
CODE = f"__import__('os').system('touch {PWNED}')"
# an evidence folder name that would close papermill's string literal and run code, were values pasted in as code
HOSTILE_DIR = 'raw"\n__import__("os").system("touch "+chr(47).join(["", "tmp", "' + PWNED.name + '"]))\n#'
FORMULA_NAMES = {"001": '=HYPERLINK("http://example.invalid","点我")', "002": "@SUM(1)", "003": "+1+1", "004": "-1-1"}


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assessment.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def hostile_raw(root: Path) -> Path:
    """The fixture with formula-looking unit names and a code-looking note, in a folder with a hostile name."""
    raw = root / HOSTILE_DIR
    shutil.copytree(FIXTURE, raw)
    units = pd.read_csv(raw / "units.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    units["单位名称"] = [FORMULA_NAMES.get(u, n) for u, n in zip(units["单位编码"], units["单位名称"])]
    units.loc[units["单位编码"] == "005", "单位名称"] = CODE
    units.to_csv(raw / "units.csv", index=False, encoding="utf-8", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    events = pd.read_csv(raw / "events.csv", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    events.loc[events["event_id"] == "E005", "note"] = CODE
    events.loc[events["event_id"] == "E006", "note"] = "=1+1"
    events.to_csv(raw / "events.csv", index=False, encoding="utf-8", lineterminator="\n")
    return raw


@pytest.fixture(scope="module")
def published(tmp_path_factory) -> dict:
    """A good bundle published by a real run from the hostile-but-valid evidence, and its copy for the second worker.

    The copy (at sihong-b/2023) is there to be left alone: what the cases check is that no byte of
    a published folder changes, whoever wrote it; one real run costs the corpus less."""
    root = tmp_path_factory.mktemp("corpus")
    out = root / "out"
    raw = hostile_raw(root)
    done = cli("run", "--county", COUNTIES[0], "--year", "2023", "--framework", FW, "--raw", str(raw), "--out", str(out))
    assert done.returncode == 0, done.stderr
    for county in COUNTIES[1:]:
        shutil.copytree(out / COUNTIES[0] / "2023", out / county / "2023")
    return {"root": root, "out": out, "raw": raw, "hashes": {c: tree_hashes(out / c / "2023") for c in COUNTIES}}


COST = {"ingest": 1, "validate": 3}  # a Great Expectations kernel costs about three reader kernels


@pytest.fixture(scope="module")
def outcomes(published, request) -> dict[str, Result]:
    """Every selected case, two at a time: each worker process owns one county and checks its bundle after each case."""
    wanted = {item.callspec.params["case"].id for item in request.session.items
              if item.module is request.module and hasattr(item, "callspec") and "case" in item.callspec.params}
    shares: dict[str, list[str]] = {c: [] for c in COUNTIES}
    load = dict.fromkeys(COUNTIES, 0)
    for case in sorted((c for c in CASES if c.id in wanted), key=lambda c: -COST[c.stage if not c.accepted else "validate"]):
        county = min(load, key=load.get)  # the lighter worker takes the next (most costly first)
        shares[county].append(case.id)
        load[county] += COST[case.stage if not case.accepted else "validate"]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(len(COUNTIES), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_cases, county, ids, str(published["root"]), str(published["out"]), published["hashes"][county], FW)
                   for county, ids in shares.items() if ids]
        results = {r.case: r for f in futures for r in f.result()}
    wall = time.perf_counter() - t0
    refused = [r for r in results.values() if r.returncode == 2 and r.intact and not r.leftovers]
    accepted = [r for r in results.values() if r.returncode == 0 and r.intact and not r.leftovers]
    print(f"\ncorpus: {len(results)} cases tried ({sum(r.via == 'cli' for r in results.values())} as real CLI processes), "
          f"{len(refused)} refused cleanly, {len(accepted)} accepted with a warning, "
          f"{sum(not r.intact for r in results.values())} bundles lost; {wall:.0f} s wall")
    return results


# ---- what a message must say --------------------------------------------------------------

# Problem.render(): "错误：文件 F，工作表 S，第 R 行，列 C，值 “V”：<Chinese>（<English>） [rule]"
PLACE = re.compile(r"(?:错误|警告)：文件 .*?(?:，工作表 [^，：]*)?(?:，第 \d+ 行)?(?:，列 [^，：]*)?(?:，值 “[^”]*”)?：")
ENGLISH = re.compile(r"（[^（）]*[A-Za-z]{2,}\s+['\"(]?[A-Za-z]{2,}[^（）]*）")  # words, not a bare column name like （unit_id）


def names_the_place(line: str, w) -> list[str]:
    """What the line fails to name (empty when it names everything the case has)."""
    missing = []
    if not re.search(r"文件 \S*" + re.escape(w.file), line):
        missing.append(f"file {w.file}")
    if w.sheet and f"工作表 {w.sheet}" not in line:
        missing.append(f"sheet {w.sheet}")
    if w.row is not None and f"第 {w.row} 行" not in line:
        missing.append(f"row {w.row}")
    if w.column and not re.search(r"列 [^，：]*" + re.escape(w.column), line):
        missing.append(f"column {w.column}")
    if w.value is not None and not re.search("值 “[^”]*" + re.escape(w.value), line):
        missing.append(f"value {w.value}")
    if w.rule and f"[{w.rule}]" not in line:
        missing.append(f"rule {w.rule}")
    place = PLACE.match(line)
    if not place or not CJK.search(line[place.end():].split("（")[0]):
        missing.append("Chinese")
    if not ENGLISH.search(line):
        missing.append("English")
    return missing


def best_line(lines: list[str], w) -> tuple[str, list[str]]:
    scored = sorted(((names_the_place(l, w), l) for l in lines), key=lambda t: len(t[0]))
    return (scored[0][1], scored[0][0]) if scored else ("", ["no message at all"])


# ---- the corpus ---------------------------------------------------------------------------

def test_the_corpus_is_big_and_covers_the_issue():
    ids = {c.id for c in CASES}
    assert len([c for c in CASES if not c.accepted]) >= 30
    for need in ("missing-file", "missing-sheet", "missing-column", "misspelt-column", "unknown-unit", "unknown-indicator",
                 "unknown-unit-group", "unknown-level", "duplicate-unit-id", "duplicate-unit-name", "duplicate-event-id",
                 "impossible-date", "date-outside-period", "serial-date-csv", "serial-date-xlsx", "text-date-xlsx", "quantity-zero",
                 "quantity-negative", "quantity-fraction", "quantity-not-a-number", "full-width-digits", "stray-spaces",
                 "excel-ref-error", "excel-na-error", "excel-div0-error-csv", "formula", "merged-cells", "hidden-sheet", "empty-csv",
                 "empty-xlsx", "xlsx-named-csv", "csv-named-xlsx", "encoding-shift-jis", "encoding-utf16", "huge-file", "zip-bomb",
                 "done-date-before-date", "fact-value-not-yes-no"):
        assert need in ids, need
    assert sum(c.command == "run" for c in CASES) >= 5 and sum(c.command == "validate" for c in CASES) >= 5
    assert sum(c.via == "cli" and c.command == "run" for c in CASES) >= 5  # a handful through the real command


def test_the_encoding_case_really_is_neither_utf8_nor_gb18030(tmp_path):
    case = next(c for c in CASES if c.id == "encoding-shift-jis")
    data = build(case, tmp_path / "raw").joinpath("units.csv").read_bytes()
    assert SJIS_NAME.encode("shift_jis") in data
    for enc in ("utf-8", "gb18030"):
        with pytest.raises(UnicodeDecodeError):
            data.decode(enc)


def test_the_zip_bomb_is_small_on_disk_and_big_inflated(tmp_path):
    import zipfile

    case = next(c for c in CASES if c.id == "zip-bomb")
    path = build(case, tmp_path / "raw") / "evidence.xlsx"
    with zipfile.ZipFile(path) as z:
        inflated = sum(i.file_size for i in z.infolist())
    assert path.stat().st_size < 1024 * 1024 and inflated > BOMB_MB * 2**20  # > 24x the limit the test sets


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus_case(case: Case, outcomes: dict[str, Result]):
    o = outcomes[case.id]
    output = o.stdout + o.stderr
    assert "Traceback" not in output, output
    assert o.intact, f"{case.id}: the published bundle of {o.county} changed"
    assert not o.leftovers, f"{case.id}: left {o.leftovers}"
    if case.accepted:
        assert o.returncode == 0, output
        warnings = [l for l in o.stderr.splitlines() if l.startswith("警告：")]
        line, missing = best_line(warnings, case.where)
        assert not missing, f"{case.id}: the warning does not name {missing}:\n{line}\n---\n{output}"
        assert "证据有效 evidence is valid" in o.stdout
    else:
        assert o.returncode == 2, output
        errors = [l for l in o.stderr.splitlines() if l.startswith("错误：")]
        line, missing = best_line(errors, case.where)
        assert not missing, f"{case.id}: no message names {missing}:\n{line}\n---\n{output}"
        assert "未生成运行包" in o.stderr and "no bundle written" in o.stderr
        # the reader refuses before Great Expectations starts; meaning is checked by the validate stage
        assert ("校验证据" in o.stderr) == (case.stage == "validate"), o.stderr


def test_huge_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """Bounded memory: the size is checked on the file system; not one byte of the file is read."""
    from assessment import evidence
    from assessment.problems import EvidenceError

    raw = build(next(c for c in CASES if c.id == "huge-file"), tmp_path / "raw")
    monkeypatch.setenv("ASSESSMENT_MAX_FILE_MB", "1")
    real = Path.read_bytes

    def guarded(self: Path) -> bytes:
        assert self.name != "events.csv", "the huge file was read"
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", guarded)
    with pytest.raises(EvidenceError) as exc:
        evidence.read(raw)
    assert [p.rule for p in exc.value.problems] == ["size-limit"] and "ASSESSMENT_MAX_FILE_MB" in exc.value.render()


def test_a_damaged_workbook_is_refused_not_crashed(tmp_path):
    """A workbook whose sheet XML is cut short fails while rows are read (openpyxl reads lazily)."""
    import zipfile

    from assessment import evidence
    from assessment.problems import EvidenceError

    raw = build(next(c for c in CASES if c.id == "formula"), tmp_path / "raw")  # any workbook case
    path = raw / "evidence.xlsx"
    with zipfile.ZipFile(path) as z:
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    parts["xl/worksheets/sheet2.xml"] = parts["xl/worksheets/sheet2.xml"][:700]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    with pytest.raises(EvidenceError) as exc:
        evidence.read(raw)
    assert exc.value.problems[0].file == "evidence.xlsx" and exc.value.problems[0].rule == "file-type"


# ---- hostile values: plain text all the way ------------------------------------------------

def test_published_bundle_holds_hostile_values_as_plain_text(published):
    assert not PWNED.exists(), "evidence was evaluated as code"
    for county in COUNTIES[:1]:
        bundle = published["out"] / county / "2023"
        assert not list(bundle.rglob("pwned*")) and not list(bundle.rglob(PWNED.name))
        units = pd.read_parquet(bundle / "evidence" / "units.parquet").set_index("unit_id")["unit_name"]
        assert units["005"] == CODE and all(units[u] == n for u, n in FORMULA_NAMES.items())
        events = pd.read_parquet(bundle / "evidence" / "events.parquet").set_index("event_id")["note"]
        assert events["E005"] == CODE
        scores = csvio.read_csv(bundle / "scores" / "unit_scores.csv", dtype=str).set_index("unit_id")["unit_name"]
        assert scores["005"] == CODE and scores["001"] == FORMULA_NAMES["001"]  # exact once read back
        raw = pd.read_csv(bundle / "scores" / "unit_scores.csv", dtype=str, encoding="utf-8-sig").set_index("unit_id")["unit_name"]
        assert raw["001"] == "'" + FORMULA_NAMES["001"]  # as Excel sees it: text, not a live formula
        m = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
        assert m["parameters"]["raw_dir"] == str(published["raw"])  # the hostile folder name, as data


def test_no_workbook_the_run_writes_holds_a_formula(published):
    bundle = published["out"] / COUNTIES[0] / "2023"
    books = sorted(bundle.rglob("*.xlsx"))
    assert books, "the run wrote no workbook"
    seen = set()
    for book in books:
        wb = openpyxl.load_workbook(book)
        for ws in wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    assert cell.data_type != "f", f"{book.name}!{ws.title}!{cell.coordinate} is a formula: {cell.value!r}"
                    if isinstance(cell.value, str) and cell.value.startswith(("=", "+", "-", "@")):
                        seen.add(cell.value)
                        assert cell.quotePrefix, f"{book.name}!{ws.title}!{cell.coordinate} {cell.value!r} is not quote-prefixed"
    assert FORMULA_NAMES["001"] in seen and FORMULA_NAMES["002"] in seen


def test_executed_notebooks_carry_the_hostile_folder_as_a_string(published):
    """The hostile folder never reaches a notebook (they read the bundle's copy, evidence/raw); what papermill
    injects are plain string literals, and no code inside them ran."""
    import ast

    bundle = published["out"] / COUNTIES[0] / "2023"
    nb = json.loads((bundle / "notebooks" / "01_ingest.ipynb").read_text(encoding="utf-8"))
    injected = next(c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    tree = ast.parse("".join(injected["source"]))
    values = {t.targets[0].id: ast.literal_eval(t.value) for t in tree.body if isinstance(t, ast.Assign)}
    assert values["raw_dir"] == "evidence/raw" and str(published["raw"]) not in json.dumps(nb, ensure_ascii=False)
    assert all(isinstance(t, ast.Assign) for t in tree.body)  # assignments only: nothing is called
    assert not PWNED.exists()


def test_template_from_a_hostile_framework_has_no_formula(tmp_path):
    import yaml

    folder = tmp_path / "frameworks"
    folder.mkdir()
    data = yaml.safe_load((frameworks.frameworks_dir() / f"{FW}.yaml").read_text(encoding="utf-8"))
    leaf = data["indicators"][0]["children"][0]
    leaf["name"], leaf["basis"] = FORMULA_NAMES["001"], FORMULA_NAMES["002"]
    (folder / f"{FW}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    done = cli("template", "--framework", FW, "--out", str(tmp_path / "evidence.xlsx"), env={"ASSESSMENT_FRAMEWORKS": str(folder)})
    assert done.returncode == 0, done.stderr
    wb = openpyxl.load_workbook(tmp_path / "evidence.xlsx")
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    hostile = [c for c in cells if c.value in (FORMULA_NAMES["001"], FORMULA_NAMES["002"])]
    assert len(hostile) == 2 and all(c.quotePrefix and c.data_type == "s" for c in hostile)


# ---- hostile parameters: refused before anything runs --------------------------------------

@pytest.mark.parametrize("args, param", [
    (["--county", "/etc", "--year", "2023", "--framework", FW], "--county"),
    (["--county", "sihong/../../x", "--year", "2023", "--framework", FW], "--county"),
    (["--county", "..", "--year", "2023", "--framework", FW], "--county"),
    (["--county", "sihong", "--year", "../2023", "--framework", FW], "--year"),
    (["--county", "sihong", "--year", "2023", "--framework", "../x"], "--framework"),
    (["--county", "sihong", "--year", "2023", "--framework", "/etc/passwd"], "--framework"),
    (["--county", "sihong", "--year", "2023", "--framework", FW, "--period", f'2023"; import os; os.system("touch {PWNED}") #'], "--period"),
])
def test_hostile_parameters_are_refused_before_anything_runs(args, param, tmp_path):
    out = tmp_path / "out"
    done = cli("run", *args, "--raw", str(FIXTURE), "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert f"文件 {param}" in done.stderr
    assert not out.exists() and not PWNED.exists()


def test_framework_is_read_only_from_its_folder(tmp_path, monkeypatch):
    from assessment.problems import FrameworkError

    (tmp_path / "evil.yaml").write_text((frameworks.frameworks_dir() / f"{FW}.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    for fid in ("../evil", str(tmp_path / "evil"), "evil/../" + FW, "..", FW + ".yaml"):
        with pytest.raises(FrameworkError):
            frameworks.load(fid)
    monkeypatch.chdir(tmp_path)  # the working folder is not a frameworks folder either
    with pytest.raises(FrameworkError):
        frameworks.load("evil")


def test_papermill_passes_parameters_as_data_not_code(tmp_path):
    """Whatever a value holds, the injected cell only assigns it: no value is pasted in as code."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(pipeline.notebooks_dir() / "01_ingest.ipynb"))
    hostile = {"county": '"; import os; os.system("touch ' + str(PWNED) + '") #', "year": 2023, "framework": FW,
               "raw_dir": 'x"\nimport os\nos.system("touch ' + str(PWNED) + '")\n"', "out_dir": "\\\"'''\"\"\"",
               "period": f"{CODE}", "bundle_dir": "{__import__('os')}"}
    injected = next(c for c in parameterize_notebook(nb, hostile).cells if "injected-parameters" in c.metadata.get("tags", []))
    namespace: dict = {}
    exec(compile(injected.source, "injected", "exec"), {"__builtins__": {}}, namespace)  # no builtins: a call would fail
    assert namespace == hostile
    assert not PWNED.exists()
    # the pipeline hands papermill plain data: the run parameters are str, int or None, nothing else
    p = stages.RunParams(county="sihong", year=2023, framework=FW, raw_dir=str(FIXTURE), out_dir=str(tmp_path), period=None)
    assert all(v is None or isinstance(v, (str, int)) for v in p.to_dict().values())
