"""Chinese working days (工作日): statutory holidays and make-up workdays (调休).

The State Council publishes each year's schedule late in the year before, so it cannot be computed
by rule. We take it from the `chinesecalendar` package and from a project-owned override table
(`data/workday_overrides.csv`, one row per changed day) for years the package does not yet know.
A year neither knows is an error, never a weekday guess.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import chinese_calendar
import numpy as np
import pandas as pd

OVERRIDES = "workday_overrides.csv"


class CalendarError(ValueError):
    """The working-day schedule of a year is not known."""


def read_overrides(path: Path | None = None) -> pd.DataFrame:
    """The override table: date, type (工作日/休息日 or workday/holiday), note."""
    if path is None:
        with resources.files("assessment").joinpath("data", OVERRIDES).open("rb") as f:
            table = pd.read_csv(f, dtype=str, encoding="utf-8-sig")
    else:
        table = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    table["date"] = pd.to_datetime(table["date"], format="%Y-%m-%d")
    kind = table["type"].str.strip().str.lower()
    table["workday"] = kind.isin(["工作日", "workday", "上班"])
    return table


@dataclass(frozen=True)
class WorkCalendar:
    """Working days over a span of years, as sorted arrays for vectorised look-ups."""

    start: np.datetime64
    workdays: np.ndarray  # sorted datetime64[D] of every working day in the span
    cumulative: np.ndarray  # cumulative[i] = working days on or before start + i days

    @classmethod
    def for_years(cls, years: list[int] | range, overrides: pd.DataFrame | None = None) -> "WorkCalendar":
        """Build the calendar for whole years (the year before and after are usually wanted too)."""
        years = sorted(set(int(y) for y in years))
        table = read_overrides() if overrides is None else overrides
        known_override_years = set(table["date"].dt.year)
        days = pd.date_range(f"{years[0]}-01-01", f"{years[-1]}-12-31", freq="D")
        flags = np.zeros(len(days), dtype=bool)
        for year in years:
            mask = days.year == year
            if year in known_override_years:
                flags[mask] = days[mask].dayofweek < 5
            else:
                try:
                    flags[mask] = [chinese_calendar.is_workday(d.date()) for d in days[mask]]
                except NotImplementedError:
                    raise CalendarError(
                        f"不知道 {year} 年的法定节假日与调休安排：请在 {OVERRIDES} 中补充该年的放假和调休日期"
                        f"（no working-day schedule for {year}: chinesecalendar does not know it and the override table has no rows for it）"
                    ) from None
        if len(table):
            pos = days.get_indexer(table["date"])
            ok = pos >= 0
            flags[pos[ok]] = table["workday"].to_numpy()[ok]
        d64 = days.values.astype("datetime64[D]")
        return cls(start=d64[0], workdays=d64[flags], cumulative=np.cumsum(flags))

    def _index(self, dates: np.ndarray) -> np.ndarray:
        idx = (dates.astype("datetime64[D]") - self.start).astype(np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self.cumulative)):
            raise CalendarError("日期超出工作日历范围（date outside the working-day calendar）")
        return idx

    def count_before(self, dates: np.ndarray) -> np.ndarray:
        """Working days on or before each date."""
        return self.cumulative[self._index(dates)]

    def deadline(self, received: np.ndarray, n: int) -> np.ndarray:
        """End of the n-th working day after receipt; the day of receipt does not count."""
        k = self.count_before(received) + n  # the k-th working day (1-based) of the span
        if len(k) and k.max() > len(self.workdays):
            raise CalendarError("期限超出工作日历范围（deadline beyond the working-day calendar）")
        return self.workdays[k - 1]

    def elapsed(self, received: np.ndarray, done: np.ndarray) -> np.ndarray:
        """Working days from receipt to completion, the day of receipt not counted."""
        return self.count_before(done) - self.count_before(received)

    def is_workday(self, day: dt.date) -> bool:
        i = self._index(np.array([np.datetime64(day, "D")]))[0]
        return bool(self.cumulative[i] - (self.cumulative[i - 1] if i else 0))
