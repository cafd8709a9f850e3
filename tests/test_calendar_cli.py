"""`huikuan calendar YEAR` and the company file's calendar section."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.ledger.company import EXAMPLE, CompanyFileError, calendar_book_from_file, parse_company
from huikuan.ledger.settings import get_settings
from models.calendar import DeclaredYear

runner = CliRunner()

CALENDAR = """\
calendar:
  closed_days: [2027-12-31]
  cn:
    2027:
      holidays: [2027-01-01, 2027-02-05, 2027-02-06, 2027-02-07, 2027-02-08, 2027-02-09, 2027-02-10, 2027-02-11]
      workdays: [2027-02-20]
"""


@pytest.fixture
def company_file(tmp_path, monkeypatch):
    path = tmp_path / "company.yaml"
    monkeypatch.setenv("HUIKUAN_COMPANY_FILE", str(path))
    monkeypatch.delenv("HUIKUAN_CLOSED_DAYS", raising=False)
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def run(*args: str):
    return runner.invoke(app, ["calendar", *args], catch_exceptions=False)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# --- the company file ------------------------------------------------------------------


def test_the_example_company_file_has_no_calendar_and_parses() -> None:
    company = parse_company(EXAMPLE)
    assert company.calendar is None
    assert company.calendar_book().closed_days == frozenset()


def test_calendar_section_becomes_a_book() -> None:
    book = parse_company(EXAMPLE + CALENDAR).calendar_book([d("2027-05-06")])
    assert book.closed_days == {d("2027-12-31"), d("2027-05-06")}
    assert set(book.declared) == {("CN", 2027)}
    assert book.declared["CN", 2027].workdays == {d("2027-02-20")}
    cal = book.calendar("CN")
    assert cal.source_of(2027) == "declared"
    assert not cal.is_working_day(d("2027-02-10"))
    assert cal.is_working_day(d("2027-02-20"))


@pytest.mark.parametrize(
    ("section", "line"),
    [
        (
            "  CN:\n    2027:\n      workdays: [2027-02-17]\n",
            "calendar.CN.2027.workdays: 2027-02-17 is a Wednesday: a make-up working day (调休) is a Saturday or Sunday",
        ),
        (
            "  CN:\n    2027:\n      holidays: [2027-02-20]\n      workdays: [2027-02-20]\n",
            "calendar.CN.2027.workdays: 2027-02-20 is both a holiday and a workday",
        ),
        ("  CN:\n    2027:\n      holidays: [2028-01-01]\n", "calendar.CN.2027.holidays: 2028-01-01 is not in 2027"),
        ("  CN:\n    2027:\n      holidays: [2027-02-30]\n", "calendar.CN.2027.holidays.0: Input should be a valid date"),
        ("  China:\n    2027: {}\n", "calendar.China: not a country: write an ISO 3166 alpha-2 code such as CN"),
        ("  NO:\n    2027: {}\n", "calendar.False: not a country"),
        ("  cn: {}\n  CN: {}\n", "calendar.CN: CN appears twice"),
        ("  CN:\n    next: {}\n", "calendar.CN.next.[key]: Input should be a valid integer"),
        ("  CN:\n    2027: {holiday: [2027-02-05]}\n", "calendar.CN.2027.holiday: Extra inputs are not permitted"),
        ("  closed_days: 2027-12-31\n", "calendar.closed_days: Input should be a valid list"),
    ],
)
def test_calendar_section_errors_name_the_field(section: str, line: str) -> None:
    with pytest.raises(CompanyFileError) as raised:
        parse_company(EXAMPLE + "calendar:\n" + section)
    problems = str(raised.value).splitlines()[1:]
    assert len(problems) == 1
    assert problems[0].startswith(f"  {line}")


def test_calendar_book_from_file(tmp_path) -> None:
    missing = calendar_book_from_file(tmp_path / "none.yaml", [d("2027-12-31")])
    assert missing.closed_days == {d("2027-12-31")} and missing.declared == {}
    path = tmp_path / "company.yaml"
    path.write_text(EXAMPLE + CALENDAR, encoding="utf-8")
    book = calendar_book_from_file(path, [d("2027-05-06")])
    assert book.closed_days == {d("2027-12-31"), d("2027-05-06")}
    assert book.declared["CN", 2027] == DeclaredYear(
        frozenset([d("2027-01-01"), *(d(f"2027-02-{day:02}") for day in range(5, 12))]), frozenset([d("2027-02-20")])
    )


# --- huikuan calendar ------------------------------------------------------------------


def test_a_statutory_year(company_file) -> None:
    result = run("2027")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "2027: no official CN calendar data; the statutory days off are used (全国年节及纪念日放假办法),"
        " declare the published schedule in the company file's calendar section",
        "2027-01-01  off  元旦 New Year's Day  statutory",
        "2027-02-05  off  除夕 Spring Festival's Eve  statutory",
        "2027-02-08  off  春节 Spring Festival  statutory",
        "2027-04-05  off  清明节 Tomb-sweeping Day  statutory",
        "2027-06-09  off  端午节 Dragon Boat Festival  statutory",
        "2027-09-15  off  中秋节 Mid-Autumn Festival  statutory",
        "2027-10-01  off  国庆节 National Day  statutory",
    ]
    assert "warning" not in result.stderr


def test_a_declared_year_with_closing_days(company_file, monkeypatch) -> None:
    company_file.write_text(EXAMPLE + CALENDAR, encoding="utf-8")
    monkeypatch.setenv("HUIKUAN_CLOSED_DAYS", '["2027-05-06"]')
    result = run("2027", "--country", "cn")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "2027: the CN schedule declared in the company file's calendar section",
        "2027-01-01  off  元旦 New Year's Day  declared",
        "2027-02-05  off  除夕 Spring Festival's Eve  declared",
        "2027-02-08  off  春节 Spring Festival  declared",
        "2027-02-09  off  declared holiday  declared",
        "2027-02-10  off  declared holiday  declared",
        "2027-02-11  off  declared holiday  declared",
        "2027-02-20  work  调休 make-up working day  declared",
        "2027-05-06  off  company closing day  closed",
        "2027-12-31  off  company closing day  closed",
    ]


def test_an_official_year_has_no_first_line(company_file) -> None:
    lines = run("2026").stdout.splitlines()
    assert lines[0] == "2026-01-01  off  元旦 New Year's Day  official"
    assert "2026-10-10  work  调休 make-up working day  official" in lines
    assert {line.split("  ")[-1] for line in lines} == {"official"}


def test_another_country(company_file) -> None:
    lines = run("2026", "--country", "US").stdout.splitlines()
    assert "2026-07-03  off  Independence Day (observed)  official" in lines
    assert (
        run("1950", "--country", "DE")
        .stdout.splitlines()[0]
        .startswith("1950: no official DE calendar data; only weekends and the company's closing days are days off")
    )


def test_a_bad_company_file_exits_2_without_a_traceback(company_file) -> None:
    company_file.write_text(EXAMPLE + "calendar:\n  CN:\n    2027:\n      workdays: [2027-02-17]\n", encoding="utf-8")
    result = run("2027")
    assert result.exit_code == 2
    assert "calendar.CN.2027.workdays: 2027-02-17 is a Wednesday" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize(("country", "message"), [("CHN", "alpha-2"), ("ZZ", "unknown country")])
def test_a_bad_country_exits_2(company_file, country: str, message: str) -> None:
    result = run("2027", "--country", country)
    assert result.exit_code == 2
    assert message in result.stderr


def test_a_year_out_of_range_is_refused(company_file) -> None:
    assert run("99999").exit_code == 2
