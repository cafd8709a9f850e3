"""``huikuan import``: customers, invoices, payments and charges in one transaction.

The import reads and checks everything first and writes only when no row has a
problem, so a bad file never leaves a half-written ledger. Every problem is
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

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from huikuan import account_state
from huikuan.settings import get_settings
from huikuan.tables import UnreadableFile, read_table
from models.allocation import AllocationRefused, OpenInvoice, allocate
from models.import_rows import FILE_KINDS, FileKind, check_header
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


@dataclass
class _FileRows:
    kind: FileKind
    label: str
    rows: list[Row] = field(default_factory=list)
    attempted_ids: set[str] = field(default_factory=set)  # ids of every row, valid or not
    complete: bool = True  # False when the header or the file could not be read: which ids it holds is unknown


def import_files(
    session: Session,
    files: Mapping[str, Path],
    *,
    update_existing: bool = False,
    track: Track = no_tracking,
) -> ImportSummary:
    """Check ``files`` (kind -> path) against each other and the ledger, then write them.

    Raises:
        ImportFailed: with every problem found; the session is left untouched.
    """
    unknown = set(files) - set(FILE_KINDS)
    if unknown:
        raise ValueError(f"unknown import kinds: {sorted(unknown)}")
    problems: list[Problem] = []
    parsed = {kind: _parse_file(FILE_KINDS[kind], Path(files[kind]), problems, track) for kind in KIND_ORDER if kind in files}
    plan = _Plan(session, parsed, update_existing, problems, track)
    plan.check()
    if problems:
        order = {rows.label: KIND_ORDER.index(kind) for kind, rows in parsed.items()}
        raise ImportFailed(sorted(problems, key=lambda p: (order[p.file], p.row, p.column)))
    return plan.write()


def _parse_file(kind: FileKind, path: Path, problems: list[Problem], track: Track) -> _FileRows:
    result = _FileRows(kind, str(path))
    try:
        table = read_table(path)
        header_problems = check_header(kind, table.header)
        if header_problems:
            problems.extend(Problem(result.label, 1, col, msg) for col, msg in header_problems)
            result.complete = False
            return result
        first_row: dict[str, int] = {}
        width = len(table.header)
        present = frozenset(table.header)
        for number, cells in track(table.rows, f"reading {path.name}"):
            named = dict(zip(table.header, cells))
            row_id = named.get(kind.id_column, "")
            if row_id:
                result.attempted_ids.add(row_id)  # rows that refer to it are not reported as well
            if len(cells) > width and any(cells[width:]):
                problems.append(Problem(result.label, number, "-", f"the row has {len(cells)} cells but the header has {width} columns"))
                continue
            if row_id:
                if row_id in first_row:
                    problems.append(Problem(result.label, number, kind.id_column, f"{row_id} appears again (first at row {first_row[row_id]})"))
                    continue
                first_row[row_id] = number
            values, row_problems = kind.parse_row(named)
            problems.extend(Problem(result.label, number, col, msg) for col, msg in row_problems)
            # Rows with a bad cell still go through the other checks, so the clerk sees every problem at once.
            result.rows.append(Row(result.label, number, values, present, ok=not row_problems))
    except UnreadableFile as exc:
        problems.append(Problem(result.label, exc.row, "-", exc.message))
        result.rows.clear()
        result.complete = False
    return result


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# What a re-import compares, per kind: ledger field -> import column.
_COMPARED = {
    "customers": (
        "name", "email", "phone", "contact_name", "contact_title", "locale", "country", "settlement",
        "payment_terms_days", "credit_limit", "segment", "currency", "collector",
        "late_charge_rate", "late_charge_grace_days", "late_charge_cap", "contract_clause",
    ),
    "invoices": ("customer_id", "issued_on", "due_on", "amount", "currency"),
    "payments": ("customer_id", "received_on", "amount", "invoice_id"),
    "charges": ("customer_id", "delivered_on", "amount", "description", "receipt_received_on"),
}


class _Plan:
    """The checks that need more than one row, and then the write."""

    def __init__(self, session: Session, parsed: dict[str, _FileRows], update_existing: bool, problems: list[Problem], track: Track) -> None:
        self.session = session
        self.parsed = parsed
        self.update_existing = update_existing
        self.problems = problems
        self.track = track
        self.new: dict[str, list[Row]] = defaultdict(list)
        self.changed: dict[str, list[Row]] = defaultdict(list)
        self.unchanged: Counter = Counter()
        self.customer_currency: dict[str, str] = {}
        self.invoice_customer: dict[str, str] = {}
        self.allocations: list[dict[str, Any]] = []

    def problem(self, row: Row, column: str, message: str) -> None:
        self.problems.append(Problem(row.file, row.number, column, message))

    # -- checks -------------------------------------------------------------

    def check(self) -> None:
        self._check_customers()
        known_customers = self._known_customers()
        self._check_invoices(known_customers)
        self._check_payments(known_customers)
        self._check_charges(known_customers)
        if not self.problems:
            self._allocate_payments()

    def _rows(self, kind: str) -> list[Row]:
        """The rows of a kind whose cells all parsed."""
        return [r for r in self.parsed[kind].rows if r.ok] if kind in self.parsed else []

    def _all_rows(self, kind: str) -> list[Row]:
        return self.parsed[kind].rows if kind in self.parsed else []

    def _may_hold(self, kind: str, row_id: str) -> bool:
        """Is ``row_id`` (perhaps) in the file of ``kind``? Then a row referring to it has no problem of its own."""
        return kind in self.parsed and (row_id in self.parsed[kind].attempted_ids or not self.parsed[kind].complete)

    def _classify(self, kind: str, rows: list[Row], existing: Mapping[str, Mapping[str, Any]]) -> None:
        """Sort rows into new, unchanged and changed; changed needs ``update_existing``."""
        id_column = FILE_KINDS[kind].id_column
        for row in rows:
            old = existing.get(row.values[id_column])
            if old is None:
                self.new[kind].append(row)
                continue
            differing = [c for c in _COMPARED[kind] if c in row.present and row.values[c] != old[c]]
            if not differing:
                self.unchanged[kind] += 1
            elif self.update_existing:
                self.changed[kind].append(row)
            else:
                for column in differing:
                    self.problem(
                        row, column,
                        f"{row.values[id_column]} is already in the ledger with {column} {_show(old[column])}, "
                        f"this row says {_show(row.values[column])}; import with --update to change it",
                    )

    def _check_customers(self) -> None:
        rows = self._rows("customers")
        for chunk in _chunks(rows):  # classified a chunk at a time: the ledger's customers are never all in memory
            existing: dict[str, dict[str, Any]] = {}
            query = (
                select(Customer, Contact)
                .outerjoin(Contact, (Contact.customer_id == Customer.customer_id) & Contact.is_primary)
                .where(Customer.customer_id.in_([r.values["customer_id"] for r in chunk]))
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
            self._classify("customers", chunk, existing)
        for row in rows:
            self.customer_currency[row.values["customer_id"]] = row.values["currency"]

    def _known_customers(self) -> set[str]:
        """Customers referenced by the other files that exist in the file or the ledger."""
        referenced = {
            r.values["customer_id"] for kind in ("invoices", "payments", "charges") for r in self._all_rows(kind) if r.values.get("customer_id") is not None
        }  # an empty cell is None: not a customer (and not sortable with the others)
        missing = sorted(referenced - set(self.customer_currency))
        for chunk in _chunks(missing):
            for customer_id, currency in self.session.execute(
                select(Customer.customer_id, Customer.currency).where(Customer.customer_id.in_(chunk))
            ):
                self.customer_currency[customer_id] = currency
        return set(self.customer_currency)

    def _customer_ok(self, row: Row, known: set[str]) -> bool:
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

    def _classify_existing(self, model, id_column: str, rows: list[Row]) -> dict[str, str]:
        """Classify ``rows`` against the ledger (``_classify``) a chunk at a time, so that the ledger's
        rows are never all in memory at once; the customer of each row already in the ledger."""
        kind = model.__tablename__
        fields = (id_column, *_COMPARED[kind])
        columns = [getattr(model, f) for f in fields]
        owners: dict[str, str] = {}
        for chunk in _chunks(rows):
            existing: dict[str, dict[str, Any]] = {}
            for values in self.session.execute(select(*columns).where(getattr(model, id_column).in_([r.values[id_column] for r in chunk]))):
                existing[values[0]] = dict(zip(fields, values))
            self._classify(kind, chunk, existing)
            owners.update((row_id, old["customer_id"]) for row_id, old in existing.items())
        return owners

    def _check_invoices(self, known: set[str]) -> None:
        rows = []
        for row in self._all_rows("invoices"):
            customer_ok = self._customer_ok(row, known)
            if not (self._dates_ok(row, "issued_on", "due_on", "issue date") and customer_ok and row.ok):
                continue
            if row.values["currency"] is None:
                row.values["currency"] = self.customer_currency[row.values["customer_id"]]
            rows.append(row)
        owners = self._classify_existing(Invoice, "invoice_id", rows)
        self.invoice_customer.update(owners)
        changed = self.changed.get("invoices", [])
        paid = self._allocated({r.values["invoice_id"] for r in changed})
        for row in changed:
            invoice_id = row.values["invoice_id"]
            if row.values["customer_id"] != owners[invoice_id]:
                self.problem(row, "customer_id", f"invoice {invoice_id} belongs to {owners[invoice_id]}; an invoice cannot move to another customer")
            elif row.values["amount"] < paid.get(invoice_id, ZERO):
                self.problem(row, "amount", f"{row.values['amount']} is less than the {paid[invoice_id]} already paid on invoice {invoice_id}")
        for row in rows:
            self.invoice_customer[row.values["invoice_id"]] = row.values["customer_id"]

    def _allocated(self, invoice_ids: set[str], excluding_payments: set[str] = frozenset()) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for chunk in _chunks(sorted(invoice_ids)):
            query = select(Allocation.invoice_id, func.sum(Allocation.amount)).where(Allocation.invoice_id.in_(chunk))
            if excluding_payments:
                query = query.where(Allocation.payment_id.not_in(excluding_payments))
            for invoice_id, total in self.session.execute(query.group_by(Allocation.invoice_id)):
                totals[invoice_id] = total
        return totals

    def _check_payments(self, known: set[str]) -> None:
        rows = [r for r in self._all_rows("payments") if self._customer_ok(r, known) and r.ok]
        named = sorted({r.values["invoice_id"] for r in rows if r.values["invoice_id"]} - set(self.invoice_customer))
        for chunk in _chunks(named):
            for invoice_id, customer_id in self.session.execute(
                select(Invoice.invoice_id, Invoice.customer_id).where(Invoice.invoice_id.in_(chunk))
            ):
                self.invoice_customer[invoice_id] = customer_id
        checked = []
        for row in rows:
            invoice_id, customer_id = row.values["invoice_id"], row.values["customer_id"]
            if invoice_id and invoice_id not in self.invoice_customer:
                if not self._may_hold("invoices", invoice_id):
                    self.problem(row, "invoice_id", f"unknown invoice {invoice_id}: it is neither in the ledger nor in the invoices file")
                continue
            if invoice_id and self.invoice_customer[invoice_id] != customer_id:
                self.problem(row, "invoice_id", f"invoice {invoice_id} belongs to customer {self.invoice_customer[invoice_id]}, not {customer_id}")
                continue
            checked.append(row)
        owners = self._classify_existing(Payment, "payment_id", checked)
        for row in self.changed.get("payments", []):
            old_customer = owners[row.values["payment_id"]]
            if row.values["customer_id"] != old_customer:
                self.problem(row, "customer_id", f"payment {row.values['payment_id']} belongs to {old_customer}; a payment cannot move to another customer")

    def _check_charges(self, known: set[str]) -> None:
        rows = []
        for row in self._all_rows("charges"):
            customer_ok = self._customer_ok(row, known)
            if self._dates_ok(row, "delivered_on", "receipt_received_on", "delivery date") and customer_ok and row.ok:
                rows.append(row)
        self._classify_existing(Charge, "charge_id", rows)

    # -- payment allocation -------------------------------------------------

    def _allocate_payments(self) -> None:
        """Apply new and changed payments: to the named invoice, else oldest open first."""
        payments = self.new.get("payments", []) + self.changed.get("payments", [])
        if not payments:
            return
        reallocated = {r.values["payment_id"] for r in self.changed.get("payments", [])}
        open_by_customer = self._open_invoices({r.values["customer_id"] for r in payments}, reallocated)
        for row in self.track(sorted(payments, key=lambda r: (r.values["received_on"], r.values["payment_id"])), "allocating payments"):
            values = row.values
            invoices = open_by_customer[values["customer_id"]]
            try:
                parts = allocate(values["amount"], invoices.values(), customer_id=values["customer_id"], invoice_id=values["invoice_id"] or None)
            except AllocationRefused as refused:
                self.problem(row, "amount", str(refused))
                continue
            for invoice_id, part in parts:
                invoices[invoice_id] = replace(invoices[invoice_id], open=invoices[invoice_id].open - part)
                self.allocations.append({"payment_id": values["payment_id"], "invoice_id": invoice_id, "amount": part})

    def _open_invoices(self, customer_ids: set[str], reallocated: set[str]) -> dict[str, dict[str, OpenInvoice]]:
        """customer -> invoice -> what is open on it, ledger and files together."""
        invoices: dict[str, dict[str, OpenInvoice]] = defaultdict(dict)
        paid_on: dict[str, Decimal] = {}
        paid = select(Allocation.invoice_id, func.sum(Allocation.amount).label("paid"))
        if reallocated:
            paid = paid.where(Allocation.payment_id.not_in(reallocated))
        paid = paid.group_by(Allocation.invoice_id).subquery()
        for chunk in _chunks(sorted(customer_ids)):
            query = (
                select(Invoice.customer_id, Invoice.invoice_id, Invoice.due_on, Invoice.issued_on, Invoice.amount, paid.c.paid)
                .outerjoin(paid, paid.c.invoice_id == Invoice.invoice_id)
                .where(Invoice.customer_id.in_(chunk))
            )
            for customer_id, invoice_id, due_on, issued_on, amount, paid_amount in self.session.execute(query):
                paid_on[invoice_id] = paid_amount or ZERO
                invoices[customer_id][invoice_id] = OpenInvoice(invoice_id, due_on, issued_on, amount - paid_on[invoice_id])
        for row in self.new.get("invoices", []) + self.changed.get("invoices", []):
            values = row.values
            if values["customer_id"] in customer_ids:
                open_amount = values["amount"] - paid_on.get(values["invoice_id"], ZERO)
                invoices[values["customer_id"]][values["invoice_id"]] = OpenInvoice(values["invoice_id"], values["due_on"], values["issued_on"], open_amount)
        return invoices

    # -- write --------------------------------------------------------------

    def _note_limit_change(self, customer_id: str, new_limit: Decimal | None) -> None:
        """A credit limit changed by an import (--update) joins the account's history."""
        old_limit = self.session.scalar(select(Customer.credit_limit).where(Customer.customer_id == customer_id))
        if old_limit != new_limit:
            account_state.record(
                self.session, customer_id, account_state.LIMIT, get_settings().today(), old_limit, new_limit,
                cause="import --update", reason="the customers file gives another credit limit",
            )

    def write(self) -> ImportSummary:
        summary = ImportSummary(unchanged=self.unchanged)
        session = self.session
        new_customers = [r.values for r in self.new.get("customers", [])]
        for chunk in _chunks(new_customers):
            session.execute(insert(Customer), [_customer_fields(v) for v in chunk])
            session.execute(insert(Contact), [{**_contact_fields(v), "customer_id": v["customer_id"], "is_primary": True} for v in chunk])
        for row in self.changed.get("customers", []):
            customer_id = row.values["customer_id"]
            if "credit_limit" in row.present:
                self._note_limit_change(customer_id, row.values["credit_limit"])
            session.execute(update(Customer).where(Customer.customer_id == customer_id).values(_only(_customer_fields(row.values), row.present)))
            contact = _only(_contact_fields(row.values), row.present, renamed={"name": "contact_name", "title": "contact_title"})
            if contact:
                if contact.get("email"):  # a new address is no longer known to bounce (huikuan.bounces)
                    session.execute(update(Contact).where(Contact.customer_id == customer_id, Contact.is_primary, Contact.email != contact["email"])
                                    .values(email_bounced_on=None))
                session.execute(update(Contact).where(Contact.customer_id == customer_id, Contact.is_primary).values(contact))
        self._write_simple("invoices", Invoice, "invoice_id", summary)
        self._write_simple("charges", Charge, "charge_id", summary)
        reallocated = [r.values["payment_id"] for r in self.changed.get("payments", [])]
        for chunk in _chunks(reallocated):
            session.execute(delete(Allocation).where(Allocation.payment_id.in_(chunk)))
        self._write_simple("payments", Payment, "payment_id", summary)
        for chunk in self.track(list(_chunks(self.allocations)), "writing allocations"):
            session.execute(insert(Allocation), list(chunk))
        summary.created["customers"] = len(new_customers)
        summary.updated["customers"] = len(self.changed.get("customers", []))
        summary.allocations = len(self.allocations)
        session.flush()
        return summary

    def _write_simple(self, kind: str, model, id_column: str, summary: ImportSummary) -> None:
        columns = (id_column, *_COMPARED[kind])
        new_rows = self.new.get(kind, [])
        for chunk in self.track(list(_chunks(new_rows)), f"writing {kind}"):
            self.session.execute(insert(model), [{c: r.values[c] for c in columns} for r in chunk])
        for row in self.changed.get(kind, []):
            values = {c: row.values[c] for c in _COMPARED[kind] if c in row.present}
            self.session.execute(update(model).where(getattr(model, id_column) == row.values[id_column]).values(values))
        summary.created[kind] = len(new_rows)
        summary.updated[kind] = len(self.changed.get(kind, []))


def _customer_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    names = ("customer_id", "name", "locale", "country", "settlement", "payment_terms_days", "credit_limit", "segment", "currency", "collector",
             "late_charge_rate", "late_charge_grace_days", "late_charge_cap", "contract_clause")
    return {n: values[n] for n in names}


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
