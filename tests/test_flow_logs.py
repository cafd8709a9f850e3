"""What the daily run logs: a batch's taken actions in one record (a record an account was most of Prefect's cost on a large day)."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from sqlalchemy import select

import tasks.ledger
from huikuan.ledger.db import session_scope
from models.ledger import ActionTaken
from tests.test_flows import demo  # noqa: F401 - the demo ledger fixture

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")


class Recorder(logging.LoggerAdapter):
    """A run logger that keeps every record's level and message."""

    def __init__(self, records: list[tuple[int, str]]) -> None:
        super().__init__(logging.getLogger("test-flow-logs"), {})
        self.records = records

    def log(self, level, msg, *args, **kwargs) -> None:
        self.records.append((level, msg % args if args else msg))


def test_a_batch_logs_the_actions_it_took_in_one_record_naming_every_account(demo, monkeypatch):  # noqa: F811 - the fixture
    from flows.daily_collection import daily_collection

    records: list[tuple[int, str]] = []
    monkeypatch.setattr(tasks.ledger, "get_run_logger", lambda: Recorder(records))
    daily_collection(as_of=dt.date(2026, 11, 3), batch_size=4)
    taken: dict[str, set[str]] = {}
    with session_scope() as session:
        for customer_id, key in session.execute(select(ActionTaken.customer_id, ActionTaken.key)):
            taken.setdefault(customer_id, set()).add(key)
    assert len(taken) >= 3, "the day takes actions of several accounts"
    took = [message for level, message in records if level == logging.INFO and " took " in message]
    assert 1 <= len(took) <= -(-10 // 4)  # a record a batch (10 customers, 4 a batch), not one an account
    lines = [line for message in took for line in message.splitlines()[1:]]
    assert sorted(line.split(": took ")[0] for line in lines) == sorted(taken)  # every account that took something, once
    for line in lines:
        customer_id, _, keys = line.partition(": took ")
        assert set(keys.split(", ")) == taken[customer_id]
    assert sum(int(message.split(" accounts took ")[0]) for message in took) == len(taken)
