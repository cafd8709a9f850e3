"""Each open invoice's legal standing on a day: its late-payment charge and its limitation date, and why.

Read from the ledger, decided by the pure rules (``models.charges.late_charge``,
``models.limitation.limitation``). What restarts the limitation period
(民法典 第195条), per invoice:

- a demand that reached the customer: a dunning email or letter the mail server
  accepted (``huikuan.legal.evidence``); one never sent restarts nothing;
- the customer's acknowledgement: a confirmed statement (its invoices), a
  promise (its invoices, or all open when it names none), an instalment plan;
- a part payment (the payment's allocation to that invoice).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.context import RunContext
from huikuan.legal.evidence import SentDocument, sent_documents
from huikuan.records import get_customer
from huikuan.settings import get_settings
from models.charges import Charge, ChargeTerms, late_charge
from models.ledger import (
    Allocation, Customer, InstalmentPlan, InstalmentPlanInvoice, Invoice, Payment, Promise, PromiseInvoice, Statement,
)
from models.limitation import LegalEvent, Limitation, Restart, WorkingDays, limitation
from models.money import ZERO


@dataclass(frozen=True)
class InvoiceStanding:
    """One invoice open on ``as_of``: what is owed, the charge claimed on it, and when it can no longer be enforced."""

    invoice_id: str
    issued_on: dt.date
    due_on: dt.date
    amount: Decimal
    open_amount: Decimal
    currency: str
    charge: Charge | None  # None: the contract claims no charge
    limitation: Limitation

    @property
    def charge_amount(self) -> Decimal:
        return self.charge.amount if self.charge else ZERO

    @property
    def claim(self) -> Decimal:
        """Principal still open plus the charge: what a demand or a lawyer claims on it."""
        return self.open_amount + self.charge_amount


@dataclass(frozen=True)
class CustomerStanding:
    customer_id: str
    customer_name: str
    as_of: dt.date
    terms: ChargeTerms | None
    invoices: tuple[InvoiceStanding, ...]  # by limitation date, then due date
    documents: tuple[SentDocument, ...]
    events: tuple[LegalEvent, ...]

    @property
    def open_total(self) -> Decimal:
        return sum((i.open_amount for i in self.invoices), ZERO)

    @property
    def charge_total(self) -> Decimal:
        return sum((i.charge_amount for i in self.invoices), ZERO)

    @property
    def claim_total(self) -> Decimal:
        return self.open_total + self.charge_total

    @property
    def first_expiry(self) -> InvoiceStanding | None:
        """The open invoice whose limitation date comes first."""
        return self.invoices[0] if self.invoices else None


def legal_events(session: Session, customer_id: str, as_of: dt.date, documents: Iterable[SentDocument], zone: ZoneInfo) -> list[LegalEvent]:
    """Everything up to ``as_of`` that may restart the limitation period of the customer's invoices."""
    events: list[LegalEvent] = []
    for document in documents:
        delivered = document.delivered_on(zone)
        if document.is_demand and delivered is not None and delivered <= as_of:
            events.append(LegalEvent(delivered, Restart.demand_delivered, document.key, document.invoices))
    for statement in session.scalars(
        select(Statement).where(Statement.customer_id == customer_id, Statement.confirmed_on.is_not(None), Statement.confirmed_on <= as_of)
    ):
        listed = frozenset(session.scalars(select(Invoice.invoice_id).where(Invoice.statement_id == statement.id)))
        events.append(LegalEvent(statement.confirmed_on, Restart.statement_confirmed, f"statement {statement.month}", listed or None))
    for promise in session.scalars(select(Promise).where(Promise.customer_id == customer_id, Promise.made_on <= as_of)):
        named = frozenset(session.scalars(select(PromiseInvoice.invoice_id).where(PromiseInvoice.promise_id == promise.id)))
        events.append(LegalEvent(promise.made_on, Restart.promise, f"promise {promise.id}", named or None))
    for plan in session.scalars(select(InstalmentPlan).where(InstalmentPlan.customer_id == customer_id, InstalmentPlan.made_on <= as_of)):
        named = frozenset(session.scalars(select(InstalmentPlanInvoice.invoice_id).where(InstalmentPlanInvoice.plan_id == plan.id)))
        events.append(LegalEvent(plan.made_on, Restart.instalment_plan, f"instalment plan {plan.id}", named or None))
    for payment_id, invoice_id, received_on in session.execute(
        select(Payment.payment_id, Allocation.invoice_id, Payment.received_on).join(Allocation)
        .where(Payment.customer_id == customer_id, Payment.received_on <= as_of)
    ):
        events.append(LegalEvent(received_on, Restart.part_payment, f"payment {payment_id}", frozenset({invoice_id})))
    return events


def customer_standing(session: Session, customer: Customer, as_of: dt.date, *, terms: ChargeTerms | None,
                      working: WorkingDays, zone: ZoneInfo) -> CustomerStanding:
    """The legal standing of ``customer``'s invoices open at the end of ``as_of``."""
    documents = tuple(sent_documents(session, customer.customer_id))
    events = legal_events(session, customer.customer_id, as_of, documents, zone)
    paid: dict[str, list[tuple[dt.date, Decimal]]] = defaultdict(list)
    for invoice_id, received_on, amount in session.execute(
        select(Allocation.invoice_id, Payment.received_on, Allocation.amount).join(Payment)
        .where(Payment.customer_id == customer.customer_id, Payment.received_on <= as_of)
    ):
        paid[invoice_id].append((received_on, amount))
    standings = []
    for invoice in session.scalars(
        select(Invoice).where(Invoice.customer_id == customer.customer_id, Invoice.issued_on <= as_of).order_by(Invoice.due_on, Invoice.invoice_id)
    ):
        open_amount = invoice.amount - sum((amount for _day, amount in paid[invoice.invoice_id]), ZERO)
        if open_amount <= 0:
            continue
        charge = late_charge(invoice.invoice_id, invoice.amount, invoice.due_on, paid[invoice.invoice_id], as_of, terms) if terms else None
        standings.append(InvoiceStanding(
            invoice_id=invoice.invoice_id, issued_on=invoice.issued_on, due_on=invoice.due_on, amount=invoice.amount,
            open_amount=open_amount, currency=invoice.currency, charge=charge,
            limitation=limitation(invoice.invoice_id, invoice.due_on, events, working),
        ))
    standings.sort(key=lambda s: (s.limitation.expires_on, s.due_on, s.invoice_id))
    return CustomerStanding(customer.customer_id, customer.name, as_of, terms, tuple(standings), documents, tuple(events))


def standing_of(session: Session, customer_id: str, as_of: dt.date, context: RunContext) -> CustomerStanding:
    """``customer_standing`` with the contract terms, calendar and time zone of the run's company.

    Raises:
        LedgerError: no such customer.
    """
    customer = get_customer(session, customer_id)
    company = context.company
    terms = company.legal.terms_for(customer.customer_id) if company else None
    zone = ZoneInfo(company.timezone) if company else get_settings().tz
    return customer_standing(session, customer, as_of, terms=terms, working=context.calendar(customer.country), zone=zone)
