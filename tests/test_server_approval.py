"""End to end through a real local Prefect server: a stop-shipment approved by the boss with the emailed code.

The stack is the product's own (``huikuan.stack.LocalStack``): ``prefect server
start`` on a free port with a temporary ``PREFECT_HOME``, the deployments, a
process worker in a temporary working directory holding the ledger, the company
file and the outbox. The daily collection of a day when one account is more
than 3 months overdue asks for the boss's approval; the request waits in the
Prefect server until answered. A wrong code and an unauthorised approver are
refused (and logged) and the run waits again; the boss's right code locks the
account, and the warehouse's check then refuses the shipment.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from deployments.deploy import DEFINITIONS
from huikuan.stack import LocalStack
from models.enums import CustomerStatus
from models.ledger import ActionTaken, Approval, Customer, Statement
from tests.stack_harness import (
    AS_OF,
    CHARGES,
    CUSTOMERS,
    INVOICES,
    approval_run,
    code_emailed_to,
    finished,
    huikuan,
    ledger,
    list_run,
    new_stack,
    running,
    suspended_for,
    the_boss_is_asked,
    wait_for,
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[LocalStack]:
    """A ledger with three customers, the example company, and the whole stack working in a temporary directory."""
    local = new_stack(tmp_path_factory.mktemp("huikuan"), {"customers.csv": CUSTOMERS, "invoices.csv": INVOICES, "charges.csv": CHARGES})
    imported = huikuan(local, "import", "--customers", "customers.csv", "--invoices", "invoices.csv", "--charges", "charges.csv")
    assert imported.returncode == 0, imported.stderr
    with running(local):
        yield local
    assert local.server.poll() is not None and local.worker.poll() is not None


def answer(stack: LocalStack, run_id, approver: str, code: str, decision: str = "approve") -> None:
    from prefect.flow_runs import resume_flow_run

    with stack.client_settings():
        resume_flow_run(run_id, run_input={"approver": approver, "code": code, "decision": decision, "comment": ""})


def test_the_boss_approves_a_stop_shipment_in_the_prefect_server(stack):
    plan = huikuan(stack, "plan", "--as-of", AS_OF)
    assert f"{AS_OF},C1,stop_shipment,I1,system,boss,true" in plan.stdout, plan.stdout + plan.stderr

    approval, run_id, code = the_boss_is_asked(stack)
    assert approval.state.value == "requested" and approval.refusals == 0

    wrong = "000000" if code != "000000" else "111111"
    answer(stack, run_id, "boss", wrong)
    wait_for(stack, "the wrong code to be refused and the run to wait again", lambda: suspended_for(stack, run_id, "answer-2"))
    with ledger(stack) as session:
        refusals = session.scalars(select(ActionTaken).where(ActionTaken.customer_id == "C1", ActionTaken.action == "approval_refused")).all()
        assert [r.key for r in refusals] == [f"{approval.key}:refused:1"] and "code is wrong" in refusals[0].detail
        assert session.scalar(select(Approval.refusals).where(Approval.key == approval.key)) == 1

    answer(stack, run_id, "gm", code)  # the right code, but stop-shipment is the boss's to decide
    wait_for(stack, "the unauthorised approver to be refused", lambda: suspended_for(stack, run_id, "answer-3"))
    with ledger(stack) as session:
        approval = session.scalar(select(Approval).where(Approval.key == approval.key))
        assert approval.refusals == 2 and approval.state.value == "requested"
        assert session.scalar(select(Customer.status).where(Customer.customer_id == "C1")) is CustomerStatus.active
    assert huikuan(stack, "shipping", "check", "C1").returncode == 0

    answer(stack, run_id, "boss", code)
    final = finished(stack, run_id, "the approved request to complete")
    assert final.is_completed(), final
    with ledger(stack) as session:
        approval = session.scalar(select(Approval).where(Approval.key == approval.key))
        assert (approval.state.value, approval.decided_by, approval.refusals) == ("approved", "boss", 2)
        c1 = session.get(Customer, "C1")
        assert c1.locked_on is not None and c1.status is CustomerStatus.active  # the lock is a facet of its own

    locked = huikuan(stack, "shipping", "check", "C1")
    assert locked.returncode == 1 and "locked" in locked.stdout, locked.stdout + locked.stderr
    assert huikuan(stack, "shipping", "check", "C2").returncode == 0


def test_the_supervisor_approves_the_day_s_statements_as_one_list_holding_one_back(stack):
    from prefect.deployments import run_deployment

    for day in ("2026-11-05", "2026-11-09"):
        with stack.client_settings():
            cycle = run_deployment("statement-cycle/statement-cycle", parameters={"as_of": day}, timeout=0)
        state = finished(stack, cycle.id, f"the statement cycle of {day}")
        assert state.is_completed(), state
    key = "review:send_statement:supervisor:2026-11-09:1"
    with ledger(stack) as session:
        members = session.scalars(select(Approval).where(Approval.group_key == key).order_by(Approval.customer_id)).all()
        assert [(m.customer_id, m.flow_run_id) for m in members] == [("C2", None), ("C3", None)]  # no run of their own
    run_id = wait_for(stack, "the list's run to be noted", lambda: list_run(stack, key))
    wait_for(stack, "the list to wait for its answer", lambda: suspended_for(stack, run_id, "answer-1"))
    code = wait_for(stack, "the list's code emailed to the supervisor", lambda: code_emailed_to(stack, "supervisor@huikuan-demo.example.cn"))
    emailed = [p.read_text(errors="replace") for p in (stack.cwd / "huikuan-data" / "outbox").glob("review_send_statement*code_0_sup.eml")]
    assert (
        len(emailed) == 1
        and f"/runs/flow-run/{run_id}" in email.message_from_string(emailed[0], policy=email.policy.default).get_body(("plain",)).get_content()
    )

    answered = huikuan(stack, "approvals", "answer", key, "--approver", "sup", "--code", code, "--decision", "approve", "--hold", "C3")
    assert answered.returncode == 0, answered.stdout + answered.stderr
    final = finished(stack, run_id, "the list to be decided")
    assert final.is_completed(), final
    with ledger(stack) as session:
        sent = dict(session.execute(select(Statement.customer_id, Statement.sent_on)).all())
        assert sent["C2"] >= dt.date(2026, 11, 9) and sent["C3"] is None  # sent on the day of the decision (today, here)
        held = session.scalar(select(Approval).where(Approval.customer_id == "C3", Approval.action == "send_statement"))
        assert (held.state.value, held.held) == ("requested", True)
    # The held statement is asked for alone: a request-approval run of its own, waiting with its own code.
    alone = wait_for(stack, "the held request's own run", lambda: approval_run(stack, held.key))
    wait_for(stack, "the held request to wait for its answer", lambda: suspended_for(stack, alone, "answer-1"))
    listed = huikuan(stack, "approvals", "list")
    assert held.key in listed.stdout and key not in listed.stdout, listed.stdout


def test_the_deployments_are_active_with_their_schedules(stack):
    statuses = {s.full_name: s for s in stack.deployment_statuses()}
    assert "request-approval/request-approval" in statuses and set(statuses) == {d.full_name for d in DEFINITIONS}
    assert not any(s.paused or s.inactive_schedules for s in statuses.values())
    assert statuses["daily-collection/daily-collection"].schedules == ("30 8 * * * (Asia/Shanghai)",)
