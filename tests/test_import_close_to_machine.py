"""The import close to the machine (#18): few statements a chunk, rows written as Core would write them.

A chunk of rows costs a fixed handful of statements, each with a parameter or
two (the ids go as one list, not as an IN list of thousands of parameters); new
rows are written without asking the ledger for them first, the database's
conflict check standing in for the question. What is written, and every
problem found, stays what the row-by-row path gives.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import delete, event, func, insert, select

from huikuan.ledger.importer import ImportFailed, import_files
from models.import_rows import FILE_KINDS
from models.ledger import Charge, Contact, Customer, Invoice

CUSTOMERS = "customer_id,name,email,phone,contact_name,currency\n" + "".join(
    f"C{k:03d},客户{k},ap{k}@example.cn,138{k:08d},王{k},{'USD' if k % 5 == 0 else 'CNY'}\n" for k in range(40)
)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def invoices_csv(n: int, *, first: int = 0) -> str:
    """``n`` invoices; every third names its currency, the others take the customer's."""
    rows = []
    for k in range(first, first + n):
        issued = dt.date(2026, 1, 1) + dt.timedelta(days=k % 300)
        currency = "EUR" if k % 3 == 0 else ""
        rows.append(f"I{k:05d},C{k % 40:03d},{issued},{issued + dt.timedelta(days=30)},{k + 1}.{k % 100:02d},{currency}\n")
    return "invoice_id,customer_id,issued_on,due_on,amount,currency\n" + "".join(rows)


class Statements:
    """The statements the session's database is sent while ``with`` it: (SQL, parameters, executemany)."""

    def __init__(self, session) -> None:
        self.engine = session.get_bind()
        self.seen: list[tuple[str, object, bool]] = []

    def _record(self, _conn, _cursor, statement, parameters, _context, executemany) -> None:
        self.seen.append((statement, parameters, executemany))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


def test_a_chunk_costs_a_few_statements_of_a_few_parameters(tmp_path, session):
    """1,000 invoices in chunks of 50: no statement carries a parameter per id, and the statements do not multiply with the chunks."""
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    import_files(session, {"customers": customers})
    invoices = write(tmp_path, "invoices.csv", invoices_csv(1000))
    with Statements(session) as statements:
        summary = import_files(session, {"invoices": invoices}, chunk_size=50)
    assert summary.created["invoices"] == 1000
    single = [(sql, params) for sql, params, many in statements.seen if not many]
    widest = max(len(params) for _sql, params in single)
    assert widest <= 4, f"a statement with {widest} parameters"
    assert len(statements.seen) <= 8 * 20 + 10  # 20 chunks
    assert len({sql for sql, _params, _many in statements.seen if "SAVEPOINT" not in sql}) <= 12  # savepoints are numbered


def test_new_rows_are_written_without_asking_the_ledger_for_them_first(tmp_path, session):
    customers = write(tmp_path, "customers.csv", CUSTOMERS)
    import_files(session, {"customers": customers})
    invoices = write(tmp_path, "invoices.csv", invoices_csv(300))
    with Statements(session) as statements:
        import_files(session, {"invoices": invoices}, chunk_size=100)
    asked = [sql for sql, _params, _many in statements.seen if sql.lstrip().upper().startswith("SELECT") and "FROM invoices" in sql]
    assert asked == []


def stored_as_core_stores(connection, table, key: str, *, then_delete=()) -> bool:
    """Does ``table`` hold, as stored, what ``insert(table)`` writes for the same values? (``then_delete``: tables referring to it.)"""
    compared = [c for c in table.columns if c.name not in ("created_at", "id")]
    raw = f"SELECT {', '.join(c.name for c in compared)} FROM {table.name} ORDER BY {key}"
    imported = connection.exec_driver_sql(raw).all()
    values = [dict(r._mapping) for r in connection.execute(select(*compared).order_by(table.c[key]))]
    for referring in (*then_delete, table):
        connection.execute(delete(referring))
    connection.execute(insert(table), values)
    return bool(imported) and connection.exec_driver_sql(raw).all() == imported


def test_rows_are_stored_as_core_insert_stores_them(tmp_path, session):
    """The stored form (cents on SQLite, dates as text, the customer's currency filled in, defaults) is what ``insert(table)`` writes."""
    import_files(session, {"customers": write(tmp_path, "customers.csv", CUSTOMERS)})
    charges = (
        "charge_id,customer_id,delivered_on,amount,description,receipt_received_on\nK1,C001,2026-03-01,0.05,运费,2026-03-09\nK2,C002,2026-03-02,99999999.99,,\n"
    )
    import_files(session, {"invoices": write(tmp_path, "invoices.csv", invoices_csv(120)), "charges": write(tmp_path, "charges.csv", charges)}, chunk_size=40)
    connection = session.connection()
    assert stored_as_core_stores(connection, Invoice.__table__, "invoice_id")
    assert stored_as_core_stores(connection, Charge.__table__, "charge_id")
    assert stored_as_core_stores(connection, Contact.__table__, "customer_id")
    assert stored_as_core_stores(connection, Customer.__table__, "customer_id", then_delete=(Invoice.__table__, Charge.__table__, Contact.__table__))
    session.rollback()


def test_a_repeated_id_chunks_after_its_new_row_was_written_is_named(tmp_path, session):
    """Chunks 1-2 are new and written straight away; chunk 3 repeats an id of chunk 1: the duplicate is named, nothing stays."""
    import_files(session, {"customers": write(tmp_path, "customers.csv", CUSTOMERS)})
    session.commit()
    lines = invoices_csv(30).splitlines(keepends=True)
    lines.append(lines[3].replace(",C003,", ",C003,"))  # I00002 again, row 32 (its first: row 4)
    invoices = write(tmp_path, "invoices.csv", "".join(lines))
    with pytest.raises(ImportFailed) as failed:
        import_files(session, {"invoices": invoices}, chunk_size=10)
    assert [str(p) for p in failed.value.problems] == [f"{invoices}:32:invoice_id: I00002 appears again (first at row 4)"]
    assert session.scalar(select(func.count()).select_from(Invoice)) == 0


def test_new_chunks_then_rows_already_in_the_ledger(tmp_path, session):
    """New rows, then rows the ledger has (unchanged), then one it has with another amount: counted, and refused without --update."""
    import_files(session, {"customers": write(tmp_path, "customers.csv", CUSTOMERS)})
    import_files(session, {"invoices": write(tmp_path, "old.csv", invoices_csv(20, first=100))})
    session.commit()
    body = invoices_csv(40).splitlines(keepends=True)[1:] + invoices_csv(20, first=100).splitlines(keepends=True)[1:]
    header = "invoice_id,customer_id,issued_on,due_on,amount,currency\n"
    summary = import_files(session, {"invoices": write(tmp_path, "mixed.csv", header + "".join(body))}, chunk_size=15)
    assert (summary.created["invoices"], summary.unchanged["invoices"]) == (40, 20)
    session.commit()
    body[-1] = body[-1].replace(",120.19,", ",121.00,")
    changed = write(tmp_path, "changed.csv", header + "".join(body))
    with pytest.raises(ImportFailed) as failed:
        import_files(session, {"invoices": changed}, chunk_size=15)
    assert [str(p) for p in failed.value.problems] == [
        f"{changed}:61:amount: I00119 is already in the ledger with amount 120.19, this row says 121.00; import with --update to change it"
    ]
    assert import_files(session, {"invoices": changed}, update_existing=True, chunk_size=15).updated["invoices"] == 1
    assert session.scalar(select(Invoice.amount).where(Invoice.invoice_id == "I00119")) == Decimal("121.00")


@pytest.mark.parametrize("kind", sorted(FILE_KINDS))
def test_the_row_parser_gives_what_parse_row_gives(kind):
    """Cells by position, the columns looked up once: the same values and problems as by name, short and odd rows too."""
    file_kind = FILE_KINDS[kind]
    header = [c.name for c in reversed(file_kind.columns)]
    parse = file_kind.row_parser(header)
    samples = ["", "X1", "2026-02-30", "2026-02-03", "12.5", "0", "-3", "1,000.00", "ＡＢ", "a b", "zh_CN", "CNY", "7", "ap@example.cn", "\u202e", "30%"]
    for shift in range(len(samples)):
        cells = [samples[(shift + i) % len(samples)] for i in range(len(header))]
        for row in (cells, cells[: len(cells) // 2], [*cells, "extra"]):
            assert parse(row) == file_kind.parse_row(dict(zip(header, row))), row
