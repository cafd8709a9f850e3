"""The facts read from raw rows are the typed columns' facts, to the exponent (``huikuan.ledger.facts``, issue #18).

On SQLite and on PostgreSQL: amounts with many digits, zero and negative, NULL dates, ids
that are not ASCII, read by range and by ``IN``; amounts converted as the ``Money`` column converts them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from decimal import Decimal

import pytest
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from huikuan.ledger.facts import _money_of_cents, _money_of_numeric, load_facts
from huikuan.ledger.importer import import_files
from huikuan.ledger.records import open_dispute, record_instalment_plan, record_promise, resolve_dispute
from models.base import Money
from models.enums import CustomerStatus
from models.ledger import Customer, EventTaken, Invoice, Statement
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
M = Decimal
ODD_IDS = ["C-001", "C-002", "Ö-3", "客户-4", "客户-10", "Z9", "a-lower", "C-0001"]


def _files(extra_customers: int = 0) -> dict[str, str]:
    ids = ODD_IDS + [f"K{n:03d}" for n in range(extra_customers)]
    customers = "customer_id,name,email,phone,contact_name,settlement,segment,country\n" + "".join(
        f"{cid},名{n},m{n}@x.cn,{n},王,{('monthly_statement', 'per_receipt', 'per_invoice')[n % 3]},{('key', 'ordinary', 'high_risk', 'small')[n % 4]},"
        f"{('CN', 'US', 'DE')[n % 3]}\n"
        for n, cid in enumerate(ids)
    )
    invoices = "invoice_id,customer_id,issued_on,due_on,amount\n" + "".join(
        f"发票-{n}-{k},{cid},2026-0{6 + k}-0{1 + n % 9},2026-0{7 + k}-0{1 + n % 9},{amount}\n"
        for n, cid in enumerate(ids)
        for k, amount in enumerate(("9999999999999999.99", "0.01", f"{1000 + n}.50"))
    )
    payments = "payment_id,customer_id,received_on,amount,invoice_id\n" + "".join(
        f"P{n},{cid},2026-08-1{n % 9},123.45,发票-{n}-2\n" for n, cid in enumerate(ids) if n % 2
    )
    charges = "charge_id,customer_id,delivered_on,amount,receipt_received_on\n" + "".join(
        f"H{n},{cid},2026-10-0{1 + n % 9},10.00,{'2026-10-20' if n % 4 else ''}\n" for n, cid in enumerate(ids) if n % 3 != 2
    )
    return {"customers": customers, "invoices": invoices, "payments": payments, "charges": charges}


@pytest.fixture
def odd_ledger(tmp_path, session):
    import_files(session, write_files(tmp_path, _files()))
    record_promise(session, "客户-4", amount=M("0.01"), by=D(2026, 10, 20), on=D(2026, 10, 8), invoices=["发票-3-1"])
    open_dispute(session, "发票-2-0", reason="数量不符", on=D(2026, 9, 20))
    open_dispute(session, "发票-2-1", reason="质量", on=D(2026, 9, 2))
    resolve_dispute(session, "发票-2-1", on=D(2026, 10, 9), resolution="credit note")
    record_instalment_plan(session, "Z9", instalments=[(D(2026, 12, 15), M("1.05")), (D(2026, 11, 15), M("99999.99"))], on=D(2026, 11, 2))
    session.add(Statement(customer_id="C-001", month="2026-09", amount=M("-12.30"), prepared_on=D(2026, 10, 8), sent_on=None))
    session.add(EventTaken(event_key="Ö-3:resume:发票-2-1:dispute", customer_id="Ö-3", action_key="Ö-3:resume", taken_on=D(2026, 10, 9)))
    session.execute(update(Invoice).where(Invoice.invoice_id == "发票-5-2").values(amount=M("-0.07")))  # a credit
    session.execute(update(Invoice).where(Invoice.invoice_id == "发票-6-2").values(amount=M("0.00")))
    session.execute(
        update(Customer).where(Customer.customer_id == "a-lower").values(status=CustomerStatus.locked, locked_on=D(2026, 9, 1), lock_invoices="发票-7-0;")
    )
    session.execute(update(Customer).where(Customer.customer_id == "客户-10").values(standing_since=D(2026, 8, 1), standing_invoices="发票-4-0;发票-4-1"))
    session.commit()
    return session


def typed(value):
    """``value`` with every type spelled out: Decimals by sign, digits and exponent, sets sorted, dicts in their order."""
    if isinstance(value, Decimal):
        return ("Decimal", value.as_tuple())
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.value)
    if dataclasses.is_dataclass(value):
        return (type(value).__name__, tuple((f.name, typed(getattr(value, f.name))) for f in dataclasses.fields(value)))
    if isinstance(value, frozenset):
        return ("frozenset", tuple(sorted(typed(x) for x in value)))
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(typed(x) for x in value))
    if isinstance(value, dict):
        return ("dict", tuple((typed(k), typed(x)) for k, x in value.items()))
    return (type(value).__name__, value)


def test_the_raw_reader_gives_the_typed_columns_values(odd_ledger):
    read = {f.customer_id: (f, country) for f, country in load_facts(odd_ledger, batch=3)}
    assert list(read) == sorted(ODD_IDS)
    big = read["C-001"][0].invoices
    assert [typed(i.amount) for i in big] == [typed(M("9999999999999999.99")), typed(M("0.01")), typed(M("1000.50"))]
    assert typed(read["C-002"][0].invoices[2].payments) == typed(((D(2026, 8, 11), M("123.45")),))
    assert typed(read["Z9"][0].invoices[2].amount) == typed(M("-0.07"))
    assert typed(read["a-lower"][0].invoices[2].amount) == typed(M("0.00"))
    assert typed(read["客户-4"][0].promises[0].amount) == typed(M("0.01")) and read["客户-4"][0].promises[0].invoice_ids == frozenset({"发票-3-1"})
    assert read["Ö-3"][0].invoices[0].disputes == ((D(2026, 9, 20), None),)
    assert read["Ö-3"][0].invoices[1].disputes == ((D(2026, 9, 2), D(2026, 10, 9)),)
    assert read["Ö-3"][0].events_taken == {"Ö-3:resume:发票-2-1:dispute": D(2026, 10, 9)}
    assert typed(read["Z9"][0].instalment_plans[0].instalments) == typed(((D(2026, 11, 15), M("99999.99")), (D(2026, 12, 15), M("1.05"))))
    locked = read["a-lower"][0]
    assert (locked.status, locked.locked_on, locked.lock_invoices, locked.standing_since) == (
        CustomerStatus.locked,
        D(2026, 9, 1),
        frozenset({"发票-7-0"}),
        None,
    )
    assert type(locked.status) is CustomerStatus and type(locked.segment).__name__ == "Segment" and type(locked.settlement).__name__ == "Settlement"
    assert read["客户-10"][0].standing_invoices == frozenset({"发票-4-0", "发票-4-1"})
    c1 = read["C-001"][0]
    assert c1.statements[0].month == "2026-09" and c1.statements[0].reached == {"prepared": D(2026, 10, 8)}
    every = list(read.values())
    assert typed(every) == typed([next(load_facts(odd_ledger, only=[cid])) for cid in read])  # by range and by IN alike
    assert typed(every) == typed(list(load_facts(odd_ledger)))


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"])
def test_amounts_are_read_as_the_money_column_reads_them(dialect):
    money = Money()
    raws = [0, 1, -1, 7, 100, -1230, 999_999_999_999_999_999, -999_999_999_999_999_999, 12345]
    if dialect.name == "sqlite":
        convert = _money_of_cents
    else:
        convert = _money_of_numeric
        raws = [M("0"), M("0.00"), M("1.5"), M("-12.30"), M("9999999999999999.99"), M("1E+2"), M("0.001"), 3]
    for raw in [*raws, None]:
        expected = money.process_result_value(raw, dialect)
        assert typed(convert(raw)) == typed(expected), raw
