"""Tasks of cash application: import a bank statement, match a waiting line; each one transaction, each shown as an artifact."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from huikuan.bank.cash import apply_credit, count_waiting, import_statement, line_ref, match_line, waiting_lines
from huikuan.bank.statement_files import HeaderWords
from huikuan.documents.escaping import markdown_text
from huikuan.ledger.context import run_context
from huikuan.ledger.db import session_scope

WAITING_ROWS = 200  # the artifact shows the oldest; `huikuan bank review` shows any number


@task(cache_policy=NO_CACHE, task_run_name="import {path}")
def import_bank_statement(path: str, fmt: str, on: dt.date) -> str:
    """Import the statement (all or nothing, keyed lines: a retry changes nothing); a sentence saying what it did."""
    company = run_context().company
    with session_scope() as session:
        result = import_statement(session, Path(path), fmt=fmt, words=HeaderWords.of(company.bank if company else None), on=on)
    return (
        f"{Path(path).name}: {result.incoming} incoming, {result.outgoing} outgoing ignored; {result.new} new, "
        f"{result.known} imported before; {len(result.applied)} applied, {result.waiting} waiting for finance"
    )


@task(cache_policy=NO_CACHE, task_run_name="match {line} to {customer_id}")
def match_bank_line(line: str, customer_id: str, invoices: list[str], on: dt.date, by: str) -> str:
    """Apply a waiting line to the customer (and invoices) finance names; refused with the ledger's reason."""
    with session_scope() as session:
        result = match_line(session, line, customer_id, invoices=invoices, on=on, by=by)
        applied = ", ".join(f"{invoice_id} {amount}" for invoice_id, amount in result.applied)
        also = f"; {len(result.also_applied)} more line(s) from that account applied" if result.also_applied else ""
        credit = f"; {result.credit} kept as unapplied credit" if result.credit else ""
        return f"bank line {line_ref(result.line)} of {result.line.amount} applied to {customer_id}: {applied}{credit}{also}"


@task(cache_policy=NO_CACHE, task_run_name="apply the credit of {customer_id}")
def apply_unapplied_credit(customer_id: str, invoices: list[str], on: dt.date, by: str) -> str:
    """Apply the customer's unapplied credit to its open invoices, as ``huikuan bank apply-credit`` does; refused with the ledger's reason."""
    with session_scope() as session:
        result = apply_credit(session, customer_id, invoices=invoices, on=on, by=by)
    return f"{result.used} of {customer_id}'s unapplied credit applied: " + ", ".join(f"{i} {a}" for i, a in result.applied) + f"; {result.left} left"


@task(cache_policy=NO_CACHE, task_run_name="lines waiting")
def publish_waiting() -> int:
    """The lines waiting for finance, with their best suggestion, as the table artifact ``bank-lines-waiting``; how many wait."""
    with session_scope() as session:
        waiting = waiting_lines(session, limit=WAITING_ROWS)
        total = count_waiting(session)
        rows = [
            {
                "line": markdown_text(line_ref(item.line)),
                "date": item.line.booked_on.isoformat(),
                "amount": f"{item.line.amount}",
                "payer": markdown_text(item.line.payer),
                "reference": markdown_text(item.line.reference),
                "why it waits": markdown_text(item.line.note),
                "likeliest": markdown_text(f"{s.customer_id} {s.name} ({'; '.join(s.reasons)})") if (s := next(iter(item.suggestions), None)) else "",
            }
            for item in waiting
        ]
    create_table_artifact(
        key="bank-lines-waiting",
        table=rows or [{"line": "none waiting"}],
        description=f"{total} bank line(s) waiting for finance"
        + (f", the oldest {len(rows)} shown" if total > len(rows) else "")
        + ": `huikuan bank review`, then `huikuan bank match` or the match-bank-line form",
    )
    return total
