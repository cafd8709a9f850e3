"""collect-account: one customer's actions due on a day, each taken once.

Trigger: a person, for one customer, from the Prefect UI (the daily collection
does every account in batches). Inputs: the customer, the day (default today in
the company's time zone), the policy. Effects: each due action is taken once
(emails queued and sent, statements prepared, escalations, approval requests
started); ends with the account's next action date, shown as an artifact.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from flows.collect_batch import AccountsNotCollected
from flows.naming import dated
from huikuan.ledger.settings import get_settings
from tasks.approvals import start_approval_runs
from tasks.artifacts import publish_account
from tasks.ledger import collect_batch, dispatch_outbox, due_for


@flow(name="collect-account", flow_run_name=dated("{customer_id} {as_of} collection"))
def collect_account(customer_id: str, as_of: dt.date | None = None, policy: str | None = None) -> dict:
    """Take one customer's actions due on a day, each once, and show the account's next action date.

    Args:
        customer_id: the customer to collect.
        as_of: the day (default: today in the company's time zone).
        policy: the policy's name or file (default: the settings' policy).

    Returns:
        The actions due, the ones taken, and the next action date.
    """
    day = as_of or get_settings().today()
    policy = policy or get_settings().policy
    actions = due_for(customer_id, day, policy)
    account = collect_batch([customer_id], day, policy).accounts[0]
    if account.error:
        raise AccountsNotCollected(f"{customer_id}: {account.error}")
    start_approval_runs(account.approvals, day)
    dispatch_outbox()
    upcoming = account.next_action_on
    publish_account(customer_id, day, actions, upcoming)
    return {"customer_id": customer_id, "as_of": day.isoformat(), "taken": len(account.taken), "next_action_on": upcoming.isoformat() if upcoming else None} | (
        {"not emailed": account.held} if account.held else {}
    )  # its address bounces: the collector is told
