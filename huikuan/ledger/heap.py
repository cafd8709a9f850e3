"""The process's older objects left out of the garbage collector's passes while a batch of work runs (issue #18).

CPython's cyclic collector now and then walks every object it tracks (a full pass):
the modules, Prefect's engine, the pydantic models, the results of the day so far.
A flow run's process holds four times the objects of a bare run of the same work,
and in the daily run's collection each full pass cost 0.1-0.15 s, nearly a second of a
10,000-customer day (0.86 s of 8.5 s, measured with ``gc.callbacks``). While
:func:`older_objects_frozen` is open, the objects that existed when it opened are
in the collector's permanent generation (``gc.freeze``): a full pass walks only
what the batch made. On leaving, one pass collects what the block left in reference
cycles (cheap: it walks only what the block made), and the older objects then go back
to the oldest generation (``gc.unfreeze``), so a cycle among them is still collected
later; nothing is kept longer than that.

That pass on leaving is what keeps a flow run's memory flat over its batches. Without
it a batch's cycles (SQLAlchemy's statements among them) went back to the oldest
generation with the rest, and waited for the next full pass, which CPython makes only
when the objects new to that generation reach a quarter of those in it: in a process
holding Prefect's 200,000 objects, dozens of batches. The 100,000-customer day's flow
run grew by 200 KiB a batch (174 to 212 MiB over its collection) where the same work
without Prefect grew by 65 KiB; a full pass every 20 batches kept it at 177-186 MiB.
Prefect's own cycles for a task run are made outside the batch's block (as the run
starts and ends), so a flow runs each batch task inside a block of its own
(:func:`one_block_each`), in which the batch's block nests.

Nested or concurrent uses share one freeze: the outermost opens and closes it. A
process whose own code froze objects before (``gc.get_freeze_count()`` not zero)
is left as it is.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_open = 0  # uses open now; the freeze is ours while it is above zero
_ours = False  # whether the current freeze was made here (else another owner's, left alone)


@contextmanager
def older_objects_frozen() -> Iterator[None]:
    """Objects older than this block are not walked by the garbage collector while it runs; its own cycles are freed as it ends."""
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
            closing = _open == 0 and _ours
        if closing:
            gc.collect()  # outside the lock: a finaliser it runs may open a block itself
            with _lock:
                if _open == 0 and _ours:  # else a block opened meanwhile, and shares the freeze
                    gc.unfreeze()
                    _ours = False


def one_block_each(items: Iterable[T]) -> Iterator[T]:
    """Each of ``items``, the caller's loop body for it running inside its own :func:`older_objects_frozen` block.

    For a flow's loop over its batch tasks: what each task run left in cycles, Prefect's
    and the batch's, is freed before the next one starts, by a pass over that run's objects only.
    """
    for item in items:
        with older_objects_frozen():
            yield item
