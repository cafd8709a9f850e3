"""`huikuan demo`, `start`, `server` and `worker`: the demo ledger and the local Prefect stack (huikuan.stack)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from huikuan.cli.common import AsOf, app, calendar_years, ensure_ledger, err, fail, out, parse_day, progress_bar


@app.command("demo")
def demo_command(
    customers: Annotated[int, typer.Option(min=1, help="how many customers")] = 200,
    as_of: AsOf = None,
    seed: Annotated[int, typer.Option(help="the same seed gives the same portfolio")] = 2026,
    directory: Annotated[Optional[Path], typer.Option("--dir", help="where the import files are written")] = None,
) -> None:
    """Generate a realistic demo portfolio and load it through the importer into an empty ledger."""
    from huikuan.cli.views import import_summary_view
    from huikuan.demo.load import load_demo
    from huikuan.documents.i18n import reader_locale
    from huikuan.ledger.db import session_scope
    from huikuan.ledger.settings import get_settings

    day = parse_day(as_of, "--as-of")
    ensure_ledger()
    target = directory or get_settings().data_dir / "demo"
    try:
        with calendar_years(day), progress_bar() as track, session_scope() as session:
            loaded = load_demo(session, target, customers=customers, as_of=day, seed=seed, track=track)
    except ValueError as exc:
        raise fail(str(exc)) from None
    out.print(import_summary_view(loaded.summary, reader_locale()))
    out.print(
        f"{loaded.events} promises, disputes and contacts recorded, {loaded.statements} statements made by the statement cycle; import files in {target}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    _demo_guide(day, target)


@app.command("start")
def start_command(
    customers: Annotated[int, typer.Option(min=1, help="demo size when the ledger is empty")] = 200,
    as_of: AsOf = None,
    no_server: Annotated[bool, typer.Option("--no-server", help="only set up the ledger and show the portfolio (for scripts)")] = False,
    port: Annotated[int, typer.Option(min=1, max=65535, envvar="HUIKUAN_SERVER_PORT", help="the Prefect server's port on 127.0.0.1")] = 4200,
    web_port: Annotated[
        int, typer.Option(min=1, max=65535, envvar="HUIKUAN_WEB_PORT", help="the web service's port on 127.0.0.1 (statement and approval pages, the ERP's API)")
    ] = 4300,
) -> None:
    """The main job on the embedded default: the ledger (demo if empty), the portfolio, then the Prefect server,
    the deployments, a worker and the web service until Ctrl-C."""
    from huikuan.cli.views import import_summary_view, portfolio_view
    from huikuan.demo.load import ledger_is_empty, load_demo
    from huikuan.documents.i18n import DEFAULT_LOCALE, reader_locale
    from huikuan.ledger.company import EXAMPLE, CompanyFileError, load_company
    from huikuan.ledger.db import session_scope
    from huikuan.ledger.settings import get_settings
    from huikuan.reports.portfolio import portfolio

    day = parse_day(as_of, "--as-of")
    try:
        locale = reader_locale()
    except CompanyFileError:
        locale = DEFAULT_LOCALE  # the file's error is said below, before the server starts on it
    ensure_ledger()
    demo_dir, loaded = get_settings().data_dir / "demo", None
    with calendar_years(day), progress_bar() as track, session_scope() as session:
        if ledger_is_empty(session):
            out.print(f"The ledger is empty: loading a demo portfolio of {customers} customers as of {day}.", markup=False)
            loaded = load_demo(session, demo_dir, customers=customers, as_of=day, track=track)
            out.print(import_summary_view(loaded.summary, locale))
    with session_scope() as session:
        out.print(portfolio_view(portfolio(session, day), locale))
    if loaded is not None:
        _demo_guide(day, demo_dir)
    else:
        _adopt_note(day)
        if (demo_dir / EXAMPLES_FILE).exists():
            out.print(f"Commands to try on the demo: {demo_dir / EXAMPLES_FILE}", highlight=False, soft_wrap=True, markup=False)
            _bank_statement_hint(demo_dir)
    if no_server:
        return

    from huikuan.stack import auth_file

    settings = get_settings()
    if not settings.company_file.exists():
        settings.company_file.parent.mkdir(parents=True, exist_ok=True)
        settings.company_file.write_text(EXAMPLE, encoding="utf-8")
        out.print(f"Wrote the example company file {settings.company_file} (people, roles, who approves what): edit it for your company.", markup=False)
    try:
        load_company(settings.company_file)  # validated before anything runs on it
    except CompanyFileError as exc:
        raise fail(str(exc)) from None
    stack, generated = _local_stack(port, settings, web_port=web_port)
    out.print(f"Starting the Prefect server at {stack.ui_url}, a worker and the web service (logs in {stack.home}) ...", markup=False)

    def started() -> None:
        out.print(f"\nPrefect UI: [bold]{stack.ui_url}[/]  (API {stack.api_url})", highlight=False)
        out.print(
            f"Web: [bold]{stack.web_url}[/]  (the pages the emails link to; the ERP's API, docs {stack.web_url}api/docs)", highlight=False, soft_wrap=True
        )
        password_file = auth_file(stack.home)
        if generated:
            out.print(f"The UI asks for a password; this one was generated and is shown only now: [bold]{escape(stack.auth_string)}[/]", highlight=False)
            out.print(f"  (kept in {password_file}, readable by you only)", highlight=False, markup=False)
        elif os.environ.get("PREFECT_SERVER_API_AUTH_STRING"):
            out.print("The UI asks for the password of PREFECT_SERVER_API_AUTH_STRING.")
        else:
            out.print(f"The UI asks for the password kept in {password_file}.", highlight=False, markup=False)
        out.print(f"Work pool {stack.work_pool!r}: one process worker; flow runs work in {stack.cwd}", highlight=False, markup=False)
        for note in stack.recovered:
            out.print(f"Interrupted by the last stop: {note}", highlight=False, markup=False)
        _print_deployments(stack)
        out.print("Approvals are answered from the email's link, in the UI (the waiting run's Resume form) or with `huikuan approvals answer`;")
        out.print(
            f'for `prefect` commands in another shell: export PREFECT_API_URL={stack.api_url} PREFECT_API_AUTH_STRING="$(cat {password_file})"',
            highlight=False,
            markup=False,
        )

    _run_until_stopped(stack, stack.start, started, "the web service, the worker and the server")


EXAMPLES_FILE = "examples.txt"  # in the demo's folder: the commands `_demo_guide` printed


def _demo_guide(day: dt.date, folder: Path) -> None:
    """After loading the demo: the commands to try on it (also kept in the demo's folder), and the steps missed before huikuan."""
    from huikuan.demo.load import demo_examples, examples_text
    from huikuan.ledger.db import session_scope

    with calendar_years(day), session_scope() as session:
        text = examples_text(demo_examples(session, day))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / EXAMPLES_FILE).write_text(text, encoding="utf-8")
    out.print(f"\nTry it on the demo (its own customers and day; kept in {folder / EXAMPLES_FILE}):", highlight=False, soft_wrap=True, markup=False)
    out.print(text.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
    _bank_statement_hint(folder, day)
    _adopt_note(day)


def _bank_statement_hint(folder: Path, day: dt.date | None = None) -> None:
    """The demo's bank statement and the commands that apply it (the demo writes it; importing it is the user's step)."""
    import shlex

    from huikuan.demo.load import BANK_STATEMENT_FILE

    path = folder / BANK_STATEMENT_FILE
    if not path.exists():
        return
    on = f" --on {day.isoformat()}" if day is not None else ""
    out.print(
        f"\nThe bank's statement of the demo's customers paying (GBK CSV, as a bank exports it): {path}\n"
        f"huikuan bank import {shlex.quote(str(path))}{on}  # applied where certain; the rest waits for finance\n"
        "huikuan bank review  # the lines waiting, with suggestions; then: huikuan bank match LINE CUSTOMER",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _adopt_note(day: dt.date) -> None:
    """Before the first daily run: how many one-time steps are already past (the escalations and stop-shipments of old debts) and the command."""
    from sqlalchemy import select

    from huikuan.demo.load import missed_steps_count
    from huikuan.ledger.db import session_scope
    from models.ledger import CollectionDay

    with calendar_years(day), session_scope() as session:
        if session.scalar(select(CollectionDay.day).limit(1)) is not None:
            return  # huikuan runs daily on this ledger: adopting was for its first day
        steps, customers = missed_steps_count(session, day)
    if steps:
        out.print(
            f"\n{steps} one-time step(s) for {customers} customer(s) fell due before {day} (escalations, notices, stop-shipments of "
            f"debts already old); the daily run takes only what falls due on its day. `huikuan adopt --dry-run --as-of {day}` lists them, "
            f"`huikuan adopt --as-of {day}` takes them once (it needs the company file).",
            highlight=False,
            soft_wrap=True,
        )


def _local_stack(port: int, settings, *, web_port: int | None = None):
    """The stack ``huikuan start`` runs, and whether its password was generated now.

    The server demands a ``user:password``: PREFECT_SERVER_API_AUTH_STRING when set, else
    the one kept in the data directory (generated on the first start, see ``local_auth_string``).
    """
    from huikuan.stack import LocalStack, StackError, local_auth_string

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

    out.print(f"Deployments (times in {stack.settings.timezone}):", highlight=False, markup=False)
    statuses = {status.full_name: status for status in stack.deployment_statuses()}
    for definition in DEFINITIONS:
        status = statuses.get(definition.full_name)
        state = "NOT DEPLOYED" if status is None else "PAUSED" if status.paused else ""
        out.print(f"  {definition.full_name:38} {definition.schedule_note}  {state}".rstrip(), highlight=False, markup=False)


def _run_until_stopped(stack, start, started, what: str) -> None:
    """``start()``, then ``started()`` (what to tell), then wait for Ctrl-C or SIGTERM; the stack is stopped whatever happens.

    If a process of the stack exits meanwhile, the command fails with its log's tail.
    """
    import signal
    import time

    from huikuan.stack import StackError

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
            raise fail(str(exc)) from None
        started()
        out.print("Press Ctrl-C to stop.")
        while stack.alive():
            time.sleep(1)
        raise fail(f"the stack stopped: {stack.problem()}")
    except KeyboardInterrupt:
        out.print(f"Stopping {what} ...", markup=False)
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
    from huikuan.stack import StackError, check_auth_string

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
    public_url: Annotated[
        Optional[str],
        typer.Option(
            envvar="HUIKUAN_SERVER_PUBLIC_URL",
            help="how other machines reach this server, e.g. http://huikuan-server:4200 (the UI in their browsers calls the API there)",
        ),
    ] = None,
    prefect_database_url: Annotated[
        Optional[str],
        typer.Option(
            envvar=["PREFECT_SERVER_DATABASE_CONNECTION_URL", "PREFECT_API_DATABASE_CONNECTION_URL"],
            help="the Prefect server's own database, e.g. postgresql+asyncpg://prefect:PASSWORD@dbhost/prefect (better in the environment); default SQLite under the data directory",
        ),
    ] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="no password (only with --host 127.0.0.1: nobody else can connect)")] = False,
) -> None:
    """Machine A of several: the Prefect server with its UI (basic auth from PREFECT_SERVER_API_AUTH_STRING), the ledger's
    migrations, the work pool and the deployments; no worker (`huikuan worker` on other machines). Until Ctrl-C."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from huikuan.ledger.db import engine_for
    from huikuan.ledger.migrate import upgrade
    from huikuan.ledger.settings import get_settings
    from huikuan.stack import LOOPBACK, LocalStack, StackError

    auth = _auth_from_env("PREFECT_SERVER_API_AUTH_STRING")
    if auth is None and not no_auth:
        raise fail(
            "set PREFECT_SERVER_API_AUTH_STRING=user:password (the workers send it in PREFECT_API_AUTH_STRING, "
            "people type it in the UI), or pass --no-auth with --host 127.0.0.1"
        )
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
    out.print(f"Ledger {_hidden(settings.database_url)} is up to date.", highlight=False, markup=False)
    if engine.url.get_backend_name() == "sqlite":
        err.print("[yellow]warning:[/] the ledger is a SQLite file: workers on other machines cannot reach it; use PostgreSQL (HUIKUAN_DATABASE_URL)")
    try:
        stack = LocalStack(host=host, port=port, settings=settings, auth_string=auth, server_database_url=prefect_database_url, public_url=public_url)
    except StackError as exc:
        raise fail(str(exc)) from None
    if host in ("0.0.0.0", "::") and not public_url:
        err.print(
            "[yellow]note:[/] set --public-url (HUIKUAN_SERVER_PUBLIC_URL) to this machine's name as the others reach it, "
            "or the UI in their browsers looks for the API on their own machine"
        )
    database = _hidden(stack.server_database_url) if stack.server_database_url else f"SQLite in {stack.home}"
    out.print(f"Starting the Prefect server on {host}:{port} (its database: {database}; logs in {stack.home}) ...", highlight=False, markup=False)

    def start() -> None:
        stack.start_server()
        stack.register(recover=False)  # runs in flight belong to the workers, which may still be running them

    def started() -> None:
        out.print(
            f"\nPrefect UI: [bold]{stack.ui_url}[/]  (API {stack.public_api_url}){'' if auth is None else '; log in with the user:password'}", highlight=False
        )
        out.print(f"Work pool {stack.work_pool!r}: no worker here; start `huikuan worker` on each worker machine with", highlight=False, markup=False)
        out.print(f"  PREFECT_API_URL={stack.public_api_url}", highlight=False, markup=False)
        if auth is not None:
            out.print("  PREFECT_API_AUTH_STRING=<the same user:password as PREFECT_SERVER_API_AUTH_STRING here>", highlight=False)
        with_password = "  (with its password)" if make_url(settings.database_url).password else ""
        out.print(f"  HUIKUAN_DATABASE_URL={_hidden(settings.database_url)}{with_password}", highlight=False, markup=False)
        _print_deployments(stack)

    _run_until_stopped(stack, start, started, "the server")


@app.command("worker")
def worker_command(
    api_url: Annotated[Optional[str], typer.Option("--api-url", envvar="PREFECT_API_URL", help="the server's API, e.g. http://huikuan-server:4200/api")] = None,
    name: Annotated[Optional[str], typer.Option(envvar="HUIKUAN_WORKER_NAME", help="this worker's name, one per machine (default huikuan-<host name>)")] = None,
) -> None:
    """Machine B, C...: a process worker for the server's work pool (PREFECT_API_URL, PREFECT_API_AUTH_STRING); flow runs work in
    the current directory on the ledger of HUIKUAN_DATABASE_URL. Until Ctrl-C."""
    import socket

    from sqlalchemy import inspect
    from sqlalchemy.exc import SQLAlchemyError

    from huikuan.ledger.company import CompanyFileError, load_company
    from huikuan.ledger.db import engine_for
    from huikuan.ledger.migrate import is_current
    from huikuan.ledger.settings import get_settings
    from huikuan.stack import LocalStack, StackError

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
        raise fail(
            f"the ledger at {_hidden(settings.database_url)} is {'not current' if has_tables else 'empty'}: "
            "`huikuan server` migrates it as it starts (or run `huikuan db upgrade`); is this machine on the same huikuan version?"
        )
    if engine.url.get_backend_name() == "sqlite":
        err.print("[yellow]warning:[/] the ledger is a SQLite file on this machine: the other machines cannot see it; use PostgreSQL (HUIKUAN_DATABASE_URL)")
    if not settings.company_file.exists():
        raise fail(f"no company file {settings.company_file.resolve()}: copy the company's (the same on every machine), or set HUIKUAN_COMPANY_FILE")
    try:
        load_company(settings.company_file)
    except CompanyFileError as exc:
        raise fail(str(exc)) from None
    try:
        stack = LocalStack(server_url=api_url, auth_string=auth, settings=settings, worker_name=name or f"huikuan-{socket.gethostname()}")
    except StackError as exc:
        raise fail(str(exc)) from None
    out.print(f"Starting the worker {stack.worker_name!r} for the server at {stack.api_url} (logs in {stack.home}) ...", highlight=False, markup=False)

    def started() -> None:
        out.print(f"Worker {stack.worker_name!r} online in the work pool {stack.work_pool!r}; flow runs work in {stack.cwd}", highlight=False, markup=False)
        out.print(f"on the ledger {_hidden(settings.database_url)}. Prefect UI: {stack.ui_url}", highlight=False, markup=False)
        for note in stack.recovered:
            out.print(f"Left behind by this worker's last stop, scheduled again: {note}", highlight=False, markup=False)

    _run_until_stopped(stack, lambda: stack.start_worker(recover=True), started, "the worker")
