"""Charts (PNG) with Chinese labels: grade distribution and scores per unit group.

Figures are drawn on the Agg canvas without pyplot, so nothing global changes and no window
opens; PNGs carry no software or time metadata, so the same scores give the same bytes.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from . import summary
from .office import context, fill
from .reproducible import write_bytes

CJK_FONTS = ["Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "SimHei", "WenQuanYi Zen Hei"]
RC = {
    "font.family": "sans-serif",
    "font.sans-serif": CJK_FONTS + ["DejaVu Sans"],
    "axes.unicode_minus": False,
    "svg.hashsalt": "assessment",
    "figure.dpi": 100,
}

# Where CJK font files are looked for when matplotlib's cache knows none (see ensure_cjk_font): the
# folders fontconfig and the usual packages use, and the file names of the fonts CJK_FONTS names.
FONT_DIRS = ["/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
             "/System/Library/Fonts", "/Library/Fonts", "C:/Windows/Fonts"]
FONT_FILES = re.compile(r"^(NotoSansCJK.*|SourceHanSans.*|msyh.*|simhei.*|wqy-zenhei.*)\.(ttc|otf|ttf)$", re.IGNORECASE)


class ChartFontMissing(RuntimeError):
    """No font with Chinese glyphs is installed: charts would show empty boxes, so none are drawn."""


def _known_cjk_family() -> str | None:
    """The first of CJK_FONTS that matplotlib knows and whose file is still there."""
    known = {f.name for f in font_manager.fontManager.ttflist if os.path.exists(f.fname)}
    return next((name for name in CJK_FONTS if name in known), None)


def _fontconfig_dirs() -> list[Path]:
    """The <dir> entries of templates/fonts.conf (the project's render-only font settings), if any."""
    try:
        from .office import templates_dir

        text = (templates_dir() / "fonts.conf").read_text(encoding="utf-8")
    except Exception:  # no templates folder: the other places are searched all the same
        return []
    return [Path(os.path.expanduser(d.strip())) for d in re.findall(r"<dir[^>]*>([^<]+)</dir>", text)]


def cjk_font_files() -> list[Path]:
    """CJK font files on this machine: what fontconfig lists for Chinese, and the known files in the
    usual font folders (fontconfig may be missing or point elsewhere). Sorted, so the choice is stable."""
    found: set[Path] = set()
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(["fc-list", ":lang=zh", "file", "family"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            path, _, families = line.partition(":")
            if any(name in families for name in CJK_FONTS) or FONT_FILES.match(Path(path.strip()).name):
                found.add(Path(path.strip()))
    for folder in [Path(os.path.expanduser(d)) for d in FONT_DIRS] + _fontconfig_dirs():
        if folder.is_dir():
            found.update(p for p in folder.rglob("*") if FONT_FILES.match(p.name) and p.is_file())
    return sorted(found)


def ensure_cjk_font() -> str:
    """The CJK family the charts draw with; raises ChartFontMissing (Chinese and English) when there is none.

    matplotlib scans the fonts once and caches the list in its config folder. A cache built before
    the CJK fonts were installed (a fresh HOME: `make demo` before `make test` installed fonts-noto-cjk)
    knows none of them, and every Chinese label is drawn as an empty box with only a warning. Here the
    font files are found and registered, and the cache is rewritten so the next process knows them too."""
    family = _known_cjk_family()
    if family:
        return family
    for path in cjk_font_files():
        try:
            font_manager.fontManager.addfont(path)
        except (OSError, RuntimeError, ValueError):
            continue  # an unreadable file: the next one may do
    family = _known_cjk_family()
    if family is None:
        raise ChartFontMissing(
            "未找到中文字体，图表中的汉字将显示为空白方框，因此停止生成报告；请安装 Noto CJK 字体："
            "make system-deps（或 apt-get install fonts-noto-cjk）后重新运行"
            f"（no CJK font found ({', '.join(CJK_FONTS)}): the charts would show empty boxes, so the report stage "
            "stops; install fonts-noto-cjk with `make system-deps` or `apt-get install fonts-noto-cjk`, then run again）")
    try:  # the next process reads the repaired list (best effort: a read-only cache folder is no error)
        cache = Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
        font_manager.json_dump(font_manager.fontManager, cache)
    except Exception:
        pass
    return family


def rc() -> dict:
    """RC with a CJK family known to be installed first (ensure_cjk_font)."""
    family = ensure_cjk_font()
    return {**RC, "font.sans-serif": [family] + [f for f in RC["font.sans-serif"] if f != family]}


COLOURS = ["#2E75B6", "#70AD47", "#FFC000", "#C00000", "#7F7F7F", "#5B9BD5"]


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buf, format="png", dpi=150, metadata={"Software": None}, bbox_inches="tight")
    return buf.getvalue()


def grade_chart(fw: Any, unit_scores: pd.DataFrame, office: dict, period: str | None = None) -> bytes:
    """Bars: units per grade, one bar per unit group within each grade."""
    cfg = office["charts"]
    ctx = context(fw, office, period, len(unit_scores))
    grades = [g.name for g in fw.grades]
    groups = summary.groups_of(fw, unit_scores)
    counts = pd.crosstab(unit_scores["grade"], unit_scores["unit_group"]).reindex(index=grades, columns=groups,
                                                                               fill_value=0)
    with matplotlib.rc_context(rc()):
        fig = Figure(figsize=(8, 4.5))
        ax = fig.add_subplot()
        x = np.arange(len(grades))
        width = 0.8 / max(len(groups), 1)
        for i, group in enumerate(groups):
            bars = ax.bar(x + (i - (len(groups) - 1) / 2) * width, counts[group].to_numpy(), width,
                          label=group, color=COLOURS[i % len(COLOURS)])
            ax.bar_label(bars, padding=2, fontsize=9)
        ax.set_xticks(x, grades)
        ax.set_ylabel(cfg["count_label"])
        ax.set_title(fill(cfg["grades_title"], ctx))
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.spines[["top", "right"]].set_visible(False)
        ax.margins(y=0.15)
        if len(groups) > 1:
            ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _png(fig)


def group_chart(fw: Any, unit_scores: pd.DataFrame, office: dict, period: str | None = None) -> bytes:
    """Box plot of totals per unit group, each unit a dot; vetoed units counted in the label."""
    cfg = office["charts"]
    ctx = context(fw, office, period, len(unit_scores))
    groups = summary.groups_of(fw, unit_scores)
    rng = np.random.default_rng(0)  # fixed jitter: same scores, same picture
    with matplotlib.rc_context(rc()):
        fig = Figure(figsize=(8, 4.5))
        ax = fig.add_subplot()
        data, labels = [], []
        for group in groups:
            part = unit_scores[unit_scores["unit_group"] == group]
            totals = part.loc[~part["vetoed"].astype(bool), "total"].dropna().to_numpy(dtype=float)
            data.append(totals)
            n_veto = int(part["vetoed"].astype(bool).sum())
            labels.append(group + "\n" + fill(cfg["vetoed_label"], ctx, n=n_veto) if n_veto else group)
        ax.boxplot(data, showfliers=False, widths=0.5, medianprops={"color": "#C00000"})
        for i, totals in enumerate(data, start=1):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(totals)), totals, s=10, alpha=0.6,
                       color=COLOURS[(i - 1) % len(COLOURS)], zorder=3)
        for band in fw.grades:
            if band.min is not None:
                ax.axhline(band.min, color="#BFBFBF", linewidth=0.8, linestyle="--", zorder=0)
                ax.annotate(band.name, (1.0, band.min), xycoords=("axes fraction", "data"), fontsize=8,
                            color="#7F7F7F", xytext=(3, -3), textcoords="offset points")
        ax.set_xticks(range(1, len(groups) + 1), labels)
        ax.set_ylabel(cfg["score_label"])
        ax.set_title(fill(cfg["groups_title"], ctx))
        ax.spines[["top", "right"]].set_visible(False)
        return _png(fig)


def chart_pngs(fw: Any, unit_scores: pd.DataFrame, office: dict, period: str | None = None) -> dict[str, bytes]:
    return {"等次分布.png": grade_chart(fw, unit_scores, office, period),
            "各类别得分.png": group_chart(fw, unit_scores, office, period)}


def write_charts(fw: Any, unit_scores: pd.DataFrame, folder: Path, office: dict,
                 period: str | None = None, pngs: dict[str, bytes] | None = None) -> dict[str, Path]:
    pngs = pngs or chart_pngs(fw, unit_scores, office, period)
    keys = {"等次分布.png": "chart_grades", "各类别得分.png": "chart_groups"}
    return {keys[name]: write_bytes(folder / name, data) for name, data in pngs.items()}
