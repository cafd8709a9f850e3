"""The process's older objects left out of the garbage collector's passes while a batch of work runs (issue #18).

CPython's cyclic collector now and then walks every object it tracks (a full pass):
the modules, Prefect's engine, the pydantic models, the results of the day so far.
A flow run's process holds four times the objects of a bare run of the same work,
and in the daily run's collection each full pass cost 0.1-0.15 s, nearly a second of a
10,000-customer day (0.86 s of 8.5 s, measured with ``gc.callbacks``). While
:func:`older_objects_frozen` is open, the objects that existed when it opened are
in the collector's permanent generation (``gc.freeze``): a full pass walks only
what the batch made. On leaving they go back to the oldest generation (``gc.unfreeze``),
so a cycle among them is still collected later; nothing is kept longer than that.

Nested or concurrent uses share one freeze: the outermost opens and closes it. A
process whose own code froze objects before (``gc.get_freeze_count()`` not zero)
is left as it is.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_open = 0  # uses open now; the freeze is ours while it is above zero
_ours = False  # whether the current freeze was made here (else another owner's, left alone)


@contextmanager
def older_objects_frozen() -> Iterator[None]:
    """Objects older than this block are not walked by the garbage collector while it runs."""
    global _open, _ours
    with _lock:
        if _open == 0:
            _ours = gc.get_freeze_count() == 0
            if _ours:
                gc.freeze()
        _open += 1
    try:
        yield
    finally:
        with _lock:
            _open -= 1
            if _open == 0 and _ours:
                gc.unfreeze()
                _ours = False
