"""The demo goes through the real importer and the recording functions, on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from huikuan.demo.load import load_demo
from huikuan.reports.portfolio import customer_file, open_items, portfolio
from models.ledger import Allocation, ContactLog, Customer, Dispute, Invoice, Payment, Promise
from models.money import ZERO

AS_OF = dt.date(2026, 11, 22)


def test_the_demo_loads_and_the_portfolio_adds_up(tmp_path, session):
    loaded = load_demo(session, tmp_path / "demo", customers=120, as_of=AS_OF)
    session.commit()
    counts = loaded.files.counts
    assert loaded.summary.created["customers"] == counts["customers"] == 120
    assert loaded.summary.created["invoices"] == counts["invoices"] == session.scalar(select(func.count()).select_from(Invoice))
    assert loaded.summary.created["payments"] == counts["payments"]
    assert loaded.events == counts["events"]
    assert session.scalar(select(func.count()).select_from(Promise)) > 0
    assert session.scalar(select(func.count()).select_from(Dispute)) > 0
    assert session.scalar(select(func.count()).select_from(ContactLog)) > 0
    # Open amounts: invoices less every allocation, since every demo payment is dated by AS_OF.
    invoiced = session.scalar(select(func.sum(Invoice.amount)))
    paid = session.scalar(select(func.sum(Allocation.amount)))
    assert paid == session.scalar(select(func.sum(Payment.amount)))
    view = portfolio(session, AS_OF)
    assert sum((view.total(c) for c in view.by_bucket), ZERO) == invoiced - paid
    assert view.customers == 120
    assert view.oldest and view.oldest[0].days_overdue == max(i.days_overdue for i in open_items(session, AS_OF))
    # One customer's file agrees with the portfolio.
    first = view.oldest[0].customer_id
    file = customer_file(session, first, AS_OF)
    assert file.balance == sum((i.open_amount for i in open_items(session, AS_OF) if i.customer_id == first), ZERO)
    assert isinstance(file.balance, Decimal)


def test_the_portfolio_on_an_earlier_day_ignores_later_payments(tmp_path, session):
    load_demo(session, tmp_path / "demo", customers=60, as_of=AS_OF)
    earlier = dt.date(2026, 9, 30)
    invoiced = session.scalar(select(func.sum(Invoice.amount)).where(Invoice.issued_on <= earlier))
    paid = session.scalar(
        select(func.sum(Allocation.amount))
        .join(Payment)
        .join(Invoice, Invoice.invoice_id == Allocation.invoice_id)
        .where(Payment.received_on <= earlier, Invoice.issued_on <= earlier)
    )
    view = portfolio(session, earlier)
    assert sum((view.total(c) for c in view.by_bucket), ZERO) == invoiced - paid
    assert session.scalar(select(func.count()).select_from(Customer)) == 60
