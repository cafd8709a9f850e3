"""Benchmark: import N invoice rows (and their customers) into a fresh ledger.

    python -m bench.import_bench [--invoices 300000] [--customers 100000] [--database-url URL]

Prints rows per second for the invoices file, the whole time, and the peak
memory (resident set size) of the importing process. The import runs in a
child process so that its peak memory is its own. Figures go to stdout and,
with --json, to a file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def write_files(directory: Path, customers: int, invoices: int, seed: int = 1) -> tuple[Path, Path]:
    rng = random.Random(seed)
    customer_file = directory / "customers.csv"
    with customer_file.open("w", encoding="utf-8") as out:
        out.write("customer_id,name,email,phone,contact_name,segment,payment_terms_days\n")
        for n in range(customers):
            out.write(f"C{n:07d},客户{n}有限公司,c{n}@example.cn,139{n:08d},联系人{n % 100},ordinary,30\n")
    invoice_file = directory / "invoices.csv"
    start = dt.date(2026, 1, 1)
    with invoice_file.open("w", encoding="utf-8") as out:
        out.write("invoice_id,customer_id,issued_on,due_on,amount\n")
        for n in range(invoices):
            issued = start + dt.timedelta(days=rng.randrange(300))
            cents = rng.randrange(10_000, 50_000_000)
            out.write(f"INV{n:08d},C{rng.randrange(customers):07d},{issued},{issued + dt.timedelta(days=30)},{cents // 100}.{cents % 100:02d}\n")
    return customer_file, invoice_file


def run_import(url: str, customers: Path, invoices: Path) -> dict:
    """In this (child) process: import both files, return the timings."""
    from huikuan.db import make_engine, session_scope
    from huikuan.importer import import_files
    from huikuan.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    with session_scope(engine) as session:
        import_files(session, {"customers": customers})
    customers_done = time.perf_counter()
    with session_scope(engine) as session:
        summary = import_files(session, {"invoices": invoices})
    invoices_done = time.perf_counter()
    with session_scope(engine) as session:
        again = import_files(session, {"invoices": invoices})
    reimport_done = time.perf_counter()
    return {
        "invoices_created": summary.created["invoices"],
        "customers_seconds": round(customers_done - started, 2),
        "invoices_seconds": round(invoices_done - customers_done, 2),
        "reimport_unchanged": again.unchanged["invoices"],
        "reimport_seconds": round(reimport_done - invoices_done, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=300_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary directory")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_import(*args.child[:1], Path(args.child[1]), Path(args.child[2]))))
        return
    with tempfile.TemporaryDirectory(prefix="huikuan-bench-") as tmp:
        directory = Path(tmp)
        customers, invoices = write_files(directory, args.customers, args.invoices)
        url = args.database_url or f"sqlite:///{directory / 'ledger.db'}"
        child = subprocess.run(
            [sys.executable, "-m", "bench.import_bench", "--child", url, str(customers), str(invoices)],
            check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent, env=os.environ,
        )
        figures = json.loads(child.stdout.strip().splitlines()[-1])
    figures.update(
        database="sqlite" if url.startswith("sqlite") else url.split(":")[0],
        invoices=args.invoices,
        customers=args.customers,
        invoice_rows_per_second=round(args.invoices / figures["invoices_seconds"]),
        cpus=os.cpu_count(),
    )
    print(f"import of {args.invoices:,} invoice rows ({args.customers:,} customers) on {figures['database']}:")
    print(f"  customers file:   {figures['customers_seconds']:8.2f} s")
    print(f"  invoices file:    {figures['invoices_seconds']:8.2f} s  = {figures['invoice_rows_per_second']:,} rows/s")
    print(f"  re-import (no-op):{figures['reimport_seconds']:8.2f} s  ({figures['reimport_unchanged']:,} unchanged)")
    print(f"  peak memory:      {figures['peak_rss_mib']:8.1f} MiB (RSS of the importing process)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
