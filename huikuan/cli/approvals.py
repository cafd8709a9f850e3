"""`huikuan approvals list|answer`: requests waiting for a decision, answered with their one-time code."""

from __future__ import annotations

import os
from enum import Enum
from typing import Annotated

import typer

from huikuan.cli.common import AsOf, approvals_app, ensure_ledger, fail, out, parse_day


class Approvals(str, Enum):
    grant = "grant"
    deny = "deny"


@approvals_app.command("list")
def approvals_list(as_of: AsOf = None) -> None:
    """Requests waiting for a decision, oldest first: the key to answer, the decision, since when, its run; the customer, the amount and what it is about.

    A list of requests asked for together is one entry, with how many it holds, whose, and their total.
    Each entry is two lines, never cut: the key is copied whole to `huikuan approvals answer`.
    """
    from huikuan.approvals.groups import members_of, open_groups, rows_of, totals
    from huikuan.collection.execution import open_approvals
    from huikuan.ledger.db import session_scope
    from models.money import format_money

    day = parse_day(as_of, "--as-of")
    ensure_ledger()
    entries: list[tuple[str, str]] = []
    with session_scope() as session:
        for group in open_groups(session):
            waiting = [m for m in members_of(session, group) if m.state.value == "requested" and not m.held]
            rows = rows_of(session, waiting, day)
            whose = ", ".join(f"{r.customer_id} {r.name}" for r in rows[:3]) + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")
            entries.append(
                (
                    f"{group.key}  {group.action} for the {group.approver_role}, since {group.requested_on}; run {_run_state(group)}",
                    f"a list of {len(rows)}: {whose}; total {totals(rows)}",
                )
            )
        for approval in open_approvals(session):
            if approval.group_key and not approval.held:
                continue
            row = rows_of(session, [approval], day)[0]
            entries.append(
                (
                    f"{approval.key}  {approval.action} for the {approval.approver_role}, since {approval.requested_on}; run {_run_state(approval)}",
                    f"{row.customer_id} {row.name}: {format_money(row.amount, row.currency)}, {row.cells()['about']}",
                )
            )
    if not entries:
        out.print(f"No request is waiting for a decision on {day}.", highlight=False)
        return
    out.print(f"{len(entries)} waiting for a decision on {day} (answer with `huikuan approvals answer KEY`):", highlight=False, soft_wrap=True)
    for head, details in entries:
        out.print(head, markup=False, highlight=False, soft_wrap=True)
        out.print(f"    {details}", markup=False, highlight=False, soft_wrap=True)


def _run_state(request) -> str:
    """A request's waiting run in `approvals list`: waiting (the form in the UI, named by the key), not started yet, or ended."""
    if request.run_ended_at is not None:
        return "ended: a new code comes with the next daily run"
    return "waiting" if request.flow_run_id else "not started yet"


RUN_ENDED = "the request's run has ended; the next daily run asks again with a new code"


@approvals_app.command("answer")
def approvals_answer(
    approval_key: Annotated[str, typer.Argument(help="the request's key, or a list's (review:…), as `huikuan approvals list` prints them")],
    approver: Annotated[str, typer.Option(help="your id in the company file")],
    code: Annotated[str, typer.Option(help="the one-time code emailed to you")],
    decision: Annotated[str, typer.Option(help="approve or deny (for a list: every request not held back)")],
    comment: Annotated[str, typer.Option(help="why")] = "",
    hold: Annotated[str, typer.Option(help="a list only: customer ids to hold back, each asked for again on its own")] = "",
    wait: Annotated[float, typer.Option(min=0, help="seconds to wait for the run's verdict")] = 60,
) -> None:
    """Answer a request or a list through the Prefect API, as the form in the UI does; says whether the waiting run accepted it.

    Exit status 0: accepted (decided, and carried out when approved); 1: refused (nothing decided; the run waits for
    another answer), or not judged within --wait seconds.
    """
    import httpx
    from prefect.exceptions import ObjectNotFound
    from sqlalchemy import select

    from huikuan.approvals.check import wait_for_verdict
    from huikuan.approvals.groups import is_group_key
    from huikuan.approvals.runs import RunNotWaiting, ServerPasswordError, resume_waiting_run
    from huikuan.ledger.db import session_scope
    from models.ledger import Approval, ApprovalGroup

    if decision not in ("approve", "deny"):
        raise fail("--decision is approve or deny")
    group = is_group_key(approval_key)
    if hold and not group:
        raise fail("--hold is for a list of requests (a review:… key)")
    ensure_ledger()
    with session_scope() as session:
        if group:
            request = session.scalar(select(ApprovalGroup).where(ApprovalGroup.key == approval_key))
        else:
            request = session.scalar(select(Approval).where(Approval.key == approval_key))
            if request is not None and request.group_key and not request.held:
                raise fail(f"{approval_key} is asked for in the list {request.group_key}: answer the list (--hold {request.customer_id} to decide it alone)")
        if request is not None and request.state.value != "requested":
            raise fail(f"{approval_key} is already {request.state.value}" + (f" by {request.decided_by}" if request.decided_by else ""))
        if request is not None and request.run_ended_at is not None:
            raise fail(RUN_ENDED)
        run_id = request.flow_run_id if request is not None else None
        refusals = request.refusals if request is not None else 0
    if request is None:
        raise fail(f"no request {approval_key}: `huikuan approvals list` shows the open ones")
    if not run_id:
        raise fail(f"no waiting run for {approval_key}: is the server running (huikuan start, or huikuan server and a worker)?")
    answer = {"approver": approver, "code": code, "decision": decision, "comment": comment} | ({"hold": hold} if group else {})
    try:
        resume_waiting_run(run_id, answer)
    except RunNotWaiting as exc:
        raise fail(
            RUN_ENDED if exc.ended else f"run {run_id} does not wait for an answer right now: it is judging an answer or starting; try again in a minute"
        ) from None
    except ServerPasswordError as exc:
        raise fail(str(exc)) from None
    except ObjectNotFound:
        raise fail(f"the Prefect server at {os.environ['PREFECT_API_URL']} has no run {run_id}; is this the server huikuan start runs?") from None
    except (httpx.HTTPError, OSError) as exc:
        raise fail(f"cannot reach the Prefect server at {os.environ['PREFECT_API_URL']} ({exc}); start it with huikuan start (or huikuan server)") from None
    verdict = wait_for_verdict(session_scope, approval_key, refusals_before=refusals, wait=wait)
    if verdict.accepted is None:
        raise fail(
            f"the answer went to run {run_id}, which has not judged it within {wait:g} s: its logs in the Prefect UI say how it ends, "
            f"`huikuan approvals list` whether {approval_key} still waits"
        )
    if not verdict.accepted:
        why = (
            verdict.logged or _refusal_logged(run_id, approval_key) or "a wrong or old code, a person who may not decide this, or (a list) a held id not in it"
        )
        raise fail(f"refused: {why}; nothing was decided, and the run waits for another answer")
    done = f"{approval_key} {verdict.outcome} by {verdict.decided_by}"
    if group:
        done += f": {verdict.decided} request(s) {verdict.outcome}" + (f", held back to be asked alone: {', '.join(verdict.held)}" if verdict.held else "")
    elif verdict.outcome == "approved":
        done += " and carried out"
    out.print(f"accepted: {done}", highlight=False, soft_wrap=True, markup=False)


def _refusal_logged(run_id: str, key: str) -> str | None:
    """The run's own words for a refused answer to a list (its log line ``KEY attempt N: why``), best effort."""
    try:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
        from prefect.client.schemas.sorting import LogSort

        from huikuan.approvals.runs import local_client_settings

        with local_client_settings(), get_client(sync_client=True) as client:
            logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), sort=LogSort.TIMESTAMP_DESC, limit=50)
    except Exception:  # noqa: BLE001 - the reason is a courtesy; the refusal itself is read from the ledger
        return None
    for log in logs:
        if log.message.startswith(f"{key} attempt ") and ": " in log.message:
            return log.message.split(": ", 1)[1]
    return None
