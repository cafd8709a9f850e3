"""A batch's round trips to the database (issue #18): what PostgreSQL pays for on every customer.

- ``collect`` takes one connection from the pool for the whole batch, not one for each customer's
  transaction: each checkout costs the pool's work and, with ``pool_pre_ping``, a round trip to check
  the connection; the customers are still each one transaction, committed before the next one starts;
- ``insert_once`` sends one statement for every row (its values as parameters), built once,
  instead of a statement with the row's values built, walked for its cache key and coerced for each email.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from huikuan.collection import execution
from huikuan.collection.batch import collect
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.importer import import_files
from models.ledger import ActionTaken, OutboxMessage
from models.policy import load_policy
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

COMPANY = parse_company(EXAMPLE)
POLICY = load_policy("handbook")
DAY = dt.date(2026, 10, 12)  # each customer's invoice (due 10-01) is 11 days late: one follow-up email each, due today


def _ledger(tmp_path, engine, n: int) -> list[str]:
    customers = "".join(f"C{i:02},客户{i},c{i}@example.cn,{i},联系人{i}\n" for i in range(n))
    invoices = "".join(f"I{i:02},C{i:02},2026-09-01,2026-10-01,{800 + i}.00\n" for i in range(n))
    files = {"customers": "customer_id,name,email,phone,contact_name\n" + customers, "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n" + invoices}
    with Session(engine) as session, session.begin():
        import_files(session, write_files(tmp_path, files))
    return [f"C{i:02}" for i in range(n)]


def test_a_batch_takes_one_connection_and_still_commits_each_customer_on_its_own(tmp_path, ledger_engine):
    ids = _ledger(tmp_path, ledger_engine, 12)
    checkouts, commits = [], []

    def checkout(*_args) -> None:
        checkouts.append(1)

    def commit(*_args) -> None:
        commits.append(1)

    event.listen(ledger_engine, "checkout", checkout)
    event.listen(ledger_engine, "commit", commit)
    try:
        result = collect(ledger_engine, ids, DAY, POLICY, COMPANY)
    finally:
        event.remove(ledger_engine, "checkout", checkout)
        event.remove(ledger_engine, "commit", commit)
    assert not result.failed and result.taken == 12
    assert len(checkouts) == 1, len(checkouts)  # one per customer before: a pool checkout (and a ping) a transaction
    assert len(commits) >= 12  # each customer's actions still committed on their own, one transaction each
    with Session(ledger_engine) as session:
        assert len(session.scalars(select(ActionTaken.key)).all()) == 12 and len(session.scalars(select(OutboxMessage.key)).all()) == 12


def test_queueing_builds_its_statement_once_whatever_the_row(tmp_path, ledger_engine, monkeypatch):
    """Every row goes through one statement built once, and a taken key is still left out, the transaction usable."""
    ids = _ledger(tmp_path, ledger_engine, 2)
    dialect = ledger_engine.dialect.name
    module = execution.sqlite if dialect == "sqlite" else execution.postgresql
    built = []
    real_insert = module.insert

    def insert(table):
        built.append(table)
        return real_insert(table)

    monkeypatch.setattr(module, "insert", insert)
    with Session(ledger_engine) as session, session.begin():
        rows = [
            {"key": f"k{n}", "customer_id": ids[n % 2], "to_address": "a@example.cn", "to_name": "A", "subject": "s", "text": "t", "html": None}
            for n in (0, 1, 0)
        ]
        rows = [{**row, "attachment_name": None, "attachment": None} for row in rows]
        inserted = [execution.insert_once(session, OutboxMessage.__table__, row) for row in rows]
        assert inserted == [True, True, False]  # the repeated key is left out by the database, the transaction goes on
        assert sorted(session.scalars(select(OutboxMessage.key))) == ["k0", "k1"]
    assert len(built) <= 1  # three rows, one statement at most built (none when built before); before, one a row
