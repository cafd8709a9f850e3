"""Read the ledger into the policy engine's facts, a batch of customers at a time.

One query per table and batch (customers, invoices with their disputes,
payments applied, promises, statements, charges), merged in Python: a portfolio
of 100,000 customers is read in a few hundred queries, with bounded memory.

Rows are read as the driver gives them (SQLAlchemy Core statements, fetched
from the driver's cursor: no result rows, no per-row processing) and each column is
converted once, by a converter chosen for the database: on SQLite a date is
text (``dt.date.fromisoformat``, remembered per batch: a ledger has few
distinct days) and an amount integer cents (``Decimal(cents).scaleb(-2)``, as
``models.base.Money`` reads it); on PostgreSQL psycopg already gives dates and
Decimals (quantized to cents, as ``Money`` does). The facts are exactly those
the typed columns would give.

A batch of the whole ledger is a contiguous run of the sorted ids, read by range
(``customer_id BETWEEN first AND last``, an index range scan; the invoices' index
holds every column read, so their rows need no lookup into the table); the customers of
``only`` are read by ``IN``. Customers come in the order Python sorts their
ids; where the database orders them otherwise (a PostgreSQL collation that is
not "C"), batches are read by ``IN`` too, so the order and the facts stay the same.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import Connection, Select, String, any_, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from huikuan.ledger.heap import older_objects_frozen
from huikuan.ledger.settings import get_settings
from models.engine import CustomerFacts, InstalmentPlanFacts, InvoiceFacts, PromiseFacts, StatementFacts
from models.enums import CustomerStatus, Segment, Settlement
from models.ledger import (
    ActionTaken,
    Allocation,
    Charge,
    Customer,
    Dispute,
    EventTaken,
    Instalment,
    InstalmentPlan,
    InstalmentPlanInvoice,
    Invoice,
    LetterDelivery,
    OutboxMessage,
    Payment,
    Promise,
    PromiseInvoice,
    Statement,
)
from models.limitation import DEMAND_EMAILS, DEMAND_LETTERS, LegalEvent, Restart

BATCH = 2000
CENT = Decimal("0.01")
NO_IDS: frozenset[str] = frozenset()
_STATE_DATES = (
    ("prepared", "prepared_on"),
    ("reviewed", "reviewed_on"),
    ("sent", "sent_on"),
    ("confirmed", "confirmed_on"),
    ("invoiced", "invoiced_on"),
    ("invoice_mailed", "mailed_on"),
)


def customer_ids(session: Session, only: Sequence[str] | None = None) -> list[str]:
    query = select(Customer.customer_id).order_by(Customer.customer_id)
    if only:
        query = query.where(Customer.customer_id.in_(list(only)))
    return [customer_id for (customer_id,) in _driver_rows(session.connection(), query)]


def load_facts(session: Session, *, only: Sequence[str] | None = None, batch: int = BATCH) -> Iterator[tuple[CustomerFacts, str]]:
    """Every customer's facts (or those of ``only``), with its country, in customer id order (Python's ``sorted``).

    The session's pending changes are flushed first, as an ORM query would (autoflush): the rows are read through its connection.
    """
    if session.autoflush:
        session.flush()
    ids = customer_ids(session, only)
    ordered = sorted(ids)
    by_range = not only and ordered == ids  # the database sorts as Python does: a batch is a range of its index
    with older_objects_frozen():  # open while the facts are read: closed at the end, or when the reader closes it
        for start in range(0, len(ordered), batch):
            yield from _read_batch(session, ordered[start : start + batch], by_range)


class _Parsed(dict):
    """Raw column values and what they stand for, each converted once (``None`` stays ``None``)."""

    def __init__(self, convert: Callable[[Any], Any], known: dict | None = None) -> None:
        super().__init__({None: None, **(known or {})})
        self.convert = convert

    def __missing__(self, raw):
        self[raw] = value = self.convert(raw)
        return value


def _same(value):
    return value


def _money_of_cents(value) -> Decimal | None:
    """SQLite's integer cents, as ``models.base.Money`` reads them."""
    return None if value is None else Decimal(int(value)).scaleb(-2)


def _money_of_numeric(value) -> Decimal | None:
    """PostgreSQL's NUMERIC(18, 2), as ``models.base.Money`` reads it."""
    return None if value is None else Decimal(value).quantize(CENT)


class _Columns:
    """The converters of one batch's raw column values, for the session's database."""

    def __init__(self, dialect: str) -> None:
        text = dialect == "sqlite"
        self.date = _Parsed(dt.date.fromisoformat if text else _same)  # ``date[raw]``
        self.money = _money_of_cents if text else _money_of_numeric  # ``money(raw)``
        self.month = _Parsed(lambda raw: self.date[raw].strftime("%Y-%m"))  # a date's billing month
        self.segment, self.settlement, self.status = (_enum(Segment), _enum(Settlement), _enum(CustomerStatus))


def _enum(kind: type[Enum]) -> _Parsed:
    return _Parsed(kind, {member.value: member for member in kind})


def _driver_rows(connection: Connection, query: Select) -> list[tuple]:
    """``query``'s rows as the driver gives them: tuples of raw values (converted by ``_Columns``), no result objects.

    SQLAlchemy compiles and binds the statement (its cache, its ``IN`` lists); the rows are
    fetched from the driver's cursor itself: SQLAlchemy's result rows cost as much again as
    the driver's fetch (issue #18).
    """
    result = connection.execute(query)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _read_batch(session: Session, ids: list[str], by_range: bool) -> list[tuple[CustomerFacts, str]]:
    one_array = session.get_bind().dialect.name == "postgresql"

    def of_batch(column):
        if by_range:
            return column.between(ids[0], ids[-1])
        if one_array:  # ``= ANY(array)``: one parameter, a statement psycopg prepares once, where an IN list of 500 was parsed anew each time
            return column == any_(literal(ids, ARRAY(String)))
        return column.in_(ids)

    connection = session.connection()

    def rows(*columns, where, joins=(), order_by=()):
        query = select(*columns)
        for join in joins:
            query = join(query)
        return _driver_rows(connection, query.where(where).order_by(*order_by))

    read = _Columns(connection.dialect.name)
    date, money = read.date, read.money
    payments: dict[str, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for invoice_id, received_on, amount in rows(
        Allocation.invoice_id,
        Payment.received_on,
        Allocation.amount,
        joins=[lambda q: q.join_from(Allocation, Payment, Payment.payment_id == Allocation.payment_id)],
        where=of_batch(Payment.customer_id),
    ):
        payments[invoice_id].append((date[received_on], money(amount)))
    disputes: dict[str, list[tuple[dt.date, dt.date | None]]] = defaultdict(list)
    for invoice_id, opened_on, resolved_on in rows(
        Dispute.invoice_id,
        Dispute.opened_on,
        Dispute.resolved_on,
        joins=[lambda q: q.join_from(Dispute, Invoice, Invoice.invoice_id == Dispute.invoice_id)],
        where=of_batch(Invoice.customer_id),
    ):
        disputes[invoice_id].append((date[opened_on], date[resolved_on]))
    invoices: dict[str, list[InvoiceFacts]] = defaultdict(list)
    # In the order of the index on (customer_id, due_on, invoice_id, …), which holds every column read here but the month.
    for customer_id, invoice_id, issued_on, due_on, amount, month in rows(
        Invoice.customer_id,
        Invoice.invoice_id,
        Invoice.issued_on,
        Invoice.due_on,
        Invoice.amount,
        Statement.month,
        joins=[lambda q: q.outerjoin_from(Invoice, Statement, Statement.id == Invoice.statement_id)],
        where=of_batch(Invoice.customer_id),
        order_by=(Invoice.customer_id, Invoice.due_on, Invoice.invoice_id),
    ):
        paid, disputed = payments.get(invoice_id), disputes.get(invoice_id)
        invoices[customer_id].append(
            InvoiceFacts(
                invoice_id,
                date[issued_on],
                date[due_on],
                money(amount),
                tuple(sorted(paid)) if paid else (),
                tuple(sorted(disputed)) if disputed else (),
                month,
            )
        )
    promise_invoices: dict[int, set[str]] = defaultdict(set)
    for promise_id, invoice_id in rows(
        PromiseInvoice.promise_id, PromiseInvoice.invoice_id, joins=[lambda q: q.join_from(PromiseInvoice, Promise)], where=of_batch(Promise.customer_id)
    ):
        promise_invoices[promise_id].add(invoice_id)
    promises: dict[str, list[PromiseFacts]] = defaultdict(list)
    for promise_id, customer_id, made_on, due_on, amount in rows(
        Promise.id,
        Promise.customer_id,
        Promise.made_on,
        Promise.due_on,
        Promise.amount,
        where=of_batch(Promise.customer_id),
        order_by=(Promise.made_on, Promise.id),
    ):
        promises[customer_id].append(PromiseFacts(date[made_on], date[due_on], money(amount), frozenset(promise_invoices[promise_id])))
    statements = _statements(rows, read, of_batch)
    plans = _instalment_plans(rows, read, of_batch)
    demands = _demands_delivered(session, of_batch)
    events: dict[str, dict[str, dt.date]] = defaultdict(dict)
    for customer_id, event_key, taken_on in rows(EventTaken.customer_id, EventTaken.event_key, EventTaken.taken_on, where=of_batch(EventTaken.customer_id)):
        events[customer_id][event_key] = date[taken_on]
    wanted = set(ids) if by_range else ()
    segment, settlement, status = read.segment, read.settlement, read.status
    found: list[tuple[CustomerFacts, str]] = []
    for customer_id, segment_of, settlement_of, status_of, locked_on, country, lock_invoices, standing_since, standing_invoices in rows(
        Customer.customer_id,
        Customer.segment,
        Customer.settlement,
        Customer.status,
        Customer.locked_on,
        Customer.country,
        Customer.lock_invoices,
        Customer.standing_since,
        Customer.standing_invoices,
        where=of_batch(Customer.customer_id),
    ):
        if by_range and customer_id not in wanted:  # a customer added since the ids were read
            continue
        facts = CustomerFacts(
            customer_id=customer_id,
            segment=segment[segment_of],
            settlement=settlement[settlement_of],
            status=status[status_of],
            locked_on=date[locked_on],
            invoices=tuple(invoices.get(customer_id, ())),
            promises=tuple(promises.get(customer_id, ())),
            statements=tuple(statements.get(customer_id, ())),
            instalment_plans=tuple(plans.get(customer_id, ())),
            lock_invoices=_ids(lock_invoices),
            standing_since=date[standing_since],
            standing_invoices=_ids(standing_invoices),
            events_taken=events.get(customer_id, {}),
            demands=tuple(demands.get(customer_id, ())),
        )
        found.append((facts, country))
    found.sort(key=lambda pair: pair[0].customer_id)
    return found


def _ids(joined: str | None) -> frozenset[str]:
    if not joined:
        return NO_IDS
    return frozenset(i for i in joined.split(";") if i)


def _instalment_plans(rows: Callable, read: _Columns, of_batch: Callable) -> dict[str, list[InstalmentPlanFacts]]:
    date, money = read.date, read.money
    instalments: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for plan_id, due_on, amount in rows(
        Instalment.plan_id,
        Instalment.due_on,
        Instalment.amount,
        joins=[lambda q: q.join_from(Instalment, InstalmentPlan)],
        where=of_batch(InstalmentPlan.customer_id),
    ):
        instalments[plan_id].append((date[due_on], money(amount)))
    covered: dict[int, set[str]] = defaultdict(set)
    for plan_id, invoice_id in rows(
        InstalmentPlanInvoice.plan_id,
        InstalmentPlanInvoice.invoice_id,
        joins=[lambda q: q.join_from(InstalmentPlanInvoice, InstalmentPlan)],
        where=of_batch(InstalmentPlan.customer_id),
    ):
        covered[plan_id].add(invoice_id)
    plans: dict[str, list[InstalmentPlanFacts]] = defaultdict(list)
    for plan_id, customer_id, made_on in rows(
        InstalmentPlan.id, InstalmentPlan.customer_id, InstalmentPlan.made_on, where=of_batch(InstalmentPlan.customer_id), order_by=(InstalmentPlan.id,)
    ):
        plans[customer_id].append(InstalmentPlanFacts(date[made_on], frozenset(covered[plan_id]), tuple(sorted(instalments[plan_id]))))
    return plans


def _statements(rows: Callable, read: _Columns, of_batch: Callable) -> dict[str, list[StatementFacts]]:
    """Recorded statements, and the months with charges that have no statement yet."""
    date, month_of = read.date, read.month
    receipts: dict[tuple[str, str], list[dt.date | None]] = defaultdict(list)
    for customer_id, delivered_on, receipt_on in rows(Charge.customer_id, Charge.delivered_on, Charge.receipt_received_on, where=of_batch(Charge.customer_id)):
        receipts[customer_id, month_of[delivered_on]].append(date[receipt_on])
    found: dict[str, list[StatementFacts]] = defaultdict(list)
    recorded: set[tuple[str, str]] = set()
    for customer_id, month, bounced_on, readdressed_on, *dates in rows(
        Statement.customer_id,
        Statement.month,
        Statement.bounced_on,
        Statement.readdressed_on,
        *(getattr(Statement, column) for _state, column in _STATE_DATES),
        where=of_batch(Statement.customer_id),
        order_by=(Statement.customer_id, Statement.month),
    ):
        reached = {state: date[on] for (state, _column), on in zip(_STATE_DATES, dates) if on is not None}
        complete = _complete(receipts.get((customer_id, month), []))
        found[customer_id].append(StatementFacts(month, reached, complete, date[bounced_on], date[readdressed_on]))
        recorded.add((customer_id, month))
    for (customer_id, month), dates in sorted(receipts.items()):
        if (customer_id, month) not in recorded:
            found[customer_id].append(StatementFacts(month, {}, _complete(dates)))
    return found


def _complete(receipt_dates: list[dt.date | None]) -> dt.date | None:
    """The day the last delivery receipt came back, once every delivery has one."""
    if not receipt_dates or None in receipt_dates:
        return None
    return max(receipt_dates)


def _demands_delivered(session: Session, of_batch: Callable) -> dict[str, list[LegalEvent]]:
    """The dunning emails and letters the mail server accepted, dated on the company's calendar.

    A customer document's outbox key is its action's key and ``:email`` or ``:letter``
    (``huikuan.collection.execution``); one never sent (no ``sent_at``) is no delivered demand.
    Few rows: read with their column types (``sent_at`` an aware datetime).
    """
    zone = get_settings().tz
    found: dict[str, list[LegalEvent]] = defaultdict(list)
    for suffix, kinds in ((":email", DEMAND_EMAILS), (":letter", DEMAND_LETTERS)):
        for customer_id, key, invoices, sent_at in session.connection().execute(
            select(ActionTaken.customer_id, OutboxMessage.key, ActionTaken.invoices, OutboxMessage.sent_at)
            .join(OutboxMessage, OutboxMessage.key == ActionTaken.key + suffix)
            .where(of_batch(ActionTaken.customer_id), ActionTaken.action.in_(sorted(kinds)), OutboxMessage.sent_at.is_not(None))
        ):
            named = _ids(invoices)
            found[customer_id].append(LegalEvent(sent_at.astimezone(zone).date(), Restart.demand_delivered, key, named or None))
    for customer_id, key, invoices, delivered_on in session.connection().execute(  # posted letters the courier delivered
        select(ActionTaken.customer_id, LetterDelivery.document_key, ActionTaken.invoices, LetterDelivery.delivered_on)
        .join(LetterDelivery, LetterDelivery.document_key == ActionTaken.key + ":letter")
        .where(of_batch(ActionTaken.customer_id), ActionTaken.action.in_(sorted(DEMAND_LETTERS)))
    ):
        found[customer_id].append(LegalEvent(delivered_on, Restart.demand_delivered, f"{key} (courier)", _ids(invoices) or None))
    for events in found.values():
        events.sort(key=lambda e: (e.on, e.reference))
    return found
