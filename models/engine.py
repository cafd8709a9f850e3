"""Evaluate a policy: (customer facts, day, calendar, policy) -> the actions due that day.

Pure: no prefect, no database, no clock. The rules (CONTRACT.md "Date rules"):

- A step's nominal date counts calendar days (or "more than N months") from its
  anchor; a nominal date on a non-working day rolls to the next working day
  (the reminder before the due date to the previous one).
- Cadences are anchored, not relative to the last contact; occurrences that
  roll onto the same working day are one action.
- An invoice calls for nothing once paid in full, nor while under dispute or
  under a running promise to pay (a pause). A one-time step whose date falls in
  a pause waits for its end; a broken promise or a resolved dispute brings the
  policy's ``resume_step`` at once on the next working day, and the cadence then
  goes on.
- Collection actions of one customer on one day merge into one action naming
  every invoice that called for it; its key is ``customer:action:date``.

A ledger that comes under huikuan with old debts has one-time steps whose dates
passed before it: ``missed_steps`` is the explicit catch-up (``huikuan adopt``),
beside the daily answer, never part of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import NamedTuple

from models.calendar import BusinessCalendar, add_months
from models.enums import CustomerStatus, Segment, Settlement
from models.frozen import quick_init
from models.limitation import YEARS, LegalEvent, events_of, limitation, years_later
from models.policy import Anchor, ChronicLateness, Effect, Policy, Roll, Step, Trigger
from models.texts import N_, Reason, Term, Text, step_text

ZERO = Decimal("0.00")
ONE_DAY = dt.timedelta(days=1)
STATEMENT_ORDER = ("none", "prepared", "reviewed", "sent", "confirmed", "invoiced", "invoice_mailed")
CONFIRMATION_DAY = 20  # PROCESS.md §1: the customer confirms by the 20th


# -- facts: what the ledger knows about one customer -------------------------


@quick_init
@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    invoice_id: str
    issued_on: dt.date
    due_on: dt.date
    amount: Decimal
    payments: tuple[tuple[dt.date, Decimal], ...] = ()  # amounts applied to this invoice, by payment date
    disputes: tuple[tuple[dt.date, dt.date | None], ...] = ()  # (opened_on, resolved_on)
    statement_month: str | None = None  # the monthly statement that lists it (YYYY-MM)

    def open_on(self, day: dt.date) -> Decimal:
        if not self.payments:
            return self.amount - ZERO  # the same Decimal (two places at least) as with payments
        return self.amount - sum((amount for on, amount in self.payments if on <= day), ZERO)

    def paid_in_full_on(self) -> dt.date | None:
        paid = ZERO
        for on, amount in sorted(self.payments):
            paid += amount
            if paid >= self.amount:
                return on
        return None


@quick_init
@dataclass(frozen=True, slots=True)
class PromiseFacts:
    made_on: dt.date
    due_on: dt.date
    amount: Decimal
    invoice_ids: frozenset[str]


@quick_init
@dataclass(frozen=True, slots=True)
class InstalmentPlanFacts:
    """An instalment plan (分期付款): dated amounts that replace the ladder while they are paid."""

    made_on: dt.date
    invoice_ids: frozenset[str]
    instalments: tuple[tuple[dt.date, Decimal], ...]  # (due date, amount), by date


@quick_init
@dataclass(frozen=True, slots=True)
class StatementFacts:
    """A monthly statement: its billing month and the day each state was reached."""

    month: str  # YYYY-MM
    reached: Mapping[str, dt.date] = field(default_factory=dict)
    receipts_complete_on: dt.date | None = None
    bounced_on: dt.date | None = None  # its email was not sent, the address bounced (left reviewed)
    readdressed_on: dt.date | None = None  # the address was fixed after that: it is sent again

    def state_on(self, day: dt.date) -> str:
        state = "none"
        for name in STATEMENT_ORDER[1:]:
            on = self.reached.get(name)
            if on is not None and on <= day:
                state = name
        return state

    @property
    def first_of_next_month(self) -> dt.date:
        year, month = (int(p) for p in self.month.split("-"))
        return add_months(dt.date(year, month, 1), 1)


@quick_init
@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """One customer as the ledger records it.

    The account's state is in facets: the credit standing (``status``, since
    ``standing_since``, caused by ``standing_invoices``) and the shipping lock
    (``locked_on``, caused by ``lock_invoices``). ``events_taken`` maps the key
    of every event-triggered step already taken to the day it was taken.
    """

    customer_id: str
    segment: Segment = Segment.ordinary
    settlement: Settlement = Settlement.monthly_statement
    status: CustomerStatus = CustomerStatus.active
    locked_on: dt.date | None = None
    invoices: tuple[InvoiceFacts, ...] = ()
    promises: tuple[PromiseFacts, ...] = ()
    statements: tuple[StatementFacts, ...] = ()
    instalment_plans: tuple[InstalmentPlanFacts, ...] = ()
    lock_invoices: frozenset[str] = frozenset()
    standing_since: dt.date | None = None
    standing_invoices: frozenset[str] = frozenset()
    events_taken: Mapping[str, dt.date] = field(default_factory=dict)
    demands: tuple[LegalEvent, ...] = ()  # written demands delivered (dunning emails and letters the mail server accepted)


# -- what comes out ----------------------------------------------------------


@quick_init
@dataclass(frozen=True, slots=True)
class Action:
    on: dt.date
    customer_id: str
    action: str
    invoices: tuple[str, ...]
    channel: str
    role: str
    needs_approval: bool
    reasons: tuple[str, ...]  # ``models.texts.Reason``s: English strings with their code and values, for the reader's locale
    steps: tuple[str, ...]
    effect: Effect | None = None
    statements: tuple[str, ...] = ()  # billing months of the statements concerned
    catch_up: bool = False  # steps missed before huikuan (`missed_steps`): a key of its own beside the day's
    events: tuple[str, ...] = ()  # keys of the events it answers (taken once: `EventTaken`), sorted

    @property
    def key(self) -> str:
        key = f"{self.customer_id}:{self.action}:{self.on.isoformat()}"
        return key + ":adopt" if self.catch_up else key

    def sort_key(self) -> tuple:
        return (self.on, self.customer_id, self.action)


@quick_init
@dataclass(frozen=True, slots=True)
class Pause:
    """Days [start, end] on which an invoice calls for nothing (end None: until further notice)."""

    start: dt.date
    end: dt.date | None
    why: Reason
    resumes: bool  # a broken promise or a resolved dispute: the resume step comes at once after it
    kind: str = "promise"  # dispute, promise or instalment_plan: a step names the kinds that pause it

    def covers(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


def invoice_pauses(
    invoice: InvoiceFacts, promises: Iterable[PromiseFacts], paid_by_invoice: Mapping[str, tuple], plans: Iterable[InstalmentPlanFacts] = ()
) -> tuple[Pause, ...]:
    """The pauses of one invoice: its disputes, and the promises and instalment plans that cover it."""
    pauses = [Pause(opened, resolved, Reason("disputed", opened_on=opened), resolved is not None, "dispute") for opened, resolved in invoice.disputes]
    pauses += [_plan_pause(plan, paid_by_invoice) for plan in plans if invoice.invoice_id in plan.invoice_ids and plan.instalments]
    for promise in promises:
        if invoice.invoice_id not in promise.invoice_ids:
            continue
        kept_on = _promise_kept_on(promise, paid_by_invoice)
        if kept_on is not None:
            pauses.append(
                Pause(promise.made_on, kept_on, Reason("promise_kept", amount=promise.amount, due_on=promise.due_on, kept_on=kept_on), False, "promise")
            )
        else:
            pauses.append(Pause(promise.made_on, promise.due_on, Reason("promise", amount=promise.amount, due_on=promise.due_on), True, "promise"))
    return tuple(sorted(pauses, key=lambda p: p.start))


def _plan_pause(plan: InstalmentPlanFacts, paid_by_invoice: Mapping[str, tuple]) -> Pause:
    """Paused while every instalment is paid by its date; the first one missed breaks the plan."""
    received = sorted((on, amount) for invoice_id in plan.invoice_ids for on, amount in paid_by_invoice.get(invoice_id, ()) if on >= plan.made_on)
    owed = ZERO
    for due, amount in sorted(plan.instalments):
        owed += amount
        paid = sum((a for on, a in received if on <= due), ZERO)
        if paid < owed:
            return Pause(plan.made_on, due, Reason("plan_missed", made_on=plan.made_on, due_on=due), True, "instalment_plan")
    last = max(due for due, _amount in plan.instalments)
    return Pause(plan.made_on, last, Reason("plan_kept", made_on=plan.made_on), False, "instalment_plan")


def _promise_kept_on(promise: PromiseFacts, paid_by_invoice: Mapping[str, tuple]) -> dt.date | None:
    """The day the payments on the promised invoices reached the amount, if by the promised date."""
    received = sorted(
        (on, amount) for invoice_id in promise.invoice_ids for on, amount in paid_by_invoice.get(invoice_id, ()) if promise.made_on <= on <= promise.due_on
    )
    total = ZERO
    for on, amount in received:
        total += amount
        if total >= promise.amount:
            return on
    return None


_STEPS_CACHE: dict[int, tuple[Policy, dict[Segment, tuple[Step, ...]]]] = {}


def _steps_for(policy: Policy, segment: Segment) -> tuple[Step, ...]:
    """``policy.steps_for(segment)``, computed once per policy object and segment."""
    cached = _STEPS_CACHE.get(id(policy))
    if cached is None or cached[0] is not policy:
        cached = _STEPS_CACHE[id(policy)] = (policy, {})
    if segment not in cached[1]:
        cached[1][segment] = policy.steps_for(segment)
    return cached[1][segment]


class _PolicySteps(NamedTuple):
    """What an ``Evaluator`` needs of the policy's steps for one segment, worked out once per policy and segment."""

    steps: tuple[Step, ...]
    resume: Step | None
    invoice_steps: tuple[Step, ...]
    statement_steps: tuple[Step, ...]
    statement_steps_by_state: dict[str, tuple[Step, ...]]  # the statement steps a statement in each state can call for
    lock_steps: tuple[Step, ...]
    earliest_offset: int  # no step can come earlier than this many days from the due date (pauses only delay)
    landing_tables: dict[tuple[BusinessCalendar, dt.date], dict[dt.date, tuple[Landing, ...]]]  # see ``landings_on``
    shared_landings: dict[tuple, tuple[Landing, ...]]  # each distinct answer of ``landings`` once (``landings_of``)

    @classmethod
    def of(cls, policy: Policy, steps: tuple[Step, ...]) -> _PolicySteps:
        invoice_steps = tuple(s for s in steps if s.scope == "invoice")
        statement_steps = tuple(s for s in steps if s.scope == "statement")
        return cls(
            steps=steps,
            resume=next((s for s in steps if s.id == policy.resume_step), None),
            invoice_steps=invoice_steps,
            statement_steps=statement_steps,
            statement_steps_by_state={
                state: tuple(s for s in statement_steps if s.when.statement_state is None or state in s.when.statement_state) for state in STATEMENT_ORDER
            },
            lock_steps=tuple(s for s in invoice_steps if s.effect is Effect.lock),
            # the margin covers rolling back over a long holiday and working-day offsets
            earliest_offset=min((_earliest(s) for s in invoice_steps), default=0) - 21,
            landing_tables={},
            shared_landings={},
        )

    def landings_on(self, calendar: BusinessCalendar, day: dt.date) -> dict[dt.date, tuple[Landing, ...]]:
        """The table, by due date, of the steps that can come on ``day`` for an invoice nothing holds back (``landings``).

        Its key is all a step's date depends on for such an invoice: the steps (this
        policy and segment), the calendar and the due date; filled in per due date as
        invoices ask, and shared by every invoice of that date. A bounded number of
        days is kept (a simulation walks many).
        """
        key = (calendar, day)
        table = self.landing_tables.get(key)
        if table is None:
            if len(self.landing_tables) >= LANDING_DAYS_KEPT:
                self.landing_tables.clear()
            table = self.landing_tables[key] = {}
        return table

    def landings_of(self, calendar: BusinessCalendar, due_on: dt.date, day: dt.date) -> tuple[Landing, ...]:
        """``landings`` of the invoice steps, as one tuple shared by every due date and day with the same answer.

        The tables hold an entry for each due date and day that invoices asked about (tens of
        thousands over a day's next-action dates): shared, the answers are a handful of tuples.
        """
        found = landings(self.invoice_steps, calendar, due_on, day)
        return self.shared_landings.setdefault(tuple((id(landing.step), *landing[1:]) for landing in found), found)


def _policy_steps(policy: Policy, segment: Segment) -> _PolicySteps:
    """``_PolicySteps`` of ``policy`` for ``segment``, cached beside ``_steps_for``'s."""
    cached = _STEPS_CACHE.get(id(policy))
    if cached is None or cached[0] is not policy:
        cached = _STEPS_CACHE[id(policy)] = (policy, {})
    key = ("view", segment)
    if key not in cached[1]:
        cached[1][key] = _PolicySteps.of(policy, _steps_for(policy, segment))
    return cached[1][key]


def _earliest(step: Step) -> int:
    """The earliest day, counted from the due date, on which an invoice step can come."""
    trigger = step.trigger
    if trigger.cadence is not None:
        return trigger.cadence.start
    if trigger.days is not None and trigger.anchor is Anchor.due:
        return trigger.days * (2 if trigger.working_days else 1)
    return 0


@lru_cache(maxsize=65536)
def _months_later(day: dt.date, months: int) -> dt.date:
    return add_months(day, months)


# -- where the steps' dates land: pure functions of the calendar, the step and the anchor date --

LANDING_DAYS_KEPT = 1024  # (calendar, day) tables of landings kept per policy and segment


class Landing(NamedTuple):
    """A step that can come on a day for an invoice nothing holds back (see ``landings``)."""

    step: Step
    exact: bool  # its date is the day; False: it may be (anchored on the lock or the limitation date), the full computation decides
    by_lock: bool = False  # counted from the lock: only for a locked account
    skip: int = 0  # a one-time step's ``skip_after_progress_days`` (progress skips it; never a cadence)


def offsets_onto(calendar: BusinessCalendar, day: dt.date, how: Roll, anchor: dt.date) -> tuple[int, int]:
    """The range of offsets from ``anchor`` whose nominal date rolls onto ``day`` (empty: first > last)."""
    window = calendar.days_rolling_onto(day, how is Roll.backward)
    if window is None:
        return 1, 0
    return (window[0] - anchor).days, (window[1] - anchor).days


def cadence_lands(calendar: BusinessCalendar, trigger: Trigger, anchor: dt.date, day: dt.date) -> bool:
    """Does a nominal date of the trigger's cadence, counted from ``anchor``, roll onto ``day``?"""
    cadence = trigger.cadence
    first, last = offsets_onto(calendar, day, trigger.roll, anchor)
    first = max(first, cadence.start)
    k = first + (-(first - cadence.start)) % cadence.every  # the first cadence offset >= first
    return k <= last and (cadence.end is None or k <= cadence.end)


def due_step_lands(calendar: BusinessCalendar, trigger: Trigger, due_on: dt.date, day: dt.date) -> bool:
    """Does a one-time step counted in calendar days or months from ``due_on`` come on ``day``, nothing holding it back?

    No date arithmetic: only the few nominal dates that roll onto ``day`` can be the
    step's, so an offset range decides.
    """
    first, last = offsets_onto(calendar, day, trigger.roll, due_on)
    if first > last:
        return False
    if trigger.days is not None:
        return first <= trigger.days <= last
    if first > 31 * trigger.months + 1 or last < 28 * trigger.months + 1:
        return False
    return first <= (_months_later(due_on, trigger.months) - due_on).days + 1 <= last


def earliest_limitation_day(calendar: BusinessCalendar, trigger: Trigger, due_on: dt.date) -> dt.date:
    """No step counted from the limitation date comes before this day.

    The period ends ``YEARS`` after the due date at the earliest: restarts only move
    it later, and rolling a date off a day off is monotone.
    """
    nominal = years_later(due_on, YEARS) + dt.timedelta(days=trigger.days)
    return calendar.roll_forward(nominal) if trigger.roll is Roll.forward else calendar.roll_backward(nominal)


def landings(steps: Iterable[Step], calendar: BusinessCalendar, due_on: dt.date, day: dt.date) -> tuple[Landing, ...]:
    """The invoice steps (in order) that can come on ``day`` for an invoice due on ``due_on`` that nothing holds back.

    A cadence, or a step counted from the due date, is exact: with no pause its date
    depends on nothing but the due date, the trigger and the calendar. A step counted
    from the lock or the limitation date depends on the account too: it is kept
    unless the limitation date cannot have come yet. Steps counted from the payment
    are left out (``Evaluator.invoice_calls`` looks at them for paid invoices only).
    """
    found = []
    for step in steps:
        trigger = step.trigger
        if trigger.anchor is Anchor.paid:
            continue
        if trigger.repeats:
            if cadence_lands(calendar, trigger, due_on, day):
                found.append(Landing(step, True, trigger.anchor is Anchor.lock))
        elif trigger.anchor is Anchor.due:
            if calendar.add_working_days(due_on, trigger.days) == day if trigger.working_days else due_step_lands(calendar, trigger, due_on, day):
                found.append(Landing(step, True, False, step.skip_after_progress_days or 0))
        elif trigger.anchor is not Anchor.limitation or day >= earliest_limitation_day(calendar, trigger, due_on):
            found.append(Landing(step, False, trigger.anchor is Anchor.lock, step.skip_after_progress_days or 0))
    return tuple(found)


def is_chronically_late(lateness: Iterable[int], rule: ChronicLateness) -> bool:
    """``lateness``: days late of the customer's most recent items, newest first."""
    recent = list(lateness)[: rule.of_last]
    return sum(1 for days in recent if days > rule.days) >= rule.at_least


# -- evaluation --------------------------------------------------------------

LIFT_LOCK = "lift_lock"


class Call(NamedTuple):
    """A step that an invoice or a statement calls for on a day, why, and the event it answers (if any)."""

    step: Step
    reason: Reason
    event: str | None = None


# The built-in step that lifts a lock once the debts that caused it are paid (the policy's ``lift_lock``).
_LIFT_LOCK_STEP = Step(
    action=LIFT_LOCK,
    trigger=Trigger(anchor=Anchor.paid, days=0),
    channel="internal",
    role="finance",
    effect=Effect.unlock,
    reason=N_("the debts that caused the lock are paid; the lock is lifted and the people who ship are told"),
)


class Evaluator:
    """The policy and calendar for one customer; answers "what is due on this day?"."""

    def __init__(self, facts: CustomerFacts, policy: Policy, calendar: BusinessCalendar) -> None:
        self.facts = facts
        self.policy = policy
        self.cal = calendar
        steps = self._view = _policy_steps(policy, facts.segment)
        self.steps, self.resume, self.earliest_offset = steps.steps, steps.resume, steps.earliest_offset
        self.invoice_steps, self.statement_steps, self.lock_steps = steps.invoice_steps, steps.statement_steps, steps.lock_steps
        self.status_events: list[tuple[dt.date, Effect]] = []  # effects taken in a simulation, in order
        self._locked_on = facts.locked_on
        self._lock_invoices = facts.lock_invoices
        self._standing_since = facts.standing_since
        self._standing_invoices = facts.standing_invoices
        self.events_taken: dict[str, dt.date] = dict(facts.events_taken)
        self._chronic: dict[tuple[dt.date, str], bool] = {}
        self._applies: dict[tuple[str, dt.date], bool] = {}
        self._landing_day: dt.date | None = None
        self._landing_table: dict[dt.date, tuple[Landing, ...]] = {}
        self._day_steps: dict[dt.date, tuple[Step, ...]] = {}
        self._legal_events: tuple[LegalEvent, ...] | None = None
        self._limitation_dates: dict[tuple[str, dt.date | None], dt.date] = {}

    @cached_property
    def pauses(self) -> dict[str, tuple[Pause, ...]]:
        """Each invoice's pauses, by invoice id (``invoice_pauses``).

        Without promises or instalment plans, an invoice's pauses are its disputes only:
        none for an invoice never disputed, without looking further.
        """
        facts = self.facts
        if not facts.promises and not facts.instalment_plans:
            return {i.invoice_id: invoice_pauses(i, (), {}) if i.disputes else () for i in facts.invoices}
        paid = {i.invoice_id: i.payments for i in facts.invoices}
        return {i.invoice_id: invoice_pauses(i, facts.promises, paid, facts.instalment_plans) for i in facts.invoices}

    def pauses_of_invoice(self, invoice: InvoiceFacts) -> tuple[Pause, ...]:
        """``pauses[invoice.invoice_id]``; none, without working out ``pauses``, for an invoice never disputed of a customer without promises or plans."""
        if invoice.disputes or self.facts.promises or self.facts.instalment_plans:
            return self.pauses[invoice.invoice_id]
        return ()

    @cached_property
    def paid_in_full(self) -> dict[str, dt.date | None]:
        """The day each invoice was paid in full, by invoice id (None: not paid in full); worked out on first use."""
        return {i.invoice_id: i.paid_in_full_on() for i in self.facts.invoices}

    def record_effect(self, effect: Effect, day: dt.date, invoices: Iterable[str] = ()) -> None:
        """An effect taken on ``day`` (in a simulation) because of ``invoices``: later conditions see it."""
        if effect is Effect.lock:
            if self._locked_on is None:
                self._locked_on, self._lock_invoices = day, frozenset(invoices)
        elif effect is Effect.unlock:
            self._locked_on, self._lock_invoices = None, frozenset()
        else:
            self.status_events.append((day, effect))
            self._standing_since, self._standing_invoices = day, frozenset(invoices)
        self._applies.clear()
        self._day_steps.clear()

    def record_taken(self, action: Action, day: dt.date) -> None:
        """``action`` was taken on ``day`` (in a simulation): the events it answers are taken."""
        for event in action.events:
            self.events_taken.setdefault(event, day)

    def event_open(self, event: str, day: dt.date) -> bool:
        """An event-triggered step is due on ``day`` unless a run took it before ``day``."""
        taken = self.events_taken.get(event)
        return taken is None or taken >= day

    def late_event_due(self, since: dt.date, event: str, day: dt.date) -> bool:
        """A step caught up on ``event`` (of ``since``) is due on ``day``: a working day, within the late-event window, not taken before."""
        return self.recent_event(since, day) and self.event_open(event, day) and self.cal.is_working_day(day)

    def recent_event(self, since: dt.date, day: dt.date) -> bool:
        """An event of ``since`` is still caught up on ``day`` (the policy's ``late_event_days``)."""
        return since <= day and (day - since).days <= self.policy.late_event_days

    def steps_on(self, day: dt.date) -> tuple[Step, ...]:
        """The invoice steps that concern this customer on ``day`` (conditions are per customer)."""
        if day not in self._day_steps:
            locked = self.locked_on is not None and self.locked_on <= day
            self._day_steps[day] = tuple(
                s
                for s in self.invoice_steps
                if s.trigger.anchor is not Anchor.paid and (locked or s.trigger.anchor is not Anchor.lock) and self.applies(s, day)
            )
        return self._day_steps[day]

    # -- customer-level conditions --

    def standing_on(self, day: dt.date) -> CustomerStatus:
        """The credit standing on ``day`` (the lock is a facet of its own)."""
        status = self.facts.status
        for on, effect in self.status_events:
            if on <= day:
                status = _STATUS_OF_EFFECT[effect]
        return CustomerStatus.active if status is CustomerStatus.locked else status

    def status_on(self, day: dt.date) -> CustomerStatus:
        """The standing, or ``locked`` for a locked account in normal standing (what policy conditions test)."""
        status = self.standing_on(day)
        if status is CustomerStatus.active and self.locked_on is not None and self.locked_on <= day:
            return CustomerStatus.locked
        return status

    @property
    def locked_on(self) -> dt.date | None:
        return self._locked_on

    @property
    def lock_invoices(self) -> frozenset[str]:
        return self._lock_invoices

    def chronic_late_payer(self, day: dt.date) -> bool:
        if (day, "payer") not in self._chronic:
            self._chronic[day, "payer"] = self._chronic_late_payer(day)
        return self._chronic[day, "payer"]

    def chronic_late_confirmer(self, day: dt.date) -> bool:
        if (day, "confirmer") not in self._chronic:
            self._chronic[day, "confirmer"] = self._chronic_late_confirmer(day)
        return self._chronic[day, "confirmer"]

    def _chronic_late_payer(self, day: dt.date) -> bool:
        paid = sorted(
            (
                (self.paid_in_full[i.invoice_id], i.due_on)
                for i in self.facts.invoices
                if self.paid_in_full[i.invoice_id] is not None and self.paid_in_full[i.invoice_id] <= day
            ),
            key=lambda pair: pair[1],
            reverse=True,
        )
        return is_chronically_late(((paid_on - due).days for paid_on, due in paid), self.policy.chronic_late_payer)

    def _chronic_late_confirmer(self, day: dt.date) -> bool:
        lateness = []
        for statement in sorted(self.facts.statements, key=lambda s: s.month, reverse=True):
            deadline = statement.first_of_next_month.replace(day=CONFIRMATION_DAY)
            if deadline >= day or statement.reached.get("sent") is None:
                continue
            confirmed = statement.reached.get("confirmed")
            lateness.append(((confirmed if confirmed and confirmed <= day else day) - deadline).days)
        return is_chronically_late(lateness, self.policy.chronic_late_confirmer)

    def applies(self, step: Step, day: dt.date) -> bool:
        """Does the step concern this customer on ``day``? (Customer-level: cached per day.)"""
        key = (step.id, day)
        if key not in self._applies:
            self._applies[key] = self._applies_now(step, day)
        return self._applies[key]

    def _applies_now(self, step: Step, day: dt.date) -> bool:
        facts, condition = self.facts, step.when
        if condition.segment is not None and facts.segment not in condition.segment:
            return False
        if condition.settlement is not None and facts.settlement not in condition.settlement:
            return False
        if condition.status is not None and self.status_on(day) not in condition.status:
            return False
        if condition.chronic_late_payer is not None and self.chronic_late_payer(day) != condition.chronic_late_payer:
            return False
        if condition.chronic_late_confirmer is not None and self.chronic_late_confirmer(day) != condition.chronic_late_confirmer:
            return False
        return not self._effect_in_force(step, day)

    def _effect_in_force(self, step: Step, day: dt.date) -> bool:
        """A step whose effect already holds is not taken again (an account already locked)."""
        if step.effect is Effect.lock:
            return self.locked_on is not None and self.locked_on <= day
        if step.effect in _SEVERITY_OF_EFFECT:
            return _SEVERITY.get(self.standing_on(day), 0) >= _SEVERITY_OF_EFFECT[step.effect]
        return False

    # -- dates --

    def roll(self, day: dt.date, how: Roll) -> dt.date:
        return self.cal.roll_forward(day) if how is Roll.forward else self.cal.roll_backward(day)

    def pauses_of(self, step: Step, invoice: InvoiceFacts) -> tuple[Pause, ...]:
        """The invoice's pauses of the kinds that hold this step back."""
        return tuple(p for p in self.pauses[invoice.invoice_id] if p.kind in step.pauses)

    def one_time_date(self, step: Step, invoice: InvoiceFacts) -> dt.date | None:
        """The invoice step's date after rolling and waiting out pauses; None if it never comes."""
        day = self.scheduled_date(step, invoice)
        return None if day is None else self.after_pauses(day, self.pauses_of(step, invoice))

    def scheduled_date(self, step: Step, invoice: InvoiceFacts, day: dt.date | None = None) -> dt.date | None:
        """The invoice step's rolled date, before pauses, as known on ``day``; None if it cannot come."""
        trigger = step.trigger
        if trigger.anchor is Anchor.limitation:
            nominal = self.limitation_date(invoice, day) + dt.timedelta(days=trigger.days)
        elif trigger.anchor is Anchor.lock:
            locked_on = self.locked_on
            if locked_on is None:
                return None
            reached = [d for d in (self.one_time_date(s, invoice) for s in self.lock_steps) if d is not None]
            if not reached:
                return None
            nominal = max(locked_on, min(reached)) + dt.timedelta(days=trigger.days)
        elif trigger.months is not None:
            nominal = _months_later(invoice.due_on, trigger.months) + ONE_DAY
        elif trigger.anchor is Anchor.paid:
            paid_on = self.paid_in_full[invoice.invoice_id]
            if paid_on is None:
                return None
            nominal = paid_on + dt.timedelta(days=trigger.days)
        elif trigger.working_days:
            return self.cal.add_working_days(invoice.due_on, trigger.days)
        else:
            nominal = invoice.due_on + dt.timedelta(days=trigger.days)
        day = self.roll(nominal, trigger.roll)
        return None if day < invoice.issued_on else day

    def limitation_date(self, invoice: InvoiceFacts, day: dt.date | None = None) -> dt.date:
        """The last day the invoice can be enforced (诉讼时效, ``models.limitation``), as known on ``day`` (None: from all the facts)."""
        if self._legal_events is None:
            self._legal_events = events_of(self.facts)
        if day is not None and all(event.on <= day for event in self._legal_events):
            day = None  # nothing recorded after the day: the same answer as from all the facts
        key = (invoice.invoice_id, day)
        found = self._limitation_dates.get(key)
        if found is None:
            events = self._legal_events if day is None else [e for e in self._legal_events if e.on <= day]
            found = self._limitation_dates[key] = limitation(invoice.invoice_id, invoice.due_on, events, self.cal).expires_on
        return found

    def after_pauses(self, day: dt.date, pauses: tuple[Pause, ...]) -> dt.date | None:
        """``day``, or the first working day after every pause that covers it."""
        moved = True
        while moved:
            moved = False
            for pause in pauses:
                if pause.covers(day):
                    if pause.end is None:
                        return None
                    day = self.cal.next_working_day(pause.end)
                    moved = True
        return day

    def cadence_hits(self, step: Step, anchor: dt.date, day: dt.date) -> bool:
        """Does a nominal date of the cadence roll onto ``day``?"""
        return cadence_lands(self.cal, step.trigger, anchor, day)

    def lands_on(self, step: Step, invoice: InvoiceFacts, day: dt.date) -> bool:
        """Does the one-time step come on ``day``?

        The common case (counted in days or months from the due date, nothing
        holding it back) needs no date arithmetic: only the few nominal dates
        that roll onto ``day`` can be the step's, so an offset range decides.
        """
        trigger = step.trigger
        if trigger.anchor is Anchor.limitation and day < earliest_limitation_day(self.cal, trigger, invoice.due_on):
            return False
        pauses = self.pauses_of(step, invoice) if self.pauses[invoice.invoice_id] else ()
        if pauses or trigger.anchor is not Anchor.due or trigger.working_days:
            scheduled = self.scheduled_date(step, invoice, day)
            return scheduled is not None and self.after_pauses(scheduled, pauses) == day
        return due_step_lands(self.cal, trigger, invoice.due_on, day)

    @staticmethod
    def paid_recently(invoice: InvoiceFacts, day: dt.date, days: int) -> bool:
        """Progress on the invoice: a payment in the ``days`` before ``day``.

        Promises and disputes count as progress through their pauses: a step
        they held back comes when they end, as the contract says.
        """
        since = day - dt.timedelta(days=days)
        return any(since <= on <= day for on, _amount in invoice.payments)

    # -- what is due --

    def invoice_calls(self, invoice: InvoiceFacts, day: dt.date) -> list[Call] | tuple[()]:
        """The steps this invoice calls for on ``day``, each with its reason (a list; no call: an empty tuple)."""
        if day < invoice.issued_on:
            return ()
        if invoice.open_on(day) <= 0:
            return list(self._after_payment_calls(invoice, day))
        overdue = (day - invoice.due_on).days
        if overdue < self.earliest_offset or not self.cal.is_working_day(day):
            return ()  # too early for any step; and no step, held back or not, lands on a day off
        pauses = self.pauses_of_invoice(invoice)
        if not pauses:
            return self._unheld_calls(invoice, day, overdue)
        return list(self._held_calls(invoice, day, overdue, pauses))

    def _held_calls(self, invoice: InvoiceFacts, day: dt.date, overdue: int, pauses: tuple[Pause, ...]) -> Iterator[Call]:
        """``invoice_calls`` of an open invoice with pauses (a dispute, a promise, a plan), on a working day from its earliest step."""
        holding = {p.kind for p in pauses if p.covers(day)}
        for step in self.steps_on(day):
            if holding and holding & step.pauses:
                continue
            if step.trigger.repeats:
                hit = self.cadence_hits(step, invoice.due_on, day)
            else:
                hit = self.lands_on(step, invoice, day)
                if (
                    hit
                    and step.skip_after_progress_days
                    and self.scheduled_date(step, invoice) == day
                    and self.paid_recently(invoice, day, step.skip_after_progress_days)
                ):
                    hit = False
            if hit:
                yield Call(step, self._invoice_reason(step, invoice, overdue, day))
        if self.resume is not None and overdue > 0 and not holding & self.resume.pauses:
            for pause in pauses:
                if not (pause.resumes and pause.kind in self.resume.pauses and pause.end is not None):
                    continue
                since = self.cal.next_working_day(pause.end)
                event = f"{self.facts.customer_id}:resume:{invoice.invoice_id}:{pause.kind}:{pause.end.isoformat()}"
                if self.recent_event(since, day) and self.event_open(event, day):
                    said = dict(invoice=invoice.invoice_id, pause=pause.why, action=Term(self.resume.action))
                    reason = Reason("resumed_late", since=since, **said) if since < day else Reason("resumed", **said)
                    yield Call(self.resume, reason, event)
                    break

    def _unheld_calls(self, invoice: InvoiceFacts, day: dt.date, overdue: int) -> list[Call] | tuple[()]:
        """``invoice_calls`` of an open invoice that no pause concerns, on a working day.

        Only the steps of ``landings`` for its due date and the day are looked at (the
        same table for every invoice of that date): the others cannot land on the day.
        Then, as for any invoice, the customer's conditions, the dates that depend on
        the account (lock, limitation) and the skip after progress.
        """
        if self._landing_day != day:
            self._landing_day, self._landing_table = day, self._view.landings_on(self.cal, day)
        found = self._landing_table.get(invoice.due_on)
        if found is None:
            found = self._landing_table[invoice.due_on] = self._view.landings_of(self.cal, invoice.due_on, day)
        if not found:
            return ()
        locked = self._locked_on is not None and self._locked_on <= day  # ``locked_on``
        calls = []
        for step, exact, by_lock, skip in found:
            if (by_lock and not locked) or not self.applies(step, day):
                continue  # what ``steps_on`` leaves out
            if not exact and not self.lands_on(step, invoice, day):
                continue
            if skip and self.scheduled_date(step, invoice) == day and self.paid_recently(invoice, day, skip):
                continue  # progress skips a one-time step on its own date, not a cadence
            calls.append(Call(step, self._invoice_reason(step, invoice, overdue, day)))
        return calls

    def _invoice_reason(self, step: Step, invoice: InvoiceFacts, overdue: int, day: dt.date) -> Reason:
        reason = reason_for(step, invoice, overdue)
        if step.trigger.anchor is Anchor.limitation:
            reason = Reason("limitation_date", reason=reason, date=self.limitation_date(invoice, day))
        return reason

    def _after_payment_calls(self, invoice: InvoiceFacts, day: dt.date) -> Iterator[Call]:
        """Steps counted from the day the invoice was paid (the credit policy's resumption).

        An event: due from its date on the first run that sees the payment, however
        late the payment was recorded, and taken once. Only a payment made since
        the credit standing changed, or of a debt that changed it, counts.
        """
        if not self.cal.is_working_day(day):
            return
        paid_on = self.paid_in_full[invoice.invoice_id]
        for step in self.invoice_steps:
            if step.trigger.anchor is not Anchor.paid or not self.applies(step, day):
                continue
            since = self.scheduled_date(step, invoice)
            if since is None or not self.recent_event(since, day) or not self._after_standing_change(invoice, paid_on):
                continue
            event = f"{self.facts.customer_id}:{step.id}:{invoice.invoice_id}:{paid_on.isoformat()}"
            if self.event_open(event, day):
                yield Call(step, Reason("paid_in_full", invoice=invoice.invoice_id, paid_on=paid_on, step=step_text(step.reason, step.action)), event)

    def _after_standing_change(self, invoice: InvoiceFacts, paid_on: dt.date) -> bool:
        if self._standing_since is None:
            return True  # a ledger from before the standing was dated: the late-event window bounds it
        return invoice.invoice_id in self._standing_invoices or paid_on >= self._standing_since

    def lock_call(self, day: dt.date) -> tuple[Call, tuple[str, ...]] | None:
        """Lifting the lock: due from the day the debts that caused it are all paid, until taken once.

        The debts are the invoices the stop-shipment named (for a lock recorded
        without them, every invoice due before the lock).
        """
        locked_on = self.locked_on
        if locked_on is None or locked_on > day or self.policy.lift_lock == "never" or not self.cal.is_working_day(day):
            return None
        causes = [i for i in self.facts.invoices if i.invoice_id in self._lock_invoices] or [i for i in self.facts.invoices if i.due_on < locked_on]
        paid = [i.paid_in_full_on() for i in causes]
        if not causes or any(on is None or on > day for on in paid):
            return None
        since = self.cal.roll_forward(max(locked_on, *paid))
        event = f"{self.facts.customer_id}:{LIFT_LOCK}:{locked_on.isoformat()}"
        if since > day or not self.event_open(event, day):
            return None
        step = _LIFT_LOCK_STEP.model_copy(update={"needs_approval": self.policy.lift_lock == "ask_when_paid"})
        debts = tuple(sorted(i.invoice_id for i in causes))
        reason = Reason("lock_paid", locked_on=locked_on, debts=debts, paid_on=max(paid), step=step_text(step.reason, step.action))
        return Call(step, reason, event), debts

    def statement_calls(self, statement: StatementFacts, day: dt.date) -> Iterator[Call]:
        state = statement.state_on(day)
        for step in self._view.statement_steps_by_state[state]:
            if not self.applies(step, day):
                continue
            trigger = step.trigger
            fixed = self.readdressed_on(statement, step, state)
            if fixed is not None:  # the bounce left it unsent: sent again for the fix, not for its dates
                event = f"{self.facts.customer_id}:{step.id}:{statement.month}:readdressed:{fixed.isoformat()}"
                if self.late_event_due(self.cal.roll_forward(fixed), event, day):
                    yield Call(step, readdressed_reason(step, statement, fixed), event)
                continue
            if trigger.anchor is Anchor.billing_month:
                base = self._day_of_month(statement, trigger.day_of_month) + dt.timedelta(days=trigger.days or 0)
            elif trigger.anchor is Anchor.statement_sent:
                base = statement.reached.get("sent")
            else:
                base = statement.receipts_complete_on
            if base is None:
                continue
            if trigger.repeats:
                hit = self.cadence_hits(step, base, day)
            else:
                due = self.roll(base + dt.timedelta(days=trigger.days or 0) if trigger.anchor is not Anchor.billing_month else base, trigger.roll)
                reached = statement.reached.get(state)
                if reached is not None and reached > due:
                    # Never before the state it needs: a late state brings it at once, on the first
                    # run that sees it (the state may be recorded days after its date), once.
                    event = f"{self.facts.customer_id}:{step.id}:{statement.month}:{state}"
                    if self.late_event_due(self.cal.roll_forward(reached), event, day):
                        yield Call(step, statement_reason(step, statement), event)
                    continue
                hit = due == day
            if hit:
                yield Call(step, statement_reason(step, statement))

    @staticmethod
    def readdressed_on(statement: StatementFacts, step: Step, state: str) -> dt.date | None:
        """The day the address of a statement whose email bounced was fixed, when ``step`` sends it; else None.

        The statement stays ``reviewed`` when its address bounced; a new address (``readdressed_on``)
        brings its sending step like any late event (``late_event_due``), once for each fix.
        """
        fixed = statement.readdressed_on
        if fixed is None or state != "reviewed" or step.effect is not Effect.statement_sent or statement.bounced_on is None:
            return None
        return fixed

    @staticmethod
    def _day_of_month(statement: StatementFacts, day_of_month: int) -> dt.date:
        return billing_month_day(statement.month, day_of_month)

    def actions_on(self, day: dt.date) -> list[Action]:
        """Every action due on ``day``, merged per action.

        None on a day off: every step's date is rolled onto a working day, and the
        steps that catch up on an event wait for one too.
        """
        if not self.cal.is_working_day(day):
            return []
        calls: dict[str, list[tuple[Call, str]]] = {}  # action -> (call, subject)
        for invoice in self.facts.invoices:
            for call in self.invoice_calls(invoice, day):
                calls.setdefault(call.step.action, []).append((call, invoice.invoice_id))
        for statement in self.facts.statements:
            for call in self.statement_calls(statement, day):
                calls.setdefault(call.step.action, []).append((call, "statement " + statement.month))
        lift = self.lock_call(day)
        if lift is not None:
            call, debts = lift
            calls[LIFT_LOCK] = [(call, invoice_id) for invoice_id in debts]
        return [_merge(self.facts.customer_id, day, action, entries) for action, entries in calls.items()]


_STATUS_OF_EFFECT = {
    Effect.cut_credit_limit: CustomerStatus.active,
    Effect.suspend_credit: CustomerStatus.credit_suspended,
    Effect.cash_only: CustomerStatus.cash_only,
    Effect.blacklist: CustomerStatus.blacklisted,
}
_SEVERITY = {CustomerStatus.credit_suspended: 1, CustomerStatus.cash_only: 2, CustomerStatus.blacklisted: 3}
_SEVERITY_OF_EFFECT = {Effect.suspend_credit: 1, Effect.cash_only: 2, Effect.blacklist: 3}


@lru_cache(maxsize=4096)
def billing_month_day(month: str, day_of_month: int) -> dt.date:
    """The nominal ``day_of_month`` of the month after billing month ``month`` (YYYY-MM), its last day if shorter."""
    year, number = (int(p) for p in month.split("-"))
    first = add_months(dt.date(year, number, 1), 1)
    last = add_months(first, 1) - ONE_DAY
    return first.replace(day=min(day_of_month, last.day))


def statement_deadline(month: str, day_of_month: int, calendar: BusinessCalendar, how: Roll = Roll.forward) -> dt.date:
    """When a statement step ``by the day_of_month`` of billing month ``month`` is due: the policy's rule.

    The nominal day (``billing_month_day``) moved off a non-working day of ``calendar``,
    to the next working day (顺延) or, ``how`` backward, to the previous one; the same
    rule the evaluator applies to a ``{anchor: billing_month, day_of_month: N}`` step,
    and the one the statement report and the demo's statement cycle use.
    """
    day = billing_month_day(month, day_of_month)
    return calendar.roll_forward(day) if how is Roll.forward else calendar.roll_backward(day)


def reason_for(step: Step, invoice: InvoiceFacts, overdue: int) -> Reason:
    """``Reason("invoice_age", invoice=..., age=..., step=...)``, its English put together from the text around the invoice id."""
    age, words, before, after = _invoice_age_parts(overdue, step.reason, step.action)
    return Reason.written("invoice_age", before + invoice.invoice_id + after, invoice=invoice.invoice_id, age=age, step=words)


_INVOICE_MARK = "\0"  # in no text: where the invoice id goes


@lru_cache(maxsize=4096)
def _invoice_age_parts(overdue: int, reason: str, action: str) -> tuple[Reason, Text | Term, str, str]:
    """The values of an ``invoice_age`` reason but the invoice's, and its English before and after the invoice id: one per age and step."""
    age, words = _age(overdue), _step_words(reason, action)
    before, after = Reason("invoice_age", invoice=_INVOICE_MARK, age=age, step=words).split(_INVOICE_MARK)
    return age, words, before, after


@lru_cache(maxsize=4096)
def _age(overdue: int) -> Reason:
    """An invoice's age ``overdue`` days after its due date; one shared (immutable) text per number of days."""
    if overdue > 0:
        return Reason("overdue", days=overdue)
    if overdue == 0:
        return Reason("due_today")
    return Reason("due_in", days=-overdue)


@lru_cache(maxsize=1024)
def _step_words(reason: str, action: str) -> Text | Term:
    """``step_text``, one shared (immutable) text per step's words."""
    return step_text(reason, action)


def statement_reason(step: Step, statement: StatementFacts) -> Reason:
    return Reason("statement", month=statement.month, step=step_text(step.reason, step.action))


def readdressed_reason(step: Step, statement: StatementFacts, fixed: dt.date) -> Reason:
    """Why a statement whose email bounced is sent again: the bounce and the fix, dated."""
    return Reason("statement_readdressed", month=statement.month, bounced_on=statement.bounced_on, fixed_on=fixed, step=step_text(step.reason, step.action))


def _merge(customer_id: str, day: dt.date, action: str, entries: list[tuple[Call, str]]) -> Action:
    """One action from its calls (call, subject: an invoice id or "statement YYYY-MM"), gathered in one pass."""
    if len(entries) == 1:
        return _one(customer_id, day, action, *entries[0])
    invoices: set[str] = set()
    statements: set[str] = set()
    reasons: dict[str, None] = {}  # in order, each once
    steps: dict[str, None] = {}
    events: set[str] = set()
    needs_approval, effect = False, None
    for call, subject in entries:
        step = call.step
        if subject.startswith("statement "):
            statements.add(subject.removeprefix("statement "))
        elif subject:
            invoices.add(subject)
        reasons[call.reason] = None
        steps[step.id] = None
        if call.event:
            events.add(call.event)
        if step.needs_approval:
            needs_approval = True
        if effect is None:
            effect = step.effect
    first = entries[0][0].step
    return Action(
        on=day,
        customer_id=customer_id,
        action=action,
        invoices=tuple(sorted(invoices)),
        channel=first.channel,
        role=first.role,
        needs_approval=needs_approval,
        reasons=tuple(reasons),
        steps=tuple(steps),
        effect=effect,
        statements=tuple(sorted(statements)),
        events=tuple(sorted(events)),
    )


def _one(customer_id: str, day: dt.date, action: str, call: Call, subject: str) -> Action:
    """``_merge`` of a single call (most actions): the same action, without the sets and sorting."""
    step = call.step
    statement = subject.startswith("statement ")
    return Action(
        on=day,
        customer_id=customer_id,
        action=action,
        invoices=(subject,) if subject and not statement else (),
        channel=step.channel,
        role=step.role,
        needs_approval=bool(step.needs_approval),
        reasons=(call.reason,),
        steps=(step.id,),
        effect=step.effect,
        statements=(subject.removeprefix("statement "),) if statement else (),
        events=(call.event,) if call.event else (),
    )


def actions_due(facts: CustomerFacts, day: dt.date, policy: Policy, calendar: BusinessCalendar) -> list[Action]:
    """The actions due for one customer on ``day``, sorted by action name."""
    return sorted(Evaluator(facts, policy, calendar).actions_on(day), key=Action.sort_key)


def missed_steps(facts: CustomerFacts, day: dt.date, policy: Policy, calendar: BusinessCalendar, *, taken: Collection[tuple[str, str]] = ()) -> list[Action]:
    """The one-time steps whose dates passed before huikuan took the ledger over: what ``adopt`` takes on ``day``.

    For each invoice open on ``day`` and not held back then (a dispute, a
    running promise or instalment plan), every one-time step counted from after
    its due date (not the reminder before it, not a cadence, a statement step or
    a letter counted from the lock) whose date, rolled and after pauses, is
    before ``day``, whose conditions hold on ``day`` (one whose effect already
    holds is not taken) and that ``taken`` (action, invoice id) does not name.
    Merged per action like ``actions_on``, dated ``day``; their keys end in
    ``:adopt``, apart from the day's own.
    """
    evaluator = Evaluator(facts, policy, calendar)
    calls: dict[str, list[tuple[Call, str]]] = {}
    for invoice in facts.invoices:
        if day < invoice.issued_on or invoice.open_on(day) <= 0:
            continue
        holding = {p.kind for p in evaluator.pauses[invoice.invoice_id] if p.covers(day)}
        for step in evaluator.steps_on(day):
            if not _after_due(step) or holding & step.pauses or (step.action, invoice.invoice_id) in taken:
                continue
            on = evaluator.one_time_date(step, invoice)
            if on is None or on >= day:
                continue
            skip = step.skip_after_progress_days
            if skip and evaluator.scheduled_date(step, invoice) == on and evaluator.paid_recently(invoice, on, skip):
                continue  # progress on its own date: the step was never due
            reason = Reason("missed", due_on=on, invoice=invoice.invoice_id, days=(day - invoice.due_on).days, step=step_text(step.reason, step.action))
            calls.setdefault(step.action, []).append((Call(step, reason), invoice.invoice_id))
    # Status effects taken at once: only the strongest, as a weaker one taken after it would undo it.
    strongest = max((_SEVERITY_OF_EFFECT.get(c.step.effect, 0) for entries in calls.values() for c, _i in entries), default=0)
    actions = []
    for action, entries in calls.items():
        kept = [entry for entry in entries if _SEVERITY_OF_EFFECT.get(entry[0].step.effect, strongest) >= strongest]
        if kept:
            actions.append(replace(_merge(facts.customer_id, day, action, kept), catch_up=True))
    return sorted(actions, key=Action.sort_key)


def _after_due(step: Step) -> bool:
    """A one-time invoice step counted from after the due date."""
    trigger = step.trigger
    return trigger.anchor is Anchor.due and not trigger.repeats and (trigger.months is not None or trigger.days > 0)


def next_action_day(facts: CustomerFacts, after: dt.date, horizon_days: int, policy: Policy, calendar: BusinessCalendar) -> dt.date | None:
    """The first day after ``after`` (within ``horizon_days``) with an action, if nothing changes meanwhile.

    Nothing of our own takes effect before that first action, so the days before
    it need no effects applied: the same answer as ``simulate``'s first day, at a
    fraction of its cost.
    """
    evaluator = Evaluator(facts, policy, calendar)
    day = after + ONE_DAY
    for _ in range(horizon_days):
        if evaluator.actions_on(day):
            return day
        day += ONE_DAY
    return None


def simulate(facts: CustomerFacts, start: dt.date, end: dt.date, policy: Policy, calendar: BusinessCalendar, *, grant_approvals: bool = True) -> list[Action]:
    """Every action from ``start`` to ``end`` if the customer does nothing more than recorded.

    Our own side's steps take effect on their day (a statement prepared on the
    5th is sent on the 8th); an approval is granted or denied on the day it is
    requested, and a granted lock makes the letters possible.
    """
    evaluator = Evaluator(facts, policy, calendar)
    taken: list[Action] = []
    day = start
    while day <= end:
        seen: set[str] = set()
        while True:  # our own steps can make more steps due the same day (prepared, then sent)
            actions = [a for a in sorted(evaluator.actions_on(day), key=Action.sort_key) if a.key not in seen]
            if not actions:
                break
            seen.update(a.key for a in actions)
            taken.extend(actions)
            for action in actions:
                evaluator.record_taken(action, day)
            if not _apply_effects(evaluator, actions, day, grant_approvals):
                break
        day += ONE_DAY
    return sorted(taken, key=Action.sort_key)


def _apply_effects(evaluator: Evaluator, actions: list[Action], day: dt.date, grant_approvals: bool) -> bool:
    """Apply the effects of the day's actions; True when a statement changed state."""
    statements = {s.month: s for s in evaluator.facts.statements}
    changed = False
    for action in actions:
        effect = action.effect
        if effect is None or (action.needs_approval and not grant_approvals):
            continue
        if effect in (Effect.statement_prepared, Effect.statement_sent):
            state = "prepared" if effect is Effect.statement_prepared else "sent"
            for month in action.statements:
                if state not in statements[month].reached:
                    statements[month] = replace(statements[month], reached={**statements[month].reached, state: day})
                    changed = True
        else:
            evaluator.record_effect(effect, day, action.invoices)
    if changed:
        evaluator.facts = replace(evaluator.facts, statements=tuple(statements.values()))
    return changed
