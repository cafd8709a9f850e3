"""Why a step fires or not for a customer on a day: the answer of ``huikuan explain``."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from models.calendar import BusinessCalendar
from models.engine import LIFT_LOCK, CustomerFacts, Effect, Evaluator, InvoiceFacts, StatementFacts, reason_for
from models.policy import Anchor, Policy, Step
from models.texts import N_, Term, Text, step_text

# A statement's states (``models.engine.STATEMENT_ORDER``) as people say them.
STATEMENT_STATES = {
    "none": N_("not prepared"),
    "prepared": N_("prepared"),
    "reviewed": N_("reviewed"),
    "sent": N_("sent"),
    "confirmed": N_("confirmed"),
    "invoiced": N_("invoiced"),
    "invoice_mailed": N_("invoice mailed"),
}


@dataclass(frozen=True, slots=True)
class Explanation:
    step: str
    action: str
    subject: str  # "invoice INV-1", "statement 2026-10" (a ``Text``: the English, said in the reader's locale)
    fires: bool
    why: str  # a ``Text`` (or a ``Reason``): the English, said in the reader's locale


def explain(facts: CustomerFacts, day: dt.date, policy: Policy, calendar: BusinessCalendar, *, horizon_days: int = 400) -> list[Explanation]:
    """For each step and each invoice or statement: does it fire on ``day``, and why (not)."""
    ev = Evaluator(facts, policy, calendar)
    fired = {(step.id, invoice.invoice_id) for invoice in facts.invoices for step, *_ in ev.invoice_calls(invoice, day)}
    fired_statements = {(step.id, s.month) for s in facts.statements for step, *_ in ev.statement_calls(s, day)}
    result: list[Explanation] = []
    for invoice in facts.invoices:
        subject = Text(N_("invoice {invoice}"), invoice=invoice.invoice_id)
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
        subject = Text(N_("statement {month}"), month=statement.month)
        for step in ev.statement_steps:
            fires = (step.id, statement.month) in fired_statements
            why = (
                Text(N_("{subject}: {step}"), subject=subject, step=step_text(step.reason, step.action))
                if fires
                else _why_not_statement(ev, step, statement, day, horizon_days)
            )
            result.append(Explanation(step.id, step.action, subject, fires, why))
    if ev.locked_on is not None and ev.locked_on <= day:
        lift = ev.lock_call(day)
        why = lift[0].reason if lift else _why_still_locked(ev, day)
        result.append(Explanation(LIFT_LOCK, LIFT_LOCK, Text(N_("account")), lift is not None, why))
    return result


def _why_still_locked(ev: Evaluator, day: dt.date) -> Text:
    if ev.policy.lift_lock == "never":
        return Text(N_("locked since {day}; the policy leaves lifting the lock to a person"), day=ev.locked_on)
    causes = sorted(ev.lock_invoices) or sorted(i.invoice_id for i in ev.facts.invoices if i.due_on < ev.locked_on)
    unpaid = [i.invoice_id for i in ev.facts.invoices if i.invoice_id in causes and i.open_on(day) > 0]
    if unpaid:
        once = N_("locked since {day}; lifted once {invoices} is paid") if len(unpaid) == 1 else N_("locked since {day}; lifted once {invoices} are paid")
        return Text(once, day=ev.locked_on, invoices=tuple(unpaid))
    return Text(N_("locked since {day}; its debts are paid: the lift was taken or comes on the next working day"), day=ev.locked_on)


def _terms(values) -> tuple[Term, ...]:
    return tuple(Term(value.value) for value in values)


def _why_not_applies(ev: Evaluator, step: Step, day: dt.date) -> Text | None:
    condition, facts = step.when, ev.facts
    if condition.segment is not None and facts.segment not in condition.segment:
        return Text(N_("only for segment {allowed}; this customer is {actual}"), allowed=_terms(condition.segment), actual=Term(facts.segment.value))
    if condition.settlement is not None and facts.settlement not in condition.settlement:
        return Text(N_("only for settlement {allowed}; this customer is {actual}"), allowed=_terms(condition.settlement), actual=Term(facts.settlement.value))
    if condition.status is not None and ev.status_on(day) not in condition.status:
        return Text(N_("only for status {allowed}; the account is {actual}"), allowed=_terms(condition.status), actual=Term(ev.status_on(day).value))
    if condition.chronic_late_payer is not None and ev.chronic_late_payer(day) != condition.chronic_late_payer:
        return Text(N_("the customer is not a chronically late payer") if condition.chronic_late_payer else N_("the customer is a chronically late payer"))
    if condition.chronic_late_confirmer is not None and ev.chronic_late_confirmer(day) != condition.chronic_late_confirmer:
        if condition.chronic_late_confirmer:
            return Text(N_("the customer does not confirm statements chronically late"))
        return Text(N_("the customer confirms chronically late"))
    if ev._effect_in_force(step, day):
        status = Term(ev.status_on(day).value)
        if step.effect is Effect.lock:
            return Text(N_("already in force: the account is {status} since {day}"), status=status, day=ev.locked_on)
        return Text(N_("already in force: the account is {status}"), status=status)
    return None


def _closed(ev: Evaluator, invoice: InvoiceFacts, day: dt.date) -> Text | None:
    """Why no step can concern the invoice on ``day`` (not issued yet, paid), or None."""
    if day < invoice.issued_on:
        return Text(N_("the invoice is issued on {day}: no step yet"), day=invoice.issued_on)
    if invoice.open_on(day) <= 0:
        return Text(N_("paid in full on {day}: no step calls for it"), day=ev.paid_in_full[invoice.invoice_id])
    return None


def _why_not_invoice(ev: Evaluator, step: Step, invoice: InvoiceFacts, day: dt.date, horizon: int) -> Text:
    closed = _closed(ev, invoice, day)
    if closed:
        return closed
    pause = next((p for p in ev.pauses_of(step, invoice) if p.covers(day)), None)
    if pause is not None:
        if pause.end:
            return Text(N_("paused: {why} until {day}"), why=pause.why, day=pause.end)
        return Text(N_("paused: {why} until it is resolved"), why=pause.why)
    not_applicable = _why_not_applies(ev, step, day)
    if not_applicable:
        return not_applicable
    if step.trigger.repeats:
        later = next((d for d in (day + dt.timedelta(days=n) for n in range(1, horizon)) if ev.cadence_hits(step, invoice.due_on, d)), None)
        return Text(N_("not a cadence day; next on {day}"), day=later) if later else Text(N_("the cadence is over"))
    scheduled = ev.scheduled_date(step, invoice)
    if scheduled is None:
        if step.trigger.anchor is Anchor.lock:
            return Text(N_("only once the account is locked") if ev.locked_on is None else N_("the invoice has not reached the lock step"))
        return Text(N_("its date falls before the invoice was issued"))
    when = ev.after_pauses(scheduled, ev.pauses_of(step, invoice))
    if when is None:
        return Text(N_("held back from {day} by an open dispute"), day=scheduled)
    if when == day and step.skip_after_progress_days:
        return Text(N_("skipped: a payment in the last {days} days counts as progress"), days=step.skip_after_progress_days)
    if when != scheduled:
        moved = (
            N_("comes on {day} (scheduled {scheduled}, held back by a pause)")
            if when > day
            else N_("was due on {day} (scheduled {scheduled}, held back by a pause)")
        )
        return Text(moved, day=when, scheduled=scheduled)
    return Text(N_("comes on {day}") if when > day else N_("was due on {day}"), day=when)


def _why_not_statement(ev: Evaluator, step: Step, statement: StatementFacts, day: dt.date, horizon: int) -> Text:
    state = statement.state_on(day)
    if step.when.statement_state is not None and state not in step.when.statement_state:
        states = tuple(Text(STATEMENT_STATES.get(s, s)) for s in step.when.statement_state)
        return Text(N_("the statement is {state}; the step is for {states}"), state=Text(STATEMENT_STATES.get(state, state)), states=states)
    not_applicable = _why_not_applies(ev, step, day)
    if not_applicable:
        return not_applicable
    later = next(
        (d for d in (day + dt.timedelta(days=n) for n in range(1, horizon)) if any(call.step is step for call in ev.statement_calls(statement, d))), None
    )
    return Text(N_("not today; next on {day}"), day=later) if later else Text(N_("not due in the coming year"))
