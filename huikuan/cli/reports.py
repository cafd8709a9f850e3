"""`huikuan portfolio`, `report`, `worklist` and `customers show`: reading the ledger for people."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from huikuan.cli.common import (
    AsOf,
    CustomerId,
    EncodingOption,
    PolicyOption,
    app,
    calendar_years,
    check_output,
    command_context,
    customers_app,
    ensure_ledger,
    fail,
    out,
    parse_day,
    say_written,
    write_csv,
    write_markdown,
)


@app.command("portfolio")
def portfolio_command(as_of: AsOf = None, oldest: Annotated[int, typer.Option(help="how many of the oldest debts")] = 10) -> None:
    """Customers, open amounts by age and the oldest debts."""
    from huikuan.cli.views import portfolio_view
    from huikuan.documents.i18n import reader_locale
    from huikuan.ledger.db import session_scope
    from huikuan.reports.portfolio import portfolio

    day, locale = parse_day(as_of, "--as-of"), reader_locale()
    ensure_ledger()
    with session_scope() as session:
        out.print(portfolio_view(portfolio(session, day, oldest=oldest), locale))


class ReportFormat(str, Enum):
    md = "md"
    csv = "csv"
    xlsx = "xlsx"


@app.command("report")
def report_command(
    name: Annotated[
        str,
        typer.Argument(
            help="aging, aging-segment, aging-collector, aging-credit, kpis, statements, approvals, limitation (诉讼时效), or management (the month's folder)"
        ),
    ],
    as_of: AsOf = None,
    output_format: Annotated[
        ReportFormat, typer.Option("--format", help="md (to the terminal, in the company's language), csv (column ids, for programs), or xlsx (with --out)")
    ] = ReportFormat.md,
    output: Annotated[
        Optional[Path],
        typer.Option(
            "--out", help="write to this file (required for xlsx); for management, the folder that gets report-YYYY-MM/ (default: <data dir>/reports)"
        ),
    ] = None,
    encoding: EncodingOption = None,
    charges: Annotated[
        bool,
        typer.Option("--charges", help="aging reports: add the late-payment charge to the day under each customer's contract, and principal + charge (claim)"),
    ] = False,
) -> None:
    """A report on the ledger (aging, DSO, overdue and bad-debt ratios, CEI, the month's target, statements, approvals), or the monthly management report."""
    from huikuan.documents.i18n import reader_locale
    from huikuan.ledger.db import session_scope
    from huikuan.ledger.settings import get_settings
    from huikuan.reports.builders import AGING_REPORTS, REPORTS, csv_rows, to_markdown, to_xlsx

    if name == "management":
        if output_format is not ReportFormat.md or encoding is not None:
            raise fail("the management report writes a folder (html, md, xlsx, png): leave out --format and --encoding")
        _management_report(parse_day(as_of, "--as-of"), output or get_settings().data_dir / "reports")
        return
    if name not in REPORTS:
        raise fail(f"no report {name!r}; the reports are: {', '.join(REPORTS)}, management")
    if charges and name not in AGING_REPORTS:
        raise fail(f"--charges is for the aging reports ({', '.join(AGING_REPORTS)}), not {name}")
    check_output(output_format, output, encoding)
    day, locale = parse_day(as_of, "--as-of"), reader_locale()
    ensure_ledger()
    with calendar_years(day), session_scope() as session:
        if charges:
            from huikuan.legal.standing import open_invoice_charges

            report = REPORTS[name](session, day, charges=open_invoice_charges(session, day, command_context("handbook").company))
        else:
            report = REPORTS[name](session, day)
    if output_format is ReportFormat.xlsx:
        to_xlsx(report, output, locale=locale)
        say_written(report.title, output, locale)
    elif output_format is ReportFormat.csv:
        write_csv(csv_rows(report), output, encoding)
        if output is not None:
            say_written(report.title, output, locale)
    elif output is not None:
        output.write_text(to_markdown(report, locale), encoding="utf-8")
        say_written(report.title, output, locale)
    else:
        write_markdown(to_markdown(report, locale))


def _management_report(day: dt.date, folder: Path) -> None:
    from huikuan.ledger.db import session_scope
    from huikuan.reports.builders import DSO, PROGRESS, display
    from huikuan.reports.management import write_report

    ensure_ledger()
    with session_scope() as session:
        report = write_report(session, day, folder)
    values = report.kpis[report.currency]
    out.print(f"{report.title} written to {report.folder} (send {report.html.name}: it holds everything)", markup=False)
    out.print(f"{report.currency}: DSO {display(values[DSO])} days, target progress {display(values[PROGRESS])}", markup=False)


@app.command("worklist")
def worklist_command(
    as_of: AsOf = None,
    collector: Annotated[Optional[str], typer.Option(help="only this collector's list (their id in the company file)")] = None,
    policy: PolicyOption = "handbook",
) -> None:
    """Today's calls and visits for each collector: in order, at the preferred hours, with what to say."""
    from huikuan.ledger.db import session_scope
    from huikuan.reports.worklist import worklist, worklist_markdown

    day = parse_day(as_of, "--as-of")
    context = command_context(policy)  # the company says whose list a manager's calls go on; without it, the role's name
    ensure_ledger()
    with calendar_years(day), session_scope() as session:
        items = worklist(session, day, policy=context.policy, collector=collector, company=context.company)
    write_markdown(worklist_markdown(items, day, context.company) + "\n")


@customers_app.command("show")
def customers_show(customer_id: CustomerId, as_of: AsOf = None) -> None:
    """One customer: balance, open invoices with their ages, status, promises, recent contacts."""
    from huikuan.cli.views import customer_view
    from huikuan.documents.i18n import company_locale
    from huikuan.ledger import records
    from huikuan.ledger.db import session_scope
    from huikuan.reports.portfolio import customer_file

    ensure_ledger()
    from huikuan.cli.legal import standing_table
    from huikuan.legal.standing import standing_of

    day, context = parse_day(as_of, "--as-of"), command_context("handbook")
    with calendar_years(day), session_scope() as session:
        try:
            shown = customer_file(session, customer_id, day)
            standing = standing_of(session, customer_id, day, context)
        except records.LedgerError as exc:
            raise fail(str(exc)) from None
        locale = company_locale(context.company)
        out.print(customer_view(shown, locale))
        if standing.invoices:
            out.print(standing_table(standing, records.get_customer(session, customer_id).currency, locale))
