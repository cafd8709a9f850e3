"""collect-account: one customer's actions due on a day, each taken once.

Trigger: the daily collection run, for every account with something due; or a
person, for one customer, from the Prefect UI. Inputs: the customer, the day
(default today in the company's time zone), the policy. Effects: each due
action is taken by a retried task under its key (emails queued and sent,
statements prepared, escalations, approval requests started); ends with the
account's next action date, shown as an artifact.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.naming import dated
from huikuan.settings import get_settings
from tasks.approvals import start_approval_runs
from tasks.ledger import dispatch_outbox, due_for, next_action_on, take


@flow(name="collect-account", flow_run_name=dated("{customer_id} {as_of} collection"))
def collect_account(customer_id: str, as_of: dt.date | None = None, policy: str | None = None) -> dict:
    day = as_of or get_settings().today()
    policy = policy or get_settings().policy
    actions = due_for(customer_id, day, policy)
    outcomes = [take(action, day) for action in actions]
    start_approval_runs([o.approval_key for o in outcomes if o.approval_key and o.taken], day)
    dispatch_outbox()
    upcoming = next_action_on(customer_id, day, policy)
    lines = "\n".join(f"- **{a.action}** ({a.channel}, {a.role}): {'; '.join(a.reasons)}" for a in actions) or "- nothing due"
    create_markdown_artifact(
        key=f"account-{customer_id.lower()}", markdown=f"# {customer_id} on {day}\n\n{lines}\n\nNext action: **{upcoming or 'none in the next 120 days'}**",
        description=f"{customer_id}: actions of {day} and the next action date",
    )
    return {"customer_id": customer_id, "as_of": day.isoformat(), "taken": sum(o.taken for o in outcomes), "next_action_on": upcoming.isoformat() if upcoming else None}
