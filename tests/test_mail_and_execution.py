"""Taking actions exactly once, approvals with one-time codes, and delivery through a real SMTP server."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from huikuan.collection import execution
from huikuan.ledger.company import EXAMPLE, CompanyFileError, SmtpSettings, parse_company
from huikuan.ledger.records import LedgerError, confirm_statement, record_payment
from huikuan.outbox.mail import OutboxFolder, SmtpServer, dispatch
from models.calendar import calendar_for
from models.engine import Evaluator
from models.enums import ApprovalState, CustomerStatus, StatementState
from models.ledger import ActionTaken, Approval, Customer, OutboxMessage, Statement
from models.policy import load_policy
from tests.ledger_files import import_ledger

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
COMPANY = parse_company(EXAMPLE)
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,contact_title,collector,credit_limit\n"
    "C1,杭州华信贸易有限公司,wangwei@hx.example.cn,13800000001,王伟,财务经理,c02,100000.00\n"
    "C2,Acme Trading Ltd,ap@acme.example.com,+14155550142,Jane Doe,Controller,,\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-07-10,2026-08-10,10000.00\nI2,C1,2026-09-10,2026-10-10,5000.00\nI3,C2,2026-09-01,2026-10-01,800.00\n",
    "charges": "charge_id,customer_id,delivered_on,amount,description\nH1,C1,2026-10-12,1200.00,钢材一批\nH2,C1,2026-10-20,300.00,运输服务\n",
}


@pytest.fixture
def ledger(tmp_path, session):
    return import_ledger(session, tmp_path, FILES)


def due(session, customer_id: str, day: dt.date):
    from huikuan.ledger.facts import load_facts

    facts, country = next(load_facts(session, only=[customer_id]))
    return Evaluator(facts, load_policy(), calendar_for(country)).actions_on(day)


def take_all(session, customer_id: str, day: dt.date):
    return [execution.take_action(session, a, company=COMPANY, as_of=day) for a in due(session, customer_id, day)]


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# -- the company file ---------------------------------------------------------------


def test_the_example_company_file_is_valid():
    assert COMPANY.first_with_role("boss").id == "boss"
    assert COMPANY.may_approve("boss", "stop_shipment") and not COMPANY.may_approve("gm", "stop_shipment")
    assert COMPANY.may_approve("sup", "send_statement")
    assert COMPANY.collector_for("c02").name == "王芳" and COMPANY.collector_for("nobody").id == "c01"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.replace("roles: [boss]", "roles: [gm]"), "nobody has the role boss"),
        (lambda t: t.replace("id: c02", "id: c01"), "id c01 appears twice"),
        (lambda t: t.replace("email: boss@huikuan-demo.example.cn", "email: not-an-address"), "people.9.email"),
        (lambda t: t.replace("approval_expiry_days: 7", "approval_expiry_days: 1"), "approval_expiry_days must be longer"),
        (lambda t: t + "colour: red\n", "colour: Extra inputs are not permitted"),
    ],
)
def test_a_bad_company_file_names_the_field(change, message):
    with pytest.raises(CompanyFileError, match=re.escape(message)):
        parse_company(change(EXAMPLE), "company.yaml")


# -- taking actions exactly once --------------------------------------------------------


def test_a_day_s_actions_are_taken_once_with_their_emails(ledger):
    day = D(2026, 10, 12)  # I1 more than 2 months overdue (notify_gm), I2 D+2 (no), C2's I3 D+11
    first = take_all(ledger, "C1", day) + take_all(ledger, "C2", day)
    assert {o.action for o in first} >= {"follow_up", "notify_gm"}
    assert all(o.taken for o in first)
    queued = count(ledger, OutboxMessage)
    assert queued == sum(o.messages for o in first) > 0
    again = take_all(ledger, "C1", day) + take_all(ledger, "C2", day)
    assert not any(o.taken for o in again)
    assert count(ledger, OutboxMessage) == queued and count(ledger, ActionTaken) == len(first)
    gm_mail = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key.like("C1:notify_gm:2026-10-12:to:gm")))
    assert gm_mail.to_address == "gm@huikuan-demo.example.cn" and "周建国" in gm_mail.text  # addressed to the GM, not the customer
    english = ledger.scalar(select(OutboxMessage).where(OutboxMessage.customer_id == "C2"))
    assert english.to_address == "ap@acme.example.com" and "Jane Doe" in english.text


def test_statements_are_prepared_from_the_month_s_charges(ledger):
    take_all(ledger, "C1", D(2026, 11, 5))
    statement = ledger.scalar(select(Statement).where(Statement.customer_id == "C1", Statement.month == "2026-10"))
    assert (statement.amount, statement.prepared_on, statement.state.value) == (Decimal("1500.00"), D(2026, 11, 5), "prepared")


def test_the_reviewed_statement_is_sent_when_the_supervisor_approves(ledger):
    take_all(ledger, "C1", D(2026, 11, 5))
    outcomes = take_all(ledger, "C1", D(2026, 11, 9))  # the 8th is a Sunday
    approval_key = next(o.approval_key for o in outcomes if o.action == "send_statement")
    approval = ledger.scalar(select(Approval).where(Approval.key == approval_key))
    code = _send_code(ledger, approval, D(2026, 11, 9), "supervisor@huikuan-demo.example.cn")
    decision = execution.decide(ledger, approval_key, approver="sup", code=code, approve=True, comment=None, attempt=1, company=COMPANY, as_of=D(2026, 11, 9))
    assert decision.accepted
    statement = ledger.scalar(select(Statement).where(Statement.customer_id == "C1"))
    assert (statement.state.value, statement.sent_on) == ("sent", D(2026, 11, 9))
    sent = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key.like(f"{approval.action_key}:2026-10:email")))
    assert sent.to_address == "wangwei@hx.example.cn" and "钢材一批" in sent.text


def _send_code(session, approval, day, to_address) -> str:
    execution.send_code(session, approval, COMPANY, day)
    mail = session.scalar(select(OutboxMessage).where(OutboxMessage.key.like(f"{approval.key}:code:0:%"), OutboxMessage.to_address == to_address))
    return re.search(r"(?:one-time code|验证码)\s*(\d{6})(?!\d)", mail.text).group(1)  # not any six digits: a URL may hold some


def test_a_stop_shipment_needs_the_boss_and_the_code(ledger):
    day = D(2026, 11, 11)  # I1 due 08-10: more than 3 months on 11-11
    outcome = next(o for o in take_all(ledger, "C1", day) if o.action == "stop_shipment")
    approval = ledger.scalar(select(Approval).where(Approval.key == outcome.approval_key))
    assert (approval.approver_role, approval.state) == ("boss", ApprovalState.requested)
    code = _send_code(ledger, approval, day, "boss@huikuan-demo.example.cn")
    assert not execution.send_code(ledger, approval, COMPANY, day)  # the code is emailed once per round
    wrong = execution.decide(ledger, approval.key, approver="boss", code="000000", approve=True, comment=None, attempt=1, company=COMPANY, as_of=day)
    assert not wrong.accepted and "code is wrong" in wrong.message
    intruder = execution.decide(ledger, approval.key, approver="gm", code=code, approve=True, comment=None, attempt=2, company=COMPANY, as_of=day)
    assert not intruder.accepted and "'gm' may not decide stop_shipment" in intruder.message
    # The same attempt replayed (a resumed run starts again from the top) gets the same answer, logged once.
    assert not execution.decide(ledger, approval.key, approver="boss", code=code, approve=True, comment=None, attempt=1, company=COMPANY, as_of=day).accepted
    assert approval.refusals == 2 and count(ledger, ActionTaken) - len(due(ledger, "C1", day)) >= 2
    assert execution.may_ship(ledger, "C1")[0]
    right = execution.decide(ledger, approval.key, approver="boss", code=code, approve=True, comment="没有回款计划", attempt=3, company=COMPANY, as_of=day)
    assert right.accepted and approval.state is ApprovalState.approved and approval.decided_by == "boss"
    customer = ledger.get(Customer, "C1")
    assert (customer.status, customer.locked_on, customer.lock_invoices) == (CustomerStatus.active, day, "I1")  # the lock is a facet apart from the standing
    assert execution.may_ship(ledger, "C1") == (False, f"C1 {customer.name} is locked since {day}: no shipment may leave (系统锁定无法出库)")
    again = execution.decide(ledger, approval.key, approver="boss", code=code, approve=False, comment=None, attempt=4, company=COMPANY, as_of=day)
    assert again.accepted and approval.state is ApprovalState.approved  # decided once; the code was used up
    # Locked and still unpaid: the letters are requested on the next working day.
    letters = {o.action for o in take_all(ledger, "C1", D(2026, 11, 12))}
    assert {"dunning_letter", "statement_letter"} <= letters


def test_an_approved_letter_goes_out_as_a_one_page_pdf(ledger):
    ledger.get(Customer, "C1").status = CustomerStatus.locked
    ledger.get(Customer, "C1").locked_on = D(2026, 11, 11)
    outcome = next(o for o in take_all(ledger, "C1", D(2026, 11, 12)) if o.action == "dunning_letter")
    approval = ledger.scalar(select(Approval).where(Approval.key == outcome.approval_key))
    code = _send_code(ledger, approval, D(2026, 11, 12), "boss@huikuan-demo.example.cn")
    boss_mail = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key.like(f"{approval.key}:code:0:boss")))
    assert "催账函" in boss_mail.text  # the approver reads the letter's preview
    execution.decide(ledger, approval.key, approver="boss", code=code, approve=True, comment=None, attempt=1, company=COMPANY, as_of=D(2026, 11, 12))
    letter = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key == f"{approval.action_key}:letter"))
    from io import BytesIO

    from pypdf import PdfReader

    pdf = PdfReader(BytesIO(letter.attachment))
    assert (
        len(pdf.pages) == 1 and "杭州华信贸易有限公司" in pdf.pages[0].extract_text() and "10,000.00" in pdf.pages[0].extract_text()
    )  # the invoice that reached the lock


def test_unanswered_requests_are_re_sent_then_expire_and_are_escalated(ledger):
    outcome = next(o for o in take_all(ledger, "C1", D(2026, 11, 11)) if o.action == "stop_shipment")
    approval = ledger.scalar(select(Approval).where(Approval.key == outcome.approval_key))
    execution.send_code(ledger, approval, COMPANY, D(2026, 11, 11))
    assert execution.remind_or_expire(ledger, COMPANY, D(2026, 11, 12)) == []
    assert execution.remind_or_expire(ledger, COMPANY, D(2026, 11, 13)) == [f"{approval.key} re-sent (1)"]
    assert execution.remind_or_expire(ledger, COMPANY, D(2026, 11, 13)) == []  # once per round
    reminders = ledger.scalars(select(OutboxMessage.key).where(OutboxMessage.key.like(f"{approval.key}:%"))).all()
    assert f"{approval.key}:code:1:boss" in reminders and any(":unanswered:reminder 1:gm" in k for k in reminders)
    assert execution.remind_or_expire(ledger, COMPANY, D(2026, 11, 18)) == [f"{approval.key} expired after 7 days"]
    assert approval.state is ApprovalState.expired


def test_the_credit_policy_cuts_the_limit_when_a_stopped_customer_pays(ledger):
    customer = ledger.get(Customer, "C1")
    execution.apply_status_effect(ledger, customer, "cash_only", D(2026, 9, 10), reason="stop_credit")
    execution.apply_status_effect(ledger, customer, "cut_credit_limit", D(2026, 11, 2), reason="paid")
    assert (customer.status, customer.credit_limit) == (CustomerStatus.active, Decimal("60000.00"))


# -- recording payments and confirmations -----------------------------------------------------


def test_a_payment_is_applied_oldest_first_and_recorded_once(ledger):
    assert record_payment(ledger, "P1", "C1", amount=Decimal("12000.00"), received_on=D(2026, 11, 2)) == [
        ("I1", Decimal("10000.00")),
        ("I2", Decimal("2000.00")),
    ]
    assert record_payment(ledger, "P1", "C1", amount=Decimal("12000.00"), received_on=D(2026, 11, 2)) == [
        ("I1", Decimal("10000.00")),
        ("I2", Decimal("2000.00")),
    ]
    with pytest.raises(LedgerError, match="already recorded with other details"):
        record_payment(ledger, "P1", "C1", amount=Decimal("1.00"), received_on=D(2026, 11, 2))
    with pytest.raises(LedgerError, match="more than customer C1 owes"):
        record_payment(ledger, "P2", "C1", amount=Decimal("3000.01"), received_on=D(2026, 11, 2))


TAX_ID = "91330100MA2B0F8X10"  # a 统一社会信用代码 with its check character (GB 32100-2015)


def sent_statement(session, customer_id: str, month: str, on: dt.date) -> Statement:
    """The month's statement prepared and sent on ``on``, as the statement cycle leaves it once the supervisor approved."""
    statement = execution.prepare_statement(session, session.get(Customer, customer_id), month, on)
    statement.reviewed_on = statement.sent_on = on
    statement.state = StatementState.sent
    session.flush()
    return statement


def test_a_confirmation_records_the_invoicing_info(ledger):
    with pytest.raises(LedgerError, match="has no 2026-10 statement"):
        confirm_statement(ledger, "C1", month="2026-10", invoice_title="杭州华信贸易有限公司", tax_id=TAX_ID, on=D(2026, 11, 18))
    sent_statement(ledger, "C1", "2026-10", D(2026, 11, 9))
    statement = confirm_statement(ledger, "C1", month="2026-10", invoice_title="杭州华信贸易有限公司", tax_id=TAX_ID, on=D(2026, 11, 18))
    assert (statement.state.value, statement.amount, statement.tax_id) == ("confirmed", Decimal("1500.00"), TAX_ID)
    with pytest.raises(LedgerError, match="was confirmed on 2026-11-18"):
        confirm_statement(ledger, "C1", month="2026-10", invoice_title="x", tax_id=TAX_ID, on=D(2026, 11, 19))
    with pytest.raises(LedgerError, match="has no 2026-09 statement"):
        confirm_statement(ledger, "C1", month="2026-09", invoice_title="x", tax_id=TAX_ID, on=D(2026, 11, 19))


# -- delivery --------------------------------------------------------------------------


def test_dispatch_through_a_real_smtp_server_sends_each_message_once(ledger, ledger_engine, smtp_server):
    host, port, capture = smtp_server
    take_all(ledger, "C1", D(2026, 10, 12))
    take_all(ledger, "C2", D(2026, 10, 12))
    ledger.commit()
    queued = count(ledger, OutboxMessage)
    transport = SmtpServer(SmtpSettings(host=host, port=port))
    sessions = sessionmaker(ledger_engine)
    capture.refuse = 1  # the server refuses the first message, then accepts
    first = dispatch(sessions, COMPANY, transport)
    assert (first.sent, first.failed) == (queued - 1, 1) and "451" in first.errors[0]
    second = dispatch(sessions, COMPANY, transport)
    assert (second.sent, second.failed) == (1, 0)
    assert dispatch(sessions, COMPANY, transport).sent == 0
    assert len(capture.messages) == queued
    assert len({m["Message-ID"] for m in capture.messages}) == queued
    gm = next(m for m in capture.messages if m["To"].addresses[0].username == "gm")
    assert "杭州华信贸易有限公司" in gm.get_body(("plain",)).get_content()


def test_the_outbox_folder_is_the_default(ledger, ledger_engine, tmp_path):
    take_all(ledger, "C2", D(2026, 10, 12))
    ledger.commit()
    result = dispatch(sessionmaker(ledger_engine), COMPANY, OutboxFolder(tmp_path / "outbox"))
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert result.sent == len(files) == 1 and files[0].startswith("C2_follow_up_2026-10-12")


def test_an_invoiced_statement_s_mailing_is_reported_to_the_customer(ledger):
    from huikuan.ledger.records import record_invoice_issued

    with pytest.raises(LedgerError, match="is not confirmed yet"):
        record_invoice_issued(ledger, "C1", month="2026-10", on=D(2026, 11, 27))
    sent_statement(ledger, "C1", "2026-10", D(2026, 11, 9))
    confirm_statement(ledger, "C1", month="2026-10", invoice_title="杭州华信贸易有限公司", tax_id=TAX_ID, on=D(2026, 11, 18))
    assert {o.action for o in take_all(ledger, "C1", D(2026, 11, 30))} >= {"issue_invoice"}
    finance = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key.like("C1:issue_invoice:2026-11-30:to:fin")))
    assert finance.to_address == "finance@huikuan-demo.example.cn"
    record_invoice_issued(ledger, "C1", month="2026-10", on=D(2026, 11, 27), tracking_no="SF1234567890")
    assert {o.action for o in take_all(ledger, "C1", D(2026, 12, 1))} >= {"send_invoice_info"}
    told = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key == "C1:send_invoice_info:2026-12-01:email"))
    assert told.to_address == "wangwei@hx.example.cn" and "SF1234567890" in told.text
