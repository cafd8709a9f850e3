"""The process's older objects are left out of the garbage collector's passes while a batch runs (issue #18, ``huikuan.ledger.heap``).

- inside ``older_objects_frozen`` the objects made before it are frozen (a cycle among them is not collected) and after it
  they are back (the same cycle is collected): nothing is kept longer than the block; a cycle made inside and dropped is
  freed as the block ends, with no pass of the collector's own;
- nested blocks share one freeze, closed by the outermost; a freeze another owner made is left alone;
- ``one_block_each`` frees what each item's loop body left before the next item, and closes its block on an early stop;
- reading the facts, planning, collecting a batch and delivering the outbox each run inside it.
"""

from __future__ import annotations

import datetime as dt
import gc
import weakref

import pytest
from sqlalchemy.orm import Session, sessionmaker

from huikuan.collection import batch
from huikuan.ledger import facts as facts_module
from huikuan.ledger import heap
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.facts import load_facts
from huikuan.ledger.importer import import_files
from huikuan.outbox import mail
from huikuan.outbox.mail import OutboxFolder, dispatch
from huikuan.reports.planning import iter_plan
from models.policy import load_policy
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

COMPANY = parse_company(EXAMPLE)
POLICY = load_policy("handbook")
DAY = dt.date(2026, 10, 12)  # each customer's invoice (due 10-01) is 11 days late: one follow-up email each


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def nothing_frozen_before():
    gc.unfreeze()  # another test's leftover would hide what these check
    yield
    assert gc.get_freeze_count() == 0, "a block left objects frozen"


def _garbage_cycle() -> weakref.ref:
    node = Node()
    gc.collect()  # node is now an old object, as the modules and the day's results are
    return weakref.ref(node)


def test_a_cycle_made_before_the_block_waits_for_its_end_and_is_collected_after():
    alive = _garbage_cycle()  # unreachable but for its own cycle: garbage, once the collector looks at it
    with heap.older_objects_frozen():
        assert gc.get_freeze_count() > 0
        gc.collect()
        assert alive() is not None  # frozen: not walked
    gc.collect()
    assert alive() is None  # back in the oldest generation: collected


def test_a_cycle_made_inside_the_block_is_collected_inside_it():
    with heap.older_objects_frozen():
        node = Node()
        alive = weakref.ref(node)
        del node
        gc.collect()
        assert alive() is None


def test_a_cycle_the_block_leaves_is_freed_as_it_ends_without_waiting_for_a_pass():
    """A batch's garbage does not wait, beside the older objects, for the collector's next full pass (flat memory over a day)."""
    gc.disable()  # no pass of the collector's own: only the block's
    try:
        with heap.older_objects_frozen():
            alive = weakref.ref(Node())  # a cycle the batch made and dropped
            assert alive() is not None
        assert alive() is None
    finally:
        gc.enable()


def test_nested_blocks_share_one_freeze_that_the_outermost_closes():
    with heap.older_objects_frozen():
        with heap.older_objects_frozen():
            pass
        assert gc.get_freeze_count() > 0  # the inner block did not unfreeze the outer's objects
    assert gc.get_freeze_count() == 0


def test_a_freeze_made_by_another_owner_is_left_alone():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with heap.older_objects_frozen():
            pass
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def test_an_error_inside_the_block_still_closes_it():
    with pytest.raises(ValueError), heap.older_objects_frozen():
        raise ValueError("a batch failed")
    assert gc.get_freeze_count() == 0


def test_one_block_each_frees_what_the_loop_body_left_before_the_next_item():
    """A flow's loop over its batch tasks: each task run's cycles (Prefect's, made outside the batch's own block) go before the next."""
    gc.disable()
    try:
        left: list[weakref.ref] = []
        for item in heap.one_block_each(range(3)):
            assert gc.get_freeze_count() > 0
            assert all(alive() is None for alive in left), f"item {item} started with the cycles of an earlier item alive"
            left.append(weakref.ref(Node()))
        assert left[-1]() is None
        assert gc.get_freeze_count() == 0
    finally:
        gc.enable()


def test_one_block_each_closes_its_block_when_the_loop_stops_early():
    def stops_at_one():
        for item in heap.one_block_each(range(5)):
            if item == 1:
                raise ValueError("a batch failed")

    with pytest.raises(ValueError):
        stops_at_one()
    assert gc.get_freeze_count() == 0


def _many(n: int) -> dict[str, str]:
    customers = "".join(f"C{i:02},客户{i},c{i}@example.cn,{i},联系人{i}\n" for i in range(n))
    invoices = "".join(f"I{i:02},C{i:02},2026-09-01,2026-10-01,{800 + i}.00\n" for i in range(n))
    return {"customers": "customer_id,name,email,phone,contact_name\n" + customers, "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n" + invoices}


def _frozen_when(monkeypatch, module, name: str) -> list[bool]:
    """Whether older objects were frozen each time ``module.name`` was called."""
    seen: list[bool] = []
    real = getattr(module, name)

    def watched(*args, **kwargs):
        seen.append(gc.get_freeze_count() > 0)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, watched)
    return seen


def test_the_facts_the_plan_a_batch_and_the_delivery_run_with_older_objects_frozen(tmp_path, sqlite_engine, monkeypatch):
    with Session(sqlite_engine) as session, session.begin():
        import_files(session, write_files(tmp_path, _many(6)))
    read = _frozen_when(monkeypatch, facts_module, "_read_batch")
    with Session(sqlite_engine) as session:
        assert len(list(load_facts(session))) == 6
        assert read == [True] and gc.get_freeze_count() == 0
        planned = list(iter_plan(session, DAY, POLICY))
        assert len(planned) == 6 and read == [True, True] and gc.get_freeze_count() == 0
    taken = _frozen_when(monkeypatch, batch, "take_for_customer")
    assert batch.collect(sqlite_engine, [f"C{i:02}" for i in range(6)], DAY, POLICY, COMPANY).taken == 6
    assert taken == [True] * 6 and gc.get_freeze_count() == 0
    delivered = _frozen_when(monkeypatch, mail, "_deliver_chunk")
    assert dispatch(sessionmaker(sqlite_engine), COMPANY, OutboxFolder(tmp_path / "outbox")).sent == 6
    assert delivered == [True]
