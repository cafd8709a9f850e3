"""A statement left unsent because its address bounced is sent again, once, when the address is fixed.

``carry_out`` puts a statement whose email bounced back to ``reviewed``; the engine's one
catch-up for a late ``reviewed`` statement is then spent. A new address (the customers file
imported again) brings the sending step back on the first working day on or after the fix:
``plan`` shows it and the daily collection takes it, once (``Statement.readdressed_on``).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from huikuan.collection import execution
from huikuan.collection.batch import collect
from huikuan.documents.i18n import render
from huikuan.ledger.importer import import_files
from huikuan.ledger.settings import Settings
from huikuan.outbox import bounces
from huikuan.reports.planning import iter_plan
from models.ledger import Approval, OutboxMessage, Statement
from models.policy import load_policy
from models.texts import Reason, Term
from tests.ledger_files import import_ledger, write_files
from tests.test_mail_and_execution import COMPANY, FILES, _send_code, due, take_all

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
OLD, NEW, NEWER = "wangwei@hx.example.cn", "caiwu@hx.example.cn", "zhangli@hx.example.cn"


@pytest.fixture
def ledger(tmp_path, session):
    return import_ledger(session, tmp_path, FILES)


def approve(session: Session, approval_key: str, day: dt.date) -> None:
    """The supervisor approves the request ``approval_key`` on ``day`` with the code emailed to her."""
    approval = session.scalar(select(Approval).where(Approval.key == approval_key))
    code = _send_code(session, approval, day, "supervisor@huikuan-demo.example.cn")
    assert execution.decide(session, approval_key, approver="sup", code=code, approve=True, comment=None, attempt=1, company=COMPANY, as_of=day).accepted


def bounced_october_statement(session: Session, approved_on: dt.date = D(2026, 11, 9)) -> None:
    """The October statement prepared on 11-05, its address bounced on 11-06, asked on 11-09, approved: not sent, left reviewed."""
    take_all(session, "C1", D(2026, 11, 5))
    bounces.mark_bounced(session, "C1", OLD, on=D(2026, 11, 6), company=COMPANY, as_of=D(2026, 11, 6))
    outcomes = take_all(session, "C1", D(2026, 11, 9))
    approve(session, next(o.approval_key for o in outcomes if o.action == "send_statement"), approved_on)
    session.commit()
    assert october(session).state.value == "reviewed"


def october(session: Session) -> Statement:
    session.expire_all()
    return session.scalar(select(Statement).where(Statement.customer_id == "C1", Statement.month == "2026-10"))


def new_address(session: Session, tmp_path, email: str, on: dt.date, monkeypatch) -> None:
    """The customers file imported again on ``on`` with ``email`` for C1's contact."""
    monkeypatch.setattr(Settings, "today", lambda self: on)
    folder = tmp_path / f"again-{on}-{email.split('@')[0]}"
    folder.mkdir()
    import_files(session, write_files(folder, {"customers": FILES["customers"].replace(OLD, email)}), update_existing=True)
    session.commit()


def statement_sends(session: Session, day: dt.date) -> list:
    """``plan``'s send_statement actions for C1 on ``day``."""
    return [a for a in iter_plan(session, day, load_policy()) if a.customer_id == "C1" and a.action == "send_statement"]


def working_days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1) if (start + dt.timedelta(days=n)).weekday() < 5]


def sends_taken(session: Session, days: list[dt.date]) -> list[dt.date]:
    """Each day of ``days``, C1's actions taken as the daily run takes them; the days a send_statement came."""
    came = []
    for day in days:
        if any(a.action == "send_statement" for a in due(session, "C1", day)):
            came.append(day)
        take_all(session, "C1", day)
        session.commit()
    return came


def test_a_fixed_address_brings_the_statement_to_plan_and_run_once(ledger, ledger_engine, tmp_path, monkeypatch):
    bounced_october_statement(ledger)
    assert statement_sends(ledger, D(2026, 11, 10)) == []
    new_address(ledger, tmp_path, NEW, D(2026, 11, 14), monkeypatch)  # a Saturday: the first working day after it is Monday 11-16
    assert statement_sends(ledger, D(2026, 11, 14)) == []
    (planned,) = statement_sends(ledger, D(2026, 11, 16))
    assert planned.statements == ("2026-10",) and planned.needs_approval and planned.events
    (reason,) = planned.reasons  # why, in the reader's words: the bounce and the fix, dated
    assert str(reason).startswith("statement 2026-10: its email bounced on 2026-11-09 and the address was fixed on 2026-11-14; ")
    assert render(reason, "zh_CN").startswith("2026-10 对账单：邮件于2026年11月9日退信，地址已于2026年11月14日更正；")
    ledger.close()

    policy = load_policy()
    first = collect(ledger_engine, ["C1"], D(2026, 11, 16), policy, COMPANY, next_actions=False)
    (account,) = first.accounts
    assert planned.key in account.taken
    with Session(ledger_engine) as session:
        (approval,) = session.scalars(select(Approval).where(Approval.action == "send_statement", Approval.action_key == planned.key)).all()
        approve(session, approval.key, D(2026, 11, 16))
        session.commit()
        statement = october(session)
        assert (statement.state.value, statement.sent_on) == ("sent", D(2026, 11, 16))
        (email,) = session.scalars(select(OutboxMessage).where(OutboxMessage.key == f"{planned.key}:2026-10:email")).all()
        assert email.to_address == NEW and email.bounced_at is None
        messages = session.scalar(select(func.count()).select_from(OutboxMessage))
    again = collect(ledger_engine, ["C1"], D(2026, 11, 16), policy, COMPANY, next_actions=False)  # the day run again
    assert not again.accounts[0].taken
    with Session(ledger_engine) as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == messages
        assert (
            session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.to_address == NEW, OutboxMessage.key.like("%:2026-10:email")))
            == 1
        )
        assert statement_sends(session, D(2026, 11, 17)) == []


def test_while_the_address_bounces_nothing_is_sent_again(ledger, tmp_path, monkeypatch):
    bounced_october_statement(ledger, approved_on=D(2026, 11, 10))  # reviewed after its date: the one catch-up asks again
    assert sends_taken(ledger, working_days(D(2026, 11, 10), D(2026, 11, 20))) == [D(2026, 11, 10)]
    new_address(ledger, tmp_path, NEW, D(2026, 11, 20), monkeypatch)
    bounces.mark_bounced(ledger, "C1", NEW, on=D(2026, 11, 20), company=COMPANY, as_of=D(2026, 11, 20))  # the new one bounces too, before any run
    ledger.commit()
    assert sends_taken(ledger, working_days(D(2026, 11, 20), D(2026, 12, 4))) == []
    notices = ledger.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.key.contains(bounces.NOTICE)))
    new_address(ledger, tmp_path, NEWER, D(2026, 12, 7), monkeypatch)
    assert sends_taken(ledger, working_days(D(2026, 12, 7), D(2026, 12, 31))) == [D(2026, 12, 7)]  # once, the day of the fix
    assert ledger.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.key.contains(bounces.NOTICE))) == notices


def test_a_statement_that_never_bounced_plans_what_it_did(ledger, tmp_path, monkeypatch):
    bounces.mark_bounced(ledger, "C1", OLD, on=D(2026, 10, 20), company=COMPANY, as_of=D(2026, 10, 20))
    new_address(ledger, tmp_path, NEW, D(2026, 10, 30), monkeypatch)  # fixed before any statement: nothing to send again
    days = working_days(D(2026, 11, 2), D(2026, 12, 31))
    planned = []
    for day in days:
        planned += [(a.on, a.action, a.statements) for a in due(ledger, "C1", day) if a.statements]
        outcomes = take_all(ledger, "C1", day)
        for outcome in outcomes:
            if outcome.action == "send_statement" and outcome.approval_key:
                approve(ledger, outcome.approval_key, day)
        ledger.commit()
    sends = [p for p in planned if p[1] == "send_statement"]
    assert sends == [(D(2026, 11, 9), "send_statement", ("2026-10",))]
    assert ("prepare_statement" in [p[1] for p in planned]) and october(ledger).state.value == "sent"
    assert october(ledger).bounced_on is None and october(ledger).readdressed_on is None


@pytest.fixture
def refusing_server():
    """An SMTP server that refuses OLD for good (550 to RCPT) and accepts the rest; the ``SmtpServer`` that reaches it."""
    from tests.test_bounced import refusing

    with refusing(OLD) as (server, _handler):
        yield server


def approved_and_refused(session: Session, server, monkeypatch, refused_on: dt.date) -> None:
    """The October statement approved and queued on 11-09 to OLD; the server refuses OLD for good when it goes, on ``refused_on``."""
    from huikuan.outbox.mail import dispatch

    take_all(session, "C1", D(2026, 11, 5))
    outcomes = take_all(session, "C1", D(2026, 11, 9))
    approve(session, next(o.approval_key for o in outcomes if o.action == "send_statement"), D(2026, 11, 9))
    session.commit()
    assert (october(session).state.value, october(session).sent_on) == ("sent", D(2026, 11, 9))
    monkeypatch.setattr(Settings, "today", lambda self: refused_on)
    result = dispatch(sessionmaker(session.get_bind()), COMPANY, server)
    assert [e for e in result.errors if ":2026-10:email: recipient refused: 550" in e]
    session.expire_all()


def test_a_statement_email_the_server_refuses_leaves_the_statement_unsent_until_the_address_is_fixed(ledger, refusing_server, tmp_path, monkeypatch):
    approved_and_refused(ledger, refusing_server, monkeypatch, refused_on=D(2026, 11, 10))
    statement = october(ledger)
    assert (statement.state.value, statement.sent_on, statement.bounced_on, statement.readdressed_on) == ("reviewed", None, D(2026, 11, 10), None)
    (notice,) = ledger.scalars(select(OutboxMessage).where(OutboxMessage.key.contains(f":2026-10:email{bounces.NOTICE}"))).all()
    assert notice.subject.startswith("【审核并发出对账单】") and "wangwei@hx.example.cn 已于2026年11月10日退信" in notice.text  # the collector is told
    assert all(not statement_sends(ledger, day) for day in working_days(D(2026, 11, 10), D(2026, 11, 13)))
    new_address(ledger, tmp_path, NEW, D(2026, 11, 14), monkeypatch)
    (planned,) = statement_sends(ledger, D(2026, 11, 16))
    assert planned.statements == ("2026-10",)
    assert str(planned.reasons[0]).startswith("statement 2026-10: its email bounced on 2026-11-10 and the address was fixed on 2026-11-14; ")


def test_a_refused_statement_email_whose_address_was_fixed_meanwhile_is_sent_again_at_once(ledger, refusing_server, tmp_path, monkeypatch):
    from huikuan.outbox.mail import dispatch

    take_all(ledger, "C1", D(2026, 11, 5))
    outcomes = take_all(ledger, "C1", D(2026, 11, 9))
    approve(ledger, next(o.approval_key for o in outcomes if o.action == "send_statement"), D(2026, 11, 9))
    ledger.commit()
    new_address(ledger, tmp_path, NEW, D(2026, 11, 10), monkeypatch)  # fixed before the queued email went to the old one
    monkeypatch.setattr(Settings, "today", lambda self: D(2026, 11, 11))
    assert dispatch(sessionmaker(ledger.get_bind()), COMPANY, refusing_server).bounced >= 1
    statement = october(ledger)
    assert (statement.state.value, statement.bounced_on, statement.readdressed_on) == ("reviewed", D(2026, 11, 11), D(2026, 11, 11))
    (planned,) = statement_sends(ledger, D(2026, 11, 11))
    assert planned.statements == ("2026-10",)


def test_a_refused_follow_up_leaves_a_sent_statement_sent(ledger, refusing_server, monkeypatch):
    from huikuan.outbox.mail import dispatch

    take_all(ledger, "C1", D(2026, 11, 5))
    outcomes = take_all(ledger, "C1", D(2026, 11, 9))
    approve(ledger, next(o.approval_key for o in outcomes if o.action == "send_statement"), D(2026, 11, 9))
    ledger.commit()
    ledger.execute(update(OutboxMessage).where(OutboxMessage.key.like("%:2026-10:email")).values(to_address=NEW))  # it went elsewhere
    ledger.execute(update(OutboxMessage).where(~OutboxMessage.key.like("%:2026-10:email")).values(sent_at=func.now()))
    ledger.commit()
    execution.take_action(ledger, follow_up_to_old(), company=COMPANY, as_of=D(2026, 11, 16))
    ledger.commit()
    monkeypatch.setattr(Settings, "today", lambda self: D(2026, 11, 16))
    assert dispatch(sessionmaker(ledger.get_bind()), COMPANY, refusing_server).bounced == 1
    assert (october(ledger).state.value, october(ledger).sent_on, october(ledger).bounced_on) == ("sent", D(2026, 11, 9), None)


def follow_up_to_old():
    from models.engine import Action

    return Action(
        customer_id="C1",
        on=D(2026, 11, 16),
        action="follow_up",
        channel="email",
        role="collector",
        invoices=(),
        needs_approval=False,
        reasons=("test",),
        steps=("follow_up",),
    )


def _statement_notices(session: Session) -> list[OutboxMessage]:
    """The collector's notices about C1's October statement email (``<key>:2026-10:email:bounced:<person>``)."""
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.key.contains(f":2026-10:email{bounces.NOTICE}"))))


@pytest.mark.parametrize("when", ["known at approval", "marked while queued", "refused at delivery"])
def test_the_collector_s_notice_of_an_unsent_statement_names_its_month(ledger, refusing_server, monkeypatch, when):
    """However the bounce is learnt, the collector reads which month's statement did not reach the customer."""
    if when == "known at approval":
        bounced_october_statement(ledger)
    elif when == "marked while queued":
        take_all(ledger, "C1", D(2026, 11, 5))
        outcomes = take_all(ledger, "C1", D(2026, 11, 9))
        approve(ledger, next(o.approval_key for o in outcomes if o.action == "send_statement"), D(2026, 11, 9))
        ledger.commit()
        bounces.mark_bounced(ledger, "C1", OLD, on=D(2026, 11, 10), company=COMPANY, as_of=D(2026, 11, 10))
        ledger.commit()
    else:
        approved_and_refused(ledger, refusing_server, monkeypatch, refused_on=D(2026, 11, 10))
    (notice,) = _statement_notices(ledger)
    assert "退信：2026-10 对账单（审核并发出对账单）未发给客户" in notice.text, notice.text
    english = render(Reason("statement_email_bounced", address=OLD, since=D(2026, 11, 10), month="2026-10", action=Term("send_statement")), "en")
    assert english.startswith(f"{OLD} bounced on ") and "the statement 2026-10 (" in english
