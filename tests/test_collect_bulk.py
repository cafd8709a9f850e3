"""Collecting in bulk (issue #18): a batch reads once and writes without asking first, and does exactly what one action at a time does.

- the same demo ledger collected day after day by ``collect`` (the batch: one facts load, the documents built from it,
  keys refused by their unique constraint) and by ``execution.take_action`` one action at a time, each customer in a
  session of its own, reading the ledger for every document, ends with the same outbox rows byte for byte (PDFs included),
  the same actions, approvals, statements, statuses and events, and the batch's next action dates are those of the facts read after;
- the statements a batch sends to the database grow by at most a few per customer (the action's row and its email),
  counted with SQLAlchemy's ``before_cursor_execute``;
- a key already taken (by a concurrent run of the same day) is refused by its unique constraint and skipped, the
  customer's other actions and the other customers taken, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from huikuan.collection import execution
from huikuan.collection.batch import collect
from huikuan.demo.load import load_demo
from huikuan.ledger import records
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.db import make_engine
from huikuan.ledger.facts import load_facts
from huikuan.ledger.importer import import_files
from huikuan.outbox import bounces
from huikuan.reports.planning import plan
from models.engine import Action, Evaluator, next_action_day
from models.enums import ActionState, ApprovalState
from models.ledger import ActionTaken, Approval, Contact, Customer, EventTaken, OutboxMessage, Statement
from models.policy import load_policy
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

COMPANY = parse_company(EXAMPLE)
POLICY = load_policy("handbook")
DEMO_AS_OF = dt.date(2026, 10, 20)
DAYS = [DEMO_AS_OF + dt.timedelta(days=n) for n in range(0, 75, 2)]


def _copy(sqlite_template, path) -> object:
    import shutil

    shutil.copy(sqlite_template, path)
    return make_engine(f"sqlite:///{path}")


def _ledger_state(engine) -> dict:
    with Session(engine) as session:
        return {
            "outbox": session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.key,
                    OutboxMessage.customer_id,
                    OutboxMessage.to_address,
                    OutboxMessage.to_name,
                    OutboxMessage.subject,
                    OutboxMessage.text,
                    OutboxMessage.html,
                    OutboxMessage.attachment_name,
                    OutboxMessage.attachment,
                    OutboxMessage.bounced_at.is_(None),
                ).order_by(OutboxMessage.id)
            ).all(),
            "actions": session.execute(
                select(
                    ActionTaken.key,
                    ActionTaken.customer_id,
                    ActionTaken.action,
                    ActionTaken.due_on,
                    ActionTaken.channel,
                    ActionTaken.role,
                    ActionTaken.invoices,
                    ActionTaken.state,
                    ActionTaken.detail,
                ).order_by(ActionTaken.id)
            ).all(),
            "approvals": session.execute(select(Approval.key, Approval.action, Approval.state, Approval.invoices, Approval.effect).order_by(Approval.id)).all(),
            "statements": session.execute(select(Statement.customer_id, Statement.month, Statement.amount, Statement.state).order_by(Statement.id)).all(),
            "customers": session.execute(
                select(
                    Customer.customer_id, Customer.status, Customer.locked_on, Customer.lock_invoices, Customer.standing_since, Customer.standing_invoices
                ).order_by(Customer.customer_id)
            ).all(),
            "events": session.execute(select(EventTaken.event_key, EventTaken.action_key, EventTaken.taken_on).order_by(EventTaken.event_key)).all(),
        }


def _due(engine, day: dt.date) -> dict[str, list[Action]]:
    from huikuan.ledger.context import calendars_of

    calendars = calendars_of(COMPANY)
    with Session(engine) as session:
        due = {}
        for facts, country in load_facts(session):
            actions = sorted(Evaluator(facts, POLICY, calendars.calendar(country)).actions_on(day), key=Action.sort_key)
            if actions:
                due[facts.customer_id] = actions
        return due


def _one_at_a_time(engine, day: dt.date) -> None:
    """Each customer's due actions in a session of its own, ``take_action`` reading the ledger for each document."""
    for actions in _due(engine, day).values():
        with Session(engine) as session, session.begin():
            for action in actions:
                execution.take_action(session, action, company=COMPANY, as_of=day)


def _approve_all(engine, day: dt.date) -> None:
    """Every open request approved and carried out, the same way on both ledgers (locks, letters, statements sent)."""
    with Session(engine) as session, session.begin():
        for approval in session.scalars(select(Approval).where(Approval.state == ApprovalState.requested).order_by(Approval.id)):
            approval.state, approval.decided_by = ApprovalState.approved, "gm"
            execution.carry_out(session, approval, COMPANY, day)


def test_the_batch_queues_what_one_action_at_a_time_queues_byte_for_byte(tmp_path, sqlite_template):
    bulk, single = _copy(sqlite_template, tmp_path / "bulk.db"), _copy(sqlite_template, tmp_path / "single.db")
    try:
        for engine, name in ((bulk, "bulk"), (single, "single")):
            with Session(engine) as session, session.begin():
                load_demo(session, tmp_path / f"demo-{name}", customers=24, as_of=DEMO_AS_OF)
                contact = session.scalars(select(Contact).where(Contact.is_primary).order_by(Contact.customer_id)).first()
                bounces.mark_bounced(session, contact.customer_id, contact.email, on=DEMO_AS_OF, company=COMPANY, as_of=DEMO_AS_OF)
                owing = [c for c in sorted(session.scalars(select(Customer.customer_id))) if records.open_amounts(session, c, DEMO_AS_OF)]
                for customer_id in owing[:: max(1, len(owing) // 6)]:  # two promises made the same day: the first recorded is the one quoted
                    for amount in ("1.00", "2.00"):
                        records.record_promise(session, customer_id, amount=Decimal(amount), by=DEMO_AS_OF + dt.timedelta(days=40), on=DEMO_AS_OF)
        with Session(bulk) as session:
            ids = sorted(session.scalars(select(Customer.customer_id)))
        results = []
        for day in DAYS:
            results.append((day, collect(bulk, ids[:10], day, POLICY, COMPANY), collect(bulk, ids[10:], day, POLICY, COMPANY)))
            _one_at_a_time(single, day)
            _approve_all(bulk, day)
            _approve_all(single, day)
        got, expected = _ledger_state(bulk), _ledger_state(single)
        assert got["outbox"] == expected["outbox"]
        assert {k: v for k, v in got.items() if k != "outbox"} == {k: v for k, v in expected.items() if k != "outbox"}
        # What the test is meant to exercise: many emails, letters (PDFs), internal notices, a held letter or email, approvals, locks.
        kinds = {row.key.split(":")[1] for row in got["outbox"]}
        assert len(got["outbox"]) > 60 and any(row.attachment for row in got["outbox"]), kinds
        assert any(":to:" in row.key for row in got["outbox"]) and any(bounces.NOTICE in row.key for row in got["outbox"])
        assert got["approvals"] and any(status.locked_on for status in got["customers"])
        assert not [a for _day, *parts in results for part in parts for a in part.failed]
        # The next action dates come from the facts read once (and again only for accounts whose facts the day changed).
        day, first, second = results[-1]
        with Session(bulk) as session:
            from huikuan.ledger.context import calendars_of

            calendars = calendars_of(COMPANY)
            fresh = {f.customer_id: next_action_day(f, day, 120, POLICY, calendars.calendar(country)) for f, country in load_facts(session)}
        assert {a.customer_id: a.next_action_on for a in first.accounts + second.accounts} == fresh
    finally:
        bulk.dispose()
        single.dispose()


DAY = dt.date(2026, 10, 12)  # each customer's invoice (due 10-01) is 11 days late: one follow-up email each, due today


def _many(n: int) -> dict[str, str]:
    customers = "".join(f"C{i:02},客户{i},c{i}@example.cn,{i},联系人{i}\n" for i in range(n))
    invoices = "".join(f"I{i:02},C{i:02},2026-09-01,2026-10-01,{800 + i}.00\n" for i in range(n))
    return {"customers": "customer_id,name,email,phone,contact_name\n" + customers, "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n" + invoices}


def _statements_of(engine, ids: list[str]) -> tuple[int, list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, _parameters, _context, _executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        result = collect(engine, ids, DAY, POLICY, COMPANY)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert not result.failed and result.taken == len(ids)
    return len(seen), seen


def test_a_batch_sends_a_few_statements_per_customer_not_a_read_for_every_document(tmp_path, sqlite_engine):
    with Session(sqlite_engine) as session, session.begin():
        import_files(session, write_files(tmp_path, _many(24)))
    with Session(sqlite_engine) as session:
        assert all(len(actions) == 1 for actions in _due(sqlite_engine, DAY).values()) and len(plan(session, DAY, POLICY)) == 24
    ids = [f"C{i:02}" for i in range(24)]
    small, _ = _statements_of(sqlite_engine, ids[:4])
    large, statements = _statements_of(sqlite_engine, ids[4:])
    per_customer = (large - small) / 16
    # The action's row and its email, each inserted once: no read of the key first, no read per document (open amounts,
    # invoices, contacts, last contact, promise), no read for a bounce or a held message.
    assert per_customer <= 2, (per_customer, statements)
    assert small <= 40, statements  # the batch's own reads: the facts, the customers with their contacts, the last contacts


@pytest.mark.parametrize("which", [0, 1])
def test_a_key_taken_by_another_run_is_refused_by_its_constraint_and_the_rest_is_taken(tmp_path, ledger_engine, which):
    with Session(ledger_engine) as session, session.begin():
        import_files(session, write_files(tmp_path, _many(3)))
    taken_before = _due(ledger_engine, DAY)["C01"][0]
    with Session(ledger_engine) as session, session.begin():  # what a concurrent run of the day committed first
        if which:
            execution.take_action(session, taken_before, company=COMPANY, as_of=DAY)
        else:
            session.add(
                ActionTaken(
                    key=taken_before.key,
                    customer_id="C01",
                    action=taken_before.action,
                    due_on=DAY,
                    channel="email",
                    role="collector",
                    invoices="",
                    state=ActionState.done,
                    detail="",
                    finished_at=execution.now(),
                )
            )
    result = collect(ledger_engine, ["C00", "C01", "C02"], DAY, POLICY, COMPANY)
    assert result.failed == [] and sorted(k for a in result.accounts for k in a.taken) == ["C00:follow_up:2026-10-12", "C02:follow_up:2026-10-12"]
    again = collect(ledger_engine, ["C00", "C01", "C02"], DAY, POLICY, COMPANY)
    assert again.failed == [] and again.taken == 0
    with Session(ledger_engine) as session:
        keys = sorted(session.scalars(select(OutboxMessage.key)))
    assert keys == ["C00:follow_up:2026-10-12:email", *(["C01:follow_up:2026-10-12:email"] if which else []), "C02:follow_up:2026-10-12:email"]
