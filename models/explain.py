"""Why a step fires or not for a customer on a day: the answer of ``huikuan explain``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models.calendar import BusinessCalendar
from models.engine import LIFT_LOCK, CustomerFacts, Effect, Evaluator, InvoiceFacts, StatementFacts, reason_for
from models.policy import Anchor, Policy, Step


@dataclass(frozen=True, slots=True)
class Explanation:
    step: str
    action: str
    subject: str  # "invoice INV-1", "statement 2026-10"
    fires: bool
    why: str


def explain(facts: CustomerFacts, day: dt.date, policy: Policy, calendar: BusinessCalendar, *, horizon_days: int = 400) -> list[Explanation]:
    """For each step and each invoice or statement: does it fire on ``day``, and why (not)."""
    ev = Evaluator(facts, policy, calendar)
    fired = {(step.id, invoice.invoice_id) for invoice in facts.invoices for step, *_ in ev.invoice_calls(invoice, day)}
    fired |= {(step.id, f"statement {s.month}") for s in facts.statements for step, *_ in ev.statement_calls(s, day)}
    result: list[Explanation] = []
    for invoice in facts.invoices:
        subject = f"invoice {invoice.invoice_id}"
        closed = _closed(ev, invoice, day)
        if closed and not any(invoice_id == invoice.invoice_id for _step, invoice_id in fired):
            result.append(Explanation("-", "-", subject, False, closed))
            continue
        for step in ev.invoice_steps:
            if (step.id, invoice.invoice_id) in fired:
                overdue = (day - invoice.due_on).days
                result.append(Explanation(step.id, step.action, subject, True, reason_for(step, invoice, overdue)))
            else:
                result.append(Explanation(step.id, step.action, subject, False, _why_not_invoice(ev, step, invoice, day, horizon_days)))
    for statement in facts.statements:
        subject = f"statement {statement.month}"
        for step in ev.statement_steps:
            fires = (step.id, subject) in fired
            why = f"{subject}: {step.reason or step.action}" if fires else _why_not_statement(ev, step, statement, day, horizon_days)
            result.append(Explanation(step.id, step.action, subject, fires, why))
    if ev.locked_on is not None and ev.locked_on <= day:
        lift = ev.lock_call(day)
        why = lift[0].reason if lift else _why_still_locked(ev, day)
        result.append(Explanation(LIFT_LOCK, LIFT_LOCK, "account", lift is not None, why))
    return result


def _why_still_locked(ev: Evaluator, day: dt.date) -> str:
    if ev.policy.lift_lock == "never":
        return f"locked since {ev.locked_on}; the policy leaves lifting the lock to a person"
    causes = sorted(ev.lock_invoices) or sorted(i.invoice_id for i in ev.facts.invoices if i.due_on < ev.locked_on)
    unpaid = [i.invoice_id for i in ev.facts.invoices if i.invoice_id in causes and i.open_on(day) > 0]
    if unpaid:
        return f"locked since {ev.locked_on}; lifted once {', '.join(unpaid)} {'is' if len(unpaid) == 1 else 'are'} paid"
    return f"locked since {ev.locked_on}; its debts are paid: the lift was taken or comes on the next working day"


def _why_not_applies(ev: Evaluator, step: Step, day: dt.date) -> str | None:
    condition, facts = step.when, ev.facts
    if condition.segment is not None and facts.segment not in condition.segment:
        return f"only for segment {', '.join(s.value for s in condition.segment)}; this customer is {facts.segment.value}"
    if condition.settlement is not None and facts.settlement not in condition.settlement:
        return f"only for settlement {', '.join(s.value for s in condition.settlement)}; this customer is {facts.settlement.value}"
    if condition.status is not None and ev.status_on(day) not in condition.status:
        return f"only for status {', '.join(s.value for s in condition.status)}; the account is {ev.status_on(day).value}"
    if condition.chronic_late_payer is not None and ev.chronic_late_payer(day) != condition.chronic_late_payer:
        return "the customer is not a chronically late payer" if condition.chronic_late_payer else "the customer is a chronically late payer"
    if condition.chronic_late_confirmer is not None and ev.chronic_late_confirmer(day) != condition.chronic_late_confirmer:
        return "the customer does not confirm statements chronically late" if condition.chronic_late_confirmer else "the customer confirms chronically late"
    if ev._effect_in_force(step, day):
        return f"already in force: the account is {ev.status_on(day).value}" + (f" since {ev.locked_on}" if step.effect is Effect.lock else "")
    return None


def _closed(ev: Evaluator, invoice: InvoiceFacts, day: dt.date) -> str | None:
    """Why no step can concern the invoice on ``day`` (not issued yet, paid), or None."""
    if day < invoice.issued_on:
        return f"the invoice is issued on {invoice.issued_on}: no step yet"
    if invoice.open_on(day) <= 0:
        return f"paid in full on {ev.paid_in_full[invoice.invoice_id]}: no step calls for it"
    return None


def _why_not_invoice(ev: Evaluator, step: Step, invoice: InvoiceFacts, day: dt.date, horizon: int) -> str:
    closed = _closed(ev, invoice, day)
    if closed:
        return closed
    pause = next((p for p in ev.pauses_of(step, invoice) if p.covers(day)), None)
    if pause is not None:
        until = f" until {pause.end}" if pause.end else " until it is resolved"
        return f"paused: {pause.why}{until}"
    not_applicable = _why_not_applies(ev, step, day)
    if not_applicable:
        return not_applicable
    if step.trigger.repeats:
        later = next((d for d in (day + dt.timedelta(days=n) for n in range(1, horizon)) if ev.cadence_hits(step, invoice.due_on, d)), None)
        return f"not a cadence day; next on {later}" if later else "the cadence is over"
    scheduled = ev.scheduled_date(step, invoice)
    if scheduled is None:
        if step.trigger.anchor is Anchor.lock:
            return "only once the account is locked" if ev.locked_on is None else "the invoice has not reached the lock step"
        return "its date falls before the invoice was issued"
    when = ev.after_pauses(scheduled, ev.pauses_of(step, invoice))
    if when is None:
        return f"held back from {scheduled} by an open dispute"
    if when == day and step.skip_after_progress_days:
        return f"skipped: a payment in the last {step.skip_after_progress_days} days counts as progress"
    moved = f" (scheduled {scheduled}, held back by a pause)" if when != scheduled else ""
    return f"comes on {when}{moved}" if when > day else f"was due on {when}{moved}"


def _why_not_statement(ev: Evaluator, step: Step, statement: StatementFacts, day: dt.date, horizon: int) -> str:
    state = statement.state_on(day)
    if step.when.statement_state is not None and state not in step.when.statement_state:
        return f"the statement is {state}; the step is for {', '.join(step.when.statement_state)}"
    not_applicable = _why_not_applies(ev, step, day)
    if not_applicable:
        return not_applicable
    later = next(
        (d for d in (day + dt.timedelta(days=n) for n in range(1, horizon)) if any(call.step is step for call in ev.statement_calls(statement, d))), None
    )
    return f"not today; next on {later}" if later else "not due in the coming year"
