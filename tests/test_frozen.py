"""``models.frozen.quick_init``: the facts' and actions' faster ``__init__`` builds what the dataclass's own built (issue #18)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import pickle
from decimal import Decimal

import pytest

from models.engine import Action, CustomerFacts, InvoiceFacts, Pause, StatementFacts
from models.frozen import quick_init
from models.texts import Reason

D = dt.date(2026, 11, 23)


def dataclass_init(cls):
    """The same class built by ``dataclasses`` alone: its own ``__init__``, for comparison."""
    return dataclasses.make_dataclass(cls.__name__, [(f.name, f.type, f) for f in dataclasses.fields(cls)], frozen=True, slots=True)


@pytest.mark.parametrize("cls", [InvoiceFacts, CustomerFacts, StatementFacts, Action, Pause])
def test_the_engine_s_classes_have_the_quick_init_and_stay_frozen(cls):
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
    assert any(name.startswith("_set_") for name in cls.__init__.__code__.co_names)
    plain = dataclass_init(cls)

    def parameters(of):
        return [(p.name, p.kind, repr(p.default)) for p in inspect.signature(of).parameters.values()]

    assert parameters(cls) == parameters(plain)  # names, order and defaults ("<factory>" for a default factory)


def test_positional_keyword_and_default_arguments_give_the_fields_the_dataclass_gives():
    invoice = InvoiceFacts("INV1", D, D, Decimal("10.00"))
    assert (invoice.payments, invoice.disputes, invoice.statement_month) == ((), (), None)
    assert invoice == InvoiceFacts(invoice_id="INV1", issued_on=D, due_on=D, amount=Decimal("10.00"), payments=(), disputes=(), statement_month=None)
    facts = CustomerFacts("C1", invoices=(invoice,))
    plain = dataclass_init(CustomerFacts)("C1", invoices=(invoice,))
    assert dataclasses.astuple(facts) == dataclasses.astuple(plain)
    assert hash(invoice) == hash(InvoiceFacts("INV1", D, D, Decimal("10.00")))
    action = Action(D, "C1", "reminder", ("INV1",), "email", "collector", False, (Reason("due_today"),), ("reminder",))
    assert (action.effect, action.statements, action.catch_up, action.events, action.key) == (None, (), False, (), "C1:reminder:2026-11-23")
    assert pickle.loads(pickle.dumps(action)) == action


def test_a_default_factory_makes_a_new_value_for_each_instance():
    first, second = StatementFacts("2026-10"), StatementFacts("2026-10")
    assert first.reached == {} and first.reached is not second.reached
    assert CustomerFacts("C1").events_taken is not CustomerFacts("C2").events_taken
    given = {"sent": D}
    assert StatementFacts("2026-10", given).reached is given


def test_an_instance_still_refuses_assignment_and_missing_or_unknown_arguments():
    invoice = InvoiceFacts("INV1", D, D, Decimal("10.00"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        invoice.amount = Decimal("0.00")
    with pytest.raises(TypeError):
        InvoiceFacts("INV1", D, D)
    with pytest.raises(TypeError):
        InvoiceFacts("INV1", D, D, Decimal("1.00"), colour="red")


def test_only_frozen_slotted_dataclasses_without_post_init_are_taken():
    @dataclasses.dataclass(frozen=True)
    class NotSlotted:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            raise ValueError

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        a: int

    for cls in (NotSlotted, Checked, KeywordOnly, int):
        with pytest.raises(TypeError):
            quick_init(cls)
