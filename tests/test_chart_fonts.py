"""Charts never lose Chinese (issue 12 §7): a matplotlib font cache built before the CJK fonts were
installed (a fresh HOME, `make demo` before `make test`) is repaired; with no CJK font at all the
charts are refused with a message naming what to install, never drawn as empty boxes.

Each case runs in a subprocess with its own HOME and MPLCONFIGDIR, so the test's own matplotlib and
the user's cache are untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# A cache "from before the fonts": matplotlib's own list with every CJK face removed, written where a
# fresh HOME's matplotlib reads it (MPLCONFIGDIR), as it would be had fonts-noto-cjk not been installed.
STALE_CACHE = """
import json, matplotlib
from pathlib import Path
from matplotlib import font_manager as fm
fm.fontManager.ttflist = [f for f in fm.fontManager.ttflist if "CJK" not in f.name and "CJK" not in f.fname]
path = Path(matplotlib.get_cachedir()) / f"fontlist-v{fm.FontManager.__version__}.json"
fm.json_dump(fm.fontManager, path)
print(json.dumps({"cache": str(path), "cjk": sum("CJK" in f.name for f in fm.json_load(path).ttflist)}))
"""

# Draw both charts of a real framework, recording every warning and the font file the labels used.
DRAW = """
import json, warnings
import pandas as pd
from matplotlib import font_manager as fm
from assessment import frameworks
from assessment.documents import charts, load_office
{setup}
before = charts._known_cjk_family()
fw = frameworks.load("sihong-new-media-2023")
grades = [g.name for g in fw.grades]
us = pd.DataFrame({{"unit_id": ["1", "2", "3"], "unit_name": ["城头乡", "县教育局", "龙集镇"],
                   "unit_group": [fw.unit_groups[0], fw.unit_groups[-1], fw.unit_groups[0]],
                   "total": [95.0, 82.5, 70.0], "grade": [grades[0], grades[1], grades[2]], "rank": [1, 2, 3],
                   "vetoed": [False, False, False]}})
out = {{"before": before}}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    try:
        pngs = charts.chart_pngs(fw, us, load_office())
        out["pngs"] = sorted(pngs)
        out["family"] = charts.ensure_cjk_font()
        out["file"] = fm.findfont(fm.FontProperties(family=charts.rc()["font.sans-serif"]))
    except charts.ChartFontMissing as exc:
        out["refused"] = str(exc)
out["warnings"] = [str(w.message) for w in caught]
print(json.dumps(out, ensure_ascii=False))
"""


def fresh_home(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPL", "FONTCONFIG"))}
    env.update(HOME=str(tmp / "home"), MPLCONFIGDIR=str(tmp / "home" / ".config" / "matplotlib"),
               XDG_CACHE_HOME=str(tmp / "home" / ".cache"), PYTHONPATH=str(SRC), **extra)
    (tmp / "home").mkdir(exist_ok=True)
    return env


def py(code: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def glyph_warnings(messages: list[str]) -> list[str]:
    return [m for m in messages if "missing from font" in m or "Glyph" in m]


@pytest.fixture
def stale_home(tmp_path) -> dict[str, str]:
    env = fresh_home(tmp_path)
    made = py(STALE_CACHE, env)
    assert made["cjk"] == 0 and Path(made["cache"]).is_file()
    return env


def test_a_cache_from_before_the_fonts_is_repaired_and_the_charts_draw_chinese(stale_home):
    drawn = py(DRAW.format(setup=""), stale_home)
    assert drawn["before"] is None  # the process really started from the stale cache
    assert drawn["pngs"] == ["各类别得分.png", "等次分布.png"]
    assert drawn["family"] in ("Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "SimHei", "WenQuanYi Zen Hei")
    assert "CJK" in drawn["file"] or "wqy" in drawn["file"].lower() or "msyh" in drawn["file"].lower()
    assert not glyph_warnings(drawn["warnings"]), drawn["warnings"]
    # the repaired list was written back: the next process knows the font from the start
    again = py(DRAW.format(setup=""), stale_home)
    assert again["before"] == drawn["family"] and not glyph_warnings(again["warnings"])


def test_fonts_found_through_fontconfig_alone(stale_home, tmp_path):
    """With no known folder to search, `fc-list :lang=zh` still finds the installed fonts."""
    drawn = py(DRAW.format(setup="charts.FONT_DIRS = []; charts._fontconfig_dirs = lambda: []"), stale_home)
    assert drawn["before"] is None and drawn.get("family") and not glyph_warnings(drawn["warnings"])


def test_fonts_found_in_folders_when_fontconfig_sees_none(tmp_path):
    """fontconfig configured with no font folder (or absent): the usual folders are searched."""
    conf = tmp_path / "empty-fonts.conf"
    conf.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig><cachedir>'
                    f"{tmp_path}/fc-cache</cachedir></fontconfig>\n", encoding="utf-8")
    env = fresh_home(tmp_path)
    py(STALE_CACHE, env)
    env["FONTCONFIG_FILE"] = str(conf)
    listed = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, env=env).stdout
    assert "CJK" not in listed  # fontconfig really sees nothing
    drawn = py(DRAW.format(setup=""), env)
    assert drawn["before"] is None and drawn.get("family") and not glyph_warnings(drawn["warnings"])


def test_no_cjk_font_anywhere_stops_with_what_to_install(tmp_path):
    conf = tmp_path / "empty-fonts.conf"
    conf.write_text(f'<?xml version="1.0"?>\n<fontconfig><cachedir>{tmp_path}/fc-cache</cachedir></fontconfig>\n', encoding="utf-8")
    env = fresh_home(tmp_path)
    py(STALE_CACHE, env)
    env["FONTCONFIG_FILE"] = str(conf)
    drawn = py(DRAW.format(setup="charts.FONT_DIRS = []; charts._fontconfig_dirs = lambda: []"), env)
    message = drawn["refused"]
    assert "pngs" not in drawn  # nothing drawn
    assert "未找到中文字体" in message and "no CJK font found" in message
    assert "make system-deps" in message and "fonts-noto-cjk" in message


def test_makefile_installs_the_fonts_before_the_demo_builds_anything():
    """`make demo` and `make test` each install the CJK fonts first, so either can come first in a fresh clone."""
    text = (SRC.parent / "Makefile").read_text(encoding="utf-8")
    rules = {line.split(":", 1)[0]: line.split(":", 1)[1].split() for line in text.splitlines()
             if line and not line.startswith(("\t", "#", " ", ".")) and ":" in line and "=" not in line.split(":", 1)[0]}
    assert rules["demo"][0] == "fonts" and rules["test"][0] == "system-deps"
    assert "fonts" in rules["system-deps"]
    fonts_recipe = text.split("\nfonts:", 1)[1].split("\n\n", 1)[0]
    assert "fonts-noto-cjk" in fonts_recipe and "fc-list" in fonts_recipe
