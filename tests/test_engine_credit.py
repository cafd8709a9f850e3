"""The credit-management policy (PROCESS.md §3) on explicit dates."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from models.calendar import calendar_for
from models.engine import CustomerFacts, InvoiceFacts, simulate
from models.enums import CustomerStatus, Segment, Settlement
from models.policy import load_policy

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
CREDIT = load_policy("credit")
CN = calendar_for("CN")
DUE = D(2026, 7, 1)  # a Wednesday
INVOICE = InvoiceFacts("I1", D(2026, 6, 1), DUE, Decimal("1000.00"))


def steps(facts: CustomerFacts, start=D(2026, 6, 1), end=D(2026, 10, 31), grant=True) -> list[tuple[str, str, str, bool]]:
    return [
        (a.on.isoformat(), a.action, a.role, a.needs_approval)
        for a in simulate(facts, start, end, CREDIT, CN, grant_approvals=grant)
        if a.action != "follow_up"
    ]


def test_the_credit_ladder_for_a_per_invoice_customer():
    assert steps(CustomerFacts("C1", settlement=Settlement.per_invoice, invoices=(INVOICE,))) == [
        ("2026-06-25", "reminder", "collector", False),  # 4 working days before the due date
        ("2026-07-02", "payment_notice", "supervisor", False),  # 1 day over
        ("2026-07-17", "dunning_letter", "manager", False),  # over 15 days
        ("2026-07-17", "suspend_credit", "manager", False),
        ("2026-08-03", "stop_credit", "gm", False),  # over 30 days: 08-01 is a Saturday
        ("2026-08-03", "urgent_letter", "manager", False),
        ("2026-08-31", "blacklist", "gm", False),  # over 60 days
        ("2026-08-31", "call_top_management", "manager", False),
        ("2026-08-31", "stern_letter", "manager", False),
        ("2026-09-15", "final_notice", "gm", True),
        ("2026-09-30", "litigation", "boss", True),  # over 90 days
    ]


def test_monthly_settled_customers_have_ten_days_grace():
    rows = steps(CustomerFacts("C1", settlement=Settlement.monthly_statement, invoices=(INVOICE,)), end=D(2026, 7, 20))
    assert ("2026-07-13", "payment_notice", "supervisor", False) in rows  # D+11 = 07-12, a Sunday
    assert not any(on == "2026-07-02" for on, *_ in rows)


def test_paying_after_the_credit_stop_resumes_trading_with_the_limit_cut():
    paid = InvoiceFacts("I1", D(2026, 6, 1), DUE, Decimal("1000.00"), payments=((D(2026, 8, 20), Decimal("1000.00")),))
    rows = steps(CustomerFacts("C1", settlement=Settlement.per_invoice, invoices=(paid,)))
    assert rows[-1] == ("2026-08-20", "cut_credit_limit", "manager", False)
    assert not any(action in ("blacklist", "litigation") for _on, action, *_ in rows)


def test_paying_before_the_credit_stop_cuts_nothing():
    paid = InvoiceFacts("I1", D(2026, 6, 1), DUE, Decimal("1000.00"), payments=((D(2026, 7, 20), Decimal("1000.00")),))
    assert "cut_credit_limit" not in {action for _on, action, *_ in steps(CustomerFacts("C1", settlement=Settlement.per_invoice, invoices=(paid,)))}


def test_a_customer_already_blacklisted_is_not_stopped_again():
    rows = steps(CustomerFacts("C1", settlement=Settlement.per_invoice, status=CustomerStatus.blacklisted, invoices=(INVOICE,)))
    assert not {"suspend_credit", "stop_credit", "blacklist"} & {action for _on, action, *_ in rows}
    assert ("2026-09-30", "litigation", "boss", True) in rows


def test_key_accounts_are_never_cut_off_without_the_boss():
    rows = steps(CustomerFacts("C1", segment=Segment.key, settlement=Settlement.per_invoice, invoices=(INVOICE,)))
    for action in ("suspend_credit", "stop_credit", "blacklist"):
        assert any(a == action and role == "boss" and approval for _on, a, role, approval in rows), action


def test_denied_credit_stops_do_not_change_the_account():
    key = CustomerFacts("C1", segment=Segment.key, settlement=Settlement.per_invoice, invoices=(INVOICE,))
    denied = [action for _on, action, *_ in steps(key, grant=False)]
    # Nothing was granted, so each cut-off is asked for once and the next rung is still asked for.
    assert denied.count("suspend_credit") == 1 and denied.count("stop_credit") == 1 and denied.count("blacklist") == 1


def test_high_risk_accounts_are_stopped_early():
    rows = steps(CustomerFacts("C1", segment=Segment.high_risk, settlement=Settlement.per_invoice, invoices=(INVOICE,)), end=D(2026, 7, 31))
    assert ("2026-07-02", "suspend_credit", "manager", False) in rows
    assert ("2026-07-17", "stop_credit", "gm", False) in rows
