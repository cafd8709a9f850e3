"""Read an import file (CSV or XLSX) into a header and rows of text cells.

Every cell comes back as a stripped string, whatever the file format stored, so
the row rules of `models.import_rows` see one kind of input. Problems that make
a whole file unreadable raise `UnreadableFile` with the row where they start.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

XLSX_SUFFIXES = {".xlsx", ".xlsm"}


class UnreadableFile(Exception):
    def __init__(self, row: int, message: str) -> None:
        super().__init__(message)
        self.row = row
        self.message = message


@dataclass
class Table:
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]  # (row number with the header as row 1, cells)


def read_table(path: Path) -> Table:
    """The header and the rows of ``path``; blank rows are skipped but keep their numbers."""
    if not path.is_file():
        raise UnreadableFile(1, "file not found" if not path.exists() else "is not a file")
    if path.suffix.lower() in XLSX_SUFFIXES:
        return _read_xlsx(path)
    return _read_csv(path)


def _read_csv(path: Path) -> Table:
    """The rows are read from the file as they are needed, so that memory does not grow with the file."""
    with path.open("rb") as handle:
        start = handle.read(4096)
    if start.startswith(b"PK\x03\x04"):
        raise UnreadableFile(1, "this is an Excel workbook, not CSV: name it .xlsx or save it as CSV UTF-8")
    if start.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UnreadableFile(1, "the file is UTF-16 (Excel's 'Unicode Text'); save it as 'CSV UTF-8'")
    order = _utf16_without_bom(start)
    if order:
        raise UnreadableFile(1, f"the file is UTF-16 ({order}, without a byte order mark), not UTF-8; save it as 'CSV UTF-8'")
    if not _is_utf8_text(path):
        raise _whole_file_problem(path)
    reader = csv.reader(_text_lines(path, skip=3 if start.startswith(b"\xef\xbb\xbf") else 0), strict=True)
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise UnreadableFile(1, f"the header row is not valid CSV: {exc}") from None
    if not any(cell.strip() for cell in header):
        raise UnreadableFile(1, "the file is empty or its first row (the header) is blank")
    return Table([cell.strip() for cell in header], csv_rows(reader))


def _is_utf8_text(path: Path, block: int = 1 << 20) -> bool:
    """Is ``path`` UTF-8 without NUL? Read a block at a time, before any row is, so a bad file is refused whole."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while data := handle.read(block):
                if b"\x00" in data:
                    return False
                decoder.decode(data)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _text_lines(path: Path, *, skip: int) -> Iterator[str]:
    """The file's lines, decoded as UTF-8 as they are read; a byte that is not UTF-8 or a NUL raises `UnreadableFile` at its record."""
    with path.open("rb") as handle:
        handle.seek(skip)
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        while True:
            try:
                line = text.readline()
            except UnicodeDecodeError:
                line = "\x00"  # the whole file, read again, says where (the decoder reads ahead of the rows)
            if not line:
                return
            if "\x00" in line:
                raise _whole_file_problem(path)
            yield line


def _whole_file_problem(path: Path) -> UnreadableFile:
    """The first byte of ``path`` that is not UTF-8, or its first NUL, at its record (the file read whole: only a bad file comes here)."""
    data = path.read_bytes()
    body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = _record_at(body[: exc.start].decode("utf-8"))
        return UnreadableFile(row, f"not UTF-8 text ({_guess_encoding(data)}); save the file as 'CSV UTF-8' and import it again")
    if "\x00" in text:
        return UnreadableFile(_record_at(text[: text.index("\x00")]), "the file contains NUL bytes; it is not a text CSV file")
    return UnreadableFile(1, "the file changed while it was read; import it again")


def csv_rows(reader, *, first: int = 2, clean: Callable[[str], str] = str.strip) -> Iterator[tuple[int, list[str]]]:
    """(row number, cleaned cells) of every non-blank row of a ``csv.reader``, numbered from ``first``; a CSV error names its row."""
    number = first - 1
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise UnreadableFile(number, f"not valid CSV: {exc}") from None
        stripped = list(map(clean, cells))
        if any(stripped):
            yield number, stripped


def _record_at(before: str) -> int:
    """The CSV record (the header is 1) of the character that follows ``before``.

    Records, not lines: a quoted cell may hold line breaks.
    """
    try:
        return sum(1 for _ in csv.reader(io.StringIO(before + "x", newline="")))
    except csv.Error:  # e.g. a cell over the csv module's size limit: lines are near enough
        return before.count("\n") + 1


def _utf16_without_bom(data: bytes) -> str | None:
    """ "little-endian" or "big-endian" when ``data`` looks like UTF-16 without a BOM, else None.

    The header row is ASCII column names, which UTF-16 writes as a NUL byte beside each
    letter: many NULs at odd positions (LE) or even ones (BE), almost none at the others.
    A UTF-8 file with a stray NUL or two is left to the NUL check.
    """
    sample = data[:4096]
    pairs = len(sample) // 2
    if pairs < 4:
        return None
    even, odd = sample[0 : 2 * pairs : 2].count(0), sample[1 : 2 * pairs : 2].count(0)
    if odd >= pairs * 0.3 and even <= odd * 0.05:
        return "little-endian"
    if even >= pairs * 0.3 and odd <= even * 0.05:
        return "big-endian"
    return None


def _guess_encoding(data: bytes) -> str:
    try:
        data.decode("gb18030")
    except UnicodeDecodeError:
        return "the encoding is unknown"
    return "it looks like GBK/GB18030, as Excel saves CSV on a Chinese Windows"


def _read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook  # imported here: it is slow to import and only XLSX needs it

    damaged = "the workbook is damaged or not in .xlsx format; save it again from Excel as .xlsx"
    with path.open("rb") as handle:
        if handle.read(4) != b"PK\x03\x04":
            raise UnreadableFile(1, "this is not an Excel workbook (a text or CSV file?): name it .csv, or save it from Excel as .xlsx")
    # A damaged workbook can make openpyxl (zipfile, zlib, the XML parser) raise almost anything,
    # on opening or later while the rows are read: each is "damaged", at the row being read.
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception:
        raise UnreadableFile(1, damaged) from None
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header_cells = next(rows, None)
    except Exception:
        workbook.close()
        raise UnreadableFile(1, damaged) from None
    if header_cells is None or not any(_cell_text(c) for c in header_cells):
        workbook.close()
        raise UnreadableFile(1, "the first sheet is empty or its first row (the header) is blank")
    header = [_cell_text(c) for c in header_cells]
    while header and header[-1] == "":
        header.pop()  # Excel reports formatted but empty columns at the right

    def body() -> Iterator[tuple[int, list[str]]]:
        number = 1
        try:
            while True:
                number += 1
                try:
                    cells = next(rows)
                except StopIteration:
                    return
                except Exception:
                    raise UnreadableFile(number, damaged) from None
                texts = [_cell_text(c) for c in cells]
                if any(texts):
                    yield number, texts
        finally:
            workbook.close()

    return Table(header, body())


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Whole numbers lose their ".0" (ids typed as numbers); others keep their shortest exact form.
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value).strip()
