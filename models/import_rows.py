"""What a valid import row is (CONTRACT.md, "Import files"), as pure functions.

Each file kind has required and optional columns; each cell is parsed by a small
function that raises `ValueError` with a message a finance clerk understands.
Cross-row and ledger checks (duplicates, unknown customers, over-payment) live in
the importer, which knows the other files and the ledger.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from models.charges import parse_cap, parse_rate
from models.enums import Locale, Segment, Settlement

# Explicit [0-9], never \d: Python's \d also matches full-width, Arabic-Indic and other digits.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_OTHER_DATE = re.compile(r"([0-9]{4})[/.年]([0-9]{1,2})[/.月]([0-9]{1,2})日?|([0-9]{1,2})[/.]([0-9]{1,2})[/.]([0-9]{4})")
_THOUSANDS = re.compile(r"[+-]?[0-9]{1,3}([,，][0-9]{3})+(\.[0-9]*)?")
_UNDERSCORES = re.compile(r"[+-]?[0-9]+(_[0-9]+)+(\.[0-9]*)?")
# What an amount is: ASCII digits with at most one '.', and an optional sign
# (a '+' is harmless; a '-' is parsed so that it is refused as negative, not as unreadable).
_AMOUNT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_CURRENCY_MARKS = re.compile(r"[¥￥$€元]|RMB|CNY|USD", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s;,]+@[^@\s;,]+\.[^@\s;,]+")
_ID_FORBIDDEN = re.compile(r"[;\s]")
# Bidirectional embeddings, overrides and isolates: they reorder how the text around them is shown
# (a name in a letter, a line in a report), the "Trojan Source" characters. LRM/RLM marks stay allowed.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_TEXT_CONTROLS_ALLOWED = frozenset("\t\n\r")  # line breaks inside a quoted cell, tabs
_LARGEST_AMOUNT = Decimal(10) ** 16  # NUMERIC(18, 2)
# An amount that is plainly fine, parsed without the checks below: at most 16 ASCII digits (< _LARGEST_AMOUNT), at most 2 places.
_PLAIN_AMOUNT = re.compile(r"[0-9]{1,16}(?:\.[0-9]{1,2})?")
_CENT = Decimal("0.01")
# Dates already parsed (a file repeats its few hundred days); bounded, so that memory does not grow with the files.
_DATES: dict[str, dt.date] = {}
_DATES_KEPT = 4096


def _codepoint(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" {name}" if name else "")


def _invisible(value: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first control (Cc) or format (Cf) character of ``value`` not in ``allowed``."""
    if value.isascii() and value.isprintable():  # the usual id or amount, checked at C speed: printable ASCII has neither
        return None
    return next((ch for ch in value if ch not in allowed and unicodedata.category(ch) in ("Cc", "Cf")), None)


def id_list(text: str | None) -> list[str]:
    """Ids joined by ';' as the contract writes them (``I1;I2``), spaces around each dropped, empty ones skipped."""
    return [part.strip() for part in (text or "").split(";") if part.strip()]


def parse_id(value: str) -> str:
    """An id: at most 64 characters, no space or ';', no invisible character, in NFKC form.

    An id not in NFKC form (full-width ``Ｃ１``, a ligature, a decomposed accent) is refused,
    not normalised: normalising would silently make it the same id as ``C1`` (another
    row, or a row already in the ledger), and refusing says which spelling to use.
    """
    if len(value) <= 64 and value.isascii() and value.isprintable() and " " not in value and ";" not in value:
        return value  # the usual id: printable ASCII has no control character, and ASCII is its own NFKC form
    if len(value) > 64:
        raise ValueError(f"is {len(value)} characters long; ids have at most 64")
    hidden = _invisible(value)
    if hidden is not None:
        raise ValueError(f"{value!r} contains the invisible or control character {_codepoint(hidden)}, which ids may not contain; type the id again")
    if _ID_FORBIDDEN.search(value):
        raise ValueError(f"{value!r} contains a space or ';', which ids may not contain")
    normal = unicodedata.normalize("NFKC", value)
    if normal != value:
        raise ValueError(f"{value!r} has full-width, compatibility or decomposed characters; write {normal!r}")
    return value


def parse_text(max_length: int) -> Callable[[str], str]:
    """Names and free text: any printable character, tabs and line breaks; no other control character."""

    def parse(value: str) -> str:
        if len(value) > max_length:
            raise ValueError(f"is {len(value)} characters long; at most {max_length} fit")
        if value.isprintable():  # no Cc, and no bidi control (Cf): checked at C speed
            return value
        hidden = next((ch for ch in value if ch in _BIDI_CONTROLS or (unicodedata.category(ch) == "Cc" and ch not in _TEXT_CONTROLS_ALLOWED)), None)
        if hidden is not None:
            raise ValueError(f"contains the control character {_codepoint(hidden)}; remove it (type the text again)")
        return value

    return parse


def parse_email(value: str) -> str:
    if len(value) > 200:  # the ledger's contacts.email
        raise ValueError(f"is {len(value)} characters long; at most 200 fit")
    hidden = _invisible(value)
    if hidden is not None:
        raise ValueError(f"{value!r} contains the invisible or control character {_codepoint(hidden)}; type the address again")
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _ascii_digits(value: str) -> str:
    """``value`` with full-width and other Unicode digits (and decimal marks) as ASCII, for a hint."""
    folded = unicodedata.normalize("NFKC", value).replace("\u066b", ".").replace("\u066c", ",")  # Arabic decimal/thousands marks
    return "".join(str(unicodedata.decimal(ch)) if not ch.isascii() and unicodedata.decimal(ch, None) is not None else ch for ch in folded)


def _amount_hint(value: str) -> str:
    """Why ``value`` is not an amount, and what to write instead."""
    ascii_form = _ascii_digits(value)
    plain = re.sub(r"[,，_]", "", ascii_form) if _THOUSANDS.fullmatch(ascii_form) or _UNDERSCORES.fullmatch(ascii_form) else ascii_form
    instead = f"write {plain}" if _AMOUNT.fullmatch(plain) else "write a number such as 1234.50 (ASCII digits 0-9 and one '.')"
    if not value.isascii():
        if any("\uff10" <= ch <= "\uff19" for ch in value):
            return f"{value!r} is written with full-width digits; {instead}"
        if any(unicodedata.decimal(ch, None) is not None for ch in value if not ch.isascii()):
            return f"{value!r} has digits other than 0-9; {instead}"
        return f"{value!r} has characters that are not part of a number; {instead}"
    if _THOUSANDS.fullmatch(value):
        return f"{value!r} has a thousands separator; {instead}"
    if _UNDERSCORES.fullmatch(value):
        return f"{value!r} has '_' between digits; {instead}"
    if re.fullmatch(r"[+-]?[0-9]*\.?[0-9]+[eE][+-]?[0-9]+", value):
        return f"{value!r} is in scientific notation (a spreadsheet shortened it); format the column as a number with 2 decimals"
    return f"{value!r} is not an amount; write a number such as 1234.50"


def amount_spelling_problem(value: str) -> str | None:
    """Why ``value`` is not spelt as an amount (ASCII digits, one '.', an optional sign), or None.

    Shared by the importer and the CLI's ``--amount`` options; the value's range is checked apart.
    """
    if _CURRENCY_MARKS.search(value):
        return f"{value!r} has a currency sign or name; write the number only, e.g. 1234.50"
    if not _AMOUNT.fullmatch(value):
        return _amount_hint(value)
    return None


def parse_amount(value: str, *, allow_zero: bool = False) -> Decimal:
    """A decimal with at most 2 places, e.g. ``1234.50``: ASCII digits and one '.', no separators, no symbols."""
    if _PLAIN_AMOUNT.fullmatch(value):
        amount = Decimal(value).quantize(_CENT)
        if amount > 0 or allow_zero:
            return amount  # what the checks below return for it; zero without allow_zero goes on to be refused
    problem = amount_spelling_problem(value)
    if problem is not None:
        raise ValueError(problem)
    try:
        amount = Decimal(value)
    except InvalidOperation:  # not expected after the pattern: kept as a last guard
        raise ValueError(f"{value!r} is not an amount; write a number such as 1234.50") from None
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{value} has more than 2 decimal places")
    if abs(amount) >= _LARGEST_AMOUNT:
        raise ValueError(f"{value} is too large for an amount")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValueError(f"{value} must be more than 0" if not allow_zero else f"{value} may not be negative")
    return amount.quantize(Decimal("0.01"))


def parse_limit(value: str) -> Decimal:
    return parse_amount(value, allow_zero=True)


def parse_date(value: str) -> dt.date:
    """An ISO date ``YYYY-MM-DD``; other spellings get a hint with the ISO form."""
    known = _DATES.get(value)
    if known is not None:
        return known
    if _ISO_DATE.fullmatch(value):
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value} is not a date of the calendar") from None
        if len(_DATES) >= _DATES_KEPT:
            _DATES.clear()
        _DATES[value] = day
        return day
    match = _OTHER_DATE.fullmatch(value)
    if match:
        year, month, day = (match[1], match[2], match[3]) if match[1] else (match[6], match[5], match[4])
        hint = f"{int(year):04d}-{int(month):02d}-{int(day):02d}" if match[1] else "YYYY-MM-DD"
        raise ValueError(f"{value!r} is not written YYYY-MM-DD; write {hint}")
    if not value.isascii():
        ascii_form = _ascii_digits(value)
        if ascii_form != value and _ISO_DATE.fullmatch(ascii_form):
            raise ValueError(f"{value!r} is written with full-width or other non-ASCII digits; write {ascii_form}")
    if value.isascii() and value.isdigit() and 20000 <= int(value) <= 80000:
        as_date = dt.date(1899, 12, 30) + dt.timedelta(days=int(value))
        raise ValueError(f"{value!r} looks like a spreadsheet date number ({as_date}); format the column as a date YYYY-MM-DD")
    raise ValueError(f"{value!r} is not a date; write YYYY-MM-DD")


def parse_days(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) > 3650:
        raise ValueError(f"{value!r} is not a number of days between 0 and 3650")
    return int(value)


def parse_choice(choices: type) -> Callable[[str], str]:
    allowed = [member.value for member in choices]

    def parse(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return parse


def parse_code(length: int, what: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if len(value) != length or not value.isascii() or not value.isalpha():
            raise ValueError(f"{value!r} is not a {length}-letter {what} code")
        return value.upper()

    return parse


@dataclass(frozen=True)
class Column:
    name: str
    parse: Callable[[str], Any]
    required: bool = True
    default: Any = None


@dataclass(frozen=True)
class FileKind:
    """One import file: its columns and which of them is the row's id."""

    name: str
    id_column: str
    columns: tuple[Column, ...]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    @property
    def optional(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if not c.required)

    def parse_row(self, cells: Mapping[str, str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Parse one row's cells; returns the values and a (column, message) per problem.

        Absent or empty optional cells take their default; an empty required
        cell is a problem.
        """
        values: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for column in self.columns:
            raw = cells.get(column.name, "")
            if raw == "":
                if column.required:
                    problems.append((column.name, "is empty; a value is required"))
                values[column.name] = column.default
                continue
            try:
                values[column.name] = column.parse(raw)
            except ValueError as exc:
                problems.append((column.name, str(exc)))
        return values, problems

    def row_parser(self, header: Sequence[str]) -> Callable[[Sequence[str]], tuple[dict[str, Any], list[tuple[str, str]]]]:
        """``parse_row`` for rows given as cells in ``header``'s order: the same values and problems.

        Each column's position, parser and default are looked up once for the file,
        not once a cell, and no row is named cell by cell (a dict a row) to be parsed.
        """
        position = {name: index for index, name in enumerate(header)}  # the last of a repeated name, as dict(zip(header, cells))
        width = len(header)
        plan = tuple((c.name, position.get(c.name), c.parse, c.required, c.default) for c in self.columns)

        def parse(cells: Sequence[str]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
            if len(cells) < width:
                cells = [*cells, *[""] * (width - len(cells))]
            values: dict[str, Any] = {}
            problems: list[tuple[str, str]] = []
            for name, index, parse_cell, required, default in plan:
                raw = "" if index is None else cells[index]
                if raw == "":
                    if required:
                        problems.append((name, "is empty; a value is required"))
                    values[name] = default
                    continue
                try:
                    values[name] = parse_cell(raw)
                except ValueError as exc:
                    problems.append((name, str(exc)))
            return values, problems

        return parse

    def plain_columns_parser(self, header: Sequence[str]) -> Callable[[Sequence[Sequence[str]]], list[list[Any]] | None]:
        """For rows given as cells in ``header``'s order: their values a column at a time, in ``columns``' order, or None when any cell has a problem.

        The values are those of ``row_parser`` (rows without a problem have the same
        values, by column instead of by row); the problems are not worked out. Each
        column's cells go through its parser in one pass (``map``), without the
        bookkeeping of a row at a time. For the usual rows, all fine, the importer asks
        this first and ``row_parser`` only for a chunk that has a problem somewhere.
        """
        position = {name: index for index, name in enumerate(header)}  # the last of a repeated name, as row_parser
        width = len(header)
        plan = tuple((position.get(c.name), c.parse, c.required, c.default) for c in self.columns)

        def parse(rows: Sequence[Sequence[str]]) -> list[list[Any]] | None:
            if any(len(cells) < width for cells in rows):
                rows = [cells if len(cells) >= width else [*cells, *[""] * (width - len(cells))] for cells in rows]
            columns: list[list[Any]] = []
            for index, parse_cell, required, default in plan:
                if index is None:
                    if required:
                        return None
                    columns.append([default] * len(rows))
                    continue
                texts = [cells[index] for cells in rows]
                try:
                    if "" not in texts:
                        columns.append(list(map(parse_cell, texts)))
                    elif required:
                        return None
                    else:
                        columns.append([default if text == "" else parse_cell(text) for text in texts])
                except ValueError:
                    return None
            return columns

        return parse


CUSTOMERS = FileKind(
    "customers",
    "customer_id",
    (
        Column("customer_id", parse_id),
        Column("name", parse_text(200)),
        Column("email", parse_email),
        Column("phone", parse_text(50)),
        Column("contact_name", parse_text(100)),
        Column("contact_title", parse_text(100), required=False),
        Column("locale", parse_choice(Locale), required=False, default=Locale.zh_CN.value),
        Column("country", parse_code(2, "country"), required=False, default="CN"),
        Column("settlement", parse_choice(Settlement), required=False, default=Settlement.monthly_statement.value),
        Column("payment_terms_days", parse_days, required=False, default=30),
        Column("credit_limit", parse_limit, required=False),
        Column("segment", parse_choice(Segment), required=False, default=Segment.ordinary.value),
        Column("currency", parse_code(3, "currency"), required=False, default="CNY"),
        Column("collector", parse_id, required=False),
        Column("late_charge_rate", parse_rate, required=False),
        Column("late_charge_grace_days", parse_days, required=False),
        Column("late_charge_cap", parse_cap, required=False),
        Column("contract_clause", parse_text(100), required=False),
    ),
)

INVOICES = FileKind(
    "invoices",
    "invoice_id",
    (
        Column("invoice_id", parse_id),
        Column("customer_id", parse_id),
        Column("issued_on", parse_date),
        Column("due_on", parse_date),
        Column("amount", parse_amount),
        Column("currency", parse_code(3, "currency"), required=False),
    ),
)

PAYMENTS = FileKind(
    "payments",
    "payment_id",
    (
        Column("payment_id", parse_id),
        Column("customer_id", parse_id),
        Column("received_on", parse_date),
        Column("amount", parse_amount),
        Column("invoice_id", parse_id, required=False),
    ),
)

CHARGES = FileKind(
    "charges",
    "charge_id",
    (
        Column("charge_id", parse_id),
        Column("customer_id", parse_id),
        Column("delivered_on", parse_date),
        Column("amount", parse_amount),
        Column("description", parse_text(300), required=False),
        Column("receipt_received_on", parse_date, required=False),
    ),
)

FILE_KINDS: dict[str, FileKind] = {kind.name: kind for kind in (CUSTOMERS, INVOICES, PAYMENTS, CHARGES)}


def check_header(kind: FileKind, header: list[str]) -> list[tuple[str, str]]:
    """Problems with a header row, as (column, message): unknown, missing, repeated."""
    problems: list[tuple[str, str]] = []
    known = {c.name for c in kind.columns}
    if len(header) == 1 and re.search(r"[;\t|]", header[0]):
        sep = {";": "';'", "\t": "tabs", "|": "'|'"}[re.search(r"[;\t|]", header[0])[0]]
        return [(header[0][:40], f"columns are separated by {sep}; save the file with commas (CSV)")]
    seen: set[str] = set()
    for name in header:
        if name == "":
            problems.append(("-", "a column has no name in the header row"))
        elif name in seen:
            problems.append((name, "column appears twice in the header row"))
        elif name not in known:
            problems.append((name, f"unknown column in a {kind.name} file; its columns are: {', '.join(c.name for c in kind.columns)}"))
        seen.add(name)
    for name in kind.required:
        if name not in seen:
            problems.append((name, "required column is missing from the header row"))
    return problems
