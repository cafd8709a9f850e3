"""What PostgreSQL is sent for a batch's customers and a delivery's chunk (issue #18), read from psycopg's protocol trace.

- each customer of a batch costs one round trip, not four: its action's and its email's INSERTs,
  its COMMIT and the next customer's BEGIN go in one message of psycopg's pipeline mode
  (``huikuan.ledger.db.pipelined_transactions``); each customer is still committed before the
  next one starts, and a statement's error, raised at the commit, fails that customer only;
- a chunk of delivered messages is stamped sent with one statement, not one a message.

SQLite has no round trips: these tests run on PostgreSQL only.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from huikuan.collection import execution
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


def every_sync_answered_before_more_is_sent(lines: list[str]) -> bool:
    """Nothing sent after a Sync until its ReadyForQuery came back: the client waited for every answer it asked for (a commit's).

    A Flush (psycopg's, leaving pipeline mode after its last Sync) asks for nothing more and sends no statement.
    """
    waiting = False
    for line in lines:
        if line.startswith("F\t") and not line.endswith("\tFlush"):
            if waiting:
                return False
            waiting = line.endswith("\tSync")
        elif line.startswith("B\t") and "\tReadyForQuery" in line:
            waiting = False
    return True


def test_each_customer_of_a_batch_costs_one_round_trip_and_is_committed_on_its_own(tmp_path, pg_engine):
    ids = _ledger(tmp_path, pg_engine, 18)
    trips = []
    commits = []
    event.listen(pg_engine, "commit", lambda *_: commits.append(1))
    for batch in (ids[:6], ids[6:]):  # 6 customers, then 12: the reads of a batch cost the same
        with traced(pg_engine) as lines:
            result = collect(pg_engine, batch, DAY, POLICY, COMPANY)
        assert not result.failed and result.taken == len(batch)
        trips.append(round_trips(lines))
        assert every_sync_answered_before_more_is_sent(lines)  # each customer's commit answered before the next customer's INSERTs
    assert (trips[1] - trips[0]) / 6 <= 1, trips  # the action, its email, COMMIT;BEGIN: three before (four before that)
    assert len(commits) >= 18  # each customer's transaction committed on its own
    with Session(pg_engine) as session:
        assert session.scalar(select(func.count()).select_from(ActionTaken)) == 18
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 18
    with pg_engine.connect() as connection:  # nothing left open by the chain: the connection back in the pool is idle
        idle = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'"
        assert connection.exec_driver_sql(idle).scalar() == 0


def test_an_insert_refused_after_the_batch_went_on_fails_its_customer_only(tmp_path, pg_engine, monkeypatch):
    """The outbox refuses one customer's email (a subject longer than its column): an error the batch did not wait for.

    It is raised at that customer's commit: the customer's action is rolled back with it and reported as
    the database's error, the customers before and after are taken, and a rerun takes the customer.
    """
    ids = _ledger(tmp_path, pg_engine, 9)
    real_render = execution.render_email

    def render_email(context, **extra):
        email = real_render(context, **extra)
        return replace(email, subject=email.subject + "!" * 300) if context.customer_name == "客户4" else email

    monkeypatch.setattr(execution, "render_email", render_email)
    result = collect(pg_engine, ids, DAY, POLICY, COMPANY)
    assert [a.customer_id for a in result.failed] == ["C04"]
    assert result.failed[0].error.startswith("DataError: ") and "value too long" in result.failed[0].error, result.failed[0].error
    assert result.taken == 8 and result.failed[0].taken == []
    with Session(pg_engine) as session:
        assert sorted(session.scalars(select(ActionTaken.customer_id))) == [i for i in ids if i != "C04"]
        assert sorted(session.scalars(select(OutboxMessage.customer_id))) == [i for i in ids if i != "C04"]
    monkeypatch.setattr(execution, "render_email", real_render)
    again = collect(pg_engine, ids, DAY, POLICY, COMPANY)
    assert not again.failed and [a.customer_id for a in again.accounts if a.taken] == ["C04"]


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


def test_a_chunk_is_claimed_by_its_ids_not_through_every_unsent_message(tmp_path, pg_engine):
    """The claim of a chunk reads the chunk's rows by their ids, however many messages wait (their statistics not yet taken).

    With "sent_at IS NULL" in it, PostgreSQL, taking it for a few rows, read every unsent message through
    the sent_at index for each chunk: the day's whole outbox for every 50 messages.
    """
    ids = _ledger(tmp_path, pg_engine, 120)
    assert collect(pg_engine, ids, DAY, POLICY, COMPANY).taken == 120
    claims = []

    def keep_claim(_connection, _cursor, statement, parameters, _context, _executemany) -> None:
        if statement.startswith("UPDATE outbox SET attempts"):
            claims.append((statement, parameters))

    event.listen(pg_engine, "before_cursor_execute", keep_claim)
    try:
        sent = dispatch(sessionmaker(pg_engine), COMPANY, OutboxFolder(tmp_path / "out"), limit=50)
    finally:
        event.remove(pg_engine, "before_cursor_execute", keep_claim)
    assert sent.sent == 50 and len(claims) == 1
    with pg_engine.connect() as connection:
        connection.exec_driver_sql("UPDATE outbox SET sent_at = NULL, attempts = 0")  # all 120 unsent again, as before the dispatch
        plan = "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN (ANALYZE, COSTS OFF) " + claims[0][0], claims[0][1]))
        connection.rollback()
    assert "ix_outbox_sent_at" not in plan, plan  # 120 rows: read by their ids or in one page's scan, never every unsent through the index
