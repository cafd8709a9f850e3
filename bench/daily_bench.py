"""Benchmark: the daily collection run and the monthly statement cycle, with and without Prefect.

    python -m bench.daily_bench [--sizes 1000 10000 100000] [--backends sqlite postgres]
                                [--runs daily cycle] [--modes minimum floor flow] [--json PATH] [--merge]
                                [--timeout SECONDS] [--queue-limit auto|none|N] [--profile SIZE] [--keep DIR]

For each size (N customers, 3N open invoices, built once per size and backend
through the real importer by ``bench.plan_bench.build_ledger``) and backend, and
for each run (``daily``: ``daily-collection`` on 2026-11-23; ``cycle``:
``statement-cycle`` on 2026-11-05, the day of this ledger's largest statement
cycle), three measurements, each on a fresh copy of the ledger (SQLite: a file
copy; PostgreSQL: ``CREATE DATABASE .. TEMPLATE ..``):

``minimum`` the floor's writes at the machine's minimum (issue #18), SQLite only, in a
           child process of its own: the customers, actions and emails of the floor,
           found by the product's own ``plan`` and ``collect`` on a scratch copy
           (untimed: the plan is not counted, and is reported apart), then timed on
           the fresh copy: for each customer its templates rendered with plain Jinja2
           (the product's files and values) and one bare ``sqlite3`` transaction
           inserting its action and outbox rows; then the outbox delivered in one pass
           (``bench.mail_bench.time_floor``: read, build MIME, write ``.eml``, stamp).
           It must write and send as many rows as the floor, or it fails.
``floor``  no Prefect at all, in a child process of its own: ``plan`` to find the
           customers due (as the flow's ``plan_day``), ``collect()`` in
           batches of 500 (as the flow's batches), ``dispatch`` of the outbox to
           the outbox folder. Then, timed apart, what else the flow does without
           Prefect (``extras``: the worklists, the day's note, approval reminders;
           for the cycle the statement status). Peak memory: the child's own high-water mark (``bench.memory``).
``flow``   the product through Prefect: a fresh ``LocalStack`` (Prefect server,
           work pool, deployments, one process worker) and a triggered deployment
           run, awaited. ``sqlite``: the ledger on SQLite, the Prefect server on
           its default SQLite, one worker, batches as tasks in the flow run (the
           embedded default, ``huikuan start``). ``postgres``: the ledger and the
           Prefect server on PostgreSQL, a second worker, and for the daily run
           ``spread_over_workers=True`` (one ``collect-batch`` run per batch, taken
           by either worker). Time: the flow run's end minus start as the server
           records them (and the wall time from the trigger). Peak memory: /proc
           polled every 0.3 s over the workers' process trees; the high-water mark
           (VmHWM) of the flow run's own process, of the largest ``collect-batch``
           process, and the largest sum of RSS of all flow-run processes at once.

Every flow measurement is checked against its floor: the number of actions
added to the ledger must be the same (a mismatch is printed loudly); the
floor against its minimum likewise (actions, emails queued and sent).
``floor/minimum`` is the floor's collect and dispatch over the minimum (the
same work; with the floor's plan too beside it), ``flow/floor`` the flow
over the whole floor, and ``flow_over_same_work`` the flow over the floor and its
extras together: the same work without Prefect, the measure of Prefect's own cost
(issue #18's goal: at most 1.2); all are printed after the table, each figure with the
load average when it began, and kept in the JSON (``ratios``). The
approval requests the daily run opens (a ``request-approval`` run each, or a
``request-group-approval`` run for each day's list of statement reviews) are
held in a paused work queue, so that their processes do not run during the
measurement; their count is reported. The Prefect scheduler service is off
(the deployments' cron schedules would start runs of the real today).

Figures go to stdout as a table and, with ``--json``, to a file (written after
every measurement, so an interrupted run keeps what finished). A measurement
that failed (``failure``: not finished, a flow run not Completed, failed
accounts, no action at all, another count than its floor's) is marked FAILED
instead of its figures, and the benchmark then exits with status 1. A flow's
figure is printed beside its floor's, with the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import inspect
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.memory import peak_rss_mib
from bench.plan_bench import AS_OF, write_files

ROOT = Path(__file__).resolve().parent.parent
BATCH = 500  # the flows' batch size (flows.daily_collection.BATCH_SIZE)
MODES = ("minimum", "floor", "flow")  # measured in this order, so that each is checked against the one before
RUNS = {  # run: (deployment, day, statement kinds only)
    "daily": ("daily-collection/daily-collection", AS_OF, False),
    "cycle": ("statement-cycle/statement-cycle", dt.date(2026, 11, 5), True),
}
POLL_SECONDS = 0.3
CLK_TCK = os.sysconf("SC_CLK_TCK")
AUTO_QUEUE_LIMIT_OVER = 40  # batches: more than this many collect-batch runs at once would start that many processes
AUTO_QUEUE_LIMIT = 8  # the default queue's limit then: the daily run and 7 collect-batch runs at a time


def _mib(kib: float) -> float:
    return round(kib / 1024, 1)


# -- the floor: collect + dispatch without Prefect (runs in a child process) -----------------


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _counts(engine) -> dict:
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from models.ledger import ActionTaken, OutboxMessage

    with Session(engine) as session:
        return {
            "actions": session.scalar(select(func.count()).select_from(ActionTaken)),
            "emails": session.scalar(select(func.count()).select_from(OutboxMessage)),
            "emails_sent": session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_not(None))),
        }


def floor(url: str, run: str, work: str) -> dict:
    """What the run does, without Prefect: plan, collect in batches, dispatch; then the flow's other work, apart."""
    import warnings

    from sqlalchemy.orm import Session, sessionmaker

    from huikuan.approvals import groups as approval_groups
    from huikuan.collection import execution
    from huikuan.collection.batch import STATEMENT_KINDS, approvals_waiting_for_a_run, batches, collect, is_of, record_day
    from huikuan.ledger.company import company_from
    from huikuan.ledger.db import make_engine, session_scope
    from huikuan.outbox.mail import dispatch
    from huikuan.reports import worklist as worklist_module
    from huikuan.reports.planning import iter_plan
    from huikuan.reports.worklist import worklist, worklist_markdown
    from models.calendar import CalendarFallbackWarning
    from models.policy import load_policy

    warnings.simplefilter("ignore", CalendarFallbackWarning)
    os.chdir(work)  # the company file's outbox folder is relative to it, as for a flow run in its worker's directory
    _deployment, day, statements_only = RUNS[run]
    company = company_from(str(Path(work) / "company.yaml"))
    engine = make_engine(url)
    policy = load_policy("handbook")
    kinds = sorted(STATEMENT_KINDS) if statements_only else None
    before = _counts(engine)
    cpu0, t0 = _cpu(), time.perf_counter()
    keeper = getattr(worklist_module, "KeptForWorklists", None)  # the flow's plan_day keeps the worklists' actions (code before: replanned)
    kept = keeper() if keeper is not None and not statements_only else None
    with Session(engine) as session:
        due_ids: dict[str, None] = {}
        for action in iter_plan(session, day, policy):  # streamed, as the flow's plan_day
            if kinds is None or is_of(action, kinds):
                due_ids[action.customer_id] = None
            if kept is not None:
                kept.add(action)  # as the flow's plan_day
        due = sorted(due_ids)
    planned = None if kept is None or kept.dropped else kept  # None: too many to hold, the worklists plan the day again
    cpu1, t1 = _cpu(), time.perf_counter()
    taken = problems = 0
    parts = batches(due, BATCH) if due else []
    for ids in parts:
        result = collect(engine, ids, day, policy, company, kinds=kinds)
        taken += result.taken
        problems += len(result.failed)
    cpu2, t2 = _cpu(), time.perf_counter()
    sent = dispatch(sessionmaker(engine), company)
    cpu3, t3 = _cpu(), time.perf_counter()
    after = _counts(engine)
    # The flow's other work, without Prefect: not part of the floor, timed apart.
    if statements_only:
        from sqlalchemy import func, select

        from models.ledger import Statement

        with session_scope(engine) as session:
            approval_groups.form_groups(session, company)  # the statement reviews, one list a day
            len(approvals_waiting_for_a_run(session))
            session.execute(select(Statement.month, Statement.state, func.count()).group_by(Statement.month, Statement.state)).all()
    else:
        with session_scope(engine) as session:
            approval_groups.form_groups(session, company)
            len(approvals_waiting_for_a_run(session))
        with session_scope(engine) as session:
            execution.remind_or_expire(session, company, day)
            approval_groups.remind_or_expire_groups(session, company, day)
        with session_scope(engine) as session:
            noted = {"accounts": len(due), "taken": taken, "problems": problems}  # the signature changed once: pass what it takes
            record_day(session, day, "handbook", **{k: v for k, v in noted.items() if k in inspect.signature(record_day).parameters})
        with session_scope(engine) as session:  # as publish_day: each list's first 200 rows (the whole list on code before worklist_heads),
            # from the day's plan above as the flow's (planned afresh on code before plan_day)
            if heads_of := getattr(worklist_module, "worklist_heads", None):
                reuse = {"planned": planned} if planned is not None else {}
                heads = [shown for _name, shown, _length in heads_of(session, day, 200, policy="handbook", **reuse)]
            else:
                by_collector: dict = {}
                for item in worklist(session, day, policy="handbook"):
                    by_collector.setdefault(item.collector, []).append(item)
                heads = [own[:200] for own in by_collector.values()]
        for shown in heads:
            worklist_markdown(shown, day)
    cpu4, t4 = _cpu(), time.perf_counter()
    seconds = t3 - t0
    return {
        "customers_due": len(due),
        "batches": len(parts),
        "actions": after["actions"] - before["actions"],
        "taken_reported": taken,
        "problems": problems,
        "emails_queued": after["emails"] - before["emails"],
        "emails_sent": sent.sent,
        "seconds": round(seconds, 2),
        "plan_seconds": round(t1 - t0, 2),
        "collect_seconds": round(t2 - t1, 2),
        "dispatch_seconds": round(t3 - t2, 2),
        "extras_seconds": round(t4 - t3, 2),
        "cpu_seconds": round(cpu3 - cpu0, 2),
        "plan_cpu_seconds": round(cpu1 - cpu0, 2),
        "collect_cpu_seconds": round(cpu2 - cpu1, 2),
        "dispatch_cpu_seconds": round(cpu3 - cpu2, 2),
        "extras_cpu_seconds": round(cpu4 - cpu3, 2),
        "actions_per_second": round((after["actions"] - before["actions"]) / seconds, 1) if seconds else None,
        "peak_rss_mib": peak_rss_mib(),
    }


def _prepare_minimum(prep_url: str, run: str) -> tuple[dict, dict]:
    """What the floor writes, read from a run of the product on a scratch copy: the rows and the templates' values, by customer.

    ``plan`` and ``collect`` (as ``floor``) run with ``huikuan.documents.render._render`` watched, so that
    every template the product renders is noted with its values and the customer whose action rendered it;
    then the new ``actions`` and ``outbox`` rows are read back whole. Untimed: the minimum reads nothing.
    Returns ({customer: {"actions": rows, "outbox": rows, "renders": [(template, values)]}}, figures).
    """
    import sqlite3

    from sqlalchemy.orm import Session

    from huikuan.collection import execution
    from huikuan.collection.batch import STATEMENT_KINDS, batches, collect, is_of
    from huikuan.documents import render
    from huikuan.ledger.company import company_from
    from huikuan.ledger.db import make_engine
    from huikuan.reports.planning import iter_plan
    from models.policy import load_policy

    _deployment, day, statements_only = RUNS[run]
    company = company_from("company.yaml")
    engine = make_engine(prep_url)
    policy = load_policy("handbook")
    kinds = sorted(STATEMENT_KINDS) if statements_only else None
    path = prep_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        first_action, first_message = (db.execute(f"SELECT coalesce(max(id), 0) FROM {t}").fetchone()[0] for t in ("actions", "outbox"))
    started = time.perf_counter()
    with Session(engine) as session:
        due = sorted({a.customer_id for a in iter_plan(session, day, policy) if kinds is None or is_of(a, kinds)})  # streamed, as the flow's customers_due
    plan_seconds = time.perf_counter() - started
    renders: dict[str, list] = {}
    current: list[str | None] = [None]
    take_action, render_ = execution.take_action, render._render

    def taking(session, action, **kwargs):
        current[0] = action.customer_id
        try:
            return take_action(session, action, **kwargs)
        finally:
            current[0] = None

    def rendering(name, variables):
        renders.setdefault(current[0], []).append((name, dict(variables)))
        return render_(name, variables)

    execution.take_action, render._render = taking, rendering
    try:
        for ids in batches(due, BATCH) if due else []:
            collect(engine, ids, day, policy, company, kinds=kinds)
    finally:
        execution.take_action, render._render = take_action, render_
    engine.dispose()
    accounts: dict = {customer_id: {"actions": [], "outbox": [], "renders": renders.get(customer_id, [])} for customer_id in due}
    if None in renders:
        raise RuntimeError(f"{len(renders[None])} templates rendered outside an action: the minimum would leave them out")
    with sqlite3.connect(path) as db:
        db.row_factory = sqlite3.Row
        actions = [dict(r) for r in db.execute("SELECT * FROM actions WHERE id > ? ORDER BY id", (first_action,))]
        messages = [dict(r) for r in db.execute("SELECT * FROM outbox WHERE id > ? ORDER BY id", (first_message,))]
    customer_of = {a["key"]: a["customer_id"] for a in actions}
    for row in actions:
        row.pop("id")
        accounts[row["customer_id"]]["actions"].append(row)
    for row in messages:
        row.pop("id")
        owner = row["customer_id"] or next((c for key, c in customer_of.items() if row["key"].startswith(key + ":")), None)
        if owner not in accounts:
            raise RuntimeError(f"outbox message {row['key']} belongs to no customer of the day: the minimum would leave it out")
        accounts[owner]["outbox"].append(row)
    rendered = sum(len(r) for r in renders.values())
    if rendered < len(messages):  # every email and letter is rendered from a template: the watch missed them
        raise RuntimeError(f"{rendered} templates seen for {len(messages)} messages: render._render is no longer what the product calls")
    return accounts, {
        "customers_due": len(due),
        "plan_seconds": round(plan_seconds, 2),
        "letters": sum(1 for m in messages if m["attachment"] is not None),
        "templates_rendered": rendered,
    }


def minimum(url: str, run: str, work: str) -> dict:
    """The floor's writes at their minimum (issue #18): per account one bare ``sqlite3`` transaction and plain Jinja2; one-pass delivery.

    The same customers, actions and messages as ``floor``, read from the product's own run on a scratch copy
    (``_prepare_minimum``, untimed: the plan is not counted, its time is reported apart). Timed, on the fresh
    copy ``url``: for each customer due, its templates rendered with the product's Jinja2 environment (the same
    files, the same values: ``get_template(name).render``, nothing around it) and one transaction inserting its
    action rows and outbox rows (``executemany``); then the outbox delivered by ``bench.mail_bench.time_floor``
    (read, build the MIME message, write the ``.eml``, stamp, in one pass). The letters' PDFs are the product's
    bytes (rendering them is not Jinja2). Counts are checked: another number of rows than the product wrote fails.
    """
    import sqlite3
    import warnings

    from bench.mail_bench import time_floor
    from huikuan.documents.render import environment
    from models.calendar import CalendarFallbackWarning

    warnings.simplefilter("ignore", CalendarFallbackWarning)
    if not url.startswith("sqlite:///"):
        raise SystemExit("the minimum is measured on SQLite only")
    os.chdir(work)
    path = Path(url.removeprefix("sqlite:///"))
    prep = Path(work) / "prep.db"
    shutil.copyfile(path, prep)
    accounts, figures = _prepare_minimum(f"sqlite:///{prep}", run)
    prep.unlink()
    rows = {table: sum(len(a[table]) for a in accounts.values()) for table in ("actions", "outbox")}
    env = environment()
    statements = {}
    for table in ("actions", "outbox"):
        columns = next((list(a[table][0]) for a in accounts.values() if a[table]), [])
        statements[table] = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", columns)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    before = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("actions", "outbox")}
    render_seconds = render_cpu = 0.0
    cpu0, t0 = _cpu(), time.perf_counter()
    for account in accounts.values():
        r_cpu, r_t = _cpu(), time.perf_counter()
        for name, values in account["renders"]:
            env.get_template(name).render(values)
        render_cpu += _cpu() - r_cpu
        render_seconds += time.perf_counter() - r_t
        if not (account["actions"] or account["outbox"]):
            continue
        connection.execute("BEGIN")
        for table in ("actions", "outbox"):
            sql, columns = statements[table]
            if account[table]:
                connection.executemany(sql, [tuple(row[c] for c in columns) for row in account[table]])
        connection.execute("COMMIT")
    cpu1, t1 = _cpu(), time.perf_counter()
    after = {table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in ("actions", "outbox")}
    connection.close()  # the last connection: the WAL is checkpointed into the file that time_floor copies
    written = {table: after[table] - before[table] for table in after}
    if written != rows:
        raise SystemExit(f"the minimum wrote {written} rows, the product {rows}")
    deliver_seconds, deliver_cpu, sent = time_floor(path, Path(work))  # copies the ledger (untimed), then delivers in one pass
    return {
        **figures,
        "actions": written["actions"],
        "emails_queued": written["outbox"],
        "emails_sent": sent,
        "seconds": round(t1 - t0 + deliver_seconds, 2),
        "db_seconds": round(t1 - t0 - render_seconds, 2),
        "render_seconds": round(render_seconds, 2),
        "deliver_seconds": round(deliver_seconds, 2),
        "cpu_seconds": round(cpu1 - cpu0 + deliver_cpu, 2),
        "render_cpu_seconds": round(render_cpu, 2),
        "deliver_cpu_seconds": round(deliver_cpu, 2),
        "actions_per_second": round(written["actions"] / (t1 - t0 + deliver_seconds), 1) if written["actions"] else None,
        "peak_rss_mib": peak_rss_mib(),
    }


def profile_floor(url: str, run: str, work: str, out: str, top: int) -> dict:
    """The floor under cProfile: the ``top`` functions by cumulative time."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    figures = profiler.runcall(floor, url, run, work)
    profiler.dump_stats(out)
    stats = pstats.Stats(out)
    stats.sort_stats("cumulative")
    rows = []
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in sorted(stats.stats.items(), key=lambda kv: -kv[1][3]):
        where = filename.replace(str(ROOT) + "/", "").split("site-packages/")[-1]
        if name in ("<module>", "runcall", "floor") or where.startswith("<") or "bench/daily_bench" in where:
            continue
        rows.append({"function": f"{where}:{line}({name})", "calls": nc, "tottime": round(tt, 2), "cumtime": round(ct, 2)})
        if len(rows) == top:
            break
    return {"floor": figures, "top_cumulative": rows, "profile_file": out}


# -- watching process trees (/proc) ----------------------------------------------------------


def _proc_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (ppid, cpu ticks, start time) for every process now."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                rest = f.read().rpartition(b")")[2].split()
            table[int(entry.name)] = (int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[19]))
        except (OSError, ValueError, IndexError):
            continue
    return table


def _status(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB; zeros when gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, hwm


def _flow_run_id(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            for item in f.read().split(b"\0"):
                if item.startswith(b"PREFECT__FLOW_RUN_ID="):
                    return item.split(b"=", 1)[1].decode()
    except OSError:
        pass
    return None


@dataclass
class Seen:
    role: str
    cpu0: int  # ticks when first seen (roots: when the watch started)
    cpu: int = 0
    hwm: int = 0
    flow_run_id: str | None = None


@dataclass
class TreeWatch:
    """Polls the trees under ``roots`` (role -> pid): CPU, RSS high-water marks, the largest sums of RSS at once.

    A root's children are its role's, except a worker's: those are ``flow-run`` processes.
    """

    roots: dict[str, int]
    interval: float = POLL_SECONDS
    seen: dict[tuple[int, int], Seen] = field(default_factory=dict)
    peak_sum: dict[str, int] = field(default_factory=dict)  # role -> largest sum of RSS (KiB) at one poll
    peak_all: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> TreeWatch:
        self._poll(first=True)
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._poll()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def _poll(self, first: bool = False) -> None:
        table = _proc_table()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _cpu, _start) in table.items():
            children.setdefault(ppid, []).append(pid)
        sums: dict[str, int] = {}
        for role, root in self.roots.items():
            todo = [(root, role)]
            while todo:
                pid, own_role = todo.pop()
                if pid not in table:
                    continue
                _ppid, cpu, start = table[pid]
                key = (pid, start)
                rss, hwm = _status(pid)
                if key not in self.seen:
                    self.seen[key] = Seen(own_role, cpu if (first or pid == root) else 0, flow_run_id=_flow_run_id(pid) if own_role == "flow-run" else None)
                item = self.seen[key]
                if item.flow_run_id is None and own_role == "flow-run":  # seen between fork and exec: read it again
                    item.flow_run_id = _flow_run_id(pid)
                item.cpu, item.hwm = cpu, max(item.hwm, hwm)
                sums[own_role] = sums.get(own_role, 0) + rss
                child_role = "flow-run" if role.startswith("worker") else own_role
                todo += [(child, child_role) for child in children.get(pid, [])]
        for role, total in sums.items():
            self.peak_sum[role] = max(self.peak_sum.get(role, 0), total)
        self.peak_all = max(self.peak_all, sum(sums.values()))

    def cpu_seconds(self, role: str) -> float:
        return round(sum(s.cpu - s.cpu0 for s in self.seen.values() if s.role == role) / CLK_TCK, 2)

    def hwm_mib(self, role: str, flow_run_ids: set[str] | None = None) -> float | None:
        marks = [s.hwm for s in self.seen.values() if s.role == role and (flow_run_ids is None or s.flow_run_id in flow_run_ids)]
        return _mib(max(marks)) if marks else None

    def pids(self) -> list[tuple[int, int]]:
        return list(self.seen)


def _kill_leftovers(watch: TreeWatch | None) -> list[int]:
    """Processes of the watched trees still alive (same pid and start time): killed, by pid."""
    killed = []
    if watch is None:
        return killed
    table = _proc_table()
    for pid, start in watch.pids():
        if watch.seen[(pid, start)].role == "db":  # the PostgreSQL server outlives every measurement
            continue
        if pid in table and table[pid][2] == start and pid != os.getpid():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


# -- databases -----------------------------------------------------------------------------


class Postgres:
    """The throwaway PostgreSQL server of the tests (``tests.pg_server``), and its databases."""

    def __init__(self) -> None:
        from sqlalchemy import create_engine

        from tests.pg_server import PostgresServer, find_bindir

        bindir = find_bindir()
        if bindir is None:
            raise SystemExit("PostgreSQL is not installed (no initdb/pg_ctl): run with --backends sqlite")
        self.server = PostgresServer.start(bindir)
        self.admin = create_engine(self.server.url, isolation_level="AUTOCOMMIT")

    @property
    def postmaster(self) -> int | None:
        try:
            return int((self.server.root / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def version(self) -> str:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            return conn.execute(text("SHOW server_version")).scalar()

    def create(self, name: str, template: str | None = None) -> str:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")))
        return self.server.url_for(name)

    def drop(self, name: str) -> None:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    def size_mib(self, name: str) -> float:
        from sqlalchemy import text

        with self.admin.connect() as conn:
            return round(conn.execute(text(f"SELECT pg_database_size('{name}')")).scalar() / 2**20, 1)

    def stop(self) -> None:
        self.admin.dispose()
        self.server.stop()


@dataclass
class Ledger:
    """A built ledger to copy for each measurement."""

    backend: str
    size: int
    source: str  # SQLite file path, or PostgreSQL template database name
    build: dict


_copies = iter(range(1, 10**9))


def copy_ledger(ledger: Ledger, pg: Postgres | None, work: Path) -> tuple[str, str]:
    """(URL, what to drop afterwards) of a fresh copy of ``ledger`` for one measurement."""
    if ledger.backend == "sqlite":
        target = work / "huikuan.db"
        shutil.copyfile(ledger.source, target)
        return f"sqlite:///{target}", ""
    name = f"ledger_{ledger.size}_m{next(_copies)}"
    return pg.create(name, template=ledger.source), name


def ledger_counts(url: str) -> dict:
    from huikuan.ledger.db import make_engine

    engine = make_engine(url)
    try:
        return _counts(engine)
    finally:
        engine.dispose()


def build(size: int, backend: str, tmp: Path, pg: Postgres | None, seed: int) -> Ledger:
    """The ledger of ``size`` customers and ``3 * size`` invoices, through the real importer in a child process."""
    from bench import plan_bench

    files_dir = tmp / f"files-{size}"
    if not (files_dir / "charges.csv").exists():
        files_dir.mkdir(exist_ok=True)
        write_files(files_dir, size, 3 * size, AS_OF, seed)
    files = {kind: str(files_dir / f"{kind}.csv") for kind in ("customers", "invoices", "payments", "charges")}
    started = time.perf_counter()
    if backend == "sqlite":
        source = str(tmp / f"ledger-{size}.db")
        url = f"sqlite:///{source}"
    else:
        source = f"ledger_{size}_template"
        url = pg.create(source)
    figures = plan_bench._child("--child", "build", url, json.dumps(files), AS_OF.isoformat(), str(seed))
    figures["build_seconds"] = round(time.perf_counter() - started, 1)
    figures["size_mib"] = round(Path(source).stat().st_size / 2**20, 1) if backend == "sqlite" else pg.size_mib(source)
    return Ledger(backend, size, source, figures)


# -- measurements --------------------------------------------------------------------------


def _work_dir(tmp: Path, label: str) -> Path:
    from huikuan.ledger.company import EXAMPLE

    work = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=tmp))
    (work / "company.yaml").write_text(EXAMPLE, encoding="utf-8")  # outbox: huikuan-data/outbox, relative to work
    return work


def _child_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.daily_bench", "--child", *args]


def measure_floor(ledger: Ledger, run: str, tmp: Path, pg: Postgres | None, timeout: float, mode: str = "floor") -> dict:
    """``floor`` or ``minimum`` (``mode``) in a child process of its own, on a fresh copy of the ledger."""
    work = _work_dir(tmp, f"{mode}-{ledger.backend}-{ledger.size}-{run}")
    url, drop = copy_ledger(ledger, pg, work)
    roots_extra = {"db": pg.postmaster} if pg and ledger.backend == "postgres" and pg.postmaster else {}
    load = os.getloadavg()[0]
    child = subprocess.Popen(_child_command(mode, url, run, str(work)), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watch = TreeWatch({mode: child.pid, **roots_extra})
    try:
        with watch:
            try:
                out, err = child.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
                done = ledger_counts(url)["actions"] - ledger_counts_base(ledger)
                return {
                    "finished": False,
                    "note": f"stopped after {timeout:.0f} s; {done} actions taken by then",
                    "actions_so_far": done,
                    "seconds": round(timeout, 1),
                    "load_1min": round(load, 2),
                }
        if child.returncode:
            sys.stderr.write(err[-5000:])
            last = err.strip().splitlines()[-1] if err.strip() else ""
            return {"finished": False, "note": f"the {mode} child failed with status {child.returncode}: {last}", "load_1min": round(load, 2)}
        figures = json.loads(out.strip().splitlines()[-1])
        figures.update(finished=True, load_1min=round(load, 2))
        if roots_extra:
            figures["db_cpu_seconds"] = watch.cpu_seconds("db")
        return figures
    finally:
        if drop:
            pg.drop(drop)
        shutil.rmtree(work, ignore_errors=True)


_base_counts: dict[tuple[str, int], int] = {}


def ledger_counts_base(ledger: Ledger) -> int:
    return _base_counts[(ledger.backend, ledger.size)]


def _wait_worker_online(stack, name: str, process: subprocess.Popen, timeout: float) -> None:
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with stack.client_settings(), get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the second worker exited with status {process.returncode}")
            if any(w.name == name and w.status is not None and w.status.value == "ONLINE" for w in client.read_workers_for_work_pool("huikuan")):
                return
            time.sleep(1)
    raise RuntimeError(f"the second worker did not come online within {timeout:.0f}s")


def _stop_process(process: subprocess.Popen | None, timeout: float = 20) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)


def _runs_of(client, flow_name: str) -> list:
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    found, offset = [], 0
    while True:
        page = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])), limit=200, offset=offset)
        found += page
        if len(page) < 200:
            return found
        offset += 200


def _task_run_count(client, flow_run_ids: list) -> int:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    count, offset = 0, 0
    while True:
        page = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids)), limit=200, offset=offset)
        count += len(page)
        if len(page) < 200:
            return count
        offset += 200


def _task_breakdown(client, flow_run_id) -> dict:
    """Seconds spent in the flow run's task runs, by task (name up to its parameters), and the rest of the flow's time."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    totals: dict[str, float] = {}
    offset = 0
    while True:
        page = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])), limit=200, offset=offset)
        for task_run in page:
            if task_run.start_time and task_run.end_time:
                if ".run_deployment." in (task_run.task_key or ""):  # the parent's side of a subflow run (the spread batches)
                    name = "run_deployment:" + task_run.task_key.rpartition(".run_deployment.")[2]
                else:
                    name = task_run.name.split(" ")[0].rsplit("-", 1)[0]
                totals[name] = totals.get(name, 0.0) + (task_run.end_time - task_run.start_time).total_seconds()
        if len(page) < 200:
            break
        offset += 200
    return {name: round(seconds, 2) for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1])}


def _log_count(client, flow_run_ids: list) -> int:
    """The log records the runs sent to the server."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    count, offset = 0, 0
    while True:
        page = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids)), limit=200, offset=offset)
        count += len(page)
        if len(page) < 200:
            return count
        offset += 200


CODE_FILES = (
    "flows/daily_collection.py",
    "tasks/day.py",
    "flows/statement_cycle.py",
    "flows/collect_batch.py",
    "tasks/ledger.py",
    "tasks/approvals.py",
    "huikuan/collection/batch.py",
    "huikuan/collection/execution.py",
    "huikuan/outbox/mail.py",
    "huikuan/ledger/facts.py",
    "huikuan/reports/worklist.py",
    "huikuan/stack.py",
    "models/engine.py",
)


def code_version() -> dict:
    """What was measured: the commit, the files changed from it, a digest of the files the runs execute (others edit the tree)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()

    digest = hashlib.sha256()
    for name in CODE_FILES:
        with contextlib.suppress(OSError):
            digest.update(name.encode() + b"\0" + (ROOT / name).read_bytes())
    dirty = [line.split(maxsplit=1)[1] for line in git("status", "--short", "--untracked-files=no").splitlines() if line.strip()]
    return {"commit": git("rev-parse", "--short", "HEAD"), "changed_files": dirty, "code_digest": digest.hexdigest()[:12]}


def drain_approvals(client, watch: TreeWatch, approval_ids: set[str], timeout: float, limit: int = 4) -> dict:
    """Let the held approval requests' runs go (at most ``limit`` at once) and time them until each waits for its answer."""
    held = client.read_work_queue_by_name("bench-held", work_pool_name="huikuan")
    client.update_work_queue(held.id, concurrency_limit=limit, is_paused=False)
    started = time.perf_counter()
    waiting = set(approval_ids)
    while waiting and time.perf_counter() - started < timeout:
        time.sleep(2)
        for run_id in list(waiting):
            state = client.read_flow_run(run_id).state
            if state is not None and (state.is_paused() or state.is_final()):
                waiting.discard(run_id)
    seconds = time.perf_counter() - started
    watch._poll()
    cpu = [s.cpu - s.cpu0 for s in watch.seen.values() if s.flow_run_id in approval_ids]
    return {
        "runs": len(approval_ids),
        "not_waiting_yet": len(waiting),
        "concurrency_limit": limit,
        "seconds": round(seconds, 1),
        "seconds_per_run": round(seconds / len(approval_ids), 2),
        "cpu_seconds_per_run": round(sum(cpu) / len(cpu) / CLK_TCK, 2) if cpu else None,
        "peak_rss_mib_per_process": watch.hwm_mib("flow-run", approval_ids),
    }


def measure_flow(
    ledger: Ledger, run: str, tmp: Path, pg: Postgres | None, timeout: float, queue_limit: str, expected_batches: int | None, drain_up_to: int = 0
) -> dict:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    from huikuan.ledger.settings import Settings
    from huikuan.stack import LocalStack, free_port

    deployment, day, _statements_only = RUNS[run]
    on_pg = ledger.backend == "postgres"
    work = _work_dir(tmp, f"flow-{ledger.backend}-{ledger.size}-{run}")
    url, drop = copy_ledger(ledger, pg, work)
    prefect_db = f"prefect_m{next(_copies)}" if on_pg else ""
    extra_env = {
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        # the deployments' cron schedules would start runs of the real today in the middle of a measurement
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    }
    if on_pg:
        pg.create(prefect_db)
        extra_env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = pg.server.url_for(prefect_db).replace("+psycopg", "+asyncpg")
    settings = Settings(
        database_url=url, company_file=work / "company.yaml", data_dir=work / "huikuan-data", timezone="Asia/Shanghai", policy="handbook", retry_delay_seconds=1
    )
    stack = LocalStack(port=free_port(), home=work / "prefect", cwd=work, settings=settings, startup_timeout=300, extra_env=extra_env)
    second: subprocess.Popen | None = None
    watch: TreeWatch | None = None
    figures: dict = {"workers": 2 if on_pg else 1, "spread_over_workers": on_pg and run == "daily"}
    try:
        started = time.perf_counter()
        stack.start()
        if on_pg:
            log = open(stack.home / "worker-2.log", "a", encoding="utf-8")  # noqa: SIM115 - closed with the process
            second = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "worker",
                    "start",
                    "--pool",
                    "huikuan",
                    "--type",
                    "process",
                    "--name",
                    "huikuan-worker-2",
                    "--install-policy",
                    "never",
                ],
                env=stack.environment(),
                cwd=work,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            _wait_worker_online(stack, "huikuan-worker-2", second, 300)
        figures["stack_start_seconds"] = round(time.perf_counter() - started, 1)
        with stack.client_settings(), get_client(sync_client=True) as client:
            # The approval requests' runs wait in a paused queue: their processes would otherwise run during the measurement.
            client.create_work_queue("bench-held", is_paused=True, work_pool_name="huikuan")
            for name in ("request-approval/request-approval", "request-group-approval/request-group-approval"):
                with contextlib.suppress(ObjectNotFound):  # the lists of requests came later: an older checkout has none
                    approval = client.read_deployment_by_name(name)
                    client.update_deployment(approval.id, DeploymentUpdate(work_queue_name="bench-held"))
            limit = None
            if figures["spread_over_workers"]:
                if queue_limit == "auto":
                    from flows import daily_collection

                    cap = getattr(daily_collection, "SPREAD_RUNS", None)  # the flow may make fewer, larger runs
                    runs_expected = min(expected_batches or 0, cap) if cap else (expected_batches or 0)
                    limit = AUTO_QUEUE_LIMIT if runs_expected > AUTO_QUEUE_LIMIT_OVER else None
                elif queue_limit != "none":
                    limit = int(queue_limit)
                if limit:
                    default = client.read_work_queue_by_name("default", work_pool_name="huikuan")
                    client.update_work_queue(default.id, concurrency_limit=limit)
            figures["queue_concurrency_limit"] = limit
        base = ledger_counts(url)
        roots = {"server": stack.server.pid, "worker": stack.worker.pid}
        if second is not None:
            roots["worker-2"] = second.pid
        if on_pg and pg.postmaster:
            roots["db"] = pg.postmaster
        figures["load_1min"] = round(os.getloadavg()[0], 2)
        watch = TreeWatch(roots)
        with watch:
            parameters = {"as_of": day.isoformat()}
            if figures["spread_over_workers"]:
                parameters["spread_over_workers"] = True
            triggered = time.perf_counter()
            with stack.client_settings():
                flow_run = run_deployment(deployment, parameters=parameters, timeout=0)
            with stack.client_settings(), get_client(sync_client=True) as client:
                deadline = triggered + timeout
                while True:
                    state = client.read_flow_run(flow_run.id).state
                    if state is not None and state.is_final():
                        break
                    if time.perf_counter() > deadline:
                        break
                    if not stack.alive():
                        raise RuntimeError(stack.problem())
                    time.sleep(1)
                wall = time.perf_counter() - triggered
                final = client.read_flow_run(flow_run.id)
                figures["wall_seconds_from_trigger"] = round(wall, 1)
                figures["state"] = final.state.name if final.state else None
                if not (final.state and final.state.is_final()):
                    done = ledger_counts(url)["actions"] - base["actions"]
                    figures.update(
                        finished=False,
                        actions_so_far=done,
                        seconds=round(wall, 1),
                        note=f"not finished after {timeout:.0f} s ({figures['state']}); {done} actions taken by then",
                    )
                    return figures
                figures["finished"] = True
                flow_seconds = (final.end_time - final.start_time).total_seconds()
                figures["seconds"] = round(flow_seconds, 2)
                figures["pickup_seconds"] = round((final.start_time - final.created).total_seconds(), 1)
                batch_runs = _runs_of(client, "collect-batch")
                lists = _runs_of(client, "request-group-approval")
                approvals = _runs_of(client, "request-approval") + lists
                figures["approval_runs_held"] = len(approvals)
                figures["approval_list_runs_held"] = len(lists)  # one per approver role and day: the statement reviews
                ids = [final.id, *[r.id for r in batch_runs]]
                figures["task_runs"] = _task_run_count(client, ids)
                if batch_runs:
                    spans = [(r.end_time - r.start_time).total_seconds() for r in batch_runs if r.start_time and r.end_time]
                    figures["batch_runs"] = len(batch_runs)
                    figures["batch_runs_completed"] = sum(1 for r in batch_runs if r.state and r.state.is_completed())
                    figures["batch_run_seconds_mean"] = round(sum(spans) / len(spans), 2) if spans else None
                    figures["batch_pickup_seconds_mean"] = round(
                        sum((r.start_time - r.created).total_seconds() for r in batch_runs if r.start_time) / len(batch_runs), 1
                    )
                flow_ids = {str(final.id)}
                batch_ids = {str(r.id) for r in batch_runs}
                figures["task_seconds"] = _task_breakdown(client, final.id)
                figures["log_records"] = _log_count(client, ids)
                # The figures of the run itself, before anything else runs on the stack.
                watch._poll()
                after = ledger_counts(url)
                figures["actions"] = after["actions"] - base["actions"]
                figures["emails_queued"] = after["emails"] - base["emails"]
                figures["emails_sent"] = after["emails_sent"] - base["emails_sent"]
                figures["actions_per_second"] = round(figures["actions"] / flow_seconds, 1) if flow_seconds else None
                figures["flow_process_peak_rss_mib"] = watch.hwm_mib("flow-run", flow_ids)
                if batch_ids:
                    figures["batch_process_peak_rss_mib"] = watch.hwm_mib("flow-run", batch_ids)
                figures["flow_runs_peak_total_rss_mib"] = _mib(watch.peak_sum.get("flow-run", 0))
                figures["stack_peak_total_rss_mib"] = _mib(sum(v for k, v in watch.peak_sum.items() if k != "db"))
                figures["server_peak_rss_mib"] = _mib(watch.peak_sum.get("server", 0))
                figures["flow_runs_cpu_seconds"] = watch.cpu_seconds("flow-run")
                figures["server_cpu_seconds"] = watch.cpu_seconds("server")
                figures["workers_cpu_seconds"] = round(watch.cpu_seconds("worker") + watch.cpu_seconds("worker-2"), 2)
                if "db" in roots:
                    figures["db_cpu_seconds"] = watch.cpu_seconds("db")
                if approvals and len(approvals) <= drain_up_to:
                    figures["approval_drain"] = drain_approvals(client, watch, {str(r.id) for r in approvals}, timeout)
        return figures
    finally:
        _stop_process(second)
        stack.stop()
        logs = {"server": stack.server_log, "worker": stack.worker_log, "worker-2": stack.home / "worker-2.log"}
        locked = {name: p.read_text(encoding="utf-8", errors="replace").count("database is locked") for name, p in logs.items() if p.exists()}
        figures["database_is_locked_in_logs"] = {name: n for name, n in locked.items() if n}  # SQLite lock contention, by log
        killed = _kill_leftovers(watch)
        if killed:
            figures["leftover_processes_killed"] = len(killed)
        if drop:
            pg.drop(drop)
        if prefect_db:
            pg.drop(prefect_db)
        shutil.rmtree(work, ignore_errors=True)


# -- the report ----------------------------------------------------------------------------


def machine() -> dict:
    info = {"nproc": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["mem_total_mib"] = int(line.split()[1]) // 1024
    with contextlib.suppress(Exception):
        import prefect

        info["prefect"] = prefect.__version__
    info["load_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def add_shares(measurements: list[dict]) -> None:
    """Each floor against the minimum, and each flow's orchestration share against the floor, of the same size, backend and run.

    ``floor_over_minimum``: the floor's actions and delivery (collect + dispatch) over the minimum (the same
    work: inserts, rendering, delivery); ``floor_with_plan_over_minimum`` counts the floor's plan too, which the
    minimum does not; ``floor_over_minimum_cpu`` is the first in CPU seconds. The minimum must have written and delivered as many rows as the floor: else a MISMATCH.
    """
    floors = {(m["size"], m["backend"], m["run"]): m for m in measurements if m["mode"] == "floor" and m.get("finished")}
    minima = {(m["size"], m["backend"], m["run"]): m for m in measurements if m["mode"] == "minimum" and m.get("finished")}
    for key, low in minima.items():
        f = floors.get(key)
        if f is None:
            continue
        counted = ("actions", "emails_queued", "emails_sent")
        wrong = [f"{what} {low[what]} (the floor {f[what]})" for what in counted if low.get(what) != f.get(what)]
        low["check"] = f"MISMATCH: {', '.join(wrong)}" if wrong else "ok"
        if wrong:  # not the same work: no ratio
            continue
        f["minimum_seconds"] = low["seconds"]
        f["floor_over_minimum"] = round((f["collect_seconds"] + f["dispatch_seconds"]) / low["seconds"], 2) if low["seconds"] else None
        f["floor_with_plan_over_minimum"] = round(f["seconds"] / low["seconds"], 2) if low["seconds"] else None
        if low.get("cpu_seconds") and "collect_cpu_seconds" in f:  # CPU time: less disturbed by a loaded machine than seconds
            f["floor_over_minimum_cpu"] = round((f["collect_cpu_seconds"] + f["dispatch_cpu_seconds"]) / low["cpu_seconds"], 2)
    for m in measurements:
        if m["mode"] != "flow" or not m.get("finished"):
            continue
        f = floors.get((m["size"], m["backend"], m["run"]))
        if f is None:
            continue
        m["floor_seconds"] = f["seconds"]
        m["flow_over_floor"] = round(m["seconds"] / f["seconds"], 2) if f["seconds"] else None
        # The flow also does the work the floor times apart (its extras): over the floor with them is Prefect's own cost,
        # the goal's measure (the CPU share below compares them the same way).
        same_work = f["seconds"] + f["extras_seconds"]
        m["flow_over_same_work"] = round(m["seconds"] / same_work, 2) if same_work else None
        m["orchestration_share"] = round((m["seconds"] - f["seconds"]) / m["seconds"], 3)
        m["prefect_share_beyond_extras"] = round((m["seconds"] - f["seconds"] - f["extras_seconds"]) / m["seconds"], 3)
        cpu = m["flow_runs_cpu_seconds"] + m["server_cpu_seconds"] + m["workers_cpu_seconds"]
        m["stack_cpu_seconds"] = round(cpu, 2)
        floor_cpu = f["cpu_seconds"] + f["extras_cpu_seconds"]
        m["orchestration_cpu_share"] = round((cpu - floor_cpu) / cpu, 3) if cpu else None
        m["check"] = "ok" if m["actions"] == f["actions"] else f"MISMATCH: {m['actions']} actions, the floor took {f['actions']}"


def failure(m: dict) -> str | None:
    """Why measurement ``m`` does not count, or None when it does: a failed run fails the benchmark.

    Not finished (stopped, a child that failed), a flow run that did not end
    Completed, accounts that failed, no action at all (every run of the bench's
    ledger takes thousands: none means it ran on something else) or another
    count than its floor's.
    """
    if not m.get("finished"):
        return m.get("note") or "did not finish"
    if m.get("mode") == "flow" and m.get("state") != "Completed":
        return f"the flow run ended {m.get('state')}"
    if m.get("problems"):
        return f"{m['problems']} accounts failed"
    if not m.get("actions"):
        return "no action taken"
    if str(m.get("check", "")).startswith("MISMATCH"):
        return m["check"]
    return None


def _in_order(measurements: list[dict]) -> list[dict]:
    return sorted(measurements, key=lambda m: (m["size"], m["backend"], m["run"], MODES.index(m["mode"]) if m["mode"] in MODES else len(MODES)))


def _minimum_note(m: dict) -> str:
    return (
        f"{m.get('check', 'no floor to check against')}; inserts {m['db_seconds']}s, rendering {m['render_seconds']}s "
        f"({m['templates_rendered']} templates), delivery {m['deliver_seconds']}s ({m['emails_sent']} emails); "
        f"plan not counted ({m['plan_seconds']}s), {m['letters']} letters' PDFs the product's"
    )


def _floor_versus_minimum(m: dict) -> str:
    if not m.get("minimum_seconds"):
        return ""
    return f"{m['floor_over_minimum']:.2f} x the minimum's {m['minimum_seconds']} s (collect + dispatch; {m['floor_with_plan_over_minimum']:.2f} x with the plan); "


def ratios(measurements: list[dict]) -> list[dict]:
    """Per size, backend and run: minimum, floor, flow, floor/minimum, flow/floor, each with its load average."""
    found: dict = {}
    for m in _in_order(measurements):
        if m.get("finished") and not failure(m):
            found.setdefault((m["size"], m["backend"], m["run"]), {})[m["mode"]] = m
    out = []
    for (size, backend, run), by_mode in found.items():
        row: dict = {"size": size, "backend": backend, "run": run}
        for mode in MODES:
            if mode in by_mode:
                row[mode] = by_mode[mode]["seconds"]
                row[f"{mode}_load_1min"] = by_mode[mode].get("load_1min")
        if "floor" in by_mode and "minimum" in by_mode:
            row["floor_over_minimum"] = by_mode["floor"].get("floor_over_minimum")
            row["floor_with_plan_over_minimum"] = by_mode["floor"].get("floor_with_plan_over_minimum")
            row["floor_over_minimum_cpu"] = by_mode["floor"].get("floor_over_minimum_cpu")
        if "floor" in by_mode and "flow" in by_mode:
            row["flow_over_floor"] = by_mode["flow"].get("flow_over_floor")
            row["flow_over_same_work"] = by_mode["flow"].get("flow_over_same_work")
        out.append(row)
    return out


def print_table(figures: dict) -> None:
    rows = figures["measurements"]
    print()
    print(
        f"{'size':>7} {'backend':8} {'run':5} {'mode':7} {'seconds':>8} {'actions':>8} {'act/s':>7} {'peak MiB':>9} {'CPU s':>7} "
        f"{'orch.':>6} {'orch.CPU':>8} {'load':>5}  check / note"
    )
    for m in _in_order(rows):
        if not m.get("finished"):
            print(
                f"{m['size']:>7} {m['backend']:8} {m['run']:5} {m['mode']:7} {'-':>8} {'-':>8} {'-':>7} {'-':>9} {'-':>7} {'-':>6} {'-':>8} "
                f"{m.get('load_1min', '-'):>5}  FAILED: {failure(m)}"
            )
            continue
        if m["mode"] == "minimum":
            peak, cpu, share, cpu_share = m["peak_rss_mib"], m["cpu_seconds"], "", ""
            note = _minimum_note(m)
        elif m["mode"] == "floor":
            peak, cpu, share, cpu_share = m["peak_rss_mib"], m["cpu_seconds"], "", ""
            note = _floor_versus_minimum(m)
            note += f"plan {m['plan_seconds']}s, collect {m['collect_seconds']}s, dispatch {m['dispatch_seconds']}s; +extras {m['extras_seconds']}s"
        else:
            peak = m.get("flow_process_peak_rss_mib") or 0
            cpu = m.get("stack_cpu_seconds", "")
            share = f"{m['orchestration_share']:.0%}" if "orchestration_share" in m else ""
            cpu_share = f"{m['orchestration_cpu_share']:.0%}" if m.get("orchestration_cpu_share") is not None else ""
            note = f"{m.get('check', 'no floor to check against')}; wall {m['wall_seconds_from_trigger']}s from trigger"
            if m.get("batch_runs"):
                note += f"; {m['batch_runs']} collect-batch runs (peak {m.get('batch_process_peak_rss_mib')} MiB each, {m['flow_runs_peak_total_rss_mib']} MiB at once)"
        if failure(m):
            note = f"FAILED: {failure(m)}; {note}"
        elif m["mode"] == "flow" and m.get("floor_seconds"):
            note = f"{m['seconds'] / m['floor_seconds']:.2f} x the floor's {m['floor_seconds']} s ({m.get('flow_over_same_work')} x with its extras); {note}"
        print(
            f"{m['size']:>7} {m['backend']:8} {m['run']:5} {m['mode']:7} {m['seconds']:>8.1f} {m['actions']:>8} {m['actions_per_second']:>7} "
            f"{peak:>9} {cpu:>7} {share:>6} {cpu_share:>8} {m.get('load_1min', ''):>5}  {note}"
        )
    summary = ratios(rows)
    if summary:
        print()
    for r in summary:
        parts = [f"{mode} {r[mode]} s (load {r.get(f'{mode}_load_1min')})" for mode in MODES if mode in r]
        if r.get("floor_over_minimum") is not None:
            parts.append(
                f"floor/minimum {r['floor_over_minimum']:.2f} (with the plan {r['floor_with_plan_over_minimum']:.2f}; "
                f"in CPU seconds {r.get('floor_over_minimum_cpu')}; goal 3)"
            )
        if r.get("flow_over_floor") is not None:
            parts.append(f"flow/floor {r['flow_over_floor']:.2f}")
        if r.get("flow_over_same_work") is not None:
            parts.append(f"flow/(floor + its extras, the same work without Prefect) {r['flow_over_same_work']:.2f} (goal 1.2)")
        print(f"{r['size']:,} {r['backend']} {r['run']}: " + ", ".join(parts))
    for m in rows:
        if failure(m):
            print(f"!!! {m['size']} {m['backend']} {m['run']} {m['mode']}: FAILED: {failure(m)} !!!")


def markdown(figures: dict) -> str:
    """The measurements as a Markdown table (for bench/README.md)."""
    lines = [
        "| customers | backend | run | mode | seconds | actions | actions/s | peak RSS MiB | CPU s | orchestration (time) | orchestration (CPU) | load | check / notes |",
        "|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in _in_order(figures["measurements"]):
        head = f"| {m['size']:,} | {m['backend']} | {m['run']} | {m['mode']} |"
        if not m.get("finished"):
            lines.append(f"{head} – | – | – | – | – | – | – | {m.get('load_1min', '')} | FAILED: {failure(m)} |")
            continue
        if m["mode"] == "minimum":
            note = _minimum_note(m)
            peak, cpu, share, cpu_share = m["peak_rss_mib"], m["cpu_seconds"], "", ""
        elif m["mode"] == "floor":
            note = (
                _floor_versus_minimum(m)
                + f"plan {m['plan_seconds']} s, collect {m['collect_seconds']} s, dispatch {m['dispatch_seconds']} s (+ flow's other work {m['extras_seconds']} s)"
            )
            peak, cpu, share, cpu_share = m["peak_rss_mib"], m["cpu_seconds"], "", ""
        else:
            peak = m.get("flow_process_peak_rss_mib")
            cpu = m.get("stack_cpu_seconds", "")
            share = f"{m['orchestration_share']:.0%}" if "orchestration_share" in m else ""
            cpu_share = f"{m['orchestration_cpu_share']:.0%}" if m.get("orchestration_cpu_share") is not None else ""
            note = f"{m.get('check', '')}; {m['wall_seconds_from_trigger']} s from trigger; server CPU {m['server_cpu_seconds']} s"
            if m.get("batch_runs"):
                note += f"; {m['batch_runs']} collect-batch runs, {m['flow_runs_peak_total_rss_mib']} MiB of flow-run processes at once"
            if m.get("approval_runs_held"):
                note += f"; {m['approval_runs_held']} approval runs held"
        if failure(m):
            note = f"FAILED: {failure(m)}; {note}"
        lines.append(
            f"{head} {m['seconds']} | {m['actions']:,} | {m['actions_per_second']} | {peak} | {cpu} | {share} | {cpu_share} | "
            f"{m.get('load_1min', '')} | {note} |"
        )
    return "\n".join(lines)


def write_json(path: Path | None, figures: dict) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(figures, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    partial.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--backends", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    parser.add_argument("--runs", nargs="+", choices=tuple(RUNS), default=list(RUNS))
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="minimum: SQLite only (default: all three)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--merge", action="store_true", help="keep the measurements already in --json that this run does not repeat")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds each measurement may take before it is stopped (default 1800)")
    parser.add_argument(
        "--queue-limit",
        default="auto",
        help="concurrency limit of the pool's default queue for the spread daily run: none, N, or auto "
        f"(none up to {AUTO_QUEUE_LIMIT_OVER} batches, else {AUTO_QUEUE_LIMIT})",
    )
    parser.add_argument(
        "--drain-approvals-up-to",
        type=int,
        default=40,
        metavar="N",
        help="after a flow run that opened at most N approval requests, let their held runs go and time them (default 40)",
    )
    parser.add_argument("--profile", type=int, metavar="SIZE", help="also profile the floor of the daily run on SQLite at SIZE (cProfile)")
    parser.add_argument("--profile-top", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="work (ledgers, logs) in this directory and keep it")
    parser.add_argument("--report", type=Path, metavar="JSON", help="only print the table of an earlier run's JSON (with --markdown: as Markdown)")
    parser.add_argument("--markdown", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.report:
        earlier = json.loads(args.report.read_text(encoding="utf-8"))
        add_shares(earlier["measurements"])  # the ratios of an earlier version's JSON too
        if args.markdown:
            print(markdown(earlier))
        else:
            print_table(earlier)
        return
    if args.child:
        if args.child[0] == "floor":
            print(json.dumps(floor(*args.child[1:4])))
        elif args.child[0] == "minimum":
            print(json.dumps(minimum(*args.child[1:4])))
        elif args.child[0] == "profile":
            print(json.dumps(profile_floor(*args.child[1:5], int(args.child[5]))))
        return

    def _terminate(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _terminate)
    figures: dict = {
        "machine": machine(),
        "days": {run: day.isoformat() for run, (_d, day, _k) in RUNS.items()},
        "policy": "handbook",
        "batch_size": BATCH,
        "ledgers": {},
        "measurements": [],
    }
    if args.merge and args.json and args.json.exists():
        old = json.loads(args.json.read_text(encoding="utf-8"))
        figures["ledgers"] = old.get("ledgers", {})
        figures["measurements"] = old.get("measurements", [])
        figures["profile"] = old.get("profile")
        figures["earlier_machine"] = old.get("machine")
    if args.keep:
        args.keep = args.keep.resolve()  # the children work in directories of their own: a relative path would name another place
        args.keep.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="huikuan-daily-bench-", dir=args.keep))
    measured: list[dict] = []  # this run's measurements (not those kept by --merge): any failed one fails the benchmark
    profile_failed = False
    pg: Postgres | None = None
    try:
        if "postgres" in args.backends:
            pg = Postgres()
            figures["machine"]["postgres"] = pg.version() + " (tests/pg_server.py: fsync=off, synchronous_commit=off, full_page_writes=off)"
        for size in sorted(args.sizes):
            for backend in args.backends:
                print(f"\n== {size:,} customers on {backend}: building the ledger …", flush=True)
                ledger = build(size, backend, tmp, pg, args.seed)
                figures["ledgers"].setdefault(str(size), {})[backend] = ledger.build
                print(f"   built in {ledger.build['build_seconds']} s ({ledger.build['size_mib']} MiB)", flush=True)
                _base_counts[(backend, size)] = ledger_counts(f"sqlite:///{ledger.source}" if backend == "sqlite" else pg.server.url_for(ledger.source))[
                    "actions"
                ]
                for run in args.runs:
                    expected_batches = None
                    for mode in sorted(args.modes, key=MODES.index):
                        label = f"{size:,} {backend} {run} {mode}"
                        if mode == "minimum" and backend != "sqlite":
                            print(f"   {label}: not measured (the minimum is bare sqlite3)", flush=True)
                            continue
                        print(f"   {label} …", end=" ", flush=True)
                        if mode == "minimum":
                            result = measure_floor(ledger, run, tmp, pg, args.timeout, mode="minimum")
                        elif mode == "floor":
                            result = measure_floor(ledger, run, tmp, pg, args.timeout)
                            expected_batches = result.get("batches")
                        else:
                            if expected_batches is None:  # no floor this time: one batch per 500 customers is the most there can be
                                expected_batches = size // BATCH + 1
                            result = measure_flow(ledger, run, tmp, pg, args.timeout, args.queue_limit, expected_batches, args.drain_approvals_up_to)
                        entry = {
                            "size": size,
                            "backend": backend,
                            "run": run,
                            "mode": mode,
                            "day": RUNS[run][1].isoformat(),
                            **result,
                            "code": code_version(),
                            "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                        }
                        figures["measurements"] = [
                            m for m in figures["measurements"] if (m["size"], m["backend"], m["run"], m["mode"]) != (size, backend, run, mode)
                        ] + [entry]
                        measured.append(entry)
                        add_shares(figures["measurements"])
                        figures["ratios"] = ratios(figures["measurements"])
                        write_json(args.json, figures)
                        if failure(entry):
                            print(f"FAILED: {failure(entry)}", flush=True)
                        else:
                            print(f"{result['seconds']} s, {result['actions']} actions" + (f" [{entry['check']}]" if "check" in entry else ""), flush=True)
                if backend == "postgres":
                    pg.drop(ledger.source)
                else:
                    Path(ledger.source).unlink(missing_ok=True)
        if args.profile:
            print(f"\n== cProfile of the daily floor, {args.profile:,} customers on SQLite …", flush=True)
            ledger = build(args.profile, "sqlite", tmp, None, args.seed)
            work = _work_dir(tmp, "profile")
            url, _ = copy_ledger(ledger, None, work)
            out = subprocess.run(
                _child_command("profile", url, "daily", str(work), str(tmp / "floor.prof"), str(args.profile_top)),
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode:
                sys.stderr.write(out.stderr[-5000:])
                profile_failed = True
            else:
                profile = json.loads(out.stdout.strip().splitlines()[-1])
                profile.pop("profile_file", None)
                figures["profile"] = {"size": args.profile, "backend": "sqlite", "run": "daily", **profile}
                write_json(args.json, figures)
    finally:
        try:
            if pg is not None:
                pg.stop()
        finally:
            if not args.keep:
                shutil.rmtree(tmp, ignore_errors=True)
    print_table(figures)
    if figures.get("profile"):
        p = figures["profile"]
        print(f"\ncProfile, daily floor, {p['size']:,} customers on SQLite (under the profiler: {p['floor']['seconds']} s), top by cumulative time:")
        for row in p["top_cumulative"]:
            print(f"  {row['cumtime']:8.2f} s cum {row['tottime']:7.2f} s own {row['calls']:>9}  {row['function']}")
    failed = [m for m in measured if failure(m)]
    if failed or profile_failed:
        raise SystemExit(f"{len(failed)} of {len(measured)} measurements failed{' and the profile failed' * profile_failed}: the benchmark failed")


if __name__ == "__main__":
    main()
