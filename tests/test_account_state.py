"""The account's state in facets, and money that clears it: on SQLite and PostgreSQL.

The fixture ledger is `tests/test_collection.py`'s: C1 owes I1 (10,000.00, due
08-10) and I2 (5,000.00, due 10-10); C2 owes I3 (800.00, due 10-01); C3 owes
nothing. The daily run is `collect` over every account, as each batch task runs it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.collection import execution
from huikuan.collection.batch import collect
from huikuan.ledger import account_state, records
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.importer import import_files
from huikuan.reports.planning import explain_customer, plan
from models.enums import ApprovalState, CustomerStatus, Segment
from models.ledger import ActionTaken, Approval, Customer, EventTaken, OutboxMessage
from models.policy import POLICY_DIR, load_policy, parse_policy
from tests.ledger_files import import_into
from tests.test_collection import FILES

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
COMPANY = parse_company(EXAMPLE)
HANDBOOK = load_policy("handbook")
CREDIT = load_policy("credit")
EVERYONE = ["C1", "C2", "C3"]


@pytest.fixture
def ledger(tmp_path, ledger_engine):
    """tests/test_collection.py's ledger: its FILES imported."""
    return import_into(ledger_engine, tmp_path, FILES)


def run(engine, day: dt.date, policy=HANDBOOK) -> list[str]:
    """The daily run of ``day``; the keys it took now, after checking they are what ``plan`` showed."""
    with Session(engine) as session:
        shown = sorted(a.key for a in plan(session, day, policy))
    result = collect(engine, EVERYONE, day, policy, COMPANY)
    assert not result.failed, [a.error for a in result.failed]
    with Session(engine) as session:
        assert sorted(session.scalars(select(ActionTaken.key).where(ActionTaken.due_on == day, ActionTaken.action != "approval_refused"))) == shown
    return sorted(k for a in result.accounts for k in a.taken)


def rerun(engine, day: dt.date, policy=HANDBOOK) -> list[str]:
    """The same day's run again (a retry): the keys it took now."""
    return sorted(k for a in collect(engine, EVERYONE, day, policy, COMPANY).accounts for k in a.taken)


def approve(engine, action: str, day: dt.date) -> None:
    with Session(engine) as session, session.begin():
        for approval in session.scalars(select(Approval).where(Approval.action == action, Approval.state == ApprovalState.requested)):
            approval.state, approval.decided_by = ApprovalState.approved, "boss"
            execution.carry_out(session, approval, COMPANY, day)


def customer(engine, customer_id: str) -> Customer:
    with Session(engine, expire_on_commit=False) as session:
        return session.get(Customer, customer_id)


def test_a_blacklisted_and_locked_account_never_may_ship(ledger):
    with Session(ledger) as session, session.begin():
        c1 = session.get(Customer, "C1")
        account_state.apply_effect(session, c1, "lock", D(2026, 11, 11), cause="C1:stop_shipment:2026-11-11", reason="approved", invoices=("I1",))
        account_state.apply_effect(session, c1, "blacklist", D(2026, 11, 12), cause="C1:blacklist:2026-11-12", reason="61 days", invoices=("I2",))
    c1 = customer(ledger, "C1")
    assert (c1.locked_on, c1.status) == (D(2026, 11, 11), CustomerStatus.blacklisted)  # the blacklist did not overwrite the lock
    answer = account_state.shipping_answer(c1)
    assert not answer.may_ship and not answer.against_payment and "locked since 2026-11-11" in answer.why and "blacklisted" in answer.why
    with Session(ledger) as session, session.begin():
        account_state.apply_effect(session, session.get(Customer, "C1"), "unlock", D(2026, 11, 20), cause="paid", reason="paid")
    answer = account_state.shipping_answer(customer(ledger, "C1"))
    assert not answer.may_ship and answer.against_payment and "cash only" in answer.why  # blacklisted: only against payment
    with Session(ledger) as session:
        changes = [(c.facet, c.old_value, c.new_value, c.cause) for c in account_state.history(session, "C1")]
    assert changes == [
        ("shipping_lock", "open", "locked", "C1:stop_shipment:2026-11-11"),
        ("credit_standing", "active", "blacklisted", "C1:blacklist:2026-11-12"),
        ("shipping_lock", "locked since 2026-11-11", "open", "paid"),
    ]


def test_a_lock_is_lifted_once_when_its_debts_are_paid_and_finance_is_told(ledger):
    assert "C1:stop_shipment:2026-11-11" in run(ledger, D(2026, 11, 11))
    approve(ledger, "stop_shipment", D(2026, 11, 11))
    c1 = customer(ledger, "C1")
    assert (c1.locked_on, c1.lock_invoices) == (D(2026, 11, 11), "I1")
    with Session(ledger) as session:
        (why,) = [e.why for e in explain_customer(session, "C1", D(2026, 11, 12), HANDBOOK) if e.step == "lift_lock"]
    assert why == "locked since 2026-11-11; lifted once I1 is paid"
    # I2 is paid, not I1: still locked.
    with Session(ledger) as session, session.begin():
        records.record_payment(session, "P2", "C1", amount=Decimal("5000.00"), received_on=D(2026, 11, 16), invoice_id="I2")
    assert not [k for k in run(ledger, D(2026, 11, 16)) if "lift_lock" in k]
    # I1, the debt that caused the lock, paid on Friday the 20th but recorded on Monday the 23rd after that day's run.
    run(ledger, D(2026, 11, 23))
    with Session(ledger) as session, session.begin():
        records.record_payment(session, "P1", "C1", amount=Decimal("10000.00"), received_on=D(2026, 11, 20), invoice_id="I1")
    assert "C1:lift_lock:2026-11-24" in run(ledger, D(2026, 11, 24))
    assert customer(ledger, "C1").locked_on is None and account_state.shipping_answer(customer(ledger, "C1")).may_ship
    assert rerun(ledger, D(2026, 11, 24)) == [] and not [k for k in run(ledger, D(2026, 11, 25)) if "lift_lock" in k]  # once
    with Session(ledger) as session:
        told = session.scalars(select(OutboxMessage).where(OutboxMessage.key.like("C1:lift_lock:%"))).all()
        assert sorted(m.to_address for m in told) == ["finance@huikuan-demo.example.cn", "warehouse@huikuan-demo.example.cn"]  # finance and shipping
        assert "解除锁定" in told[0].subject and "I1" in told[0].text and "恢复出库" in told[0].text
        lock_changes = [(c.new_value, c.cause) for c in account_state.history(session, "C1") if c.facet == "shipping_lock"]
        assert lock_changes == [("locked", "approval:C1:stop_shipment:2026-11-11"), ("open", "C1:lift_lock:2026-11-24")]
        assert session.scalar(select(EventTaken.action_key).where(EventTaken.event_key == "C1:lift_lock:2026-11-11")) == "C1:lift_lock:2026-11-24"


def test_a_policy_can_ask_the_boss_to_lift_a_paid_lock(ledger):
    asking = parse_policy((POLICY_DIR / "handbook.yaml").read_text(encoding="utf-8") + "\nlift_lock: ask_when_paid\n")
    run(ledger, D(2026, 11, 11), asking)
    approve(ledger, "stop_shipment", D(2026, 11, 11))
    with Session(ledger) as session, session.begin():
        records.record_payment(session, "P1", "C1", amount=Decimal("10000.00"), received_on=D(2026, 11, 20), invoice_id="I1")
    assert "C1:lift_lock:2026-11-20" in run(ledger, D(2026, 11, 20), asking)
    assert customer(ledger, "C1").locked_on is not None  # asked, not lifted
    assert not [k for k in run(ledger, D(2026, 11, 23), asking) if "lift_lock" in k]  # asked once
    approve(ledger, "lift_lock", D(2026, 11, 23))
    assert customer(ledger, "C1").locked_on is None


def test_a_payment_recorded_after_the_run_still_brings_the_recovery_step(ledger):
    with Session(ledger) as session, session.begin():
        session.get(Customer, "C2").credit_limit = Decimal("50000.00")
    day = D(2026, 10, 2)
    while day <= D(2026, 11, 10):
        run(ledger, day, CREDIT)
        day += dt.timedelta(days=1)
    c2 = customer(ledger, "C2")
    assert (c2.status, c2.standing_since, c2.standing_invoices) == (CustomerStatus.cash_only, D(2026, 11, 2), "I3")  # stop_credit, 31 days
    # Finance records on the 10th, after that day's run, a payment received on the 9th.
    with Session(ledger) as session, session.begin():
        records.record_payment(session, "P3", "C2", amount=Decimal("800.00"), received_on=D(2026, 11, 9))
    assert [k for k in run(ledger, D(2026, 11, 11), CREDIT) if k.startswith("C2:")] == ["C2:cut_credit_limit:2026-11-11"]
    c2 = customer(ledger, "C2")
    assert (c2.status, c2.credit_limit) == (CustomerStatus.active, Decimal("30000.00"))
    assert rerun(ledger, D(2026, 11, 11), CREDIT) == [] and not [k for k in run(ledger, D(2026, 11, 12), CREDIT) if k.startswith("C2:")]  # once
    with Session(ledger) as session:
        limits = [(c.old_value, c.new_value, c.cause) for c in account_state.history(session, "C2") if c.facet == "credit_limit"]
    assert limits == [("50000.00", "30000.00", "C2:cut_credit_limit:2026-11-11")]


def test_a_broken_promise_recorded_late_brings_the_follow_up_on_the_first_run_that_sees_it(ledger):
    run(ledger, D(2026, 10, 12))
    # Recorded on the 13th: a promise made on the 5th to pay 800 by Friday the 9th, broken.
    with Session(ledger) as session, session.begin():
        records.record_promise(session, "C2", amount=Decimal("800.00"), by=D(2026, 10, 9), on=D(2026, 10, 5))
    with Session(ledger) as session:
        shown = [a for a in plan(session, D(2026, 10, 13), HANDBOOK) if a.customer_id == "C2"]
    assert [(a.action, a.events) for a in shown] == [("follow_up", ("C2:resume:I3:promise:2026-10-09",))]
    assert "(due since 2026-10-10: recorded late)" in shown[0].reasons[0]  # 10-10 is a make-up working Saturday
    assert run(ledger, D(2026, 10, 13)) == ["C1:follow_up:2026-10-13", "C2:follow_up:2026-10-13"]
    assert rerun(ledger, D(2026, 10, 13)) == []
    with Session(ledger) as session:  # the 14th brings C2's cadence follow-up, not the resumption again
        again = [a for a in plan(session, D(2026, 10, 14), HANDBOOK) if a.customer_id == "C2"]
    assert [a.events for a in again] == [()]


def test_an_approved_credit_step_changes_the_standing_of_a_key_account(ledger):
    with Session(ledger) as session, session.begin():
        session.get(Customer, "C2").segment = Segment.key  # the boss approves a key account's credit steps
    day = D(2026, 10, 2)
    while day <= D(2026, 11, 2):
        run(ledger, day, CREDIT)
        day += dt.timedelta(days=1)
    assert customer(ledger, "C2").status is CustomerStatus.active  # asked, not yet approved
    approve(ledger, "suspend_credit", D(2026, 11, 2))
    assert customer(ledger, "C2").status is CustomerStatus.credit_suspended
    approve(ledger, "stop_credit", D(2026, 11, 2))
    c2 = customer(ledger, "C2")
    assert (c2.status, c2.standing_invoices) == (CustomerStatus.cash_only, "I3")
    with Session(ledger) as session:
        causes = [c.cause for c in account_state.history(session, "C2") if c.facet == "credit_standing"]
    assert causes == ["approval:C2:suspend_credit:2026-10-19", "approval:C2:stop_credit:2026-11-02"]


def test_no_email_asks_for_money_once_everything_is_paid(ledger):
    with Session(ledger) as session, session.begin():
        records.record_payment(session, "P3", "C2", amount=Decimal("800.00"), received_on=D(2026, 10, 5))
        c2 = session.get(Customer, "C2")
        assert execution.queue_customer_email(session, c2, "follow_up", "C2:follow_up:2026-10-06", COMPANY, D(2026, 10, 6), invoices=("I3",)) == 0
        assert execution.queue_letter(session, c2, "dunning_letter", "C2:dunning_letter:2026-10-06", COMPANY, D(2026, 10, 6), invoices=("I3",)) == 0
        assert session.scalar(select(OutboxMessage.id).where(OutboxMessage.customer_id == "C2")) is None


def test_the_command_line_answers_from_every_facet_and_a_person_may_lift_a_lock(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from huikuan.cli import app
    from huikuan.ledger.company import company_from
    from huikuan.ledger.db import engine_for
    from huikuan.ledger.settings import get_settings

    monkeypatch.setenv("HUIKUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'huikuan.db'}")
    (tmp_path / "company.yaml").write_text(EXAMPLE, encoding="utf-8")
    monkeypatch.setenv("HUIKUAN_COMPANY_FILE", str(tmp_path / "company.yaml"))
    for cache in (get_settings, engine_for, company_from):
        cache.cache_clear()
    runner = CliRunner()
    paths = []
    for kind, text in FILES.items():
        (tmp_path / f"{kind}.csv").write_text(text, encoding="utf-8")
        paths += [f"--{kind}", str(tmp_path / f"{kind}.csv")]
    assert runner.invoke(app, ["import", *paths]).exit_code == 0
    with Session(engine_for()) as session, session.begin():
        account_state.apply_effect(
            session, session.get(Customer, "C1"), "lock", D(2026, 11, 11), cause="approval:C1:stop_shipment:2026-11-11", reason="approved", invoices=("I1",)
        )
        account_state.apply_effect(session, session.get(Customer, "C2"), "blacklist", D(2026, 11, 12), cause="C2:blacklist:2026-11-12", reason="61 days")
    checks = {c: runner.invoke(app, ["shipping", "check", c]) for c in ("C1", "C2", "C3", "NOPE")}
    assert {c: r.exit_code for c, r in checks.items()} == {"C1": 1, "C2": 3, "C3": 0, "NOPE": 2}
    assert "locked since 2026-11-11" in checks["C1"].stdout and "款到发货" in checks["C2"].stdout and "may ship" in checks["C3"].stdout
    shown = runner.invoke(app, ["customers", "show", "C1", "--as-of", "2026-11-12"])
    assert shown.exit_code == 0 and "自2026年11月11日起锁定（因I1）" in shown.stdout
    assert (
        "能否发货  自2026年11月11日起被锁定：不得出库（系统锁定无法出库）" in shown.stdout
    )  # the answer the ERP gets in English, said in Chinese and "approval:C1:stop_shipment:2026-11-11" in shown.stdout
    refused = runner.invoke(app, ["customers", "unlock", "C1", "--by", "c01", "--reason", "客户已付款"])
    assert refused.exit_code == 1 and "'c01' may not lift a lock" in refused.stderr
    lifted = runner.invoke(app, ["customers", "unlock", "C1", "--by", "boss", "--reason", "客户已付款，老板同意恢复发货", "--on", "2026-11-13"])
    assert lifted.exit_code == 0, lifted.output
    assert runner.invoke(app, ["shipping", "check", "C1"]).exit_code == 0
    with Session(engine_for()) as session:
        (change,) = [c for c in account_state.history(session, "C1") if c.new_value == "open"]
        assert (change.cause, change.reason, change.changed_on) == ("person:boss", "客户已付款，老板同意恢复发货", D(2026, 11, 13))
        told = session.scalars(select(OutboxMessage).where(OutboxMessage.key.like("C1:lift_lock:2026-11-13:boss:%"))).all()
        assert len(told) == 2 and all("经吴宏（董事长）决定" in m.text for m in told)
    for cache in (get_settings, engine_for, company_from):
        cache.cache_clear()


def test_a_credit_limit_changed_by_an_import_joins_the_history(ledger, tmp_path, monkeypatch):
    from huikuan.ledger.settings import get_settings

    monkeypatch.setattr(type(get_settings()), "today", lambda self: D(2026, 11, 30))
    changed = tmp_path / "changed.csv"
    changed.write_text("customer_id,name,email,phone,contact_name,credit_limit\nC1,杭州华信贸易有限公司,c1@example.cn,1,王伟,80000.00\n", encoding="utf-8")
    with Session(ledger) as session, session.begin():
        import_files(session, {"customers": changed}, update_existing=True)
    with Session(ledger) as session:
        assert [(c.facet, c.old_value, c.new_value, c.cause, c.changed_on) for c in account_state.history(session, "C1")] == [
            ("credit_limit", "", "80000.00", "import --update", D(2026, 11, 30))
        ]
