"""daily-collection: every account with something due today, collected in batches.

Trigger: the daily schedule (company time zone), or a person with a date to
rerun or backfill. Inputs: the day (default today), the policy, the batch size,
and whether to spread the batches over the workers. Effects: the day's actions
across the ledger (collection and statement cycle alike), each taken once;
approval requests given their waiting runs; unanswered approvals re-sent or
expired and escalated; the outbox delivered; the day noted as done.

A scheduled run (no ``as_of``) first does the days the collection missed since
the last day it finished (a stopped server, a killed worker), oldest first.
Rerunning a day takes nothing twice.

What a person sees: each batch is a task run (or, spread over workers, a
``collect-batch`` flow run) named after its first and last customer, with a
table of every account in it (what was due, what was taken, the next action
date); the run's artifacts are the day's summary and each collector's worklist.
One account's whole story: `huikuan customers show ID`, or its own
``collect-account`` run from the UI.
"""

from __future__ import annotations

import datetime as dt
import os

from prefect import flow
from prefect.logging import get_run_logger

from flows.collect_batch import AccountsNotCollected
from flows.naming import dated
from huikuan.collection.batch import batches
from huikuan.ledger.heap import one_block_each
from huikuan.ledger.settings import get_settings
from tasks.approvals import start_waiting_approval_runs
from tasks.day import (
    BATCH_DEPLOYMENT,
    bank_lines_waiting,
    missed,
    note_day_done,
    publish_day,
    restart_ended_approval_runs,
    start_batch_runs,
    wait_for_batch_runs,
)
from tasks.ledger import collect_batch, dispatch_outbox, plan_day, remind_unanswered_approvals

BATCH_SIZE = 500  # accounts per task: large enough that Prefect's own cost per task is small beside the work
RUNS_PER_CORE = 1
FEWEST_RUNS = 2  # two workers can share the day however few the cores
MOST_RUNS = 8


def spread_runs() -> int:
    """At most how many collect-batch runs the day is spread over (each larger than ``batch_size`` if need be): one per
    core this machine gives the run, at least ``FEWEST_RUNS`` and at most ``MOST_RUNS``.

    Each run is a new Python process on some worker (seconds of start-up, ~180 MiB) whose work is the CPU's (the
    documents, the ORM) and the database's, on the same cores in a small install: runs beyond the cores only queue for
    them, each paying its start-up and memory, and contend in the ledger and the outbox. Measured on the 2-core machine,
    10,000 customers on PostgreSQL, two workers (``bench.daily_bench --backends postgres``, loaded by other work):
    2 runs 33.2 and 38.1 s (load 5.5, 1.8), 4 runs 56.7 and 51.5 s (load 4.5, 2.8), 8 runs 74.7 and 89.8 s (load 4.2, 3.6), with
    570, 870 and 1,480 MiB of run processes at once. The workers' machines are not known here: this one's cores stand
    for them (the daily run and its workers share a small install's machine); ``MOST_RUNS`` keeps a large machine's
    day from being split into more processes than the batch size calls for.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(FEWEST_RUNS, min(MOST_RUNS, RUNS_PER_CORE * cores))


SPREAD_RUNS = spread_runs()  # spread over the workers, the day is at most this many collect-batch runs


@flow(name="daily-collection", flow_run_name=dated("daily collection {as_of}"))
def daily_collection(as_of: dt.date | None = None, policy: str | None = None, batch_size: int = BATCH_SIZE, spread_over_workers: bool = False) -> dict:
    """Collect every account with something due, the approvals' reminders and the outbox, for the day (and any missed days).

    Args:
        as_of: the day to collect (default: today, after the days missed since the last finished day).
        policy: the policy's name or file (default: the settings' policy).
        batch_size: accounts per batch (one task run, or one collect-batch run, per batch).
        spread_over_workers: run the batches as collect-batch flow runs that workers on several machines share.

    Returns:
        The day's summary: accounts, actions due and taken, approvals, emails, failures.
    """
    settings = get_settings()
    policy = policy or settings.policy
    days = [as_of] if as_of else [*missed(settings.today()), settings.today()]
    if len(days) > 1:
        get_run_logger().warning("catching up the days the collection missed: %s", ", ".join(d.isoformat() for d in days[:-1]))
    summaries = [collect_day(day, policy, batch_size, spread_over_workers) for day in days]
    problems = [p for s in summaries for p in s.pop("problems")]
    if problems:
        raise AccountsNotCollected(f"{len(problems)} account(s) not collected: " + "; ".join(problems[:20]))
    return summaries[-1] | ({"caught up": [s["as_of"] for s in summaries[:-1]]} if len(summaries) > 1 else {})


def collect_day(day: dt.date, policy: str, batch_size: int, spread_over_workers: bool) -> dict:
    """One day's collection, from the plan to the delivered outbox and the artifacts."""
    plan = plan_day(day, policy)  # the worklists are built from this plan too: the day is planned once
    due = plan.due
    if spread_over_workers:  # each run is a new Python process on some worker: seconds of start-up, so few and large
        batch_size = max(batch_size, -(-len(due) // SPREAD_RUNS))
    parts = batches(due, batch_size)
    held: list[str] = []  # bouncing addresses (a spread batch's run says its own)
    if spread_over_workers and parts:
        taken, problems = on_workers(parts, day, policy)
    else:
        taken, problems = 0, []
        for ids in one_block_each(parts):  # each batch's result summed as it comes: a day of 100,000 accounts does not keep 100,000 results
            result = collect_batch(ids, day, policy)
            taken += result.taken
            problems += [f"{a.customer_id}: {a.error}" for a in result.failed]
            held += [note for a in result.accounts for note in a.held]
    restart_ended_approval_runs(day)  # before the reminders: a request whose run ended gets its new run (and code) first
    # Starting the approval runs is round trips to the server: done beside the delivery, which is work here.
    approvals = start_waiting_approval_runs.submit()
    reminders = remind_unanswered_approvals(day)
    dispatch_outbox()
    approvals.result()
    note_day_done(day, policy, accounts=len(due), problems=len(problems))
    bank_waiting = bank_lines_waiting()
    publish_day(day, policy, accounts=len(due), batches=len(parts), taken=taken, problems=problems, bank_waiting=bank_waiting, plan=plan)
    return (
        {"as_of": day.isoformat(), "accounts": len(due), "batches": len(parts), "taken": taken, "approval reminders": reminders}
        | ({"bank lines waiting": bank_waiting, "bank review": "huikuan bank review"} if bank_waiting else {})
        | ({"not emailed": held} if held else {})
        | {"problems": problems}
    )


def on_workers(parts: list[list[str]], day: dt.date, policy: str) -> tuple[int | None, list[str]]:
    """Each batch as a ``collect-batch`` run for any worker of the pool; wait (with a deadline) for them all.

    Returns what the batches took (unknown here: ``None``, the ledger has it) and
    the batches that did not complete. Without the deployment (the test harness,
    a bare ``python`` call) the batches run here, in this run.
    """
    runs = start_batch_runs(parts, day, policy)
    if runs is None:
        get_run_logger().warning("no %s deployment: the batches run in this run", BATCH_DEPLOYMENT)
        results = [collect_batch(ids, day, policy) for ids in one_block_each(parts)]
        return sum(r.taken for r in results), [f"{a.customer_id}: {a.error}" for r in results for a in r.failed]
    return None, wait_for_batch_runs(runs)
