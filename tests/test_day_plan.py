"""The daily run plans its day once: the collectors' worklists it publishes are built from that plan, and read the same
as the worklists planned afresh once the day's actions are taken (what `huikuan worklist` shows)."""

from __future__ import annotations

import datetime as dt

import pytest

from huikuan.ledger.db import session_scope
from tests.test_flows import START, demo  # noqa: F401 - the demo ledger and its company file, under Prefect's harness

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")


@pytest.mark.parametrize("kept", [None, 1], ids=["kept", "too-many-to-keep"])
def test_the_daily_run_plans_once_and_its_worklists_are_those_planned_after_the_day(demo, monkeypatch, kept):  # noqa: F811
    """Kept: one plan a day. Too many to keep (``KEPT_FOR_WORKLISTS``, memory flat with the day's size): the worklists plan the day again, the same lists."""
    import huikuan.reports.worklist as worklist_module
    import tasks.day
    import tasks.ledger
    from flows.daily_collection import daily_collection
    from huikuan.reports.worklist import artifact_naming, worklist_heads, worklist_markdown
    from tasks.ledger import company

    if kept is not None:
        monkeypatch.setattr(worklist_module, "KEPT_FOR_WORKLISTS", kept)
    plans: list[dt.date] = []
    for module in (tasks.ledger, worklist_module):
        planned = module.iter_plan
        monkeypatch.setattr(
            module, "iter_plan", lambda session, day, *args, planned=planned, **kwargs: plans.append(day) or planned(session, day, *args, **kwargs)
        )
    published: dict[str, str] = {}
    monkeypatch.setattr(tasks.day, "create_markdown_artifact", lambda *, key, markdown, description: published.update({key: description + "\n" + markdown}))
    listed = planned_again = 0
    for day in [START + dt.timedelta(days=n) for n in range(0, 21, 3)]:
        plans.clear()
        published.clear()
        daily_collection(as_of=day)
        if kept is None:
            assert plans == [day]  # one plan of the day: for the batches and the worklists alike
        else:  # a day with more worklist actions than kept is planned again for its lists
            assert plans in ([day], [day, day])
            planned_again += len(plans) - 1
        with session_scope() as session:  # the day planned again, after its actions were taken and its emails sent
            heads = worklist_heads(session, day, tasks.day.WORKLIST_ROWS, policy="handbook", company=company())
        expected = {}
        for collector, shown, length in heads:
            key, description = artifact_naming(collector, company(), day, length)
            expected[key] = description + "\n" + worklist_markdown(shown, day, company())
        assert published == expected
        listed += sum(length for _collector, _shown, length in heads)
    assert listed > 10  # the demo's customers are on the lists on these days
    assert kept is None or planned_again > 0


@pytest.mark.parametrize(("cores", "runs"), [(1, 2), (2, 2), (3, 3), (4, 4), (16, 8)])
def test_a_spread_day_is_at_most_one_collect_batch_run_a_core(monkeypatch, cores, runs):
    """Each run is a process of its own: more runs than cores only queue for them (measured on 2 cores: 2 runs beat 4, 4 beat 8)."""
    import os

    from flows.daily_collection import spread_runs

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: set(range(cores)), raising=False)
    assert spread_runs() == runs
