"""The daily collection's fan-out over the workers: batch runs started once each (idempotency keys) and waited for with a deadline."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

import prefect.client.orchestration

import tasks.day as day_tasks

RUNS = [(str(uuid.uuid4()), ["C1", "C2"]), (str(uuid.uuid4()), ["C3"])]


class FakeClient:
    """Answers read_flow_run with the states given per run id; a run not given is still running."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def read_flow_run(self, run_id):
        name = self.states.get(str(run_id))
        final = name is not None
        return SimpleNamespace(state=SimpleNamespace(name=name or "Running", is_final=lambda: final, is_completed=lambda: name == "Completed"))


def test_the_day_stops_waiting_at_its_deadline_and_names_the_batches_still_running(monkeypatch):
    monkeypatch.setattr(prefect.client.orchestration, "get_client", lambda sync_client=True: FakeClient({RUNS[1][0]: "Completed"}))
    problems = day_tasks.wait_for_batch_runs.fn(RUNS, deadline_seconds=0.2, poll_seconds=0.01)
    assert problems == [f"batch C1…C2 still running after 0 s: see its run {RUNS[0][0]}"]


def test_failed_batches_are_reported_and_completed_ones_are_not(monkeypatch):
    monkeypatch.setattr(prefect.client.orchestration, "get_client", lambda sync_client=True: FakeClient({RUNS[0][0]: "Crashed", RUNS[1][0]: "Completed"}))
    assert day_tasks.wait_for_batch_runs.fn(RUNS, deadline_seconds=5, poll_seconds=0.01) == [f"batch C1…C2 (Crashed): see its run {RUNS[0][0]}"]


def test_each_batch_run_is_keyed_by_the_daily_run_and_its_batch(monkeypatch):
    started = []
    parent = uuid.uuid4()
    monkeypatch.setattr(day_tasks, "get_run_context", lambda: SimpleNamespace(task_run=SimpleNamespace(flow_run_id=parent)))
    monkeypatch.setattr(day_tasks, "run_deployment", lambda name, **kwargs: started.append(kwargs) or SimpleNamespace(id=uuid.uuid4()))
    runs = day_tasks.start_batch_runs.fn([["C1", "C2"], ["C3"]], dt.date(2026, 11, 20), "handbook")
    assert [ids for _, ids in runs] == [["C1", "C2"], ["C3"]]
    keys = [kwargs["idempotency_key"] for kwargs in started]
    assert keys == [f"collect-batch:{parent}:C1:C2:2", f"collect-batch:{parent}:C3:C3:1"]  # a retry of the task starts nothing twice
    assert all(kwargs["timeout"] == 0 and kwargs["parameters"]["as_of"] == "2026-11-20" for kwargs in started)
