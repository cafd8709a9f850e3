"""The credit-limit test counts the customer's unapplied credit (net exposure); a lock stays until its invoices are paid.

The ledger is tests/web_ledger.py's: W1 owes 15,000.00 on invoices and 2,000.00 of deliveries not yet
invoiced (limit 20,000.00), W3 is locked because of I4 (3,000.00). ``huikuan shipping check`` and the
ERP's API give the same answer (both ask huikuan.ledger.account_state).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.web.app import create_app
from models.ledger import Customer, UnappliedCredit
from tests.web_ledger import COMPANY, KEY, TODAY

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")


@pytest.fixture
def client(web_ledger):
    return TestClient(create_app(engine=web_ledger, company=COMPANY, today=lambda: TODAY))


@pytest.fixture
def check(web_ledger, monkeypatch):
    """``huikuan shipping check CUSTOMER`` on the same ledger: (exit status, output)."""
    from huikuan.ledger.db import engine_for
    from huikuan.ledger.settings import get_settings

    monkeypatch.setenv("HUIKUAN_DATABASE_URL", web_ledger.url.render_as_string(hide_password=False))
    get_settings.cache_clear()
    engine_for.cache_clear()
    runner = CliRunner()

    def run(customer_id: str, *options: str) -> tuple[int, str]:
        result = runner.invoke(app, ["shipping", "check", customer_id, *options])
        return result.exit_code, " ".join(result.stdout.split())  # the console may wrap a long line

    yield run
    engine_for.cache_clear()
    get_settings.cache_clear()


def give_credit(engine, customer_id: str, amount: str, key: str) -> None:
    with Session(engine) as session, session.begin():
        session.add(UnappliedCredit(key=key, customer_id=customer_id, amount=Decimal(amount), recorded_on=TODAY, recorded_by="fin"))


def set_limit(engine, customer_id: str, limit: str) -> None:
    with Session(engine) as session, session.begin():
        session.get(Customer, customer_id).credit_limit = Decimal(limit)


def shipping(client, customer_id: str, amount: str = "0") -> dict:
    answer = client.get(f"/api/v1/customers/{customer_id}/shipping?amount={amount}", headers={"X-API-Key": KEY})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_unapplied_credit_reduces_the_exposure_of_an_order(client, web_ledger):
    assert shipping(client, "W1", "3000.01")["may_ship"] is False  # 17,000.00 + 3,000.01 > 20,000.00
    give_credit(web_ledger, "W1", "500.00", "test:W1:1")
    body = shipping(client, "W1", "3000.01")
    assert (body["may_ship"], body["against_payment"], body["reasons"]) == (True, False, [])
    assert (body["owed"], body["unapplied_credit"], body["exposure"]) == ("17000.00", "500.00", "19500.01")
    over = shipping(client, "W1", "3500.01")
    assert (over["may_ship"], over["against_payment"], over["exposure"]) == (False, True, "20000.01")
    assert "after CNY 500.00 unapplied credit" in over["reasons"][0]["text"]


def test_shipping_check_and_the_api_agree_on_the_credit_limit_with_the_credit(client, web_ledger, check):
    set_limit(web_ledger, "W1", "16000.00")  # W1 owes 17,000.00: over its limit before any order
    status, said = check("W1")
    body = shipping(client, "W1")
    assert (status, body["may_ship"], body["against_payment"]) == (3, False, True)
    assert said == body["why"] and "over its credit limit of CNY 16,000.00" in said
    give_credit(web_ledger, "W1", "1000.00", "test:W1:2")  # 17,000.00 - 1,000.00 <= 16,000.00
    status, said = check("W1")
    body = shipping(client, "W1")
    assert (status, body["may_ship"], body["exposure"]) == (0, True, "16000.00")
    assert said == body["why"]


def test_a_lock_stays_while_its_invoices_are_unpaid_whatever_credit_is_held(client, web_ledger, check):
    set_limit(web_ledger, "W3", "10000.00")
    give_credit(web_ledger, "W3", "3000.00", "test:W3:1")  # as much as I4, the lock's cause, but not applied to it
    body = shipping(client, "W3")
    assert (body["may_ship"], body["against_payment"], body["exposure"]) == (False, False, "0.00")
    assert [r["code"] for r in body["reasons"]] == ["locked"]
    status, said = check("W3")
    assert status == 1 and "locked since 2026-11-05" in said


def test_shipping_check_asks_about_an_order_as_the_api_does(client, web_ledger, check):
    give_credit(web_ledger, "W1", "500.00", "test:W1:3")
    for amount, status in (("3500.00", 0), ("3500.01", 3)):  # 17,000.00 - 500.00 + the order against 20,000.00
        said = check("W1", "--amount", amount)
        body = shipping(client, "W1", amount)
        assert (said[0], body["may_ship"]) == (status, status == 0) and said[1] == body["why"], (amount, said)
    assert check("W1", "--amount", "1,000")[0] == 2  # a bad amount is a usage error (exit 2), never "locked" (1)


def test_the_answer_writes_money_as_people_read_it_and_speaks_of_an_order_only_when_there_is_one(client, web_ledger, check):
    """The warehouse reads the answer: amounts in the one money format with their currency, and no "order" it did not give."""
    set_limit(web_ledger, "W1", "16000.00")
    status, said = check("W1")
    assert status == 3 and "W1 owes CNY 17,000.00, over its credit limit of CNY 16,000.00" in said
    assert "order" not in said
    give_credit(web_ledger, "W1", "500.00", "test:W1:3")
    with_order = shipping(client, "W1", "3000.00")["reasons"][0]["text"]
    assert (
        with_order == "W1 would owe CNY 19,500.00 (after CNY 500.00 unapplied credit) with this order of CNY 3,000.00, over its credit limit of CNY 16,000.00"
    )
