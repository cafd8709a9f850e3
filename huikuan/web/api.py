"""The ERP's API: may goods leave for a customer (with an order's amount), and the customer's account.

The rules are :mod:`huikuan.ledger.account_state`'s (``shipping_answer``, ``credit_answer``), as
``huikuan shipping check`` answers; this module only reads the ledger and speaks JSON.
Every route needs an API key from the company file's ``web.api_keys``; a customer
that does not exist is a 404 whoever asks, and nothing else is said of it.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.ledger import account_state
from huikuan.ledger.account_state import unbilled
from huikuan.ledger.records import open_amounts, unapplied_credit
from huikuan.web.app import WebContext, context_of
from huikuan.web.tokens import matching_key
from models.aging import AGING_BUCKETS, aging_bucket, days_overdue
from models.ledger import Customer, Invoice
from models.money import ZERO

log = logging.getLogger("huikuan.web.api")
router = APIRouter(prefix="/api/v1", tags=["customers"])
_header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key from the company file (huikuan web key NAME)")
_bearer = HTTPBearer(auto_error=False, description="the same key as `Authorization: Bearer KEY`")
CENT = Decimal("0.01")


def api_client(
    request: Request, header_key: Annotated[str | None, Depends(_header_key)], bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> str:
    """The name of the caller's key; 401 without a key or with a wrong one."""
    given = header_key or (bearer.credentials if bearer else None)
    name = matching_key(given, context_of(request).api_keys())
    if name is None:
        client = request.client.host if request.client else "?"
        log.warning("API refused from %s on %s: %s", client, request.url.path, "no key" if not given else "wrong key")
        raise HTTPException(401, "a valid API key is needed (X-API-Key header)", headers={"WWW-Authenticate": "Bearer"})
    return name


Client = Annotated[str, Depends(api_client)]


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT))


class Reason(BaseModel):
    code: str = Field(description="locked, cash_only, blacklisted, credit_suspended or over_credit_limit")
    text: str


class ShippingOut(BaseModel):
    customer_id: str
    may_ship: bool = Field(description="goods may leave now on the usual terms")
    against_payment: bool = Field(description="they may leave only once paid in advance (款到发货)")
    reasons: list[Reason] = Field(description="why not, or what to know (empty: nothing stands in the way)")
    why: str = Field(description="the answer in one sentence, as `huikuan shipping check` prints it")
    amount: str = Field(description="the order's amount asked about")
    owed: str = Field(description="open invoices plus deliveries not yet invoiced")
    unapplied_credit: str = Field(description="money received and not yet applied to invoices: it reduces the exposure (it does not lift a lock)")
    exposure: str = Field(description="owed - unapplied credit + amount (net exposure), compared with the credit limit")
    credit_limit: str | None
    currency: str


class AccountOut(BaseModel):
    customer_id: str
    name: str
    currency: str
    as_of: dt.date
    balance: str = Field(description="open on invoices")
    overdue: str = Field(description="of it, past the due date")
    unbilled: str = Field(description="deliveries not yet invoiced (on a statement or not)")
    aging: dict[str, str] = Field(description="open amount by days past the due date: " + ", ".join(label for label, _f, _l in AGING_BUCKETS))
    standing: str = Field(description="active, credit_suspended, cash_only or blacklisted")
    standing_since: dt.date | None
    locked: bool
    locked_on: dt.date | None
    lock_invoices: list[str]
    credit_limit: str | None
    unapplied_credit: str = Field(description="received beyond the invoices it paid (an over-payment finance matched), not yet applied")
    net: str = Field(description="balance less the unapplied credit")


_NOT_FOUND = {404: {"description": "no such customer"}, 401: {"description": "no or a wrong API key"}}


def _customer(session: Session, customer_id: str) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise HTTPException(404, "no such customer")
    return customer


def _amount(value: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise HTTPException(422, "amount must be a decimal number such as 1234.50") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
        raise HTTPException(422, "amount must be 0 or more, with at most 2 decimal places")
    return amount


def _reasons(customer: Customer, credit: account_state.CreditAnswer) -> list[Reason]:
    reasons = []
    current = account_state.standing(customer)
    if customer.locked_on is not None:
        reasons.append(Reason(code="locked", text=f"locked since {customer.locked_on}: no shipment may leave (系统锁定无法出库)"))
    if current.value in ("cash_only", "blacklisted", "credit_suspended"):
        texts = {
            "cash_only": "cash only: goods leave only against payment in advance (款到发货)",
            "blacklisted": "blacklisted: cash only for good, goods leave only against payment in advance (款到发货)",
            "credit_suspended": "credit suspended: no new sales on credit",
        }
        reasons.append(Reason(code=current.value, text=texts[current.value]))
    if credit.over_limit:
        reasons.append(Reason(code="over_credit_limit", text=credit.why))
    return reasons


@router.get(
    "/customers/{customer_id}/shipping", response_model=ShippingOut, responses=_NOT_FOUND, summary="May goods leave for this customer (an order of `amount`)?"
)
def shipping(
    customer_id: str,
    request: Request,
    client: Client,
    amount: Annotated[str, Query(description="the order's amount, e.g. 1234.50 (default 0: only the account's state)")] = "0",
) -> ShippingOut:
    """Locked: nothing leaves (unapplied credit does not lift a lock). Cash only or blacklisted: only against payment.
    Over the credit limit (open invoices + unbilled deliveries - unapplied credit + this amount > limit): only against
    payment or once paid down."""
    order = _amount(amount)
    web: WebContext = context_of(request)
    with web.session() as session:
        customer = _customer(session, customer_id)
        state = account_state.shipping_answer(customer, session, amount=order)
        credit = state.credit
        answer = ShippingOut(
            customer_id=customer.customer_id,
            may_ship=state.may_ship,
            against_payment=state.against_payment,
            reasons=_reasons(customer, credit),
            why=state.why,
            amount=_money(order),
            owed=_money(credit.owed),
            unapplied_credit=_money(credit.credit),
            exposure=_money(credit.exposure),
            credit_limit=_money(customer.credit_limit) if customer.credit_limit is not None else None,
            currency=customer.currency,
        )
    log.info("shipping %s amount %s for %s: may_ship=%s", customer_id, answer.amount, client, answer.may_ship)
    return answer


@router.get("/customers/{customer_id}", response_model=AccountOut, responses=_NOT_FOUND, summary="The customer's balance, aging and standing")
def account(customer_id: str, request: Request, client: Client) -> AccountOut:
    web: WebContext = context_of(request)
    today = web.today()
    with web.session() as session:
        customer = _customer(session, customer_id)
        still_open = open_amounts(session, customer_id, today)
        credit = unapplied_credit(session, customer_id, today)
        buckets = {label: ZERO for label, _first, _last in AGING_BUCKETS}
        overdue = ZERO
        for invoice_id, due_on in session.execute(select(Invoice.invoice_id, Invoice.due_on).where(Invoice.invoice_id.in_(list(still_open)))):
            days = days_overdue(due_on, today)
            buckets[aging_bucket(days)] += still_open[invoice_id]
            overdue += still_open[invoice_id] if days > 0 else ZERO
        return AccountOut(
            customer_id=customer.customer_id,
            name=customer.name,
            currency=customer.currency,
            as_of=today,
            balance=_money(sum(still_open.values(), ZERO)),
            overdue=_money(overdue),
            unbilled=_money(unbilled(session, customer_id)),
            aging={label: _money(value) for label, value in buckets.items()},
            standing=account_state.standing(customer).value,
            standing_since=customer.standing_since,
            locked=customer.locked_on is not None,
            locked_on=customer.locked_on,
            lock_invoices=[i for i in (customer.lock_invoices or "").split(";") if i],
            credit_limit=_money(customer.credit_limit) if customer.credit_limit is not None else None,
            unapplied_credit=_money(credit),
            net=_money(sum(still_open.values(), ZERO) - credit),
        )
