"""Tests of models.calendar on real dates: China's official 2026, its statutory and declared 2027."""

from __future__ import annotations

import warnings
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.calendar import (
    BusinessCalendar,
    CalendarBook,
    CalendarDay,
    CalendarFallbackWarning,
    CallWindow,
    DeclaredYear,
    DeclaredYearError,
    add_months,
    calendar_for,
    call_day_preference,
    call_windows,
    is_cash_tight,
)

ignore_fallback = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

MORNING = CallWindow(time(9, 0), time(11, 30), preference=2)
AFTERNOON = CallWindow(time(13, 30), time(17, 0), preference=1)


def d(text: str) -> date:
    return date.fromisoformat(text)


def days(first: str, last: str) -> list[date]:
    start, end = d(first), d(last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


@pytest.fixture(scope="module")
def cn() -> BusinessCalendar:
    return BusinessCalendar("CN")


# --- China 2026 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    days("2026-10-01", "2026-10-07")
    + days("2026-09-25", "2026-09-27")
    + days("2026-02-15", "2026-02-23")
    + [d("2026-01-01"), d("2026-01-02"), d("2026-05-05")],
)
def test_china_official_days_off(cn: BusinessCalendar, day: date) -> None:
    assert not cn.is_working_day(day)
    assert cn.describe(day).endswith("(holiday)")


@pytest.mark.parametrize(
    ("day", "weekday"),
    [
        ("2026-01-04", "Sunday"),
        ("2026-02-14", "Saturday"),
        ("2026-02-28", "Saturday"),
        ("2026-05-09", "Saturday"),
        ("2026-09-20", "Sunday"),
        ("2026-10-10", "Saturday"),
    ],
)
def test_china_makeup_weekends_are_working_days(cn: BusinessCalendar, day: str, weekday: str) -> None:
    assert cn.is_working_day(d(day))
    assert cn.describe(d(day)) == f"调休 make-up working day ({weekday})"


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        ("2026-10-01", "国庆节 National Day (holiday)"),
        ("2026-10-03", "国庆节 National Day (holiday)"),
        ("2026-09-25", "中秋节 Mid-Autumn Festival (holiday)"),
        ("2026-02-17", "春节 Spring Festival (holiday)"),
        ("2026-01-01", "元旦 New Year's Day (holiday)"),
        ("2026-10-17", "weekend"),
        ("2026-10-08", "working day"),
        ("2026-09-28", "working day"),
    ],
)
def test_describe(cn: BusinessCalendar, day: str, expected: str) -> None:
    assert cn.describe(d(day)) == expected
    assert cn.is_working_day(d(day)) == (expected == "working day")


@pytest.mark.parametrize(
    ("day", "forward", "backward"),
    [
        ("2026-10-01", "2026-10-08", "2026-09-30"),  # deadline 顺延 past National Day
        ("2026-10-03", "2026-10-08", "2026-09-30"),  # reminder moves before the holiday
        ("2026-10-07", "2026-10-08", "2026-09-30"),
        ("2026-09-25", "2026-09-28", "2026-09-24"),  # Mid-Autumn
        ("2026-09-27", "2026-09-28", "2026-09-24"),
        ("2026-02-15", "2026-02-24", "2026-02-14"),  # back onto a make-up Saturday
        ("2026-02-23", "2026-02-24", "2026-02-14"),
        ("2026-09-19", "2026-09-20", "2026-09-18"),  # forward onto a make-up Sunday
        ("2026-10-11", "2026-10-12", "2026-10-10"),
        ("2026-10-10", "2026-10-10", "2026-10-10"),  # a working day stays
        ("2026-02-28", "2026-02-28", "2026-02-28"),  # month-end deadline on a make-up Saturday
        ("2026-03-01", "2026-03-02", "2026-02-28"),
    ],
)
def test_roll_across_holidays(cn: BusinessCalendar, day: str, forward: str, backward: str) -> None:
    assert cn.roll_forward(d(day)) == d(forward)
    assert cn.roll_backward(d(day)) == d(backward)


@pytest.mark.parametrize(
    ("day", "following", "preceding"),
    [
        ("2026-09-30", "2026-10-08", "2026-09-29"),
        ("2026-10-08", "2026-10-09", "2026-09-30"),
        ("2026-10-04", "2026-10-08", "2026-09-30"),
        ("2026-09-18", "2026-09-20", "2026-09-17"),
        ("2026-02-24", "2026-02-25", "2026-02-14"),
    ],
)
def test_next_and_previous_working_day(cn: BusinessCalendar, day: str, following: str, preceding: str) -> None:
    assert cn.next_working_day(d(day)) == d(following)
    assert cn.previous_working_day(d(day)) == d(preceding)


@pytest.mark.parametrize(
    ("day", "n", "expected"),
    [
        ("2026-09-30", 1, "2026-10-08"),
        ("2026-09-30", 2, "2026-10-09"),
        ("2026-09-30", 3, "2026-10-10"),  # make-up Saturday counts
        ("2026-09-29", 2, "2026-10-08"),
        ("2026-09-24", 1, "2026-09-28"),
        ("2026-09-18", 1, "2026-09-20"),
        ("2026-10-08", -1, "2026-09-30"),
        ("2026-10-09", -2, "2026-09-30"),
        ("2026-10-12", -4, "2026-09-30"),
        ("2026-10-03", 0, "2026-10-08"),  # n = 0 rolls forward
        ("2026-10-08", 0, "2026-10-08"),
        ("2026-10-03", 1, "2026-10-08"),  # counted from the day itself
        ("2026-10-03", -1, "2026-09-30"),
        ("2026-09-21", 9, "2026-10-10"),
    ],
)
def test_add_working_days(cn: BusinessCalendar, day: str, n: int, expected: str) -> None:
    assert cn.add_working_days(d(day), n) == d(expected)


def test_working_days_is_inclusive_and_ascending(cn: BusinessCalendar) -> None:
    found = list(cn.working_days(d("2026-09-19"), d("2026-10-10")))
    expected = ["2026-09-20", "2026-09-21", "2026-09-22", "2026-09-23", "2026-09-24"]
    expected += ["2026-09-28", "2026-09-29", "2026-09-30", "2026-10-08", "2026-10-09"]
    assert found == [d(x) for x in expected + ["2026-10-10"]]
    assert list(cn.working_days(d("2026-10-08"), d("2026-10-08"))) == [d("2026-10-08")]
    assert list(cn.working_days(d("2026-10-01"), d("2026-10-07"))) == []
    assert list(cn.working_days(d("2026-10-09"), d("2026-10-08"))) == []


def test_official_years(cn: BusinessCalendar) -> None:
    assert cn.is_official(2026)
    assert cn.is_official(2004)
    assert not cn.is_official(2027)
    assert not cn.is_official(2003)


def test_datetime_is_rejected(cn: BusinessCalendar) -> None:
    with pytest.raises(TypeError):
        cn.is_working_day(datetime(2026, 10, 8, 9, 0))
    with pytest.raises(TypeError):
        BusinessCalendar("CN", [datetime(2026, 12, 31)])


# --- fallback years --------------------------------------------------------------------


def test_statutory_year_warns_once_and_uses_the_statutory_days_off() -> None:
    cal = BusinessCalendar("CN")
    assert cal.is_working_day(d("2026-12-31"))
    assert cal.fallback_years == frozenset()
    with pytest.warns(CalendarFallbackWarning, match="CN calendar for 2027: using the statutory days off") as record:
        # Month-end deadline on a Sunday: no make-up day is known, so it moves.
        assert cal.roll_forward(d("2027-02-28")) == d("2027-03-01")
    assert len(record) == 1
    assert record[0].filename == __file__
    assert cal.fallback_years == frozenset({2027})
    assert not cal.is_official(2027)
    assert cal.is_official(2026)
    assert cal.source_of(2027) == "statutory"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not cal.is_working_day(d("2027-01-01"))
        assert cal.describe(d("2027-01-01")) == "元旦 New Year's Day (holiday)"
        assert not cal.is_working_day(d("2027-01-02"))
        assert cal.describe(d("2027-01-03")) == "weekend"
        assert cal.describe(d("2027-01-04")) == "working day"


def test_statutory_year_with_configured_closing_days() -> None:
    spring_festival = days("2027-02-05", "2027-02-11")
    cal = BusinessCalendar("CN", [d("2027-01-01"), *spring_festival])
    with pytest.warns(CalendarFallbackWarning, match="2027"):
        assert cal.roll_forward(d("2026-12-31")) == d("2026-12-31")
        assert cal.roll_forward(d("2027-01-01")) == d("2027-01-04")
    # A statutory holiday that is also a closing day keeps its name.
    assert cal.describe(d("2027-01-01")) == "元旦 New Year's Day (holiday)"
    assert cal.describe(d("2027-02-10")) == "company closing day"
    assert [day for day in spring_festival if cal.is_working_day(day)] == []
    assert cal.roll_backward(d("2027-02-10")) == d("2027-02-04")
    assert cal.add_working_days(d("2027-02-04"), 1) == d("2027-02-12")


def test_unknown_country_falls_back_with_warning() -> None:
    cal = BusinessCalendar("zz")
    assert cal.country == "ZZ"
    with pytest.warns(CalendarFallbackWarning, match="unknown country ZZ"):
        assert cal.is_working_day(d("2026-01-01"))
    assert not cal.is_working_day(d("2026-01-03"))
    assert cal.fallback_years == frozenset({2026})
    assert not cal.is_official(2026)


def test_year_outside_library_range_falls_back() -> None:
    cal = BusinessCalendar("DE")
    assert not cal.is_official(1950)
    with pytest.warns(CalendarFallbackWarning, match="DE calendar for 1950"):
        assert cal.is_working_day(d("1950-12-25"))
    assert cal.fallback_years == frozenset({1950})


@pytest.mark.parametrize("country", ["", "C", "CHN", "中国", "1N"])
def test_malformed_country_code_is_rejected(country: str) -> None:
    with pytest.raises(ValueError, match="alpha-2"):
        BusinessCalendar(country)


# --- the four sources: closed, declared, official, statutory ------------------------

STATUTORY_2027 = [
    d("2027-01-01"),
    *days("2027-02-05", "2027-02-08"),
    d("2027-04-05"),
    d("2027-05-01"),
    d("2027-05-02"),
    d("2027-06-09"),
    d("2027-09-15"),
    *days("2027-10-01", "2027-10-03"),
]

# As the State Council might publish 2027: bridging days off, make-up weekends worked.
DECLARED_2027 = DeclaredYear(
    holidays=frozenset(
        [
            d("2027-01-01"),
            *days("2027-02-05", "2027-02-11"),
            d("2027-04-05"),
            *days("2027-05-01", "2027-05-05"),
            d("2027-06-09"),
            d("2027-09-15"),
            *days("2027-10-01", "2027-10-07"),
        ]
    ),
    workdays=frozenset([d("2027-02-20"), d("2027-10-09")]),
)


@pytest.fixture
def statutory() -> BusinessCalendar:
    cal = BusinessCalendar("CN")
    with pytest.warns(CalendarFallbackWarning):
        cal.is_working_day(d("2027-01-01"))
    return cal


@pytest.mark.parametrize("day", STATUTORY_2027)
def test_statutory_days_off_2027(statutory: BusinessCalendar, day: date) -> None:
    assert not statutory.is_working_day(day)


@pytest.mark.parametrize("day", ["2027-02-09", "2027-02-10", "2027-05-03", "2027-05-04", "2027-10-04", "2027-10-05", "2027-12-31"])
def test_guessed_observed_days_are_working_days(statutory: BusinessCalendar, day: str) -> None:
    assert statutory.is_working_day(d(day))


def test_statutory_exceptions_2027(statutory: BusinessCalendar) -> None:
    # Weekend holidays (02-06, 02-07, 05-01, 05-02, 10-02, 10-03) are not exceptions.
    assert [(str(x.day), x.working, x.name, x.source) for x in statutory.exceptions(2027)] == [
        ("2027-01-01", False, "元旦 New Year's Day", "statutory"),
        ("2027-02-05", False, "除夕 Spring Festival's Eve", "statutory"),
        ("2027-02-08", False, "春节 Spring Festival", "statutory"),
        ("2027-04-05", False, "清明节 Tomb-sweeping Day", "statutory"),
        ("2027-06-09", False, "端午节 Dragon Boat Festival", "statutory"),
        ("2027-09-15", False, "中秋节 Mid-Autumn Festival", "statutory"),
        ("2027-10-01", False, "国庆节 National Day", "statutory"),
    ]


LEGAL_DAYS = {"元旦": 1, "除夕": 1, "春节": 3, "清明节": 1, "劳动节": 2, "端午节": 1, "中秋节": 1, "国庆节": 3}


@pytest.mark.parametrize("year", range(2027, 2101))
def test_statutory_years_have_exactly_the_legal_days(year: int) -> None:
    cal = BusinessCalendar("CN")
    with pytest.warns(CalendarFallbackWarning):
        reasons = {day: cal.describe(day) for day in days(f"{year}-01-01", f"{year}-12-31")}
    assert {name: sum(name in reason for reason in reasons.values()) for name in LEGAL_DAYS} == LEGAL_DAYS
    fixed = {"01-01": "元旦", "05-01": "劳动节", "05-02": "劳动节", "10-01": "国庆节", "10-02": "国庆节", "10-03": "国庆节"}
    assert all(name in reasons[d(f"{year}-{day}")] for day, name in fixed.items())


def test_beyond_the_holidays_range_only_weekends_are_off() -> None:
    cal = BusinessCalendar("CN")
    with pytest.warns(CalendarFallbackWarning, match="weekends"):
        assert cal.is_working_day(d("2101-01-03"))  # a Monday
    assert cal.source_of(2101) == "weekends"
    assert cal.exceptions(2101) == []


def test_a_declared_year_replaces_the_statutory_days() -> None:
    cal = BusinessCalendar("CN", declared={2027: DECLARED_2027})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cal.source_of(2027) == "declared"
        assert not cal.is_working_day(d("2027-02-09"))  # a declared bridging day
        assert cal.is_working_day(d("2027-02-20"))  # a declared make-up Saturday
        assert cal.describe(d("2027-02-20")) == "调休 make-up working day (Saturday)"
        assert cal.roll_forward(d("2027-02-05")) == d("2027-02-12")
    assert cal.fallback_years == frozenset()


def test_a_statutory_day_not_declared_is_a_working_day() -> None:
    without_qingming = DeclaredYear(DECLARED_2027.holidays - {d("2027-04-05")}, DECLARED_2027.workdays)
    cal = BusinessCalendar("CN", declared={2027: without_qingming})
    assert cal.is_working_day(d("2027-04-05"))
    assert cal.source_of(2027) == "declared"


def test_declared_exceptions_are_named() -> None:
    cal = BusinessCalendar("CN", declared={2027: DeclaredYear({d("2027-02-08"), d("2027-02-09")}, {d("2027-02-20")})})
    assert cal.exceptions(2027) == [
        CalendarDay(d("2027-02-08"), False, "春节 Spring Festival", "declared"),
        CalendarDay(d("2027-02-09"), False, "declared holiday", "declared"),
        CalendarDay(d("2027-02-20"), True, "调休 make-up working day", "declared"),
    ]


def test_a_declared_official_year_replaces_the_official_data() -> None:
    cal = BusinessCalendar("CN", declared={2026: DeclaredYear({d("2026-10-01"), d("2026-10-02")})})
    assert cal.source_of(2026) == "declared"
    assert cal.is_working_day(d("2026-10-05"))
    assert not cal.is_working_day(d("2026-10-10"))  # no longer a make-up day
    assert [x.name for x in cal.exceptions(2026)] == ["国庆节 National Day", "国庆节 National Day"]
    assert cal.source_of(2025) == "official"


def test_closing_days_beat_declared_workdays_and_are_listed() -> None:
    cal = BusinessCalendar("CN", [d("2027-02-20"), d("2027-12-31"), d("2027-02-09")], {2027: DECLARED_2027})
    assert not cal.is_working_day(d("2027-02-20"))
    assert cal.describe(d("2027-02-20")) == "company closing day"
    listed = {x.day: x for x in cal.exceptions(2027)}
    assert d("2027-02-20") not in listed  # a Saturday off is no exception
    assert listed[d("2027-12-31")] == CalendarDay(d("2027-12-31"), False, "company closing day", "closed")
    assert listed[d("2027-02-09")].source == "declared"  # a holiday keeps its source
    assert listed[d("2027-10-09")] == CalendarDay(d("2027-10-09"), True, "调休 make-up working day", "declared")


def test_official_exceptions_2026(cn: BusinessCalendar) -> None:
    found = cn.exceptions(2026)
    assert {x.source for x in found} == {"official"}
    assert CalendarDay(d("2026-10-10"), True, "调休 make-up working day", "official") in found
    assert CalendarDay(d("2026-10-05"), False, "国庆节 National Day", "official") in found
    assert found == sorted(found)


def test_other_countries_can_be_declared() -> None:
    us = BusinessCalendar("US", declared={2027: DeclaredYear({d("2027-07-05"), d("2027-08-02")})})
    assert us.exceptions(2027) == [
        CalendarDay(d("2027-07-05"), False, "Independence Day (observed)", "declared"),
        CalendarDay(d("2027-08-02"), False, "declared holiday", "declared"),
    ]
    assert us.is_working_day(d("2027-12-24"))  # not declared
    assert calendar_for("US").source_of(2027) == "official"


@pytest.mark.parametrize(
    ("holidays", "workdays", "field", "message"),
    [
        ([], ["2027-02-17"], "workdays", "2027-02-17 is a Wednesday: a make-up working day"),
        (["2027-02-20"], ["2027-02-20"], "workdays", "2027-02-20 is both a holiday and a workday"),
    ],
)
def test_declared_year_is_validated(holidays: list[str], workdays: list[str], field: str, message: str) -> None:
    with pytest.raises(DeclaredYearError, match=message) as raised:
        DeclaredYear(frozenset(map(d, holidays)), frozenset(map(d, workdays)))
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError)


def test_declared_year_must_match_its_key() -> None:
    with pytest.raises(DeclaredYearError, match="2028-01-01 is not in 2027") as raised:
        BusinessCalendar("CN", declared={2027: DeclaredYear({d("2028-01-01")})})
    assert raised.value.field == "holidays"
    with pytest.raises(DeclaredYearError, match="not in 2026"):
        CalendarBook(declared={("cn", 2026): DECLARED_2027})
    with pytest.raises(TypeError):
        DeclaredYear({datetime(2027, 1, 1)})


# --- the calendar book -----------------------------------------------------------------


def test_calendar_book_shares_one_calendar_per_country() -> None:
    book = CalendarBook([d("2026-12-31")], {("cn", 2027): DECLARED_2027})
    same = CalendarBook({d("2026-12-31")}, {("CN", 2027): DECLARED_2027})
    assert book == same and hash(book) == hash(same)
    assert book.calendar("CN") is same.calendar("cn")
    assert book.calendar("CN").declared == {2027: DECLARED_2027}
    assert book.calendar("US").declared == {}
    assert book.calendar("US") is calendar_for("US", [d("2026-12-31")])
    assert calendar_for("CN", [d("2026-12-31")], {2027: DECLARED_2027}) is book.calendar("CN")
    assert dict(book.declared) == {("CN", 2027): DECLARED_2027}


def test_calendar_book_adds_closing_days() -> None:
    book = CalendarBook([d("2026-12-31")], {("CN", 2027): DECLARED_2027})
    more = book.with_closed_days([d("2027-02-20")])
    assert more.closed_days == {d("2026-12-31"), d("2027-02-20")}
    assert more.declared == book.declared
    assert not more.calendar("CN").is_working_day(d("2027-02-20"))
    assert book.calendar("CN").is_working_day(d("2027-02-20"))
    with pytest.raises(ValueError, match="alpha-2"):
        CalendarBook(declared={("CHN", 2027): DECLARED_2027})
    with pytest.raises(ValueError, match="declared twice"):
        CalendarBook(declared={("CN", 2027): DECLARED_2027, ("cn", 2027): DECLARED_2027})


# --- company closing days --------------------------------------------------------------


def test_company_closing_days() -> None:
    cal = BusinessCalendar("CN", [d("2026-12-31"), d("2026-10-10"), d("2026-10-01")])
    assert not cal.is_working_day(d("2026-12-31"))
    assert cal.describe(d("2026-12-31")) == "company closing day"
    assert cal.roll_backward(d("2026-12-31")) == d("2026-12-30")
    # Closing beats a make-up Saturday; a holiday keeps its own name.
    assert not cal.is_working_day(d("2026-10-10"))
    assert cal.describe(d("2026-10-10")) == "company closing day"
    assert cal.describe(d("2026-10-01")) == "国庆节 National Day (holiday)"
    assert cal.add_working_days(d("2026-09-30"), 3) == d("2026-10-12")
    assert cal.closed_days == frozenset({d("2026-12-31"), d("2026-10-10"), d("2026-10-01")})


def test_whole_year_closed_stops_rolling() -> None:
    cal = BusinessCalendar("US", days("2026-01-01", "2027-02-05"))
    with pytest.raises(ValueError, match="no working day within 366 days"):
        cal.roll_forward(d("2026-01-01"))
    assert cal.roll_backward(d("2026-06-01")) == d("2025-12-31")


# --- other countries -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "day", "working", "reason"),
    [
        ("US", "2026-07-03", False, "Independence Day (observed) (holiday)"),
        ("US", "2026-07-04", False, "Independence Day (holiday)"),
        ("US", "2026-11-26", False, "Thanksgiving Day (holiday)"),
        ("US", "2026-07-06", True, "working day"),
        ("US", "2026-10-10", False, "weekend"),  # China's make-up Saturday means nothing here
        ("DE", "2026-12-25", False, "Christmas Day (holiday)"),
        ("DE", "2026-12-24", True, "working day"),
        ("DE", "2026-10-01", True, "working day"),
        ("SA", "2026-06-05", False, "weekend"),  # Friday/Saturday weekend
        ("SA", "2026-06-07", True, "working day"),  # Sunday
    ],
)
def test_other_countries(country: str, day: str, working: bool, reason: str) -> None:
    cal = calendar_for(country)
    assert cal.is_working_day(d(day)) is working
    assert cal.describe(d(day)) == reason


def test_other_country_rolls_and_needs_no_fallback() -> None:
    us = BusinessCalendar("us")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert us.country == "US"
        assert us.roll_forward(d("2026-07-03")) == d("2026-07-06")
        assert us.roll_backward(d("2026-07-03")) == d("2026-07-02")
        assert us.roll_forward(d("2027-12-25")) == d("2027-12-27")
        assert us.is_official(2027)
    assert us.fallback_years == frozenset()


def test_calendar_for_is_cached_per_country_and_closing_days() -> None:
    closing = d("2026-12-31")
    shared = calendar_for("cn", [closing])
    assert calendar_for("CN", {closing}) is shared
    assert calendar_for("CN") is not shared
    assert calendar_for("CN").country == "CN"


# --- add_months ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        ("2026-01-31", 1, "2026-02-28"),
        ("2028-01-31", 1, "2028-02-29"),
        ("2026-03-31", -1, "2026-02-28"),
        ("2026-11-30", 3, "2027-02-28"),
        ("2026-01-15", 1, "2026-02-15"),
        ("2024-02-29", 12, "2025-02-28"),
        ("2026-12-31", 2, "2027-02-28"),
        ("2026-05-31", -13, "2025-04-30"),
        ("2026-01-31", -1, "2025-12-31"),
        ("2026-03-31", 0, "2026-03-31"),
        ("2026-08-31", 1, "2026-09-30"),
    ],
)
def test_add_months(day: str, months: int, expected: str) -> None:
    assert add_months(d(day), months) == d(expected)


# --- contact rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "windows", "preference"),
    [
        ("2026-06-01", True, 3),  # Monday, first working day of the month
        ("2026-03-02", True, 3),  # Monday, first working day of March
        ("2026-10-12", True, 3),  # Monday, 4th working day of October
        ("2026-03-09", True, 2),  # Monday, 6th working day
        ("2026-03-06", True, 2),  # Friday, 5th working day
        ("2026-06-26", True, 1),  # plain Friday
        ("2026-10-10", True, 2),  # make-up Saturday: people are at their desks
        ("2026-09-20", True, 1),  # make-up Sunday
        ("2026-09-28", True, 2),  # Monday, 3rd-last working day
        ("2026-09-29", False, 0),  # month end: last 2 working days
        ("2026-09-30", False, 0),
        ("2026-06-29", False, 0),  # a Monday, but month end
        ("2026-06-30", False, 0),
        ("2026-02-27", False, 0),
        ("2026-02-28", False, 0),  # make-up Saturday at month end
        ("2026-06-06", False, 0),  # weekend
        ("2026-10-05", False, 0),  # a Monday in the National Day holiday
    ],
)
def test_call_windows_and_preference(cn: BusinessCalendar, day: str, windows: bool, preference: int) -> None:
    assert call_windows(d(day), cn) == ((MORNING, AFTERNOON) if windows else ())
    assert call_day_preference(d(day), cn) == preference


def test_call_window_overrides(cn: BusinessCalendar) -> None:
    office = call_windows(d("2026-06-01"), cn, cutoff=timedelta(0))
    assert [(w.start, w.end, w.preference) for w in office] == [(time(9), time(12), 2), (time(13, 30), time(17, 30), 1)]
    assert call_windows(d("2026-06-30"), cn, month_end_days=0) == (MORNING, AFTERNOON)
    assert call_windows(d("2026-06-26"), cn, month_end_days=3) == ()
    assert call_day_preference(d("2026-06-26"), cn, month_start_days=30) == 2
    assert call_day_preference(d("2026-06-30"), cn, month_end_days=0) == 1


def test_call_window_must_not_be_empty() -> None:
    with pytest.raises(ValueError):
        CallWindow(time(12), time(12), preference=1)


@pytest.mark.parametrize(
    ("day", "tight"),
    [
        ("2026-10-08", True),  # first 3 working days of October
        ("2026-10-09", True),
        ("2026-10-10", True),
        ("2026-10-12", False),
        ("2026-10-01", True),  # holiday before the month's 3rd working day
        ("2026-09-24", False),
        ("2026-09-25", False),
        ("2026-09-28", True),  # last 3 working days of September (quarter end)
        ("2026-09-30", True),
        ("2026-06-03", True),
        ("2026-06-04", False),
        ("2026-06-25", False),
        ("2026-06-26", True),
        ("2026-06-27", True),  # weekend after the 3rd-last working day
        ("2026-12-28", False),
        ("2026-12-29", True),  # year end
        ("2026-12-31", True),
    ],
)
def test_is_cash_tight(cn: BusinessCalendar, day: str, tight: bool) -> None:
    assert is_cash_tight(d(day), cn) is tight


def test_is_cash_tight_override(cn: BusinessCalendar) -> None:
    assert not is_cash_tight(d("2026-10-09"), cn, days=1)
    assert is_cash_tight(d("2026-10-08"), cn, days=1)


# --- properties ------------------------------------------------------------------------

any_day = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31))
any_country = st.sampled_from(["CN", "US", "DE"])
# The first lookup of a country or year loads data (≈0.3 s for `holidays`' first
# import): no deadline. No example database: nothing written into the tree.
quick = settings(deadline=None, database=None)


@ignore_fallback
@quick
@given(day=any_day, country=any_country)
def test_roll_forward_finds_the_first_working_day(day: date, country: str) -> None:
    cal = calendar_for(country)
    rolled = cal.roll_forward(day)
    assert rolled >= day
    assert cal.is_working_day(rolled)
    assert list(cal.working_days(day, rolled - timedelta(days=1))) == []


@ignore_fallback
@quick
@given(day=any_day, country=any_country)
def test_roll_backward_finds_the_last_working_day(day: date, country: str) -> None:
    cal = calendar_for(country)
    rolled = cal.roll_backward(day)
    assert rolled <= day
    assert cal.is_working_day(rolled)
    assert list(cal.working_days(rolled + timedelta(days=1), day)) == []


@ignore_fallback
@quick
@given(day=any_day, country=any_country, n=st.integers(min_value=-40, max_value=40))
def test_add_working_days_counts_working_days(day: date, country: str, n: int) -> None:
    cal = calendar_for(country)
    moved = cal.add_working_days(day, n)
    assert cal.is_working_day(moved)
    if n > 0:
        assert len(list(cal.working_days(day + timedelta(days=1), moved))) == n
    elif n < 0:
        assert len(list(cal.working_days(moved, day - timedelta(days=1)))) == -n
    else:
        assert moved == cal.roll_forward(day)
    if cal.is_working_day(day):
        assert cal.add_working_days(moved, -n) == day
