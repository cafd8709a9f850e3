"""Property tests of the policy file loader (models.policy) on generated and mutated documents.

Valid documents are generated from the schema: steps of both scopes with
every kind of trigger their anchors allow (days, working days, "more than N
months", cadences, a day of the month after the billing month, rolling),
conditions, pauses, effects, approvals, explicit and default ids, the chronic
lateness rules and segment overrides.

Properties:

(a) a valid document loads, the policy holds exactly what the document says,
    dumping it and loading the dump gives an equal policy (for every segment
    too), and the policy can be evaluated: the engine simulates a customer of
    each segment with it without an error, every action with a channel and a
    role of the contract.
(b) one mutation of a valid document (a value of the wrong type, an unknown
    key, a number out of range, an unknown anchor, action, channel or role, an
    anchor of the other scope, a duplicated step id, a duplicated YAML key, a
    missing required field, an unknown step in resume_step or in a segment, an
    unknown segment, a null or out-of-scope segment override) is refused with
    ``PolicyError`` naming the source, and a line of the message names the
    step (``steps[2] (call)``) and the field (``.trigger.cadence.every``) as
    far as the problem is in one field; never another exception, never
    accepted. A step's ``days`` may be negative (the handbook's reminder is
    ``days: -7``); the counts that are bounded below (every, months,
    day_of_month, skip_after_progress_days, the lateness rules) are refused
    below their bound, and every day count beyond ten years.
(c) YAML garbage and any text or bytes in a policy file give a policy that can
    be evaluated, or ``PolicyError``, never another exception.

Bugs these properties found are pinned by regression tests at the end.
More examples for a longer hunt: ``HUIKUAN_PROPERTY_EXAMPLES=2000`` (every property).
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from decimal import Decimal
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from models.calendar import calendar_for
from models.engine import CustomerFacts, InvoiceFacts, StatementFacts, actions_due, simulate
from models.enums import CustomerStatus, Segment
from models.policy import Effect, Policy, PolicyError, load_policy, parse_policy

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

_SCALE = os.environ.get("HUIKUAN_PROPERTY_EXAMPLES")


def examples(default: int) -> int:
    return int(_SCALE) if _SCALE else default


PROFILE = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)

CHANNELS = ("email", "phone", "email+phone", "visit", "letter", "internal", "system")
ROLES = ("collector", "supervisor", "manager", "gm", "boss", "finance", "system")
PAUSES = ("dispute", "promise", "instalment_plan")
EFFECTS = tuple(e.value for e in Effect)
SEGMENTS = ("key", "ordinary", "high_risk", "small")
SETTLEMENTS = ("monthly_statement", "per_receipt", "per_invoice")
STATUSES = tuple(s.value for s in CustomerStatus)
STATEMENT_STATES = ("none", "prepared", "reviewed", "sent", "confirmed", "invoiced", "invoice_mailed")
ANCHORS = {"invoice": ("due", "lock", "paid"), "statement": ("billing_month", "statement_sent", "receipts_complete")}
MAX_DAYS = 3650  # ten years: the furthest a step may count, either way

# -- generating a valid document ------------------------------------------------------

actions = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
texts = st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), max_size=20)
free_ids = texts.filter(lambda s: s.strip() != "")
offsets = st.one_of(st.integers(-30, 60), st.integers(-MAX_DAYS, MAX_DAYS), st.sampled_from([-MAX_DAYS, MAX_DAYS, 0]))
booleans = st.booleans()


def subset(values: tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), unique=True, max_size=len(values))


@st.composite
def triggers(draw, scope: str) -> dict[str, Any]:
    anchor = draw(st.sampled_from(ANCHORS[scope]))
    trigger: dict[str, Any] = {}
    if anchor != "due" or draw(booleans):
        trigger["anchor"] = anchor
    if anchor == "billing_month":
        trigger["day_of_month"] = draw(st.integers(1, 31))
        if draw(booleans):
            trigger["days"] = draw(offsets)
    else:
        kinds = ["days"] if anchor == "paid" else ["days", "cadence"] + (["months"] if anchor == "due" else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "days":
            trigger["days"] = draw(offsets)
            if draw(booleans):
                trigger["working_days"] = draw(booleans)
        elif kind == "months":
            trigger["months"] = draw(st.one_of(st.integers(1, 6), st.integers(1, 120)))
        else:
            start = draw(offsets)
            cadence = {"start": start, "every": draw(st.one_of(st.integers(1, 14), st.integers(1, MAX_DAYS)))}
            if draw(booleans):
                cadence["end"] = draw(st.integers(start, min(start + 400, MAX_DAYS)))
            trigger["cadence"] = cadence
    if draw(booleans):
        trigger["roll"] = draw(st.sampled_from(["forward", "backward"]))
    return trigger


@st.composite
def conditions(draw, scope: str) -> dict[str, Any]:
    fields = {
        "segment": subset(SEGMENTS),
        "settlement": subset(SETTLEMENTS),
        "status": subset(STATUSES),
        "chronic_late_payer": booleans,
        "chronic_late_confirmer": booleans,
    }
    if scope == "statement":
        fields["statement_state"] = subset(STATEMENT_STATES)
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True, max_size=3))
    return {name: draw(fields[name]) for name in chosen}


@st.composite
def steps(draw, step_id: str, explicit: bool) -> dict[str, Any]:
    scope = draw(st.sampled_from(["invoice", "statement"]))
    step: dict[str, Any] = {"action": draw(actions) if explicit else step_id}
    if explicit:
        step["id"] = step_id
    if scope == "statement" or draw(booleans):
        step["scope"] = scope
    step["trigger"] = draw(triggers(scope))
    step["channel"] = draw(st.sampled_from(CHANNELS))
    step["role"] = draw(st.sampled_from(ROLES))
    optional = {
        "needs_approval": booleans,
        "when": conditions(scope),
        "pauses": subset(PAUSES),
        "skip_after_progress_days": st.one_of(st.integers(1, 30), st.integers(1, MAX_DAYS)),
        "effect": st.sampled_from(EFFECTS),
        "reason": texts,
    }
    for name in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        step[name] = draw(optional[name])
    if step.get("effect") == "lock" and scope == "invoice" and ("cadence" in step["trigger"] or step["trigger"].get("anchor") == "lock"):
        del step["effect"]  # a lock is taken once, and anchor lock counts from it
    return step


@st.composite
def lateness(draw) -> dict[str, int]:
    of_last = draw(st.integers(1, 12))
    return {"of_last": of_last, "at_least": draw(st.integers(1, of_last)), "days": draw(st.integers(0, 60))}


@st.composite
def overrides(draw, step: dict[str, Any]) -> dict[str, Any]:
    scope = step.get("scope", "invoice")
    locks = step.get("effect") == "lock" and scope == "invoice"
    fields = {
        "trigger": triggers(scope).filter(lambda t: not (locks and ("cadence" in t or t.get("anchor") == "lock"))),
        "channel": st.sampled_from(CHANNELS),
        "role": st.sampled_from(ROLES),
        "needs_approval": booleans,
        "enabled": booleans,
        "reason": texts,
    }
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True, min_size=1, max_size=3))
    return {name: draw(fields[name]) for name in chosen}


@st.composite
def documents(draw) -> dict[str, Any]:
    ids = draw(st.lists(st.one_of(actions, actions, free_ids), min_size=1, max_size=6, unique=True))
    doc_steps = [draw(steps(step_id, explicit=not _is_action(step_id) or draw(booleans))) for step_id in ids]
    doc: dict[str, Any] = {"name": draw(texts), "resume_step": draw(st.sampled_from(ids)), "steps": doc_steps}
    if draw(booleans):
        doc["description"] = draw(texts)
    for rule in ("chronic_late_payer", "chronic_late_confirmer"):
        if draw(booleans):
            doc[rule] = draw(lateness())
    if draw(booleans):
        segments = {}
        for segment in draw(st.lists(st.sampled_from(SEGMENTS), unique=True, min_size=1)):
            chosen = draw(st.lists(st.sampled_from(range(len(ids))), unique=True, min_size=1, max_size=3))
            segments[segment] = {ids[i]: draw(overrides(doc_steps[i])) for i in chosen}
        doc["segments"] = segments
    return doc


def _is_action(text: str) -> bool:
    import re

    return re.fullmatch(r"[a-z][a-z0-9_]*", text) is not None


def step_id(step: dict[str, Any]) -> str:
    return step.get("id") or step["action"]


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=True)


def dump_policy(policy: Policy) -> str:
    """A policy as YAML again: what was given, not the defaults (overrides name only what they change)."""
    return dump(policy.model_dump(mode="json", exclude_unset=True))


# -- evaluating a policy ------------------------------------------------------------------

D = dt.date


def _customer(segment: Segment) -> CustomerFacts:
    """A customer that gives every anchor a date: due, locked, paid in full, statements sent and confirmed."""
    return CustomerFacts(
        f"C-{segment.value}",
        segment=segment,
        status=CustomerStatus.locked,
        locked_on=D(2026, 5, 6),
        invoices=(
            InvoiceFacts("I1", D(2026, 1, 5), D(2026, 2, 4), Decimal("100.00"), payments=((D(2026, 3, 2), Decimal("100.00")),)),
            InvoiceFacts("I2", D(2026, 1, 20), D(2026, 3, 1), Decimal("250.00"), payments=((D(2026, 3, 20), Decimal("50.00")),)),
            InvoiceFacts("I3", D(2026, 3, 1), D(2026, 4, 30), Decimal("80.00"), disputes=((D(2026, 5, 2), None),)),
        ),
        statements=(
            StatementFacts("2026-02", {"prepared": D(2026, 3, 5), "sent": D(2026, 3, 8), "confirmed": D(2026, 3, 18)}, receipts_complete_on=D(2026, 3, 10)),
            StatementFacts("2026-03"),
        ),
    )


CUSTOMERS = {segment: _customer(segment) for segment in Segment}


def assert_can_be_evaluated(policy: Policy) -> None:
    """The engine can plan with the policy, for a customer of every segment."""
    calendar = calendar_for("CN")
    for segment, facts in CUSTOMERS.items():
        taken = simulate(facts, D(2026, 2, 20), D(2026, 3, 20), policy, calendar)
        taken += actions_due(facts, D(2026, 5, 20), policy, calendar)
        for action in taken:
            assert action.channel in CHANNELS and action.role in ROLES, f"{segment.value}: {action}"


# -- (a) valid documents --------------------------------------------------------------------


def _holds(parsed: Any, given: Any, where: str) -> None:
    """Every value the document gives is in the parsed policy (as dumped), defaults aside."""
    if isinstance(given, dict):
        assert isinstance(parsed, dict), where
        for key, value in given.items():
            assert key in parsed, f"{where}.{key} is missing"
            _holds(parsed[key], value, f"{where}.{key}")
    elif isinstance(given, list) and where.endswith("pauses"):
        assert sorted(parsed) == sorted(given), where
    elif isinstance(given, list):
        assert isinstance(parsed, list) and len(parsed) == len(given), where
        for i, (p, g) in enumerate(zip(parsed, given)):
            _holds(p, g, f"{where}[{i}]")
    else:
        assert parsed == given, f"{where}: {parsed!r} != {given!r}"


@settings(PROFILE, max_examples=examples(120))
@given(documents())
def test_a_valid_document_loads_as_written_round_trips_and_can_be_evaluated(doc):
    policy = parse_policy(dump(doc), "doc.yaml")
    _holds(policy.model_dump(mode="json"), doc, "policy")
    assert [s.id for s in policy.steps] == [step_id(s) for s in doc["steps"]]
    for segment in Segment:
        overrides = doc.get("segments", {}).get(segment.value, {})
        applied = policy.steps_for(segment)
        assert [s.id for s in applied] == [step_id(s) for s in doc["steps"] if overrides.get(step_id(s), {}).get("enabled", True)]
        for step in applied:
            for name, value in overrides.get(step.id, {}).items():
                if name != "enabled":
                    _holds(step.model_dump(mode="json")[name], value, f"segments.{segment.value}.{step.id}.{name}")
    again = parse_policy(dump_policy(policy), "dumped.yaml")
    assert again == policy
    assert again.model_dump() == policy.model_dump()
    for segment in Segment:
        assert again.steps_for(segment) == policy.steps_for(segment)
    assert_can_be_evaluated(policy)


def test_the_built_in_policies_round_trip():
    for name in ("handbook", "credit"):
        policy = load_policy(name)
        assert parse_policy(dump_policy(policy)) == policy


# -- (b) mutated documents ---------------------------------------------------------------------

INT_FIELDS = {"days", "months", "day_of_month", "start", "end", "every", "skip_after_progress_days", "of_last", "at_least"}
# Fields where null means "not given" (in a step; a segment override may not say null at all).
NULLABLE = {
    "days",
    "months",
    "day_of_month",
    "cadence",
    "end",
    "skip_after_progress_days",
    "effect",
    "segment",
    "settlement",
    "status",
    "statement_state",
    "chronic_late_payer",
    "chronic_late_confirmer",
}
WRONG = {
    "int": ["three", "3", 3.5, 3.0, True, False, [3], {"n": 3}, None],
    "bool": ["yes", "true", "no", 1, 0, 2, [True], "maybe", None],
    "str": [12, 3.5, True, ["a"], {"a": 1}, None],
    "enum": ["later", "Phone", "", 3, ["phone"], None],
    "list": ["key", 3, {"a": 1}, ["nonsense"], [None], None],
    "map": ["x", 3, [1], True, None],
}


def _type_of(path: tuple) -> str | None:
    """What a field of a document holds, by where it is."""
    name, parent = path[-1], path[-2] if len(path) > 1 else None
    if len(path) == 1:
        return {"name": "str", "description": "str", "resume_step": "str", "segments": "map", "chronic_late_payer": "map", "chronic_late_confirmer": "map"}.get(
            name
        )
    if parent in ("chronic_late_payer", "chronic_late_confirmer"):
        return "int"
    if parent == "cadence":
        return "int"
    if parent == "trigger":
        return {"anchor": "enum", "roll": "enum", "days": "int", "months": "int", "day_of_month": "int", "working_days": "bool", "cadence": "map"}[name]
    if parent == "when":
        return "bool" if name.startswith("chronic") else "list"
    if path[0] == "segments" and len(path) == 4:  # an override
        return {"trigger": "map", "channel": "enum", "role": "enum", "needs_approval": "bool", "enabled": "bool", "reason": "str"}[name]
    if path[0] == "steps" and len(path) == 3:
        return {
            "id": "str",
            "action": "str",
            "reason": "str",
            "scope": "enum",
            "channel": "enum",
            "role": "enum",
            "effect": "enum",
            "needs_approval": "bool",
            "skip_after_progress_days": "int",
            "trigger": "map",
            "when": "map",
            "pauses": "list",
        }[name]
    return None


def _leaves(node: Any, path: tuple = ()) -> list[tuple]:
    """The paths of the fields of a document (not list items, not segment or step-id keys)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            child = (*path, key)
            if not (path == ("segments",) or path[:1] == ("segments",) and len(path) == 2):
                found.append(child)
            found += _leaves(value, child)
    elif isinstance(node, list) and path[-1:] == ("steps",):
        for i, value in enumerate(node):
            found += _leaves(value, (*path, i))
    return found


def _mappings(node: Any, path: tuple = ()) -> list[tuple]:
    """The paths of the mappings of a document that are models (where an unknown key is an error)."""
    found = []
    if isinstance(node, dict):
        if path[:1] != ("segments",) or len(path) != 2:
            found.append(path)
        for key, value in node.items():
            found += _mappings(value, (*path, key))
    elif isinstance(node, list) and path[-1:] == ("steps",):
        for i, value in enumerate(node):
            found += _mappings(value, (*path, i))
    return found


def _get(doc: Any, path: tuple) -> Any:
    for item in path:
        doc = doc[item]
    return doc


def _set(doc: Any, path: tuple, value: Any) -> None:
    _get(doc, path[:-1])[path[-1]] = value


def location(doc: Any, path: tuple) -> str:
    """How the loader names a place in a document: ``steps[2] (call).trigger.cadence.every``."""
    parts: list[str] = []
    node = doc
    for item in path:
        if isinstance(item, int):
            label = f"[{item}]"
            if isinstance(node, list) and item < len(node) and isinstance(node[item], dict):
                name = node[item].get("id") or node[item].get("action")
                label += f" ({name})" if name else ""
            parts.append(label)
            node = node[item] if isinstance(node, list) and item < len(node) else None
        else:
            parts.append(("." if parts else "") + str(item))
            node = node.get(item) if isinstance(node, dict) else None
    return "".join(parts) or "(policy)"


class Expect:
    """Where the refusal must point: a line at ``path`` cut to no less than ``depth`` items, and text in the message."""

    def __init__(self, path: tuple | None, depth: int | None = None, fragment: str | None = None) -> None:
        self.path, self.depth, self.fragment = path, (len(path) if path is not None and depth is None else depth), fragment

    def check(self, doc: Any, message: str) -> None:
        if self.fragment is not None:
            assert self.fragment in message, f"{self.fragment!r} is not in:\n{message}"
        if self.path is None:
            return
        lines = [line[2:] for line in message.splitlines()[1:]]
        full = location(doc, self.path)
        places = {location(doc, self.path[:k]) + ":" for k in range(self.depth, len(self.path) + 1)}
        ok = any(line.startswith(tuple(places)) or line.startswith((full + ".", full + "[")) for line in lines)
        assert ok, f"no problem is placed at {full} (or up to {location(doc, self.path[: self.depth])}):\n{message}"


@st.composite
def _mutations(draw, doc: dict[str, Any], said: list[str]) -> tuple[str, Any, Expect | None]:
    """A mutated copy of ``doc`` as YAML text, the data it holds, and where the refusal must point (None: may be valid)."""
    doc = copy.deepcopy(doc)
    how = draw(
        st.sampled_from(
            [
                "wrong type",
                "out of range",
                "wrong type",
                "unknown key",
                "out of range",
                "unknown value",
                "other scope anchor",
                "duplicate id",
                "duplicate key",
                "missing field",
                "unknown reference",
                "scope swap",
                "override",
                "garbage",
                "other anchor",
                "repeated lock",
            ]
        )
    )
    step_index = draw(st.integers(0, len(doc["steps"]) - 1))
    step = doc["steps"][step_index]
    at = ("steps", step_index)
    said.append(how)

    if how == "wrong type":
        path = draw(st.sampled_from(sorted((p for p in _leaves(doc) if _type_of(p) is not None), key=lambda p: -len(p))))
        kind = _type_of(path)
        said.append(f"{path}")
        override_field = path[0] == "segments" and len(path) == 4
        choices = [v for v in WRONG[kind] if not (v is None and path[-1] in NULLABLE and not override_field)]
        _set(doc, path, draw(st.sampled_from(choices)))
        return dump(doc), doc, Expect(path)
    if how == "unknown key":
        path = draw(st.sampled_from(_mappings(doc)))
        key = draw(st.sampled_from(["colour", "Action", "trigger_days", "备注", "enabled "]))
        _get(doc, path)[key] = "red"
        if path == ("segments",):
            return dump(doc), doc, Expect(("segments", key), fragment="[key]")
        return dump(doc), doc, Expect((*path, key))
    if how == "out of range":
        candidates = [p for p in _leaves(doc) if p[-1] in INT_FIELDS and isinstance(_get(doc, p), int) and not isinstance(_get(doc, p), bool)]
        candidates.sort(key=lambda p: -len(p))
        if not candidates:
            step["trigger"] = {"cadence": {"start": 1, "every": 0}}
            return dump(doc), doc, Expect((*at, "trigger", "cadence", "every"))
        path = draw(st.sampled_from(candidates))
        name = path[-1]
        said.append(f"{path}")
        if name == "end":  # before start
            _set(doc, path, _get(doc, path[:-1])["start"] - draw(st.integers(1, 10)))
            return dump(doc), doc, Expect(path, len(path) - 1)
        if name == "at_least":
            _set(doc, path, _get(doc, path[:-1])["of_last"] + 1)
            return dump(doc), doc, Expect(path, len(path) - 1, fragment="is more than of_last")
        if name == "of_last" and _get(doc, path[:-1])["at_least"] > 1:
            _set(doc, path, _get(doc, path[:-1])["at_least"] - 1)
            return dump(doc), doc, Expect(path, len(path) - 1, fragment="is more than of_last")
        lowest = {"every": 1, "months": 1, "day_of_month": 1, "skip_after_progress_days": 1, "of_last": 1, "at_least": 1}.get(name)
        if path[-2] in ("chronic_late_payer", "chronic_late_confirmer") and name == "days":
            lowest = 0
        bad = [lowest - 1, lowest - 5] if lowest is not None else []
        bad += {"day_of_month": [32], "months": [121, 10**6]}.get(name, [])
        if name in ("days", "start", "end", "every", "skip_after_progress_days") and path[-2] not in ("chronic_late_payer", "chronic_late_confirmer"):
            bad += [MAX_DAYS + 1, -MAX_DAYS - 1, 10**7, -(10**12)] if name in ("days", "start") else [MAX_DAYS + 1, 10**9]
        if not bad:
            bad = [-1] if name == "of_last" else [0]
        _set(doc, path, draw(st.sampled_from(bad)))
        return dump(doc), doc, Expect(path)
    if how == "unknown value":
        field = draw(st.sampled_from(["anchor", "action", "role", "channel", "roll", "effect", "scope", "pauses", "when"]))
        if field == "anchor":
            step["trigger"]["anchor"] = draw(st.sampled_from(["later", "Due", "due ", "invoice", "lock_date"]))
            return dump(doc), doc, Expect((*at, "trigger", "anchor"))
        if field == "action":
            step["action"] = draw(st.sampled_from(["Send Fax", "1call", "follow-up", "跟进", "follow_up\n", "", "call!"]))
            if step["action"] == "" and "id" not in step:
                step["id"] = "x-" + str(step_index)  # else the empty action is also the (empty) id
            return dump(doc), doc, Expect((*at, "action"))
        if field in ("pauses", "when"):
            path = (*at, "pauses") if field == "pauses" else (*at, "when", "segment")
            step.setdefault("when", {})
            _set(doc, path, ["dispute", "holiday"] if field == "pauses" else ["vip"])
            return dump(doc), doc, Expect(path)
        step[field] = draw(
            st.sampled_from(
                {
                    "role": ["intern", "Boss", "ceo"],
                    "channel": ["fax", "wechat", "Email"],
                    "roll": ["sideways", "back"],
                    "effect": ["lock_out", "Lock"],
                    "scope": ["customer", "statements"],
                }[field]
            )
        )
        return dump(doc), doc, Expect((*at, field))
    if how == "other scope anchor":
        scope = step.get("scope", "invoice")
        other = "statement" if scope == "invoice" else "invoice"
        step["trigger"] = draw(triggers(other))
        step["trigger"]["anchor"] = step["trigger"].get("anchor", "due")
        return dump(doc), doc, Expect(at, 2)
    if how == "duplicate id":
        if len(doc["steps"]) == 1:
            doc["steps"].append(copy.deepcopy(step))
        else:
            other = draw(st.sampled_from([i for i in range(len(doc["steps"])) if i != step_index]))
            step["id"] = step_id(doc["steps"][other])
        return dump(doc), doc, Expect(("steps",), fragment=f"step id {step_id(step)!r} appears twice")
    if how == "duplicate key":
        path = draw(st.sampled_from([p for p in _mappings(doc) if _get(doc, p)]))
        mapping = _get(doc, path)
        key = draw(
            st.sampled_from(sorted(k for k in mapping if isinstance(k, str) and _is_action(k)))
            if any(isinstance(k, str) and _is_action(k) for k in mapping)
            else st.nothing()
        )
        mapping["zzz_duplicate_marker"] = copy.deepcopy(mapping[key])
        text = dump(doc)
        assert text.count("zzz_duplicate_marker:") == 1
        return text.replace("zzz_duplicate_marker:", f"{key}:"), doc, Expect(None, fragment=f"found duplicate key {key!r}")
    if how == "missing field":
        required = [(*at, f) for f in ("action", "trigger", "channel", "role")]
        required += [("name",), ("resume_step",), ("steps",)]
        if "cadence" in step["trigger"]:
            required += [(*at, "trigger", "cadence", f) for f in ("start", "every")]
        path = draw(st.sampled_from(required))
        if path[-1] == "action" and "id" not in step:
            step["id"] = step["action"]
        del _get(doc, path[:-1])[path[-1]]
        return dump(doc), doc, Expect(path, fragment="Field required")
    if how == "unknown reference":
        which = draw(st.sampled_from(["resume_step", "segment step", "segment"]))
        ids = {step_id(s) for s in doc["steps"]}
        ghost = draw(st.sampled_from(["ghost", "follow_up_2", "Call"]).filter(lambda g: g not in ids))
        if which == "resume_step":
            doc["resume_step"] = ghost
            return dump(doc), doc, Expect((), fragment=f"resume_step {ghost!r} is not a step id")
        if which == "segment step":
            segment = draw(st.sampled_from(SEGMENTS))
            doc.setdefault("segments", {}).setdefault(segment, {})[ghost] = {"role": "manager"}
            return dump(doc), doc, Expect((), fragment=f"segments.{segment}: no step with id {ghost!r}")
        doc.setdefault("segments", {})["royal"] = {step_id(step): {"role": "manager"}}
        return dump(doc), doc, Expect(("segments", "royal"), fragment="[key]")
    if how == "repeated lock":  # the lock is what anchor lock counts from: taken once, counted from the due date
        step["effect"], step["scope"] = "lock", "invoice"
        step.get("when", {}).pop("statement_state", None)
        step["trigger"] = draw(
            st.sampled_from([{"cadence": {"start": 1, "every": 7}}, {"anchor": "lock", "days": 1}, {"anchor": "lock", "cadence": {"start": 0, "every": 1}}])
        )
        return dump(doc), doc, Expect(at, 2, fragment="effect lock")
    if how == "scope swap":
        step["scope"] = "statement" if step.get("scope", "invoice") == "invoice" else "invoice"
        return dump(doc), doc, Expect(at, 2)
    if how == "override":
        segment = draw(st.sampled_from(SEGMENTS))
        sid = step_id(step)
        override = doc.setdefault("segments", {}).setdefault(segment, {}).setdefault(sid, {})
        if draw(booleans):
            field = draw(st.sampled_from(["trigger", "channel", "role", "needs_approval", "reason"]))
            override[field] = None
            return dump(doc), doc, Expect(("segments", segment, sid, field))
        other = "statement" if step.get("scope", "invoice") == "invoice" else "invoice"
        override["trigger"] = draw(triggers(other))
        override["trigger"]["anchor"] = override["trigger"].get("anchor", "due")
        return dump(doc), doc, Expect((), fragment=f"segments.{segment}.{sid}:")
    text = dump(doc)
    if how == "other anchor":
        step["trigger"]["anchor"] = draw(st.sampled_from(["due", "lock", "paid", "billing_month", "statement_sent", "receipts_complete"]))
        return dump(doc), doc, None
    # garbage: a few characters put anywhere; whether the result is still a policy is open
    for _ in range(draw(st.integers(1, 3))):
        at_char = draw(st.integers(0, len(text)))
        junk = draw(
            st.one_of(
                st.sampled_from(
                    ["{", "[", "]", ": :", "\t", "- - -", "&a", "*a", "!!python/object:os.system", "%YAML 9.9\n", "'", '"', "? ", "@", "`", "\n  ", "#"]
                ),
                st.text(max_size=4),
            )
        )
        text = text[:at_char] + junk + text[at_char:]
    return text, None, None


@st.composite
def mutations(draw, doc: dict[str, Any]) -> tuple[str, Any, Expect | None, str]:
    """``_mutations`` and what it did, in words (for the failure messages)."""
    said: list[str] = []
    text, data, expect = draw(_mutations(doc, said))
    return text, data, expect, " ".join(said)


@settings(PROFILE, max_examples=examples(250))
@given(documents(), st.data())
def test_a_mutated_document_is_refused_naming_the_step_and_field(doc, data):
    text, mutated_doc, expect, what = data.draw(mutations(doc), label="mutation")
    try:
        policy = parse_policy(text, "mine.yaml")
    except PolicyError as refused:
        message = str(refused)
        assert message.startswith("mine.yaml: "), message
        if expect is not None:
            expect.check(mutated_doc, message)
    else:
        assert expect is None, f"accepted a bad document ({what}):\n{text}"
        assert_can_be_evaluated(policy)


# -- (c) anything at all -------------------------------------------------------------------------


@settings(PROFILE, max_examples=examples(150))
@given(st.one_of(st.text(max_size=300), st.text(st.sampled_from("[]{}:-,'\"&*!|>#?% \n\tabc1"), max_size=200)))
@example("steps: " + "{a: " * 1500)
@example("name: x\nname: y\nresume_step: a\nsteps: []\n")
@example("? [a, b]\n: c\n")
@example("a: &x [*x]\n")
def test_any_text_is_a_policy_or_a_policy_error(text):
    try:
        policy = parse_policy(text, "any.yaml")
    except PolicyError as refused:
        assert str(refused).startswith("any.yaml: ")
    else:
        assert_can_be_evaluated(policy)


def test_any_bytes_in_a_policy_file_are_a_policy_or_a_policy_error(tmp_path):
    path = tmp_path / "mine.yaml"

    @settings(PROFILE, max_examples=examples(60))
    @given(st.one_of(st.binary(max_size=200), documents().map(lambda d: dump(d).encode("utf-8")), documents().map(lambda d: dump(d).encode("gb18030"))))
    @example(b"\xff\xfename: x\n")
    @example("name: 催收\n".encode("gbk"))
    def run(data: bytes) -> None:
        path.write_bytes(data)
        try:
            policy = load_policy(str(path))
        except PolicyError as refused:
            assert str(refused).startswith(f"{path}: ")
        else:
            assert_can_be_evaluated(policy)

    run()


# -- what these properties found, pinned -------------------------------------------------------
# Each of these was accepted (or raised something else than PolicyError) before the fix in models/policy.py.

MINIMAL = """
name: mine
resume_step: call
steps:
  - id: call
    action: follow_up
    trigger: {cadence: {start: 1, every: 2}}
    channel: phone
    role: collector
  - id: lock
    action: stop_shipment
    trigger: {months: 3}
    channel: system
    role: boss
    effect: lock
  - id: monthly
    action: prepare_statement
    scope: statement
    trigger: {anchor: billing_month, day_of_month: 5}
    channel: internal
    role: collector
"""


def refusal(text: str) -> str:
    with pytest.raises(PolicyError) as refused:
        parse_policy(text, "mine.yaml")
    return str(refused.value)


def test_the_pinned_base_is_valid():
    assert_can_be_evaluated(parse_policy(MINIMAL))


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ("trigger: {months: 3}", "trigger: {months: yes}", "steps[1] (lock).trigger.months: Input should be a valid integer"),  # was 1 month
        ("trigger: {months: 3}", "trigger: {months: '3'}", "steps[1] (lock).trigger.months: Input should be a valid integer"),
        ("trigger: {months: 3}", "trigger: {months: 3.0}", "steps[1] (lock).trigger.months: Input should be a valid integer"),
        ("effect: lock", "effect: lock\n    needs_approval: 'no'", "steps[1] (lock).needs_approval: Input should be a valid boolean"),
        ("every: 2}}", "every: 2}, working_days: 1}", "steps[0] (call).trigger.working_days: Input should be a valid boolean"),
    ],
)
def test_numbers_and_yes_no_are_yaml_numbers_and_booleans(before, after, message):
    """Was accepted: pydantic's lax mode read ``yes`` as 1 month, ``'3'`` as 3, ``'no'`` as false."""
    assert message in refusal(MINIMAL.replace(before, after))


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ("{days: 10000000}", "trigger.days: Input should be less than or equal to 3650"),
        ("{days: -3651}", "trigger.days: Input should be greater than or equal to -3650"),
        ("{months: 1000}", "trigger.months: Input should be less than or equal to 120"),
        ("{cadence: {start: 1000000000000, every: 1}}", "trigger.cadence.start: Input should be less than or equal to 3650"),
        ("{cadence: {start: 1, every: 100000}}", "trigger.cadence.every: Input should be less than or equal to 3650"),
    ],
)
def test_a_step_counting_beyond_ten_years_is_refused(trigger, message):
    """Was accepted, and then ``huikuan plan`` failed with OverflowError (date value out of range)."""
    assert f"steps[0] (call).{message}" in refusal(MINIMAL.replace("trigger: {cadence: {start: 1, every: 2}}", f"trigger: {trigger}"))


@pytest.mark.parametrize("field", ["trigger", "channel", "role", "needs_approval", "reason"])
def test_a_segment_override_may_not_be_null(field):
    """Was accepted: a null replaced the step's value (a plan row with channel None; the engine
    failed with AttributeError on a null trigger)."""
    message = refusal(MINIMAL + f"segments:\n  key: {{call: {{{field}: null}}}}\n")
    assert f"segments.key.call.{field}: Value error, is empty (null)" in message


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("call: {trigger: {anchor: billing_month, day_of_month: 5}}", "segments.key.call: an invoice step cannot count from billing_month"),
        ("monthly: {trigger: {days: 3}}", "segments.key.monthly: a statement step cannot count from due"),
        ("lock: {trigger: {cadence: {start: 1, every: 1}}}", "segments.key.lock: a step with effect lock is taken once"),
    ],
)
def test_a_segment_override_must_leave_a_valid_step(override, message):
    """Was accepted: the override's trigger was not checked against the step (the engine failed with
    TypeError on the first, the statement step of the second never came)."""
    assert message in refusal(MINIMAL + f"segments:\n  key: {{{override}}}\n")


@pytest.mark.parametrize("trigger", ["{cadence: {start: 90, every: 7}}", "{anchor: lock, days: 1}"])
def test_a_lock_step_is_taken_once_and_counts_from_the_due_date(trigger):
    """Was accepted; the engine then failed with TypeError (a cadence has no days) or RecursionError
    (the lock anchored on itself) as soon as a step counted from the lock."""
    text = MINIMAL.replace("trigger: {months: 3}", f"trigger: {trigger}") + (
        "  - action: dunning_letter\n    trigger: {anchor: lock, days: 1}\n    channel: letter\n    role: boss\n"
    )
    assert "steps[1] (lock): Value error, a step with effect lock is taken once" in refusal(text)


def test_a_key_given_twice_is_refused():
    """Was accepted: PyYAML keeps the last of two equal keys, so ``{days: 3, days: 5}`` meant 5."""
    message = refusal(MINIMAL.replace("trigger: {months: 3}", "trigger: {months: 3, months: 5}"))
    assert "not valid YAML" in message and "found duplicate key 'months'" in message and "line 12, column 26" in message


def test_deeply_nested_yaml_is_a_policy_error():
    """Was a RecursionError from PyYAML's composer."""
    assert refusal("steps: " + "[" * 1200 + "]" * 1200) == "mine.yaml: not valid YAML: nested too deeply"


def test_a_policy_file_that_is_not_utf8(tmp_path):
    """Was a UnicodeDecodeError."""
    path = tmp_path / "mine.yaml"
    path.write_bytes(MINIMAL.replace("follow_up", "催收").encode("gbk"))
    with pytest.raises(PolicyError, match=r"mine.yaml: not UTF-8 text \(line 6\); save the file as UTF-8"):
        load_policy(str(path))
