"""The engine's shortcut for the limitation warnings (issue #18) answers as the full computation does.

``Evaluator.lands_on`` skips the limitation date of an invoice on a day before the earliest
day its warning could come (the period ends ``YEARS`` after the due date at the earliest:
restarts only move it later, and rolling a date off a day off is monotone). Here every day
of a random window, for random invoices and restarts, gets the same answer both ways.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.calendar import calendar_for
from models.engine import CustomerFacts, Evaluator, InvoiceFacts
from models.limitation import LegalEvent, Restart
from models.policy import Anchor, load_policy

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

CN = calendar_for("CN")
HANDBOOK = load_policy("handbook")
DAYS = st.dates(min_value=dt.date(2021, 1, 1), max_value=dt.date(2026, 12, 31))


def full_answer(evaluator: Evaluator, step, invoice: InvoiceFacts, day: dt.date) -> bool:
    scheduled = evaluator.scheduled_date(step, invoice, day)
    return scheduled is not None and evaluator.after_pauses(scheduled, evaluator.pauses_of(step, invoice)) == day


@settings(max_examples=40, deadline=None)
@given(due=DAYS, restarts=st.lists(st.tuples(st.integers(0, 1500), st.sampled_from(list(Restart))), max_size=3), window=st.integers(-120, 900))
def test_the_shortcut_and_the_full_computation_agree(due, restarts, window):
    invoice = InvoiceFacts("I1", due - dt.timedelta(days=40), due, Decimal("100.00"))
    events = tuple(LegalEvent(due + dt.timedelta(days=days), kind, f"E{n}", frozenset({"I1"})) for n, (days, kind) in enumerate(restarts))
    facts = CustomerFacts("C1", invoices=(invoice,), demands=events)
    evaluator = Evaluator(facts, HANDBOOK, CN)
    steps = [s for s in evaluator.invoice_steps if s.trigger.anchor is Anchor.limitation]
    assert steps, "the handbook warns before the limitation date"
    start = due + dt.timedelta(days=3 * 365 - 130 + window)
    for offset in range(0, 40):
        day = start + dt.timedelta(days=offset)
        for step in steps:
            assert evaluator.lands_on(step, invoice, day) == full_answer(evaluator, step, invoice, day), (step.id, day)
