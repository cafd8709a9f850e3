"""The company: its people and their roles, who approves what, how mail goes out.

One YAML file (``HUIKUAN_COMPANY_FILE``, default ``company.yaml`` in the working
directory), validated when it is loaded: every role the policies use must have
somebody, approvers must have an email address for their one-time codes, and
collectors named on customers must exist. Its optional ``calendar`` section holds
the company's closing days and the holiday schedules it declares per country and
year (CONTRACT.md, "The calendar"); :meth:`Company.calendar_book` turns it into
the :class:`~models.calendar.CalendarBook` every part of the product uses.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from models.calendar import CalendarBook, DeclaredYear, DeclaredYearError
from models.charges import ChargeTerms

# "shipping" (the warehouse, or whoever lets goods leave) is optional: told when a lock is lifted.
Role = Literal["collector", "supervisor", "manager", "gm", "boss", "finance", "shipping"]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="an email address")]

# Who decides each approval by default (PROCESS.md §1-2): the boss signs stop-shipment
# and the letters; the supervisor reviews a statement before it is sent.
DEFAULT_APPROVERS: dict[str, Role] = {
    "stop_shipment": "boss",
    "dunning_letter": "boss",
    "statement_letter": "boss",
    "lawyer_letter": "boss",
    "send_statement": "supervisor",
}


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str
    title: str
    email: Email
    phone: str = ""
    roles: list[Role] = Field(min_length=1)
    locale: Literal["zh_CN", "en"] | None = Field(
        default=None, description="the language of this person's approval emails and pages (huikuan web); default the company's"
    )


class SmtpSettings(BaseModel):
    """The ``smtp`` section: the server, and the checks that keep its password from being read on the way.

    STARTTLS and implicit TLS check the server's certificate and host name (the
    system's CAs, or only those of ``ca_file``, e.g. a company CA). A login over
    an unencrypted connection (neither ``starttls`` nor ``ssl``) is refused
    unless ``allow_plain_login`` says so, for a relay on the same machine or
    network. The password is a ``SecretStr``: no repr or dump shows it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = 25
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    ssl: bool = False
    ca_file: Path | None = Field(default=None, description="PEM file of the CA certificates to trust instead of the system's (a company CA)")
    allow_plain_login: bool = Field(default=False, description="log in without TLS (a local relay only): the password goes in the clear")

    @model_validator(mode="after")
    def _no_login_in_the_clear(self) -> SmtpSettings:
        if self.username and not (self.starttls or self.ssl or self.allow_plain_login):
            raise ValueError(
                "a login (username) over an unencrypted connection would send the password in the clear: "
                "set starttls: true or ssl: true, or, for a local relay only, allow_plain_login: true"
            )
        return self


def _invalid(errors: list[InitErrorDetails]) -> ValidationError:
    return ValidationError.from_exception_data("calendar", errors)


def _problem(loc: tuple[str | int, ...], message: str, value: object) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("calendar", "{problem}", {"problem": message}), loc=loc, input=value)


class DeclaredSchedule(BaseModel):
    """One year of a country's holiday schedule, as the government publishes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    holidays: list[dt.date] = Field(default_factory=list, description="the official days off")
    workdays: list[dt.date] = Field(default_factory=list, description="the make-up working days (调休), Saturdays or Sundays")

    def declared(self) -> DeclaredYear:
        return DeclaredYear(frozenset(self.holidays), frozenset(self.workdays))


def _consistent_years(years: dict[int, DeclaredSchedule]) -> dict[int, DeclaredSchedule]:
    """Each year's dates are in that year, workdays are weekend days, no date is both."""
    errors = []
    for year, schedule in years.items():
        try:
            schedule.declared().check_year(year)
        except DeclaredYearError as exc:
            errors.append(_problem((year, exc.field), exc.problem, getattr(schedule, exc.field)))
    if errors:
        raise _invalid(errors)
    return years


DeclaredYears = Annotated[dict[int, DeclaredSchedule], AfterValidator(_consistent_years)]


class CalendarSection(BaseModel):
    """The ``calendar`` section: closing days, and per country (``CN``) and year the published schedule."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, DeclaredYears]

    closed_days: list[dt.date] = Field(default_factory=list, description="the company's own closing days")

    @model_validator(mode="before")
    @classmethod
    def _country_codes(cls, data: Any) -> Any:
        """Every key besides ``closed_days`` is an ISO 3166 alpha-2 code, upper-cased."""
        if not isinstance(data, dict):
            return data
        checked: dict[Any, Any] = {}
        errors = []
        for key, value in data.items():
            code = key.strip().upper() if isinstance(key, str) else key
            if key == "closed_days":
                checked[key] = value
            elif not (isinstance(code, str) and re.fullmatch("[A-Z]{2}", code)):
                hint = " (quote it: YAML reads NO, ON and the like as true/false)" if isinstance(key, bool) else ""
                errors.append(_problem((str(key),), f"not a country: write an ISO 3166 alpha-2 code such as CN{hint}", key))
            elif code in checked:
                errors.append(_problem((str(key),), f"{code} appears twice", key))
            else:
                checked[code] = value
        if errors:
            raise _invalid(errors)
        return checked

    def calendar_book(self, extra_closed_days: Iterable[dt.date] = ()) -> CalendarBook:
        """The closing days (these and ``extra_closed_days``) and the declared years as a book."""
        declared = {(country, year): schedule.declared() for country, years in (self.model_extra or {}).items() for year, schedule in years.items()}
        return CalendarBook([*self.closed_days, *extra_closed_days], declared)


class ApiKey(BaseModel):
    """One key of the ERP's HTTP API: kept as ``sha256:<hex>`` (``huikuan web key NAME`` makes a key and this line)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="who uses it, e.g. erp or warehouse (in the log)")
    key_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$", description="the SHA-256 of the key, as `huikuan web key` prints it")


class WebSection(BaseModel):
    """The ``web`` section: the ERP's API keys and the address customers reach the statement pages at."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_keys: list[ApiKey] = Field(default_factory=list, description="without any, the API answers 401 to everyone")
    base_url: str | None = Field(default=None, description="e.g. https://huikuan.example.cn, put before the links in emails")


class ChargeTermsSection(BaseModel):
    """Late-payment terms (违约金 / 逾期利息) of a contract: ``models.charges.ChargeTerms`` as the company file writes them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: Decimal = Field(ge=0, description="per day (0.0005 = 万分之五) or per year (0.06 = 6%), as a fraction")
    per: Literal["day", "year"] = "day"
    grace_days: int = Field(default=0, ge=0, description="days after the due date that are not charged")
    cap_ratio: Decimal | None = Field(default=None, ge=0, description="at most this fraction of the invoice's amount (0.30: 30%)")
    cap_amount: Decimal | None = Field(default=None, ge=0, description="at most this amount per invoice")
    clause: str | None = Field(default=None, max_length=100, description="where the contract says so, quoted on letters (合同第八条)")
    days_in_year: Literal[360, 365] = 365

    def terms(self) -> ChargeTerms:
        return ChargeTerms(
            rate=self.rate,
            per=self.per,
            grace_days=self.grace_days,
            cap_ratio=self.cap_ratio,
            cap_amount=self.cap_amount,
            clause=self.clause,
            days_in_year=self.days_in_year,
        )


class LegalSection(BaseModel):
    """The ``legal`` section: the standard contract's late-payment terms.

    A customer whose contract says otherwise has its own terms in the customers
    import file (``late_charge_rate``, ...; ``none``: no charge). Without either, no
    charge is claimed. The limitation warnings are policy steps.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    charges: ChargeTermsSection | None = Field(default=None, description="the standard contract's late-payment terms")


BankField = Literal["date", "credit", "debit", "amount", "direction", "payer", "payer_account", "reference", "transaction_id", "currency"]


class BankSection(BaseModel):
    """The ``bank`` section: the header words of a bank whose statement export names its columns otherwise.

    Each field lists the bank's header words, tried before the usual ones
    (``huikuan.bank.statement_files.HEADER_WORDS``); ``amount`` with ``direction``
    is the layout with one amount column and a mark (交易金额 + 借贷标志), whose
    marks for money in and out the bank may spell its own way.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    headers: dict[BankField, list[str]] = Field(default_factory=dict, description="field -> the header words of your bank's export")
    credit_marks: list[str] = Field(default_factory=list, description="what the direction column says for money in, besides 贷/收/C/CR")
    debit_marks: list[str] = Field(default_factory=list, description="what it says for money out, besides 借/支/D/DR")


class Company(BaseModel):
    """The company file, validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    address: str = ""
    sender_email: Email
    timezone: str = "Asia/Shanghai"
    people: list[Person] = Field(min_length=1)
    approvers: dict[str, Role] = Field(default_factory=lambda: dict(DEFAULT_APPROVERS))
    approval_reminder_days: int = Field(default=2, ge=1, description="re-send an unanswered request after this many days")
    approval_expiry_days: int = Field(default=7, ge=1, description="after this many days the request expires and is escalated")
    asked_together: list[str] = Field(
        default_factory=lambda: ["send_statement"],
        description="approvals of these actions are asked for as one list per approver role and day (approve all, or all but some)",
    )
    lists_from: int = Field(
        default=10, ge=0, description="any other kind of approval is asked for as one list when a day brings at least this many for one role (0: never)"
    )
    locale: Literal["zh_CN", "en"] = Field(default="zh_CN", description="the language of emails to the company's own people about many customers")
    smtp: SmtpSettings | None = Field(default=None, description="without it, email goes to the outbox folder")
    outbox: Path = Path("huikuan-data/outbox")
    calendar: CalendarSection | None = Field(default=None, description="closing days and the holiday schedules the company declares")
    web: WebSection | None = Field(default=None, description="the web service: API keys of the ERP, the public address")
    legal: LegalSection = Field(default_factory=LegalSection, description="the contracts' late-payment terms")
    bank: BankSection = Field(default_factory=BankSection, description="the header words of your bank's statement export (huikuan bank import)")

    @model_validator(mode="after")
    def _consistent(self) -> Company:
        ids = [p.id for p in self.people]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"people: id {', '.join(duplicates)} appears twice")
        roles = {role for person in self.people for role in person.roles}
        missing = sorted({"collector", "supervisor", "manager", "gm", "boss", "finance"} - roles)
        if missing:
            raise ValueError(f"people: nobody has the role {', '.join(missing)}; every role of the process needs a person")
        if self.approval_expiry_days <= self.approval_reminder_days:
            raise ValueError("approval_expiry_days must be longer than approval_reminder_days")
        return self

    def calendar_book(self, extra_closed_days: Iterable[dt.date] = ()) -> CalendarBook:
        """The company's calendars, with ``extra_closed_days`` (``HUIKUAN_CLOSED_DAYS``) added."""
        return (self.calendar or CalendarSection()).calendar_book(extra_closed_days)

    def person(self, person_id: str) -> Person:
        for person in self.people:
            if person.id == person_id:
                return person
        raise KeyError(f"no person {person_id!r} in the company file")

    def with_role(self, role: str) -> list[Person]:
        return [p for p in self.people if role in p.roles]

    def first_with_role(self, role: str) -> Person:
        people = self.with_role(role)
        if not people:
            raise KeyError(f"nobody has the role {role!r}")
        return people[0]

    def approver_role(self, action: str) -> Role:
        return self.approvers.get(action, "boss")

    def may_approve(self, person_id: str, action: str) -> bool:
        role = self.approver_role(action)
        return any(p.id == person_id and role in p.roles for p in self.people)

    def collector_for(self, collector_id: str | None) -> Person:
        """The customer's own collector, or the first collector when it has none."""
        if collector_id:
            try:
                person = self.person(collector_id)
            except KeyError:
                person = None
            if person is not None and "collector" in person.roles:
                return person
        return self.first_with_role("collector")


class CompanyFileError(ValueError):
    """The company file is missing or invalid; the message names the field."""


class _Loader(yaml.SafeLoader):
    """YAML without its own dates: a wrong one (2027-02-30) is then reported by its field, not as a crash."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_company(text: str, source: str = "company.yaml") -> Company:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise CompanyFileError(f"{source}: not valid YAML: {exc}") from None
    try:
        return Company.model_validate(data or {})
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(part) for part in error['loc']) or '(file)'}: {error['msg']}" for error in exc.errors()]
        raise CompanyFileError(f"{source}: {exc.error_count()} problem(s)\n" + "\n".join(lines)) from None


def load_company(path: Path) -> Company:
    if not path.exists():
        raise CompanyFileError(f"{path}: company file not found; `huikuan demo` writes an example, or set HUIKUAN_COMPANY_FILE")
    return parse_company(path.read_text(encoding="utf-8"), str(path))


@lru_cache(maxsize=4)
def company_from(path: str) -> Company:
    return load_company(Path(path))


def calendar_book_from_file(path: Path, extra_closed_days: Iterable[dt.date] = ()) -> CalendarBook:
    """The company file's calendars plus ``extra_closed_days``; only those when there is no file.

    Raises:
        CompanyFileError: the file is invalid.
    """
    if not path.exists():
        return CalendarBook(extra_closed_days)
    return load_company(path).calendar_book(extra_closed_days)


EXAMPLE = """\
# The company's people and their roles (one person may hold several roles).
name: 上海回款示范有限公司
address: 上海市浦东新区张江路 88 号
sender_email: ar@huikuan-demo.example.cn
timezone: Asia/Shanghai
people:
  - {id: c01, name: 张伟, title: 应收账款专员, email: c01@huikuan-demo.example.cn, phone: "021-5555-0101", roles: [collector]}
  - {id: c02, name: 王芳, title: 应收账款专员, email: c02@huikuan-demo.example.cn, phone: "021-5555-0102", roles: [collector]}
  - {id: c03, name: 李娜, title: 应收账款专员, email: c03@huikuan-demo.example.cn, phone: "021-5555-0103", roles: [collector]}
  - {id: c04, name: 刘洋, title: 应收账款专员, email: c04@huikuan-demo.example.cn, phone: "021-5555-0104", roles: [collector]}
  - {id: c05, name: 陈静, title: 应收账款专员, email: c05@huikuan-demo.example.cn, phone: "021-5555-0105", roles: [collector]}
  - {id: c06, name: 杨磊, title: 应收账款专员, email: c06@huikuan-demo.example.cn, phone: "021-5555-0106", roles: [collector]}
  - {id: sup, name: 赵敏, title: 收款主管, email: supervisor@huikuan-demo.example.cn, phone: "021-5555-0200", roles: [supervisor]}
  - {id: mgr, name: 孙强, title: 销售经理, email: manager@huikuan-demo.example.cn, phone: "021-5555-0300", roles: [manager]}
  - {id: gm, name: 周建国, title: 总经理, email: gm@huikuan-demo.example.cn, phone: "021-5555-0400", roles: [gm]}
  - {id: boss, name: 吴宏, title: 董事长, email: boss@huikuan-demo.example.cn, phone: "021-5555-0500", roles: [boss]}
  - {id: fin, name: 郑丽, title: 财务主管, email: finance@huikuan-demo.example.cn, phone: "021-5555-0600", roles: [finance]}
  # Optional: the people who let goods leave (shipping); told when a paid lock is lifted.
  - {id: wh, name: 钱进, title: 仓储主管, email: warehouse@huikuan-demo.example.cn, phone: "021-5555-0700", roles: [shipping]}
# Who decides each approval (default: the boss; a statement before it is sent: the supervisor).
approvers: {stop_shipment: boss, dunning_letter: boss, statement_letter: boss, lawyer_letter: boss, send_statement: supervisor}
approval_reminder_days: 2
approval_expiry_days: 7
# Statement reviews come to the supervisor as one list a day (approve all, or all but some); [] asks for each alone.
asked_together: [send_statement]
# Any other kind (stop-shipment, letters) comes as a list on a day that brings at least this many; fewer are asked alone.
lists_from: 10
# Without smtp, emails are written to the outbox folder as .eml files.
# smtp: {host: smtp.example.cn, port: 587, username: ar, password: "...", starttls: true}
# The server's certificate is checked (ca_file: company-ca.pem trusts a company CA instead of
# the system's); a login without starttls or ssl needs allow_plain_login: true (a local relay only).
outbox: huikuan-data/outbox
# Days off: the company's closing days, and per country and year the holiday schedule
# as the government publishes it (it replaces the built-in data for that year).
# `huikuan calendar 2027` shows the days off and make-up working days of a year.
# calendar:
#   closed_days: [2026-12-31]
#   CN:
#     2027:
#       holidays: [2027-01-01, 2027-02-05, 2027-02-06, 2027-02-07, 2027-02-08, ...]
#       workdays: [2027-02-20, ...]
"""
