"""The legal side on the command line: ``huikuan case`` (the lawyer's case file) and the standing shown by ``customers show``."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from huikuan.cli.common import DAY, CustomerId
from models.money import format_money
from models.texts import N_, Text

if TYPE_CHECKING:
    from huikuan.legal.standing import CustomerStanding


# What restarted a limitation period (``models.limitation.Restart``), as the table says it.
RESTARTS = {
    "demand_delivered": N_("demand delivered"),
    "statement_confirmed": N_("statement confirmed"),
    "promise": N_("promise"),
    "instalment_plan": N_("instalment plan"),
    "part_payment": N_("part payment"),
}


def standing_table(standing: CustomerStanding, currency: str, locale: str = "en") -> Table:
    """Each open invoice's late-payment charge and limitation date, for ``customers show``, in ``locale``."""
    from huikuan.cli.views import said

    say = partial(said, locale=locale)

    def money(amount) -> str:
        return format_money(amount, currency, locale)

    as_of = standing.as_of
    title = say(Text(N_("Legal standing on {day}: principal {principal}"), day=as_of, principal=money(standing.open_total)))
    if standing.terms is not None:
        title += say(Text(N_(" + charge {charge} = {claim}"), charge=money(standing.charge_total), claim=money(standing.claim_total)))
        if standing.terms.clause:
            title += say(Text(N_(" (per {clause})"), clause=standing.terms.clause))
    else:
        title += say(Text(N_(" (no late-payment charge in the contract)")))
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for column, justify in (
        (N_("invoice"), "left"),
        (N_("due"), "left"),
        (N_("open"), "right"),
        (N_("charge"), "right"),
        (N_("limitation date"), "left"),
        (N_("restarted by"), "left"),
    ):
        table.add_column(say(Text(column)), justify=justify)  # type: ignore[arg-type]
    for invoice in sorted(standing.invoices, key=lambda i: (i.due_on, i.invoice_id)):
        limit, restart = invoice.limitation, invoice.limitation.restarted_by
        left = limit.days_left(as_of)
        remaining = Text(N_(" (expired)")) if left < 0 else Text(N_(" ({days} days)"), days=left)
        when = limit.expires_on.isoformat() + say(remaining)
        why = Text(N_("{what} {day}"), what=Text(RESTARTS[restart.kind.value]), day=restart.on) if restart else Text(N_("due date"))
        table.add_row(
            escape(invoice.invoice_id),
            invoice.due_on.isoformat(),
            money(invoice.open_amount),
            money(invoice.charge_amount) if invoice.charge else "-",
            when,
            say(why),
        )
    return table


def case_command(
    customer_id: CustomerId,
    out: Annotated[Optional[Path], typer.Option("--out", help="the folder that gets case-<customer>-<day>/ and its ZIP (default: <data dir>/cases)")] = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", metavar=DAY, help="the day, YYYY-MM-DD (default: today)")] = None,
) -> None:
    """Write the case file a lawyer asks for: summary, invoices, charges, statements, demands with evidence, contacts, payments."""
    from zoneinfo import ZoneInfo

    from huikuan.cli.common import calendar_years, command_context, ensure_ledger, fail, parse_day
    from huikuan.cli.common import out as console
    from huikuan.ledger import records
    from huikuan.ledger.db import session_scope
    from huikuan.ledger.settings import get_settings
    from huikuan.legal.case_file import write_case_file
    from huikuan.legal.standing import standing_of

    day: dt.date = parse_day(as_of, "--as-of")
    context = command_context("handbook")
    folder = out or get_settings().data_dir / "cases"
    ensure_ledger()
    with calendar_years(day), session_scope() as session:  # a limitation date in a year without official calendar data is said
        try:
            standing = standing_of(session, customer_id, day, context)
        except records.LedgerError as exc:
            raise fail(str(exc)) from None
        customer = records.get_customer(session, customer_id)
        company = context.company
        zone = ZoneInfo(company.timezone) if company else get_settings().tz
        try:
            case = write_case_file(session, standing, customer, company_name=company.name if company else "", zone=zone, out=folder)
        except OSError as exc:
            raise fail(f"--out {folder}: {exc.strerror or str(exc)}") from None
    console.print(f"case file of {customer_id}: {case.folder} ({len(case.files)} files, index.md lists each with its SHA-256)", highlight=False, markup=False)
    console.print(f"  and as one ZIP: {case.archive}", highlight=False, markup=False)
    console.print(
        f"  principal {format_money(standing.open_total, customer.currency)}, charge {format_money(standing.charge_total, customer.currency)}, "
        f"claim {format_money(standing.claim_total, customer.currency)}",
        highlight=False,
    )


letter_app = typer.Typer(help="Letters sent to customers: record the courier's delivery (送达凭证).", no_args_is_help=True)


@letter_app.command("delivered")
def letter_delivered(
    key: Annotated[str, typer.Argument(help="the letter's key, as plan showed the action or documents.csv of `huikuan case` lists it")],
    tracking_no: Annotated[str, typer.Option("--tracking-no", help="the courier's tracking number (快递单号)")],
    on: Annotated[Optional[str], typer.Option("--on", metavar=DAY, help="the day it was delivered (signed for), YYYY-MM-DD (default: today)")] = None,
    courier: Annotated[Optional[str], typer.Option(help="the courier, e.g. 顺丰 or EMS")] = None,
    by: Annotated[Optional[str], typer.Option("--by", help="who records it: their id in the company file")] = None,
) -> None:
    """Record that a posted letter reached the customer: from that day it restarts the limitation period of the debts it demanded."""
    from huikuan.cli.common import ensure_ledger, fail, parse_day
    from huikuan.cli.common import out as console
    from huikuan.ledger import records
    from huikuan.ledger.db import session_scope
    from huikuan.ledger.settings import get_settings
    from huikuan.legal.delivery import record_letter_delivery

    day = parse_day(on, "--on")
    ensure_ledger()
    with session_scope() as session:
        try:
            delivery, new = record_letter_delivery(
                session, key, tracking_no=tracking_no, delivered_on=day, today=get_settings().today(), courier=courier, by=by
            )
        except records.LedgerError as exc:
            raise fail(str(exc)) from None
        what = "recorded" if new else "already recorded"
        console.print(
            f"{what}: {escape(delivery.document_key)} delivered on {delivery.delivered_on} (tracking number {escape(delivery.tracking_no)})", highlight=False
        )
