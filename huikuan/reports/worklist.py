"""Today's worklist for each collector: whom to call or visit, when, and what to say.

Reads the ledger only (no side effects): the day's planned actions
(``huikuan.reports.planning.plan``) whose channel involves a person (``phone``,
``email+phone``: the call part, ``visit``), one item per customer, ranked
"oldest and largest first, broken promises on top" (PROCESS.md §4-5).

The ledger is read in a few bulk queries for all the customers on the list
(open invoices, latest promises, contacts), not customer by customer: a whole
ledger's list is built daily for the artifacts of ``daily-collection``.
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import cache
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from huikuan.documents import i18n
from huikuan.documents.escaping import artifact_key, markdown_text, one_line
from huikuan.documents.last_contact import restate
from huikuan.documents.render import environment, format_date
from huikuan.ledger.company import Company
from huikuan.ledger.context import calendars_of
from huikuan.legal.standing import open_invoice_charges, terms_for
from huikuan.reports.planning import iter_plan
from models.calendar import BusinessCalendar, CalendarBook, CallWindow, call_windows
from models.engine import Action
from models.enums import Locale
from models.ledger import Allocation, Contact, ContactLog, Customer, Invoice, Payment, Promise, PromiseInvoice
from models.money import format_money
from models.policy import Policy, load_policy
from models.texts import Reason, Text

PERSON_CHANNELS = ("visit", "phone", "email+phone")  # by precedence when a customer's actions are merged
LIMITATION_WARNING = "limitation_warning"  # the policy's warning that a debt's limitation period ends: on the collector's list too
WRITTEN_DEMAND = "letter"  # the channel of an item that is only a limitation warning: a written demand, no call
ZERO = Decimal("0.00")
UNASSIGNED = "(unassigned)"
CHUNK = 2000  # customer ids per bulk query: well under the bound-parameter limits of SQLite and PostgreSQL


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
    contacts: tuple[str, ...] = ()  # whom to ask for: "name (title): phone, email", the primary contact first
    demand: str | None = None  # "send a written demand now", the invoices and their limitation dates, in the company's locale

    @property
    def priority(self) -> tuple:
        """The ranking key: broken promises first, then oldest, then largest, then customer id."""
        return (self.broken_promise is None, -self.oldest_days_overdue, -self.amount_open, self.customer_id)


def call_hours(day: dt.date, cal: BusinessCalendar) -> str:
    """``"09:00-11:30 (best), 13:30-17:00"``, or why no calls should be made on ``day``."""
    windows: tuple[CallWindow, ...] = call_windows(day, cal)
    if not windows:
        if not cal.is_working_day(day):
            return f"no calls today: {cal.describe(day)}"
        return "no calls today: month end"
    best = max(w.preference for w in windows)
    return ", ".join(f"{w.start:%H:%M}-{w.end:%H:%M}" + (" (best)" if w.preference == best and len(windows) > 1 else "") for w in windows)


def _merge_channel(channels: Iterable[str]) -> str:
    present = set(channels)
    return next((c for c in PERSON_CHANNELS if c in present), WRITTEN_DEMAND)


def _demand(actions: list[Action], locale: str) -> str | None:
    """The policy's limitation warnings among ``actions`` as the collector reads them, in ``locale``: send a written demand now,
    with each invoice and the day its limitation period ends (the date the warning counted from); None without a warning."""
    ends: dict[str, dt.date] = {}
    for action in actions:
        if action.action != LIMITATION_WARNING:
            continue
        for reason in action.reasons:
            if isinstance(reason, Reason) and reason.code == "limitation_date":
                about = reason.params.get("reason")
                invoice = about.params.get("invoice") if isinstance(about, Text) else None
                for each in (invoice,) if invoice else action.invoices:
                    ends[each] = reason.params["date"]
    if not ends:
        return None
    each = tuple(Text("invoice {invoice}, limitation period ends {date}", invoice=i, date=d) for i, d in sorted(ends.items(), key=lambda e: (e[1], e[0])))
    return i18n.render(Text("Send a written demand now (a letter with a delivery record): {invoices}", invoices=each), locale)


T = TypeVar("T")


def _chunks(ids: Sequence[T]) -> Iterator[Sequence[T]]:
    """``ids`` in slices of ``CHUNK``: one bulk query per slice keeps each statement's parameters bounded."""
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


@dataclass(frozen=True)
class PromiseState:
    amount: Decimal
    by: dt.date
    paid: Decimal  # on its invoices between the day it was made and the promised date
    broken: bool


def _latest(session: Session, entity: type[Promise] | type[ContactLog], day: InstrumentedAttribute[dt.date], ids: Sequence[str], as_of: dt.date) -> dict:
    """Per customer, its latest ``entity`` row dated (by the column ``day``) up to ``as_of``, the highest id breaking ties.

    One query per slice of customers (a window function), rather than one per customer.
    """
    latest = {}
    for chunk in _chunks(ids):
        order = func.row_number().over(partition_by=entity.customer_id, order_by=(day.desc(), entity.id.desc()))
        ranked = select(entity.id, order.label("n")).where(entity.customer_id.in_(chunk), day <= as_of).subquery()
        for row in session.scalars(select(entity).join(ranked, ranked.c.id == entity.id).where(ranked.c.n == 1)):
            latest[row.customer_id] = row
    return latest


def _paid_on_promises(session: Session, promises: Sequence[Promise]) -> dict[int, Decimal]:
    """Per promise id: paid on its invoices from the day it was made up to the promised date (promises without payment left out)."""
    paid: dict[int, Decimal] = {}
    for chunk in _chunks([p.id for p in promises]):
        query = (
            select(PromiseInvoice.promise_id, func.sum(Allocation.amount))
            .join(Promise, Promise.id == PromiseInvoice.promise_id)
            .join(Allocation, Allocation.invoice_id == PromiseInvoice.invoice_id)
            .join(Payment, Payment.payment_id == Allocation.payment_id)
            .where(PromiseInvoice.promise_id.in_(chunk))
            .where(Payment.received_on >= Promise.made_on, Payment.received_on <= Promise.due_on)
            .group_by(PromiseInvoice.promise_id)
        )
        paid.update((promise_id, amount or ZERO) for promise_id, amount in session.execute(query))
    return paid


def _promise_states(session: Session, ids: Sequence[str], as_of: dt.date) -> dict[str, PromiseState]:
    """Per customer, the latest promise made by ``as_of``, if it still matters: running, or broken.

    Still running (its date not passed) is the open promise; its date passed with
    less than its amount paid on its invoices between the day it was made and the
    promised date is the broken one. An older broken promise superseded by a newer
    one does not count; a kept one is done with (the customer is left out).
    """
    latest: dict[str, Promise] = _latest(session, Promise, Promise.made_on, ids, as_of)
    paid = _paid_on_promises(session, [p for p in latest.values() if p.due_on < as_of])
    states = {}
    for customer_id, promise in latest.items():
        if promise.due_on >= as_of:
            states[customer_id] = PromiseState(promise.amount, promise.due_on, ZERO, broken=False)
        elif paid.get(promise.id, ZERO) < promise.amount:
            states[customer_id] = PromiseState(promise.amount, promise.due_on, paid.get(promise.id, ZERO), broken=True)
    return states


def _promise_texts(state: PromiseState | None, currency: str) -> tuple[str | None, str | None]:
    """(broken, open) promise texts, for the collector's list."""
    if state is None:
        return None, None
    promised = f"promised {format_money(state.amount, currency)} by {format_date(state.by, Locale.en)}"  # as the last contact beside it
    if not state.broken:
        return None, promised
    return promised + ", not kept" + (f" ({format_money(state.paid, currency)} paid)" if state.paid > 0 else ""), None


def _excuses(session: Session, ids: Sequence[str], as_of: dt.date) -> dict[str, tuple[str, ...]]:
    """Per customer, the excuse labels given up to ``as_of``, in the order first given."""
    labels: dict[str, dict[str, None]] = defaultdict(dict)
    for chunk in _chunks(ids):
        query = (
            select(ContactLog.customer_id, ContactLog.excuse)
            .where(ContactLog.customer_id.in_(chunk), ContactLog.contacted_on <= as_of, ContactLog.excuse.is_not(None))
            .order_by(ContactLog.customer_id, ContactLog.contacted_on, ContactLog.id)
        )
        for customer_id, excuse in session.execute(query):
            labels[customer_id].setdefault(excuse.label)
    return {customer_id: tuple(seen) for customer_id, seen in labels.items()}


def contact_line(contact: Contact) -> str:
    """``王 (财务): 139..., wang@example.cn``: whom to ask for, and how to reach them."""
    who = contact.name + (f" ({contact.title})" if contact.title else "")
    reach = ", ".join(r for r in (contact.phone, contact.email) if r)
    return f"{who}: {reach}" if reach else who


def _people(session: Session, ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Per customer, its contacts restated, the primary one first."""
    people: dict[str, list[str]] = defaultdict(list)
    for chunk in _chunks(ids):
        query = select(Contact).where(Contact.customer_id.in_(chunk)).order_by(Contact.customer_id, Contact.is_primary.desc(), Contact.id)
        for contact in session.scalars(query):
            people[contact.customer_id].append(contact_line(contact))
    return {customer_id: tuple(names) for customer_id, names in people.items()}


def _open_invoices(session: Session, ids: Sequence[str], as_of: dt.date) -> dict[str, dict[str, tuple[Decimal, dt.date]]]:
    """Per customer: invoice -> (amount still open, due date), oldest due first.

    What ``huikuan.ledger.records.open_amounts`` gives for one customer (payments
    received up to ``as_of``, the customer's own), for many in one query.
    """
    result: dict[str, dict[str, tuple[Decimal, dt.date]]] = defaultdict(dict)
    for chunk in _chunks(ids):
        paid = (
            select(Payment.customer_id, Allocation.invoice_id, func.sum(Allocation.amount).label("paid"))
            .join(Payment)
            .where(Payment.received_on <= as_of, Payment.customer_id.in_(chunk))
            .group_by(Payment.customer_id, Allocation.invoice_id)
            .subquery()
        )
        query = (
            select(Invoice.customer_id, Invoice.invoice_id, Invoice.amount, Invoice.due_on, paid.c.paid)
            .outerjoin(paid, (paid.c.invoice_id == Invoice.invoice_id) & (paid.c.customer_id == Invoice.customer_id))
            .where(Invoice.customer_id.in_(chunk), Invoice.issued_on <= as_of)
            .order_by(Invoice.customer_id, Invoice.due_on, Invoice.invoice_id)
        )
        for customer_id, invoice_id, amount, due_on, paid_amount in session.execute(query):
            left = amount - (paid_amount or ZERO)
            if left > 0:
                result[customer_id][invoice_id] = (left, due_on)
    return result


@dataclass(frozen=True)
class Account:
    """What the ledger says of one customer on the day, read in bulk with the others (``_accounts``)."""

    open: dict[str, tuple[Decimal, dt.date]]  # invoice -> (amount still open, due date), oldest due first
    promise: PromiseState | None
    last_contact: ContactLog | None
    excuses: tuple[str, ...]
    people: tuple[str, ...]
    charge: Decimal = ZERO  # the late-payment charge to the day on its open invoices (``_charges``)


def _charges(session: Session, customers: Sequence[Customer], as_of: dt.date, company: Company | None) -> dict[str, Decimal]:
    """Invoice -> its late-payment charge at the end of ``as_of``: ``huikuan.legal.standing.open_invoice_charges``, the one rule
    the letters, ``customers show`` and the aging report count by, for the invoices of ``customers``. {} (and no read) when none
    of them has late-payment terms (``terms_for``: its contract's, or the company's standard ones)."""
    if not any(terms_for(c, company) is not None for c in customers):
        return {}
    return open_invoice_charges(session, as_of, company, only=[c.customer_id for c in customers])


def _accounts(session: Session, ids: Sequence[str], as_of: dt.date, charges: Mapping[str, Decimal] | None = None) -> dict[str, Account]:
    """The accounts of ``ids`` on ``as_of``: a few queries for them all; ``charges`` (invoice -> charge, ``_charges``) summed per account."""
    still_open = _open_invoices(session, ids, as_of)
    promises = _promise_states(session, ids, as_of)
    last = _latest(session, ContactLog, ContactLog.contacted_on, ids, as_of)
    excuses = _excuses(session, ids, as_of)
    people = _people(session, ids)
    charges = charges or {}
    return {
        i: Account(
            still_open.get(i, {}),
            promises.get(i),
            last.get(i),
            excuses.get(i, ()),
            people.get(i, ()),
            sum((charges.get(invoice, ZERO) for invoice in still_open.get(i, {})), ZERO),
        )
        for i in ids
    }


@dataclass(frozen=True)
class Talk:
    """What the collector is to say, before it is put into words in the customer's language (``call_script``)."""

    name: str
    amount: Decimal  # everything open
    part: Decimal | None  # the part on the invoices concerned, when not everything
    invoices: tuple[str, ...]
    months: tuple[str, ...]  # unconfirmed statements
    oldest: int  # days overdue
    last_contact: str | None
    promise: PromiseState | None
    currency: str
    charge: Decimal = ZERO  # the late-payment charge to the day on everything open, under the contract's terms


def call_script(t: Talk, locale: str) -> str:
    """What the collector says to the customer, in its language: the template ``<locale>/call_script.txt.j2`` (Chinese for
    ``zh_CN``, English otherwise), rendered by the documents' environment (``huikuan.documents.render.environment``).

    Amounts come in the one money format (``models.money.format_money``); the charge is said only when above zero, with the total
    claim (everything open plus the charge). Plain text, on one line: the customer's text in it is escaped where the
    list is shown (``_entry``).
    """
    folder = Locale.zh_CN.value if locale == Locale.zh_CN else Locale.en.value
    variables: dict[str, object] = {
        "name": t.name,
        "amount": format_money(t.amount, t.currency),
        "invoices": t.invoices,
        "months": t.months,
        "oldest": t.oldest,
    }
    if t.part is not None:
        variables["part"] = format_money(t.part, t.currency)
    if t.last_contact:
        variables["last_contact"] = t.last_contact
    if t.promise is not None:
        p = t.promise
        paid = {"paid": format_money(p.paid, t.currency)} if p.broken and p.paid > 0 else {}
        variables["promise"] = {"amount": format_money(p.amount, t.currency), "by": format_date(p.by, folder), "broken": p.broken, **paid}
    if t.charge > 0:
        variables["charge"] = {"amount": format_money(t.charge, t.currency), "total": format_money(t.amount + t.charge, t.currency)}
    return environment().get_template(f"{folder}/call_script.txt.j2").render(variables)


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


def _item(
    customer: Customer,
    actions: list[Action],
    account: Account,
    as_of: dt.date,
    owner: str | None,
    hours: Callable[[str], str],
    locale: str = i18n.DEFAULT_LOCALE,
) -> WorkItem:
    """One customer's item (rank 0 until ranked), from its merged actions and its account."""
    still_open = {i: amount for i, (amount, _due) in account.open.items()}
    due_dates = {i: due for i, (_amount, due) in account.open.items()}
    concerned = {i for a in actions for i in a.invoices}
    invoices = tuple(sorted(concerned, key=lambda i: (due_dates.get(i, dt.date.max), i))) or tuple(i for i in still_open if due_dates[i] < as_of)
    months = tuple(sorted({m for a in actions for m in a.statements}))
    oldest = max([(as_of - due).days for due in due_dates.values()] + [0])
    amount = sum(still_open.values(), ZERO)
    part = sum((still_open.get(i, ZERO) for i in invoices), ZERO)
    channel = _merge_channel(a.channel for a in actions)
    broken, running = _promise_texts(account.promise, customer.currency)
    last = account.last_contact
    last_contact = restate(last, Locale.en, internal=True) if last else None  # the list's own words are English
    talk = Talk(
        customer.name,
        amount,
        part if part != amount else None,
        invoices,
        months,
        oldest,
        restate(last, customer.locale, internal=True) if last else None,
        account.promise,
        customer.currency,
        account.charge,
    )
    return WorkItem(
        rank=0,
        customer_id=customer.customer_id,
        customer_name=customer.name,
        collector=owner,
        channel=channel,
        actions=tuple(dict.fromkeys(a.action for a in actions)),
        when="" if channel in ("visit", WRITTEN_DEMAND) else hours(customer.country),
        amount_open=amount,
        currency=customer.currency,
        invoices=invoices,
        oldest_days_overdue=oldest,
        broken_promise=broken,
        open_promise=running,
        last_contact=last_contact,
        excuses=account.excuses,
        say=call_script(talk, customer.locale),
        contacts=account.people,
        demand=_demand(actions, locale),
    )


def _customers(session: Session, ids: Sequence[str]) -> list[Customer]:
    return [customer for chunk in _chunks(ids) for customer in session.scalars(select(Customer).where(Customer.customer_id.in_(chunk)))]


def _hours_on(day: dt.date, calendars: CalendarBook) -> Callable[[str], str]:
    """Country -> the call hours of ``day``, worked out once per country, not per customer."""

    @cache
    def hours(country: str) -> str:
        return call_hours(day, calendars.calendar(country))

    return hours


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
    groups: dict[str | None, list[WorkItem]] = defaultdict(list)
    for items in _unranked(session, as_of, policy, collector, company):
        for item in items:
            groups[item.collector].append(item)
    return [item for name in sorted(groups, key=_list_order) for item in _ranked(groups[name])]


def worklist_heads(
    session: Session, as_of: dt.date, rows: int, *, policy: str | Policy = "handbook", company: Company | None = None, planned: Iterable[Action] | None = None
) -> list[tuple[str | None, list[WorkItem], int]]:
    """Each list's first ``rows`` items (ranked as ``worklist`` ranks them) and its length: what the day's artifacts show.

    The whole ledger's list is never held: the items are built a slice of customers at a time and each list keeps
    only its best ``rows`` (the ranking key ends with the customer id, so the best rows of the whole list are the
    best rows of the best rows of its slices), so memory stays flat however many accounts are due.

    ``planned``: the day's plan as the caller already has it (``iter_plan``'s actions in its order, at least those
    ``on_worklist``), so the ledger is not planned once more; without it, the day is planned here.
    """
    best: dict[str | None, list[WorkItem]] = defaultdict(list)
    counts: dict[str | None, int] = defaultdict(int)
    for items in _unranked(session, as_of, policy, None, company, planned):
        for item in items:
            best[item.collector].append(item)
            counts[item.collector] += 1
        for name, kept in best.items():
            if len(kept) > 2 * rows:
                best[name] = sorted(kept, key=lambda i: i.priority)[:rows]
    return [(name, _ranked(best[name])[:rows], counts[name]) for name in sorted(best, key=_list_order)]


def _list_order(name: str | None) -> tuple:
    return (name is None, name or "")


def _ranked(items: list[WorkItem]) -> list[WorkItem]:
    return [_with_rank(item, rank) for rank, item in enumerate(sorted(items, key=lambda i: i.priority), start=1)]


def on_worklist(action: Action) -> bool:
    """The plan's actions a worklist is made of: those for a person (a call, a visit) and the limitation warnings."""
    return action.channel in PERSON_CHANNELS or action.action == LIMITATION_WARNING


# The most worklist actions the daily run keeps from its plan (``KeptForWorklists``): packed, ~80 bytes each, 16 MB at most.
# A larger day's worklists plan the day again (``publish_day``): memory stays flat with the day's size (issue #18).
KEPT_FOR_WORKLISTS = 200_000


class KeptForWorklists:
    """The worklists' actions of a day's plan, kept by the daily run until it builds the worklists (``tasks.ledger.plan_day``).

    ``add`` every action of the plan, in its order: those ``on_worklist`` are kept, stripped (``kept_for_worklist``) and
    packed, ``PACK`` at a time, with ``pickle`` (~80 bytes an action against ~700 as objects, which, scattered among
    the day's facts, also keep the facts' freed memory from being reused): kept as objects, 100,000 accounts' actions took
    the day's peak memory from 145 to 372 MiB; packed, the day's floor takes 121 MiB at 10,000 accounts and 138 MiB at
    100,000, its worklists built without planning the day again. Iterating gives them back in the plan's order. More than ``KEPT_FOR_WORKLISTS``: none kept (``dropped``), the worklists plan the day again.
    Only this process's own objects are pickled, never anything read from outside.
    """

    PACK = 1000
    __slots__ = ("_packs", "_pending", "count")

    def __init__(self) -> None:
        self._packs: list[bytes] = []
        self._pending: list[Action] = []
        self.count = 0  # the worklist actions added, up to the first past the bound

    @property
    def dropped(self) -> bool:
        return self.count > KEPT_FOR_WORKLISTS

    def add(self, action: Action) -> None:
        if self.dropped or not on_worklist(action):
            return
        self.count += 1
        if self.dropped:
            self._packs, self._pending = [], []
            return
        self._pending.append(kept_for_worklist(action))
        if len(self._pending) == self.PACK:
            self._packs.append(pickle.dumps(self._pending, pickle.HIGHEST_PROTOCOL))
            self._pending = []

    def __iter__(self) -> Iterator[Action]:
        if self.dropped:
            raise RuntimeError("the worklists' actions were more than KEPT_FOR_WORKLISTS: none was kept")
        for pack in self._packs:
            yield from pickle.loads(pack)
        yield from self._pending


def kept_for_worklist(action: Action) -> Action:
    """``action`` with only what the worklist reads of it: its reasons only for a limitation warning (the dates of the
    written demand), no steps; what the daily run keeps of its plan until the worklists are built (``tasks.ledger.plan_day``)."""
    return replace(action, steps=(), reasons=action.reasons if action.action == LIMITATION_WARNING else ())


def _unranked(
    session: Session, as_of: dt.date, policy: str | Policy, collector: str | None, company: Company | None, planned: Iterable[Action] | None = None
) -> Iterator[list[WorkItem]]:
    """The day's items (rank 0), ``CHUNK`` customers at a time: the plan's actions for a person, then their accounts in bulk.

    The plan is ``planned`` when given (in ``iter_plan``'s order: customer by customer), else ``iter_plan``'s.
    """
    calendars = calendars_of(company)
    hours = _hours_on(as_of, calendars)
    locale = i18n.company_locale(company)
    if planned is None:
        planned = iter_plan(session, as_of, policy if isinstance(policy, Policy) else load_policy(policy), calendars=calendars)
    by_customer: dict[str, list[Action]] = defaultdict(list)
    for action in planned:
        if on_worklist(action):
            if action.customer_id not in by_customer and len(by_customer) == CHUNK:
                yield _items_of(session, by_customer, as_of, collector, company, hours, locale)
                by_customer = defaultdict(list)
            by_customer[action.customer_id].append(action)
    if by_customer:
        yield _items_of(session, by_customer, as_of, collector, company, hours, locale)


def _items_of(
    session: Session,
    by_customer: Mapping[str, list[Action]],
    as_of: dt.date,
    collector: str | None,
    company: Company | None,
    hours: Callable[[str], str],
    locale: str,
) -> list[WorkItem]:
    """The items of the customers of ``by_customer`` (at most ``CHUNK``), their accounts read in a few queries."""
    owners = {
        c.customer_id: (c, owner_of(c, [a for a in by_customer[c.customer_id] if a.action != LIMITATION_WARNING], company))
        for c in _customers(session, list(by_customer))
    }
    if collector is not None:  # only that list's accounts are read further
        owners = {i: (c, owner) for i, (c, owner) in owners.items() if owner == collector}
    if not owners:
        return []
    accounts = _accounts(session, list(owners), as_of, _charges(session, [c for c, _owner in owners.values()], as_of, company))
    return [_item(c, by_customer[i], accounts[i], as_of, owner, hours, locale) for i, (c, owner) in owners.items()]


def _with_rank(item: WorkItem, rank: int) -> WorkItem:
    return replace(item, rank=rank)


def _line(text: str) -> str:
    """The system's own ``text`` on one line: a line break would end its list entry."""
    return one_line(text)


def _who(item: WorkItem) -> str:
    """``name (id)``, both the customer's data: escaped."""
    return f"{markdown_text(item.customer_name)} ({markdown_text(item.customer_id)})"


COLUMNS = ("#", "Customer", "Open", "Days overdue", "To do")
ALIGN = "|---:|---|---:|---:|---|"
NO_CALLS = "no calls today"


def _to_do(item: WorkItem) -> str:
    """The table's short "To do": ``visit``, ``call 09:00-11:30`` (the best window of its call hours), or ``no calls today``.

    The whole call hours, and why there are no calls, are in the item's entry under the table.
    """
    if item.channel in ("visit", WRITTEN_DEMAND):
        return "visit" if item.channel == "visit" else "written demand"
    if item.when.startswith(NO_CALLS):
        return NO_CALLS
    windows = [w for w in item.when.split(", ") if w]
    best = next((w for w in windows if w.endswith(" (best)")), windows[0] if windows else "")
    return f"call {best.removesuffix(' (best)')}".strip()


def _row(item: WorkItem) -> str:
    """The item's short facts: one table row, narrow enough for the Prefect UI, which never wraps a cell."""
    cells = (str(item.rank), _who(item), format_money(item.amount_open, item.currency), str(item.oldest_days_overdue), _to_do(item))
    return "| " + " | ".join(cells) + " |"


def _entry(item: WorkItem) -> list[str]:
    """The item's long texts: an entry numbered as its row, with whom to ask for, when, what to say, the promise, the last contact.

    Under the table, where they wrap: each customer's text reads as a paragraph.
    Empty details are left out. The texts that hold the customer's data (names,
    contacts, notes restated, invoice ids) are escaped as a whole: none of it is
    markup (``huikuan.documents.escaping``).
    """
    number = f"{item.rank}. "
    indent = " " * len(number)  # a nested line belongs to the entry only when indented as far as its text
    head = f"{number}**{_who(item)}**: {item.channel}, {', '.join(item.actions)}"
    promise = f"**{item.broken_promise}**" if item.broken_promise else item.open_promise
    details = [("Contacts", markdown_text("; ".join(item.contacts))), ("When", item.when), ("Say", markdown_text(item.say)), ("Promise", promise)]
    details.insert(0, ("Limitation", f"**{markdown_text(item.demand)}**" if item.demand else None))
    details += [
        ("Invoices", markdown_text(", ".join(item.invoices))),
        ("Last contact", markdown_text(item.last_contact or "")),
        ("Excuses", ", ".join(item.excuses)),
    ]
    return [_line(head)] + [f"{indent}- {label}: {_line(text)}" for label, text in details if text]


def collector_name(collector: str | None, company: Company | None) -> str:
    """Whose list, as people read it: the person's name with the id (``张伟 (c01)``), the id when the company file
    names nobody by it (or there is none), ``(unassigned)`` for accounts without a collector."""
    if not collector:
        return UNASSIGNED
    person = next((p for p in company.people if p.id == collector), None) if company is not None else None
    return f"{person.name} ({collector})" if person is not None and person.name != collector else collector


def artifact_naming(collector: str | None, company: Company | None, day: dt.date, count: int) -> tuple[str, str]:
    """(key, description) of a collector's worklist artifact in the daily run.

    The key is what Prefect allows (lowercase letters, digits, dashes) and stays the same
    every day, so each collector's lists are one artifact with a history: the id
    (``worklist-c01``), which ``huikuan worklist --collector`` also takes. What people
    read, the description, starts with the person's name: ``张伟 (c01): worklist for …``.
    """
    key = f"worklist-{artifact_key(collector or 'unassigned')}"
    return key, f"{markdown_text(collector_name(collector, company))}: worklist for {day}, {count} to call or visit"


def _group(name: str | None, group: list[WorkItem], names: Mapping[str, str] | None = None) -> list[str]:
    """One collector's section: heading with the count and the amounts open, the table, then the numbered texts."""
    total: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for item in group:
        total[item.currency] += item.amount_open
    whose = markdown_text((names or {}).get(name, name)) if name else UNASSIGNED
    lines = [f"## {whose} ({len(group)}; {', '.join(format_money(v, c) for c, v in sorted(total.items()))} open)", ""]
    lines += ["| " + " | ".join(COLUMNS) + " |", ALIGN, *(_row(i) for i in group), ""]
    for item in group:
        lines += _entry(item)
    return lines + [""]


def worklist_markdown(items: list[WorkItem], as_of: dt.date, company: Company | None = None) -> str:
    """One section per collector (unassigned last), items in rank order: a narrow table, then each row's texts by its number.

    With the company file, a section is headed by the person's name and id (``collector_name``), else by the id.
    """
    lines = [f"# Worklist {as_of.isoformat()}", ""]
    if not items:
        return "\n".join(lines + ["Nobody to call or visit today.", ""])
    groups: dict[str | None, list[WorkItem]] = defaultdict(list)
    for item in items:
        groups[item.collector].append(item)
    names = {name: collector_name(name, company) for name in groups if name} if company is not None else None
    for name in sorted(groups, key=lambda c: (c is None, c or "")):
        lines += _group(name, sorted(groups[name], key=lambda i: i.rank), names)
    return "\n".join(lines)
