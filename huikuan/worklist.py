"""Today's worklist for each collector: whom to call or visit, when, and what to say.

Reads the ledger only (no side effects): the day's planned actions
(``huikuan.planning.plan``) whose channel involves a person (``phone``,
``email+phone``: the call part, ``visit``), one item per customer, ranked
"oldest and largest first, broken promises on top" (PROCESS.md §4-5).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from huikuan.planning import plan
from huikuan.records import open_amounts
from huikuan.settings import get_settings
from models.calendar import BusinessCalendar, CallWindow, calendar_for, call_windows
from models.engine import Action
from models.ledger import Allocation, ContactLog, Customer, Invoice, Payment, Promise
from models.policy import Policy, load_policy

PERSON_CHANNELS = ("visit", "phone", "email+phone")  # by precedence when a customer's actions are merged
ZERO = Decimal("0.00")
UNASSIGNED = "(unassigned)"


@dataclass(frozen=True)
class WorkItem:
    rank: int  # 1 = first, within the collector's list
    customer_id: str
    customer_name: str
    collector: str | None
    channel: str  # "phone", "visit" or "email+phone" (the phone part is the collector's to do)
    actions: tuple[str, ...]  # the policy's actions behind it
    when: str  # call hours, "" for visits, "no calls today: ..." when calls are off
    amount_open: Decimal  # everything open on the customer's account (ask for full payment)
    currency: str
    invoices: tuple[str, ...]  # the invoices concerned
    oldest_days_overdue: int
    broken_promise: str | None
    open_promise: str | None
    last_contact: str | None
    excuses: tuple[str, ...]  # excuse labels given so far, first occurrence order
    say: str

    @property
    def priority(self) -> tuple:
        """The ranking key: broken promises first, then oldest, then largest, then customer id."""
        return (self.broken_promise is None, -self.oldest_days_overdue, -self.amount_open, self.customer_id)


def money(value: Decimal, currency: str) -> str:
    """``¥1,234.56`` for yuan, ``USD 1,234.56`` for other currencies."""
    amount = Decimal(value).quantize(Decimal("0.01"))
    sign = "-" if amount < 0 else ""
    digits = f"{abs(amount):,.2f}"
    return f"{sign}¥{digits}" if currency == "CNY" else f"{sign}{currency} {digits}"


def _calendar(country: str) -> BusinessCalendar:
    return calendar_for(country, tuple(get_settings().closed_days))


def call_hours(day: dt.date, cal: BusinessCalendar) -> str:
    """``"09:00-11:30 (best), 13:30-17:00"``, or why no calls should be made on ``day``."""
    windows: tuple[CallWindow, ...] = call_windows(day, cal)
    if not windows:
        if not cal.is_working_day(day):
            return f"no calls today: {cal.describe(day)}"
        return "no calls today: month end"
    best = max(w.preference for w in windows)
    return ", ".join(
        f"{w.start:%H:%M}-{w.end:%H:%M}" + (" (best)" if w.preference == best and len(windows) > 1 else "") for w in windows
    )


def _merge_channel(channels: Iterable[str]) -> str:
    present = set(channels)
    return next(c for c in PERSON_CHANNELS if c in present)


def _promise_paid(session: Session, promise: Promise, until: dt.date) -> Decimal:
    """Paid on the promise's invoices from the day it was made up to ``until``."""
    invoice_ids = [p.invoice_id for p in promise.invoices]
    if not invoice_ids:
        return ZERO
    paid = session.scalar(
        select(func.sum(Allocation.amount)).join(Payment)
        .where(Allocation.invoice_id.in_(invoice_ids), Payment.received_on >= promise.made_on, Payment.received_on <= until)
    )
    return paid or ZERO


def _promises(session: Session, customer_id: str, as_of: dt.date, currency: str) -> tuple[str | None, str | None]:
    """(broken, open) promise texts.

    The latest promise made by ``as_of`` decides: still running (its date not passed)
    is the open promise; its date passed with less than its amount paid on its
    invoices between the day it was made and the promised date is the broken one.
    An older broken promise superseded by a newer one does not count.
    """
    latest = session.scalar(
        select(Promise).options(selectinload(Promise.invoices))
        .where(Promise.customer_id == customer_id, Promise.made_on <= as_of)
        .order_by(Promise.made_on.desc(), Promise.id.desc()).limit(1)
    )
    if latest is None:
        return None, None
    promised = f"promised {money(latest.amount, currency)} by {latest.due_on.isoformat()}"
    if latest.due_on >= as_of:
        return None, promised
    paid = _promise_paid(session, latest, latest.due_on)
    if paid >= latest.amount:
        return None, None
    return promised + ", not kept" + (f" ({money(paid, currency)} paid)" if paid > 0 else ""), None


def restate(entry: ContactLog) -> str:
    """The contact restated: date, channel, person, result, note, excuse label."""
    text = f"{entry.contacted_on.isoformat()} {entry.channel.value}"
    if entry.person:
        text += f" with {entry.person}"
    text += f": {entry.result.value}"
    if entry.note:
        text += f" ({entry.note})"
    if entry.excuse is not None:
        text += f", excuse {entry.excuse.label}"
    return text


def _contacts(session: Session, customer_id: str, as_of: dt.date) -> tuple[str | None, tuple[str, ...]]:
    entries = list(
        session.scalars(
            select(ContactLog).where(ContactLog.customer_id == customer_id, ContactLog.contacted_on <= as_of)
            .order_by(ContactLog.contacted_on, ContactLog.id)
        )
    )
    excuses = tuple(dict.fromkeys(e.excuse.label for e in entries if e.excuse is not None))
    return (restate(entries[-1]) if entries else None), excuses


def _say(name: str, amount: str, part: str | None, invoices: tuple[str, ...], months: tuple[str, ...], oldest: int,
         last_contact: str | None, broken: str | None, running: str | None) -> str:
    if invoices:
        what = f"{name} owes {amount}" + (f" in all, {part} of it" if part else "") + f" on {', '.join(invoices)}"
        what += f", the oldest {oldest} days overdue" if oldest > 0 else ""
    else:
        what = f"{name} owes {amount}"
    if months:
        what += f"; statement {', '.join(months)} is still unconfirmed"
    first = what + "."
    if last_contact:
        first = f"Last time ({last_contact}). " + first
    if broken:
        second = f"They {broken}: ask why, and for full payment now with a specific date."
    elif running:
        second = f"They {running}: confirm it back and ask for the rest."
    else:
        second = "Ask for full payment and get a specific amount and date."
    return f"{first} {second}"


def _item(session: Session, customer: Customer, actions: list[Action], as_of: dt.date) -> WorkItem:
    still_open = open_amounts(session, customer.customer_id, as_of)
    due_dates = dict(session.execute(select(Invoice.invoice_id, Invoice.due_on).where(Invoice.invoice_id.in_(list(still_open)))).all()) if still_open else {}
    concerned = {i for a in actions for i in a.invoices}
    invoices = tuple(sorted(concerned, key=lambda i: (due_dates.get(i, dt.date.max), i))) or tuple(
        i for i in still_open if due_dates[i] < as_of
    )
    months = tuple(sorted({m for a in actions for m in a.statements}))
    oldest = max([(as_of - due).days for due in due_dates.values()] + [0])
    amount = sum(still_open.values(), ZERO)
    part = sum((still_open.get(i, ZERO) for i in invoices), ZERO)
    channel = _merge_channel(a.channel for a in actions)
    broken, running = _promises(session, customer.customer_id, as_of, customer.currency)
    last_contact, excuses = _contacts(session, customer.customer_id, as_of)
    return WorkItem(
        rank=0,
        customer_id=customer.customer_id,
        customer_name=customer.name,
        collector=customer.collector,
        channel=channel,
        actions=tuple(dict.fromkeys(a.action for a in actions)),
        when="" if channel == "visit" else call_hours(as_of, _calendar(customer.country)),
        amount_open=amount,
        currency=customer.currency,
        invoices=invoices,
        oldest_days_overdue=oldest,
        broken_promise=broken,
        open_promise=running,
        last_contact=last_contact,
        excuses=excuses,
        say=_say(customer.name, money(amount, customer.currency), money(part, customer.currency) if part != amount else None, invoices, months, oldest, last_contact, broken, running),
    )


def worklist(session: Session, as_of: dt.date, *, policy: str | Policy = "handbook", collector: str | None = None) -> list[WorkItem]:
    """The people to call or visit on ``as_of``, for ``collector`` or for everyone.

    Ordered by collector (unassigned last), then by rank within the collector's list.
    """
    rules = policy if isinstance(policy, Policy) else load_policy(policy)
    by_customer: dict[str, list[Action]] = defaultdict(list)
    for action in plan(session, as_of, rules):
        if action.channel in PERSON_CHANNELS:
            by_customer[action.customer_id].append(action)
    if not by_customer:
        return []
    query = select(Customer).where(Customer.customer_id.in_(list(by_customer)))
    if collector is not None:
        query = query.where(Customer.collector == collector)
    items = [_item(session, customer, by_customer[customer.customer_id], as_of) for customer in session.scalars(query)]
    ranked: list[WorkItem] = []
    groups: dict[str | None, list[WorkItem]] = defaultdict(list)
    for item in items:
        groups[item.collector].append(item)
    for name in sorted(groups, key=lambda c: (c is None, c or "")):
        for rank, item in enumerate(sorted(groups[name], key=lambda i: i.priority), start=1):
            ranked.append(_with_rank(item, rank))
    return ranked


def _with_rank(item: WorkItem, rank: int) -> WorkItem:
    return replace(item, rank=rank)


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def worklist_markdown(items: list[WorkItem], as_of: dt.date) -> str:
    """One table per collector (unassigned last), items in rank order."""
    lines = [f"# Worklist {as_of.isoformat()}", ""]
    if not items:
        return "\n".join(lines + ["Nobody to call or visit today.", ""])
    groups: dict[str | None, list[WorkItem]] = defaultdict(list)
    for item in items:
        groups[item.collector].append(item)
    for name in sorted(groups, key=lambda c: (c is None, c or "")):
        group = sorted(groups[name], key=lambda i: i.rank)
        total: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for item in group:
            total[item.currency] += item.amount_open
        lines += [
            f"## {name or UNASSIGNED} ({len(group)}; {', '.join(money(v, c) for c, v in sorted(total.items()))} open)",
            "",
            "| # | Customer | Channel | When | Open | Days overdue | Invoices | Promise | Last contact | Excuses | Say |",
            "|---|---|---|---|---:|---:|---|---|---|---|---|",
        ]
        for i in group:
            promise = f"**{i.broken_promise}**" if i.broken_promise else (i.open_promise or "")
            lines.append(
                "| " + " | ".join(
                    _cell(c) for c in (
                        str(i.rank), f"{i.customer_name} ({i.customer_id})", f"{i.channel}: {', '.join(i.actions)}", i.when,
                        money(i.amount_open, i.currency), str(i.oldest_days_overdue), ", ".join(i.invoices), promise,
                        i.last_contact, " ".join(i.excuses), i.say,
                    )
                ) + " |"
            )
        lines.append("")
    return "\n".join(lines)
