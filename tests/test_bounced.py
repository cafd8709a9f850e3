"""An email address known to bounce is not mailed again; the collector is told instead (issue #13.3)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import socket
from collections.abc import Iterator

import pypdf
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.collection import execution
from huikuan.collection.batch import collect
from huikuan.ledger.company import EXAMPLE, SmtpSettings, parse_company
from huikuan.ledger.db import session_scope
from huikuan.ledger.importer import import_files
from huikuan.ledger.records import get_customer
from huikuan.outbox import bounces
from huikuan.outbox.mail import SmtpServer, dispatch
from models.engine import Action
from models.ledger import Contact, OutboxMessage
from models.policy import load_policy
from tests.ledger_files import import_ledger, write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

COMPANY = parse_company(EXAMPLE)
DAY = dt.date(2026, 11, 16)
ADDRESS = "wangwei@hx.example.cn"
CUSTOMERS = "customer_id,name,email,phone,contact_name,contact_title,collector\nC1,杭州华信贸易有限公司,{email},13800000001,王伟,财务经理,c02\n"
FILES = {
    "customers": CUSTOMERS.format(email=ADDRESS),
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-08-10,2026-09-10,10000.00\nI2,C1,2026-10-10,2026-11-10,5000.00\n",
}


@pytest.fixture
def ledger(tmp_path, session):
    return import_ledger(session, tmp_path, FILES)


def follow_up(day: dt.date = DAY) -> Action:
    return Action(
        customer_id="C1",
        on=day,
        action="follow_up",
        channel="email",
        role="collector",
        invoices=("I1", "I2"),
        needs_approval=False,
        reasons=("test",),
        steps=("follow_up",),
    )


def collector_notices(session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.key.contains(bounces.NOTICE)).order_by(OutboxMessage.id)))


def to_customer(session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.to_address == ADDRESS)))


def test_a_customer_email_to_a_bounced_address_is_not_queued_and_the_collector_is_told_once(ledger):
    bounces.mark_bounced(ledger, "C1", "WangWei@hx.example.cn ", on=dt.date(2026, 11, 12), company=COMPANY, as_of=DAY)
    assert get_customer(ledger, "C1").primary_contact.email_bounced_on == dt.date(2026, 11, 12)
    outcome = execution.take_action(ledger, follow_up(), company=COMPANY, as_of=DAY)
    assert outcome.taken and outcome.held and ADDRESS in outcome.held and "2026-11-12" in outcome.held
    assert to_customer(ledger) == []
    (notice,) = collector_notices(ledger)
    collector = COMPANY.collector_for("c02")
    assert notice.to_address == collector.email and notice.key == f"{follow_up().key}:email{bounces.NOTICE}{collector.id}"
    assert ADDRESS in notice.text and "退信" in notice.text and "I1" in notice.text
    again = execution.take_action(ledger, follow_up(), company=COMPANY, as_of=DAY)
    assert not again.taken and len(collector_notices(ledger)) == 1
    # The same day run again through the batch: nothing new; another day's follow-up: told again, once.
    assert execution.queue_customer_email(ledger, get_customer(ledger, "C1"), "follow_up", follow_up().key, COMPANY, DAY) == 0
    execution.take_action(ledger, follow_up(dt.date(2026, 11, 17)), company=COMPANY, as_of=dt.date(2026, 11, 17))
    assert len(collector_notices(ledger)) == 2 and to_customer(ledger) == []


def test_a_letter_to_a_bounced_address_goes_to_the_collector_to_post(ledger):
    bounces.mark_bounced(ledger, "C1", ADDRESS, on=DAY, company=COMPANY, as_of=DAY)
    customer = get_customer(ledger, "C1")
    assert execution.queue_letter(ledger, customer, "dunning_letter", f"C1:dunning_letter:{DAY}", COMPANY, DAY, invoices=("I1",)) == 1
    (letter,) = to_customer(ledger)  # the letter of record, to post; never emailed
    assert letter.key == f"C1:dunning_letter:{DAY}:letter" and letter.bounced_at is not None and letter.sent_at is None
    (notice,) = collector_notices(ledger)
    assert notice.attachment is not None and "催 账 函" in pypdf.PdfReader(io.BytesIO(notice.attachment)).pages[0].extract_text()
    ledger.commit()
    sent = []

    class Keep:
        def send(self, message):
            sent.append(message["To"])

    assert dispatch(sessionmaker(ledger.get_bind()), COMPANY, Keep()).sent == 1 and ADDRESS not in " ".join(sent)


def test_the_daily_collection_says_which_emails_were_not_sent(ledger, ledger_engine):
    bounces.mark_bounced(ledger, "C1", ADDRESS, on=DAY, company=COMPANY, as_of=DAY)
    ledger.commit()
    result = collect(ledger_engine, ["C1"], dt.date(2026, 11, 11), load_policy(), COMPANY, next_actions=False)
    (account,) = result.accounts
    assert account.taken and account.held and "bounced" in account.held[0] and account.row()["not emailed"]
    with Session(ledger_engine) as session:
        assert to_customer(session) == [] and collector_notices(session)


def test_marking_holds_back_what_is_queued_and_a_new_address_clears_it(ledger, tmp_path):
    execution.take_action(ledger, follow_up(), company=COMPANY, as_of=DAY)
    (queued,) = to_customer(ledger)
    marked, held = bounces.mark_bounced(ledger, "C1", ADDRESS, on=DAY, company=COMPANY, as_of=DAY)
    assert (marked, held) == (1, 1) and queued.bounced_at is not None and len(collector_notices(ledger)) == 1
    assert bounces.mark_bounced(ledger, "C1", ADDRESS, on=DAY, company=COMPANY, as_of=DAY) == (0, 0)  # idempotent
    ledger.commit()
    sent = []

    class Keep:
        def send(self, message):
            sent.append(message["To"])

    dispatch(sessionmaker(ledger.get_bind()), COMPANY, Keep())
    assert sent and ADDRESS not in " ".join(sent)  # only the collector's notice went
    import_files(ledger, write_files(tmp_path, {"customers": CUSTOMERS.format(email="caiwu@hx.example.cn")}), update_existing=True)
    ledger.commit()
    contact = ledger.scalar(select(Contact).where(Contact.customer_id == "C1"))
    ledger.refresh(contact)
    assert contact.email == "caiwu@hx.example.cn" and contact.email_bounced_on is None
    execution.take_action(ledger, follow_up(dt.date(2026, 11, 17)), company=COMPANY, as_of=dt.date(2026, 11, 17))
    assert ledger.scalar(select(OutboxMessage.to_address).where(OutboxMessage.key == f"{follow_up(dt.date(2026, 11, 17)).key}:email")) == "caiwu@hx.example.cn"


def test_an_unknown_address_is_refused(ledger):
    from huikuan.ledger.records import LedgerError

    with pytest.raises(LedgerError, match="C1 has no contact with the email 'nobody@x.cn'"):
        bounces.mark_bounced(ledger, "C1", "nobody@x.cn", on=DAY, company=COMPANY, as_of=DAY)


class RefusesRecipient:
    """An SMTP server that refuses one address for good (550 to RCPT) and accepts the rest."""

    def __init__(self, refused: str) -> None:
        self.refused, self.accepted = refused, []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refused:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.accepted.extend(envelope.rcpt_tos)
        return "250 2.0.0 Ok: queued as 4F1A2B"


@contextlib.contextmanager
def refusing(address: str) -> Iterator[tuple[SmtpServer, RefusesRecipient]]:
    """A local SMTP server that refuses ``address`` for good (550 to RCPT), running while the block runs; its ``SmtpServer`` and handler."""
    from aiosmtpd.controller import Controller

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    handler = RefusesRecipient(address)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(SmtpSettings(host="127.0.0.1", port=port, starttls=False)), handler
    finally:
        controller.stop()


def test_a_permanent_refusal_of_the_recipient_marks_the_address_bounced(ledger):
    with refusing(ADDRESS) as (server, handler):
        execution.take_action(ledger, follow_up(), company=COMPANY, as_of=DAY)
        ledger.commit()
        first = dispatch(sessionmaker(ledger.get_bind()), COMPANY, server)
        assert (first.sent, first.failed, first.bounced) == (0, 0, 1)
        ledger.expire_all()
        (message,) = to_customer(ledger)
        assert message.sent_at is None and message.bounced_at is not None and "550" in message.last_error
        assert get_customer(ledger, "C1").primary_contact.email_bounced_on is not None
        (notice,) = collector_notices(ledger)
        second = dispatch(sessionmaker(ledger.get_bind()), COMPANY, server)  # not retried; the collector's notice goes
        assert (second.sent, second.failed, second.bounced) == (1, 0, 0) and handler.accepted == [notice.to_address]
        execution.take_action(ledger, follow_up(dt.date(2026, 11, 17)), company=COMPANY, as_of=dt.date(2026, 11, 17))
        assert len(to_customer(ledger)) == 1  # nothing more queued to it


runner = CliRunner()


@pytest.fixture
def cli_ledger(cli_env):
    paths = write_files(cli_env, FILES)
    assert runner.invoke(app, ["import", "--customers", str(paths["customers"]), "--invoices", str(paths["invoices"])]).exit_code == 0


def test_the_contact_bounced_command(cli_ledger):
    done = runner.invoke(app, ["contact", "bounced", "C1", ADDRESS, "--on", "2026-11-12"])
    assert done.exit_code == 0 and f"{ADDRESS} of C1 marked bounced since 2026-11-12" in done.stdout, done.output
    again = runner.invoke(app, ["contact", "bounced", "C1", ADDRESS])
    assert again.exit_code == 0 and "already marked bounced" in again.stdout
    with session_scope() as session:
        assert session.scalar(select(Contact.email_bounced_on).where(Contact.customer_id == "C1")) == dt.date(2026, 11, 12)
    wrong = runner.invoke(app, ["contact", "bounced", "C1", "nobody@x.cn"])
    assert wrong.exit_code != 0 and len(wrong.stderr.strip().splitlines()) == 1 and "no contact with the email 'nobody@x.cn'" in wrong.stderr
    bad_day = runner.invoke(app, ["contact", "bounced", "C1", ADDRESS, "--on", "2026-13-01"])
    assert bad_day.exit_code != 0 and "--on" in bad_day.stderr
