"""``huikuan import``: customers, invoices, payments and charges in one transaction.

The import reads, checks and writes a chunk of rows at a time, inside a savepoint
of the one transaction, and rolls back to it when any row has a problem, so a bad
file never leaves a half-written ledger and memory does not grow with the files. Every problem is
reported as ``FILE:ROW:COLUMN: message`` (the header is row 1). Re-importing the
same ids with the same content changes nothing; changed content is refused
unless ``update`` is set. Payments without an invoice are applied to the
customer's oldest open invoices first; a payment larger than what is open is
refused.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.orm import Session

from huikuan.ledger import account_state
from huikuan.ledger.settings import get_settings
from huikuan.ledger.tables import UnreadableFile, read_table
from models.allocation import AllocationRefused, OpenInvoice, allocate
from models.import_rows import FILE_KINDS, check_header
from models.ledger import Allocation, Charge, Contact, Customer, Invoice, Payment
from models.money import ZERO

KIND_ORDER = ("customers", "invoices", "payments", "charges")
CHUNK = 5000

T = TypeVar("T")
Track = Callable[[Iterable[T], str], Iterable[T]]


def no_tracking(items: Iterable[T], _description: str) -> Iterable[T]:
    return items


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row}:{self.column}: {self.message}"


class ImportFailed(Exception):
    """The import was refused; nothing was written. ``problems`` says why, row by row."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s); nothing was imported")
        self.problems = list(problems)


@dataclass
class ImportSummary:
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    unchanged: Counter = field(default_factory=Counter)
    allocations: int = 0


@dataclass(slots=True)
class Row:
    file: str
    number: int
    values: dict[str, Any]  # a cell that did not parse is missing
    present: frozenset[str]  # the columns the file has: absent ones are not compared on re-import
    ok: bool = True  # every cell parsed; only such rows are written


@dataclass(slots=True)
class _Payment:
    """A new or changed payment, kept until every file is written: payments are allocated last, oldest first."""

    customer_id: str
    received_on: dt.date
    payment_id: str
    amount: Decimal
    invoice_id: str | None
    file: str
    number: int


def import_files(
    session: Session, files: Mapping[str, Path], *, update_existing: bool = False, track: Track = no_tracking, chunk_size: int = CHUNK
) -> ImportSummary:
    """Check ``files`` (kind -> path) against each other and the ledger, and write them, ``chunk_size`` rows at a time.

    The files are read in the order customers, invoices, payments, charges; each
    chunk of rows is checked and written before the next is read, inside a
    savepoint of the session's transaction, so memory does not grow with the
    files. A row refers only to files read before its own, which are then in the
    ledger. Which ids a file already had (duplicates) is kept in a temporary table.

    Raises:
        ImportFailed: with every problem found; everything the import wrote is rolled back (the session's own work is kept).
    """
    unknown = set(files) - set(FILE_KINDS)
    if unknown:
        raise ValueError(f"unknown import kinds: {sorted(unknown)}")
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    return _Import(session, update_existing, track, chunk_size).run({kind: Path(files[kind]) for kind in KIND_ORDER if kind in files})


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _padded(values: Sequence[T]) -> list[T]:
    """``values`` for an IN list, padded (with its first value again) to a length of a few kinds only.

    Each length of an IN list is another statement, and SQLite keeps the last 128 it
    prepared (each with its thousands of parameters): lengths that vary chunk by
    chunk would make memory grow with the files.
    """
    size = 16
    while size < len(values):
        size *= 2
    size = max(len(values), min(size, CHUNK))
    return [*values, *[values[0]] * (size - len(values))] if values else []


# What a re-import compares, per kind: ledger field -> import column.
_COMPARED = {
    "customers": (
        "name",
        "email",
        "phone",
        "contact_name",
        "contact_title",
        "locale",
        "country",
        "settlement",
        "payment_terms_days",
        "credit_limit",
        "segment",
        "currency",
        "collector",
        "late_charge_rate",
        "late_charge_grace_days",
        "late_charge_cap",
        "contract_clause",
    ),
    "invoices": ("customer_id", "issued_on", "due_on", "amount", "currency"),
    "payments": ("customer_id", "received_on", "amount", "invoice_id"),
    "charges": ("customer_id", "delivered_on", "amount", "description", "receipt_received_on"),
}

# The ids each file of this import has shown so far, with their row: a later row with the same id is a duplicate.
# A temporary table (of the connection, never committed to the ledger), so that memory does not grow with the files.
_SEEN = "huikuan_import_seen"
_SEEN_BEFORE = text(f"SELECT id, first_row FROM {_SEEN} WHERE kind = :kind AND id IN :ids").bindparams(bindparam("ids", expanding=True))
_SEEN_ADD = f"INSERT INTO {_SEEN} (kind, id, first_row) VALUES (%s, %s, %s)"  # to the driver as it is: a row costs it no SQLAlchemy parameter handling


class _Import:
    """One import: the files read, checked and written a chunk of rows at a time."""

    def __init__(self, session: Session, update_existing: bool, track: Track, chunk_size: int) -> None:
        self.session = session
        self.update_existing = update_existing
        self.track = track
        self.chunk_size = chunk_size
        self.problems: list[Problem] = []
        self.summary = ImportSummary()
        for kind in KIND_ORDER:
            self.summary.created[kind] = self.summary.updated[kind] = 0
        self.labels: dict[str, str] = {}  # kind -> the file's name in problems, for the files read so far
        self.incomplete: set[str] = set()  # kinds whose file (or its header) could not be read: which ids it holds is unknown
        self.troubled: dict[str, set[str]] = defaultdict(set)  # ids of rows with a problem: rows that refer to them are not reported as well
        self.payments: list[_Payment] = []

    def problem(self, row: Row, column: str, message: str) -> None:
        self.problems.append(Problem(row.file, row.number, column, message))

    def run(self, files: Mapping[str, Path]) -> ImportSummary:
        session = self.session
        session.execute(
            text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_SEEN} (kind TEXT NOT NULL, id TEXT NOT NULL, first_row INTEGER NOT NULL, PRIMARY KEY (kind, id))")
        )
        session.execute(text(f"DELETE FROM {_SEEN}"))  # a write: on SQLite it also opens the transaction that the savepoint nests in
        with session.begin_nested():  # a problem rolls back to here
            for kind, path in files.items():
                self._read(kind, path)
            if not self.problems:
                self._allocate_payments()
            if self.problems:
                order = {label: KIND_ORDER.index(kind) for kind, label in self.labels.items()}
                raise ImportFailed(sorted(self.problems, key=lambda p: (order[p.file], p.row, p.column)))
            session.execute(text(f"DELETE FROM {_SEEN}"))
            session.flush()
        return self.summary

    # -- reading --------------------------------------------------------------

    def _read(self, kind: str, path: Path) -> None:
        label = self.labels[kind] = str(path)
        file_kind = FILE_KINDS[kind]
        before = len(self.problems)
        try:
            table = read_table(path)
            header_problems = check_header(file_kind, table.header)
            if header_problems:
                self.problems.extend(Problem(label, 1, col, msg) for col, msg in header_problems)
                self.incomplete.add(kind)
                return
            chunk: list[tuple[int, list[str]]] = []
            for number_and_cells in self.track(table.rows, f"reading {path.name}"):
                chunk.append(number_and_cells)
                if len(chunk) >= self.chunk_size:
                    self._chunk(kind, label, table.header, chunk)
                    chunk = []
            if chunk:
                self._chunk(kind, label, table.header, chunk)
        except UnreadableFile as exc:
            del self.problems[before:]  # the file's own problem alone, as when a file cannot be read at all
            self.problems.append(Problem(label, exc.row, "-", exc.message))
            self.incomplete.add(kind)

    def _chunk(self, kind: str, label: str, header: list[str], raw: list[tuple[int, list[str]]]) -> None:
        """Parse, check and write one chunk of a file's rows."""
        file_kind = FILE_KINDS[kind]
        id_column, width, present = file_kind.id_column, len(header), frozenset(header)
        named_rows = [(number, cells, dict(zip(header, cells))) for number, cells in raw]
        ids = list({named.get(id_column, "") for _n, _c, named in named_rows} - {""})
        first_row: dict[str, int] = {}
        for part in _chunks(ids):
            first_row.update(self.session.execute(_SEEN_BEFORE, {"kind": kind, "ids": _padded(part)}).all())
        first_seen: list[tuple[str, str, int]] = []
        rows: list[Row] = []
        for number, cells, named in named_rows:
            row_id = named.get(id_column, "")
            if len(cells) > width and any(cells[width:]):
                self.problems.append(Problem(label, number, "-", f"the row has {len(cells)} cells but the header has {width} columns"))
                self.troubled[kind].add(row_id)
                continue
            if row_id:
                if row_id in first_row:
                    self.problems.append(Problem(label, number, id_column, f"{row_id} appears again (first at row {first_row[row_id]})"))
                    continue
                first_row[row_id] = number
                first_seen.append((kind, row_id, number))
            values, row_problems = file_kind.parse_row(named)
            self.problems.extend(Problem(label, number, col, msg) for col, msg in row_problems)
            if row_problems:
                self.troubled[kind].add(row_id)
            # Rows with a bad cell still go through the other checks, so the clerk sees every problem at once.
            rows.append(Row(label, number, values, present, ok=not row_problems))
        if first_seen:
            connection = self.session.connection()
            connection.exec_driver_sql(_SEEN_ADD.replace("%s", "?") if connection.dialect.paramstyle == "qmark" else _SEEN_ADD, first_seen)
        {"customers": self._customers, "invoices": self._invoices, "payments": self._payments, "charges": self._charges}[kind](rows)

    # -- checks and writes, a chunk at a time -----------------------------------

    def _may_hold(self, kind: str, row_id: str) -> bool:
        """Was ``row_id`` (perhaps) in the file of ``kind`` with a problem? Then a row referring to it has no problem of its own."""
        return kind in self.labels and (row_id in self.troubled[kind] or kind in self.incomplete)

    def _refused(self, kind: str, row: Row) -> None:
        """``row`` is not written: rows referring to it are not reported as well."""
        self.troubled[kind].add(row.values.get(FILE_KINDS[kind].id_column) or "")

    def _classify(self, kind: str, rows: list[Row], existing: Mapping[str, Mapping[str, Any]]) -> tuple[list[Row], list[Row]]:
        """Sort rows into new and changed (counting the unchanged); changed needs ``update_existing``."""
        id_column = FILE_KINDS[kind].id_column
        new: list[Row] = []
        changed: list[Row] = []
        for row in rows:
            old = existing.get(row.values[id_column])
            if old is None:
                new.append(row)
                continue
            differing = [c for c in _COMPARED[kind] if c in row.present and row.values[c] != old[c]]
            if not differing:
                self.summary.unchanged[kind] += 1
            elif self.update_existing:
                changed.append(row)
            else:
                self._refused(kind, row)
                for column in differing:
                    self.problem(
                        row,
                        column,
                        f"{row.values[id_column]} is already in the ledger with {column} {_show(old[column])}, "
                        f"this row says {_show(row.values[column])}; import with --update to change it",
                    )
        return new, changed

    def _existing(self, model, id_column: str, rows: list[Row]) -> dict[str, dict[str, Any]]:
        """The ledger's compared fields of the rows' ids."""
        fields = (id_column, *_COMPARED[model.__tablename__])
        columns = [getattr(model, f) for f in fields]
        existing: dict[str, dict[str, Any]] = {}
        for part in _chunks(rows):
            for values in self.session.execute(select(*columns).where(getattr(model, id_column).in_(_padded([r.values[id_column] for r in part])))):
                existing[values[0]] = dict(zip(fields, values))
        return existing

    def _customer_currencies(self, rows: list[Row]) -> dict[str, str]:
        """customer -> currency, for the customers the rows name that are in the ledger (the customers file's are written by now)."""
        ids = sorted({r.values["customer_id"] for r in rows if r.values.get("customer_id") is not None})
        currencies: dict[str, str] = {}
        for part in _chunks(ids):
            currencies.update(self.session.execute(select(Customer.customer_id, Customer.currency).where(Customer.customer_id.in_(_padded(part)))).all())
        return currencies

    def _customer_ok(self, row: Row, known: Mapping[str, str]) -> bool:
        customer_id = row.values.get("customer_id")
        if customer_id is None or customer_id in known:
            return customer_id is not None
        if not self._may_hold("customers", customer_id):  # else its own row (or the file) already has a problem
            self.problem(row, "customer_id", f"unknown customer {customer_id}: it is neither in the ledger nor in the customers file")
        return False

    def _dates_ok(self, row: Row, first: str, later: str, what: str) -> bool:
        """``later`` may not come before ``first`` (when both parsed)."""
        start, end = row.values.get(first), row.values.get(later)
        if start is not None and end is not None and end < start:
            self.problem(row, later, f"{end} is before the {what} {start}")
            return False
        return True

    def _customers(self, rows: list[Row]) -> None:
        rows = [r for r in rows if r.ok]
        existing: dict[str, dict[str, Any]] = {}
        for part in _chunks(rows):
            query = (
                select(Customer, Contact)
                .outerjoin(Contact, (Contact.customer_id == Customer.customer_id) & Contact.is_primary)
                .where(Customer.customer_id.in_(_padded([r.values["customer_id"] for r in part])))
            )
            for customer, contact in self.session.execute(query):
                existing[customer.customer_id] = {
                    "name": customer.name,
                    "email": contact.email if contact else None,
                    "phone": contact.phone if contact else None,
                    "contact_name": contact.name if contact else None,
                    "contact_title": contact.title if contact else None,
                    "locale": customer.locale.value,
                    "country": customer.country,
                    "settlement": customer.settlement.value,
                    "payment_terms_days": customer.payment_terms_days,
                    "credit_limit": customer.credit_limit,
                    "segment": customer.segment.value,
                    "currency": customer.currency,
                    "collector": customer.collector,
                    "late_charge_rate": customer.late_charge_rate,
                    "late_charge_grace_days": customer.late_charge_grace_days,
                    "late_charge_cap": customer.late_charge_cap,
                    "contract_clause": customer.contract_clause,
                }
        new, changed = self._classify("customers", rows, existing)
        del existing
        session = self.session
        if new:
            session.execute(insert(Customer.__table__), [_customer_fields(r.values) for r in new])
            session.execute(insert(Contact.__table__), [{**_contact_fields(r.values), "customer_id": r.values["customer_id"], "is_primary": True} for r in new])
        for row in changed:
            customer_id = row.values["customer_id"]
            if "credit_limit" in row.present:
                self._note_limit_change(customer_id, row.values["credit_limit"])
            session.execute(update(Customer).where(Customer.customer_id == customer_id).values(_only(_customer_fields(row.values), row.present)))
            contact = _only(_contact_fields(row.values), row.present, renamed={"name": "contact_name", "title": "contact_title"})
            if contact:
                if contact.get("email"):  # a new address is no longer known to bounce (huikuan.outbox.bounces)
                    session.execute(
                        update(Contact)
                        .where(Contact.customer_id == customer_id, Contact.is_primary, Contact.email != contact["email"])
                        .values(email_bounced_on=None)
                    )
                session.execute(update(Contact).where(Contact.customer_id == customer_id, Contact.is_primary).values(contact))
        self.summary.created["customers"] += len(new)
        self.summary.updated["customers"] += len(changed)

    def _invoices(self, rows: list[Row]) -> None:
        currencies = self._customer_currencies(rows)
        checked = []
        for row in rows:
            customer_ok = self._customer_ok(row, currencies)
            if not (self._dates_ok(row, "issued_on", "due_on", "issue date") and customer_ok and row.ok):
                self._refused("invoices", row)
                continue
            if row.values["currency"] is None:
                row.values["currency"] = currencies[row.values["customer_id"]]
            checked.append(row)
        existing = self._existing(Invoice, "invoice_id", checked)
        new, changed = self._classify("invoices", checked, existing)
        paid = self._allocated({r.values["invoice_id"] for r in changed})
        kept = []
        for row in changed:
            invoice_id = row.values["invoice_id"]
            owner = existing[invoice_id]["customer_id"]
            if row.values["customer_id"] != owner:
                self.problem(row, "customer_id", f"invoice {invoice_id} belongs to {owner}; an invoice cannot move to another customer")
            elif row.values["amount"] < paid.get(invoice_id, ZERO):
                self.problem(row, "amount", f"{row.values['amount']} is less than the {paid[invoice_id]} already paid on invoice {invoice_id}")
            else:
                kept.append(row)
        self._write("invoices", Invoice, "invoice_id", new, kept)

    def _allocated(self, invoice_ids: set[str]) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for part in _chunks(sorted(invoice_ids)):
            query = select(Allocation.invoice_id, func.sum(Allocation.amount)).where(Allocation.invoice_id.in_(_padded(part)))
            totals.update(self.session.execute(query.group_by(Allocation.invoice_id)).all())
        return totals

    def _payments(self, rows: list[Row]) -> None:
        currencies = self._customer_currencies(rows)
        candidates = []
        for row in rows:
            if self._customer_ok(row, currencies) and row.ok:
                candidates.append(row)
            else:
                self._refused("payments", row)
        named = sorted({r.values["invoice_id"] for r in candidates if r.values["invoice_id"]})
        invoice_customer: dict[str, str] = {}
        for part in _chunks(named):
            invoice_customer.update(self.session.execute(select(Invoice.invoice_id, Invoice.customer_id).where(Invoice.invoice_id.in_(_padded(part)))).all())
        checked = []
        for row in candidates:
            invoice_id, customer_id = row.values["invoice_id"], row.values["customer_id"]
            if invoice_id and invoice_id not in invoice_customer:
                if not self._may_hold("invoices", invoice_id):
                    self.problem(row, "invoice_id", f"unknown invoice {invoice_id}: it is neither in the ledger nor in the invoices file")
            elif invoice_id and invoice_customer[invoice_id] != customer_id:
                self.problem(row, "invoice_id", f"invoice {invoice_id} belongs to customer {invoice_customer[invoice_id]}, not {customer_id}")
            else:
                checked.append(row)
                continue
            self._refused("payments", row)
        existing = self._existing(Payment, "payment_id", checked)
        new, changed = self._classify("payments", checked, existing)
        kept = []
        for row in changed:
            owner = existing[row.values["payment_id"]]["customer_id"]
            if row.values["customer_id"] != owner:
                self.problem(row, "customer_id", f"payment {row.values['payment_id']} belongs to {owner}; a payment cannot move to another customer")
            else:
                kept.append(row)
        if kept:  # allocated again, with the other payments, once every file is written
            self.session.execute(delete(Allocation).where(Allocation.payment_id.in_([r.values["payment_id"] for r in kept])))
        self._write("payments", Payment, "payment_id", new, kept)
        self.payments.extend(
            _Payment(v["customer_id"], v["received_on"], v["payment_id"], v["amount"], v["invoice_id"] or None, row.file, row.number)
            for row in (*new, *kept)
            for v in (row.values,)
        )

    def _charges(self, rows: list[Row]) -> None:
        currencies = self._customer_currencies(rows)
        checked = []
        for row in rows:
            customer_ok = self._customer_ok(row, currencies)
            if self._dates_ok(row, "delivered_on", "receipt_received_on", "delivery date") and customer_ok and row.ok:
                checked.append(row)
            else:
                self._refused("charges", row)
        new, changed = self._classify("charges", checked, self._existing(Charge, "charge_id", checked))
        self._write("charges", Charge, "charge_id", new, changed)

    def _write(self, kind: str, model, id_column: str, new: list[Row], changed: list[Row]) -> None:
        columns = (id_column, *_COMPARED[kind])
        if new:
            self.session.execute(insert(model.__table__), [{c: r.values[c] for c in columns} for r in new])
        for row in changed:
            values = {c: row.values[c] for c in _COMPARED[kind] if c in row.present}
            self.session.execute(update(model).where(getattr(model, id_column) == row.values[id_column]).values(values))
        self.summary.created[kind] += len(new)
        self.summary.updated[kind] += len(changed)

    def _note_limit_change(self, customer_id: str, new_limit: Decimal | None) -> None:
        """A credit limit changed by an import (--update) joins the account's history."""
        old_limit = self.session.scalar(select(Customer.credit_limit).where(Customer.customer_id == customer_id))
        if old_limit != new_limit:
            account_state.record(
                self.session,
                customer_id,
                account_state.LIMIT,
                get_settings().today(),
                old_limit,
                new_limit,
                cause="import --update",
                reason="the customers file gives another credit limit",
            )

    # -- payment allocation -------------------------------------------------

    def _allocate_payments(self) -> None:
        """Apply new and changed payments, every file written: to the named invoice, else oldest open first.

        Each customer's payments in the order received; customers a chunk at a time.
        """
        if not self.payments:
            return
        self.payments.sort(key=lambda p: (p.customer_id, p.received_on, p.payment_id))
        allocations: list[dict[str, Any]] = []
        by_customer = {}
        for payment in self.payments:
            by_customer.setdefault(payment.customer_id, []).append(payment)
        customers = list(by_customer)
        for part in self.track(list(_chunks(customers, self.chunk_size)), "allocating payments"):
            open_by_customer = self._open_invoices(part)
            for customer_id in part:
                invoices = open_by_customer[customer_id]
                for payment in by_customer[customer_id]:
                    try:
                        parts = allocate(payment.amount, invoices.values(), customer_id=customer_id, invoice_id=payment.invoice_id)
                    except AllocationRefused as refused:
                        self.problems.append(Problem(payment.file, payment.number, "amount", str(refused)))
                        continue
                    for invoice_id, amount in parts:
                        invoices[invoice_id] = replace(invoices[invoice_id], open=invoices[invoice_id].open - amount)
                        allocations.append({"payment_id": payment.payment_id, "invoice_id": invoice_id, "amount": amount})
            if allocations:
                self.session.execute(insert(Allocation.__table__), allocations)
                self.summary.allocations += len(allocations)
                allocations = []

    def _open_invoices(self, customer_ids: Sequence[str]) -> dict[str, dict[str, OpenInvoice]]:
        """customer -> invoice -> what is open on it (the files' invoices are in the ledger by now)."""
        invoices: dict[str, dict[str, OpenInvoice]] = defaultdict(dict)
        paid = select(Allocation.invoice_id, func.sum(Allocation.amount).label("paid")).group_by(Allocation.invoice_id).subquery()
        for part in _chunks(sorted(customer_ids)):
            query = (
                select(Invoice.customer_id, Invoice.invoice_id, Invoice.due_on, Invoice.issued_on, Invoice.amount, paid.c.paid)
                .outerjoin(paid, paid.c.invoice_id == Invoice.invoice_id)
                .where(Invoice.customer_id.in_(_padded(part)))
            )
            for customer_id, invoice_id, due_on, issued_on, amount, paid_amount in self.session.execute(query):
                invoices[customer_id][invoice_id] = OpenInvoice(invoice_id, due_on, issued_on, amount - (paid_amount or ZERO))
        return invoices


# The customers file's columns that are the primary contact's, not the customer's (``_contact_fields``).
_CONTACT_COLUMNS = ("email", "phone", "contact_name", "contact_title")
_CUSTOMER_FIELDS = ("customer_id", *(c for c in _COMPARED["customers"] if c not in _CONTACT_COLUMNS))


def _customer_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    return {n: values[n] for n in _CUSTOMER_FIELDS}


def _contact_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": values["contact_name"], "title": values["contact_title"], "email": values["email"], "phone": values["phone"]}


def _only(fields: dict[str, Any], present: frozenset[str], renamed: Mapping[str, str] = {}) -> dict[str, Any]:
    """The fields whose import column is in the file (absent columns keep the ledger's value)."""
    return {k: v for k, v in fields.items() if renamed.get(k, k) in present and k != "customer_id"}


def _show(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)
