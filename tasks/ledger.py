"""Tasks on the ledger: each does one thing, in one transaction, safe to retry."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from sqlalchemy.orm import sessionmaker

from huikuan import execution
from huikuan.company import Company, company_from
from huikuan.db import engine_for, session_scope
from huikuan.facts import load_facts
from huikuan.mail import Dispatched, dispatch
from huikuan.planning import plan
from huikuan.settings import get_settings
from models.calendar import calendar_for
from models.engine import Action, Evaluator, simulate
from models.policy import load_policy

RETRIES = 3


def company() -> Company:
    return company_from(str(get_settings().company_file.resolve()))


def _retry_delay() -> float:
    return get_settings().retry_delay_seconds


@task(cache_policy=NO_CACHE, task_run_name="plan {as_of}")
def due_by_customer(as_of: dt.date, policy: str) -> dict[str, list[Action]]:
    """Every action due on ``as_of``, by customer."""
    with session_scope() as session:
        actions = plan(session, as_of, load_policy(policy))
    grouped: dict[str, list[Action]] = defaultdict(list)
    for action in actions:
        grouped[action.customer_id].append(action)
    return dict(grouped)


@task(cache_policy=NO_CACHE, task_run_name="plan {customer_id} {as_of}")
def due_for(customer_id: str, as_of: dt.date, policy: str) -> list[Action]:
    with session_scope() as session:
        facts, country = next(load_facts(session, only=[customer_id]))
    return sorted(Evaluator(facts, load_policy(policy), calendar_for(country)).actions_on(as_of), key=Action.sort_key)


@task(retries=RETRIES, retry_delay_seconds=_retry_delay(), cache_policy=NO_CACHE, task_run_name="{action.action} {action.customer_id} {action.on}")
def take(action: Action, as_of: dt.date) -> execution.Outcome:
    """Carry out one action (its key makes a retry or a rerun a no-op)."""
    with session_scope() as session:
        outcome = execution.take_action(session, action, company=company(), as_of=as_of)
    get_run_logger().info("%s: %s", action.key, "taken" if outcome.taken else "already taken")
    return outcome


@task(retries=RETRIES, retry_delay_seconds=_retry_delay(), cache_policy=NO_CACHE)
def dispatch_outbox() -> Dispatched:
    """Deliver the queued emails; a failed delivery fails the task so that it is retried."""
    result = dispatch(sessionmaker(engine_for()), company())
    if result.failed:
        raise RuntimeError(f"{result.failed} email(s) not delivered yet: {result.errors[:3]}")
    return result


@task(cache_policy=NO_CACHE, task_run_name="next action {customer_id}")
def next_action_on(customer_id: str, as_of: dt.date, policy: str, horizon_days: int = 120) -> dt.date | None:
    """The account's next action date after ``as_of`` if nothing changes (shown to people)."""
    with session_scope() as session:
        facts, country = next(load_facts(session, only=[customer_id]))
    later = simulate(facts, as_of + dt.timedelta(days=1), as_of + dt.timedelta(days=horizon_days), load_policy(policy), calendar_for(country))
    return later[0].on if later else None


@task(cache_policy=NO_CACHE)
def remind_unanswered_approvals(as_of: dt.date) -> list[str]:
    with session_scope() as session:
        return execution.remind_or_expire(session, company(), as_of)


@task(cache_policy=NO_CACHE)
def statement_status(as_of: dt.date) -> list[dict]:
    """How many statements are in each state, per billing month."""
    from sqlalchemy import func, select

    from models.ledger import Statement

    with session_scope() as session:
        rows = session.execute(select(Statement.month, Statement.state, func.count()).group_by(Statement.month, Statement.state).order_by(Statement.month))
        return [{"month": month, "state": state.value, "statements": count} for month, state, count in rows]
