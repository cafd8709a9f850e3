"""Business calendar: working days, deadline rolling and contact-time rules.

Working days follow the official calendar of the customer's country:

- China (``CN``) uses ``chinese_calendar``, which knows both the public holidays
  and the make-up working weekends (调休) the State Council announces each year.
  The ``holidays`` package is deliberately not used for China: for years not
  announced yet it computes guessed holidays instead of admitting it has no data.
- Every other country uses the ``holidays`` package: its public holidays, its
  weekend (not always Saturday/Sunday) and any weekend working days it lists.
- The company's own closing days are non-working days in every year.

A year with no official data (China beyond what ``chinese_calendar`` ships, a
year outside the range ``holidays`` covers, an unknown country code) falls back
to weekends plus the configured closing days, which are then expected to hold
that year's holidays. The calendar warns with :class:`CalendarFallbackWarning`
once per calendar and year and never fails.

A date on a non-working day moves to the next working day, like a legal deadline
(顺延, :meth:`BusinessCalendar.roll_forward`); a reminder before a due date moves
to the previous one (:meth:`BusinessCalendar.roll_backward`).

Contact rules (PROCESS.md §5): no calls on non-working days nor in the last
:data:`MONTH_END_NO_CALL_DAYS` working days of a month, and none in the last
:data:`CALL_CUTOFF` of the morning or of the afternoon; mornings, Mondays and the
first :data:`MONTH_START_PREFERRED_DAYS` working days of a month are preferred.
Collection dates avoid the first and last :data:`CASH_TIGHT_DAYS` working days of
a month, when customers' cash is tight.

Nothing here reads the clock: every function takes the day as an argument.
"""

from __future__ import annotations

import sys
import threading
import warnings
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple

import chinese_calendar
import holidays

__all__ = [
    "CALL_CUTOFF",
    "CASH_TIGHT_DAYS",
    "MAX_CONSECUTIVE_CLOSED_DAYS",
    "MONTH_END_NO_CALL_DAYS",
    "MONTH_START_PREFERRED_DAYS",
    "OFFICE_HOURS",
    "BusinessCalendar",
    "CalendarFallbackWarning",
    "CallWindow",
    "add_months",
    "calendar_for",
    "call_day_preference",
    "call_windows",
    "is_cash_tight",
]

MONTH_END_NO_CALL_DAYS = 2
"""Last working days of a month without calls: customers close their books."""

MONTH_START_PREFERRED_DAYS = 5
"""First working days of a month when calls are preferred."""

CASH_TIGHT_DAYS = 3
"""First and last working days of a month to avoid as collection dates."""

CALL_CUTOFF = timedelta(minutes=30)
"""No calls this long before the end of the morning or of the afternoon."""

MAX_CONSECUTIVE_CLOSED_DAYS = 366
"""Rolling gives up after this many non-working days in a row (misconfiguration)."""

_SATURDAY_SUNDAY = frozenset({5, 6})
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# chinese_calendar names holidays in English only; the collectors read Chinese.
_CN_HOLIDAY_NAMES = {
    "New Year's Day": "元旦 New Year's Day",
    "Spring Festival": "春节 Spring Festival",
    "Tomb-sweeping Day": "清明节 Tomb-sweeping Day",
    "Labour Day": "劳动节 Labour Day",
    "Dragon Boat Festival": "端午节 Dragon Boat Festival",
    "National Day": "国庆节 National Day",
    "Mid-autumn Festival": "中秋节 Mid-Autumn Festival",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日 Anti-Fascist 70th Day",
}


class CalendarFallbackWarning(UserWarning):
    """A year has no official calendar: weekends plus closing days are used."""


@dataclass(frozen=True)
class CallWindow:
    """A time span of a day in which calls may be made.

    Attributes:
        start: First minute of the window.
        end: End of the window (exclusive).
        preference: Higher is better.
    """

    start: time
    end: time
    preference: int

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError(f"call window must start before it ends: {self.start}-{self.end}")


OFFICE_HOURS = (
    CallWindow(time(9, 0), time(12, 0), preference=2),
    CallWindow(time(13, 30), time(17, 30), preference=1),
)
"""Customers' office hours; mornings are preferred for calls."""


class _Schedule(NamedTuple):
    """One year of a country's calendar, before the company's closing days."""

    names: Mapping[date, str]
    weekend: frozenset[int]
    makeup_days: frozenset[date]


def _days_of(year: int) -> Iterator[date]:
    day = date(year, 1, 1)
    while day.year == year:
        yield day
        day += timedelta(days=1)


def _china_schedule(year: int) -> _Schedule | None:
    names: dict[date, str] = {}
    makeup: set[date] = set()
    try:
        for day in _days_of(year):
            is_holiday, name = chinese_calendar.get_holiday_detail(day)
            if is_holiday and name:
                names[day] = _CN_HOLIDAY_NAMES.get(name, name)
            elif not is_holiday and day.weekday() in _SATURDAY_SUNDAY:
                makeup.add(day)
    except NotImplementedError:
        return None
    return _Schedule(names, _SATURDAY_SUNDAY, frozenset(makeup))


def _caller_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside this module."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__") == __name__:
        frame, level = frame.f_back, level + 1
    return level


def _normalise_country(country: str) -> str:
    code = country.strip().upper()
    if len(code) != 2 or not (code.isascii() and code.isalpha()):
        raise ValueError(f"country must be an ISO 3166 alpha-2 code, got {country!r}")
    return code


class BusinessCalendar:
    """Working days of one country plus the company's closing days.

    Each year is computed once, on first use, into a dict, so that
    :meth:`is_working_day` is a single lookup afterwards.

    Attributes:
        country: Upper-case ISO 3166 alpha-2 code.
        closed_days: The company's closing days (and the holidays it configured
            for years without official data).
    """

    def __init__(self, country: str = "CN", closed_days: Iterable[date] = ()) -> None:
        """Build a calendar; years are loaded lazily.

        Args:
            country: ISO 3166 alpha-2 code, case-insensitive. A code unknown to
                the ``holidays`` package falls back to Saturday/Sunday weekends.
            closed_days: Days the company is closed, in any year.

        Raises:
            ValueError: ``country`` is not two letters.
            TypeError: a closing day is not a ``date`` (a ``datetime`` would
                never match a day).
        """
        self.country = _normalise_country(country)
        self.closed_days = frozenset(closed_days)
        for day in self.closed_days:
            if not isinstance(day, date) or isinstance(day, datetime):
                raise TypeError(f"closing days must be dates, got {day!r}")
        self._library: holidays.HolidayBase | None = None
        if self.country != "CN":
            try:
                self._library = holidays.country_holidays(self.country)
            except NotImplementedError:
                pass
        self._working: dict[date, bool] = {}
        self._reasons: dict[date, str] = {}
        self._loaded: set[int] = set()
        self._fallback: set[int] = set()
        self._months: dict[tuple[int, int], tuple[date, ...]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.country!r}, closed_days={len(self.closed_days)})"

    def is_working_day(self, day: date) -> bool:
        """Whether ``day`` is a working day."""
        try:
            return self._working[day]
        except KeyError:
            self._load(day)
            return self._working[day]

    def roll_forward(self, day: date) -> date:
        """``day`` if it is a working day, else the next one (顺延)."""
        return self._roll(day, timedelta(days=1))

    def roll_backward(self, day: date) -> date:
        """``day`` if it is a working day, else the previous one."""
        return self._roll(day, timedelta(days=-1))

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        return self._roll(day + timedelta(days=1), timedelta(days=1))

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before ``day``."""
        return self._roll(day - timedelta(days=1), timedelta(days=-1))

    def add_working_days(self, day: date, n: int) -> date:
        """The ``n``-th working day after ``day`` (before it when ``n`` < 0).

        Counting starts from ``day`` itself whether or not it is a working day,
        so ``add_working_days(d, 1) == next_working_day(d)``; ``n`` = 0 gives
        ``roll_forward(day)``.
        """
        if n == 0:
            return self.roll_forward(day)
        step = self.next_working_day if n > 0 else self.previous_working_day
        for _ in range(abs(n)):
            day = step(day)
        return day

    def working_days(self, start: date, end: date) -> Iterator[date]:
        """Working days from ``start`` to ``end`` inclusive, ascending."""
        day = start
        while day <= end:
            if self.is_working_day(day):
                yield day
            day += timedelta(days=1)

    def is_official(self, year: int) -> bool:
        """Whether the official schedule of ``year`` is known (no fallback)."""
        if self.country == "CN":
            try:
                chinese_calendar.get_holiday_detail(date(year, 1, 1))
            except NotImplementedError:
                return False
            return True
        library = self._library
        return library is not None and library.start_year <= year <= library.end_year

    @property
    def fallback_years(self) -> frozenset[int]:
        """Years looked up so far that had no official data."""
        return frozenset(self._fallback)

    def describe(self, day: date) -> str:
        """Why ``day`` is or is not a working day, e.g. ``"国庆节 National Day (holiday)"``."""
        working = self.is_working_day(day)
        if day in self._reasons:
            return self._reasons[day]
        if day in self.closed_days:
            return "company closing day"
        return "working day" if working else "weekend"

    def _roll(self, day: date, step: timedelta) -> date:
        for _ in range(MAX_CONSECUTIVE_CLOSED_DAYS):
            if self.is_working_day(day):
                return day
            day += step
        raise ValueError(
            f"{self.country} calendar: no working day within {MAX_CONSECUTIVE_CLOSED_DAYS} days"
            f" of {day - step * MAX_CONSECUTIVE_CLOSED_DAYS}; check the closing days"
        )

    def _month_working_days(self, year: int, month: int) -> tuple[date, ...]:
        key = (year, month)
        days = self._months.get(key)
        if days is None:
            first = date(year, month, 1)
            days = tuple(self.working_days(first, add_months(first, 1) - timedelta(days=1)))
            self._months[key] = days
        return days

    def _load(self, day: date) -> None:
        if not isinstance(day, date) or isinstance(day, datetime):
            raise TypeError(f"expected a date, got {day!r}")
        year = day.year
        with self._lock:
            if year in self._loaded:
                return
            schedule = self._official_schedule(year)
            if schedule is None:
                schedule = _Schedule({}, self._weekend(), frozenset())
                self._fallback.add(year)
                known = self.country == "CN" or self._library is not None
                source = self.country if known else f"(unknown country {self.country})"
                warnings.warn(
                    f"no official {source} calendar for {year}:"
                    " using weekends plus the configured closing days",
                    CalendarFallbackWarning,
                    stacklevel=_caller_stacklevel(),
                )
            for each in _days_of(year):
                # A closing day overrides a make-up day; an official holiday that
                # is also a closing day is described by its name.
                if each in schedule.names:
                    working = False
                    self._reasons[each] = f"{schedule.names[each]} (holiday)"
                elif each in self.closed_days:
                    working = False
                elif each in schedule.makeup_days:
                    working = True
                    weekday = _DAY_NAMES[each.weekday()]
                    self._reasons[each] = f"调休 make-up working day ({weekday})"
                else:
                    working = each.weekday() not in schedule.weekend
                self._working[each] = working
            self._loaded.add(year)

    def _official_schedule(self, year: int) -> _Schedule | None:
        if self.country == "CN":
            return _china_schedule(year)
        if not self.is_official(year):
            return None
        data = holidays.country_holidays(self.country, years=year)
        # weekend_workdays is not limited to the requested years.
        makeup = frozenset(d for d in getattr(data, "weekend_workdays", ()) if d.year == year)
        names = {d: name for d, name in data.items() if d.year == year}
        return _Schedule(names, frozenset(data.weekend), makeup)

    def _weekend(self) -> frozenset[int]:
        if self._library is None:
            return _SATURDAY_SUNDAY
        return frozenset(self._library.weekend)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` months later (earlier if negative), clipped to the month's end."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    month = month0 + 1
    next_first = date(year + month // 12, month % 12 + 1, 1)
    last = (next_first - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


@lru_cache(maxsize=None)
def _cached_calendar(country: str, closed_days: frozenset[date]) -> BusinessCalendar:
    return BusinessCalendar(country, closed_days)


def calendar_for(country: str, closed_days: Iterable[date] = ()) -> BusinessCalendar:
    """The shared calendar of a country and set of closing days.

    Sharing keeps the per-year data and the fallback warnings to one per process.
    """
    return _cached_calendar(_normalise_country(country), frozenset(closed_days))


def _month_position(day: date, cal: BusinessCalendar) -> tuple[int, int]:
    """Working days of ``day``'s month strictly before and strictly after ``day``."""
    days = cal._month_working_days(day.year, day.month)
    return bisect_left(days, day), len(days) - bisect_right(days, day)


def _calls_allowed(day: date, cal: BusinessCalendar, month_end_days: int) -> bool:
    # A make-up Saturday/Sunday (调休) is a working day: people are at their
    # desks, so it is not a "weekend" for calls.
    if not cal.is_working_day(day):
        return False
    _, after = _month_position(day, cal)
    return after >= month_end_days


def _minus(moment: time, delta: timedelta) -> time:
    return (datetime.combine(date(2000, 1, 1), moment) - delta).time()


def call_windows(
    day: date,
    cal: BusinessCalendar,
    *,
    office_hours: Iterable[CallWindow] = OFFICE_HOURS,
    cutoff: timedelta = CALL_CUTOFF,
    month_end_days: int = MONTH_END_NO_CALL_DAYS,
) -> tuple[CallWindow, ...]:
    """When to phone customers on ``day``; empty when no calls should be made.

    Args:
        day: The day.
        cal: The customer's calendar.
        office_hours: Office periods with their preference.
        cutoff: Left out at the end of each period: people are wrapping up.
        month_end_days: Last working days of a month without calls.

    Returns:
        The office periods shortened by ``cutoff``; ``()`` on a non-working day
        or in the last ``month_end_days`` working days of the month.
    """
    if not _calls_allowed(day, cal, month_end_days):
        return ()
    return tuple(CallWindow(w.start, _minus(w.end, cutoff), w.preference) for w in office_hours)


def call_day_preference(
    day: date,
    cal: BusinessCalendar,
    *,
    month_start_days: int = MONTH_START_PREFERRED_DAYS,
    month_end_days: int = MONTH_END_NO_CALL_DAYS,
) -> int:
    """How good ``day`` is for calls: 0 = no calls, else 1, +1 on Mondays, +1 early in the month.

    Args:
        day: The day.
        cal: The customer's calendar.
        month_start_days: First working days of a month that score +1.
        month_end_days: Last working days of a month without calls.
    """
    if not _calls_allowed(day, cal, month_end_days):
        return 0
    before, _ = _month_position(day, cal)
    return 1 + (day.weekday() == 0) + (before < month_start_days)


def is_cash_tight(day: date, cal: BusinessCalendar, *, days: int = CASH_TIGHT_DAYS) -> bool:
    """Whether ``day`` is in the first or last ``days`` working days of its month.

    A non-working day counts when it lies before the month's ``days``-th working
    day or after its ``days``-th last one, since a date set there rolls into them.
    """
    before, after = _month_position(day, cal)
    return before < days or after < days
