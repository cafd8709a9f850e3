"""Taking the actions the policy says are due, exactly once each.

`take_action` records an action and everything it causes (queued emails, a new
statement, a status change, an approval request) in the caller's transaction,
keyed by the action's key: a retried task or a rerun flow finds the key and
does nothing more. Emails are only queued here; `huikuan.outbox.mail.dispatch`
delivers them. Decisions on approvals go through `decide`, which checks who
decides and the one-time code emailed to them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache

from sqlalchemy import Executable, Insert, Table, bindparam, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from huikuan.approvals.check import check_answer, code_hash, is_old_hash, new_code, note_refused, who
from huikuan.documents import i18n
from huikuan.documents.last_contact import restate
from huikuan.documents.pdf import letter_pdf
from huikuan.documents.render import LETTER_KINDS, DocumentContext, InvoiceLine, Party, format_date, format_money, render_email, render_letter
from huikuan.ledger import account_state
from huikuan.ledger.company import Company, Person
from huikuan.ledger.context import calendars_of
from huikuan.ledger.records import LedgerError, get_customer, open_amounts
from huikuan.legal.standing import letter_charges
from huikuan.outbox import bounces
from models.calendar import add_months
from models.engine import Action, CustomerFacts, PromiseFacts
from models.enums import STATEMENT_EMAILS, ActionState, ApprovalState, StatementState
from models.ledger import ActionTaken, Approval, Charge, ContactLog, Customer, EventTaken, Invoice, OutboxMessage, Promise, Statement
from models.money import ZERO
from models.texts import Reason, Term

CUSTOMER_EMAILS = {"reminder", "follow_up", "statement_follow_up", "send_invoice_info", "payment_notice"}
INTERNAL_ROLES = {"supervisor", "manager", "gm", "boss", "finance"}
PAY_WITHIN_DAYS = 7  # the calendar date a customer is asked to pay by: a week on, rolled to a working day
CONFIRM_BY_DAY = 20
WHOLE_BALANCE = {"statement_letter"}  # documents that list every open invoice, not only those of their action
# Documents our own people read: they restate the last contact with its result and the collector's note.
# Every other document is read by the customer and quotes only the day and channel of the last contact (and a promise).
INTERNAL_KINDS = {"escalation", "approval_request", "lock_lifted"}


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Outcome:
    key: str
    action: str
    customer_id: str
    taken: bool  # False: the key was already taken, nothing was done
    messages: int = 0
    approval_key: str | None = None
    held: str | None = None  # the customer's email or letter was not sent: its address bounces, the collector is told


@dataclass
class Known:
    """What a batch read once of its customers for ``as_of`` (``read_known``), for their documents to read nothing again.

    ``facts``: each customer's (``huikuan.ledger.facts``; the open invoices and amounts, the promises);
    ``customers``: the customers with their contacts, held here so that they stay in the batch's session
    (``get_customer`` finds them there); ``last_contacts``: each customer's last contact up to ``as_of``.
    The documents of another day, or of a customer not read, read the ledger as outside a batch.
    """

    as_of: dt.date
    facts: dict[str, CustomerFacts] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    last_contacts: dict[str, ContactLog] = field(default_factory=dict)

    def facts_on(self, customer_id: str, as_of: dt.date) -> CustomerFacts | None:
        return self.facts.get(customer_id) if as_of == self.as_of and customer_id in self.customers else None


def read_known(session: Session, facts: Iterable[CustomerFacts], as_of: dt.date) -> Known:
    """The batch's reads besides its facts: one query for the customers and their contacts, one for their last contacts."""
    known = Known(as_of, {f.customer_id: f for f in facts})
    ids = sorted(known.facts)
    if not ids:
        return known
    customers = session.scalars(select(Customer).where(Customer.customer_id.in_(ids)).options(joinedload(Customer.contacts))).unique()
    known.customers = {c.customer_id: c for c in customers}
    latest = (
        select(
            ContactLog.id,
            func.row_number().over(partition_by=ContactLog.customer_id, order_by=(ContactLog.contacted_on.desc(), ContactLog.id.desc())).label("n"),
        )
        .where(ContactLog.customer_id.in_(ids), ContactLog.contacted_on <= as_of)
        .subquery()
    )
    known.last_contacts = {c.customer_id: c for c in session.scalars(select(ContactLog).join(latest, latest.c.id == ContactLog.id).where(latest.c.n == 1))}
    return known


def take_action(session: Session, action: Action, *, company: Company, as_of: dt.date, known: Known | None = None, check_first: bool = True) -> Outcome:
    """Record ``action`` and carry out what it causes, unless its key is already taken.

    ``check_first``: look the key up first and skip a taken one. Without it (a batch's first try,
    ``huikuan.collection.batch.take_for_customer``) nothing is read first: the action's unique key
    rejects a taken one in the insert (``IntegrityError``, raised here, or in a pipelined batch by the
    commit or the next statement that waits: ``huikuan.ledger.db.pipelined_transactions``), which fails
    the customer's transaction; the batch tries it again checking first. ``known``: what the batch read once
    (``read_known``), so that its documents read nothing again.
    """
    if check_first and session.scalar(select(ActionTaken.id).where(ActionTaken.key == action.key)) is not None:
        return Outcome(action.key, action.action, action.customer_id, taken=False)
    customer = get_customer(session, action.customer_id)
    session.execute(
        _insert_action_statement(),
        {
            "key": action.key,
            "customer_id": customer.customer_id,
            "action": action.action,
            "due_on": action.on,
            "channel": action.channel,
            "role": action.role,
            "invoices": ";".join(action.invoices),
            "state": ActionState.done,
            "detail": "\n".join(action.reasons),
            "finished_at": now(),
        },
    )
    for event in action.events:  # an event-triggered step: once, whichever day's run takes it
        session.add(EventTaken(event_key=event, customer_id=customer.customer_id, action_key=action.key, taken_on=action.on))
    session.flush()  # the unique keys: a rerun or a concurrent run of the same day fails here (or, pipelined, at the commit) and rolls back
    if action.needs_approval:
        approval = Approval(
            key=f"approval:{action.key}",
            customer_id=customer.customer_id,
            action=action.action,
            approver_role=company.approver_role(action.action),
            requested_on=as_of,
            action_key=action.key,
            invoices=";".join(action.invoices),
            effect=action.effect.value if action.effect is not None else None,
        )
        session.add(approval)
        return Outcome(action.key, action.action, customer.customer_id, True, approval_key=approval.key)
    queued = 0
    if action.effect is not None and action.effect.value == "statement_prepared":
        for month in action.statements:
            record_statement(session, customer.customer_id, month, as_of)
    if action.action in CUSTOMER_EMAILS and "email" in action.channel:
        queued += queue_customer_email(
            session, customer, action.action, action.key, company, as_of, invoices=action.invoices, statements=action.statements, known=known
        )
    elif action.action in LETTER_KINDS:
        queued += queue_letter(session, customer, action.action, action.key, company, as_of, invoices=action.invoices, known=known)
    elif action.channel == "internal" and action.role in INTERNAL_ROLES:
        queued += queue_internal_notice(session, customer, action, company, as_of, known=known)
    if action.effect is not None:
        apply_status_effect(session, customer, action.effect.value, as_of, reason="; ".join(action.reasons), cause=action.key, invoices=action.invoices)
    return Outcome(action.key, action.action, customer.customer_id, True, messages=queued, held=_held(session, customer, action.key))


def insert_once(session: Session, table, values: dict) -> bool:
    """Insert the row ``values`` into ``table`` unless its ``key`` is taken; whether it was inserted (an outbox message: ``queue``).

    The unique constraint on ``key`` decides, not a read first. On SQLite and PostgreSQL a row
    that would repeat a key is left out by the database (``INSERT .. ON CONFLICT (key) DO NOTHING``),
    which keeps the transaction usable, as a savepoint would, in one statement; elsewhere the insert
    is tried in a savepoint and the constraint's refusal caught. A concurrent transaction inserting
    the same key makes this one wait for it (PostgreSQL's unique index, SQLite's write lock), then
    find the key taken if it committed.

    In a batch's pipelined transaction (``huikuan.ledger.db.pipelined_transactions``) the insert's
    answer is not waited for: its row count is not known yet, and the row is taken as inserted. The
    batch's keys are its actions' keys with a suffix, so they are new when the action is, and the
    action's own INSERT, refused, fails the transaction (``take_action``): when it commits, they were.
    """
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        return session.execute(_insert_once_statement(dialect, table), values).rowcount != 0  # -1: not known yet (see above)
    try:
        with session.begin_nested():
            session.execute(insert(table).values(values))
    except IntegrityError:
        return False
    return True


@lru_cache(maxsize=1)
def _insert_action_statement() -> Insert:
    """The INSERT of an action taken, built once and returning nothing (``inline``: no id read back), so that a pipelined
    transaction sends it without waiting (``huikuan.ledger.db.pipelined_transactions``); its key taken, it fails."""
    return insert(ActionTaken.__table__).inline()


@lru_cache(maxsize=16)
def _insert_once_statement(dialect: str, table: Table) -> Insert:
    """``insert_once``'s statement for ``table``, built once: the row's values go as parameters, not into a new statement a row.

    A statement built with ``.values(row)`` for every row made SQLAlchemy build it, walk it for its cache key and
    coerce each value, a tenth of taking a day's actions (issue #18). ``inline``: no new id is asked for, which
    on PostgreSQL was a RETURNING read back for every row; the rows inserted (1 or 0) are the statement's rowcount,
    which SQLAlchemy keeps for an INSERT only when told to (``preserve_rowcount``).
    """
    module = sqlite if dialect == "sqlite" else postgresql
    return module.insert(table).on_conflict_do_nothing(index_elements=["key"]).inline().execution_options(preserve_rowcount=True)


def _held(session: Session, customer: Customer, key: str) -> str | None:
    """What the flow says when the action's customer email or letter went to the collector instead (its address bounces)."""
    if not _may_bounce(customer):
        return None  # no contact's address is known to bounce: nothing went to the collector instead
    contact = customer.primary_contact
    for suffix in (":email", ":letter"):
        if already_queued(session, f"{key}{suffix}{bounces.NOTICE.rstrip(':')}"):
            since = bounces.bounced_on(session, customer.customer_id, contact.email if contact else None)
            return f"{key}: not emailed, {contact.email if contact else 'the address'} bounced on {since}; the collector is told"
    return None


def _may_bounce(customer: Customer) -> bool:
    """Some contact of ``customer`` has an address known to bounce (``bounces.bounced_on`` can only find one of these)."""
    return any(contact.email_bounced_on is not None for contact in customer.contacts)


def _bounced_on(session: Session, customer: Customer, address: str | None) -> dt.date | None:
    """``bounces.bounced_on``, without asking the ledger when no contact of the customer bounces (the usual case)."""
    return bounces.bounced_on(session, customer.customer_id, address) if _may_bounce(customer) else None


# -- documents -----------------------------------------------------------------


def party(person: Person) -> Party:
    return Party(person.name, person.title, person.email, person.phone)


def document_context(
    session: Session,
    customer: Customer,
    kind: str,
    company: Company,
    as_of: dt.date,
    *,
    invoices: tuple[str, ...] = (),
    locale: str | None = None,
    known: Known | None = None,
) -> DocumentContext:
    """What a document about ``customer`` says on ``as_of``: its open invoices, last contact, promise.

    ``locale``: the reader's; the customer's by default; for our own people the company's (``company.locale``),
    or an approver's own (``i18n.person_locale``). ``known``: the batch's reads (``read_known``), used when they
    are of ``as_of`` and this customer; else the ledger is read.
    """
    locale = locale or customer.locale.value
    facts = known.facts_on(customer.customer_id, as_of) if known is not None else None
    if facts is None:
        lines, last, promise = _read_account(session, customer, kind, as_of, invoices)
    else:
        lines, last, promise = _lines_of(facts, kind, as_of, invoices), known.last_contacts.get(customer.customer_id), _promise_of(facts, as_of)
    contact = customer.primary_contact
    cal = calendars_of(company).calendar(customer.country)
    return DocumentContext(
        kind=kind,
        locale=locale,
        today=as_of,
        company=company.name,
        company_address=company.address,
        customer_name=customer.name,
        addressee=Party(contact.name, contact.title, contact.email, contact.phone) if contact else Party(customer.name),
        sender=party(company.collector_for(customer.collector)),
        currency=customer.currency,
        invoices=lines,
        pay_by=cal.roll_forward(as_of + dt.timedelta(days=PAY_WITHIN_DAYS)),
        last_contact=restate(last, locale, internal=kind in INTERNAL_KINDS) if last else None,
        promise=_promised(promise, locale, customer.currency) if promise else None,
        charges=letter_charges(session, customer, company, as_of, [line.invoice_id for line in lines], facts) if kind in LETTER_KINDS else (),
    )


def _read_account(
    session: Session, customer: Customer, kind: str, as_of: dt.date, invoices: tuple[str, ...]
) -> tuple[tuple[InvoiceLine, ...], ContactLog | None, Promise | None]:
    """A document's lines, the last contact and the promise running on ``as_of``, read from the ledger (outside a batch)."""
    still_open = open_amounts(session, customer.customer_id, as_of)
    # A statement-confirmation letter (对账函) is the customer's acknowledgement of the whole balance: every open invoice,
    # whichever ones called for it; the other documents speak of the invoices of their action.
    wanted = list(still_open) if kind in WHOLE_BALANCE else [i for i in invoices if i in still_open] or list(still_open)
    lines = tuple(
        InvoiceLine(i.invoice_id, i.issued_on, i.due_on, i.amount, still_open[i.invoice_id], (as_of - i.due_on).days)
        for i in session.scalars(select(Invoice).where(Invoice.invoice_id.in_(wanted)).order_by(Invoice.due_on, Invoice.invoice_id))
    )
    last = session.scalar(
        select(ContactLog)
        .where(ContactLog.customer_id == customer.customer_id, ContactLog.contacted_on <= as_of)
        .order_by(ContactLog.contacted_on.desc(), ContactLog.id.desc())
        .limit(1)
    )
    promise = session.scalar(
        select(Promise)
        .where(Promise.customer_id == customer.customer_id, Promise.made_on <= as_of, Promise.due_on >= as_of)
        .order_by(Promise.made_on.desc())
        .limit(1)
    )
    return lines, last, promise


def _lines_of(facts: CustomerFacts, kind: str, as_of: dt.date, invoices: tuple[str, ...]) -> tuple[InvoiceLine, ...]:
    """``_read_account``'s lines from the batch's facts: the same invoices (issued by ``as_of``, open after the payments
    received by then), in the same order (the facts' invoices come by due date and id, as the database sorts them)."""
    still_open = {i.invoice_id: i.open_on(as_of) for i in facts.invoices if i.issued_on <= as_of}
    still_open = {invoice_id: amount for invoice_id, amount in still_open.items() if amount > 0}
    named = [i for i in invoices if i in still_open]
    wanted = set(still_open) if kind in WHOLE_BALANCE or not named else set(named)
    return tuple(
        InvoiceLine(i.invoice_id, i.issued_on, i.due_on, i.amount, still_open[i.invoice_id], (as_of - i.due_on).days)
        for i in facts.invoices
        if i.invoice_id in wanted
    )


def _promise_of(facts: CustomerFacts, as_of: dt.date) -> PromiseFacts | None:
    """The promise running on ``as_of`` from the facts: the latest made (of those made the same day, the first recorded)."""
    running = [p for p in facts.promises if p.made_on <= as_of <= p.due_on]  # the facts' promises come by day made, then as recorded
    latest = max((p.made_on for p in running), default=None)
    return next((p for p in running if p.made_on == latest), None)


def _promised(promise: Promise | PromiseFacts, locale: str, currency: str) -> str:
    amount, by = format_money(promise.amount, locale, currency), format_date(promise.due_on, locale)
    return f"{by}前支付 {amount}" if locale == "zh_CN" else f"{amount} by {by}"


def queue(
    session: Session, key: str, customer_id: str | None, to: Party, subject: str, text: str, html: str | None, attachment: tuple[str, bytes] | None = None
) -> int:
    """Queue one email keyed ``key``, once: 1 when queued now, 0 when the key is taken (or there is no address)."""
    if not to.email:
        return 0
    return int(
        insert_once(
            session,
            OutboxMessage.__table__,
            {
                "key": key,
                "customer_id": customer_id,
                "to_address": to.email,
                "to_name": to.name,
                "subject": subject,
                "text": text,
                "html": html,
                "attachment_name": attachment[0] if attachment else None,
                "attachment": attachment[1] if attachment else None,
            },
        )
    )


def queue_customer_email(
    session: Session,
    customer: Customer,
    kind: str,
    key: str,
    company: Company,
    as_of: dt.date,
    *,
    invoices: tuple[str, ...] = (),
    statements: tuple[str, ...] = (),
    known: Known | None = None,
) -> int:
    """A customer email of ``kind``; none when there is nothing to say (no statement waits, nothing is owed)."""
    if kind == "send_invoice_info" and not invoices:  # the statement's own invoices, not whatever else is open
        invoices = tuple(
            session.scalars(
                select(Invoice.invoice_id)
                .join(Statement, Invoice.statement_id == Statement.id)
                .where(Statement.customer_id == customer.customer_id, Statement.month.in_(statements or ("",)))
            )
        )
    context = document_context(session, customer, kind, company, as_of, invoices=invoices, known=known)
    extra: dict = {}
    if kind in STATEMENT_EMAILS:
        month = statements[0] if statements else _latest_unconfirmed_month(session, customer)
        if month is None:
            return 0  # nothing to send: no statement awaits confirmation
        context = _with_statement(session, context, customer, month)
        extra["confirm_by"] = _confirm_by(month, as_of)
        extra["statement_url"] = _statement_url(customer, month, company, as_of)
    if kind == "send_invoice_info":
        tracking = session.scalar(select(Statement.tracking_no).where(Statement.customer_id == customer.customer_id, Statement.month.in_(statements or ("",))))
        if not tracking:
            return 0  # finance has not recorded the tracking number: nothing to tell yet
        context = replace(context, tracking_no=tracking)
    if not context.invoices and kind not in STATEMENT_EMAILS:
        return 0  # the customer owes nothing any more (paid before the email was due): no email asks for money
    email = render_email(context, **extra)
    since = _bounced_on(session, customer, context.addressee.email)
    if since is not None:  # the address bounces: not mailed, the collector is told
        return bounces.tell_collector(
            session,
            customer,
            f"{key}:email",
            context.addressee.email or "",
            since,
            company,
            as_of,
            kind=kind,
            invoices=tuple(line.invoice_id for line in context.invoices),
            month=context.statement_month,
        )
    return queue(session, f"{key}:email", customer.customer_id, context.addressee, email.subject, email.text, email.html)


def _statement_url(customer: Customer, month: str, company: Company, as_of: dt.date) -> str:
    """The customer's statement page (``huikuan web``): confirm or dispute from the email's link."""
    from huikuan.web.tokens import base_url, default_expiry, statement_link  # not at the top: the tokens module imports this one

    expires_at = default_expiry(month, company.timezone, emailed_on=as_of)
    return statement_link(customer.customer_id, month, base_url(company), expires_at=expires_at)


def _about_statement(session: Session, approval: Approval, customer: Customer, context: DocumentContext) -> DocumentContext:
    """A statement review speaks of the statement waiting to be sent."""
    if approval.action != "send_statement":
        return context
    month = session.scalar(
        select(Statement.month).where(Statement.customer_id == customer.customer_id, Statement.sent_on.is_(None)).order_by(Statement.month.desc()).limit(1)
    )
    return _with_statement(session, context, customer, month) if month else context


def _latest_unconfirmed_month(session: Session, customer: Customer) -> str | None:
    return session.scalar(
        select(Statement.month).where(Statement.customer_id == customer.customer_id, Statement.confirmed_on.is_(None)).order_by(Statement.month.desc()).limit(1)
    )


def _with_statement(session: Session, context: DocumentContext, customer: Customer, month: str) -> DocumentContext:
    charges = session.scalars(select(Charge).where(Charge.customer_id == customer.customer_id).order_by(Charge.delivered_on, Charge.charge_id))
    lines = tuple((c.delivered_on, c.description or c.charge_id, c.amount) for c in charges if c.delivered_on.strftime("%Y-%m") == month)
    return replace(context, statement_month=month, statement_lines=lines)


def _confirm_by(month: str | None, as_of: dt.date) -> dt.date:
    if month is None:
        return as_of + dt.timedelta(days=7)
    year, mon = (int(p) for p in month.split("-"))
    deadline = dt.date(year + mon // 12, mon % 12 + 1, CONFIRM_BY_DAY)
    return deadline if deadline > as_of else as_of + dt.timedelta(days=7)


def queue_letter(
    session: Session, customer: Customer, kind: str, key: str, company: Company, as_of: dt.date, *, invoices: tuple[str, ...] = (), known: Known | None = None
) -> int:
    """A letter: rendered to a one-page PDF and emailed with it (the paper copy is posted from it); none when nothing is owed."""
    context = document_context(session, customer, kind, company, as_of, invoices=invoices, known=known)
    if not context.invoices:
        return 0  # paid in full since the letter was asked for: no demand for money
    letter = render_letter(context)
    pdf = letter_pdf(letter, context)
    attachment = (f"{kind}-{customer.customer_id}-{as_of}.pdf", pdf)
    since = _bounced_on(session, customer, context.addressee.email)
    if since is not None:  # the address bounces: kept as the letter of record (posted, `letter delivered`) but never emailed; the collector gets it to post
        queue(session, f"{key}:letter", customer.customer_id, context.addressee, letter.title, letter.text, None, attachment)
        bounces.hold(session, f"{key}:letter")
        return bounces.tell_collector(
            session,
            customer,
            f"{key}:letter",
            context.addressee.email or "",
            since,
            company,
            as_of,
            kind=kind,
            invoices=tuple(line.invoice_id for line in context.invoices),
            attachment=attachment,
        )
    return queue(session, f"{key}:letter", customer.customer_id, context.addressee, letter.title, letter.text, None, attachment)


def queue_internal_notice(session: Session, customer: Customer, action: Action, company: Company, as_of: dt.date, *, known: Known | None = None) -> int:
    """Escalations and notices to the supervisor, manager, GM or finance: one email each."""
    if action.action == "lift_lock":
        return tell_shipping(session, customer, action.key, company, as_of, locked_on=action_lock_day(action), invoices=action.invoices, reason=action.reasons)

    def context_in(locale: str) -> DocumentContext:
        context = document_context(session, customer, "escalation", company, as_of, invoices=action.invoices, locale=locale, known=known)
        if action.statements:
            return _with_statement(session, context, customer, action.statements[0])
        if not context.invoices and action.invoices:  # about debts now paid (the credit policy's resumption): list them, paid
            return replace(context, invoices=_paid_lines(session, action.invoices, as_of))
        return context

    contexts: dict[str, DocumentContext] = {}  # by the reader's locale (i18n.person_locale)
    queued = 0
    for person in company.with_role(action.role):
        locale = i18n.person_locale(company, person)
        if locale not in contexts:
            contexts[locale] = context_in(locale)
        context = contexts[locale]
        email = render_email(replace(context, addressee=party(person)), action=action.action, reason=i18n.render_all(action.reasons, locale), role=action.role)
        queued += queue(session, f"{action.key}:to:{person.id}", customer.customer_id, party(person), email.subject, email.text, email.html)
    return queued


def action_lock_day(action: Action) -> dt.date:
    """The lock day an action ``lift_lock`` answers (its event key ends with it)."""
    return dt.date.fromisoformat(action.events[0].rsplit(":", 1)[1]) if action.events else action.on


def _paid_lines(session: Session, invoices: tuple[str, ...], as_of: dt.date) -> tuple[InvoiceLine, ...]:
    """The named invoices as lines of a document, with what is still open on them (nothing, once paid)."""
    rows = list(session.scalars(select(Invoice).where(Invoice.invoice_id.in_(invoices)).order_by(Invoice.due_on, Invoice.invoice_id)))
    still_open = open_amounts(session, rows[0].customer_id, as_of) if rows else {}
    return tuple(InvoiceLine(i.invoice_id, i.issued_on, i.due_on, i.amount, still_open.get(i.invoice_id, ZERO), (as_of - i.due_on).days) for i in rows)


def tell_shipping(
    session: Session,
    customer: Customer,
    key: str,
    company: Company,
    as_of: dt.date,
    *,
    locked_on: dt.date,
    invoices: tuple[str, ...],
    reason: str | tuple[str, ...],
    by: Person | None = None,
) -> int:
    """The lock is lifted (its debts paid, or ``by`` a person): finance and the people who ship (role ``shipping``) are told, once each,
    each in their own locale (``i18n.person_locale``: theirs, else the company's)."""
    paid = _paid_lines(session, invoices, as_of)
    queued = 0
    for person in company.with_role("finance") + [p for p in company.with_role("shipping") if "finance" not in p.roles]:
        locale = i18n.person_locale(company, person)
        context = replace(document_context(session, customer, "lock_lifted", company, as_of, locale=locale), invoices=paid)
        said = i18n.render_all(reason if isinstance(reason, tuple) else (reason,), locale)
        who = (f"{by.name}（{by.title}）" if locale == "zh_CN" else f"{by.name} ({by.title})") if by and by.title else by.name if by else None
        email = render_email(replace(context, addressee=party(person)), locked_on=locked_on, reason=said, by=who)
        queued += queue(session, f"{key}:to:{person.id}", customer.customer_id, party(person), email.subject, email.text, email.html)
    return queued


# -- effects on the ledger -------------------------------------------------------


def apply_status_effect(
    session: Session, customer: Customer, effect: str, as_of: dt.date, *, reason: str, cause: str = "", invoices: tuple[str, ...] = ()
) -> None:
    """An action's effect on the account's facets (``huikuan.ledger.account_state``), recorded with its cause."""
    account_state.apply_effect(session, customer, effect, as_of, cause=cause or effect, reason=reason, invoices=invoices)


def prepare_statement(session: Session, customer: Customer, month: str, as_of: dt.date) -> Statement:
    """The month's statement from its charges, submitted to the supervisor (state prepared); the one already made, if any."""
    record_statement(session, customer.customer_id, month, as_of)
    return session.scalars(select(Statement).where(Statement.customer_id == customer.customer_id, Statement.month == month)).one()


def record_statement(session: Session, customer_id: str, month: str, as_of: dt.date) -> None:
    """Make the month's statement from its charges (state prepared) and attach them to it, unless it is made already.

    A statement already made is left as it is, and so are the month's charges recorded since
    (they wait for a correction). The database decides which, in the statement's unique
    constraint (customer, month), and sums the charges exactly (``Money``: cents on SQLite,
    NUMERIC on PostgreSQL). On PostgreSQL it is one statement that returns nothing, so a
    pipelined transaction (``huikuan.ledger.db.pipelined_transactions``) sends it without
    waiting: reading the statement, its charges and its new id first cost three round trips
    that waited, and an UPDATE a charge (issue #18). On SQLite, the insert and the charges'
    UPDATE when it took. Charge objects already in the session keep their old ``statement_id``.
    """
    first = dt.date(int(month[:4]), int(month[5:7]), 1)
    values = {"of_customer": customer_id, "of_month": month, "prepared": as_of, "month_first": first, "month_after": add_months(first, 1)}
    dialect = session.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        _record_statement_by_orm(session, customer_id, month, as_of)
        return
    made, attach = _record_statement_statements(dialect)
    result = session.execute(made, values)  # PostgreSQL: the whole of it, its result not waited for
    if attach is not None and (statement_id := result.scalar()) is not None:
        session.execute(attach, {**values, "new_statement_id": statement_id})


@lru_cache(maxsize=2)
def _record_statement_statements(dialect: str) -> tuple[Executable, Executable | None]:
    """``record_statement``'s statements for ``dialect``, built once (their values go as parameters): the statement's, the charges' (None: in the first).

    Both: an ``INSERT .. SELECT`` of the statement with the sum of its month's charges, left out when
    the customer has the month's statement (``ON CONFLICT DO NOTHING``). PostgreSQL: the charges'
    UPDATE from the inserted row (a data-modifying ``WITH``), which is no row when the insert was left
    out. SQLite (no DML in ``WITH``): the insert returns the new id, then the UPDATE.
    """
    statements, charges = Statement.__table__, Charge.__table__
    of_month = (
        charges.c.customer_id == bindparam("of_customer"),
        charges.c.delivered_on >= bindparam("month_first"),
        charges.c.delivered_on < bindparam("month_after"),
    )
    total = select(
        bindparam("of_customer", type_=statements.c.customer_id.type),
        bindparam("of_month", type_=statements.c.month.type),
        literal(StatementState.prepared, statements.c.state.type),
        func.coalesce(func.sum(charges.c.amount), 0),
        bindparam("prepared", type_=statements.c.prepared_on.type),
    ).where(*of_month)
    module = postgresql if dialect == "postgresql" else sqlite
    made = (
        module.insert(statements)
        .from_select(["customer_id", "month", "state", "amount", "prepared_on"], total, include_defaults=False)
        .on_conflict_do_nothing(index_elements=["customer_id", "month"])
        .returning(statements.c.id, statements.c.customer_id)
    )
    if dialect == "postgresql":
        new = made.cte("new_statement")
        return update(charges).values(statement_id=new.c.id).where(charges.c.customer_id == new.c.customer_id, *of_month), None
    return made, update(charges).values(statement_id=bindparam("new_statement_id")).where(*of_month)


def _record_statement_by_orm(session: Session, customer_id: str, month: str, as_of: dt.date) -> None:
    """``record_statement`` on a database other than SQLite and PostgreSQL: read first, then insert and attach."""
    if session.scalar(select(Statement.id).where(Statement.customer_id == customer_id, Statement.month == month)) is not None:
        return
    charges = [c for c in session.scalars(select(Charge).where(Charge.customer_id == customer_id)) if c.delivered_on.strftime("%Y-%m") == month]
    statement = Statement(customer_id=customer_id, month=month, amount=sum((c.amount for c in charges), ZERO), prepared_on=as_of)
    session.add(statement)
    session.flush()
    for charge in charges:
        charge.statement_id = statement.id


# -- approvals -------------------------------------------------------------------


def already_queued(session: Session, key: str) -> bool:
    """Some message keyed ``key:…`` is in the outbox (a round of codes is queued once, to every approver)."""
    return session.scalar(select(OutboxMessage.id).where(OutboxMessage.key.startswith(key + ":", autoescape=True)).limit(1)) is not None


def code_round_key(key: str, runs_ended: int, round_: int | str) -> str:
    """The outbox key of a round of codes: per round (0: the request, then the reminders) and per waiting run after the first."""
    return f"{key}:code:{round_}" if not runs_ended else f"{key}:run{runs_ended + 1}:code:{round_}"


def send_code(session: Session, approval: Approval, company: Company, as_of: dt.date, *, round_: int | str = 0, form_url: str = "") -> bool:
    """Email a fresh one-time code to the people who may decide, each in their language; once per round (0: the request)."""
    key = code_round_key(approval.key, approval.runs_ended, round_)
    if already_queued(session, key):
        return False
    code = new_code()
    approval.code_hash = code_hash(code, approval.key)
    approval.code_sent_on = as_of
    customer = get_customer(session, approval.customer_id)
    invoices = tuple(i for i in approval.invoices.split(";") if i)
    contexts: dict[str, DocumentContext] = {}  # by the approver's locale (i18n.person_locale)
    preview = ""
    if approval.action in LETTER_KINDS:
        preview = render_letter(document_context(session, customer, approval.action, company, as_of, invoices=invoices)).text
    from huikuan.web.tokens import approval_link  # not at the top: the tokens module imports this one

    for person in company.with_role(approval.approver_role):
        locale = i18n.person_locale(company, person)
        if locale not in contexts:
            contexts[locale] = _about_statement(
                session, approval, customer, document_context(session, customer, "approval_request", company, as_of, invoices=invoices, locale=locale)
            )
        email = render_email(
            replace(contexts[locale], addressee=party(person)),
            code=code,
            decision=approval.action,
            form_url=form_url,
            approver=party(person),
            preview_text=preview or None,
            web_url=approval_link(company, approval.key, person.id, code, as_of),
        )
        queue(session, f"{key}:{person.id}", customer.customer_id, party(person), email.subject, email.text, email.html)
    session.flush()
    return True


@dataclass(frozen=True)
class Decision:
    accepted: bool
    state: ApprovalState
    message: str


def decide(
    session: Session, approval_key: str, *, approver: str, code: str, approve: bool, comment: str | None, attempt: int, company: Company, as_of: dt.date
) -> Decision:
    """Accept or refuse one answer to an approval request; the same attempt always gets the same answer.

    A wrong code or an approver who may not decide this action is refused and
    logged (as an action ``approval_refused``); the request stays open. After
    ``REFUSALS_PER_HOUR`` refused answers from one approver in an hour, that
    approver's further answers are refused (and logged) without checking the
    code, with the time to try again: six digits cannot be guessed.
    """
    approval = session.scalar(select(Approval).where(Approval.key == approval_key))
    if approval is None:
        raise KeyError(f"no approval {approval_key}")
    # Each waiting run counts its answers from 1: the refusals of a later run have keys of their own.
    refusal_key = f"{approval_key}:refused:{attempt}" if not approval.runs_ended else f"{approval_key}:run{approval.runs_ended + 1}:refused:{attempt}"
    if session.scalar(select(ActionTaken.id).where(ActionTaken.key == refusal_key)) is not None:
        return Decision(False, approval.state, "this answer was refused before")
    if approval.state is not ApprovalState.requested:
        return Decision(True, approval.state, f"already {approval.state.value} by {approval.decided_by}")
    at = now()
    problem, blocked = check_answer(approval, approver=approver, code=code, company=company, at=at)
    if problem is not None:
        note_refused(approval, approver=approver, at=at, blocked=blocked)
        session.add(
            ActionTaken(
                key=refusal_key,
                customer_id=approval.customer_id,
                action="approval_refused",
                due_on=as_of,
                channel="system",
                role="system",
                invoices=approval.invoices,
                state=ActionState.done,
                detail=f"{approval.action}: answer of {who(approver)!r}: {problem}",
                finished_at=at,
            )
        )
        session.flush()
        return Decision(False, approval.state, problem)
    approval.state = ApprovalState.approved if approve else ApprovalState.denied
    approval.decided_at = now()
    approval.decided_by = approver
    approval.comment = comment
    approval.code_hash = None  # one time
    if approve:
        carry_out(session, approval, company, as_of)
    session.flush()
    return Decision(True, approval.state, f"{approval.state.value} by {approver}")


def carry_out(session: Session, approval: Approval, company: Company, as_of: dt.date) -> None:
    """What an approved request does: its effect on the account (a lock, a credit standing), the statement sent, the letter, the lock lifted."""
    customer = get_customer(session, approval.customer_id)
    invoices = tuple(i for i in approval.invoices.split(";") if i)
    key = approval.action_key or approval.key
    effect = approval.effect or ("lock" if approval.action == "stop_shipment" else None)
    if effect in account_state.ACCOUNT_EFFECTS:
        apply_status_effect(session, customer, effect, as_of, reason=f"approved by {approval.decided_by}", cause=approval.key, invoices=invoices)
    if approval.action == "lift_lock":
        locked_on = customer.locked_on or as_of
        if account_state.unlock(session, customer, as_of, cause=approval.key, reason=f"approved by {approval.decided_by}"):
            tell_shipping(
                session, customer, key, company, as_of, locked_on=locked_on, invoices=invoices, reason=Reason("lift_approved_by", person=approval.decided_by)
            )
    elif approval.action == "send_statement":
        months = [s.month for s in session.scalars(select(Statement).where(Statement.customer_id == customer.customer_id, Statement.sent_on.is_(None)))]
        for statement in session.scalars(select(Statement).where(Statement.customer_id == customer.customer_id, Statement.month.in_(months))):
            statement.reviewed_on = statement.reviewed_on or as_of
            statement.sent_on = as_of
            statement.state = StatementState.sent
            queue_customer_email(session, customer, "send_statement", f"{key}:{statement.month}", company, as_of, statements=(statement.month,))
            if session.scalar(
                select(OutboxMessage.id).where(OutboxMessage.key.startswith(f"{key}:{statement.month}:email{bounces.NOTICE}", autoescape=True)).limit(1)
            ):
                bounces.statement_unsent(statement, as_of)  # its address bounced: not sent, the collector was told; sent again once fixed
    elif approval.action in LETTER_KINDS:
        queue_letter(session, customer, approval.action, key, company, as_of, invoices=invoices)


def lift_lock_by(session: Session, customer_id: str, *, person: str, reason: str, company: Company, as_of: dt.date) -> str:
    """A person lifts a lock (``huikuan customers unlock``): only one who may decide ``lift_lock``; told like a paid lift.

    Raises:
        LedgerError: unknown customer, not locked, no reason, or a person who may not decide.
    """
    customer = get_customer(session, customer_id)
    if customer.locked_on is None:
        raise LedgerError(f"{customer_id} is not locked")
    if not reason.strip():
        raise LedgerError("lifting a lock needs a reason (--reason)")
    if not company.may_approve(person, "lift_lock"):
        raise LedgerError(f"{person!r} may not lift a lock (it is for the {company.approver_role('lift_lock')} in the company file)")
    locked_on, invoices = customer.locked_on, tuple(i for i in customer.lock_invoices.split(";") if i)
    cause = f"person:{person}"
    account_state.unlock(session, customer, as_of, cause=cause, reason=reason)
    tell_shipping(
        session,
        customer,
        f"{customer_id}:lift_lock:{as_of.isoformat()}:{person}",
        company,
        as_of,
        locked_on=locked_on,
        invoices=invoices,
        reason=Reason("lifted_by", person=person, note=reason),
        by=company.person(person),
    )
    return f"{customer_id} {customer.name}: the lock of {locked_on} is lifted by {person}; finance and shipping are told"


def open_approvals(session: Session) -> list[Approval]:
    return list(session.scalars(select(Approval).where(Approval.state == ApprovalState.requested).order_by(Approval.requested_on, Approval.id)))


def remind_or_expire(session: Session, company: Company, as_of: dt.date) -> list[str]:
    """Unanswered requests: re-sent (with a new code) and escalated after ``approval_reminder_days``;
    expired and escalated to the GM after ``approval_expiry_days``. Never silently dropped."""
    notes = []
    for approval in open_approvals(session):
        if approval.group_key and not approval.held:
            continue  # asked for in a list: the list is reminded (huikuan.approvals.groups)
        age = (as_of - approval.requested_on).days
        customer = get_customer(session, approval.customer_id)
        if age >= company.approval_expiry_days:
            approval.state = ApprovalState.expired
            approval.decided_at = now()
            notes.append(f"{approval.key} expired after {age} days")
            _escalate_unanswered(session, approval, customer, company, as_of, Reason("expired"), tag="expired")
        elif age >= company.approval_reminder_days * (approval.reminders + 1):
            approval.reminders += 1
            send_code(session, approval, company, as_of, round_=approval.reminders)
            _escalate_unanswered(
                session, approval, customer, company, as_of, Reason("reminder", count=approval.reminders), tag=f"reminder {approval.reminders}"
            )
            notes.append(f"{approval.key} re-sent ({approval.reminders})")
    session.flush()
    return notes


def _escalate_unanswered(
    session: Session, approval: Approval, customer: Customer, company: Company, as_of: dt.date, what: Reason, tag: str | None = None
) -> None:
    """The GM is told, in their locale (``i18n.person_locale``), that a request is unanswered (``what`` came of it); ``tag`` keys the email."""
    invoices = tuple(i for i in approval.invoices.split(";") if i)
    reason = Reason("unanswered", action=Term(approval.action), role=Term(approval.approver_role), requested_on=approval.requested_on, what=what)
    for person in company.with_role("gm"):
        locale = i18n.person_locale(company, person)
        context = _about_statement(
            session, approval, customer, document_context(session, customer, "escalation", company, as_of, invoices=invoices, locale=locale)
        )
        email = render_email(replace(context, addressee=party(person)), action=approval.action, reason=i18n.render(reason, locale), role="gm")
        queue(session, f"{approval.key}:unanswered:{tag or what}:{person.id}", customer.customer_id, party(person), email.subject, email.text, email.html)


def run_ended(session: Session, approval: Approval, company: Company, as_of: dt.date, *, run_id: str | None, why: str) -> bool:
    """The waiting run ``run_id`` of an open request ended without a decision (its answers ran out, it failed, crashed or was cancelled).

    The request is marked for a new run (the next daily run starts it, with a
    new code), its code dies with the run, and the GM is told, once per ended
    run. Nothing happens when the request is decided or the run is not its
    current one. Returns whether it was marked now.
    """
    if approval.state is not ApprovalState.requested or approval.run_ended_at is not None or (run_id and approval.flow_run_id != run_id):
        return False
    approval.runs_ended += 1
    approval.run_ended_at = now()
    approval.code_hash = None  # the code of the ended run is no longer valid
    customer = get_customer(session, approval.customer_id)
    _escalate_unanswered(
        session, approval, customer, company, as_of, Reason("run_ended", run=approval.flow_run_id or "", why=why), tag=f"run {approval.runs_ended} ended"
    )
    session.flush()
    return True


def renew_old_code(session: Session, approval: Approval, company: Company, as_of: dt.date) -> bool:
    """A code stored by an earlier version (plain SHA-256) matches no answer: a new code to the same waiting run, once."""
    if approval.state is not ApprovalState.requested or not is_old_hash(approval.code_hash):
        return False
    approval.code_hash = None
    return send_code(session, approval, company, as_of, round_="renewed")


def may_ship(session: Session, customer_id: str) -> tuple[bool, str]:
    """The warehouse's question before goods leave: (may ship, why), from every facet of the account."""
    answer = account_state.shipping_answer(get_customer(session, customer_id))
    return answer.may_ship, answer.why
