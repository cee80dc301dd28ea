"""Reading cell values the way an analyst meant them: 是/否, 97%, ３, 2023年10月8日.

Vectorised over whole columns. Normalisation is only done where the meaning is certain
(full-width digits, stray spaces); anything else is left unparsed (NaN/NaT) for the caller to report.
"""

from __future__ import annotations

import unicodedata

import numpy as np
import pandas as pd

TRUE = {"是", "true", "yes", "y", "1", "√", "✓", "有", "已完成", "完成", "达标", "t"}
FALSE = {"否", "false", "no", "n", "0", "×", "✗", "无", "未完成", "不达标", "f"}


def normalise_text(s: pd.Series) -> pd.Series:
    """NFKC (full-width ３ → 3, ％ → %), trimmed, inner runs of blanks kept as one space; empty → NA."""
    out = s.astype("object").map(lambda v: v if not isinstance(v, str) else unicodedata.normalize("NFKC", v), na_action="ignore")
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


def parse_number(s: pd.Series, percent: bool = False) -> pd.Series:
    """Numbers, with '97%' → 0.97; with percent=True a bare 97 (>1) is also read as 97 %."""
    if s.isna().all():
        return pd.Series(np.nan, index=s.index, dtype=float)
    t = normalise_text(s).astype("object").map(str, na_action="ignore")
    is_pct = t.str.endswith("%").fillna(False).astype(bool)
    num = pd.to_numeric(t.str.rstrip("%").str.replace(",", "", regex=False), errors="coerce")
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
