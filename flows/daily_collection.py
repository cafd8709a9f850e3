"""daily-collection: every account with something due today gets its collect-account run.

Trigger: the daily schedule (company time zone), or a person with a date to
rerun or backfill. Inputs: the day (default today), the policy. Effects: the
day's actions across the ledger (collection and statement cycle alike), each
taken once; unanswered approvals re-sent or expired and escalated; the
outbox delivered. Rerunning a day takes nothing twice.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow
from prefect.artifacts import create_table_artifact

from flows.collect_account import collect_account
from flows.naming import dated
from huikuan.settings import get_settings
from tasks.ledger import dispatch_outbox, due_by_customer, remind_unanswered_approvals


@flow(name="daily-collection", flow_run_name=dated("daily collection {as_of}"))
def daily_collection(as_of: dt.date | None = None, policy: str | None = None) -> dict:
    day = as_of or get_settings().today()
    policy = policy or get_settings().policy
    due = due_by_customer(day, policy)
    results = [collect_account(customer_id, day, policy) for customer_id in sorted(due)]
    reminders = remind_unanswered_approvals(day)
    dispatch_outbox()
    create_table_artifact(
        key="daily-collection", table=[{"customer": r["customer_id"], "actions taken": r["taken"], "next action": r["next_action_on"]} for r in results],
        description=f"Daily collection of {day}: {len(results)} accounts",
    )
    return {"as_of": day.isoformat(), "accounts": len(results), "taken": sum(r["taken"] for r in results), "approval reminders": reminders}
