"""The daily benchmark tells the truth: a run that failed, or took nothing, fails the benchmark (no timing here)."""

from __future__ import annotations

from bench.daily_bench import failure

FLOOR = {"mode": "floor", "finished": True, "seconds": 61.2, "actions": 10417, "problems": 0}
FLOW = {"mode": "flow", "finished": True, "state": "Completed", "seconds": 70.4, "actions": 10417, "check": "ok"}


def test_a_run_that_took_its_actions_counts():
    assert failure(FLOOR) is None
    assert failure(FLOW) is None


def test_a_run_that_finished_with_no_action_failed():
    """``--keep relative/dir``: the flow ran on another, empty ledger and printed "1.8 s, 0 actions"."""
    assert failure({**FLOW, "seconds": 1.8, "actions": 0, "check": "ok"}) == "no action taken"
    assert failure({**FLOOR, "seconds": 1.8, "actions": 0}) == "no action taken"


def test_a_flow_run_that_did_not_complete_failed():
    assert failure({**FLOW, "state": "Failed"}) == "the flow run ended Failed"
    assert failure({**FLOW, "state": "Crashed", "actions": 12}) == "the flow run ended Crashed"


def test_a_child_that_failed_or_was_stopped_failed():
    note = "the floor child failed with status 1: CompanyFileError: company.yaml: company file not found"
    assert failure({"mode": "floor", "finished": False, "note": note}) == note
    assert failure({"mode": "flow", "finished": False}) == "did not finish"


def test_failed_accounts_and_another_count_than_the_floor_fail():
    assert failure({**FLOOR, "problems": 3}) == "3 accounts failed"
    mismatch = "MISMATCH: 10400 actions, the floor took 10417"
    assert failure({**FLOW, "actions": 10400, "check": mismatch}) == mismatch
