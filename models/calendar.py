"""Business calendar: working days, deadline rolling and contact-time rules.

Days off come from four sources, strongest first (CONTRACT.md, "The calendar"):

1. ``closed``: the company's own closing days, in every year and country; a
   closing day is off even when the schedule makes it a make-up working day.
2. ``declared``: a schedule the company declares for a country and year
   (:class:`DeclaredYear`, the company file's ``calendar`` section), as the
   government publishes it. It replaces the official or statutory schedule of
   that year: its holidays are the days off, its workdays the make-up working
   weekend days (调休).
3. ``official``: the calendar data. China (``CN``) uses ``chinese_calendar``,
   which knows both the public holidays and the make-up working weekends the
   State Council announces each year; every other country uses the
   ``holidays`` package: its public holidays, its weekend (not always
   Saturday/Sunday) and any weekend working days it lists.
4. ``statutory``: for a Chinese year with neither, the days off fixed by
   全国年节及纪念日放假办法 (2024 revision, in force from 2025): New Year's Day 1,
   Spring Festival 4 (除夕 and 初一 to 初三), Qingming 1, Labour Day 2, Dragon Boat 1,
   Mid-Autumn 1 and National Day 3. The lunar dates come from the ``holidays``
   package, keeping only these festivals by name: its guessed "observed" and
   bridging days are left out, and there are no make-up working days.

Any other year without data (a year outside the range ``holidays`` covers, an
unknown country code) has weekends plus the closing days only (``weekends``).
A year with neither official nor declared data warns with
:class:`CalendarFallbackWarning` once per calendar and year; the calendar never
fails.

:class:`CalendarBook` holds the closing days and declared years of a company and
hands out one shared :class:`BusinessCalendar` per country: it is the one place
calendars are built.

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
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Literal, NamedTuple

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
    "CalendarBook",
    "CalendarDay",
    "CalendarFallbackWarning",
    "CallWindow",
    "DeclaredYear",
    "DeclaredYearError",
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

_CN_STATUTORY_FROM = 2025
"""First year of 全国年节及纪念日放假办法 as revised in 2024 (除夕 and a second Labour Day)."""

# The statutory days off by their name in the ``holidays`` package (1, 4 with 除夕, 1, 2,
# 1, 1 and 3 days: tests check every year): anything else it lists, such as its
# "observed" or bridging days, is a guess at a schedule not published yet.
_CN_STATUTORY_NAMES = {
    "New Year's Day": "元旦 New Year's Day",
    "Chinese New Year's Eve": "除夕 Spring Festival's Eve",
    "Chinese New Year (Spring Festival)": "春节 Spring Festival",
    "Tomb-Sweeping Day": "清明节 Tomb-sweeping Day",
    "Labor Day": "劳动节 Labour Day",
    "Dragon Boat Festival": "端午节 Dragon Boat Festival",
    "Mid-Autumn Festival": "中秋节 Mid-Autumn Festival",
    "National Day": "国庆节 National Day",
}

MAKEUP_DAY = "调休 make-up working day"
CLOSING_DAY = "company closing day"
DECLARED_HOLIDAY = "declared holiday"

Source = Literal["official", "declared", "statutory", "weekends"]


class CalendarFallbackWarning(UserWarning):
    """A year has neither official nor declared data: statutory days off or weekends are used."""


class DeclaredYearError(ValueError):
    """A declared year is inconsistent.

    Attributes:
        field: ``"holidays"`` or ``"workdays"``, the list holding the wrong date.
        problem: What is wrong, naming the date (the message without ``field``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.problem = message


def _check_date(value: object, what: str) -> None:
    if not isinstance(value, date) or isinstance(value, datetime):
        raise TypeError(f"{what} must be dates, got {value!r}")


@dataclass(frozen=True)
class DeclaredYear:
    """One year of a country's schedule as the company declares it (as published).

    Attributes:
        holidays: The days off.
        workdays: The make-up working days (调休), each a Saturday or Sunday.

    Raises:
        DeclaredYearError: a date is both a holiday and a workday, or a workday
            is not on a Saturday or Sunday.
        TypeError: a value is not a ``date``.
    """

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        for day in self.holidays | self.workdays:
            _check_date(day, "declared days")
        for day in sorted(self.workdays):
            if day in self.holidays:
                raise DeclaredYearError("workdays", f"{day} is both a holiday and a workday")
            if day.weekday() not in _SATURDAY_SUNDAY:
                raise DeclaredYearError("workdays", f"{day} is a {_DAY_NAMES[day.weekday()]}: a make-up working day (调休) is a Saturday or Sunday")

    def check_year(self, year: int) -> None:
        """Raise :class:`DeclaredYearError` naming the first date not in ``year``."""
        for name in ("holidays", "workdays"):
            outside = sorted(day for day in getattr(self, name) if day.year != year)
            if outside:
                raise DeclaredYearError(name, f"{outside[0]} is not in {year}")


class CalendarDay(NamedTuple):
    """A day that differs from the weekly rhythm: a weekday off or a weekend day worked.

    Attributes:
        day: The day.
        working: Whether it is a working day (a make-up weekend day).
        name: The holiday's name, ``"调休 make-up working day"`` or ``"company closing day"``.
        source: ``"official"``, ``"statutory"``, ``"declared"`` or ``"closed"``.
    """

    day: date
    working: bool
    name: str
    source: str


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


OFFICE_HOURS = (CallWindow(time(9, 0), time(12, 0), preference=2), CallWindow(time(13, 30), time(17, 30), preference=1))
"""Customers' office hours; mornings are preferred for calls."""


class _Schedule(NamedTuple):
    """One year of a country's calendar, before the company's closing days."""

    names: Mapping[date, str]
    weekend: frozenset[int]
    makeup_days: frozenset[date]
    source: Source


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
    return _Schedule(names, _SATURDAY_SUNDAY, frozenset(makeup), "official")


def _china_statutory_schedule(year: int) -> _Schedule | None:
    if not _CN_STATUTORY_FROM <= year <= holidays.China.end_year:
        return None
    names: dict[date, str] = {}
    for day, name in holidays.China(years=year, observed=False).items():
        # Mid-Autumn may fall on National Day: "Mid-Autumn Festival; National Day".
        ours = [_CN_STATUTORY_NAMES[part] for part in name.split("; ") if part in _CN_STATUTORY_NAMES]
        if ours:
            names[day] = "; ".join(ours)
    return _Schedule(names, _SATURDAY_SUNDAY, frozenset(), "statutory")


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
    """Working days of one country: its declared, official or statutory schedule plus the closing days.

    Each year is computed once, on first use, into a dict, so that
    :meth:`is_working_day` is a single lookup afterwards. Build calendars
    through :meth:`CalendarBook.calendar` (or :func:`calendar_for`) to share them.

    Attributes:
        country: Upper-case ISO 3166 alpha-2 code.
        closed_days: The company's closing days.
        declared: The years the company declared for this country.
    """

    def __init__(self, country: str = "CN", closed_days: Iterable[date] = (), declared: Mapping[int, DeclaredYear] | None = None) -> None:
        """Build a calendar; years are loaded lazily.

        Args:
            country: ISO 3166 alpha-2 code, case-insensitive. A code unknown to
                the ``holidays`` package falls back to Saturday/Sunday weekends.
            closed_days: Days the company is closed, in any year.
            declared: Schedules the company declares, by year; each replaces the
                official or statutory schedule of its year.

        Raises:
            ValueError: ``country`` is not two letters, or a declared year holds
                a date of another year (:class:`DeclaredYearError`).
            TypeError: a closing day is not a ``date`` (a ``datetime`` would
                never match a day), or a declared year is not a :class:`DeclaredYear`.
        """
        self.country = _normalise_country(country)
        self.closed_days = frozenset(closed_days)
        for day in self.closed_days:
            _check_date(day, "closing days")
        self.declared: Mapping[int, DeclaredYear] = MappingProxyType(dict(declared or {}))
        for year, schedule in self.declared.items():
            if not isinstance(schedule, DeclaredYear):
                raise TypeError(f"declared {year} must be a DeclaredYear, got {schedule!r}")
            schedule.check_year(year)
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
        self._schedules: dict[int, _Schedule] = {}
        self._months: dict[tuple[int, int], tuple[date, ...]] = {}
        self._rolling_onto: dict[tuple[date, bool], tuple[date, date] | None] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        declared = f", declared={sorted(self.declared)}" if self.declared else ""
        return f"BusinessCalendar({self.country!r}, closed_days={len(self.closed_days)}{declared})"

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

    def days_rolling_onto(self, day: date, backward: bool = False) -> tuple[date, date] | None:
        """The first and last of the days that roll onto ``day``; None when ``day`` is not a working day.

        Forward (顺延): the days off just before ``day``, and ``day``; backward: ``day``
        and the days off just after it. Remembered per day: a calendar's working days
        never change once a year is loaded, so neither does the answer.
        """
        key = (day, backward)
        try:
            return self._rolling_onto[key]
        except KeyError:
            pass
        if not self.is_working_day(day):
            found = None
        elif backward:
            found = (day, self.next_working_day(day) - timedelta(days=1))
        else:
            found = (self.previous_working_day(day) + timedelta(days=1), day)
        self._rolling_onto[key] = found
        return found

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
    def has_data(self) -> bool:
        """Whether the calendar data knows this country (else only weekends are off)."""
        return self.country == "CN" or self._library is not None

    @property
    def fallback_years(self) -> frozenset[int]:
        """Years looked up so far that had neither official nor declared data."""
        return frozenset(self._fallback)

    def source_of(self, year: int) -> Source:
        """Where ``year``'s schedule comes from: ``"official"``, ``"declared"``, ``"statutory"`` or ``"weekends"``."""
        return self._schedule(year).source

    def exceptions(self, year: int) -> list[CalendarDay]:
        """The days of ``year`` that break the weekly rhythm, ascending.

        Every weekday (by the country's weekend) that is not a working day and
        every weekend day that is one. A holiday that is also a closing day keeps
        its holiday's name and source.
        """
        schedule = self._schedule(year)
        found = []
        for day in _days_of(year):
            working = self._working[day]
            if working != (day.weekday() in schedule.weekend):
                continue
            if working:
                found.append(CalendarDay(day, True, MAKEUP_DAY, schedule.source))
            elif day in schedule.names:
                found.append(CalendarDay(day, False, schedule.names[day], schedule.source))
            else:
                found.append(CalendarDay(day, False, CLOSING_DAY, "closed"))
        return found

    def describe(self, day: date) -> str:
        """Why ``day`` is or is not a working day, e.g. ``"国庆节 National Day (holiday)"``."""
        working = self.is_working_day(day)
        if day in self._reasons:
            return self._reasons[day]
        if day in self.closed_days:
            return CLOSING_DAY
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

    def _schedule(self, year: int) -> _Schedule:
        self._load(date(year, 1, 1))
        return self._schedules[year]

    def _load(self, day: date) -> None:
        _check_date(day, "days")
        year = day.year
        with self._lock:
            if year in self._loaded:
                return
            schedule = self._declared_schedule(year) or self._data_schedule(year)
            if schedule is None:
                schedule = _Schedule({}, self._weekend(), frozenset(), "weekends")
            if schedule.source in ("statutory", "weekends"):
                self._fallback.add(year)
                warnings.warn(self._fallback_message(year, schedule.source), CalendarFallbackWarning, stacklevel=_caller_stacklevel())
            for each in _days_of(year):
                # A closing day overrides a make-up day; a holiday that is also a
                # closing day is described by its name.
                if each in schedule.names:
                    working = False
                    self._reasons[each] = f"{schedule.names[each]} (holiday)"
                elif each in self.closed_days:
                    working = False
                elif each in schedule.makeup_days:
                    working = True
                    self._reasons[each] = f"{MAKEUP_DAY} ({_DAY_NAMES[each.weekday()]})"
                else:
                    working = each.weekday() not in schedule.weekend
                self._working[each] = working
            self._schedules[year] = schedule
            self._loaded.add(year)

    def _fallback_message(self, year: int, source: Source) -> str:
        if source == "statutory":
            return (
                f"no official {self.country} calendar for {year}: using the statutory days off"
                " (全国年节及纪念日放假办法) without make-up working days;"
                " declare the published schedule in the company file's calendar section"
            )
        country = self.country if self.has_data else f"(unknown country {self.country})"
        return f"no official {country} calendar for {year}: using weekends plus the configured closing days"

    def _declared_schedule(self, year: int) -> _Schedule | None:
        declared = self.declared.get(year)
        if declared is None:
            return None
        data = self._data_schedule(year)
        known = data.names if data is not None else {}
        names = {day: known.get(day, DECLARED_HOLIDAY) for day in declared.holidays}
        return _Schedule(names, self._weekend(), declared.workdays, "declared")

    def _data_schedule(self, year: int) -> _Schedule | None:
        """The official schedule of ``year``, else the statutory one, else ``None``."""
        if self.country == "CN":
            return _china_schedule(year) or _china_statutory_schedule(year)
        return self._official_schedule(year)

    def _official_schedule(self, year: int) -> _Schedule | None:
        if not self.is_official(year):
            return None
        data = holidays.country_holidays(self.country, years=year)
        # weekend_workdays is not limited to the requested years.
        makeup = frozenset(d for d in getattr(data, "weekend_workdays", ()) if d.year == year)
        names = {d: name for d, name in data.items() if d.year == year}
        return _Schedule(names, frozenset(data.weekend), makeup, "official")

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


DeclaredItems = tuple[tuple[tuple[str, int], DeclaredYear], ...]


@dataclass(frozen=True, init=False)
class CalendarBook:
    """A company's closing days and declared years: the one place calendars are built.

    Equal books share their calendars, so the per-year data and the fallback
    warnings come once per process. A run builds one book and asks it for the
    calendar of each customer's country.

    Attributes:
        closed_days: The company's closing days.
        declared_items: The declared years as sorted ``((country, year), DeclaredYear)``
            pairs (hashable); :attr:`declared` is the same as a mapping.
    """

    closed_days: frozenset[date]
    declared_items: DeclaredItems = field(repr=False)

    def __init__(self, closed_days: Iterable[date] = (), declared: Mapping[tuple[str, int], DeclaredYear] | None = None) -> None:
        """Check and freeze the closing days and declared years.

        Raises:
            ValueError: a country is not an ISO 3166 alpha-2 code, a country is
                declared twice for a year, or a declared year holds a date of
                another year.
            TypeError: a day is not a ``date`` or a declared year not a :class:`DeclaredYear`.
        """
        closed = frozenset(closed_days)
        for day in closed:
            _check_date(day, "closing days")
        items: dict[tuple[str, int], DeclaredYear] = {}
        for (country, year), schedule in (declared or {}).items():
            key = (_normalise_country(country), year)
            if key in items:
                raise ValueError(f"{key[0]} {year} is declared twice")
            if not isinstance(schedule, DeclaredYear):
                raise TypeError(f"declared {country} {year} must be a DeclaredYear, got {schedule!r}")
            schedule.check_year(year)
            items[key] = schedule
        object.__setattr__(self, "closed_days", closed)
        object.__setattr__(self, "declared_items", tuple(sorted(items.items(), key=lambda item: item[0])))

    @property
    def declared(self) -> Mapping[tuple[str, int], DeclaredYear]:
        """The declared years by ``(country, year)``."""
        return MappingProxyType(dict(self.declared_items))

    def with_closed_days(self, extra: Iterable[date]) -> CalendarBook:
        """This book with more closing days (``HUIKUAN_CLOSED_DAYS`` adds to the company file's)."""
        return CalendarBook(self.closed_days | frozenset(extra), self.declared)

    def calendar(self, country: str) -> BusinessCalendar:
        """The shared calendar of ``country`` (ISO 3166 alpha-2, case-insensitive)."""
        code = _normalise_country(country)
        declared = tuple((year, schedule) for (each, year), schedule in self.declared_items if each == code)
        return _cached_calendar(code, self.closed_days, declared)


@lru_cache(maxsize=256)
def _cached_calendar(country: str, closed_days: frozenset[date], declared: tuple[tuple[int, DeclaredYear], ...]) -> BusinessCalendar:
    return BusinessCalendar(country, closed_days, dict(declared))


def calendar_for(country: str, closed_days: Iterable[date] = (), declared: Mapping[int, DeclaredYear] | None = None) -> BusinessCalendar:
    """The shared calendar of a country, set of closing days and declared years.

    The same as ``CalendarBook(closed_days, {(country, year): ...}).calendar(country)``.
    """
    code = _normalise_country(country)
    book = CalendarBook(closed_days, {(code, year): schedule for year, schedule in (declared or {}).items()})
    return book.calendar(code)


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
    day: date, cal: BusinessCalendar, *, month_start_days: int = MONTH_START_PREFERRED_DAYS, month_end_days: int = MONTH_END_NO_CALL_DAYS
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
