"""Reading cell values the way an analyst meant them: 是/否, 97%, ３, 2023年10月8日.

Vectorised over whole columns. Normalisation is only done where the meaning is certain
(full-width digits, stray spaces); anything else is left unparsed (NaN/NaT) for the caller to report.

Invisible characters (zero-width, bidi controls, other format and control characters) are found
with one compiled character class over whole columns (`has_invisible`): the reader refuses them in
codes and removes them, with a warning, from names and free text; `normalise_text` removes them too,
so a value normalised anywhere in the package equals the evidence value it stands for.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
import pandas as pd

TRUE = {"是", "true", "yes", "y", "1", "√", "✓", "有", "已完成", "完成", "达标", "t"}
FALSE = {"否", "false", "no", "n", "0", "×", "✗", "无", "未完成", "不达标", "f"}

# Unicode categories Cf (format: zero-width, bidi controls, BOM, soft hyphen …) and Cc (C0/C1 controls)
# except tab, newline and carriage return (blanks that normalising collapses), as of Unicode 14;
# `tests/test_values.py` checks the list against this Python's unicodedata. Beside them, characters
# that show nothing although they are letters or marks: combining grapheme joiner, Hangul fillers,
# Khmer inherent vowels, Mongolian and other variation selectors.
INVISIBLE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0000, 0x0008), (0x000B, 0x000C), (0x000E, 0x001F), (0x007F, 0x009F), (0x00AD, 0x00AD),
    (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891),
    (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064),
    (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
    # invisible letters and marks
    (0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180D), (0x180F, 0x180F),
    (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xE0100, 0xE01EF),
)


def _char_class(ranges) -> str:
    return "[" + "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges) + "]"


INVISIBLE_CLASS = _char_class(INVISIBLE_RANGES)
INVISIBLE = re.compile(INVISIBLE_CLASS)


def text_cells(s: pd.Series) -> pd.Series:
    """The column as object, non-strings (numbers, dates typed by Excel) as missing: what `.str` may look at."""
    obj = s.astype(object)
    return obj.where(obj.map(type, na_action="ignore").eq(str), None)


def has_invisible(s: pd.Series) -> pd.Series:
    """Which cells hold an invisible or control character (one regex over the whole column)."""
    if not len(s):
        return pd.Series(False, index=s.index, dtype=bool)
    return text_cells(s).str.contains(INVISIBLE, regex=True, na=False).astype(bool)


def strip_invisible(s: pd.Series) -> pd.Series:
    """The column with invisible and control characters removed from its strings; other values as they are."""
    hit = has_invisible(s)
    if not hit.any():
        return s
    out = s.astype(object).copy()
    out[hit] = text_cells(s[hit]).str.replace(INVISIBLE, "", regex=True)
    return out


def invisible_names(text: object) -> str:
    """'U+200B、U+202E': the invisible characters in one value, for the message naming it."""
    found = dict.fromkeys(INVISIBLE.findall(str(text)))
    return "、".join(f"U+{ord(c):04X}" for c in found)


def visible(text: object) -> object:
    """A value for a message: invisible characters shown as <U+200B>, so a terminal shows what was there."""
    if not isinstance(text, str):
        return text
    return INVISIBLE.sub(lambda m: f"<U+{ord(m.group()):04X}>", text)


def normalise_text(s: pd.Series) -> pd.Series:
    """Invisible characters removed, NFKC (full-width ３ → 3, ％ → %), trimmed, inner runs of blanks kept
    as one space; empty → NA. Evidence values are read exactly so (codes holding invisible characters
    are refused before, so for them the removal changes nothing)."""
    out = strip_invisible(s.astype("object"))
    out = out.map(lambda v: v if not isinstance(v, str) else unicodedata.normalize("NFKC", v), na_action="ignore")
    out = out.map(lambda v: " ".join(v.split()) if isinstance(v, str) else v, na_action="ignore")
    return out.map(lambda v: None if isinstance(v, str) and v == "" else v, na_action="ignore")


def normalise_name(value: object) -> object:
    """One name as evidence values are read (`normalise_text` on a single value): `县（市、区）` →
    `县(市、区)`, `２０２３` → `2023`, surrounding blanks dropped. Frameworks use it for their names
    (unit groups, levels, grades, sources), so a name means the same in the file and in a workbook.
    Non-text values are returned as they are."""
    if not isinstance(value, str):
        return value
    out = normalise_text(pd.Series([value], dtype="object")).iloc[0]
    return "" if out is None else out


def parse_bool(s: pd.Series) -> pd.Series:
    """是/否, true/false, 1/0, √/× → True/False; anything else → NA."""
    t = normalise_text(s).astype("object").map(lambda v: str(v).strip().lower() if v is not None else None, na_action="ignore")
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[t.isin(TRUE)] = True
    out[t.isin(FALSE)] = False
    return out


# a number as people write it: 3, -2, 1.5, .5, 1,000 (thousands grouped by threes only), 1e3, 97%;
# not inf, nan, 0x10, 1_000 or 1,5 (a decimal comma, or a typo: never guessed)
NUMBER = re.compile(r"[+-]?(?:\d+|\d{1,3}(?:,\d{3})+)(?:\.\d*)?(?:[eE][+-]?\d+)?%?|[+-]?\.\d+(?:[eE][+-]?\d+)?%?")
NOT_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan|nan\(\w*\))", re.IGNORECASE)


def _number_text(s: pd.Series) -> pd.Series:
    return normalise_text(s).astype("object").map(str, na_action="ignore")


def non_finite(s: pd.Series) -> pd.Series:
    """Values that read as a number but are not a finite one: inf, nan, 1e400, 400 digits (overflow)."""
    if not len(s):
        return pd.Series(False, index=s.index, dtype=bool)
    floats = s.map(lambda v: isinstance(v, (float, np.floating)) and not np.isfinite(v), na_action="ignore").fillna(False).astype(bool)
    t = _number_text(s.where(s.map(type, na_action="ignore").eq(str), None))
    named = t.str.fullmatch(NOT_FINITE).fillna(False).astype(bool)
    syntax = t.str.fullmatch(NUMBER).fillna(False).astype(bool)
    big = pd.Series(False, index=s.index, dtype=bool)
    if syntax.any():
        num = pd.to_numeric(t[syntax].str.rstrip("%").str.replace(",", "", regex=False), errors="coerce")
        big[syntax] = ~np.isfinite(num.astype(float))
    return floats | named | big


def parse_number(s: pd.Series, percent: bool = False) -> pd.Series:
    """Finite numbers, with '97%' → 0.97; with percent=True a bare 97 (>1) is also read as 97 %.

    Only what `NUMBER` matches is a number; inf, nan and overflow (1e400) are NaN like any text."""
    if s.isna().all():
        return pd.Series(np.nan, index=s.index, dtype=float)
    as_float = s.map(lambda v: isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool), na_action="ignore").fillna(False).astype(bool)
    t = _number_text(s)
    ok = t.str.fullmatch(NUMBER).fillna(False).astype(bool) | as_float
    t = t.where(ok, None)
    is_pct = t.str.endswith("%").fillna(False).astype(bool)
    num = pd.to_numeric(t.str.rstrip("%").str.replace(",", "", regex=False), errors="coerce").astype(float)
    num = num.where(np.isfinite(num), np.nan)
    num = num.where(~is_pct, num / 100)
    if percent:
        num = num.where(is_pct | ~(num > 1), num / 100)
    return num.astype(float)


def parse_date(s: pd.Series) -> pd.Series:
    """Dates as datetime64: real dates, '2023-10-08', '2023/10/8', '2023年10月8日', '20231008'."""
    if pd.api.types.is_datetime64_any_dtype(s):
        return pd.to_datetime(s).dt.normalize().astype("datetime64[ns]")
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    if s.isna().all():
        return out
    is_dt = s.map(lambda v: isinstance(v, (pd.Timestamp, np.datetime64)) or hasattr(v, "year"), na_action="ignore").fillna(False).astype(bool)
    if is_dt.any():
        out[is_dt] = pd.to_datetime(s[is_dt].astype("object"), errors="coerce").dt.normalize()
    t = normalise_text(s[~is_dt]).astype("object").map(str, na_action="ignore")
    t = t.str.replace(r"[年月/.]", "-", regex=True).str.replace("日", "", regex=False).str.strip()
    t = t.str.replace(r"\s+00:00(:00)?$", "", regex=True)
    iso = pd.to_datetime(t, format="%Y-%m-%d", errors="coerce")
    compact = pd.to_datetime(t, format="%Y%m%d", errors="coerce")
    out[~is_dt] = iso.fillna(compact)
    return out
