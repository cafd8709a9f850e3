"""The plan benchmark runs end to end on a small ledger and prints each figure beside the bare read and Python's floor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_plan_bench_measures_the_plan_its_csv_and_python_s_floor(tmp_path):
    figures = tmp_path / "plan.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.plan_bench", "--customers", "1000", "--invoices", "3000", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(figures.read_text())
    assert found["customers"] == 1000 and found["invoices"] == 3000 and found["actions"] > 0
    for name in ("bare_read_unrounded", "read_seconds", "plan_seconds", "csv_seconds", "object_floor_seconds", "object_floor_over_bare"):
        assert found[name] > 0, name
    assert abs(found["object_floor_over_bare"] - found["object_floor_seconds"] / found["bare_read_unrounded"]) < 0.01 + found["object_floor_over_bare"] / 10
    assert "(b') as CSV:" in done.stdout and "Python's floor:" in done.stdout
