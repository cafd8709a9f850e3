"""Recording that a posted letter reached the customer: the courier's tracking number and the day (送达凭证).

``huikuan letter delivered KEY --tracking-no N`` (KEY: the letter's action key as
``plan`` and the case file show it, or its outbox key ending in ``:letter``).
Recording the same delivery again changes nothing; a different one for the same
letter is refused (correct it in the database, with its history, not by typing over it).
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.ledger.records import LedgerError
from huikuan.ledger.settings import get_settings
from models.ledger import ActionTaken, LetterDelivery, OutboxMessage

_TRACKING = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{3,49}")
_COURIER = re.compile(r"[\w .()（）-]{1,50}")


def record_letter_delivery(
    session: Session, key: str, *, tracking_no: str, delivered_on: dt.date, today: dt.date, courier: str | None = None, by: str | None = None
) -> tuple[LetterDelivery, bool]:
    """Record the courier's delivery of the letter ``key``; (the record, whether it is new).

    Raises:
        LedgerError: no such letter, a tracking number or courier name that is not one,
            a day before the letter was made or after ``today``, or another delivery already recorded.
    """
    tracking_no = tracking_no.strip()
    if not _TRACKING.fullmatch(tracking_no):
        raise LedgerError(f"--tracking-no: {tracking_no!r} is not a tracking number (4-50 letters, digits and -)")
    if courier is not None and not _COURIER.fullmatch(courier := courier.strip()):
        raise LedgerError(f"--courier: {courier!r} is not a courier's name (up to 50 letters, digits, spaces)")
    document_key = key if key.endswith(":letter") else f"{key}:letter"
    letter = session.scalar(select(OutboxMessage).where(OutboxMessage.key == document_key))
    if letter is None or letter.attachment is None:
        raise LedgerError(f"no letter {key}: give the letter's key as `huikuan case` lists it (documents.csv) or as plan showed the action")
    # The letter's own date (its action's day: a replayed or caught-up day is older than the clock), else when it was queued.
    made_on = (
        session.scalar(select(ActionTaken.due_on).where(ActionTaken.key == document_key.removesuffix(":letter")))
        or letter.queued_at.astimezone(get_settings().tz).date()
    )
    if delivered_on < made_on or delivered_on > today:
        raise LedgerError(f"--on: {delivered_on} is not between the day the letter was made ({made_on}) and today ({today})")
    existing = session.scalar(select(LetterDelivery).where(LetterDelivery.document_key == document_key))
    if existing is not None:
        if (existing.tracking_no, existing.delivered_on) == (tracking_no, delivered_on):
            return existing, False
        raise LedgerError(f"letter {key} was already recorded delivered on {existing.delivered_on} with tracking number {existing.tracking_no}")
    delivery = LetterDelivery(
        document_key=document_key, customer_id=letter.customer_id, delivered_on=delivered_on, courier=courier, tracking_no=tracking_no, recorded_by=by
    )
    session.add(delivery)
    session.flush()
    return delivery, True
