"""The collection policy as data: steps, triggers, conditions, segment overrides.

A policy is a YAML file validated here (pure: pydantic and yaml, no prefect, no
database). The built-in policies live in ``policies/`` at the repository root:
``handbook`` (PROCESS.md §1-2, the default) and ``credit`` (§3). A company can
write its own file and pass its path wherever a policy name is accepted.

A step says *what* (action, channel, role, approval), *when* (a trigger: an
offset from an anchor date, "more than N months", a day of the month after the
billing month, or a cadence), *for whom* (conditions), and what it changes
(effect). Evaluation is in `models.engine`.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, field_validator, model_validator

from models.enums import CustomerStatus, Segment, Settlement

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"

Channel = Literal["email", "phone", "email+phone", "visit", "letter", "internal", "system"]
Role = Literal["collector", "supervisor", "manager", "gm", "boss", "finance", "system"]
PauseReason = Literal["dispute", "promise", "instalment_plan"]
StatementStateName = Literal["none", "prepared", "reviewed", "sent", "confirmed", "invoiced", "invoice_mailed"]

# Numbers and yes/no as YAML writes them: "3", 3.0 or true are not a number of days, 1 or "yes" not a boolean.
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
MAX_DAYS = 3650  # ten years: no step counts further, either way (dates stay computable)
Days = Annotated[int, Strict(), Field(ge=-MAX_DAYS, le=MAX_DAYS)]


class Anchor(StrEnum):
    """The date a step's offset counts from."""

    due = "due"  # the invoice's due date D
    lock = "lock"  # the account's lock date, once the invoice has reached the locking step
    billing_month = "billing_month"  # with day_of_month: that day of the month after the billing month
    statement_sent = "statement_sent"  # the day the statement was sent to the customer
    receipts_complete = "receipts_complete"  # the day the billing month's last delivery receipt came back
    paid = "paid"  # the day the invoice was paid in full (trading resumes after a credit stop)
    limitation = "limitation"  # the last day of the invoice's limitation period (诉讼时效), as restarted (days before it: negative)


class Roll(StrEnum):
    forward = "forward"  # a deadline on a non-working day moves to the next working day (顺延)
    backward = "backward"  # a reminder before a date moves to the previous working day


class Effect(StrEnum):
    """What taking (or approving) the step changes in the account."""

    lock = "lock"  # stop-shipment: no goods leave
    suspend_credit = "suspend_credit"
    cash_only = "cash_only"
    blacklist = "blacklist"
    statement_prepared = "statement_prepared"
    statement_sent = "statement_sent"
    cut_credit_limit = "cut_credit_limit"  # trading resumes (status active) with the credit limit cut
    unlock = "unlock"  # the lock is lifted: the debts that caused it are paid


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cadence(_Strict):
    """Repeat every ``every`` days from ``start`` to ``end`` (inclusive; None: while open)."""

    start: Days
    end: Days | None = None
    every: Int = Field(ge=1, le=MAX_DAYS)

    @model_validator(mode="after")
    def _ordered(self) -> Cadence:
        if self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class Trigger(_Strict):
    """When a step falls due: one of days, months, cadence after the anchor; or a day of the month (plus days)."""

    anchor: Anchor = Anchor.due
    days: Days | None = None
    months: Int | None = Field(default=None, ge=1, le=120, description='"more than N months": the day after the same day N months later')
    day_of_month: Int | None = Field(default=None, ge=1, le=31, description="of the month after the billing month, clipped to its end")
    cadence: Cadence | None = None
    working_days: Bool = Field(default=False, description="days count working days (no rolling needed)")
    roll: Roll = Roll.forward

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        if self.anchor is Anchor.billing_month:
            if self.day_of_month is None or self.months is not None or self.cadence is not None:
                raise ValueError("anchor billing_month takes day_of_month, and optionally days after it")
            return self
        if self.day_of_month is not None:
            raise ValueError("day_of_month goes with anchor billing_month")
        kinds = [k for k in ("days", "months", "cadence") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of days, months, cadence (got {', '.join(kinds) or 'none'})")
        if self.months is not None and self.anchor is not Anchor.due:
            raise ValueError("months counts from the due date (anchor due)")
        if self.anchor is Anchor.limitation and (self.days is None or self.working_days):
            raise ValueError("anchor limitation takes days (negative: before the limitation date), not a cadence or working days")
        if self.working_days and self.days is None:
            raise ValueError("working_days goes with days")
        return self

    @property
    def repeats(self) -> bool:
        return self.cadence is not None


class Condition(_Strict):
    """Who a step applies to; every field given must hold (None: any)."""

    segment: list[Segment] | None = None
    settlement: list[Settlement] | None = None
    status: list[CustomerStatus] | None = None
    chronic_late_payer: Bool | None = None
    chronic_late_confirmer: Bool | None = None
    statement_state: list[StatementStateName] | None = None


class Step(_Strict):
    """One rung of the ladder."""

    id: str = ""
    action: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    scope: Literal["invoice", "statement"] = "invoice"
    trigger: Trigger
    channel: Channel
    role: Role
    needs_approval: Bool = False
    when: Condition = Condition()
    pauses: frozenset[PauseReason] = Field(default=frozenset({"dispute", "promise", "instalment_plan"}), description="what holds the step back")
    skip_after_progress_days: Int | None = Field(
        default=None, ge=1, le=MAX_DAYS, description="skip on its own date when the invoice saw a payment this many days before (progress)"
    )
    effect: Effect | None = None
    reason: str = Field(default="", description="why, for people: shown by explain and in the plan's JSON")

    @model_validator(mode="after")
    def _defaults_and_scope(self) -> Step:
        if not self.id:
            object.__setattr__(self, "id", self.action)
        if self.scope == "statement" and self.trigger.anchor in (Anchor.due, Anchor.lock):
            raise ValueError(f"a statement step cannot count from {self.trigger.anchor.value}")
        if self.trigger.anchor is Anchor.paid and (self.scope != "invoice" or self.trigger.days is None):
            raise ValueError("anchor paid takes days, for an invoice step")
        if self.scope == "invoice" and self.trigger.anchor in (Anchor.billing_month, Anchor.statement_sent, Anchor.receipts_complete):
            raise ValueError(f"an invoice step cannot count from {self.trigger.anchor.value}")
        if self.when.statement_state is not None and self.scope != "statement":
            raise ValueError("statement_state conditions apply to statement steps only")
        if self.effect is Effect.lock and self.scope == "invoice" and (self.trigger.cadence is not None or self.trigger.anchor is Anchor.lock):
            # The steps anchored on lock count from the first lock step's date.
            raise ValueError("a step with effect lock is taken once and is what anchor lock counts from: give it days or months, not a cadence or anchor lock")
        return self


class StepOverride(_Strict):
    """A segment's change to one step, by id: any field given replaces the step's."""

    trigger: Trigger | None = None
    channel: Channel | None = None
    role: Role | None = None
    needs_approval: Bool | None = None
    enabled: Bool = True
    reason: str | None = None

    @field_validator("trigger", "channel", "role", "needs_approval", "reason", mode="before")
    @classmethod
    def _given(cls, value: object) -> object:
        if value is None:  # None stands for "not given": it would replace the step's value with nothing
            raise ValueError("is empty (null); leave it out to keep the step's own")
        return value


class ChronicLateness(_Strict):
    """A customer is chronically late when ``at_least`` of its last ``of_last`` were late by more than ``days``."""

    of_last: Int = Field(default=6, ge=1)
    at_least: Int = Field(default=3, ge=1)
    days: Int = Field(default=15, ge=0)

    @model_validator(mode="after")
    def _fits(self) -> ChronicLateness:
        if self.at_least > self.of_last:
            raise ValueError(f"at_least {self.at_least} is more than of_last {self.of_last}")
        return self


class Policy(_Strict):
    name: str
    description: str = ""
    resume_step: str = Field(description="the step whose action is taken at once when a promise is broken or a dispute resolved")
    chronic_late_payer: ChronicLateness = ChronicLateness()
    chronic_late_confirmer: ChronicLateness = ChronicLateness(of_last=6, at_least=3, days=0)
    steps: list[Step]
    segments: dict[Segment, dict[str, StepOverride]] = {}
    lift_lock: Literal["when_paid", "ask_when_paid", "never"] = Field(
        default="when_paid",
        description="when the debts that caused a lock are paid: lift it at once (when_paid), ask the approver of lift_lock (ask_when_paid), or leave it to a person (never)",
    )
    late_event_days: Int = Field(
        default=30,
        ge=0,
        le=MAX_DAYS,
        description="an event recorded after its own date (a payment, a broken promise, a resolved dispute, a statement state)"
        " still brings its step on the first run that sees it, while it is at most this many days old",
    )

    @field_validator("steps")
    @classmethod
    def _unique_ids(cls, steps: list[Step]) -> list[Step]:
        seen: set[str] = set()
        for step in steps:
            if step.id in seen:
                raise ValueError(f"step id {step.id!r} appears twice; give one of them an id")
            seen.add(step.id)
        return steps

    @model_validator(mode="after")
    def _references(self) -> Policy:
        ids = {s.id for s in self.steps}
        if self.resume_step not in ids:
            raise ValueError(f"resume_step {self.resume_step!r} is not a step id")
        for segment, overrides in self.segments.items():
            for step_id, override in overrides.items():
                if step_id not in ids:
                    raise ValueError(f"segments.{segment.value}: no step with id {step_id!r}")
                step = self.step(step_id)
                try:  # the step as the segment has it must be a valid step too
                    Step.model_validate({**step.model_dump(exclude_unset=True), "id": step.id, **_changes(override)})
                except ValidationError as exc:
                    problems = [(".".join(map(str, e["loc"])) + ": " if e["loc"] else "") + e["msg"].removeprefix("Value error, ") for e in exc.errors()]
                    raise ValueError(f"segments.{segment.value}.{step_id}: " + "; ".join(problems)) from None
        return self

    def steps_for(self, segment: Segment) -> tuple[Step, ...]:
        """The steps as they apply to a segment, overrides applied, disabled ones dropped."""
        overrides = self.segments.get(segment, {})
        steps = []
        for step in self.steps:
            override = overrides.get(step.id)
            if override is None:
                steps.append(step)
            elif override.enabled:
                steps.append(step.model_copy(update=_changes(override)))
        return tuple(steps)

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)


def _changes(override: StepOverride) -> dict[str, object]:
    """The fields a segment override replaces."""
    return {name: getattr(override, name) for name in override.model_fields_set - {"enabled"}}


class PolicyError(ValueError):
    """A policy file that cannot be used, with every problem named by step and field."""


class _Loader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:  # unhashable: the base class says so
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark, f"found duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    try:
        data = yaml.load(text, Loader=_Loader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    except RecursionError:
        raise PolicyError(f"{source}: not valid YAML: nested too deeply") from None
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: a policy is a mapping with name, resume_step and steps")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(f"{source}: {exc.error_count()} problem(s)\n" + "\n".join(_describe(error, data) for error in exc.errors())) from None


def _describe(error: dict, data: dict) -> str:
    """``steps[3] (id stop_shipment).trigger.months: ...`` rather than pydantic's tuple path."""
    parts: list[str] = []
    node = data
    for item in error["loc"]:
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
    return f"  {''.join(parts) or '(policy)'}: {error['msg']}"


def load_policy(name_or_path: str | Path = "handbook") -> Policy:
    """A built-in policy by name (``handbook``, ``credit``) or a policy file by path.

    The file is read every time, and checked once while its text stays the same (``parsed_policy``): a flow's
    batches each load the policy by name, and the engine keeps what it works out from a policy
    (the steps by state, the days a step can land on) with the one policy object (issue #18).
    """
    path = _policy_path(name_or_path)
    if not path.exists():
        raise PolicyError(f"{path}: policy file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes().count(b"\n", 0, exc.start) + 1
        raise PolicyError(f"{path}: not UTF-8 text (line {line}); save the file as UTF-8") from None
    return parsed_policy(text, str(path))


def _policy_path(name_or_path: str | Path) -> Path:
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        path = candidate
    else:
        path = POLICY_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in POLICY_DIR.glob("*.yaml")))
            raise PolicyError(f"no policy named {name_or_path!r}; built-in ones: {known}; or give a file path")
    return path


@lru_cache(maxsize=16)
def parsed_policy(text: str, where: str) -> Policy:
    """``parse_policy``, kept for the same text and place: one policy object while the file does not change (a bad one raises each time)."""
    return parse_policy(text, where)


def builtin_policies() -> list[str]:
    return sorted(p.stem for p in POLICY_DIR.glob("*.yaml"))
