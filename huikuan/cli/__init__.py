"""The ``huikuan`` command: set up the ledger, import, record, look; one module per command group.

``common`` holds the root command and what the groups share; each group module adds its commands to it
when imported here, in the order ``huikuan --help`` lists them. Heavy modules (the ORM, Prefect, reports,
documents) are imported inside the commands that use them, so that ``huikuan --help`` and
``huikuan shipping check`` start quickly. With ``huikuan.stack``, this package is the only importer of
``deployments/``.
"""

from __future__ import annotations

from huikuan.cli import approvals, ledger, local, plans, recording, reports, shipping  # noqa: F401 - each adds its commands to `app`
from huikuan.cli.bank import bank_app
from huikuan.cli.common import app, approvals_app, contact_app, customers_app, db_app, dispute_app, shipping_app, statement_app
from huikuan.cli.legal import case_command, letter_app
from huikuan.cli.web import web_app

app.add_typer(db_app, name="db")
app.add_typer(customers_app, name="customers")
app.add_typer(contact_app, name="contact")
app.add_typer(dispute_app, name="dispute")
app.add_typer(statement_app, name="statement")
app.add_typer(shipping_app, name="shipping")
app.add_typer(approvals_app, name="approvals")
app.add_typer(web_app, name="web")  # `huikuan web`: the statement pages and the ERP's API (huikuan/web/)
app.command("case")(case_command)  # `huikuan case` and `letter`: the legal side (huikuan/legal/)
app.add_typer(letter_app, name="letter")
app.add_typer(bank_app, name="bank")  # `huikuan bank`: the bank's statement applied as payments (huikuan/bank/)

__all__ = ["app", "main"]


def main() -> None:
    """The ``huikuan`` command ([project.scripts]); errors are turned into one line by ``common.OneLineErrors``."""
    app(prog_name="huikuan")
