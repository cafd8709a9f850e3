"""The handbook policy on explicit dates (PROCESS.md §1-2, CONTRACT.md "Date rules").

China's 2026 calendar: National Day 10-01..10-07 with make-up working days
09-20 (Sunday) and 10-10 (Saturday); Mid-Autumn 09-25..09-27. 2027 has no
official calendar yet, so it falls back to weekends.
"""

from __future__ import annotations

import datetime as dt
import warnings
from decimal import Decimal

import pytest

from models.calendar import CalendarFallbackWarning, calendar_for
from models.engine import CustomerFacts, InstalmentPlanFacts, InvoiceFacts, PromiseFacts, StatementFacts, actions_due, simulate
from models.enums import CustomerStatus, Segment, Settlement
from models.policy import load_policy

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
HANDBOOK = load_policy("handbook")
CN = calendar_for("CN")
DUE = D(2026, 9, 10)  # a Thursday
INVOICE = InvoiceFacts("INV-1", D(2026, 8, 11), DUE, Decimal("1000.00"))


def run(facts: CustomerFacts, start: dt.date, end: dt.date, *, grant: bool = True) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(a.on.isoformat(), a.action, a.invoices) for a in simulate(facts, start, end, HANDBOOK, CN, grant_approvals=grant)]


def one_time(rows) -> list[tuple[str, str]]:
    return [(on, action) for on, action, _invoices in rows if action != "follow_up"]


with warnings.catch_warnings():
    warnings.simplefilter("ignore", CalendarFallbackWarning)
    LADDER = run(CustomerFacts("C1", invoices=(INVOICE,)), D(2026, 8, 1), D(2027, 1, 31))


@pytest.mark.parametrize(
    ("on", "action", "why"),
    [
        ("2026-09-03", "reminder", "D-7, a working Thursday"),
        ("2026-10-08", "escalate_supervisor", "D+28 = 10-08, the first working day after National Day"),
        ("2026-10-12", "notify_manager", "more than one month: the day after 10-10 is Sunday 10-11, so Monday"),
        ("2026-11-11", "notify_gm", "more than two months: 11-11"),
        ("2026-12-11", "stop_shipment", "more than three months: 12-11, a Friday"),
        ("2026-12-14", "dunning_letter", "the working day after the lock"),
        ("2026-12-14", "statement_letter", "the working day after the lock"),
        ("2026-12-28", "lawyer_letter", "lock + 15 days = Saturday 12-26, so Monday 12-28"),
    ],
)
def test_one_invoice_walks_the_whole_ladder(on, action, why):
    assert (on, action) in one_time(LADDER), why


def test_the_ladder_has_nothing_else_and_nothing_twice():
    assert one_time(LADDER) == [
        ("2026-09-03", "reminder"),
        ("2026-10-08", "escalate_supervisor"),
        ("2026-10-12", "notify_manager"),
        ("2026-11-11", "notify_gm"),
        ("2026-12-11", "stop_shipment"),
        ("2026-12-14", "dunning_letter"),
        ("2026-12-14", "statement_letter"),
        ("2026-12-28", "lawyer_letter"),
    ]


def test_follow_ups_every_two_days_then_daily_across_the_holidays():
    follow_ups = [on for on, action, _ in LADDER if action == "follow_up" and on < "2026-10-14"]
    assert follow_ups == [
        "2026-09-11",  # D+1
        "2026-09-14",  # D+3 is Sunday 09-13
        "2026-09-15",
        "2026-09-17",  # D+5, D+7
        "2026-09-20",  # D+9 is Saturday 09-19; Sunday 09-20 is a make-up working day (调休)
        "2026-09-21",
        "2026-09-23",  # D+11, D+13; D+14 keeps the 2-day rhythm
        "2026-09-28",  # D+15..17 fall in Mid-Autumn (09-25..27): one follow-up on Monday
        "2026-09-29",
        "2026-09-30",
        "2026-10-08",  # National Day 10-01..10-07: one follow-up on the first working day
        "2026-10-09",
        "2026-10-10",  # a make-up working Saturday
        "2026-10-12",
        "2026-10-13",
    ]


def test_into_2027_the_fallback_calendar_is_weekends_only():
    late = InvoiceFacts("INV-2", D(2026, 10, 20), D(2026, 11, 20), Decimal("500.00"))
    rows = one_time(run(CustomerFacts("C1", invoices=(late,)), D(2026, 11, 1), D(2027, 3, 31)))
    assert ("2027-01-21", "notify_gm") in rows  # more than two months: 2027-01-21, a Thursday
    assert ("2027-02-22", "stop_shipment") in rows  # 02-21 is a Sunday
    assert ("2027-02-23", "dunning_letter") in rows
    assert ("2027-03-09", "lawyer_letter") in rows  # lock 02-22 + 15 = 03-09, a Tuesday


def test_the_reminder_moves_back_to_the_previous_working_day():
    due = D(2026, 10, 9)  # D-7 = 10-02, inside National Day: back to Wednesday 09-30
    rows = run(CustomerFacts("C1", invoices=(InvoiceFacts("I", D(2026, 9, 1), due, Decimal("1")),)), D(2026, 9, 1), due)
    assert one_time(rows)[0] == ("2026-09-30", "reminder")


def test_month_end_more_than_n_months_clips():
    due = D(2026, 10, 31)  # + 1 month = 11-30, + 3 months = 2027-01-31 (clipped from 31)
    rows = one_time(run(CustomerFacts("C1", invoices=(InvoiceFacts("I", D(2026, 10, 1), due, Decimal("1")),)), D(2026, 10, 1), D(2027, 2, 10)))
    assert ("2026-12-01", "notify_manager") in rows
    assert ("2027-01-04", "notify_gm") in rows  # after 12-31: New Year's Day is off by law (statutory), then the weekend
    assert ("2027-02-01", "stop_shipment") in rows


def test_denied_stop_shipment_means_no_letters():
    rows = run(CustomerFacts("C1", invoices=(INVOICE,)), D(2026, 8, 1), D(2027, 1, 31), grant=False)
    actions = {action for _on, action, _ in rows}
    assert "stop_shipment" in actions
    assert not actions & {"dunning_letter", "statement_letter", "lawyer_letter"}


def test_an_account_already_locked_gets_no_second_lock_and_its_letters_count_from_the_lock():
    facts = CustomerFacts("C1", status=CustomerStatus.locked, locked_on=D(2026, 11, 2), invoices=(INVOICE,))
    rows = one_time(run(facts, D(2026, 11, 1), D(2027, 1, 31)))
    assert "stop_shipment" not in {action for _on, action in rows}
    # This invoice reaches the lock step on 12-11, after the lock: its letters follow that day's.
    assert ("2026-12-14", "dunning_letter") in rows


def test_actions_merge_per_customer_and_day_naming_every_invoice():
    second = InvoiceFacts("INV-2", D(2026, 8, 12), D(2026, 9, 12), Decimal("200.00"))  # D+1 = Sunday 09-13
    rows = run(CustomerFacts("C1", invoices=(INVOICE, second)), D(2026, 9, 11), D(2026, 9, 15))
    assert rows == [
        ("2026-09-11", "follow_up", ("INV-1",)),
        ("2026-09-14", "follow_up", ("INV-1", "INV-2")),  # INV-1's D+3 and INV-2's D+1, both rolled to Monday
        ("2026-09-15", "follow_up", ("INV-1", "INV-2")),
    ]


def test_a_paid_invoice_calls_for_nothing_and_a_partial_payment_keeps_the_rest_aging():
    paid = InvoiceFacts("INV-1", INVOICE.issued_on, DUE, INVOICE.amount, payments=((D(2026, 9, 16), Decimal("1000.00")),))
    assert [on for on, *_ in run(CustomerFacts("C1", invoices=(paid,)), D(2026, 9, 14), D(2026, 10, 31))] == ["2026-09-14", "2026-09-15"]
    partial = InvoiceFacts("INV-1", INVOICE.issued_on, DUE, INVOICE.amount, payments=((D(2026, 9, 16), Decimal("400.00")),))
    rows = one_time(run(CustomerFacts("C1", invoices=(partial,)), D(2026, 9, 14), D(2026, 10, 31)))
    assert ("2026-10-12", "notify_manager") in rows


def test_a_payment_in_the_two_weeks_before_escalation_counts_as_progress():
    partial = InvoiceFacts("INV-1", INVOICE.issued_on, DUE, INVOICE.amount, payments=((D(2026, 9, 30), Decimal("100.00")),))
    rows = one_time(run(CustomerFacts("C1", invoices=(partial,)), D(2026, 9, 1), D(2026, 10, 31)))
    assert "escalate_supervisor" not in {action for _on, action in rows}


def test_a_broken_promise_brings_a_follow_up_at_once_with_the_steps_that_passed():
    promise = PromiseFacts(D(2026, 10, 8), D(2026, 10, 20), Decimal("300.00"), frozenset({"INV-1"}))
    rows = run(CustomerFacts("C1", invoices=(INVOICE,), promises=(promise,)), D(2026, 10, 8), D(2026, 10, 23))
    assert rows == [
        # Nothing from the promise's day to its date: the escalation (10-08) and the manager (10-12) wait.
        ("2026-10-21", "escalate_supervisor", ("INV-1",)),
        ("2026-10-21", "follow_up", ("INV-1",)),
        ("2026-10-21", "notify_manager", ("INV-1",)),
        ("2026-10-22", "follow_up", ("INV-1",)),
        ("2026-10-23", "follow_up", ("INV-1",)),
    ]


def test_a_kept_promise_ends_the_pause_and_the_steps_it_held_come_after_it():
    paid = InvoiceFacts("INV-1", INVOICE.issued_on, DUE, INVOICE.amount, payments=((D(2026, 10, 14), Decimal("300.00")),))
    promise = PromiseFacts(D(2026, 10, 8), D(2026, 10, 20), Decimal("300.00"), frozenset({"INV-1"}))
    rows = run(CustomerFacts("C1", invoices=(paid,), promises=(promise,)), D(2026, 10, 8), D(2026, 10, 16))
    # Kept on 10-14: the held one-time steps come on 10-15 and the daily cadence resumes; no extra follow-up is owed.
    assert rows == [
        ("2026-10-15", "escalate_supervisor", ("INV-1",)),
        ("2026-10-15", "follow_up", ("INV-1",)),
        ("2026-10-15", "notify_manager", ("INV-1",)),
        ("2026-10-16", "follow_up", ("INV-1",)),
    ]


def test_a_promise_covers_only_its_invoices():
    other = InvoiceFacts("INV-2", INVOICE.issued_on, DUE, Decimal("50.00"))
    promise = PromiseFacts(D(2026, 9, 10), D(2026, 9, 30), Decimal("1000.00"), frozenset({"INV-1"}))
    rows = run(CustomerFacts("C1", invoices=(INVOICE, other), promises=(promise,)), D(2026, 9, 11), D(2026, 9, 11))
    assert rows == [("2026-09-11", "follow_up", ("INV-2",))]


def test_a_disputed_invoice_calls_for_nothing_until_resolved_then_resumes():
    disputed = InvoiceFacts("INV-1", INVOICE.issued_on, DUE, INVOICE.amount, disputes=((D(2026, 9, 14), D(2026, 10, 13)),))
    rows = run(CustomerFacts("C1", invoices=(disputed,)), D(2026, 9, 11), D(2026, 10, 15))
    assert rows == [
        ("2026-09-11", "follow_up", ("INV-1",)),
        ("2026-10-14", "escalate_supervisor", ("INV-1",)),
        ("2026-10-14", "follow_up", ("INV-1",)),
        ("2026-10-14", "notify_manager", ("INV-1",)),
        ("2026-10-15", "follow_up", ("INV-1",)),
    ]
    still_open = InvoiceFacts("INV-1", INVOICE.issued_on, DUE, INVOICE.amount, disputes=((D(2026, 9, 14), None),))
    assert run(CustomerFacts("C1", invoices=(still_open,)), D(2026, 9, 14), D(2027, 1, 31)) == []


def test_key_accounts_are_handled_by_a_manager_and_high_risk_ones_locked_early():
    key = simulate(CustomerFacts("C1", segment=Segment.key, invoices=(INVOICE,)), D(2026, 9, 11), D(2026, 10, 8), HANDBOOK, CN)
    assert {(a.action, a.role) for a in key} == {("follow_up", "manager"), ("escalate_supervisor", "manager")}
    risky = one_time(run(CustomerFacts("C1", segment=Segment.high_risk, invoices=(INVOICE,)), D(2026, 9, 1), D(2026, 10, 31)))
    assert ("2026-10-12", "stop_shipment") in risky  # more than one month, not three
    assert ("2026-10-13", "dunning_letter") in risky


def test_a_chronically_late_payer_gets_a_visit():
    history = tuple(
        InvoiceFacts(f"OLD-{n}", D(2026, 1 + n, 1), D(2026, 2 + n, 1), Decimal("10.00"), payments=((D(2026, 2 + n, 25), Decimal("10.00")),)) for n in range(3)
    )
    rows = one_time(run(CustomerFacts("C1", invoices=(*history, INVOICE)), D(2026, 9, 1), D(2026, 9, 30)))
    assert ("2026-09-28", "visit") in rows  # D+15 = 09-25 (Mid-Autumn) -> 09-28
    punctual = tuple(InvoiceFacts(i.invoice_id, i.issued_on, i.due_on, i.amount, payments=((i.due_on, i.amount),)) for i in history)
    assert "visit" not in {a for _on, a in one_time(run(CustomerFacts("C1", invoices=(*punctual, INVOICE)), D(2026, 9, 1), D(2026, 9, 30)))}


# -- §1 the statement cycle ----------------------------------------------------


def statement_run(statement: StatementFacts, start: dt.date, end: dt.date, **facts) -> list[tuple[str, str]]:
    customer = CustomerFacts("C1", statements=(statement,), **facts)
    return [(a.on.isoformat(), a.action) for a in simulate(customer, start, end, HANDBOOK, CN)]


def test_a_statement_cycle_whose_deadlines_fall_in_the_national_day_holiday():
    rows = statement_run(StatementFacts("2026-09"), D(2026, 10, 1), D(2026, 11, 10))
    assert rows[:2] == [("2026-10-08", "prepare_statement"), ("2026-10-08", "send_statement")]  # the 5th rolls to the 8th
    follow_ups = [on for on, action in rows if action == "statement_follow_up"]
    assert follow_ups[:8] == [
        "2026-10-10",  # sent + 2: a make-up working Saturday
        "2026-10-12",
        "2026-10-14",
        "2026-10-16",  # + 4, 6, 8
        "2026-10-19",  # + 10 (Sunday 10-18) -> Monday
        "2026-10-20",  # + 12
        "2026-10-22",
        "2026-10-23",  # daily from + 14
    ]
    assert ("2026-11-05", "escalate_statement") in rows  # sent + 28


def test_a_confirmed_statement_is_invoiced_by_the_30th_and_its_mailing_reported_after():
    confirmed = StatementFacts("2026-10", {"prepared": D(2026, 11, 4), "reviewed": D(2026, 11, 5), "sent": D(2026, 11, 6), "confirmed": D(2026, 11, 18)})
    rows = statement_run(confirmed, D(2026, 11, 18), D(2026, 12, 2))
    assert rows == [("2026-11-30", "issue_invoice")]
    invoiced = StatementFacts("2026-10", {**confirmed.reached, "invoiced": D(2026, 11, 27)})
    assert statement_run(invoiced, D(2026, 11, 28), D(2026, 12, 4)) == [("2026-12-01", "send_invoice_info")]


def test_february_deadlines_clip_to_the_month_end():
    confirmed = StatementFacts("2027-01", {"prepared": D(2027, 2, 3), "sent": D(2027, 2, 5), "confirmed": D(2027, 2, 19)})
    assert statement_run(confirmed, D(2027, 2, 19), D(2027, 3, 3)) == [("2027-03-01", "issue_invoice")]  # 02-28 is a Sunday in 2027


def test_a_statement_prepared_late_is_sent_at_once():
    late = StatementFacts("2026-10", {"prepared": D(2026, 11, 12)})
    assert statement_run(late, D(2026, 11, 9), D(2026, 11, 12)) == [("2026-11-12", "send_statement")]


def test_per_receipt_customers_are_followed_up_daily_once_the_receipts_are_complete():
    statement = StatementFacts("2026-10", {"prepared": D(2026, 11, 5), "sent": D(2026, 11, 6)}, receipts_complete_on=D(2026, 11, 9))
    receipts = statement_run(statement, D(2026, 11, 6), D(2026, 11, 13), settlement=Settlement.per_receipt)
    monthly = statement_run(statement, D(2026, 11, 6), D(2026, 11, 13))
    assert [on for on, _ in receipts] == ["2026-11-09", "2026-11-10", "2026-11-11", "2026-11-12", "2026-11-13"]
    assert [on for on, _ in monthly] == ["2026-11-09", "2026-11-10", "2026-11-12"]  # sent + 2 (Sunday), + 4, + 6


def test_per_invoice_customers_have_no_statement_cycle():
    assert statement_run(StatementFacts("2026-09"), D(2026, 10, 1), D(2026, 10, 31), settlement=Settlement.per_invoice) == []


def test_a_chronically_late_confirmer_is_visited_after_the_20th():
    history = tuple(
        StatementFacts(f"2026-0{m}", {"prepared": D(2026, m + 1, 5), "sent": D(2026, m + 1, 8), "confirmed": D(2026, m + 1, 27)}) for m in (5, 6, 7)
    )
    customer = CustomerFacts("C1", statements=(*history, StatementFacts("2026-10", {"prepared": D(2026, 11, 5), "sent": D(2026, 11, 6)})))
    rows = [(a.on.isoformat(), a.action) for a in simulate(customer, D(2026, 11, 20), D(2026, 11, 23), HANDBOOK, CN)]
    assert ("2026-11-23", "visit") in rows  # the 21st is a Saturday


def test_plan_is_one_day_of_the_simulation():
    facts = CustomerFacts("C1", invoices=(INVOICE,))
    for day in (D(2026, 9, 3), D(2026, 10, 8), D(2026, 10, 12), D(2026, 12, 11)):
        assert actions_due(facts, day, HANDBOOK, CN) == simulate(facts, day, day, HANDBOOK, CN)


def test_plan_reads_the_ledger_as_recorded_while_simulate_takes_our_own_steps():
    facts = CustomerFacts("C1", statements=(StatementFacts("2026-09"),))
    assert [a.action for a in actions_due(facts, D(2026, 10, 8), HANDBOOK, CN)] == ["prepare_statement"]
    assert [a.action for a in simulate(facts, D(2026, 10, 8), D(2026, 10, 8), HANDBOOK, CN)] == ["prepare_statement", "send_statement"]


# -- §4 instalment plans --------------------------------------------------------


def test_a_kept_instalment_plan_replaces_the_ladder():
    paid = InvoiceFacts("INV-1", INVOICE.issued_on, DUE, INVOICE.amount, payments=((D(2026, 10, 14), Decimal("500.00")), (D(2026, 11, 13), Decimal("500.00"))))
    plan = InstalmentPlanFacts(D(2026, 9, 14), frozenset({"INV-1"}), ((D(2026, 10, 15), Decimal("500.00")), (D(2026, 11, 15), Decimal("500.00"))))
    assert run(CustomerFacts("C1", invoices=(paid,), instalment_plans=(plan,)), D(2026, 9, 14), D(2026, 12, 31)) == []


def test_a_missed_instalment_brings_the_ladder_back_at_once():
    first_only = InvoiceFacts("INV-1", INVOICE.issued_on, DUE, INVOICE.amount, payments=((D(2026, 10, 14), Decimal("500.00")),))
    plan = InstalmentPlanFacts(D(2026, 9, 14), frozenset({"INV-1"}), ((D(2026, 10, 15), Decimal("500.00")), (D(2026, 11, 16), Decimal("500.00"))))
    rows = run(CustomerFacts("C1", invoices=(first_only,), instalment_plans=(plan,)), D(2026, 9, 14), D(2026, 11, 18))
    # The second instalment (11-16) is missed: everything the plan held back comes on 11-17.
    assert rows == [
        ("2026-11-17", "escalate_supervisor", ("INV-1",)),
        ("2026-11-17", "follow_up", ("INV-1",)),
        ("2026-11-17", "notify_gm", ("INV-1",)),
        ("2026-11-17", "notify_manager", ("INV-1",)),
        ("2026-11-18", "follow_up", ("INV-1",)),
    ]


def test_a_step_can_refuse_to_wait_for_an_instalment_plan():
    plan = InstalmentPlanFacts(D(2026, 9, 14), frozenset({"INV-1"}), ((D(2026, 12, 31), Decimal("1000.00")),))
    strict = HANDBOOK.model_copy(
        update={"steps": [s.model_copy(update={"pauses": frozenset({"dispute", "promise"})}) if s.id == "notify_manager" else s for s in HANDBOOK.steps]}
    )
    rows = [
        (a.on.isoformat(), a.action)
        for a in simulate(CustomerFacts("C1", invoices=(INVOICE,), instalment_plans=(plan,)), D(2026, 9, 14), D(2026, 10, 31), strict, CN)
    ]
    assert rows == [("2026-10-12", "notify_manager")]


def test_a_statement_the_supervisor_does_not_approve_is_not_sent():
    customer = CustomerFacts("C1", statements=(StatementFacts("2026-09"),))
    denied = [(a.on.isoformat(), a.action) for a in simulate(customer, D(2026, 10, 1), D(2026, 11, 10), HANDBOOK, CN, grant_approvals=False)]
    assert denied == [("2026-10-08", "prepare_statement"), ("2026-10-08", "send_statement")]
