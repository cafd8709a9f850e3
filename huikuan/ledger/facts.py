"""Read the ledger into the policy engine's facts, a batch of customers at a time.

One query per table and batch (customers, invoices, payments applied,
disputes, promises, statements, charges), merged in Python: a portfolio of
100,000 customers is read in a few dozen queries, with bounded memory.

Rows are read as plain tuples (SQLAlchemy Core, no ORM entities); amounts come
back as Decimal from the ``Money`` column type, converted once. A batch of the
whole ledger is a contiguous run of the sorted ids, read by range
(``customer_id BETWEEN first AND last``, an index range scan); the customers of
``only`` are read by ``IN``. Customers come in the order Python sorts their
ids; where the database orders them otherwise (a PostgreSQL collation that is
not "C"), batches are read by ``IN`` too, so the order and the facts stay the same.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.ledger.settings import get_settings
from models.engine import CustomerFacts, InstalmentPlanFacts, InvoiceFacts, PromiseFacts, StatementFacts
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
    return list(session.scalars(query))


def load_facts(session: Session, *, only: Sequence[str] | None = None, batch: int = BATCH) -> Iterator[tuple[CustomerFacts, str]]:
    """Every customer's facts (or those of ``only``), with its country, in customer id order (Python's ``sorted``)."""
    ids = customer_ids(session, only)
    ordered = sorted(ids)
    by_range = not only and ordered == ids  # the database sorts as Python does: a batch is a range of its index
    for start in range(0, len(ordered), batch):
        yield from _load_batch(session, ordered[start : start + batch], by_range)


def _load_batch(session: Session, ids: list[str], by_range: bool) -> Iterator[tuple[CustomerFacts, str]]:
    """The facts of ``ids`` (sorted); ``by_range``: read ``ids[0]`` to ``ids[-1]``, which are exactly ``ids``."""

    def of_batch(column):
        return column.between(ids[0], ids[-1]) if by_range else column.in_(ids)

    payments: dict[str, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for invoice_id, received_on, amount in session.connection().execute(
        select(Allocation.invoice_id, Payment.received_on, Allocation.amount)
        .join(Payment, Payment.payment_id == Allocation.payment_id)
        .where(of_batch(Payment.customer_id))
    ):
        payments[invoice_id].append((received_on, amount))
    disputes: dict[str, list[tuple[dt.date, dt.date | None]]] = defaultdict(list)
    for invoice_id, opened_on, resolved_on in session.connection().execute(
        select(Dispute.invoice_id, Dispute.opened_on, Dispute.resolved_on).join(Invoice).where(of_batch(Invoice.customer_id))
    ):
        disputes[invoice_id].append((opened_on, resolved_on))
    invoices: dict[str, list[InvoiceFacts]] = defaultdict(list)
    for customer_id, invoice_id, issued_on, due_on, amount, month in session.connection().execute(
        select(Invoice.customer_id, Invoice.invoice_id, Invoice.issued_on, Invoice.due_on, Invoice.amount, Statement.month)
        .outerjoin(Statement, Statement.id == Invoice.statement_id)
        .where(of_batch(Invoice.customer_id))
        .order_by(Invoice.due_on, Invoice.invoice_id)
    ):
        invoices[customer_id].append(
            InvoiceFacts(invoice_id, issued_on, due_on, amount, tuple(sorted(payments.get(invoice_id, ()))), tuple(sorted(disputes.get(invoice_id, ()))), month)
        )
    promise_invoices: dict[int, set[str]] = defaultdict(set)
    for promise_id, invoice_id in session.connection().execute(
        select(PromiseInvoice.promise_id, PromiseInvoice.invoice_id).join(Promise).where(of_batch(Promise.customer_id))
    ):
        promise_invoices[promise_id].add(invoice_id)
    promises: dict[str, list[PromiseFacts]] = defaultdict(list)
    for promise_id, customer_id, made_on, due_on, amount in session.connection().execute(
        select(Promise.id, Promise.customer_id, Promise.made_on, Promise.due_on, Promise.amount)
        .where(of_batch(Promise.customer_id))
        .order_by(Promise.made_on, Promise.id)
    ):
        promises[customer_id].append(PromiseFacts(made_on, due_on, amount, frozenset(promise_invoices[promise_id])))
    statements = _statements(session, of_batch)
    plans = _instalment_plans(session, of_batch)
    demands = _demands_delivered(session, of_batch)
    events: dict[str, dict[str, dt.date]] = defaultdict(dict)
    for customer_id, event_key, taken_on in session.connection().execute(
        select(EventTaken.customer_id, EventTaken.event_key, EventTaken.taken_on).where(of_batch(EventTaken.customer_id))
    ):
        events[customer_id][event_key] = taken_on
    wanted = set(ids) if by_range else ()
    found: list[tuple[CustomerFacts, str]] = []
    for customer in session.connection().execute(
        select(
            Customer.customer_id,
            Customer.segment,
            Customer.settlement,
            Customer.status,
            Customer.locked_on,
            Customer.country,
            Customer.lock_invoices,
            Customer.standing_since,
            Customer.standing_invoices,
        ).where(of_batch(Customer.customer_id))
    ):
        if by_range and customer.customer_id not in wanted:  # a customer added since the ids were read
            continue
        facts = CustomerFacts(
            customer_id=customer.customer_id,
            segment=customer.segment,
            settlement=customer.settlement,
            status=customer.status,
            locked_on=customer.locked_on,
            invoices=tuple(invoices.get(customer.customer_id, ())),
            promises=tuple(promises.get(customer.customer_id, ())),
            statements=tuple(statements.get(customer.customer_id, ())),
            instalment_plans=tuple(plans.get(customer.customer_id, ())),
            lock_invoices=_ids(customer.lock_invoices),
            standing_since=customer.standing_since,
            standing_invoices=_ids(customer.standing_invoices),
            events_taken=events.get(customer.customer_id, {}),
            demands=tuple(demands.get(customer.customer_id, ())),
        )
        found.append((facts, customer.country))
    found.sort(key=lambda pair: pair[0].customer_id)
    yield from found


def _ids(joined: str | None) -> frozenset[str]:
    return frozenset(i for i in (joined or "").split(";") if i)


def _instalment_plans(session: Session, of_batch: Callable) -> dict[str, list[InstalmentPlanFacts]]:
    instalments: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for plan_id, due_on, amount in session.connection().execute(
        select(Instalment.plan_id, Instalment.due_on, Instalment.amount).join(InstalmentPlan).where(of_batch(InstalmentPlan.customer_id))
    ):
        instalments[plan_id].append((due_on, amount))
    covered: dict[int, set[str]] = defaultdict(set)
    for plan_id, invoice_id in session.connection().execute(
        select(InstalmentPlanInvoice.plan_id, InstalmentPlanInvoice.invoice_id).join(InstalmentPlan).where(of_batch(InstalmentPlan.customer_id))
    ):
        covered[plan_id].add(invoice_id)
    plans: dict[str, list[InstalmentPlanFacts]] = defaultdict(list)
    for plan_id, customer_id, made_on in session.connection().execute(
        select(InstalmentPlan.id, InstalmentPlan.customer_id, InstalmentPlan.made_on).where(of_batch(InstalmentPlan.customer_id)).order_by(InstalmentPlan.id)
    ):
        plans[customer_id].append(InstalmentPlanFacts(made_on, frozenset(covered[plan_id]), tuple(sorted(instalments[plan_id]))))
    return plans


def _statements(session: Session, of_batch: Callable) -> dict[str, list[StatementFacts]]:
    """Recorded statements, and the months with charges that have no statement yet."""
    receipts: dict[tuple[str, str], list[dt.date | None]] = defaultdict(list)
    for customer_id, delivered_on, receipt_on in session.connection().execute(
        select(Charge.customer_id, Charge.delivered_on, Charge.receipt_received_on).where(of_batch(Charge.customer_id))
    ):
        receipts[customer_id, delivered_on.strftime("%Y-%m")].append(receipt_on)
    found: dict[str, list[StatementFacts]] = defaultdict(list)
    recorded: set[tuple[str, str]] = set()
    for customer_id, month, *dates in session.connection().execute(
        select(Statement.customer_id, Statement.month, *(getattr(Statement, column) for _state, column in _STATE_DATES))
        .where(of_batch(Statement.customer_id))
        .order_by(Statement.customer_id, Statement.month)
    ):
        reached = {state: on for (state, _column), on in zip(_STATE_DATES, dates) if on is not None}
        found[customer_id].append(StatementFacts(month, reached, _complete(receipts.get((customer_id, month), []))))
        recorded.add((customer_id, month))
    for (customer_id, month), dates in sorted(receipts.items()):
        if (customer_id, month) not in recorded:
            found[customer_id].append(StatementFacts(month, {}, _complete(dates)))
    return found


def _complete(receipt_dates: list[dt.date | None]) -> dt.date | None:
    """The day the last delivery receipt came back, once every delivery has one."""
    if not receipt_dates or any(on is None for on in receipt_dates):
        return None
    return max(receipt_dates)


def _demands_delivered(session: Session, of_batch: Callable) -> dict[str, list[LegalEvent]]:
    """The dunning emails and letters the mail server accepted, dated on the company's calendar.

    A customer document's outbox key is its action's key and ``:email`` or ``:letter``
    (``huikuan.collection.execution``); one never sent (no ``sent_at``) is no delivered demand.
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
