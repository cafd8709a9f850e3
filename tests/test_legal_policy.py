"""The handbook warns the manager before a debt's limitation period ends (issue #17), on explicit dates.

Three years from the due date (民法典 第188条), restarted by a delivered demand, an
acknowledgement or a part payment (第195条): the warning steps count back 90 and 30
days from that date, as the facts know it on the day, and move to the working day before.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from models.calendar import calendar_for
from models.engine import CustomerFacts, InvoiceFacts, PromiseFacts, StatementFacts, actions_due, simulate
from models.enums import CustomerStatus
from models.limitation import LegalEvent, Restart
from models.policy import PolicyError, load_policy, parse_policy

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
CN = calendar_for("CN")
HANDBOOK = load_policy("handbook")
# Locked long ago, and every letter already asked for: only the limitation steps are left to come.
OLD = InvoiceFacts("I1", D(2023, 12, 1), D(2024, 1, 10), Decimal("1000.00"))


def warnings_between(facts: CustomerFacts, start: dt.date, end: dt.date) -> list[tuple[dt.date, str]]:
    return [(a.on, a.steps[0]) for a in simulate(facts, start, end, HANDBOOK, CN) if a.action == "limitation_warning"]


def test_the_manager_is_warned_90_and_30_days_before_the_third_anniversary_of_the_due_date():
    facts = CustomerFacts("C1", status=CustomerStatus.active, invoices=(OLD,))
    # 2027-01-10 is a Sunday: the period ends on Monday 2027-01-11 (第203条); 90 days before is
    # 2026-10-13 (a Tuesday), 30 days before 2026-12-12 (a Saturday, back to Friday 2026-12-11).
    assert warnings_between(facts, D(2026, 9, 1), D(2027, 2, 1)) == [(D(2026, 10, 13), "limitation_warning_90"), (D(2026, 12, 11), "limitation_warning_30")]
    action = next(a for a in actions_due(facts, D(2026, 10, 13), HANDBOOK, CN) if a.action == "limitation_warning")
    assert (action.channel, action.role, action.invoices) == ("internal", "manager", ("I1",))
    assert "limitation date 2027-01-11" in action.reasons[0] and "written demand" in action.reasons[0]


def test_a_delivered_demand_moves_the_warnings_and_one_recorded_later_is_not_known_before_its_day():
    letter = LegalEvent(D(2026, 6, 1), Restart.demand_delivered, "C1:dunning_letter:2026-06-01:letter", frozenset({"I1"}))
    facts = CustomerFacts("C1", invoices=(OLD,), demands=(letter,))
    assert warnings_between(facts, D(2026, 9, 1), D(2027, 2, 1)) == []  # now 2029-06-01
    # 90 days before 2029-06-01: Saturday 03-03, back to Friday; 30 days before: 05-02, Labour Day (statutory), back to Monday 04-30.
    assert [d for d, _s in warnings_between(facts, D(2029, 2, 1), D(2029, 6, 1))] == [D(2029, 3, 2), D(2029, 4, 30)]
    # Replaying a day before the letter: the facts then knew only the due date.
    assert [a.action for a in actions_due(facts, D(2026, 4, 13), HANDBOOK, CN) if a.action == "limitation_warning"] == []
    early = CustomerFacts(
        "C1",
        invoices=(InvoiceFacts("I1", D(2023, 3, 1), D(2023, 4, 10), Decimal("5.00")),),
        demands=(LegalEvent(D(2026, 3, 1), Restart.demand_delivered, "late letter", frozenset({"I1"})),),
    )
    # 2026-04-10 is the period's end as known on 2026-01-10 (90 days before): the warning comes then,
    # though a letter on 2026-03-01 (recorded in the facts) later restarted it.
    assert [a.on for a in simulate(early, D(2026, 1, 5), D(2026, 1, 20), HANDBOOK, CN) if a.action == "limitation_warning"] == [D(2026, 1, 9)]


def test_an_acknowledgement_a_confirmed_statement_or_a_part_payment_restarts_the_period():
    promise = CustomerFacts("C1", invoices=(OLD,), promises=(PromiseFacts(D(2025, 2, 3), D(2025, 3, 1), Decimal("10.00"), frozenset()),))
    assert warnings_between(promise, D(2026, 9, 1), D(2027, 2, 1)) == []
    paid = CustomerFacts("C1", invoices=(InvoiceFacts("I1", D(2023, 12, 1), D(2024, 1, 10), Decimal("1000.00"), ((D(2025, 5, 6), Decimal("1.00")),)),))
    # Paid in part on 2025-05-06: the period ends on Saturday 2028-05-06, so Monday 05-08; warned 02-08 and 04-07 (Saturday 04-08, back).
    assert [d for d, _s in warnings_between(paid, D(2028, 1, 1), D(2028, 5, 8))] == [D(2028, 2, 8), D(2028, 4, 7)]
    listed = InvoiceFacts("I1", D(2023, 12, 1), D(2024, 1, 10), Decimal("1000.00"), statement_month="2023-12")
    confirmed = CustomerFacts("C1", invoices=(listed,), statements=(StatementFacts("2023-12", {"sent": D(2024, 1, 8), "confirmed": D(2025, 7, 1)}),))
    assert warnings_between(confirmed, D(2026, 9, 1), D(2027, 2, 1)) == []
    unconfirmed = CustomerFacts("C1", invoices=(listed,), statements=(StatementFacts("2023-12", {"sent": D(2024, 1, 8)}),))
    assert len(warnings_between(unconfirmed, D(2026, 9, 1), D(2027, 2, 1))) == 2


def test_a_paid_invoice_gets_no_warning():
    paid = InvoiceFacts("I1", D(2023, 12, 1), D(2024, 1, 10), Decimal("1000.00"), ((D(2024, 3, 1), Decimal("1000.00")),))
    assert warnings_between(CustomerFacts("C1", invoices=(paid,)), D(2026, 9, 1), D(2027, 6, 1)) == []


def test_a_limitation_step_counts_days_only():
    text = """
name: x
steps:
  - action: limitation_warning
    trigger: {anchor: limitation, cadence: {start: -90, every: 7}}
    channel: internal
    role: manager
"""
    with pytest.raises(PolicyError, match="anchor limitation takes days"):
        parse_policy(text)
