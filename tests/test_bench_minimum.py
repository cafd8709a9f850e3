"""The daily benchmark measures the floor beside its minimum: the ratios, and a minimum that wrote other rows fails."""

from __future__ import annotations

import copy

from bench.daily_bench import add_shares, failure, ratios

COMMON = {"size": 10000, "backend": "sqlite", "run": "daily", "finished": True, "problems": 0}
MINIMUM = {**COMMON, "mode": "minimum", "seconds": 10.0, "cpu_seconds": 8.0, "actions": 10417, "emails_queued": 10165, "emails_sent": 10165, "load_1min": 1.5}
FLOOR = {
    **COMMON,
    "mode": "floor",
    "seconds": 28.0,
    "plan_seconds": 2.0,
    "collect_seconds": 18.0,
    "dispatch_seconds": 8.0,
    "extras_seconds": 3.0,
    "cpu_seconds": 22.0,
    "collect_cpu_seconds": 14.0,
    "dispatch_cpu_seconds": 6.0,
    "extras_cpu_seconds": 3.0,
    "actions": 10417,
    "emails_queued": 10165,
    "emails_sent": 10165,
    "load_1min": 1.7,
}
FLOW = {
    **COMMON,
    "mode": "flow",
    "state": "Completed",
    "seconds": 33.6,
    "actions": 10417,
    "flow_runs_cpu_seconds": 30.0,
    "server_cpu_seconds": 3.0,
    "workers_cpu_seconds": 1.0,
    "load_1min": 1.8,
}


def measured(*entries: dict) -> list[dict]:
    entries = copy.deepcopy(list(entries))
    add_shares(entries)
    return entries


def test_the_floor_is_set_beside_its_minimum_and_the_flow_beside_the_floor():
    minimum, floor, flow = measured(MINIMUM, FLOOR, FLOW)
    assert minimum["check"] == "ok" and failure(minimum) is None
    assert floor["floor_over_minimum"] == 2.6  # collect + dispatch (26 s) over the minimum's 10 s: the same work
    assert floor["floor_with_plan_over_minimum"] == 2.8
    assert flow["flow_over_floor"] == 1.2
    assert flow["flow_over_same_work"] == 1.08  # over the floor and its extras (31 s): the same work without Prefect
    (row,) = ratios([minimum, floor, flow])
    assert row == {
        "size": 10000,
        "backend": "sqlite",
        "run": "daily",
        "minimum": 10.0,
        "minimum_load_1min": 1.5,
        "floor": 28.0,
        "floor_load_1min": 1.7,
        "flow": 33.6,
        "flow_load_1min": 1.8,
        "floor_over_minimum": 2.6,
        "floor_with_plan_over_minimum": 2.8,
        "floor_over_minimum_cpu": 2.5,
        "flow_over_floor": 1.2,
        "flow_over_same_work": 1.08,
    }


def test_a_minimum_that_wrote_or_sent_other_rows_than_the_floor_fails():
    minimum, _floor = measured({**MINIMUM, "emails_queued": 10100, "emails_sent": 10100}, FLOOR)
    assert failure(minimum) == "MISMATCH: emails_queued 10100 (the floor 10165), emails_sent 10100 (the floor 10165)"
    assert ratios([minimum, _floor])[0].get("floor_over_minimum") is None  # a failed minimum gives no ratio


def test_a_minimum_child_that_failed_fails():
    note = "the minimum child failed with status 1: SystemExit: the minimum wrote {'actions': 3} rows, the product {'actions': 4}"
    assert failure({**MINIMUM, "finished": False, "note": note}) == note


def test_a_floor_gets_no_ratio_from_a_minimum_of_other_work():
    _minimum, floor = measured({**MINIMUM, "actions": 10000}, FLOOR)
    assert "floor_over_minimum" not in floor and "minimum_seconds" not in floor


def test_the_minimum_writes_and_sends_what_the_floor_does(tmp_path):
    """A small day measured for real (child processes, no timing asserted): the minimum's rows and emails are the floor's."""
    from bench.daily_bench import build, measure_floor

    ledger = build(300, "sqlite", tmp_path, None, 1)
    minimum, floor = ({**COMMON, "mode": mode, **measure_floor(ledger, "daily", tmp_path, None, 600, mode=mode)} for mode in ("minimum", "floor"))
    assert minimum["finished"] and floor["finished"], (minimum, floor)
    add_shares([minimum, floor])
    assert minimum["check"] == "ok" and failure(minimum) is None and failure(floor) is None
    assert minimum["actions"] == floor["actions"] > 0 and minimum["emails_sent"] == floor["emails_sent"] > 0
    assert minimum["templates_rendered"] >= 3 * minimum["emails_queued"] - minimum["letters"]  # subject, text and html of each email
    assert floor["floor_over_minimum"] > 0
