"""Read a bank's statement of the company's account: CSV/XLSX exports, camt.053 and MT940 (CONTRACT.md, "Bank statements").

Every format comes out as the same `StatementLine`s: money in only (outgoing
lines are counted and dropped), amounts as Decimal parsed by the importer's rule
(`models.import_rows.parse_amount`), ids by its id rule. A file with any
problem raises `huikuan.ledger.importer.ImportFailed` with one `FILE:ROW:COLUMN:
message` per problem, before anything is written.

Chinese banks' exports put a few lines about the account above the header
row and totals below the last line; the header row is the first one that
names a date and an incoming amount (`HEADER_WORDS`, plus the company file's
``bank.headers``), and rows whose date cell is a total (合计) are skipped.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree
from xml.parsers import expat

from huikuan.ledger.importer import ImportFailed, Problem
from huikuan.ledger.tables import UnreadableFile, csv_rows
from models.import_rows import parse_amount, parse_date, parse_id

FORMATS = ("csv", "xlsx", "camt053", "mt940")

# The usual header words of Chinese banks' exports, per field, tried in this order
# (CONTRACT.md names the first ones; a company adds its bank's in the company file).
HEADER_WORDS: dict[str, tuple[str, ...]] = {
    "date": ("交易日期", "记账日期", "入账日期", "交易日", "交易时间", "日期"),
    "credit": ("贷方金额", "收入金额", "贷方发生额", "收入", "贷方"),
    "debit": ("借方金额", "支出金额", "借方发生额", "支出", "借方"),
    "amount": ("交易金额", "发生额", "金额"),
    "direction": ("借贷标志", "借贷方向", "收支标志", "借贷"),
    "payer": ("对方户名", "付款人名称", "对方单位名称", "对方名称", "付款方名称", "收(付)方名称", "对方账户名称"),
    "payer_account": ("对方账号", "付款人账号", "对方帐号", "付款方账号", "收(付)方账号", "收(付)方帐号", "对方账户"),
    "reference": ("摘要", "附言", "用途", "备注"),  # every one present: a bank may fill any of them
    "transaction_id": ("流水号", "交易流水号", "交易参考号", "银行流水号"),
    "currency": ("币种", "币别", "货币"),
}
CREDIT_MARKS = ("贷", "贷方", "收", "收入", "C", "CR", "CRDT")
DEBIT_MARKS = ("借", "借方", "支", "支出", "D", "DR", "DBIT")
_TOTALS = re.compile(r"合计|总计|小计|笔数|汇总|total", re.IGNORECASE)
_UNIT_SUFFIX = re.compile(r"[(（](元|人民币|RMB|CNY)[)）]$", re.IGNORECASE)
_GROUPED = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]{1,2})?")
_BANK_DATE = re.compile(r"([0-9]{4})[-/.年]?([0-9]{1,2})[-/.月]?([0-9]{1,2})日?(?:[ T].*)?")
_HEADER_SEARCH_ROWS = 30  # the account's details above the header are a few lines, never pages


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One incoming transfer as the bank wrote it; ``row`` is where it is in the file (row, entry or :61: number)."""

    row: int
    booked_on: dt.date
    amount: Decimal
    payer: str = ""
    payer_account: str = ""
    reference: str = ""
    transaction_id: str | None = None
    currency: str | None = None


@dataclass
class Statement:
    """What a file holds: its incoming lines, and how many outgoing (or zero) lines were dropped."""

    path: Path
    format: str
    lines: list[StatementLine] = field(default_factory=list)
    outgoing: int = 0


@dataclass(frozen=True)
class HeaderWords:
    """The header words and direction marks in force: the company file's first, then the usual ones."""

    words: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(HEADER_WORDS))
    credit_marks: frozenset[str] = frozenset(CREDIT_MARKS)
    debit_marks: frozenset[str] = frozenset(DEBIT_MARKS)

    @classmethod
    def of(cls, bank_section=None) -> HeaderWords:
        """The usual words with those of the company file's ``bank`` section (`huikuan.ledger.company.BankSection`) in front."""
        if bank_section is None:
            return cls()
        words = {name: tuple(dict.fromkeys([*bank_section.headers.get(name, []), *usual])) for name, usual in HEADER_WORDS.items()}
        return cls(
            words,
            frozenset(CREDIT_MARKS) | {_header_form(m) for m in bank_section.credit_marks},
            frozenset(DEBIT_MARKS) | {_header_form(m) for m in bank_section.debit_marks},
        )


class _Problems:
    def __init__(self, label: str) -> None:
        self.label = label
        self.found: list[Problem] = []

    def add(self, row: int, column: str, message: str) -> None:
        self.found.append(Problem(self.label, row, column, message))

    def raise_any(self) -> None:
        if self.found:
            raise ImportFailed(sorted(self.found, key=lambda p: (p.row, p.column)))


def detect_format(path: Path) -> str:
    """The format of ``path`` from its content (not its name): an XLSX zip, camt.053 XML, MT940 tags, else CSV."""
    head = path.read_bytes()[:4096] if path.is_file() else b""
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<") and (b"camt.053" in head or b"BkToCstmrStmt" in head):
        return "camt053"
    if text.startswith(b"{1:") or (re.search(rb"^:20:", text, re.MULTILINE) and re.search(rb"^:61:|^:60[FM]:", text, re.MULTILINE)):
        return "mt940"
    return "csv"


def read_statement(path: Path, fmt: str = "auto", words: HeaderWords | None = None) -> Statement:
    """The incoming lines of the statement file ``path``.

    Raises:
        ImportFailed: one problem per bad cell, row or the file itself; nothing is read then.
    """
    path = Path(path)
    problems = _Problems(str(path))
    if not path.is_file():
        problems.add(1, "-", "file not found" if not path.exists() else "is not a file")
        problems.raise_any()
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise ValueError(f"unknown statement format {fmt!r}; one of auto, {', '.join(FORMATS)}")
    statement = Statement(path, fmt)
    if fmt in ("csv", "xlsx"):
        _read_rows(path, fmt, words or HeaderWords(), statement, problems)
    elif fmt == "camt053":
        _read_camt053(path, statement, problems)
    else:
        _read_mt940(path, statement, problems)
    problems.raise_any()
    return statement


# -- CSV and XLSX --------------------------------------------------------------------------


def _header_form(text: str) -> str:
    """A header cell as compared: NFKC (full-width brackets and letters), no spaces, no unit such as (元), upper-case."""
    folded = "".join(unicodedata.normalize("NFKC", text).split())
    return _UNIT_SUFFIX.sub("", folded).upper()


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030 (which reads GBK and GB2312 too)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def _text_rows(path: Path, fmt: str) -> Iterator[tuple[int, list[str]]]:
    """(row number from 1, stripped cells) of every non-blank row, the account's details above the header included."""
    data = path.read_bytes()
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise UnreadableFile(1, "this is an Excel 97-2003 workbook (.xls): open it in Excel and save it as .xlsx or CSV")
    if fmt == "xlsx":
        yield from _xlsx_rows(data)
        return
    if data.startswith(b"PK\x03\x04"):
        raise UnreadableFile(1, "this is an Excel workbook, not CSV: import it with --format xlsx")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile(1, "the file is UTF-16; save it as CSV (UTF-8 or GBK)")
    try:
        text = _decode(data)
    except UnicodeDecodeError as exc:
        raise UnreadableFile(data[: exc.start].count(b"\n") + 1, "neither UTF-8 nor GBK/GB18030 text; save the statement as CSV again") from None
    if "\x00" in text:
        raise UnreadableFile(text[: text.index("\x00")].count("\n") + 1, "the file contains NUL bytes; it is not a text CSV file")
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if first.count("\t") > first.count(",") else ",", strict=True)
    yield from csv_rows(reader, first=1, clean=lambda cell: _unformula(cell.strip()))


def _unformula(cell: str) -> str:
    """``="6222000011112222"``, as banks write long numbers so that Excel keeps every digit, is its text."""
    return cell[2:-1].strip() if cell.startswith('="') and cell.endswith('"') else cell


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    """The first sheet's rows as text, cells as the import files read them (`huikuan.ledger.tables`)."""
    from openpyxl import load_workbook  # slow to import: only XLSX needs it

    from huikuan.ledger.tables import _cell_text

    damaged = "the workbook is damaged or not in .xlsx format; save it again from Excel as .xlsx"
    if not data.startswith(b"PK\x03\x04"):
        raise UnreadableFile(1, "this is not an Excel workbook (a CSV file?): import it with --format csv")
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # zipfile, zlib, the XML parser: any of them on a damaged file
        raise UnreadableFile(1, damaged) from None
    number = 0
    try:
        for number, cells in enumerate(workbook.worksheets[0].iter_rows(values_only=True), 1):
            texts = [_cell_text(c) for c in cells]
            if any(texts):
                yield number, texts
    except Exception:
        raise UnreadableFile(number + 1, damaged) from None
    finally:
        workbook.close()


@dataclass(frozen=True)
class _Layout:
    """Which column holds what: field -> column index (references: every reference column)."""

    columns: dict[str, int]
    references: tuple[int, ...]
    names: list[str]

    def cell(self, cells: Sequence[str], name: str) -> str:
        index = self.columns.get(name)
        return cells[index] if index is not None and index < len(cells) else ""


def _layout(header: list[str], words: HeaderWords) -> _Layout | None:
    """The layout of ``header`` when it names a date and money in (a credit column, or an amount with a direction)."""
    forms = [_header_form(cell) for cell in header]
    columns: dict[str, int] = {}
    for name, candidates in words.words.items():
        if name == "reference":
            continue
        for word in candidates:
            form = _header_form(word)
            if form in forms:
                columns[name] = forms.index(form)
                break
    references = tuple(i for i, form in enumerate(forms) if form in {_header_form(w) for w in words.words["reference"]})
    money_in = "credit" in columns or ("amount" in columns and "direction" in columns)
    if "date" not in columns or not money_in:
        return None
    if "credit" in columns:
        columns.pop("amount", None)
        columns.pop("direction", None)
    return _Layout(columns, references, header)


def _read_rows(path: Path, fmt: str, words: HeaderWords, statement: Statement, problems: _Problems) -> None:
    rows = _text_rows(path, fmt)
    layout = None
    try:
        for number, cells in rows:
            if number > _HEADER_SEARCH_ROWS and layout is None:
                break
            if layout is None:
                layout = _layout(cells, words)
                if layout is not None:
                    header_row = number
                continue
            _read_row(number, cells, layout, words, statement, problems)
    except UnreadableFile as exc:
        problems.add(exc.row, "-", exc.message)
        return
    if layout is None:
        problems.add(
            1,
            "-",
            "no header row naming a date (交易日期|交易时间|记账日期) and money in (贷方金额|收入金额|贷方发生额) in the first "
            f"{_HEADER_SEARCH_ROWS} rows; map your bank's header words in the company file's bank.headers",
        )
        return
    if not statement.lines and not statement.outgoing and not problems.found:
        problems.add(header_row, "-", "the statement has no lines below its header row")


def _read_row(number: int, cells: list[str], layout: _Layout, words: HeaderWords, statement: Statement, problems: _Problems) -> None:
    name = layout.names
    date_text = layout.cell(cells, "date")
    if not date_text or _TOTALS.search(date_text) or (cells and _TOTALS.search(cells[0])):
        return  # a total, a page footer, a blank date: not a transaction
    column_of = lambda field_name: name[layout.columns[field_name]]  # noqa: E731 - the header word, as the problem names it
    booked_on = None
    try:
        booked_on = parse_bank_date(date_text)
    except ValueError as exc:
        problems.add(number, column_of("date"), str(exc))
    amount = None
    if "credit" in layout.columns:
        credit_text, debit_text = layout.cell(cells, "credit"), layout.cell(cells, "debit")
        try:
            amount = parse_bank_amount(credit_text)
        except ValueError as exc:
            problems.add(number, column_of("credit"), str(exc))
            return
        if amount is None:
            try:
                parse_bank_amount(debit_text)
            except ValueError as exc:
                problems.add(number, column_of("debit"), str(exc))
                return
            statement.outgoing += 1
            return
    else:
        mark = _header_form(layout.cell(cells, "direction"))
        if mark in words.debit_marks:
            statement.outgoing += 1
            return
        if mark not in words.credit_marks:
            problems.add(
                number,
                column_of("direction"),
                f"{layout.cell(cells, 'direction')!r} is neither money in ({'/'.join(sorted(words.credit_marks))}) "
                f"nor money out ({'/'.join(sorted(words.debit_marks))}); name your bank's marks in the company file's bank section",
            )
            return
        try:
            amount = parse_bank_amount(layout.cell(cells, "amount"))
        except ValueError as exc:
            problems.add(number, column_of("amount"), str(exc))
            return
        if amount is None:
            statement.outgoing += 1
            return
    transaction_id = layout.cell(cells, "transaction_id") or None
    if transaction_id is not None:
        try:
            parse_id(transaction_id)
        except ValueError as exc:
            problems.add(number, column_of("transaction_id"), f"transaction id {exc}")
    if booked_on is None:
        return
    reference = " ".join(dict.fromkeys(cells[i] for i in layout.references if i < len(cells) and cells[i]))
    currency = layout.cell(cells, "currency")
    statement.lines.append(
        StatementLine(
            row=number,
            booked_on=booked_on,
            amount=amount,
            payer=layout.cell(cells, "payer"),
            payer_account=layout.cell(cells, "payer_account"),
            reference=reference,
            transaction_id=transaction_id,
            currency=_currency(currency),
        )
    )


def _currency(text: str) -> str | None:
    folded = text.strip().upper()
    if folded in ("", "人民币", "RMB", "CNY", "156"):
        return "CNY" if folded else None
    if folded in ("美元", "USD"):
        return "USD"
    return folded[:3] if re.fullmatch(r"[A-Z]{3}", folded) else None


def parse_bank_date(text: str) -> dt.date:
    """A bank's date: ``2026-11-03``, ``20261103``, ``2026/11/03``, ``2026年11月3日``, with or without a time after it."""
    match = _BANK_DATE.fullmatch(text.strip())
    if not match:
        return parse_date(text.strip())  # its message says what is wrong and how to write it
    return parse_date(f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}")


def parse_bank_amount(text: str) -> Decimal | None:
    """A credit or debit cell: None when empty, ``-`` or zero; else the importer's amount (thousands commas as banks group them allowed)."""
    text = text.strip()
    if text in ("", "-", "--"):
        return None
    if _GROUPED.fullmatch(text):
        text = text.replace(",", "")
    amount = parse_amount(text, allow_zero=True)
    return amount if amount > 0 else None


# -- camt.053 (ISO 20022 BankToCustomerStatement) ---------------------------------------------


class _RefusedXml(ValueError):
    pass


def _parse_xml(data: bytes) -> tuple[ElementTree.Element, dict[int, int]]:
    """The document's root and the source line of each element; a DTD or entity declaration is refused (no entity expansion).

    Raises:
        _RefusedXml: a DTD or an entity declaration.
        ExpatError: not well-formed (``lineno`` says where).
    """
    lines: dict[int, int] = {}
    builder = ElementTree.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")  # tags come as "namespace}Local": `_local` reads either form

    def start(tag, attrs):
        lines[id(builder.start(tag, attrs))] = parser.CurrentLineNumber

    def refuse(*_args):
        raise _RefusedXml("the file declares a DTD or entities, which a bank statement never does; it is refused unread")

    parser.StartElementHandler = start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.Parse(data, True)
    return builder.close(), lines


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(element: ElementTree.Element | None, path: str) -> ElementTree.Element | None:
    """The first element at ``path`` (local names joined by '/'), whatever the namespace of the camt version."""
    for step in path.split("/"):
        if element is None:
            return None
        element = next((child for child in element if _local(child.tag) == step), None)
    return element


def _findall(element: ElementTree.Element | None, name: str) -> list[ElementTree.Element]:
    return [] if element is None else [child for child in element if _local(child.tag) == name]


def _text(element: ElementTree.Element | None, *paths: str) -> str:
    for path in paths:
        found = _find(element, path)
        if found is not None and (found.text or "").strip():
            return " ".join(found.text.split())
    return ""


def _read_camt053(path: Path, statement: Statement, problems: _Problems) -> None:
    data = path.read_bytes()
    try:
        root, lines = _parse_xml(data)
    except _RefusedXml as exc:
        problems.add(1, "-", str(exc))
        return
    except expat.ExpatError as exc:
        problems.add(exc.lineno, "-", f"not well-formed XML ({expat.ErrorString(exc.code)}); is it the whole camt.053 file?")
        return
    statements = _findall(_find(root, "BkToCstmrStmt"), "Stmt")
    if _local(root.tag) != "Document" or not statements:
        problems.add(1, "-", "not a camt.053 statement: no Document/BkToCstmrStmt/Stmt")
        return
    for stmt in statements:
        currency = _text(stmt, "Acct/Ccy") or None
        for entry in _findall(stmt, "Ntry"):
            row = lines.get(id(entry), 1)
            status = _text(entry, "Sts/Cd", "Sts")
            if status and status != "BOOK":
                continue  # pending or information-only: the booked entry comes in a later statement
            if _text(entry, "CdtDbtInd") != "CRDT" or _text(entry, "RvslInd").lower() == "true":
                statement.outgoing += 1
                continue
            date_text = _text(entry, "BookgDt/Dt", "BookgDt/DtTm", "ValDt/Dt", "ValDt/DtTm")
            try:
                booked_on = parse_bank_date(date_text[:10])
            except ValueError as exc:
                problems.add(row, "BookgDt", str(exc))
                continue
            details = [d for batch in _findall(entry, "NtryDtls") for d in _findall(batch, "TxDtls")] or [None]
            for detail in details:
                _camt_line(entry, detail, booked_on, currency, lines, statement, problems)


def _camt_line(entry, detail, booked_on, currency, lines, statement: Statement, problems: _Problems) -> None:
    """One transaction of an entry: its own amount, parties and remittance when the entry details them, else the entry's."""
    row = lines.get(id(detail if detail is not None else entry), 1)
    amount_element = None
    if detail is not None:
        amount_element = _find(detail, "Amt")
        if amount_element is None:
            amount_element = _find(detail, "AmtDtls/TxAmt/Amt")
    if amount_element is None:
        amount_element = _find(entry, "Amt")
    try:
        amount = parse_amount((amount_element.text or "").strip() if amount_element is not None else "")
    except ValueError as exc:
        problems.add(lines.get(id(amount_element), row), "Amt", str(exc))
        return
    parties = _find(detail, "RltdPties")
    payer = _text(parties, "Dbtr/Nm", "Dbtr/Pty/Nm", "UltmtDbtr/Nm", "UltmtDbtr/Pty/Nm")
    account = _text(parties, "DbtrAcct/Id/IBAN", "DbtrAcct/Id/Othr/Id")
    remittance = _find(detail, "RmtInf")
    reference = _joined(
        [" ".join((u.text or "").split()) for u in _findall(remittance, "Ustrd")]
        + [_text(s, "CdtrRefInf/Ref") for s in _findall(remittance, "Strd")]
        + [_text(detail, "AddtlTxInf"), _text(entry, "AddtlNtryInf")]
    )
    own_reference = _text(detail, "Refs/AcctSvcrRef", "Refs/TxId")
    shared = len([d for batch in _findall(entry, "NtryDtls") for d in _findall(batch, "TxDtls")]) > 1
    # An entry's reference shared by several transactions (a batch) keys none of them: each is keyed by its content.
    transaction_id = own_reference or (None if shared else _text(entry, "AcctSvcrRef", "NtryRef") or None)
    if transaction_id is not None:
        try:
            parse_id(transaction_id)
        except ValueError as exc:
            problems.add(row, "AcctSvcrRef", f"transaction id {exc}")
            return
    statement.lines.append(
        StatementLine(
            row=row,
            booked_on=booked_on,
            amount=amount,
            payer=payer,
            payer_account="".join(account.split()),
            reference=reference,
            transaction_id=transaction_id,
            currency=(amount_element.get("Ccy") if amount_element is not None else None) or currency,
        )
    )


def _joined(parts: Iterable[str]) -> str:
    return " ".join(dict.fromkeys(p for p in parts if p))


# -- MT940 (SWIFT customer statement) ----------------------------------------------------------

_SLASH_FIELDS = re.compile(r"/(NAME|ACCT|IBAN|REMI|EREF|ORDP|BENM|CNTP|ID)/")


def _read_mt940(path: Path, statement: Statement, problems: _Problems) -> None:
    import mt940

    raw = path.read_bytes()
    try:
        text = _decode(raw)
    except UnicodeDecodeError:
        problems.add(1, "-", "neither UTF-8 nor GBK/GB18030 text")
        return
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    starts = [m.start() for m in re.finditer(r"^:61:", text, re.MULTILINE)]
    rows = [text.count("\n", 0, s) + 1 for s in starts]
    if not starts:
        problems.add(1, "-", "not an MT940 statement: no :61: statement line")
        return
    try:
        transactions = mt940.parse(text, options=mt940.Options(applicant_iban=True, merge_keeps_values=True, unbounded_details=True))
    except Exception as exc:  # the parser says what did not match, as a RuntimeError or a ValueError
        problems.add(_mt940_row(text, exc), ":61:", f"not a valid MT940 field: {' '.join(str(exc).split())[:200]}")
        return
    if len(transactions) != len(starts):
        problems.add(1, ":61:", f"{len(starts)} :61: lines but {len(transactions)} transactions read; the file is damaged")
        return
    for row, transaction in zip(rows, transactions, strict=True):
        data = transaction.data
        status = str(data.get("status", ""))
        if status != "C":
            statement.outgoing += 1  # debits, and reversals (RC, RD) of earlier lines
            continue
        amount = data["amount"].amount
        try:
            amount = parse_amount(f"{amount:f}")
        except ValueError as exc:
            problems.add(row, ":61:", str(exc))
            continue
        details = data.get("transaction_details") or ""
        fields = _slash_fields(details)
        payer = " ".join(fields.get("NAME", "").split()) or data.get("applicant_name") or ""
        account = fields.get("ACCT") or fields.get("IBAN") or data.get("applicant_iban") or ""
        reference = _joined(
            [
                fields.get("REMI", "") or (data.get("purpose") or "") or ("" if fields else " ".join(details.split())),
                fields.get("EREF", ""),
                _ref(data.get("customer_reference")),
            ]
        )
        bank_reference = _ref(data.get("bank_reference"))
        transaction_id = bank_reference or None
        if transaction_id is not None:
            try:
                parse_id(transaction_id)
            except ValueError:
                transaction_id = None  # a reference with a space: the line is keyed by its content
        statement.lines.append(
            StatementLine(
                row=row,
                booked_on=data.get("entry_date") or data["date"],
                amount=amount,
                payer=" ".join(str(payer).split()),
                payer_account="".join(str(account).split()),
                reference=reference,
                transaction_id=transaction_id,
                currency=data["amount"].currency or None,
            )
        )


def _ref(value) -> str:
    text = " ".join(str(value or "").split())
    return "" if text.upper() in ("NONREF", "NOTPROVIDED") else text


def _slash_fields(details: str) -> dict[str, str]:
    """``/NAME/华信/REMI/INV-1`` style :86: details (SWIFT's structured format) as a dict."""
    flat = "".join(details.splitlines())
    parts = _SLASH_FIELDS.split(flat)
    fields: dict[str, str] = {}
    for key, value in zip(parts[1::2], parts[2::2]):
        fields.setdefault(key, value.strip().strip("/").strip())
    return fields


def _mt940_row(text: str, exc: Exception) -> int:
    """The row of the field the parser could not read, when its message quotes it."""
    quoted = re.search(r"'([^']{6,})'", str(exc))
    if quoted and quoted[1] in text:
        return text.count("\n", 0, text.index(quoted[1])) + 1
    return 1
