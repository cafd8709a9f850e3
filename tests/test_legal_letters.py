"""The late-payment charge on the letters (issue #17): principal, charge to the letter's day, total and the contract's clause.

A customer's letters are rendered as the daily run queues them (``queue_letter``)
and read back from the PDF; the figures are worked out by hand below, on explicit
dates, across a partial payment and a cap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
from decimal import Decimal

import pypdf
import pytest
from sqlalchemy import select

from huikuan.collection.execution import document_context, queue_letter
from huikuan.documents.pdf import letter_pdf
from huikuan.documents.render import LETTER_KINDS, DocumentContext, InvoiceLine, Party, render_letter
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.records import open_amounts
from huikuan.legal.standing import customer_standing, terms_for
from models.charges import ChargeTerms, late_charge
from models.enums import Locale
from models.ledger import Allocation, Contact, Customer, Invoice, OutboxMessage, Payment

D = dt.date
M = Decimal
COMPANY = parse_company(EXAMPLE)  # no standard terms: only a customer's own contract claims a charge
LETTER_DAY = D(2026, 12, 1)


class EveryDayWorks:
    def roll_forward(self, day: dt.date) -> dt.date:
        return day


def pdf_text(pdf: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return len(reader.pages), re.sub(r"\s+", "", "".join(page.extract_text() for page in reader.pages))


def add_customer(
    session, customer_id: str, *, locale: Locale = Locale.zh_CN, rate: str | None = "0.05%/day", cap: str | None = "10%", clause: str | None = "第八条"
) -> None:
    session.add(
        Customer(customer_id=customer_id, name=f"华信<{customer_id}>", locale=locale, late_charge_rate=rate, late_charge_cap=cap, contract_clause=clause)
    )
    session.flush()
    session.add(Contact(customer_id=customer_id, name="王伟", title="财务经理", email=f"ap-{customer_id}@huaxin.example", phone="0571-1", is_primary=True))
    # I1: 1000.00 due 2026-01-10, 400.00 paid on 2026-03-01; I2: 2345.67 due 2026-09-30, 1000.00 paid on 2026-10-31.
    session.add_all(
        [
            Invoice(invoice_id=f"{customer_id}-I1", customer_id=customer_id, issued_on=D(2025, 12, 10), due_on=D(2026, 1, 10), amount=M("1000.00")),
            Invoice(invoice_id=f"{customer_id}-I2", customer_id=customer_id, issued_on=D(2026, 8, 31), due_on=D(2026, 9, 30), amount=M("2345.67")),
            Payment(payment_id=f"{customer_id}-P1", customer_id=customer_id, received_on=D(2026, 3, 1), amount=M("400.00")),
            Payment(payment_id=f"{customer_id}-P2", customer_id=customer_id, received_on=D(2026, 10, 31), amount=M("1000.00")),
        ]
    )
    session.flush()
    session.add_all(
        [
            Allocation(payment_id=f"{customer_id}-P1", invoice_id=f"{customer_id}-I1", amount=M("400.00")),
            Allocation(payment_id=f"{customer_id}-P2", invoice_id=f"{customer_id}-I2", amount=M("1000.00")),
        ]
    )
    session.flush()


# I1: 2026-01-11..02-28, 49 days on 1000.00 = 24.50; 03-01..12-01, 276 days on 600.00 = 82.80; 107.30 capped at 10% = 100.00.
# I2: 2026-10-01..10-30, 30 days on 2345.67 = 35.18505; 10-31..12-01, 32 days on 1345.67 = 21.53072; 56.71577 -> 56.72.
PRINCIPAL, CHARGE, TOTAL = "¥1,945.67", "¥156.72", "¥2,102.39"


def letter_of(session, customer_id: str, kind: str) -> OutboxMessage:
    customer = session.get(Customer, customer_id)
    assert queue_letter(session, customer, kind, f"{customer_id}:{kind}:{LETTER_DAY}", COMPANY, LETTER_DAY) == 1
    session.flush()
    return session.scalar(select(OutboxMessage).where(OutboxMessage.key == f"{customer_id}:{kind}:{LETTER_DAY}:letter"))


def test_the_letter_s_charge_is_the_one_customers_show_counts(session):
    from huikuan.legal.standing import letter_charges

    add_customer(session, "C1")
    customer = session.get(Customer, "C1")
    charges = {c.invoice_id: c for c in letter_charges(session, customer, COMPANY, LETTER_DAY, ["C1-I1", "C1-I2"])}
    assert {i: (c.principal_open, c.amount, c.capped) for i, c in charges.items()} == {
        "C1-I1": (M("600.00"), M("100.00"), True),
        "C1-I2": (M("1345.67"), M("56.72"), False),
    }
    standing = customer_standing(session, customer, LETTER_DAY, terms=terms_for(customer, COMPANY), working=EveryDayWorks())
    assert (standing.open_total, standing.charge_total, standing.claim_total) == (M("1945.67"), M("156.72"), M("2102.39"))
    assert letter_charges(session, customer, COMPANY, LETTER_DAY, ["C1-I2"])[0].invoice_id == "C1-I2"  # only what the letter demands
    assert letter_charges(session, customer, COMPANY, D(2026, 1, 10), ["C1-I1"])[0].amount == 0  # due today: nothing yet


@pytest.mark.parametrize("kind", LETTER_KINDS)
def test_every_letter_shows_principal_charge_total_and_the_clause(session, kind):
    add_customer(session, "C1")
    message = letter_of(session, "C1", kind)
    pages, text = pdf_text(message.attachment)
    assert pages == 1
    assert "依据合同第八条约定" in text
    assert "每日0.05%" in text and "以发票金额的10%为限" in text
    assert "截至2026年12月1日" in text
    assert f"未付货款本金逾期付款违约金（截至2026年12月1日）本息合计{PRINCIPAL}{CHARGE}{TOTAL}" in text
    # A claim beside the balance, never part of it: the amount owed stays the principal, and the ledger is unchanged.
    assert f"合计：{PRINCIPAL}" in text or f"尚欠贵公司{PRINCIPAL}" in text
    assert open_amounts(session, "C1", LETTER_DAY) == {"C1-I1": M("600.00"), "C1-I2": M("1345.67")}


def test_the_english_letter_says_per_contract_clause(session):
    add_customer(session, "C1", locale=Locale.en, clause="8.2 <b>&amp;</b>")  # the customer's text is data, not markup
    message = letter_of(session, "C1", "lawyer_letter")
    _, text = pdf_text(message.attachment)
    assert "Percontractclause8.2<b>&amp;</b>,latepaymentbearsachargeof0.05%adayontheunpaidamount" in text
    assert "Per contract clause 8.2 <b>&amp;</b>, late payment" in message.text
    assert "CNY1,945.67CNY156.72CNY2,102.39" in text


def test_terms_without_a_clause_are_stated_without_one(session):
    add_customer(session, "C1", clause=None, cap="50.00")
    _, text = pdf_text(letter_of(session, "C1", "dunning_letter").attachment)
    assert "根据双方合同约定" in text and "依据合同" not in text
    assert "每张发票以¥50.00为限" in text
    assert "本息合计¥1,945.67¥100.00¥2,045.67" in text  # each invoice's charge capped at 50.00


@pytest.mark.parametrize("kind", LETTER_KINDS)
def test_a_customer_without_terms_gets_the_letter_it_always_got(session, kind):
    add_customer(session, "C2", rate="none", cap=None, clause="第八条")
    message = letter_of(session, "C2", kind)
    _, text = pdf_text(message.attachment)
    assert "违约金" not in text and "本息合计" not in text and "第八条" not in text
    assert PRINCIPAL in text
    context = document_context(session, session.get(Customer, "C2"), kind, COMPANY, LETTER_DAY)
    assert context.charges == ()


def test_within_the_grace_days_no_charge_is_claimed(session):
    add_customer(session, "C1")
    session.get(Customer, "C1").late_charge_grace_days = 400
    session.flush()
    _, text = pdf_text(letter_of(session, "C1", "stern_letter").attachment)
    assert "违约金" not in text


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
@pytest.mark.parametrize("kind", LETTER_KINDS)
def test_forty_invoices_and_the_charge_keep_to_one_page(kind, locale):
    """The longest letters (a statement letter has a reply slip) still fit on one page with the charge."""
    terms = ChargeTerms(rate=M("0.0005"), grace_days=5, cap_ratio=M("0.3"), cap_amount=M("5000.00"), clause="合同第八条")
    today = D(2026, 11, 23)
    lines = tuple(
        InvoiceLine(
            f"INV-{n:06d}",
            D(2026, 1, 1) + dt.timedelta(days=7 * n),
            D(2026, 2, 1) + dt.timedelta(days=7 * n),
            M("8464.39") + n,
            M("8464.39") + n,
            (today - D(2026, 2, 1)).days - 7 * n,
        )
        for n in range(40)
    )
    party = Party("王伟", "财务经理", "a@b.example", "0571-1")
    context = DocumentContext(
        kind=kind,
        locale=locale,
        today=today,
        company="上海回款科技有限公司",
        company_address="上海市浦东新区张江路 88 号",
        customer_name="杭州华信贸易有限公司",
        addressee=party,
        sender=party,
        invoices=lines,
        pay_by=D(2026, 12, 4),
        last_contact="2026年11月12日电话",
        promise="2026年11月20日前支付 ¥8,464.39",
    )
    charges = tuple(late_charge(line.invoice_id, line.amount, line.due_on, [], today, terms) for line in lines)
    letter = render_letter(dataclasses.replace(context, charges=charges))
    pages, text = pdf_text(letter_pdf(letter, context))
    assert pages == (2 if kind == "statement_letter" else 1)  # the letter keeps to one page; a 对账函's schedule follows
    total = sum((c.amount for c in charges), M(0))
    assert f"{total:,}" in text
