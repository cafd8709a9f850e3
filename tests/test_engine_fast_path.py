"""The engine's landing table (issue #18) answers as the full computation does.

``Evaluator.invoice_calls`` looks, for an open invoice that no pause concerns, only at the
steps of ``models.engine.landings`` for its due date and the day: a table shared by every
invoice of that due date, per policy, segment, calendar and day. Here the calls it gives
are compared with the full computation, over random customers, days, countries and
policies (the built-in ones and random policy documents): every step that concerns the
customer on the day, a cadence step landing when one of its nominal dates rolls onto the
day (counted one by one), a one-time step when its scheduled date, after pauses, is the day.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.calendar import BusinessCalendar, calendar_for
from models.engine import Call, CustomerFacts, Evaluator, InvoiceFacts, landings, reason_for
from models.policy import Anchor, Policy, Roll, Step, load_policy, parse_policy
from models.texts import Reason
from tests.test_engine_properties import COUNTRIES, customers
from tests.test_policy_properties import documents, dump, dump_policy

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
ROLLING_REACH = 40  # more than any run of days off in the calendars used: a nominal date this far from the day cannot roll onto it


@lru_cache(maxsize=None)
def built_in(name: str) -> Policy:
    return load_policy(name)


def rolled(calendar: BusinessCalendar, day: dt.date, how: Roll) -> dt.date:
    return calendar.roll_forward(day) if how is Roll.forward else calendar.roll_backward(day)


def cadence_lands_counted(calendar: BusinessCalendar, step: Step, anchor: dt.date, day: dt.date) -> bool:
    """One by one: does a nominal date of the cadence (counted from ``anchor``) roll onto ``day``?"""
    cadence = step.trigger.cadence
    near = (day - anchor).days
    for offset in range(near - ROLLING_REACH, near + ROLLING_REACH + 1):
        if offset < cadence.start or (cadence.end is not None and offset > cadence.end) or (offset - cadence.start) % cadence.every:
            continue
        if rolled(calendar, anchor + dt.timedelta(days=offset), step.trigger.roll) == day:
            return True
    return False


def full_calls(ev: Evaluator, invoice: InvoiceFacts, day: dt.date) -> list[Call]:
    """The calls of an open invoice without pauses, every step of the day looked at, nothing skipped."""
    overdue = (day - invoice.due_on).days
    if overdue < ev.earliest_offset or not ev.cal.is_working_day(day):
        return []  # the evaluator's own early answer (the first step's margin), not the table's
    calls = []
    for step in ev.steps_on(day):
        if step.trigger.repeats:
            hit = cadence_lands_counted(ev.cal, step, invoice.due_on, day)
        else:
            scheduled = ev.scheduled_date(step, invoice, day)
            hit = scheduled is not None and ev.after_pauses(scheduled, ev.pauses_of(step, invoice)) == day
            skip = step.skip_after_progress_days
            if hit and skip and ev.scheduled_date(step, invoice) == day and ev.paid_recently(invoice, day, skip):
                hit = False
        if hit:
            reason = reason_for(step, invoice, overdue)
            if step.trigger.anchor is Anchor.limitation:
                reason = Reason("limitation_date", reason=reason, date=ev.limitation_date(invoice, day))
            calls.append(Call(step, reason))
    return calls


def said(calls) -> list[tuple]:
    return [(call.step.id, str(call.reason), call.reason.code, call.event) for call in calls]


@st.composite
def days_near(draw, facts: CustomerFacts) -> dt.date:
    """Mostly days when a step of an invoice may come: after its due date, or about its limitation date."""
    due = draw(st.sampled_from([invoice.due_on for invoice in facts.invoices]))
    offset = draw(st.integers(-20, 130) | st.integers(-20, 130) | st.integers(3 * 365 - 100, 3 * 365 + 20) | st.integers(-400, 1500))
    return due + dt.timedelta(days=offset)


def assert_same_calls(facts: CustomerFacts, policy: Policy, country: str, day: dt.date) -> int:
    """Every invoice open on ``day`` that no pause concerns gets the same calls both ways; returns how many were compared."""
    ev = Evaluator(facts, policy, calendar_for(country))
    compared = 0
    for invoice in facts.invoices:
        if day < invoice.issued_on or invoice.open_on(day) <= 0 or ev.pauses[invoice.invoice_id]:
            continue
        assert said(ev.invoice_calls(invoice, day)) == said(full_calls(ev, invoice, day)), (invoice, day, country)
        compared += 1
    return compared


@FAST
@given(st.sampled_from(["handbook", "credit"]), customers(), st.data())
def test_the_built_in_policies_call_as_the_full_computation(name, customer, data):
    facts, country = customer
    assert_same_calls(facts, built_in(name), country, data.draw(days_near(facts)))


@FAST
@given(documents(), customers(), st.sampled_from(COUNTRIES), st.data())
def test_any_policy_calls_as_the_full_computation(doc, customer, country, data):
    facts, _country = customer
    policy = parse_policy(dump(doc), "doc.yaml")
    for _ in range(3):
        assert_same_calls(facts, policy, country, data.draw(days_near(facts)))


def test_progress_skips_no_cadence():
    """A cadence step with ``skip_after_progress_days`` is not skipped (nor fails): the skip is for one-time steps."""
    policy = parse_policy(
        "name: t\nresume_step: f\nsteps:\n  - {id: f, action: follow_up, trigger: {cadence: {start: 1, every: 1}},"
        " channel: email, role: collector, skip_after_progress_days: 5}\n"
    )
    invoice = InvoiceFacts("I", dt.date(2026, 1, 1), dt.date(2026, 2, 1), Decimal("10.00"), payments=((dt.date(2026, 2, 9), Decimal("1.00")),))
    ev = Evaluator(CustomerFacts("C", invoices=(invoice,)), policy, calendar_for("CN"))
    assert said(ev.invoice_calls(invoice, dt.date(2026, 2, 10))) == said(full_calls(ev, invoice, dt.date(2026, 2, 10))) != []


def test_a_table_is_shared_only_where_its_key_holds():
    """Two calendars, two due dates, one policy, evaluated in turn: each answers as the full computation, and differently."""
    handbook = built_in("handbook")
    steps = Evaluator(CustomerFacts("C"), handbook, calendar_for("CN")).invoice_steps
    sunday = dt.date(2026, 9, 20)  # 调休: a working Sunday in China, a day off in the United States
    cn, us = calendar_for("CN"), calendar_for("US")
    letters = [("dunning_letter", False), ("statement_letter", False), ("lawyer_letter", False)]  # counted from a lock: the account decides
    assert [(landing.step.id, landing.exact) for landing in landings(steps, cn, sunday - dt.timedelta(days=20), sunday)] == [
        ("follow_up_daily", True),
        *letters,
    ]
    monday = dt.date(2026, 9, 28)  # a working day in both, after a Chinese weekend that is not the American one
    answers = {}
    for calendar in (cn, us, cn, us):
        for due_on in (dt.date(2026, 8, 28), dt.date(2026, 8, 27), dt.date(2026, 8, 28)):
            invoice = InvoiceFacts("I", due_on - dt.timedelta(days=30), due_on, Decimal("10.00"))
            ev = Evaluator(CustomerFacts("C", invoices=(invoice,)), handbook, calendar)
            answers[calendar.country, due_on] = said(ev.invoice_calls(invoice, monday))
            assert answers[calendar.country, due_on] == said(full_calls(ev, invoice, monday)), (calendar, due_on)
    assert answers["CN", dt.date(2026, 8, 28)] != answers["US", dt.date(2026, 8, 28)]


def calls_of_every_part(ev: Evaluator, day: dt.date) -> list:
    """What ``actions_on`` merges: every invoice's and statement's calls, and lifting the lock."""
    calls = [call for invoice in ev.facts.invoices for call in ev.invoice_calls(invoice, day)]
    calls += [call for statement in ev.facts.statements for call in ev.statement_calls(statement, day)]
    return calls + [lift for lift in [ev.lock_call(day)] if lift is not None]


def day_off_from(calendar: BusinessCalendar, day: dt.date) -> dt.date:
    while calendar.is_working_day(day):
        day += dt.timedelta(days=1)
    return day


@FAST
@given(st.sampled_from(["handbook", "credit"]), customers(), st.data())
def test_nothing_is_called_on_a_day_off(name, customer, data):
    """``actions_on`` answers nothing on a day off without looking: no part calls for anything then."""
    facts, country = customer
    calendar = calendar_for(country)
    day = day_off_from(calendar, data.draw(days_near(facts)))
    ev = Evaluator(facts, built_in(name), calendar)
    assert calls_of_every_part(ev, day) == [] and ev.actions_on(day) == []


@FAST
@given(documents(), customers(), st.data())
def test_nothing_is_called_on_a_day_off_by_any_policy(doc, customer, data):
    facts, country = customer
    calendar = calendar_for(country)
    ev = Evaluator(facts, parse_policy(dump(doc), "doc.yaml"), calendar)
    for _ in range(3):
        day = day_off_from(calendar, data.draw(days_near(facts)))
        assert calls_of_every_part(ev, day) == [], day


def test_the_tables_hold_each_distinct_answer_once():
    """A year of due dates asked about on 60 days: thousands of entries, a few answers, each one tuple (the day's memory, issue #18)."""
    policy = parse_policy(dump_policy(built_in("handbook")))  # a policy object of its own: fresh tables
    calendar = calendar_for("CN")
    start = dt.date(2026, 11, 23)
    invoices = tuple(InvoiceFacts(f"I{n}", start - dt.timedelta(days=400 - n), start - dt.timedelta(days=370 - n), Decimal("10.00")) for n in range(365))
    ev = Evaluator(CustomerFacts("C", invoices=invoices), policy, calendar)
    for offset in range(60):
        day = start + dt.timedelta(days=offset)
        for n, invoice in enumerate(invoices):
            calls = said(ev.invoice_calls(invoice, day))
            assert n % 29 or calls == said(full_calls(ev, invoice, day))
    entries = [found for table in ev._view.landing_tables.values() for found in table.values() if found]
    assert len(entries) > 5000
    assert len({id(found) for found in entries}) <= 12, len({id(found) for found in entries})
