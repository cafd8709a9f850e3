"""Forms for what collectors and finance report: deployments whose parameters a person fills in the UI.

Trigger: a person, from the deployment's "Run" form (or the API). Inputs: the
report. Effects: one ledger record each (a call or visit, a promise to pay, a
dispute, a statement confirmation, an invoice issued, a payment); each changes what the policy
does next. ``record-bounced-email`` marks a contact's address as bouncing (no customer
email goes to it any more, the collector is told instead; what is queued to it is held).
A report the ledger refuses fails the run with the reason.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from prefect import flow

from huikuan.ledger.settings import get_settings
from models.import_rows import id_list
from tasks.records import mark_email_bounced, record


def _today(day: dt.date | None) -> dt.date:
    return day or get_settings().today()


@flow(name="record-contact", flow_run_name="{customer_id} {channel} {result}")
def record_contact(
    customer_id: str,
    channel: Literal["phone", "email", "visit"],
    result: Literal["reached", "unreachable", "promised", "disputed", "refused"],
    note: str = "",
    person_reached: str = "",
    excuse: Literal["", "duo", "la", "lai", "tuo", "tui", "mo"] = "",
    next_step: str = "",
    on: dt.date | None = None,
) -> str:
    """A call, email or visit and its result, in the customer's contact log.

    Args:
        customer_id: the customer contacted.
        channel: phone, email or visit.
        result: reached, unreachable, promised, disputed or refused.
        note: what was said (internal: never shown to the customer).
        person_reached: whom you spoke to.
        excuse: the excuse heard, one of 躲 duo, 拉 la, 赖 lai, 拖 tuo, 推 tui, 磨 mo.
        next_step: what you will do next.
        on: the day of the contact (default: today).
    """
    return record(
        "contact",
        customer_id,
        {
            "channel": channel,
            "result": result,
            "on": _today(on),
            "note": note or None,
            "person": person_reached or None,
            "excuse": excuse or None,
            "next_step": next_step or None,
        },
    )


@flow(name="record-promise", flow_run_name="{customer_id} promises {amount} by {by}")
def record_promise(customer_id: str, amount: Decimal, by: dt.date, invoices: str = "", on: dt.date | None = None) -> str:
    """A promise to pay (还款承诺): an amount by a date.

    Args:
        customer_id: the customer who promised.
        amount: the amount promised (e.g. 50000.00).
        by: the day it is promised by.
        invoices: the invoices it covers, joined by ';' (default: all open ones).
        on: the day the promise was made (default: today).
    """
    return record("promise", customer_id, {"amount": amount, "by": by, "on": _today(on), "invoices": id_list(invoices)})


@flow(name="record-dispute", flow_run_name="{invoice_id} dispute {change}")
def record_dispute(invoice_id: str, change: Literal["open", "resolve"], reason: str = "", on: dt.date | None = None) -> str:
    """Open a dispute on an invoice (with its reason), or resolve it.

    Args:
        invoice_id: the invoice disputed.
        change: open or resolve.
        reason: why it is disputed (open), or how it was resolved (resolve).
        on: the day (default: today).
    """
    if change == "open":
        return record("dispute_open", invoice_id, {"reason": reason, "on": _today(on)})
    return record("dispute_resolve", invoice_id, {"on": _today(on), "resolution": reason or None})


@flow(name="confirm-statement", flow_run_name="{customer_id} confirms {month}")
def confirm_statement(customer_id: str, month: str, invoice_title: str, tax_id: str, address: str = "", bank: str = "", on: dt.date | None = None) -> str:
    """The customer confirmed the month's statement and returned its invoicing info (开票信息).

    Args:
        customer_id: the customer who confirmed.
        month: the statement's month (YYYY-MM).
        invoice_title: the invoice title (发票抬头).
        tax_id: the 18-character unified social credit code (统一社会信用代码).
        address: address and phone for the invoice (optional).
        bank: bank and account for the invoice (optional).
        on: the day of the confirmation (default: today).
    """
    return record(
        "confirmation",
        customer_id,
        {"month": month, "invoice_title": invoice_title, "tax_id": tax_id, "on": _today(on), "address": address or None, "bank": bank or None},
    )


@flow(name="record-invoice", flow_run_name="{customer_id} {month} invoiced")
def record_invoice(customer_id: str, month: str, invoice_id: str = "", tracking_no: str = "", on: dt.date | None = None) -> str:
    """Finance issued the confirmed statement's invoice (发票); with its tracking number the customer is told.

    Args:
        customer_id: the customer invoiced.
        month: the statement's month (YYYY-MM).
        invoice_id: the invoice's number (optional).
        tracking_no: the courier's tracking number of the mailed invoice (optional).
        on: the day it was issued (default: today).
    """
    return record("invoice_issued", customer_id, {"month": month, "on": _today(on), "invoice_id": invoice_id or None, "tracking_no": tracking_no or None})


@flow(name="record-payment", flow_run_name="{payment_id} {customer_id} {amount}")
def record_payment(payment_id: str, customer_id: str, amount: Decimal, invoice_id: str = "", received_on: dt.date | None = None) -> str:
    """A payment received: applied to the invoice named, else to the oldest open invoices.

    Args:
        payment_id: the payment's id (e.g. the bank's transaction id).
        customer_id: the customer who paid.
        amount: the amount received (e.g. 50000.00).
        invoice_id: the invoice it pays (default: the oldest open invoices first).
        received_on: the day the money arrived (default: today).
    """
    return record("payment", customer_id, {"payment_id": payment_id, "amount": amount, "received_on": _today(received_on), "invoice_id": invoice_id or None})


@flow(name="record-bounced-email", flow_run_name="{customer_id} {email} bounced")
def record_bounced_email(customer_id: str, email: str, on: dt.date | None = None) -> str:
    """A contact's email address bounces, as `huikuan contact bounced` records it: no customer email goes to it, the collector is told instead.

    Marking it again changes nothing; a new address for the contact (the customers file imported again) clears the mark.

    Args:
        customer_id: the customer whose contact's address bounced.
        email: the address that bounced, as the customer's contact has it (case and spaces do not matter).
        on: the day it was known to bounce (default: today; not after today).
    """
    return mark_email_bounced(customer_id, email, _today(on))
