"""load_facts reads a batch by a range of the sorted ids and gives the same facts, whatever the batch size; iter_plan streams plan's order."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event, update

from huikuan.ledger.facts import load_facts
from huikuan.ledger.importer import import_files
from huikuan.ledger.records import open_dispute, record_instalment_plan, record_promise, resolve_dispute
from huikuan.reports.planning import iter_plan, plan
from models.engine import Action, InstalmentPlanFacts, InvoiceFacts, PromiseFacts, StatementFacts
from models.enums import CustomerStatus
from models.ledger import ActionTaken, Customer, EventTaken, OutboxMessage, Statement
from models.limitation import LegalEvent, Restart
from models.policy import load_policy
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
M = Decimal
# Ids chosen so that sorting them is not their order in the file: "C10" sorts before "C2".
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,settlement,segment,country\n"
    "C2,恒达,c@d.cn,2,李,per_receipt,key,CN\nC1,华信,a@b.cn,1,王,monthly_statement,ordinary,CN\nC3,远洋,e@f.cn,3,陈,per_invoice,ordinary,US\n"
    "C10,十号,g@h.cn,4,赵,per_invoice,high_risk,DE\nC4,四海,i@j.cn,5,钱,per_invoice,small,CN\nC5,五岳,k@l.cn,6,孙,monthly_statement,ordinary,CN\n"
    "C6,六合,m@n.cn,7,周,per_invoice,ordinary,CN\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "I1,C1,2026-08-11,2026-09-10,1000.00\nI2,C1,2026-08-12,2026-09-12,200.00\nI3,C2,2026-08-11,2026-09-10,300.00\nI4,C3,2026-08-11,2026-09-10,50.00\n"
    "I5,C10,2026-07-01,2026-08-01,12345.67\nI6,C10,2026-07-01,2026-08-01,0.01\nI7,C4,2026-09-01,2026-10-01,800.00\nI8,C5,2026-08-20,2026-09-20,99.99\n"
    "I9,C6,2026-06-01,2026-07-01,5000.00\n",
    "payments": "payment_id,customer_id,received_on,amount,invoice_id\n"
    "P1,C1,2026-09-16,400.00,I1\nP2,C3,2026-09-09,50.00,I4\nP3,C10,2026-08-20,345.67,I5\nP4,C10,2026-08-10,1000.00,I5\n",
    "charges": "charge_id,customer_id,delivered_on,amount,receipt_received_on\n"
    "H1,C2,2026-10-03,10.00,2026-10-09\nH2,C2,2026-10-20,10.00,2026-11-02\nH3,C1,2026-10-21,99.00,\nH4,C5,2026-09-05,5.00,2026-09-30\n",
}
SENT = dt.datetime(2026, 10, 5, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


@pytest.fixture
def ledger(tmp_path, session):
    import_files(session, write_files(tmp_path, FILES))
    record_promise(session, "C1", amount=M("200.00"), by=D(2026, 10, 20), on=D(2026, 10, 8), invoices=["I2"])
    record_promise(session, "C10", amount=M("5000.00"), by=D(2026, 9, 30), on=D(2026, 9, 1))
    open_dispute(session, "I3", reason="数量不符", on=D(2026, 9, 20))
    open_dispute(session, "I7", reason="质量", on=D(2026, 10, 2))
    resolve_dispute(session, "I7", on=D(2026, 10, 9), resolution="credit note")
    record_instalment_plan(session, "C6", instalments=[(D(2026, 12, 15), M("2500.00")), (D(2026, 11, 15), M("2500.00"))], on=D(2026, 11, 2))
    session.add(Statement(customer_id="C1", month="2026-09", amount=M("1200.00"), prepared_on=D(2026, 10, 8), sent_on=D(2026, 10, 9)))
    session.add(
        Statement(customer_id="C5", month="2026-08", amount=M("99.99"), prepared_on=D(2026, 9, 2), reviewed_on=D(2026, 9, 3), confirmed_on=D(2026, 9, 8))
    )
    session.add(EventTaken(event_key="C4:resume:I7:dispute:2026-10-09", customer_id="C4", action_key="C4:resume:2026-10-09", taken_on=D(2026, 10, 9)))
    session.add(
        ActionTaken(
            key="C10:follow_up:2026-10-05", customer_id="C10", action="follow_up", due_on=D(2026, 10, 5), channel="email", role="collector", invoices="I5;I6"
        )
    )
    session.add(OutboxMessage(key="C10:follow_up:2026-10-05:email", customer_id="C10", to_address="g@h.cn", to_name="赵", subject="s", text="t", sent_at=SENT))
    session.execute(update(Customer).where(Customer.customer_id == "C3").values(status=CustomerStatus.locked, locked_on=D(2026, 9, 1)))
    session.execute(update(Customer).where(Customer.customer_id == "C10").values(lock_invoices="I5;I6", standing_since=D(2026, 8, 1), standing_invoices="I5"))
    session.commit()
    return session


def _by_id(session, **options) -> dict:
    return {facts.customer_id: (facts, country) for facts, country in load_facts(session, **options)}


@pytest.mark.parametrize("batch", [1, 2, 3, 2000])
def test_every_batch_size_reads_the_same_facts_in_id_order(ledger, batch):
    read = list(load_facts(ledger, batch=batch))
    assert [f.customer_id for f, _c in read] == ["C1", "C10", "C2", "C3", "C4", "C5", "C6"]
    assert read == list(load_facts(ledger, batch=7))
    one_by_one = [next(load_facts(ledger, only=[f.customer_id])) for f, _c in read]  # the IN path, one customer
    assert read == one_by_one
    assert read == list(load_facts(ledger, only=["C6", "C2", "C10", "C1", "C5", "C4", "C3"], batch=batch))


def test_the_facts_at_batch_edges_are_the_ledger_s(ledger):
    """batch=2: C1|C10, C2|C3, C4|C5, C6 alone; batch=3: C1 C10 C2|C3 C4 C5|C6: every customer is at an edge of one of them."""
    for batch in (2, 3):
        facts = _by_id(ledger, batch=batch)
        c1, country = facts["C1"]
        assert country == "CN"
        assert c1.invoices == (
            InvoiceFacts("I1", D(2026, 8, 11), D(2026, 9, 10), M("1000.00"), ((D(2026, 9, 16), M("400.00")),), (), None),
            InvoiceFacts("I2", D(2026, 8, 12), D(2026, 9, 12), M("200.00"), (), (), None),
        )
        assert c1.promises == (PromiseFacts(D(2026, 10, 8), D(2026, 10, 20), M("200.00"), frozenset({"I2"})),)
        assert c1.statements == (StatementFacts("2026-09", {"prepared": D(2026, 10, 8), "sent": D(2026, 10, 9)}, None), StatementFacts("2026-10", {}, None))
        c10, country = facts["C10"]
        assert country == "DE"
        assert c10.invoices[0] == InvoiceFacts(
            "I5", D(2026, 7, 1), D(2026, 8, 1), M("12345.67"), ((D(2026, 8, 10), M("1000.00")), (D(2026, 8, 20), M("345.67"))), (), None
        )
        assert c10.invoices[1].amount == M("0.01") and isinstance(c10.invoices[1].amount, Decimal)
        assert c10.promises == (
            PromiseFacts(D(2026, 9, 1), D(2026, 9, 30), M("5000.00"), frozenset({"I5", "I6"})),
        )  # a promise without invoices names the open ones
        assert (c10.lock_invoices, c10.standing_since, c10.standing_invoices) == (frozenset({"I5", "I6"}), D(2026, 8, 1), frozenset({"I5"}))
        assert c10.demands == (LegalEvent(D(2026, 10, 5), Restart.demand_delivered, "C10:follow_up:2026-10-05:email", frozenset({"I5", "I6"})),)
        c2, _ = facts["C2"]
        assert c2.invoices[0].disputes == ((D(2026, 9, 20), None),)
        assert c2.statements == (StatementFacts("2026-10", {}, D(2026, 11, 2)),)
        c3, country = facts["C3"]
        assert (country, c3.status, c3.locked_on) == ("US", CustomerStatus.locked, D(2026, 9, 1))
        assert c3.invoices[0].paid_in_full_on() == D(2026, 9, 9)
        c4, _ = facts["C4"]
        assert c4.invoices[0].disputes == ((D(2026, 10, 2), D(2026, 10, 9)),)
        assert c4.events_taken == {"C4:resume:I7:dispute:2026-10-09": D(2026, 10, 9)}
        c5, _ = facts["C5"]
        assert c5.statements == (
            StatementFacts("2026-08", {"prepared": D(2026, 9, 2), "reviewed": D(2026, 9, 3), "confirmed": D(2026, 9, 8)}, None),
            StatementFacts("2026-09", {}, D(2026, 9, 30)),
        )
        c6, _ = facts["C6"]
        assert c6.instalment_plans == (
            InstalmentPlanFacts(D(2026, 11, 2), frozenset({"I9"}), ((D(2026, 11, 15), M("2500.00")), (D(2026, 12, 15), M("2500.00")))),
        )
        assert (c6.promises, c6.statements, c6.demands, c6.events_taken) == ((), (), (), {})


def test_the_whole_ledger_is_read_by_ranges_and_only_by_in(ledger):
    statements: list[str] = []
    listen = lambda _conn, _cursor, sql, *_rest: statements.append(sql)  # noqa: E731
    event.listen(ledger.get_bind(), "before_cursor_execute", listen)
    try:
        list(load_facts(ledger, batch=3))
        ranged = list(statements)
        statements.clear()
        list(load_facts(ledger, only=["C2", "C3"]))
    finally:
        event.remove(ledger.get_bind(), "before_cursor_execute", listen)
    assert not any("customer_id IN" in s for s in ranged)
    assert sum("customer_id BETWEEN" in s for s in ranged) == len(ranged) - 1  # all but the ids' query
    # the ids too; PostgreSQL takes a batch's ids as one array parameter (a statement psycopg prepares once)
    by_ids = "customer_id = ANY" if ledger.get_bind().dialect.name == "postgresql" else "customer_id IN"
    assert not any("BETWEEN" in s for s in statements) and all(by_ids in s for s in statements[1:])
    assert "customer_id IN" in statements[0]  # the customers of ``only``, looked up


@pytest.mark.parametrize("day", [D(2026, 9, 14), D(2026, 10, 12), D(2026, 11, 5), D(2026, 11, 16)])
def test_iter_plan_is_plan_s_order_customer_by_customer(ledger, day):
    policy = load_policy()
    streamed = list(iter_plan(ledger, day, policy))
    assert streamed == sorted(streamed, key=Action.sort_key)
    assert streamed == plan(ledger, day, policy)
    assert [a.customer_id for a in streamed] == sorted(a.customer_id for a in streamed)
