"""What PostgreSQL is sent for a batch's customers and a delivery's chunk (issue #18), read from psycopg's protocol trace.

- each customer of a batch costs three round trips, not four: its transaction begins with the
  commit of the one before (``huikuan.ledger.db.commit_begins_next``), not with a BEGIN of its own;
  each customer is still committed before the next one starts;
- a chunk of delivered messages is stamped sent with one statement, not one a message.

SQLite has no round trips: these tests run on PostgreSQL only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from huikuan.collection.batch import collect
from huikuan.outbox.mail import OutboxFolder, dispatch
from models.ledger import ActionTaken, OutboxMessage
from tests.test_collect_round_trips import COMPANY, DAY, POLICY, _ledger

pytestmark = [pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning"), pytest.mark.postgres]


@pytest.fixture
def pg_engine(ledger_engine):
    if ledger_engine.dialect.name != "postgresql":
        pytest.skip("round trips are PostgreSQL's")
    return ledger_engine


@contextmanager
def traced(engine) -> Iterator[list[str]]:
    """The protocol messages of the connections checked out of ``engine`` inside (psycopg's ``PGconn.trace``), as lines."""
    from psycopg.pq import Trace

    lines: list[str] = []
    files = []

    def checkout(dbapi_connection, _record, _proxy) -> None:
        trace = tempfile.TemporaryFile()
        files.append((dbapi_connection, trace))
        dbapi_connection.pgconn.trace(trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)

    event.listen(engine, "checkout", checkout)
    try:
        yield lines
    finally:
        event.remove(engine, "checkout", checkout)
        for dbapi_connection, trace in files:
            dbapi_connection.pgconn.untrace()
            trace.seek(0)
            lines.extend(trace.read().decode("utf-8", "replace").splitlines())
            trace.close()


def round_trips(lines: list[str]) -> int:
    """Each simple query and each extended-protocol Sync is answered by one ReadyForQuery: one round trip each."""
    return sum(1 for line in lines if line.startswith("B\t") and "\tReadyForQuery" in line)


def test_each_customer_of_a_batch_costs_three_round_trips_and_is_committed_on_its_own(tmp_path, pg_engine):
    ids = _ledger(tmp_path, pg_engine, 18)
    trips = []
    commits = []
    event.listen(pg_engine, "commit", lambda *_: commits.append(1))
    for batch in (ids[:6], ids[6:]):  # 6 customers, then 12: the reads of a batch cost the same
        with traced(pg_engine) as lines:
            result = collect(pg_engine, batch, DAY, POLICY, COMPANY)
        assert not result.failed and result.taken == len(batch)
        trips.append(round_trips(lines))
        begins = sum(1 for line in lines if line.startswith("F\t") and line.endswith('Query\t "BEGIN"'))
        assert begins <= 3, begins  # the facts' read, the first customer's, the next actions' read: none for each other customer
    assert (trips[1] - trips[0]) / 6 <= 3, trips  # BEGIN, the action, its email, COMMIT: four before
    assert len(commits) >= 18  # each customer's transaction committed on its own
    with Session(pg_engine) as session:
        assert session.scalar(select(func.count()).select_from(ActionTaken)) == 18
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 18
    with pg_engine.connect() as connection:  # nothing left open by the chain: the connection back in the pool is idle
        idle = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'"
        assert connection.exec_driver_sql(idle).scalar() == 0


def test_a_chunk_of_sent_messages_is_stamped_in_one_statement(tmp_path, pg_engine):
    ids = _ledger(tmp_path, pg_engine, 30)
    assert collect(pg_engine, ids, DAY, POLICY, COMPANY).taken == 30
    with traced(pg_engine) as lines:
        sent = dispatch(sessionmaker(pg_engine), COMPANY, OutboxFolder(tmp_path / "out"))
    assert sent.sent == 30 and not sent.errors
    executed = sum(1 for line in lines if line.startswith("F\t") and "\tExecute\t" in line)
    assert executed <= 4, executed  # the unsent ids, the claim, the stamps: the stamps were thirty statements before
    with Session(pg_engine) as session:
        stamped = session.execute(select(OutboxMessage.sent_at, OutboxMessage.last_error, OutboxMessage.attempts)).all()
    assert len(stamped) == 30 and all(at is not None and at.tzinfo is not None and error is None and attempts == 1 for at, error, attempts in stamped)
