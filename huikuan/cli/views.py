"""How the CLI shows the ledger to a person (rich tables): every value from the ledger ``escape``d, so rich shows its markup as typed."""

from __future__ import annotations

from functools import partial

from rich import box
from rich.console import Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from huikuan.documents.i18n import SOURCE_LOCALE, render
from huikuan.documents.last_contact import CHANNELS, RESULTS
from huikuan.ledger import account_state
from huikuan.ledger.importer import KIND_ORDER, ImportSummary
from huikuan.reports.portfolio import CustomerFile, Portfolio
from models.aging import aging_bucket
from models.money import format_money
from models.texts import N_, Term, Text


def said(text, locale: str) -> str:
    """A text (a ``Text``, a ``Term``, or as written) in ``locale``, escaped for rich: customers' words inside it are shown as typed."""
    return escape(render(text, locale))


# The account's facets (``account_state.LOCK``, ``STANDING``, ``LIMIT``) as its history names them.
FACETS = {"shipping_lock": N_("shipping lock"), "credit_standing": N_("credit standing"), "credit_limit": N_("credit limit")}


def portfolio_view(p: Portfolio, locale: str = SOURCE_LOCALE) -> Group:
    """The portfolio for people, in ``locale``: customers by segment and status, open amounts by age, the oldest debts."""
    say = partial(said, locale=locale)

    def counts(items: dict) -> tuple[str, ...]:  # a list in the locale's way ("a 1, b 2"; "甲 1、乙 2")
        return tuple(f"{render(Term(k), locale)} {v}" for k, v in sorted(items.items()))

    head = Table.grid(padding=(0, 2))
    head.add_row(f"[bold]{say(Text(N_('Customers')))}[/]", str(p.customers), say(Text(N_("by segment: {counts}"), counts=counts(p.by_segment))))
    head.add_row("", "", say(Text(N_("by status: {counts}"), counts=counts(p.by_status))))
    currencies = sorted(p.by_bucket)
    aging = Table(title=say(Text(N_("Open amounts by age on {day}"), day=p.as_of)), title_justify="left", box=box.SIMPLE_HEAD)
    aging.add_column(say(Text(N_("days overdue"))), no_wrap=True)
    for currency in currencies:
        aging.add_column(currency, justify="right", no_wrap=True)
        aging.add_column(say(Text(N_("share"))), justify="right", no_wrap=True)
    aging.add_column(say(Text(N_("invoices"))), justify="right")
    for bucket in p.bucket_labels:
        cells = []
        for currency in currencies:
            amount, total = p.by_bucket[currency][bucket], p.total(currency)
            cells += [format_money(amount, currency, locale), f"{amount / total:.0%}" if total else "-"]
        aging.add_row(say(Text(bucket)), *cells, str(p.invoices_by_bucket[bucket]))
    totals = []
    for currency in currencies:
        totals += [format_money(p.total(currency), currency, locale), "100%"]
    aging.add_row(say(Text(N_("total"))), *totals, str(sum(p.invoices_by_bucket.values())), style="bold")
    oldest = Table(title=say(Text(N_("Oldest debts"))), title_justify="left", box=box.SIMPLE_HEAD)
    oldest.add_column(say(Text(N_("customer id"))), no_wrap=True, min_width=8)
    oldest.add_column(say(Text(N_("name"))), overflow="fold", min_width=10)  # whole: a long name wraps in a narrow terminal, never cut off
    oldest.add_column(say(Text(N_("invoice"))), no_wrap=True, min_width=15)
    oldest.add_column(say(Text(N_("due"))), no_wrap=True, min_width=10)
    oldest.add_column(say(Text(N_("days overdue"))), justify="right", no_wrap=True)
    oldest.add_column(say(Text(N_("open"))), justify="right", no_wrap=True, min_width=12)
    for item in p.oldest:
        oldest.add_row(
            escape(item.customer_id),
            escape(item.customer_name),
            escape(item.invoice_id),
            str(item.due_on),
            str(item.days_overdue),
            format_money(item.open_amount, item.currency, locale),
        )
    return Group(head, aging, oldest)


def customer_view(f: CustomerFile, locale: str = SOURCE_LOCALE) -> Group:
    """One customer for people, in ``locale``: its facts, open invoices, promises, recent contacts and the account's history."""
    say = partial(said, locale=locale)

    def money(amount, currency: str) -> str:
        return format_money(amount, currency, locale)

    c = f.customer
    contact = c.primary_contact
    who = (
        escape(f"{contact.name}" + (f" ({contact.title})" if contact.title else "")) + f", {_address(f, contact.email, locale)}, {escape(str(contact.phone))}"
        if contact
        else say(Text(N_("no contact person")))
    )
    others = [_address(f, o.email, locale) for o in c.contacts if o is not contact and f.bounced_on(o.email)]
    facts = Table.grid(padding=(0, 2))
    shipping = f.shipping or account_state.shipping_answer(c)
    if c.locked_on is None:
        lock = say(Text(N_("not locked")))
    elif c.lock_invoices:
        lock = f"[bold red]{say(Text(N_('locked since {day} for {invoices}'), day=c.locked_on, invoices=tuple(c.lock_invoices.split(';'))))}[/]"
    else:
        lock = f"[bold red]{say(Text(N_('locked since {day}'), day=c.locked_on))}[/]"
    current = Term(account_state.standing(c).value)
    standing = say(Text(N_("{standing} since {day}"), standing=current, day=c.standing_since) if c.standing_since else current)
    none = say(Text(N_("none")))
    balance = f"[bold]{money(f.balance, c.currency)}[/]" + say(Text(N_(" on {day}"), day=f.as_of))
    if f.credit:
        balance += say(Text(N_("; unapplied credit {credit}, net {net}"), credit=money(f.credit, c.currency), net=money(f.net, c.currency)))
    for name, value in (
        (N_("shipping lock"), lock),
        (N_("credit standing"), standing),
        (N_("shipping check"), escape(render(shipping.why, locale).removeprefix(f"{c.customer_id} {c.name}").lstrip())),  # the panel names the customer
        (N_("segment"), say(Term(c.segment.value))),
        (N_("settlement"), say(Term(c.settlement.value))),
        (N_("payment terms"), say(Text(N_("{days} days"), days=c.payment_terms_days))),
        (N_("credit limit"), money(c.credit_limit, c.currency) if c.credit_limit is not None else none),
        (N_("collector"), escape(c.collector) if c.collector else none),
        (N_("contact"), who),
        *(((N_("other contacts"), "; ".join(others)),) if others else ()),
        (N_("balance"), balance),
    ):
        facts.add_row(f"[dim]{say(Text(name))}[/]", value)
    invoices = Table(title=say(Text(N_("Open invoices"))), title_justify="left", box=box.SIMPLE_HEAD)
    for name, right in ((N_("invoice"), False), (N_("due"), False), (N_("days overdue"), True), (N_("age"), False), (N_("amount"), True), (N_("open"), True)):
        invoices.add_column(say(Text(name)), justify="right" if right else "left", no_wrap=True, min_width={"invoice": 15, "due": 10}.get(name))
    invoices.add_column(say(Text(N_("dispute"))), overflow="fold", min_width=12)
    for invoice, amount, days, dispute in f.invoices:
        invoices.add_row(
            escape(invoice.invoice_id),
            str(invoice.due_on),
            str(max(days, 0)),
            say(Text(aging_bucket(days))),
            money(invoice.amount, invoice.currency),
            money(amount, invoice.currency),
            say(Text(N_("since {day}: {reason}"), day=dispute.opened_on, reason=dispute.reason)) if dispute else "",
        )
    promises = Table(title=say(Text(N_("Promises to pay (还款承诺)"))), title_justify="left", box=box.SIMPLE_HEAD)
    for name in (N_("made on"), N_("amount"), N_("to pay by"), N_("invoices")):
        promises.add_column(say(Text(name)))
    for promise in f.promises:
        promises.add_row(
            str(promise.made_on), money(promise.amount, c.currency), str(promise.due_on), escape(";".join(sorted(pi.invoice_id for pi in promise.invoices)))
        )
    contacts = Table(title=say(Text(N_("Recent contacts"))), title_justify="left", box=box.SIMPLE_HEAD)
    for name in (N_("date"), N_("channel"), N_("result"), N_("excuse")):
        contacts.add_column(say(Text(name)), no_wrap=True)
    contacts.add_column(say(Text(N_("note"))), overflow="fold")
    for entry in f.contacts:
        excuse = f"{entry.excuse.label} {entry.excuse.value}" if entry.excuse else ""
        channel, result = say(Text(CHANNELS[entry.channel.value])), say(Text(RESULTS[entry.result.value]))
        contacts.add_row(str(entry.contacted_on), channel, result, excuse, escape(entry.note or ""))
    parts = [Panel(facts, title=escape(f"{c.customer_id} {c.name}"), title_align="left"), invoices]
    parts += [promises] if f.promises else []
    parts += [contacts] if f.contacts else [f"[dim]{say(Text(N_('no contact recorded yet')))}[/]"]
    if f.changes:
        history = Table(title=say(Text(N_("Account state history (锁定、信用状态、信用额度)"))), title_justify="left", box=box.SIMPLE_HEAD)
        for name in (N_("date"), N_("facet"), N_("from"), N_("to"), N_("cause")):
            history.add_column(say(Text(name)), no_wrap=name != "cause", overflow="fold")
        for change in f.changes:
            history.add_row(
                str(change.changed_on),
                say(Text(FACETS.get(change.facet, change.facet))),
                escape(change.old_value or "-"),
                escape(change.new_value or "-"),
                escape(change.cause),
            )
        parts.append(history)
    return Group(*parts)


def _address(f: CustomerFile, address: str | None, locale: str) -> str:
    """An email address, and when it bounced: marked since which day (no customer email goes to it, huikuan.outbox.bounces)."""
    bounced = f.bounced_on(address)
    mark = said(Text(N_("(bounced since {day}: not mailed)"), day=bounced), locale) if bounced else ""
    return escape(str(address)) + (f" [bold red]{mark}[/]" if bounced else "")


# The import files (``importer.KIND_ORDER``) as the summary names them.
IMPORT_FILES = {"customers": N_("customers"), "invoices": N_("invoices"), "payments": N_("payments"), "charges": N_("charges")}


def import_summary_view(summary: ImportSummary, locale: str = SOURCE_LOCALE) -> Table:
    """What an import wrote, file by file, in ``locale``."""
    say = partial(said, locale=locale)

    table = Table(title=say(Text(N_("Imported"))), title_justify="left", box=box.SIMPLE_HEAD)
    for name in (N_("file"), N_("new"), N_("updated"), N_("unchanged")):
        table.add_column(say(Text(name)), justify="left" if name == "file" else "right")
    for kind in KIND_ORDER:
        if kind in summary.created or kind in summary.unchanged or kind in summary.updated:
            table.add_row(say(Text(IMPORT_FILES[kind])), str(summary.created[kind]), str(summary.updated[kind]), str(summary.unchanged[kind]))
    table.caption = say(Text(N_("{count} payment allocation(s) written"), count=summary.allocations))
    return table


def explain_view(customer_id: str, day, policy_name: str, explanations, locale: str = SOURCE_LOCALE) -> Table:
    """Each step of the policy for each invoice and statement (``models.explain``), in ``locale``; the steps by their ids in the policy."""
    say = partial(said, locale=locale)

    title = say(Text(N_("{customer} on {day}, policy {policy}"), customer=customer_id, day=day, policy=policy_name))
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column(say(Text(N_("step"))), no_wrap=True)
    table.add_column(say(Text(N_("for"))), no_wrap=True)
    table.add_column(say(Text(N_("today"))), no_wrap=True)
    table.add_column(say(Text(N_("why"))), overflow="fold")
    due, no = say(Text(N_("fires"))), say(Text(N_("no")))
    for item in explanations:
        table.add_row(escape(item.step), say(item.subject), f"[bold green]{due}[/]" if item.fires else f"[dim]{no}[/]", say(item.why))
    if not explanations:
        table.caption = say(Text(N_("no invoices or statements: nothing to evaluate")))
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
