"""A bench's child reports its own peak memory, not its parent's (issue #18: the 100,000-customer floor's "182 MiB").

Linux keeps ``ru_maxrss`` across ``exec``: a child started by a bench that had grown
(after a flow measurement) reported the bench's own high-water mark as its peak.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GROWN_MIB = 150


def test_a_child_started_by_a_grown_parent_reports_its_own_peak():
    grown = bytearray(b"\x01") * (GROWN_MIB * 1024 * 1024)  # written: resident in this process
    child = subprocess.run(
        [sys.executable, "-c", "import json; from bench.memory import peak_rss_mib; print(json.dumps(peak_rss_mib()))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    del grown
    peak = json.loads(child.stdout)
    assert 0 < peak < GROWN_MIB / 2, f"the child reported {peak} MiB: its parent's {GROWN_MIB} MiB, not its own"
