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
from prefect.artifacts import create_table_artifact

from flows.naming import dated
from huikuan.settings import get_settings
from tasks.approvals import start_approval_runs
from tasks.ledger import dispatch_outbox, due_by_customer, statement_status, take

STATEMENT_ACTIONS = {"prepare_statement", "send_statement", "statement_follow_up", "escalate_statement", "issue_invoice", "send_invoice_info", "visit"}


@flow(name="statement-cycle", flow_run_name=dated("statement cycle {as_of}"))
def statement_cycle(as_of: dt.date | None = None, policy: str | None = None) -> dict:
    day = as_of or get_settings().today()
    policy = policy or get_settings().policy
    due = due_by_customer(day, policy)
    actions = [a for actions in due.values() for a in actions if a.statements and a.action in STATEMENT_ACTIONS]
    outcomes = [take(action, day) for action in actions]
    start_approval_runs([o.approval_key for o in outcomes if o.approval_key and o.taken], day)
    dispatch_outbox()
    status = statement_status(day)
    create_table_artifact(key="statement-cycle", table=status, description=f"Statements on {day}, by month and state")
    return {"as_of": day.isoformat(), "taken": sum(o.taken for o in outcomes)}
