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


@pytest.mark.parametrize("pack", [2, 1000])
def test_the_kept_worklist_actions_come_back_stripped_in_the_plans_order_and_none_past_the_bound(monkeypatch, pack):
    """``KeptForWorklists`` packs the actions ``PACK`` at a time: they come back as ``kept_for_worklist`` made them, in order,
    the others left out; past ``KEPT_FOR_WORKLISTS`` it keeps none (the worklists plan the day again)."""
    import huikuan.reports.worklist as worklist_module
    from huikuan.reports.worklist import KeptForWorklists, kept_for_worklist
    from models.engine import Action

    monkeypatch.setattr(KeptForWorklists, "PACK", pack)
    day = dt.date(2026, 11, 23)

    def action(n: int, channel: str, kind: str = "follow_up") -> Action:
        return Action(day, f"C{n:03d}", kind, (f"INV{n}",), channel, "collector", False, (f"reason {n}",), (f"step {n}",))

    plan = [action(n, ("phone", "email", "visit", "email+phone", "letter")[n % 5]) for n in range(12)] + [action(99, "email", "limitation_warning")]
    kept = KeptForWorklists()
    for planned in plan:
        kept.add(planned)
    wanted = [kept_for_worklist(a) for a in plan if a.channel in ("phone", "visit", "email+phone") or a.action == "limitation_warning"]
    assert list(kept) == wanted and kept.count == len(wanted) == 8 and not kept.dropped
    assert wanted[0].steps == () and wanted[0].reasons == () and wanted[-1].reasons == ("reason 99",)
    assert list(kept) == wanted  # iterated again: the same

    monkeypatch.setattr(worklist_module, "KEPT_FOR_WORKLISTS", 7)
    bounded = KeptForWorklists()
    for planned in plan:
        bounded.add(planned)
    assert bounded.dropped
    with pytest.raises(RuntimeError, match="KEPT_FOR_WORKLISTS"):
        list(bounded)


def test_the_day_keeps_no_batch_result_once_it_is_counted(monkeypatch):
    """A batch's result (an entry an account) is summed as it comes: a 100,000-account day does not hold 200 batches of them."""
    import gc
    import weakref
    from types import SimpleNamespace

    from flows import daily_collection
    from huikuan.collection.batch import AccountResult, BatchResult
    from tasks.ledger import DayPlan

    day = dt.date(2026, 11, 23)
    earlier: list[weakref.ref] = []
    kept_when_called: list[int] = []

    def collect_batch(ids, as_of, policy):
        gc.collect()
        kept_when_called.append(sum(ref() is not None for ref in earlier))
        result = BatchResult(as_of, [AccountResult(i, due=[f"{i}:follow_up"], taken=[f"{i}:follow_up"], held=[f"{i}: bounced"]) for i in ids])
        earlier.append(weakref.ref(result))
        return result

    done = SimpleNamespace(result=lambda: None)
    published: dict = {}
    monkeypatch.setattr(daily_collection, "plan_day", lambda as_of, policy: DayPlan([f"C{n:03}" for n in range(7)], None))
    monkeypatch.setattr(daily_collection, "collect_batch", collect_batch)
    monkeypatch.setattr(daily_collection, "restart_ended_approval_runs", lambda as_of: None)
    monkeypatch.setattr(daily_collection, "start_waiting_approval_runs", SimpleNamespace(submit=lambda: done))
    monkeypatch.setattr(daily_collection, "remind_unanswered_approvals", lambda as_of: [])
    monkeypatch.setattr(daily_collection, "dispatch_outbox", lambda: None)
    monkeypatch.setattr(daily_collection, "note_day_done", lambda *args, **kwargs: None)
    monkeypatch.setattr(daily_collection, "bank_lines_waiting", lambda: 0)
    monkeypatch.setattr(daily_collection, "publish_day", lambda *args, **kwargs: published.update(kwargs))
    summary = daily_collection.collect_day(day, "handbook", 2, False)
    assert kept_when_called == [0, 1, 1, 1]  # 4 batches of 2, 2, 2, 1: at most the one before is alive (the loop's name for it)
    assert (summary["accounts"], summary["batches"], summary["taken"], summary["problems"]) == (7, 4, 7, [])
    assert summary["not emailed"] == [f"C{n:03}: bounced" for n in range(7)] and published["taken"] == 7
