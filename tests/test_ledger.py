"""The ledger on SQLite and PostgreSQL: exact money, aware times, keys, migrations."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError

from huikuan.ledger.migrate import is_current, upgrade
from models.base import Base
from models.enums import ActionState, CustomerStatus
from models.ledger import ActionTaken, Allocation, Customer, Invoice, Payment


def _customer(session, customer_id="C1") -> Customer:
    customer = Customer(customer_id=customer_id, name="上海华信机械有限公司")
    session.add(customer)
    session.flush()
    return customer


def test_migrations_create_exactly_the_models(ledger_engine):
    with ledger_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    assert diff == []
    assert is_current(ledger_engine)
    upgrade(ledger_engine)  # a second upgrade is a no-op
    assert is_current(ledger_engine)


def test_money_is_exact_decimal_in_sums(session):
    _customer(session)
    amounts = [Decimal("0.10"), Decimal("0.20"), Decimal("1234567890123.45"), Decimal("0.01")]
    for number, amount in enumerate(amounts):
        session.add(Invoice(invoice_id=f"I{number}", customer_id="C1", issued_on=dt.date(2026, 1, 1), due_on=dt.date(2026, 2, 1), amount=amount))
    session.flush()
    total = session.scalar(select(func.sum(Invoice.amount)))
    assert isinstance(total, Decimal)
    assert total == Decimal("1234567890123.76")
    assert session.scalar(select(Invoice.amount).where(Invoice.invoice_id == "I0")) == Decimal("0.10")
    assert session.scalar(select(func.count()).where(Invoice.amount > Decimal("0.15"))) == 2


def test_money_refuses_sub_cent_amounts(session):
    _customer(session)
    session.add(Invoice(invoice_id="I1", customer_id="C1", issued_on=dt.date(2026, 1, 1), due_on=dt.date(2026, 2, 1), amount=Decimal("1.005")))
    with pytest.raises(StatementError, match="more than 2 decimal places"):
        session.flush()


def test_datetimes_come_back_aware_and_naive_ones_are_refused(session):
    _customer(session)
    started = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    session.add(
        ActionTaken(
            key="C1:reminder:2026-11-22",
            customer_id="C1",
            action="reminder",
            due_on=dt.date(2026, 11, 22),
            channel="email",
            role="collector",
            started_at=started,
        )
    )
    session.flush()
    session.expire_all()
    action = session.scalar(select(ActionTaken))
    assert action.started_at == started
    assert action.started_at.utcoffset() is not None
    action.finished_at = dt.datetime(2026, 11, 22, 9, 31)
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_an_action_key_can_be_taken_only_once(session):
    _customer(session)
    fields = dict(customer_id="C1", action="reminder", due_on=dt.date(2026, 11, 22), channel="email", role="collector")
    session.add(ActionTaken(key="C1:reminder:2026-11-22", **fields))
    session.flush()
    session.add(ActionTaken(key="C1:reminder:2026-11-22", **fields, state=ActionState.done))
    with pytest.raises(IntegrityError):
        session.flush()


def test_status_is_a_closed_vocabulary(session):
    customer = _customer(session)
    customer.status = CustomerStatus.locked
    session.flush()
    session.expire_all()
    assert session.get(Customer, "C1").status is CustomerStatus.locked
    with pytest.raises(StatementError):
        session.get(Customer, "C1").status = "frozen"
        session.flush()


def test_allocations_reference_real_payments_and_invoices(session):
    _customer(session)
    session.add(Allocation(payment_id="nope", invoice_id="nope", amount=Decimal("1.00")))
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_payment_split_over_invoices(session):
    _customer(session)
    session.add_all(
        [
            Invoice(invoice_id="I1", customer_id="C1", issued_on=dt.date(2026, 1, 1), due_on=dt.date(2026, 2, 1), amount=Decimal("100.00")),
            Invoice(invoice_id="I2", customer_id="C1", issued_on=dt.date(2026, 2, 1), due_on=dt.date(2026, 3, 1), amount=Decimal("50.00")),
            Payment(payment_id="P1", customer_id="C1", received_on=dt.date(2026, 3, 5), amount=Decimal("120.00")),
        ]
    )
    session.flush()
    session.add_all(
        [Allocation(payment_id="P1", invoice_id="I1", amount=Decimal("100.00")), Allocation(payment_id="P1", invoice_id="I2", amount=Decimal("20.00"))]
    )
    session.flush()
    paid = dict(session.execute(select(Allocation.invoice_id, func.sum(Allocation.amount)).group_by(Allocation.invoice_id)).all())
    assert paid == {"I1": Decimal("100.00"), "I2": Decimal("20.00")}
