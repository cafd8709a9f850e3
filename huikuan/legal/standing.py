"""Each open invoice's legal standing on a day: its late-payment charge and its limitation date, and why.

Read from the ledger, decided by the pure rules (``models.charges.late_charge``,
``models.limitation.limitation``). What restarts the limitation period
(民法典 第195条), per invoice:

- a demand that reached the customer: a dunning email or letter the mail server
  accepted; one never sent restarts nothing;
- the customer's acknowledgement: a confirmed statement (its invoices), a
  promise (its invoices, or all open when it names none), an instalment plan;
- a part payment (the payment's allocation to that invoice).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.ledger.company import Company
from huikuan.ledger.context import RunContext
from huikuan.ledger.facts import load_facts
from huikuan.ledger.records import get_customer
from huikuan.legal.evidence import SentDocument, sent_documents
from models.calendar import BusinessCalendar, CalendarFallbackWarning
from models.charges import Charge, ChargeTerms, contract_terms, late_charge
from models.engine import CustomerFacts, InvoiceFacts
from models.ledger import Customer
from models.limitation import LONGEST_YEARS, YEARS, LegalEvent, Limitation, WorkingDays, events_of, limitation, years_later
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


def customer_standing(session: Session, customer: Customer, as_of: dt.date, *, terms: ChargeTerms | None, working: WorkingDays) -> CustomerStanding:
    """The legal standing of ``customer``'s invoices open at the end of ``as_of``.

    Read as the policy reads it: the customer's facts (``huikuan.ledger.facts``) and
    ``models.limitation.events_of``, so the limitation date shown here is the one
    the policy's warning steps count from. Events after ``as_of`` are not known yet.
    """
    documents = tuple(sent_documents(session, customer.customer_id))
    facts = next(facts for facts, _country in load_facts(session, only=[customer.customer_id]))
    events = tuple(e for e in events_of(facts) if e.on <= as_of)
    standings = []
    for invoice in facts.invoices:
        if invoice.issued_on > as_of:
            continue
        open_amount = invoice.open_on(as_of)
        if open_amount <= 0:
            continue
        charge = invoice_charge(invoice, as_of, terms) if terms else None
        standings.append(
            InvoiceStanding(
                invoice_id=invoice.invoice_id,
                issued_on=invoice.issued_on,
                due_on=invoice.due_on,
                amount=invoice.amount,
                open_amount=open_amount,
                currency=customer.currency,
                charge=charge,
                limitation=limitation(invoice.invoice_id, invoice.due_on, events, working),
            )
        )
    standings.sort(key=lambda s: (s.limitation.expires_on, s.due_on, s.invoice_id))
    return CustomerStanding(customer.customer_id, customer.name, as_of, terms, tuple(standings), documents, events)


def invoice_charge(invoice: InvoiceFacts, as_of: dt.date, terms: ChargeTerms) -> Charge:
    """The late-payment charge on one invoice to the end of ``as_of``, on its payments as received: what every reader shows."""
    return late_charge(invoice.invoice_id, invoice.amount, invoice.due_on, invoice.payments, as_of, terms)


def letter_charges(
    session: Session, customer: Customer, company: Company | None, as_of: dt.date, invoice_ids: Iterable[str], facts: CustomerFacts | None = None
) -> tuple[Charge, ...]:
    """The charges a letter dated ``as_of`` claims on ``invoice_ids`` (those still open), under the customer's terms (``terms_for``).

    () when the contract claims no charge. The same charge as ``customers show`` and the case file count
    (``invoice_charge``); a claim beside the principal, never part of the balance. ``facts``: the customer's,
    when the caller holds them already (a batch of the daily run); else read from the ledger.
    """
    terms = terms_for(customer, company)
    wanted = set(invoice_ids)
    if terms is None or not wanted:
        return ()
    if facts is None:
        facts = next(facts for facts, _country in load_facts(session, only=[customer.customer_id]))
    return tuple(
        invoice_charge(invoice, as_of, terms)
        for invoice in facts.invoices
        if invoice.invoice_id in wanted and invoice.issued_on <= as_of and invoice.open_on(as_of) > 0
    )


def open_invoice_charges(session: Session, as_of: dt.date, company: Company | None, *, only: Sequence[str] | None = None) -> dict[str, Decimal]:
    """Every invoice open at the end of ``as_of`` whose customer's contract claims a charge: invoice id -> its charge (``invoice_charge``).

    For the aging report's charge column; invoices under no terms are absent. ``only``: the invoices of
    these customers (the worklist reads its accounts a slice at a time), not of the whole ledger.
    """
    if only is not None and not only:
        return {}
    query = select(Customer) if only is None else select(Customer).where(Customer.customer_id.in_(list(only)))
    customers = {c.customer_id: c for c in session.scalars(query)}
    charges: dict[str, Decimal] = {}
    for facts, _country in load_facts(session, only=only):
        terms = terms_for(customers[facts.customer_id], company)
        if terms is None:
            continue
        for invoice in facts.invoices:
            if invoice.issued_on <= as_of and invoice.open_on(as_of) > 0:
                charges[invoice.invoice_id] = invoice_charge(invoice, as_of, terms).amount
    return charges


def terms_for(customer: Customer, company: Company | None) -> ChargeTerms | None:
    """The customer's own contract terms (imported), else the company's standard ones; None: no charge.

    A customer with a clause but no rate of its own has the standard terms under its contract's clause.
    """
    if customer.late_charge_rate:
        return contract_terms(customer.late_charge_rate, customer.late_charge_grace_days, customer.late_charge_cap, customer.contract_clause)
    standard = company.legal.charges.terms() if company and company.legal.charges else None
    if standard is not None and customer.contract_clause:
        standard = replace(standard, clause=customer.contract_clause)
    return standard


def standing_of(session: Session, customer_id: str, as_of: dt.date, context: RunContext, *, shown_until: dt.date | None = None) -> CustomerStanding:
    """``customer_standing`` with the contract terms, calendar and time zone of the run's company.

    A limitation date (up to ``shown_until``: those the caller shows) in a year the calendar has no official
    data for is warned about (``warn_uncovered_years``).

    Raises:
        LedgerError: no such customer.
    """
    customer = get_customer(session, customer_id)
    terms = terms_for(customer, context.company)
    calendar = context.calendar(customer.country)
    standing = customer_standing(session, customer, as_of, terms=terms, working=calendar)
    warn_uncovered_years(standing, calendar, until=shown_until)
    return standing


class LimitationCalendarWarning(CalendarFallbackWarning):
    """A limitation date shown was moved off days off in a year the calendar has no official data for.

    Said by the commands that show limitation dates (``customers show``, ``report limitation``,
    ``huikuan case``: the CLI's ``_calendar_years`` lets it through), never by the others,
    which look the same years up on the way and say nothing.
    """


def _years_looked_up(expiry: Limitation) -> range:
    """The years whose days off decided ``expiry``: from the nominal last day (3 years on) to the day it was moved to."""
    start = expiry.restarted_by.on if expiry.restarted_by else expiry.due_on
    nominal = min(years_later(start, YEARS), years_later(expiry.due_on, LONGEST_YEARS))
    return range(min(nominal, expiry.expires_on).year, expiry.expires_on.year + 1)


def warn_uncovered_years(standing: CustomerStanding, calendar: BusinessCalendar | WorkingDays, *, until: dt.date | None = None) -> None:
    """A ``LimitationCalendarWarning`` for each year without official calendar data that one of ``standing``'s limitation dates
    (up to ``until``) fell in; none for working days that are not a ``BusinessCalendar`` (they know no years)."""
    if not isinstance(calendar, BusinessCalendar):
        return
    shown = [i.limitation for i in standing.invoices if until is None or i.limitation.expires_on <= until]
    years = {year for expiry in shown for year in _years_looked_up(expiry)} & calendar.fallback_years
    for year in sorted(years):
        days_off = (
            "the statutory days off (全国年节及纪念日放假办法) without make-up working days"
            if calendar.source_of(year) == "statutory"
            else "weekends and the configured closing days only"
        )
        warnings.warn(
            LimitationCalendarWarning(
                f"no official {calendar.country} calendar for {year}: the limitation dates (诉讼时效) in {year} are moved off {days_off};"
                " declare the published schedule in the company file's calendar section"
            ),
            stacklevel=2,
        )
