"""Our own people read their emails in their own language (the company file's ``locale:`` of the person), else the company's.

Escalations, the GM's notice of an unanswered request and the lock-lifted notice to finance and shipping follow the
same rule as the approval emails and pages (``huikuan.documents.i18n.person_locale``).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from huikuan.collection import execution
from huikuan.ledger.company import EXAMPLE, parse_company
from models.ledger import Approval, OutboxMessage
from tests.ledger_files import import_ledger
from tests.test_mail_and_execution import FILES, due

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
CJK = re.compile(r"[\u4e00-\u9fff]")


def speaking(own: dict[str, str]):
    """The example company (zh_CN) with the people ``own`` names (id -> locale) reading their own language."""
    company = parse_company(EXAMPLE)
    return company.model_copy(update={"people": [p.model_copy(update={"locale": own[p.id]}) if p.id in own else p for p in company.people]})


@pytest.fixture
def ledger(tmp_path, session):
    return import_ledger(session, tmp_path, FILES)


def mails_to(session, address: str) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == address).order_by(OutboxMessage.id)))


def is_chinese(message: OutboxMessage) -> bool:
    return bool(CJK.search(message.subject.replace("杭州华信贸易有限公司", "")))


def test_an_escalation_reaches_each_person_in_their_own_language(ledger):
    company = speaking({"sup": "en"})
    supervisor, manager = company.person("sup"), company.person("mgr")
    for day in (D(2026, 8, 11) + dt.timedelta(days=n) for n in range(120)):
        for action in due(ledger, "C1", day):
            execution.take_action(ledger, action, company=company, as_of=day)
    to_supervisor, to_manager = mails_to(ledger, supervisor.email), mails_to(ledger, manager.email)
    assert to_supervisor and to_manager
    assert not any(is_chinese(m) for m in to_supervisor), [m.subject for m in to_supervisor]  # his own: English
    assert all(is_chinese(m) for m in to_manager), [m.subject for m in to_manager]  # the company's: Chinese


def test_the_gm_reads_an_unanswered_request_and_finance_a_lifted_lock_in_their_own_language(ledger):
    company = speaking({"gm": "en", "fin": "en"})
    customer = execution.get_customer(ledger, "C1")
    ledger.add(
        Approval(
            key="approval:C1:stop_shipment:2026-11-02",
            customer_id="C1",
            action="stop_shipment",
            approver_role="boss",
            requested_on=D(2026, 11, 2),
            invoices="I1",
        )
    )
    ledger.flush()
    approval = ledger.scalar(select(Approval))
    execution._escalate_unanswered(ledger, approval, customer, company, D(2026, 11, 5), what="reminded")
    execution.tell_shipping(ledger, customer, "C1:lift_lock:2026-11-06", company, D(2026, 11, 6), locked_on=D(2026, 10, 1), invoices=("I1",), reason=("paid",))
    (to_gm,) = mails_to(ledger, company.person("gm").email)
    assert not is_chinese(to_gm), to_gm.subject
    (to_finance,) = mails_to(ledger, company.person("fin").email)
    assert not is_chinese(to_finance) and to_finance.text.startswith("Dear ") and "Reason:" in to_finance.text, to_finance.text
    (to_shipping,) = mails_to(ledger, company.person("wh").email)
    assert is_chinese(to_shipping), to_shipping.subject
