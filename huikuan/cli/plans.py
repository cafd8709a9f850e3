"""`huikuan plan`, `simulate`, `adopt`, `explain` and `calendar`: what the policy does on a day, without doing it (adopt excepted)."""

from __future__ import annotations

import sys
import warnings
from enum import Enum
from typing import Annotated

import typer
from rich.markup import escape

from huikuan.cli.approvals import Approvals
from huikuan.cli.common import (
    DAY,
    ActionsFormat,
    ActionsOut,
    AsOf,
    CustomerId,
    EncodingOption,
    OutputFormat,
    PolicyOption,
    app,
    calendar_years,
    check_output,
    command_context,
    ensure_ledger,
    err,
    fail,
    out,
    parse_day,
    progress_bar,
    write_actions,
)


@app.command("plan")
def plan_command(
    as_of: AsOf = None,
    policy: PolicyOption = "handbook",
    output_format: ActionsFormat = OutputFormat.csv,
    output: ActionsOut = None,
    encoding: EncodingOption = None,
) -> None:
    """The actions due on a day for the whole ledger; writes nothing to the ledger."""
    from huikuan.documents.i18n import company_locale
    from huikuan.ledger.db import session_scope
    from huikuan.reports.planning import iter_plan
    from models.texts import Text

    check_output(output_format, output, encoding)
    day, context = parse_day(as_of, "--as-of"), command_context(policy)
    ensure_ledger()
    with calendar_years(day), progress_bar() as track, session_scope() as session:  # streamed: the plan is never held whole
        actions = iter_plan(session, day, context.policy, calendars=context.calendars, progress=track.advance)
        write_actions(actions, output_format, output, encoding, title=Text("Actions due on {day}", day=day), day=day, locale=company_locale(context.company))


@app.command("simulate")
def simulate_command(
    start: Annotated[str, typer.Option("--from", metavar=DAY, help="first day, YYYY-MM-DD")],
    end: Annotated[str, typer.Option("--to", metavar=DAY, help="last day, YYYY-MM-DD")],
    policy: PolicyOption = "handbook",
    approvals: Annotated[Approvals, typer.Option(help="approval requests are granted or denied on the day they are made")] = Approvals.grant,
    output_format: ActionsFormat = OutputFormat.csv,
    output: ActionsOut = None,
    encoding: EncodingOption = None,
) -> None:
    """Day by day, every action the system would take if no customer paid, confirmed or replied; writes nothing to the ledger."""
    from huikuan.documents.i18n import company_locale
    from huikuan.ledger.db import session_scope
    from huikuan.reports.planning import simulate_ledger
    from models.texts import Text

    check_output(output_format, output, encoding)
    first, last, context = parse_day(start, "--from"), parse_day(end, "--to"), command_context(policy)
    if last < first:
        raise fail(f"--to {last} is before --from {first}")
    ensure_ledger()
    with calendar_years(first, last), progress_bar() as track, session_scope() as session:
        actions = simulate_ledger(
            session, first, last, context.policy, grant_approvals=approvals is Approvals.grant, calendars=context.calendars, progress=track.advance
        )
    granted = Text("approvals granted") if approvals is Approvals.grant else Text("approvals denied")
    title = Text("Actions from {start} to {end} if no customer acts ({approvals})", start=first, end=last, approvals=granted)
    write_actions(actions, output_format, output, encoding, title=title, day=last, locale=company_locale(context.company))


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
    from huikuan.cli.views import report_view
    from huikuan.documents.i18n import company_locale
    from huikuan.ledger.adoption import adopt
    from huikuan.ledger.db import engine_for
    from huikuan.reports.planning import actions_report, write_csv
    from models.texts import N_, Text

    day, context = parse_day(as_of, "--as-of"), command_context(policy, need_company=not dry_run)
    ensure_ledger()
    with calendar_years(day):
        result = adopt(engine_for(), day, context.policy, context.company, dry_run=dry_run)
    shown = result.actions if dry_run else result.taken
    notes = out
    if output_format is AdoptFormat.csv:
        write_csv(shown, sys.stdout)
        notes = err  # stdout is the CSV alone
    elif shown:  # as plan --format table shows actions: in the company's language, with their reasons, each cell whole
        title = Text(N_("Steps missed before huikuan, to take on {day}") if dry_run else N_("Steps missed before huikuan, taken on {day}"), day=day)
        out.print(report_view(actions_report("adopt", title, day, shown), company_locale(context.company)))
    customers = len({a.customer_id for a in shown})
    if dry_run:
        notes.print(
            f"{len(shown)} missed step(s) for {customers} customer(s) would be taken on {day}; nothing was written. Run without --dry-run to take them.",
            highlight=False,
            soft_wrap=True,
        )
        return
    notes.print(f"Took {len(shown)} missed step(s) for {customers} customer(s) on {day}.", highlight=False, soft_wrap=True)
    if result.approvals:
        notes.print(
            f"{len(result.approvals)} approval request(s) (stop-shipment and the like) now wait for the boss's decision: "
            "the daily collection starts their runs and emails the one-time codes; `huikuan approvals list` shows them.",
            highlight=False,
            soft_wrap=True,
        )
    notes.print(
        "From now on, run the daily collection every day (`huikuan start` schedules it): it takes what falls due, and the letters once an account is locked.",
        highlight=False,
        soft_wrap=True,
    )
    for account in result.failed:
        err.print(f"[red]{escape(account.customer_id)}:[/] {escape(account.error)}: nothing taken for this customer", highlight=False, soft_wrap=True)
    if result.failed:
        raise typer.Exit(1)


@app.command("explain")
def explain_command(customer_id: CustomerId, as_of: AsOf = None, policy: PolicyOption = "handbook") -> None:
    """Each rule of the policy for one customer on a day: fired or not, and why; with late-payment terms in the contract,
    each open invoice's charge to the day and the total claim (the table of `customers show`)."""
    from huikuan.cli.legal import standing_table
    from huikuan.cli.views import explain_view
    from huikuan.documents.i18n import company_locale
    from huikuan.ledger import records
    from huikuan.ledger.db import session_scope
    from huikuan.legal.standing import standing_of, terms_for
    from huikuan.reports.planning import explain_customer

    day, context = parse_day(as_of, "--as-of"), command_context(policy)
    ensure_ledger()
    with calendar_years(day), session_scope() as session:
        try:
            explanations = explain_customer(session, customer_id, day, context.policy, calendars=context.calendars)
            customer = records.get_customer(session, customer_id)
            standing = standing_of(session, customer_id, day, context) if terms_for(customer, context.company) is not None else None
        except records.LedgerError as exc:
            raise fail(str(exc)) from None
        currency = customer.currency
    locale = company_locale(context.company)
    out.print(explain_view(customer_id, day, context.policy.name, explanations, locale))
    if standing is not None and standing.invoices:
        out.print(standing_table(standing, currency, locale))  # as customers show says it


@app.command("calendar")
def calendar_command(
    year: Annotated[int, typer.Argument(min=1900, max=2200, help="the year, e.g. 2027")],
    country: Annotated[str, typer.Option(help="ISO 3166 alpha-2 code of the customers' country")] = "CN",
) -> None:
    """A year's weekdays off and weekend working days (调休), and where each comes from."""

    from huikuan.ledger.company import CompanyFileError, calendar_book_from_file
    from huikuan.ledger.settings import get_settings
    from models.calendar import CalendarFallbackWarning

    settings = get_settings()
    try:
        book = calendar_book_from_file(settings.company_file, settings.closed_days)
    except CompanyFileError as exc:
        raise fail(str(exc), 2) from None
    try:
        cal = book.calendar(country)
    except ValueError as exc:
        raise fail(f"--country: {exc}", 2) from None
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
