"""`huikuan shipping check`: may goods leave for a customer (exit status for the warehouse or the ERP)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Optional

import typer

from huikuan.cli.common import CustomerId, ensure_ledger, fail, out, parse_amount, shipping_app

SHIP, LOCKED, AGAINST_PAYMENT = 0, 1, 3  # exit statuses of `shipping check` (2: a usage or ledger error)


@shipping_app.command("check")
def shipping_check(
    customer_id: CustomerId,
    amount: Annotated[Optional[str], typer.Option("--amount", help="the order about to leave, counted against the credit limit (default: none)")] = None,
) -> None:
    """Exit status 0: goods may leave; 1: they may not (locked); 3: only against payment in advance (cash only, blacklisted,
    or over the credit limit counting unapplied credit and the order)."""
    from huikuan.ledger import records
    from huikuan.ledger.account_state import shipping_answer
    from huikuan.ledger.db import session_scope

    order = parse_amount(amount, 2) if amount is not None else Decimal("0")  # not 1: that says "locked"
    ensure_ledger()
    with session_scope() as session:
        try:
            answer = shipping_answer(records.get_customer(session, customer_id), session, amount=order)
        except records.LedgerError as exc:
            raise fail(str(exc), 2) from None  # not 1: that says "locked"
    out.print(answer.why, markup=False)
    raise typer.Exit(SHIP if answer.may_ship else AGAINST_PAYMENT if answer.against_payment else LOCKED)
