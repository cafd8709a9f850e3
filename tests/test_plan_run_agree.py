"""Plan and run agree, day after day: what `plan` shows for a day is exactly what the daily run takes that day.

A differential test over a generated ledger that cannot drift from the product:
for every day from 2026-08-01 to 2027-12-31 the action keys of
``plan(session, day, policy, calendars=calendars_of(company))`` equal the keys of
the ``ActionTaken`` rows dated that day after ``collect(engine, all_ids, day,
policy, company)`` (what each batch task of the daily run does), every account
of the run ends without an error, and no action falls on a day off. The days off
are worked out here, from the test's own data and independently of
``models.calendar``: Saturdays and Sundays except the declared make-up working
days, the declared 2027 holidays, the company's closing days, and for 2026 the
official schedule of ``chinese_calendar``.

The ledger is generated from a fixed ``random.Random(seed)``: 16 customers over
the segments (ordinary, key, high_risk, small), two thirds settled by monthly
statement and one third per invoice, some with a credit limit; an invoice a
month from 2026-05 to 2027-10 (due 30 days after issue), and for the
monthly-statement customers one to three deliveries (charges) a month so that
the statement cycle runs. All of it goes in through the real importer
(``huikuan.ledger.importer.import_files``, CSV files), with the payments recorded
before the first day. Each customer has a payer profile (prompt, late,
promiser, disputer, very late, defaulter) that gives each invoice its fate:
paid on time, late (sometimes in two parts), very late (after the
stop-shipment, so that the lock is lifted), never, under a promise kept or
broken, or disputed and resolved. From the fates comes a schedule of events,
each *recorded* on a day of its own, before that day's run, with the CLI's
functions (``huikuan.ledger.records``): payments recorded 0-6 days after they were
received (backdated), promises recorded up to 2 days after they were made,
disputes opened and resolved with the resolution recorded 1-5 days late,
statement confirmations and issued invoices recorded up to 8 days late. Every
approval request (stop-shipment, letters, statement reviews, ...) is approved
the day after it was made, as the approver would, and carried out
(``huikuan.collection.execution.carry_out``): accounts are locked, letters and statements
go out, and a paid lock is lifted by the run.

Both built-in policies, ``handbook`` and ``credit``; the test also checks that
the run did what it is meant to exercise: many actions, a lock lifted
(handbook), a credit limit cut after a stopped customer paid, never twice for
the same payment (credit), letters, event-triggered steps (``events_taken``)
and steps brought by an event recorded after its own date.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import chinese_calendar
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huikuan.collection import execution
from huikuan.collection.batch import collect
from huikuan.ledger import records
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.context import calendars_of
from huikuan.ledger.importer import import_files
from huikuan.ledger.settings import get_settings
from huikuan.reports.planning import plan
from models.enums import ApprovalState, StatementState
from models.ledger import ActionTaken, Approval, Customer, EventTaken, OutboxMessage, Statement
from models.policy import load_policy

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

SEED = 20260801
START, END = dt.date(2026, 8, 1), dt.date(2027, 12, 31)
ONE_DAY = dt.timedelta(days=1)


def _days(first: str, last: str) -> list[dt.date]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


# The company's own closing days (two Mondays and a Thursday) and the 2027 schedule it declares.
CLOSED_DAYS = frozenset(dt.date.fromisoformat(d) for d in ("2026-10-12", "2026-12-31", "2027-03-15"))
HOLIDAYS_2027 = frozenset(
    [
        dt.date(2027, 1, 1),
        *_days("2027-02-05", "2027-02-11"),
        dt.date(2027, 4, 5),
        *_days("2027-05-01", "2027-05-05"),
        dt.date(2027, 6, 9),
        dt.date(2027, 9, 15),
        *_days("2027-10-01", "2027-10-07"),
    ]
)
WORKDAYS_2027 = frozenset(dt.date.fromisoformat(d) for d in ("2027-02-20", "2027-09-26", "2027-10-09"))  # Sat, Sun, Sat


def _yaml_dates(days) -> str:
    return "[" + ", ".join(d.isoformat() for d in sorted(days)) + "]"


COMPANY = parse_company(
    EXAMPLE
    + "calendar:\n"
    + f"  closed_days: {_yaml_dates(CLOSED_DAYS)}\n"
    + "  CN:\n    2027:\n"
    + f"      holidays: {_yaml_dates(HOLIDAYS_2027)}\n"
    + f"      workdays: {_yaml_dates(WORKDAYS_2027)}\n"
)


def is_day_off(day: dt.date) -> bool:
    """The test's own answer, from its own data (not from models.calendar)."""
    if day in CLOSED_DAYS:
        return True
    if day.year == 2026:
        return chinese_calendar.is_holiday(day)  # weekends and official holidays, make-up working days excluded
    assert day.year == 2027, day
    if day in HOLIDAYS_2027:
        return True
    return day.weekday() >= 5 and day not in WORKDAYS_2027


def test_the_calendar_data_of_the_test_is_what_it_says():
    assert all(d.weekday() >= 5 for d in WORKDAYS_2027) and not WORKDAYS_2027 & HOLIDAYS_2027
    assert COMPANY.calendar is not None and sorted(COMPANY.calendar.closed_days) == sorted(CLOSED_DAYS)
    assert all(not is_day_off(d) for d in WORKDAYS_2027) and all(is_day_off(d) for d in CLOSED_DAYS | HOLIDAYS_2027)
    assert not chinese_calendar.is_holiday(dt.date(2026, 10, 12))  # a closing day, not an official holiday


# -- the generated ledger ---------------------------------------------------------------

SEGMENTS = ("ordinary", "key", "high_risk", "small")
PROFILES = ("prompt", "late", "promiser", "disputer", "very_late", "late", "promiser", "very_late", "disputer", "prompt", "late", "defaulter")
FATES = {  # fate -> weight, per payer profile
    "prompt": {"on_time": 85, "late": 15},
    "late": {"late": 55, "partial_late": 25, "promise_kept": 10, "on_time": 10},
    "promiser": {"promise_kept": 40, "promise_broken": 40, "late": 20},
    "disputer": {"dispute": 40, "late": 40, "on_time": 20},
    "very_late": {"very_late": 70, "late": 30},
    "defaulter": {"never": 80, "very_late": 20},
}
MONTHS = [f"{y}-{m:02d}" for y, m in [(2026, m) for m in range(5, 13)] + [(2027, m) for m in range(1, 11)]]


@dataclass(order=True)
class Event:
    """Something that happened, recorded on ``recorded`` (on or after the day it happened)."""

    recorded: dt.date
    seq: int
    kind: str = field(compare=False)
    data: dict = field(compare=False)


@dataclass
class Ledger:
    files: dict[str, str]
    events: list[Event]
    customer_ids: list[str]
    profiles: dict[str, str]


def _month_day(month: str, months_later: int, day: int) -> dt.date:
    year, mon = (int(p) for p in month.split("-"))
    index = year * 12 + mon - 1 + months_later
    return dt.date(index // 12, index % 12 + 1, day)


def generate(seed: int, customers: int = 16) -> Ledger:
    rng = random.Random(seed)
    events: list[Event] = []
    seq = iter(range(10**9))

    def event(recorded: dt.date, kind: str, **data) -> None:
        events.append(Event(recorded, next(seq), kind, data))

    def pay(pid: str, cid: str, iid: str, amount: Decimal, received: dt.date) -> None:
        event(received + dt.timedelta(days=rng.randint(0, 6)), "payment", payment_id=pid, customer_id=cid, invoice_id=iid, amount=amount, received_on=received)

    customer_rows = ["customer_id,name,email,phone,contact_name,settlement,segment,credit_limit"]
    invoice_rows = ["invoice_id,customer_id,issued_on,due_on,amount"]
    charge_rows = ["charge_id,customer_id,delivered_on,amount,description"]
    ids, profiles = [], {}
    for n in range(1, customers + 1):
        cid = f"K{n:03d}"
        ids.append(cid)
        segment = SEGMENTS[n % len(SEGMENTS)]
        settlement = "per_invoice" if n % 3 == 0 else "monthly_statement"
        profile = profiles[cid] = PROFILES[n % len(PROFILES)]
        limit = f"{rng.choice([50000, 80000, 120000])}.00" if n % 2 else ""
        customer_rows.append(f"{cid},客户{n:03d}有限公司,{cid.lower()}@example.cn,138{n:08d},联系人{n},{settlement},{segment},{limit}")
        fates, weights = zip(*FATES[profile].items())
        for month in MONTHS:
            iid = f"{cid}-{month}"
            issued = _month_day(month, 0, rng.randint(1, 28))
            due = issued + dt.timedelta(days=30)
            amount = Decimal(rng.randint(2000, 60000)) + Decimal(rng.randint(0, 99)) / 100
            invoice_rows.append(f"{iid},{cid},{issued},{due},{amount}")
            if settlement == "monthly_statement":
                for k in range(rng.randint(1, 3)):
                    delivered = _month_day(month, 0, rng.randint(1, 28))
                    charge_rows.append(f"{iid}-D{k},{cid},{delivered},{Decimal(rng.randint(500, 20000))}.00,delivery {k + 1}")
                _statement_events(rng, event, cid, month)
            fate = rng.choices(fates, weights)[0]
            if fate == "on_time":
                pay(f"{iid}-P", cid, iid, amount, due + dt.timedelta(days=rng.randint(-6, 3)))
            elif fate in ("late", "partial_late"):
                received = due + dt.timedelta(days=rng.randint(8, 55))
                if fate == "partial_late":
                    first = (amount * Decimal("0.4")).quantize(Decimal("0.01"))
                    pay(f"{iid}-P1", cid, iid, first, due + dt.timedelta(days=rng.randint(1, 7)))
                    pay(f"{iid}-P2", cid, iid, amount - first, received)
                else:
                    pay(f"{iid}-P", cid, iid, amount, received)
            elif fate == "very_late":
                pay(f"{iid}-P", cid, iid, amount, due + dt.timedelta(days=rng.randint(95, 150)))
            elif fate in ("promise_kept", "promise_broken"):
                made = due + dt.timedelta(days=rng.randint(3, 20))
                by = made + dt.timedelta(days=rng.randint(5, 15))
                event(made + dt.timedelta(days=rng.randint(0, 2)), "promise", customer_id=cid, invoice_id=iid, amount=amount, by=by, on=made)
                if fate == "promise_kept":
                    pay(f"{iid}-P", cid, iid, amount, made + dt.timedelta(days=rng.randint(1, (by - made).days)))
                elif rng.random() < 0.8:
                    pay(f"{iid}-P", cid, iid, amount, by + dt.timedelta(days=rng.randint(5, 40)))
            elif fate == "dispute":
                opened = due + dt.timedelta(days=rng.randint(2, 25))
                resolved = opened + dt.timedelta(days=rng.randint(8, 40))
                event(opened + dt.timedelta(days=rng.randint(0, 3)), "dispute_open", invoice_id=iid, on=opened)
                event(resolved + dt.timedelta(days=rng.randint(1, 5)), "dispute_resolve", invoice_id=iid, on=resolved)
                if rng.random() < 0.8:
                    pay(f"{iid}-P", cid, iid, amount, resolved + dt.timedelta(days=rng.randint(3, 30)))
            else:
                assert fate == "never", fate
    files = {"customers": "\n".join(customer_rows) + "\n", "invoices": "\n".join(invoice_rows) + "\n", "charges": "\n".join(charge_rows) + "\n"}
    return Ledger(files, sorted(events), ids, profiles)


def _statement_events(rng: random.Random, event, cid: str, month: str) -> None:
    """The customer confirms the month's statement (usually by the 20th of the next month, sometimes late, sometimes never)."""
    draw = rng.random()
    if draw < 0.15:
        return
    confirmed = _month_day(month, 1, rng.randint(10, 27)) if draw < 0.8 else _month_day(month, 2, rng.randint(1, 15))
    confirm_recorded = confirmed + dt.timedelta(days=rng.randint(0, 8))
    event(confirm_recorded, "confirm", customer_id=cid, month=month, on=confirmed)
    if rng.random() < 0.5:
        invoiced = confirmed + dt.timedelta(days=rng.randint(3, 12))
        event(max(invoiced + dt.timedelta(days=rng.randint(0, 3)), confirm_recorded), "invoiced", customer_id=cid, month=month, on=invoiced)


def _statement(session: Session, customer_id: str, month: str) -> Statement | None:
    return session.scalar(select(Statement).where(Statement.customer_id == customer_id, Statement.month == month))


def _confirmable_on(session: Session, event: Event) -> dt.date | None:
    """The day the customer's confirmation counts from: a statement is confirmed only once it was sent.

    A month before the run's first day had its statement sent before huikuan took the
    ledger over (prepared on the 5th, sent on the 8th: history, written here). A month
    of the run has it sent by the cycle once the supervisor approved; a confirmation
    dated before that counts from the day it was sent, and none is recorded for a
    statement not sent by the day the confirmation is recorded.
    """
    d = event.data
    statement = _statement(session, d["customer_id"], d["month"])
    if statement is None and event.recorded < START:
        statement = execution.prepare_statement(session, session.get(Customer, d["customer_id"]), d["month"], _month_day(d["month"], 1, 5))
        statement.reviewed_on = statement.sent_on = _month_day(d["month"], 1, 8)
        statement.state = StatementState.sent
    if statement is None or statement.sent_on is None or statement.sent_on > event.recorded:
        return None
    return max(d["on"], statement.sent_on)


def record(session: Session, event: Event) -> None:
    """Record one event with the function the CLI uses for it."""
    d = event.data
    if event.kind == "payment":
        records.record_payment(session, d["payment_id"], d["customer_id"], amount=d["amount"], received_on=d["received_on"], invoice_id=d["invoice_id"])
    elif event.kind == "promise":
        records.record_promise(session, d["customer_id"], amount=d["amount"], by=d["by"], on=d["on"], invoices=[d["invoice_id"]])
    elif event.kind == "dispute_open":
        records.open_dispute(session, d["invoice_id"], reason="数量与送货单不符", on=d["on"])
    elif event.kind == "dispute_resolve":
        records.resolve_dispute(session, d["invoice_id"], on=d["on"], resolution="补发送货单")
    elif event.kind == "confirm":
        on = _confirmable_on(session, event)
        if on is not None:
            records.confirm_statement(
                session, d["customer_id"], month=d["month"], invoice_title=f"{d['customer_id']} 有限公司", tax_id="91310000MA1FL0000N", on=on
            )
    elif event.kind == "invoiced":
        statement = _statement(session, d["customer_id"], d["month"])
        if statement is None or statement.confirmed_on is None:
            return  # never confirmed (see `_confirmable_on`): nothing to invoice
        records.record_invoice_issued(session, d["customer_id"], month=d["month"], on=d["on"], tracking_no=f"SF{d['customer_id']}{d['month'].replace('-', '')}")
    else:
        raise AssertionError(event.kind)


def approve_open_requests(session: Session, day: dt.date) -> int:
    """Every request made before ``day`` is approved on ``day`` by its approver and carried out."""
    waiting = session.scalars(select(Approval).where(Approval.state == ApprovalState.requested, Approval.requested_on < day).order_by(Approval.id)).all()
    for approval in waiting:
        approval.state = ApprovalState.approved
        approval.decided_by = COMPANY.first_with_role(approval.approver_role).id
        approval.decided_at = execution.now()
        execution.carry_out(session, approval, COMPANY, day)
    session.flush()
    return len(waiting)


@pytest.fixture
def no_environment_closing_days(monkeypatch):
    """The days off are the company file's alone (HUIKUAN_CLOSED_DAYS would add to them)."""
    monkeypatch.delenv("HUIKUAN_CLOSED_DAYS", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("policy_name", ["handbook", "credit"])
def test_plan_shows_each_day_what_the_run_takes_that_day(policy_name, ledger_engine, tmp_path, no_environment_closing_days):
    engine = ledger_engine
    policy = load_policy(policy_name)
    ledger = generate(SEED)
    started = time.monotonic()

    before = [e for e in ledger.events if e.recorded < START]
    payments = ["payment_id,customer_id,received_on,amount,invoice_id"] + [
        f"{e.data['payment_id']},{e.data['customer_id']},{e.data['received_on']},{e.data['amount']},{e.data['invoice_id']}"
        for e in before
        if e.kind == "payment"
    ]
    paths = {}
    for kind, text in {**ledger.files, "payments": "\n".join(payments) + "\n"}.items():
        paths[kind] = tmp_path / f"{kind}.csv"
        paths[kind].write_text(text, encoding="utf-8")
    with Session(engine) as session, session.begin():
        import_files(session, paths)
        for e in before:
            if e.kind != "payment":
                record(session, e)
    by_day: dict[dt.date, list[Event]] = defaultdict(list)
    for e in ledger.events:
        if START <= e.recorded <= END:
            by_day[e.recorded].append(e)

    calendars = calendars_of(COMPANY)
    mismatches: list[str] = []
    failures: list[str] = []  # accounts the run could not collect (each account's ``error``)
    approved = 0
    day = START
    while day <= END:
        with Session(engine) as session, session.begin():
            approved += approve_open_requests(session, day)
            for e in by_day.get(day, ()):
                record(session, e)
        with Session(engine) as session:
            planned = sorted(a.key for a in plan(session, day, policy, calendars=calendars))
        result = collect(engine, ledger.customer_ids, day, policy, COMPANY)
        failures += [f"{day}: {a.customer_id}: {a.error}" for a in result.accounts if a.error is not None]
        with Session(engine) as session:
            taken = sorted(session.scalars(select(ActionTaken.key).where(ActionTaken.due_on == day)))
        if planned != taken:
            mismatches.append(f"{day}: planned only {sorted(set(planned) - set(taken))}, taken only {sorted(set(taken) - set(planned))}")
        day += ONE_DAY
    with Session(engine) as session:
        rows = session.execute(
            select(ActionTaken.key, ActionTaken.action, ActionTaken.due_on, ActionTaken.channel, ActionTaken.invoices, ActionTaken.detail)
        ).all()
        events_taken = session.scalar(select(func.count()).select_from(EventTaken))
        letters_sent = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.attachment_name.is_not(None)))
    kinds = Counter(r.action for r in rows)
    print(
        f"{policy_name}/{engine.dialect.name}: {len(rows)} actions, {approved} approvals, {events_taken} events taken, "
        f"{time.monotonic() - started:.0f} s; {dict(sorted(kinds.items()))}"
    )
    on_days_off = sorted(r.key for r in rows if is_day_off(r.due_on))
    assert not on_days_off, f"actions on days off: {on_days_off[:20]}"
    # Each account's error is None, and what plan showed is what the run took, every day.
    assert not (failures or mismatches), (
        f"plan and run disagree on {len(mismatches)} day(s){f', first on {mismatches[0][:10]}' if mismatches else ''}:\n"
        + "\n".join(mismatches[:20])
        + f"\nthe run failed for an account on {len(failures)} day(s):\n"
        + "\n".join(failures[:20])
    )

    assert len(rows) >= 1000, f"only {len(rows)} actions: the ledger does not exercise the run"
    assert approved >= 20
    assert events_taken >= 1, "no event-triggered step was taken"
    assert any(re.search("recorded (after|late)", r.detail or "") for r in rows), "no step brought by an event recorded after its own date"
    assert any(r.channel == "letter" for r in rows) and letters_sent >= 1, "no letter was taken and sent"
    if policy_name == "handbook":
        assert kinds["lift_lock"] >= 1 and kinds["stop_shipment"] >= 1
        assert {"prepare_statement", "send_statement", "statement_follow_up", "issue_invoice", "dunning_letter", "statement_letter"} <= set(kinds)
    else:
        assert kinds["stop_credit"] >= 1 and kinds["cut_credit_limit"] >= 1
        cut = Counter(i for r in rows if r.action == "cut_credit_limit" for i in r.invoices.split(";") if i)
        assert max(cut.values()) == 1, f"a credit limit cut twice for the same payment: {[i for i, n in cut.items() if n > 1]}"
