"""How the CLI shows the ledger to a person (rich tables): every value from the ledger ``escape``d, so rich shows its markup as typed."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from huikuan.ledger import account_state
from huikuan.ledger.importer import KIND_ORDER, ImportSummary
from huikuan.reports.portfolio import CustomerFile, Portfolio
from models.aging import aging_bucket
from models.money import format_money


def portfolio_view(p: Portfolio) -> Group:
    head = Table.grid(padding=(0, 2))
    head.add_row("[bold]Customers[/]", str(p.customers), "by segment: " + ", ".join(f"{k} {v}" for k, v in sorted(p.by_segment.items())))
    head.add_row("", "", "by status: " + ", ".join(f"{k} {v}" for k, v in sorted(p.by_status.items())))
    currencies = sorted(p.by_bucket)
    aging = Table(title=f"Open amounts by age on {p.as_of} (账龄)", title_justify="left", box=box.SIMPLE_HEAD)
    aging.add_column("days overdue", no_wrap=True)
    for currency in currencies:
        aging.add_column(currency, justify="right", no_wrap=True)
        aging.add_column("share", justify="right", no_wrap=True)
    aging.add_column("invoices", justify="right")
    for label in p.bucket_labels:
        cells = []
        for currency in currencies:
            amount, total = p.by_bucket[currency][label], p.total(currency)
            cells += [format_money(amount, currency), f"{amount / total:.0%}" if total else "-"]
        aging.add_row(label, *cells, str(p.invoices_by_bucket[label]))
    totals = []
    for currency in currencies:
        totals += [format_money(p.total(currency), currency), "100%"]
    aging.add_row("[bold]total[/]", *totals, str(sum(p.invoices_by_bucket.values())), style="bold")
    oldest = Table(title="Oldest debts", title_justify="left", box=box.SIMPLE_HEAD)
    oldest.add_column("customer", no_wrap=True, min_width=8)
    oldest.add_column("name", overflow="fold", min_width=10)  # whole: a long name wraps in a narrow terminal, never cut off
    oldest.add_column("invoice", no_wrap=True, min_width=15)
    oldest.add_column("due", no_wrap=True, min_width=10)
    oldest.add_column("days", justify="right", no_wrap=True)
    oldest.add_column("open", justify="right", no_wrap=True, min_width=12)
    for item in p.oldest:
        oldest.add_row(
            escape(item.customer_id),
            escape(item.customer_name),
            escape(item.invoice_id),
            str(item.due_on),
            str(item.days_overdue),
            format_money(item.open_amount, item.currency),
        )
    return Group(head, aging, oldest)


def customer_view(f: CustomerFile) -> Group:
    c = f.customer
    contact = c.primary_contact
    who = (
        escape(f"{contact.name}" + (f" ({contact.title})" if contact.title else "")) + f", {_address(f, contact.email)}, {escape(str(contact.phone))}"
        if contact
        else "no contact"
    )
    others = [_address(f, o.email) for o in c.contacts if o is not contact and f.bounced_on(o.email)]
    facts = Table.grid(padding=(0, 2))
    shipping = f.shipping or account_state.shipping_answer(c)
    lock = f"[bold red]locked since {c.locked_on}[/]" + (f" for {c.lock_invoices.replace(';', ', ')}" if c.lock_invoices else "") if c.locked_on else "open"
    standing = account_state.standing(c).value + (f" since {c.standing_since}" if c.standing_since else "")
    for label, value in (
        ("shipping lock", lock),
        ("credit standing", standing),
        ("shipping", escape(shipping.why.removeprefix(f"{c.customer_id} {c.name} "))),
        ("segment", c.segment.value),
        ("settlement", c.settlement.value),
        ("terms", f"{c.payment_terms_days} days"),
        ("credit limit", format_money(c.credit_limit, c.currency) if c.credit_limit is not None else "none"),
        ("collector", escape(c.collector or "none")),
        ("contact", who),
        *((("other contacts", "; ".join(others)),) if others else ()),
        (
            "balance",
            f"[bold]{format_money(f.balance, c.currency)}[/] on {f.as_of}"
            + (f"; unapplied credit {format_money(f.credit, c.currency)}, net {format_money(f.net, c.currency)}" if f.credit else ""),
        ),
    ):
        facts.add_row(f"[dim]{label}[/]", value)
    invoices = Table(title="Open invoices", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("invoice", "due", "days", "age", "amount", "open"):
        invoices.add_column(
            name, justify="right" if name in ("amount", "open", "days") else "left", no_wrap=True, min_width={"invoice": 15, "due": 10}.get(name)
        )
    invoices.add_column("dispute", overflow="fold", min_width=12)
    for invoice, amount, days, dispute in f.invoices:
        invoices.add_row(
            escape(invoice.invoice_id),
            str(invoice.due_on),
            str(max(days, 0)),
            aging_bucket(days),
            format_money(invoice.amount, invoice.currency),
            format_money(amount, invoice.currency),
            escape(f"since {dispute.opened_on}: {dispute.reason}") if dispute else "",
        )
    promises = Table(title="Promises to pay (还款承诺)", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("made", "amount", "by", "invoices"):
        promises.add_column(name)
    for promise in f.promises:
        promises.add_row(
            str(promise.made_on),
            format_money(promise.amount, c.currency),
            str(promise.due_on),
            escape(";".join(sorted(pi.invoice_id for pi in promise.invoices))),
        )
    contacts = Table(title="Recent contacts", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("on", "channel", "result", "excuse"):
        contacts.add_column(name, no_wrap=True)
    contacts.add_column("note", overflow="fold")
    for entry in f.contacts:
        excuse = f"{entry.excuse.label} {entry.excuse.value}" if entry.excuse else ""
        contacts.add_row(str(entry.contacted_on), entry.channel.value, entry.result.value, excuse, escape(entry.note or ""))
    parts = [Panel(facts, title=escape(f"{c.customer_id} {c.name}"), title_align="left"), invoices]
    parts += [promises] if f.promises else []
    parts += [contacts] if f.contacts else ["[dim]no contact recorded yet[/]"]
    if f.changes:
        history = Table(title="Account state history (锁定、信用状态、信用额度)", title_justify="left", box=box.SIMPLE_HEAD)
        for name in ("on", "facet", "from", "to", "cause"):
            history.add_column(name, no_wrap=name != "cause", overflow="fold")
        for change in f.changes:
            history.add_row(str(change.changed_on), change.facet, escape(change.old_value or "-"), escape(change.new_value or "-"), escape(change.cause))
        parts.append(history)
    return Group(*parts)


def _address(f: CustomerFile, address: str | None) -> str:
    """An email address, and when it bounced: marked since which day (no customer email goes to it, huikuan.outbox.bounces)."""
    bounced = f.bounced_on(address)
    return escape(str(address)) + (f" [bold red](bounced since {bounced}: not mailed)[/]" if bounced else "")


def import_summary_view(summary: ImportSummary) -> Table:
    table = Table(title="Imported", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("file", "new", "updated", "unchanged"):
        table.add_column(name, justify="left" if name == "file" else "right")
    for kind in KIND_ORDER:
        if kind in summary.created or kind in summary.unchanged or kind in summary.updated:
            table.add_row(kind, str(summary.created[kind]), str(summary.updated[kind]), str(summary.unchanged[kind]))
    table.caption = f"{summary.allocations} payment allocation(s) written"
    return table


def explain_view(customer_id: str, day, policy_name: str, explanations) -> Table:
    table = Table(title=escape(f"{customer_id} on {day}, policy {policy_name}"), title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("step", no_wrap=True)
    table.add_column("for", no_wrap=True)
    table.add_column("today", no_wrap=True)
    table.add_column("why", overflow="fold")
    for item in explanations:
        table.add_row(escape(item.step), escape(item.subject), "[bold green]due[/]" if item.fires else "[dim]no[/]", escape(item.why))
    if not explanations:
        table.caption = "no invoices or statements: nothing to evaluate"
    return table


def report_view(report, locale: str) -> Table:
    """A report (``huikuan.reports.builders.Report``) as a terminal table for people: title, headers and our own words in ``locale``."""
    from huikuan.reports.builders import display, headers, numeric_columns, say

    table = Table(title=say(report.title, locale), title_justify="left", box=box.SIMPLE_HEAD)
    for header, numeric in zip(headers(report, locale), numeric_columns(report)):
        table.add_column(escape(header), justify="right" if numeric else "left", overflow="fold")
    for row in report.rows:
        table.add_row(*(escape(display(value, locale)) for value in row))
    return table
