"""The ledger's engine and sessions, for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from functools import lru_cache

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from huikuan.ledger.settings import get_settings


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@lru_cache(maxsize=8)
def engine_for(url: str | None = None) -> Engine:
    return make_engine(url or get_settings().database_url)


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on any error."""
    factory = sessionmaker(engine or engine_for(), expire_on_commit=False)
    with factory.begin() as session:
        yield session


@contextmanager
def pipelined_transactions(connection: Connection) -> Iterator[None]:
    """Within: on PostgreSQL through psycopg 3, a transaction of ``connection`` whose statements need no answer costs one round trip.

    A batch's customer was three round trips (its action, its email, ``COMMIT; BEGIN``; issue #18),
    each a wait of client and server for each other. Here the connection is in psycopg's pipeline
    mode: an INSERT that returns nothing (``huikuan.collection.execution``: the action,
    ``insert_once``'s outbox rows) is sent without waiting for its answer; every other statement (a
    read, an UPDATE whose row count the ORM checks, an INSERT returning its id) waits for its
    answer at once, as outside. A commit sends ``COMMIT`` and ``BEGIN`` behind the transaction's
    waiting INSERTs and waits for them all: the transaction is committed, or fails with the first
    error of its statements, before the caller goes on, and the next transaction is open without a
    round trip of its own. An INSERT's error (a key taken) is thus raised by the next statement that
    waits, or by the commit, not by the INSERT itself; its row count is unknown (-1) until then
    (``execution.insert_once``). A rollback ends the chain until the next commit; the transaction
    begun after the last commit, empty, is rolled back on the way out. A chained transaction's
    ``CURRENT_TIMESTAMP`` (``started_at``, ``queued_at``) is when the commit before it ended,
    earlier by the time the caller took in between.
    A libpq without pipeline mode: each commit sends ``COMMIT; BEGIN`` in one message, the
    transaction's statements each wait. Other databases and drivers: nothing changes.
    """
    if connection.dialect.driver != "psycopg":
        yield
        return
    import psycopg
    from psycopg.pq import TransactionStatus

    driver = connection.connection.driver_connection
    try:
        with ExitStack() as stack:
            pipeline = stack.enter_context(driver.pipeline()) if psycopg.Pipeline.is_supported() else None

            def wait_unless_an_insert_returning_nothing(_connection, _cursor, _statement, _parameters, context, _executemany) -> None:
                if not (context is not None and context.isinsert and not getattr(context.compiled, "effective_returning", None)):
                    pipeline.sync()  # the answer now: its rows, its row count, its error

            def commit() -> None:
                status = driver.info.transaction_status  # ACTIVE: in pipeline mode, statements sent and not yet answered
                if status not in (TransactionStatus.INTRANS, TransactionStatus.ACTIVE):
                    type(driver).commit(driver)  # nothing to chain: a failed transaction, or none
                    return
                with driver.cursor() as cursor:
                    if pipeline is None:
                        cursor.execute(b"COMMIT; BEGIN")  # no parameters: the simple protocol, which takes both statements in one message
                        return
                    try:
                        cursor.execute(b"COMMIT")
                        cursor.execute(b"BEGIN")
                        pipeline.sync()  # the first error of the transaction's statements raised here (or as psycopg sends the two)
                    except psycopg.Error:
                        if not driver.broken:
                            rollback()  # its COMMIT was skipped: the transaction ends here, as SQLAlchemy expects of a failed commit
                        raise

            def rollback() -> None:
                if pipeline is not None:
                    try:
                        pipeline.sync()  # the answers still awaited, of the statements sent after the error: aborted, not errors of their own
                    except psycopg.Error:
                        if driver.broken:
                            raise
                type(driver).rollback(driver)

            if pipeline is not None:
                event.listen(connection, "after_cursor_execute", wait_unless_an_insert_returning_nothing)
                stack.callback(event.remove, connection, "after_cursor_execute", wait_unless_an_insert_returning_nothing)
            driver.commit, driver.rollback = commit, rollback  # what SQLAlchemy calls, on this connection only
            stack.callback(delattr, driver, "rollback")
            stack.callback(delattr, driver, "commit")
            yield  # an error raised here leaves pipeline mode all the same: psycopg reads the answers still due and only logs their errors
    finally:
        if not driver.closed and not connection.in_transaction() and driver.info.transaction_status == TransactionStatus.INTRANS:
            driver.rollback()  # the empty transaction the last commit began
