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
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from huikuan.company import Company, SmtpSettings
from models.ledger import OutboxMessage


class Transport(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class OutboxFolder:
    """Writes each message as ``<key>.eml``: the default, and a record a person can open."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", message["X-Huikuan-Key"]) + ".eml"
        partial = self.folder / (name + ".partial")
        partial.write_bytes(bytes(message))
        partial.replace(self.folder / name)  # whole files only, and rewriting the same key replaces it


class SmtpServer:
    """Hands messages to an SMTP server (STARTTLS or SSL and login when configured)."""

    def __init__(self, settings: SmtpSettings, timeout: float = 30) -> None:
        self.settings = settings
        self.timeout = timeout

    def send(self, message: EmailMessage) -> None:
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


def build_message(row: OutboxMessage, company: Company) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((company.name, company.sender_email))
    message["To"] = formataddr((row.to_name, row.to_address))
    message["Subject"] = row.subject
    message["Message-ID"] = f"<{re.sub(r'[^A-Za-z0-9_-]+', '.', row.key)}@huikuan>"  # a dot-atom (RFC 5322)
    message["X-Huikuan-Key"] = row.key
    message.set_content(row.text)
    if row.html:
        message.add_alternative(row.html, subtype="html")
    if row.attachment is not None:
        message.add_attachment(row.attachment, maintype="application", subtype="pdf", filename=row.attachment_name or "letter.pdf")
    return message


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
            except (OSError, smtplib.SMTPException) as exc:
                row.last_error = f"{type(exc).__name__}: {exc}"
                result.failed += 1
                result.errors.append(f"{row.key}: {row.last_error}")
                continue
            row.sent_at = dt.datetime.now(dt.UTC)
            row.last_error = None
            result.sent += 1
    return result
