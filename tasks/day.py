"""Tasks of the daily collection besides taking the actions: the batches spread over the workers, the approval
runs that ended undecided, the day noted as done, the days missed, the bank lines waiting, the day's artifacts.

Each talks to the ledger or the Prefect server; the flow (flows/daily_collection.py) only orders them.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_run_logger
from sqlalchemy import func, select

from huikuan.approvals import groups as approval_groups
from huikuan.approvals.check import HASH_PREFIX
from huikuan.collection import execution
from huikuan.collection.batch import approval_runs_to_check, approvals_waiting_for_a_new_run, missed_days, record_day
from huikuan.documents.escaping import markdown_code, markdown_text
from huikuan.ledger.db import session_scope
from models.enums import ApprovalState
from models.ledger import ActionTaken, Approval, ApprovalGroup
from tasks import SERVER_TIMEOUT
from tasks.approvals import start_run
from tasks.ledger import DayPlan, company

BATCH_DEPLOYMENT = "collect-batch/collect-batch"
WORKLIST_ROWS = 200  # per collector in the artifact; the whole list: `huikuan worklist --collector ID`
BATCH_RUNS_DEADLINE = 6 * 3600  # seconds the day waits for its collect-batch runs; those still running then are reported
POLL_SECONDS = 2.0


@task(cache_policy=NO_CACHE, timeout_seconds=SERVER_TIMEOUT)
def start_batch_runs(parts: list[list[str]], day: dt.date, policy: str) -> list[tuple[str, list[str]]] | None:
    """A ``collect-batch`` run per batch, for any worker of the pool; (run id, batch) each, or None without the deployment.

    Each run is keyed by this daily run and its batch, so a retry of this task starts no batch twice.
    """
    parent = get_run_context().task_run.flow_run_id
    try:
        return [
            (
                str(
                    run_deployment(
                        BATCH_DEPLOYMENT,
                        parameters={"customer_ids": ids, "as_of": day.isoformat(), "policy": policy},
                        timeout=0,
                        tags=["collection"],
                        idempotency_key=f"collect-batch:{parent}:{ids[0]}:{ids[-1]}:{len(ids)}",
                    ).id
                ),
                ids,
            )
            for ids in parts
        ]
    except ObjectNotFound:
        return None


@task(cache_policy=NO_CACHE, timeout_seconds=BATCH_RUNS_DEADLINE + SERVER_TIMEOUT)
def wait_for_batch_runs(runs: list[tuple[str, list[str]]], deadline_seconds: float = BATCH_RUNS_DEADLINE, poll_seconds: float = POLL_SECONDS) -> list[str]:
    """Wait until every batch run is final or the deadline passes; the batches that did not complete, each with its run."""
    from prefect.client.orchestration import get_client

    waiting = dict(runs)
    problems: list[str] = []
    deadline = time.monotonic() + deadline_seconds
    with get_client(sync_client=True) as client:
        while waiting and time.monotonic() < deadline:
            time.sleep(poll_seconds)
            for run_id in list(waiting):
                state = client.read_flow_run(uuid.UUID(run_id)).state
                if state is not None and state.is_final():
                    ids = waiting.pop(run_id)
                    if not state.is_completed():
                        problems.append(f"batch {ids[0]}…{ids[-1]} ({state.name}): see its run {run_id}")
    problems += [f"batch {ids[0]}…{ids[-1]} still running after {deadline_seconds:.0f} s: see its run {run_id}" for run_id, ids in waiting.items()]
    return problems


@task(cache_policy=NO_CACHE)
def bank_lines_waiting() -> int:
    """The bank statement's lines waiting for finance (`huikuan bank review`): the day's summary says how many."""
    from huikuan.bank.cash import count_waiting

    with session_scope() as session:
        return count_waiting(session)


RUNS_READ_AT_ONCE = 200


@task(cache_policy=NO_CACHE)
def restart_ended_approval_runs(day: dt.date) -> list[str]:
    """Approval requests and lists whose waiting run ended without a decision get a new run, with a new code; the GM is told.

    A run ends undecided when its ``MAX_ANSWERS`` answers run out (it marks
    its request itself) or when it failed, crashed or was cancelled (asked of
    the Prefect server here). The new run has its own idempotency key
    (``<key>:run<n>``) and is noted on the request at once. Codes stored by an
    earlier version (plain SHA-256, which no answer matches) are replaced by
    a new code to the same waiting run.
    """
    logger = get_run_logger()
    with session_scope() as session:
        to_check = approval_runs_to_check(session)
    ended = ended_runs(to_check)
    with session_scope() as session:
        the_company = company()
        for key, why in ended.items():
            target = _request(session, key)
            if target is not None and _mark_ended(session, target, the_company, day, run_id=to_check[key], why=why):
                logger.warning("%s: its waiting run %s ended without a decision (%s): a new run asks again", key, to_check[key], why)
        for approval in session.scalars(select(Approval).where(Approval.state == ApprovalState.requested, ~Approval.code_hash.startswith(HASH_PREFIX))):
            if execution.renew_old_code(session, approval, the_company, day):
                logger.warning("%s: its code was stored by an earlier version; a new code is emailed", approval.key)
        for group in session.scalars(
            select(ApprovalGroup).where(ApprovalGroup.state == ApprovalState.requested, ~ApprovalGroup.code_hash.startswith(HASH_PREFIX))
        ):
            if approval_groups.renew_old_code(session, group, the_company, day):
                logger.warning("%s: its code was stored by an earlier version; a new code is emailed", group.key)
        waiting = approvals_waiting_for_a_new_run(session)
    started = []
    for key, number in waiting:
        run_id = start_run(key, day, number)
        if run_id is None:
            continue
        with session_scope() as session:
            target = _request(session, key)
            if target is not None and target.run_ended_at is not None and target.state.value == "requested":
                target.flow_run_id, target.run_ended_at = run_id, None  # its open_request emails the new code
                started.append(run_id)
    return started


def _request(session, key: str) -> Approval | ApprovalGroup | None:
    model = ApprovalGroup if approval_groups.is_group_key(key) else Approval
    return session.scalar(select(model).where(model.key == key))


def _mark_ended(session, target: Approval | ApprovalGroup, company_, day: dt.date, *, run_id: str, why: str) -> bool:
    if isinstance(target, ApprovalGroup):
        return approval_groups.run_ended(session, target, company_, day, run_id=run_id, why=why)
    return execution.run_ended(session, target, company_, day, run_id=run_id, why=why)


def ended_runs(runs: dict[str, str]) -> dict[str, str]:
    """{key: why} of the waiting runs (``{key: run id}``) that ended: in a final state, or unknown to the Prefect server.

    Nothing, when the server cannot be asked (the next daily run asks again).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    ended: dict[str, str] = {}
    ids: dict[str, uuid.UUID] = {}
    for key, run_id in runs.items():
        try:
            ids[key] = uuid.UUID(run_id)
        except ValueError:
            ended[key] = f"{run_id!r} is not a run id"
    if not ids:
        return ended
    states = {}
    unique = sorted(set(ids.values()))
    try:
        with get_client(sync_client=True) as client:
            for start in range(0, len(unique), RUNS_READ_AT_ONCE):
                chunk = unique[start : start + RUNS_READ_AT_ONCE]
                for run in client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=chunk)), limit=len(chunk)):
                    states[run.id] = run.state
    except Exception as error:  # noqa: BLE001 - the server is away: nothing is known to have ended
        get_run_logger().warning("could not ask the Prefect server about the approval runs (%s); the next daily run asks again", error)
        return ended
    for key, run_id in ids.items():
        state = states.get(run_id)
        if state is None:
            ended[key] = "the Prefect server has no such run"
        elif state.is_final():
            ended[key] = f"it is {state.name}"
    return ended


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1)
def note_day_done(day: dt.date, policy: str, *, accounts: int, problems: int) -> None:
    """The day is done (a later scheduled run will not catch it up). Retried: a run of the same day may note it at the same moment."""
    with session_scope() as session:
        record_day(session, day, policy, accounts=accounts, problems=problems)


@task(cache_policy=NO_CACHE)
def missed(today: dt.date) -> list[dt.date]:
    with session_scope() as session:
        return missed_days(session, today)


@task(cache_policy=NO_CACHE, task_run_name="publish {day}")
def publish_day(
    day: dt.date, policy: str, *, accounts: int, batches: int, taken: int | None, problems: list[str], bank_waiting: int = 0, plan: DayPlan | None = None
) -> None:
    """The day's summary (actions by kind, from the ledger) and each collector's worklist, as artifacts.

    ``plan``: the day's plan (``tasks.ledger.plan_day``) the worklists are built from; without it the day is planned here.
    """
    from huikuan.reports.worklist import artifact_naming, worklist_heads, worklist_markdown

    people = company()
    with session_scope() as session:
        by_kind = Counter(dict(session.execute(select(ActionTaken.action, func.count()).where(ActionTaken.due_on == day).group_by(ActionTaken.action)).all()))
        heads = worklist_heads(
            session, day, WORKLIST_ROWS, policy=policy, company=people, planned=plan.worklist if plan is not None else None
        )  # None: planned again
    done_now = "spread over the workers" if taken is None else f"{taken} taken by this run"
    create_table_artifact(
        key="daily-collection",
        table=[{"action": kind, "taken for the day": count} for kind, count in sorted(by_kind.items())] or [{"action": "nothing due", "taken for the day": 0}],
        description=f"Daily collection of {day}: {accounts} accounts with something due in {batches} batches; {done_now}; "
        f"{len(problems)} account(s) with a problem"
        + ("".join(f"\n- {markdown_text(p)}" for p in problems[:20]))
        + (f"\n\n{bank_waiting} bank line(s) waiting for finance: {markdown_code('huikuan bank review')}" if bank_waiting else ""),
    )
    for collector, shown, length in heads:
        more = (
            f"\n\n… and {length - len(shown)} more: {markdown_code(f'huikuan worklist --as-of {day} --collector {collector}')}" if length > len(shown) else ""
        )
        key, description = artifact_naming(collector, people, day, length)  # the key by id (stable), the description by name
        create_markdown_artifact(key=key, markdown=worklist_markdown(shown, day, people) + more, description=description)
