"""The ``huikuan`` command: set up the ledger, import, record, look."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import warnings
from enum import Enum
from collections.abc import Iterable
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Optional, TypeVar

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from sqlalchemy import inspect
from typer.core import TyperGroup

from huikuan import records
from huikuan.db import engine_for, session_scope
from huikuan.importer import ImportFailed, import_files
from huikuan.migrate import is_current, upgrade
from huikuan.settings import get_settings
from huikuan.views import customer_view, import_summary_view, portfolio_view, stdout_console
from models.enums import Channel, ContactResult, Excuse

T = TypeVar("T")


class _OneLineErrors(TyperGroup):
    """The top command group: a database or configuration error is one ``error:`` line, exit status 1.

    Handled here, where every subcommand runs, so ``huikuan`` (``main``) and tests invoking
    ``app`` through typer's CliRunner see the same; `_error_line` (at the end) says what
    each error means and where to fix it.
    """

    def invoke(self, ctx: click.Context):
        from models.calendar import CalendarFallbackWarning

        try:
            with warnings.catch_warnings():
                # A year without official calendar data is said only by the commands whose result is about
                # a day in it (`_calendar_years`), not by every command that happens to look a date up in it.
                warnings.filterwarnings("ignore", category=CalendarFallbackWarning)
                return super().invoke(ctx)
        except Exception as exc:
            known = _error_line(exc)
            if known is None:
                raise
            message, code = known
            raise fail(escape(message), code) from None


app = typer.Typer(cls=_OneLineErrors, help="huikuan (回款): receivables and collections over your ledger.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="The ledger database.", no_args_is_help=True)
customers_app = typer.Typer(help="Look up customers.", no_args_is_help=True)
contact_app = typer.Typer(help="Record contacts with customers.", no_args_is_help=True)
dispute_app = typer.Typer(help="Open and resolve disputes on invoices (异议).", no_args_is_help=True)
statement_app = typer.Typer(help="The monthly statements (对账单).", no_args_is_help=True)
shipping_app = typer.Typer(help="May goods leave for a customer? (for the warehouse or the ERP)", no_args_is_help=True)
approvals_app = typer.Typer(help="Requests waiting for a decision (stop-shipment, letters, statements).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(customers_app, name="customers")
app.add_typer(contact_app, name="contact")
app.add_typer(dispute_app, name="dispute")
app.add_typer(statement_app, name="statement")
app.add_typer(shipping_app, name="shipping")
app.add_typer(approvals_app, name="approvals")

out = stdout_console()
err = Console(stderr=True)
# Warnings (a year without an official calendar) are for people: one plain line each.
warnings.formatwarning = lambda message, category, *_args, **_kwargs: f"warning: {message}\n"

AsOf = Annotated[Optional[str], typer.Option("--as-of", help="The day to look at, YYYY-MM-DD (default: today in the company's time zone).")]
On = Annotated[Optional[str], typer.Option("--on", help="The day it happened, YYYY-MM-DD (default: today).")]


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` as one line (never wrapped; a multi-line message is joined by '; ')."""
    err.print(f"[red]error:[/] {_one_line(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def parse_day(value: str | None, option: str) -> dt.date:
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


def parse_amount(value: str) -> Decimal:
    """An ``--amount``: spelt as the import files spell amounts (ASCII digits and one '.'), at most 2 places."""
    from models.import_rows import amount_spelling_problem

    problem = amount_spelling_problem(value.strip())
    if problem is not None:
        raise fail(escape(f"amount {problem}"))
    try:
        amount = Decimal(value.strip())
        exact = amount == amount.quantize(Decimal("0.01"))
    except InvalidOperation:  # too many digits to quantize
        raise fail(escape(f"amount {value} is too large for an amount")) from None
    if not exact:
        raise fail(escape(f"amount {value} has more than 2 decimal places"))
    return amount


@contextmanager
def _calendar_years(first: dt.date, last: dt.date | None = None):
    """Say that a year has no official calendar (CalendarFallbackWarning) when this command's days are in it.

    The days a command is asked about (its --as-of, simulate's --from..--to) are what its
    result is about: a plan for 2027-01-04 on statutory days off is worth a warning; a plan
    for 2026-12-04 that looks a 2027 date up on the way (a cadence's next date, a limitation
    date years ahead) is not, and says nothing (`_OneLineErrors` silences the rest).
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
    engine = engine_for()
    if not inspect(engine).get_table_names():
        upgrade(engine)
    elif not is_current(engine):
        raise fail(f"the ledger at {engine.url.render_as_string(hide_password=True)} needs a migration: run `huikuan db upgrade`")


class _Tracker:
    """``track(items, description)`` for loops, ``advance(n)`` for counted work; silent off a terminal."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.counted = None

    def __call__(self, items: Iterable[T], description: str) -> Iterable[T]:
        total = len(items) if hasattr(items, "__len__") else None
        return self.progress.track(items, total=total, description=description)

    def advance(self, n: int) -> None:
        if self.counted is None:
            self.counted = self.progress.add_task("customers", total=None)
        self.progress.advance(self.counted, n)


@contextmanager
def progress_bar():
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    )
    with progress:
        yield _Tracker(progress)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the ledger's tables to the current version."""
    engine = engine_for()
    upgrade(engine)
    out.print(f"ledger {engine.url.render_as_string(hide_password=True)} is up to date")


@app.command("import")
def import_command(
    customers: Annotated[Optional[Path], typer.Option(help="customers file (CSV or XLSX)")] = None,
    invoices: Annotated[Optional[Path], typer.Option(help="invoices file")] = None,
    payments: Annotated[Optional[Path], typer.Option(help="payments file")] = None,
    charges: Annotated[Optional[Path], typer.Option(help="charges file (deliveries to be billed)")] = None,
    update: Annotated[bool, typer.Option("--update", help="allow changing rows already in the ledger")] = False,
) -> None:
    """Import files in one transaction: any bad row and nothing is written (exit status 2)."""
    files = {k: v for k, v in (("customers", customers), ("invoices", invoices), ("payments", payments), ("charges", charges)) if v}
    if not files:
        raise fail("name at least one file: --customers, --invoices, --payments or --charges")
    ensure_ledger()
    try:
        with progress_bar() as track, session_scope() as session:
            summary = import_files(session, files, update_existing=update, track=track)
    except ImportFailed as failed:
        for problem in failed.problems:
            print(problem, file=sys.stderr)
        err.print(f"[red]{len(failed.problems)} problem(s): nothing was imported.[/]")
        raise typer.Exit(2) from None
    out.print(import_summary_view(summary))


@app.command("demo")
def demo_command(
    customers: Annotated[int, typer.Option(min=1, help="how many customers")] = 200,
    as_of: AsOf = None,
    seed: Annotated[int, typer.Option(help="the same seed gives the same portfolio")] = 2026,
    directory: Annotated[Optional[Path], typer.Option("--dir", help="where the import files are written")] = None,
) -> None:
    """Generate a realistic demo portfolio and load it through the importer into an empty ledger."""
    from huikuan.demo import load_demo

    day = parse_day(as_of, "--as-of")
    ensure_ledger()
    target = directory or get_settings().data_dir / "demo"
    try:
        with _calendar_years(day), progress_bar() as track, session_scope() as session:
            loaded = load_demo(session, target, customers=customers, as_of=day, seed=seed, track=track)
    except ValueError as exc:
        raise fail(str(exc)) from None
    out.print(import_summary_view(loaded.summary))
    out.print(f"{loaded.events} promises, disputes and contacts recorded, {loaded.statements} statements made by the statement cycle; "
              f"import files in {target}", highlight=False, soft_wrap=True)
    _demo_guide(day, target)


@app.command("start")
def start_command(
    customers: Annotated[int, typer.Option(min=1, help="demo size when the ledger is empty")] = 200,
    as_of: AsOf = None,
    no_server: Annotated[bool, typer.Option("--no-server", help="only set up the ledger and show the portfolio (for scripts)")] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, envvar="HUIKUAN_SERVER_PORT", help="the Prefect server's port on 127.0.0.1")] = 4200,
    web_port: Annotated[int, typer.Option(min=1, max=65535, envvar="HUIKUAN_WEB_PORT", help="the web service's port on 127.0.0.1 (statement and approval pages, the ERP's API)")] = 4300,
) -> None:
    """The main job on the embedded default: the ledger (demo if empty), the portfolio, then the Prefect server,
    the deployments, a worker and the web service until Ctrl-C."""
    from huikuan.company import EXAMPLE, CompanyFileError, load_company
    from huikuan.demo import ledger_is_empty, load_demo
    from huikuan.portfolio import portfolio

    day = parse_day(as_of, "--as-of")
    ensure_ledger()
    demo_dir, loaded = get_settings().data_dir / "demo", None
    with _calendar_years(day), progress_bar() as track, session_scope() as session:
        if ledger_is_empty(session):
            out.print(f"The ledger is empty: loading a demo portfolio of {customers} customers as of {day}.")
            loaded = load_demo(session, demo_dir, customers=customers, as_of=day, track=track)
            out.print(import_summary_view(loaded.summary))
    with session_scope() as session:
        out.print(portfolio_view(portfolio(session, day)))
    if loaded is not None:
        _demo_guide(day, demo_dir)
    else:
        _adopt_note(day)
        if (demo_dir / EXAMPLES_FILE).exists():
            out.print(f"Commands to try on the demo: {demo_dir / EXAMPLES_FILE}", highlight=False, soft_wrap=True)
            _bank_statement_hint(demo_dir)
    if no_server:
        return

    from rich.markup import escape

    from huikuan.server import auth_file

    settings = get_settings()
    if not settings.company_file.exists():
        settings.company_file.parent.mkdir(parents=True, exist_ok=True)
        settings.company_file.write_text(EXAMPLE, encoding="utf-8")
        out.print(f"Wrote the example company file {settings.company_file} (people, roles, who approves what): edit it for your company.")
    try:
        load_company(settings.company_file)  # validated before anything runs on it
    except CompanyFileError as exc:
        raise fail(escape(str(exc))) from None
    stack, generated = _local_stack(port, settings, web_port=web_port)
    out.print(f"Starting the Prefect server at {stack.ui_url}, a worker and the web service (logs in {stack.home}) ...")

    def started() -> None:
        out.print(f"\nPrefect UI: [bold]{stack.ui_url}[/]  (API {stack.api_url})", highlight=False)
        out.print(f"Web: [bold]{stack.web_url}[/]  (the pages the emails link to; the ERP's API, docs {stack.web_url}api/docs)",
                  highlight=False, soft_wrap=True)
        password_file = auth_file(stack.home)
        if generated:
            out.print(f"The UI asks for a password; this one was generated and is shown only now: [bold]{escape(stack.auth_string)}[/]", highlight=False)
            out.print(f"  (kept in {password_file}, readable by you only)", highlight=False)
        elif os.environ.get("PREFECT_SERVER_API_AUTH_STRING"):
            out.print("The UI asks for the password of PREFECT_SERVER_API_AUTH_STRING.")
        else:
            out.print(f"The UI asks for the password kept in {password_file}.", highlight=False)
        out.print(f"Work pool {stack.work_pool!r}: one process worker; flow runs work in {stack.cwd}", highlight=False)
        for note in stack.recovered:
            out.print(f"Interrupted by the last stop: {note}", highlight=False)
        _print_deployments(stack)
        out.print("Approvals are answered from the email's link, in the UI (the waiting run's Resume form) or with `huikuan approvals answer`;")
        out.print(f"for `prefect` commands in another shell: export PREFECT_API_URL={stack.api_url} "
                  f'PREFECT_API_AUTH_STRING="$(cat {password_file})"', highlight=False)

    _run_until_stopped(stack, stack.start, started, "the web service, the worker and the server")


EXAMPLES_FILE = "examples.txt"  # in the demo's folder: the commands `_demo_guide` printed


def _demo_guide(day: dt.date, folder: Path) -> None:
    """After loading the demo: the commands to try on it (also kept in the demo's folder), and the steps missed before huikuan."""
    from huikuan.demo import demo_examples, examples_text

    with _calendar_years(day), session_scope() as session:
        text = examples_text(demo_examples(session, day))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / EXAMPLES_FILE).write_text(text, encoding="utf-8")
    out.print(f"\nTry it on the demo (its own customers and day; kept in {folder / EXAMPLES_FILE}):", highlight=False, soft_wrap=True)
    out.print(text.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
    _bank_statement_hint(folder, day)
    _adopt_note(day)


def _bank_statement_hint(folder: Path, day: dt.date | None = None) -> None:
    """The demo's bank statement and the commands that apply it (the demo writes it; importing it is the user's step)."""
    import shlex

    from huikuan.demo import BANK_STATEMENT_FILE

    path = folder / BANK_STATEMENT_FILE
    if not path.exists():
        return
    on = f" --on {day.isoformat()}" if day is not None else ""
    out.print(f"\nThe bank's statement of the demo's customers paying (GBK CSV, as a bank exports it): {path}\n"
              f"huikuan bank import {shlex.quote(str(path))}{on}  # applied where certain; the rest waits for finance\n"
              "huikuan bank review  # the lines waiting, with suggestions; then: huikuan bank match LINE CUSTOMER",
              markup=False, highlight=False, soft_wrap=True)


def _adopt_note(day: dt.date) -> None:
    """Before the first daily run: how many one-time steps are already past (the escalations and stop-shipments of old debts) and the command."""
    from sqlalchemy import select

    from huikuan.demo import missed_steps_count
    from models.ledger import CollectionDay

    with _calendar_years(day), session_scope() as session:
        if session.scalar(select(CollectionDay.day).limit(1)) is not None:
            return  # huikuan runs daily on this ledger: adopting was for its first day
        steps, customers = missed_steps_count(session, day)
    if steps:
        out.print(f"\n{steps} one-time step(s) for {customers} customer(s) fell due before {day} (escalations, notices, stop-shipments of "
                  f"debts already old); the daily run takes only what falls due on its day. `huikuan adopt --dry-run --as-of {day}` lists them, "
                  f"`huikuan adopt --as-of {day}` takes them once (it needs the company file).", highlight=False, soft_wrap=True)


def _local_stack(port: int, settings, *, web_port: int | None = None):
    """The stack ``huikuan start`` runs, and whether its password was generated now.

    The server demands a ``user:password``: PREFECT_SERVER_API_AUTH_STRING when set, else
    the one kept in the data directory (generated on the first start, see ``local_auth_string``).
    """
    from huikuan.server import LocalStack, StackError, local_auth_string

    auth = _auth_from_env("PREFECT_SERVER_API_AUTH_STRING")
    stack = LocalStack(port=port, settings=settings, web_port=web_port)
    generated = False
    if auth is None:
        try:
            auth, generated = local_auth_string(stack.home)
        except (StackError, OSError) as exc:
            raise fail(str(exc)) from None
    stack.auth_string = auth
    return stack, generated


def _print_deployments(stack) -> None:
    from deployments.deploy import DEFINITIONS

    out.print(f"Deployments (times in {stack.settings.timezone}):", highlight=False)
    statuses = {status.full_name: status for status in stack.deployment_statuses()}
    for definition in DEFINITIONS:
        status = statuses.get(definition.full_name)
        state = "NOT DEPLOYED" if status is None else "PAUSED" if status.paused else ""
        out.print(f"  {definition.full_name:38} {definition.schedule_note}  {state}".rstrip(), highlight=False)


def _run_until_stopped(stack, start, started, what: str) -> None:
    """``start()``, then ``started()`` (what to tell), then wait for Ctrl-C or SIGTERM; the stack is stopped whatever happens.

    If a process of the stack exits meanwhile, the command fails with its log's tail.
    """
    import signal
    import time

    from rich.markup import escape

    from huikuan.server import StackError

    def interrupt(*_) -> None:
        raise KeyboardInterrupt

    # Ctrl-C and SIGTERM (a service manager, `kill`) stop the stack alike; SIGINT is handled
    # explicitly because a shell starts background jobs with it ignored.
    previous = signal.signal(signal.SIGTERM, interrupt)
    previous_int = signal.signal(signal.SIGINT, interrupt)
    try:
        try:
            start()
        except StackError as exc:
            raise fail(escape(str(exc))) from None
        started()
        out.print("Press Ctrl-C to stop.")
        while stack.alive():
            time.sleep(1)
        raise fail(escape(f"the stack stopped: {stack.problem()}"))
    except KeyboardInterrupt:
        out.print(f"Stopping {what} ...")
    finally:
        # Ctrl-C under `uv run` arrives twice (from the terminal and forwarded by uv): a second
        # interrupt must not cut the stop short and leave the server running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            stack.stop()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous)
    out.print("Stopped.")


def _hidden(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _auth_from_env(name: str) -> str | None:
    """A ``user:password`` from the environment only: an option would show it in `ps` and the shell history."""
    from huikuan.server import StackError, check_auth_string

    value = os.environ.get(name) or None
    if value is not None:
        try:
            check_auth_string(value)
        except StackError as exc:
            raise fail(f"{name}: {exc}") from None
    return value


@app.command("server")
def server_command(
    host: Annotated[str, typer.Option(envvar="HUIKUAN_SERVER_HOST", help="the address to listen on; 0.0.0.0: every network interface")] = "0.0.0.0",
    port: Annotated[int, typer.Option(min=1, max=65535, envvar="HUIKUAN_SERVER_PORT", help="the port (API under /api, UI at /)")] = 4200,
    public_url: Annotated[Optional[str], typer.Option(
        envvar="HUIKUAN_SERVER_PUBLIC_URL", help="how other machines reach this server, e.g. http://huikuan-server:4200 (the UI in their browsers calls the API there)",
    )] = None,
    prefect_database_url: Annotated[Optional[str], typer.Option(
        envvar=["PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL"],
        help="the Prefect server's own database, e.g. postgresql+asyncpg://prefect:PASSWORD@dbhost/prefect (better in the environment); default SQLite under the data directory",
    )] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="no password (only with --host 127.0.0.1: nobody else can connect)")] = False,
) -> None:
    """Machine A of several: the Prefect server with its UI (basic auth from PREFECT_SERVER_API_AUTH_STRING), the ledger's
    migrations, the work pool and the deployments; no worker (`huikuan worker` on other machines). Until Ctrl-C."""
    from sqlalchemy.exc import SQLAlchemyError

    from sqlalchemy.engine import make_url

    from huikuan.server import LOOPBACK, LocalStack, StackError

    auth = _auth_from_env("PREFECT_SERVER_API_AUTH_STRING")
    if auth is None and not no_auth:
        raise fail("set PREFECT_SERVER_API_AUTH_STRING=user:password (the workers send it in PREFECT_API_AUTH_STRING, "
                   "people type it in the UI), or pass --no-auth with --host 127.0.0.1")
    if auth is None and host not in LOOPBACK:
        raise fail(f"--no-auth on {host} would let anyone on the network run and change collections: listen on 127.0.0.1, or set a password")
    if auth is not None and no_auth:
        raise fail("--no-auth, but PREFECT_SERVER_API_AUTH_STRING is set: unset one of them")
    settings = get_settings()
    engine = engine_for()
    try:
        upgrade(engine)  # as `huikuan db upgrade`: the workers refuse a ledger that is not current
    except SQLAlchemyError as exc:
        raise fail(f"cannot migrate the ledger at {_hidden(settings.database_url)}: {type(exc).__name__}: {getattr(exc, 'orig', None) or exc}") from None
    out.print(f"Ledger {_hidden(settings.database_url)} is up to date.", highlight=False)
    if engine.url.get_backend_name() == "sqlite":
        err.print("[yellow]warning:[/] the ledger is a SQLite file: workers on other machines cannot reach it; use PostgreSQL (HUIKUAN_DATABASE_URL)")
    try:
        stack = LocalStack(host=host, port=port, settings=settings, auth_string=auth, server_database_url=prefect_database_url, public_url=public_url)
    except StackError as exc:
        raise fail(str(exc)) from None
    if host in ("0.0.0.0", "::") and not public_url:
        err.print("[yellow]note:[/] set --public-url (HUIKUAN_SERVER_PUBLIC_URL) to this machine's name as the others reach it, "
                  "or the UI in their browsers looks for the API on their own machine")
    database = _hidden(stack.server_database_url) if stack.server_database_url else f"SQLite in {stack.home}"
    out.print(f"Starting the Prefect server on {host}:{port} (its database: {database}; logs in {stack.home}) ...", highlight=False)

    def start() -> None:
        stack.start_server()
        stack.register(recover=False)  # runs in flight belong to the workers, which may still be running them

    def started() -> None:
        out.print(f"\nPrefect UI: [bold]{stack.ui_url}[/]  (API {stack.public_api_url}){'' if auth is None else '; log in with the user:password'}", highlight=False)
        out.print(f"Work pool {stack.work_pool!r}: no worker here; start `huikuan worker` on each worker machine with", highlight=False)
        out.print(f"  PREFECT_API_URL={stack.public_api_url}", highlight=False)
        if auth is not None:
            out.print("  PREFECT_API_AUTH_STRING=<the same user:password as PREFECT_SERVER_API_AUTH_STRING here>", highlight=False)
        with_password = "  (with its password)" if make_url(settings.database_url).password else ""
        out.print(f"  HUIKUAN_DATABASE_URL={_hidden(settings.database_url)}{with_password}", highlight=False)
        _print_deployments(stack)

    _run_until_stopped(stack, start, started, "the server")


@app.command("worker")
def worker_command(
    api_url: Annotated[Optional[str], typer.Option(
        "--api-url", envvar="PREFECT_API_URL", help="the server's API, e.g. http://huikuan-server:4200/api",
    )] = None,
    name: Annotated[Optional[str], typer.Option(envvar="HUIKUAN_WORKER_NAME", help="this worker's name, one per machine (default huikuan-<host name>)")] = None,
) -> None:
    """Machine B, C...: a process worker for the server's work pool (PREFECT_API_URL, PREFECT_API_AUTH_STRING); flow runs work in
    the current directory on the ledger of HUIKUAN_DATABASE_URL. Until Ctrl-C."""
    import socket

    from rich.markup import escape
    from sqlalchemy.exc import SQLAlchemyError

    from huikuan.company import CompanyFileError, load_company
    from huikuan.server import LocalStack, StackError

    if not api_url:
        raise fail("name the server: PREFECT_API_URL=http://<server>:4200/api (or --api-url)")
    auth = _auth_from_env("PREFECT_API_AUTH_STRING")
    settings = get_settings()
    engine = engine_for()
    try:
        has_tables = bool(inspect(engine).get_table_names())
        current = has_tables and is_current(engine)
    except SQLAlchemyError as exc:
        raise fail(f"cannot reach the ledger at {_hidden(settings.database_url)}: {type(exc).__name__}: {getattr(exc, 'orig', None) or exc}") from None
    if not current:
        raise fail(f"the ledger at {_hidden(settings.database_url)} is {'not current' if has_tables else 'empty'}: "
                   "`huikuan server` migrates it as it starts (or run `huikuan db upgrade`); is this machine on the same huikuan version?")
    if engine.url.get_backend_name() == "sqlite":
        err.print("[yellow]warning:[/] the ledger is a SQLite file on this machine: the other machines cannot see it; use PostgreSQL (HUIKUAN_DATABASE_URL)")
    if not settings.company_file.exists():
        raise fail(f"no company file {settings.company_file.resolve()}: copy the company's (the same on every machine), or set HUIKUAN_COMPANY_FILE")
    try:
        load_company(settings.company_file)
    except CompanyFileError as exc:
        raise fail(escape(str(exc))) from None
    try:
        stack = LocalStack(server_url=api_url, auth_string=auth, settings=settings, worker_name=name or f"huikuan-{socket.gethostname()}")
    except StackError as exc:
        raise fail(str(exc)) from None
    out.print(f"Starting the worker {stack.worker_name!r} for the server at {stack.api_url} (logs in {stack.home}) ...", highlight=False)

    def started() -> None:
        out.print(f"Worker {stack.worker_name!r} online in the work pool {stack.work_pool!r}; flow runs work in {stack.cwd}", highlight=False)
        out.print(f"on the ledger {_hidden(settings.database_url)}. Prefect UI: {stack.ui_url}", highlight=False)
        for note in stack.recovered:
            out.print(f"Left behind by this worker's last stop, scheduled again: {note}", highlight=False)

    _run_until_stopped(stack, lambda: stack.start_worker(recover=True), started, "the worker")


@app.command("portfolio")
def portfolio_command(as_of: AsOf = None, oldest: Annotated[int, typer.Option(help="how many of the oldest debts")] = 10) -> None:
    """Customers, open amounts by age and the oldest debts."""
    from huikuan.portfolio import portfolio

    ensure_ledger()
    with session_scope() as session:
        out.print(portfolio_view(portfolio(session, parse_day(as_of, "--as-of"), oldest=oldest)))


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
    typer.Option("--encoding", help="CSV for Excel: utf-8-sig (UTF-8 with a BOM; the default for a file) or gbk (Excel on Chinese Windows); "
                 "the terminal gets plain UTF-8 unless this is given"),
]
ActionsFormat = Annotated[
    OutputFormat,
    typer.Option("--format", help="csv (the contract's columns, for programs), json (with keys and reasons), "
                 "table (the terminal, in the company's language) or xlsx (with --out)"),
]
ActionsOut = Annotated[Optional[Path], typer.Option("--out", help="write to this file (required for xlsx)")]


class Approvals(str, Enum):
    grant = "grant"
    deny = "deny"


def _context(policy: str, *, need_company: bool = False):
    """The run context (policy, calendar, company) of a command; a bad policy or company file is a one-line error."""
    from rich.markup import escape

    from huikuan.company import CompanyFileError
    from huikuan.context import run_context
    from models.policy import PolicyError

    try:
        return run_context(policy, need_company=need_company)
    except (PolicyError, CompanyFileError) as exc:
        raise fail(escape(str(exc))) from None


def _check_output(output_format: Enum, output: Path | None, encoding: CsvEncoding | None) -> None:
    """Options that do not go together fail before any work: --encoding is for CSV, xlsx needs --out, a table is for the terminal."""
    if encoding is not None and output_format.value != "csv":
        raise fail("--encoding is for CSV (--format csv)")
    if output_format.value == "xlsx" and output is None:
        raise fail("--format xlsx needs --out FILE.xlsx")
    if output_format.value == "table" and output is not None:
        raise fail("--format table is for the terminal; write a file with --format csv or xlsx")


def _write_csv(rows: list[list[str]], output: Path | None, encoding: CsvEncoding | None) -> None:
    """CSV rows (header first): to ``output`` for Excel (UTF-8 with a BOM unless ``encoding`` says GBK), else to stdout (plain UTF-8 unless ``encoding``)."""
    from huikuan.reports import CsvEncodingError, csv_text, encode_csv

    if output is None and encoding is None:
        sys.stdout.write(csv_text(rows))
        return
    try:
        data = encode_csv(rows, (encoding or CsvEncoding.utf_8_sig).value)
    except CsvEncodingError as exc:
        raise fail(escape(str(exc))) from None
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        output.write_bytes(data)


def _written(title, output: Path, locale: str) -> None:
    from huikuan.i18n import render
    from models.texts import Text

    out.print(render(Text("{title} written to {path}", title=title, path=str(output)), locale), markup=False, highlight=False, soft_wrap=True)


def _write_actions(actions, output_format: OutputFormat, output: Path | None, encoding: CsvEncoding | None, *, title, day: dt.date, locale: str) -> None:
    """The actions in ``output_format``: CSV and JSON for programs (ids, English), a table or XLSX for people (in ``locale``)."""
    from huikuan.planning import actions_report, csv_rows, write_json
    from huikuan.reports import to_xlsx
    from huikuan.views import report_view

    if output_format is OutputFormat.csv:
        _write_csv(csv_rows(actions), output, encoding)
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
        _written(report.title, output, locale)
        return
    out.print(report_view(report, locale))


@app.command("plan")
def plan_command(
    as_of: AsOf = None,
    policy: PolicyOption = "handbook",
    output_format: ActionsFormat = OutputFormat.csv,
    output: ActionsOut = None,
    encoding: EncodingOption = None,
) -> None:
    """The actions due on a day for the whole ledger; writes nothing to the ledger."""
    from huikuan.i18n import company_locale
    from huikuan.planning import plan
    from models.texts import Text

    _check_output(output_format, output, encoding)
    day, context = parse_day(as_of, "--as-of"), _context(policy)
    ensure_ledger()
    with _calendar_years(day), progress_bar() as track, session_scope() as session:
        actions = plan(session, day, context.policy, calendars=context.calendars, progress=track.advance)
    _write_actions(actions, output_format, output, encoding, title=Text("Actions due on {day}", day=day), day=day, locale=company_locale(context.company))


@app.command("simulate")
def simulate_command(
    start: Annotated[str, typer.Option("--from", help="first day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", help="last day, YYYY-MM-DD")],
    policy: PolicyOption = "handbook",
    approvals: Annotated[Approvals, typer.Option(help="approval requests are granted or denied on the day they are made")] = Approvals.grant,
    output_format: ActionsFormat = OutputFormat.csv,
    output: ActionsOut = None,
    encoding: EncodingOption = None,
) -> None:
    """Day by day, every action the system would take if no customer paid, confirmed or replied; writes nothing to the ledger."""
    from huikuan.i18n import company_locale
    from huikuan.planning import simulate_ledger
    from models.texts import Text

    _check_output(output_format, output, encoding)
    first, last, context = parse_day(start, "--from"), parse_day(end, "--to"), _context(policy)
    if last < first:
        raise fail(f"--to {last} is before --from {first}")
    ensure_ledger()
    with _calendar_years(first, last), progress_bar() as track, session_scope() as session:
        actions = simulate_ledger(
            session, first, last, context.policy, grant_approvals=approvals is Approvals.grant, calendars=context.calendars, progress=track.advance
        )
    granted = Text("approvals granted") if approvals is Approvals.grant else Text("approvals denied")
    title = Text("Actions from {start} to {end} if no customer acts ({approvals})", start=first, end=last, approvals=granted)
    _write_actions(actions, output_format, output, encoding, title=title, day=last, locale=company_locale(context.company))


class AdoptFormat(str, Enum):
    table = "table"
    csv = "csv"


@app.command("adopt")
def adopt_command(
    as_of: AsOf = None,
    policy: PolicyOption = "handbook",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only print what it would take; writes nothing")] = False,
    output_format: Annotated[AdoptFormat, typer.Option("--format", help="table, or csv (the columns of plan)")] = AdoptFormat.table,
) -> None:
    """Once, when huikuan takes over a ledger with old debts: the escalations, notices and stop-shipments whose dates
    passed before it (the daily run takes only what falls due that day), dated the adoption day; rerun, it takes nothing twice."""
    from rich.markup import escape
    from rich.table import Table

    from huikuan.adoption import adopt
    from huikuan.planning import COLUMNS, row, write_csv

    day, context = parse_day(as_of, "--as-of"), _context(policy, need_company=not dry_run)
    ensure_ledger()
    with _calendar_years(day):
        result = adopt(engine_for(), day, context.policy, context.company, dry_run=dry_run)
    shown = result.actions if dry_run else result.taken
    notes = out
    if output_format is AdoptFormat.csv:
        write_csv(shown, sys.stdout)
        notes = err  # stdout is the CSV alone
    elif shown:
        table = Table(*COLUMNS, title=f"Steps missed before huikuan, {'to take' if dry_run else 'taken'} on {day}", title_justify="left")
        for action in shown:
            table.add_row(*row(action).values())
        out.print(table)
    customers = len({a.customer_id for a in shown})
    if dry_run:
        notes.print(f"{len(shown)} missed step(s) for {customers} customer(s) would be taken on {day}; nothing was written. "
                    "Run without --dry-run to take them.", highlight=False, soft_wrap=True)
        return
    notes.print(f"Took {len(shown)} missed step(s) for {customers} customer(s) on {day}.", highlight=False, soft_wrap=True)
    if result.approvals:
        notes.print(f"{len(result.approvals)} approval request(s) (stop-shipment and the like) now wait for the boss's decision: "
                    "the daily collection starts their runs and emails the one-time codes; `huikuan approvals list` shows them.", highlight=False, soft_wrap=True)
    notes.print("From now on, run the daily collection every day (`huikuan start` schedules it): it takes what falls due, "
                "and the letters once an account is locked.", highlight=False, soft_wrap=True)
    for account in result.failed:
        err.print(f"[red]{account.customer_id}:[/] {escape(account.error)}: nothing taken for this customer", highlight=False, soft_wrap=True)
    if result.failed:
        raise typer.Exit(1)


@app.command("explain")
def explain_command(customer_id: str, as_of: AsOf = None, policy: PolicyOption = "handbook") -> None:
    """Each rule of the policy for one customer on a day: fired or not, and why; with late-payment terms in the contract,
    each open invoice's charge to the day and the total claim (the table of `customers show`)."""
    from huikuan.legal.command import standing_table
    from huikuan.legal.standing import standing_of, terms_for
    from huikuan.planning import explain_customer
    from huikuan.views import explain_view

    day, context = parse_day(as_of, "--as-of"), _context(policy)
    ensure_ledger()
    with _calendar_years(day), session_scope() as session:
        try:
            explanations = explain_customer(session, customer_id, day, context.policy, calendars=context.calendars)
            customer = records.get_customer(session, customer_id)
            standing = standing_of(session, customer_id, day, context) if terms_for(customer, context.company) is not None else None
        except records.LedgerError as exc:
            raise fail(str(exc)) from None
        currency = customer.currency
    out.print(explain_view(customer_id, day, context.policy.name, explanations))
    if standing is not None and standing.invoices:
        out.print(standing_table(standing, currency))


class ReportFormat(str, Enum):
    md = "md"
    csv = "csv"
    xlsx = "xlsx"


@app.command("report")
def report_command(
    name: Annotated[str, typer.Argument(help="aging, aging-segment, aging-collector, aging-credit, kpis, statements, approvals, limitation (诉讼时效), or management (the month's folder)")],
    as_of: AsOf = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="md (to the terminal, in the company's language), csv (column ids, for programs), or xlsx (with --out)")
    ] = ReportFormat.md,
    output: Annotated[
        Optional[Path], typer.Option("--out", help="write to this file (required for xlsx); for management, the folder that gets report-YYYY-MM/ (default: <data dir>/reports)")
    ] = None,
    encoding: EncodingOption = None,
    charges: Annotated[
        bool, typer.Option("--charges", help="aging reports: add the late-payment charge to the day under each customer's contract, and principal + charge (claim)")
    ] = False,
) -> None:
    """A report on the ledger (aging, DSO, overdue and bad-debt ratios, CEI, the month's target, statements, approvals), or the monthly management report."""
    from huikuan.i18n import reader_locale
    from huikuan.reports import AGING_REPORTS, REPORTS, csv_rows, to_markdown, to_xlsx

    if name == "management":
        if output_format is not ReportFormat.md or encoding is not None:
            raise fail("the management report writes a folder (html, md, xlsx, png): leave out --format and --encoding")
        _management_report(parse_day(as_of, "--as-of"), output or get_settings().data_dir / "reports")
        return
    if name not in REPORTS:
        raise fail(f"no report {name!r}; the reports are: {', '.join(REPORTS)}, management")
    if charges and name not in AGING_REPORTS:
        raise fail(f"--charges is for the aging reports ({', '.join(AGING_REPORTS)}), not {name}")
    _check_output(output_format, output, encoding)
    day, locale = parse_day(as_of, "--as-of"), reader_locale()
    ensure_ledger()
    with _calendar_years(day), session_scope() as session:
        if charges:
            from huikuan.legal.standing import open_invoice_charges

            report = REPORTS[name](session, day, charges=open_invoice_charges(session, day, _context("handbook").company))
        else:
            report = REPORTS[name](session, day)
    if output_format is ReportFormat.xlsx:
        to_xlsx(report, output, locale=locale)
        _written(report.title, output, locale)
    elif output_format is ReportFormat.csv:
        _write_csv(csv_rows(report), output, encoding)
        if output is not None:
            _written(report.title, output, locale)
    elif output is not None:
        output.write_text(to_markdown(report, locale), encoding="utf-8")
        _written(report.title, output, locale)
    else:
        sys.stdout.write(to_markdown(report, locale))


def _management_report(day: dt.date, folder: Path) -> None:
    from huikuan.management import write_report
    from huikuan.reports import DSO, PROGRESS, display

    ensure_ledger()
    with session_scope() as session:
        report = write_report(session, day, folder)
    values = report.kpis[report.currency]
    out.print(f"{report.title} written to {report.folder} (send {report.html.name}: it holds everything)")
    out.print(f"{report.currency}: DSO {display(values[DSO])} days, target progress {display(values[PROGRESS])}")


@app.command("worklist")
def worklist_command(
    as_of: AsOf = None,
    collector: Annotated[Optional[str], typer.Option(help="only this collector's list (their id in the company file)")] = None,
    policy: PolicyOption = "handbook",
) -> None:
    """Today's calls and visits for each collector: in order, at the preferred hours, with what to say."""
    from huikuan.worklist import worklist, worklist_markdown

    day = parse_day(as_of, "--as-of")
    context = _context(policy)  # the company says whose list a manager's calls go on; without it, the role's name
    ensure_ledger()
    with _calendar_years(day), session_scope() as session:
        items = worklist(session, day, policy=context.policy, collector=collector, company=context.company)
    sys.stdout.write(worklist_markdown(items, day, context.company) + "\n")


@app.command("calendar")
def calendar_command(
    year: Annotated[int, typer.Argument(min=1900, max=2200, help="the year, e.g. 2027")],
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-2 code of the customers' country")] = "CN",
) -> None:
    """A year's weekdays off and weekend working days (调休), and where each comes from."""
    from rich.markup import escape

    from huikuan.company import CompanyFileError, calendar_book_from_file
    from models.calendar import CalendarFallbackWarning

    settings = get_settings()
    try:
        book = calendar_book_from_file(settings.company_file, settings.closed_days)
    except CompanyFileError as exc:
        raise fail(escape(str(exc)), 2) from None
    try:
        cal = book.calendar(country)
    except ValueError as exc:
        raise fail(f"--country: {escape(str(exc))}", 2) from None
    if not cal.has_data:
        raise fail(f"--country {cal.country}: unknown country; write an ISO 3166 code such as CN, US, DE", 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalendarFallbackWarning)  # the first line says it
        source = cal.source_of(year)
    notes = {
        "declared": f"{year}: the {cal.country} schedule declared in the company file's calendar section",
        "statutory": f"{year}: no official {cal.country} calendar data; the statutory days off are used (全国年节及纪念日放假办法),"
        " declare the published schedule in the company file's calendar section",
        "weekends": f"{year}: no official {cal.country} calendar data; only weekends and the company's closing days are days off,"
        " declare the published schedule in the company file's calendar section",
    }
    lines = [notes[source]] if source in notes else []
    lines += [f"{x.day.isoformat()}  {'work' if x.working else 'off'}  {x.name}  {x.source}" for x in cal.exceptions(year)]
    sys.stdout.write("".join(line + "\n" for line in lines))


@customers_app.command("show")
def customers_show(customer_id: str, as_of: AsOf = None) -> None:
    """One customer: balance, open invoices with their ages, status, promises, recent contacts."""
    from huikuan.portfolio import customer_file

    ensure_ledger()
    from huikuan.legal.command import standing_table
    from huikuan.legal.standing import standing_of

    day, context = parse_day(as_of, "--as-of"), _context("handbook")
    with _calendar_years(day), session_scope() as session:
        try:
            shown = customer_file(session, customer_id, day)
            standing = standing_of(session, customer_id, day, context)
        except records.LedgerError as exc:
            raise fail(str(exc)) from None
        out.print(customer_view(shown))
        if standing.invoices:
            out.print(standing_table(standing, records.get_customer(session, customer_id).currency))


@customers_app.command("unlock")
def customers_unlock(
    customer_id: str,
    by: Annotated[str, typer.Option("--by", help="who decides: their id in the company file (the approver of lift_lock, by default the boss)")],
    reason: Annotated[str, typer.Option(help="why the lock is lifted, for the account's history")],
    on: On = None,
) -> None:
    """Lift a customer's shipping lock by a person's decision (recorded with who and why; finance and shipping are told)."""
    from huikuan.execution import lift_lock_by

    day, context = parse_day(on, "--on"), _context("handbook", need_company=True)
    _record(lambda s: out.print(lift_lock_by(s, customer_id, person=by, reason=reason, company=context.require_company(), as_of=day), markup=False))


@contact_app.command("log")
def contact_log(
    customer_id: str,
    channel: Annotated[Channel, typer.Option(help="how the customer was contacted")],
    result: Annotated[ContactResult, typer.Option(help="what came of it")],
    note: Annotated[Optional[str], typer.Option(help="what was said")] = None,
    excuse: Annotated[Optional[Excuse], typer.Option(help="the excuse given: duo 躲, la 拉, lai 赖, tuo 拖, tui 推, mo 磨")] = None,
    person: Annotated[Optional[str], typer.Option(help="the person reached")] = None,
    on: On = None,
) -> None:
    """Record a call, email or visit and its result."""
    _record(lambda s: records.log_contact(s, customer_id, channel=channel, result=result, on=parse_day(on, "--on"), note=note, excuse=excuse, person=person))
    out.print(f"contact with {customer_id} recorded")


@contact_app.command("bounced")
def contact_bounced(customer_id: str, email: str, on: On = None) -> None:
    """Mark a contact's email address as bouncing: no customer email goes to it, the collector is told instead (a new address clears it)."""
    from huikuan.bounces import mark_bounced

    day, today, company = parse_day(on, "--on"), get_settings().today(), _context("handbook").company
    done: list[tuple[int, int]] = []
    _record(lambda s: done.append(mark_bounced(s, customer_id, email, on=day, company=company, as_of=today)))
    marked, held = done[0]
    out.print(f"{email} of {customer_id} {'marked bounced since ' + day.isoformat() if marked else 'was already marked bounced'}"
              + (f"; {held} queued email(s) to it held back, the collector is told" if held else ""), markup=False)


@app.command("promise")
def promise_command(
    customer_id: str,
    amount: Annotated[str, typer.Option(help="the amount promised")],
    by: Annotated[str, typer.Option(help="the date promised, YYYY-MM-DD")],
    invoices: Annotated[Optional[str], typer.Option(help="invoice ids joined by ';' (default: all open ones)")] = None,
    on: On = None,
) -> None:
    """Record a promise to pay (还款承诺): a specific amount by a specific date."""
    ids = [i.strip() for i in (invoices or "").split(";") if i.strip()]
    money, day, promised = parse_amount(amount), parse_day(on, "--on"), parse_day(by, "--by")
    _record(lambda s: records.record_promise(s, customer_id, amount=money, by=promised, on=day, invoices=ids))
    out.print(f"promise of {money} by {promised} recorded for {customer_id}")


@app.command("instalments")
def instalments_command(
    customer_id: str,
    schedule: Annotated[str, typer.Option(help="the instalments as DATE=AMOUNT joined by ';', e.g. '2026-12-15=5000;2027-01-15=5000'")],
    invoices: Annotated[Optional[str], typer.Option(help="invoice ids joined by ';' (default: all open ones)")] = None,
    note: Annotated[Optional[str], typer.Option(help="what was agreed")] = None,
    on: On = None,
) -> None:
    """Agree an instalment plan (分期付款): the ladder waits while every instalment is paid on time."""
    parts = []
    for item in (p.strip() for p in schedule.split(";") if p.strip()):
        due, sep, amount = item.partition("=")
        if not sep:
            raise fail(f"--schedule item {item!r} is not DATE=AMOUNT")
        parts.append((parse_day(due.strip(), "--schedule"), parse_amount(amount.strip())))
    ids = [i.strip() for i in (invoices or "").split(";") if i.strip()]
    day = parse_day(on, "--on")
    _record(lambda s: records.record_instalment_plan(s, customer_id, instalments=parts, on=day, invoices=ids, note=note))
    out.print(f"instalment plan of {len(parts)} instalment(s) recorded for {customer_id}")


@dispute_app.command("open")
def dispute_open(invoice_id: str, reason: Annotated[str, typer.Option(help="what the customer objects to")], on: On = None) -> None:
    """Open a dispute: dunning on the invoice pauses until it is resolved."""
    _record(lambda s: records.open_dispute(s, invoice_id, reason=reason, on=parse_day(on, "--on")))
    out.print(f"dispute opened on {invoice_id}")


@dispute_app.command("resolve")
def dispute_resolve(invoice_id: str, resolution: Annotated[Optional[str], typer.Option(help="how it was settled")] = None, on: On = None) -> None:
    """Resolve the invoice's open dispute; its steps resume."""
    _record(lambda s: records.resolve_dispute(s, invoice_id, on=parse_day(on, "--on"), resolution=resolution))
    out.print(f"dispute on {invoice_id} resolved")


@statement_app.command("confirm")
def statement_confirm(
    customer_id: str,
    month: Annotated[str, typer.Option(help="the billing month, YYYY-MM")],
    invoice_title: Annotated[str, typer.Option(help="the invoice title (发票抬头)")],
    tax_id: Annotated[str, typer.Option(help="the tax id (税号)")],
    address: Annotated[Optional[str], typer.Option(help="address and phone for the invoice")] = None,
    bank: Annotated[Optional[str], typer.Option(help="bank and account for the invoice")] = None,
    on: On = None,
) -> None:
    """Record the customer's confirmation of a statement with its invoicing info."""
    month = parse_month(month)
    day = parse_day(on, "--on")
    _record(lambda s: records.confirm_statement(s, customer_id, month=month, invoice_title=invoice_title, tax_id=tax_id, on=day, address=address, bank=bank))
    out.print(f"statement {month} of {customer_id} confirmed")


@statement_app.command("invoiced")
def statement_invoiced(
    customer_id: str,
    month: Annotated[str, typer.Option(help="the billing month, YYYY-MM")],
    invoice: Annotated[Optional[str], typer.Option(help="the invoice issued for it, if already imported")] = None,
    tracking_no: Annotated[Optional[str], typer.Option(help="the mailing's tracking number (快递单号)")] = None,
    on: On = None,
) -> None:
    """Finance issued the confirmed statement's invoice; with a tracking number the customer is told."""
    month = parse_month(month)
    day = parse_day(on, "--on")
    _record(lambda s: records.record_invoice_issued(s, customer_id, month=month, on=day, invoice_id=invoice, tracking_no=tracking_no))
    out.print(f"statement {month} of {customer_id} invoiced" + (f", mailed under {tracking_no}" if tracking_no else ""))


@app.command("payment")
def payment_command(
    payment_id: str,
    customer_id: str,
    amount: Annotated[str, typer.Option(help="the amount received")],
    invoice: Annotated[Optional[str], typer.Option(help="the invoice it pays (default: the oldest open ones first)")] = None,
    on: On = None,
) -> None:
    """Record a payment received; it is applied at once and changes what the policy does next."""
    money, day = parse_amount(amount), parse_day(on, "--on")
    applied: list = []
    _record(lambda s: applied.extend(records.record_payment(s, payment_id, customer_id, amount=money, received_on=day, invoice_id=invoice)))
    out.print(f"payment {payment_id} of {money} applied: " + ", ".join(f"{i} {a}" for i, a in applied))


SHIP, LOCKED, AGAINST_PAYMENT = 0, 1, 3  # exit statuses of `shipping check` (2: a usage or ledger error)


@shipping_app.command("check")
def shipping_check(customer_id: str) -> None:
    """Exit status 0: goods may leave; 1: they may not (locked); 3: only against payment in advance (cash only, blacklisted)."""
    from huikuan.account_state import shipping_answer

    ensure_ledger()
    with session_scope() as session:
        try:
            answer = shipping_answer(records.get_customer(session, customer_id))
        except records.LedgerError as exc:
            raise fail(str(exc), 2) from None  # not 1: that says "locked"
    out.print(answer.why, markup=False)
    raise typer.Exit(SHIP if answer.may_ship else AGAINST_PAYMENT if answer.against_payment else LOCKED)


@approvals_app.command("list")
def approvals_list(as_of: AsOf = None) -> None:
    """Requests waiting for a decision, oldest first: the key to answer, the decision, since when, its run; the customer, the amount and what it is about.

    A list of requests asked for together is one entry, with how many it holds, whose, and their total.
    Each entry is two lines, never cut: the key is copied whole to `huikuan approvals answer`.
    """
    from huikuan.approval_groups import members_of, open_groups, rows_of, totals
    from huikuan.execution import open_approvals
    from models.money import format_money

    day = parse_day(as_of, "--as-of")
    ensure_ledger()
    entries: list[tuple[str, str]] = []
    with session_scope() as session:
        for group in open_groups(session):
            waiting = [m for m in members_of(session, group) if m.state.value == "requested" and not m.held]
            rows = rows_of(session, waiting, day)
            whose = ", ".join(f"{r.customer_id} {r.name}" for r in rows[:3]) + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")
            entries.append((f"{group.key}  {group.action} for the {group.approver_role}, since {group.requested_on}; run {_run_state(group)}",
                            f"a list of {len(rows)}: {whose}; total {totals(rows)}"))
        for approval in open_approvals(session):
            if approval.group_key and not approval.held:
                continue
            row = rows_of(session, [approval], day)[0]
            entries.append((f"{approval.key}  {approval.action} for the {approval.approver_role}, since {approval.requested_on}; run {_run_state(approval)}",
                            f"{row.customer_id} {row.name}: {format_money(row.amount, row.currency)}, {row.cells()['about']}"))
    if not entries:
        out.print(f"No request is waiting for a decision on {day}.", highlight=False)
        return
    out.print(f"{len(entries)} waiting for a decision on {day} (answer with `huikuan approvals answer KEY`):", highlight=False, soft_wrap=True)
    for head, details in entries:
        out.print(head, markup=False, highlight=False, soft_wrap=True)
        out.print(f"    {details}", markup=False, highlight=False, soft_wrap=True)


def _run_state(request) -> str:
    """A request's waiting run in `approvals list`: waiting (the form in the UI, named by the key), not started yet, or ended."""
    if request.run_ended_at is not None:
        return "ended: a new code comes with the next daily run"
    return "waiting" if request.flow_run_id else "not started yet"


RUN_ENDED = "the request's run has ended; the next daily run asks again with a new code"


@approvals_app.command("answer")
def approvals_answer(
    approval_key: Annotated[str, typer.Argument(help="the request's key, or a list's (review:…), as `huikuan approvals list` prints them")],
    approver: Annotated[str, typer.Option(help="your id in the company file")],
    code: Annotated[str, typer.Option(help="the one-time code emailed to you")],
    decision: Annotated[str, typer.Option(help="approve or deny (for a list: every request not held back)")],
    comment: Annotated[str, typer.Option(help="why")] = "",
    hold: Annotated[str, typer.Option(help="a list only: customer ids to hold back, each asked for again on its own")] = "",
    wait: Annotated[float, typer.Option(min=0, help="seconds to wait for the run's verdict")] = 60,
) -> None:
    """Answer a request or a list through the Prefect API, as the form in the UI does; says whether the waiting run accepted it.

    Exit status 0: accepted (decided, and carried out when approved); 1: refused (nothing decided; the run waits for
    another answer), or not judged within --wait seconds.
    """
    import httpx
    from prefect.exceptions import ObjectNotFound
    from sqlalchemy import select

    from huikuan.server import RunNotWaiting, StackError, resume_waiting_run

    from huikuan.approval_check import wait_for_verdict
    from huikuan.approval_groups import is_group_key
    from models.ledger import Approval, ApprovalGroup

    if decision not in ("approve", "deny"):
        raise fail("--decision is approve or deny")
    group = is_group_key(approval_key)
    if hold and not group:
        raise fail("--hold is for a list of requests (a review:… key)")
    ensure_ledger()
    with session_scope() as session:
        if group:
            request = session.scalar(select(ApprovalGroup).where(ApprovalGroup.key == approval_key))
        else:
            request = session.scalar(select(Approval).where(Approval.key == approval_key))
            if request is not None and request.group_key and not request.held:
                raise fail(f"{approval_key} is asked for in the list {request.group_key}: answer the list (--hold {request.customer_id} to decide it alone)")
        if request is not None and request.state.value != "requested":
            raise fail(f"{approval_key} is already {request.state.value}" + (f" by {request.decided_by}" if request.decided_by else ""))
        if request is not None and request.run_ended_at is not None:
            raise fail(RUN_ENDED)
        run_id = request.flow_run_id if request is not None else None
        refusals = request.refusals if request is not None else 0
    if request is None:
        raise fail(f"no request {approval_key}: `huikuan approvals list` shows the open ones")
    if not run_id:
        raise fail(f"no waiting run for {approval_key}: is the server running (huikuan start, or huikuan server and a worker)?")
    answer = {"approver": approver, "code": code, "decision": decision, "comment": comment} | ({"hold": hold} if group else {})
    try:
        resume_waiting_run(run_id, answer)
    except RunNotWaiting as exc:
        raise fail(RUN_ENDED if exc.ended else f"run {run_id} does not wait for an answer right now: it is judging an answer or starting; "
                   "try again in a minute") from None
    except StackError as exc:
        raise fail(str(exc)) from None
    except ObjectNotFound:
        raise fail(f"the Prefect server at {os.environ['PREFECT_API_URL']} has no run {run_id}; is this the server huikuan start runs?") from None
    except (httpx.HTTPError, OSError) as exc:
        raise fail(f"cannot reach the Prefect server at {os.environ['PREFECT_API_URL']} ({exc}); start it with huikuan start (or huikuan server)") from None
    verdict = wait_for_verdict(session_scope, approval_key, refusals_before=refusals, wait=wait)
    if verdict.accepted is None:
        raise fail(f"the answer went to run {run_id}, which has not judged it within {wait:g} s: its logs in the Prefect UI say how it ends, "
                   f"`huikuan approvals list` whether {approval_key} still waits")
    if not verdict.accepted:
        why = verdict.logged or _refusal_logged(run_id, approval_key) or "a wrong or old code, a person who may not decide this, or (a list) a held id not in it"
        raise fail(f"refused: {why}; nothing was decided, and the run waits for another answer")
    done = f"{approval_key} {verdict.outcome} by {verdict.decided_by}"
    if group:
        done += f": {verdict.decided} request(s) {verdict.outcome}" + (f", held back to be asked alone: {', '.join(verdict.held)}" if verdict.held else "")
    elif verdict.outcome == "approved":
        done += " and carried out"
    out.print(f"accepted: {done}", highlight=False, soft_wrap=True)


def _refusal_logged(run_id: str, key: str) -> str | None:
    """The run's own words for a refused answer to a list (its log line ``KEY attempt N: why``), best effort."""
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
        from prefect.client.schemas.sorting import LogSort

        from huikuan.server import local_client_settings

        with local_client_settings(), get_client(sync_client=True) as client:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), sort=LogSort.TIMESTAMP_DESC, limit=50)
    except Exception:  # noqa: BLE001 - the reason is a courtesy; the refusal itself is read from the ledger
        return None
    for log in logs:
        if log.message.startswith(f"{key} attempt ") and ": " in log.message:
            return log.message.split(": ", 1)[1]
    return None


def _record(action) -> None:
    ensure_ledger()
    try:
        with session_scope() as session:
            action(session)
    except records.LedgerError as exc:
        raise fail(str(exc)) from None


from huikuan.web.command import web_app  # noqa: E402 - `huikuan web`: the statement pages and the ERP's API (huikuan/web/)

app.add_typer(web_app, name="web")

from huikuan.legal.command import case_command, letter_app  # noqa: E402 - `huikuan case` and `letter`: the legal side (huikuan/legal/)

app.command("case")(case_command)
app.add_typer(letter_app, name="letter")
from huikuan.bank.command import bank_app  # noqa: E402 - `huikuan bank`: the bank's statement applied as payments (huikuan/bank/)
app.add_typer(bank_app, name="bank")


# -- one line for a database or configuration error ----------------------------------------


def main() -> None:
    """The ``huikuan`` command ([project.scripts]); errors are turned into one line by `_OneLineErrors`."""
    app(prog_name="huikuan")


def _flat(text: object) -> str:
    return " ".join(str(text).split())


def _ledger_where() -> str:
    """The ledger's URL without its password, as the error names it."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(get_settings().database_url).render_as_string(hide_password=True)
    except Exception:  # the URL (or the settings) is what is wrong: the message says so
        return "(HUIKUAN_DATABASE_URL)"


def _database_line(exc: Exception) -> str:
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

    if isinstance(exc, (ArgumentError, NoSuchModuleError)):
        return (f"HUIKUAN_DATABASE_URL is not a ledger URL this program can use ({_flat(exc)}); "
                "write e.g. sqlite:///huikuan.db or postgresql+psycopg://user:password@host/huikuan")
    cause = _flat(exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc)
    where = _ledger_where()
    lowered = cause.lower()
    if "locked" in lowered:
        return f"the ledger {where} is locked by another program (another huikuan command, a backup, a database browser): {cause}; run the command again when it has finished"
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return f"the ledger {where} is read-only ({cause}); check the file's and its folder's permissions, or HUIKUAN_DATABASE_URL (mode=ro?)"
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return f"the ledger {where} is not an SQLite database or is damaged ({cause}); check HUIKUAN_DATABASE_URL, or restore the file from a backup"
    if "full" in lowered and ("disk" in lowered or "space" in lowered):
        return f"the ledger {where}: the disk is full ({cause}); free some space and run the command again"
    if "unable to open" in lowered:
        return f"cannot open the ledger {where} ({cause}); does its folder exist and may this user write there? check HUIKUAN_DATABASE_URL"
    if isinstance(exc, OperationalError) and not where.startswith("sqlite") and exc.statement is None:
        return f"cannot reach the ledger {where} ({cause}); is the database server running? check HUIKUAN_DATABASE_URL"
    return f"the ledger {where} failed: {cause} (check HUIKUAN_DATABASE_URL)"


def _settings_line(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.title == "Settings":
        problems = [
            f"HUIKUAN_{str(e['loc'][0]).upper() if e['loc'] else '?'}"
            f"{''.join(f'[{part}]' for part in e['loc'][1:])}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors(include_url=False)
        ]
        return "invalid setting: " + "; ".join(problems)
    field = re.search(r'field "(\w+)"', str(exc))
    variable = f"HUIKUAN_{field[1].upper()}" if field else "a HUIKUAN_ setting"
    cause = f": {_flat(exc.__cause__)}" if exc.__cause__ else ""
    example = "; write e.g. HUIKUAN_CLOSED_DAYS='[\"2026-10-01\"]'" if variable == "HUIKUAN_CLOSED_DAYS" else ""
    return f"invalid setting {variable}: not valid JSON{cause}{example}"


def _error_line(exc: Exception) -> tuple[str, int] | None:
    """The one line (and exit status) for a database or configuration error; None for any other."""
    import sqlite3
    from zoneinfo import ZoneInfoNotFoundError

    from pydantic import ValidationError
    from pydantic_settings import SettingsError
    from sqlalchemy.exc import SQLAlchemyError

    from huikuan.company import CompanyFileError
    from models.policy import PolicyError

    if isinstance(exc, (SQLAlchemyError, sqlite3.Error)):
        return _database_line(exc), 1
    if isinstance(exc, CompanyFileError):
        hint = "" if "HUIKUAN_COMPANY_FILE" in str(exc) else " (the company file: HUIKUAN_COMPANY_FILE)"
        return _one_line(exc) + hint, 1
    if isinstance(exc, PolicyError):
        return _one_line(exc), 1
    if isinstance(exc, SettingsError) or (isinstance(exc, ValidationError) and exc.title == "Settings"):
        return _settings_line(exc), 1
    if isinstance(exc, ZoneInfoNotFoundError):
        return f"{_flat(exc.args[0] if exc.args else exc)}: HUIKUAN_TIMEZONE (and the company file) take time zone names such as Asia/Shanghai", 1
    if isinstance(exc, OSError):
        what = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or _flat(exc)
        database = _ledger_where()
        hint = " (the ledger: HUIKUAN_DATABASE_URL)" if exc.filename and str(exc.filename) in database else ""
        return f"{what}{reason}{hint}", 1
    return None


def _one_line(text: object) -> str:
    """A multi-line message (a company file's problems, a YAML error) as one line joined by '; '."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip() not in ("", "^"))  # "^": a YAML error's pointer


if __name__ == "__main__":
    main()
