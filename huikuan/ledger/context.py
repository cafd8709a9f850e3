"""The run context: the policy, the calendar and the company of one run, built once and handed down.

Every part of the product that needs a working day (``plan``, ``simulate``,
``explain``, the daily run and its batches, ``collect-account``, ``adopt``, the
worklist, the documents' pay-by dates) takes its calendar from here, so that a
closing day, a declared schedule or a statutory holiday counts the same
everywhere. The calendar is the company file's ``calendar`` section plus
``HUIKUAN_CLOSED_DAYS`` (``models.calendar.CalendarBook``); nothing else builds one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from huikuan.ledger.company import Company, calendar_book_from_file, company_from
from huikuan.ledger.settings import get_settings
from models.calendar import BusinessCalendar, CalendarBook
from models.policy import Policy, load_policy


@dataclass(frozen=True)
class RunContext:
    """What one run works with: the policy it follows, the calendar book, and the company (None without a company file)."""

    policy: Policy
    calendars: CalendarBook
    company: Company | None = None

    def calendar(self, country: str) -> BusinessCalendar:
        """The working days of ``country`` for this run."""
        return self.calendars.calendar(country)

    def require_company(self) -> Company:
        if self.company is None:
            raise LookupError("this run needs the company file (HUIKUAN_COMPANY_FILE)")
        return self.company


_books: dict[tuple[int, tuple], tuple[Company, CalendarBook]] = {}
_lock = threading.Lock()


def calendars_of(company: Company | None) -> CalendarBook:
    """The calendar book of ``company`` (its calendar section plus ``HUIKUAN_CLOSED_DAYS``), one per company object.

    Without a company object, the company file is read if there is one.
    """
    closed = tuple(get_settings().closed_days)
    if company is None:
        return _file_book(str(get_settings().company_file.resolve()), closed)
    key = (id(company), closed)
    with _lock:
        cached = _books.get(key)
        if cached is None or cached[0] is not company:
            cached = _books[key] = (company, company.calendar_book(closed))
        return cached[1]


_file_books: dict[tuple[str, tuple], CalendarBook] = {}


def _file_book(path: str, closed: tuple) -> CalendarBook:
    key = (path, closed)
    with _lock:
        if key not in _file_books:
            _file_books[key] = calendar_book_from_file(Path(path), closed)
        return _file_books[key]


def run_context(policy: str | Policy | None = None, *, company: Company | None = None, need_company: bool = False) -> RunContext:
    """The context of a run: ``policy`` (a name, a file, or the settings' default), the company and its calendar.

    Raises:
        CompanyFileError: the company file is invalid, or missing when ``need_company``.
        PolicyError: the policy cannot be loaded.
    """
    settings = get_settings()
    if company is None and (need_company or settings.company_file.exists()):
        company = company_from(str(settings.company_file.resolve()))
    rules = policy if isinstance(policy, Policy) else load_policy(policy or settings.policy)
    return RunContext(rules, calendars_of(company), company)
