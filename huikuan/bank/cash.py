"""The ledger side of cash application: statement lines stored once, applied as payments, matched by finance.

A line is stored under its key (`line_key`) the first time a statement holding it
is imported; a later import of the same or an overlapping statement finds the key
and changes nothing. An applied line becomes payments recorded by
`huikuan.ledger.records.record_payment`, exactly as ``huikuan payment`` records them (the
same allocation, and so the same effect on promises, pauses, locks and the policy's
next steps); their ids come from the line's key, so they are recorded once too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huikuan.bank.matching import (
    Apply,
    Book,
    CustomerFacts,
    LineFacts,
    OpenInvoice,
    PlannedPayment,
    Suggestion,
    Wait,
    decide,
    normal_account,
    over_payment,
    plan_payments,
    suggest,
)
from huikuan.bank.matching import Promise as PromiseFacts
from huikuan.bank.statement_files import HeaderWords, StatementLine, read_statement
from huikuan.ledger import records
from models.enums import BankLineState
from models.ledger import Allocation, BankLine, BankLinePayment, Customer, Invoice, PayerAccount, Payment, Promise, Statement, UnappliedCredit
from models.money import ZERO

AUTO = "auto"  # decided_by of a line applied at import, by the rules of huikuan.bank.matching


def line_key(line: StatementLine, occurrence: int) -> str:
    """``tx:<transaction id>``, or a hash of the date, amount, payer, reference and ``occurrence`` (1 for the first such line of its statement)."""
    if line.transaction_id:
        return f"tx:{line.transaction_id}"
    content = "\x1f".join(
        [line.booked_on.isoformat(), f"{line.amount:.2f}", line.payer.strip(), line.payer_account.strip(), line.reference.strip(), str(occurrence)]
    )
    return "h:" + hashlib.sha256(content.encode("utf-8")).hexdigest()[:40]


def keyed(lines: Sequence[StatementLine]) -> list[tuple[str, StatementLine]]:
    """Each line with its key; identical lines of one statement are told apart by their position among themselves."""
    seen: Counter = Counter()
    result = []
    for line in lines:
        if line.transaction_id:
            result.append((line_key(line, 0), line))
            continue
        content = (line.booked_on, line.amount, line.payer.strip(), line.payer_account.strip(), line.reference.strip())
        seen[content] += 1
        result.append((line_key(line, seen[content]), line))
    return result


def line_ref(line: BankLine) -> str:
    """How a person names the line: its transaction id, else ``L<number>``."""
    return line.transaction_id or f"L{line.id}"


def facts_of(line: BankLine) -> LineFacts:
    return LineFacts(line.booked_on, line.amount, line.payer, line.payer_account, line.reference, line.currency)


# -- the book matching reads ----------------------------------------------------------------------


def load_book(session: Session, customer_ids: Iterable[str] | None = None) -> Book:
    """Customers, open invoices (with their statement month), closed invoice ids, known accounts, promises: one query each."""
    wanted = None if customer_ids is None else sorted(set(customer_ids))
    where_customer = (lambda column: column.in_(wanted)) if wanted is not None else (lambda column: True)
    customers = {
        c: CustomerFacts(c, name, currency)
        for c, name, currency in session.execute(select(Customer.customer_id, Customer.name, Customer.currency).where(where_customer(Customer.customer_id)))
    }
    paid = select(Allocation.invoice_id, func.sum(Allocation.amount).label("paid")).group_by(Allocation.invoice_id).subquery()
    query = (
        select(Invoice.customer_id, Invoice.invoice_id, Invoice.issued_on, Invoice.due_on, Invoice.amount, paid.c.paid, Statement.month)
        .outerjoin(paid, paid.c.invoice_id == Invoice.invoice_id)
        .outerjoin(Statement, Statement.id == Invoice.statement_id)
        .where(where_customer(Invoice.customer_id))
    )
    invoices: dict[str, list[OpenInvoice]] = defaultdict(list)
    closed: dict[str, str] = {}
    for customer_id, invoice_id, issued_on, due_on, amount, paid_amount, month in session.execute(query):
        still_open = amount - (paid_amount or ZERO)
        if still_open > 0:
            invoices[customer_id].append(OpenInvoice(invoice_id, due_on, still_open, month, issued_on))
        else:
            closed[invoice_id] = customer_id
    accounts: dict[str, set[str]] = defaultdict(set)
    for account, customer_id in session.execute(select(PayerAccount.account, PayerAccount.customer_id).where(where_customer(PayerAccount.customer_id))):
        accounts[normal_account(account)].add(customer_id)
    promises = [
        PromiseFacts(c, amount, made_on, due_on)
        for c, amount, made_on, due_on in session.execute(
            select(Promise.customer_id, Promise.amount, Promise.made_on, Promise.due_on).where(where_customer(Promise.customer_id))
        )
    ]
    return Book(customers, dict(invoices), dict(accounts), promises, closed)


# -- recording ----------------------------------------------------------------------------------


class _NotAsPlanned(Exception):
    """The ledger allocated a payment otherwise than matching planned: the line waits instead."""


def payment_ids(line: BankLine, count: int) -> list[str]:
    """The ids of the payments a line becomes: ``bank-<transaction id>`` (or a hash of its key), ``#1``, ``#2`` ... when several."""
    base = (
        f"bank-{line.transaction_id}"
        if line.transaction_id and len(line.transaction_id) <= 55
        else f"bank-{hashlib.sha256(line.key.encode()).hexdigest()[:16]}"
    )
    return [base] if count == 1 else [f"{base}#{n}" for n in range(1, count + 1)]


def _record(session: Session, line: BankLine, customer_id: str, payments: Sequence[PlannedPayment], expected: Sequence[str]) -> list[tuple[str, Decimal]]:
    """Record the line's payments as ``huikuan payment`` does; every allocation must fall on ``expected``."""
    applied: list[tuple[str, Decimal]] = []
    for payment_id, planned in zip(payment_ids(line, len(payments)), payments, strict=True):
        applied += records.record_payment(session, payment_id, customer_id, amount=planned.amount, received_on=line.booked_on, invoice_id=planned.invoice_id)
        session.add(BankLinePayment(line_id=line.id, payment_id=payment_id))
    if {invoice_id for invoice_id, _amount in applied} != set(expected):
        raise _NotAsPlanned(f"the ledger applied it to {', '.join(i for i, _a in applied)}, not {', '.join(expected)}")
    session.flush()
    return applied


def _apply(session: Session, line: BankLine, decision: Apply, *, on: dt.date, by: str) -> list[tuple[str, Decimal]] | str:
    """Record an applied line in a savepoint; a refusal of the ledger or an unexpected allocation leaves it waiting (the reason returned)."""
    try:
        with session.begin_nested():
            applied = _record(session, line, decision.customer_id, decision.payments, decision.invoices)
    except (_NotAsPlanned, records.LedgerError) as exc:
        return str(exc)
    line.state, line.customer_id, line.note = BankLineState.applied, decision.customer_id, decision.reason
    line.decided_by, line.decided_on = by, on
    return applied


def apply_certain(session: Session, lines: Sequence[BankLine], book: Book, *, on: dt.date) -> list[BankLine]:
    """Decide each waiting line oldest first, applying the certain ones; returns those applied."""
    applied_lines = []
    for line in sorted(lines, key=lambda l: (l.booked_on, l.id)):
        if line.state != BankLineState.waiting:
            continue
        decision = decide(facts_of(line), book)
        if isinstance(decision, Wait):
            line.note = decision.reason
            continue
        outcome = _apply(session, line, decision, on=on, by=AUTO)
        if isinstance(outcome, str):
            line.note = f"{decision.reason}, but {outcome}"
            continue
        book.paid(decision.customer_id, outcome)
        applied_lines.append(line)
    session.flush()
    return applied_lines


# -- import -------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    path: Path
    format: str
    incoming: int = 0  # money-in lines in the file
    outgoing: int = 0  # lines dropped: money out, reversals
    known: int = 0  # lines imported before (same key)
    new: int = 0
    applied: list[BankLine] = field(default_factory=list)  # applied by this import (new lines, or waiting ones now certain)
    waiting: int = 0  # lines waiting for finance after it, from any statement


def import_statement(
    session: Session,
    path: Path,
    *,
    fmt: str = "auto",
    words: HeaderWords | None = None,
    on: dt.date,
    track: Callable[[Iterable, str], Iterable] = lambda items, _d: items,
) -> ImportResult:
    """Read the statement, store its new lines, and apply every waiting line that is now certain.

    Raises:
        ImportFailed: the file has a problem; nothing was written.
    """
    statement = read_statement(Path(path), fmt, words)
    result = ImportResult(Path(path), statement.format, incoming=len(statement.lines), outgoing=statement.outgoing)
    pairs = keyed(statement.lines)
    existing: set[str] = set()
    keys = [k for k, _l in pairs]
    for start in range(0, len(keys), 5000):
        existing |= set(session.scalars(select(BankLine.key).where(BankLine.key.in_(keys[start : start + 5000]))))
    fresh = []
    for key, line in track(pairs, f"reading {Path(path).name}"):
        if key in existing:
            result.known += 1
            continue
        existing.add(key)
        fresh.append(
            BankLine(
                key=key,
                transaction_id=line.transaction_id,
                booked_on=line.booked_on,
                amount=line.amount,
                currency=line.currency or "CNY",
                payer=line.payer[:200],
                payer_account=normal_account(line.payer_account)[:64],
                reference=line.reference,
                source=f"{Path(path).name}:{line.row}"[:300],
                state=BankLineState.waiting,
                note="",
            )
        )
    session.add_all(fresh)
    session.flush()
    result.new = len(fresh)
    waiting = list(session.scalars(select(BankLine).where(BankLine.state == BankLineState.waiting)))
    if waiting:
        result.applied = apply_certain(session, waiting, load_book(session), on=on)
    result.waiting = session.scalar(select(func.count()).select_from(BankLine).where(BankLine.state == BankLineState.waiting)) or 0
    return result


# -- finance's decisions ----------------------------------------------------------------------------


def find_line(session: Session, ref: str) -> BankLine:
    """The line a person names: by transaction id, else ``L<number>`` as ``bank review`` shows it."""
    line = session.scalar(select(BankLine).where(BankLine.transaction_id == ref).order_by(BankLine.id))
    if line is None and ref[:1] in "Ll" and ref[1:].isdigit():
        line = session.get(BankLine, int(ref[1:]))
    if line is None:
        raise records.LedgerError(f"no bank line {ref}: `huikuan bank review` lists the waiting ones")
    return line


@dataclass
class MatchResult:
    line: BankLine
    applied: list[tuple[str, Decimal]]
    remembered: bool  # the payer's account is now known for the customer
    also_applied: list[BankLine]  # other waiting lines from that account, certain now
    credit: Decimal = ZERO  # what the line paid beyond the open invoices, kept as the customer's unapplied credit


def match_line(session: Session, ref: str, customer_id: str, *, invoices: Sequence[str] = (), on: dt.date, by: str) -> MatchResult:
    """Finance says who paid a waiting (or ignored) line, and perhaps which invoices: it is applied, and the payer's account remembered.

    Without invoices the amount goes to the oldest open invoices first, as ``huikuan payment`` does.
    What it pays beyond what is open (on the invoices named) is kept as the
    customer's unapplied credit (`UnappliedCredit`), shown in its balance.
    """
    line = find_line(session, ref)
    if line.state == BankLineState.applied:
        raise records.LedgerError(f"bank line {line_ref(line)} is already applied to {line.customer_id} ({line.note})")
    customer = records.get_customer(session, customer_id)
    for invoice_id in invoices:
        invoice = records.get_invoice(session, invoice_id)
        if invoice.customer_id != customer_id:
            raise records.LedgerError(f"invoice {invoice_id} belongs to customer {invoice.customer_id}, not {customer_id}")
    if line.currency and line.currency != customer.currency:
        raise records.LedgerError(f"bank line {line_ref(line)} is in {line.currency}, customer {customer_id} is billed in {customer.currency}")
    open_invoices = load_book(session, [customer_id]).open_invoices(customer_id)
    named = set(invoices) if invoices else None
    credit = over_payment(open_invoices, line.amount, named)  # paid beyond what is open (on the invoices named): kept as credit
    if credit < line.amount:
        planned = plan_payments(open_invoices, line.amount - credit, named)
    elif named:  # invoices named with nothing open on them: plan_payments says which
        planned = plan_payments(open_invoices, line.amount, named)
    else:  # the customer owes nothing: all of it is credit
        planned = (), ()
    if isinstance(planned, str):
        raise records.LedgerError(f"bank line {line_ref(line)} of {line.amount} cannot be applied to {customer_id}: {planned}")
    payments, paid = planned
    try:
        applied = _record(session, line, customer_id, payments, paid)
    except _NotAsPlanned as exc:
        raise records.LedgerError(f"bank line {line_ref(line)}: {exc}; name the invoices with --invoices") from None
    what = f"; invoices {';'.join(invoices)}" if invoices else ""
    kept = f"; {credit} kept as unapplied credit" if credit > 0 else ""
    if credit > 0:
        session.add(
            UnappliedCredit(
                key=f"line:{line.id}",
                customer_id=customer_id,
                amount=credit,
                line_id=line.id,
                recorded_on=on,
                recorded_by=by,
                note=f"bank line {line_ref(line)} of {line.amount} paid {line.amount - credit} on open invoices",
            )
        )
    line.state, line.customer_id, line.note = BankLineState.applied, customer_id, f"matched by {by}{what}{kept}"
    line.decided_by, line.decided_on = by, on
    remembered = remember_account(session, line, customer_id, on=on, by=by)
    also: list[BankLine] = []
    if remembered:
        others = list(session.scalars(select(BankLine).where(BankLine.state == BankLineState.waiting, BankLine.payer_account == line.payer_account)))
        if others:
            also = apply_certain(session, others, load_book(session), on=on)
    session.flush()
    return MatchResult(line, applied, remembered, also, credit)


def remember_account(session: Session, line: BankLine, customer_id: str, *, on: dt.date, by: str) -> bool:
    """Keep the line's payer account as one of the customer's; False when it has none or it is known already."""
    account = normal_account(line.payer_account)
    if not account or session.get(PayerAccount, (account, customer_id)) is not None:
        return False
    session.add(PayerAccount(account=account, customer_id=customer_id, payer=line.payer, remembered_on=on, remembered_by=by))
    session.flush()
    return True


def ignore_line(session: Session, ref: str, *, reason: str, on: dt.date, by: str) -> BankLine:
    """Finance says a waiting line is no customer's payment (a refund, interest, a transfer between own accounts)."""
    line = find_line(session, ref)
    if line.state == BankLineState.applied:
        raise records.LedgerError(f"bank line {line_ref(line)} is applied to {line.customer_id}; it cannot be ignored")
    if not reason.strip():
        raise records.LedgerError("say why the line is no customer's payment (--reason)")
    line.state, line.note, line.decided_by, line.decided_on = BankLineState.ignored, reason.strip(), by, on
    session.flush()
    return line


@dataclass(frozen=True)
class WaitingLine:
    line: BankLine
    suggestions: list[Suggestion]


def waiting_lines(session: Session, *, limit: int | None = None) -> list[WaitingLine]:
    """The lines waiting for finance, oldest first, each with its ranked suggestions."""
    query = select(BankLine).where(BankLine.state == BankLineState.waiting).order_by(BankLine.booked_on, BankLine.id)
    lines = list(session.scalars(query.limit(limit) if limit else query))
    if not lines:
        return []
    book = load_book(session)
    return [WaitingLine(line, suggest(facts_of(line), book)) for line in lines]


def count_waiting(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(BankLine).where(BankLine.state == BankLineState.waiting)) or 0


def payments_of(session: Session, line: BankLine) -> list[Payment]:
    return list(
        session.scalars(select(Payment).join(BankLinePayment, BankLinePayment.payment_id == Payment.payment_id).where(BankLinePayment.line_id == line.id))
    )


# -- unapplied credit ---------------------------------------------------------------------------------


@dataclass
class CreditApplied:
    customer_id: str
    applied: list[tuple[str, Decimal]]  # (invoice, amount) paid from the credit
    used: Decimal
    left: Decimal  # the credit still unapplied


def apply_credit(session: Session, customer_id: str, *, invoices: Sequence[str] = (), on: dt.date, by: str) -> CreditApplied:
    """Finance applies a customer's unapplied credit to its open invoices (the ones named, else oldest first), as far as it goes.

    Each part is a payment of the customer received ``on`` (``credit-<customer>-<n>``),
    recorded by `huikuan.ledger.records.record_payment` like any other, and the credit is
    that much less. Nothing is auto-allocated: only this, when finance says so.
    """
    records.get_customer(session, customer_id)
    for invoice_id in invoices:
        invoice = records.get_invoice(session, invoice_id)
        if invoice.customer_id != customer_id:
            raise records.LedgerError(f"invoice {invoice_id} belongs to customer {invoice.customer_id}, not {customer_id}")
    credit = records.unapplied_credit(session, customer_id)
    if credit <= 0:
        raise records.LedgerError(f"customer {customer_id} has no unapplied credit")
    open_invoices = load_book(session, [customer_id]).open_invoices(customer_id)
    named = set(invoices) if invoices else None
    owed = sum((i.open for i in open_invoices if named is None or i.invoice_id in named), ZERO)
    amount = min(credit, owed) if owed > 0 else credit  # nothing open: plan_payments says why it cannot be applied
    planned = plan_payments(open_invoices, amount, named)
    if isinstance(planned, str):
        raise records.LedgerError(f"the unapplied credit of {customer_id} ({credit}) cannot be applied: {planned}")
    payments, _paid = planned
    used_before = (
        session.scalar(select(func.count()).select_from(UnappliedCredit).where(UnappliedCredit.customer_id == customer_id, UnappliedCredit.amount < 0)) or 0
    )
    base = f"credit-{customer_id}" if len(customer_id) <= 40 else f"credit-{hashlib.sha256(customer_id.encode()).hexdigest()[:16]}"
    applied: list[tuple[str, Decimal]] = []
    for number, payment in enumerate(payments, used_before + 1):
        payment_id = f"{base}-{number}"
        parts = records.record_payment(session, payment_id, customer_id, amount=payment.amount, received_on=on, invoice_id=payment.invoice_id)
        applied += parts
        session.add(
            UnappliedCredit(
                key=f"used:{payment_id}",
                customer_id=customer_id,
                amount=-payment.amount,
                payment_id=payment_id,
                recorded_on=on,
                recorded_by=by,
                note="applied to " + ", ".join(f"{i} {a}" for i, a in parts),
            )
        )
    session.flush()
    return CreditApplied(customer_id, applied, amount, credit - amount)
