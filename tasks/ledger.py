"""Tasks on the ledger: each does one thing, in one transaction, safe to retry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from sqlalchemy.orm import sessionmaker

from huikuan.collection import execution
from huikuan.collection.batch import BatchResult, collect, is_of
from huikuan.ledger.company import Company, company_from
from huikuan.ledger.context import calendars_of
from huikuan.ledger.db import engine_for, session_scope
from huikuan.ledger.facts import load_facts
from huikuan.ledger.settings import get_settings
from huikuan.outbox.mail import Dispatched, dispatch
from huikuan.reports.planning import iter_plan
from models.engine import Action, Evaluator
from models.policy import load_policy

RETRIES = 3


def company() -> Company:
    return company_from(str(get_settings().company_file.resolve()))


def _retry_delay() -> float:
    return get_settings().retry_delay_seconds


@task(cache_policy=NO_CACHE, task_run_name="plan {as_of}")
def customers_due(as_of: dt.date, policy: str, kinds: list[str] | None = None) -> list[str]:
    """The customers with something due on ``as_of`` (of ``kinds``, if given), in id order."""
    with session_scope() as session:
        actions = iter_plan(session, as_of, load_policy(policy), calendars=calendars_of(company()))
        return sorted({a.customer_id for a in actions if kinds is None or is_of(a, kinds)})


class DayPlan:
    """A day's plan as the daily run keeps it: the customers with something due (in id order) and the actions the
    collectors' worklists are made of (``huikuan.reports.worklist.KeptForWorklists``, in the plan's order), or None when
    they were more than ``huikuan.reports.worklist.KEPT_FOR_WORKLISTS``.

    A day of up to that many is planned once: ``publish_day`` builds the worklists from these actions instead of planning the day again.
    A plain class, not a dataclass or a tuple: Prefect walks a task's collection and dataclass parameters (and results)
    item by item looking for futures, and the worklist's actions are as many as the accounts due.
    """

    __slots__ = ("due", "worklist")

    def __init__(self, due: list[str], worklist: Iterable[Action] | None) -> None:
        self.due = due
        self.worklist = worklist


@task(cache_policy=NO_CACHE, task_run_name="plan {as_of}")
def plan_day(as_of: dt.date, policy: str) -> DayPlan:
    """The customers with something due on ``as_of`` (as ``customers_due``) and, up to ``KEPT_FOR_WORKLISTS``, the worklists' actions, in one plan."""
    from huikuan.reports.worklist import KeptForWorklists

    due: dict[str, None] = {}
    kept = KeptForWorklists()
    with session_scope() as session:
        for action in iter_plan(session, as_of, load_policy(policy), calendars=calendars_of(company())):
            due[action.customer_id] = None
            kept.add(action)
    return DayPlan(sorted(due), None if kept.dropped else kept)  # None: too many to hold, publish_day plans them again


def _batch_name() -> str:
    from prefect.runtime import task_run

    ids, day = task_run.parameters["customer_ids"], task_run.parameters["as_of"]
    span = ids[0] if len(ids) == 1 else f"{ids[0]}…{ids[-1]} ({len(ids)} accounts)"
    return f"collect {span} {day}"


@task(retries=RETRIES, retry_delay_seconds=_retry_delay(), cache_policy=NO_CACHE, task_run_name=_batch_name)
def collect_batch(customer_ids: list[str], as_of: dt.date, policy: str, kinds: list[str] | None = None) -> BatchResult:
    """Take the due actions of a batch of accounts, each account in its own transaction.

    Publishes a table of the batch (every account: what was due, what this run
    took, the next action date, any problem) on the task run, and logs what it took
    in one record (each account's problem or bouncing address in its own). A lost database
    fails the task, which is retried; an account whose data breaks an action is
    reported and the others go on.
    """
    result = collect(engine_for(), customer_ids, as_of, load_policy(policy), company(), kinds=kinds)
    logger = get_run_logger()
    took = [f"{account.customer_id}: took {', '.join(account.taken)}" for account in result.accounts if account.taken and not account.error]
    if took:  # one record for the batch: a record an account was a third of the flow's cost beyond the work (console, API, server)
        logger.info("%s accounts took %s actions:\n%s", len(took), result.taken, "\n".join(took))
    for account in result.accounts:
        if account.error:
            logger.error("%s: %s", account.customer_id, account.error)
        for held in account.held:
            logger.warning("%s: %s", account.customer_id, held)
    create_table_artifact(
        table=[a.row() for a in result.accounts],
        description=f"Collection of {as_of}: {len(result.accounts)} accounts, {result.taken} actions taken now, {len(result.failed)} with a problem",
    )
    return result


@task(cache_policy=NO_CACHE, task_run_name="plan {customer_id} {as_of}")
def due_for(customer_id: str, as_of: dt.date, policy: str) -> list[Action]:
    with session_scope() as session:
        facts, country = next(load_facts(session, only=[customer_id]))
    calendar = calendars_of(company()).calendar(country)
    return sorted(Evaluator(facts, load_policy(policy), calendar).actions_on(as_of), key=Action.sort_key)


@task(retries=RETRIES, retry_delay_seconds=_retry_delay(), cache_policy=NO_CACHE)
def dispatch_outbox() -> Dispatched:
    """Deliver the queued emails; a failed delivery fails the task so that it is retried."""
    result = dispatch(sessionmaker(engine_for()), company())
    if result.failed:
        raise RuntimeError(f"{result.failed} email(s) not delivered yet: {result.errors[:3]}")
    return result


@task(cache_policy=NO_CACHE)
def remind_unanswered_approvals(as_of: dt.date) -> list[str]:
    """Unanswered requests and lists of requests: re-sent and escalated, or expired."""
    from huikuan.approvals.groups import remind_or_expire_groups

    with session_scope() as session:
        return execution.remind_or_expire(session, company(), as_of) + remind_or_expire_groups(session, company(), as_of)


@task(cache_policy=NO_CACHE)
def statement_status(as_of: dt.date) -> list[dict]:
    """How many statements are in each state, per billing month."""
    from sqlalchemy import func, select

    from models.ledger import Statement

    with session_scope() as session:
        rows = session.execute(select(Statement.month, Statement.state, func.count()).group_by(Statement.month, Statement.state).order_by(Statement.month))
        return [{"month": month, "state": state.value, "statements": count} for month, state, count in rows]
