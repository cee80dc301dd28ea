"""The vectorised value helpers: invisible characters over whole columns, numbers that are finite."""

from __future__ import annotations

import sys
import unicodedata

import numpy as np
import pandas as pd
import pytest

from assessment import values


def test_the_invisible_class_covers_every_format_and_control_character():
    """Every Cf and Cc code point of this Python's Unicode (but tab, newline, CR) is in the class."""
    missing = [f"U+{c:04X}" for c in range(sys.maxunicode + 1)
               if unicodedata.category(chr(c)) in ("Cf", "Cc") and c not in (9, 10, 13) and not values.INVISIBLE.match(chr(c))]
    assert not missing
    for ok in ("\t", "\n", "\r", " ", "a", "中", "３", "\u3000"):  # blanks are normalised, not refused
        assert not values.INVISIBLE.match(ok)


def test_has_invisible_is_one_regex_over_the_column():
    s = pd.Series(["0001", "0001\u200b", None, 1.0, "\u202eabc", "a\u2066b\u2069", "x\x07", "tab\tok", "﻿bom"], dtype=object)
    assert values.has_invisible(s).tolist() == [False, True, False, False, True, True, True, False, True]
    assert values.has_invisible(pd.Series([], dtype=object)).tolist() == []


def test_strip_invisible_leaves_other_values_as_they_are():
    s = pd.Series(["大楼\u202e街道", 3, None, "ok"], dtype=object)
    out = values.strip_invisible(s)
    assert out.tolist()[0] == "大楼街道" and out.tolist()[1] == 3 and out.tolist()[2] is None and out.tolist()[3] == "ok"


def test_code_points_are_named_and_shown():
    assert values.invisible_names("a\u200bb\u202e\u200b") == "U+200B、U+202E"
    assert values.visible("0001\u200b") == "0001<U+200B>" and values.visible(5) == 5


def test_normalise_text_removes_invisible_characters_so_values_compare_equal():
    s = pd.Series(["0001\u200b", "０００１", " 0001 ", "\u2066青阳\u2069 街道"], dtype=object)
    assert values.normalise_text(s).tolist() == ["0001", "0001", "0001", "青阳 街道"]


@pytest.mark.parametrize("text, number", [("3", 3.0), ("-2", -2.0), ("1.5", 1.5), (".5", 0.5), ("1,000", 1000.0), ("1e3", 1000.0),
                                          ("97%", 0.97), ("３", 3.0), ("1,234,567.5", 1234567.5)])
def test_numbers_as_people_write_them(text, number):
    assert values.parse_number(pd.Series([text], dtype=object)).iloc[0] == pytest.approx(number)


@pytest.mark.parametrize("text", ["inf", "-inf", "Infinity", "nan", "NaN", "1e400", "1e309", "9" * 400, "1,5", "1,00", "0x10", "1_000", "若干", "1..2"])
def test_what_is_not_a_finite_number_is_nan(text):
    assert np.isnan(values.parse_number(pd.Series([text], dtype=object)).iloc[0])


def test_non_finite_flags_inf_nan_and_overflow_not_text():
    """A float NaN cell is a missing cell to pandas (an empty cell), not a written 'nan'."""
    s = pd.Series(["inf", "-Infinity", "NaN", "1e400", "9" * 400, float("inf"), float("nan"), "3", "若干", None, "1,5"], dtype=object)
    assert values.non_finite(s).tolist() == [True, True, True, True, True, True, False, False, False, False, False]
