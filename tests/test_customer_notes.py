"""No customer email or letter contains a collector's internal note (issue #13.3).

The contact log's note, person, next step are the collector's: the call script and
our own people's emails restate them; what a customer reads quotes only what the
customer agreed (a promise's amount and date) and the day and channel of the last contact.
"""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pypdf
import pytest
from sqlalchemy import select

from huikuan.collection import execution
from huikuan.documents.last_contact import restate
from huikuan.documents.render import LETTER_KINDS, format_money
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.facts import load_facts
from huikuan.ledger.importer import import_files
from huikuan.ledger.records import get_customer, log_contact, record_promise
from models.calendar import calendar_for
from models.engine import Evaluator
from models.enums import Channel, ContactResult
from models.ledger import ContactLog, OutboxMessage
from models.policy import load_policy
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

COMPANY = parse_company(EXAMPLE)
MARKER = "INTERNAL-7Q3Z"
NOTE = f"邮件被退回，客户财务邮箱已停用 {MARKER}"
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,contact_title,collector,locale\n"
    "C1,杭州华信贸易有限公司,wangwei@hx.example.cn,13800000001,王伟,财务经理,c02,zh_CN\n"
    "C2,Acme Trading Ltd,ap@acme.example.com,+14155550142,Jane Doe,Controller,c02,en\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "I1,C1,2026-08-10,2026-09-10,10000.00\nI2,C1,2026-10-10,2026-11-10,5000.00\nI3,C1,2026-11-05,2026-12-05,3000.00\n"
    "J1,C2,2026-08-10,2026-09-10,800.00\nJ2,C2,2026-10-10,2026-11-10,1200.00\nJ3,C2,2026-11-05,2026-12-05,600.00\n",
    "charges": "charge_id,customer_id,delivered_on,amount,description\nH1,C1,2026-10-12,1200.00,钢材一批\nH2,C2,2026-10-20,300.00,Freight\n",
}
DAY = dt.date(2026, 11, 16)
CUSTOMER_EMAIL_KINDS = ("reminder", "follow_up", "statement_follow_up", "send_invoice_info", "payment_notice", "send_statement")


@pytest.fixture
def ledger(tmp_path, session):
    paths = write_files(tmp_path, FILES)
    import_files(session, paths)
    session.commit()
    for customer_id in ("C1", "C2"):
        log_contact(
            session,
            customer_id,
            channel=Channel.phone,
            result=ContactResult.promised,
            on=dt.date(2026, 11, 2),
            note=f"客户说下周付款 {MARKER}",
            person=f"陈 {MARKER}",
            next_step=f"再打 {MARKER}",
            recorded_by="c02",
        )
        record_promise(session, customer_id, amount=Decimal("700.00"), by=dt.date(2026, 11, 30), on=dt.date(2026, 11, 3), note=f"口头 {MARKER}")
        log_contact(session, customer_id, channel=Channel.email, result=ContactResult.unreachable, on=dt.date(2026, 11, 12), note=NOTE, recorded_by="c02")
        statement = execution.prepare_statement(session, get_customer(session, customer_id), "2026-10", dt.date(2026, 11, 3))
        statement.tracking_no = "SF1234567890"
    session.flush()
    return session


def every_customer_document(session, day: dt.date) -> int:
    """Queue each customer-facing email and letter kind for each customer, as take_action and carry_out do."""
    queued = 0
    for customer_id in ("C1", "C2"):
        customer = get_customer(session, customer_id)
        for kind in CUSTOMER_EMAIL_KINDS:
            statements = ("2026-10",) if kind in ("send_statement", "statement_follow_up", "send_invoice_info") else ()
            queued += execution.queue_customer_email(session, customer, kind, f"{customer_id}:{kind}:{day}", COMPANY, day, statements=statements)
        for kind in LETTER_KINDS:
            queued += execution.queue_letter(session, customer, kind, f"{customer_id}:{kind}:{day}", COMPANY, day, invoices=("I1", "J1"))
    return queued


def customer_messages(session) -> list[OutboxMessage]:
    addresses = {"wangwei@hx.example.cn", "ap@acme.example.com"}
    return [m for m in session.scalars(select(OutboxMessage)) if m.to_address in addresses]


def test_no_customer_email_or_letter_contains_an_internal_note(ledger):
    assert every_customer_document(ledger, DAY) == 2 * (len(CUSTOMER_EMAIL_KINDS) + len(LETTER_KINDS))
    for day in (dt.date(2026, 11, 17), dt.date(2026, 11, 24), dt.date(2026, 12, 1), dt.date(2026, 12, 2), dt.date(2026, 12, 8)):
        for customer_id in ("C1", "C2"):  # and whatever the daily run takes
            facts, country = next(load_facts(ledger, only=[customer_id]))
            for action in Evaluator(facts, load_policy(), calendar_for(country)).actions_on(day):
                execution.take_action(ledger, action, company=COMPANY, as_of=day)
    messages = customer_messages(ledger)
    kinds = {m.key.split(":")[1] for m in messages}
    assert set(CUSTOMER_EMAIL_KINDS) | set(LETTER_KINDS) <= kinds
    for message in messages:
        for part in (message.subject, message.text, message.html or ""):
            assert MARKER not in part and "邮箱已停用" not in part, (message.key, part)
        if message.attachment is not None:
            pdf = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(message.attachment)).pages)
            assert MARKER not in pdf and "邮箱已停用" not in pdf, message.key


def test_the_customer_reads_the_promise_and_the_day_of_the_last_contact(ledger):
    every_customer_document(ledger, DAY)
    follow_up = {m.customer_id: m for m in customer_messages(ledger) if m.key.split(":")[1] == "follow_up"}
    assert "2026年11月12日 邮件联系" in follow_up["C1"].text and "2026年11月30日前支付 ¥700.00" in follow_up["C1"].text
    assert "our email of 12 November 2026" in follow_up["C2"].text and format_money(Decimal("700"), "en") + " by 30 November 2026" in follow_up["C2"].text


def test_our_own_people_and_the_call_script_still_read_the_note(ledger):
    customer = get_customer(ledger, "C1")
    internal = execution.document_context(ledger, customer, "escalation", COMPANY, DAY, locale=COMPANY.locale)
    assert NOTE in internal.last_contact
    last = ledger.scalar(select(ContactLog).where(ContactLog.customer_id == "C1").order_by(ContactLog.contacted_on.desc()).limit(1))
    assert NOTE in restate(last, "en", internal=True) and NOTE in restate(last, "zh_CN", internal=True)  # the collector's call script (the worklist)
