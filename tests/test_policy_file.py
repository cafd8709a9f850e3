"""Policy files: the built-in ones load, and a bad file says which step and field is wrong."""

from __future__ import annotations

import pytest

from models.enums import Segment
from models.policy import PolicyError, builtin_policies, load_policy, parse_policy

CONTRACT_HANDBOOK_ACTIONS = {
    "prepare_statement",
    "send_statement",
    "statement_follow_up",
    "escalate_statement",
    "issue_invoice",
    "send_invoice_info",
    "reminder",
    "follow_up",
    "escalate_supervisor",
    "visit",
    "notify_manager",
    "notify_gm",
    "stop_shipment",
    "dunning_letter",
    "statement_letter",
    "lawyer_letter",
}
CHANNELS = {"email", "phone", "email+phone", "visit", "letter", "internal", "system"}
ROLES = {"collector", "supervisor", "manager", "gm", "boss", "finance", "system"}

MINIMAL = """
name: mine
resume_step: call
steps:
  - id: call
    action: follow_up
    trigger: {cadence: {start: 1, every: 2}}
    channel: phone
    role: collector
"""


def test_the_built_in_policies():
    assert builtin_policies() == ["credit", "handbook"]
    handbook = load_policy("handbook")
    # CONTRACT.md's list, grown by the limitation warnings (issue #17): it may grow, never break.
    assert {s.action for s in handbook.steps} == CONTRACT_HANDBOOK_ACTIONS | {"limitation_warning"}
    credit = load_policy("credit")
    assert {"payment_notice", "suspend_credit", "stop_credit", "cut_credit_limit", "blacklist", "litigation"} <= {s.action for s in credit.steps}
    for policy in (handbook, credit):
        for segment in Segment:
            for step in policy.steps_for(segment):
                assert step.channel in CHANNELS and step.role in ROLES


def test_approvals_of_the_handbook():
    handbook = load_policy("handbook")
    needs = {s.action: s.role for s in handbook.steps if s.needs_approval}
    # The boss decides the lock and the letters; a statement is reviewed before the collector sends it.
    assert needs == {"stop_shipment": "boss", "dunning_letter": "boss", "statement_letter": "boss", "lawyer_letter": "boss", "send_statement": "collector"}


def test_a_company_policy_from_a_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    policy = load_policy(str(path))
    assert policy.name == "mine" and policy.steps[0].id == "call"


def test_segment_overrides_replace_only_what_they_name():
    policy = parse_policy(MINIMAL + "segments:\n  key: {call: {role: manager}}\n  small: {call: {enabled: false}}\n")
    assert policy.steps_for(Segment.key)[0].role == "manager"
    assert policy.steps_for(Segment.key)[0].trigger.cadence.every == 2
    assert policy.steps_for(Segment.ordinary)[0].role == "collector"
    assert policy.steps_for(Segment.small) == ()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("trigger: {cadence: {start: 1, every: 2}}", None),
        ("trigger: {cadence: {start: 1, every: 0}}", "steps[0] (call).trigger.cadence.every: Input should be greater than or equal to 1"),
        ("trigger: {days: 3, months: 1}", "steps[0] (call).trigger: Value error, give exactly one of days, months, cadence (got days, months)"),
        ("trigger: {cadence: {start: 5, end: 2, every: 1}}", "steps[0] (call).trigger.cadence: Value error, end 2 is before start 5"),
        ("trigger: {anchor: lock, months: 1}", "steps[0] (call).trigger: Value error, months counts from the due date (anchor due)"),
        ("trigger: {days: 1}\n    colour: red", "steps[0] (call).colour: Extra inputs are not permitted"),
        (
            "trigger: {days: 1}\n    channel: fax",
            "steps[0] (call).channel: Input should be 'email', 'phone', 'email+phone', 'visit', 'letter', 'internal' or 'system'",
        ),
    ],
)
def test_bad_steps_are_named(change, message):
    text = MINIMAL.replace("trigger: {cadence: {start: 1, every: 2}}", change)
    if "channel: fax" in change:
        text = text.replace("    channel: phone\n", "")
    if message is None:
        parse_policy(text)
        return
    with pytest.raises(PolicyError) as failed:
        parse_policy(text, "mine.yaml")
    assert str(failed.value).startswith("mine.yaml: 1 problem(s)")
    assert message in str(failed.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nresume_step: nope\nsteps: []\n", "resume_step 'nope' is not a step id"),
        (MINIMAL + "  - id: call\n    action: visit\n    trigger: {days: 1}\n    channel: visit\n    role: collector\n", "step id 'call' appears twice"),
        (MINIMAL + "segments:\n  key: {ghost: {role: manager}}\n", "segments.key: no step with id 'ghost'"),
        (MINIMAL + "segments:\n  royal: {call: {role: manager}}\n", "segments.royal.[key]: Input should be 'key', 'ordinary', 'high_risk' or 'small'"),
        ("steps: [", "not valid YAML"),
        ("- just a list", "a policy is a mapping"),
    ],
)
def test_bad_policies(text, message):
    with pytest.raises(PolicyError) as failed:
        parse_policy(text, "p.yaml")
    assert message in str(failed.value)


def test_unknown_policy_names():
    with pytest.raises(PolicyError, match="no policy named 'lenient'; built-in ones: credit, handbook"):
        load_policy("lenient")
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy("/nowhere/mine.yaml")


def test_a_policy_is_checked_once_while_its_file_does_not_change_and_read_again_when_it_does(tmp_path):
    """A flow's batches load the policy by name, each: one policy object (the engine keeps its working with it), until the file changes."""
    assert load_policy("handbook") is load_policy("handbook")
    path = tmp_path / "mine.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    first = load_policy(path)
    assert load_policy(path) is first
    path.write_text(MINIMAL.replace("every: 2", "every: 3"), encoding="utf-8")  # the same size, maybe the same modification time
    assert load_policy(path).steps[0].trigger.cadence.every == 3
    path.write_text(MINIMAL.replace("every: 2", "every: x"), encoding="utf-8")
    with pytest.raises(PolicyError):
        load_policy(path)
    with pytest.raises(PolicyError):  # a bad file says so every time, it is not kept
        load_policy(path)
