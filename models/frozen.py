"""Frozen slotted dataclasses built at the cost of plain ones: facts and actions are made by the hundred thousand (issue #18).

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (the
class refuses its own ``__setattr__``): a generic attribute lookup per field, which
made building a ledger's facts and a day's actions a fifth of reading them.
``quick_init`` gives such a class an ``__init__`` that sets each slot through the slot's
own descriptor, twice as fast, with the same parameters, defaults and default factories.
The class stays frozen: assigning to an instance still raises ``FrozenInstanceError``.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import TypeVar

T = TypeVar("T", bound=type)


class _Factory:
    """The default that stands for "call the field's default factory" (shown as dataclasses show it)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def quick_init(cls: T) -> T:
    """Replace the ``__init__`` of ``cls``, a ``@dataclass(frozen=True, slots=True)`` without ``__post_init__`` or keyword-only fields.

    Raises:
        TypeError: ``cls`` is not such a class.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__} is not a frozen, slotted dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has a __post_init__, which quick_init would skip")
    names: dict[str, object] = {"_FACTORY": _FACTORY}
    arguments, body = [], []
    for f in fields(cls):
        if not f.init or f.kw_only:
            raise TypeError(f"{cls.__name__}.{f.name} is not an ordinary __init__ parameter")
        names[f"_set_{f.name}"] = cls.__dict__[f.name].__set__  # the slot's descriptor
        value = f.name
        if f.default is not MISSING:
            names[f"_default_{f.name}"] = f.default
            arguments.append(f"{f.name}=_default_{f.name}")
        elif f.default_factory is not MISSING:
            names[f"_factory_{f.name}"] = f.default_factory
            arguments.append(f"{f.name}=_FACTORY")
            value = f"_factory_{f.name}() if {f.name} is _FACTORY else {f.name}"
        else:
            arguments.append(f.name)
        body.append(f"    _set_{f.name}(self, {value})")
    source = f"def __init__(self, {', '.join(arguments)}):\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(source, names)  # noqa: S102 - the source is made above from the class's own field names
    init = names["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init
    return cls
