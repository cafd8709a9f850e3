"""``plan``, ``simulate`` and ``explain`` over the whole ledger, without side effects."""

from __future__ import annotations

import csv
import datetime as dt
import json
import textwrap
from collections.abc import Callable, Iterable, Iterator
from typing import IO

from sqlalchemy.orm import Session

from huikuan.ledger.context import calendars_of
from huikuan.ledger.facts import load_facts
from huikuan.ledger.heap import older_objects_frozen
from huikuan.ledger.records import get_customer
from huikuan.reports.builders import Report
from models.calendar import BusinessCalendar, CalendarBook
from models.engine import Action, Evaluator, simulate
from models.explain import Explanation, explain
from models.policy import Policy
from models.texts import Term, Text

COLUMNS = ("date", "customer_id", "action", "invoices", "channel", "role", "needs_approval")


def plan(
    session: Session, as_of: dt.date, policy: Policy, *, calendars: CalendarBook | None = None, progress: Callable[[int], None] | None = None
) -> list[Action]:
    """Every action due on ``as_of`` across the ledger, sorted by customer and action (``iter_plan``, as a list).

    ``calendars``: the run's calendar book (default: the company file's with ``HUIKUAN_CLOSED_DAYS``).
    """
    return list(iter_plan(session, as_of, policy, calendars=calendars, progress=progress))


def iter_plan(
    session: Session, as_of: dt.date, policy: Policy, *, calendars: CalendarBook | None = None, progress: Callable[[int], None] | None = None
) -> Iterator[Action]:
    """``plan``'s actions one customer at a time, in the same order, without holding them all.

    Every action of the day is dated ``as_of``, so ``Action.sort_key`` (day,
    customer, action) orders by customer first; ``load_facts`` gives the
    customers in that order, so sorting each customer's actions (stably, as the
    whole list was sorted) gives the whole list's order. A customer out of
    order, or an action of another day, would break that: it is an error, not
    a silently different order.
    """
    calendars = calendars or calendars_of(None)
    with older_objects_frozen():  # open while the plan is read: closed when it is read to the end or closed
        yield from _plan_by_customer(session, as_of, policy, calendars, progress)


def _plan_by_customer(session: Session, as_of: dt.date, policy: Policy, calendars: CalendarBook, progress: Callable[[int], None] | None) -> Iterator[Action]:
    previous = None
    by_country: dict[str, BusinessCalendar] = {}  # the book's answer once per country, not per customer (0.3 s of 100,000)
    for facts, country in load_facts(session):
        if previous is not None and facts.customer_id <= previous:
            raise RuntimeError(f"load_facts gave customer {facts.customer_id!r} after {previous!r}: not in id order")
        previous = facts.customer_id
        calendar = by_country.get(country)
        if calendar is None:
            calendar = by_country[country] = calendars.calendar(country)
        actions = sorted(Evaluator(facts, policy, calendar).actions_on(as_of), key=Action.sort_key)
        for action in actions:
            if action.on != as_of or action.customer_id != facts.customer_id:
                raise RuntimeError(f"action {action.action} of {action.customer_id} on {action.on}, planning {facts.customer_id} on {as_of}")
        yield from actions
        if progress:
            progress(1)


def simulate_ledger(
    session: Session,
    start: dt.date,
    end: dt.date,
    policy: Policy,
    *,
    grant_approvals: bool = True,
    calendars: CalendarBook | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Action]:
    """Day by day from ``start`` to ``end``: what the system would do if no customer acted."""
    calendars = calendars or calendars_of(None)
    actions: list[Action] = []
    for facts, country in load_facts(session):
        actions.extend(simulate(facts, start, end, policy, calendars.calendar(country), grant_approvals=grant_approvals))
        if progress:
            progress(1)
    return sorted(actions, key=Action.sort_key)


def explain_customer(session: Session, customer_id: str, as_of: dt.date, policy: Policy, *, calendars: CalendarBook | None = None) -> list[Explanation]:
    get_customer(session, customer_id)
    facts, country = next(load_facts(session, only=[customer_id]))
    return explain(facts, as_of, policy, (calendars or calendars_of(None)).calendar(country))


def cells(action: Action) -> list[str]:
    """The action's CSV cells, in the order of ``COLUMNS``."""
    return [
        action.on.isoformat(),
        action.customer_id,
        action.action,
        ";".join(action.invoices),
        action.channel,
        action.role,
        "true" if action.needs_approval else "false",
    ]


def row(action: Action) -> dict[str, str]:
    return dict(zip(COLUMNS, cells(action)))


def write_csv(actions: Iterable[Action], out: IO[str]) -> None:
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for action in actions:
        writer.writerow(row(action))


def csv_rows(actions: Iterable[Action]) -> Iterator[list[str]]:
    """The CSV's header and rows (as ``write_csv`` writes them), one at a time, for a file in another encoding (``builders.write_encoded_csv``)."""
    yield list(COLUMNS)
    for action in actions:
        yield cells(action)


def actions_report(name: str, title: Text, as_of: dt.date, actions: Iterable[Action]) -> Report:
    """The actions as a table for people (the terminal, XLSX): the CSV's columns and the reasons, said in the reader's locale when shown."""
    rows = [[a.on, a.customer_id, Term(a.action), ";".join(a.invoices), Term(a.channel), Term(a.role), a.needs_approval, tuple(a.reasons)] for a in actions]
    return Report(name, title, as_of, [*COLUMNS, "reasons"], rows)


def json_rows(actions: Iterable[Action]) -> Iterator[dict]:
    """The CSV's fields with JSON types, plus the idempotency key and the reasons."""
    for action in actions:
        yield {**row(action), "invoices": list(action.invoices), "needs_approval": action.needs_approval, "key": action.key, "reasons": list(action.reasons)}


def write_json(actions: Iterable[Action], out: IO[str]) -> None:
    """A JSON list of ``json_rows``, written an action at a time; the same text as ``json.dump(list, indent=1)``."""
    out.write("[")
    written = False
    for item in json_rows(actions):
        out.write(",\n" if written else "\n")
        out.write(textwrap.indent(json.dumps(item, ensure_ascii=False, indent=1), " "))
        written = True
    out.write("\n]\n" if written else "]\n")
