"""The engine's cheaper paths (issue #18) give what the plain ones give.

``reason_for`` writes an invoice's reason from the text kept around the invoice id
(``Reason.written``): the same string, message, values and code as ``Reason("invoice_age", ...)``.
``_merge`` of several calls gathers them in one pass: the invoices and statements sorted
and once each, the reasons and steps once each in the order of the calls, the events sorted,
approval needed if any call needs it, the first effect.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from models.engine import Action, Call, InvoiceFacts, _age, _merge, reason_for
from models.policy import Effect, load_policy
from models.texts import Reason, step_text

DAY = dt.date(2026, 11, 23)


def _said(text: Reason) -> tuple:
    return str(text), text.msgid, text.code, dict(text.params), type(text)


@pytest.mark.parametrize("policy", ["handbook", "credit"])
@pytest.mark.parametrize("overdue", [-7, -1, 0, 1, 62, 400])
@pytest.mark.parametrize("invoice_id", ["INV-0001", "A {odd} id", "发票-7"])
def test_an_invoice_s_reason_reads_as_the_reason_written_out(policy, overdue, invoice_id):
    invoice = InvoiceFacts(invoice_id, DAY, DAY, Decimal("10.00"))
    for step in load_policy(policy).steps:
        expected = Reason("invoice_age", invoice=invoice_id, age=_age(overdue), step=step_text(step.reason, step.action))
        assert _said(reason_for(step, invoice, overdue)) == _said(expected)
        assert _said(reason_for(step, invoice, overdue).params["age"]) == _said(expected.params["age"])


def test_merged_calls_name_each_subject_reason_step_and_event_once():
    steps = {s.id: s for s in load_policy("handbook").steps}
    follow_up, visit = steps["statement_follow_up"], steps["statement_follow_up_daily"]
    lock = next(s for s in steps.values() if s.effect is Effect.lock)
    approving = lock.model_copy(update={"needs_approval": True})
    first, second = Reason("statement", month="2026-10", step="a"), Reason("statement", month="2026-09", step="b")
    entries = [
        (Call(follow_up, first, "e2"), "statement 2026-10"),
        (Call(visit, second, "e1"), "statement 2026-09"),
        (Call(follow_up, first), "INV-2"),
        (Call(lock.model_copy(update={"needs_approval": False}), second), "INV-1"),
        (Call(approving, first, "e2"), "INV-2"),
    ]
    merged = _merge("C1", DAY, "statement_follow_up", entries)
    assert merged == Action(
        on=DAY,
        customer_id="C1",
        action="statement_follow_up",
        invoices=("INV-1", "INV-2"),
        channel=follow_up.channel,
        role=follow_up.role,
        needs_approval=True,
        reasons=(first, second),
        steps=(follow_up.id, visit.id, lock.id),
        effect=Effect.lock,
        statements=("2026-09", "2026-10"),
        events=("e1", "e2"),
    )
    assert merged.reasons[0] is first and merged.reasons[1] is second
    alone = _merge("C1", DAY, "statement_follow_up", entries[:1])
    assert (alone.invoices, alone.statements, alone.events, alone.needs_approval) == ((), ("2026-10",), ("e2",), False)
