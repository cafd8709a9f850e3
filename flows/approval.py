"""request-approval and request-group-approval: decisions by an authorised person, proven by a one-time code.

Trigger: started by the daily collection (or the statement cycle) for each
action that needs approval; one run per request. Inputs: the approval's key.
Effects: emails the code to the approvers, suspends until someone answers in
the Prefect UI (or through the API), refuses and logs a wrong code or an
unauthorised person and waits again; an approval is carried out at once
(lock the account, send the statement, send the letter). A request nobody
answers is re-sent and escalated by the daily run, never dropped.

request-group-approval is the same for a list of requests asked for together
(the company file's ``asked_together``, by default the statement reviews): one
run per approver role and day, one code, and one answer for the whole list,
"approve all" or "approve all but the customers I hold back". Held requests
are then asked for alone, each in its own request-approval run.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from prefect import flow
from prefect.context import get_run_context
from prefect.flow_runs import suspend_flow_run
from prefect.input import RunInput
from pydantic import Field

from huikuan.approvals.groups import held_ids
from huikuan.ledger.settings import get_settings
from tasks.approvals import answers_ran_out, judge, judge_group, open_group, open_request, start_approval_runs
from tasks.artifacts import publish_approval_list
from tasks.ledger import dispatch_outbox
from tasks.legal import start_case_run

MAX_ANSWERS = 20  # answers one waiting run takes; then it ends and the next daily run asks again, with a new run and code


class Answer(RunInput):
    """The approver's answer; every field is required."""

    approver: str = Field(description="your id in the company file (e.g. boss)")
    code: str = Field(description="the one-time code emailed to you")
    decision: Literal["approve", "deny"] = Field(description="approve or deny")
    comment: str = Field(default="", description="why (optional)")


@flow(name="request-approval", flow_run_name="{approval_key}", log_prints=True)
def request_approval(approval_key: str, as_of: dt.date | None = None) -> str:
    """Ask for one decision and wait for it: the code emailed, the run suspended until an authorised person answers.

    Args:
        approval_key: the approval request's key (customer, action, day).
        as_of: the day of the request (default: today in the company's time zone).

    Returns:
        The request's final state: approved, denied, expired, or requested when the waiting run ran out.
    """
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
            if decision.state.value == "approved" and request.action == "lawyer_letter":
                start_case_run(request.customer_id, decided_on, approval_key)  # the lawyer gets the case file with the letter
            return decision.state.value
    answers_ran_out(approval_key, str(get_run_context().flow_run.id), day, MAX_ANSWERS)
    dispatch_outbox()
    return "requested"


class ListAnswer(RunInput):
    """The approver's answer to a list; the decision applies to every request not held back."""

    approver: str = Field(description="your id in the company file (e.g. sup)")
    code: str = Field(description="the one-time code emailed to you with the list")
    decision: Literal["approve", "deny"] = Field(description="approve or deny every request in the list except those held back")
    hold: str = Field(default="", description="customer ids to hold back, each asked for again on its own (separated by spaces or commas)")
    comment: str = Field(default="", description="why (optional)")


@flow(name="request-group-approval", flow_run_name="{group_key}", log_prints=True)
def request_group_approval(group_key: str, as_of: dt.date | None = None) -> str:
    """Ask for one decision on a list of requests and wait for it: approve all, deny all, or all but the customers held back.

    Args:
        group_key: the list's key (approver role, action, day).
        as_of: the day of the request (default: today in the company's time zone).

    Returns:
        The list's final state; held requests continue alone in their own request-approval runs.
    """
    day = as_of or get_settings().today()
    request = open_group(group_key, day, str(get_run_context().flow_run.id))
    publish_approval_list(
        group_key,
        [row.artifact_cells() for row in request.rows],
        f"{len(request.rows)} request(s) to {request.action.replace('_', ' ')} of {request.requested_on}, for the {request.approver_role}: {group_key}",
    )
    dispatch_outbox()
    if request.state != "requested":
        return request.state
    for attempt in range(1, MAX_ANSWERS + 1):
        answer = suspend_flow_run(wait_for_input=ListAnswer.with_initial_data(description=request.brief), key=f"answer-{attempt}")
        decided_on = max(day, get_settings().today())
        decision = judge_group(
            group_key, answer.approver, answer.code, answer.decision == "approve", held_ids(answer.hold), answer.comment or None, attempt, decided_on
        )
        if decision.accepted:
            if decision.held:
                start_approval_runs(decision.held, decided_on)
            dispatch_outbox()
            return decision.state.value
    answers_ran_out(group_key, str(get_run_context().flow_run.id), day, MAX_ANSWERS)
    dispatch_outbox()
    return "requested"
