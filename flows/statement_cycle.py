"""statement-cycle: the month's statement deadlines (5th prepare, 8th send, 20th confirm, 30th invoice).

Trigger: the monthly schedules on those days (company time zone); a deadline
that falls on a non-working day is moved by the policy, and the daily run of
the moved day takes it. Inputs: the day, the policy. Effects: the statement
actions due that day, each taken once (statements prepared and submitted for
review, review requests, reminders, escalations, finance notices); a table of
the cycle's status.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from flows.collect_batch import AccountsNotCollected
from flows.naming import dated
from huikuan.collection.batch import STATEMENT_KINDS, batches
from huikuan.ledger.heap import one_block_each
from huikuan.ledger.settings import get_settings
from tasks.approvals import start_waiting_approval_runs
from tasks.artifacts import publish_statement_cycle
from tasks.ledger import collect_batch, customers_due, dispatch_outbox, statement_status

BATCH_SIZE = 500


@flow(name="statement-cycle", flow_run_name=dated("statement cycle {as_of}"))
def statement_cycle(as_of: dt.date | None = None, policy: str | None = None, batch_size: int = BATCH_SIZE) -> dict:
    """Take the month's statement actions due on the day (prepare, send, follow up, invoice), each once.

    Args:
        as_of: the day (default: today in the company's time zone).
        policy: the policy's name or file (default: the settings' policy).
        batch_size: accounts per batch.

    Returns:
        The cycle's status: statements prepared, sent, confirmed and invoiced, and the actions taken.
    """
    day = as_of or get_settings().today()
    policy = policy or get_settings().policy
    kinds = sorted(STATEMENT_KINDS)
    results = [collect_batch(ids, day, policy, kinds) for ids in one_block_each(batches(customers_due(day, policy, kinds), batch_size))]
    start_waiting_approval_runs()
    dispatch_outbox()
    status = statement_status(day)
    publish_statement_cycle(day, status)
    problems = [f"{a.customer_id}: {a.error}" for r in results for a in r.failed]
    if problems:
        raise AccountsNotCollected(f"{len(problems)} account(s) not collected: " + "; ".join(problems[:20]))
    return {"as_of": day.isoformat(), "accounts": sum(len(r.accounts) for r in results), "taken": sum(r.taken for r in results)}
