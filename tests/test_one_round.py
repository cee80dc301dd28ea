"""Issue 11: an office fixes its spreadsheet in one round. Reading problems (a date that does not
exist) and validation problems (a unit not in the units table, a date outside the period) of the
same file come in one message list, from one `assessment validate`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_reading_and_validation_problems_in_one_round(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(ROOT / "data" / "raw" / "demo" / "2023", raw)
    lines = (raw / "events.csv").read_text(encoding="utf-8").splitlines()
    head = lines[0].split(",")
    d, u = head.index("date"), head.index("unit_id")

    def edit(i: int, col: int, value: str) -> None:
        cells = lines[i].split(",")
        cells[col] = value
        lines[i] = ",".join(cells)

    edit(1, d, "2023-13-45")   # reading: no such day
    edit(2, u, "9999")         # validation: unknown unit
    edit(3, d, "2022-05-01")   # validation: outside the period
    (raw / "events.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "assessment.cli", "validate", "--county", "demo", "--year", "2023",
                           "--framework", "sihong-new-media-2023", "--raw", str(raw), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr
    assert "第 2 行" in err and "2023-13-45" in err
    assert "第 3 行" in err and "“9999”" in err and "不在单位表中" in err
    assert "第 4 行" in err and "不在考核期" in err
    assert err.count("第 2 行") == 1  # the bad date is not reported again as a missing or out-of-period date
    assert "Traceback" not in err
    assert not (tmp_path / "out" / "demo" / "2023").exists()
