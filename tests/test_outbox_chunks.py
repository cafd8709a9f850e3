"""Delivery in chunks (issue #18): a few statements a chunk, and the exactly-once window of one chunk.

`huikuan.outbox.mail.dispatch` claims, delivers and stamps up to ``CHUNK`` (50)
messages a transaction. These tests count its statements, lose the database in
the middle of a chunk (what is stamped, what the next dispatch sends again), and
give it messages that cannot be built. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import sessionmaker

from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.outbox import mail
from huikuan.outbox.mail import OutboxFolder, dispatch
from models.ledger import OutboxMessage

COMPANY = parse_company(EXAMPLE)
MESSAGES = 120  # three chunks of 50, 50 and 20
CHUNK = 50  # huikuan.outbox.mail.CHUNK, the default


def key(n: int) -> str:
    return f"C{n:03d}:follow_up:2026-11-23:email"


def queue(engine, messages: int = MESSAGES, change: dict[int, dict] | None = None) -> list[int]:
    """``messages`` queued emails, oldest first (``change``: {n: {column: value}}); their ids."""
    rows = [
        {
            "key": key(n),
            "customer_id": None,
            "to_address": f"ap{n}@customer.example.cn",
            "to_name": "王伟（财务部）",
            "subject": f"【催款提醒】发票 INV-{n:05d} 已逾期",
            "text": f"尊敬的客户：发票 INV-{n:05d} 已逾期。\n",
            "html": None,
            **(change or {}).get(n, {}),
        }
        for n in range(messages)
    ]
    with engine.begin() as connection:
        connection.execute(insert(OutboxMessage), rows)
        return list(connection.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id)))


def outbox(engine) -> dict[str, tuple]:
    """key: (sent, attempts, last_error)."""
    with engine.connect() as connection:
        return {
            k: (sent is not None, attempts, error)
            for k, sent, attempts, error in connection.execute(
                select(OutboxMessage.key, OutboxMessage.sent_at, OutboxMessage.attempts, OutboxMessage.last_error).order_by(OutboxMessage.id)
            )
        }


class Recording:
    """A transport that keeps the key of every message handed to it; ``on_send(n, key)`` may raise, before the hand-over."""

    def __init__(self, on_send=None) -> None:
        self.keys: list[str] = []
        self.on_send = on_send

    def send(self, message) -> str:
        if self.on_send is not None:
            self.on_send(len(self.keys), message["X-Huikuan-Key"])
        self.keys.append(message["X-Huikuan-Key"])
        return f"250 2.0.0 Ok: queued as Q{len(self.keys)}"


def test_a_chunk_is_claimed_and_stamped_with_a_few_statements(ledger_engine, tmp_path):
    """120 messages: one read of what is unsent, then a claim and a stamp a chunk; not three statements a message."""
    queue(ledger_engine)
    statements: list[str] = []

    def count(_conn, _cursor, statement, _parameters, _context, executemany):
        statements.append(("many: " if executemany else "") + " ".join(statement.split())[:80])

    event.listen(ledger_engine, "before_cursor_execute", count)
    try:
        result = dispatch(sessionmaker(ledger_engine), COMPANY, OutboxFolder(tmp_path / "outbox"))
    finally:
        event.remove(ledger_engine, "before_cursor_execute", count)
    assert (result.sent, result.failed) == (MESSAGES, 0)
    chunks = -(-MESSAGES // CHUNK)
    assert len(statements) <= 1 + 2 * chunks, statements
    assert len(list((tmp_path / "outbox").iterdir())) == MESSAGES
    assert set(outbox(ledger_engine).values()) == {(True, 1, None)}
    assert dispatch(sessionmaker(ledger_engine), COMPANY, OutboxFolder(tmp_path / "outbox")).sent == 0


class Crash(BaseException):
    """The process stops (killed, the machine off): nothing after it runs in dispatch but what `finally` runs."""


class DatabaseLost(Exception):
    pass


def test_the_database_lost_in_the_middle_of_a_chunk_sends_that_chunk_s_delivered_messages_again(ledger_engine):
    """Lost while the 70th message (the second chunk's 20th) is handed over: the first chunk stays stamped;
    the second chunk's claim and stamps are lost, so the next dispatch sends its 19 delivered messages again, and nothing else twice."""
    queue(ledger_engine)
    lost = False

    def database(*_args):
        if lost:
            raise DatabaseLost("the connection to the ledger is gone")

    def crash_at_the_70th(n: int, _key: str) -> None:
        nonlocal lost
        if n == 69:
            lost = True
            raise Crash

    first = Recording(crash_at_the_70th)
    event.listen(ledger_engine, "before_cursor_execute", database)
    try:
        with pytest.raises(DatabaseLost):  # stamping what was delivered is tried, and cannot be written
            dispatch(sessionmaker(ledger_engine), COMPANY, first)
    finally:
        event.remove(ledger_engine, "before_cursor_execute", database)
    assert first.keys == [key(n) for n in range(69)]
    state = outbox(ledger_engine)
    assert [k for k, (sent, _attempts, _error) in state.items() if sent] == [key(n) for n in range(CHUNK)]  # the first chunk, committed
    assert {state[key(n)] for n in range(CHUNK, MESSAGES)} == {(False, 0, None)}  # the second chunk's claim is gone with its transaction

    second = Recording()
    result = dispatch(sessionmaker(ledger_engine), COMPANY, second)
    assert (result.sent, result.failed) == (MESSAGES - CHUNK, 0)
    received = Counter(first.keys + second.keys)
    again = sorted(k for k, times in received.items() if times > 1)
    assert again == [key(n) for n in range(CHUNK, 69)] and len(again) < CHUNK  # at most the chunk's delivered messages, once more
    assert set(received.values()) <= {1, 2} and set(received) == {key(n) for n in range(MESSAGES)}
    assert set(outbox(ledger_engine).values()) == {(True, 1, None)}


def test_an_error_in_the_middle_of_a_chunk_keeps_the_stamps_of_what_was_delivered(ledger_engine):
    """Something unforeseen stops the second chunk at its 20th message: the 19 before it are stamped, and never sent again."""
    queue(ledger_engine)

    def fail_at_the_70th(n: int, _key: str) -> None:
        if n == 69:
            raise RuntimeError("a bug in a transport")

    first = Recording(fail_at_the_70th)
    with pytest.raises(RuntimeError, match="a bug"):
        dispatch(sessionmaker(ledger_engine), COMPANY, first)
    state = outbox(ledger_engine)
    assert [k for k, (sent, _attempts, _error) in state.items() if sent] == first.keys == [key(n) for n in range(69)]
    second = Recording()
    assert dispatch(sessionmaker(ledger_engine), COMPANY, second).sent == MESSAGES - 69
    assert second.keys == [key(n) for n in range(69, MESSAGES)]  # nothing twice


def test_a_message_that_cannot_be_built_does_not_hold_up_the_others(ledger_engine, monkeypatch):
    """One message with a non-ASCII address, one whose building fails unforeseen, both in the first chunk:
    every other message goes out and is stamped; the two are kept with their error and tried again, alone, next time."""
    queue(ledger_engine, change={10: {"to_address": "王伟@例子.中国"}})
    build = mail.build_message

    def build_or_fail(row, company):
        if row.key == key(30):
            raise RuntimeError("a template that cannot be written")
        return build(row, company)

    monkeypatch.setattr(mail, "build_message", build_or_fail)
    first = Recording()
    result = dispatch(sessionmaker(ledger_engine), COMPANY, first)
    assert (result.sent, result.failed) == (MESSAGES - 2, 2)
    assert [e.split(": ")[0] for e in result.errors] == [key(10), key(30)]
    assert first.keys == [key(n) for n in range(MESSAGES) if n not in (10, 30)]
    state = outbox(ledger_engine)
    assert state[key(10)][:2] == (False, 1) and "UnicodeEncodeError" in state[key(10)][2]
    assert state[key(30)] == (False, 1, "RuntimeError: a template that cannot be written")
    assert {v for k, v in state.items() if k not in (key(10), key(30))} == {(True, 1, None)}

    monkeypatch.setattr(mail, "build_message", build)
    second = Recording()
    again = dispatch(sessionmaker(ledger_engine), COMPANY, second)
    assert (again.sent, again.failed, second.keys) == (1, 1, [key(30)])
    assert outbox(ledger_engine)[key(10)][:2] == (False, 2)


def test_a_chunk_to_an_smtp_server_is_small_so_other_writers_wait_seconds_not_minutes(ledger_engine, monkeypatch, tmp_path):
    """With SMTP each hand-over is a round trip while the chunk holds SQLite's write lock: SMTP_CHUNK (10) messages a chunk."""
    queue(ledger_engine, 25)
    chunks: list[int] = []
    monkeypatch.setattr(mail, "_deliver_chunk", lambda session, ids, company, transport, result: chunks.append(len(ids)))
    dispatch(sessionmaker(ledger_engine), COMPANY, mail.SmtpServer.__new__(mail.SmtpServer))
    assert chunks == [mail.SMTP_CHUNK, mail.SMTP_CHUNK, 5] and mail.SMTP_CHUNK == 10
    chunks.clear()
    dispatch(sessionmaker(ledger_engine), COMPANY, OutboxFolder(tmp_path))
    assert chunks == [25]  # a folder: the chunk of 50


def test_a_chunk_goes_over_one_smtp_connection_and_a_refusal_does_not_drop_it(ledger_engine, smtp_server):
    """A connection (and its TLS and login) a chunk, not a message: 25 messages, 3 connections; a 451 keeps the connection."""
    from huikuan.ledger.company import SmtpSettings
    from tests.conftest import SmtpCapture

    host, port, capture = smtp_server
    peers: list[tuple] = []

    async def handle_data(server, session, envelope, _original=SmtpCapture.handle_DATA):
        peers.append(session.peer)  # the client's address and port: one per TCP connection
        return await _original(capture, server, session, envelope)

    capture.handle_DATA = handle_data
    capture.refuse = 1  # the first message is refused for now (451), the rest of its chunk goes on
    queue(ledger_engine, 25)
    result = dispatch(sessionmaker(ledger_engine), COMPANY, mail.SmtpServer(SmtpSettings(host=host, port=port)))
    assert (result.sent, result.failed) == (24, 1) and "451" in result.errors[0]
    assert len(peers) == 25 and len(set(peers)) == 3  # chunks of SMTP_CHUNK (10, 10, 5): one connection each
    assert len(capture.messages) == 24
    again = dispatch(sessionmaker(ledger_engine), COMPANY, mail.SmtpServer(SmtpSettings(host=host, port=port)))
    assert (again.sent, again.failed) == (1, 0) and len(capture.messages) == 25


def test_a_connection_that_drops_is_opened_again_for_the_next_message(monkeypatch):
    """The message on a dropped connection fails (kept for the next dispatch); the chunk's next message connects again."""
    import smtplib

    from huikuan.ledger.company import SmtpSettings

    opened: list[object] = []

    class Server:
        def __init__(self) -> None:
            self.sent = 0
            opened.append(self)

        def send_message(self, message) -> None:
            self.sent += 1
            if len(opened) == 1 and self.sent == 2:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            self.data_reply = (250, b"2.0.0 Ok: queued")

        def quit(self) -> None: ...

        def close(self) -> None: ...

    smtp = mail.SmtpServer(SmtpSettings(host="mail.example.cn", port=25))
    monkeypatch.setattr(smtp, "_connect", lambda: setattr(smtp, "_server", Server()) or smtp._server)
    outcomes = []
    with smtp.connected():
        for _n in range(4):
            try:
                outcomes.append(smtp.send(None))
            except smtplib.SMTPServerDisconnected:
                outcomes.append("dropped")
    assert outcomes == ["250 2.0.0 Ok: queued", "dropped", "250 2.0.0 Ok: queued", "250 2.0.0 Ok: queued"]
    assert [server.sent for server in opened] == [2, 2]  # the second connection took the rest


def test_the_unsent_ids_are_read_a_page_at_a_time_so_dispatch_holds_no_more_as_the_outbox_grows(ledger_engine, monkeypatch):
    """30 messages, pages of 7: every read of ids is bounded by a page; each message handed over once, oldest first."""
    monkeypatch.setattr(mail, "PAGE", 7, raising=False)
    queue(ledger_engine, 30)
    reads: list[tuple[str, object]] = []

    def record(_conn, _cursor, statement, parameters, _context, _executemany):
        flat = " ".join(statement.split())
        if flat.startswith("SELECT outbox.id FROM outbox"):
            reads.append((flat, parameters))

    event.listen(ledger_engine, "before_cursor_execute", record)
    try:
        transport = Recording()
        result = dispatch(sessionmaker(ledger_engine), COMPANY, transport, chunk=5)
    finally:
        event.remove(ledger_engine, "before_cursor_execute", record)
    assert (result.sent, result.failed) == (30, 0) and transport.keys == [key(n) for n in range(30)]
    assert len(reads) == 5, reads  # 7 + 7 + 7 + 7 + 2
    for flat, parameters in reads:
        assert "LIMIT" in flat and 7 in (parameters.values() if isinstance(parameters, dict) else parameters), (flat, parameters)
    assert set(outbox(ledger_engine).values()) == {(True, 1, None)}


def test_paging_keeps_what_dispatch_takes(ledger_engine, monkeypatch):
    """Queued after dispatch began: the next dispatch's; sent meanwhile by another: not again; ``limit``: the oldest, across pages."""
    monkeypatch.setattr(mail, "PAGE", 7, raising=False)
    ids = queue(ledger_engine, 30)
    deliver = mail._deliver_chunk

    def first_chunk_then_others_meanwhile(session, chunk_ids, *args):
        deliver(session, chunk_ids, *args)
        if chunk_ids[0] == ids[0]:  # committed; then another run queues a message and another dispatcher sends one
            session.commit()
            with ledger_engine.begin() as connection:
                connection.execute(
                    insert(OutboxMessage), [{"key": "late:email", "customer_id": None, "to_address": "x@y.cn", "to_name": "x", "subject": "s", "text": "t"}]
                )
                connection.execute(OutboxMessage.__table__.update().where(OutboxMessage.id == ids[20]).values(sent_at=func.now()))

    monkeypatch.setattr(mail, "_deliver_chunk", first_chunk_then_others_meanwhile)
    first = Recording()
    assert dispatch(sessionmaker(ledger_engine), COMPANY, first, chunk=5, limit=25).sent == 25
    assert first.keys == [key(n) for n in range(26) if n != 20]  # the oldest 25 unsent, but for the one sent meanwhile
    monkeypatch.setattr(mail, "_deliver_chunk", deliver)
    second = Recording()
    assert dispatch(sessionmaker(ledger_engine), COMPANY, second, chunk=5).sent == 5
    assert second.keys == [key(n) for n in range(26, 30)] + ["late:email"]
