"""Benchmark: import N invoice rows (and their customers) into a fresh ledger.

    python -m bench.import_bench [--invoices 300000] [--customers 100000] [--database-url URL]
    python -m bench.import_bench --sizes 10000,100000      # is the import's memory flat with the files' size?

Prints rows per second for the invoices file (and the CPU time it took), the whole time, and the peak
memory (resident set size) of the importing process; on SQLite, beside them,
the floor measured in the same run (the same invoices file read with ``csv``
and inserted with plain ``sqlite3`` ``executemany`` in one transaction, in a
process of its own) and the ratios, of time and of CPU time (which the load
of other processes changes less); and the load average. The import runs in a
child process so that its peak memory is its own. Figures go to stdout and,
with --json, to a file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.memory import peak_rss_mib


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
    from huikuan.ledger.db import make_engine, session_scope
    from huikuan.ledger.importer import import_files
    from huikuan.ledger.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    started = time.perf_counter()
    with session_scope(engine) as session:
        import_files(session, {"customers": customers})
    customers_done, cpu_before = time.perf_counter(), time.process_time()
    with session_scope(engine) as session:
        summary = import_files(session, {"invoices": invoices})
    invoices_done, invoices_cpu = time.perf_counter(), time.process_time() - cpu_before
    with session_scope(engine) as session:
        again = import_files(session, {"invoices": invoices})
    reimport_done = time.perf_counter()
    return {
        "invoices_created": summary.created["invoices"],
        "customers_seconds": round(customers_done - started, 2),
        "invoices_seconds": round(invoices_done - customers_done, 2),
        "invoices_cpu_seconds": round(invoices_cpu, 2),
        "reimport_unchanged": again.unchanged["invoices"],
        "reimport_seconds": round(reimport_done - invoices_done, 2),
        "peak_rss_mib": peak_rss_mib(),
    }


def prepare_floor(url: str, customers: Path) -> dict:
    """In this (child) process: a fresh ledger with the customers, for the floor of the invoices file."""
    from huikuan.ledger.db import make_engine, session_scope
    from huikuan.ledger.importer import import_files
    from huikuan.ledger.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        import_files(session, {"customers": customers})
    return {}


def floor(path: str, invoices: Path) -> dict:
    """In this (child) process: the minimum of the invoices file, read with ``csv`` and inserted by plain ``sqlite3`` ``executemany``.

    One transaction, the rows streamed from the file (no checks, no re-import
    comparison, no allocation): what the database and the CSV module cost.
    """
    import csv
    import sqlite3

    def rows():
        with invoices.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            next(reader)
            for invoice_id, customer_id, issued_on, due_on, amount in reader:
                whole, _dot, cents = amount.partition(".")
                yield invoice_id, customer_id, issued_on, due_on, int(whole) * 100 + int(cents or 0), "CNY"

    started, cpu_before = time.perf_counter(), time.process_time()
    connection = sqlite3.connect(path)
    with connection:
        connection.executemany("INSERT INTO invoices (invoice_id, customer_id, issued_on, due_on, amount, currency) VALUES (?, ?, ?, ?, ?, ?)", rows())
    connection.close()
    return {
        "floor_invoices_seconds": round(time.perf_counter() - started, 2),
        "floor_invoices_cpu_seconds": round(time.process_time() - cpu_before, 2),
        "floor_peak_rss_mib": peak_rss_mib(),
    }


def _child(*args: str) -> dict:
    child = subprocess.run(
        [sys.executable, "-m", "bench.import_bench", "--child", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        env=os.environ,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def by_size(args: argparse.Namespace, sizes: list[int]) -> None:
    """One run of this benchmark per size (in a process of its own), then the peak memory of each and the load average."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="huikuan-bench-") as tmp:
        for size in sizes:
            figures_file = Path(tmp) / f"{size}.json"
            command = [sys.executable, "-m", "bench.import_bench", "--customers", str(size), "--invoices", str(3 * size), "--json", str(figures_file)]
            if args.database_url:
                command += ["--database-url", args.database_url]  # the same database each time: give sizes one at a time to start empty
            subprocess.run(command, check=True, cwd=Path(__file__).resolve().parent.parent, env=os.environ)
            rows.append(json.loads(figures_file.read_text()))
    smallest = rows[0]["peak_rss_mib"]
    print("peak memory by size:")
    for figures in rows:
        over_floor = f", {figures['invoices_over_floor']:.2f} x the floor's time" if figures.get("invoices_over_floor") else ""
        if figures.get("invoices_cpu_over_floor"):
            over_floor += f" ({figures['invoices_cpu_over_floor']:.2f} x its CPU time)"
        print(
            f"  {figures['customers']:>9,} customers, {figures['invoices']:>9,} invoices: {figures['peak_rss_mib']:7.1f} MiB"
            f" ({(figures['peak_rss_mib'] / smallest - 1) * 100:+.0f}% of the smallest){over_floor};"
            f" load average {' '.join(map(str, figures['load_average_end']))}"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=300_000)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a new SQLite file in a temporary directory")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--sizes",
        help="customer counts, comma-separated (e.g. 10000,100000), each with 3 invoices a customer:"
        " one run each, then the peak memory per size and its growth (the import's memory should stay flat)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sizes:
        by_size(args, [int(size) for size in args.sizes.split(",")])
        return
    if args.child:
        if args.child[0] == "prepare-floor":
            print(json.dumps(prepare_floor(args.child[1], Path(args.child[2]))))
        elif args.child[0] == "floor":
            print(json.dumps(floor(args.child[1], Path(args.child[2]))))
        else:
            print(json.dumps(run_import(*args.child[:1], Path(args.child[1]), Path(args.child[2]))))
        return
    load_start = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="huikuan-bench-") as tmp:
        directory = Path(tmp)
        customers, invoices = write_files(directory, args.customers, args.invoices)
        url = args.database_url or f"sqlite:///{directory / 'ledger.db'}"
        figures = _child(url, str(customers), str(invoices))
        if url.startswith("sqlite:///"):  # the floor, in the same run: bare executemany of the same invoices file
            floor_db = directory / "floor.db"
            _child("prepare-floor", f"sqlite:///{floor_db}", str(customers))
            figures.update(_child("floor", str(floor_db), str(invoices)))
    figures.update(load_average_start=load_start, load_average_end=[round(x, 2) for x in os.getloadavg()])
    figures.update(
        database="sqlite" if url.startswith("sqlite") else url.split(":")[0],
        invoices=args.invoices,
        customers=args.customers,
        invoice_rows_per_second=round(args.invoices / figures["invoices_seconds"]),
        cpus=os.cpu_count(),
    )
    print(f"import of {args.invoices:,} invoice rows ({args.customers:,} customers) on {figures['database']}:")
    print(f"  customers file:   {figures['customers_seconds']:8.2f} s")
    print(
        f"  invoices file:    {figures['invoices_seconds']:8.2f} s  = {figures['invoice_rows_per_second']:,} rows/s"
        f" ({figures['invoices_cpu_seconds']:.2f} s of CPU: the load of other processes changes it less)"
    )
    print(f"  re-import (no-op):{figures['reimport_seconds']:8.2f} s  ({figures['reimport_unchanged']:,} unchanged)")
    print(f"  peak memory:      {figures['peak_rss_mib']:8.1f} MiB (RSS of the importing process)")
    if "floor_invoices_seconds" in figures:
        floor_seconds = figures["floor_invoices_seconds"]
        figures["invoices_over_floor"] = round(figures["invoices_seconds"] / floor_seconds, 2) if floor_seconds else None
        figures["floor_invoice_rows_per_second"] = round(args.invoices / floor_seconds) if floor_seconds else None
        print(
            f"  floor, invoices:  {floor_seconds:8.2f} s  = {figures['floor_invoice_rows_per_second']:,} rows/s (csv + sqlite3 executemany, no checks);"
            f" the import takes {figures['invoices_over_floor']:.2f} x"
        )
        if figures.get("floor_invoices_cpu_seconds"):
            figures["invoices_cpu_over_floor"] = round(figures["invoices_cpu_seconds"] / figures["floor_invoices_cpu_seconds"], 2)
            print(f"  floor, CPU:       {figures['floor_invoices_cpu_seconds']:8.2f} s; the import takes {figures['invoices_cpu_over_floor']:.2f} x")
        print(
            f"  floor memory:     {figures['floor_peak_rss_mib']:8.1f} MiB (RSS of the floor's process); the import takes"
            f" {figures['peak_rss_mib'] / figures['floor_peak_rss_mib']:.2f} x"
        )
    print(
        f"  load average:     {' '.join(map(str, figures['load_average_start']))} at the start,"
        f" {' '.join(map(str, figures['load_average_end']))} at the end ({figures['cpus']} cpus)"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
