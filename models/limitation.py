"""The limitation period (诉讼时效) of an invoice: the day it can no longer be enforced, and why that day.

Pure: no database, no Prefect; the calendar and the day are arguments.

- Three years (民法典 第188条) from the due date: the period starts the next day
  (第201条) and ends on the date with the same number three years on, or the
  month's last day when there is none (第202条: 29 February → 28 February); a
  last day that is a day off ends on the next working day (第203条).
- Restarted (中断, 第195条), for the invoices it concerns, by: a written demand
  that reached the debtor (a letter or email with a delivery record: an
  undelivered letter restarts nothing), the debtor's acknowledgement (a
  confirmed statement, a promise, an instalment plan) and a part payment.
  The new period runs from the day of the event.
- A demand after the period ended revives nothing; the debtor's
  acknowledgement or payment after it does (第192条: having agreed to pay, the
  debtor may not plead the expiry), and is shown as such.
- Never more than twenty years from the due date (第188条).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from models.engine import CustomerFacts

YEARS = 3
LONGEST_YEARS = 20

# Documents sent to the customer that demand payment (a written demand, 第195条): the
# dunning emails and letters. The statement letter (对账函) asks for a confirmation instead.
DEMAND_EMAILS = frozenset({"reminder", "follow_up", "payment_notice"})
DEMAND_LETTERS = frozenset({"dunning_letter", "urgent_letter", "stern_letter", "final_notice", "lawyer_letter"})


class WorkingDays(Protocol):
    def roll_forward(self, day: dt.date) -> dt.date: ...


class Restart(StrEnum):
    """What restarts the period, in the words the ledger keeps."""

    demand_delivered = "demand_delivered"  # a dunning or lawyer's letter, or a dunning email, with a delivery record
    statement_confirmed = "statement_confirmed"  # the customer confirmed a statement listing it
    promise = "promise"  # the customer promised to pay it
    instalment_plan = "instalment_plan"  # the customer agreed a plan for it
    part_payment = "part_payment"  # the customer paid part of it

    @property
    def acknowledges(self) -> bool:
        """Whether the debtor itself did it (and so it counts even after the period ended)."""
        return self is not Restart.demand_delivered


@dataclass(frozen=True)
class LegalEvent:
    """Something that happened on ``on`` and may restart the period of ``invoices`` (None: every invoice open that day)."""

    on: dt.date
    kind: Restart
    reference: str  # what it was: the letter's key, the statement's month, the payment id
    invoices: frozenset[str] | None = None

    def concerns(self, invoice_id: str) -> bool:
        return self.invoices is None or invoice_id in self.invoices


@dataclass(frozen=True)
class Limitation:
    """An invoice's limitation date and the event that set it (None: its due date)."""

    invoice_id: str
    due_on: dt.date
    expires_on: dt.date
    restarted_by: LegalEvent | None
    revived: bool = False  # the last restart came after the period had ended (an acknowledgement)

    def expired(self, as_of: dt.date) -> bool:
        return as_of > self.expires_on

    def days_left(self, as_of: dt.date) -> int:
        return (self.expires_on - as_of).days


def years_later(day: dt.date, years: int) -> dt.date:
    """The same date ``years`` on, or the month's last day when there is none (第202条)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def period_end(start: dt.date, working: WorkingDays, years: int = YEARS) -> dt.date:
    """The last day of a period of ``years`` counted from the day after ``start``, moved off a day off (第203条)."""
    return working.roll_forward(years_later(start, years))


def limitation(invoice_id: str, due_on: dt.date, events: Iterable[LegalEvent], working: WorkingDays, *, years: int = YEARS) -> Limitation:
    """When the invoice due on ``due_on`` can no longer be enforced, given what happened since (``events``, any order)."""
    longest = years_later(due_on, LONGEST_YEARS)
    current = Limitation(invoice_id, due_on, period_end(due_on, working, years), None)
    for event in sorted((e for e in events if e.concerns(invoice_id) and e.on > due_on), key=lambda e: (e.on, e.kind.value, e.reference)):
        ended = event.on > current.expires_on
        if ended and not event.kind.acknowledges:
            continue  # a demand cannot revive a debt whose period has ended
        end = min(period_end(event.on, working, years), longest)
        if end >= current.expires_on:
            current = Limitation(invoice_id, due_on, end, event, revived=ended)
    return current


def warnings_due(expiry: Limitation, as_of: dt.date, days_before: Iterable[int] = (90, 30)) -> int | None:
    """The warning (days before expiry) whose day has come and that is still the most urgent on ``as_of``; None if none."""
    left = expiry.days_left(as_of)
    due = [days for days in days_before if 0 <= left <= days]
    return min(due) if due else None


def events_of(facts: CustomerFacts) -> tuple[LegalEvent, ...]:
    """What in a customer's facts may restart its invoices' periods: the one reading of the ledger for this rule.

    The demands delivered (``facts.demands``), the statements confirmed (each for the
    invoices it lists), the promises and instalment plans (for the invoices they name,
    or all), and every payment applied to an invoice.
    """
    events = list(facts.demands)
    listed: dict[str, set[str]] = {}
    for invoice in facts.invoices:
        if invoice.statement_month:
            listed.setdefault(invoice.statement_month, set()).add(invoice.invoice_id)
    for statement in facts.statements:
        confirmed = statement.reached.get("confirmed")
        if confirmed is not None and statement.month in listed:
            events.append(LegalEvent(confirmed, Restart.statement_confirmed, f"statement {statement.month}", frozenset(listed[statement.month])))
    for promise in facts.promises:
        events.append(LegalEvent(promise.made_on, Restart.promise, f"promise of {promise.amount} by {promise.due_on}", promise.invoice_ids or None))
    for plan in facts.instalment_plans:
        events.append(LegalEvent(plan.made_on, Restart.instalment_plan, f"instalment plan of {plan.made_on}", plan.invoice_ids or None))
    for invoice in facts.invoices:
        for on, amount in invoice.payments:
            events.append(LegalEvent(on, Restart.part_payment, f"payment of {amount}", frozenset({invoice.invoice_id})))
    return tuple(events)
