"""Faults during the daily collection, under Prefect's test harness (issue #6, "Faults").

The database stops in the middle of a run; the SMTP server refuses, then
accepts; the same day is run twice at once. After each, the ledger is what a
run without the fault leaves: the same actions (each once), the same queued
messages, approvals and statements, nothing half-written; and the SMTP server
received every message exactly once.

The oracle is a reference: the same demo ledger, collected day by day without
Prefect and without faults (`huikuan.collection.batch.collect`, the work of each
batch), on a SQLite file of its own. The demo is generated from a seed, so the
reference and the ledger under test start equal, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import event, exc, select, text
from sqlalchemy.orm import Session

import tasks.ledger
from huikuan.collection import execution
from huikuan.collection.batch import collect, is_connection_lost
from huikuan.demo.load import load_demo
from huikuan.ledger.company import EXAMPLE, company_from
from huikuan.ledger.db import engine_for, make_engine, session_scope
from huikuan.ledger.migrate import upgrade
from huikuan.ledger.settings import Settings, get_settings
from huikuan.reports.planning import plan
from models.ledger import ActionTaken, Approval, CollectionDay, Customer, OutboxMessage, Statement
from models.policy import load_policy
from tests.conftest import start_postgres
from tests.pg_server import PostgresServer, find_bindir

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

DEMO_AS_OF = dt.date(2026, 10, 20)  # as in test_flows: October's deliveries are on the ledger
STATEMENT_DAY = dt.date(2026, 11, 5)  # 14 actions over 10 accounts: 7 of them prepare a statement and follow up, in one transaction each
BUSY_DAY = dt.date(2026, 11, 18)  # 11 actions over 8 accounts: follow-ups, escalations, a stop-shipment to approve
WAIT = 240.0  # seconds: a deadline for a run on a loaded 2-core machine, never a pause
DOWN_FOR = 2.0  # seconds at least that the database stays away while the retries meet it


def _clear_caches() -> None:
    for cache in (get_settings, engine_for, company_from):
        cache.cache_clear()


@dataclass
class Ledger:
    url: str
    capture: object  # tests.conftest.SmtpCapture
    company_file: Path
    tmp: Path

    def reference(self, days: list[dt.date]) -> dict:
        """What a run without faults leaves after ``days``: the same demo collected in order, without Prefect, on SQLite."""
        path = self.tmp / f"reference-{len(days)}-{days[-1]}.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        with session_scope(engine) as session:
            load_demo(session, self.tmp / "reference-demo", customers=10, as_of=DEMO_AS_OF)
        company, policy = company_from(str(self.company_file)), load_policy("handbook")
        for day in days:
            with Session(engine) as session:
                due = sorted({a.customer_id for a in plan(session, day, policy)})
            collect(engine, due, day, policy, company)
            with session_scope(engine) as session:
                execution.remind_or_expire(session, company, day)
        try:
            return state(engine)
        finally:
            engine.dispose()


def state(engine=None) -> dict:
    """The ledger's effects, by key: actions, queued messages, approvals, statements, account statuses."""
    with Session(engine or engine_for()) as session:
        return {
            "actions": sorted(session.scalars(select(ActionTaken.key))),
            "outbox": sorted(session.scalars(select(OutboxMessage.key))),
            "approvals": sorted(session.scalars(select(Approval.key))),
            "statements": sorted(tuple(row) for row in session.execute(select(Statement.customer_id, Statement.month, Statement.prepared_on))),
            "statuses": sorted(tuple(row) for row in session.execute(select(Customer.customer_id, Customer.status))),
        }


def planned(day: dt.date) -> list:
    with Session(engine_for()) as session:
        return plan(session, day, load_policy("handbook"))


def assert_sent_exactly_once(ledger: Ledger) -> None:
    """Every queued message was sent, the SMTP server got each once, and every message belongs to an action taken."""
    with Session(engine_for()) as session:
        rows = session.execute(select(OutboxMessage.key, OutboxMessage.sent_at)).all()
        owners = {*session.scalars(select(ActionTaken.key)), *session.scalars(select(Approval.key))}
    assert rows and all(sent_at is not None for _key, sent_at in rows), [key for key, sent_at in rows if sent_at is None]
    received = Counter(m["X-Huikuan-Key"] for m in ledger.capture.messages)
    queued = {key for key, _sent in rows}
    twice = sorted(key for key, n in received.items() if n > 1)
    assert (twice, sorted(queued - set(received)), sorted(set(received) - queued)) == ([], [], []), "received twice, never received, never queued"
    assert len({m["Message-ID"] for m in ledger.capture.messages}) == len(rows)
    orphans = [key for key, _sent in rows if not any(key.startswith(owner + ":") for owner in owners)]
    assert orphans == [], "a queued message without the action (or approval) that made it"


@pytest.fixture
def demo_ledger(tmp_path, monkeypatch, smtp_server, prefect) -> Iterator[Callable[[str], Ledger]]:
    """``demo_ledger(url)``: the 10-customer demo on the migrated ledger at ``url``, a company file sending through the test's SMTP server."""
    host, port, capture = smtp_server
    company = tmp_path / "company.yaml"
    company.write_text(EXAMPLE.replace("# smtp: {host: smtp.example.cn", f"smtp: {{host: {host}, port: {port}}}\n# smtp: {{host: x"), encoding="utf-8")
    monkeypatch.setenv("HUIKUAN_COMPANY_FILE", str(company))
    monkeypatch.setenv("HUIKUAN_DATA_DIR", str(tmp_path / "data"))
    engines = []

    def use(url: str) -> Ledger:
        monkeypatch.setenv("HUIKUAN_DATABASE_URL", url)
        _clear_caches()
        engines.append(engine_for())
        with session_scope() as session:
            load_demo(session, tmp_path / "demo", customers=10, as_of=DEMO_AS_OF)
        return Ledger(url, capture, company, tmp_path)

    yield use
    for engine in engines:
        engine.dispose()
    _clear_caches()


def sqlite_url(tmp_path: Path) -> str:
    engine = make_engine(f"sqlite:///{tmp_path / 'huikuan.db'}")
    upgrade(engine)
    engine.dispose()
    return f"sqlite:///{tmp_path / 'huikuan.db'}"


# -- the database stops for a while ----------------------------------------------------------------


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this module's own, to stop and start again (not the session's shared one), with a migrated template."""
    bindir = find_bindir()
    if bindir is None:
        reason = "PostgreSQL is not installed (no initdb/pg_ctl)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must install Debian's postgresql package")
        pytest.skip(reason)
    server = start_postgres(bindir, pool_pre_ping=True)  # its admin connection does not survive a stop
    yield server
    server.admin.dispose()
    with contextlib.suppress(subprocess.CalledProcessError):  # already stopped: its files are removed all the same
        server.stop()


class Outage:
    """Stops the PostgreSQL server in the middle of one account's transaction and starts it again; counts the batch's failed attempts."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.down = False
        self.stopped_at: float | None = None
        self.downtime: float | None = None
        self.failed_attempts: list[str] = []  # each attempt of the cut batch that failed on the lost database
        self.taken_before: list[str] = []  # what was committed when the server stopped

    def stop(self) -> None:
        with Session(engine_for()) as session:
            self.taken_before = sorted(session.scalars(select(ActionTaken.key)))
        self.server.pause()
        self.down, self.stopped_at = True, time.monotonic()

    def start(self) -> None:
        self.server.resume()
        self.down, self.downtime = False, time.monotonic() - self.stopped_at


BLIP, RETRIES_RIDE_IT_OUT, RERUN = "back-at-once", "back-before-the-retries-run-out", "back-after-the-run-failed"


@pytest.mark.postgres
@pytest.mark.parametrize("back", [BLIP, RETRIES_RIDE_IT_OUT, RERUN])
def test_the_database_stops_in_the_middle_of_an_account_and_comes_back(own_postgres, demo_ledger, monkeypatch, back):
    """PostgreSQL is shut down (``pg_ctl stop -m fast``) while an account's transaction has taken the first of its two actions.

    The lost database fails the batch at once, whatever else it holds, and the
    task is retried. Back at once: the first retry does the batch. Back before
    the retries run out: a retry against the stopped server fails too, the
    next one finds it back. Back only after the run failed: an operator reruns
    the day. Each time the cut transaction left nothing, the accounts committed
    before the stop are not taken again, the day ends as a run without the
    outage ends it, and every email is sent once.
    """
    from flows.daily_collection import daily_collection

    server = own_postgres
    name = f"faults_{os.getpid()}_{back.replace('-', '_')}"
    with server.admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE ledger_template"))
    ledger = demo_ledger(server.url_for(name))
    day, batch_size = STATEMENT_DAY, 3
    expected = ledger.reference([day])
    due = planned(day)
    customers = sorted({a.customer_id for a in due})
    second_batch = customers[batch_size : 2 * batch_size]
    # Cut the second batch in an account with two actions to take, after the batch's first account committed.
    target = next(c for c in second_batch[1:] if sum(a.customer_id == c for a in due) >= 2)
    outage = Outage(server)
    real_take, real_collect = execution.take_action, tasks.ledger.collect
    calls = Counter()

    def take_action(session, action, **kwargs):
        calls[action.customer_id] += 1
        if action.customer_id != target or calls[target] != 2:
            return real_take(session, action, **kwargs)
        outage.stop()  # the account's transaction has flushed its first action: the server cuts it
        try:
            return real_take(session, action, **kwargs)
        finally:
            if back == BLIP:
                outage.start()  # back before the batch goes on to its next account

    def collect_batch_attempt(engine, customer_ids, *args, **kwargs):
        try:
            return real_collect(engine, customer_ids, *args, **kwargs)
        except Exception as error:
            if outage.stopped_at is not None and is_connection_lost(error):
                outage.failed_attempts.append(f"{type(error).__name__}: {error}".splitlines()[0])
                if back == RETRIES_RIDE_IT_OUT and len(outage.failed_attempts) == 2:
                    time.sleep(max(0.0, outage.stopped_at + DOWN_FOR - time.monotonic()))
                    outage.start()  # back while the task waits to retry: the third attempt finds it
            raise

    monkeypatch.setattr(execution, "take_action", take_action)
    monkeypatch.setattr(tasks.ledger, "collect", collect_batch_attempt)
    try:
        if back == RERUN:
            with pytest.raises(exc.OperationalError):
                daily_collection(as_of=day, batch_size=batch_size)
            assert len(outage.failed_attempts) == tasks.ledger.RETRIES + 1  # every attempt met the stopped server
            outage.start()
            assert state()["actions"] == outage.taken_before  # the cut transaction left nothing, the committed accounts stay
            with Session(engine_for()) as session:
                assert session.get(CollectionDay, day) is None  # not done: a scheduled run would catch it up
            monkeypatch.setattr(execution, "take_action", real_take)
            result = daily_collection(as_of=day, batch_size=batch_size)  # the operator's rerun
            assert result["taken"] == len(due) - len(outage.taken_before)
        else:
            result = daily_collection(as_of=day, batch_size=batch_size)
            assert len(outage.failed_attempts) == (1 if back == BLIP else 2)
            assert outage.downtime >= (0 if back == BLIP else DOWN_FOR)
            # What the cut attempt committed before the stop, the retry finds taken: today the run does not count it as its own.
            cut_attempt = [k for k in outage.taken_before if k.split(":")[0] in second_batch]
            assert len(due) - len(cut_attempt) <= result["taken"] <= len(due)
    finally:
        if outage.down:
            outage.start()
    assert not any(k.startswith(f"{target}:") for k in outage.taken_before)  # the stop came inside the target's transaction
    assert all(any(k.startswith(f"{c}:") for k in outage.taken_before) for c in [*customers[:batch_size], second_batch[0]])
    end = state()
    assert end == expected
    assert sorted(a.key for a in due) == end["actions"]
    assert_sent_exactly_once(ledger)
    with Session(engine_for()) as session:
        assert session.get(CollectionDay, day) is not None


# -- the SMTP server refuses, then accepts ----------------------------------------------------------------


def test_refused_emails_go_out_on_the_task_s_retry(demo_ledger, tmp_path):
    """The server refuses three messages (451, try again later); the dispatch's retry in the same run delivers them, once."""
    from flows.daily_collection import daily_collection

    ledger = demo_ledger(sqlite_url(tmp_path))
    expected = ledger.reference([BUSY_DAY])
    ledger.capture.refuse = 3
    daily_collection(as_of=BUSY_DAY, batch_size=3)
    assert ledger.capture.refuse == 0
    assert state() == expected
    assert_sent_exactly_once(ledger)
    with Session(engine_for()) as session:
        attempts = Counter(session.scalars(select(OutboxMessage.attempts)))
    assert attempts[2] == 3 and set(attempts) == {1, 2}  # the refused three were tried twice, the others once


def test_a_server_that_refuses_longer_than_the_retries_fails_the_day_and_the_next_run_delivers(demo_ledger, tmp_path, monkeypatch):
    """The day's actions are recorded and their emails stay queued when every delivery is refused; the next day's run catches the day up and sends them once."""
    from flows.daily_collection import daily_collection

    ledger = demo_ledger(sqlite_url(tmp_path))
    before, day, after = BUSY_DAY - dt.timedelta(days=1), BUSY_DAY, BUSY_DAY + dt.timedelta(days=1)
    daily_collection(as_of=before, batch_size=3)
    sent_before = len(ledger.capture.messages)
    assert sent_before > 0
    ledger.capture.refuse = 10**6  # refuses everything until the test says otherwise
    with pytest.raises(RuntimeError, match="not delivered yet"):
        daily_collection(as_of=day, batch_size=3)
    assert len(ledger.capture.messages) == sent_before
    assert state() == ledger.reference([before, day])  # taken and queued, each once
    with Session(engine_for()) as session:
        unsent = session.execute(select(OutboxMessage.attempts, OutboxMessage.last_error).where(OutboxMessage.sent_at.is_(None))).all()
        assert session.get(CollectionDay, day) is None  # the day did not finish
    assert unsent and all(attempts == tasks.ledger.RETRIES + 1 and "451" in error for attempts, error in unsent)
    ledger.capture.refuse = 0
    monkeypatch.setattr(Settings, "today", lambda self: after)
    result = daily_collection(batch_size=3)  # the next scheduled run
    assert result["caught up"] == [day.isoformat()]
    assert state() == ledger.reference([before, day, after])
    assert_sent_exactly_once(ledger)


# -- the same day, twice at once ----------------------------------------------------------------


class Rendezvous:
    """Holds each of two runs (threads) at a point, the first time it gets there, until the other is there too."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=WAIT)
        self.arrived: set[int] = set()
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            if threading.get_ident() in self.arrived:
                return
            self.arrived.add(threading.get_ident())
        with contextlib.suppress(threading.BrokenBarrierError):  # the other run failed before it got here: the assertions say so
            self.barrier.wait()


def test_the_same_day_run_twice_at_once_takes_and_sends_everything_once(ledger_engine, demo_ledger, monkeypatch):
    """Two runs of the same day start together, in batches of two, and are made to meet twice.

    On their first action: both have found its key free and neither has
    written it yet. The unique key fails one of the two transactions, which is
    tried again and finds the action taken. And in the delivery: both have
    read the whole outbox and neither has sent a message yet; each message is
    claimed by one of them before it is sent. Both runs complete.
    """
    from flows.daily_collection import daily_collection

    ledger = demo_ledger(ledger_engine.url.render_as_string(hide_password=False))
    day = BUSY_DAY
    expected = ledger.reference([day])
    due = planned(day)
    assert len(due) >= 10 and any(a.needs_approval for a in due)
    first_insert, outbox_read = Rendezvous(), Rendezvous()
    races: list[str] = []
    real_take, real_dispatch = execution.take_action, tasks.ledger.dispatch

    def before_flush(session, _context, _instances):
        if any(isinstance(row, ActionTaken) for row in session.new):
            first_insert()  # the key was checked and found free: the insert comes next

    def take_action(session, action, **kwargs):
        try:
            return real_take(session, action, **kwargs)
        except exc.IntegrityError:  # the other run committed this key first
            races.append(action.key)
            raise

    def dispatch(sessions, *args, **kwargs):
        made = 0

        def session_after_the_outbox_is_read():
            nonlocal made
            made += 1
            if made == 2:  # dispatch reads the unsent messages in its first session, then sends each in a session of its own
                outbox_read()
            return sessions()

        return real_dispatch(session_after_the_outbox_is_read, *args, **kwargs)

    monkeypatch.setattr(execution, "take_action", take_action)
    monkeypatch.setattr(tasks.ledger, "dispatch", dispatch)
    results: dict[int, dict | BaseException] = {}

    def run(n: int) -> None:
        try:
            results[n] = daily_collection(as_of=day, batch_size=2)
        except BaseException as error:  # noqa: BLE001 - reported below
            results[n] = error

    threads = [threading.Thread(target=run, args=(n,), name=f"daily-collection-{n}") for n in (1, 2)]
    event.listen(Session, "before_flush", before_flush)
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
    finally:
        event.remove(Session, "before_flush", before_flush)
    assert not any(thread.is_alive() for thread in threads), "a run did not finish"
    assert len(results) == 2 and all(isinstance(r, dict) for r in results.values()), results
    assert races, "the two runs never met on the same action"
    assert sum(r["taken"] for r in results.values()) == len(due)  # each action taken by one run or the other
    end = state()
    assert end == expected
    assert end["actions"] == sorted(a.key for a in due)
    assert end["approvals"] == sorted(f"approval:{a.key}" for a in due if a.needs_approval)
    assert_sent_exactly_once(ledger)
    with Session(engine_for()) as session:
        noted = session.get(CollectionDay, day)
        assert noted is not None and noted.taken == len(due)
