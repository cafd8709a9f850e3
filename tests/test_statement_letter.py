"""The statement-confirmation letter (对账函) confirms the whole debt: every open invoice and their total (issue #13.2)."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pypdf
import pytest
from sqlalchemy import select

from huikuan.collection import execution
from huikuan.documents.render import capital_yuan, format_money
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.importer import import_files
from huikuan.ledger.records import get_customer, open_amounts, record_payment
from models.ledger import Invoice, OutboxMessage
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

COMPANY = parse_company(EXAMPLE)
DAY = dt.date(2026, 12, 4)
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,contact_title,collector,locale\n"
    "C1,杭州华信贸易有限公司,wangwei@hx.example.cn,13800000001,王伟,财务经理,c02,zh_CN\n"
    "C2,Acme Trading Ltd,ap@acme.example.com,+14155550142,Jane Doe,Controller,c02,en\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "INV-A1,C1,2026-07-10,2026-08-10,98266.85\nINV-A2,C1,2026-08-10,2026-09-10,100000.00\n"
    "INV-A3,C1,2026-09-10,2026-10-10,212021.73\nINV-A4,C1,2026-10-10,2026-11-10,150000.00\nINV-A5,C1,2026-11-10,2026-12-10,50000.00\n"
    "INV-B1,C2,2026-07-10,2026-08-10,1200.00\nINV-B2,C2,2026-08-10,2026-09-10,3400.50\nINV-B3,C2,2026-10-10,2026-11-10,990.10\n",
}
NAMED = {"C1": ("INV-A1", "INV-A2"), "C2": ("INV-B1", "INV-B2")}  # the invoices of the action that asked for the letter


@pytest.fixture
def ledger(tmp_path, session):
    paths = write_files(tmp_path, FILES)
    import_files(session, paths)
    session.commit()
    record_payment(session, "P1", "C1", amount=Decimal("20000.00"), received_on=dt.date(2026, 11, 20), invoice_id="INV-A3")
    session.flush()
    return session


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize(("customer_id", "locale"), [("C1", "zh_CN"), ("C2", "en")])
def test_the_statement_letter_lists_every_open_invoice_and_confirms_the_whole_balance(ledger, customer_id, locale):
    customer = get_customer(ledger, customer_id)
    still_open = {i: amount for i, amount in open_amounts(ledger, customer_id, DAY).items() if amount > 0}
    assert set(NAMED[customer_id]) < set(still_open)
    balance = sum(still_open.values(), Decimal("0"))
    key = f"{customer_id}:statement_letter:{DAY}"
    assert execution.queue_letter(ledger, customer, "statement_letter", key, COMPANY, DAY, invoices=NAMED[customer_id]) == 1
    letter = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key == f"{key}:letter"))
    reader = pypdf.PdfReader(io.BytesIO(letter.attachment))
    assert len(reader.pages) == 1
    text = squeeze(reader.pages[0].extract_text())
    for invoice_id in still_open:
        assert invoice_id in text, invoice_id
    shown = squeeze(format_money(balance, locale, customer.currency))
    slip = text[text.index(squeeze("本公司确认截至" if locale == "zh_CN" else "We confirm that")) :]
    assert shown in slip, (shown, slip)  # the reply slip confirms the whole balance
    if locale == "zh_CN":
        assert squeeze(capital_yuan(balance)) in slip
    named_only = sum((still_open[i] for i in NAMED[customer_id]), Decimal("0"))
    assert squeeze(format_money(named_only, locale, customer.currency)) not in text


def test_a_dunning_letter_still_speaks_of_the_invoices_of_its_action(ledger):
    customer = get_customer(ledger, "C1")
    context = execution.document_context(ledger, customer, "dunning_letter", COMPANY, DAY, invoices=NAMED["C1"])
    assert [line.invoice_id for line in context.invoices] == list(NAMED["C1"])
    whole = execution.document_context(ledger, customer, "statement_letter", COMPANY, DAY, invoices=NAMED["C1"])
    assert whole.total_open == sum(open_amounts(ledger, "C1", DAY).values(), Decimal("0"))


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_with_more_invoices_than_a_page_holds_the_letter_stays_one_page_and_its_schedule_names_every_one(ledger, locale):
    """A 对账函 is the debtor's acknowledgement of every invoice: those the one-page letter sums up are named in its schedule (附件)."""
    customer = get_customer(ledger, "C1" if locale == "zh_CN" else "C2")
    for n in range(1, 61):
        ledger.add(
            Invoice(
                invoice_id=f"INV-X{n:02d}",
                customer_id=customer.customer_id,
                issued_on=dt.date(2026, 6, 1) + dt.timedelta(days=n),
                due_on=dt.date(2026, 7, 1) + dt.timedelta(days=n),
                amount=Decimal("100.00") + n,
            )
        )
    ledger.flush()
    still_open = open_amounts(ledger, customer.customer_id, DAY)
    assert len(still_open) > 60
    key = f"{customer.customer_id}:statement_letter:{DAY}"
    assert execution.queue_letter(ledger, customer, "statement_letter", key, COMPANY, DAY) == 1
    letter = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key == f"{key}:letter"))
    reader = pypdf.PdfReader(io.BytesIO(letter.attachment))
    first = squeeze(reader.pages[0].extract_text())
    assert squeeze("本公司确认截至" if locale == "zh_CN" else "We confirm that") in first  # the letter and its slip: page one
    assert squeeze("明细见附件" if locale == "zh_CN" else "see the schedule") in first
    assert len(reader.pages) >= 2
    pages = "\n".join(page.extract_text() for page in reader.pages[1:])
    schedule = squeeze(pages)
    assert squeeze("附件：截至" if locale == "zh_CN" else "Schedule: open invoices") in schedule
    named = re.findall(r"INV-[A-Z]\d+(?=\s)", pages)
    assert sorted(named) == sorted(still_open)  # every open invoice, once
    assert squeeze(format_money(sum(still_open.values(), Decimal("0")), locale, customer.currency)) in schedule
