"""Benchmark: a bank statement of N lines parsed, matched and applied (issue #15).

    python -m bench.bank_bench [--lines 100000] [--apply 10000] [--json FILE]

Prints the lines per second parsed from a GBK CSV export, the lines per second
matched (the pure decision, the book kept current as lines are applied), the
share of incoming lines applied automatically, and how many were applied to a
customer other than the one the generator made them for (the goal: none). Then
``--apply`` lines go through the whole import into a fresh SQLite ledger
(payments recorded by ``huikuan.ledger.records.record_payment``), whose lines per
second are printed too. Goals: >= 50,000 lines/s parsed, >= 85% applied, 0 wrong.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from huikuan.bank.matching import Apply, Book, CustomerFacts, LineFacts, OpenInvoice, decide
from huikuan.bank.statement_files import read_statement
from huikuan.demo.bank_statement import sample_statement, write_bank_csv

START = dt.date(2026, 11, 1)
INVOICES_PER_CUSTOMER = 6


def world(lines: int, seed: int = 3):
    """Customers and open invoices enough for about ``lines`` lines (names alike, some the same: companies of a group)."""
    rng = random.Random(seed)
    customers_needed = max(1, int(lines / (INVOICES_PER_CUSTOMER * 0.85)))
    cities, trades = ("上海", "杭州", "苏州", "南京", "广州", "深圳", "北京", "天津"), ("机械", "贸易", "物流", "电子", "科技", "化工")
    customers, invoices = {}, {}
    for n in range(customers_needed):
        customer_id = f"C{n:06d}"
        customers[customer_id] = (
            f"{rng.choice(cities)}{n:05d}{rng.choice(trades)}（集团）有限公司" if n % 7 == 0 else f"{rng.choice(cities)}{n:05d}{rng.choice(trades)}有限公司"
        )
        invoices[customer_id] = [
            (f"INV{n:06d}{k}", START - dt.timedelta(days=30 * (INVOICES_PER_CUSTOMER - k)), Decimal(rng.randrange(50_000, 5_000_000)) / 100)
            for k in range(INVOICES_PER_CUSTOMER)
        ]
    return customers, invoices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--apply", type=int, default=10_000, help="lines imported end to end into a SQLite ledger (0: none)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    customers, invoices = world(args.lines)
    sample = sample_statement(customers, invoices, start=START)
    with tempfile.TemporaryDirectory() as folder:
        path = write_bank_csv(sample, Path(folder) / "statement.csv")
        started = time.perf_counter()
        statement = read_statement(path)
        parsed = time.perf_counter() - started
    truth = {line.transaction_id: line.paid_by for line in sample}
    book = Book(
        {c: CustomerFacts(c, name) for c, name in customers.items()},
        {c: [OpenInvoice(i, due, amount, None, due - dt.timedelta(days=30)) for i, due, amount in rows] for c, rows in invoices.items()},
    )
    started = time.perf_counter()
    applied = wrong = 0
    for line in statement.lines:
        decision = decide(LineFacts(line.booked_on, line.amount, line.payer, line.payer_account, line.reference), book)
        if isinstance(decision, Apply):
            applied += 1
            wrong += decision.customer_id != truth[line.transaction_id]
            book.paid(decision.customer_id, _paid(book, decision, line.amount))
    matched = time.perf_counter() - started
    incoming = len(statement.lines)
    figures = {
        "lines": len(sample),
        "incoming": incoming,
        "outgoing": statement.outgoing,
        "parsed_lines_per_s": round(len(sample) / parsed),
        "matched_lines_per_s": round(incoming / matched),
        "applied_share": round(applied / incoming, 4),
        "paid_by_customers_share": round(sum(1 for line in sample if line.paid_by) / max(incoming, 1), 4),
        "applied_to_a_wrong_customer": wrong,
    }
    if args.apply:
        figures |= _end_to_end(args.apply)
    for name, value in figures.items():
        print(f"{name:32} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def _paid(book: Book, decision: Apply, amount: Decimal) -> list[tuple[str, Decimal]]:
    """What the ledger would allocate, for the book: whole invoices, or the one invoice paid in part (what the sample's lines do)."""
    if len(decision.invoices) == 1:
        return [(decision.invoices[0], amount)]
    still = {i.invoice_id: i.open for i in book.open_invoices(decision.customer_id)}
    return [(invoice_id, still[invoice_id]) for invoice_id in decision.invoices]


def _end_to_end(lines: int) -> dict:
    """``lines`` lines through `import_statement` into a fresh SQLite ledger: lines/s and the share applied."""
    from huikuan.bank.cash import import_statement
    from huikuan.ledger.db import make_engine, session_scope
    from huikuan.ledger.migrate import upgrade
    from models.ledger import Customer, Invoice

    customers, invoices = world(lines, seed=5)
    sample = sample_statement(customers, invoices, start=START, seed=11)
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'ledger.db'}")
        upgrade(engine)
        with session_scope(engine) as session:
            session.add_all([Customer(customer_id=c, name=name) for c, name in customers.items()])
            session.flush()
            session.add_all(
                [
                    Invoice(invoice_id=i, customer_id=c, issued_on=due - dt.timedelta(days=30), due_on=due, amount=a)
                    for c, rows in invoices.items()
                    for i, due, a in rows
                ]
            )
        path = write_bank_csv(sample, Path(folder) / "statement.csv")
        started = time.perf_counter()
        with session_scope(engine) as session:
            result = import_statement(session, path, on=START + dt.timedelta(days=31))
        elapsed = time.perf_counter() - started
        truth = {line.transaction_id: line.paid_by for line in sample}
        wrong = sum(1 for line in result.applied if line.customer_id != truth[line.transaction_id])
        engine.dispose()
    return {
        "imported_lines": result.incoming,
        "imported_lines_per_s": round(result.incoming / elapsed),
        "imported_applied_share": round(len(result.applied) / result.incoming, 4),
        "imported_to_a_wrong_customer": wrong,
    }


if __name__ == "__main__":
    main()
