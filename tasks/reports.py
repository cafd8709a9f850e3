"""Tasks that read the ledger for reports: they change nothing but the report files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from huikuan.ledger.db import session_scope
from huikuan.ledger.settings import get_settings
from huikuan.reports.management import ManagementReport, write_report

RETRIES = 3


@task(retries=RETRIES, retry_delay_seconds=get_settings().retry_delay_seconds, cache_policy=NO_CACHE, task_run_name="write management report {as_of}")
def write_management_report(as_of: dt.date, out_dir: Path) -> ManagementReport:
    """Read the ledger and write the month's folder (a retry rewrites it whole)."""
    with session_scope() as session:
        return write_report(session, as_of, out_dir)
