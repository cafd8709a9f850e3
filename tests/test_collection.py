"""Collecting batches of accounts without Prefect: each action once, one bad account never stops the others.

On SQLite and PostgreSQL. The figures are small enough to count by hand: C1 owes
I1 (due 08-10) and I2 (due 10-10), C2 owes I3 (due 10-01), C3 owes nothing.
"""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import exc, func, select
from sqlalchemy.orm import Session, sessionmaker

from huikuan.collection import execution
from huikuan.collection.batch import batches, collect, is_connection_lost, missed_days, record_day
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.facts import load_facts
from huikuan.outbox.mail import OutboxFolder, dispatch
from huikuan.reports.planning import plan
from models.calendar import calendar_for
from models.engine import next_action_day, simulate
from models.enums import ActionState
from models.ledger import ActionTaken, CollectionDay, OutboxMessage
from models.policy import load_policy
from tests.ledger_files import import_into

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

COMPANY = parse_company(EXAMPLE)
POLICY = load_policy("handbook")
DAY = dt.date(2026, 10, 12)  # I3 (due 10-01) is 11 days late: its first follow-up is due today
FILES = {
    "customers": "customer_id,name,email,phone,contact_name\nC1,杭州华信贸易有限公司,c1@example.cn,1,王伟\nC2,Acme Trading Ltd,c2@example.com,2,Jane\n"
    "C3,恒达物流有限公司,c3@example.cn,3,李娜\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-07-10,2026-08-10,10000.00\nI2,C1,2026-09-10,2026-10-10,5000.00\n"
    "I3,C2,2026-09-01,2026-10-01,800.00\n",
}


@pytest.fixture
def ledger(tmp_path, ledger_engine):
    return import_into(ledger_engine, tmp_path, FILES)


def planned(engine, day: dt.date) -> list[str]:
    with Session(engine) as session:
        return sorted(a.key for a in plan(session, day, POLICY))


def taken(engine) -> list[str]:
    with Session(engine) as session:
        return sorted(session.scalars(select(ActionTaken.key)))


def test_a_batch_takes_exactly_what_the_plan_says_once(ledger):
    expected = planned(ledger, DAY)
    assert expected, "the fixture must have something due on DAY"
    first = collect(ledger, ["C1", "C2", "C3"], DAY, POLICY, COMPANY)
    assert taken(ledger) == expected
    assert sorted(k for a in first.accounts for k in a.taken) == expected and first.taken == len(expected)
    c3 = next(a for a in first.accounts if a.customer_id == "C3")
    assert c3.due == [] and c3.taken == [] and c3.next_action_on is None  # owes nothing: nothing now or later
    again = collect(ledger, ["C1", "C2", "C3"], DAY, POLICY, COMPANY)
    assert again.taken == 0 and taken(ledger) == expected
    assert [a.due for a in again.accounts] == [a.due for a in first.accounts]  # what was due is still shown


def test_the_next_action_date_is_simulates_first_day(ledger):
    result = collect(ledger, ["C1", "C2"], DAY, POLICY, COMPANY)
    with Session(ledger) as session:
        for facts, country in load_facts(session, only=["C1", "C2"]):
            later = simulate(facts, DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=120), POLICY, calendar_for(country))
            account = next(a for a in result.accounts if a.customer_id == facts.customer_id)
            assert later and account.next_action_on == later[0].on
            assert next_action_day(facts, DAY, 120, POLICY, calendar_for(country)) == later[0].on


def test_one_accounts_bad_data_is_reported_and_the_others_are_collected(ledger, monkeypatch):
    real = execution.take_action

    def breaks_for_c2(session, action, **kwargs):
        if action.customer_id == "C2":
            raise ValueError("template missing for Acme")
        return real(session, action, **kwargs)

    monkeypatch.setattr(execution, "take_action", breaks_for_c2)
    result = collect(ledger, ["C1", "C2"], DAY, POLICY, COMPANY)
    assert [a.customer_id for a in result.failed] == ["C2"] and "template missing for Acme" in result.failed[0].error
    assert taken(ledger) == [k for k in planned(ledger, DAY) if k.startswith("C1:")]  # C2's transaction left nothing behind
    with Session(ledger) as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.customer_id == "C2")) == 0


def test_a_lost_database_is_raised_for_the_task_to_retry(ledger, monkeypatch):
    def gone(session, action, **kwargs):
        raise exc.OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(execution, "take_action", gone)
    with pytest.raises(exc.OperationalError):
        collect(ledger, ["C1", "C2"], DAY, POLICY, COMPANY)
    assert taken(ledger) == []
    assert is_connection_lost(ConnectionRefusedError()) and not is_connection_lost(ValueError("bad row"))


def test_a_key_taken_by_a_concurrent_run_is_retried_and_found_taken(ledger, monkeypatch):
    """The other run commits the same key between our check and our insert: our insert fails, the second try skips it."""
    real = execution.take_action
    raced = {"done": False}

    def racing(session, action, **kwargs):
        if not raced["done"]:
            raced["done"] = True
            with Session(ledger) as other, other.begin():  # the concurrent run, in its own transaction
                real(other, action, **kwargs)
            session.add(
                ActionTaken(
                    key=action.key,
                    customer_id=action.customer_id,
                    action=action.action,
                    due_on=action.on,
                    channel="x",
                    role="x",
                    invoices="",
                    state=ActionState.done,
                    detail="",
                    finished_at=execution.now(),
                )
            )
            session.flush()  # what our own insert would meet: the unique key
        return real(session, action, **kwargs)

    monkeypatch.setattr(execution, "take_action", racing)
    result = collect(ledger, ["C2"], DAY, POLICY, COMPANY)
    assert result.failed == []
    assert taken(ledger) == [k for k in planned(ledger, DAY) if k.startswith("C2:")]


@pytest.mark.parametrize("size,expected", [(2, [["C1", "C2"], ["C3"]]), (3, [["C1", "C2", "C3"]]), (10, [["C1", "C2", "C3"]])])
def test_batches_keep_the_order_and_cover_everyone(size, expected):
    assert batches(["C1", "C2", "C3"], size) == expected
    assert batches([], size) == []


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        batches(["C1"], 0)


def test_missed_days_since_the_last_finished_day(ledger):
    with Session(ledger) as session, session.begin():
        assert missed_days(session, DAY) == []  # a new ledger misses nothing
        record_day(session, dt.date(2026, 10, 8), "handbook", accounts=2, problems=0)
    with Session(ledger) as session, session.begin():
        assert missed_days(session, DAY) == [dt.date(2026, 10, 9), dt.date(2026, 10, 10), dt.date(2026, 10, 11)]
        assert missed_days(session, dt.date(2026, 10, 9)) == []
        assert missed_days(session, dt.date(2026, 11, 30), limit=3) == [dt.date(2026, 11, 27), dt.date(2026, 11, 28), dt.date(2026, 11, 29)]


def test_the_days_record_counts_the_days_actions_in_the_ledger(ledger):
    """However many attempts or runs took them: a rerun notes the same figure."""
    collect(ledger, ["C1", "C2"], DAY, POLICY, COMPANY)
    for problems in (1, 0):  # the second run of the day notes it again
        with Session(ledger) as session, session.begin():
            record_day(session, DAY, "handbook", accounts=2, problems=problems)
    with Session(ledger) as session:
        row = session.get(CollectionDay, DAY)
        assert (row.accounts, row.taken, row.problems) == (2, len(planned(ledger, DAY)), 0) and row.finished_at.tzinfo is not None


def test_two_dispatchers_at_once_send_each_message_once(ledger, tmp_path):
    """Two runs of the same day deliver the outbox at the same moment: every message goes out once."""
    collect(ledger, ["C1", "C2"], DAY, POLICY, COMPANY)
    with Session(ledger) as session:
        queued = session.scalar(select(func.count()).select_from(OutboxMessage))
    assert queued >= 2
    sent: list[str] = []
    lock = threading.Lock()

    class Recording(OutboxFolder):
        def send(self, message):
            with lock:
                sent.append(message["Message-ID"])
            super().send(message)

    transport = Recording(tmp_path / "outbox")
    start = threading.Barrier(2)
    results = []

    def dispatcher():
        start.wait()
        results.append(dispatch(sessionmaker(ledger), COMPANY, transport))

    threads = [threading.Thread(target=dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(sent) == sorted(set(sent)) and len(sent) == queued
    assert sum(r.sent for r in results) == queued and all(r.failed == 0 for r in results)


@pytest.fixture
def closed_on_the_12th(monkeypatch):
    """The company is closed on Monday 2026-10-12 (HUIKUAN_CLOSED_DAYS)."""
    from huikuan.ledger.settings import get_settings

    monkeypatch.setenv("HUIKUAN_CLOSED_DAYS", '["2026-10-12"]')
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_closing_day_moves_the_days_actions_alike_in_the_plan_and_the_run(ledger, closed_on_the_12th):
    # I1 (due 08-10) reaches "more than 2 months" on 10-11, a Sunday, and I3's first follow-up
    # falls on 10-12: with the 12th closed, both roll to the 13th, in the plan and in the run alike.
    assert planned(ledger, dt.date(2026, 10, 12)) == []
    expected = planned(ledger, dt.date(2026, 10, 13))
    assert {"C1:notify_gm:2026-10-13", "C2:follow_up:2026-10-13"} <= set(expected)
    collect(ledger, ["C1", "C2", "C3"], dt.date(2026, 10, 12), POLICY, COMPANY)
    assert taken(ledger) == []
    collect(ledger, ["C1", "C2", "C3"], dt.date(2026, 10, 13), POLICY, COMPANY)
    assert taken(ledger) == expected


def test_the_company_files_closing_days_count_as_the_environments(ledger):
    company = parse_company(EXAMPLE + "calendar:\n  closed_days: [2026-10-12]\n")
    collect(ledger, ["C1", "C2", "C3"], dt.date(2026, 10, 12), POLICY, company)
    assert taken(ledger) == []
    collect(ledger, ["C1", "C2", "C3"], dt.date(2026, 10, 13), POLICY, company)
    assert {"C1:notify_gm:2026-10-13", "C2:follow_up:2026-10-13"} <= set(taken(ledger))
