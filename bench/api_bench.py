"""Benchmark: the ERP's API answer time (``huikuan web``) on a large SQLite ledger.

    python -m bench.api_bench [--customers 100000] [--invoices 300000] [--requests 2000] [--ledger PATH] [--json PATH]

Builds the ledger of ``bench.plan_bench`` (``--customers`` customers, ``--invoices``
invoices through the real importer, partial payments, deliveries, disputes and
promises), or reuses ``--ledger PATH`` when it exists; writes a company file with
one API key; starts ``huikuan web`` as a user does (its own process, uvicorn, on a
free loopback port); then asks, over one keep-alive HTTP connection as an ERP
would, ``--requests`` times each of

``shipping``  ``GET /api/v1/customers/{id}/shipping?amount=…`` (may goods leave),
``account``   ``GET /api/v1/customers/{id}`` (balance, aging, standing),

for customers drawn at random, after a warm-up. Prints, per route, the
minimum, p50, p99 and maximum answer time in milliseconds, measured in the same
run (the minimum is what the machine can do at best; p99 against it shows the
spread), and /proc/loadavg. The goal (issue #16): p99 under 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.plan_bench import AS_OF, build_ledger, write_files

ROOT = Path(__file__).resolve().parent.parent
KEY = "hk_bench-key-0123456789abcdefghijklmnopqrstuvwxyz"
WARM_UP = 200


def company_file(directory: Path) -> Path:
    from huikuan.ledger.company import EXAMPLE
    from huikuan.web.tokens import api_key_hash

    path = directory / "company.yaml"
    path.write_text(EXAMPLE + f'web:\n  api_keys:\n    - {{name: bench, key_hash: "{api_key_hash(KEY)}"}}\n', encoding="utf-8")
    return path


def start_web(url: str, company: Path, data_dir: Path, port: int, log: Path) -> subprocess.Popen:
    """``huikuan web`` in its own process, until it answers."""
    env = os.environ | {"HUIKUAN_DATABASE_URL": url, "HUIKUAN_COMPANY_FILE": str(company), "HUIKUAN_DATA_DIR": str(data_dir)}
    with log.open("w", encoding="utf-8") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "huikuan.cli", "web", "--port", str(port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"huikuan web exited with status {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("huikuan web did not answer within 120 s")


def measure(port: int, customers: int, requests: int, seed: int) -> dict[str, list[float]]:
    """Answer times in ms per route, over one keep-alive connection, for customers drawn at random."""
    import httpx

    rng = random.Random(seed)
    routes = {
        "shipping": lambda n: f"/api/v1/customers/C{n:07d}/shipping?amount={rng.randrange(100, 2_000_000)}.00",
        "account": lambda n: f"/api/v1/customers/C{n:07d}",
    }
    times: dict[str, list[float]] = {name: [] for name in routes}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": KEY}, timeout=30) as client:
        for round_ in range(WARM_UP + requests):
            for name, path in routes.items():
                url = path(rng.randrange(customers))
                started = time.perf_counter()
                answer = client.get(url)
                elapsed = (time.perf_counter() - started) * 1000
                if answer.status_code != 200:
                    raise SystemExit(f"{url}: {answer.status_code} {answer.text[:200]}")
                if round_ >= WARM_UP:
                    times[name].append(elapsed)
    return times


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--invoices", type=int, default=300_000)
    parser.add_argument("--requests", type=int, default=2000, help="per route, after a warm-up of 200")
    parser.add_argument("--ledger", type=Path, help="keep the ledger here; reused as is when it exists")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from sqlalchemy import func, select

    from huikuan.ledger.db import make_engine
    from huikuan.stack import free_port
    from models.ledger import Customer, Invoice

    with tempfile.TemporaryDirectory(prefix="huikuan-api-bench-") as tmp:
        work = Path(tmp)
        ledger = args.ledger or work / "ledger.db"
        url = f"sqlite:///{ledger.resolve()}"
        if not ledger.exists():
            print(f"building a ledger of {args.customers} customers and {args.invoices} invoices in {ledger} ...", flush=True)
            started = time.perf_counter()
            build_ledger(url, write_files(work, args.customers, args.invoices, AS_OF, args.seed), AS_OF, args.seed)
            print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
        engine = make_engine(url)
        with engine.connect() as connection:
            customers = connection.scalar(select(func.count()).select_from(Customer.__table__))
            invoices = connection.scalar(select(func.count()).select_from(Invoice.__table__))
        engine.dispose()
        port = free_port()
        web = start_web(url, company_file(work), work / "data", port, work / "web.log")
        try:
            times = measure(port, customers, args.requests, args.seed)
        finally:
            web.terminate()
            web.wait(20)
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    figures = {
        "customers": customers,
        "invoices": invoices,
        "requests_per_route": args.requests,
        "loadavg": load,
        "routes": {
            name: {"min_ms": round(min(v), 2), "p50_ms": round(statistics.median(v), 2), "p99_ms": round(percentile(v, 99), 2), "max_ms": round(max(v), 2)}
            for name, v in times.items()
        },
    }
    print(f"SQLite ledger: {customers} customers, {invoices} invoices; {args.requests} requests per route over one connection; load {' '.join(load)}")
    print(f"{'route':10} {'min ms':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, row in figures["routes"].items():
        print(f"{name:10} {row['min_ms']:8.2f} {row['p50_ms']:8.2f} {row['p99_ms']:8.2f} {row['max_ms']:8.2f}")
    worst = max(row["p99_ms"] for row in figures["routes"].values())
    print(f"goal p99 < 20 ms: {'met' if worst < 20 else 'NOT met'} (worst p99 {worst:.2f} ms)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
