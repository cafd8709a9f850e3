"""``report limitation``: the open debts whose limitation date (诉讼时效) comes within a year, or has passed, soonest first.

A debt whose period has ended is marked ``expired``: it can no longer be enforced
in court unless the customer acknowledges it again, and is reported as bad debt.
Those within the policy's first limitation warning (the handbook's steps
``limitation_warning_90`` and ``_30``) are marked ``warn``: send a written demand now.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.ledger.context import RunContext, run_context
from huikuan.legal.standing import standing_of
from models.ledger import Invoice
from models.limitation import YEARS, years_later
from models.policy import Anchor

HORIZON_DAYS = 365  # debts expiring later than this are not listed
COLUMNS = ["customer_id", "customer", "invoice_id", "due_on", "open", "charge", "expires_on", "days_left", "restarted_by", "status"]


def limitation_rows(session: Session, as_of: dt.date, context: RunContext) -> list[list]:
    """One row per open invoice expiring within ``HORIZON_DAYS`` (or expired), soonest first."""
    # The period only ever grows from due date + 3 years: later due dates cannot come within the horizon.
    latest_due = years_later(as_of + dt.timedelta(days=HORIZON_DAYS), -YEARS)
    customers = sorted(set(session.scalars(select(Invoice.customer_id).where(Invoice.due_on <= latest_due, Invoice.issued_on <= as_of))))
    warn_days = max((-step.trigger.days for step in context.policy.steps if step.trigger.anchor is Anchor.limitation), default=0)
    rows = []
    for customer_id in customers:
        standing = standing_of(session, customer_id, as_of, context, shown_until=as_of + dt.timedelta(days=HORIZON_DAYS))
        for invoice in standing.invoices:
            left = invoice.limitation.days_left(as_of)
            if left > HORIZON_DAYS:
                continue
            restart = invoice.limitation.restarted_by
            status = "expired" if left < 0 else "warn" if left <= warn_days else "ok"
            rows.append(
                [
                    standing.customer_id,
                    standing.customer_name,
                    invoice.invoice_id,
                    invoice.due_on,
                    invoice.open_amount,
                    invoice.charge_amount,
                    invoice.limitation.expires_on,
                    left,
                    f"{restart.kind.value} {restart.on.isoformat()} ({restart.reference})" if restart else "due date",
                    status,
                ]
            )
    rows.sort(key=lambda row: (row[6], row[0], row[2]))
    return rows


def limitation_report(session: Session, as_of: dt.date):
    """The ``limitation`` report of ``huikuan report``."""
    from huikuan.reports.builders import Report

    context = run_context()
    rows = limitation_rows(session, as_of, context)
    expired = sum(1 for row in rows if row[-1] == "expired")
    notes = [
        "limitation period: 3 years from the due date (民法典 第188条), restarted by a delivered written demand, "
        "the customer's acknowledgement (confirmed statement, promise, instalment plan) or a part payment (第195条)",
        f"{expired} expired: no longer enforceable unless the customer acknowledges the debt again; report as bad debt",
        "warn: send a written demand now (a dunning or lawyer's letter with a delivery record)",
    ]
    return Report("limitation", "Limitation dates (诉讼时效)", as_of, list(COLUMNS), rows, notes)
