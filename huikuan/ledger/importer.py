"""``huikuan import``: customers, invoices, payments and charges in one transaction.

The import reads, checks and writes a chunk of rows at a time, inside a savepoint
of the one transaction, and rolls back to it when any row has a problem, so a bad
file never leaves a half-written ledger and memory does not grow with the files. Rows are
written with the driver's ``executemany``, each value converted once by its column's type
(what Core would write). A chunk of new rows without a problem, the usual import, is
parsed a column at a time and written asking the ledger nothing first; the database
refuses a repeated id or an unknown customer, and the file then goes the long way, row
by row, with the same problems as ever (``_Import._fast_chunk``). Every problem is
reported as ``FILE:ROW:COLUMN: message`` (the header is row 1). Re-importing the
same ids with the same content changes nothing; changed content is refused
unless ``update`` is set. Payments without an invoice are applied to the
customer's oldest open invoices first; a payment larger than what is open is
refused.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Date, Integer, MetaData, String, Table, any_, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from huikuan.ledger import account_state
from huikuan.ledger.settings import get_settings
from huikuan.ledger.tables import UnreadableFile, read_table
from huikuan.outbox import bounces
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
    values: dict[str, Any]  # a cell that did not parse is missing; in a row of ``_Import._fast_chunk``, a tuple in the columns' order
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


def _among(dialect: Dialect, column: ColumnElement) -> ColumnElement[bool]:
    """``column`` is one of the list given as the parameter ``ids`` (see ``_ids``): one statement, one parameter, whatever its length.

    A JSON array read by ``json_each`` on SQLite, an array on PostgreSQL: no IN list
    of thousands of parameters for SQLAlchemy to process one by one, and no new
    statement for each length of the list.
    """
    if dialect.name == "sqlite":
        listed = func.json_each(bindparam("ids", type_=String)).table_valued("value")
        return column.in_(select(listed.c.value))
    if dialect.name == "postgresql":
        return column == any_(bindparam("ids", type_=ARRAY(String)))
    return column.in_(bindparam("ids", expanding=True))


def _ids(dialect: Dialect, ids: Iterable[str]) -> Any:
    """The parameter ``ids`` of ``_among``: each id once, sorted, so that the database looks them up in its index's order (SQLite: 2x faster)."""
    listed = sorted(set(ids))
    return json.dumps(listed) if dialect.name == "sqlite" else listed


class _Inserter:
    """INSERT of many rows of ``table``, sent to the driver's ``executemany`` as they are.

    Each value is converted by its column's own bind processor, a column at a time,
    and the columns the rows leave out get their scalar defaults: the database holds
    what ``insert(table)`` with the same rows would have written, byte for byte,
    without SQLAlchemy's handling of every parameter of every row. A date column's
    few distinct values are converted once each. ``ignore_conflicts``: a row whose
    key is already in the table is left out (``insert`` says how many were written).
    """

    def __init__(
        self, connection: Connection, table: Table, columns: Sequence[str], *, ignore_conflicts: bool = False, of_known_customer: bool = False
    ) -> None:
        dialect = connection.dialect
        defaults = [c for c in table.columns if c.name not in columns and c.default is not None]
        if any(not c.default.is_scalar for c in defaults):
            raise ValueError(f"{table.name}: a column left out has a default that is not a constant")
        named = [table.c[name] for name in columns]
        self.processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in named]
        self.repeating = [isinstance(c.type, Date) for c in named]
        self.constants = tuple(_bound(c, c.default.arg, dialect) for c in defaults)
        preparer = dialect.identifier_preparer
        placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
        names = [preparer.quote(c.name) for c in (*named, *defaults)]
        values = [placeholder] * len(names)
        self.looked_up: tuple[int, int] | None = None  # (the column whose value the customer's row gives, the customer_id column)
        if of_known_customer:
            at = columns.index("currency") if "currency" in columns else columns.index("customer_id")
            values[at] = _of_known_customer(dialect, named[at], placeholder)
            self.looked_up = (at, columns.index("customer_id"))
        self.sql = f"INSERT INTO {preparer.format_table(table)} ({', '.join(names)}) VALUES ({', '.join(values)})"
        if ignore_conflicts:
            self.sql += " ON CONFLICT DO NOTHING"
        self.connection = connection

    def insert(self, rows: Sequence[Sequence[Any]]) -> int:
        """Write ``rows``, each with the values of ``columns`` in their order; the number of rows written."""
        return self.insert_columns(list(zip(*rows))) if rows else 0

    def insert_columns(self, columns: Sequence[Sequence[Any]]) -> int:
        """Write the rows whose values are given a column at a time, in the order of ``columns``; the number of rows written."""
        if not columns or not columns[0]:
            return 0
        by_column = [_converted(values, process, repeating) for values, process, repeating in zip(columns, self.processors, self.repeating)]
        constants = [[value] * len(columns[0]) for value in self.constants]
        if self.looked_up is not None:  # the customer's id, again, just after the value looked up from it
            at, customer_at = self.looked_up
            by_column.insert(at + 1, by_column[customer_at])
        return self.connection.exec_driver_sql(self.sql, list(zip(*by_column, *constants))).rowcount


def _of_known_customer(dialect: Dialect, column: Column, placeholder: str) -> str:
    """The value of ``column`` (``currency`` or ``customer_id``) read from the row's customer, given as the next parameter: NULL when the ledger has no such customer.

    The column is NOT NULL, so a row of an unknown customer is refused (``IntegrityError``)
    whether or not the database enforces foreign keys; a ``currency`` left empty is the
    customer's, as ``_Import._customer_currencies`` would fill it in. The database looks
    each customer up while it writes, no query before. On PostgreSQL the parameter is
    cast to the column's type.
    """
    value = placeholder if dialect.name == "sqlite" else f"CAST({placeholder} AS {column.type.compile(dialect=dialect)})"
    if column.name == "currency":
        value = f"COALESCE({value}, huikuan_known.currency)"
    customers = dialect.identifier_preparer.format_table(Customer.__table__)
    return f"(SELECT {value} FROM {customers} AS huikuan_known WHERE huikuan_known.customer_id = {placeholder})"


def _converted(values: Sequence[Any], process: Callable[[Any], Any] | None, repeating: bool) -> Sequence[Any]:
    """``values`` through ``process``; when they repeat, each distinct value once."""
    if process is None:
        return values
    if repeating:
        once = {value: process(value) for value in set(values)}
        return [once[value] for value in values]
    return list(map(process, values))


def _bound(column: Column, value: Any, dialect: Dialect) -> Any:
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process else value


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

_NOT_ASKED = object()

# SQLite's page cache while an import writes (its default is 2 MiB): each invoice's write looks up its
# customer (the foreign key) in the index of all of them, at random; 4 MiB (the index of 100,000
# customers) cuts the time of the writes by a fifth (300,000 invoices), and is the same for every size of file.
_IMPORT_CACHE_KIB = 4096


@contextmanager
def _old_objects_left_alone() -> Iterator[None]:
    """Within: Python's cycle collector leaves the objects made before alone (``gc.freeze``), then sees them again.

    An import makes and drops millions of small objects, which start a collection of
    the oldest generation now and then: each walked every object of the process (the
    modules, SQLAlchemy's caches), a tenth of the import's time (300,000 invoices). The
    cycles the import itself makes are still collected, so memory stays flat. When the
    process already froze its objects (e.g. before forking), nothing changes.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _page_cache(connection: Connection, kib: int) -> Iterator[None]:
    """Within: SQLite's page cache of ``connection`` at least ``kib`` KiB; then as it was. Other databases: nothing changes."""
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    size_kib = -before if before < 0 else before * connection.exec_driver_sql("PRAGMA page_size").scalar() // 1024
    if size_kib < kib:
        connection.exec_driver_sql(f"PRAGMA cache_size = -{int(kib)}")
    try:
        yield
    finally:
        if size_kib < kib:
            connection.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


# The dates of a row that may not come in the other order, per kind: checked row by row (``_Import._dates_ok``) and by columns (``_fast_chunk``).
_DATES_IN_ORDER = {"invoices": ("issued_on", "due_on"), "charges": ("delivered_on", "receipt_received_on")}
for _kind in ("invoices", "charges"):  # ``_Import._all_new`` writes a row's values in the file's columns' order as they are
    assert tuple(c.name for c in FILE_KINDS[_kind].columns) == (FILE_KINDS[_kind].id_column, *_COMPARED[_kind])

# The ids each file of this import has shown so far, with their row: a later row with the same id is a duplicate.
# A temporary table (of the connection, never committed to the ledger), so that memory does not grow with the files.
_SEEN = "huikuan_import_seen"
_SEEN_TABLE = Table(_SEEN, MetaData(), Column("kind", String, primary_key=True), Column("id", String, primary_key=True), Column("first_row", Integer))


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
        self.dialect = session.get_bind().dialect
        self.inserters: dict[tuple, _Inserter] = {}
        self.long_way: set[str] = set()  # kinds whose rows are no longer tried as all new (``_fast_chunk``)
        self.paths: dict[str, Path] = {}
        self.plain_parsers: dict[str, Callable] = {}
        self.foreign_keys: bool | None = None  # see ``_foreign_keys_enforced``
        self.sole_currency: Any = _NOT_ASKED  # see ``_sole_currency``
        self.sole_currency_kept = False
        self.written_fast: set[str] = set()  # kinds with rows written by ``_fast_chunk``: their ids are not in the table of ids seen
        self.seen_before = select(_SEEN_TABLE.c.id, _SEEN_TABLE.c.first_row).where(_SEEN_TABLE.c.kind == bindparam("kind"), self._among(_SEEN_TABLE.c.id))

    def _among(self, column: ColumnElement) -> ColumnElement[bool]:
        return _among(self.dialect, column)

    def _ids(self, ids: Iterable[str]) -> Any:
        return _ids(self.dialect, ids)

    def _insert(self, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], **options: Any) -> int:
        """Insert ``rows`` (values of ``columns``) into ``table``; how many were written."""
        return self._inserter(table, columns, **options).insert(rows)

    def _inserter(self, table: Table, columns: Sequence[str], **options: Any) -> _Inserter:
        """The ``_Inserter`` of ``table``, ``columns`` and ``options``, made once for the import."""
        key = (table.name, tuple(columns), tuple(sorted(options.items())))
        if key not in self.inserters:
            self.inserters[key] = _Inserter(self.session.connection(), table, columns, **options)
        return self.inserters[key]

    def _all_new(self, kind: str, model, columns: list[list[Any]]) -> bool:
        """Write the rows given by ``columns`` (the file kind's; customers with their primary contacts) if each is new and unique, as the database finds while writing them; else none (``False``).

        The usual import of new rows asks the ledger nothing before the write: a row
        already in it, or twice in the file, is left out (``ON CONFLICT DO NOTHING``), and
        an invoice or charge whose customer is not in the ledger is refused by the database:
        by its foreign key, or, where foreign keys are not enforced, by ``_of_known_customer``.
        An invoice without a currency gets its customer's: the ledger's one currency
        (``_sole_currency``, SQLite), else looked up as it is written (``_of_known_customer``).
        When any row was left out or refused, the savepoint is rolled back and the rows go
        the long way (``_fast_chunk``).
        """
        names = [c.name for c in FILE_KINDS[kind].columns]
        count = len(columns[0])
        savepoint = self.session.begin_nested()
        self.session.connection()  # the SAVEPOINT is sent when the session's connection is asked for, not by begin_nested
        sole_currency = self._sole_currency() if kind == "invoices" else None
        written_columns = _CUSTOMER_FIELDS if kind == "customers" else names  # else the file's columns are the table's: the id, then what a re-import compares
        values = [columns[names.index(c)] for c in written_columns]
        if sole_currency is not None:
            at = names.index("currency")
            values[at] = [sole_currency if currency is None else currency for currency in values[at]]
        look_up = kind != "customers" and not (self._foreign_keys_enforced() and (kind == "charges" or sole_currency is not None))
        try:
            written = self._inserter(model.__table__, written_columns, ignore_conflicts=True, of_known_customer=look_up).insert_columns(values)
        except IntegrityError:  # a customer not in the ledger
            written = -1
        if written == count and sole_currency is not None and not self.sole_currency_kept:
            if self._sole_currency(again=True) == sole_currency:
                self.sole_currency_kept = True  # from this write on, the import's transaction has the ledger's write lock: no customer changes
            else:  # a customer of another currency came in meanwhile: this chunk again, each currency looked up
                savepoint.rollback()
                return self._all_new(kind, model, columns)
        if written != count:
            savepoint.rollback()
            return False
        if kind == "customers":
            contacts = [columns[names.index(c)] for c in _CONTACT_FROM]
            self._inserter(Contact.__table__, (*_CONTACT_FIELDS, "is_primary")).insert_columns([*contacts, [True] * count])
        savepoint.commit()
        self.summary.created[kind] += count
        return True

    def _foreign_keys_enforced(self) -> bool:
        """Does the database refuse a row whose customer is not in the ledger? (PostgreSQL always; SQLite with ``PRAGMA foreign_keys``, as ``make_engine`` sets it.)"""
        if self.foreign_keys is None:
            connection = self.session.connection()
            self.foreign_keys = self.dialect.name != "sqlite" or connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        return self.foreign_keys

    def _sole_currency(self, *, again: bool = False) -> str | None:
        """On SQLite, the currency of every customer in the ledger when they all have the same one: an invoice without a currency gets it.

        The ledger is asked once (and ``again`` once after the first write of an invoice
        with it, which SQLite lets no other connection do until the import commits, so
        that no customer of another currency can come in unseen). With more than one
        currency, or on PostgreSQL (whose other connections may add customers meanwhile),
        None: each invoice's customer is looked up as it is written (``_of_known_customer``).
        """
        if self.dialect.name != "sqlite" or not self._foreign_keys_enforced():
            return None
        if self.sole_currency is _NOT_ASKED or again:
            customers = Customer.__table__
            currencies = self.session.connection().execute(select(customers.c.currency).distinct().limit(2)).scalars().all()
            self.sole_currency = currencies[0] if len(currencies) == 1 else None
        return self.sole_currency

    def problem(self, row: Row, column: str, message: str) -> None:
        self.problems.append(Problem(row.file, row.number, column, message))

    def run(self, files: Mapping[str, Path]) -> ImportSummary:
        session = self.session
        session.execute(
            text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_SEEN} (kind TEXT NOT NULL, id TEXT NOT NULL, first_row INTEGER NOT NULL, PRIMARY KEY (kind, id))")
        )
        session.execute(text(f"DELETE FROM {_SEEN}"))  # a write: on SQLite it also opens the transaction that the savepoint nests in
        with _old_objects_left_alone(), _page_cache(session.connection(), _IMPORT_CACHE_KIB), session.begin_nested():  # a problem rolls back to here
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
        self.paths[kind] = path
        file_kind = FILE_KINDS[kind]
        before = len(self.problems)
        try:
            table = read_table(path)
            header_problems = check_header(file_kind, table.header)
            if header_problems:
                self.problems.extend(Problem(label, 1, col, msg) for col, msg in header_problems)
                self.incomplete.add(kind)
                return
            parse = file_kind.row_parser(table.header)
            self.plain_parsers[kind] = file_kind.plain_columns_parser(table.header)
            chunk: list[tuple[int, list[str]]] = []
            for number_and_cells in self.track(table.rows, f"reading {path.name}"):
                chunk.append(number_and_cells)
                if len(chunk) >= self.chunk_size:
                    self._chunk(kind, label, table.header, parse, chunk)
                    chunk = []
            if chunk:
                self._chunk(kind, label, table.header, parse, chunk)
        except UnreadableFile as exc:
            del self.problems[before:]  # the file's own problem alone, as when a file cannot be read at all
            self.problems.append(Problem(label, exc.row, "-", exc.message))
            self.incomplete.add(kind)

    def _chunk(self, kind: str, label: str, header: list[str], parse: Callable, raw: list[tuple[int, list[str]]]) -> None:
        """Parse (with ``parse``, the file kind's ``row_parser`` for ``header``), check and write one chunk of a file's rows.

        The chunk is first tried as new rows without a problem (``_fast_chunk``); when it
        is not, the file goes the long way from this chunk on: each row checked, and
        reported, one by one, and the ledger asked which rows it has.
        """
        if kind not in self.long_way:
            if self._fast_chunk(kind, label, header, raw):
                self.written_fast.add(kind)
                return
            self._leave_fast_path(kind, header, raw[0][0])
        file_kind = FILE_KINDS[kind]
        id_column, width, present = file_kind.id_column, len(header), frozenset(header)
        id_index = width - 1 - header[::-1].index(id_column) if id_column in header else width  # the last of a repeated name, as dict(zip(...))
        row_ids = [cells[id_index] if id_index < len(cells) else "" for _number, cells in raw]
        first_row = self._seen_before(kind, width, raw, row_ids)
        rows: list[Row] = []
        for (number, cells), row_id in zip(raw, row_ids):
            if len(cells) > width and any(cells[width:]):
                self.problems.append(Problem(label, number, "-", f"the row has {len(cells)} cells but the header has {width} columns"))
                self.troubled[kind].add(row_id)
                continue
            if row_id:
                if row_id in first_row:
                    self.problems.append(Problem(label, number, id_column, f"{row_id} appears again (first at row {first_row[row_id]})"))
                    continue
                first_row[row_id] = number
            values, row_problems = parse(cells)
            if row_problems:
                self.problems.extend(Problem(label, number, col, msg) for col, msg in row_problems)
                self.troubled[kind].add(row_id)
            # Rows with a bad cell still go through the other checks, so the clerk sees every problem at once.
            rows.append(Row(label, number, values, present, ok=not row_problems))
        {"customers": self._customers, "invoices": self._invoices, "payments": self._payments, "charges": self._charges}[kind](rows)

    def _fast_chunk(self, kind: str, label: str, header: list[str], raw: list[tuple[int, list[str]]]) -> bool:
        """Write the chunk if every row is new, unique and has no problem at all (the usual import), asking the ledger nothing first; else nothing (``False``).

        Only while the import has found no problem. The rows' ids are not noted in the
        table of ids seen: while the file takes this path its ids are unique (a repeated
        one conflicts with its first row, written before), and when it leaves it
        ``_leave_fast_path`` notes the rows read so far.
        """
        if self.problems or kind == "payments":  # payments are allocated once every file is written: the long way
            return False
        width = len(header)
        cells = [cells for _number, cells in raw]
        if any(len(row) > width and any(row[width:]) for row in cells):
            return False
        columns = self.plain_parsers[kind](cells)
        if columns is None:
            return False
        if kind in _DATES_IN_ORDER:
            names = [c.name for c in FILE_KINDS[kind].columns]
            first, later = (columns[names.index(c)] for c in _DATES_IN_ORDER[kind])
            if any(end is not None and start is not None and end < start for start, end in zip(first, later)):
                return False
        return self._all_new(kind, {"customers": Customer, "invoices": Invoice, "charges": Charge}[kind], columns)

    def _leave_fast_path(self, kind: str, header: list[str], first_number: int) -> None:
        """From now on the file of ``kind`` goes the long way: note the ids of its rows before row ``first_number`` as seen (read again from the file)."""
        self.long_way.add(kind)
        if kind not in self.written_fast:
            return
        id_column, width = FILE_KINDS[kind].id_column, len(header)
        id_index = width - 1 - header[::-1].index(id_column)  # the header passed its check: the id column is there
        seen: list[tuple[str, str, int]] = []
        for number, cells in read_table(self.paths[kind]).rows:
            if number >= first_number:
                break
            seen.append((kind, cells[id_index], number))  # rows of fast chunks: each has its id, once, and no extra cells
            if len(seen) >= self.chunk_size:
                self._insert(_SEEN_TABLE, ("kind", "id", "first_row"), seen, ignore_conflicts=True)
                seen = []
        self._insert(_SEEN_TABLE, ("kind", "id", "first_row"), seen, ignore_conflicts=True)

    def _seen_before(self, kind: str, width: int, raw: list[tuple[int, list[str]]], row_ids: list[str]) -> dict[str, int]:
        """id -> first row, for the ids of this chunk that earlier chunks of the file had; this chunk's new ids are noted as seen.

        The ids are added to the table of ids seen, an id already there left as it
        is; only when some were (a duplicate, rare) is the table asked for them.
        Rows with too many cells are not noted: they are refused before their id counts.
        """
        first: dict[str, int] = {}
        for (number, cells), row_id in zip(raw, row_ids):
            if row_id and row_id not in first and not (len(cells) > width and any(cells[width:])):
                first[row_id] = number
        if not first:
            return {}
        noted = self._insert(_SEEN_TABLE, ("kind", "id", "first_row"), [(kind, row_id, number) for row_id, number in first.items()], ignore_conflicts=True)
        if noted == len(first):
            return {}
        earlier = self.seen_before.where(_SEEN_TABLE.c.first_row < raw[0][0])
        return dict(self.session.execute(earlier, {"kind": kind, "ids": self._ids(first)}).all())

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
        """The ledger's compared fields of the rows' ids (a Core query on the session's connection: rows, not ORM results)."""
        fields = (id_column, *_COMPARED[model.__tablename__])
        table = model.__table__
        if not rows:
            return {}
        query = select(*(table.c[f] for f in fields)).where(self._among(table.c[id_column]))
        found = self.session.connection().execute(query, {"ids": self._ids(r.values[id_column] for r in rows)})
        return {values[0]: dict(zip(fields, values)) for values in found}

    def _customer_currencies(self, rows: list[Row]) -> dict[str, str]:
        """customer -> currency, for the customers the rows name that are in the ledger (the customers file's are written by now)."""
        ids = sorted({r.values["customer_id"] for r in rows if r.values.get("customer_id") is not None})
        if not ids:
            return {}
        customers = Customer.__table__
        query = select(customers.c.customer_id, customers.c.currency).where(self._among(customers.c.customer_id))
        return dict(self.session.connection().execute(query, {"ids": self._ids(ids)}).all())

    def _customer_ok(self, row: Row, known: Mapping[str, str]) -> bool:
        customer_id = row.values.get("customer_id")
        if customer_id is None or customer_id in known:
            return customer_id is not None
        if not self._may_hold("customers", customer_id):  # else its own row (or the file) already has a problem
            self.problem(row, "customer_id", f"unknown customer {customer_id}: it is neither in the ledger nor in the customers file")
        return False

    def _dates_ok(self, row: Row, first: str, later: str, what: str) -> bool:
        """``later`` may not come before ``first`` (when both parsed)."""
        if not _in_order(row, first, later):
            start, end = row.values[first], row.values[later]
            self.problem(row, later, f"{end} is before the {what} {start}")
            return False
        return True

    def _customers(self, rows: list[Row]) -> None:
        rows = [r for r in rows if r.ok]
        existing: dict[str, dict[str, Any]] = {}
        query = (
            select(Customer, Contact)
            .outerjoin(Contact, (Contact.customer_id == Customer.customer_id) & Contact.is_primary)
            .where(self._among(Customer.customer_id))
        )
        if rows:
            for customer, contact in self.session.execute(query, {"ids": self._ids(r.values["customer_id"] for r in rows)}):
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
            self._insert(Customer.__table__, _CUSTOMER_FIELDS, [[r.values[c] for c in _CUSTOMER_FIELDS] for r in new])
            self._insert(Contact.__table__, (*_CONTACT_FIELDS, "is_primary"), [[r.values[c] for c in _CONTACT_FROM] + [True] for r in new])
        for row in changed:
            customer_id = row.values["customer_id"]
            if "credit_limit" in row.present:
                self._note_limit_change(customer_id, row.values["credit_limit"])
            session.execute(update(Customer).where(Customer.customer_id == customer_id).values(_only(_customer_fields(row.values), row.present)))
            contact = _only(_contact_fields(row.values), row.present, renamed={"name": "contact_name", "title": "contact_title"})
            if contact:
                if contact.get("email"):  # a new address is no longer known to bounce (huikuan.outbox.bounces)
                    cleared = session.execute(
                        update(Contact)
                        .where(Contact.customer_id == customer_id, Contact.is_primary, Contact.email != contact["email"], Contact.email_bounced_on.is_not(None))
                        .values(email_bounced_on=None)
                    )
                    if cleared.rowcount:
                        bounces.readdressed(session, customer_id, get_settings().today())
                session.execute(update(Contact).where(Contact.customer_id == customer_id, Contact.is_primary).values(contact))
        self.summary.created["customers"] += len(new)
        self.summary.updated["customers"] += len(changed)

    def _invoices(self, rows: list[Row]) -> None:
        currencies = self._customer_currencies(rows)
        checked = []
        for row in rows:
            customer_ok = self._customer_ok(row, currencies)
            if not (self._dates_ok(row, *_DATES_IN_ORDER["invoices"], "issue date") and customer_ok and row.ok):
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
        if not invoice_ids:
            return {}
        query = select(Allocation.invoice_id, func.sum(Allocation.amount)).where(self._among(Allocation.invoice_id)).group_by(Allocation.invoice_id)
        return dict(self.session.execute(query, {"ids": self._ids(sorted(invoice_ids))}).all())

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
        if named:
            query = select(Invoice.invoice_id, Invoice.customer_id).where(self._among(Invoice.invoice_id))
            invoice_customer.update(self.session.execute(query, {"ids": self._ids(named)}).all())
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
            if self._dates_ok(row, *_DATES_IN_ORDER["charges"], "delivery date") and customer_ok and row.ok:
                checked.append(row)
            else:
                self._refused("charges", row)
        new, changed = self._classify("charges", checked, self._existing(Charge, "charge_id", checked))
        self._write("charges", Charge, "charge_id", new, changed)

    def _write(self, kind: str, model, id_column: str, new: list[Row], changed: list[Row]) -> None:
        columns = (id_column, *_COMPARED[kind])
        if new:
            self._insert(model.__table__, columns, [[r.values[c] for c in columns] for r in new])
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
        allocations: list[tuple[str, str, Decimal]] = []
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
                        allocations.append((payment.payment_id, invoice_id, amount))
            if allocations:
                self._insert(Allocation.__table__, ("payment_id", "invoice_id", "amount"), allocations)
                self.summary.allocations += len(allocations)
                allocations = []

    def _open_invoices(self, customer_ids: Sequence[str]) -> dict[str, dict[str, OpenInvoice]]:
        """customer -> invoice -> what is open on it (the files' invoices are in the ledger by now)."""
        invoices: dict[str, dict[str, OpenInvoice]] = defaultdict(dict)
        paid = select(Allocation.invoice_id, func.sum(Allocation.amount).label("paid")).group_by(Allocation.invoice_id).subquery()
        query = (
            select(Invoice.customer_id, Invoice.invoice_id, Invoice.due_on, Invoice.issued_on, Invoice.amount, paid.c.paid)
            .outerjoin(paid, paid.c.invoice_id == Invoice.invoice_id)
            .where(self._among(Invoice.customer_id))
        )
        for customer_id, invoice_id, due_on, issued_on, amount, paid_amount in self.session.execute(query, {"ids": self._ids(sorted(customer_ids))}):
            invoices[customer_id][invoice_id] = OpenInvoice(invoice_id, due_on, issued_on, amount - (paid_amount or ZERO))
        return invoices


# The customers file's columns that are the primary contact's, not the customer's (``_contact_fields``).
_CONTACT_COLUMNS = ("email", "phone", "contact_name", "contact_title")
_CUSTOMER_FIELDS = ("customer_id", *(c for c in _COMPARED["customers"] if c not in _CONTACT_COLUMNS))


def _customer_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    return {n: values[n] for n in _CUSTOMER_FIELDS}


# The primary contact's fields a new customer's row gives, and the import columns they come from.
_CONTACT_FIELDS = ("customer_id", "name", "title", "email", "phone")
_CONTACT_FROM = ("customer_id", "contact_name", "contact_title", "email", "phone")


def _contact_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": values["contact_name"], "title": values["contact_title"], "email": values["email"], "phone": values["phone"]}


def _only(fields: dict[str, Any], present: frozenset[str], renamed: Mapping[str, str] = {}) -> dict[str, Any]:
    """The fields whose import column is in the file (absent columns keep the ledger's value)."""
    return {k: v for k, v in fields.items() if renamed.get(k, k) in present and k != "customer_id"}


def _in_order(row: Row, first: str, later: str) -> bool:
    """``later`` does not come before ``first`` (or one of them is empty or did not parse)."""
    start, end = row.values.get(first), row.values.get(later)
    return start is None or end is None or end >= start


def _show(value: Any) -> str:
    if value is None:
        return "(empty)"
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value) if isinstance(value, str) else str(value)
