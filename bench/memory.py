"""The peak memory of the process measuring: its own high-water mark, not one inherited from its parent.

``getrusage(RUSAGE_SELF).ru_maxrss`` is kept across ``exec``: Linux carries the
high-water mark of the memory the process had before it (for a child that
``subprocess`` starts: its parent's) into the new program. A bench's child started after the bench had
run a flow measurement (its Prefect client, ~180 MiB) reported that parent's
figure as its own: the 100,000-customer floor "peaked" at 182 MiB in those runs
and at 135-139 MiB in the others. ``VmHWM`` in ``/proc/self/status`` is the
high-water mark of this program's own memory.
"""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mib() -> float:
    """This process's peak resident set size in MiB (``VmHWM``; ``ru_maxrss`` where there is no ``/proc``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
