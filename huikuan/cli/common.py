"""What every command group shares: the root command, the consoles, day/month/amount options, the ledger check, progress, output formats."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import warnings
from collections.abc import Iterable
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text
from typer.core import TyperGroup

from huikuan.cli.errors import error_line, one_line

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.orm import Session

T = TypeVar("T")


class OneLineErrors(TyperGroup):
    """The top command group: a database or configuration error is one ``error:`` line, exit status 1.

    Handled here, where every subcommand runs, so ``huikuan`` (``main``) and tests invoking
    ``app`` through typer's CliRunner see the same; `error_line` (at the end) says what
    each error means and where to fix it.
    """

    def main(self, *args, **kwargs):
        no_value_shown_for_flags(self)
        return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context):
        from models.calendar import CalendarFallbackWarning

        try:
            with warnings.catch_warnings():
                # A year without official calendar data is said only by the commands whose result is about
                # a day in it (`calendar_years`), not by every command that happens to look a date up in it.
                warnings.filterwarnings("ignore", category=CalendarFallbackWarning)
                return super().invoke(ctx)
        except BrokenPipeError:  # the reader stopped reading (`huikuan plan | head`): not an error to print
            quiet_closed_stdout()
            raise typer.Exit(CLOSED_PIPE) from None
        except Exception as exc:
            known = error_line(exc)
            if known is None:
                raise
            message, code = known
            raise fail(message, code) from None


CLOSED_PIPE = 141  # the exit status of a command ended by SIGPIPE (128 + 13), as `head` leaves `cat`


def quiet_closed_stdout() -> None:
    """Point standard output at /dev/null, so that flushing it at exit does not raise (and print) the broken pipe again."""
    try:
        fileno = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test runner's buffer)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)


def no_value_shown_for_flags(command) -> None:
    """``--help`` shows no value after a flag, ``--help`` itself included: typer's ``<bool>`` there reads as if it took one.

    Walks ``command`` and its subcommands when the command starts (~2 ms): a flag's ``metavar`` is set to
    nothing. The other options show their own (``DAY``, ``MONTH``) or typer's type (``<str>``, ``<path>``).
    """
    help_option = command.get_help_option(typer.Context(command))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = ""
    for subcommand in getattr(command, "commands", {}).values():
        no_value_shown_for_flags(subcommand)


app = typer.Typer(cls=OneLineErrors, help="huikuan (回款): receivables and collections over your ledger.", no_args_is_help=True, add_completion=False)


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        out.print(f"huikuan {version('huikuan')}", markup=False, highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Show huikuan's version and exit.")] = False) -> None:
    """The root command's options (``--version``); each command's work is in its own module."""


db_app = typer.Typer(help="The ledger database.", no_args_is_help=True)


customers_app = typer.Typer(help="Look up customers.", no_args_is_help=True)


contact_app = typer.Typer(help="Record contacts with customers.", no_args_is_help=True)


dispute_app = typer.Typer(help="Open and resolve disputes on invoices (异议).", no_args_is_help=True)


statement_app = typer.Typer(help="The monthly statements (对账单).", no_args_is_help=True)


shipping_app = typer.Typer(help="May goods leave for a customer? (for the warehouse or the ERP)", no_args_is_help=True)


approvals_app = typer.Typer(help="Requests waiting for a decision (stop-shipment, letters, statements).", no_args_is_help=True)


def stdout_console() -> Console:
    """The console for results: 120 columns when written to a file or a pipe."""
    console = Console()
    return console if console.is_terminal else Console(width=120)


out = stdout_console()


err = Console(stderr=True)


def write_markdown(markdown: str) -> None:
    """Markdown for people (a report, the worklist): to a file or a pipe as it is; to a terminal without its backslash escapes.

    A terminal renders no Markdown, so the escapes that keep people's text literal for a renderer
    (``huikuan.documents.escaping.markdown_text``) would only be noise on the screen.
    """
    from huikuan.documents.escaping import markdown_unescaped

    out.file.write(markdown_unescaped(markdown) if out.is_terminal else markdown)


# Warnings (a year without an official calendar) are for people: one plain line each.
warnings.formatwarning = lambda message, category, *_args, **_kwargs: f"warning: {message}\n"


DAY, MONTH = "<YYYY-MM-DD>", "<YYYY-MM>"  # what ``--help`` shows after an option that takes a day or a month


AsOf = Annotated[Optional[str], typer.Option("--as-of", metavar=DAY, help="The day to look at, YYYY-MM-DD (default: today in the company's time zone).")]


On = Annotated[Optional[str], typer.Option("--on", metavar=DAY, help="The day it happened, YYYY-MM-DD (default: today).")]


CustomerId = Annotated[str, typer.Argument(help="the customer's id, as in the customers file (e.g. C000155)")]


InvoiceId = Annotated[str, typer.Argument(help="the invoice's id, as in the invoices file")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` as one line (never wrapped; a multi-line message is joined by '; ')."""
    err.print(Text.assemble(("error:", "red"), " ", one_line(message)), highlight=False, soft_wrap=True)  # the message as typed: no markup
    return typer.Exit(code)


def parse_day(value: str | None, option: str) -> dt.date:
    from huikuan.ledger.settings import get_settings

    if value is None:
        return get_settings().today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} {value!r} is not a date; write YYYY-MM-DD") from None


def parse_month(value: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise fail(f"--month {value!r} is not a month; write YYYY-MM")
    return value


def parse_amount(value: str, code: int = 1) -> Decimal:
    """An ``--amount``: spelt as the import files spell amounts (ASCII digits and one '.'), at most 2 places; else exit ``code``."""
    from models.import_rows import amount_spelling_problem

    problem = amount_spelling_problem(value.strip())
    if problem is not None:
        raise fail(f"amount {problem}", code)
    try:
        amount = Decimal(value.strip())
        exact = amount == amount.quantize(Decimal("0.01"))
    except InvalidOperation:  # too many digits to quantize
        raise fail(f"amount {value} is too large for an amount", code) from None
    if not exact:
        raise fail(f"amount {value} has more than 2 decimal places", code)
    return amount


@contextmanager
def calendar_years(first: dt.date, last: dt.date | None = None):
    """Say that a year has no official calendar (CalendarFallbackWarning) when this command's days are in it.

    The days a command is asked about (its --as-of, simulate's --from..--to) are what its
    result is about: a plan for 2027-01-04 on statutory days off is worth a warning; a plan
    for 2026-12-04 that looks a 2027 date up on the way (a cadence's next date, a limitation
    date years ahead) is not, and says nothing (`OneLineErrors` silences the rest).
    """
    from huikuan.legal.standing import LimitationCalendarWarning
    from models.calendar import CalendarFallbackWarning

    years = "|".join(str(year) for year in range(first.year, (last or first).year + 1))
    with warnings.catch_warnings():
        warnings.filterwarnings("default", message=rf".* calendar for ({years}):", category=CalendarFallbackWarning)
        # A limitation date shown (customers show, report limitation, case) in a year without official data: only
        # the legal side's standing says it (huikuan.legal.standing.warn_uncovered_years), so other commands never do.
        warnings.filterwarnings("default", category=LimitationCalendarWarning)
        yield


def ensure_ledger() -> None:
    """Create the schema of a new, empty ledger; refuse to work on an outdated one."""
    from sqlalchemy import inspect

    from huikuan.ledger.db import engine_for
    from huikuan.ledger.migrate import is_current, upgrade

    engine = engine_for()
    if not inspect(engine).get_table_names():
        upgrade(engine)
    elif not is_current(engine):
        raise fail(f"the ledger at {engine.url.render_as_string(hide_password=True)} needs a migration: run `huikuan db upgrade`")


class _Tracker:
    """``track(items, description)`` for loops, ``advance(n)`` for counted work; silent off a terminal."""

    SHOWN_EVERY = 256  # counted work is passed to the bar in steps: rich's ``advance`` costs ~5 µs, a plan calls this per customer

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.counted = None
        self.pending = 0

    def __call__(self, items: Iterable[T], description: str) -> Iterable[T]:
        total = len(items) if hasattr(items, "__len__") else None
        return self.progress.track(items, total=total, description=escape(description))  # a file's name, as it is

    def advance(self, n: int) -> None:
        if self.progress.disable:
            return
        self.pending += n
        if self.counted is None or self.pending >= self.SHOWN_EVERY:
            self.flush()

    def flush(self) -> None:
        """Pass the work counted so far to the bar."""
        if self.counted is None:
            self.counted = self.progress.add_task("customers", total=None)
        self.progress.advance(self.counted, self.pending)
        self.pending = 0


@contextmanager
def progress_bar():
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with progress:
        tracker = _Tracker(progress)
        yield tracker
        if tracker.pending:
            tracker.flush()


PolicyOption = Annotated[str, typer.Option("--policy", help="a built-in policy (handbook, credit) or a policy file (YAML)")]


class OutputFormat(str, Enum):
    csv = "csv"
    json = "json"
    table = "table"
    xlsx = "xlsx"


class CsvEncoding(str, Enum):
    utf_8_sig = "utf-8-sig"
    gbk = "gbk"


EncodingOption = Annotated[
    Optional[CsvEncoding],
    typer.Option(
        "--encoding",
        help="CSV for Excel: utf-8-sig (UTF-8 with a BOM; the default for a file) or gbk (Excel on Chinese Windows); "
        "the terminal gets plain UTF-8 unless this is given",
    ),
]


ActionsFormat = Annotated[
    OutputFormat,
    typer.Option(
        "--format",
        help="csv (the contract's columns, for programs), json (with keys and reasons), table (the terminal, in the company's language) or xlsx (with --out)",
    ),
]


ActionsOut = Annotated[Optional[Path], typer.Option("--out", help="write to this file (required for xlsx)")]


def command_context(policy: str, *, need_company: bool = False):
    """The run context (policy, calendar, company) of a command; a bad policy or company file is a one-line error."""

    from huikuan.ledger.company import CompanyFileError
    from huikuan.ledger.context import run_context
    from models.policy import PolicyError

    try:
        return run_context(policy, need_company=need_company)
    except (PolicyError, CompanyFileError) as exc:
        raise fail(str(exc)) from None


def check_output(output_format: Enum, output: Path | None, encoding: CsvEncoding | None) -> None:
    """Options that do not go together fail before any work: --encoding is for CSV, xlsx needs --out, a table is for the terminal."""
    if encoding is not None and output_format.value != "csv":
        raise fail("--encoding is for CSV (--format csv)")
    if output_format.value == "xlsx" and output is None:
        raise fail("--format xlsx needs --out FILE.xlsx")
    if output_format.value == "table" and output is not None:
        raise fail("--format table is for the terminal; write a file with --format csv or xlsx")


def write_csv(rows: Iterable[list[str]], output: Path | None, encoding: CsvEncoding | None) -> None:
    """CSV rows (header first): to ``output`` for Excel (UTF-8 with a BOM unless ``encoding`` says GBK), else to stdout (plain UTF-8 unless ``encoding``).

    Rows are written as they come (a plan of 100,000 customers is never held whole), except to stdout in a chosen
    encoding, where every cell is checked before anything is written. A file is written beside ``output`` and
    renamed when complete: a cell the encoding cannot hold leaves no file behind.
    """
    import csv

    from huikuan.reports.builders import CsvEncodingError, encode_csv, write_encoded_csv

    if output is None and encoding is None:
        csv.writer(sys.stdout, lineterminator="\n").writerows(rows)
        return
    try:
        if output is None:
            data = encode_csv(list(rows), encoding.value)
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        partial = output.with_name(f".{output.name}.part")
        try:
            with partial.open("wb") as file:
                write_encoded_csv(rows, (encoding or CsvEncoding.utf_8_sig).value, file)
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
    except CsvEncodingError as exc:
        raise fail(str(exc)) from None


def say_written(title, output: Path, locale: str) -> None:
    from huikuan.documents.i18n import render
    from models.texts import Text

    out.print(render(Text("{title} written to {path}", title=title, path=str(output)), locale), markup=False, highlight=False, soft_wrap=True)


def write_actions(actions, output_format: OutputFormat, output: Path | None, encoding: CsvEncoding | None, *, title, day: dt.date, locale: str) -> None:
    """The actions in ``output_format``: CSV and JSON for programs (ids, English), a table or XLSX for people (in ``locale``).

    ``actions`` may be a stream (``planning.iter_plan``): CSV and JSON write each action as it comes.
    """
    from huikuan.cli.views import report_view
    from huikuan.reports.builders import to_xlsx
    from huikuan.reports.planning import actions_report, csv_rows, write_json

    if output_format is OutputFormat.csv:
        write_csv(csv_rows(actions), output, encoding)
        return
    if output_format is OutputFormat.json:
        if output is None:
            write_json(actions, sys.stdout)
        else:
            with output.open("w", encoding="utf-8") as file:
                write_json(actions, file)
        return
    report = actions_report("actions", title, day, actions)
    if output_format is OutputFormat.xlsx:
        to_xlsx(report, output, locale=locale)
        say_written(report.title, output, locale)
        return
    out.print(report_view(report, locale))


def record(action: Callable[[Session], T]) -> T:
    """``action(session)`` in one transaction on a current ledger; its result. A ledger error is one line (exit 1)."""
    from huikuan.ledger import records
    from huikuan.ledger.db import session_scope

    ensure_ledger()
    try:
        with session_scope() as session:
            return action(session)
    except records.LedgerError as exc:
        raise fail(str(exc)) from None
