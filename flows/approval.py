"""request-approval: one decision by an authorised person, proven by a one-time code.

Trigger: started by the daily collection (or the statement cycle) for each
action that needs approval; one run per request. Inputs: the approval's key.
Effects: emails the code to the approvers, suspends until someone answers in
the Prefect UI (or through the API), refuses and logs a wrong code or an
unauthorised person and waits again; an approval is carried out at once
(lock the account, send the statement, send the letter). A request nobody
answers is re-sent and escalated by the daily run, never dropped.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from prefect import flow
from prefect.context import get_run_context
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from pydantic import Field

from huikuan.settings import get_settings
from tasks.approvals import judge, open_request
from tasks.ledger import dispatch_outbox

MAX_ANSWERS = 20


class Answer(RunInput):
    """The approver's answer; every field is required."""

    approver: str = Field(description="your id in the company file (e.g. boss)")
    code: str = Field(description="the one-time code emailed to you")
    decision: Literal["approve", "deny"] = Field(description="approve or deny")
    comment: str = Field(default="", description="why (optional)")


@flow(name="request-approval", flow_run_name="{approval_key}", log_prints=True)
def request_approval(approval_key: str, as_of: dt.date | None = None) -> str:
    day = as_of or get_settings().today()
    request = open_request(approval_key, day, str(get_run_context().flow_run.id))
    dispatch_outbox()
    if request.state != "requested":
        return request.state
    for attempt in range(1, MAX_ANSWERS + 1):
        # A resumed run starts again from the top: each answer comes back under its own key.
        answer = suspend_flow_run(wait_for_input=Answer.with_initial_data(description=request.brief), key=f"answer-{attempt}")
        decided_on = max(day, get_settings().today())  # the lock and the letters date from the decision
        decision = judge(approval_key, answer.approver, answer.code, answer.decision == "approve", answer.comment or None, attempt, decided_on)
        if decision.accepted:
            dispatch_outbox()
            return decision.state.value
    return "requested"
