"""Late-payment charges and the limitation period, on explicit dates (issue #17: the pure rules).

Every figure below is worked out by hand in its comment: the rules are
``models/charges.py`` and ``models/limitation.py``, and the test states what a
lawyer would compute on paper.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.calendar import CalendarBook
from models.charges import ChargeTerms, late_charge
from models.limitation import LegalEvent, Restart, limitation, period_end, warnings_due, years_later

# Years after 2026 have no declared schedule yet: the statutory days off are the calendar (and the rules say so).
pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
M = Decimal
WAN_WU = ChargeTerms(rate=M("0.0005"), clause="合同第八条")  # 万分之五 a day


@pytest.fixture(scope="module")
def cn():
    return CalendarBook().calendar("CN")


# -- charges ----------------------------------------------------------------------------------


def test_a_charge_across_a_partial_payment_is_counted_on_what_stayed_open():
    # 10,000.00 due 2026-03-31. Charged from 04-01. 4,000.00 paid on 04-11: days 04-01..04-10 (10 days) on 10,000,
    # then 04-11..04-30 (20 days) on 6,000. 10,000 × 0.0005 × 10 = 50.00; 6,000 × 0.0005 × 20 = 60.00.
    charge = late_charge("I1", M("10000.00"), D(2026, 3, 31), [(D(2026, 4, 11), M("4000.00"))], D(2026, 4, 30), WAN_WU)
    assert charge.amount == M("110.00") and charge.principal_open == M("6000.00") and charge.total == M("6110.00")
    assert [(p.first, p.last, p.principal, p.days) for p in charge.periods] == [
        (D(2026, 4, 1), D(2026, 4, 10), M("10000.00"), 10),
        (D(2026, 4, 11), D(2026, 4, 30), M("6000.00"), 20),
    ]
    assert charge.days == 30 and not charge.capped


def test_not_counted_from_the_last_payment_nor_on_the_original_amount():
    # ERPNext #49621 counts from the last payment, #58220 loses the charge after a part payment: neither here.
    # 1,000.00 due 01-31, 500.00 paid 02-10, 400.00 paid 02-20, as of 02-28:
    # 02-01..02-09: 9 × 1,000 × 0.0005 = 4.50; 02-10..02-19: 10 × 500 × 0.0005 = 2.50; 02-20..02-28: 9 × 100 × 0.0005 = 0.45.
    charge = late_charge("I1", M("1000.00"), D(2026, 1, 31), [(D(2026, 2, 20), M("400.00")), (D(2026, 2, 10), M("500.00"))], D(2026, 2, 28), WAN_WU)
    assert charge.amount == M("7.45") and charge.principal_open == M("100.00")


def test_the_cap_and_rounding_once_at_the_end():
    # 3,333.33 due 2025-01-01, never paid, 800 days at 0.05%: 3,333.33 × 0.0005 × 800 = 1,333.332 → cap 30% = 999.999 → 1,000.00.
    capped = ChargeTerms(rate=M("0.0005"), cap_ratio=M("0.30"))
    charge = late_charge("I1", M("3333.33"), D(2025, 1, 1), [], D(2025, 1, 1) + dt.timedelta(days=800), capped)
    assert charge.capped and charge.uncapped == M("1333.33") and charge.amount == M("1000.00")
    # A fixed cap below the ratio wins.
    fixed = ChargeTerms(rate=M("0.0005"), cap_ratio=M("0.30"), cap_amount=M("500.00"))
    assert late_charge("I1", M("3333.33"), D(2025, 1, 1), [], D(2027, 1, 1), fixed).amount == M("500.00")
    # Half-up once: 3 days × 33.33 × 0.0005 = 0.049995 → 0.05 (per-day rounding would give 0.02 + 0.02 + 0.02 = 0.06 or 0.00).
    assert late_charge("I1", M("33.33"), D(2026, 1, 1), [], D(2026, 1, 4), WAN_WU).amount == M("0.05")


def test_a_grace_period_and_an_annual_rate():
    # 15 days' grace: charged from 04-16. Paid in full on 04-15: nothing.
    grace = ChargeTerms(rate=M("0.0005"), grace_days=15)
    assert late_charge("I1", M("10000.00"), D(2026, 3, 31), [(D(2026, 4, 15), M("10000.00"))], D(2026, 5, 31), grace).amount == M("0.00")
    # Not paid: 04-16..04-30 = 15 days × 5.00 = 75.00.
    assert late_charge("I1", M("10000.00"), D(2026, 3, 31), [], D(2026, 4, 30), grace).amount == M("75.00")
    # 3.65% a year over 365 days is 0.01% a day: 10,000 × 0.0001 × 30 = 30.00.
    annual = ChargeTerms(rate=M("0.0365"), per="year")
    assert late_charge("I1", M("10000.00"), D(2026, 3, 31), [], D(2026, 4, 30), annual).amount == M("30.00")


def test_nothing_before_the_due_date_and_payments_after_the_day_are_ignored():
    assert late_charge("I1", M("100.00"), D(2026, 4, 30), [], D(2026, 4, 30), WAN_WU).amount == M("0.00")
    later = late_charge("I1", M("1000.00"), D(2026, 3, 31), [(D(2026, 5, 5), M("1000.00"))], D(2026, 4, 10), WAN_WU)
    assert later.principal_open == M("1000.00") and later.amount == M("5.00")


@settings(max_examples=200, deadline=None)
@given(
    amount=st.integers(1, 10**8).map(lambda c: M(c) / 100),
    days=st.integers(0, 2000),
    parts=st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 10**6)), max_size=5),
)
def test_a_charge_never_grows_when_money_comes_in_earlier_and_stays_exact(amount, days, parts):
    due = D(2024, 1, 31)
    as_of = due + dt.timedelta(days=days)
    payments, left = [], amount
    for offset, cents in parts:
        paid = min(left, M(cents) / 100)
        if paid > 0:
            payments.append((due + dt.timedelta(days=offset), paid))
            left -= paid
    charge = late_charge("I", amount, due, payments, as_of, WAN_WU)
    unpaid = late_charge("I", amount, due, [], as_of, WAN_WU)
    assert charge.amount <= unpaid.amount == (amount * M("0.0005") * days).quantize(M("0.01"), rounding="ROUND_HALF_UP")
    assert charge.amount == charge.amount.quantize(M("0.01")) and charge.principal_open >= 0
    assert sum(p.days for p in charge.periods) <= days


# -- the limitation period ----------------------------------------------------------------------


def test_three_years_from_the_due_date_moved_off_a_day_off(cn):
    # Due 2023-05-10 → 2026-05-10, a Sunday → Monday 2026-05-11.
    assert limitation("I1", D(2023, 5, 10), [], cn).expires_on == D(2026, 5, 11)
    # Due 2023-06-14 → 2026-06-14, a Sunday → 2026-06-15.
    assert period_end(D(2023, 6, 14), cn) == D(2026, 6, 15)
    # Due 2024-02-29: no 29 February in 2027 → 2027-02-28 (a Sunday) → Monday 2027-03-01.
    assert years_later(D(2024, 2, 29), 3) == D(2027, 2, 28)
    assert period_end(D(2024, 2, 29), cn) == D(2027, 3, 1)


def test_restarted_by_a_confirmation_a_delivered_letter_and_a_part_payment_not_an_undelivered_letter(cn):
    due = D(2023, 3, 15)  # → 2026-03-16 (the 15th is a Sunday)
    confirmed = LegalEvent(D(2024, 1, 20), Restart.statement_confirmed, "statement 2023-12", frozenset({"I1", "I2"}))
    delivered = LegalEvent(D(2025, 4, 8), Restart.demand_delivered, "I1:dunning_letter:2025-04-01 SF123")
    paid = LegalEvent(D(2025, 9, 30), Restart.part_payment, "P-77", frozenset({"I1"}))
    only = limitation("I1", due, [], cn)
    assert only.expires_on == D(2026, 3, 16) and only.restarted_by is None
    after_confirmation = limitation("I1", due, [confirmed], cn)
    assert after_confirmation.expires_on == D(2027, 1, 20) and after_confirmation.restarted_by == confirmed
    after_letter = limitation("I1", due, [confirmed, delivered], cn)
    assert after_letter.expires_on == D(2028, 4, 10) and after_letter.restarted_by == delivered  # 2028-04-08 is a Saturday
    everything = limitation("I1", due, [paid, delivered, confirmed], cn)  # any order
    # 2028-09-30 is a Saturday; 2028's schedule is not declared yet, so its statutory days (10-01..10-03) are the days off.
    assert everything.expires_on == D(2028, 10, 4) and everything.restarted_by == paid
    # The payment was on I1 only: I2 keeps the confirmation's date. A letter never delivered is no event at all:
    # the ledger gives only delivered demands (see the case file); one without a record is not passed in.
    assert limitation("I2", due, [paid, delivered, confirmed], cn).expires_on == D(2028, 4, 10)  # the letter named no invoice: all open


def test_after_the_period_a_demand_revives_nothing_an_acknowledgement_does(cn):
    due = D(2021, 1, 10)  # → 2024-01-10 (a Wednesday)
    late_letter = LegalEvent(D(2024, 6, 1), Restart.demand_delivered, "lawyer letter")
    late_promise = LegalEvent(D(2024, 7, 1), Restart.promise, "promise of 2024-07-01", frozenset({"I1"}))
    assert limitation("I1", due, [late_letter], cn).expires_on == D(2024, 1, 10)
    revived = limitation("I1", due, [late_letter, late_promise], cn)
    assert revived.revived and revived.expires_on == D(2027, 7, 1) and revived.restarted_by == late_promise
    assert limitation("I1", due, [late_letter], cn).expired(D(2024, 1, 11)) and not revived.expired(D(2026, 12, 3))


def test_never_beyond_twenty_years(cn):
    due = D(2006, 1, 10)
    promises = [LegalEvent(D(2008 + 2 * n, 1, 5), Restart.promise, f"p{n}") for n in range(10)]
    assert limitation("I1", due, promises, cn).expires_on == D(2026, 1, 10)


def test_the_warning_step_days(cn):
    expiry = limitation("I1", D(2023, 12, 4), [], cn)  # → 2026-12-04, a Friday
    assert expiry.expires_on == D(2026, 12, 4)
    assert warnings_due(expiry, D(2026, 9, 4)) is None  # 91 days left
    assert warnings_due(expiry, D(2026, 9, 5)) == 90  # 90 days before
    assert warnings_due(expiry, D(2026, 11, 3)) == 90 and warnings_due(expiry, D(2026, 11, 4)) == 30
    assert warnings_due(expiry, D(2026, 12, 4)) == 30 and warnings_due(expiry, D(2026, 12, 5)) is None
