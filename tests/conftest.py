"""Small builders for hand-checkable frameworks and evidence."""

from __future__ import annotations

import os

import pandas as pd
import pytest

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

from assessment.evidence import Evidence
from assessment.frameworks import Framework

EVENT_COLUMNS = ["event_id", "unit_id", "indicator", "date", "quantity", "level", "done_date", "source", "note"]


def make_framework(indicators: list[dict], **overrides) -> Framework:
    data = {
        "id": "test-fw", "title": "测试框架", "jurisdiction": "测试县", "year": 2023,
        "source": {"file": "test", "section": "test"}, "unit_groups": ["乡镇街道", "县直部门"],
        "grades": [{"name": "优秀", "min": 90}, {"name": "良好", "min": 80}, {"name": "合格", "min": 60}, {"name": "不合格"}],
        "indicators": indicators,
    }
    data.update(overrides)
    return Framework.model_validate(data)


def make_evidence(units: list[tuple], events: list[dict] | None = None, facts: list[tuple] | None = None) -> Evidence:
    """units: (id, name, group); events: dicts with at least event_id, unit_id, indicator, date; facts: (unit, indicator, value)."""
    u = pd.DataFrame(units, columns=["unit_id", "unit_name", "unit_group"]).astype(object)
    u["record_id"] = u["unit_id"]
    rows = []
    for i, e in enumerate(events or []):
        row = {"quantity": 1.0, "level": None, "done_date": None, "source": None, "note": None} | e
        rows.append(row)
    ev = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    ev["date"] = pd.to_datetime(ev["date"])
    ev["done_date"] = pd.to_datetime(ev["done_date"])
    ev["quantity"] = ev["quantity"].astype(float)
    for c in ("event_id", "unit_id", "indicator", "level", "source", "note"):
        ev[c] = ev[c].astype(object)
    ev["record_id"] = ev["event_id"]
    f = pd.DataFrame(facts or [], columns=["unit_id", "indicator", "value"]).astype(object)
    f["note"] = None
    f["record_id"] = [f"facts!{i + 2}" for i in range(len(f))]
    for df, name in ((u, "units.csv"), (ev, "events.csv"), (f, "facts.csv")):
        df["_file"] = name
        df["_sheet"] = None
        df["_row"] = range(2, len(df) + 2)
    return Evidence(units=u, events=ev, facts=f)


@pytest.fixture
def fw_builder():
    return make_framework


@pytest.fixture
def ev_builder():
    return make_evidence


@pytest.fixture(scope="session")
def published_small(tmp_path_factory):
    """One real published run of tests/fixtures/sihong_small, with a 2022 bundle beside it (the year
    comparison annex), for the session: tests copy `<out>/sihong` before they change anything."""
    from pathlib import Path

    from bundles import lay_previous, run_bundle

    raw = Path(__file__).parent / "fixtures" / "sihong_small"
    out = tmp_path_factory.mktemp("published") / "out"
    lay_previous(out, raw)
    return run_bundle(raw, out)
