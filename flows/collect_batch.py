"""collect-batch: one batch of accounts' actions due on a day, on whichever worker picks it up.

Trigger: the daily collection with ``spread_over_workers``, once per batch, so
that workers on several machines share a large portfolio. Inputs: the
customers, the day, the policy. Effects: the batch's due actions, each account
in its own transaction and each action once (see `tasks.ledger.collect_batch`);
its emails delivered (several workers deliver side by side, each message once);
a table of the batch on the run. The run fails when an account could not be
collected, after all the others were.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from huikuan.ledger.settings import get_settings
from tasks.ledger import collect_batch, dispatch_outbox


class AccountsNotCollected(RuntimeError):
    """Some accounts' actions could not be taken; each one's problem is in the run's log and table."""


def _name() -> str:
    from prefect.runtime import flow_run

    parameters = flow_run.parameters
    ids = parameters["customer_ids"]
    day = parameters.get("as_of") or get_settings().today()
    return f"collect {ids[0]}…{ids[-1]} ({len(ids)} accounts) {day}" if ids else f"collect nothing {day}"


@flow(name="collect-batch", flow_run_name=_name)
def collect_batch_of_accounts(customer_ids: list[str], as_of: dt.date | None = None, policy: str | None = None) -> dict:
    """Take a batch of accounts' actions due on a day (each account in its own transaction) and deliver its emails.

    Args:
        customer_ids: the batch's customers.
        as_of: the day (default: today in the company's time zone).
        policy: the policy's name or file (default: the settings' policy).

    Returns:
        What was due and taken per account; the run fails when an account could not be collected.
    """
    day = as_of or get_settings().today()
    policy = policy or get_settings().policy
    result = collect_batch(customer_ids, day, policy)
    dispatch_outbox()  # on this worker, beside the others: the daily run delivers what is left
    if result.failed:
        raise AccountsNotCollected("; ".join(f"{a.customer_id}: {a.error}" for a in result.failed[:20]))
    held = [note for a in result.accounts for note in a.held]  # customer emails to bouncing addresses: the collector is told instead
    return {"as_of": day.isoformat(), "accounts": len(result.accounts), "taken": result.taken} | ({"not emailed": held} if held else {})
