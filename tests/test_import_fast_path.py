"""New rows are written without asking the ledger first; any doubt sends the file the long way (#18, "Import ≥ 50% of bare executemany").

A chunk of new rows without a problem is written as it is: no table of ids seen,
no query for the customers' currencies; the database refuses a row already there, a
repeated id or an unknown customer, and the file then goes the long way with the
same problems, row by row, as before. The chunks are made small with ``chunk_size``.
"""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import create_engine, event, select
from sqlalchemy.orm import Session

from huikuan.ledger.importer import ImportFailed, import_files
from models.import_rows import FILE_KINDS
from models.ledger import Invoice
from tests.test_import_streaming import invoices_csv, write

CUSTOMERS_HEADER = "customer_id,name,email,phone,contact_name,currency\n"


def customers_csv(currencies: list[str]) -> str:
    return CUSTOMERS_HEADER + "".join(f"C{k:05d},客户{k}有限公司,ap{k}@example.cn,1380000{k:04d},王{k},{c}\n" for k, c in enumerate(currencies))


def currencies_of(session) -> dict[str, str]:
    return dict(session.execute(select(Invoice.invoice_id, Invoice.currency)).all())


def test_new_rows_ask_the_ledger_nothing_before_they_are_written(tmp_path, session):
    """Six chunks of new invoices: no id noted as seen, the customers read at most twice (their one currency), not once a chunk."""
    customers = write(tmp_path, "customers.csv", customers_csv(["CNY"] * 20))
    import_files(session, {"customers": customers})
    statements: list[str] = []
    connection = session.connection()
    event.listen(connection, "before_cursor_execute", lambda _c, _cur, statement, *_: statements.append(" ".join(statement.split())))
    summary = import_files(session, {"invoices": write(tmp_path, "invoices.csv", invoices_csv(60, 20))}, chunk_size=10)
    assert summary.created["invoices"] == 60
    assert not [s for s in statements if s.startswith("INSERT INTO huikuan_import_seen")]
    assert len([s for s in statements if s.startswith("SELECT") and "customers" in s]) <= 2
    assert set(currencies_of(session).values()) == {"CNY"}


def test_a_repeated_id_after_chunks_written_as_new_names_its_first_row(tmp_path, session):
    """Rows 2-36 are written as new; row 40 repeats row 4's id and row 45 has a bad amount: both named, as the long way names them."""
    customers = write(tmp_path, "customers.csv", customers_csv(["CNY"] * 10))
    lines = invoices_csv(50, 10).splitlines(keepends=True)
    lines[39] = lines[3].replace(",103.50", ",7.00")  # row 40: the id of row 4
    lines[44] = lines[44].replace(",143.50", ",1e3")  # row 45
    invoices = write(tmp_path, "invoices.csv", "".join(lines))
    with pytest.raises(ImportFailed) as failed:
        import_files(session, {"customers": customers, "invoices": invoices}, chunk_size=7)
    assert [str(p) for p in failed.value.problems] == [
        f"{invoices}:40:invoice_id: I000002 appears again (first at row 4)",
        f"{invoices}:45:amount: '1e3' is in scientific notation (a spreadsheet shortened it); format the column as a number with 2 decimals",
    ]
    assert session.scalar(select(Invoice.invoice_id).limit(1)) is None


def test_a_repeated_id_in_an_otherwise_good_file_is_found_by_the_database(tmp_path, session):
    """The only problem: row 30 repeats row 2's id, in another chunk of rows written as new."""
    customers = write(tmp_path, "customers.csv", customers_csv(["CNY"] * 10))
    lines = invoices_csv(40, 10).splitlines(keepends=True)
    lines[29] = lines[1]
    invoices = write(tmp_path, "invoices.csv", "".join(lines))
    with pytest.raises(ImportFailed) as failed:
        import_files(session, {"customers": customers, "invoices": invoices}, chunk_size=6)
    assert [str(p) for p in failed.value.problems] == [f"{invoices}:30:invoice_id: I000000 appears again (first at row 2)"]


def test_invoices_without_a_currency_get_their_customers_in_a_ledger_of_several(tmp_path, session):
    """Customers in CNY and USD: each new invoice without a currency gets its customer's, one with a currency keeps it."""
    customers = write(tmp_path, "customers.csv", customers_csv(["CNY", "USD", "CNY", "EUR"]))
    invoices = write(
        tmp_path,
        "invoices.csv",
        "invoice_id,customer_id,issued_on,due_on,amount,currency\n"
        + "".join(f"I{k},C{k % 4:05d},2026-09-01,2026-10-01,10.00,{'HKD' if k == 5 else ''}\n" for k in range(12)),
    )
    import_files(session, {"customers": customers, "invoices": invoices}, chunk_size=5)
    expected = {f"I{k}": ["CNY", "USD", "CNY", "EUR"][k % 4] for k in range(12)} | {"I5": "HKD"}
    assert currencies_of(session) == expected


def test_a_ledger_of_one_currency_gives_it_to_invoices_without_one(tmp_path, session):
    customers = write(tmp_path, "customers.csv", customers_csv(["USD"] * 3))
    import_files(session, {"customers": customers, "invoices": write(tmp_path, "invoices.csv", invoices_csv(9, 3))}, chunk_size=4)
    assert set(currencies_of(session).values()) == {"USD"}


def test_an_unknown_customer_is_refused_where_foreign_keys_are_not_enforced(tmp_path, sqlite_template):
    """A SQLite connection without ``PRAGMA foreign_keys`` (not made by ``make_engine``): an invoice or charge of an unknown customer is still refused."""
    path = tmp_path / "ledger.db"
    shutil.copy(sqlite_template, path)
    engine = create_engine(f"sqlite:///{path}")
    customers = write(tmp_path, "customers.csv", customers_csv(["CNY"] * 3))
    invoices = write(tmp_path, "invoices.csv", invoices_csv(4, 4))  # I000003 is of C00003, not in the customers file
    charges = write(tmp_path, "charges.csv", "charge_id,customer_id,delivered_on,amount\nK1,C00001,2026-09-01,5.00\nK2,C00009,2026-09-01,5.00\n")
    with Session(engine) as session:
        assert session.connection().exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
        with pytest.raises(ImportFailed) as failed:
            import_files(session, {"customers": customers, "invoices": invoices, "charges": charges})
        assert [str(p).split(": ")[:2] for p in failed.value.problems] == [
            [f"{invoices}:5:customer_id", "unknown customer C00003"],
            [f"{charges}:3:customer_id", "unknown customer C00009"],
        ]
    engine.dispose()


def test_the_page_cache_is_as_it_was_after_an_import(tmp_path, sqlite_engine):
    with Session(sqlite_engine) as session:
        before = session.connection().exec_driver_sql("PRAGMA cache_size").scalar()
        import_files(session, {"customers": write(tmp_path, "customers.csv", customers_csv(["CNY"] * 3))})
        assert session.connection().exec_driver_sql("PRAGMA cache_size").scalar() == before


SAMPLE_CELLS = [
    "",
    "C1",
    "Ｃ１",
    "2026-09-01",
    "2026/09/01",
    "100.50",
    "1,000",
    "0",
    "CNY",
    "usd",
    "zh_CN",
    "ordinary",
    "a@b.cn",
    "x" * 70,
    "30",
    "5%",
    "0.05%/day",
]


@pytest.mark.parametrize("kind", ["customers", "invoices", "payments", "charges"])
def test_the_plain_parser_agrees_with_the_row_parser(kind):
    """Each column's cells parsed in one pass: the row parser's values when no row has a problem, else None; short rows and a repeated column too."""
    file_kind = FILE_KINDS[kind]
    header = [c.name for c in file_kind.columns] + [file_kind.columns[1].name]  # the second column twice: the last one counts
    row_parser, plain = file_kind.row_parser(header), file_kind.plain_columns_parser(header)
    good = {
        "customers": ["C1", "名", "a@b.cn", "138", "王"],
        "invoices": ["I1", "C2", "2026-09-01", "2026-10-01", "100.50"],
        "payments": ["P1", "C2", "2026-09-01", "100.50", "I1"],
        "charges": ["K1", "C2", "2026-09-01", "100.50", "运费"],
    }[kind]
    width = len(file_kind.columns)

    def row(base: list[str]) -> list[str]:
        return [*base, *[""] * (width - len(base)), base[1]]  # the repeated column last, with the value of the second

    rows = [row(good), row(good)[:-1], [*row(good), "", ""], *(row([*good[:i], cell, *good[i + 1 :]]) for i in range(5) for cell in SAMPLE_CELLS)]
    for cells in rows:
        values, problems = row_parser(cells)
        columns = plain([cells])
        assert (columns is None) == bool(problems), (cells, problems)
        if columns is not None:
            assert [column[0] for column in columns] == [values[c.name] for c in file_kind.columns]
    fine = [cells for cells in rows if not row_parser(cells)[1]]
    assert len(fine) > 5
    columns = plain(fine)
    assert [list(values) for values in zip(*columns)] == [[row_parser(cells)[0][c.name] for c in file_kind.columns] for cells in fine]
    assert plain([*fine, row(["", *good[1:]])]) is None
