"""The CSV files people open in Excel, written safe and read back exact (OWASP CSV injection).

A unit name such as `=HYPERLINK("http://x","y")`, `=1+1` or `@SUM(A1)` would be a live formula
when an analyst double-clicks `unit_scores.csv`. Every CSV the program writes for people goes
through :func:`write_csv`, every CSV of a bundle it reads back through :func:`read_csv`, so the
escape below is applied once and undone once.

The escape (one rule each way, unambiguous):

- written: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return —
  OWASP's list — gets a single quote ``'`` in front (also text such as ``+1``: Excel would
  evaluate it). A text cell that already starts with ``'`` gets one more ``'`` in front, whatever
  follows it. Numbers are not text: numeric columns (points, totals, ranks) are written as numbers,
  ``-5`` stays ``-5``.
- read: a cell that starts with ``'`` loses exactly one leading ``'``.

So ``=1+1`` ↔ ``'=1+1``, ``'=x`` ↔ ``''=x``, ``'note`` ↔ ``''note``, the text ``+1`` ↔ ``'+1``, and
the number -5 ↔ ``-5``: every value the program wrote comes back as it was. The verbatim copies of the delivered evidence (`evidence/raw/`) are not written
here and stay byte for byte as delivered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def neutralise(value: Any) -> Any:
    """One cell as written: formula-looking text and text starting with a quote get a leading quote."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] == QUOTE or value[0] in TRIGGERS:
        return QUOTE + value
    return value


def restore(value: Any) -> Any:
    """One cell as read back: exactly one leading quote removed (the inverse of :func:`neutralise`)."""
    if isinstance(value, str) and value.startswith(QUOTE):
        return value[1:]
    return value


def _text_columns(df: pd.DataFrame) -> list:
    return [c for c in df.columns if df[c].dtype == object or isinstance(df[c].dtype, pd.StringDtype)]


def neutralised(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of `df` with every text cell neutralised (numbers, booleans and missing values untouched)."""
    out = df.copy()
    for c in _text_columns(out):
        out[c] = out[c].map(neutralise, na_action="ignore")
    return out


def restored(df: pd.DataFrame, columns: list | None = None) -> pd.DataFrame:
    """`df` with the escape undone in its text columns (all of them, or `columns`)."""
    for c in columns if columns is not None else _text_columns(df):
        if c in df.columns and (df[c].dtype == object or isinstance(df[c].dtype, pd.StringDtype)):
            df[c] = df[c].map(restore, na_action="ignore")
    return df


def write_csv(df: pd.DataFrame, path: str | Path) -> Path:
    """A table for people: UTF-8 with BOM (Excel reads the Chinese), "\\n" line ends, cells neutralised."""
    path = Path(path)
    neutralised(df).to_csv(path, index=False, encoding="utf-8-sig", lineterminator="\n")
    return path


def read_csv(path: str | Path, dtype: Any = None, keep_default_na: bool = False, na_values: Any = ("",),
             **kw: Any) -> pd.DataFrame:
    """A table written by :func:`write_csv`, read back with the escape undone.

    Text columns come back exact. Read a text column as text (dtype str): a column pandas reads
    as numbers holds no escaped cell, since an escaped cell starts with a quote.
    """
    if isinstance(dtype, Mapping):
        dtype = dict(dtype)
    df = pd.read_csv(path, dtype=dtype, keep_default_na=keep_default_na, na_values=list(na_values) if na_values is not None else None,
                     encoding="utf-8-sig", **kw)
    return restored(df)
