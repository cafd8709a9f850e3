"""End to end through a real local Prefect server: a stop-shipment approved by the boss with the emailed code.

The stack is the product's own (``huikuan.server.LocalStack``): ``prefect server
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
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from deployments.deploy import DEFINITIONS
from huikuan.company import EXAMPLE
from huikuan.db import make_engine
from huikuan.server import LocalStack, free_port, local_auth_string, log_tail
from huikuan.settings import Settings
from models.enums import CustomerStatus
from models.ledger import ActionTaken, Approval, ApprovalGroup, Customer, Statement

T = TypeVar("T")
AS_OF = "2026-09-02"  # C1's invoice fell due on 2026-06-01: more than 3 months unpaid, stop_shipment is due
WAIT = 240.0  # seconds for each step: generous, a loaded 2-core machine is slow to start processes

CUSTOMERS = ("customer_id,name,email,phone,contact_name\nC1,华信贸易有限公司,c1@example.cn,021-1,王伟\nC2,恒达物流有限公司,c2@example.cn,021-2,李娜\n"
             "C3,安信电子有限公司,c3@example.cn,021-3,赵磊\n")
INVOICES = "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-05-01,2026-06-01,12000.00\nI2,C2,2026-08-20,2026-09-20,500.00\n"
# October's deliveries: statements prepared on 11-05 and submitted for review on 11-09 (the 8th is a Sunday).
CHARGES = "charge_id,customer_id,delivered_on,amount,description\nH1,C2,2026-10-15,880.00,仓储费\nH2,C3,2026-10-21,2300.00,电子元件\n"


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[LocalStack]:
    """A ledger with two customers, the example company, and the whole stack working in a temporary directory."""
    work = tmp_path_factory.mktemp("huikuan")
    (work / "company.yaml").write_text(EXAMPLE, encoding="utf-8")  # outbox: huikuan-data/outbox, relative to work
    (work / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (work / "invoices.csv").write_text(INVOICES, encoding="utf-8")
    (work / "charges.csv").write_text(CHARGES, encoding="utf-8")
    settings = Settings(
        database_url=f"sqlite:///{work / 'huikuan.db'}", company_file=work / "company.yaml", data_dir=work / "huikuan-data",
        timezone="Asia/Shanghai", policy="handbook", retry_delay_seconds=1,
    )
    local = LocalStack(
        port=free_port(), home=work / "prefect", cwd=work, settings=settings, startup_timeout=WAIT,
        extra_env={"PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"},
        auth_string=local_auth_string(work / "prefect")[0],  # as `huikuan start`: every client sends the password
    )
    imported = huikuan(local, "import", "--customers", "customers.csv", "--invoices", "invoices.csv", "--charges", "charges.csv")
    assert imported.returncode == 0, imported.stderr
    try:
        local.start()
        yield local
    finally:
        local.stop()
    assert local.server.poll() is not None and local.worker.poll() is not None


def huikuan(stack: LocalStack, *args: str) -> subprocess.CompletedProcess:
    """The ``huikuan`` command as the warehouse or a script runs it, with the stack's environment."""
    return subprocess.run([sys.executable, "-m", "huikuan.cli", *args], cwd=stack.cwd, env=stack.environment(),
                          capture_output=True, text=True, timeout=120)


def wait_for(stack: LocalStack, what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll ``probe`` until it returns something truthy; on timeout fail with the last value and the worker's log."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        assert stack.alive(), stack.problem()
        last = probe()
        if last:
            return last
        time.sleep(1)
    pytest.fail(f"waited {timeout:.0f}s for {what}; last seen: {last!r}\n--- worker log:\n{log_tail(stack.worker_log, 80)}")


def ledger(stack: LocalStack) -> Session:
    return Session(make_engine(stack.settings.database_url))


def flow_run_state(stack: LocalStack, run_id):
    from prefect.client.orchestration import get_client

    with stack.client_settings(), get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state


def suspended_for(stack: LocalStack, run_id, pause_key: str):
    """The run's state when it waits for the answer under ``pause_key`` (each answer has its own key)."""
    state = flow_run_state(stack, run_id)
    waiting = state.is_paused() and state.name == "Suspended" and state.state_details.pause_key == pause_key
    return state if waiting else None


def the_approval(stack: LocalStack) -> Approval | None:
    with ledger(stack) as session:
        return session.scalar(select(Approval).where(Approval.customer_id == "C1", Approval.action == "stop_shipment"))


def code_emailed_to(stack: LocalStack, address: str) -> str | None:
    """The one-time code in the approval request emailed to ``address`` (the outbox folder of the example company)."""
    outbox = stack.cwd / "huikuan-data" / "outbox"
    for path in sorted(outbox.glob("*.eml")) if outbox.is_dir() else []:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address in str(message["To"]) and ":code:" in str(message["X-Huikuan-Key"]):
            found = re.search(r"(?:验证码|code)\D{0,20}(\d{6})", message.get_body(("plain",)).get_content())
            assert found, f"no code in {path}"
            return found.group(1)
    return None


def answer(stack: LocalStack, run_id, approver: str, code: str, decision: str = "approve") -> None:
    from prefect.flow_runs import resume_flow_run

    with stack.client_settings():
        resume_flow_run(run_id, run_input={"approver": approver, "code": code, "decision": decision, "comment": ""})


def test_the_boss_approves_a_stop_shipment_in_the_prefect_server(stack):
    from prefect.deployments import run_deployment

    plan = huikuan(stack, "plan", "--as-of", AS_OF)
    assert f"{AS_OF},C1,stop_shipment,I1,system,boss,true" in plan.stdout, plan.stdout + plan.stderr

    with stack.client_settings():
        daily = run_deployment("daily-collection/daily-collection", parameters={"as_of": AS_OF}, timeout=0)
    wait_for(stack, "the daily collection to complete", lambda: (s := flow_run_state(stack, daily.id)).is_final() and s)
    assert flow_run_state(stack, daily.id).is_completed(), flow_run_state(stack, daily.id)

    approval = wait_for(stack, "the approval request's run to be noted", lambda: (a := the_approval(stack)) and a.flow_run_id and a)
    run_id = approval.flow_run_id
    wait_for(stack, "the request to wait for the first answer", lambda: suspended_for(stack, run_id, "answer-1"))
    code = wait_for(stack, "the code emailed to the boss", lambda: code_emailed_to(stack, "boss@huikuan-demo.example.cn"))
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
    final = wait_for(stack, "the approved request to complete", lambda: (s := flow_run_state(stack, run_id)).is_final() and s)
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
        state = wait_for(stack, f"the statement cycle of {day}", lambda cycle=cycle: (s := flow_run_state(stack, cycle.id)).is_final() and s)
        assert state.is_completed(), state
    key = "review:send_statement:supervisor:2026-11-09:1"
    with ledger(stack) as session:
        members = session.scalars(select(Approval).where(Approval.group_key == key).order_by(Approval.customer_id)).all()
        assert [(m.customer_id, m.flow_run_id) for m in members] == [("C2", None), ("C3", None)]  # no run of their own
    run_id = wait_for(stack, "the list's run to be noted", lambda: _list_run(stack, key))
    wait_for(stack, "the list to wait for its answer", lambda: suspended_for(stack, run_id, "answer-1"))
    code = wait_for(stack, "the list's code emailed to the supervisor", lambda: code_emailed_to(stack, "supervisor@huikuan-demo.example.cn"))
    emailed = [p.read_text(errors="replace") for p in (stack.cwd / "huikuan-data" / "outbox").glob("review_send_statement*code_0_sup.eml")]
    assert len(emailed) == 1 and f"/runs/flow-run/{run_id}" in email.message_from_string(emailed[0], policy=email.policy.default).get_body(("plain",)).get_content()

    answered = huikuan(stack, "approvals", "answer", key, "--approver", "sup", "--code", code, "--decision", "approve", "--hold", "C3")
    assert answered.returncode == 0, answered.stdout + answered.stderr
    final = wait_for(stack, "the list to be decided", lambda: (s := flow_run_state(stack, run_id)).is_final() and s)
    assert final.is_completed(), final
    with ledger(stack) as session:
        sent = dict(session.execute(select(Statement.customer_id, Statement.sent_on)).all())
        assert sent["C2"] >= dt.date(2026, 11, 9) and sent["C3"] is None  # sent on the day of the decision (today, here)
        held = session.scalar(select(Approval).where(Approval.customer_id == "C3", Approval.action == "send_statement"))
        assert (held.state.value, held.held) == ("requested", True)
    # The held statement is asked for alone: a request-approval run of its own, waiting with its own code.
    alone = wait_for(stack, "the held request's own run", lambda: _approval_run(stack, held.key))
    wait_for(stack, "the held request to wait for its answer", lambda: suspended_for(stack, alone, "answer-1"))
    listed = huikuan(stack, "approvals", "list")
    assert held.key in listed.stdout and key not in listed.stdout, listed.stdout


def _list_run(stack: LocalStack, key: str) -> str | None:
    with ledger(stack) as session:
        return session.scalar(select(ApprovalGroup.flow_run_id).where(ApprovalGroup.key == key))


def _approval_run(stack: LocalStack, key: str) -> str | None:
    with ledger(stack) as session:
        return session.scalar(select(Approval.flow_run_id).where(Approval.key == key))


def test_the_deployments_are_active_with_their_schedules(stack):
    statuses = {s.full_name: s for s in stack.deployment_statuses()}
    assert "request-approval/request-approval" in statuses and set(statuses) == {d.full_name for d in DEFINITIONS}
    assert not any(s.paused or s.inactive_schedules for s in statuses.values())
    assert statuses["daily-collection/daily-collection"].schedules == ("30 8 * * * (Asia/Shanghai)",)
