"""What people record: contacts, promises, instalments, disputes, statements confirmed or invoiced, payments, unlocks."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from huikuan.cli.common import (
    DAY,
    MONTH,
    CustomerId,
    InvoiceId,
    On,
    app,
    command_context,
    contact_app,
    customers_app,
    dispute_app,
    fail,
    out,
    parse_amount,
    parse_day,
    parse_month,
    record,
    statement_app,
)
from models.enums import Channel, ContactResult, Excuse
from models.import_rows import id_list


@customers_app.command("unlock")
def customers_unlock(
    customer_id: CustomerId,
    by: Annotated[str, typer.Option("--by", help="who decides: their id in the company file (the approver of lift_lock, by default the boss)")],
    reason: Annotated[str, typer.Option(help="why the lock is lifted, for the account's history")],
    on: On = None,
) -> None:
    """Lift a customer's shipping lock by a person's decision (recorded with who and why; finance and shipping are told)."""
    from huikuan.collection.execution import lift_lock_by

    day, context = parse_day(on, "--on"), command_context("handbook", need_company=True)
    record(lambda s: out.print(lift_lock_by(s, customer_id, person=by, reason=reason, company=context.require_company(), as_of=day), markup=False))


@contact_app.command("log")
def contact_log(
    customer_id: CustomerId,
    channel: Annotated[Channel, typer.Option(help="how the customer was contacted")],
    result: Annotated[ContactResult, typer.Option(help="what came of it")],
    note: Annotated[Optional[str], typer.Option(help="what was said")] = None,
    excuse: Annotated[Optional[Excuse], typer.Option(help="the excuse given: duo 躲, la 拉, lai 赖, tuo 拖, tui 推, mo 磨")] = None,
    person: Annotated[Optional[str], typer.Option(help="the person reached")] = None,
    on: On = None,
) -> None:
    """Record a call, email or visit and its result."""
    from huikuan.ledger import records

    record(lambda s: records.log_contact(s, customer_id, channel=channel, result=result, on=parse_day(on, "--on"), note=note, excuse=excuse, person=person))
    out.print(f"contact with {customer_id} recorded", markup=False)


@contact_app.command("bounced")
def contact_bounced(customer_id: CustomerId, email: Annotated[str, typer.Argument(help="the address the mail server refused")], on: On = None) -> None:
    """Mark a contact's email address as bouncing: no customer email goes to it, the collector is told instead (a new address clears it)."""
    from huikuan.ledger.settings import get_settings
    from huikuan.outbox.bounces import mark_bounced

    day, today, company = parse_day(on, "--on"), get_settings().today(), command_context("handbook").company
    done: list[tuple[int, int]] = []
    record(lambda s: done.append(mark_bounced(s, customer_id, email, on=day, company=company, as_of=today)))
    marked, held = done[0]
    out.print(
        f"{email} of {customer_id} {'marked bounced since ' + day.isoformat() if marked else 'was already marked bounced'}"
        + (f"; {held} queued email(s) to it held back, the collector is told" if held else ""),
        markup=False,
    )


@app.command("promise")
def promise_command(
    customer_id: CustomerId,
    amount: Annotated[str, typer.Option(help="the amount promised")],
    by: Annotated[str, typer.Option(metavar=DAY, help="the date promised, YYYY-MM-DD")],
    invoices: Annotated[Optional[str], typer.Option(help="invoice ids joined by ';' (default: all open ones)")] = None,
    on: On = None,
) -> None:
    """Record a promise to pay (还款承诺): a specific amount by a specific date."""
    from huikuan.ledger import records

    ids = id_list(invoices)
    money, day, promised = parse_amount(amount), parse_day(on, "--on"), parse_day(by, "--by")
    record(lambda s: records.record_promise(s, customer_id, amount=money, by=promised, on=day, invoices=ids))
    out.print(f"promise of {money} by {promised} recorded for {customer_id}", markup=False)


@app.command("instalments")
def instalments_command(
    customer_id: CustomerId,
    schedule: Annotated[str, typer.Option(help="the instalments as DATE=AMOUNT joined by ';', e.g. '2026-12-15=5000;2027-01-15=5000'")],
    invoices: Annotated[Optional[str], typer.Option(help="invoice ids joined by ';' (default: all open ones)")] = None,
    note: Annotated[Optional[str], typer.Option(help="what was agreed")] = None,
    on: On = None,
) -> None:
    """Agree an instalment plan (分期付款): the ladder waits while every instalment is paid on time."""
    from huikuan.ledger import records

    parts = []
    for item in (p.strip() for p in schedule.split(";") if p.strip()):
        due, sep, amount = item.partition("=")
        if not sep:
            raise fail(f"--schedule item {item!r} is not DATE=AMOUNT")
        parts.append((parse_day(due.strip(), "--schedule"), parse_amount(amount.strip())))
    ids = id_list(invoices)
    day = parse_day(on, "--on")
    record(lambda s: records.record_instalment_plan(s, customer_id, instalments=parts, on=day, invoices=ids, note=note))
    out.print(f"instalment plan of {len(parts)} instalment(s) recorded for {customer_id}", markup=False)


@dispute_app.command("open")
def dispute_open(invoice_id: InvoiceId, reason: Annotated[str, typer.Option(help="what the customer objects to")], on: On = None) -> None:
    """Open a dispute: dunning on the invoice pauses until it is resolved."""
    from huikuan.ledger import records

    record(lambda s: records.open_dispute(s, invoice_id, reason=reason, on=parse_day(on, "--on")))
    out.print(f"dispute opened on {invoice_id}", markup=False)


@dispute_app.command("resolve")
def dispute_resolve(invoice_id: InvoiceId, resolution: Annotated[Optional[str], typer.Option(help="how it was settled")] = None, on: On = None) -> None:
    """Resolve the invoice's open dispute; its steps resume."""
    from huikuan.ledger import records

    record(lambda s: records.resolve_dispute(s, invoice_id, on=parse_day(on, "--on"), resolution=resolution))
    out.print(f"dispute on {invoice_id} resolved", markup=False)


@statement_app.command("confirm")
def statement_confirm(
    customer_id: CustomerId,
    month: Annotated[str, typer.Option(metavar=MONTH, help="the billing month, YYYY-MM")],
    invoice_title: Annotated[str, typer.Option(help="the invoice title (发票抬头)")],
    tax_id: Annotated[str, typer.Option(help="the tax id (税号)")],
    address: Annotated[Optional[str], typer.Option(help="address and phone for the invoice")] = None,
    bank: Annotated[Optional[str], typer.Option(help="bank and account for the invoice")] = None,
    on: On = None,
) -> None:
    """Record the customer's confirmation of a statement with its invoicing info."""
    from huikuan.ledger import records

    month = parse_month(month)
    day = parse_day(on, "--on")
    record(lambda s: records.confirm_statement(s, customer_id, month=month, invoice_title=invoice_title, tax_id=tax_id, on=day, address=address, bank=bank))
    out.print(f"statement {month} of {customer_id} confirmed", markup=False)


@statement_app.command("invoiced")
def statement_invoiced(
    customer_id: CustomerId,
    month: Annotated[str, typer.Option(metavar=MONTH, help="the billing month, YYYY-MM")],
    invoice: Annotated[Optional[str], typer.Option(help="the invoice issued for it, if already imported")] = None,
    tracking_no: Annotated[Optional[str], typer.Option(help="the mailing's tracking number (快递单号)")] = None,
    on: On = None,
) -> None:
    """Finance issued the confirmed statement's invoice; with a tracking number the customer is told."""
    from huikuan.ledger import records

    month = parse_month(month)
    day = parse_day(on, "--on")
    record(lambda s: records.record_invoice_issued(s, customer_id, month=month, on=day, invoice_id=invoice, tracking_no=tracking_no))
    out.print(f"statement {month} of {customer_id} invoiced" + (f", mailed under {tracking_no}" if tracking_no else ""), markup=False)


@app.command("payment")
def payment_command(
    payment_id: Annotated[str, typer.Argument(help="the payment's id (e.g. the bank's reference): given again with the same details, nothing new is recorded")],
    customer_id: CustomerId,
    amount: Annotated[str, typer.Option(help="the amount received")],
    invoice: Annotated[Optional[str], typer.Option(help="the invoice it pays (default: the oldest open ones first)")] = None,
    on: On = None,
) -> None:
    """Record a payment received; it is applied at once and changes what the policy does next."""
    from huikuan.ledger import records

    money, day = parse_amount(amount), parse_day(on, "--on")
    applied: list = []
    record(lambda s: applied.extend(records.record_payment(s, payment_id, customer_id, amount=money, received_on=day, invoice_id=invoice)))
    out.print(f"payment {payment_id} of {money} applied: " + ", ".join(f"{i} {a}" for i, a in applied), markup=False)
