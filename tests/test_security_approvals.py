"""Issue #12 (security): an approval cannot be blocked for good, codes cannot be guessed, their hashes cannot be reversed.

The flows run under Prefect's test harness. Without deployments a run cannot
really suspend, so the flows' ``suspend_flow_run`` hands them the answers the
test lists (each answer as the Prefect form would bring it back), and the
daily run's ``run_deployment`` notes the new run it would start.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import stat

import pytest
from sqlalchemy import func, select

from huikuan.approvals import check as approval_check
from huikuan.approvals import groups as approval_groups
from huikuan.collection import execution
from huikuan.ledger.company import EXAMPLE, company_from, parse_company
from huikuan.ledger.db import engine_for, session_scope
from huikuan.ledger.importer import import_files
from huikuan.ledger.settings import get_settings
from models.enums import ApprovalState
from models.ledger import ActionTaken, Approval, ApprovalGroup, OutboxMessage
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
COMPANY = parse_company(EXAMPLE)
STOP = D(2026, 9, 16)  # C2's invoice is more than 3 months unpaid: the boss is asked to stop shipments
PREPARED, REVIEW = D(2026, 11, 5), D(2026, 11, 9)  # October's statements prepared, then one list for the supervisor
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,contact_title,collector\n"
    "C1,杭州华信贸易有限公司,wangwei@hx.example.cn,13800000001,王伟,财务经理,c02\n"
    "C2,恒达物流有限公司,lina@hd.example.cn,13800000002,李娜,会计,c03\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-09-10,2026-12-10,100.00\nI2,C2,2026-05-15,2026-06-15,6000.00\n",
    "charges": "charge_id,customer_id,delivered_on,amount,description\nH1,C1,2026-10-12,1200.00,钢材一批\nH3,C2,2026-10-15,880.00,仓储费\n",
}
GM = "gm@huikuan-demo.example.cn"
BOSS = "boss@huikuan-demo.example.cn"
SUP = "supervisor@huikuan-demo.example.cn"


def _clear() -> None:
    for cache in (get_settings, engine_for, company_from):
        cache.cache_clear()


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A ledger with the two customers, the example company, the outbox and the data directory in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "company.yaml").write_text(EXAMPLE, encoding="utf-8")
    monkeypatch.setenv("HUIKUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'huikuan.db'}")
    monkeypatch.setenv("HUIKUAN_COMPANY_FILE", str(tmp_path / "company.yaml"))
    monkeypatch.setenv("HUIKUAN_DATA_DIR", str(tmp_path / "huikuan-data"))
    monkeypatch.delenv("HUIKUAN_SECRET_KEY", raising=False)
    _clear()
    from huikuan.ledger.migrate import upgrade

    upgrade(engine_for())
    paths = write_files(tmp_path, FILES)
    with session_scope() as session:
        import_files(session, paths)
    yield tmp_path
    _clear()


@pytest.fixture
def started(monkeypatch):
    """The daily run's starts of new approval runs (no deployment under the harness): noted, each with a new run id."""
    calls = []

    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Scheduled

    @flow(name="a-new-approval-run")
    def waiting() -> None:
        return None

    def fake_run_deployment(name, *, parameters, idempotency_key=None, **kwargs):
        if ":run" not in (idempotency_key or ""):  # a request's first run: no deployment here, as in the bare harness
            raise ObjectNotFound(http_exc=Exception(name))
        with get_client(sync_client=True) as client:  # a real run on the server, scheduled (as a new run is until a worker takes it)
            run = client.create_flow_run(waiting, parameters={}, state=Scheduled())
        calls.append({"deployment": name, "parameters": parameters, "idempotency_key": idempotency_key, "id": str(run.id)})
        return run

    import tasks.approvals

    monkeypatch.setattr(tasks.approvals, "run_deployment", fake_run_deployment)
    return calls


def answers(monkeypatch, given: list[dict]):
    """The approval flows' suspensions return ``given`` in turn, as the Resume form would (one per answer key)."""
    import flows.approval

    seen = []

    def fake_suspend(wait_for_input, key, **kwargs):
        seen.append(key)
        return wait_for_input.model_validate(given[len(seen) - 1])

    monkeypatch.setattr(flows.approval, "suspend_flow_run", fake_suspend)
    return seen


def codes_to(address: str, prefix: str) -> list[tuple[str, str]]:
    """(outbox key, code) of every code emailed to ``address`` about ``prefix``, oldest first.

    Once delivered, the ledger's copy of a code is masked: the code is read from the delivered file then.
    """
    with session_scope() as session:
        mails = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.to_address == address, OutboxMessage.key.like(f"{prefix}:%"), OutboxMessage.key.like("%:code:%"))
            .order_by(OutboxMessage.id)
        ).all()
        found = [(m.key, _code_in(m.text) or _delivered_code(m.key)) for m in mails]
    assert all(code for _key, code in found), found
    return found


def _code_in(text: str) -> str | None:
    """The code where the templates write it: not any six digits (the form's URL before it has the run's UUID)."""
    found = re.search(r"(?:one-time code|验证码)\s*(\d{6})(?!\d)", text)
    return found.group(1) if found else None


def _delivered_code(key: str) -> str | None:
    import email
    import email.policy
    from pathlib import Path

    for path in sorted(Path("huikuan-data/outbox").glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if str(message["X-Huikuan-Key"]) == key:
            return _code_in(message.get_body(("plain",)).get_content())
    return None


def mails_to(address: str, like: str) -> list[OutboxMessage]:
    with session_scope() as session:
        return session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == address, OutboxMessage.key.like(like))).all()


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def test_a_single_request_whose_answers_ran_out_gets_a_new_run_and_code_on_the_next_daily_run(env, prefect, monkeypatch, started):
    from flows.approval import MAX_ANSWERS, request_approval
    from flows.daily_collection import daily_collection
    from models.ledger import Customer

    daily_collection(as_of=STOP)
    with session_scope() as session:
        approval = session.scalar(select(Approval).where(Approval.customer_id == "C2", Approval.action == "stop_shipment"))
        key = approval.key
    # Someone who reached the API answers 25 times with guesses (some as the boss, some not): the run's answers run out.
    guesses = [{"approver": "boss" if n % 2 else "gm", "code": f"{n:06d}", "decision": "approve"} for n in range(MAX_ANSWERS)]
    answers(monkeypatch, guesses)
    request_approval(key, as_of=STOP)
    ((_, first_code),) = codes_to(BOSS, key)
    with session_scope() as session:
        approval = session.scalar(select(Approval).where(Approval.key == key))
        assert approval.state is ApprovalState.requested and approval.flow_run_id
        old_run = approval.flow_run_id

    day = STOP + dt.timedelta(days=1)
    daily_collection(as_of=day)
    # A new run (its own idempotency key: the old one would give back the ended run), its id noted at once.
    (start,) = [c for c in started if c["parameters"].get("approval_key") == key]
    assert start["deployment"] == "request-approval/request-approval" and start["idempotency_key"] != key
    with session_scope() as session:
        approval = session.scalar(select(Approval).where(Approval.key == key))
        assert approval.flow_run_id == start["id"] != old_run and approval.state is ApprovalState.requested
    # The GM is told, once, like the other escalations of an unanswered request.
    (told,) = mails_to(GM, f"{key}:%")
    assert "【" in told.subject and ("ended" in told.text or "结束" in told.text or "ran out" in told.text)
    daily_collection(as_of=day)  # a rerun of the day: no second start, no second email
    assert len([c for c in started if c["parameters"].get("approval_key") == key]) == 1 and len(mails_to(GM, f"{key}:%")) == 1

    # The new run emails a new code; the old one is dead, the new one decides.
    import flows.approval

    def replies(wait_for_input, key, **kwargs):
        if key == "answer-1":  # the old code: refused
            return wait_for_input.model_validate({"approver": "boss", "code": first_code, "decision": "approve"})
        new = codes_to(BOSS, approval_key)
        assert len(new) == 2
        return wait_for_input.model_validate({"approver": "boss", "code": new[1][1], "decision": "approve"})

    approval_key = key
    monkeypatch.setattr(flows.approval, "suspend_flow_run", replies)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1, minutes=1)  # the guesses as the boss blocked the boss's answers for an hour
    monkeypatch.setattr(execution, "now", lambda: later)
    assert request_approval(key, as_of=day) == "approved"
    with session_scope() as session:
        approval = session.scalar(select(Approval).where(Approval.key == key))
        assert (approval.state, approval.decided_by) == (ApprovalState.approved, "boss")
        assert session.get(Customer, "C2").locked_on is not None
        refused = session.scalars(select(ActionTaken.detail).where(ActionTaken.action == "approval_refused", ActionTaken.customer_id == "C2")).all()
        assert len(refused) == MAX_ANSWERS + 1  # every refusal logged, those of the new run under their own keys


def test_a_list_whose_answers_ran_out_gets_a_new_run_and_code_on_the_next_daily_run(env, prefect, monkeypatch, started):
    from flows.approval import MAX_ANSWERS, request_group_approval
    from flows.daily_collection import daily_collection
    from models.ledger import Statement

    daily_collection(as_of=PREPARED)
    daily_collection(as_of=REVIEW)
    with session_scope() as session:
        key = session.scalar(select(ApprovalGroup.key))
    assert key == "review:send_statement:supervisor:2026-11-09:1"
    answers(monkeypatch, [{"approver": "sup", "code": f"{n:06d}", "decision": "approve"} for n in range(MAX_ANSWERS)])
    request_group_approval(key, as_of=REVIEW)
    ((_, first_code),) = codes_to(SUP, key)

    day = REVIEW + dt.timedelta(days=1)
    daily_collection(as_of=day)
    (start,) = [c for c in started if c["parameters"].get("group_key") == key]
    assert start["deployment"] == "request-group-approval/request-group-approval" and start["idempotency_key"] != key
    with session_scope() as session:
        assert session.scalar(select(ApprovalGroup.flow_run_id)) == start["id"]
    assert len(mails_to(GM, f"{key}:%")) == 1
    daily_collection(as_of=day)
    assert len([c for c in started if c["parameters"].get("group_key") == key]) == 1 and len(mails_to(GM, f"{key}:%")) == 1

    import flows.approval

    def replies(wait_for_input, key, **kwargs):
        if key == "answer-1":  # the old code: refused
            return wait_for_input.model_validate({"approver": "sup", "code": first_code, "decision": "approve"})
        new = codes_to(SUP, group_key)
        assert len(new) == 2
        return wait_for_input.model_validate({"approver": "sup", "code": new[1][1], "decision": "approve"})

    group_key = key
    monkeypatch.setattr(flows.approval, "suspend_flow_run", replies)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1, minutes=1)  # the guesses blocked the supervisor's answers for an hour
    monkeypatch.setattr(execution, "now", lambda: later)
    assert request_group_approval(key, as_of=day) == "approved"
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Statement).where(Statement.sent_on.is_not(None))) == 2


def test_a_run_that_ended_without_a_decision_is_asked_again(env, prefect, started):
    """A run that crashed, failed or was cancelled (here: one that completed) without a decision: a new run and code."""
    from prefect import flow

    from flows.daily_collection import daily_collection

    @flow
    def ended() -> None:
        return None

    state = ended(return_state=True)
    daily_collection(as_of=STOP)
    with session_scope() as session:
        approval = session.scalar(select(Approval).where(Approval.customer_id == "C2"))
        approval.flow_run_id = str(state.state_details.flow_run_id)
        execution.send_code(session, approval, COMPANY, STOP)
        key = approval.key
    daily_collection(as_of=STOP + dt.timedelta(days=1))
    (start,) = [c for c in started if c["parameters"].get("approval_key") == key]
    with session_scope() as session:
        approval = session.scalar(select(Approval).where(Approval.key == key))
        assert approval.flow_run_id == start["id"] and approval.code_hash is None  # the new run emails the new code
    assert len(mails_to(GM, f"{key}:%")) == 1


def test_the_cli_answer_to_an_ended_run_is_one_line(env, prefect, monkeypatch):
    from prefect import flow
    from prefect.settings import PREFECT_API_URL
    from typer.testing import CliRunner

    from flows.daily_collection import daily_collection
    from huikuan.cli import app

    @flow
    def ended() -> None:
        return None

    state = ended(return_state=True)
    daily_collection(as_of=STOP)
    with session_scope() as session:
        approval = session.scalar(select(Approval).where(Approval.customer_id == "C2"))
        approval.flow_run_id = str(state.state_details.flow_run_id)
        key = approval.key
    monkeypatch.setenv("PREFECT_API_URL", PREFECT_API_URL.value())
    result = CliRunner().invoke(app, ["approvals", "answer", key, "--approver", "boss", "--code", "123456", "--decision", "approve"])
    assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit)), result.exception
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "the request's run has ended; the next daily run asks again with a new code" in lines[0], result.output


# -- the rate limit ------------------------------------------------------------------


def _stop_shipment(session) -> Approval:
    from tests.test_approval_groups import take_day

    take_day(session, STOP, only=("C2",))
    return session.scalar(select(Approval).where(Approval.customer_id == "C2", Approval.action == "stop_shipment"))


def test_five_refused_answers_an_hour_per_approver_then_refused_without_checking_the_code(env, monkeypatch):
    with session_scope() as session:
        approval = _stop_shipment(session)
        execution.send_code(session, approval, COMPANY, STOP)
        key = approval.key
    ((_, code),) = codes_to(BOSS, key)
    clock = {"now": dt.datetime(2026, 9, 16, 2, 0, tzinfo=dt.UTC)}
    monkeypatch.setattr(execution, "now", lambda: clock["now"])

    def answer(code_: str, attempt: int, approver: str = "boss") -> execution.Decision:
        with session_scope() as session:
            return execution.decide(session, key, approver=approver, code=code_, approve=True, comment=None, attempt=attempt, company=COMPANY, as_of=STOP)

    for attempt in range(1, 6):
        decision = answer(wrong(code), attempt)
        assert not decision.accepted and "code is wrong" in decision.message
    limited = answer(code, 6)  # the right code, but the sixth answer in the hour: not even checked
    assert not limited.accepted and "try again" in limited.message and "2026-09-16 11:00" in limited.message, limited.message  # 02:00 UTC + 1 h, in Shanghai
    assert not answer(code, 6).accepted  # the same answer judged again: the same refusal
    with session_scope() as session:
        logged = session.scalar(select(ActionTaken.detail).where(ActionTaken.key == f"{key}:refused:6"))
        assert logged and "try again" in logged and "boss" in logged
        assert session.scalar(select(Approval.state).where(Approval.key == key)) is ApprovalState.requested
    clock["now"] += dt.timedelta(minutes=59)
    assert "try again" in answer(code, 7).message
    clock["now"] += dt.timedelta(minutes=2)  # an hour after the first refusal: one more may be tried
    right = answer(code, 8)
    assert right.accepted and right.state is ApprovalState.approved


def test_a_list_is_rate_limited_the_same_way(env, monkeypatch):
    from tests.test_approval_groups import take_day

    with session_scope() as session:
        take_day(session, PREPARED, only=("C1", "C2"))
        take_day(session, REVIEW, only=("C1", "C2"))
        (key,) = approval_groups.form_groups(session, COMPANY)
        approval_groups.open_group(session, key, COMPANY, REVIEW, "run-1")
    ((_, code),) = codes_to(SUP, key)
    clock = {"now": dt.datetime(2026, 11, 9, 2, 0, tzinfo=dt.UTC)}
    monkeypatch.setattr(execution, "now", lambda: clock["now"])

    def answer(code_: str, attempt: int) -> approval_groups.GroupDecision:
        with session_scope() as session:
            return approval_groups.decide_group(
                session, key, approver="sup", code=code_, approve=True, hold=[], comment=None, attempt=attempt, company=COMPANY, as_of=REVIEW
            )

    for attempt in range(1, 6):
        assert "code is wrong" in answer(wrong(code), attempt).message
    limited = answer(code, 6)
    assert not limited.accepted and "try again" in limited.message
    clock["now"] += dt.timedelta(hours=1, minutes=1)
    assert answer(code, 7).accepted


# -- the stored hash -----------------------------------------------------------------


def test_the_stored_hash_is_keyed_by_a_server_secret_and_salted_by_the_request(env, monkeypatch):
    monkeypatch.setattr(approval_check.secrets, "randbelow", lambda n: 123456)
    with session_scope() as session:
        from tests.test_approval_groups import take_day

        take_day(session, PREPARED)
        take_day(session, REVIEW)
        first, second = session.scalars(select(Approval).where(Approval.action == "send_statement").order_by(Approval.id)).all()
        execution.send_code(session, first, COMPANY, REVIEW)
        execution.send_code(session, second, COMPANY, REVIEW)
        hashes = (first.code_hash, second.code_hash)
        keys = (first.key, second.key)
    assert codes_to(SUP, keys[0])[0][1] == codes_to(SUP, keys[1])[0][1] == "123456"
    assert hashlib.sha256(b"123456").hexdigest() not in hashes and hashes[0] != hashes[1]
    secret = env / "huikuan-data" / "secret.key"
    assert secret.is_file() and stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    with session_scope() as session:  # the right code still decides
        decision = execution.decide(session, keys[0], approver="sup", code="123456", approve=False, comment=None, attempt=1, company=COMPANY, as_of=REVIEW)
        assert decision.accepted
    # Another secret (the environment's, for every process of the machine) gives another hash: the file's is not used then.
    monkeypatch.setenv("HUIKUAN_SECRET_KEY", "another secret")
    assert approval_check.code_hash("123456", keys[1]) != hashes[1]
    monkeypatch.delenv("HUIKUAN_SECRET_KEY")
    assert approval_check.code_hash("123456", keys[1]) == hashes[1]


def test_an_old_plain_sha256_hash_is_no_longer_valid_and_the_next_daily_run_sends_a_new_code(env, prefect, started):
    from flows.daily_collection import daily_collection

    daily_collection(as_of=STOP)
    with session_scope() as session:
        approval = session.scalar(select(Approval).where(Approval.customer_id == "C2"))
        approval.code_hash = hashlib.sha256(b"654321").hexdigest()  # as an older huikuan stored it
        key = approval.key
    with session_scope() as session:
        assert not execution.decide(session, key, approver="boss", code="654321", approve=True, comment=None, attempt=1, company=COMPANY, as_of=STOP).accepted
    daily_collection(as_of=STOP + dt.timedelta(days=1))
    with session_scope() as session:
        approval = session.scalar(select(Approval).where(Approval.key == key))
        assert approval.code_hash is None or not re.fullmatch(r"[0-9a-f]{64}", approval.code_hash)
