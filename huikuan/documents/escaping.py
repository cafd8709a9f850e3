"""Customer and user text made safe where it is shown: Markdown (the Prefect UI) and spreadsheets (CSV, XLSX).

Names, contact notes, reasons and comments are data typed by people, never
markup. In Markdown (the approval forms' descriptions, the artifacts, the
reports' ``.md``) :func:`markdown_text` shows them literally: no heading, bold,
link, image, list, quote, table cell or HTML tag can come out of them, whatever
renderer reads it (the Prefect UI's, markdown-it, GitHub). In a spreadsheet
:func:`spreadsheet_text` keeps Excel and LibreOffice from evaluating them as a
formula (OWASP "CSV injection"), and :func:`xlsx_text` makes them a string cell.
Only text goes through here: amounts, dates and counts are the system's own and
stay numbers.
"""

from __future__ import annotations

import re

# Every line break a renderer, a browser or Python's str.splitlines() may honour.
LINE_BREAKS = re.compile(r"\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")

# Backslash-escaped: CommonMark (and every renderer after it) shows "\\" before any ASCII
# punctuation as that character. "&" keeps an entity (&lt;) from becoming a character, "=" a
# line from underlining a heading. "." between two digits and "-" between two letters or digits
# start and end nothing in any Markdown (a list marker needs a space after it, a domain letters):
# dates, amounts and phone numbers stay as typed. ":" before "//": a bare http://… is made a
# link by GFM renderers (the Prefect UI's).
_MARKDOWN_ESCAPE = re.compile(r"[\\`*_{}\[\]()#+!|<>~&=]|(?<![0-9])\.|\.(?![0-9])|(?<![^\W_])-|-(?![^\W_])|:(?=//)")


def one_line(text: str) -> str:
    """``text`` with every kind of line break made a space: it cannot start a new Markdown block or CSV row."""
    return LINE_BREAKS.sub(" ", text)


def markdown_text(text: object) -> str:
    """``text`` (a person's or a customer's) for Markdown: on one line, shown exactly as typed.

    Every character Markdown or HTML gives a meaning to is backslash-escaped (so a
    ``#``, ``1.``, ``-`` or ``>`` at its start is no heading, list or quote, ``<b>``
    is no tag, ``|`` does not end a table cell), and ``://`` is broken so that no
    bare URL is made a link. Letters, digits, spaces and Chinese text are untouched.
    """
    return _MARKDOWN_ESCAPE.sub(lambda m: "\\" + m.group(0), one_line(str(text)))


_MARKDOWN_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # a backslash before ASCII punctuation: CommonMark's escape


def markdown_unescaped(markdown: str) -> str:
    """Markdown as a terminal shows it to a person: every backslash escape undone (``markdown_text``'s and any other).

    A terminal renders no Markdown, so the escapes that keep people's text literal for a
    renderer are only noise there (``韩欣晓 \\(财务经理\\)``); a file or a pipe keeps them.
    """
    return _MARKDOWN_ESCAPED.sub(r"\1", markdown)


def markdown_code(text: object) -> str:
    """``text`` as an inline code span (a command to copy): a backtick in it cannot end the span early."""
    text = one_line(str(text))
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") else f"{fence}{text}{fence}"


def artifact_key(name: str) -> str:
    """``name`` (an id, a person's) as part of a Prefect artifact key: lowercase letters, digits and dashes.

    Names that keep no such character (Chinese, symbols only) get a short hash instead, the same every day.
    """
    import hashlib

    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or hashlib.sha1(name.encode()).hexdigest()[:10]


def markdown_quote(text: object) -> str:
    """``text`` as a Markdown block quote of its own, set apart from the system's text (a note under its contact)."""
    return "> " + markdown_text(text).strip()


def markdown_quote_lines(text: str) -> str:
    """A text of several lines (a letter) as a block quote, each line escaped: its lines stay inside the quote."""
    return "\n".join(("> " + markdown_text(line).strip()).rstrip() for line in LINE_BREAKS.split(text))


# -- spreadsheets ----------------------------------------------------------------------------

# What makes Excel, LibreOffice or Google Sheets read a cell as a formula (OWASP), and the
# full-width forms an input method types in their place.
FORMULA_STARTS = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_LEADING_SPACE = " \t\r\n\x0b\x0c\u3000"


def evaluable(text: str) -> bool:
    """Would a spreadsheet evaluate ``text`` (a formula sign first, perhaps after spaces), or start it with a tab or CR?"""
    return text[:1] in ("\t", "\r", "\n") or text.lstrip(_LEADING_SPACE).startswith(FORMULA_STARTS)


def spreadsheet_text(text: str) -> str:
    """``text`` for a CSV cell: a leading ``'`` when a spreadsheet would evaluate it; CRs made LFs.

    A CR alone splits a row in Excel, and Python's csv module quotes it only when
    the line terminator holds one: as an LF it is quoted like any line break.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "'" + text if evaluable(text) else text


# Characters an XLSX file cannot hold (openpyxl refuses them): shown as a space.
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def xlsx_text(cell, text: str) -> None:
    """Store ``text`` in the openpyxl ``cell`` as a string, never a formula, and keep it text if someone edits it."""
    cell.value = _XLSX_ILLEGAL.sub(" ", text)
    cell.data_type = "s"  # openpyxl makes a value starting with "=" a formula
    if evaluable(cell.value):
        cell.quotePrefix = True  # Excel's leading apostrophe: the cell stays text when edited
