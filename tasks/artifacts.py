"""Tasks that publish what a run did as Prefect artifacts (the flows build no Markdown or tables themselves).

Each artifact has a stable key, so the Prefect UI shows its history across runs; every text from the
ledger in it (ids, names, reasons) is escaped for Markdown (``huikuan.documents.escaping``). The daily
run's own summary and worklists are ``tasks.day.publish_day``.
"""

from __future__ import annotations

import datetime as dt
import re

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from huikuan.documents.escaping import artifact_key, markdown_text
from models.engine import Action


@task(cache_policy=NO_CACHE, task_run_name="publish account {customer_id} {day}")
def publish_account(customer_id: str, day: dt.date, actions: list[Action], upcoming: dt.date | None) -> None:
    """``account-<id>``: one customer's actions of the day and the next action date (collect-account)."""
    create_markdown_artifact(
        key=f"account-{artifact_key(customer_id)}",
        markdown=account_markdown(customer_id, day, actions, upcoming),
        description=f"{markdown_text(customer_id)}: actions of {day} and the next action date",
    )


def account_markdown(customer_id: str, day: dt.date, actions: list[Action], upcoming: dt.date | None) -> str:
    """The account's artifact: the actions due on ``day`` with their reasons, and the next action date (ids and reasons escaped)."""
    lines = "\n".join(f"- **{a.action}** ({a.channel}, {a.role}): {markdown_text('; '.join(a.reasons))}" for a in actions) or "- nothing due"
    return f"# {markdown_text(customer_id)} on {day}\n\n{lines}\n\nNext action: **{upcoming or 'none in the next 120 days'}**"


@task(cache_policy=NO_CACHE, task_run_name="publish list {group_key}")
def publish_approval_list(group_key: str, rows: list[dict[str, str]], description: str) -> None:
    """The requests of one approval list as a table (approve-list), keyed by the list."""
    create_table_artifact(key=list_artifact_key(group_key), table=rows, description=description)


def list_artifact_key(group_key: str) -> str:
    """review:send_statement:supervisor:2026-12-07:1 -> review-send-statement-supervisor-2026-12-07-1 (artifact keys: a-z, 0-9, dashes)."""
    return re.sub(r"[^a-z0-9]+", "-", group_key.lower()).strip("-")


@task(cache_policy=NO_CACHE, task_run_name="publish statement cycle {day}")
def publish_statement_cycle(day: dt.date, status: list[dict]) -> None:
    """``statement-cycle``: the statements by month and state on ``day``."""
    create_table_artifact(key="statement-cycle", table=status, description=f"Statements on {day}, by month and state")


@task(cache_policy=NO_CACHE, task_run_name="publish management report")
def publish_management_report(report) -> None:
    """``management-report`` (KPIs, charts, aging, statements, approvals) and ``aging-by-collector``, at the month's end."""
    from huikuan.reports.management import artifact_markdown, table_rows

    end = report.period_end.isoformat()
    create_markdown_artifact(key="management-report", markdown=artifact_markdown(report), description=f"KPIs, charts, aging, statements and approvals at {end}")
    create_table_artifact(
        key="aging-by-collector", table=table_rows(report.reports["aging-collector"]), description=f"Open receivables by collector and age on {end}"
    )
