"""Recording what happened: contacts, promises to pay, disputes (CONTRACT.md).

Each function checks its input against the ledger and raises `LedgerError` with
a sentence a collector understands; the caller's transaction makes it atomic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.allocation import AllocationRefused, OpenInvoice, allocate, oldest_first
from models.enums import Channel, ContactResult, Excuse, StatementState
from models.import_rows import parse_id
from models.ledger import (
    Allocation,
    ContactLog,
    Customer,
    Dispute,
    Instalment,
    InstalmentPlan,
    InstalmentPlanInvoice,
    Invoice,
    Payment,
    Promise,
    PromiseInvoice,
    Statement,
    UnappliedCredit,
)
from models.money import ZERO, to_money


class LedgerError(ValueError):
    """A request the ledger refuses, with the reason in words."""


# The 统一社会信用代码 (unified social credit code, GB 32100-2015): 18 characters from 0-9 and
# the capitals without I, O, S, V, Z; the 3rd to 8th are the administrative division code
# (digits); the 18th is a check character over the first 17, modulo 31.
USCC_CHARACTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, ...


def normal_tax_id(text: str) -> str:
    """A tax id as typed, in the form it is checked and kept: full-width characters made ASCII, letters capitalised, no spaces."""
    import unicodedata

    return "".join(unicodedata.normalize("NFKC", text).split()).upper()


def uscc_check_character(first17: str) -> str:
    """The 18th character of a 统一社会信用代码 whose first 17 are ``first17`` (GB 32100-2015)."""
    total = sum(USCC_CHARACTERS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_CHARACTERS[(31 - total % 31) % 31]


def tax_id_problem(code: str) -> str | None:
    """What makes ``code`` (normalised, see ``normal_tax_id``) not a 统一社会信用代码, in words; None when it is one."""
    if len(code) != 18:
        return f"a 统一社会信用代码 has 18 characters, this has {len(code)}"
    wrong = [c for c in code if c not in USCC_CHARACTERS]
    if wrong:
        return f"{wrong[0]!r} is not used in a 统一社会信用代码 (digits and capitals without I, O, S, V, Z)"
    if not code[2:8].isdigit():
        return f"characters 3-8 are the administrative division code, digits only, not {code[2:8]!r}"
    expected = uscc_check_character(code[:17])
    if code[17] != expected:
        return f"the check character (the 18th) is {code[17]!r}, the first 17 give {expected!r}: a character is mistyped"
    return None


def get_customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise LedgerError(f"unknown customer {customer_id}")
    return customer


def get_invoice(session: Session, invoice_id: str) -> Invoice:
    invoice = session.get(Invoice, invoice_id)
    if invoice is None:
        raise LedgerError(f"unknown invoice {invoice_id}")
    return invoice


def open_amounts(session: Session, customer_id: str, as_of: dt.date | None = None) -> dict[str, Decimal]:
    """Invoice id -> amount still open, counting payments received up to ``as_of``."""
    paid = select(Allocation.invoice_id, func.sum(Allocation.amount).label("paid")).join(Payment)
    if as_of is not None:
        paid = paid.where(Payment.received_on <= as_of)
    paid = paid.where(Payment.customer_id == customer_id).group_by(Allocation.invoice_id).subquery()
    query = (
        select(Invoice.invoice_id, Invoice.amount, paid.c.paid)
        .outerjoin(paid, paid.c.invoice_id == Invoice.invoice_id)
        .where(Invoice.customer_id == customer_id)
        .order_by(Invoice.due_on, Invoice.issued_on, Invoice.invoice_id)  # oldest first: models.allocation.oldest_first
    )
    if as_of is not None:
        query = query.where(Invoice.issued_on <= as_of)
    amounts = {invoice_id: amount - (paid_amount or ZERO) for invoice_id, amount, paid_amount in session.execute(query)}
    return {invoice_id: amount for invoice_id, amount in amounts.items() if amount > 0}


def open_invoices(session: Session, customer_id: str, as_of: dt.date | None = None) -> list[OpenInvoice]:
    """The customer's open invoices with what is open on each, oldest first (the allocation's order)."""
    amounts = open_amounts(session, customer_id, as_of)
    invoices = session.execute(select(Invoice.invoice_id, Invoice.due_on, Invoice.issued_on).where(Invoice.invoice_id.in_(amounts)))
    return sorted((OpenInvoice(i, due_on, issued_on, amounts[i]) for i, due_on, issued_on in invoices), key=oldest_first)


def unapplied_credit(session: Session, customer_id: str, as_of: dt.date | None = None) -> Decimal:
    """The customer's unapplied credit (kept from over-payments, less what was applied to invoices), by ``as_of`` if given."""
    query = select(func.sum(UnappliedCredit.amount)).where(UnappliedCredit.customer_id == customer_id)
    if as_of is not None:
        query = query.where(UnappliedCredit.recorded_on <= as_of)
    return session.scalar(query) or ZERO


def log_contact(
    session: Session,
    customer_id: str,
    *,
    channel: Channel,
    result: ContactResult,
    on: dt.date,
    note: str | None = None,
    person: str | None = None,
    excuse: Excuse | None = None,
    next_step: str | None = None,
    recorded_by: str | None = None,
) -> ContactLog:
    """Record one contact with the customer (电话, 邮件, 上门)."""
    customer = get_customer(session, customer_id)
    entry = ContactLog(
        customer_id=customer.customer_id,
        contacted_on=on,
        channel=Channel(channel),
        result=ContactResult(result),
        note=note,
        person=person,
        excuse=Excuse(excuse) if excuse else None,
        next_step=next_step,
        recorded_by=recorded_by,
    )
    session.add(entry)
    session.flush()
    return entry


def record_promise(
    session: Session, customer_id: str, *, amount: Decimal, by: dt.date, on: dt.date, invoices: Sequence[str] = (), note: str | None = None
) -> Promise:
    """Record a promise to pay ``amount`` by ``by``, covering ``invoices`` (default: all open ones)."""
    get_customer(session, customer_id)
    amount = to_money(amount)
    if amount <= 0:
        raise LedgerError(f"a promise needs an amount above 0, not {amount}")
    if by < on:
        raise LedgerError(f"the promised date {by} is before the day the promise was made ({on})")
    covered, owed = _covered_open_invoices(session, customer_id, invoices, on)
    if amount > owed:
        raise LedgerError(f"the promise of {amount} is more than the {owed} open on {', '.join(covered)}")
    promise = Promise(customer_id=customer_id, made_on=on, amount=amount, due_on=by, note=note)
    promise.invoices = [PromiseInvoice(invoice_id=i) for i in covered]
    session.add(promise)
    session.flush()
    return promise


def _covered_open_invoices(session: Session, customer_id: str, invoices: Sequence[str], on: dt.date) -> tuple[list[str], Decimal]:
    """The invoices named (default: every open one) and what is open on them, checked."""
    still_open = open_amounts(session, customer_id, on)
    covered = list(dict.fromkeys(invoices)) or list(still_open)
    if not covered:
        raise LedgerError(f"customer {customer_id} has no open invoice on {on}")
    for invoice_id in covered:
        invoice = get_invoice(session, invoice_id)
        if invoice.customer_id != customer_id:
            raise LedgerError(f"invoice {invoice_id} belongs to customer {invoice.customer_id}, not {customer_id}")
        if invoice_id not in still_open:
            raise LedgerError(f"invoice {invoice_id} has nothing open on {on}")
    return covered, sum((still_open[i] for i in covered), ZERO)


def record_instalment_plan(
    session: Session, customer_id: str, *, instalments: Sequence[tuple[dt.date, Decimal]], on: dt.date, invoices: Sequence[str] = (), note: str | None = None
) -> InstalmentPlan:
    """Agree an instalment plan (分期付款) on ``invoices`` (default: all open ones)."""
    get_customer(session, customer_id)
    if not instalments:
        raise LedgerError("an instalment plan needs at least one instalment")
    dates = [due for due, _amount in instalments]
    if len(set(dates)) != len(dates):
        raise LedgerError("two instalments fall on the same day")
    if min(dates) <= on:
        raise LedgerError(f"the first instalment ({min(dates)}) must come after the day the plan is agreed ({on})")
    amounts = [to_money(amount) for _due, amount in instalments]
    if any(amount <= 0 for amount in amounts):
        raise LedgerError("every instalment needs an amount above 0")
    covered, owed = _covered_open_invoices(session, customer_id, invoices, on)
    total = sum(amounts, ZERO)
    if total > owed:
        raise LedgerError(f"the instalments add up to {total}, more than the {owed} open on {', '.join(covered)}")
    plan = InstalmentPlan(customer_id=customer_id, made_on=on, note=note)
    plan.instalments = [Instalment(due_on=due, amount=amount) for (due, _a), amount in sorted(zip(instalments, amounts))]
    plan.invoices = [InstalmentPlanInvoice(invoice_id=i) for i in covered]
    session.add(plan)
    session.flush()
    return plan


def open_dispute(session: Session, invoice_id: str, *, reason: str, on: dt.date) -> Dispute:
    """Open a dispute (异议) on an invoice: dunning on it pauses until it is resolved."""
    get_invoice(session, invoice_id)
    if not reason.strip():
        raise LedgerError("a dispute needs a reason")
    current = _open_dispute(session, invoice_id)
    if current is not None:
        raise LedgerError(f"invoice {invoice_id} is already under dispute since {current.opened_on}: {current.reason}")
    dispute = Dispute(invoice_id=invoice_id, opened_on=on, reason=reason.strip())
    session.add(dispute)
    session.flush()
    return dispute


def resolve_dispute(session: Session, invoice_id: str, *, on: dt.date, resolution: str | None = None) -> Dispute:
    """Close the invoice's open dispute; its steps resume."""
    get_invoice(session, invoice_id)
    dispute = _open_dispute(session, invoice_id)
    if dispute is None:
        raise LedgerError(f"invoice {invoice_id} has no open dispute")
    if on < dispute.opened_on:
        raise LedgerError(f"{on} is before the dispute was opened ({dispute.opened_on})")
    dispute.resolved_on = on
    dispute.resolution = resolution
    session.flush()
    return dispute


def _open_dispute(session: Session, invoice_id: str) -> Dispute | None:
    return session.scalar(select(Dispute).where(Dispute.invoice_id == invoice_id, Dispute.resolved_on.is_(None)))


def confirm_statement(
    session: Session, customer_id: str, *, month: str, invoice_title: str, tax_id: str, on: dt.date, address: str | None = None, bank: str | None = None
) -> Statement:
    """The customer confirmed the month's statement and gave its invoicing info (开票信息)."""
    get_customer(session, customer_id)
    if not invoice_title.strip() or not tax_id.strip():
        raise LedgerError("a confirmation needs the invoice title and the tax id")
    code = normal_tax_id(tax_id)
    problem = tax_id_problem(code)
    if problem is not None:
        raise LedgerError(f"tax id (税号) {tax_id.strip()!r}: {problem}")
    statement = session.scalar(select(Statement).where(Statement.customer_id == customer_id, Statement.month == month))
    if statement is None:
        raise LedgerError(f"customer {customer_id} has no {month} statement: a statement is confirmed only once it was prepared and sent")
    if statement.confirmed_on is not None:
        raise LedgerError(f"the {month} statement of {customer_id} was confirmed on {statement.confirmed_on}")
    if statement.sent_on is None:
        raise LedgerError(f"the {month} statement of {customer_id} has not been sent yet ({statement.state.value}): it can be confirmed once it is sent")
    if on < statement.sent_on:
        raise LedgerError(f"the {month} statement of {customer_id} was sent on {statement.sent_on}: it cannot be confirmed on {on}, before it was sent")
    statement.confirmed_on = on
    statement.state = StatementState.confirmed
    statement.invoice_title, statement.tax_id = invoice_title.strip(), code
    statement.invoice_address, statement.invoice_bank = address, bank
    session.flush()
    return statement


def record_payment(
    session: Session, payment_id: str, customer_id: str, *, amount: Decimal, received_on: dt.date, invoice_id: str | None = None
) -> list[tuple[str, Decimal]]:
    """Record a payment and apply it: to the named invoice, else the oldest open invoices first.

    The same payment recorded again changes nothing; a payment larger than what
    is open is refused, as in the importer. Returns the (invoice, amount) applied.
    """
    amount = to_money(amount)
    if amount <= 0:
        raise LedgerError(f"a payment needs an amount above 0, not {amount}")
    try:
        parse_id(payment_id)  # a new id, typed: the same rule as an imported one
    except ValueError as exc:
        raise LedgerError(f"payment id: {exc}") from None
    get_customer(session, customer_id)
    existing = session.get(Payment, payment_id)
    if existing is not None:
        same = (existing.customer_id, existing.amount, existing.received_on, existing.invoice_id) == (customer_id, amount, received_on, invoice_id)
        if not same:
            raise LedgerError(f"payment {payment_id} is already recorded with other details")
        return [(a.invoice_id, a.amount) for a in existing.allocations]
    if invoice_id is not None:
        invoice = get_invoice(session, invoice_id)
        if invoice.customer_id != customer_id:
            raise LedgerError(f"invoice {invoice_id} belongs to customer {invoice.customer_id}, not {customer_id}")
    try:
        applied = allocate(amount, open_invoices(session, customer_id), customer_id=customer_id, invoice_id=invoice_id)
    except AllocationRefused as refused:
        raise LedgerError(str(refused)) from None
    session.add(Payment(payment_id=payment_id, customer_id=customer_id, received_on=received_on, amount=amount, invoice_id=invoice_id))
    session.flush()
    session.add_all(Allocation(payment_id=payment_id, invoice_id=target, amount=part) for target, part in applied)
    session.flush()
    return applied


def record_invoice_issued(
    session: Session, customer_id: str, *, month: str, on: dt.date, invoice_id: str | None = None, tracking_no: str | None = None
) -> Statement:
    """Finance issued the confirmed statement's invoice (发票) and, with a tracking number, mailed it."""
    get_customer(session, customer_id)
    statement = session.scalar(select(Statement).where(Statement.customer_id == customer_id, Statement.month == month))
    if statement is None or statement.confirmed_on is None:
        raise LedgerError(f"the {month} statement of {customer_id} is not confirmed yet; confirm it first")
    if invoice_id is not None:
        invoice = get_invoice(session, invoice_id)
        if invoice.customer_id != customer_id:
            raise LedgerError(f"invoice {invoice_id} belongs to customer {invoice.customer_id}, not {customer_id}")
        invoice.statement_id = statement.id
    statement.invoiced_on = statement.invoiced_on or on
    statement.state = StatementState.invoiced
    if tracking_no:
        statement.tracking_no = tracking_no.strip()
    session.flush()
    return statement
