"""Emails and letters: every kind in both locales, strict templates, one-page PDFs in which Chinese is text."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import jinja2
import pypdf
import pytest

from huikuan.documents import pdf
from huikuan.documents.pdf import cjk_font, letter_pdf
from huikuan.documents.render import (
    EMAIL_KINDS,
    LETTER_KINDS,
    LETTER_MAX_ROWS,
    LOCALES,
    DocumentContext,
    InvoiceLine,
    Party,
    RenderedLetter,
    capital_yuan,
    environment,
    format_date,
    format_money,
    render_email,
    render_letter,
    template_names,
)

D = dt.date
TODAY = D(2026, 11, 23)
PAY_BY = D(2026, 12, 4)
CONFIRM_BY = D(2026, 11, 20)
COMPANY = "上海回款科技有限公司"
CUSTOMER = "杭州华信贸易有限公司"
LAST_CONTACT = "2026年11月12日电话联系王伟，答应11月20日前付款"
CUSTOMER_CONTACT = Party("王伟", "财务经理", "wangwei@huaxin.example.cn", "0571-8888 1234")
COLLECTOR = Party("李娜", "应收账款主管", "lina@huikuan.example.cn", "021-5080 6688")
LAWYER = Party("赵明", "上海明德律师事务所 律师", "zhaoming@mingde-law.example.cn", "021-6321 0000")
BOSS = Party("陈建国", "总经理", "chen@huikuan.example.cn", "021-5080 6600")


def invoices(count: int) -> tuple[InvoiceLine, ...]:
    lines = []
    for index in range(count):
        issued = D(2026, 6, 1) + dt.timedelta(days=7 * index)
        due = issued + dt.timedelta(days=30)
        amount = Decimal("8464.39") + Decimal("1013.27") * index
        paid = Decimal("2000.00") if index == 0 else Decimal("0")
        lines.append(InvoiceLine(f"INV-2026-{110 + index:06d}", issued, due, amount, amount - paid, (TODAY - due).days))
    return tuple(lines)


def make_context(kind: str, locale: str = "zh_CN", count: int = 4, **changes) -> DocumentContext:
    internal = kind in ("escalation", "approval_request")
    context = DocumentContext(
        kind=kind,
        locale=locale,
        today=TODAY,
        company=COMPANY,
        company_address="上海市浦东新区张江路 88 号 3 楼（邮编 201203）",
        customer_name=CUSTOMER,
        addressee=BOSS if internal else CUSTOMER_CONTACT,
        sender=LAWYER if kind == "lawyer_letter" else COLLECTOR,
        invoices=invoices(count),
        pay_by=PAY_BY,
        statement_month="2026-10",
        statement_lines=((D(2026, 10, 3), "A4 复印纸 200 箱", Decimal("8400.00")), (D(2026, 10, 20), "硒鼓 30 只", Decimal("5370.50"))),
        tracking_no="SF1234567890",
        last_contact=LAST_CONTACT,
        promise="2026年11月20日前支付 ¥8,464.39",
    )
    return dataclasses.replace(context, **changes)


EXTRA = {
    "send_statement": {"confirm_by": CONFIRM_BY},
    "statement_follow_up": {"confirm_by": CONFIRM_BY},
    "escalation": {"action": "notify_manager", "reason": "more than 1 month unpaid", "role": "manager"},
    "lock_lifted": {"locked_on": D(2026, 9, 1), "reason": "locked for INV-2026-000110, all paid"},
    "approval_request": {
        "code": "493817",
        "decision": "dunning_letter",
        "approver": "老板",
        "form_url": "http://127.0.0.1:4200/runs/flow-run/7f3c",
        "preview_text": "催 账 函\n\n尊敬的王伟经理：……",
        "expires_on": D(2026, 11, 30),
    },
}
CUSTOMER_EMAILS = [kind for kind in EMAIL_KINDS if kind not in ("escalation", "approval_request", "lock_lifted")]
# Words that disclose the next step; only the lawyer's letter and the final notice may say it.
THREATS = {
    "zh_CN": re.compile(r"锁定|起诉|诉讼|律师|法院|法律|停止供货|停止发货|停货|黑名单|信用额度|催收机构"),
    "en": re.compile(r"\b(lawsuit|sue|court|legal|lawyers?|lock|stop shipments?|blacklist|credit limit|collection agency)\b", re.I),
}
RELATIVE_DEADLINE = re.compile(r"\d+\s*(天内|日内|个工作日内)|within \d+ (working )?days", re.I)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pdf_text(pdf: bytes) -> tuple[int, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return len(reader.pages), "".join(page.extract_text() for page in reader.pages)


# --- Templates and filters ---------------------------------------------------------------


def test_every_kind_has_its_templates_in_both_locales():
    names = {locale: template_names(locale) for locale in LOCALES}
    assert names["zh_CN"] == names["en"]
    for kind in EMAIL_KINDS:
        assert {f"{kind}.subject.j2", f"{kind}.txt.j2", f"{kind}.html.j2"} <= set(names["en"])
    for kind in LETTER_KINDS:
        assert f"{kind}.letter.j2" in names["en"]


def test_the_environment_is_strict_and_escapes_html_only():
    env = environment()
    assert env is environment()
    assert env.undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("尊敬的{{ addressee.name }}：").render()
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("zh_CN/_signature.txt.j2").render(sender={"name": "李娜"})
    assert env.get_template("en/_amount.html.j2").render(label="<b>", amount=Decimal("1"), locale="en", currency="CNY").count("&lt;b&gt;") == 1


@pytest.mark.parametrize(
    ("amount", "locale", "currency", "expected"),
    [
        (Decimal("1234.5"), "zh_CN", "CNY", "¥1,234.50"),
        (Decimal("1234.5"), "en", "CNY", "CNY 1,234.50"),
        (Decimal("8464.385"), "zh_CN", "CNY", "¥8,464.39"),
        (Decimal("1234567.01"), "zh_CN", "USD", "USD 1,234,567.01"),
        (Decimal("-50"), "zh_CN", "CNY", "-¥50.00"),
        (0, "en", "EUR", "EUR 0.00"),
    ],
)
def test_money(amount, locale, currency, expected):
    assert format_money(amount, locale, currency) == expected


def test_money_refuses_floats():
    with pytest.raises(TypeError):
        format_money(1234.5, "zh_CN")  # type: ignore[arg-type]
    context = make_context("follow_up", invoices=(dataclasses.replace(invoices(1)[0], open_amount=12.5),))
    with pytest.raises(TypeError):
        render_email(context)


def test_long_dates():
    assert format_date(D(2026, 11, 30), "zh_CN") == "2026年11月30日"
    assert format_date(D(2026, 11, 30), "en") == "30 November 2026"
    assert format_date(D(2027, 1, 5), "en") == "5 January 2027"


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (Decimal("53382.46"), "伍万叁仟叁佰捌拾贰元肆角陆分"),
        (Decimal("1271831.80"), "壹佰贰拾柒万壹仟捌佰叁拾壹元捌角整"),
        (Decimal("100000000.00"), "壹亿元整"),
        (Decimal("100001000"), "壹亿零壹仟元整"),
        (Decimal("10010.05"), "壹万零壹拾元零伍分"),
        (Decimal("0.50"), "伍角整"),
        (Decimal("0"), "零元整"),
    ],
)
def test_capital_numerals(amount, expected):
    assert capital_yuan(amount) == expected


# --- Emails ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", EMAIL_KINDS)
def test_every_email_names_people_amount_and_a_calendar_date(kind, locale):
    context = make_context(kind, locale)
    email = render_email(context, **EXTRA.get(kind, {}))
    amount = format_money(context.total_open, locale)
    statement = format_money(Decimal("13770.50"), locale)
    date = format_date(
        CONFIRM_BY
        if kind in ("send_statement", "statement_follow_up")
        else context.invoices[0].due_on
        if kind in ("reminder", "send_invoice_info")
        else context.today,
        locale,
    )
    assert email.subject and "\n" not in email.subject
    for body in (email.text, email.html):
        for needed in (context.addressee.name, context.sender.title, context.sender.phone, context.sender.email, amount, date):
            assert needed in body, (kind, locale, needed)
        if kind in ("send_statement", "statement_follow_up"):
            assert statement in body
        assert not RELATIVE_DEADLINE.search(body)
        assert "None" not in body
    assert email.html.startswith("<!DOCTYPE html>") and f'lang="{locale.replace("_", "-")}"' in email.html


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", CUSTOMER_EMAILS)
def test_emails_to_customers_do_not_disclose_the_next_step(kind, locale):
    email = render_email(make_context(kind, locale), **EXTRA.get(kind, {}))
    assert not THREATS[locale].search(email.text), THREATS[locale].search(email.text)


def test_a_follow_up_opens_by_restating_the_last_contact_and_the_promise():
    text = render_email(make_context("follow_up")).text
    assert text.index(LAST_CONTACT) < text.index("2026年11月20日前支付 ¥8,464.39") < text.index("INV-2026-000110")
    plain = render_email(make_context("follow_up", last_contact=None, promise=None)).text
    assert "上次" not in plain and "承诺" not in plain


def test_internal_emails_carry_what_the_reader_decides():
    escalation = render_email(make_context("escalation"), **EXTRA["escalation"])
    assert "经理" in escalation.text and "通知经理协助催收" in escalation.subject
    assert "more than 1 month unpaid" in escalation.text and LAST_CONTACT in escalation.text
    assert "最长逾期：145 天" in escalation.text
    request = render_email(make_context("approval_request", "en"), **EXTRA["approval_request"])
    assert "send a dunning letter" in request.subject
    for needed in ("493817", EXTRA["approval_request"]["form_url"], "30 November 2026", "145 days overdue", "催 账 函"):
        assert needed in request.text and needed in request.html
    boss = render_email(make_context("approval_request"), **{**EXTRA["approval_request"], "approver": BOSS})
    assert "审批人：陈建国（总经理）" in boss.text and "审批人：陈建国（总经理）" in boss.html
    bare = render_email(make_context("approval_request"), code="1", decision="stop_shipment", form_url="http://x")
    assert "锁定账户、停止出库" in bare.text and "函件预览" not in bare.text


@pytest.mark.parametrize("locale", LOCALES)
def test_an_unconfirmed_statement_is_escalated_without_invoices(locale):
    context = make_context("escalation", locale, count=0, last_contact=None)
    email = render_email(context, action="escalate_statement", reason="statement unconfirmed 4 weeks after sending", role="supervisor")
    statement = format_money(Decimal("13770.50"), locale)
    for body in (email.subject, email.text, email.html):
        assert statement in body and format_money(Decimal("0"), locale) not in body
    assert "A4 复印纸 200 箱" in email.text and format_date(TODAY, locale) in email.text
    assert ("无记录" if locale == "zh_CN" else "none recorded") in email.text
    with pytest.raises(ValueError):
        render_email(dataclasses.replace(context, statement_lines=()), action="escalate_statement", reason="-", role="supervisor")


def test_html_escapes_what_text_keeps():
    context = make_context("follow_up", customer_name="A&B <Trading> 有限公司")
    email = render_email(context)
    assert "A&B <Trading>" in email.subject
    assert f"<title>{email.subject.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</title>" in email.html
    assert "<Trading>" not in email.html


def test_missing_values_raise_instead_of_printing_a_blank():
    with pytest.raises(jinja2.UndefinedError, match="pay_by"):
        render_email(make_context("follow_up", pay_by=None))
    with pytest.raises(jinja2.UndefinedError, match="tracking_no"):
        render_email(make_context("send_invoice_info", tracking_no=None))
    with pytest.raises(jinja2.UndefinedError, match="phone"):
        render_email(make_context("reminder", sender=Party("李娜", "应收账款主管", "lina@huikuan.example.cn")))
    with pytest.raises(jinja2.UndefinedError, match="pay_by"):
        render_letter(make_context("dunning_letter", pay_by=None))
    with pytest.raises(TypeError, match="confirm_by"):
        render_email(make_context("send_statement"))
    with pytest.raises(TypeError, match="code"):
        render_email(make_context("approval_request"), **{**EXTRA["approval_request"], "code": None})
    with pytest.raises(TypeError, match="colour"):
        render_email(make_context("reminder"), colour="red")
    with pytest.raises(ValueError):
        render_email(make_context("follow_up", invoices=()))
    with pytest.raises(ValueError):
        render_email(make_context("dunning_letter"))
    with pytest.raises(ValueError):
        render_letter(make_context("dunning_letter", locale="fr"))


def test_a_title_outside_the_known_ones_is_addressed_politely():
    context = make_context("reminder", addressee=Party("王伟", None, "wangwei@huaxin.example.cn"))
    assert render_email(context).text.startswith("王伟先生/女士，您好！")
    assert render_email(dataclasses.replace(context, locale="en")).text.startswith("Dear 王伟,")


# --- Letters -----------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", LETTER_KINDS)
def test_every_letter_renders_to_one_page_with_chinese_as_text(kind, locale):
    context = make_context(kind, locale)
    letter = render_letter(context)
    amount = format_money(context.total_open, locale)
    text = letter.text
    for needed in (context.addressee.name, context.sender.title, context.sender.phone, context.sender.email, amount, format_date(PAY_BY, locale)):
        assert needed in text, (kind, locale, needed)
    assert squeeze(letter.title) in squeeze(text) and "  " not in letter.title
    assert 'class="amount"' in letter.html
    assert not RELATIVE_DEADLINE.search(text)
    if locale == "zh_CN":
        assert "人民币叁万柒仟玖佰叁拾柒元壹角捌分" in text
    pages, extracted = pdf_text(letter_pdf(letter, context))
    assert pages == 1
    for needed in (COMPANY, CUSTOMER, amount, format_date(PAY_BY, locale), squeeze(context.sender.email)):
        assert squeeze(needed) in squeeze(extracted), (kind, locale, needed)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", LETTER_KINDS)
def test_only_the_lawyer_and_the_final_notice_name_the_next_step(kind, locale):
    text = render_letter(make_context(kind, locale)).text
    threat = THREATS[locale].search(text)
    if kind in ("lawyer_letter", "final_notice"):
        assert threat, "a lawyer's letter and a final notice say what comes next"
    else:
        assert not threat, threat


def test_the_lawyer_writes_for_the_company():
    letter = render_letter(make_context("lawyer_letter"))
    assert letter.title == "律师函"
    text = letter.text
    assert "上海明德律师事务所 律师赵明受上海回款科技有限公司（以下简称“委托人”）委托" in text
    assert "律师：赵明" in text and "特此函告" in text


def test_the_statement_letter_has_a_slip_to_sign_and_return():
    letter = render_letter(make_context("statement_letter"))
    assert "本公司确认截至2026年11月23日尚欠贵公司 ¥37,937.18" in letter.text
    assert "（盖章）" in letter.text and '<hr class="cut"/>' in letter.html
    english = render_letter(make_context("statement_letter", "en")).text
    assert "We confirm that as of 23 November 2026 we owe you CNY 37,937.18." in english


def test_a_letter_in_another_currency_has_no_yuan_numerals():
    letter = render_letter(make_context("dunning_letter", currency="USD"))
    assert "USD 37,937.18" in letter.text and "大写" not in letter.text


@pytest.mark.parametrize("kind", ["dunning_letter", "statement_letter"])
def test_forty_invoices_are_summed_up_to_keep_one_page(kind):
    context = make_context(kind, count=40)
    letter = render_letter(context)
    pages, extracted = pdf_text(letter_pdf(letter, context))
    assert f"其余{40 - LETTER_MAX_ROWS}张发票" in squeeze(extracted)
    assert squeeze(format_money(context.total_open, "zh_CN")) in squeeze(extracted)
    assert "INV-2026-000110" in extracted
    if kind == "statement_letter":  # the debtor confirms every invoice: the schedule (附件) on a page of its own names the rest
        assert pages == 2 and "INV-2026-000149" in extracted and "附件" in extracted
    else:
        assert pages == 1 and "INV-2026-000149" not in extracted


def test_a_letter_that_needs_a_second_page_is_refused():
    context = make_context("dunning_letter")
    letter = render_letter(context)
    long = RenderedLetter(letter.title, letter.html.replace("</article>", "<p>　　补充说明。</p>\n" * 60 + "</article>"))
    with pytest.raises(ValueError, match="one page"):
        letter_pdf(long, context)


@pytest.mark.parametrize(
    ("markup", "problem"),
    [
        ("<h1>x</h1><script>alert(1)</script>", "script"),
        ("<h1>x</h1><p>open <b>bold</p>", "not closed"),
        ("<h1>x</h1>loose text", "outside a paragraph"),
        ('<h1>x</h1><div class="slip"><p>y</p>', "not closed"),
    ],
)
def test_the_letter_markup_is_checked(markup, problem):
    with pytest.raises(ValueError, match=problem):
        _ = RenderedLetter("x", markup).text


def test_markup_characters_in_names_reach_the_pdf_as_text():
    context = make_context("dunning_letter", customer_name="A&B <Trading> 有限公司")
    letter = render_letter(context)
    assert "A&amp;B &lt;Trading&gt;" in letter.html
    _, extracted = pdf_text(letter_pdf(letter, context))
    assert "A&B<Trading>有限公司" in squeeze(extracted)


def test_the_same_letter_gives_the_same_bytes():
    context = make_context("urgent_letter")
    letter = render_letter(context)
    assert letter_pdf(letter, context) == letter_pdf(letter, context)


# --- Fonts and the rendered page ---------------------------------------------------------


def test_the_cjk_font_is_an_embeddable_truetype_file():
    name, source = cjk_font()
    assert cjk_font() == (name, source)
    from reportlab.pdfbase import pdfmetrics

    assert pdfmetrics.getFont(name)
    assert Path(source).is_file() and name == pdf.CJK_FONT_NAME


def test_without_an_installed_font_every_letter_uses_the_packaged_one(monkeypatch, tmp_path):
    monkeypatch.setattr(pdf, "FONT_DIRS", (tmp_path,))
    packaged = pdf.cjk_font.__wrapped__()
    assert packaged[0] == pdf.CJK_FONT_NAME and "paperang_p2_fonts_cjk" in packaged[1]
    monkeypatch.setattr(pdf, "cjk_font", lambda: packaged)
    for locale in LOCALES:
        for kind in LETTER_KINDS:
            context = make_context(kind, locale, count=40)
            pages, extracted = pdf_text(letter_pdf(render_letter(context), context))
            assert pages == (2 if kind == "statement_letter" else 1) and COMPANY in squeeze(extracted), (kind, locale)  # 2: the schedule


def test_only_truetype_outlines_count(tmp_path):
    cff = tmp_path / "NotoSansCJK-Regular.ttc"
    cff.write_bytes(b"ttcf" + b"\0" * 8 + (16).to_bytes(4, "big") + b"OTTO")
    assert not pdf._has_truetype_outlines(cff)
    installed = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
    if installed.exists():
        assert pdf._has_truetype_outlines(installed)


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed")
def test_the_dunning_letter_page_is_not_blank(tmp_path):
    from PIL import Image

    context = make_context("dunning_letter")
    (tmp_path / "letter.pdf").write_bytes(letter_pdf(render_letter(context), context))
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile", "letter.pdf", "page"], cwd=tmp_path, check=True)
    image = Image.open(tmp_path / "page.png").convert("RGB")
    assert image.size[1] == 702  # A4 at 60 dpi
    data = image.tobytes()
    pixels = list(zip(data[0::3], data[1::3], data[2::3]))
    ink = sum(1 for red, green, blue in pixels if red + green + blue < 600)
    red_amount = sum(1 for red, green, blue in pixels if red > 120 and green < 80 and blue < 80)
    assert 0.02 < ink / len(pixels) < 0.4
    assert red_amount > 20, "the amount owed stands out in red"
