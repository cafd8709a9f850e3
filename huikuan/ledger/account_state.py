"""The account's state in facets, each change recorded with its cause; the shipping answer.

Three facets, changed only here:

- the **shipping lock** (系统锁定无法出库, boss-approved): ``Customer.locked_on`` and
  the debts that caused it (``lock_invoices``); lifted when they are paid;
- the **credit standing**: ``Customer.status`` (active = normal, credit_suspended,
  cash_only = credit stopped, blacklisted = cash only for good), since
  ``standing_since``, caused by ``standing_invoices``;
- the **credit limit**: ``Customer.credit_limit``.

Every change writes an ``AccountChange`` row naming its cause (an action's key,
an approval, a person), which ``huikuan customers show`` lists. A change to the
value a facet already has writes nothing, so a retried effect changes nothing.
``may_ship`` answers the warehouse from all facets together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session, object_session

from huikuan.ledger.records import open_amounts, unapplied_credit
from models.enums import CustomerStatus
from models.ledger import AccountChange, Charge, Customer, Invoice
from models.money import ZERO, format_money
from models.texts import N_, Term, Text

LOCK, STANDING, LIMIT = "shipping_lock", "credit_standing", "credit_limit"
CREDIT_CUT = Decimal("0.60")  # PROCESS.md §3: when a stopped customer pays, the limit is cut by 40%
_STANDING_OF_EFFECT = {
    "suspend_credit": CustomerStatus.credit_suspended,
    "cash_only": CustomerStatus.cash_only,
    "blacklist": CustomerStatus.blacklisted,
    "cut_credit_limit": CustomerStatus.active,
}
_CASH_ONLY = (CustomerStatus.cash_only, CustomerStatus.blacklisted)
ACCOUNT_EFFECTS = frozenset({"lock", *_STANDING_OF_EFFECT})  # what an approved request changes through apply_effect (unlock has its own path)


def standing(customer: Customer) -> CustomerStatus:
    """The credit standing (a ledger from before the facets may still say ``locked``: that is the lock)."""
    return CustomerStatus.active if customer.status is CustomerStatus.locked else customer.status


def record(
    session: Session, customer_id: str, facet: str, on: dt.date, old: object, new: object, *, cause: str, reason: str, invoices: Iterable[str] = ()
) -> None:
    """One change of one facet in the account's history (the facet's value is changed by the caller)."""
    session.add(
        AccountChange(
            customer_id=customer_id,
            facet=facet,
            changed_on=on,
            old_value=_text(old),
            new_value=_text(new),
            cause=cause[:250],
            reason=reason,
            invoices=";".join(sorted(invoices)),
        )
    )


def _text(value: object) -> str:
    if value is None:
        return ""
    return value.value if isinstance(value, CustomerStatus) else str(value)


def lock(session: Session, customer: Customer, on: dt.date, *, cause: str, reason: str, invoices: Iterable[str] = ()) -> bool:
    """Stop shipments from ``on`` because of ``invoices``; False when the account is locked already."""
    if customer.locked_on is not None:
        return False
    invoices = tuple(invoices)
    customer.locked_on, customer.lock_invoices = on, ";".join(sorted(invoices))
    record(session, customer.customer_id, LOCK, on, "open", "locked", cause=cause, reason=reason, invoices=invoices)
    return True


def unlock(session: Session, customer: Customer, on: dt.date, *, cause: str, reason: str) -> bool:
    """Lift the lock; False when the account is not locked."""
    if customer.locked_on is None:
        return False
    invoices = tuple(i for i in (customer.lock_invoices or "").split(";") if i)
    record(session, customer.customer_id, LOCK, on, f"locked since {customer.locked_on}", "open", cause=cause, reason=reason, invoices=invoices)
    customer.locked_on, customer.lock_invoices = None, ""
    if customer.status is CustomerStatus.locked:
        customer.status = CustomerStatus.active
    return True


def set_standing(session: Session, customer: Customer, new: CustomerStatus, on: dt.date, *, cause: str, reason: str, invoices: Iterable[str] = ()) -> bool:
    """Change the credit standing; False when it already is ``new``."""
    old = standing(customer)
    if old is new and customer.status is new:
        return False
    invoices = tuple(invoices)
    customer.status, customer.standing_since, customer.standing_invoices = new, on, ";".join(sorted(invoices))
    if old is not new:
        record(session, customer.customer_id, STANDING, on, old, new, cause=cause, reason=reason, invoices=invoices)
    return old is not new


def set_limit(session: Session, customer: Customer, new: Decimal | None, on: dt.date, *, cause: str, reason: str) -> bool:
    if customer.credit_limit == new:
        return False
    record(session, customer.customer_id, LIMIT, on, customer.credit_limit, new, cause=cause, reason=reason)
    customer.credit_limit = new
    return True


def apply_effect(session: Session, customer: Customer, effect: str, on: dt.date, *, cause: str, reason: str, invoices: Iterable[str] = ()) -> None:
    """What a policy step's effect changes in the account (``models.policy.Effect``); statement effects are not here."""
    invoices = tuple(invoices)
    if effect in ("statement_prepared", "statement_sent"):
        return  # recorded on the statement itself (huikuan.collection.execution)
    if effect == "lock":
        lock(session, customer, on, cause=cause, reason=reason, invoices=invoices)
    elif effect == "unlock":
        unlock(session, customer, on, cause=cause, reason=reason)
    elif effect in _STANDING_OF_EFFECT:
        was = standing(customer)
        changed = set_standing(session, customer, _STANDING_OF_EFFECT[effect], on, cause=cause, reason=reason, invoices=invoices)
        if effect == "blacklist":
            set_limit(session, customer, None, on, cause=cause, reason=reason)
        elif effect == "cut_credit_limit" and changed and was is not CustomerStatus.active and customer.credit_limit is not None:
            set_limit(session, customer, (customer.credit_limit * CREDIT_CUT).quantize(Decimal("0.01")), on, cause=cause, reason=reason)
    else:
        raise ValueError(f"unknown effect on an account: {effect!r}")
    session.flush()


def history(session: Session, customer_id: str) -> list[AccountChange]:
    """Every change of the account's facets, oldest first."""
    return list(session.scalars(select(AccountChange).where(AccountChange.customer_id == customer_id).order_by(AccountChange.id)))


@dataclass(frozen=True)
class CreditAnswer:
    """An order of ``amount`` against the credit limit (net exposure).

    ``exposure`` = ``owed`` (open invoices + deliveries not yet invoiced) - ``credit`` (money
    received and not yet applied to invoices, huikuan.bank.cash) + ``amount``: the credit
    the company already holds reduces what the customer owes it.
    """

    over_limit: bool
    exposure: Decimal
    limit: Decimal | None
    why: str  # English (a ``Text``: people read it in their language)
    owed: Decimal = ZERO
    credit: Decimal = ZERO


def credit_answer(customer: Customer, *, owed: Decimal, amount: Decimal, credit: Decimal = ZERO) -> CreditAnswer:
    """Would an order of ``amount`` take the customer over its credit limit? (no limit: never)."""
    exposure = owed - credit + amount
    limit = customer.credit_limit
    if limit is None:
        return CreditAnswer(False, exposure, None, Text(N_("{customer} has no credit limit"), customer=customer.customer_id), owed, credit)
    over = exposure > limit
    return CreditAnswer(over, exposure, limit, _credit_why(customer, exposure, limit, amount, credit, over), owed, credit)


def _credit_why(customer: Customer, exposure: Decimal, limit: Decimal, amount: Decimal, credit: Decimal, over: bool) -> Text:
    """The credit test in words, its amounts in the one money format (English: ``CNY 1,234.50``); an order is named only when there is one."""

    def money(value: Decimal) -> str:
        return format_money(value, customer.currency or "CNY", "en")

    held = Text(N_(" (after {credit} unapplied credit)"), credit=money(credit)) if credit else ""
    if amount:
        owes = Text(N_("would owe {exposure}{held} with this order of {amount}"), exposure=money(exposure), held=held, amount=money(amount))
    else:
        owes = Text(N_("owes {exposure}{held}"), exposure=money(exposure), held=held)
    said = N_("{customer} {owes}, over its credit limit of {limit}") if over else N_("{customer} {owes}, within its credit limit of {limit}")
    return Text(said, customer=customer.customer_id, owes=owes, limit=money(limit))


def unbilled(session: Session, customer_id: str) -> Decimal:
    """Deliveries whose statement has no invoice in the ledger yet: owed, but on no open invoice."""
    invoiced = exists().where(Invoice.statement_id == Charge.statement_id)
    total = session.scalar(select(func.sum(Charge.amount)).where(Charge.customer_id == customer_id, ~invoiced))
    return total or ZERO


def credit_of(session: Session, customer: Customer, amount: Decimal = ZERO) -> CreditAnswer:
    """The credit-limit test from the ledger: open invoices + unbilled deliveries - unapplied credit + ``amount``."""
    owed = sum(open_amounts(session, customer.customer_id).values(), ZERO) + unbilled(session, customer.customer_id)
    return credit_answer(customer, owed=owed, amount=amount, credit=unapplied_credit(session, customer.customer_id))


@dataclass(frozen=True)
class ShippingAnswer:
    """May goods leave for this customer now? ``against_payment``: only once paid in advance (款到发货).

    ``credit``: the credit-limit test it includes (None when the customer was read outside a session).
    """

    may_ship: bool
    against_payment: bool
    why: str  # English, as the ERP reads it; a ``Text``, so that people read it in their language
    credit: CreditAnswer | None = None


def shipping_answer(customer: Customer, session: Session | None = None, *, amount: Decimal = ZERO) -> ShippingAnswer:
    """The warehouse's question before goods leave (an order of ``amount``), answered from every facet.

    The one place the answer is made: ``huikuan shipping check``, the ERP's API
    (huikuan.web.api) and ``huikuan customers show`` all ask here.

    Locked: nothing leaves, whatever credit the customer holds (the lock stays
    until the invoices that caused it are paid, i.e. applied). Cash only or
    blacklisted: nothing leaves on credit, only against payment in advance.
    Over the credit limit (net exposure, :func:`credit_of`): only against payment
    or once paid down. Credit suspended: no new credit sales, but what was sold
    may leave. Otherwise it may ship. ``session`` defaults to the customer's own;
    a customer read outside any session is answered from its facets alone.
    """
    session = session if session is not None else object_session(customer)
    credit = credit_of(session, customer, amount) if session is not None else None
    facets = _facets_answer(customer)
    if credit is None or not credit.over_limit:
        return replace(facets, credit=credit)
    if facets.may_ship:
        return ShippingAnswer(False, True, Text(N_("{credit}: only against payment in advance (款到发货) or once paid down"), credit=credit.why), credit)
    return ShippingAnswer(False, facets.against_payment, Text(N_("{facets}; {credit}"), facets=facets.why, credit=credit.why), credit)


def _facets_answer(customer: Customer) -> ShippingAnswer:
    """The answer from the lock and the credit standing alone (:func:`shipping_answer` adds the credit limit)."""
    who = f"{customer.customer_id} {customer.name}"
    current = standing(customer)
    if customer.locked_on is not None:
        also = Text(N_("; its credit standing is {standing}"), standing=Term(current.value)) if current is not CustomerStatus.active else ""
        locked = N_("{who} is locked since {day}: no shipment may leave (系统锁定无法出库){also}")
        return ShippingAnswer(False, False, Text(locked, who=who, day=customer.locked_on, also=also))
    if current in _CASH_ONLY:
        cash_only = N_("{who} is {standing}: cash only, goods leave only against payment in advance (款到发货)")
        return ShippingAnswer(False, True, Text(cash_only, who=who, standing=Term(current.value)))
    if current is CustomerStatus.credit_suspended:
        return ShippingAnswer(True, False, Text(N_("{who} may ship; its credit is suspended: no new sales on credit"), who=who))
    return ShippingAnswer(True, False, Text(N_("{who} may ship"), who=who))
