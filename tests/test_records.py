"""Recording promises, disputes and contacts, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from huikuan.ledger.records import LedgerError, log_contact, open_amounts, open_dispute, record_instalment_plan, record_promise, resolve_dispute
from models.enums import Channel, ContactResult, Excuse
from models.ledger import Allocation, ContactLog, Customer, Invoice, Payment

D = dt.date


@pytest.fixture
def ledger(session):
    session.add_all([Customer(customer_id="C1", name="华信"), Customer(customer_id="C2", name="恒达")])
    session.flush()
    session.add_all(
        [
            Invoice(invoice_id="I1", customer_id="C1", issued_on=D(2026, 8, 31), due_on=D(2026, 9, 30), amount=Decimal("1000.00")),
            Invoice(invoice_id="I2", customer_id="C1", issued_on=D(2026, 9, 30), due_on=D(2026, 10, 30), amount=Decimal("500.00")),
            Invoice(invoice_id="I9", customer_id="C2", issued_on=D(2026, 9, 30), due_on=D(2026, 10, 30), amount=Decimal("10.00")),
            Payment(payment_id="P1", customer_id="C1", received_on=D(2026, 10, 15), amount=Decimal("400.00")),
        ]
    )
    session.flush()
    session.add(Allocation(payment_id="P1", invoice_id="I1", amount=Decimal("400.00")))
    session.flush()
    return session


def test_open_amounts_count_only_payments_received_by_the_day(ledger):
    assert open_amounts(ledger, "C1", D(2026, 10, 14)) == {"I1": Decimal("1000.00"), "I2": Decimal("500.00")}
    assert open_amounts(ledger, "C1", D(2026, 10, 15)) == {"I1": Decimal("600.00"), "I2": Decimal("500.00")}
    assert open_amounts(ledger, "C1", D(2026, 9, 1)) == {"I1": Decimal("1000.00")}


def test_a_promise_covers_all_open_invoices_by_default(ledger):
    promise = record_promise(ledger, "C1", amount=Decimal("1100.00"), by=D(2026, 11, 20), on=D(2026, 11, 2))
    assert sorted(p.invoice_id for p in promise.invoices) == ["I1", "I2"]
    assert (promise.amount, promise.made_on, promise.due_on) == (Decimal("1100.00"), D(2026, 11, 2), D(2026, 11, 20))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(amount=Decimal("1100.01")), "the promise of 1100.01 is more than the 1100.00 open on I1, I2"),
        (dict(amount=Decimal("0")), "a promise needs an amount above 0"),
        (dict(by=D(2026, 11, 1)), "the promised date 2026-11-01 is before the day the promise was made"),
        (dict(invoices=["I9"]), "invoice I9 belongs to customer C2, not C1"),
        (dict(invoices=["I404"]), "unknown invoice I404"),
        (dict(customer_id="C404"), "unknown customer C404"),
        (dict(on=D(2026, 8, 1), by=D(2026, 8, 20)), "customer C1 has no open invoice on 2026-08-01"),
    ],
)
def test_promises_that_make_no_sense_are_refused(ledger, kwargs, message):
    args = dict(customer_id="C1", amount=Decimal("100.00"), by=D(2026, 11, 20), on=D(2026, 11, 2)) | kwargs
    with pytest.raises(LedgerError, match=message):
        record_promise(ledger, args.pop("customer_id"), **args)


def test_a_dispute_opens_once_and_resolves_once(ledger):
    open_dispute(ledger, "I1", reason="货物短少 2 箱", on=D(2026, 10, 2))
    with pytest.raises(LedgerError, match="already under dispute since 2026-10-02: 货物短少 2 箱"):
        open_dispute(ledger, "I1", reason="again", on=D(2026, 10, 3))
    with pytest.raises(LedgerError, match="before the dispute was opened"):
        resolve_dispute(ledger, "I1", on=D(2026, 10, 1))
    dispute = resolve_dispute(ledger, "I1", on=D(2026, 10, 9), resolution="补发 2 箱")
    assert (dispute.resolved_on, dispute.resolution) == (D(2026, 10, 9), "补发 2 箱")
    with pytest.raises(LedgerError, match="has no open dispute"):
        resolve_dispute(ledger, "I1", on=D(2026, 10, 10))
    open_dispute(ledger, "I1", reason="发票抬头错误", on=D(2026, 10, 20))


def test_a_contact_with_its_excuse(ledger):
    log_contact(ledger, "C1", channel=Channel.phone, result=ContactResult.unreachable, on=D(2026, 11, 3), note="财务说老板出差", excuse=Excuse.tui)
    entry = ledger.scalar(select(ContactLog))
    assert (entry.channel, entry.result, entry.excuse.label, entry.note) == (Channel.phone, ContactResult.unreachable, "推", "财务说老板出差")


def test_an_instalment_plan_over_the_open_invoices(ledger):
    plan = record_instalment_plan(ledger, "C1", instalments=[(D(2026, 12, 15), Decimal("600.00")), (D(2026, 11, 15), Decimal("500.00"))], on=D(2026, 11, 2))
    assert [(i.due_on, i.amount) for i in plan.instalments] == [(D(2026, 11, 15), Decimal("500.00")), (D(2026, 12, 15), Decimal("600.00"))]
    assert sorted(i.invoice_id for i in plan.invoices) == ["I1", "I2"]


@pytest.mark.parametrize(
    ("instalments", "message"),
    [
        ([], "needs at least one instalment"),
        ([(D(2026, 11, 2), Decimal("10.00"))], "must come after the day the plan is agreed"),
        ([(D(2026, 12, 1), Decimal("10.00")), (D(2026, 12, 1), Decimal("5.00"))], "two instalments fall on the same day"),
        ([(D(2026, 12, 1), Decimal("0"))], "every instalment needs an amount above 0"),
        ([(D(2026, 12, 1), Decimal("1100.01"))], "the instalments add up to 1100.01, more than the 1100.00 open on I1, I2"),
    ],
)
def test_instalment_plans_that_make_no_sense_are_refused(ledger, instalments, message):
    with pytest.raises(LedgerError, match=message):
        record_instalment_plan(ledger, "C1", instalments=instalments, on=D(2026, 11, 2))
