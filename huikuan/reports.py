"""Management reports over the ledger (PROCESS §7): aging, KPIs, statements, approvals.

Each builder returns a `Report` (columns, rows of plain values, notes that define
the numbers); `to_markdown`, `to_csv` and `to_xlsx` render any of them.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.escaping import markdown_text, spreadsheet_text, xlsx_text
from huikuan.portfolio import OpenItem, open_items
from models.aging import AGING_BUCKETS
from models.enums import ApprovalState, CustomerStatus
from models.ledger import Allocation, Approval, Customer, Invoice, Payment, Statement
from models.metrics import bad_debt_ratio, collection_effectiveness, dso_count_back, overdue_ratio, target_progress
from models.money import ZERO


class Ratio(Decimal):
    """A fraction (0.2500): shown as a percentage in Markdown and Excel, plain in CSV."""

    __slots__ = ()


class Label(str):
    """The report's own words in a row (a measure's name, "total"): shown as written, where text from the ledger is escaped."""

    __slots__ = ()


@dataclass
class Report:
    name: str
    title: str
    as_of: dt.date
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# (label, first day overdue, last day overdue or None), like models.aging.AGING_BUCKETS.
CREDIT_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("not due", -(10**6), 0),
    ("1-15", 1, 15),
    ("16-30", 16, 30),
    ("31-60", 31, 60),
    ("over 60", 61, None),
)
BUCKET_SETS = {"standard": AGING_BUCKETS, "credit": CREDIT_BUCKETS}
BAD_DEBT_DAYS = 180
DSO_MONTHS = 24
TARGET_SHARE = Decimal("0.70")
# Names of the KPI measures that other modules (the charts) read from kpi_measures().
TOTAL_OPEN = "total open"
DSO = "DSO (days, count-back)"
TARGET = "month target (70% of overdue at start)"
COLLECTED = "collected on that overdue"
PROGRESS = "target progress"


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


def aging(session: Session, as_of: dt.date, by: str = "customer", buckets: str = "standard") -> Report:
    """Open amounts by age, one row per customer / segment / collector, with totals."""
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
            return (customer.segment.value,)
        return (customer.collector or Label("(none)"),)

    table: dict[str, dict[tuple, dict[str, Decimal]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: ZERO)))
    for item in open_items(session, as_of):
        table[item.currency][group(item)][_bucket(bucket_set, item.days_overdue)] += item.open_amount
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
            rows.append(([currency] if several else []) + list(key) + row + [sum(row, ZERO)])
        total_row = [totals[label] for label in labels]
        blanks = [""] * (len(key_columns) - 1)
        rows.append(([currency] if several else []) + [Label("total"), *blanks] + total_row + [sum(total_row, ZERO)])
    if not table:
        rows.append([Label("total")] + [""] * (len(key_columns) - 1) + [ZERO] * (len(labels) + 1))
    kind = "standard buckets" if buckets == "standard" else "credit-management buckets (PROCESS §3)"
    notes = [
        f"Open amount of every invoice issued by {as_of.isoformat()}, after payments received by that day.",
        f"Age = calendar days past the due date on {as_of.isoformat()}; {kind}: {', '.join(labels)}.",
    ]
    if several:
        notes.append("One block with its own total per currency; amounts are not converted.")
    title = f"Aging by {by}" + (" (credit buckets)" if buckets == "credit" else "")
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
    query = (
        select(Allocation.invoice_id, Allocation.amount)
        .join(Payment)
        .where(Payment.received_on >= first, Payment.received_on <= as_of)
    )
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
            "overdue open": overdue,
            "overdue ratio": Ratio(overdue_ratio(overdue, total)),
            "bad debt": bad,
            "bad-debt ratio": Ratio(bad_debt_ratio(bad, total)),
            DSO: dso_count_back(total, months),
            "CEI month to date (%)": collection_effectiveness(beginning, month_sales, total, current),
            "overdue at start of month": start_overdue,
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
    d = as_of.isoformat()
    p = previous_end.isoformat()
    notes = [
        f"Open = invoices issued by the day, less payments received by that day; overdue = past its due date on {d}.",
        f"Bad debt = open more than {BAD_DEBT_DAYS} days past due, or owed by a customer blacklisted now "
        "(the customer's current status, not its status on the day).",
        f"DSO by count-back: the open total on {d} is matched against invoices issued (credit sales) per calendar month, "
        f"this month to {d} ({as_of.day} days) first, then whole months back (at most {DSO_MONTHS}); "
        "the month where it runs out adds remainder / sales x its days. Receivables beyond all those sales add nothing more.",
        f"CEI = (beginning AR + credit sales - ending AR) / (beginning AR + credit sales - ending current AR) x 100, "
        f"with beginning AR = open on {p}, credit sales = invoices issued {first.isoformat()}..{d}, "
        f"ending AR = open on {d}, ending current AR = open and not yet due on {d}; empty when the denominator is 0.",
        f"Target = 70% of what was open and overdue on {p} (the start of the month); collected = payments received "
        f"{first.isoformat()}..{d} applied to those invoices; progress = collected / target.",
    ]
    columns = (["currency"] if several else []) + ["measure", "value"]
    return Report("kpis", "Receivables KPIs", as_of, columns, rows, notes)


# -- statements ----------------------------------------------------------------

STATEMENT_STEPS = (("prepared", 5), ("sent", 8), ("confirmed", 20), ("invoiced", 30))


def _deadline(month: str, day: int) -> dt.date:
    """``day`` of the month after billing month ``month`` (YYYY-MM), the month's last day if shorter."""
    year, number = int(month[:4]), int(month[5:7])
    year, number = (year + 1, 1) if number == 12 else (year, number + 1)
    return dt.date(year, number, min(day, calendar.monthrange(year, number)[1]))


def statement_status(session: Session, as_of: dt.date) -> Report:
    """Per billing month: statements at each step by ``as_of``, and how many are late per deadline."""
    current = as_of.strftime("%Y-%m")
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for statement in session.scalars(select(Statement).where(Statement.month <= current)):
        row = counts[statement.month]
        row["statements"] += 1
        for step, day in STATEMENT_STEPS:
            done_on = getattr(statement, f"{step}_on")
            deadline = _deadline(statement.month, day)
            done = done_on is not None and done_on <= as_of
            if done:
                row[step] += 1
            if (done and done_on > deadline) or (not done and deadline < as_of):
                row[f"{step} late"] += 1
    steps = [step for step, _day in STATEMENT_STEPS]
    columns = ["month", "statements", *steps, *(f"{s} late" for s in steps)]
    rows = [[month] + [counts[month][c] for c in columns[1:]] for month in sorted(counts)]
    notes = [
        "Deadlines in the month after the billing month: prepared by the 5th, sent by the 8th, confirmed by the 20th, "
        "invoiced by the 30th (the last day of a shorter month). Plain calendar days: no rolling over weekends or holidays.",
        f"A step counts as done when its date is on or before {as_of.isoformat()}; it is late when done after its deadline, "
        f"or not done when the deadline is before {as_of.isoformat()}.",
        "Only statements in the ledger are counted (billing months up to this one); a statement never created does not appear.",
    ]
    return Report("statements", "Monthly statement status", as_of, columns, rows, notes)


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
        [a.id, a.customer_id, name, Label(a.action), Label(a.approver_role), a.requested_on, (as_of - a.requested_on).days, a.reminders, a.refusals]
        for a, name in session.execute(query)
    ]
    columns = ["id", "customer_id", "customer", "action", "approver role", "requested on", "age (days)", "reminders", "refusals"]
    notes = [
        f"Requests in state 'requested' made on or before {as_of.isoformat()}; age = calendar days since requested.",
        "Refusals = wrong codes and unauthorised approvers, each logged.",
    ]
    return Report("approvals", "Pending approvals", as_of, columns, rows, notes)


REPORTS: dict[str, Callable[[Session, dt.date], Report]] = {
    "aging": lambda session, as_of: aging(session, as_of),
    "aging-segment": lambda session, as_of: aging(session, as_of, by="segment"),
    "aging-collector": lambda session, as_of: aging(session, as_of, by="collector"),
    "aging-credit": lambda session, as_of: aging(session, as_of, buckets="credit"),
    "kpis": kpis,
    "statements": statement_status,
    "approvals": pending_approvals,
    "limitation": lambda session, as_of: _limitation_report(session, as_of),
}


def _limitation_report(session: Session, as_of: dt.date) -> Report:
    from huikuan.legal.report import limitation_report  # the legal side reads the run's company and calendar

    return limitation_report(session, as_of)


# -- rendering -----------------------------------------------------------------


def display(value) -> str:
    """A value as people read it: 1,234.50, 25.00%, 2026-03-15, n/a for None."""
    if value is None:
        return "n/a"
    if isinstance(value, Ratio):
        return f"{value * 100:.2f}%"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def numeric_columns(report: Report) -> list[bool]:
    """Per column: does it hold numbers (to be right-aligned)?"""
    return [any(isinstance(row[i], (int, Decimal)) for row in report.rows) for i in range(len(report.columns))]


def markdown_cell(value) -> str:
    """A value in a Markdown table: text from the ledger (names, ids: data, not markup) escaped; labels, numbers and dates as displayed."""
    if isinstance(value, Label):
        return value
    return markdown_text(value) if isinstance(value, str) else display(value)


def to_markdown(report: Report) -> str:
    """A GitHub table under the title, the notes as a list below it."""

    def line(cells) -> str:
        return "| " + " | ".join(cells) + " |"

    numeric = numeric_columns(report)
    out = [f"## {report.title}", "", f"As of {report.as_of.isoformat()}", "", line(markdown_text(c) for c in report.columns)]
    out.append("|" + "|".join("---:" if n else "---" for n in numeric) + "|")
    out.extend(line(markdown_cell(v) for v in row) for row in report.rows)
    if not report.rows:  # a header alone renders as nothing in some viewers (the Prefect UI): say it is empty
        out += ["", f"*None on {report.as_of.isoformat()}.*"]
    if report.notes:
        out.append("")
        out.extend(f"- {note}" for note in report.notes)
    return "\n".join(out) + "\n"


def _plain(value) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return spreadsheet_text(value) if isinstance(value, str) else str(value)


def to_csv(report: Report) -> str:
    """Header and rows with plain values (1234.50, 0.2500, 2026-03-15); no notes.

    Text a spreadsheet would evaluate (``=HYPERLINK(…)`` as a customer's name) starts
    with a ``'`` and its line breaks are quoted (``huikuan.escaping.spreadsheet_text``);
    the header keeps the column ids.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(report.columns)
    writer.writerows([_plain(v) for v in row] for row in report.rows)
    return buffer.getvalue()


def to_xlsx(report: Report, path: Path | str) -> Path:
    """One sheet: bold header in row 1, numbers as numbers, the notes two rows below the table."""
    return to_xlsx_book([report], path)


def to_xlsx_book(reports: Sequence[Report], path: Path | str) -> Path:
    """One sheet per report, named after it (as :func:`to_xlsx` lays out each), in the order given."""
    from openpyxl import Workbook

    if len({report.name[:31] for report in reports}) != len(reports):
        raise ValueError("each report needs its own sheet name (the first 31 characters of its name)")
    workbook = Workbook()
    for index, report in enumerate(reports):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        _fill_sheet(sheet, report)
    path = Path(path)
    workbook.save(path)
    return path


def _fill_sheet(sheet, report: Report) -> None:
    from openpyxl.styles import Font

    sheet.title = report.name[:31]
    _append_text(sheet, report.columns)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in report.rows:
        sheet.append([Decimal(v) if isinstance(v, Decimal) else None if isinstance(v, str) else v for v in row])
        for cell, value in zip(sheet[sheet.max_row], row):
            if isinstance(value, str):
                xlsx_text(cell, value)  # a string cell, never a formula (a customer named "=HYPERLINK(…)")
            elif isinstance(value, Ratio):
                cell.number_format = "0.00%"
            elif isinstance(value, Decimal):
                cell.number_format = "#,##0.00"
            elif isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
    sheet.append([])
    _append_text(sheet, [f"{report.title}, as of {report.as_of.isoformat()}"])
    for note in report.notes:
        _append_text(sheet, [note])


def _append_text(sheet, texts: Sequence[str]) -> None:
    """A row of text cells, each a string cell (see ``xlsx_text``)."""
    sheet.append([None] * len(texts))
    for cell, text in zip(sheet[sheet.max_row], texts):
        xlsx_text(cell, text)
