"""`huikuan db upgrade` and `huikuan import`: the ledger's schema and the import files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from huikuan.cli.common import app, db_app, ensure_ledger, err, fail, out, progress_bar


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the ledger's tables to the current version."""
    from huikuan.ledger.db import engine_for
    from huikuan.ledger.migrate import upgrade

    engine = engine_for()
    upgrade(engine)
    out.print(f"ledger {engine.url.render_as_string(hide_password=True)} is up to date", markup=False)


@app.command("import")
def import_command(
    customers: Annotated[Optional[Path], typer.Option(help="customers file (CSV or XLSX)")] = None,
    invoices: Annotated[Optional[Path], typer.Option(help="invoices file")] = None,
    payments: Annotated[Optional[Path], typer.Option(help="payments file")] = None,
    charges: Annotated[Optional[Path], typer.Option(help="charges file (deliveries to be billed)")] = None,
    update: Annotated[bool, typer.Option("--update", help="allow changing rows already in the ledger")] = False,
) -> None:
    """Import files in one transaction: any bad row and nothing is written (exit status 2)."""
    from huikuan.cli.views import import_summary_view
    from huikuan.documents.i18n import reader_locale
    from huikuan.ledger.db import session_scope
    from huikuan.ledger.importer import ImportFailed, import_files

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
    out.print(import_summary_view(summary, reader_locale()))
