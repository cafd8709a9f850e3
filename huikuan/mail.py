"""Deliver the outbox: queued emails go to SMTP when configured, else to a folder.

Actions queue their emails in the ledger's ``outbox`` table in the same
transaction that records the action, so an email is queued exactly once.
`dispatch` then delivers what is unsent, one message per transaction: a crash
loses nothing (the rest goes out on the next dispatch) and repeats at most the
one message that was being handed to the server. Each message's Message-ID is
its key, so a mail system can still tell a repeat.
"""

from __future__ import annotations

import datetime as dt
import re
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from email.header import Header, decode_header, make_header
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, format_datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from huikuan.company import Company, SmtpSettings
from models.ledger import OutboxMessage


class Transport(Protocol):
    def send(self, message: Message) -> None: ...


class OutboxFolder:
    """Writes each message as ``<key>.eml``: the default, and a record a person can open."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: Message) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        key = str(make_header(decode_header(message["X-Huikuan-Key"])))  # decoded, should the key be non-ASCII
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", key) + ".eml"
        partial = self.folder / (name + ".partial")
        partial.write_bytes(bytes(message))
        partial.replace(self.folder / name)  # whole files only, and rewriting the same key replaces it


class SmtpServer:
    """Hands messages to an SMTP server (STARTTLS or SSL and login when configured)."""

    def __init__(self, settings: SmtpSettings, timeout: float = 30) -> None:
        self.settings = settings
        self.timeout = timeout

    def send(self, message: Message) -> None:
        s = self.settings
        connect = smtplib.SMTP_SSL if s.ssl else smtplib.SMTP
        with connect(s.host, s.port, timeout=self.timeout) as server:
            if s.starttls:
                server.starttls()
            if s.username:
                server.login(s.username, s.password or "")
            server.send_message(message)


def transport_for(company: Company) -> Transport:
    return SmtpServer(company.smtp) if company.smtp else OutboxFolder(company.outbox)


def build_message(row: OutboxMessage, company: Company) -> Message:
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
    errors: list[str] | None = None


def dispatch(sessions: Callable[[], Session], company: Company, transport: Transport | None = None, *, limit: int | None = None) -> Dispatched:
    """Deliver every unsent message (or ``limit`` of them), oldest first.

    ``sessions`` makes a new session; each message is delivered and stamped in a
    transaction of its own. A failure is counted and kept on the message for
    the next dispatch; it does not stop the others.
    """
    transport = transport or transport_for(company)
    result = Dispatched(errors=[])
    with sessions() as session:
        pending = list(session.scalars(select(OutboxMessage.id).where(OutboxMessage.sent_at.is_(None)).order_by(OutboxMessage.id).limit(limit)))
    # The ledger's share is about 0.9 ms a message on SQLite (bench/mail_bench.py), and
    # measured, it does not shrink: one session for all the transactions costs the same,
    # and UPDATE .. RETURNING would save a twentieth. The commit is cheap already (WAL,
    # synchronous=NORMAL); reading the rows in bulk would hold every attachment at once.
    for message_id in pending:
        with sessions() as session, session.begin():
            # Claim the message with a write first: it takes SQLite's write lock (or the
            # PostgreSQL row lock) before anything is read, so a second dispatcher running at
            # the same time waits here and then finds the message sent.
            claimed = session.execute(
                update(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.sent_at.is_(None)).values(attempts=OutboxMessage.attempts + 1)
            ).rowcount
            if not claimed:
                continue  # another dispatcher sent it
            row = session.get(OutboxMessage, message_id, populate_existing=True)
            try:
                transport.send(build_message(row, company))
            except (OSError, smtplib.SMTPException, ValueError) as exc:  # ValueError: a message that cannot be written, e.g. a non-ASCII address
                row.last_error = f"{type(exc).__name__}: {exc}"
                result.failed += 1
                result.errors.append(f"{row.key}: {row.last_error}")
                continue
            row.sent_at = dt.datetime.now(dt.UTC)
            row.last_error = None
            result.sent += 1
    return result
