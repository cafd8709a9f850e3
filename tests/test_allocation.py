"""The ledger's one allocation rule (models/allocation.py), and every way a payment arrives applying it alike."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from huikuan.ledger.importer import import_files
from huikuan.ledger.records import LedgerError, record_payment
from models.allocation import AllocationRefused, OpenInvoice, allocate, oldest_first
from models.ledger import Allocation

D = dt.date
OPEN = [
    OpenInvoice("INV-A", D(2026, 10, 30), D(2026, 9, 15), Decimal("300.00")),  # same due day as INV-B, issued later
    OpenInvoice("INV-B", D(2026, 10, 30), D(2026, 9, 1), Decimal("200.00")),
    OpenInvoice("INV-C", D(2026, 9, 30), D(2026, 8, 31), Decimal("100.00")),
    OpenInvoice("INV-D", D(2026, 8, 31), D(2026, 7, 31), Decimal("0.00")),  # paid: takes nothing
]


def test_oldest_first_is_due_date_then_issue_date_then_id():
    assert [i.invoice_id for i in sorted(OPEN, key=oldest_first)] == ["INV-D", "INV-C", "INV-B", "INV-A"]


def test_a_payment_without_an_invoice_pays_oldest_first_and_stops_when_spent():
    assert allocate(Decimal("350.00"), OPEN, customer_id="C1") == [("INV-C", Decimal("100.00")), ("INV-B", Decimal("200.00")), ("INV-A", Decimal("50.00"))]


def test_a_payment_naming_an_invoice_pays_only_it():
    assert allocate(Decimal("30.00"), OPEN, customer_id="C1", invoice_id="INV-A") == [("INV-A", Decimal("30.00"))]


@pytest.mark.parametrize(
    ("amount", "invoice_id", "message"),
    [
        ("600.01", None, "600.01 is more than customer C1 owes (600.00 open)"),
        ("300.01", "INV-A", "300.01 is more than the 300.00 still open on invoice INV-A"),
        ("0.01", "INV-D", "0.01 is more than the 0.00 still open on invoice INV-D"),
        ("0.01", "INV-X", "0.01 is more than the 0.00 still open on invoice INV-X"),
    ],
)
def test_more_than_may_be_paid_is_refused(amount, invoice_id, message):
    with pytest.raises(AllocationRefused, match=re.escape(message)):
        allocate(Decimal(amount), OPEN, customer_id="C1", invoice_id=invoice_id)


@given(st.lists(st.integers(0, 10_000), min_size=1, max_size=8), st.integers(1, 100))
def test_the_parts_add_up_and_every_older_invoice_is_paid_in_full_first(opens, percent):
    invoices = [
        OpenInvoice(f"I{n}", D(2026, 1, 1) + dt.timedelta(days=n % 3), D(2025, 12, 1) + dt.timedelta(days=n % 2), Decimal(c) / 100) for n, c in enumerate(opens)
    ]
    owed = sum(i.open for i in invoices)
    if owed == 0:
        return
    amount = max(Decimal("0.01"), (owed * percent / 100).quantize(Decimal("0.01")))
    parts = allocate(amount, invoices, customer_id="C1")
    assert sum(p for _, p in parts) == amount
    ordered = [i for i in sorted(invoices, key=oldest_first) if i.open > 0]
    paid = dict(parts)
    assert list(paid) == [i.invoice_id for i in ordered[: len(paid)]]
    assert all(paid[i.invoice_id] == i.open for i in ordered[: len(paid) - 1])


CUSTOMERS = "customer_id,name,email,phone,contact_name\nC1,上海华信机械有限公司,fin@hx.example.cn,13800000001,王芳\n"
INVOICES = "invoice_id,customer_id,issued_on,due_on,amount\nINV-A,C1,2026-09-15,2026-10-30,300.00\nINV-B,C1,2026-09-01,2026-10-30,200.00\n"


def _ledger(tmp_path: Path, session, payments: str | None = None):
    files = {}
    for kind, text in (("customers", CUSTOMERS), ("invoices", INVOICES), ("payments", payments)):
        if text:
            files[kind] = tmp_path / f"{kind}.csv"
            files[kind].write_text(text, encoding="utf-8")
    import_files(session, files)
    session.commit()


def _allocations(session) -> list[tuple[str, Decimal]]:
    return [(a.invoice_id, a.amount) for a in session.scalars(select(Allocation).order_by(Allocation.amount.desc()))]


def test_an_imported_payment_and_a_recorded_one_pay_the_same_invoices(tmp_path, session):
    """Both invoices are due the same day: the one issued first is paid first, however the payment arrives."""
    _ledger(tmp_path, session, "payment_id,customer_id,received_on,amount,invoice_id\nP1,C1,2026-11-02,250.00,\n")
    assert _allocations(session) == [("INV-B", Decimal("200.00")), ("INV-A", Decimal("50.00"))]


def test_huikuan_payment_pays_the_invoice_issued_first_when_due_the_same_day(tmp_path, session):
    _ledger(tmp_path, session)
    assert record_payment(session, "P2", "C1", amount=Decimal("250.00"), received_on=D(2026, 11, 2)) == [
        ("INV-B", Decimal("200.00")),
        ("INV-A", Decimal("50.00")),
    ]
    assert _allocations(session) == [("INV-B", Decimal("200.00")), ("INV-A", Decimal("50.00"))]
    with pytest.raises(LedgerError, match="250.01 is more than customer C1 owes \\(250.00 open\\)"):
        record_payment(session, "P3", "C1", amount=Decimal("250.01"), received_on=D(2026, 11, 3))
