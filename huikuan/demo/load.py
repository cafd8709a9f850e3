"""Load the demo portfolio: generate import files, import them, replay the events.

The demo goes through the real importer (so it shows what a company's own files
would do) and records its promises, disputes and contacts through the same
functions as the CLI. The statements of the months delivered but not invoiced
yet are where the statement cycle would have brought them by the demo's day
(prepared by the 5th, reviewed and sent by the 8th of the next month, moved off
days off as the policy moves them).

``demo_examples`` gives the commands to try on a loaded demo, with its own
customers, invoices and dates: ``huikuan start`` and ``huikuan demo`` print them,
the README shows them for a demo as of ``README_DAY``, and
``tests/test_readme_examples.py`` runs the README's.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huikuan.demo.bank_statement import SampleLine, full_width, sample_statement, write_bank_csv
from huikuan.demo.data import _REGIONS, _SUFFIXES, DemoFiles, generate_demo
from huikuan.ledger.importer import ImportSummary, Track, import_files, no_tracking
from huikuan.ledger.records import log_contact, open_dispute, record_promise, resolve_dispute, uscc_check_character
from models.calendar import CalendarBook
from models.enums import Settlement, StatementState
from models.ledger import Charge, Customer, Dispute, InstalmentPlan, Promise, Statement

#: The day of the README's examples (``huikuan demo --as-of README_DAY`` prints them).
README_DAY = dt.date(2026, 11, 12)


#: The demo's bank statement, in the demo's folder: `huikuan bank import` it to see cash application and the review list.
BANK_STATEMENT_FILE = "bank_statement.csv"
BANK_STATEMENT_DAYS = 14  # the statement covers the days before the demo's day


@dataclass
class DemoLoad:
    files: DemoFiles
    summary: ImportSummary
    events: int
    statements: int = 0  # statements the cycle had prepared (and sent) by the demo's day
    bank_statement: Path | None = None  # the bank's statement written for the user to import (not applied)
    bank_lines: list[SampleLine] = field(default_factory=list)  # its lines, each saying who really paid it


def ledger_is_empty(session: Session) -> bool:
    return session.scalar(select(func.count()).select_from(Customer)) == 0


def load_demo(
    session: Session, out_dir: Path, *, customers: int, as_of: dt.date, seed: int = 2026, track: Track = no_tracking, calendars: CalendarBook | None = None
) -> DemoLoad:
    """Generate a demo portfolio of ``customers`` as of ``as_of`` and load it into an empty ledger.

    ``calendars``: the working days the statement cycle kept (default: the company file's, as every run's).
    """
    if not ledger_is_empty(session):
        raise ValueError("the ledger already has customers; the demo loads only into an empty ledger")
    files = generate_demo(out_dir, customers=customers, as_of=as_of, seed=seed)
    summary = import_files(
        session, {"customers": files.customers, "invoices": files.invoices, "payments": files.payments, "charges": files.charges}, track=track
    )
    lines = files.events.read_text(encoding="utf-8").splitlines()
    for line in track(lines, "recording promises, disputes, contacts"):
        replay_event(session, json.loads(line))
    if calendars is None:
        from huikuan.ledger.context import calendars_of

        calendars = calendars_of(None)
    statements = replay_statement_cycle(session, as_of, calendars)
    bank_lines = demo_bank_lines(session, as_of, seed=seed)
    bank_statement = write_bank_csv(bank_lines, Path(out_dir) / BANK_STATEMENT_FILE, company="演示回款有限公司")
    return DemoLoad(files, summary, len(lines), statements, bank_statement, bank_lines)


def demo_bank_lines(session: Session, as_of: dt.date, *, seed: int = 2026, share: float = 0.35) -> list[SampleLine]:
    """The bank's statement of the ``BANK_STATEMENT_DAYS`` before ``as_of``: about ``share`` of the customers billed in yuan pay.

    Each pays its (at most three) oldest invoices open and issued before the
    statement's first day (those with Latin names always pay), as customers do
    (`huikuan.demo.bank_statement.sample_statement`): one invoice by name (the name as the
    bank prints it: `demo_payer_variant`), one from a person's account naming the
    invoice, two invoices in one transfer, a part; a few strangers' transfers and
    payments out are mixed in. Nothing is recorded: the user imports the file.
    The same ledger and seed give the same lines.
    """
    from huikuan.bank.cash import load_book

    start = as_of - dt.timedelta(days=BANK_STATEMENT_DAYS)
    book = load_book(session)
    rng = random.Random(f"bank-{seed}")
    names: dict[str, str] = {}
    paying: dict[str, list[tuple[str, dt.date, Decimal]]] = {}
    for customer_id in sorted(book.customers):
        customer = book.customers[customer_id]
        invoices = [(i.invoice_id, i.due_on, i.open) for i in book.open_invoices(customer_id) if i.issued_on <= start][:3]
        # Customers with Latin names billed in yuan (a foreign company's Chinese subsidiary) always pay: their names vary most.
        if (rng.random() < share or customer.name.isascii()) and customer.currency == "CNY" and invoices:
            names[customer_id], paying[customer_id] = customer.name, invoices
    return sample_statement(
        names, paying, start=start, days=BANK_STATEMENT_DAYS, seed=rng.randrange(2**31), strangers=0.08, outgoing=0.1, variant=demo_payer_variant
    )


_DEMO_REGIONS = tuple(sorted((region for region, _pinyin in _REGIONS), key=len, reverse=True))
_DEMO_SUFFIXES = tuple(sorted(_SUFFIXES.items, key=len, reverse=True))


def demo_payer_variant(name: str, rng: random.Random) -> str:
    """A demo customer's name as a bank prints it.

    Latin names: as registered, upper-case or in full-width letters. Chinese names
    (no brackets or letters in the demo): as registered, spaced (half-width or
    full-width), or with the city moved into half-width brackets after the trade
    name (海天汽配(重庆)有限公司: not the registered name, so the line waits for a
    person, who sees the customer suggested).
    """
    kind = rng.random()
    if name.isascii():
        if kind < 0.3:
            return name
        return name.upper() if kind < 0.6 else full_width(name)
    region = next((r for r in _DEMO_REGIONS if name.startswith(r)), None)
    suffix = next((s for s in _DEMO_SUFFIXES if name.endswith(s)), None)
    if kind < 0.65 or region is None or suffix is None:
        return name
    if kind < 0.8:
        return f"{name[: -len(suffix)]} {suffix}"
    if kind < 0.92:
        return region + "\u3000" + name[len(region) :]
    return f"{name[len(region) : -len(suffix)]}({region}){suffix}"


def statement_days() -> tuple[int, int]:
    """The days of the month by which the default policy prepares and sends a statement (its prepare_statement and send_statement steps)."""
    from huikuan.ledger.settings import get_settings
    from models.policy import load_policy

    days = {"prepare_statement": 5, "send_statement": 8}
    try:
        policy = load_policy(get_settings().policy)
    except Exception:  # noqa: BLE001 - a company's own policy file that does not load: the handbook's days
        policy = None
    for step in policy.steps if policy is not None else ():
        if step.action in days and step.trigger.day_of_month is not None:
            days[step.action] = step.trigger.day_of_month
    return days["prepare_statement"], days["send_statement"]


def replay_statement_cycle(session: Session, as_of: dt.date, calendars: CalendarBook) -> int:
    """The statements the cycle had made by ``as_of``: each month delivered and not invoiced yet, before ``as_of``'s month.

    Prepared on its deadline (the 5th of the next month) and, reviewed, sent on its
    own (the 8th), each moved off a day off by the policy's rule
    (``models.engine.statement_deadline``), when that day is not after ``as_of``.
    Sent statements wait for the customer's confirmation; no email is queued for
    what happened before the demo's day. Returns how many statements were made.
    """
    from huikuan.collection.execution import prepare_statement
    from models.engine import statement_deadline

    prepare_day, send_day = statement_days()
    current = as_of.strftime("%Y-%m")
    months: dict[str, set[str]] = {}
    for customer_id, delivered_on in session.execute(select(Charge.customer_id, Charge.delivered_on).where(Charge.statement_id.is_(None))):
        month = delivered_on.strftime("%Y-%m")
        if month < current:
            months.setdefault(customer_id, set()).add(month)
    made = 0
    for customer in session.scalars(select(Customer).where(Customer.customer_id.in_(months)).order_by(Customer.customer_id)):
        if customer.settlement not in (Settlement.monthly_statement, Settlement.per_receipt):
            continue
        calendar = calendars.calendar(customer.country)
        for month in sorted(months[customer.customer_id]):
            prepared_on = statement_deadline(month, prepare_day, calendar)
            if prepared_on > as_of:
                continue
            statement = prepare_statement(session, customer, month, prepared_on)
            made += 1
            sent_on = statement_deadline(month, send_day, calendar)
            if sent_on <= as_of:
                statement.reviewed_on = statement.sent_on = sent_on
                statement.state = StatementState.sent
    session.flush()
    return made


def replay_event(session: Session, event: dict) -> None:
    """Record one event of the demo's events.jsonl through the ledger's recording functions."""
    on = dt.date.fromisoformat(event["on"])
    kind = event["kind"]
    if kind == "contact":
        log_contact(session, event["customer_id"], channel=event["channel"], result=event["result"], on=on, note=event.get("note"), excuse=event.get("excuse"))
    elif kind == "promise":
        record_promise(
            session, event["customer_id"], amount=Decimal(event["amount"]), by=dt.date.fromisoformat(event["by"]), on=on, invoices=event.get("invoices") or ()
        )
    elif kind == "dispute_open":
        open_dispute(session, event["invoice_id"], reason=event["reason"], on=on)
    elif kind == "dispute_resolve":
        resolve_dispute(session, event["invoice_id"], on=on)
    else:
        raise ValueError(f"unknown demo event kind {kind!r}")


# -- the commands to try on the demo ----------------------------------------------------------


@dataclass(frozen=True)
class Example:
    command: str  # a whole command line, as a shell reads it
    note: str = ""  # what it shows, after a '#'


def demo_tax_id(customer_id: str) -> str:
    """A well-formed 统一社会信用代码 for a demo customer (Wuhan's division code, the customer's number, its check character)."""
    digits = "".join(c for c in customer_id if c.isdigit())[-7:].rjust(7, "0")
    first17 = f"91420100MA{digits}"
    return first17 + uscc_check_character(first17)


def _quoted(text: str) -> str:
    import shlex

    return shlex.quote(text) if any(c in text for c in " '\"$`\\;&|<>()*?[]{}#~") else text


def demo_examples(session: Session, as_of: dt.date, calendars: CalendarBook | None = None) -> list[Example]:
    """Commands that work on this ledger as loaded by the demo, in order, with its customers, invoices and ``as_of``.

    Each names its day (``--on``, ``--as-of``), so that they still fit on a later
    day. Picked from the ledger: the customer owing the oldest debt (a Chinese
    customer in yuan, no dispute, promise or instalment plan running) for the
    look, the call, the promise and its payment; another of its invoices (or
    another customer's) for a dispute; the next such customer for an instalment
    plan; a statement sent and waiting for confirmation for the confirmation and
    the invoice. What the ledger does not offer on the day (no statement sent
    yet early in a month) is left out with a note.
    """
    from huikuan.reports.portfolio import open_items
    from models.calendar import add_months
    from models.engine import statement_deadline

    if calendars is None:
        from huikuan.ledger.context import calendars_of

        calendars = calendars_of(None)
    d = as_of.isoformat()
    customers = {c.customer_id: c for c in session.scalars(select(Customer))}
    busy = set(session.scalars(select(Promise.customer_id).where(Promise.due_on >= as_of)))
    busy |= set(session.scalars(select(InstalmentPlan.customer_id)))
    disputed = set(session.scalars(select(Dispute.invoice_id).where(Dispute.resolved_on.is_(None))))
    items: dict[str, list] = {}
    for item in open_items(session, as_of):
        items.setdefault(item.customer_id, []).append(item)
    for own in items.values():
        own.sort(key=lambda i: (i.due_on, i.invoice_id))

    def suitable(customer_id: str) -> bool:
        c = customers[customer_id]
        own = items[customer_id]
        return (
            c.locale.value == "zh_CN"
            and c.currency == "CNY"
            and c.locked_on is None
            and customer_id not in busy
            and own[0].days_overdue > 0
            and not any(i.invoice_id in disputed for i in own)
        )

    ranked = sorted((cid for cid in items if suitable(cid)), key=lambda cid: (-items[cid][0].days_overdue, cid))
    examples = [Example(f"huikuan portfolio --as-of {d}", "customers, open amounts by age (账龄), the oldest debts")]
    if not ranked:
        return examples + [Example(f"huikuan plan --as-of {d}", "what the policy does today")]
    first = customers[ranked[0]]
    oldest = items[first.customer_id][0]
    cid, collector = first.customer_id, first.collector
    by = as_of + dt.timedelta(days=7)
    examples += [
        Example(f"huikuan customers show {cid} --as-of {d}", "its invoices, promises, contacts; charges and limitation dates"),
        Example(f"huikuan explain {cid} --as-of {d}", "each rule of the policy for it: due today, or why not"),
        Example(f"huikuan plan --as-of {d} --format csv", "every action due today (CSV)"),
    ]
    if collector:
        examples.append(Example(f"huikuan worklist --as-of {d} --collector {collector}", f"{collector}'s calls and visits, with what to say"))
    examples += [
        Example(f"huikuan contact log {cid} --channel phone --result promised --note {_quoted(f'答应{by.month}月{by.day}日前付')} --on {d}", "the call"),
        Example(f"huikuan promise {cid} --amount {oldest.open_amount} --by {by.isoformat()} --on {d}", "还款承诺: the ladder waits until then"),
        Example(f"huikuan payment P-{as_of:%Y-%m%d} {cid} --amount {oldest.open_amount} --invoice {oldest.invoice_id} --on {d}", "the promise kept"),
    ]
    others = [i for i in items[cid][1:]] or [i for other in ranked[1:2] for i in items[other][:1]]
    if others:
        invoice = others[0].invoice_id
        examples += [
            Example(f"huikuan dispute open {invoice} --reason {_quoted('货物短少 2 箱')} --on {d}", "异议: dunning on it pauses"),
            Example(f"huikuan dispute resolve {invoice} --on {d}", "and resumes"),
        ]
    if len(ranked) > 1:
        second = ranked[1]
        owed = sum((i.open_amount for i in items[second]), Decimal("0.00"))
        part = (owed / 3).quantize(Decimal("1"))
        if part >= 1:
            calendar = calendars.calendar(customers[second].country)
            dates = [calendar.roll_forward(as_of + dt.timedelta(days=days)) for days in (14, 45)]
            schedule = ";".join(f"{day.isoformat()}={part}" for day in dates)
            examples.append(Example(f"huikuan instalments {second} --schedule {_quoted(schedule)} --on {d}", "分期付款: two instalments"))
    waiting = session.scalars(
        select(Statement).where(Statement.state == StatementState.sent, Statement.sent_on <= as_of).order_by(Statement.month.desc(), Statement.customer_id)
    ).first()
    if waiting is not None:
        owner = customers[waiting.customer_id]
        examples += [
            Example(
                f"huikuan statement confirm {owner.customer_id} --month {waiting.month} --invoice-title {_quoted(owner.name)} "
                f"--tax-id {demo_tax_id(owner.customer_id)} --on {d}",
                f"sent {waiting.sent_on}: the customer confirms it",
            ),
            Example(
                f"huikuan statement invoiced {owner.customer_id} --month {waiting.month} --tracking-no SF{as_of:%Y%m%d}01 --on {d}",
                "finance issued and mailed the invoice",
            ),
        ]
    examples += [
        Example(f"huikuan shipping check {cid}", "exit status 0: goods may leave; 1: locked; 3: only against payment"),
        Example("huikuan approvals list", "requests waiting for a decision"),
        Example(f"huikuan report kpis --as-of {d}", "also: aging, aging-segment, aging-collector, aging-credit, statements, approvals, limitation"),
        Example(f"huikuan report statements --as-of {d}", "the statement cycle per month, what is late"),
        Example(f"huikuan report aging --as-of {d} --format xlsx --out aging.xlsx", "for Excel"),
        Example(f"huikuan adopt --dry-run --as-of {d}", "the steps whose dates passed before huikuan (huikuan adopt takes them)"),
        Example(f"huikuan calendar {as_of.year + 1}", "next year's days off and working weekends"),
    ]
    if waiting is None:
        month = add_months(as_of.replace(day=1), -1).strftime("%Y-%m")
        sent_by = statement_deadline(month, statement_days()[1], calendars.calendar("CN"))
        examples.append(
            Example(
                "",
                f"no statement waits for confirmation on {d}: the {month} statements are sent by {sent_by}, "
                "then `huikuan statement confirm` records a customer's confirmation",
            )
        )
    return examples


def examples_text(examples: list[Example]) -> str:
    """The examples as shell lines, notes aligned after '#'; a note alone is a comment line."""
    width = max((len(e.command) for e in examples if e.command and len(e.command) <= 72), default=0)
    lines = []
    for e in examples:
        if not e.command:
            lines.append(f"# {e.note}")
        elif e.note:
            lines.append(f"{e.command.ljust(width)}  # {e.note}" if len(e.command) <= 72 else f"{e.command}  # {e.note}")
        else:
            lines.append(e.command)
    return "\n".join(lines) + "\n"


def missed_steps_count(session: Session, as_of: dt.date, calendars: CalendarBook | None = None) -> tuple[int, int]:
    """(steps, customers): the one-time steps whose dates passed before ``as_of`` and the ledger does not hold (``huikuan adopt``)."""
    from huikuan.ledger.adoption import missed_actions
    from huikuan.ledger.settings import get_settings
    from models.policy import load_policy

    if calendars is None:
        from huikuan.ledger.context import calendars_of

        calendars = calendars_of(None)
    actions = missed_actions(session, as_of, load_policy(get_settings().policy), calendars)
    return len(actions), len({a.customer_id for a in actions})
