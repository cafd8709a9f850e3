"""management-report: the month's receivables report for the people who steer (PROCESS §7).

Trigger: the monthly schedule on the 1st (company time zone), or a person with a
date to rerun or backfill a month. Inputs: the day (default today); the report is
on the month before that day's month, every figure at that month's last day.
Effects: the ledger is only read. The folder ``<data dir>/reports/report-YYYY-MM/``
is written (report.html with the charts inside, report.md, report.xlsx, three
PNG charts), replacing an earlier run's files for that month; artifacts: the
markdown summary ``management-report`` (KPIs, charts, aging by segment,
statements, pending approvals, where the files are) and the table
``aging-by-collector``.
"""

from __future__ import annotations

import datetime as dt

from prefect import flow

from flows.naming import dated
from huikuan.ledger.settings import get_settings
from tasks.artifacts import publish_management_report
from tasks.reports import write_management_report


@flow(name="management-report", flow_run_name=dated("management report {as_of}"))
def management_report(as_of: dt.date | None = None) -> dict:
    """Write the month's receivables report (HTML, Markdown, XLSX, charts) and publish its summary as artifacts.

    Args:
        as_of: a day of the month after the report's month (default: today).

    Returns:
        Where the report's files are and its key figures.
    """
    day = as_of or get_settings().today()
    report = write_management_report(day, get_settings().data_dir / "reports")
    publish_management_report(report)
    return {"as_of": day.isoformat(), "month": report.month, "folder": str(report.folder)}
