"""Aging buckets (账龄): pure functions of days past the due date."""

from __future__ import annotations

import datetime as dt

# (label, first day overdue, last day overdue or None); "not due" covers day 0 and before.
AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("not due", -(10**6), 0),
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("91-180", 91, 180),
    ("over 180", 181, None),
)


def days_overdue(due_on: dt.date, as_of: dt.date) -> int:
    """Calendar days past the due date (negative while not yet due)."""
    return (as_of - due_on).days


def aging_bucket(days: int) -> str:
    for label, first, last in AGING_BUCKETS:
        if days >= first and (last is None or days <= last):
            return label
    raise AssertionError("the buckets cover every integer")
