"""The ledger's engine and sessions, for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
def commit_begins_next(connection: Connection) -> Iterator[None]:
    """Within: on PostgreSQL through psycopg 3, each commit of ``connection`` begins its next transaction in the same round trip.

    psycopg sends a transaction's BEGIN as a statement of its own, a round trip before the
    transaction's first statement: a quarter of the round trips of a batch's customer (BEGIN,
    the action, its email, COMMIT; issue #18). Here a commit sends ``COMMIT; BEGIN`` in one
    message: the server commits, then begins the next transaction, which the next statements
    find open (psycopg sends no BEGIN of its own into an open transaction). Each transaction is
    still committed, or fails, before the caller goes on; a rollback ends the chain until the
    next commit. The transaction begun after the last commit, empty, is rolled back on the way
    out. A chained transaction's ``CURRENT_TIMESTAMP`` (``started_at``, ``queued_at``) is when
    the commit before it ended, earlier by the time the caller took in between.
    Other databases and drivers: nothing changes.
    """
    if connection.dialect.driver != "psycopg":
        yield
        return
    from psycopg.pq import TransactionStatus

    driver = connection.connection.driver_connection

    def commit() -> None:
        if driver.info.transaction_status != TransactionStatus.INTRANS:
            type(driver).commit(driver)  # nothing to chain: a failed transaction, or none
            return
        with driver.cursor() as cursor:
            cursor.execute(b"COMMIT; BEGIN")  # no parameters: the simple protocol, which takes both statements in one message

    driver.commit = commit  # what SQLAlchemy's commit calls, on this connection only
    try:
        yield
    finally:
        del driver.commit
        if not driver.closed and not connection.in_transaction() and driver.info.transaction_status == TransactionStatus.INTRANS:
            driver.rollback()  # the empty transaction the last commit began
