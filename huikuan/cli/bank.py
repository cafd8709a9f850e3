"""``huikuan bank``: import the bank's statement, review the lines waiting, match them (CONTRACT.md, "Bank statements")."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from huikuan.cli.common import DAY
from models.import_rows import id_list
from models.money import format_money

bank_app = typer.Typer(help="The bank's statement: incoming transfers applied as payments (核销), the rest reviewed by finance.", no_args_is_help=True)


class StatementFormat(str, Enum):
    auto = "auto"
    csv = "csv"
    xlsx = "xlsx"
    camt053 = "camt053"
    mt940 = "mt940"


By = Annotated[str, typer.Option("--by", help="who decides: their id in the company file")]


@bank_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="the statement: the bank's CSV or XLSX export, camt.053 XML or MT940")],
    format: Annotated[StatementFormat, typer.Option("--format", help="the file's format (auto: from its content)")] = StatementFormat.auto,
    on: Annotated[Optional[str], typer.Option("--on", metavar=DAY, help="the day of the import, YYYY-MM-DD (default: today)")] = None,
) -> None:
    """Import a statement: lines whose customer and invoices are certain become payments; the others wait for `bank review`."""
    from huikuan.bank.cash import import_statement
    from huikuan.bank.statement_files import HeaderWords
    from huikuan.cli.common import command_context, ensure_ledger, err, out, parse_day, progress_bar, record
    from huikuan.ledger.importer import ImportFailed

    day = parse_day(on, "--on")
    company = command_context("handbook").company
    words = HeaderWords.of(company.bank if company else None)
    ensure_ledger()
    try:
        with progress_bar() as track:
            result = record(lambda s: import_statement(s, file, fmt=format.value, words=words, on=day, track=track))
    except ImportFailed as exc:
        for problem in exc.problems:
            err.print(escape(str(problem)), highlight=False, soft_wrap=True)
        err.print(f"[red]error:[/] {len(exc.problems)} problem(s) in {escape(str(file))}; nothing was imported", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    out.print(
        f"{escape(str(file))} ({result.format}): {result.incoming} incoming line(s), {result.outgoing} outgoing ignored; "
        f"{result.new} new, {result.known} imported before",
        highlight=False,
        soft_wrap=True,
    )
    for line in result.applied:
        out.print(
            f"  applied {escape(_ref(line))} {line.booked_on} {line.amount} to {escape(line.customer_id or '')}: {escape(line.note)}",
            highlight=False,
            soft_wrap=True,
        )
    out.print(
        f"{len(result.applied)} applied, {result.waiting} waiting for finance" + (": `huikuan bank review`" if result.waiting else ""),
        highlight=False,
        soft_wrap=True,
    )


@bank_app.command("review")
def review_command(limit: Annotated[int, typer.Option("--limit", help="at most this many lines, oldest first")] = 50) -> None:
    """The lines waiting for finance, with why they wait and who they may be from (likeliest first)."""
    from huikuan.bank.cash import count_waiting, waiting_lines
    from huikuan.cli.common import ensure_ledger, out
    from huikuan.ledger.db import session_scope

    ensure_ledger()
    with session_scope() as session:
        waiting = waiting_lines(session, limit=limit)
        total = count_waiting(session)
        if not waiting:
            out.print("no bank line is waiting")
            return
        more = f" (the oldest {len(waiting)})" if total > len(waiting) else ""
        out.print(f"[bold]Bank lines waiting: {total}[/]{more}", highlight=False)
        for item in waiting:
            line, ref = item.line, _ref(item.line)
            account = f" ({line.payer_account})" if line.payer_account else ""
            reference = f"  「{line.reference}」" if line.reference else ""
            out.print(
                f"\n[bold]{escape(ref)}[/]  {line.booked_on.isoformat()}  {format_money(line.amount, line.currency)}  "
                f"{escape(line.payer or '(no payer)')}{escape(account)}{escape(reference)}",
                highlight=False,
                soft_wrap=True,
            )
            out.print(f"  waits: {escape(line.note)}", highlight=False, soft_wrap=True)
            for rank, suggestion in enumerate(item.suggestions, 1):
                invoices = f" --invoices '{';'.join(suggestion.invoices)}'" if suggestion.invoices else ""
                out.print(
                    f"  {rank}. {escape(suggestion.customer_id)} {escape(suggestion.name)} {escape(f'[{suggestion.score}]')}: {escape('; '.join(suggestion.reasons))}"
                    f"  → huikuan bank match {escape(ref)} {escape(suggestion.customer_id)}{escape(invoices)}",
                    highlight=False,
                    soft_wrap=True,
                )
            if not item.suggestions:
                out.print(
                    "  no customer resembles it: a stranger's money? huikuan bank ignore " + escape(ref) + " --reason TEXT", highlight=False, soft_wrap=True
                )


@bank_app.command("match")
def match_command(
    transaction_id: Annotated[str, typer.Argument(help="the line: its transaction id (流水号), or L<number> as `bank review` shows it")],
    customer_id: Annotated[str, typer.Argument(help="the customer who paid")],
    invoices: Annotated[Optional[str], typer.Option("--invoices", help="the invoices it pays, joined by ';' (default: the oldest open ones first)")] = None,
    on: Annotated[Optional[str], typer.Option("--on", metavar=DAY, help="the day of the decision, YYYY-MM-DD (default: today)")] = None,
    by: Annotated[str, typer.Option("--by", help="who decides (kept with the line)")] = "finance",
) -> None:
    """Apply a waiting line to a customer (and invoices); the payer's account is remembered for that customer."""
    from huikuan.bank.cash import match_line
    from huikuan.cli.common import out, parse_day, record

    day = parse_day(on, "--on")
    named = id_list(invoices)
    result = record(lambda s: match_line(s, transaction_id, customer_id, invoices=named, on=day, by=by))
    line = result.line
    out.print(
        f"bank line {escape(_ref(line))} of {line.amount} applied to {escape(customer_id)}: " + ", ".join(f"{escape(i)} {a}" for i, a in result.applied),
        highlight=False,
        soft_wrap=True,
    )
    if result.credit:
        out.print(
            f"{result.credit} paid beyond what was open: kept as {escape(customer_id)}'s unapplied credit "
            f"(huikuan customers show {escape(customer_id)}; huikuan bank apply-credit {escape(customer_id)} applies it to invoices)",
            highlight=False,
            soft_wrap=True,
        )
    if result.remembered:
        out.print(f"payer account {escape(line.payer_account)} ({escape(line.payer)}) remembered for {escape(customer_id)}", highlight=False, soft_wrap=True)
    for other in result.also_applied:
        out.print(f"  and {escape(_ref(other))} {other.booked_on} {other.amount} from the same account: {escape(other.note)}", highlight=False, soft_wrap=True)


@bank_app.command("apply-credit")
def apply_credit_command(
    customer_id: Annotated[str, typer.Argument(help="the customer whose unapplied credit (from an over-payment) is applied")],
    invoices: Annotated[Optional[str], typer.Option("--invoices", help="the invoices it pays, joined by ';' (default: the oldest open ones first)")] = None,
    on: Annotated[Optional[str], typer.Option("--on", metavar=DAY, help="the day of the decision, YYYY-MM-DD (default: today)")] = None,
    by: Annotated[str, typer.Option("--by", help="who decides (kept with the credit)")] = "finance",
) -> None:
    """Apply a customer's unapplied credit to its open invoices, as far as it goes (never done on its own)."""
    from huikuan.bank.cash import apply_credit
    from huikuan.cli.common import out, parse_day, record

    day = parse_day(on, "--on")
    named = id_list(invoices)
    result = record(lambda s: apply_credit(s, customer_id, invoices=named, on=day, by=by))
    out.print(
        f"{result.used} of {escape(customer_id)}'s unapplied credit applied: "
        + ", ".join(f"{escape(i)} {a}" for i, a in result.applied)
        + f"; {result.left} left",
        highlight=False,
        soft_wrap=True,
    )


@bank_app.command("ignore")
def ignore_command(
    transaction_id: Annotated[str, typer.Argument(help="the line: its transaction id, or L<number>")],
    reason: Annotated[str, typer.Option("--reason", help="what it is instead (a refund, interest, a transfer between own accounts)")],
    on: Annotated[Optional[str], typer.Option("--on", metavar=DAY, help="the day of the decision, YYYY-MM-DD (default: today)")] = None,
    by: Annotated[str, typer.Option("--by", help="who decides (kept with the line)")] = "finance",
) -> None:
    """Take a waiting line off the review list: it is no customer's payment."""
    from huikuan.bank.cash import ignore_line
    from huikuan.cli.common import out, parse_day, record

    day = parse_day(on, "--on")
    line = record(lambda s: ignore_line(s, transaction_id, reason=reason, on=day, by=by))
    out.print(f"bank line {escape(_ref(line))} ignored: {escape(reason.strip())}", highlight=False, soft_wrap=True)


def _ref(line) -> str:
    from huikuan.bank.cash import line_ref

    return line_ref(line)
