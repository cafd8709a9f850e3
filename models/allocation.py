"""The ledger's one allocation rule: how a payment is applied to a customer's invoices.

A payment that names an invoice pays that invoice; one that names none pays the
customer's open invoices oldest first: by due date, then issue date, then
invoice id. A payment larger than what it may pay is refused, never kept as a
silent surplus. The importer, ``huikuan payment``, the record-payment form and
the bank's statement all apply payments through ``allocate``. Pure: no database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal("0.00")


class AllocationRefused(ValueError):
    """The payment cannot be applied as given; the message says why in one line."""


@dataclass(frozen=True)
class OpenInvoice:
    """An invoice with what is still open on it."""

    invoice_id: str
    due_on: dt.date
    issued_on: dt.date
    open: Decimal


def oldest_first(invoice: OpenInvoice) -> tuple[dt.date, dt.date, str]:
    """The order in which a payment without an invoice pays a customer's invoices."""
    return (invoice.due_on, invoice.issued_on, invoice.invoice_id)


def allocate(amount: Decimal, invoices: Iterable[OpenInvoice], *, customer_id: str, invoice_id: str | None = None) -> list[tuple[str, Decimal]]:
    """The (invoice, amount) parts that ``amount`` pays, oldest first, or ``AllocationRefused``.

    ``invoices``: the customer's invoices with what is open on each (closed ones
    may be included; they take nothing). ``invoice_id``: the invoice the payment
    names, if any.
    """
    by_id = {invoice.invoice_id: invoice for invoice in invoices}
    if invoice_id is not None:
        still_open = by_id[invoice_id].open if invoice_id in by_id else ZERO
        if amount > still_open:
            raise AllocationRefused(f"{amount} is more than the {still_open} still open on invoice {invoice_id}")
        targets = [by_id[invoice_id]]
    else:
        owed = sum((invoice.open for invoice in by_id.values() if invoice.open > 0), ZERO)
        if amount > owed:
            raise AllocationRefused(f"{amount} is more than customer {customer_id} owes ({owed} open)")
        targets = sorted(by_id.values(), key=oldest_first)
    parts, remaining = [], amount
    for invoice in targets:
        if remaining <= 0:
            break
        part = min(remaining, invoice.open)
        if part > 0:
            parts.append((invoice.invoice_id, part))
            remaining -= part
    return parts
