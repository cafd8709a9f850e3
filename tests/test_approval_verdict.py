"""What the waiting run made of an answer, read back from the ledger (``approval_check.read_verdict``, ``wait_for_verdict``).

``huikuan approvals answer --wait`` and the approver's page both give an answer to the
waiting run and read its judgement with these; here the run's judgement is made by its
own calls (``execution.decide``, ``approval_groups.decide_group``) on tests/web_ledger.py's ledger.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import sessionmaker

from huikuan.approvals import groups as approval_groups
from huikuan.approvals.check import Verdict, code_hash, read_verdict, wait_for_verdict
from huikuan.collection import execution
from models.ledger import Approval, Customer
from tests.web_ledger import COMPANY, TODAY, statements_for_review

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

KEY = f"approval:W1:stop_shipment:{TODAY}"


@pytest.fixture
def sessions(web_ledger):
    """A stop-shipment of W1 waiting for the boss, whose code is 123456; the ledger's sessions as the CLI and the page open them."""
    factory = sessionmaker(web_ledger, expire_on_commit=False)
    with factory.begin() as session:
        session.add(
            Approval(
                key=KEY,
                customer_id="W1",
                action="stop_shipment",
                approver_role="boss",
                requested_on=TODAY,
                invoices="I1",
                flow_run_id="run-1",
                code_hash=code_hash("123456", KEY),
                code_sent_on=TODAY,
            )
        )
    return factory.begin


def judge(sessions, approver: str, code: str, attempt: int, key: str = KEY) -> None:
    with sessions() as session:
        execution.decide(session, key, approver=approver, code=code, approve=True, comment=None, attempt=attempt, company=COMPANY, as_of=TODAY)


def test_not_judged_yet_is_pending_once_the_wait_is_over(sessions):
    started = time.monotonic()
    assert wait_for_verdict(sessions, KEY, refusals_before=0, wait=0.3, poll=0.1) == Verdict("pending", "stop_shipment")
    assert 0.3 <= time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("approver", "why"),
    [
        ("c01", "'c01' may not decide stop_shipment (it is for the boss)"),
        ("x: y", "'x: y' may not decide stop_shipment (it is for the boss)"),  # the approver's words never cut the reason short
        ("boss", "the code is wrong or no longer valid"),
    ],
)
def test_a_refused_answer_says_why_as_the_run_logged_it(sessions, approver, why):
    judge(sessions, approver, "000000" if approver == "boss" else "123456", attempt=1)
    with sessions() as session:
        verdict = read_verdict(session, KEY, refusals_before=0)
    assert (verdict.outcome, verdict.accepted, verdict.why) == ("refused", False, why)
    assert verdict.logged.startswith(f"stop_shipment: answer of {approver!r}: ")  # the run's own line, as the CLI prints it
    with sessions() as session:
        assert read_verdict(session, KEY, refusals_before=1).accepted is None  # a later answer: that refusal is not its verdict


def test_a_decided_request_is_accepted_with_who_decided(sessions):
    judge(sessions, "boss", "123456", attempt=1)
    assert wait_for_verdict(sessions, KEY, refusals_before=0, wait=5) == Verdict("approved", "stop_shipment", "boss")
    with sessions() as session:
        assert session.get(Customer, "W1").locked_on == TODAY


def test_a_decided_list_counts_what_it_decided_and_what_it_held_back(sessions):
    with sessions() as session:
        key = statements_for_review(session)
        approval_groups.get_group(session, key).code_hash = code_hash("654321", key)
    with sessions() as session:
        approval_groups.decide_group(
            session, key, approver="sup", code="654321", approve=True, hold=["W5"], comment=None, attempt=1, company=COMPANY, as_of=TODAY
        )
    assert wait_for_verdict(sessions, key, refusals_before=0, wait=5) == Verdict("approved", "send_statement", "sup", decided=1, held=("W5",))
