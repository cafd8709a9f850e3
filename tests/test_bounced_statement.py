"""A statement (对账单) whose email would go to a bounced address stays unsent; the collector is told instead (issue #13)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from huikuan.collection import execution
from huikuan.outbox import bounces
from models.ledger import Approval, OutboxMessage, Statement
from tests.ledger_files import import_ledger
from tests.test_mail_and_execution import COMPANY, FILES, _send_code, take_all

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date


@pytest.fixture
def ledger(tmp_path, session):
    return import_ledger(session, tmp_path, FILES)


def test_a_statement_to_a_bounced_address_is_not_marked_sent_and_the_collector_is_told(ledger):
    take_all(ledger, "C1", D(2026, 11, 5))  # the October statement prepared
    bounces.mark_bounced(ledger, "C1", "wangwei@hx.example.cn", on=D(2026, 11, 6), company=COMPANY, as_of=D(2026, 11, 6))
    outcomes = take_all(ledger, "C1", D(2026, 11, 9))
    approval_key = next(o.approval_key for o in outcomes if o.action == "send_statement")
    approval = ledger.scalar(select(Approval).where(Approval.key == approval_key))
    code = _send_code(ledger, approval, D(2026, 11, 9), "supervisor@huikuan-demo.example.cn")
    assert execution.decide(
        ledger, approval_key, approver="sup", code=code, approve=True, comment=None, attempt=1, company=COMPANY, as_of=D(2026, 11, 9)
    ).accepted
    statement = ledger.scalar(select(Statement).where(Statement.customer_id == "C1", Statement.month == "2026-10"))
    assert statement.sent_on is None and statement.state.value != "sent" and statement.reviewed_on == D(2026, 11, 9)
    to_customer = ledger.scalars(select(OutboxMessage.key).where(OutboxMessage.to_address == "wangwei@hx.example.cn", OutboxMessage.bounced_at.is_(None))).all()
    assert to_customer == []  # nothing to the bounced address will be sent
    (notice,) = ledger.scalars(select(OutboxMessage).where(OutboxMessage.key.like(f"{approval.action_key}:2026-10:email:bounced:%"))).all()
    assert notice.to_address != "wangwei@hx.example.cn" and "wangwei@hx.example.cn" in notice.text
