"""Email addresses known to bounce: never mailed again; the collector is told instead (issue #13.3).

A contact's address is marked bounced (``Contact.email_bounced_on``) by a person
(``huikuan contact bounced CUSTOMER EMAIL``) or when the mail server refuses the
recipient for good (a 5xx reply to RCPT, :func:`permanent_refusal`, in ``huikuan.outbox.mail.dispatch``).
From then on:

- a customer email that would go to it is not queued; the customer's collector
  gets one internal email instead, keyed by the message it replaces
  (``<action key>:email:bounced:<person>``). A letter is kept as the letter of
  record (``<action key>:letter``, held: never emailed; posted, its delivery is
  recorded with ``huikuan letter delivered``) and sent to the collector, attached, to post;
- a message already queued to it is not sent (``OutboxMessage.bounced_at``) and
  the collector is told the same way, once.

A statement whose email did not go (its address known to bounce when it was approved, or
the server refusing it afterwards) was not sent: it goes back to ``reviewed`` (:func:`statement_unsent`).

A new address for the contact (the customers file imported again with another
email) clears the mark (``huikuan.ledger.importer``); a statement left unsent by
the bounce is then sent again, once (:func:`readdressed`, the engine's ``Evaluator.readdressed_on``).
"""

from __future__ import annotations

import datetime as dt
import re
import smtplib
from dataclasses import replace

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from huikuan.ledger.company import Company
from huikuan.ledger.records import LedgerError, get_customer
from models.enums import STATEMENT_EMAILS, StatementState
from models.ledger import ActionTaken, Approval, Contact, Customer, OutboxMessage, Statement

NOTICE = ":bounced:"  # a collector's notice's key: the replaced message's key, this, the person's id


def _same(address: str) -> str:
    return address.strip().lower()


def bounced_on(session: Session, customer_id: str, address: str | None) -> dt.date | None:
    """The day ``address`` of one of the customer's contacts was known to bounce; None when it is not known to."""
    if not address:
        return None
    return session.scalar(
        select(func.min(Contact.email_bounced_on)).where(
            Contact.customer_id == customer_id, func.lower(Contact.email) == _same(address), Contact.email_bounced_on.is_not(None)
        )
    )


def readdressed(session: Session, customer_id: str, on: dt.date) -> None:
    """The customer's address was fixed on ``on``: its statements left unsent by a bounce are to be sent again (``Statement.readdressed_on``)."""
    session.execute(
        update(Statement).where(Statement.customer_id == customer_id, Statement.bounced_on.is_not(None), Statement.sent_on.is_(None)).values(readdressed_on=on)
    )


def statement_unsent(statement: Statement, on: dt.date, *, fixed: bool = False) -> None:
    """``statement``'s email did not go on ``on`` (its address bounces): it was not sent, it is ``reviewed`` again.

    It is sent again once the address is fixed (``readdressed``, the engine's ``readdressed_on``); ``fixed``: the
    address was already changed when the email was refused, so it is sent again from ``on``.
    """
    statement.sent_on, statement.state = None, StatementState.reviewed
    statement.bounced_on, statement.readdressed_on = on, (on if fixed else None)


_STATEMENT_EMAIL = re.compile(r"(?P<action_key>.+):(?P<month>\d{4}-\d{2}):email")  # ``carry_out``'s key of an approved statement's email


def _statement_email_month(message_key: str) -> str | None:
    """The month of an approved statement's email, from its key (``_STATEMENT_EMAIL``); None for any other message."""
    found = _STATEMENT_EMAIL.fullmatch(message_key)
    return found["month"] if found else None


def _refused_statement(session: Session, row: OutboxMessage, customer: Customer, as_of: dt.date, *, still_theirs: bool) -> None:
    """The server refused an approved statement's email (``<send_statement key>:<month>:email``): the statement was not sent.

    Unless the customer confirmed it since (by another way than this email). ``still_theirs``: the address is still one
    of the customer's contacts' (else it was fixed meanwhile, and the statement goes again at once).
    """
    found = _STATEMENT_EMAIL.fullmatch(row.key)
    if found is None:
        return
    action_key, month = found["action_key"], found["month"]
    asked = select(Approval.id).where(Approval.action == "send_statement", or_(Approval.action_key == action_key, Approval.key == action_key))
    if session.scalar(asked.limit(1)) is None:
        return
    statement = session.scalar(select(Statement).where(Statement.customer_id == customer.customer_id, Statement.month == month))
    if statement is None or statement.sent_on is None or statement.confirmed_on is not None:
        return
    statement_unsent(statement, as_of, fixed=not still_theirs)


def _bounces_again(session: Session, customer_id: str) -> None:
    """An address of the customer bounces (again): a fix not yet acted on is void; nothing is sent again until the next fix."""
    session.execute(update(Statement).where(Statement.customer_id == customer_id, Statement.readdressed_on.is_not(None)).values(readdressed_on=None))


def mark_bounced(session: Session, customer_id: str, address: str, *, on: dt.date, company: Company | None, as_of: dt.date) -> tuple[int, int]:
    """Mark the customer's contacts with ``address`` bounced since ``on`` (kept when already marked); hold what is queued to it.

    Returns (contacts marked now, queued messages held). The collector is told of each held
    message when there is a company file.

    Raises:
        LedgerError: unknown customer, no contact with that address, a day after ``as_of``.
    """
    customer = get_customer(session, customer_id)
    if on > as_of:
        raise LedgerError(f"--on: {on} is after today ({as_of})")
    contacts = [c for c in customer.contacts if _same(c.email or "") == _same(address)]
    if not contacts:
        known = ", ".join(c.email for c in customer.contacts if c.email) or "none"
        raise LedgerError(f"{customer_id} has no contact with the email {address.strip()!r} (its contacts' emails: {known})")
    marked = 0
    for contact in contacts:
        if contact.email_bounced_on is None:
            contact.email_bounced_on = on
            marked += 1
    if marked:
        _bounces_again(session, customer_id)
    session.flush()
    return marked, hold_queued(session, customer, address, company, as_of)


def hold_queued(session: Session, customer: Customer, address: str, company: Company | None, as_of: dt.date) -> int:
    """The customer's messages queued to ``address`` and not sent: never sent (``bounced_at``); the collector told of each."""
    rows = list(
        session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.customer_id == customer.customer_id,
                func.lower(OutboxMessage.to_address) == _same(address),
                OutboxMessage.sent_at.is_(None),
                OutboxMessage.bounced_at.is_(None),
            )
            .order_by(OutboxMessage.id)
        )
    )
    since = bounced_on(session, customer.customer_id, address) or as_of
    for row in rows:
        row.bounced_at = dt.datetime.now(dt.UTC)
        if company is not None:
            tell_collector(
                session,
                customer,
                row.key,
                address,
                since,
                company,
                as_of,
                attachment=(row.attachment_name or "letter.pdf", row.attachment) if row.attachment is not None else None,
            )
    session.flush()
    return len(rows)


def hold(session: Session, message_key: str) -> None:
    """The message ``message_key`` is never sent (its address bounces); a letter's stays the letter of record, to post."""
    session.flush()
    row = session.scalar(select(OutboxMessage).where(OutboxMessage.key == message_key))
    if row is not None and row.sent_at is None and row.bounced_at is None:
        row.bounced_at = dt.datetime.now(dt.UTC)


def permanent_refusal(error: BaseException) -> str | None:
    """The server's words when it refused every recipient for good (5xx to RCPT), else None (a failure to retry)."""
    if not isinstance(error, smtplib.SMTPRecipientsRefused) or not error.recipients:
        return None
    replies = list(error.recipients.values())
    if not all(code >= 500 for code, _ in replies):
        return None
    return "; ".join(" ".join(f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}".split()) for code, text in replies)[:300]


def refused(session: Session, row: OutboxMessage, company: Company, as_of: dt.date, reply: str) -> None:
    """The server refused ``row``'s recipient for good: the message is never retried, the address marked bounced, the collector told.

    A statement's email refused so leaves the statement unsent (``statement_unsent``), as a bounce known at its approval does.
    """
    row.bounced_at = dt.datetime.now(dt.UTC)
    row.last_error = f"recipient refused: {reply}"
    if not row.customer_id:
        return
    customer = get_customer(session, row.customer_id)
    marked = [c for c in customer.contacts if _same(c.email or "") == _same(row.to_address) and c.email_bounced_on is None]
    for contact in marked:
        contact.email_bounced_on = as_of
    if marked:
        _bounces_again(session, customer.customer_id)
    customers_address = any(_same(c.email or "") == _same(row.to_address) for c in customer.contacts)  # not one of our people's
    _refused_statement(session, row, customer, as_of, still_theirs=customers_address)
    session.flush()
    if customers_address:
        tell_collector(
            session,
            customer,
            row.key,
            row.to_address,
            as_of,
            company,
            as_of,
            attachment=(row.attachment_name or "letter.pdf", row.attachment) if row.attachment is not None else None,
        )


def _kind_and_invoices(session: Session, message_key: str) -> tuple[str, tuple[str, ...]]:
    """The action of a customer message (its key is the action's key and ``:email`` or ``:letter``) and the action's invoices."""
    action_key = message_key.rsplit(":", 1)[0]
    taken = session.scalar(select(ActionTaken).where(ActionTaken.key == action_key))
    if taken is not None:
        return taken.action, tuple(i for i in taken.invoices.split(";") if i)
    parts = message_key.split(":")
    return (parts[1] if len(parts) > 2 else "email"), ()


def tell_collector(
    session: Session,
    customer: Customer,
    message_key: str,
    address: str,
    since: dt.date,
    company: Company,
    as_of: dt.date,
    *,
    kind: str | None = None,
    invoices: tuple[str, ...] | None = None,
    month: str | None = None,
    attachment: tuple[str, bytes] | None = None,
) -> int:
    """One internal email to the customer's collector: the message ``message_key`` did not go to ``address``, which bounced.

    In the collector's language, with the account's case (a letter attached, to post it); once per message. Returns the emails queued.
    """
    from huikuan.collection import execution
    from huikuan.documents import i18n
    from huikuan.documents.render import render_email
    from models.texts import Reason, Term

    if kind is None or invoices is None:
        found_kind, found_invoices = _kind_and_invoices(session, message_key)
        kind, invoices = kind or found_kind, found_invoices if invoices is None else invoices
    person = company.collector_for(customer.collector)
    locale = i18n.person_locale(company, person)
    context = execution.document_context(session, customer, "escalation", company, as_of, invoices=invoices, locale=locale)
    statement = kind in STATEMENT_EMAILS
    month = (
        month or _statement_email_month(message_key) or (None if context.invoices and not statement else execution._latest_unconfirmed_month(session, customer))
    )
    if month is not None:
        context = execution._with_statement(session, context, customer, month)
    if not context.invoices and not context.statement_lines:
        return 0  # nothing is owed and no statement waits: nothing to follow up
    if statement and month is not None:  # which month's statement the customer did not get
        why = Reason("statement_email_bounced", address=address, since=since, month=month, action=Term(kind))
    else:
        why = Reason("email_bounced", address=address, since=since, action=Term(kind))
    reason = i18n.render(why, locale)
    # Written as from the supervisor who sees to the collectors, when there is one: not from the collector to herself.
    writer = next((p for p in company.with_role("supervisor") if p.id != person.id), None)
    context = replace(context, addressee=execution.party(person), sender=execution.party(writer) if writer else context.sender)
    email = render_email(context, action=kind, reason=reason, role="collector")
    return execution.queue(
        session, f"{message_key}{NOTICE}{person.id}", customer.customer_id, execution.party(person), email.subject, email.text, email.html, attachment
    )
