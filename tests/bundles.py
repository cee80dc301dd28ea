"""Build published-looking bundles in-process (the stage functions without notebooks), for tests
of what reads bundles: what-if, verify, combinations, year comparison."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from assessment import frameworks, pipeline, stages


def make_bundle(raw: Path, out: Path, county: str = "sihong", year: int = 2023, framework: str = "sihong-new-media-2023",
                period: str | None = None, report: bool = False) -> Path:
    """ingest → validate → score (→ report) into <out>/<county>/<year>, plus its manifest."""
    p = stages.RunParams(county=county, year=year, framework=framework, raw_dir=str(raw), out_dir=str(out), period=period)
    bundle = p.bundle
    shutil.rmtree(bundle, ignore_errors=True)
    stages.ingest(p)
    stages.validate(p)
    stages.score(p)
    if report:
        stages.report(p)
    pipeline.write_manifest(bundle, p, frameworks.load(framework), dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), {})
    return bundle


def run_bundle(raw: Path, out: Path, county: str = "sihong", year: int = 2023, framework: str = "sihong-new-media-2023",
               period: str | None = None) -> Path:
    """A real `assessment run` (papermill notebooks, documents, HTML, manifest) published under <out>: what `verify` regenerates."""
    return pipeline.run(pipeline.resolve(county, year, framework, raw, out, period)).bundle


def lay_previous(out: Path, raw: Path, county: str = "sihong", slot: str = "2022", framework: str = "sihong-new-media-2023",
                 shift: float = -5.0) -> Path:
    """Last year's bundle beside this year's, as the year comparison reads it: its unit_scores.csv (this year's
    scores of `raw`, every total `shift` points off) and a manifest recording that file's hash."""
    import json

    from assessment import csvio, evidence, scoring

    prev = out / county / slot
    (prev / "scores").mkdir(parents=True, exist_ok=True)
    us = scoring.score(frameworks.load(framework), evidence.read(raw)).unit_scores
    us["total"] = us["total"] + shift
    path = csvio.write_csv(us, prev / "scores" / "unit_scores.csv")
    (prev / "manifest.json").write_text(json.dumps({"outputs": {"scores/unit_scores.csv": evidence.sha256_file(path)}}), encoding="utf-8")
    return prev
