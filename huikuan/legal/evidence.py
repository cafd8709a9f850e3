"""The documents sent to a customer, as sent, with their SHA-256 and delivery record (送达凭证).

Every customer email and letter goes through the outbox (``models.ledger.OutboxMessage``):
the row keeps the message as written, the letter's PDF as attached, and ``sent_at``,
the time the mail server accepted it (or the outbox folder got it); a posted letter's
courier delivery is recorded by a person (``huikuan letter delivered``). That acceptance is
the delivery record of an email (民法典 第137条: a data message reaches its addressee
when it enters the system the addressee named). A message never sent has no delivery
record and restarts no limitation period.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.ledger import ActionTaken, Approval, LetterDelivery, OutboxMessage
from models.limitation import DEMAND_EMAILS, DEMAND_LETTERS

# The outbox key of a customer document: the action's (or approval's) key and what it is.
_SUFFIXES = (":letter", ":email")
# The queue id in an SMTP server's acceptance: "250 2.0.0 Ok: queued as 4F1A2B" (Postfix), "250 OK id=1abc-2def" (Exim).
_QUEUE_ID = re.compile(r"(?:queued as|id=)\s*<?([A-Za-z0-9._@-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class SentDocument:
    """One email or letter sent (or queued) to the customer."""

    key: str  # the outbox key: the action's key and ``:letter`` or ``:email``
    kind: str  # the action that made it (follow_up, lawyer_letter, ...), or "" when unknown
    invoices: frozenset[str] | None  # the invoices it concerns; None: every invoice open then
    to_address: str
    subject: str
    queued_at: dt.datetime
    sent_at: dt.datetime | None  # accepted by the mail server: the delivery record
    body: bytes  # the letter's PDF, or the email's text, as sent
    file_name: str  # a name for the case file
    sha256: str
    courier: tuple[dt.date, str, str] | None = None  # a posted letter's delivery: (day, courier, tracking number)
    server_reply: str | None = None  # the SMTP server's acceptance at ``sent_at`` ("250 2.0.0 Ok: queued as 4F1A2B")

    @property
    def queue_id(self) -> str | None:
        """The mail server's id of the message in its queue, from its acceptance (``queued as 4F1A2B``), when it gave one."""
        found = _QUEUE_ID.search(self.server_reply or "")
        return found[1] if found else None

    def acceptance(self, zone: ZoneInfo) -> str:
        """The delivery record in words: when the mail server accepted it (in ``zone``) and its reply, or ``not sent``."""
        if self.sent_at is None:
            return "not sent"
        return self.sent_at.astimezone(zone).isoformat() + (f" ({self.server_reply})" if self.server_reply else "")

    @property
    def is_letter(self) -> bool:
        return self.key.endswith(":letter")

    @property
    def is_demand(self) -> bool:
        return self.kind in (DEMAND_LETTERS if self.is_letter else DEMAND_EMAILS)

    def delivered_on(self, zone: ZoneInfo) -> dt.date | None:
        """The company's calendar day the mail server accepted it; None when it was never sent."""
        return self.sent_at.astimezone(zone).date() if self.sent_at else None


def _split(ids: str) -> frozenset[str] | None:
    parts = frozenset(part for part in ids.split(";") if part)
    return parts or None


def sent_documents(session: Session, customer_id: str) -> Iterator[SentDocument]:
    """The customer's emails and letters in the order they were queued, each with what asked for it."""
    messages = session.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == customer_id).order_by(OutboxMessage.queued_at, OutboxMessage.id)).all()
    origins = {key.rsplit(":", 1)[0] for key in (m.key for m in messages) if key.endswith(_SUFFIXES)}
    asked: dict[str, tuple[str, frozenset[str] | None]] = {}
    if origins:
        for key, action, invoices in session.execute(select(ActionTaken.key, ActionTaken.action, ActionTaken.invoices).where(ActionTaken.key.in_(origins))):
            asked[key] = (action, _split(invoices))
        for key, action, invoices in session.execute(select(Approval.key, Approval.action, Approval.invoices).where(Approval.key.in_(origins))):
            asked.setdefault(key, (action, _split(invoices)))
    couriers = {
        row.document_key: (row.delivered_on, row.courier or "", row.tracking_no)
        for row in session.scalars(select(LetterDelivery).where(LetterDelivery.customer_id == customer_id))
    }
    for number, message in enumerate(messages, 1):
        if not message.key.endswith(_SUFFIXES):
            continue  # to the company's own people (approvals, escalations): not sent to the customer
        kind, invoices = asked.get(message.key.rsplit(":", 1)[0], ("", None))
        if message.attachment is not None:
            body, name = message.attachment, message.attachment_name or f"letter-{number}.pdf"
        else:
            body, name = _email_as_text(message).encode("utf-8"), f"email-{number:03d}-{kind or 'message'}.txt"
        yield SentDocument(
            key=message.key,
            kind=kind,
            invoices=invoices,
            to_address=message.to_address,
            subject=message.subject,
            queued_at=message.queued_at,
            sent_at=message.sent_at,
            body=body,
            file_name=name,
            sha256=hashlib.sha256(body).hexdigest(),
            courier=couriers.get(message.key),
            server_reply=message.server_reply,
        )


def _email_as_text(message: OutboxMessage) -> str:
    """An email as the customer got it: its headers and plain text."""
    sent = message.sent_at.isoformat() if message.sent_at else "not sent"
    accepted = f"Accepted: {message.server_reply}\n" if message.server_reply else ""  # the mail server's reply to DATA
    return f"Message-ID: <{message.key}>\nTo: {message.to_name} <{message.to_address}>\nSubject: {message.subject}\nSent: {sent}\n{accepted}\n{message.text}"
