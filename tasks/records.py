"""Tasks that record what people report: each one transaction, refused with a clear reason."""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE

from huikuan.collection.execution import may_ship
from huikuan.ledger import records
from huikuan.ledger.context import run_context
from huikuan.ledger.db import session_scope
from huikuan.ledger.settings import get_settings
from huikuan.outbox.bounces import mark_bounced


@task(cache_policy=NO_CACHE, task_run_name="record {kind} {customer_or_invoice}")
def record(kind: str, customer_or_invoice: str, fields: dict) -> str:
    """Record one report of ``kind`` (contact, promise, dispute_open, dispute_resolve, confirmation, invoice_issued, payment)."""
    with session_scope() as session:
        if kind == "contact":
            records.log_contact(session, customer_or_invoice, **fields)
        elif kind == "promise":
            records.record_promise(session, customer_or_invoice, **fields)
        elif kind == "dispute_open":
            records.open_dispute(session, customer_or_invoice, **fields)
        elif kind == "dispute_resolve":
            records.resolve_dispute(session, customer_or_invoice, **fields)
        elif kind == "confirmation":
            records.confirm_statement(session, customer_or_invoice, **fields)
        elif kind == "invoice_issued":
            records.record_invoice_issued(session, customer_or_invoice, **fields)
        elif kind == "payment":
            records.record_payment(session, fields.pop("payment_id"), customer_or_invoice, **fields)
        else:
            raise ValueError(f"unknown report {kind!r}")
    return f"{kind} recorded for {customer_or_invoice}"


@task(cache_policy=NO_CACHE, task_run_name="{email} of {customer_id} bounced")
def mark_email_bounced(customer_id: str, email: str, on: dt.date) -> str:
    """Mark the address bounced since ``on``, as ``huikuan contact bounced`` does (again: nothing changes); what is queued to it is held."""
    company = run_context().company
    with session_scope() as session:
        marked, held = mark_bounced(session, customer_id, email, on=on, company=company, as_of=get_settings().today())
    return f"{email.strip()} of {customer_id} {'marked bounced since ' + on.isoformat() if marked else 'was already marked bounced'}" + (
        f"; {held} queued email(s) to it held back, the collector is told" if held else ""
    )


@task(cache_policy=NO_CACHE, task_run_name="may {customer_id} ship")
def shipping_allowed(customer_id: str) -> tuple[bool, str]:
    with session_scope() as session:
        return may_ship(session, customer_id)
