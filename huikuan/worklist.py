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

from huikuan.company import Company
from huikuan.planning import plan
from huikuan.records import open_amounts
from huikuan.settings import get_settings
from models.calendar import BusinessCalendar, CallWindow, calendar_for, call_windows
from models.engine import Action
from models.enums import Locale
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
    collector: str | None  # whose list: the customer's collector, or the person (or role) the policy gives all its calls to
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


@dataclass(frozen=True)
class PromiseState:
    amount: Decimal
    by: dt.date
    paid: Decimal  # on its invoices between the day it was made and the promised date
    broken: bool


def _latest_promise(session: Session, customer_id: str, as_of: dt.date) -> PromiseState | None:
    """The latest promise made by ``as_of``, if it still matters: running, or broken.

    Still running (its date not passed) is the open promise; its date passed with
    less than its amount paid on its invoices between the day it was made and the
    promised date is the broken one. An older broken promise superseded by a newer
    one does not count; a kept one is done with.
    """
    latest = session.scalar(
        select(Promise).options(selectinload(Promise.invoices))
        .where(Promise.customer_id == customer_id, Promise.made_on <= as_of)
        .order_by(Promise.made_on.desc(), Promise.id.desc()).limit(1)
    )
    if latest is None:
        return None
    if latest.due_on >= as_of:
        return PromiseState(latest.amount, latest.due_on, ZERO, broken=False)
    paid = _promise_paid(session, latest, latest.due_on)
    return None if paid >= latest.amount else PromiseState(latest.amount, latest.due_on, paid, broken=True)


def _promises(session: Session, customer_id: str, as_of: dt.date, currency: str) -> tuple[str | None, str | None]:
    """(broken, open) promise texts, for the collector's table."""
    state = _latest_promise(session, customer_id, as_of)
    if state is None:
        return None, None
    promised = f"promised {money(state.amount, currency)} by {state.by.isoformat()}"
    if not state.broken:
        return None, promised
    return promised + ", not kept" + (f" ({money(state.paid, currency)} paid)" if state.paid > 0 else ""), None


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


_ZH_WORDS = {"phone": "电话", "email": "邮件", "visit": "上门拜访", "reached": "已联系上", "unreachable": "未联系上",
             "promised": "承诺付款", "disputed": "提出异议", "refused": "拒绝付款"}


def restate_zh(entry: ContactLog) -> str:
    """The contact restated in Chinese: ``2026-11-10 电话 陈：承诺付款（下周五付C-2），借口：拖``."""
    text = f"{entry.contacted_on.isoformat()} {_ZH_WORDS.get(entry.channel.value, entry.channel.value)}"
    if entry.person:
        text += f" {entry.person}"
    text += f"：{_ZH_WORDS.get(entry.result.value, entry.result.value)}"
    if entry.note:
        text += f"（{entry.note}）"
    if entry.excuse is not None:
        text += f"，借口：{entry.excuse.label}"
    return text


def _last_contact(session: Session, customer_id: str, as_of: dt.date) -> ContactLog | None:
    return session.scalar(
        select(ContactLog).where(ContactLog.customer_id == customer_id, ContactLog.contacted_on <= as_of)
        .order_by(ContactLog.contacted_on.desc(), ContactLog.id.desc()).limit(1)
    )


def _contacts(session: Session, customer_id: str, as_of: dt.date) -> tuple[str | None, tuple[str, ...]]:
    entries = list(
        session.scalars(
            select(ContactLog).where(ContactLog.customer_id == customer_id, ContactLog.contacted_on <= as_of)
            .order_by(ContactLog.contacted_on, ContactLog.id)
        )
    )
    excuses = tuple(dict.fromkeys(e.excuse.label for e in entries if e.excuse is not None))
    return (restate(entries[-1]) if entries else None), excuses


@dataclass(frozen=True)
class Talk:
    """What the collector is to say, before it is put into words in the customer's language."""

    name: str
    amount: str  # everything open
    part: str | None  # the part on the invoices concerned, when not everything
    invoices: tuple[str, ...]
    months: tuple[str, ...]  # unconfirmed statements
    oldest: int  # days overdue
    last_contact: str | None
    promise: PromiseState | None
    currency: str


def _say(t: Talk) -> str:
    if t.invoices:
        what = f"{t.name} owes {t.amount}" + (f" in all, {t.part} of it" if t.part else "") + f" on {', '.join(t.invoices)}"
        what += f", the oldest {t.oldest} days overdue" if t.oldest > 0 else ""
    else:
        what = f"{t.name} owes {t.amount}"
    if t.months:
        what += f"; statement {', '.join(t.months)} is still unconfirmed"
    first = what + "."
    if t.last_contact:
        first = f"Last time ({t.last_contact}). " + first
    p = t.promise
    if p is not None and p.broken:
        kept = f" ({money(p.paid, t.currency)} paid)" if p.paid > 0 else ""
        second = f"They promised {money(p.amount, t.currency)} by {p.by.isoformat()}, not kept{kept}: ask why, and for full payment now with a specific date."
    elif p is not None:
        second = f"They promised {money(p.amount, t.currency)} by {p.by.isoformat()}: confirm it back and ask for the rest."
    else:
        second = "Ask for full payment and get a specific amount and date."
    return f"{first} {second}"


def _say_zh(t: Talk) -> str:
    """The same, in Chinese: what a collector says to a Chinese customer."""
    if t.invoices:
        what = f"{t.name}共欠{t.amount}" + (f"，其中{t.part}" if t.part else "") + f"在{'、'.join(t.invoices)}上"
        what += f"，最早的已逾期{t.oldest}天" if t.oldest > 0 else ""
    else:
        what = f"{t.name}共欠{t.amount}"
    if t.months:
        what += f"；{'、'.join(t.months)}对账单尚未确认"
    first = what + "。"
    if t.last_contact:
        first = f"上次联系：{t.last_contact}。" + first
    p = t.promise
    if p is not None and p.broken:
        kept = f"（已付{money(p.paid, t.currency)}）" if p.paid > 0 else ""
        second = f"对方承诺{p.by.isoformat()}前付{money(p.amount, t.currency)}，未兑现{kept}：问清原因，要求立即全额付款并给出具体日期。"
    elif p is not None:
        second = f"对方承诺{p.by.isoformat()}前付{money(p.amount, t.currency)}：再次确认，并催收其余款项。"
    else:
        second = "要求全额付款，并落实具体金额和付款日期。"
    return first + second


def owner_of(customer: Customer, actions: list[Action], company: Company | None) -> str | None:
    """Whose list the account is on: its collector's, or that of the one role all its calls belong to."""
    roles = {a.role for a in actions}
    if len(roles) != 1 or "collector" in roles:
        return customer.collector
    role = roles.pop()
    if company is not None:
        try:
            return company.first_with_role(role).id
        except KeyError:
            pass
    return f"({role})"


def _item(session: Session, customer: Customer, actions: list[Action], as_of: dt.date, company: Company | None = None) -> WorkItem:
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
    chinese = customer.locale == Locale.zh_CN
    last = _last_contact(session, customer.customer_id, as_of) if chinese and last_contact else None
    talk = Talk(customer.name, money(amount, customer.currency), money(part, customer.currency) if part != amount else None, invoices, months, oldest,
                restate_zh(last) if last else last_contact, _latest_promise(session, customer.customer_id, as_of), customer.currency)
    return WorkItem(
        rank=0,
        customer_id=customer.customer_id,
        customer_name=customer.name,
        collector=owner_of(customer, actions, company),
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
        say=_say_zh(talk) if chinese else _say(talk),
    )


def worklist(
    session: Session, as_of: dt.date, *, policy: str | Policy = "handbook", collector: str | None = None, company: Company | None = None
) -> list[WorkItem]:
    """The people to call or visit on ``as_of``, for ``collector`` or for everyone.

    An account goes on its collector's list, unless the policy gives all its calls
    to another role (a key account's follow-ups are the manager's): then on the
    list of the company's first person with that role (or of the role's name,
    without a company file). Ordered by whose list (unassigned last), then by rank
    within the list.
    """
    rules = policy if isinstance(policy, Policy) else load_policy(policy)
    by_customer: dict[str, list[Action]] = defaultdict(list)
    for action in plan(session, as_of, rules):
        if action.channel in PERSON_CHANNELS:
            by_customer[action.customer_id].append(action)
    if not by_customer:
        return []
    query = select(Customer).where(Customer.customer_id.in_(list(by_customer)))
    items = [_item(session, customer, by_customer[customer.customer_id], as_of, company) for customer in session.scalars(query)]
    if collector is not None:
        items = [item for item in items if item.collector == collector]
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
