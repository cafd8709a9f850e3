"""Property tests of ``huikuan import`` (CONTRACT.md "Import files") on generated and corrupted files.

The files are generated as a clerk's export would be: customers, invoices,
payments and charges (any subset of the four), columns in any order with any
subset of the optional ones, cells spelled in the several valid ways (padding,
lower-case codes, ``12.5`` for ``12.50``, ``030`` days, native dates and
numbers in XLSX), blank rows anywhere, CSV with or without a BOM, LF or CRLF,
quoted or not, and some files as XLSX. They refer to each other and to a
ledger that already holds two customers with invoices, a payment and a charge;
payments never exceed what is open, so every generated set is valid.

Properties:

(a) a valid set imports, and the ledger then holds exactly the generated rows
    (each table, with the contract's defaults, the allocation of payments
    oldest-open-first, counts and money sums as Decimal); importing it again
    changes nothing at all.
(b) one mutation of a valid set (a bad date, amount, id, code or choice, an
    empty cell, odd unicode, a duplicated or unknown id, a truncated row, extra
    cells, a blank row, a missing, unknown, repeated or renamed column, ';' as
    separator, GB18030 or UTF-16, a NUL or a stray byte, a file cut short) is
    either imported in full, when it happened to be valid, or refused with
    ``ImportFailed``; then every problem names the file, the mutated row (the
    header row for column problems) and a column, or a row that refers to the
    mutated one (an invoice of a customer whose id was changed, a payment whose
    oldest-open-first allocation the change moved), and every table of the
    ledger is exactly as before. Mutations that are bad by construction must
    be refused.
(c) whatever bytes a file holds (CSV or XLSX, random, a valid file with bytes
    changed, a workbook with damaged XML), the importer either imports or
    raises ``ImportFailed`` with well-formed problems, and writes nothing then.

The ledger part runs on SQLite, and with fewer examples on PostgreSQL.
Bugs these properties found are pinned by regression tests at the end.

More examples for a longer hunt: ``HUIKUAN_PROPERTY_EXAMPLES=2000`` (every property).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import os
import re
import shutil
import unicodedata
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook
from sqlalchemy import Engine, MetaData, String, select
from sqlalchemy.orm import Session

from huikuan.ledger.importer import ImportFailed, import_files
from huikuan.ledger.tables import read_table
from models.allocation import OpenInvoice, allocate
from models.import_rows import FILE_KINDS
from models.ledger import Allocation, Charge, Contact, Customer, Invoice, Payment

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:openpyxl")  # damaged workbooks warn as they are read

KINDS = ("customers", "invoices", "payments", "charges")
ID_COLUMN = {kind: FILE_KINDS[kind].id_column for kind in KINDS}
ANY = "*"  # any column of an allowed row

_SCALE = os.environ.get("HUIKUAN_PROPERTY_EXAMPLES")


def examples(default: int) -> int:
    return int(_SCALE) if _SCALE else default


PROFILE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # the fixtures' ledger is rolled back after every example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

# -- the ledger that is there before every example ----------------------------

BASE_FILES = {
    "customers": (
        "customer_id,name,email,phone,contact_name,currency,segment\n"
        "BASE-1,基础客户一,b1@base.example.cn,13800000001,张三,CNY,key\n"
        "BASE-2,Base Two Ltd,b2@base.example.com,+1 555 0100,Lee,USD,\n"
    ),
    "invoices": (
        "invoice_id,customer_id,issued_on,due_on,amount\n"
        "BASE-I1,BASE-1,2026-01-05,2026-02-04,1000.00\n"
        "BASE-I2,BASE-1,2026-02-05,2026-03-07,500.00\n"
        "BASE-I3,BASE-2,2026-01-10,2026-02-09,800.00\n"
    ),
    "payments": "payment_id,customer_id,received_on,amount\nBASE-P1,BASE-1,2026-02-10,300.00\n",
    "charges": "charge_id,customer_id,delivered_on,amount\nBASE-H1,BASE-2,2026-03-01,50.00\n",
}
BASE_CURRENCY = {"BASE-1": "CNY", "BASE-2": "USD"}
# customer -> invoice -> [due_on, issued_on, open cents]: BASE-P1 paid 300.00 of BASE-I1 (the oldest).
BASE_OPEN = {
    "BASE-1": {"BASE-I1": (dt.date(2026, 2, 4), dt.date(2026, 1, 5), 70000), "BASE-I2": (dt.date(2026, 3, 7), dt.date(2026, 2, 5), 50000)},
    "BASE-2": {"BASE-I3": (dt.date(2026, 2, 9), dt.date(2026, 1, 10), 80000)},
}
BASE_IDS = {"customers": {"BASE-1", "BASE-2"}, "invoices": {"BASE-I1", "BASE-I2", "BASE-I3"}, "payments": {"BASE-P1"}, "charges": {"BASE-H1"}}
NOBODY = "404-NOBODY"  # an id no generated row has


@dataclass
class Ledger:
    engine: Engine
    tables: MetaData  # reflected: every table the migrations made
    root: Path
    backend: str
    counter: itertools.count = field(default_factory=itertools.count)

    def workdir(self) -> Path:
        path = self.root / f"example{next(self.counter)}"
        path.mkdir()
        return path


def _based(engine: Engine, tmp_path: Path) -> Ledger:
    for kind, text in BASE_FILES.items():
        (tmp_path / f"base_{kind}.csv").write_text(text, encoding="utf-8")
    with Session(engine) as session:
        import_files(session, {kind: tmp_path / f"base_{kind}.csv" for kind in BASE_FILES})
        session.commit()
    tables = MetaData()
    tables.reflect(engine)
    return Ledger(engine, tables, tmp_path, engine.dialect.name)


@pytest.fixture
def ledger(ledger_engine, tmp_path) -> Ledger:
    """The base ledger on SQLite and PostgreSQL; every example rolls its own import back."""
    return _based(ledger_engine, tmp_path)


@pytest.fixture
def sqlite_ledger(sqlite_engine, tmp_path) -> Ledger:
    return _based(sqlite_engine, tmp_path)


def snapshot(session: Session, tables: MetaData) -> dict[str, list[tuple]]:
    """Every row of every table, as stored, sorted."""
    return {name: sorted((tuple(row) for row in session.execute(select(table))), key=repr) for name, table in tables.tables.items()}


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def entity_view(session: Session) -> dict[str, list[tuple]]:
    """What the import writes, table by table, in the terms of the generated data."""
    queries = {
        "customers": select(
            Customer.customer_id,
            Customer.name,
            Customer.locale,
            Customer.country,
            Customer.settlement,
            Customer.payment_terms_days,
            Customer.credit_limit,
            Customer.segment,
            Customer.currency,
            Customer.collector,
            Customer.status,
            Customer.locked_on,
            Customer.late_charge_rate,
            Customer.late_charge_grace_days,
            Customer.late_charge_cap,
            Customer.contract_clause,
        ),
        "contacts": select(Contact.customer_id, Contact.name, Contact.title, Contact.email, Contact.phone, Contact.is_primary),
        "invoices": select(Invoice.invoice_id, Invoice.customer_id, Invoice.issued_on, Invoice.due_on, Invoice.amount, Invoice.currency, Invoice.statement_id),
        "payments": select(Payment.payment_id, Payment.customer_id, Payment.received_on, Payment.amount, Payment.invoice_id),
        "charges": select(
            Charge.charge_id, Charge.customer_id, Charge.delivered_on, Charge.amount, Charge.description, Charge.receipt_received_on, Charge.statement_id
        ),
        "allocations": select(Allocation.payment_id, Allocation.invoice_id, Allocation.amount),
    }
    return {name: sorted((tuple(_plain(v) for v in row) for row in session.execute(query)), key=repr) for name, query in queries.items()}


def assert_strings_fit(session: Session, tables: MetaData) -> None:
    """No stored text is longer than its column (PostgreSQL would refuse it; SQLite does not check)."""
    for table in tables.tables.values():
        for column in table.columns:
            length = getattr(column.type, "length", None)
            if isinstance(column.type, String) and length:
                for (value,) in session.execute(select(column)):
                    assert value is None or len(value) <= length, (
                        f"{table.name}.{column.name} holds {len(value)} characters, more than {length}: {value[:80]!r}"
                    )


def assert_allocations_balance(session: Session) -> None:
    paid: dict[str, Decimal] = defaultdict(Decimal)
    on_invoice: dict[str, Decimal] = defaultdict(Decimal)
    for payment_id, invoice_id, amount in session.execute(select(Allocation.payment_id, Allocation.invoice_id, Allocation.amount)):
        assert amount > 0
        paid[payment_id] += amount
        on_invoice[invoice_id] += amount
    for payment_id, amount in session.execute(select(Payment.payment_id, Payment.amount)):
        assert paid[payment_id] == amount, f"payment {payment_id} of {amount} is allocated {paid[payment_id]}"
    for invoice_id, amount in session.execute(select(Invoice.invoice_id, Invoice.amount)):
        assert on_invoice[invoice_id] <= amount, f"invoice {invoice_id} of {amount} is allocated {on_invoice[invoice_id]}"


# -- generating a valid file set -------------------------------------------------

COLUMN_TYPE = {
    "customer_id": "id",
    "name": "text200",
    "email": "email",
    "phone": "text50",
    "contact_name": "text100",
    "contact_title": "text100",
    "locale": "locale",
    "country": "code2",
    "settlement": "settlement",
    "payment_terms_days": "days",
    "credit_limit": "limit",
    "segment": "segment",
    "currency": "code3",
    "collector": "id",
    "invoice_id": "id",
    "issued_on": "date",
    "due_on": "date",
    "amount": "amount",
    "payment_id": "id",
    "received_on": "date",
    "charge_id": "id",
    "delivered_on": "date",
    "description": "text300",
    "receipt_received_on": "date",
    "late_charge_rate": "rate",
    "late_charge_grace_days": "days",
    "late_charge_cap": "cap",
    "contract_clause": "text100",
}
CHOICES = {"locale": ("zh_CN", "en"), "settlement": ("monthly_statement", "per_receipt", "per_invoice"), "segment": ("key", "ordinary", "high_risk", "small")}
DEFAULTS = {
    "contact_title": None,
    "locale": "zh_CN",
    "country": "CN",
    "settlement": "monthly_statement",
    "payment_terms_days": 30,
    "credit_limit": None,
    "segment": "ordinary",
    "currency": "CNY",
    "collector": None,
    "invoice_id": None,
    "description": None,
    "receipt_received_on": None,
    "late_charge_rate": None,
    "late_charge_grace_days": None,
    "late_charge_cap": None,
    "contract_clause": None,
}
# Contract terms in their canonical spelling (models.charges.parse_rate, parse_cap).
RATES = ("0.05%/day", "6%/year", "none", "0.025%/day")
CAPS = ("30%", "5000.00", "12.5%")
REFERENCES = {("invoices", "customer_id"), ("payments", "customer_id"), ("charges", "customer_id"), ("payments", "invoice_id")}

_ID_FORBIDDEN = re.compile(r"[;\s]")
ascii_ids = st.from_regex(r"[A-Z]{1,3}-?[0-9]{1,6}", fullmatch=True)
unicode_ids = st.text(st.characters(codec="utf-8", categories=("L", "N", "Pd", "Pc", "So")), min_size=1, max_size=10)
# Ids in NFKC form only: '𝐀', 'Ｃ１' or 'ﬁ' are refused (issue #12), as they would pass for 'A', 'C1', 'fi'.
ids = st.one_of(ascii_ids, ascii_ids, unicode_ids, st.just("X" * 64)).filter(
    lambda s: s == s.strip() and not _ID_FORBIDDEN.search(s) and not s.startswith(("404-", "BASE-")) and len(s) <= 64 and unicodedata.is_normalized("NFKC", s)
)

TEXT_CHARS = st.one_of(st.characters(codec="utf-8", categories=("L", "M", "N", "P", "S", "Zs")), st.sampled_from("华信机械有限公司股份 ,\"'\n"))


def _texts(limit: int) -> st.SearchStrategy[str]:
    short = st.text(TEXT_CHARS, min_size=1, max_size=12).map(str.strip).filter(bool)
    two_lines = st.builds(lambda a, b: f"{a}\n{b}", short, short).filter(lambda t: len(t) <= limit)
    full = st.sampled_from("名a").map(lambda ch: ch * limit)  # exactly as long as the column allows
    return st.one_of(short, two_lines, short, two_lines, full)


TEXTS = {limit: _texts(limit) for limit in (50, 100, 200, 300)}


emails = st.one_of(
    st.from_regex(r"[a-z0-9._%+-]{1,20}@[a-z0-9-]{1,15}\.[a-z]{2,6}", fullmatch=True),
    st.just("财务@公司.中国"),
    st.just("a" * 195 + "@b.cn"),  # 200 characters: the longest that fits
)
dates = st.one_of(
    st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
    st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
    st.dates(dt.date(1, 1, 1), dt.date(9999, 11, 30)),
)
cents = st.one_of(st.integers(10**4, 10**7), st.integers(1, 10**11), st.sampled_from([1, 100, 10**18 - 1]))
codes2 = st.from_regex(r"[A-Z]{2}", fullmatch=True)
codes3 = st.from_regex(r"[A-Z]{3}", fullmatch=True)
limits = st.one_of(st.just(0), cents).map(lambda c: Decimal(c).scaleb(-2))
booleans = st.booleans()
pads = (st.sampled_from(["", " ", "  \t"]), st.sampled_from(["", " "]))
days_after = {n: st.one_of(st.sampled_from([30, 60, 0, 45, 15, 90, 120][: 3 + n // 30]), st.integers(0, n)) for n in (60, 120)}


def money(amount_cents: int) -> Decimal:
    return Decimal(amount_cents).scaleb(-2)


@dataclass
class FileData:
    """One import file before it is written: header, rows of cells, and what each row is about."""

    kind: str
    fmt: str  # csv | xlsx
    header: list[str]
    rows: list[list[Any]]  # cells: str, or for XLSX also int, float, date
    infos: list[dict[str, str] | None]  # per row: id, customer_id, invoice_id (None: a blank row)
    bom: bool = False
    crlf: bool = False
    quote_all: bool = False
    final_newline: bool = True
    delimiter: str = ","
    encoding: str = "utf-8"
    byte_edit: tuple | None = None  # ("nul"|"byte"|"cut", record index, offset[, byte])

    @property
    def filename(self) -> str:
        return f"{self.kind}.{self.fmt}"


@dataclass
class FileSet:
    files: dict[str, FileData]
    expected: dict[str, list[tuple]]  # entity_view rows the import adds
    counts: dict[str, int]


def spell(draw, column: str, value: Any, fmt: str) -> Any:
    """One of the valid ways to write ``value`` in a cell."""
    kind = COLUMN_TYPE[column]
    if value is None:
        return ""
    if kind in ("id",):
        if fmt == "xlsx" and value.isascii() and value.isdigit() and not value.startswith("0") and len(value) < 15 and draw(booleans):
            return int(value)
        return value
    if kind.startswith("text") or kind == "email":
        return draw(pads[0]) + value + draw(pads[1]) if draw(booleans) else value
    if kind in ("code2", "code3"):
        return [value, value.lower(), f" {value}"][draw(st.integers(0, 2))]
    if kind == "days":
        if fmt == "xlsx" and draw(booleans):
            return value
        return str(value) if draw(booleans) else f"{value:04d}"
    if kind in ("amount", "limit"):
        plain = f"{value:.2f}"
        short = plain.rstrip("0").rstrip(".") if "." in plain else plain
        options = [plain, short, plain + "0", "+" + plain, "00" + plain]
        if fmt == "xlsx":
            as_float = float(value)
            if "e" not in repr(as_float) and Decimal(repr(as_float)) == value:
                options.append(as_float)
        return options[draw(st.integers(0, len(options) - 1))]
    if kind == "date":
        if fmt == "xlsx":
            return [value.isoformat(), value, dt.datetime(value.year, value.month, value.day)][draw(st.integers(0, 2))]
        return value.isoformat()
    return value  # choices


@st.composite
def headers(draw, kind: str) -> list[str]:
    spec = FILE_KINDS[kind]
    optional = draw(st.lists(st.sampled_from(spec.optional), unique=True)) if spec.optional else []
    return list(draw(st.permutations(list(spec.required) + optional)))


def _optional_value(draw, column: str, header: list[str], strategy) -> Any:
    if column not in header or draw(booleans):
        return DEFAULTS[column]
    return draw(strategy)


@st.composite
def file_sets(draw, formats: tuple[str, ...] = ("csv", "csv", "xlsx")) -> FileSet:
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4, unique=True))
    values: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    head: dict[str, list[str]] = {kind: draw(headers(kind)) for kind in kinds}
    expected: dict[str, list[tuple]] = defaultdict(list)
    currency = dict(BASE_CURRENCY)

    def unique_ids(high: int) -> list[str]:  # never a BASE- id: those are in the ledger
        low = draw(st.sampled_from([1, 2, 0, 1]))
        return draw(st.lists(ids, min_size=low, max_size=high, unique=True))

    if "customers" in kinds:
        header = head["customers"]
        for customer_id in unique_ids(4):
            v = {
                "customer_id": customer_id,
                "name": draw(TEXTS[200]),
                "email": draw(emails),
                "phone": draw(TEXTS[50]),
                "contact_name": draw(TEXTS[100]),
                "contact_title": _optional_value(draw, "contact_title", header, TEXTS[100]),
                "locale": _optional_value(draw, "locale", header, st.sampled_from(CHOICES["locale"])),
                "country": _optional_value(draw, "country", header, codes2),
                "settlement": _optional_value(draw, "settlement", header, st.sampled_from(CHOICES["settlement"])),
                "payment_terms_days": _optional_value(draw, "payment_terms_days", header, st.integers(0, 3650)),
                "credit_limit": _optional_value(draw, "credit_limit", header, limits),
                "segment": _optional_value(draw, "segment", header, st.sampled_from(CHOICES["segment"])),
                "currency": _optional_value(draw, "currency", header, codes3),
                "collector": _optional_value(draw, "collector", header, ids),
                "late_charge_rate": _optional_value(draw, "late_charge_rate", header, st.sampled_from(RATES)),
                "late_charge_grace_days": _optional_value(draw, "late_charge_grace_days", header, st.integers(0, 3650)),
                "late_charge_cap": _optional_value(draw, "late_charge_cap", header, st.sampled_from(CAPS)),
                "contract_clause": _optional_value(draw, "contract_clause", header, TEXTS[100]),
            }
            values["customers"].append(v)
            currency[customer_id] = v["currency"]
            expected["customers"].append(
                (
                    customer_id,
                    v["name"],
                    v["locale"],
                    v["country"],
                    v["settlement"],
                    v["payment_terms_days"],
                    v["credit_limit"],
                    v["segment"],
                    v["currency"],
                    v["collector"],
                    "active",
                    None,
                    v["late_charge_rate"],
                    v["late_charge_grace_days"],
                    v["late_charge_cap"],
                    v["contract_clause"],
                )
            )
            expected["contacts"].append((customer_id, v["contact_name"], v["contact_title"], v["email"], v["phone"], True))
    customer_pool = sorted(currency)

    open_by_customer: dict[str, dict[str, list]] = defaultdict(dict)
    for customer_id, invoices in BASE_OPEN.items():
        for invoice_id, (due_on, issued_on, open_cents) in invoices.items():
            open_by_customer[customer_id][invoice_id] = [due_on, issued_on, open_cents]
    if "invoices" in kinds:
        header = head["invoices"]
        for invoice_id in unique_ids(6):
            customer_id = draw(st.sampled_from(customer_pool))
            if open_by_customer[customer_id] and draw(booleans):  # near another invoice: terms may overtake
                near = draw(st.sampled_from(sorted(entry[1] for entry in open_by_customer[customer_id].values())))
                issued_on = min(max(near + dt.timedelta(days=draw(st.integers(-40, 40))), dt.date(1, 1, 1)), dt.date(9999, 11, 30))
            else:
                issued_on = draw(dates)
            due_on = min(issued_on + dt.timedelta(days=draw(days_after[120])), dt.date(9999, 12, 31))
            amount = draw(cents)
            written_currency = draw(st.one_of(st.none(), codes3)) if "currency" in header else None
            v = {
                "invoice_id": invoice_id,
                "customer_id": customer_id,
                "issued_on": issued_on,
                "due_on": due_on,
                "amount": money(amount),
                "currency": written_currency,
            }
            values["invoices"].append(v)
            open_by_customer[customer_id][invoice_id] = [due_on, issued_on, amount]
            expected["invoices"].append((invoice_id, customer_id, issued_on, due_on, money(amount), written_currency or currency[customer_id], None))

    if "payments" in kinds:
        header = head["payments"]
        payers = sorted(c for c in open_by_customer if any(entry[2] > 0 for entry in open_by_customer[c].values()))
        candidates = []
        for payment_id in unique_ids(5) if payers else []:
            candidates.append(
                (
                    draw(dates),
                    payment_id,
                    draw(st.sampled_from(payers)),
                    "invoice_id" in header and draw(st.booleans()),
                    draw(st.integers(0, 10)),
                    draw(st.sampled_from([50, 99, 100, 1, 100])),  # percent of what is open
                )
            )
        for received_on, payment_id, customer_id, named, pick, percent in sorted(candidates, key=lambda c: (c[0], c[1])):
            invoices = open_by_customer[customer_id]
            if named:
                invoice_id = sorted(invoices)[pick % len(invoices)]
                available = invoices[invoice_id][2]
            else:
                invoice_id = None
                available = sum(entry[2] for entry in invoices.values())
            if available < 1:
                continue
            amount = min(max(1, available * percent // 100), 10**18 - 1)  # one row's amount stays below 10^16
            values["payments"].append(
                {"payment_id": payment_id, "customer_id": customer_id, "received_on": received_on, "amount": money(amount), "invoice_id": invoice_id}
            )
            expected["payments"].append((payment_id, customer_id, received_on, money(amount), invoice_id))
            # The expected parts come from the ledger's one allocation rule (tested on its own in tests/test_allocation.py).
            still_open = [OpenInvoice(i, entry[0], entry[1], money(entry[2])) for i, entry in invoices.items()]
            for target, part in allocate(money(amount), still_open, customer_id=customer_id, invoice_id=invoice_id):
                invoices[target][2] -= int(part * 100)
                expected["allocations"].append((payment_id, target, part))

    if "charges" in kinds:
        header = head["charges"]
        for charge_id in unique_ids(4):
            delivered_on = draw(dates)
            receipt = None
            if "receipt_received_on" in header and draw(st.booleans()):
                receipt = min(delivered_on + dt.timedelta(days=draw(days_after[60])), dt.date(9999, 12, 31))
            v = {
                "charge_id": charge_id,
                "customer_id": draw(st.sampled_from(customer_pool)),
                "delivered_on": delivered_on,
                "amount": money(draw(cents)),
                "description": _optional_value(draw, "description", header, TEXTS[300]),
                "receipt_received_on": receipt,
            }
            values["charges"].append(v)
            expected["charges"].append((charge_id, v["customer_id"], delivered_on, v["amount"], v["description"], receipt, None))

    files = {}
    for kind in kinds:
        fmt = draw(st.sampled_from(formats))
        records = list(draw(st.permutations(values[kind])))
        rows, infos = [], []
        for v in records:
            rows.append([spell(draw, column, v.get(column), fmt) for column in head[kind]])
            infos.append(
                {
                    "id": v[ID_COLUMN[kind]],
                    "customer_id": v["customer_id"] if kind != "customers" else None,
                    "invoice_id": v["invoice_id"] if kind == "payments" else None,
                }
            )
        for _ in range(draw(st.integers(0, 2))):
            at = draw(st.integers(0, len(rows)))
            rows.insert(at, [""] * draw(st.integers(0, len(head[kind]))))
            infos.insert(at, None)
        files[kind] = FileData(
            kind,
            fmt,
            list(head[kind]),
            rows,
            infos,
            bom=draw(st.booleans()),
            crlf=draw(st.booleans()),
            quote_all=draw(st.booleans()),
            final_newline=draw(st.booleans()),
        )
    return FileSet(files, {k: sorted(v, key=repr) for k, v in expected.items()}, {kind: len(values[kind]) for kind in kinds})


# -- writing files -----------------------------------------------------------------


def _csv_field(value: Any, delimiter: str, quote_all: bool) -> str:
    text = str(value)
    if quote_all or any(ch in text for ch in (delimiter, '"', "\r", "\n")):
        return '"' + text.replace('"', '""') + '"'
    return text


@dataclass
class Written:
    path: Path
    data: bytes
    record_spans: list[tuple[int, int]]  # byte span of each CSV record (the header is record 1); empty for XLSX
    edited_at: int | None = None  # the byte position of a byte edit


_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def write_file(directory: Path, fd: FileData) -> Written:
    path = directory / fd.filename
    if fd.fmt == "xlsx":
        book = Workbook()
        sheet = book.active
        for r, cells in enumerate([fd.header, *fd.rows], start=1):
            for c, value in enumerate(cells, start=1):
                if value == "" or value is None:
                    continue
                cell = sheet.cell(row=r, column=c)
                if isinstance(value, str):
                    cell.value = _XML_ILLEGAL.sub("?", value)
                    cell.data_type = "s"  # never a formula or an error code, whatever the text
                else:
                    cell.value = value
        book.save(path)
        data = path.read_bytes()
        return Written(path, data, [])
    newline = "\r\n" if fd.crlf else "\n"
    lines = [fd.delimiter.join(_csv_field(v, fd.delimiter, fd.quote_all) for v in cells) for cells in [fd.header, *fd.rows]]
    chunks = [(line + newline).encode("utf-8") for line in lines]
    if not fd.final_newline:
        chunks[-1] = lines[-1].encode("utf-8") if lines[-1] else chunks[-1]
    if fd.bom:
        chunks[0] = b"\xef\xbb\xbf" + chunks[0]
    spans, position = [], 0
    for chunk in chunks:
        spans.append((position, position + len(chunk)))
        position += len(chunk)
    data = b"".join(chunks)
    edited_at = None
    if fd.encoding != "utf-8":
        text = data.decode("utf-8-sig")
        data = text.encode(fd.encoding)
    elif fd.byte_edit is not None:
        how, record, offset = fd.byte_edit[:3]
        start, end = spans[record]
        if how == "cut":  # keep at least one byte of the record, cut at least one
            edited_at = start + 1 + offset % max(1, end - start - 1)
            data = data[:edited_at]
        else:
            edited_at = end - 1 - offset % (end - start)  # from the end: after the record's quoted line breaks, if any
            if data[edited_at - 1 : edited_at] == b"\r":
                edited_at -= 1  # not between CR and LF: that would start a record of its own
            data = data[:edited_at] + (b"\x00" if how == "nul" else bytes([fd.byte_edit[3]])) + data[edited_at:]
    path.write_bytes(data)
    return Written(path, data, spans, edited_at)


def record_of(spans: list[tuple[int, int]], position: int) -> int:
    for number, (start, end) in enumerate(spans, start=1):
        if start <= position < end:
            return number
    return len(spans)


# -- mutations -----------------------------------------------------------------------

BAD_VALUES = {
    "date": ["2026/08/31", "31.08.2026", "2026-02-30", "2026-13-01", "45000", "tomorrow", "2026-8-1", "2026-08-31T00:00", "20260831", "２０２６-０８-３１"],
    "amount": [
        "1,234.50",
        "-5.00",
        "10.005",
        "¥1200",
        "1.2E+05",
        "abc",
        "NaN",
        "Infinity",
        "1e999",
        "10000000000000000",
        "12 34",
        "--1",
        "0x10",
        "0",
        "-0",
        "0.00",
    ],
    "limit": ["1,234.50", "-5.00", "10.005", "USD 12", "1.2e3", "abc", "sNaN", "-Infinity", "10000000000000000.00", "１,２３４"],
    "days": ["-1", "3651", "30.0", "abc", "三十", "²", "1e2"],
    "rate": ["0.05", "5%", "0.05%/month", "-1%/day", "１%/day", "=1+1", "1000%/day"],
    "cap": ["%30", "-5%", "abc", "30.005", "1e3", "３０%"],
    "code2": ["CHN", "C1", "中国", "C N"],
    "code3": ["RMB1", "YU", "人民币", "U$D"],
    "locale": ["zh-CN", "zh_cn", "EN", "fr"],
    "settlement": ["monthly", "Per_Invoice", "cash"],
    "segment": ["KEY", "vip", "Ordinary "[:-1].upper()],
    "email": ["not-an-email", "a@b", "a b@c.cn", "a@b.cn;c@d.cn", "a@@b.cn"],
    "id": ["A B", "A;B", "a\tb", "I-1\n2"],
}
# One character more than the ledger keeps.
TOO_LONG = {"email": "x" * 196 + "@b.cn", "id": "X" * 65, "text50": "名" * 51, "text100": "x" * 101, "text200": "名" * 201, "text300": "x" * 301}
ODD_TEXT = st.text(st.characters(codec="utf-8"), max_size=20)
CASCADE = {
    "customers": {"customer_id"},
    "invoices": {"invoice_id", "customer_id", "issued_on", "due_on", "amount"},
    "payments": {"payment_id", "customer_id", "received_on", "amount", "invoice_id"},
    "charges": set(),
}
PARTNERS = {
    ("invoices", "issued_on"): {"due_on"},
    ("charges", "delivered_on"): {"receipt_received_on"},
    ("payments", "customer_id"): {"invoice_id", "amount"},
    ("payments", "received_on"): {"amount"},
    ("payments", "invoice_id"): {"amount"},
}


@dataclass
class Mutation:
    what: str
    kind: str
    must_fail: bool
    row: int | None = None  # index into FileData.rows
    columns: set[str] = field(default_factory=set)  # columns of that row whose cells changed (ANY: all)
    header: bool = False  # a header problem: row 1
    every_row_column: str | None = None  # a column that changed in every row (an optional column dropped)


def _data_rows(fd: FileData) -> list[int]:
    return [i for i, info in enumerate(fd.infos) if info is not None]


def _cell_text(value: Any) -> str:
    """How the reader sees a generated cell."""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value).strip()


@st.composite
def mutated(draw, fileset: FileSet) -> Mutation:
    """Change one thing in ``fileset`` (in place) and say what changed."""
    with_rows = sorted(kind for kind, fd in fileset.files.items() if _data_rows(fd))
    kind = draw(st.sampled_from(with_rows or sorted(fileset.files)))
    fd = fileset.files[kind]
    spec = FILE_KINDS[kind]
    rows = _data_rows(fd)
    groups = {
        "cell": ["cell"] if rows else [],
        "bytes": ["byte", "nul", "cut", "gb18030", "utf16", "semicolons"] if fd.fmt == "csv" else [],
        "row": ["truncate", "extra", "blank"] if rows else [],
        "header": ["header_drop", "header_add", "header_dup", "header_rename"],
    }
    group = draw(st.sampled_from([g for g in ("cell", "bytes", "cell", "row", "header") if groups[g]]))
    how = draw(st.sampled_from(groups[group]))

    if how == "cell":
        index = draw(st.sampled_from(rows))
        column = draw(st.sampled_from(fd.header))
        position = fd.header.index(column)
        ctype = COLUMN_TYPE[column]
        others = [fd.infos[i]["id"] for i in rows if i != index]
        pools = [("bad", st.just(TOO_LONG[ctype]))] if ctype in TOO_LONG else []
        pools += [("bad", st.sampled_from(BAD_VALUES[ctype]))] if ctype in BAD_VALUES else []
        pools += [("odd", ODD_TEXT), ("empty", st.sampled_from(["", "   "]))]
        if column == spec.id_column:
            pools.append(("new id", ids))
            if others:
                pools.append(("duplicate", st.sampled_from(others)))
        if (kind, column) in REFERENCES:
            pools.append(("unknown", st.just(NOBODY)))
            pools.append(("other reference", st.sampled_from(sorted(BASE_IDS["invoices" if column == "invoice_id" else "customers"]))))
        if ctype == "date":
            pools.append(("other date", dates.map(dt.date.isoformat)))
        if ctype in ("amount", "limit"):
            pools.append(("other amount", cents.map(lambda c: f"{money(c)}")))
        label, value = draw(st.sampled_from(pools).flatmap(lambda p: st.tuples(st.just(p[0]), p[1])))
        if fd.fmt == "xlsx":
            value = _XML_ILLEGAL.sub("?", value)
        old = fd.rows[index][position]
        fd.rows[index][position] = value
        changed = {column} if _cell_text(old) != value.strip() else set()
        must_fail = bool(changed) and (label in ("bad", "duplicate", "unknown") or (label == "empty" and column in spec.required))
        return Mutation(f"{kind} row {index + 2} {column}: {old!r} -> {value!r} ({label})", kind, must_fail, index, changed)

    if how == "truncate":
        index = draw(st.sampled_from(rows))
        keep = draw(st.integers(0, len(fd.header) - 1))
        cut = fd.rows[index][keep:]
        del fd.rows[index][keep:]
        changed = {c for c, v in zip(fd.header[keep:], cut) if _cell_text(v) != ""}
        return Mutation(f"{kind} row {index + 2} cut to {keep} cells", kind, False, index, changed)
    if how == "extra":
        index = draw(st.sampled_from(rows))
        extra = draw(st.lists(st.sampled_from(["oops", "1", "x,y", "备注"]), min_size=1, max_size=3))
        fd.rows[index] = fd.rows[index] + [""] * (len(fd.header) - len(fd.rows[index])) + extra
        return Mutation(f"{kind} row {index + 2} with extra cells {extra}", kind, True, index, set())
    if how == "blank":
        index = draw(st.sampled_from(rows))
        fd.rows[index] = [""] * len(fd.rows[index])
        return Mutation(f"{kind} row {index + 2} blanked", kind, False, index, {ANY})

    if how == "header_drop":
        column = draw(st.sampled_from(fd.header))
        position = fd.header.index(column)
        del fd.header[position]
        for cells in fd.rows:
            del cells[position : position + 1]
        required = column in spec.required
        return Mutation(f"{kind} without column {column}", kind, required, header=True, every_row_column=None if required else column)
    if how in ("header_add", "header_rename"):
        name = draw(st.one_of(st.sampled_from(["colour", "Amount", "备注", "customer id", "invoice_id2", "ID", ""]), st.text(max_size=8)))
        name = _XML_ILLEGAL.sub("?", name) if fd.fmt == "xlsx" else name
        stripped = name.strip()
        if stripped in {c.name for c in spec.columns} or "\x00" in name or "\r" in name or "\n" in name:
            name, stripped = "colour", "colour"
        if how == "header_add":
            position = draw(st.integers(0, len(fd.header)))
            fd.header.insert(position, name)
            for cells in fd.rows:
                if len(cells) >= position:
                    cells.insert(position, draw(st.sampled_from(["", "x"])) if stripped and any(str(v).strip() for v in cells) else "")
            trailing_empty = stripped == "" and (fd.fmt == "xlsx" and position == len(fd.header) - 1)
            return Mutation(f"{kind} with an added column {name!r}", kind, not trailing_empty, header=True)
        column = draw(st.sampled_from(fd.header))
        fd.header[fd.header.index(column)] = name if stripped else "colour"
        return Mutation(f"{kind} column {column} renamed {name!r}", kind, True, header=True)
    if how == "header_dup":
        column = draw(st.sampled_from(fd.header))
        position = draw(st.integers(0, len(fd.header)))
        fd.header.insert(position, column)
        for cells in fd.rows:
            if len(cells) >= position:
                cells.insert(position, "")
        return Mutation(f"{kind} with column {column} twice", kind, True, header=True)

    if how == "semicolons":
        fd.delimiter = ";"
        return Mutation(f"{kind} separated by ';'", kind, True, header=True)
    if how == "utf16":
        fd.encoding = "utf-16"
        return Mutation(f"{kind} in UTF-16", kind, True, header=True)
    if how == "gb18030":
        fd.encoding = "gb18030"
        fd.bom = False
        return Mutation(f"{kind} in GB18030", kind, False)
    # Where in the file: a record (the header is record 0 here) and a byte offset into it.
    record = draw(st.sampled_from([r + 1 for r in reversed(rows)] + [0]))
    offset = draw(st.integers(0, 10**4))
    if how == "byte":
        fd.byte_edit = ("byte", record, offset, draw(st.sampled_from([0xFF, 0xC3, 0x80, 0xFE])))
        return Mutation(f"{kind} with a stray byte in record {record + 1}", kind, True)
    if how == "nul":
        fd.byte_edit = ("nul", record, offset)
        return Mutation(f"{kind} with a NUL byte in record {record + 1}", kind, True)
    fd.byte_edit = ("cut", -1, offset)
    return Mutation(f"{kind} cut short in its last record", kind, False)


class Allowed:
    """Where the problems of a mutated set may be: (kind, row) -> columns."""

    def __init__(self) -> None:
        self.places: dict[tuple[str, int], set[str]] = defaultdict(set)

    def add(self, kind: str, row: int, columns: set[str]) -> None:
        self.places[(kind, row)] |= columns | {"-"}

    def permits(self, kind: str, row: int, column: str) -> bool:
        columns = self.places.get((kind, row), set())
        return ANY in columns or column in columns


def _row_values(fd: FileData, index: int) -> dict[str, str]:
    cells = fd.rows[index]
    return {c: _cell_text(v) for c, v in zip(fd.header, cells)}


def _cut_values(fd: FileData, w: Written) -> dict[str, str]:
    """The cells of the last record as far as it was kept."""
    start, _end = w.record_spans[-1]
    kept = w.data[start : w.edited_at].decode("utf-8", "ignore")
    cells = next(csv.reader(io.StringIO(kept, newline="")), [])
    return {c: v.strip() for c, v in zip(fd.header, cells)}


def allowed_places(fileset: FileSet, original: FileSet, mutation: Mutation, written: dict[str, Written]) -> Allowed:
    allowed = Allowed()
    kind = mutation.kind
    fd, before = fileset.files[kind], original.files[kind]
    touched: list[tuple[int, set[str]]] = []  # (row index, changed columns)
    if mutation.header:
        allowed.add(kind, 1, {ANY})
    if mutation.row is not None:
        touched.append((mutation.row, mutation.columns))
    if mutation.every_row_column:
        touched += [(i, {mutation.every_row_column}) for i in _data_rows(before)]
    w = written[kind]
    if fd.encoding == "gb18030":
        touched += [(i, {ANY}) for i in _data_rows(before) if not all(_cell_text(v).isascii() for v in before.rows[i])]
    if fd.byte_edit is not None:
        record = record_of(w.record_spans, w.edited_at)
        if record == 1:
            allowed.add(kind, 1, {ANY})
        else:
            touched.append((record - 2, {ANY}))
    for index, changed in touched:
        allowed.add(
            kind,
            index + 2,
            {ANY} if (ANY in changed or ID_COLUMN[kind] in changed) else changed | set().union(*(PARTNERS.get((kind, c), set()) for c in changed)),
        )
        info = before.infos[index]
        if info is None or not changed:
            continue
        if fd.byte_edit is None and fd.encoding == "utf-8":
            now = _row_values(fd, index)
        elif fd.byte_edit is not None and fd.byte_edit[0] == "cut":
            now = _cut_values(fd, w)
        else:
            now = {}
        new_id = now.get(ID_COLUMN[kind])
        ids_involved = {info["id"], new_id} - {None}
        customers = {info["customer_id"], now.get("customer_id")} - {None}
        for j, other in enumerate(before.infos):
            if other is not None and j != index and other["id"] == new_id:
                allowed.add(kind, j + 2, {ID_COLUMN[kind]})
                customers.add(other["customer_id"])
        if not (ANY in changed or changed & CASCADE[kind]):
            continue
        if kind == "customers":
            for other_kind in ("invoices", "payments", "charges"):
                if other_kind in original.files:
                    for j, other in enumerate(original.files[other_kind].infos):
                        if other is not None and other["customer_id"] in ids_involved:
                            allowed.add(other_kind, j + 2, {"customer_id"})
        if kind == "invoices" and "payments" in original.files:
            for j, other in enumerate(original.files["payments"].infos):
                if other is not None and (other["customer_id"] in customers or other["invoice_id"] in ids_involved):
                    allowed.add("payments", j + 2, {"invoice_id", "amount"})
        if kind == "payments":
            for j, other in enumerate(before.infos):
                if other is not None and other["customer_id"] in customers:
                    allowed.add("payments", j + 2, {"amount"})
    return allowed


def _copy(fileset: FileSet) -> FileSet:
    files = {
        kind: FileData(**{**fd.__dict__, "header": list(fd.header), "rows": [list(r) for r in fd.rows], "infos": list(fd.infos)})
        for kind, fd in fileset.files.items()
    }
    return FileSet(files, fileset.expected, fileset.counts)


def write_all(directory: Path, fileset: FileSet) -> dict[str, Written]:
    return {kind: write_file(directory, fd) for kind, fd in fileset.files.items()}


def assert_imported_in_full(session: Session, written: dict[str, Written]) -> None:
    models = {"customers": Customer, "invoices": Invoice, "payments": Payment, "charges": Charge}
    for kind, w in written.items():
        table = read_table(w.path)
        position = table.header.index(ID_COLUMN[kind])
        for _number, cells in table.rows:
            assert session.get(models[kind], cells[position]) is not None, f"{kind} {cells[position]!r} was accepted but is not in the ledger"


# -- (a) a valid set -----------------------------------------------------------------


def test_a_valid_set_imports_exactly_and_a_reimport_changes_nothing(ledger):
    @settings(PROFILE, max_examples=examples(60 if ledger.backend == "sqlite" else 12))
    @given(file_sets())
    def run(fileset: FileSet) -> None:
        directory = ledger.workdir()
        written = write_all(directory, fileset)
        paths = {kind: w.path for kind, w in written.items()}
        with Session(ledger.engine) as session:
            try:
                before = entity_view(session)
                summary = import_files(session, paths)
                after = entity_view(session)
                for name in after:
                    added = sorted(set(after[name]) - set(before[name]), key=repr)
                    assert sorted(before[name] + fileset.expected.get(name, []), key=repr) == after[name], f"{name}: the ledger gained {added}"
                # The same, counted and summed: rows per kind, and money as Decimal.
                for kind, amount_at in (("customers", None), ("invoices", 4), ("payments", 3), ("charges", 3), ("allocations", 2)):
                    new_rows = [r for r in after[kind] if r not in before[kind]]
                    generated = fileset.expected.get(kind, [])
                    assert len(new_rows) == len(generated) == (summary.created[kind] if kind != "allocations" else summary.allocations)
                    if amount_at is not None:
                        assert sum((r[amount_at] for r in new_rows), Decimal(0)) == sum((r[amount_at] for r in generated), Decimal(0))
                assert sum(r[2] for r in after["allocations"]) == sum(r[3] for r in after["payments"])
                assert_strings_fit(session, ledger.tables)
                assert_allocations_balance(session)
                once = snapshot(session, ledger.tables)
                again = import_files(session, paths)
                assert sum(again.created.values()) == sum(again.updated.values()) == again.allocations == 0
                assert {k: v for k, v in again.unchanged.items() if v} == {k: v for k, v in fileset.counts.items() if v}
                assert snapshot(session, ledger.tables) == once
            finally:
                session.rollback()
        shutil.rmtree(directory)

    run()


# -- (b) a mutated set ---------------------------------------------------------------


def check_mutated(ledger: Ledger, fileset: FileSet, data) -> None:
    original = _copy(fileset)
    mutation = data.draw(mutated(fileset), label="mutation")
    directory = ledger.workdir()
    written = write_all(directory, fileset)
    paths = {kind: w.path for kind, w in written.items()}
    label_kind = {str(w.path): kind for kind, w in written.items()}
    with Session(ledger.engine) as session:
        try:
            before = snapshot(session, ledger.tables)
            try:
                import_files(session, paths)
            except ImportFailed as failed:
                assert snapshot(session, ledger.tables) == before, "a refused import changed the ledger"
                assert not session.new and not session.dirty
                allowed = allowed_places(fileset, original, mutation, written)
                assert failed.problems, "refused without a problem"
                for problem in failed.problems:
                    assert problem.file in label_kind, f"{problem}: not one of the files"
                    assert problem.column and problem.message, f"{problem}: no column or message"
                    assert allowed.permits(label_kind[problem.file], problem.row, problem.column), (
                        f"after the mutation [{mutation.what}] a problem is reported elsewhere: {problem}\n"
                        f"allowed: {dict(allowed.places)}\nall problems:\n" + "\n".join(map(str, failed.problems))
                    )
            else:
                assert not mutation.must_fail, f"the mutation [{mutation.what}] is bad but the import accepted it"
                assert_imported_in_full(session, written)
                assert_strings_fit(session, ledger.tables)
                assert_allocations_balance(session)
        finally:
            session.rollback()
    shutil.rmtree(directory)


def test_a_mutated_set_imports_in_full_or_is_refused_at_the_mutation_and_changes_nothing(ledger):
    @settings(PROFILE, max_examples=examples(200 if ledger.backend == "sqlite" else 25))
    @given(file_sets(), st.data())
    def run(fileset: FileSet, data) -> None:
        check_mutated(ledger, fileset, data)

    run()


# -- (c) any bytes ---------------------------------------------------------------------


@lru_cache(maxsize=None)
def template_workbook(kind: str) -> bytes:
    book = Workbook()
    sheet = book.active
    if kind == "customers":
        sheet.append(["customer_id", "name", "email", "phone", "contact_name", "payment_terms_days", "credit_limit"])
        sheet.append([1001, "宁波远洋包装有限公司", "cw@yy.example.cn", 13912345678, "陈静", 45, 20000.5])
    else:
        sheet.append(["invoice_id", "customer_id", "issued_on", "due_on", "amount"])
        sheet.append(["INV-1", "BASE-1", dt.datetime(2026, 9, 30), dt.date(2026, 11, 14), 1234.56])
        sheet.append(["INV-2", "BASE-2", "2026-09-30", "2026-11-14", "12.00"])
    book.save(buffer := io.BytesIO())
    return _rezipped(_members(buffer.getvalue()))


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        return {info.filename: source.read(info) for info in source.infolist()}


def _rezipped(members: dict[str, bytes]) -> bytes:
    """A zip with fixed timestamps, so that the same edits give the same bytes in every run."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in members.items():
            content = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"2026-01-01T00:00:00Z", content)
            target.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), content, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


@st.composite
def damaged_workbooks(draw) -> bytes:
    data = template_workbook(draw(st.sampled_from(["customers", "invoices"])))
    how = draw(st.sampled_from(["bytes", "cut", "xml", "xml", "member"]))
    if how == "bytes":
        edited = bytearray(data)
        for _ in range(draw(st.integers(1, 6))):
            edited[draw(st.integers(0, len(edited) - 1))] = draw(st.integers(0, 255))
        return bytes(edited)
    if how == "cut":
        return data[: draw(st.integers(0, len(data) - 1))]
    members = _members(data)
    name = draw(st.sampled_from(sorted(members)))
    if how == "member":
        members[name] = draw(st.binary(max_size=200))
    else:
        text = bytearray(members[name])
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(text) - 1))
            text[at : at + draw(st.integers(0, 3))] = draw(st.sampled_from([b"", b"<", b">", b'"', b"9", b"x", b"A", b"-1", b"&", b"\xff"]))
        members[name] = bytes(text)
    return _rezipped(members)


@st.composite
def damaged_csv(draw) -> bytes:
    kind = draw(st.sampled_from(KINDS))
    base = BASE_FILES[kind].replace("BASE-", "N-").encode("utf-8")
    edited = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(edited)))
        edited[at : at + draw(st.integers(0, 2))] = draw(st.binary(min_size=0, max_size=3))
    return bytes(edited)


any_content = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda h, b: h + b, st.sampled_from([t.split(b"\n", 1)[0] + b"\n" for t in (v.encode() for v in BASE_FILES.values())]), st.binary(max_size=200)),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    damaged_csv(),
    damaged_workbooks(),
)


def test_any_bytes_import_or_are_refused_with_problems_never_another_error(sqlite_ledger):
    tables = sqlite_ledger.tables

    @settings(PROFILE, max_examples=examples(200))
    @given(st.sampled_from(KINDS), st.sampled_from([".csv", ".xlsx", ".txt"]), any_content)
    @example("customers", ".xlsx", b"PK\x03\x04" + b"\x00" * 40)
    @example("invoices", ".csv", b'invoice_id,customer_id,issued_on,due_on,amount\nI1,"BASE-1\x00\n')
    def run(kind: str, suffix: str, content: bytes) -> None:
        directory = sqlite_ledger.workdir()
        path = directory / f"{kind}{suffix}"
        path.write_bytes(content)
        with Session(sqlite_ledger.engine) as session:
            try:
                before = snapshot(session, tables)
                try:
                    import_files(session, {kind: path})
                except ImportFailed as failed:
                    assert failed.problems
                    lines = content.count(b"\n") + content.count(b"\r") + 1
                    for problem in failed.problems:
                        assert problem.file == str(path)
                        assert isinstance(problem.row, int) and problem.row >= 1
                        if suffix != ".xlsx":
                            assert problem.row <= lines, f"{problem}: the file has {lines} lines"
                        assert isinstance(problem.column, str) and problem.column
                        assert isinstance(problem.message, str) and problem.message
                        assert str(problem).startswith(f"{path}:{problem.row}:")
                    assert snapshot(session, tables) == before
            finally:
                session.rollback()
        shutil.rmtree(directory)

    run()


# -- what these properties found, pinned -------------------------------------------------
# Each of these failed before the fix named in its docstring.

CUSTOMERS_HEADER = "customer_id,name,email,phone,contact_name"
INVOICES_HEADER = "invoice_id,customer_id,issued_on,due_on,amount"


def _problems(session: Session, files: dict[str, Path]) -> list[str]:
    with pytest.raises(ImportFailed) as failed:
        import_files(session, files)
    session.rollback()
    return [str(p) for p in failed.value.problems]


@pytest.mark.parametrize(
    ("customers", "expected"),
    [
        (b"customer_id,name,emial,phone,contact_name\nC1,A,a@b.cn,1,x\n", ["1:email: required column is missing", "1:emial: unknown column"]),
        (b"customer_id;name;email;phone;contact_name\nC1;A;a@b.cn;1;x\n", ["1:customer_id;name;email;phone;contact_nam: columns are separated by ';'"]),
        (b"customer_id,name,email,phone,contact_name\nC0,A,a@b.cn,1,x\nC1,\xff,a@b.cn,1,x\n", ["3:-: not UTF-8 text"]),
        (CUSTOMERS_HEADER.encode() + b'\nC0,A,a@b.cn,1,x\nC1,"A,a@b.cn,1,x\n', ["3:-: not valid CSV"]),
        (CUSTOMERS_HEADER.encode() + b"\nC1,A,a@b.cn,1,x,oops\n", ["2:-: the row has 6 cells but the header has 5 columns"]),
    ],
    ids=["header", "separator", "encoding", "csv", "extra-cells"],
)
def test_a_customers_file_that_cannot_be_read_does_not_make_its_customers_unknown(tmp_path, session, customers, expected):
    """Fixed in importer.py: the invoices of a customer whose file (or row) could not be read were each
    reported as "unknown customer C1: it is neither in the ledger nor in the customers file", one
    line per invoice, although C1 is in the file (the file had a header typo, say)."""
    (tmp_path / "customers.csv").write_bytes(customers)
    (tmp_path / "invoices.csv").write_text(f"{INVOICES_HEADER}\nI1,C1,2026-01-01,2026-02-01,1.00\nI2,C1,2026-01-01,2026-02-01,2.00\n")
    problems = _problems(session, {"customers": tmp_path / "customers.csv", "invoices": tmp_path / "invoices.csv"})
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected):
        assert problem.startswith(f"{tmp_path / 'customers.csv'}:{start}")


def test_an_unreadable_invoices_file_does_not_make_the_payments_invoices_unknown(tmp_path, session):
    """Fixed in importer.py, as above, for the invoice a payment names."""
    (tmp_path / "customers.csv").write_text(f"{CUSTOMERS_HEADER}\nC1,A,a@b.cn,1,x\n")
    (tmp_path / "invoices.csv").write_text("invoice_id,customer_id,issued_on,due_on\nI1,C1,2026-01-01,2026-02-01\n")
    (tmp_path / "payments.csv").write_text("payment_id,customer_id,received_on,amount,invoice_id\nP1,C1,2026-02-01,1.00,I1\n")
    files = {kind: tmp_path / f"{kind}.csv" for kind in ("customers", "invoices", "payments")}
    assert _problems(session, files) == [f"{files['invoices']}:1:amount: required column is missing from the header row"]


def test_an_empty_customer_id_next_to_an_unknown_one(tmp_path, session):
    """Fixed in importer.py: this raised ``TypeError: '<' not supported between instances of
    'NoneType' and 'str'`` (the empty cell's None was sorted with the unknown customer ids)."""
    path = tmp_path / "invoices.csv"
    path.write_text(f"{INVOICES_HEADER}\nI1,,2026-01-01,2026-02-01,1.00\nI2,C9,2026-01-01,2026-02-01,1.00\n")
    assert _problems(session, {"invoices": path}) == [
        f"{path}:2:customer_id: is empty; a value is required",
        f"{path}:3:customer_id: unknown customer C9: it is neither in the ledger nor in the customers file",
    ]


@pytest.mark.parametrize(
    ("data", "row"),
    [
        (CUSTOMERS_HEADER.encode() + b'\nC1,"two\nlines",a@b.cn,1,x\nC2,B\xff,a@b.cn,1,x\n', 3),
        (CUSTOMERS_HEADER.encode() + b'\nC1,"two\r\nlines\n!",a@b.cn,1,x\nC2,B\x00,a@b.cn,1,x\n', 3),
        (b"\xef\xbb\xbf" + CUSTOMERS_HEADER.encode() + b"\n\xff1,A,a@b.cn,1,x\n", 2),
        (b"\xef\xbb\xbf" + CUSTOMERS_HEADER.encode() + b"\r\nC\xff,A,a@b.cn,1,x\r\n", 2),
    ],
    ids=["encoding-after-a-quoted-line-break", "nul-after-quoted-line-breaks", "bom", "bom-crlf"],
)
def test_a_file_wide_problem_names_the_record_not_the_line(tmp_path, session, data, row):
    """Fixed in tables.py: a byte that is not UTF-8, or a NUL, was reported at its line, which is not
    the row (CONTRACT.md: ROW counts records, the header as 1) once a quoted cell holds a line break;
    with a BOM the position was also off by its 3 bytes."""
    path = tmp_path / "customers.csv"
    path.write_bytes(data)
    (problem,) = _problems(session, {"customers": path})
    assert problem.startswith(f"{path}:{row}:-: ")


def test_a_damaged_workbook_is_refused_and_not_a_crash(tmp_path, session):
    """Fixed in tables.py: openpyxl's own errors on a damaged .xlsx (xml ParseError, zlib.error,
    NotImplementedError, ValueError on a bad number...) escaped the importer, on opening the
    workbook or later while its rows were read."""
    members = _members(template_workbook("invoices"))
    sheet = members["xl/worksheets/sheet1.xml"]
    damaged = {
        "styles": {**members, "xl/styles.xml": b""},
        "number": {**members, "xl/worksheets/sheet1.xml": sheet.replace(b"<v>1234.56</v>", b"<v>12x4.56</v>")},
        "xml": {**members, "xl/worksheets/sheet1.xml": sheet[: len(sheet) // 2]},
    }
    message = "the workbook is damaged or not in .xlsx format; save it again from Excel as .xlsx"
    for name, content in damaged.items():
        path = tmp_path / f"{name}.xlsx"
        path.write_bytes(_rezipped(content))
        (problem,) = _problems(session, {"invoices": path})
        assert problem.endswith(f":-: {message}") and problem.startswith(str(path))
    bad_compression = bytearray(_rezipped(members))
    bad_compression[200:204] = b"\xff\xff\xff\xff"
    (tmp_path / "zlib.xlsx").write_bytes(bytes(bad_compression))
    assert _problems(session, {"invoices": tmp_path / "zlib.xlsx"})


def test_an_email_longer_than_the_ledger_keeps_is_refused(tmp_path, session):
    """Fixed in import_rows.py: emails had no length limit; the ledger keeps 200 characters, so
    PostgreSQL failed the whole import with a DataError (and SQLite stored it)."""
    path = tmp_path / "customers.csv"
    email = "x" * 196 + "@b.cn"
    path.write_text(f"{CUSTOMERS_HEADER}\nC1,A,{email},1,x\nC2,B,{email[1:]},1,y\n")
    assert _problems(session, {"customers": path}) == [f"{path}:2:email: is 201 characters long; at most 200 fit"]
