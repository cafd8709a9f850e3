"""Tasks that record what people report: each one transaction, refused with a clear reason."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from huikuan import records
from huikuan.db import session_scope
from huikuan.execution import may_ship


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


@task(cache_policy=NO_CACHE, task_run_name="may {customer_id} ship")
def shipping_allowed(customer_id: str) -> tuple[bool, str]:
    with session_scope() as session:
        return may_ship(session, customer_id)
