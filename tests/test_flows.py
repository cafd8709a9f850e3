"""The flows under Prefect's test harness, over a demo ledger, with a real SMTP server."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from huikuan.collection import execution
from huikuan.demo.load import load_demo
from huikuan.ledger.company import EXAMPLE, company_from
from huikuan.ledger.db import engine_for, session_scope
from huikuan.ledger.settings import get_settings
from models.enums import StatementState
from models.ledger import ActionTaken, Approval, Invoice, OutboxMessage, Statement

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

DEMO_AS_OF = dt.date(2026, 10, 20)  # October's deliveries are on the ledger: November prepares their statements
START = dt.date(2026, 11, 2)


@pytest.fixture
def demo(tmp_path, monkeypatch, smtp_server, prefect):
    """A 10-customer demo ledger and a company file that sends through the test's SMTP server."""
    host, port, capture = smtp_server
    company = tmp_path / "company.yaml"
    company.write_text(EXAMPLE.replace("# smtp: {host: smtp.example.cn", f"smtp: {{host: {host}, port: {port}}}\n# smtp: {{host: x"), encoding="utf-8")
    monkeypatch.setenv("HUIKUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'huikuan.db'}")
    monkeypatch.setenv("HUIKUAN_COMPANY_FILE", str(company))
    monkeypatch.setenv("HUIKUAN_DATA_DIR", str(tmp_path / "data"))
    for cache in (get_settings, engine_for, company_from):
        cache.cache_clear()
    from huikuan.ledger.migrate import upgrade

    upgrade(engine_for())
    with session_scope() as session:
        load_demo(session, tmp_path / "demo", customers=10, as_of=DEMO_AS_OF)
    yield capture
    for cache in (get_settings, engine_for, company_from):
        cache.cache_clear()


def counts() -> tuple[int, int, int]:
    with session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(ActionTaken)),
            session.scalar(select(func.count()).select_from(OutboxMessage)),
            session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))),
        )


def test_a_month_of_daily_runs_sends_every_email_once_and_a_rerun_sends_nothing(demo):
    from flows.daily_collection import daily_collection

    capture = demo
    days = [START + dt.timedelta(days=n) for n in range(29)]
    for day in days:
        daily_collection(as_of=day)
    actions, queued, unsent = counts()
    assert actions > 30 and unsent == 0
    assert len(capture.messages) == queued
    assert len({m["Message-ID"] for m in capture.messages}) == queued
    with session_scope() as session:
        kinds = set(session.scalars(select(ActionTaken.action)))
        assert {"follow_up", "prepare_statement", "send_statement"} <= kinds
        assert session.scalar(select(func.count()).select_from(Statement)) > 0
        assert session.scalar(select(func.count()).select_from(Approval)) > 0  # statement reviews, stop-shipments
    # Rerun two days, one of them with the statement cycle's deadlines: nothing new is taken or sent.
    for day in (dt.date(2026, 11, 9), dt.date(2026, 11, 20)):
        daily_collection(as_of=day)
    assert counts() == (actions, queued, 0)
    assert len(capture.messages) == queued


def test_a_task_that_fails_twice_then_succeeds_sends_once(demo, monkeypatch):
    from flows.collect_account import collect_account
    from tasks.ledger import customers_due, due_for

    capture = demo
    day = dt.date(2026, 11, 3)
    customer_id = customers_due.fn(day, "handbook")[0]
    actions = due_for.fn(customer_id, day, "handbook")
    failures = {"left": 2}
    real = execution.take_action

    def flaky(session, action, **kwargs):
        outcome = real(session, action, **kwargs)
        if failures["left"] > 0:
            failures["left"] -= 1
            raise ConnectionError("the database went away")  # after the work: the transaction rolls back
        return outcome

    monkeypatch.setattr(execution, "take_action", flaky)
    result = collect_account(customer_id, as_of=day)
    assert failures["left"] == 0 and result["taken"] == len(actions)
    with session_scope() as session:
        taken = session.scalars(select(ActionTaken.key).where(ActionTaken.customer_id == customer_id)).all()
    assert sorted(taken) == sorted(a.key for a in actions)
    assert len(capture.messages) == counts()[1]
    assert len({m["Message-ID"] for m in capture.messages}) == len(capture.messages)


@pytest.mark.parametrize("run", ["daily", "statements"])
def test_each_batch_task_runs_apart_and_its_cycles_are_freed_before_the_next_starts(demo, monkeypatch, run):
    """A day's memory stays flat over its batches (issue #18): a task run's cycles do not wait for a full pass of the collector.

    With the collector's own passes off, each batch leaves a cycle where Prefect's task run leaves its own (outside the
    batch's work); the next batch must start with it freed.
    """
    import gc
    import weakref

    import tasks.ledger
    from flows.daily_collection import daily_collection
    from flows.statement_cycle import statement_cycle
    from tests.test_heap import Node

    left: list[weakref.ref] = []
    alive_at_start: list[int] = []
    real = tasks.ledger.collect

    def collect(*args, **kwargs):
        alive_at_start.append(sum(ref() is not None for ref in left))
        result = real(*args, **kwargs)
        left.append(weakref.ref(Node()))
        return result

    monkeypatch.setattr(tasks.ledger, "collect", collect)
    gc.disable()
    try:
        if run == "daily":
            daily_collection(as_of=START, batch_size=2)
        else:
            statement_cycle(as_of=dt.date(2026, 11, 5), batch_size=2)
    finally:
        gc.enable()
    assert len(alive_at_start) >= 3, "the day should have several batches"
    assert alive_at_start == [0] * len(alive_at_start)


def test_the_statement_cycle_and_the_recording_forms(demo):
    from flows.recording import confirm_statement, record_contact, record_payment, record_promise
    from flows.statement_cycle import statement_cycle

    day = dt.date(2026, 11, 5)
    statement_cycle(as_of=day)
    with session_scope() as session:
        prepared = session.scalars(select(Statement).where(Statement.prepared_on == day)).all()
        assert prepared and all(s.state.value == "prepared" for s in prepared)
        customer_id, month = prepared[0].customer_id, prepared[0].month
        prepared[0].reviewed_on = prepared[0].sent_on = dt.date(2026, 11, 9)  # the supervisor approved it: sent (confirmed only once sent)
        prepared[0].state = StatementState.sent
    assert confirm_statement(customer_id, month, "某某有限公司", "91310000MA1FL0000N", on=dt.date(2026, 11, 18)) == f"confirmation recorded for {customer_id}"
    assert record_contact(customer_id, "phone", "promised", note="答应月底付", on=day).startswith("contact recorded")
    from huikuan.ledger.records import open_amounts

    with session_scope() as session:
        open_now = open_amounts(session, customer_id, day)
    if open_now:
        first_invoice, amount = next(iter(open_now.items()))
        record_promise(customer_id, amount, dt.date(2026, 11, 30), invoices=first_invoice, on=day)
        record_payment("FORM-1", customer_id, amount, invoice_id=first_invoice, received_on=dt.date(2026, 11, 20))
    with pytest.raises(Exception, match="unknown customer NOPE"):
        record_contact("NOPE", "phone", "reached")


def test_shipping_check_flow(demo):
    from flows.shipping import ShipmentBlocked, shipping_check
    from models.enums import CustomerStatus
    from models.ledger import Customer

    with session_scope() as session:
        customer = session.scalar(select(Customer).order_by(Customer.customer_id).limit(1))
        customer_id = customer.customer_id
    assert shipping_check(customer_id).endswith("may ship")
    with session_scope() as session:
        locked = session.get(Customer, customer_id)
        locked.status, locked.locked_on = CustomerStatus.locked, dt.date(2026, 11, 3)
    with pytest.raises(ShipmentBlocked, match="no shipment may leave"):
        shipping_check(customer_id)


def test_a_scheduled_run_after_a_gap_catches_up_the_missed_days_and_publishes_the_day(demo, monkeypatch):
    """The server was down on the 3rd and 4th: the run of the 5th does them first, and later reruns find nothing left."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    from flows.daily_collection import daily_collection
    from huikuan.ledger.settings import Settings
    from models.ledger import CollectionDay

    daily_collection(as_of=START)
    monkeypatch.setattr(Settings, "today", lambda self: dt.date(2026, 11, 5))
    result = daily_collection(batch_size=3)
    assert result["as_of"] == "2026-11-05" and result["caught up"] == ["2026-11-03", "2026-11-04"]
    with session_scope() as session:
        done = session.scalars(select(CollectionDay.day).order_by(CollectionDay.day)).all()
    assert done == [START + dt.timedelta(days=n) for n in range(4)]
    before = counts()
    for day in (dt.date(2026, 11, 3), dt.date(2026, 11, 4), dt.date(2026, 11, 5)):
        assert daily_collection(as_of=day, spread_over_workers=True)["taken"] == 0  # no deployment here: the batches run in the run
    assert counts() == before
    with get_client(sync_client=True) as client:
        summary = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["daily-collection"])), sort=ArtifactSort.CREATED_DESC)
        worklists = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="worklist-")), sort=ArtifactSort.CREATED_DESC)
    with session_scope() as session:
        of_the_5th = dict(
            session.execute(select(ActionTaken.action, func.count()).where(ActionTaken.due_on == dt.date(2026, 11, 5)).group_by(ActionTaken.action)).all()
        )
    assert of_the_5th and {row["action"]: row["taken for the day"] for row in json.loads(summary[0].data)} == of_the_5th
    assert "2026-11-05" in summary[0].description
    assert worklists and worklists[0].data.startswith("# Worklist 2026-11-05")


def test_the_daily_flow_takes_what_plan_shows_on_every_day_around_closing_days(demo, monkeypatch):
    """The closing days of the environment and of the company file count in the flow's batches as in `plan`."""
    from flows.daily_collection import daily_collection
    from huikuan.ledger.context import calendars_of
    from huikuan.reports.planning import plan
    from models.policy import load_policy

    monkeypatch.setenv("HUIKUAN_CLOSED_DAYS", '["2026-11-04"]')
    company = get_settings().company_file
    company.write_text(company.read_text(encoding="utf-8") + "calendar:\n  closed_days: [2026-11-09]\n", encoding="utf-8")
    for cache in (get_settings, company_from):
        cache.cache_clear()
    policy = load_policy("handbook")
    shown_on_closed = 0
    for day in (START + dt.timedelta(days=n) for n in range(10)):
        with session_scope() as session:
            planned = sorted(a.key for a in plan(session, day, policy, calendars=calendars_of(company_from(str(company.resolve())))))
        daily_collection(as_of=day)
        with session_scope() as session:
            taken = sorted(session.scalars(select(ActionTaken.key).where(ActionTaken.due_on == day, ActionTaken.action != "approval_refused")))
        assert taken == planned, day
        shown_on_closed += len(planned) if day in (dt.date(2026, 11, 4), dt.date(2026, 11, 9)) else 0
    assert shown_on_closed == 0
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ActionTaken).where(ActionTaken.due_on.in_([dt.date(2026, 11, 5), dt.date(2026, 11, 10)]))) > 0


def test_the_legal_forms_write_the_case_file_and_record_a_posted_letter(demo, monkeypatch):
    import csv
    import hashlib
    import io

    from prefect.artifacts import Artifact

    import tasks.legal
    from flows.legal import prepare_case, record_letter_delivery
    from huikuan.collection.execution import queue_letter
    from huikuan.ledger.records import get_customer
    from huikuan.ledger.settings import get_settings
    from models.ledger import LetterDelivery

    day = dt.date(2026, 11, 20)
    with session_scope() as session:
        customer_id = session.scalar(select(OutboxMessage.customer_id).limit(1)) or session.scalar(select(Invoice.customer_id).limit(1))
        customer = get_customer(session, customer_id)
        session.add(
            ActionTaken(key=f"{customer_id}:lawyer_letter:{day}", customer_id=customer_id, action="lawyer_letter", due_on=day, channel="letter", role="boss")
        )
        assert queue_letter(session, customer, "lawyer_letter", f"{customer_id}:lawyer_letter:{day}", company_from(get_settings().company_file), day) == 1
    assert "recorded" in record_letter_delivery(f"{customer_id}:lawyer_letter:{day}", "SF1234567890", delivered_on=dt.date(2026, 11, 22), courier="顺丰")
    with session_scope() as session:
        assert session.scalar(select(LetterDelivery.tracking_no)) == "SF1234567890"
    folder = Path(prepare_case(customer_id))  # today: the letter was queued by the clock, not on the replayed day
    assert folder.parent == get_settings().data_dir / "cases" and (folder.parent / f"{folder.name}.zip").is_file()
    index = list(csv.DictReader(io.StringIO((folder / "index.csv").read_text(encoding="utf-8-sig"))))
    assert all(hashlib.sha256((folder / row["file"]).read_bytes()).hexdigest() == row["sha256"] for row in index)
    assert any(row["file"].startswith("documents/lawyer_letter-") for row in index)
    artifact = Artifact.get(f"case-{customer_id.lower()}")
    assert artifact is not None and "SHA-256" in artifact.data and folder.name in artifact.data

    started = []
    monkeypatch.setattr(tasks.legal, "run_deployment", lambda name, **kw: started.append((name, kw)) or type("Run", (), {"id": "r1"})())
    assert tasks.legal.start_case_run.fn(customer_id, day, "approval:X") == "r1"
    assert started[0][0] == "prepare-case/prepare-case" and started[0][1]["idempotency_key"] == "case:approval:X"
