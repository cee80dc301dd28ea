"""Run parameters as one canonical spelling: one county-period, one bundle folder.

`--period ２０２３Q3` (full-width digits), `--period 2023q3`, `--county ' demo '` and `--county Demo`
are the same county-period as `2023Q3` and `demo`; written as they were typed they would each make
a bundle folder of their own beside the real one, and last year's comparison would look in the
wrong place. Every entry point (run, validate, batch, the notebooks' parameters through the
pipeline) goes through :func:`canonical`, which either returns the one spelling or refuses
(exit 2, Chinese and English).

The normalisation, in order: Unicode NFKC (full-width letters and digits become ASCII, the
ideographic space a space), surrounding white space removed, then county and framework in lower
case, period in upper case (``2023q3`` → ``2023Q3``). Refused, never repaired: control characters,
zero-width and bidi characters (invisible: two spellings that look the same), path separators and
``..`` (a county is a folder name, never a path), and values longer than the bounds below.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from .problems import Problem
from .values import INVISIBLE  # the one list of invisible characters the evidence reader refuses

COUNTY = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
COUNTY_MAX = 64
FRAMEWORK = re.compile(r"^[a-z0-9][a-z0-9-]*$")
FRAMEWORK_MAX = 100
PERIOD = re.compile(r"^(\d{4})(Q[1-4])?$")
YEAR_RANGE = (2000, 2100)


@dataclass(frozen=True)
class Canonical:
    county: str
    year: int | None
    framework: str
    period: str | None


def _text(value: Any) -> str:
    return unicodedata.normalize("NFKC", "" if value is None else str(value)).strip()


def _hidden(raw: Any) -> str | None:
    """What makes a typed value unsafe before it is even looked at: control or invisible characters."""
    text = "" if raw is None else str(raw)
    for ch in text:
        if INVISIBLE.match(ch):
            return f"U+{ord(ch):04X}"
        if unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in " ":
            return f"U+{ord(ch):04X}"
    return None


def canonical(county: Any, year: Any, framework: Any, period: Any = None) -> tuple[Canonical, list[Problem]]:
    """The canonical parameters and the problems found (every one of them, not the first)."""
    problems: list[Problem] = []

    def bad(param: str, value: Any, zh: str, en: str) -> None:
        shown = "" if value is None else repr(str(value))[1:-1]
        problems.append(Problem(file=param, value=shown[:80], message_zh=zh, message_en=en, rule="parameter"))

    def hidden(param: str, value: Any) -> bool:
        code = _hidden(value)
        if code:
            bad(param, value, f"含有控制字符或不可见字符 {code}", f"contains a control or invisible character {code}")
        return bool(code)

    # county
    c = _text(county).lower()
    if not hidden("--county", county):
        if not c:
            bad("--county", county, "县区名不能为空", "county must not be empty")
        elif len(c) > COUNTY_MAX:
            bad("--county", county, f"县区名过长（{len(c)} 个字符，最多 {COUNTY_MAX} 个）", f"county is too long ({len(c)} characters, at most {COUNTY_MAX})")
        elif "/" in c or "\\" in c or ".." in c or c.startswith("."):
            bad("--county", county, "县区名是文件夹名，不能含路径分隔符、“..”或以“.”开头", "county is a folder name: no path separators, '..' or leading '.'")
        elif not COUNTY.match(c):
            bad("--county", county, "县区名只能由字母、数字、下划线和连字符组成（如 sihong）", "county must be letters, digits, '_' or '-' (e.g. sihong)")

    # year
    y_text = _text(year)
    y: int | None = None
    if not hidden("--year", year):
        if re.fullmatch(r"\d{4}", y_text) and YEAR_RANGE[0] <= int(y_text) <= YEAR_RANGE[1]:
            y = int(y_text)
        else:
            bad("--year", year, "年度应为四位数字，如 2023", "year must be four digits, e.g. 2023")

    # framework
    f = _text(framework).lower()
    if not hidden("--framework", framework):
        if not f or len(f) > FRAMEWORK_MAX or not FRAMEWORK.match(f):
            bad("--framework", framework, "框架编号只能由小写字母、数字和连字符组成", "framework id must be lowercase letters, digits and '-'")

    # period
    p: str | None = None
    if period is not None and not hidden("--period", period):
        p = _text(period).upper() or None
        m = PERIOD.match(p) if p else None
        if p is not None and not m:
            bad("--period", period, "考核期应为 2023 或 2023Q3", "period must be like 2023 or 2023Q3")
            p = None
        elif m and y is not None and int(m.group(1)) != y:
            bad("--period", period, f"考核期 {p} 与年度 {y} 不一致", f"period {p} does not match year {y}")
    return Canonical(county=c, year=y, framework=f, period=p), problems


def canonical_county(county: Any) -> str:
    """The county as canonical() spells it (for listing jobs before they are checked)."""
    return _text(county).lower()


def canonical_year(year: Any) -> str:
    return _text(year)


def canonical_period(period: Any) -> str | None:
    return _text(period).upper() or None
