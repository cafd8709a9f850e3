"""The one check of an approval's answer (huikuan/approvals/check.py), for a single request and a list alike."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from huikuan.approvals import check as approval_check
from huikuan.approvals.check import REFUSALS_PER_HOUR, check_answer, code_hash, new_code, note_refused
from huikuan.ledger.company import EXAMPLE, parse_company

AT = dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def asked(tmp_path, monkeypatch):
    monkeypatch.setenv("HUIKUAN_SECRET_KEY", "test-secret")
    return SimpleNamespace(
        key="C1:stop_shipment:2026-11-18",
        action="stop_shipment",
        approver_role="boss",
        code_hash=code_hash("123456", "C1:stop_shipment:2026-11-18"),
        recent_refusals="",
        refusals=0,
    )


COMPANY = parse_company(EXAMPLE)


def test_the_right_person_with_the_emailed_code_is_accepted(asked):
    assert check_answer(asked, approver="boss", code=" 123456 ", company=COMPANY, at=AT) == (None, False)


def test_another_role_or_a_wrong_code_is_refused_and_says_why(asked):
    assert check_answer(asked, approver="gm", code="123456", company=COMPANY, at=AT) == ("'gm' may not decide stop_shipment (it is for the boss)", False)
    assert check_answer(asked, approver="boss", code="654321", company=COMPANY, at=AT) == ("the code is wrong or no longer valid", False)


def test_a_code_is_bound_to_its_request(asked):
    other = SimpleNamespace(**{**vars(asked), "key": "C2:stop_shipment:2026-11-18"})
    assert check_answer(other, approver="boss", code="123456", company=COMPANY, at=AT)[0] == "the code is wrong or no longer valid"


def test_after_the_hours_refusals_even_the_right_code_is_not_checked(asked):
    for minute in range(REFUSALS_PER_HOUR):
        at = AT + dt.timedelta(minutes=minute)
        problem, blocked = check_answer(asked, approver="boss", code="000000", company=COMPANY, at=at)
        note_refused(asked, approver="boss", at=at, blocked=blocked)
    problem, blocked = check_answer(asked, approver="boss", code="123456", company=COMPANY, at=AT + dt.timedelta(minutes=10))
    assert blocked and problem.startswith("too many refused answers from 'boss'")
    note_refused(asked, approver="boss", at=AT + dt.timedelta(minutes=10), blocked=blocked)
    assert asked.refusals == REFUSALS_PER_HOUR + 1 and len(asked.recent_refusals.splitlines()) == REFUSALS_PER_HOUR  # a blocked answer is not logged
    assert check_answer(asked, approver="boss", code="123456", company=COMPANY, at=AT + dt.timedelta(minutes=61)) == (None, False)
    assert check_answer(asked, approver="boss", code="123456", company=COMPANY, at=AT + dt.timedelta(minutes=30)) != (None, False)


def test_codes_are_six_random_digits(monkeypatch):
    codes = {new_code() for _ in range(50)}
    assert all(len(c) == 6 and c.isdigit() for c in codes) and len(codes) > 40
    monkeypatch.setattr(approval_check.secrets, "randbelow", lambda n: 42)
    assert new_code() == "000042"
