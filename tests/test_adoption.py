"""Adopting huikuan over a ledger with old debts: the one-time steps whose dates passed, taken once (`huikuan adopt`).

Adoption on Friday 2026-10-09, just after National Day (10-01..10-07; 10-10 is a
make-up working Saturday). An invoice due 2026-07-01 is then 100 days overdue;
its ladder: escalate_supervisor 07-29, notify_manager 08-03 (08-02 is a Sunday),
notify_gm 09-02, stop_shipment 10-08 (10-02 is in National Day), the letters from
the lock. One due 2026-09-19 is 20 days overdue: its first one-time step, D+28,
is 10-17, still ahead.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.collection.batch import collect
from huikuan.ledger.adoption import adopt
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.db import session_scope
from huikuan.reports.planning import plan
from models.calendar import calendar_for
from models.engine import CustomerFacts, InstalmentPlanFacts, InvoiceFacts, PromiseFacts, actions_due, missed_steps
from models.enums import ApprovalState, CustomerStatus
from models.ledger import ActionTaken, Approval, OutboxMessage
from models.policy import load_policy
from tests.ledger_files import import_into, write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
HANDBOOK = load_policy("handbook")
CREDIT = load_policy("credit")
CN = calendar_for("CN")
COMPANY = parse_company(EXAMPLE)
ADOPT = D(2026, 10, 9)
OLD = InvoiceFacts("I1", D(2026, 6, 1), D(2026, 7, 1), Decimal("10000.00"))  # 100 days overdue on ADOPT
RECENT = InvoiceFacts("I2", D(2026, 8, 19), D(2026, 9, 19), Decimal("5000.00"))  # 20 days overdue on ADOPT
MISSED = ["escalate_supervisor", "notify_gm", "notify_manager", "stop_shipment"]


def missed(facts: CustomerFacts, day: dt.date = ADOPT, policy=HANDBOOK, **kwargs) -> list[tuple[str, tuple[str, ...]]]:
    return [(a.action, a.invoices) for a in missed_steps(facts, day, policy, CN, **kwargs)]


# -- the rule, on hand-built facts ------------------------------------------------------


def test_an_invoice_100_days_overdue_gets_each_missed_step_once_dated_the_adoption_day():
    actions = missed_steps(CustomerFacts("C1", invoices=(OLD,)), ADOPT, HANDBOOK, CN)
    assert [(a.action, a.invoices, a.needs_approval) for a in actions] == [
        ("escalate_supervisor", ("I1",), False),
        ("notify_gm", ("I1",), False),
        ("notify_manager", ("I1",), False),
        ("stop_shipment", ("I1",), True),  # through the boss's approval, as on its own date
    ]
    assert {a.on for a in actions} == {ADOPT}
    assert [a.key for a in actions] == [f"C1:{name}:2026-10-09:adopt" for name in MISSED]
    due_on = {a.action: a.reasons[0].split("; ")[0] for a in actions}
    assert due_on == {  # the dates the steps had, rolled over the weekends and National Day
        "escalate_supervisor": "missed before huikuan: due on 2026-07-29 (invoice I1, 100 days overdue)",
        "notify_manager": "missed before huikuan: due on 2026-08-03 (invoice I1, 100 days overdue)",
        "notify_gm": "missed before huikuan: due on 2026-09-02 (invoice I1, 100 days overdue)",
        "stop_shipment": "missed before huikuan: due on 2026-10-08 (invoice I1, 100 days overdue)",
    }


def test_the_days_answer_is_unchanged_and_keys_do_not_collide_with_it():
    """Another invoice's escalation falls due on the adoption day itself: both are taken, under their own keys."""
    today = InvoiceFacts("I3", D(2026, 8, 11), D(2026, 9, 11), Decimal("300.00"))  # D+28 = 10-09
    facts = CustomerFacts("C1", invoices=(OLD, today))
    daily = actions_due(facts, ADOPT, HANDBOOK, CN)
    assert [(a.action, a.invoices) for a in daily] == [("escalate_supervisor", ("I3",)), ("follow_up", ("I1", "I3"))]
    caught_up = missed_steps(facts, ADOPT, HANDBOOK, CN)
    assert ("escalate_supervisor", ("I1",)) in [(a.action, a.invoices) for a in caught_up]
    assert not {a.key for a in daily} & {a.key for a in caught_up}


@pytest.mark.parametrize(
    ("day", "expected", "why"),
    [
        (D(2026, 10, 8), MISSED[:3], "stop_shipment rolled onto 10-08: due that day in the daily run, not missed"),
        (D(2026, 10, 5), MISSED[:3], "a holiday: >3 months nominally 10-02, but it rolls to 10-08, still ahead"),
        (D(2026, 9, 2), MISSED[:1] + MISSED[2:3], "notify_gm is due today, not missed"),
        (D(2026, 7, 29), [], "escalate_supervisor is due today: nothing before it"),
    ],
)
def test_a_step_is_missed_only_when_its_rolled_date_is_before_the_adoption_day(day, expected, why):
    assert [action for action, _ in missed(CustomerFacts("C1", invoices=(OLD,)), day)] == expected, why


def test_an_invoice_20_days_overdue_has_missed_nothing_yet():
    assert missed(CustomerFacts("C1", invoices=(RECENT,))) == []
    assert missed(CustomerFacts("C1", invoices=(OLD, RECENT))) == [(name, ("I1",)) for name in MISSED]


def test_missed_steps_merge_per_action_naming_every_invoice():
    second = InvoiceFacts("I9", D(2026, 6, 2), D(2026, 7, 2), Decimal("1.00"))
    assert missed(CustomerFacts("C1", invoices=(OLD, second))) == [(name, ("I1", "I9")) for name in MISSED]


@pytest.mark.parametrize(
    "facts",
    [
        pytest.param(
            CustomerFacts("C1", invoices=(InvoiceFacts("I1", OLD.issued_on, OLD.due_on, OLD.amount, payments=((D(2026, 9, 30), OLD.amount),)),)), id="paid"
        ),
        pytest.param(
            CustomerFacts("C1", invoices=(InvoiceFacts("I1", OLD.issued_on, OLD.due_on, OLD.amount, disputes=((D(2026, 8, 1), None),)),)), id="disputed"
        ),
        pytest.param(
            CustomerFacts("C1", invoices=(OLD,), promises=(PromiseFacts(D(2026, 10, 8), D(2026, 10, 20), Decimal("500.00"), frozenset({"I1"})),)), id="promised"
        ),
        pytest.param(
            CustomerFacts(
                "C1", invoices=(OLD,), instalment_plans=(InstalmentPlanFacts(D(2026, 9, 30), frozenset({"I1"}), ((D(2026, 10, 30), Decimal("5000.00")),)),)
            ),
            id="instalment plan",
        ),
    ],
)
def test_a_paid_disputed_or_promised_invoice_gives_nothing(facts):
    assert missed(facts) == []


def test_a_dispute_resolved_before_adoption_moved_the_steps_and_they_were_still_missed():
    resolved = InvoiceFacts("I1", OLD.issued_on, OLD.due_on, OLD.amount, disputes=((D(2026, 7, 20), D(2026, 9, 20)),))
    actions = missed_steps(CustomerFacts("C1", invoices=(resolved,)), ADOPT, HANDBOOK, CN)
    assert [a.action for a in actions] == MISSED
    assert "due on 2026-09-21" in actions[0].reasons[0]  # the escalation waited for the dispute's end (09-20, a make-up working Sunday)


def test_a_payment_in_the_two_weeks_before_the_escalation_means_it_was_never_due():
    partial = InvoiceFacts("I1", OLD.issued_on, OLD.due_on, OLD.amount, payments=((D(2026, 7, 20), Decimal("100.00")),))
    assert [action for action, _ in missed(CustomerFacts("C1", invoices=(partial,)))] == MISSED[1:]


def test_an_account_already_locked_gets_no_stop_shipment_and_no_letters():
    facts = CustomerFacts("C1", status=CustomerStatus.locked, locked_on=D(2026, 9, 15), invoices=(OLD,))
    assert [action for action, _ in missed(facts)] == MISSED[:3]


def test_what_the_ledger_already_took_is_not_taken_again():
    facts = CustomerFacts("C1", invoices=(OLD, InvoiceFacts("I9", D(2026, 6, 2), D(2026, 7, 2), Decimal("1.00"))))
    taken = {("notify_manager", "I1"), ("stop_shipment", "I1"), ("stop_shipment", "I9")}
    assert missed(facts, taken=taken) == [("escalate_supervisor", ("I1", "I9")), ("notify_gm", ("I1", "I9")), ("notify_manager", ("I9",))]


def test_of_the_credit_policys_status_steps_only_the_strongest_is_taken():
    """Suspended, cash only and blacklisted at once: a weaker status taken after the blacklist would undo it."""
    names = [action for action, _ in missed(CustomerFacts("C1", invoices=(OLD, RECENT)), policy=CREDIT)]
    assert "blacklist" in names and not {"suspend_credit", "stop_credit"} & set(names)
    assert "reminder" not in names and "follow_up" not in names  # before the due date, and cadences, are not catch-up


# -- on a real ledger -------------------------------------------------------------------

FILES = {
    "customers": "customer_id,name,email,phone,contact_name\nC1,杭州华信贸易有限公司,c1@example.cn,1,王伟\nC2,Acme Trading Ltd,c2@example.com,2,Jane\n"
    "C3,恒达物流有限公司,c3@example.cn,3,李娜\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-06-01,2026-07-01,10000.00\nI2,C1,2026-08-19,2026-09-19,5000.00\n"
    "I3,C2,2026-06-01,2026-07-01,800.00\n",
    "payments": "payment_id,customer_id,received_on,amount,invoice_id\nP1,C2,2026-09-30,800.00,I3\n",
}
ROWS = [
    f"2026-10-09,C1,{row}"
    for row in (
        "escalate_supervisor,I1,internal,supervisor,false",
        "notify_gm,I1,internal,gm,false",
        "notify_manager,I1,internal,manager,false",
        "stop_shipment,I1,system,boss,true",
    )
]


@pytest.fixture
def ledger(tmp_path, ledger_engine):
    return import_into(ledger_engine, tmp_path, FILES)


def count(engine, model, *where) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_adopting_twice_takes_each_missed_step_once(ledger):
    first = adopt(ledger, ADOPT, HANDBOOK, COMPANY)
    assert [(a.customer_id, a.action, a.invoices) for a in first.taken] == [("C1", name, ("I1",)) for name in MISSED]
    assert [a.customer_id for a in first.accounts] == ["C1"] and first.failed == []
    with Session(ledger) as session:
        assert sorted(session.scalars(select(ActionTaken.key))) == [f"C1:{name}:2026-10-09:adopt" for name in MISSED]
        approval = session.scalars(select(Approval)).one()
        assert (approval.action, approval.approver_role, approval.state, approval.invoices) == ("stop_shipment", "boss", ApprovalState.requested, "I1")
        assert first.approvals == [approval.key]
        assert plan(session, ADOPT, HANDBOOK) and not {a.key for a in plan(session, ADOPT, HANDBOOK)} & set(session.scalars(select(ActionTaken.key)))
    notices = count(ledger, OutboxMessage)
    assert notices >= 3  # the supervisor, the manager and the GM are told
    for day in (ADOPT, D(2026, 10, 12)):  # the same day, or later: nothing twice
        again = adopt(ledger, day, HANDBOOK, COMPANY)
        assert again.actions == [] and again.taken == [] and again.approvals == []
    assert count(ledger, ActionTaken) == 4 and count(ledger, Approval) == 1 and count(ledger, OutboxMessage) == notices


def test_a_step_the_daily_run_already_took_is_not_taken_again(ledger):
    collect(ledger, ["C1"], D(2026, 7, 29), HANDBOOK, COMPANY)  # huikuan already ran on I1's escalation day
    assert count(ledger, ActionTaken, ActionTaken.action == "escalate_supervisor") == 1
    result = adopt(ledger, ADOPT, HANDBOOK, COMPANY)
    assert [a.action for a in result.taken] == MISSED[1:]


def test_a_dry_run_says_what_it_would_take_and_writes_nothing(ledger):
    result = adopt(ledger, ADOPT, HANDBOOK, None, dry_run=True)
    assert [(a.customer_id, a.action) for a in result.actions] == [("C1", name) for name in MISSED]
    assert result.taken == [] and count(ledger, ActionTaken) == 0 and count(ledger, Approval) == 0


# -- the command --------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def ledger_url(cli_env):
    (cli_env / "company.yaml").write_text(EXAMPLE, encoding="utf-8")
    paths = write_files(cli_env, FILES)
    assert runner.invoke(app, ["import", *(f"--{kind}={path}" for kind, path in paths.items())]).exit_code == 0
    return f"sqlite:///{cli_env / 'huikuan.db'}"


def adopt_cli(*args: str):
    return runner.invoke(app, ["adopt", "--as-of", "2026-10-09", *args], catch_exceptions=False)


def taken_rows() -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(ActionTaken)) + session.scalar(select(func.count()).select_from(Approval))


def test_the_dry_run_prints_the_plans_columns_and_writes_nothing(ledger_url):
    result = adopt_cli("--dry-run", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["date,customer_id,action,invoices,channel,role,needs_approval", *ROWS]
    assert "nothing was written" in result.stderr
    table = adopt_cli("--dry-run")
    assert table.exit_code == 0 and "锁定账户、停止出库" in table.stdout and "would be taken" in table.stdout  # as plan's table: the company's words
    assert "…" not in table.stdout  # each cell whole (the invoices were cut off)
    assert taken_rows() == 0


def test_the_command_takes_them_once_and_says_what_comes_next(ledger_url):
    result = adopt_cli("--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == ROWS
    assert "Took 4 missed step(s) for 1 customer(s)" in result.stderr
    assert "1 approval request(s)" in result.stderr and "daily collection" in result.stderr
    again = adopt_cli()
    assert again.exit_code == 0 and "Took 0 missed step(s)" in again.stdout
    assert taken_rows() == 5  # four actions and the stop-shipment's approval request
