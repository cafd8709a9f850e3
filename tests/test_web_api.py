"""The ERP's HTTP API (``huikuan.web.api``) over a real SQLite ledger, through FastAPI's TestClient.

The ledger is tests/web_ledger.py's (the ``web_ledger`` fixture), counted by hand there (as of 2026-11-10):
W1 owes 17,000.00 with its October deliveries, W2 is cash only, W3 is locked, W4 owes nothing,
W5 (English) is the statement page's customer in tests/test_web_statement.py.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from huikuan.ledger import account_state
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.web.app import create_app
from huikuan.web.tokens import api_key_hash, matching_key
from models.ledger import Customer
from tests.web_ledger import COMPANY, KEY, TODAY

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")


@pytest.fixture
def client(web_ledger):
    return TestClient(create_app(engine=web_ledger, company=COMPANY, today=lambda: TODAY))


def ask(client, path: str, **headers):
    return client.get(path, headers={"X-API-Key": KEY} | headers)


def test_without_a_key_or_with_a_wrong_one_the_api_says_401_and_nothing_else(client):
    for headers in ({}, {"X-API-Key": "hk_wrong"}, {"Authorization": "Bearer hk_wrong"}, {"X-API-Key": ""}):
        for path in ("/api/v1/customers/W1", "/api/v1/customers/W1/shipping?amount=1", "/api/v1/customers/NOPE"):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 401, (path, headers)
            assert answer.json() == {"detail": "a valid API key is needed (X-API-Key header)"}  # the same for a customer that does not exist


def test_the_key_is_accepted_as_a_header_or_a_bearer_token(client):
    assert client.get("/api/v1/customers/W4", headers={"X-API-Key": KEY}).status_code == 200
    assert client.get("/api/v1/customers/W4", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_an_unknown_customer_is_404_with_no_detail(client):
    for path in ("/api/v1/customers/NOPE", "/api/v1/customers/NOPE/shipping?amount=10", "/api/v1/customers/w1"):
        answer = ask(client, path)
        assert answer.status_code == 404 and answer.json() == {"detail": "no such customer"}


def test_the_account_gives_balance_aging_standing_and_lock_with_amounts_as_strings(client):
    answer = ask(client, "/api/v1/customers/W1")
    assert answer.status_code == 200
    body = answer.json()
    assert body["balance"] == "15000.00" and body["overdue"] == "10000.00" and body["unbilled"] == "2000.00"
    assert body["aging"] == {"not due": "5000.00", "1-30": "0.00", "31-60": "10000.00", "61-90": "0.00", "91-180": "0.00", "over 180": "0.00"}
    assert (body["standing"], body["locked"], body["credit_limit"], body["as_of"]) == ("active", False, "20000.00", "2026-11-10")
    locked = ask(client, "/api/v1/customers/W3").json()
    assert (locked["locked"], locked["locked_on"], locked["lock_invoices"], locked["credit_limit"]) == (True, "2026-11-05", ["I4"], None)
    assert locked["aging"]["61-90"] == "3000.00"
    assert ask(client, "/api/v1/customers/W2").json()["standing"] == "cash_only"


def test_within_the_limit_goods_may_leave(client):
    body = ask(client, "/api/v1/customers/W1/shipping?amount=3000.00").json()
    assert (body["may_ship"], body["against_payment"], body["reasons"]) == (True, False, [])
    assert (body["owed"], body["exposure"], body["credit_limit"], body["amount"]) == ("17000.00", "20000.00", "20000.00", "3000.00")


def test_over_the_limit_goods_leave_only_against_payment_with_the_exposure(client):
    body = ask(client, "/api/v1/customers/W1/shipping?amount=3000.01").json()
    assert (body["may_ship"], body["against_payment"]) == (False, True)
    assert body["exposure"] == "20000.01" and [r["code"] for r in body["reasons"]] == ["over_credit_limit"]
    assert "over its credit limit of CNY 20,000.00" in body["reasons"][0]["text"]


def test_a_locked_customer_may_not_ship_at_all(client):
    body = ask(client, "/api/v1/customers/W3/shipping?amount=1").json()
    assert (body["may_ship"], body["against_payment"]) == (False, False)
    assert [r["code"] for r in body["reasons"]] == ["locked"] and "locked since 2026-11-05" in body["why"]


def test_a_cash_only_customer_ships_only_against_payment_even_within_its_limit(client):
    body = ask(client, "/api/v1/customers/W2/shipping?amount=100").json()
    assert (body["may_ship"], body["against_payment"]) == (False, True)
    assert [r["code"] for r in body["reasons"]] == ["cash_only"] and "款到发货" in body["why"]


def test_the_answer_is_the_same_as_shipping_check(client, web_ledger):
    with Session(web_ledger) as session:
        for customer_id in ("W1", "W2", "W3", "W4"):
            rule = account_state.shipping_answer(session.get(Customer, customer_id))
            body = ask(client, f"/api/v1/customers/{customer_id}/shipping").json()
            assert (body["may_ship"], body["against_payment"], body["why"]) == (rule.may_ship, rule.against_payment, rule.why)


@pytest.mark.parametrize("amount", ["-1", "abc", "1.234", "NaN", "Infinity"])
def test_a_bad_amount_is_422(client, amount):
    answer = ask(client, f"/api/v1/customers/W1/shipping?amount={amount}")
    assert answer.status_code == 422 and "Traceback" not in answer.text


def test_the_openapi_docs_are_served(client):
    assert client.get("/api/docs").status_code == 200
    schema = client.get("/api/openapi.json").json()
    assert {"/api/v1/customers/{customer_id}", "/api/v1/customers/{customer_id}/shipping"} <= set(schema["paths"])
    assert not any(path.startswith("/s/") for path in schema["paths"])  # the customers' pages are not the ERP's API


def test_keys_are_compared_by_their_hash_only():
    stored = [("erp", api_key_hash("a")), ("wms", api_key_hash("b"))]
    assert matching_key("b", stored) == "wms" and matching_key("c", stored) is None and matching_key(None, stored) is None
    assert matching_key("a", []) is None


def test_without_a_web_section_every_key_is_refused(web_ledger):
    client = TestClient(create_app(engine=web_ledger, company=parse_company(EXAMPLE), today=lambda: TODAY))
    assert client.get("/api/v1/customers/W1", headers={"X-API-Key": KEY}).status_code == 401


def test_an_unexpected_error_shows_no_traceback(web_ledger, monkeypatch):
    from huikuan.web import api

    monkeypatch.setattr(api, "open_amounts", lambda *a, **k: 1 / 0)
    client = TestClient(create_app(engine=web_ledger, company=COMPANY, today=lambda: TODAY), raise_server_exceptions=False)
    answer = ask(client, "/api/v1/customers/W1")
    assert answer.status_code == 500 and answer.json() == {"detail": "internal error; it was logged"}
    assert "ZeroDivision" not in answer.text


def test_huikuan_web_key_prints_a_key_and_the_line_that_matches_it():
    import re

    from typer.testing import CliRunner

    from huikuan.cli import app

    result = CliRunner().invoke(app, ["web", "key", "erp"])
    assert result.exit_code == 0, result.output
    key = re.search(r"^\s+(hk_\S+)$", result.output, re.M).group(1)
    line = re.search(r'key_hash: "(sha256:[0-9a-f]{64})"', result.output).group(1)
    assert line == api_key_hash(key)
    company = parse_company(EXAMPLE + f'web:\n  api_keys:\n    - {{name: erp, key_hash: "{line}"}}\n')
    assert matching_key(key, [(k.name, k.key_hash) for k in company.web.api_keys]) == "erp"


def test_the_account_gives_the_unapplied_credit_of_an_over_payment_and_the_net(client, web_ledger, tmp_path):
    from huikuan.bank.cash import import_statement, match_line
    from tests.test_bank_cash import gbk_csv

    line = [("20261105", "300.00", "", "无欠款有限公司", "6222000044", "货款", "TX1")]  # W4 owes nothing
    with Session(web_ledger) as session, session.begin():
        assert import_statement(session, gbk_csv(tmp_path / "stmt.csv", line), on=TODAY).waiting == 1
        match_line(session, "TX1", "W4", on=TODAY, by="fin")
    body = ask(client, "/api/v1/customers/W4").json()
    assert (body["balance"], body["unapplied_credit"], body["net"]) == ("0.00", "300.00", "-300.00")
    body = ask(client, "/api/v1/customers/W1").json()
    assert (body["balance"], body["unapplied_credit"], body["net"]) == ("15000.00", "0.00", "15000.00")
