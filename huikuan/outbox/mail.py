"""Deliver the outbox: queued emails go to SMTP when configured, else to a folder.

Actions queue their emails in the ledger's ``outbox`` table in the same
transaction that records the action, so an email is queued exactly once.
`dispatch` then delivers what is unsent in chunks of `CHUNK` (50) messages, one
transaction a chunk: it claims the chunk (one UPDATE, which also reads it),
hands each message over, and stamps those delivered and those that failed (one
UPDATE each, for the whole chunk) before it commits. The unsent messages' ids are
read `PAGE` (1,000) at a time, so that dispatch holds as much for a day of
100,000 emails as for one of 1,000.

The exactly-once window is one chunk. A rerun or a retried task never sends a
message again: a message is sent only in the transaction that claims it while
it is unsent, and a second dispatcher running at the same time waits for that
claim and then finds the message sent. A crash after a chunk's first message was
handed over and before that chunk's commit (the process killed, the machine or
the database lost) loses the chunk's claim and stamps: the next dispatch sends
again the messages of that chunk that the server (or the folder) had taken
before the crash, at most a chunk (``dispatch(chunk=1)`` narrows it to one),
never one of an earlier, committed chunk; nothing is lost. An exception raised
while a chunk is delivered does not widen the window: what was delivered before
it is stamped and committed, then the exception goes on. Each message's
Message-ID is its key, so a mail system can still tell a repeat. While a chunk
is delivered it holds the ledger's write lock (SQLite) or its rows' locks
(PostgreSQL): with SMTP, for as long as the chunk's hand-overs take, which is why a chunk
to an SMTP server is `SMTP_CHUNK` (10) messages: other writers (a person recording a payment)
wait a few seconds at most, well within SQLite's busy timeout. A chunk goes over one SMTP connection
(``SmtpServer.connected``: TLS and login once); a refusal keeps it, a dropped connection is opened again.

Security (issue #12): SMTP over STARTTLS or TLS checks the server's certificate
and host name (``ssl.create_default_context``, the company's ``ca_file`` when
it names one), and no password is sent over an unencrypted connection unless
the company file allows it (``allow_plain_login``). A message carrying a
one-time code (key ``…:code:<round>:<person>``) keeps it in the ledger only
until it is delivered; then the ledger's copy shows ``******``. The ``.eml``
files are created readable by their owner only (0600; the folder 0700 when
huikuan makes it): with no SMTP server configured, a code's file is its delivery.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import smtplib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.header import Header, decode_header, make_header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Protocol

from sqlalchemy import Integer, Row, String, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from huikuan.ledger.company import Company, SmtpSettings
from huikuan.ledger.heap import older_objects_frozen
from huikuan.ledger.settings import get_settings
from huikuan.outbox import bounces
from models.base import AwareDateTime
from models.ledger import OutboxMessage

CHUNK = 50  # messages a transaction in `dispatch`: the most a crash can send twice
SMTP_CHUNK = 10  # with an SMTP server: each hand-over is a round trip, and SQLite's writers wait for the chunk (30 s busy timeout)


class Transport(Protocol):
    """Where messages go. Optional, read by `dispatch` when there: ``chunk`` (messages a transaction, else `CHUNK`) and
    ``connected()`` (a context in which a chunk is sent, e.g. one SMTP connection)."""

    def send(self, message: Message) -> str | None: ...  # the server's acceptance (its reply to DATA), when there is a server


class OutboxFolder:
    """Writes each message as ``<key>.eml``: the default, and a record a person can open."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: Message) -> str | None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # 0700 when made here; an existing folder is left as it is
        key = str(make_header(decode_header(message["X-Huikuan-Key"])))  # decoded, should the key be non-ASCII
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", key) + ".eml"
        partial = self.folder / (name + ".partial")
        _write_private(partial, bytes(message))
        partial.replace(self.folder / name)  # whole files only, and rewriting the same key replaces it
        return None  # no server: the file is the record


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` as a new file, mode 0600 from its creation (a one-time code may be in it).

    A file left there (a crash between writing and renaming) is removed first: its
    mode could be wider, and ``O_EXCL`` creates afresh, never through a symbolic link.
    """
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


class PlainLoginRefused(smtplib.SMTPException):
    """A login was asked for over an unencrypted connection that the company file does not allow."""


class _KeepsAcceptance:
    """``smtplib``'s client keeping the server's reply to DATA, its acceptance with the queue id
    (``250 2.0.0 Ok: queued as 4F1A2B``), which ``send_message`` does not return."""

    data_reply: tuple[int, bytes] | None = None

    def data(self, msg):  # type: ignore[no-untyped-def]
        self.data_reply = super().data(msg)  # type: ignore[misc]
        return self.data_reply


class _SMTP(_KeepsAcceptance, smtplib.SMTP):
    pass


class _SMTP_SSL(_KeepsAcceptance, smtplib.SMTP_SSL):
    pass


def acceptance(reply: tuple[int, bytes] | None) -> str | None:
    """The reply to DATA as one line of text (``250 2.0.0 Ok: queued as 4F1A2B``), as the ledger keeps it."""
    if reply is None:
        return None
    code, text = reply
    return " ".join(f"{code} {text.decode('utf-8', 'replace')}".split())[:500]


class SmtpServer:
    """Hands messages to an SMTP server (STARTTLS or SSL and login when configured).

    TLS, either way, checks the certificate and the host name: against the
    system's CAs, or only those in ``ca_file``. A server that does not offer
    STARTTLS when it is configured is an error (``SMTPNotSupportedError``), never
    a fall back to the clear; a login in the clear needs ``allow_plain_login``.
    """

    chunk = SMTP_CHUNK  # each hand-over a round trip while the chunk holds the ledger's write lock

    def __init__(self, settings: SmtpSettings, timeout: float = 30) -> None:
        self.settings = settings
        self.timeout = timeout
        self._server: _SMTP | _SMTP_SSL | None = None  # the open connection, inside `connected`
        self._keep = False

    @contextlib.contextmanager
    def connected(self) -> Iterator[None]:
        """One connection (TLS and login once) for every message sent inside: `dispatch` opens it for a chunk.

        A message the server refuses leaves the connection usable (smtplib resets the transaction); a
        connection that drops is forgotten, and the next message opens a new one.
        """
        self._keep = True
        try:
            yield
        finally:
            self._keep = False
            self._close()

    def tls_context(self) -> ssl.SSLContext:
        ca_file = self.settings.ca_file
        if ca_file is not None and not ca_file.is_file():
            raise FileNotFoundError(f"smtp.ca_file {ca_file} in the company file does not exist (working directory {Path.cwd()})")
        return ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)  # CERT_REQUIRED, check_hostname

    def send(self, message: Message) -> str | None:
        """Hand ``message`` over; the server's acceptance (``acceptance``), kept as the email's delivery record."""
        s = self.settings
        if s.username and not (s.ssl or s.starttls or s.allow_plain_login):  # the company file's validation says so too
            raise PlainLoginRefused(
                f"not logging in to {s.host} as {s.username} over an unencrypted connection: set starttls or ssl in the company file's smtp section, "
                "or allow_plain_login: true for a local relay"
            )
        server = self._server or self._connect()
        try:
            server.data_reply = None
            server.send_message(message)
            return acceptance(server.data_reply)
        except OSError as exc:  # smtplib's errors are OSErrors too: only a connection lost or broken is forgotten
            if isinstance(exc, smtplib.SMTPServerDisconnected) or not isinstance(exc, smtplib.SMTPException):
                self._server = None  # the next message connects again
                _quietly_close(server)
            raise
        finally:
            if not self._keep:
                self._close()

    def _connect(self) -> _SMTP | _SMTP_SSL:
        s = self.settings
        context = self.tls_context() if (s.ssl or s.starttls) else None
        if s.ssl:
            server: _SMTP | _SMTP_SSL = _SMTP_SSL(s.host, s.port, timeout=self.timeout, context=context)
        else:
            server = _SMTP(s.host, s.port, timeout=self.timeout)
        try:
            if s.starttls:
                server.starttls(context=context)
            if s.username:
                server.login(s.username, s.password.get_secret_value() if s.password else "")
        except BaseException:
            _quietly_close(server)
            raise
        self._server = server
        return server

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            try:
                server.quit()
            except (smtplib.SMTPException, OSError):
                pass  # the messages were taken or not before this; a QUIT unanswered changes neither
            _quietly_close(server)


def _quietly_close(server: smtplib.SMTP) -> None:
    try:
        server.close()
    except OSError:
        pass


# The outbox keys of messages with a one-time code: execution.code_round_key + ":<person>",
# for a single request (``<approval>:code:<round>:<person>``, ``<approval>:run<n>:code:…``) and a list alike.
_CODE_KEY = re.compile(r":code:[^:]+:[^:]+\Z")
# Where the approval templates put the code: "…one-time code 123456…", "…一次性验证码 123456…".
# (or ``******``, once masked).
_CODE_IN_TEXT = re.compile(r"(?:one-time code|验证码)\s*(\d{6}(?!\d)|\*{6})", re.IGNORECASE)
# A six-digit number standing alone: not part of an invoice number, an amount, a date, a time or a word.
_STANDING_ALONE = r"(?<![\w.,:/-]){}(?![\w.,:/-])"
CODE_MASK = "******"
# An approver's link (huikuan.web.tokens.approval_link) answers with the code: masked with it.
_APPROVAL_LINK = re.compile(r"(/a/)[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def carries_code(key: str) -> bool:
    """Whether the outbox message keyed ``key`` carries a one-time code."""
    return _CODE_KEY.search(key) is not None


def mask_codes(text: str, html: str | None) -> tuple[str, str | None]:
    """``text`` and ``html`` with the one-time code (and the approver's link) replaced by ``******``, everything else kept.

    The code is the six digits where the approval templates write it; should a
    template say it otherwise, every six-digit number standing alone is masked
    (better a masked number too many than a code kept).
    """
    text = _APPROVAL_LINK.sub(r"\g<1>" + CODE_MASK, text)
    html = _APPROVAL_LINK.sub(r"\g<1>" + CODE_MASK, html) if html is not None else None
    found = set(_CODE_IN_TEXT.findall(text))
    codes = sorted(found - {CODE_MASK})
    if found and not codes:
        return text, html  # masked already
    pattern = re.compile(_STANDING_ALONE.format("(?:" + "|".join(codes) + ")" if codes else r"\d{6}"))
    return pattern.sub(CODE_MASK, text), pattern.sub(CODE_MASK, html) if html is not None else None


def transport_for(company: Company) -> Transport:
    return SmtpServer(company.smtp) if company.smtp else OutboxFolder(company.outbox)


def build_message(row: OutboxMessage | Row, company: Company) -> Message:
    """The email for ``row``: its text, an html alternative and a PDF attachment when it has them.

    Built with the ``email.mime`` classes and their ``compat32`` policy, not with
    ``EmailMessage`` and ``email.policy.default``: that policy parses each header
    into a tree when it is set and refolds it when the message is written, 3.9 ms
    of CPU a message with ``bytes()``, most of dispatch's time; this takes 0.8 ms
    (bench/mail_bench.py; ``policy.SMTP`` is the same code, 3.8 ms, and writing a
    default-policy message with a compat32 generator still 1.9 ms). ``compat32``
    writes headers as given, so `_header` and `_address` encode them here, once.
    The bodies are base64: 7-bit with short lines whatever the text, for any SMTP server.
    """
    message: Message = MIMEText(row.text, "plain", "utf-8")
    if row.html:
        message = MIMEMultipart("alternative", _subparts=[message, MIMEText(row.html, "html", "utf-8")])
    if row.attachment is not None:
        message = MIMEMultipart("mixed", _subparts=[message, _pdf(row.attachment, row.attachment_name or "letter.pdf")])
    message["From"] = _address(company.name, company.sender_email, "From")
    message["To"] = _address(row.to_name, row.to_address, "To")
    message["Subject"] = _header(row.subject, "Subject")
    message["Date"] = format_datetime(dt.datetime.now(dt.UTC))  # when it is handed over (RFC 5322 requires one)
    message["Message-ID"] = f"<{re.sub(r'[^A-Za-z0-9_-]+', '.', row.key).strip('.')}@huikuan>"  # a dot-atom (RFC 5322)
    message["X-Huikuan-Key"] = _header(row.key, "X-Huikuan-Key")
    return message


def _plain(text: str) -> bool:
    """Whether ``text`` can go in a header as it is: ASCII, and nothing a reader would decode as an encoded word."""
    return text.isascii() and "=?" not in text


def _header(text: str, name: str) -> str:
    """``text`` as the value of the header ``name``: as is when plain, else RFC 2047 encoded words, folded.

    Line breaks are dropped (as ``policy.default`` does): no text can start a
    header of its own. At most 76 characters a line keeps each encoded word
    within RFC 2047's 75.
    """
    text = "".join(text.splitlines())
    return text if _plain(text) else Header(text, "utf-8", header_name=name).encode(maxlinelen=76)


def _address(name: str, address: str, header: str) -> str:
    """``name <address>``: the name quoted when ASCII, else encoded.

    A plain ASCII string even for a Chinese name: ``smtplib`` takes the
    envelope's recipients from it, and would split a decoded name at a comma.
    A non-ASCII address raises UnicodeEncodeError (a ValueError), as in ``formataddr``.
    """
    address.encode("ascii")
    name = "".join(name.splitlines())
    return formataddr((name, address)) if _plain(name) else f"{_header(name, header)} <{address}>"


def _pdf(data: bytes, filename: str) -> MIMEApplication:
    """An application/pdf attachment; a file name that is not `_plain` goes as RFC 2231 ``filename*``, as ``policy.default`` writes it."""
    part = MIMEApplication(data, "pdf")
    part.add_header("Content-Disposition", "attachment", filename=filename if _plain(filename) else ("utf-8", "", filename))
    return part


@dataclass
class Dispatched:
    sent: int = 0
    failed: int = 0
    bounced: int = 0  # refused for good (5xx to RCPT): not retried, the collector told (huikuan.outbox.bounces)
    errors: list[str] | None = None


def dispatch(
    sessions: Callable[[], Session], company: Company, transport: Transport | None = None, *, limit: int | None = None, chunk: int | None = None
) -> Dispatched:
    """Deliver every unsent message (or ``limit`` of them), oldest first, ``chunk`` messages a transaction.

    ``sessions`` makes a new session; each chunk is claimed, delivered and
    stamped in a transaction of its own (the module's docstring: a crash in a
    chunk may send that chunk's delivered messages again). A failure is counted
    and kept on the message for the next dispatch; it does not stop the others,
    whether the message could not be built or the server did not take it. A
    delivered message with a one-time code keeps it no longer: the ledger's copy
    is masked (`mask_codes`) in the transaction that stamps it sent. ``chunk``: by default `CHUNK`, or
    `SMTP_CHUNK` to an SMTP server, so that a chunk holds the ledger's write lock a few seconds at most.
    """
    transport = transport or transport_for(company)
    chunk = chunk if chunk is not None else getattr(transport, "chunk", CHUNK)
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, not {chunk}")
    result = Dispatched(errors=[])
    # Core statements, a chunk at a time: the ORM's identity map, its unit of work and a
    # transaction a message were most of dispatch's time beside the email package's (bench/mail_bench.py).
    # A chunk's rows, attachments included, and a page of ids are all that is held at once.
    with older_objects_frozen():
        for page in _pending_pages(sessions, limit):
            for start in range(0, len(page), chunk):
                with sessions() as session:
                    _deliver_chunk(session, page[start : start + chunk], company, transport, result)
    return result


PAGE = 1000  # unsent messages' ids read at a time by `dispatch`: its memory does not grow with the day's outbox


def _pending_pages(sessions: Callable[[], Session], limit: int | None) -> Iterator[list[int]]:
    """The ids of the unsent messages (the first ``limit`` of them), oldest first, ``PAGE`` at a time.

    The first page is found as before pages were (unsent, by the index on ``sent_at``); when there is
    more, the last unsent id is read with it, and a message queued after that waits for the next
    dispatch. Each later page is the range of ids after the previous page's last. Each page is read
    in a transaction of its own, before its chunks are claimed (a claim is its transaction's first
    statement, a write: ``_deliver_chunk``); a message sent meanwhile is left out at its claim.
    """
    waiting = (_OUTBOX.c.sent_at.is_(None), _OUTBOX.c.bounced_at.is_(None))
    left, after, last = limit, None, None
    while left is None or left > 0:
        size = PAGE if left is None else min(PAGE, left)
        with sessions() as session:
            if after is None:
                page = list(session.scalars(select(_OUTBOX.c.id).where(*waiting).order_by(_OUTBOX.c.id).limit(size)))
                if len(page) == size and (left is None or left > size):
                    last = session.scalar(select(func.max(_OUTBOX.c.id)).where(*waiting))
            else:
                page = list(session.scalars(select(_OUTBOX.c.id).where(_OUTBOX.c.id > after, _OUTBOX.c.id <= last, _UNSENT).order_by(_OUTBOX.c.id).limit(size)))
        if page:
            yield page
        if len(page) < size or last is None:
            return
        after = page[-1]
        if left is not None:
            left -= len(page)


_OUTBOX = OutboxMessage.__table__
# Neither sent nor bounced, as one expression that no index answers: the rows are found by their ids (``_deliver_chunk``).
_UNSENT = func.coalesce(_OUTBOX.c.sent_at, _OUTBOX.c.bounced_at).is_(None)
_STAMP_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("message_id"))
    .values(sent_at=bindparam("stamp_sent_at"), server_reply=bindparam("stamp_reply"), last_error=None)
)
_STAMP_MASKED = _STAMP_SENT.values(text=bindparam("stamp_text"), html=bindparam("stamp_html"))
_STAMP_FAILED = update(_OUTBOX).where(_OUTBOX.c.id == bindparam("message_id")).values(last_error=bindparam("stamp_error"))
# PostgreSQL: the chunk's sent stamps in one statement, its rows given as arrays. ``_STAMP_SENT`` for each
# row (psycopg sends the rows of an executemany as statements of their own) cost a chunk 2 ms, five times
# SQLite's (issue #18). The same rows get the same values.
_SENT = (
    func.unnest(bindparam("message_ids", type_=ARRAY(Integer)), bindparam("sent_ats", type_=ARRAY(AwareDateTime())), bindparam("replies", type_=ARRAY(String)))
    .table_valued("message_id", "sent_at", "reply")
    .render_derived(name="stamp")
)
_STAMP_ALL_SENT = update(_OUTBOX).where(_OUTBOX.c.id == _SENT.c.message_id).values(sent_at=_SENT.c.sent_at, server_reply=_SENT.c.reply, last_error=None)


def _stamp(session: Session, sent: list[dict], masked: list[dict], failed: list[dict]) -> None:
    """Write a chunk's stamps: the messages sent (with their text masked, for those in ``masked``) and those that failed."""
    if sent and session.get_bind().dialect.name == "postgresql":
        session.execute(
            _STAMP_ALL_SENT,
            {
                "message_ids": [stamp["message_id"] for stamp in sent],
                "sent_ats": [stamp["stamp_sent_at"] for stamp in sent],
                "replies": [stamp["stamp_reply"] for stamp in sent],
            },
        )
        sent = []
    for statement, stamps in ((_STAMP_SENT, sent), (_STAMP_MASKED, masked), (_STAMP_FAILED, failed)):
        if stamps:
            session.execute(statement, stamps)


def _deliver_chunk(session: Session, ids: list[int], company: Company, transport: Transport, result: Dispatched) -> None:
    """Claim the messages ``ids`` still unsent, hand each over, stamp them; committed, whatever is raised after the claim."""
    # The claim is a write, first: it takes SQLite's write lock (or the PostgreSQL rows' locks)
    # before anything is read, so a second dispatcher running at the same time waits here and then
    # finds these messages sent. RETURNING reads what was claimed in the same statement. PostgreSQL
    # locks the rows in the order of their ids (the subquery's FOR UPDATE), so that two dispatchers
    # whose chunks overlap wait for each other and never deadlock; SQLite locks the whole ledger.
    # Unsent is one expression that no index answers, so that the chunk's rows are found by their ids:
    # PostgreSQL, its statistics older than the day's messages (none yet on a new ledger, or taken when
    # nearly all were sent), took "sent_at IS NULL" for a few rows and read every unsent message of the
    # outbox through the sent_at index for each chunk, the whole day's outbox 200 times for 10,000 (issue #18).
    in_order = select(_OUTBOX.c.id).where(_OUTBOX.c.id.in_(ids), _UNSENT).order_by(_OUTBOX.c.id).with_for_update()
    claimed = sorted(
        session.execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.id.in_(in_order), _UNSENT)
            .values(attempts=_OUTBOX.c.attempts + 1)
            .returning(
                _OUTBOX.c.id,
                _OUTBOX.c.key,
                _OUTBOX.c.to_address,
                _OUTBOX.c.to_name,
                _OUTBOX.c.subject,
                _OUTBOX.c.text,
                _OUTBOX.c.html,
                _OUTBOX.c.attachment_name,
                _OUTBOX.c.attachment,
            )
        ).all(),
        key=lambda row: row.id,
    )
    sent: list[dict] = []
    masked: list[dict] = []
    failed: list[dict] = []
    connection = transport.connected() if hasattr(transport, "connected") else contextlib.nullcontext()
    try:
        with connection:  # one SMTP connection for the chunk
            for row in claimed:
                try:
                    message = build_message(row, company)
                except Exception as exc:  # noqa: BLE001 - this message cannot be written (a non-ASCII address, say): its failure, not the chunk's
                    failed.append(_failure(row, exc, result))
                    continue
                try:
                    accepted = transport.send(message)
                except (OSError, smtplib.SMTPException, ValueError) as exc:  # ValueError: a message that cannot be written
                    if (reply := bounces.permanent_refusal(exc)) is not None:  # refused for good: never retried, the address marked bounced
                        refused = session.get(OutboxMessage, row.id)
                        bounces.refused(session, refused, company, get_settings().today(), reply)
                        result.bounced += 1
                        result.errors.append(f"{row.key}: {refused.last_error}")
                        continue
                    failed.append(_failure(row, exc, result))
                    continue
                stamp = {
                    "message_id": row.id,
                    "stamp_sent_at": dt.datetime.now(dt.UTC),
                    "stamp_reply": accepted if isinstance(accepted, str) else None,
                }  # the mail server's acceptance, with sent_at
                if carries_code(row.key):
                    stamp["stamp_text"], stamp["stamp_html"] = mask_codes(row.text, row.html)
                    masked.append(stamp)
                else:
                    sent.append(stamp)
                result.sent += 1
    finally:  # what was handed over is stamped, even when something unforeseen stops the chunk
        _stamp(session, sent, masked, failed)
        session.commit()


def _failure(row: Row, exc: BaseException, result: Dispatched) -> dict:
    """A failure to try again at the next dispatch: counted, and its stamp."""
    error = f"{type(exc).__name__}: {exc}"
    result.failed += 1
    result.errors.append(f"{row.key}: {error}")
    return {"message_id": row.id, "stamp_error": error}
