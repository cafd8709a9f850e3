"""Statement reviews asked for as one list a day: one code, approve all or all but some, held ones asked alone."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from huikuan.approvals import groups as approval_groups
from huikuan.collection import execution
from huikuan.collection.batch import approvals_waiting_for_a_run
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.facts import load_facts
from models.calendar import calendar_for
from models.engine import Evaluator
from models.enums import ApprovalState
from models.ledger import Approval, ApprovalGroup, OutboxMessage, Statement
from models.policy import load_policy
from tests.ledger_files import import_ledger

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
COMPANY = parse_company(EXAMPLE)
PREPARED, REVIEW = D(2026, 11, 5), D(2026, 11, 9)  # the statements of October: prepared by the 5th, sent by the 8th (a Sunday)
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,contact_title,collector\n"
    "C1,杭州华信贸易有限公司,wangwei@hx.example.cn,13800000001,王伟,财务经理,c02\n"
    "C2,恒达物流有限公司,lina@hd.example.cn,13800000002,李娜,会计,c03\n"
    "C3,Acme Trading Ltd,ap@acme.example.com,+14155550142,Jane Doe,Controller,c02\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-09-10,2026-12-10,100.00\n"
    "I2,C2,2026-05-15,2026-06-15,6000.00\nI3,C3,2026-05-15,2026-06-15,700.00\n",  # more than 3 months unpaid on 09-16: stop-shipment
    "charges": "charge_id,customer_id,delivered_on,amount,description\n"
    "H1,C1,2026-10-12,1200.00,钢材一批\nH2,C1,2026-10-20,300.00,运输服务\nH3,C2,2026-10-15,880.00,仓储费\nH4,C3,2026-10-03,4500.50,Steel coils\n",
}


@pytest.fixture
def ledger(tmp_path, session):
    return import_ledger(session, tmp_path, FILES)


def take_day(session, day: dt.date, only: tuple[str, ...] = ("C1", "C2", "C3")) -> list[execution.Outcome]:
    outcomes = []
    for facts, country in load_facts(session, only=list(only)):
        for action in Evaluator(facts, load_policy(), calendar_for(country)).actions_on(day):
            outcomes.append(execution.take_action(session, action, company=COMPANY, as_of=day))
    return outcomes


def submit_reviews(session) -> list[str]:
    """The three October statements prepared, then submitted for review on REVIEW: three requests for the supervisor."""
    take_day(session, PREPARED)
    keys = [o.approval_key for o in take_day(session, REVIEW) if o.action == "send_statement"]
    assert len(keys) == 3
    return keys


@pytest.fixture
def reviews(ledger):
    return submit_reviews(ledger)


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def code_in(session, key: str, to: str = "supervisor@huikuan-demo.example.cn") -> str:
    mail = session.scalar(select(OutboxMessage).where(OutboxMessage.key.like(f"{key}:%"), OutboxMessage.to_address == to))
    return re.search(r"(?:one-time code|验证码)\s*(\d{6})(?!\d)", mail.text).group(1)  # not any six digits: a URL may hold some


def opened(session) -> approval_groups.GroupRequest:
    (key,) = approval_groups.form_groups(session, COMPANY)
    return approval_groups.open_group(session, key, COMPANY, REVIEW, "run-1", form_url="http://ui/runs/flow-run/run-1")


def decide(session, key, *, code, approver="sup", approve=True, hold=(), attempt=1):
    return approval_groups.decide_group(
        session, key, approver=approver, code=code, approve=approve, hold=list(hold), comment="核对无误", attempt=attempt, company=COMPANY, as_of=REVIEW
    )


def test_a_day_s_reviews_are_one_list_with_one_code(ledger, reviews):
    keys = approval_groups.form_groups(ledger, COMPANY)
    assert keys == ["review:send_statement:supervisor:2026-11-09:1"]
    assert approval_groups.form_groups(ledger, COMPANY) == keys  # formed once; still waiting for its run
    assert approvals_waiting_for_a_run(ledger) == []  # no run of their own
    request = approval_groups.open_group(ledger, keys[0], COMPANY, REVIEW, "run-1", form_url="http://ui/runs/flow-run/run-1")
    assert [(r.customer_id, r.about, r.amount) for r in request.rows] == [
        ("C1", "2026-10", Decimal("1500.00")),
        ("C2", "2026-10", Decimal("880.00")),
        ("C3", "2026-10", Decimal("4500.50")),
    ]
    assert "3 request(s) of 2026-11-09" in request.brief and "| 3 | C3 | Acme Trading Ltd | 2026-10 |" in request.brief
    assert approval_groups.form_groups(ledger, COMPANY) == []  # the list has its run now
    mails = ledger.scalars(select(OutboxMessage).where(OutboxMessage.key.like(f"{keys[0]}:code:0:%"))).all()
    assert [m.to_address for m in mails] == ["supervisor@huikuan-demo.example.cn"]  # one email to the supervisor, not three
    text = mails[0].text
    assert "3 项" in text and "杭州华信贸易有限公司" in text and "Acme Trading Ltd" in text and "http://ui/runs/flow-run/run-1" in text
    assert "【待审批】审核并发出对账单：3 项" in mails[0].subject
    approval_groups.open_group(ledger, keys[0], COMPANY, REVIEW, "run-2")  # a rerun of the run: no second code
    assert count(ledger, OutboxMessage, OutboxMessage.key.like(f"{keys[0]}:code:%")) == 1
    assert ledger.scalar(select(ApprovalGroup.flow_run_id)) == "run-1"


def test_requests_opened_later_the_same_day_make_the_next_list(ledger, reviews):
    first = opened(ledger)
    late = ledger.scalar(select(Approval).where(Approval.customer_id == "C3"))
    late.group_key = None  # as if its request had been opened after the list was emailed
    assert approval_groups.form_groups(ledger, COMPANY) == ["review:send_statement:supervisor:2026-11-09:2"]
    assert len(approval_groups.members_of(ledger, approval_groups.get_group(ledger, first.key))) == 2


def test_approve_all_but_the_held_one(ledger, reviews):
    request = opened(ledger)
    code = code_in(ledger, request.key)
    wrong = decide(ledger, request.key, code="000000", attempt=1)
    assert not wrong.accepted and "code is wrong" in wrong.message
    assert not decide(ledger, request.key, code=code, attempt=1).accepted  # the same attempt replayed: refused again
    intruder = decide(ledger, request.key, code=code, approver="boss", attempt=2)
    assert not intruder.accepted and "'boss' may not decide send_statement" in intruder.message
    typo = decide(ledger, request.key, code=code, hold=["C9"], attempt=3)
    assert not typo.accepted and "C9" in typo.message
    assert count(ledger, Statement, Statement.sent_on.is_not(None)) == 0  # nothing decided by a refused answer

    decision = decide(ledger, request.key, code=code, hold=["C2"], attempt=4)
    assert decision.accepted and decision.message == "2 approved by sup, 1 held back: C2"
    sent = {s.customer_id: s.sent_on for s in ledger.scalars(select(Statement))}
    assert sent == {"C1": REVIEW, "C2": None, "C3": REVIEW}
    to_customers = ledger.scalars(select(OutboxMessage.to_address).where(OutboxMessage.key.like("%:send_statement:%:2026-10:email"))).all()
    assert sorted(to_customers) == ["ap@acme.example.com", "wangwei@hx.example.cn"]
    states = {a.customer_id: (a.state, a.decided_by, a.held) for a in ledger.scalars(select(Approval))}
    assert states == {"C1": (ApprovalState.approved, "sup", False), "C2": (ApprovalState.requested, None, True), "C3": (ApprovalState.approved, "sup", False)}
    held = ledger.scalar(select(Approval).where(Approval.customer_id == "C2"))
    assert decision.held == [held.key] and approvals_waiting_for_a_run(ledger) == [(held.key, REVIEW)]  # now asked for alone
    again = decide(ledger, request.key, code=code, approve=False, attempt=5)
    assert again.accepted and again.message == "already approved by sup" and again.decided == []
    # The held request is a request of its own: its own code, decided alone.
    execution.send_code(ledger, held, COMPANY, REVIEW)
    alone = execution.decide(
        ledger, held.key, approver="sup", code=code_in(ledger, f"{held.key}:code:0"), approve=True, comment=None, attempt=1, company=COMPANY, as_of=REVIEW
    )
    assert alone.accepted and ledger.scalar(select(Statement.sent_on).where(Statement.customer_id == "C2")) == REVIEW


def test_deny_the_list(ledger, reviews):
    request = opened(ledger)
    decision = decide(ledger, request.key, code=code_in(ledger, request.key), approve=False)
    assert decision.accepted and decision.state is ApprovalState.denied and len(decision.decided) == 3
    assert count(ledger, Statement, Statement.sent_on.is_not(None)) == 0
    assert {a.state for a in ledger.scalars(select(Approval))} == {ApprovalState.denied}


def test_an_unanswered_list_is_reminded_once_per_round_then_expires(ledger, reviews):
    request = opened(ledger)
    before = count(ledger, OutboxMessage)
    assert execution.remind_or_expire(ledger, COMPANY, D(2026, 11, 11)) == []  # the requests in the list are not reminded one by one
    notes = approval_groups.remind_or_expire_groups(ledger, COMPANY, D(2026, 11, 11))
    assert notes == [f"{request.key} re-sent (1)"]
    assert approval_groups.remind_or_expire_groups(ledger, COMPANY, D(2026, 11, 11)) == []
    new = ledger.scalars(select(OutboxMessage).where(OutboxMessage.id > 0).order_by(OutboxMessage.id)).all()[before:]
    assert sorted(m.key for m in new) == [f"{request.key}:code:1:sup", f"{request.key}:unanswered:reminder 1:gm"]
    gm = next(m for m in new if m.to_address == "gm@huikuan-demo.example.cn")
    assert "【审批未处理】" in gm.subject and "3 项" in gm.subject
    old_code = code_in(ledger, f"{request.key}:code:0")
    assert not decide(ledger, request.key, code=old_code).accepted  # the re-sent code replaces the first
    assert approval_groups.remind_or_expire_groups(ledger, COMPANY, D(2026, 11, 16)) == [f"{request.key} expired after 7 days (3 requests)"]
    assert {a.state for a in ledger.scalars(select(Approval))} == {ApprovalState.expired}


def test_a_day_with_many_requests_of_one_kind_asks_for_them_as_a_list(ledger):
    day = D(2026, 9, 16)
    assert [o.action for o in take_day(ledger, day, only=("C2", "C3")) if o.approval_key] == ["stop_shipment", "stop_shipment"]
    assert approval_groups.form_groups(ledger, COMPANY.model_copy(update={"lists_from": 3})) == []  # two: each asked alone
    assert len(approvals_waiting_for_a_run(ledger)) == 2
    (key,) = approval_groups.form_groups(ledger, COMPANY.model_copy(update={"lists_from": 2}))
    assert key == "review:stop_shipment:boss:2026-09-16:1" and approvals_waiting_for_a_run(ledger) == []
    request = approval_groups.open_group(ledger, key, COMPANY, day, "run-1")
    assert [(r.customer_id, r.about, r.amount) for r in request.rows] == [
        ("C2", "I2 (93 days overdue)", Decimal("6000.00")),
        ("C3", "I3 (93 days overdue)", Decimal("700.00")),
    ]
    mail = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key == f"{key}:code:0:boss"))
    assert "【待审批】锁定账户、停止出库：2 项" in mail.subject and "I2（逾期 93 天）" in mail.text  # the company's locale (zh_CN)
    decision = decide(ledger, key, code=code_in(ledger, key, "boss@huikuan-demo.example.cn"), approver="boss", hold=["C3"])
    assert decision.accepted and decision.message == "1 approved by boss, 1 held back: C3"
    assert not execution.may_ship(ledger, "C2")[0] and execution.may_ship(ledger, "C3")[0]


def test_a_company_may_ask_for_each_alone(ledger, reviews):
    alone = COMPANY.model_copy(update={"asked_together": []})
    assert approval_groups.form_groups(ledger, alone) == []
    assert len(approvals_waiting_for_a_run(ledger)) == 3


@pytest.mark.parametrize(("typed", "ids"), [("", []), ("C1", ["C1"]), ("C1, C2;C3", ["C1", "C2", "C3"]), ("C1，C2、 C3\n", ["C1", "C2", "C3"])])
def test_held_ids_as_people_type_them(typed, ids):
    assert approval_groups.held_ids(typed) == ids
