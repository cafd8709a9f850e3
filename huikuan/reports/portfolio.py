"""Read-only views of the ledger: the portfolio's aging and one customer's file."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from huikuan.ledger import account_state
from huikuan.ledger.records import get_customer, open_amounts, unapplied_credit
from models.aging import AGING_BUCKETS, aging_bucket, days_overdue
from models.ledger import AccountChange, Allocation, ContactLog, Customer, Dispute, Invoice, Payment, Promise
from models.money import ZERO


@dataclass(frozen=True)
class OpenItem:
    customer_id: str
    customer_name: str
    invoice_id: str
    issued_on: dt.date
    due_on: dt.date
    amount: Decimal
    open_amount: Decimal
    currency: str
    days_overdue: int

    @property
    def bucket(self) -> str:
        return aging_bucket(self.days_overdue)


def open_items(session: Session, as_of: dt.date) -> Iterator[OpenItem]:
    """Every invoice issued by ``as_of`` with something still open on that day."""
    paid = (
        select(Allocation.invoice_id, func.sum(Allocation.amount).label("paid"))
        .join(Payment)
        .where(Payment.received_on <= as_of)
        .group_by(Allocation.invoice_id)
        .subquery()
    )
    query = (
        select(Invoice.customer_id, Customer.name, Invoice.invoice_id, Invoice.issued_on, Invoice.due_on, Invoice.amount, paid.c.paid, Invoice.currency)
        .join(Customer)
        .outerjoin(paid, paid.c.invoice_id == Invoice.invoice_id)
        .where(Invoice.issued_on <= as_of)
        .execution_options(yield_per=10_000)
    )
    for customer_id, name, invoice_id, issued_on, due_on, amount, paid_amount, currency in session.execute(query):
        still_open = amount - (paid_amount or ZERO)
        if still_open > 0:
            yield OpenItem(customer_id, name, invoice_id, issued_on, due_on, amount, still_open, currency, days_overdue(due_on, as_of))


@dataclass
class Portfolio:
    as_of: dt.date
    customers: int = 0
    by_segment: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    by_bucket: dict[str, dict[str, Decimal]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(lambda: ZERO)))
    invoices_by_bucket: Counter = field(default_factory=Counter)
    oldest: list[OpenItem] = field(default_factory=list)

    @property
    def bucket_labels(self) -> list[str]:
        return [label for label, _first, _last in AGING_BUCKETS]

    def total(self, currency: str) -> Decimal:
        return sum(self.by_bucket[currency].values(), ZERO)


def portfolio(session: Session, as_of: dt.date, *, oldest: int = 10) -> Portfolio:
    """Customers by segment and status, open amounts by age, and the oldest debts."""
    result = Portfolio(as_of)
    locked = Customer.locked_on.is_not(None)
    for segment, status, is_locked, count in session.execute(
        select(Customer.segment, Customer.status, locked, func.count()).group_by(Customer.segment, Customer.status, locked)
    ):
        result.customers += count
        result.by_segment[segment.value] += count
        standing = "active" if status.value == "locked" else status.value  # the credit standing; the lock is counted apart
        result.by_status[standing] += count
        if is_locked:
            result.by_status["locked"] += count
    items = []
    for item in open_items(session, as_of):
        result.by_bucket[item.currency][item.bucket] += item.open_amount
        result.invoices_by_bucket[item.bucket] += 1
        if item.days_overdue > 0:
            items.append(item)
    items.sort(key=lambda i: (-i.days_overdue, -i.open_amount, i.invoice_id))
    result.oldest = items[:oldest]
    return result


@dataclass
class CustomerFile:
    customer: Customer
    as_of: dt.date
    invoices: list[tuple[Invoice, Decimal, int, Dispute | None]]  # invoice, open amount, days overdue, open dispute
    promises: list[Promise]
    contacts: list[ContactLog]
    changes: list[AccountChange] = field(default_factory=list)  # the account's state, facet by facet, oldest first
    credit: Decimal = ZERO  # unapplied credit: received beyond the invoices it paid (huikuan.ledger.records.unapplied_credit)
    bounced: dict[str, dt.date] = field(default_factory=dict)  # contact's address (lower case) -> the day it was marked bounced, by as_of
    shipping: account_state.ShippingAnswer | None = None  # the warehouse's answer now (huikuan.ledger.account_state.shipping_answer)

    def bounced_on(self, address: str | None) -> dt.date | None:
        """The day ``address`` was marked bounced (huikuan.outbox.bounces), None when it is not known to bounce."""
        return self.bounced.get(address.strip().lower()) if address else None

    @property
    def balance(self) -> Decimal:
        return sum((amount for _invoice, amount, _days, _dispute in self.invoices), ZERO)

    @property
    def net(self) -> Decimal:
        """What the customer owes once its unapplied credit is counted (below 0: the company owes it)."""
        return self.balance - self.credit


def customer_file(session: Session, customer_id: str, as_of: dt.date, *, contacts: int = 5) -> CustomerFile:
    """One customer as a collector needs them: balance, open invoices with ages, history."""
    customer = session.scalar(
        select(Customer).options(selectinload(Customer.contacts)).where(Customer.customer_id == get_customer(session, customer_id).customer_id)
    )
    amounts = open_amounts(session, customer_id, as_of)
    disputes = {
        d.invoice_id: d
        for d in session.scalars(
            select(Dispute)
            .where(Dispute.invoice_id.in_(list(amounts)), Dispute.opened_on <= as_of)
            .where((Dispute.resolved_on.is_(None)) | (Dispute.resolved_on > as_of))
        )
    }
    invoices = [
        (invoice, amounts[invoice.invoice_id], days_overdue(invoice.due_on, as_of), disputes.get(invoice.invoice_id))
        for invoice in session.scalars(select(Invoice).where(Invoice.invoice_id.in_(list(amounts))).order_by(Invoice.due_on, Invoice.invoice_id))
    ]
    promises = list(
        session.scalars(
            select(Promise)
            .options(selectinload(Promise.invoices))
            .where(Promise.customer_id == customer_id, Promise.made_on <= as_of)
            .order_by(Promise.made_on.desc(), Promise.id.desc())
            .limit(5)
        )
    )
    recent = list(
        session.scalars(
            select(ContactLog)
            .where(ContactLog.customer_id == customer_id, ContactLog.contacted_on <= as_of)
            .order_by(ContactLog.contacted_on.desc(), ContactLog.id.desc())
            .limit(contacts)
        )
    )
    bounced: dict[str, dt.date] = {}
    for contact in customer.contacts:
        if contact.email and contact.email_bounced_on is not None and contact.email_bounced_on <= as_of:
            address = contact.email.strip().lower()
            bounced[address] = min(contact.email_bounced_on, bounced.get(address, contact.email_bounced_on))
    return CustomerFile(
        customer,
        as_of,
        invoices,
        promises,
        recent,
        account_state.history(session, customer_id),
        unapplied_credit(session, customer_id, as_of),
        bounced,
        account_state.shipping_answer(customer, session),
    )
