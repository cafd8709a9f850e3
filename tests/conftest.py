"""Fixtures shared by every tier: ledgers on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import contextlib
import itertools
import os

# Failed tasks are retried at once in tests (the product waits between retries).
os.environ.setdefault("HUIKUAN_RETRY_DELAY_SECONDS", "0")
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from huikuan.ledger.db import make_engine
from huikuan.ledger.migrate import upgrade
from tests.pg_server import PostgresServer, find_bindir

_pg_skip_reason: list[str] = []


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run, with a migrated template database."""
    bindir = find_bindir()
    if bindir is None:
        reason = "PostgreSQL is not installed (no initdb/pg_ctl): the ledger tests ran on SQLite only"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must install Debian's postgresql package")
        _pg_skip_reason.append(reason)
        pytest.skip(reason)
    server = start_postgres(bindir)
    yield server
    server.admin.dispose()
    server.stop()


def start_postgres(bindir: Path, **admin_options) -> PostgresServer:
    """A PostgreSQL server started with a migrated ``ledger_template`` database; ``server.admin`` is an AUTOCOMMIT engine on it."""
    server = PostgresServer.start(bindir)
    admin = create_engine(server.url, isolation_level="AUTOCOMMIT", **admin_options)
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE ledger_template"))
    template = make_engine(server.url_for("ledger_template"))
    upgrade(template)
    template.dispose()
    server.admin = admin
    return server


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "ledger.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


_database_numbers = itertools.count()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ledger_engine(request, tmp_path, sqlite_template) -> Iterator[Engine]:
    """A freshly migrated, empty ledger on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.db"
        shutil.copy(sqlite_template, path)
        engine = make_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = f"ledger_{os.getpid()}_{next(_database_numbers)}"
    with server.admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE ledger_template"))
    engine = make_engine(server.url_for(name))
    yield engine
    engine.dispose()
    with server.admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))


@pytest.fixture
def session(ledger_engine) -> Iterator[Session]:
    with Session(ledger_engine) as s:
        yield s


@pytest.fixture
def sqlite_engine(tmp_path, sqlite_template) -> Iterator[Engine]:
    """An empty migrated SQLite ledger, for tests that need only one database."""
    path = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def cli_env(tmp_path, monkeypatch) -> Iterator[Path]:
    """The ``huikuan`` command's environment in ``tmp_path``: a SQLite ledger (huikuan.db, not created), the data folder,
    and the company file (company.yaml, absent unless the test writes it); the cached settings and engines are forgotten
    before and after. Yields ``tmp_path``."""
    from huikuan.ledger.db import engine_for
    from huikuan.ledger.settings import get_settings

    monkeypatch.setenv("HUIKUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'huikuan.db'}")
    monkeypatch.setenv("HUIKUAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUIKUAN_COMPANY_FILE", str(tmp_path / "company.yaml"))
    get_settings.cache_clear()
    engine_for.cache_clear()
    yield tmp_path
    engine_for.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def web_ledger(tmp_path, sqlite_engine, monkeypatch) -> Engine:
    """tests/web_ledger.py's ledger (W2 cash only, W3 locked) on SQLite, and a fixed server secret."""
    from tests.web_ledger import build

    monkeypatch.setenv("HUIKUAN_SECRET_KEY", "test-secret-" + "0" * 40)
    return build(sqlite_engine, tmp_path)


@pytest.fixture(scope="module")
def prefect():
    """Prefect's test harness (a temporary server) for the flows of one test module."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def pytest_terminal_summary(terminalreporter) -> None:
    for reason in _pg_skip_reason:
        terminalreporter.write_sep("!", f"SKIPPED ON POSTGRESQL: {reason}", red=True, bold=True)


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, checked first: a missing browser skips the test (fails it in CI) before a stack or a server starts."""
    from tests.stack_harness import CHROMIUM

    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"Debian's Chromium is not installed ({CHROMIUM} is missing): the browser test did not run"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must install Debian's chromium package (.ci/run)")
        pytest.skip(reason)
    return CHROMIUM


class SmtpCapture:
    """A real SMTP server on loopback that keeps every message it accepts."""

    def __init__(self) -> None:
        import email
        import email.policy

        self.messages: list = []
        self.refuse = 0  # refuse this many messages (a server that refuses, then accepts)
        self._parse = lambda data: email.message_from_bytes(data, policy=email.policy.default)

    async def handle_DATA(self, server, session, envelope):
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        self.messages.append(self._parse(envelope.content))
        return "250 OK"


@contextlib.contextmanager
def smtp_on_loopback(handler) -> Iterator[int]:
    """An aiosmtpd server with ``handler`` on a free loopback port (yielded), stopped afterwards."""
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server():
    """(host, port, capture) of a running aiosmtpd server; stopped after the test."""
    capture = SmtpCapture()
    with smtp_on_loopback(capture) as port:
        yield "127.0.0.1", port, capture
