"""Working days from chinesecalendar plus the project's override table; unknown years are errors."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from assessment.calendar import CalendarError, WorkCalendar


def d(s: str) -> np.ndarray:
    return np.array([s], dtype="datetime64[D]")


def test_national_day_2023_and_make_up_workdays():
    cal = WorkCalendar.for_years([2023])
    assert cal.is_workday(dt.date(2023, 10, 7)) and cal.is_workday(dt.date(2023, 10, 8))  # 调休 weekend workdays
    assert not cal.is_workday(dt.date(2023, 10, 2))
    assert str(cal.deadline(d("2023-09-28"), 2)[0]) == "2023-10-08"
    assert str(cal.deadline(d("2023-09-27"), 1)[0]) == "2023-09-28"
    assert cal.elapsed(d("2023-09-28"), d("2023-10-09"))[0] == 3


def test_unknown_year_is_a_clear_error_not_a_guess():
    with pytest.raises(CalendarError, match="2099"):
        WorkCalendar.for_years([2099])


def test_override_table_supplies_an_unknown_year():
    overrides = pd.DataFrame({"date": pd.to_datetime(["2099-01-01", "2099-01-03"]), "type": ["休息日", "工作日"], "note": ["元旦", "调休"]})
    overrides["workday"] = overrides["type"].eq("工作日")
    cal = WorkCalendar.for_years([2099], overrides)
    assert not cal.is_workday(dt.date(2099, 1, 1))  # a Thursday made a holiday
    assert cal.is_workday(dt.date(2099, 1, 3))  # a Saturday made a workday
