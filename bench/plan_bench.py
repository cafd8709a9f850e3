"""Benchmark: ``plan`` over a whole ledger, against merely reading it.

    python -m bench.plan_bench [--customers 100000] [--invoices 300000] [--as-of 2026-11-23]
                               [--ledger PATH] [--json PATH] [--repeat N]

Builds a SQLite ledger of ``--customers`` customers with ``--invoices`` open
invoices through the real importer (customers, invoices, partial payments on
about a quarter of the invoices, delivery charges for the statement cycle),
then records a few disputes and promises to pay through ``huikuan.ledger.records``.
With ``--ledger PATH`` the ledger is kept there, and reused as is when the file
already exists (the sizes given are then ignored: the figures count what is in it).

Then, in a child process so that its peak memory is its own:

the floor, the same rows read through plain ``sqlite3`` with no types;
(a) the time to merely read the rows into facts (``load_facts``, counting
    customers and invoices) and its ratio to the floor, (b) the time of
``iter_plan(session, as_of, handbook)``, consumed one action at a time as the
CLI writes them, and its ratio to the floor, (b') the same plan written as the
CSV ``huikuan plan`` writes to stdout (to ``/dev/null``), (c) plan over (a), the engine's
overhead over reading, (d) the number of actions, (e) the peak resident set
size of that process; Python's floor (``object_floor``: the bare read's customers
and invoices made into facts, and as many actions made as the plan has, with
no rule applied: what any engine in Python pays before its first rule); and
the load average at the start and at the end.

Figures go to stdout and, with ``--json``, to a file.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from bench.memory import peak_rss_mib

ROOT = Path(__file__).resolve().parent.parent
AS_OF = dt.date(2026, 11, 23)
FIRST_ISSUE = dt.date(2026, 1, 1)

SEGMENTS = (("ordinary", 70), ("key", 10), ("high_risk", 10), ("small", 10))
SETTLEMENTS = (("monthly_statement", 60), ("per_invoice", 30), ("per_receipt", 10))
COUNTRIES = (("CN", 90), ("US", 5), ("DE", 5))
TERMS = ((30, 60), (45, 20), (60, 15), (0, 5))


def _pick(rng: random.Random, weighted) -> object:
    values, weights = zip(*weighted)
    return rng.choices(values, weights)[0]


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def write_files(directory: Path, customers: int, invoices: int, as_of: dt.date, seed: int = 1) -> dict[str, Path]:
    """The import files: customers, open invoices, partial payments, delivery charges."""
    rng = random.Random(seed)
    files = {kind: directory / f"{kind}.csv" for kind in ("customers", "invoices", "payments", "charges")}
    profile = []
    with files["customers"].open("w", encoding="utf-8") as out:
        out.write("customer_id,name,email,phone,contact_name,country,settlement,payment_terms_days,segment\n")
        for n in range(customers):
            segment, settlement, country, terms = _pick(rng, SEGMENTS), _pick(rng, SETTLEMENTS), _pick(rng, COUNTRIES), _pick(rng, TERMS)
            profile.append((settlement, terms))
            out.write(f"C{n:07d},客户{n}有限公司,c{n}@example.cn,139{n:08d},联系人{n % 100},{country},{settlement},{terms},{segment}\n")
    span = (as_of - FIRST_ISSUE).days  # every invoice is issued before as_of
    with files["invoices"].open("w", encoding="utf-8") as inv, files["payments"].open("w", encoding="utf-8") as pay:
        inv.write("invoice_id,customer_id,issued_on,due_on,amount\n")
        pay.write("payment_id,customer_id,received_on,amount,invoice_id\n")
        for n in range(invoices):
            customer = rng.randrange(customers)
            issued = FIRST_ISSUE + dt.timedelta(days=rng.randrange(span))
            cents = rng.randrange(10_000, 50_000_000)
            inv.write(f"INV{n:08d},C{customer:07d},{issued},{issued + dt.timedelta(days=profile[customer][1])},{_money(cents)}\n")
            if rng.random() < 0.25:  # a partial payment: 10-90% of the amount, the rest keeps aging
                received = issued + dt.timedelta(days=rng.randrange((as_of - issued).days))
                paid = cents * rng.randrange(10, 91) // 100
                pay.write(f"P{n:08d},C{customer:07d},{received},{_money(paid)},INV{n:08d}\n")
    with files["charges"].open("w", encoding="utf-8") as out:
        out.write("charge_id,customer_id,delivered_on,amount,receipt_received_on\n")
        month_starts = [dt.date(as_of.year, as_of.month, 1) - dt.timedelta(days=k) for k in (1, 32)]
        for n, (settlement, _terms) in enumerate(profile):
            if settlement == "per_invoice" or rng.random() < 0.5:
                continue
            for k, last in enumerate(month_starts):  # a delivery in each of the two months before as_of's
                delivered = last.replace(day=rng.randint(1, last.day))
                receipt = delivered + dt.timedelta(days=rng.randrange(1, 20)) if settlement == "per_receipt" and rng.random() < 0.7 else ""
                out.write(f"CH{n:07d}-{k},C{n:07d},{delivered},{_money(rng.randrange(10_000, 5_000_000))},{receipt}\n")
    return files


def build_ledger(url: str, files: dict[str, Path], as_of: dt.date, seed: int = 1) -> dict:
    """In a child process: import the files, then record disputes on ~1% of the invoices and promises for ~1% of the customers."""
    from sqlalchemy import func, select

    from huikuan.ledger.db import make_engine, session_scope
    from huikuan.ledger.importer import import_files
    from huikuan.ledger.migrate import upgrade
    from huikuan.ledger.records import LedgerError, open_amounts, open_dispute, record_promise, resolve_dispute
    from models.ledger import Customer, Invoice

    rng = random.Random(seed + 1)
    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    with session_scope(engine) as session:
        import_files(session, {"customers": files["customers"]})
    with session_scope(engine) as session:
        summary = import_files(session, {k: files[k] for k in ("invoices", "payments", "charges")})
    imported = time.perf_counter()
    disputes = promises = 0
    with session_scope(engine) as session:
        invoice_count = session.scalar(select(func.count()).select_from(Invoice))
        for invoice_id, issued_on in session.execute(
            select(Invoice.invoice_id, Invoice.issued_on).where(
                Invoice.invoice_id.in_([f"INV{n:08d}" for n in rng.sample(range(invoice_count), invoice_count // 100)])
            )
        ):
            opened = issued_on + dt.timedelta(days=rng.randrange(max(1, (as_of - issued_on).days)))
            open_dispute(session, invoice_id, reason="数量不符 quantity disputed", on=opened)
            if rng.random() < 0.5:
                resolve_dispute(session, invoice_id, on=opened + dt.timedelta(days=rng.randrange(max(1, (as_of - opened).days + 1))), resolution="credit note")
            disputes += 1
        customer_count = session.scalar(select(func.count()).select_from(Customer))
        for n in rng.sample(range(customer_count), customer_count // 100):
            customer_id = f"C{n:07d}"
            made_on = as_of - dt.timedelta(days=rng.randrange(1, 30))
            owed = sum(open_amounts(session, customer_id, made_on).values(), Decimal("0.00"))
            if owed <= 0:
                continue
            amount = (owed * Decimal(rng.randrange(20, 101)) / 100).quantize(Decimal("0.01"))
            try:
                record_promise(session, customer_id, amount=max(amount, Decimal("0.01")), by=made_on + dt.timedelta(days=rng.randrange(0, 30)), on=made_on)
            except LedgerError:
                continue
            promises += 1
    done = time.perf_counter()
    return {
        "invoices_created": summary.created["invoices"],
        "payments_created": summary.created["payments"],
        "charges_created": summary.created["charges"],
        "disputes": disputes,
        "promises": promises,
        "import_seconds": round(imported - started, 2),
        "records_seconds": round(done - imported, 2),
    }


BARE_READS = (  # the rows load_facts reads, as the database gives them: no types, no objects
    "SELECT customer_id, segment, settlement, status, locked_on, country, lock_invoices, standing_since, standing_invoices FROM customers",
    "SELECT i.customer_id, i.invoice_id, i.issued_on, i.due_on, i.amount, s.month FROM invoices i LEFT JOIN statements s ON s.id = i.statement_id",
    "SELECT a.invoice_id, p.received_on, a.amount FROM allocations a JOIN payments p ON p.payment_id = a.payment_id",
    "SELECT d.invoice_id, d.opened_on, d.resolved_on FROM disputes d",
    "SELECT id, customer_id, made_on, due_on, amount FROM promises",
    "SELECT promise_id, invoice_id FROM promise_invoices",
    "SELECT customer_id, delivered_on, receipt_received_on FROM charges",
    "SELECT customer_id, month, prepared_on, reviewed_on, sent_on, confirmed_on, invoiced_on, mailed_on FROM statements",
    "SELECT customer_id, event_key, taken_on FROM events_taken",
)


def bare_read(path: str) -> float:
    """The floor of reading: every row ``load_facts`` reads, fetched through plain ``sqlite3``, in seconds."""
    import sqlite3

    started = time.perf_counter()
    with sqlite3.connect(path) as connection:
        for query in BARE_READS:
            for _row in connection.execute(query):
                pass
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def object_floor(path: str, actions: int) -> float:
    """The floor of Python: the bare read's customers and invoices made into the engine's facts, and ``actions`` actions made, no rule applied, in seconds.

    Each invoice row becomes an ``InvoiceFacts`` (its dates parsed once per distinct text, its
    cents a ``Decimal``), each customer row a ``CustomerFacts`` holding its invoices; then
    ``actions`` ``Action``s are made, each with one ``Reason`` naming an invoice. Payments,
    disputes, statements and the rest are left out: whatever the engine does costs more.
    """
    import sqlite3

    from models.engine import Action, CustomerFacts, InvoiceFacts
    from models.enums import CustomerStatus, Segment, Settlement
    from models.texts import Reason

    started = time.perf_counter()
    dates: dict[str, dt.date] = {}

    def date(text: str) -> dt.date:
        found = dates.get(text)
        if found is None:
            found = dates[text] = dt.date.fromisoformat(text)
        return found

    by_customer: dict[str, list] = {}
    with sqlite3.connect(path) as connection:
        for customer_id, invoice_id, issued_on, due_on, cents in connection.execute(
            "SELECT customer_id, invoice_id, issued_on, due_on, amount FROM invoices ORDER BY customer_id, due_on, invoice_id"
        ):
            by_customer.setdefault(customer_id, []).append(InvoiceFacts(invoice_id, date(issued_on), date(due_on), Decimal(cents).scaleb(-2)))
        customers = [
            CustomerFacts(customer_id, Segment(segment), Settlement(settlement), CustomerStatus(status), None, tuple(by_customer.get(customer_id, ())))
            for customer_id, segment, settlement, status in connection.execute("SELECT customer_id, segment, settlement, status FROM customers")
        ]
    connection.close()
    day, made = AS_OF, 0
    for facts in customers:
        for invoice in facts.invoices:
            if made == actions:
                break
            reason = Reason.written("invoice_age", f"invoice {invoice.invoice_id} is overdue", invoice=invoice.invoice_id, age=None, step=None)
            Action(day, facts.customer_id, "follow_up", (invoice.invoice_id,), "email", "collector", False, (reason,), ("follow_up",))
            made += 1
    return time.perf_counter() - started


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure(url: str, as_of: dt.date, repeat: int = 1) -> dict:
    """In a child process: (a) read the ledger into facts, (b) plan, beside the bare read; best of ``repeat``."""
    import warnings

    from sqlalchemy.orm import Session

    from huikuan.ledger.db import make_engine
    from huikuan.ledger.facts import load_facts
    from huikuan.reports.planning import csv_rows, iter_plan
    from models.calendar import CalendarFallbackWarning
    from models.policy import load_policy

    warnings.simplefilter("ignore", CalendarFallbackWarning)
    engine = make_engine(url)
    policy = load_policy("handbook")
    read_times, plan_times, bare_times, csv_times = [], [], [], []
    customers = invoices = actions = 0
    by_action: Counter = Counter()
    with_actions: set[str] = set()
    load = load_average()
    for _ in range(repeat):
        bare_times.append(bare_read(url.removeprefix("sqlite:///")))
        with Session(engine) as session:
            started = time.perf_counter()
            customers = invoices = 0
            for facts, _country in load_facts(session):
                customers += 1
                invoices += len(facts.invoices)
            read_times.append(time.perf_counter() - started)
        with Session(engine) as session:
            started = time.perf_counter()
            actions, by_action, with_actions = 0, Counter(), set()
            for action in iter_plan(session, as_of, policy):  # as the CLI writes them: one at a time
                actions += 1
                by_action[action.action] += 1
                with_actions.add(action.customer_id)
            plan_times.append(time.perf_counter() - started)
        with Session(engine) as session, open(os.devnull, "w", encoding="utf-8") as sink:
            started = time.perf_counter()  # as `huikuan plan` writes its CSV to stdout
            csv.writer(sink, lineterminator="\n").writerows(csv_rows(iter_plan(session, as_of, policy)))
            csv_times.append(time.perf_counter() - started)
    read_seconds, plan_seconds, bare_seconds, csv_seconds = min(read_times), min(plan_times), min(bare_times), min(csv_times)
    return {
        "customers": customers,
        "invoices": invoices,
        "bare_read_seconds": round(bare_seconds, 2),
        "bare_read_unrounded": bare_seconds,  # for the ratios worked out later (a small ledger's read rounds to 0.00)
        "read_seconds": round(read_seconds, 2),
        "read_over_bare": round(read_seconds / bare_seconds, 2),
        "plan_seconds": round(plan_seconds, 2),
        "plan_over_read": round(plan_seconds / read_seconds, 2),
        "plan_over_bare": round(plan_seconds / bare_seconds, 2),
        "csv_seconds": round(csv_seconds, 2),
        "csv_over_bare": round(csv_seconds / bare_seconds, 2),
        "load_average_start": load,
        "load_average_end": load_average(),
        "actions": actions,
        "customers_with_actions": len(with_actions),
        "actions_by_kind": dict(by_action.most_common()),
        "read_runs": [round(t, 2) for t in read_times],
        "plan_runs": [round(t, 2) for t in plan_times],
        "peak_rss_mib": peak_rss_mib(),  # this process image's own (bench.memory)
    }


def _child(*args: str) -> dict:
    """Run this module with ``args`` in a fresh interpreter; its last stdout line is JSON."""
    child = subprocess.run([sys.executable, "-m", "bench.plan_bench", *args], check=False, capture_output=True, text=True, cwd=ROOT, env=os.environ)
    if child.returncode:
        sys.stderr.write(child.stderr)
        raise SystemExit(f"child {' '.join(args[:2])} failed with status {child.returncode}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=300_000)
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=AS_OF, help=f"the plan's day (default {AS_OF})")
    parser.add_argument("--ledger", type=Path, help="SQLite file: reused when it exists, else built there and kept")
    parser.add_argument("--repeat", type=int, default=1, help="read and plan this many times; the best time counts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "build":
            _url, files, as_of = args.child[1], json.loads(args.child[2]), dt.date.fromisoformat(args.child[3])
            print(json.dumps(build_ledger(_url, {k: Path(v) for k, v in files.items()}, as_of, int(args.child[4]))))
        elif args.child[0] == "floor":  # in a process of its own: it holds every customer's facts at once, which plan never does
            path, actions, repeat = args.child[1].removeprefix("sqlite:///"), int(args.child[2]), int(args.child[3])
            gc.disable()  # a floor: no collector's passes over the objects it keeps
            print(json.dumps({"object_floor_seconds": min(object_floor(path, actions) for _ in range(repeat))}))
        else:
            print(json.dumps(measure(args.child[1], dt.date.fromisoformat(args.child[2]), int(args.child[3]))))
        return

    figures: dict = {"as_of": args.as_of.isoformat(), "policy": "handbook", "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="huikuan-plan-bench-") as tmp:
        ledger = args.ledger.resolve() if args.ledger else Path(tmp) / "ledger.db"
        url = f"sqlite:///{ledger}"
        if ledger.exists():
            figures["ledger"] = f"reused {ledger}"
        else:
            started = time.perf_counter()
            files = write_files(Path(tmp), args.customers, args.invoices, args.as_of, args.seed)
            figures["files_seconds"] = round(time.perf_counter() - started, 2)
            figures["build"] = _child("--child", "build", url, json.dumps({k: str(v) for k, v in files.items()}), args.as_of.isoformat(), str(args.seed))
            figures["ledger"] = str(ledger) if args.ledger else "temporary"
        figures["ledger_mib"] = round(ledger.stat().st_size / 2**20, 1)
        figures.update(_child("--child", "measure", url, args.as_of.isoformat(), str(args.repeat)))
        floor = _child("--child", "floor", url, str(figures["actions"]), str(args.repeat))["object_floor_seconds"]
        figures["object_floor_seconds"], figures["object_floor_over_bare"] = round(floor, 3), round(floor / figures["bare_read_unrounded"], 2)

    print(
        f"plan --as-of {figures['as_of']} --policy handbook over {figures['customers']:,} customers, {figures['invoices']:,} invoices (SQLite, {figures['ledger_mib']} MiB):"
    )
    if "build" not in figures:
        print(f"  ledger:            {figures['ledger']}")
    else:
        build = figures["build"]
        print(
            f"  ledger built:      {build['import_seconds']:8.2f} s import ({build['payments_created']:,} partial payments, {build['charges_created']:,} charges)"
            f" + {build['records_seconds']:.2f} s for {build['disputes']:,} disputes and {build['promises']:,} promises"
        )
    print(f"  floor, bare read:  {figures['bare_read_seconds']:8.2f} s  (the same rows through plain sqlite3, no types)")
    print(f"  (a) read facts:    {figures['read_seconds']:8.2f} s  = {figures['read_over_bare']:.2f} x the floor (load_facts, every customer and invoice)")
    print(f"  (b) plan:          {figures['plan_seconds']:8.2f} s  = {figures['plan_over_bare']:.2f} x the floor")
    print(f"  (b') as CSV:       {figures['csv_seconds']:8.2f} s  = {figures['csv_over_bare']:.2f} x the floor (the CSV `huikuan plan` writes, to /dev/null)")
    print(f"  (c) plan / read:   {figures['plan_over_read']:8.2f} x  (the engine's overhead over reading)")
    print(
        f"  Python's floor:    {figures['object_floor_seconds']:8.2f} s  = {figures['object_floor_over_bare']:.2f} x the floor"
        " (the bare read's customers and invoices made into facts and as many actions made, no rule applied)"
    )
    print(f"  (d) actions:       {figures['actions']:8,}  for {figures['customers_with_actions']:,} customers")
    print(f"  (e) peak memory:   {figures['peak_rss_mib']:8.1f} MiB (RSS of the measuring process)")
    kinds = ", ".join(f"{k} {v:,}" for k, v in figures["actions_by_kind"].items())
    print(f"      by action:     {kinds}")
    print(
        f"  load average:      {' '.join(map(str, figures['load_average_start']))} at the start, {' '.join(map(str, figures['load_average_end']))} at the end"
        f" ({figures['cpus']} cpus)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
