"""The mail server's acceptance as evidence (送达凭证, issue #17): its reply to DATA with the queue id, kept with the sent time.

Messages go through a real SMTP server on loopback (aiosmtpd) that answers as
Postfix does, "250 2.0.0 Ok: queued as <id>"; the ledger keeps the reply, and the
evidence (``sent_documents``) and the case file show it.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from huikuan.ledger.company import EXAMPLE, SmtpSettings, parse_company
from huikuan.legal.case_file import write_case_file
from huikuan.legal.evidence import sent_documents
from huikuan.legal.standing import customer_standing
from huikuan.outbox.mail import OutboxFolder, SmtpServer, dispatch
from models.ledger import ActionTaken, Customer, Invoice, OutboxMessage
from tests.conftest import smtp_on_loopback

COMPANY = parse_company(EXAMPLE)
SHANGHAI = ZoneInfo("Asia/Shanghai")
D = dt.date


class Postfix:
    """Accepts every message with a queue id of its own, as Postfix answers DATA."""

    def __init__(self) -> None:
        self.ids = iter(["4F1A2B", "5C3D4E", "6E5F70"])
        self.received = 0

    async def handle_DATA(self, server, session, envelope):
        self.received += 1
        return f"250 2.0.0 Ok: queued as {next(self.ids)}"


@pytest.fixture
def postfix():
    handler = Postfix()
    with smtp_on_loopback(handler) as port:
        yield SmtpServer(SmtpSettings(host="127.0.0.1", port=port)), handler


class EveryDayWorks:
    def roll_forward(self, day: dt.date) -> dt.date:
        return day


def queue_demands(session) -> None:
    session.add(Customer(customer_id="C1", name="华信", country="CN"))
    session.flush()
    session.add(Invoice(invoice_id="I1", customer_id="C1", issued_on=D(2026, 9, 1), due_on=D(2026, 10, 1), amount=1000))
    for key, kind in (("C1:dunning_letter:2026-12-01", "dunning_letter"), ("C1:follow_up:2026-12-01", "follow_up")):
        session.add(ActionTaken(key=key, customer_id="C1", action=kind, due_on=D(2026, 12, 1), channel="letter", role="collector", invoices="I1"))
    session.add(
        OutboxMessage(
            key="C1:dunning_letter:2026-12-01:letter",
            customer_id="C1",
            to_address="ap@huaxin.example",
            to_name="王会计",
            subject="催账函",
            text="请付款",
            attachment_name="dunning_letter-C1-2026-12-01.pdf",
            attachment=b"%PDF-1.4 letter",
        )
    )
    session.add(
        OutboxMessage(
            key="C1:follow_up:2026-12-01:email",
            customer_id="C1",
            to_address="ap@huaxin.example",
            to_name="王会计",
            subject="付款提醒",
            text="请于12月8日前付款",
        )
    )
    session.commit()


def test_the_server_s_acceptance_is_kept_with_the_sent_time_and_shown_in_the_evidence(ledger_engine, postfix, tmp_path):
    transport, server = postfix
    sessions = sessionmaker(ledger_engine)
    with sessions() as session:
        queue_demands(session)
    assert dispatch(sessions, COMPANY, transport).sent == 2 and server.received == 2
    with sessions() as session:
        rows = {m.key: m for m in session.scalars(select(OutboxMessage))}
        letter, email = rows["C1:dunning_letter:2026-12-01:letter"], rows["C1:follow_up:2026-12-01:email"]
        assert letter.server_reply == "250 2.0.0 Ok: queued as 4F1A2B" and letter.sent_at is not None
        assert email.server_reply == "250 2.0.0 Ok: queued as 5C3D4E" and email.sent_at is not None
        documents = {d.key: d for d in sent_documents(session, "C1")}
        assert documents[letter.key].queue_id == "4F1A2B" and documents[email.key].queue_id == "5C3D4E"
        assert "Accepted: 250 2.0.0 Ok: queued as 5C3D4E" in documents[email.key].body.decode("utf-8")
        sent_at = letter.sent_at.astimezone(SHANGHAI).isoformat()

        customer = session.get(Customer, "C1")
        standing = customer_standing(session, customer, dt.datetime.now(SHANGHAI).date(), terms=None, working=EveryDayWorks())
        case = write_case_file(session, standing, customer, company_name=COMPANY.name, zone=SHANGHAI, out=tmp_path / "cases")
    listed = {row["key"]: row for row in csv.DictReader(io.StringIO((case.folder / "documents.csv").read_text(encoding="utf-8-sig")))}
    assert (listed[letter.key]["server_reply"], listed[letter.key]["queue_id"]) == ("250 2.0.0 Ok: queued as 4F1A2B", "4F1A2B")
    index = {row["file"]: row["what"] for row in csv.DictReader(io.StringIO((case.folder / "index.csv").read_text(encoding="utf-8-sig")))}
    assert index["documents/dunning_letter-C1-2026-12-01.pdf"] == (
        f"dunning_letter to ap@huaxin.example, as sent; accepted by the mail server at {sent_at} (250 2.0.0 Ok: queued as 4F1A2B)"
    )
    assert "queued as 4F1A2B" in (case.folder / "index.md").read_text(encoding="utf-8")
    assert dispatch(sessions, COMPANY, transport).sent == 0 and server.received == 2  # sent once, its acceptance kept


def test_a_message_written_to_the_outbox_folder_has_no_server_acceptance(sqlite_engine, tmp_path):
    sessions = sessionmaker(sqlite_engine)
    with sessions() as session:
        queue_demands(session)
    assert dispatch(sessions, COMPANY, OutboxFolder(tmp_path / "outbox")).sent == 2
    with sessions() as session:
        assert [m.server_reply for m in session.scalars(select(OutboxMessage))] == [None, None]
        assert all(d.queue_id is None and d.sent_at is not None for d in sent_documents(session, "C1"))
