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
