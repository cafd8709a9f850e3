"""The importer against a real ledger (SQLite and PostgreSQL): CONTRACT.md "Import files"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from huikuan.ledger.importer import ImportFailed, import_files
from models.ledger import Allocation, Charge, Contact, Customer, Invoice, Payment

CUSTOMERS = """customer_id,name,email,phone,contact_name,contact_title,segment,credit_limit
C1,上海华信机械有限公司,fin@hx.example.cn,13800000001,王芳,财务经理,key,500000.00
C2,苏州恒达电子有限公司,ap@hd.example.cn,13800000002,李强,,,
"""
INVOICES = """invoice_id,customer_id,issued_on,due_on,amount
I1,C1,2026-08-31,2026-09-30,10000.00
I2,C1,2026-09-30,2026-10-30,5000.50
I3,C2,2026-10-31,2026-11-30,800
"""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def problems_of(session, files: dict[str, Path], **kwargs) -> list[str]:
    with pytest.raises(ImportFailed) as failed:
        import_files(session, files, **kwargs)
    session.rollback()
    return [str(p) for p in failed.value.problems]


@pytest.fixture
def base(tmp_path, session):
    """C1 and C2 with three invoices in the ledger."""
    import_files(session, {"customers": write(tmp_path, "customers.csv", CUSTOMERS), "invoices": write(tmp_path, "invoices.csv", INVOICES)})
    session.commit()
    return session


def test_a_clean_import_writes_every_row(tmp_path, session):
    payments = write(tmp_path, "payments.csv", "payment_id,customer_id,received_on,amount,invoice_id\nP1,C1,2026-10-10,12000.00,\nP2,C2,2026-11-01,100,I3\n")
    charges = write(
        tmp_path, "charges.csv", "charge_id,customer_id,delivered_on,amount,description,receipt_received_on\nH1,C1,2026-11-03,1200.00,钢材一批,2026-11-05\n"
    )
    summary = import_files(
        session,
        {
            "customers": write(tmp_path, "customers.csv", CUSTOMERS),
            "invoices": write(tmp_path, "invoices.csv", INVOICES),
            "payments": payments,
            "charges": charges,
        },
    )
    session.commit()
    assert dict(summary.created) == {"customers": 2, "invoices": 3, "payments": 2, "charges": 1}
    c1 = session.get(Customer, "C1")
    assert (c1.segment.value, c1.credit_limit, c1.locale.value, c1.country, c1.payment_terms_days, c1.currency) == (
        "key",
        Decimal("500000.00"),
        "zh_CN",
        "CN",
        30,
        "CNY",
    )
    assert (c1.primary_contact.name, c1.primary_contact.title, c1.primary_contact.email) == ("王芳", "财务经理", "fin@hx.example.cn")
    c2 = session.get(Customer, "C2")
    assert (c2.segment.value, c2.credit_limit, c2.primary_contact.title) == ("ordinary", None, None)
    assert session.get(Invoice, "I3").amount == Decimal("800.00")
    assert session.get(Invoice, "I3").currency == "CNY"
    assert session.get(Charge, "H1").receipt_received_on == dt.date(2026, 11, 5)
    # P1 has no invoice: oldest due first, I1 fully (10000), then 2000 of I2; P2 goes to I3 as named.
    allocations = sorted((a.payment_id, a.invoice_id, a.amount) for a in session.scalars(select(Allocation)))
    assert allocations == [("P1", "I1", Decimal("10000.00")), ("P1", "I2", Decimal("2000.00")), ("P2", "I3", Decimal("100.00"))]
    assert summary.allocations == 3


def test_reimporting_the_same_files_changes_nothing(tmp_path, base):
    files = {"customers": write(tmp_path, "customers.csv", CUSTOMERS), "invoices": write(tmp_path, "invoices.csv", INVOICES)}
    summary = import_files(base, files)
    base.commit()
    assert sum(summary.created.values()) == 0 and sum(summary.updated.values()) == 0
    assert dict(summary.unchanged) == {"customers": 2, "invoices": 3}
    assert count(base, Customer) == 2 and count(base, Contact) == 2 and count(base, Invoice) == 3


def test_a_reimported_payment_is_not_applied_twice(tmp_path, base):
    payments = write(tmp_path, "payments.csv", "payment_id,customer_id,received_on,amount\nP1,C1,2026-10-10,12000.00\n")
    import_files(base, {"payments": payments})
    import_files(base, {"payments": payments})
    base.commit()
    assert base.scalar(select(func.sum(Allocation.amount))) == Decimal("12000.00")


def test_changed_content_needs_update(tmp_path, base):
    changed = write(tmp_path, "invoices.csv", INVOICES.replace("5000.50", "5100.00"))
    assert problems_of(base, {"invoices": changed}) == [
        f"{changed}:3:amount: I2 is already in the ledger with amount 5000.50, this row says 5100.00; import with --update to change it"
    ]
    assert base.get(Invoice, "I2").amount == Decimal("5000.50")
    summary = import_files(base, {"invoices": changed}, update_existing=True)
    base.commit()
    assert summary.updated["invoices"] == 1 and summary.unchanged["invoices"] == 2
    assert base.get(Invoice, "I2").amount == Decimal("5100.00")


def test_update_changes_a_customer_and_its_contact_but_keeps_absent_columns(tmp_path, base):
    renamed = write(tmp_path, "customers.csv", "customer_id,name,email,phone,contact_name\nC1,上海华信机械股份有限公司,fin@hx.example.cn,13800000009,王芳\n")
    import_files(base, {"customers": renamed}, update_existing=True)
    base.commit()
    c1 = base.get(Customer, "C1")
    assert c1.name == "上海华信机械股份有限公司"
    assert c1.primary_contact.phone == "13800000009"
    assert (c1.segment.value, c1.credit_limit, c1.primary_contact.title) == ("key", Decimal("500000.00"), "财务经理")


def test_an_updated_payment_is_reallocated(tmp_path, base):
    import_files(base, {"payments": write(tmp_path, "p.csv", "payment_id,customer_id,received_on,amount\nP1,C1,2026-10-10,12000.00\n")})
    import_files(base, {"payments": write(tmp_path, "p2.csv", "payment_id,customer_id,received_on,amount\nP1,C1,2026-10-10,9000.00\n")}, update_existing=True)
    base.commit()
    assert [(a.invoice_id, a.amount) for a in base.scalars(select(Allocation))] == [("I1", Decimal("9000.00"))]


def test_an_invoice_cannot_shrink_below_what_was_paid(tmp_path, base):
    import_files(base, {"payments": write(tmp_path, "p.csv", "payment_id,customer_id,received_on,amount,invoice_id\nP1,C1,2026-10-10,6000.00,I1\n")})
    base.commit()
    smaller = write(tmp_path, "i.csv", INVOICES.replace("10000.00", "5000.00"))
    assert problems_of(base, {"invoices": smaller}, update_existing=True) == [
        f"{smaller}:2:amount: 5000.00 is less than the 6000.00 already paid on invoice I1"
    ]


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ('I9,C1,2026-08-31,2026-09-30,"1,234.50"', "amount", "'1,234.50' has a thousands separator; write 1234.50"),
        ("I9,C1,2026-08-31,2026-09-30,-5.00", "amount", "-5.00 must be more than 0"),
        ("I9,C1,2026-08-31,2026-09-30,0", "amount", "0 must be more than 0"),
        ("I9,C1,2026-08-31,2026-09-30,10.005", "amount", "10.005 has more than 2 decimal places"),
        ("I9,C1,2026-08-31,2026-09-30,¥1200", "amount", "'¥1200' has a currency sign or name; write the number only, e.g. 1234.50"),
        (
            "I9,C1,2026-08-31,2026-09-30,1.2E+05",
            "amount",
            "'1.2E+05' is in scientific notation (a spreadsheet shortened it); format the column as a number with 2 decimals",
        ),
        ("I9,C1,2026/08/31,2026-09-30,10.00", "issued_on", "'2026/08/31' is not written YYYY-MM-DD; write 2026-08-31"),
        ("I9,C1,2026-02-30,2026-09-30,10.00", "issued_on", "2026-02-30 is not a date of the calendar"),
        ("I9,C1,2026-08-31,2026-07-31,10.00", "due_on", "2026-07-31 is before the issue date 2026-08-31"),
        ("I9,C9,2026-08-31,2026-09-30,10.00", "customer_id", "unknown customer C9: it is neither in the ledger nor in the customers file"),
        ("I9,,2026-08-31,2026-09-30,10.00", "customer_id", "is empty; a value is required"),
        ("I 9,C1,2026-08-31,2026-09-30,10.00", "invoice_id", "'I 9' contains a space or ';', which ids may not contain"),
    ],
)
def test_bad_invoice_rows_are_named_by_file_row_and_column(tmp_path, base, row, column, message):
    path = write(tmp_path, "invoices.csv", "invoice_id,customer_id,issued_on,due_on,amount\n" + row + "\n")
    assert problems_of(base, {"invoices": path}) == [f"{path}:2:{column}: {message}"]
    assert count(base, Invoice) == 3


def test_every_problem_of_a_row_is_reported_at_once(tmp_path, base):
    path = write(tmp_path, "invoices.csv", "invoice_id,customer_id,issued_on,due_on,amount\nI9,C9,2026-08-31,2026-07-31,1.001\n")
    assert problems_of(base, {"invoices": path}) == [
        f"{path}:2:amount: 1.001 has more than 2 decimal places",
        f"{path}:2:customer_id: unknown customer C9: it is neither in the ledger nor in the customers file",
        f"{path}:2:due_on: 2026-07-31 is before the issue date 2026-08-31",
    ]


def test_duplicate_ids_in_a_file(tmp_path, session):
    path = write(tmp_path, "customers.csv", CUSTOMERS + "C1,重复公司,x@y.cn,1,张三,,,\n")
    assert problems_of(session, {"customers": path}) == [f"{path}:4:customer_id: C1 appears again (first at row 2)"]


def test_a_bad_customer_row_does_not_cascade_into_its_invoices(tmp_path, session):
    customers = write(tmp_path, "customers.csv", "customer_id,name,email,phone,contact_name\nC1,华信,not-an-email,138,王芳\n")
    invoices = write(tmp_path, "invoices.csv", "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-08-31,2026-09-30,10.00\n")
    assert problems_of(session, {"customers": customers, "invoices": invoices}) == [f"{customers}:2:email: 'not-an-email' is not an email address"]


def test_blank_lines_are_skipped_and_rows_keep_their_numbers(tmp_path, base):
    path = write(
        tmp_path,
        "invoices.csv",
        "invoice_id,customer_id,issued_on,due_on,amount\n\nI8,C1,2026-08-31,2026-09-30,10.00\n,,,,\n\nI9,C1,2026-08-31,2026-09-30,x\n\n",
    )
    assert problems_of(base, {"invoices": path}) == [f"{path}:6:amount: 'x' is not an amount; write a number such as 1234.50"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            "invoice_id,customer_id,issued_on,due_on,amount,colour",
            ["1:colour: unknown column in a invoices file; its columns are: invoice_id, customer_id, issued_on, due_on, amount, currency"],
        ),
        ("invoice_id,customer_id,issued_on,amount", ["1:due_on: required column is missing from the header row"]),
        ("invoice_id,customer_id,issued_on,due_on,amount,amount", ["1:amount: column appears twice in the header row"]),
        (
            "invoice_id;customer_id;issued_on;due_on;amount",
            ["1:invoice_id;customer_id;issued_on;due_on;: columns are separated by ';'; save the file with commas (CSV)"],
        ),
    ],
)
def test_header_problems(tmp_path, session, header, expected):
    path = write(tmp_path, "invoices.csv", header + "\n")
    assert problems_of(session, {"invoices": path}) == [f"{path}:{e}" for e in expected]


def test_a_gbk_file_is_refused_with_the_row_and_a_way_out(tmp_path, session):
    path = write(tmp_path, "customers.csv", CUSTOMERS, encoding="gbk")
    assert problems_of(session, {"customers": path}) == [
        f"{path}:2:-: not UTF-8 text (it looks like GBK/GB18030, as Excel saves CSV on a Chinese Windows); save the file as 'CSV UTF-8' and import it again"
    ]


def test_utf16_is_refused(tmp_path, session):
    path = write(tmp_path, "customers.csv", CUSTOMERS, encoding="utf-16")
    assert problems_of(session, {"customers": path}) == [f"{path}:1:-: the file is UTF-16 (Excel's 'Unicode Text'); save it as 'CSV UTF-8'"]


def test_utf8_with_bom_and_crlf_line_ends_is_accepted(tmp_path, session):
    path = write(tmp_path, "customers.csv", CUSTOMERS.replace("\n", "\r\n"), encoding="utf-8-sig")
    assert import_files(session, {"customers": path}).created["customers"] == 2


def test_a_row_with_more_cells_than_the_header(tmp_path, base):
    path = write(tmp_path, "invoices.csv", "invoice_id,customer_id,issued_on,due_on,amount\nI9,C1,2026-08-31,2026-09-30,10.00,oops\n")
    assert problems_of(base, {"invoices": path}) == [f"{path}:2:-: the row has 6 cells but the header has 5 columns"]


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("P9,C1,2026-11-01,15000.51,", "15000.51 is more than customer C1 owes (15000.50 open)"),
        ("P9,C2,2026-11-01,800.01,I3", "800.01 is more than the 800.00 still open on invoice I3"),
    ],
)
def test_a_payment_larger_than_what_is_owed(tmp_path, base, row, message):
    path = write(tmp_path, "payments.csv", "payment_id,customer_id,received_on,amount,invoice_id\n" + row + "\n")
    assert problems_of(base, {"payments": path}) == [f"{path}:2:amount: {message}"]
    assert count(base, Payment) == 0 and count(base, Allocation) == 0


def test_payments_in_one_file_use_up_the_open_amount_in_date_order(tmp_path, base):
    path = write(tmp_path, "payments.csv", "payment_id,customer_id,received_on,amount\nP2,C2,2026-11-10,500.00\nP1,C2,2026-11-01,500.00\n")
    assert problems_of(base, {"payments": path}) == [f"{path}:2:amount: 500.00 is more than customer C2 owes (300.00 open)"]


def test_a_payment_naming_another_customers_invoice(tmp_path, base):
    path = write(tmp_path, "payments.csv", "payment_id,customer_id,received_on,amount,invoice_id\nP9,C1,2026-11-01,10.00,I3\nP8,C1,2026-11-01,10.00,I404\n")
    assert problems_of(base, {"payments": path}) == [
        f"{path}:2:invoice_id: invoice I3 belongs to customer C2, not C1",
        f"{path}:3:invoice_id: unknown invoice I404: it is neither in the ledger nor in the invoices file",
    ]


def test_a_partial_payment_leaves_the_rest_aging(tmp_path, base):
    import_files(base, {"payments": write(tmp_path, "p.csv", "payment_id,customer_id,received_on,amount,invoice_id\nP1,C1,2026-10-10,2500.25,I2\n")})
    base.commit()
    paid = base.scalar(select(func.sum(Allocation.amount)).where(Allocation.invoice_id == "I2"))
    assert base.get(Invoice, "I2").amount - paid == Decimal("2500.25")


def test_nothing_is_written_when_the_last_file_has_one_bad_row(tmp_path, session):
    files = {
        "customers": write(tmp_path, "customers.csv", CUSTOMERS),
        "invoices": write(tmp_path, "invoices.csv", INVOICES),
        "charges": write(tmp_path, "charges.csv", "charge_id,customer_id,delivered_on,amount,receipt_received_on\nH1,C1,2026-11-03,1.00,2026-11-01\n"),
    }
    assert problems_of(session, files) == [f"{files['charges']}:2:receipt_received_on: 2026-11-01 is before the delivery date 2026-11-03"]
    assert (count(session, Customer), count(session, Invoice), count(session, Charge)) == (0, 0, 0)


def test_problems_are_listed_file_by_file_in_row_order(tmp_path, session):
    customers = write(tmp_path, "customers.csv", "customer_id,name,email,phone,contact_name\nC1,A,a@b.cn,1,x\nC2,B,bad,1,y\n")
    invoices = write(tmp_path, "invoices.csv", "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-01-01,2026-02-01,1.001\n")
    problems = problems_of(session, {"invoices": invoices, "customers": customers})
    assert problems == [f"{customers}:3:email: 'bad' is not an email address", f"{invoices}:2:amount: 1.001 has more than 2 decimal places"]


def test_xlsx_with_the_same_header(tmp_path, session):
    book = Workbook()
    sheet = book.active
    sheet.append(["customer_id", "name", "email", "phone", "contact_name", "payment_terms_days", "credit_limit"])
    sheet.append([1001, "宁波远洋包装有限公司", "cw@yy.example.cn", 13912345678, "陈静", 45, 20000.5])
    sheet.append([None, None, None, None, None, None, None])
    book.save(tmp_path / "customers.xlsx")
    book = Workbook()
    sheet = book.active
    sheet.append(["invoice_id", "customer_id", "issued_on", "due_on", "amount"])
    sheet.append(["INV-1", 1001, dt.datetime(2026, 9, 30), dt.date(2026, 11, 14), 1234.56])
    sheet.append(["INV-2", 1001, dt.datetime(2026, 9, 30, 15, 0), dt.date(2026, 11, 14), 12.345])
    book.save(tmp_path / "invoices.xlsx")
    problems = problems_of(session, {"customers": tmp_path / "customers.xlsx", "invoices": tmp_path / "invoices.xlsx"})
    path = tmp_path / "invoices.xlsx"
    assert problems == [f"{path}:3:amount: 12.345 has more than 2 decimal places", f"{path}:3:issued_on: '2026-09-30 15:00:00' is not a date; write YYYY-MM-DD"]
    book = Workbook()
    book.active.append(["invoice_id", "customer_id", "issued_on", "due_on", "amount"])
    book.active.append(["INV-1", 1001, dt.datetime(2026, 9, 30), dt.date(2026, 11, 14), 1234.56])
    book.save(path)
    import_files(session, {"customers": tmp_path / "customers.xlsx", "invoices": path})
    session.commit()
    customer = session.get(Customer, "1001")
    assert (customer.payment_terms_days, customer.credit_limit, customer.primary_contact.phone) == (45, Decimal("20000.50"), "13912345678")
    assert session.get(Invoice, "INV-1").amount == Decimal("1234.56")


def test_a_workbook_named_csv_and_a_csv_named_xlsx(tmp_path, session):
    book = Workbook()
    book.active.append(["customer_id"])
    book.save(tmp_path / "customers.csv")
    (tmp_path / "fake.xlsx").write_text(CUSTOMERS)
    assert problems_of(session, {"customers": tmp_path / "customers.csv"}) == [
        f"{tmp_path / 'customers.csv'}:1:-: this is an Excel workbook, not CSV: name it .xlsx or save it as CSV UTF-8"
    ]
    assert problems_of(session, {"customers": tmp_path / "fake.xlsx"}) == [
        f"{tmp_path / 'fake.xlsx'}:1:-: this is not an Excel workbook (a text or CSV file?): name it .csv, or save it from Excel as .xlsx"
    ]


def test_a_missing_file(tmp_path, session):
    assert problems_of(session, {"customers": tmp_path / "nope.csv"}) == [f"{tmp_path / 'nope.csv'}:1:-: file not found"]
