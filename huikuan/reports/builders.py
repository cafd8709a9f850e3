"""Management reports over the ledger (PROCESS §7): aging, KPIs, statements, approvals.

Each builder returns a `Report` (columns, rows of plain values, notes that define
the numbers); `to_markdown`, `to_csv` and `to_xlsx` render any of them.

CSV is for programs: the column ids and the values as they are (``Label``s and
``Term``s as their ids), in any locale. Markdown and XLSX are for people: the
title, the headers, the notes and the report's own words in the reader's locale,
from the message catalogue (``huikuan.documents.i18n``); the ledger's text (names, ids) as
it is, escaped.
"""

from __future__ import annotations

import calendar
import codecs
import csv
import datetime as dt
import io
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.documents import i18n
from huikuan.documents.escaping import markdown_text, spreadsheet_text, xlsx_text
from huikuan.reports.portfolio import OpenItem, open_items
from models.aging import AGING_BUCKETS
from models.enums import ApprovalState, CustomerStatus
from models.ledger import Allocation, Approval, Customer, Invoice, Payment, Statement
from models.metrics import bad_debt_ratio, collection_effectiveness, dso_count_back, overdue_ratio, target_progress
from models.money import ZERO
from models.texts import N_, Term, Text


class Ratio(Decimal):
    """A fraction (0.2500): shown as a percentage in Markdown and Excel, plain in CSV."""

    __slots__ = ()


class Label(str):
    """The report's own words in a row (a measure's name, "total"): in the reader's locale, where text from the ledger is as it is, escaped."""

    __slots__ = ()


@dataclass
class Report:
    """A table: ``columns`` are ids (CSV's header); ``title`` and ``notes`` are texts (``models.texts.Text``) for people."""

    name: str
    title: str
    as_of: dt.date
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# (label, first day overdue, last day overdue or None), like models.aging.AGING_BUCKETS.
CREDIT_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    (N_("not due"), -(10**6), 0),
    ("1-15", 1, 15),
    ("16-30", 16, 30),
    ("31-60", 31, 60),
    (N_("over 60"), 61, None),
)
BUCKET_SETS = {"standard": AGING_BUCKETS, "credit": CREDIT_BUCKETS}
BAD_DEBT_DAYS = 180
DSO_MONTHS = 24
TARGET_SHARE = Decimal("0.70")
# Names of the KPI measures that other modules (the charts) read from kpi_measures().
TOTAL_OPEN = N_("total open")
DSO = N_("DSO (days, count-back)")
TARGET = N_("month target (70% of overdue at start)")
COLLECTED = N_("collected on that overdue")
PROGRESS = N_("target progress")


def _bucket(buckets, days: int) -> str:
    for label, first, last in buckets:
        if days >= first and (last is None or days <= last):
            return label
    raise AssertionError("the buckets cover every integer")


def _customers(session: Session) -> dict[str, Customer]:
    return {c.customer_id: c for c in session.scalars(select(Customer))}


def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _previous_month(first: dt.date) -> dt.date:
    return (first - dt.timedelta(days=1)).replace(day=1)


# -- aging ---------------------------------------------------------------------


def aging(session: Session, as_of: dt.date, by: str = "customer", buckets: str = "standard", charges: dict[str, Decimal] | None = None) -> Report:
    """Open amounts by age, one row per customer / segment / collector, with totals.

    ``charges`` (invoice id -> late-payment charge, ``huikuan.legal.standing.open_invoice_charges``): two more
    columns at the end, ``charge`` and ``claim`` (total + charge); a claim beside the balance, never in it.
    """
    if by not in ("customer", "segment", "collector"):
        raise ValueError(f"aging by customer, segment or collector, not {by!r}")
    bucket_set = BUCKET_SETS[buckets]
    labels = [label for label, _first, _last in bucket_set]
    customers = _customers(session)

    def group(item: OpenItem) -> tuple:
        customer = customers[item.customer_id]
        if by == "customer":
            return (item.customer_id, item.customer_name)
        if by == "segment":
            return (Term(customer.segment.value),)
        return (customer.collector or Label("(none)"),)

    table: dict[str, dict[tuple, dict[str, Decimal]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: ZERO)))
    charged: dict[str, dict[tuple, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    for item in open_items(session, as_of):
        table[item.currency][group(item)][_bucket(bucket_set, item.days_overdue)] += item.open_amount
        charged[item.currency][group(item)] += (charges or {}).get(item.invoice_id, ZERO)

    def with_charge(row: list, charge: Decimal) -> list:  # the charge columns, only when asked for
        return row if charges is None else row + [charge, row[-1] + charge]

    several = len(table) > 1
    key_columns = ["customer_id", "customer"] if by == "customer" else [by]
    columns = (["currency"] if several else []) + key_columns + labels + ["total"]
    rows: list[list] = []
    for currency in sorted(table):
        totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for key in sorted(table[currency]):
            amounts = table[currency][key]
            row = [amounts[label] for label in labels]
            for label in labels:
                totals[label] += amounts[label]
            rows.append(with_charge(([currency] if several else []) + list(key) + row + [sum(row, ZERO)], charged[currency][key]))
        total_row = [totals[label] for label in labels]
        blanks = [""] * (len(key_columns) - 1)
        rows.append(
            with_charge(([currency] if several else []) + [Label("total"), *blanks] + total_row + [sum(total_row, ZERO)], sum(charged[currency].values(), ZERO))
        )
    if not table:
        rows.append(with_charge([Label("total")] + [""] * (len(key_columns) - 1) + [ZERO] * (len(labels) + 1), ZERO))
    if charges is not None:
        columns += ["charge", "claim"]  # new columns at the end only (CONTRACT.md "Report files")
    kind = Text("standard buckets") if buckets == "standard" else Text("credit-management buckets (PROCESS §3)")
    notes = [
        Text("Open amount of every invoice issued by {day}, after payments received by that day.", day=as_of),
        Text("Age = calendar days past the due date on {day}; {kind}: {buckets}.", day=as_of, kind=kind, buckets=tuple(Label(b) for b in labels)),
    ]
    if several:
        notes.append(Text("One block with its own total per currency; amounts are not converted."))
    if charges is not None:
        notes.append(
            Text(
                "charge: the late-payment charge to {day} under each customer's contract terms, counted per invoice on the principal "
                "open each day; claim = total + charge. A claim, never part of the balance.",
                day=as_of,
            )
        )
    titles = {
        ("customer", "standard"): Text("Aging by customer"),
        ("segment", "standard"): Text("Aging by segment"),
        ("collector", "standard"): Text("Aging by collector"),
        ("customer", "credit"): Text("Aging by customer (credit buckets)"),
        ("segment", "credit"): Text("Aging by segment (credit buckets)"),
        ("collector", "credit"): Text("Aging by collector (credit buckets)"),
    }
    title = titles[by, buckets]
    name = "aging" + ("" if by == "customer" else f"-{by}") + ("-credit" if buckets == "credit" else "")
    return Report(name, title, as_of, columns, rows, notes)


# -- KPIs ----------------------------------------------------------------------


def _sum(amounts) -> Decimal:
    return sum(amounts, ZERO)


def kpi_measures(session: Session, as_of: dt.date) -> dict[str, dict[str, Decimal | None]]:
    """The measures of PROCESS §7 on ``as_of`` per currency: {currency: {measure: value}}, in table order.

    The definitions are in the notes of :func:`kpis`; ratios are :class:`Ratio`. A ledger
    with nothing in it reports CNY, all zero.
    """
    customers = _customers(session)
    blacklisted = {cid for cid, c in customers.items() if c.status == CustomerStatus.blacklisted}
    first = _month_start(as_of)
    previous_end = first - dt.timedelta(days=1)
    now = list(open_items(session, as_of))
    start = list(open_items(session, previous_end))

    oldest_month = first
    for _ in range(DSO_MONTHS - 1):
        oldest_month = _previous_month(oldest_month)
    sales: dict[str, dict[dt.date, Decimal]] = defaultdict(lambda: defaultdict(lambda: ZERO))
    query = select(Invoice.issued_on, Invoice.amount, Invoice.currency).where(Invoice.issued_on >= oldest_month, Invoice.issued_on <= as_of)
    for issued_on, amount, currency in session.execute(query):
        sales[currency][_month_start(issued_on)] += amount

    overdue_at_start = {i.invoice_id: i.currency for i in start if i.days_overdue > 0}
    collected: dict[str, Decimal] = defaultdict(lambda: ZERO)
    query = select(Allocation.invoice_id, Allocation.amount).join(Payment).where(Payment.received_on >= first, Payment.received_on <= as_of)
    for invoice_id, amount in session.execute(query):
        if invoice_id in overdue_at_start:
            collected[overdue_at_start[invoice_id]] += amount

    currencies = sorted({i.currency for i in now} | {i.currency for i in start} | set(sales)) or ["CNY"]
    result: dict[str, dict[str, Decimal | None]] = {}
    for currency in currencies:
        here = [i for i in now if i.currency == currency]
        before = [i for i in start if i.currency == currency]
        total = _sum(i.open_amount for i in here)
        overdue = _sum(i.open_amount for i in here if i.days_overdue > 0)
        bad = _sum(i.open_amount for i in here if i.days_overdue > BAD_DEBT_DAYS or i.customer_id in blacklisted)
        current = total - overdue
        months = []
        month = first
        for index in range(DSO_MONTHS):
            days = as_of.day if index == 0 else calendar.monthrange(month.year, month.month)[1]
            months.append((days, sales[currency][month]))
            month = _previous_month(month)
        beginning = _sum(i.open_amount for i in before)
        month_sales = sales[currency][first]
        start_overdue = _sum(i.open_amount for i in before if i.days_overdue > 0)
        target, progress = target_progress(start_overdue, collected[currency], TARGET_SHARE)
        result[currency] = {
            TOTAL_OPEN: total,
            N_("overdue open"): overdue,
            N_("overdue ratio"): Ratio(overdue_ratio(overdue, total)),
            N_("bad debt"): bad,
            N_("bad-debt ratio"): Ratio(bad_debt_ratio(bad, total)),
            DSO: dso_count_back(total, months),
            N_("CEI month to date (%)"): collection_effectiveness(beginning, month_sales, total, current),
            N_("overdue at start of month"): start_overdue,
            TARGET: target,
            COLLECTED: collected[currency],
            PROGRESS: Ratio(progress),
        }
    return result


def kpis(session: Session, as_of: dt.date) -> Report:
    """The measures of PROCESS §7, one row each (and per currency if there are several)."""
    measures = kpi_measures(session, as_of)
    several = len(measures) > 1
    rows = [([currency] if several else []) + [Label(measure), value] for currency, values in measures.items() for measure, value in values.items()]
    first = _month_start(as_of)
    previous_end = first - dt.timedelta(days=1)
    d, p, f = as_of, previous_end, first
    notes = [
        Text("Open = invoices issued by the day, less payments received by that day; overdue = past its due date on {d}.", d=d),
        Text(
            "Bad debt = open more than {days} days past due, or owed by a customer blacklisted now (the customer's current status, not its status on the day).",
            days=BAD_DEBT_DAYS,
        ),
        Text(
            "DSO by count-back: the open total on {d} is matched against invoices issued (credit sales) per calendar month, "
            "this month to {d} ({days} days) first, then whole months back (at most {months}); "
            "the month where it runs out adds remainder / sales x its days. Receivables beyond all those sales add nothing more.",
            d=d,
            days=as_of.day,
            months=DSO_MONTHS,
        ),
        Text(
            "CEI = (beginning AR + credit sales - ending AR) / (beginning AR + credit sales - ending current AR) x 100, "
            "with beginning AR = open on {p}, credit sales = invoices issued {f}..{d}, "
            "ending AR = open on {d}, ending current AR = open and not yet due on {d}; empty when the denominator is 0.",
            d=d,
            p=p,
            f=f,
        ),
        Text(
            "Target = 70% of what was open and overdue on {p} (the start of the month); collected = payments received "
            "{f}..{d} applied to those invoices; progress = collected / target.",
            d=d,
            p=p,
            f=f,
        ),
    ]
    columns = (["currency"] if several else []) + ["measure", "value"]
    return Report("kpis", Text("Receivables KPIs"), as_of, columns, rows, notes)


# -- statements ----------------------------------------------------------------

STATEMENT_STEPS = (("prepared", 5), ("sent", 8), ("confirmed", 20), ("invoiced", 30))


def statement_status(session: Session, as_of: dt.date) -> Report:
    """Per billing month: statements at each step by ``as_of``, and how many are late per deadline.

    A deadline is the policy's (``models.engine.statement_deadline``): the day of the
    month after the billing month, moved off a day off to the next working day of the
    customer's country in the run's calendar, so a 5th on a Saturday is met on Monday.
    """
    from huikuan.ledger.context import calendars_of
    from models.engine import statement_deadline

    calendars = calendars_of(None)
    current = as_of.strftime("%Y-%m")
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    query = select(Statement, Customer.country).join(Customer, Customer.customer_id == Statement.customer_id).where(Statement.month <= current)
    for statement, country in session.execute(query):
        row = counts[statement.month]
        row["statements"] += 1
        calendar = calendars.calendar(country or "CN")
        for step, day in STATEMENT_STEPS:
            done_on = getattr(statement, f"{step}_on")
            deadline = statement_deadline(statement.month, day, calendar)
            done = done_on is not None and done_on <= as_of
            if done:
                row[step] += 1
            if (done and done_on > deadline) or (not done and deadline < as_of):
                row[f"{step} late"] += 1
    steps = [step for step, _day in STATEMENT_STEPS]
    columns = ["month", "statements", *steps, *(f"{s} late" for s in steps)]
    rows = [[month] + [counts[month][c] for c in columns[1:]] for month in sorted(counts)]
    notes = [
        Text(
            "Deadlines in the month after the billing month: prepared by the 5th, sent by the 8th, confirmed by the 20th, "
            "invoiced by the 30th (the last day of a shorter month); a deadline on a weekend or holiday of the customer's country "
            "moves to the next working day, as the policy moves it."
        ),
        Text(
            "A step counts as done when its date is on or before {day}; it is late when done after its deadline, "
            "or not done when the deadline is before {day}.",
            day=as_of,
        ),
        Text("Only statements in the ledger are counted (billing months up to this one); a statement never created does not appear."),
    ]
    return Report("statements", Text("Monthly statement status"), as_of, columns, rows, notes)


# -- approvals -----------------------------------------------------------------


def pending_approvals(session: Session, as_of: dt.date) -> Report:
    """Approval requests still waiting for a decision, oldest first."""
    query = (
        select(Approval, Customer.name)
        .join(Customer, Customer.customer_id == Approval.customer_id)
        .where(Approval.state == ApprovalState.requested, Approval.requested_on <= as_of)
        .order_by(Approval.requested_on, Approval.id)
    )
    rows = [
        [a.id, a.customer_id, name, Term(a.action), Term(a.approver_role), a.requested_on, (as_of - a.requested_on).days, a.reminders, a.refusals]
        for a, name in session.execute(query)
    ]
    columns = ["id", "customer_id", "customer", "action", "approver role", "requested on", "age (days)", "reminders", "refusals"]
    notes = [
        Text("Requests in state 'requested' made on or before {day}; age = calendar days since requested.", day=as_of),
        Text("Refusals = wrong codes and unauthorised approvers, each logged."),
    ]
    return Report("approvals", Text("Pending approvals"), as_of, columns, rows, notes)


REPORTS: dict[str, Callable[..., Report]] = {
    "aging": lambda session, as_of, **options: aging(session, as_of, **options),
    "aging-segment": lambda session, as_of, **options: aging(session, as_of, by="segment", **options),
    "aging-collector": lambda session, as_of, **options: aging(session, as_of, by="collector", **options),
    "aging-credit": lambda session, as_of, **options: aging(session, as_of, buckets="credit", **options),
    "kpis": kpis,
    "statements": statement_status,
    "approvals": pending_approvals,
    "limitation": lambda session, as_of: _limitation_report(session, as_of),
}


AGING_REPORTS = ("aging", "aging-segment", "aging-collector", "aging-credit")  # these take charges= (``report aging --charges``)


def _limitation_report(session: Session, as_of: dt.date) -> Report:
    from huikuan.legal.report import limitation_report  # the legal side reads the run's company and calendar

    return limitation_report(session, as_of)


# -- rendering -----------------------------------------------------------------

SOURCE = i18n.SOURCE_LOCALE
MIN_WIDTH, MAX_WIDTH = 8, 50  # an XLSX column's width in Excel's character widths: Excel's default at least, longer text cut off at most
CSV_ENCODINGS = ("utf-8-sig", "gbk")


def say(text, locale: str = SOURCE) -> str:
    """The report's own words (its title, a note, a label, a term) in ``locale``; a plain text as the catalogue has it, else as written."""
    if isinstance(text, (Text, Term)):
        return i18n.render(text, locale)
    return i18n.gettext(str(text), locale)


def display(value, locale: str = SOURCE) -> str:
    """A value as people read it: 1,234.50, 25.00%, 2026-03-15, n/a for None; the report's own words in ``locale``."""
    if value is None:
        return say(N_("n/a"), locale)
    if isinstance(value, bool):
        return i18n.yes_no(value, locale)
    if isinstance(value, Ratio):
        return f"{value * 100:.2f}%"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (Label, Term, Text)):
        return say(value, locale)
    if isinstance(value, tuple):  # an action's reasons
        return i18n.render_all(value, locale)
    return str(value)


def headers(report: Report, locale: str = SOURCE) -> list[str]:
    """The column headers people read: the catalogue's words for the column ids (English: the ids)."""
    return [i18n.column(column, locale) for column in report.columns]


def numeric_columns(report: Report) -> list[bool]:
    """Per column: does it hold numbers (to be right-aligned)?"""
    return [any(isinstance(row[i], (int, Decimal)) and not isinstance(row[i], bool) for row in report.rows) for i in range(len(report.columns))]


def markdown_cell(value, locale: str = SOURCE) -> str:
    """A value in a Markdown table: text from the ledger (names, ids: data, not markup) escaped; our own words, numbers and dates as displayed."""
    if isinstance(value, (Label, Term, Text)):
        return say(value, locale)
    if isinstance(value, tuple):
        return markdown_text(display(value, locale))  # reasons carry the ledger's ids
    return markdown_text(value) if isinstance(value, str) else display(value, locale)


def to_markdown(report: Report, locale: str = SOURCE) -> str:
    """A GitHub table under the title, the notes as a list below it, in ``locale``."""

    def line(cells) -> str:
        return "| " + " | ".join(cells) + " |"

    numeric = numeric_columns(report)
    as_of = say(Text("As of {day}", day=report.as_of), locale)
    out = [f"## {say(report.title, locale)}", "", as_of, "", line(markdown_text(c) for c in headers(report, locale))]
    out.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    out.extend(line(markdown_cell(v, locale) for v in row) for row in report.rows)
    if not report.rows:  # a header alone renders as nothing in some viewers (the Prefect UI): say it is empty
        none = Text("None on {day}.", day=report.as_of)
        out += ["", f"*{say(none, locale)}*"]
    if report.notes:
        out.append("")
        out.extend(f"- {say(note, locale)}" for note in report.notes)
    return "\n".join(out) + "\n"


def _plain(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return spreadsheet_text("; ".join(value))
    return spreadsheet_text(value) if isinstance(value, str) else str(value)


def csv_rows(report: Report) -> list[list[str]]:
    """The header (the column ids) and the rows as plain values (1234.50, 0.2500, 2026-03-15), escaped for spreadsheets."""
    return [list(report.columns)] + [[_plain(v) for v in row] for row in report.rows]


def to_csv(report: Report) -> str:
    """Header and rows with plain values (1234.50, 0.2500, 2026-03-15); no notes.

    Text a spreadsheet would evaluate (``=HYPERLINK(…)`` as a customer's name) starts
    with a ``'`` and its line breaks are quoted (``huikuan.documents.escaping.spreadsheet_text``);
    the header keeps the column ids, in any locale (CONTRACT "Report files").
    """
    return csv_text(csv_rows(report))


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


class CsvEncodingError(ValueError):
    """A cell's text has a character the chosen encoding cannot hold; the message names its row (the header is row 1) and column."""


def encode_csv(rows: Sequence[Sequence[str]], encoding: str) -> bytes:
    """``rows`` (the header first) as a CSV file for Excel: ``utf-8-sig`` (UTF-8 with the BOM Excel needs) or ``gbk`` (Chinese Windows).

    Raises:
        CsvEncodingError: a cell cannot be written in ``encoding`` (checked before anything is written).
        ValueError: an encoding other than those of ``CSV_ENCODINGS``.
    """
    _check_encoding(encoding)
    header = rows[0] if rows else []
    for number, row in enumerate(rows, start=1):
        _check_row(number, row, header, encoding)
    return csv_text(rows).encode(encoding)


def write_encoded_csv(rows: Iterable[Sequence[str]], encoding: str, out: BinaryIO) -> None:
    """``rows`` (the header first) written to ``out`` as ``encode_csv`` encodes them, a row at a time (memory stays flat).

    Each row is checked before it is written, so on ``CsvEncodingError`` the rows before it are written:
    write to a temporary file and keep it only when this returns (``huikuan.cli.common.write_csv`` does).
    """
    _check_encoding(encoding)
    encoder = codecs.getincrementalencoder(encoding)()  # utf-8-sig: the BOM once, before the first row
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    header: Sequence[str] = ()
    for number, row in enumerate(rows, start=1):
        header = row if number == 1 else header
        _check_row(number, row, header, encoding)
        writer.writerow(row)
        out.write(encoder.encode(text.getvalue()))
        text.seek(0)
        text.truncate()


def _check_encoding(encoding: str) -> None:
    if encoding not in CSV_ENCODINGS:
        raise ValueError(f"encoding {encoding!r}: one of {', '.join(CSV_ENCODINGS)}")


def _check_row(number: int, row: Sequence[str], header: Sequence[str], encoding: str) -> None:
    for index, cell in enumerate(row):
        try:
            cell.encode(encoding)
        except UnicodeEncodeError as exc:
            char = cell[exc.start]
            column = header[index] if index < len(header) else str(index + 1)
            raise CsvEncodingError(
                f"row {number}, column {column}: {char!r} (U+{ord(char):04X}) cannot be written in {encoding.upper()}; write the file with --encoding utf-8-sig"
            ) from None


def to_xlsx(report: Report, path: Path | str, *, locale: str = SOURCE) -> Path:
    """One sheet: bold, frozen header in row 1, numbers as numbers, the notes two rows below the table."""
    return to_xlsx_book([report], path, locale=locale)


def to_xlsx_book(reports: Sequence[Report], path: Path | str, *, locale: str = SOURCE) -> Path:
    """One sheet per report, named after it (as :func:`to_xlsx` lays out each), in the order given, for people reading ``locale``."""
    from openpyxl import Workbook

    if len({report.name[:31] for report in reports}) != len(reports):
        raise ValueError("each report needs its own sheet name (the first 31 characters of its name)")
    workbook = Workbook()
    for index, report in enumerate(reports):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        _fill_sheet(sheet, report, locale)
    path = Path(path)
    workbook.save(path)
    return path


def text_width(text: str) -> int:
    """How many character widths ``text`` takes in a spreadsheet column: a Chinese (wide) character counts two."""
    return sum(2 if unicodedata.east_asian_width(char) in ("W", "F") else 1 for char in text)


def _fill_sheet(sheet, report: Report, locale: str) -> None:
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    sheet.title = report.name[:31]
    header = headers(report, locale)
    _append_text(sheet, header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"  # the header stays in sight when scrolling
    widths = [text_width(text) for text in header]
    for row in report.rows:
        sheet.append([None] * len(row))
        for index, (cell, value) in enumerate(zip(sheet[sheet.max_row], row)):
            if value is None:
                continue
            if isinstance(value, (str, tuple)):
                shown = display(value, locale) if isinstance(value, (Label, Term, Text, tuple)) else value
                xlsx_text(cell, shown)  # a string cell, never a formula (a customer named "=HYPERLINK(…)")
            elif isinstance(value, bool):
                shown = display(value, locale)
                xlsx_text(cell, shown)
            elif isinstance(value, Decimal):
                shown = display(value, locale)
                _exact_number(cell, value)
                cell.number_format = "0.00%" if isinstance(value, Ratio) else "#,##0.00"
            elif isinstance(value, dt.date):
                shown = display(value, locale)
                cell.value = value
                cell.number_format = "yyyy-mm-dd"
            else:
                shown = display(value, locale)
                cell.value = value
            widths[index] = max(widths[index], max((text_width(part) for part in str(shown).splitlines()), default=0))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = max(MIN_WIDTH, min(MAX_WIDTH, width + 2))
    sheet.append([])
    _append_text(sheet, [say(Text("{title}, as of {day}", title=report.title, day=report.as_of), locale)])
    for note in report.notes:
        _append_text(sheet, [say(note, locale)])


def _exact_number(cell, amount: Decimal) -> None:
    """A number cell holding the decimal's own digits.

    openpyxl writes a number through a float with 16 digits (986.81 becomes
    986.8099999999999 in the file); a money cell keeps what the ledger holds.
    """
    cell.value = amount  # a number cell (type "n")
    cell._value = format(amount, "f")  # written to the file as it is


def _append_text(sheet, texts: Sequence[str]) -> None:
    """A row of text cells, each a string cell (see ``xlsx_text``)."""
    sheet.append([None] * len(texts))
    for cell, text in zip(sheet[sheet.max_row], texts):
        xlsx_text(cell, text)
