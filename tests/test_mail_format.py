"""The emails dispatch writes are correct RFC 5322/MIME: written to the outbox folder, parsed back, the same.

Each test writes a message through `OutboxFolder`, checks the raw bytes (ASCII
headers, lines of at most 998 characters, header lines of at most 78, RFC 2047
encoded words of at most 75) and parses them back with Python's own parser and
``email.policy.default``, as a mail client would read them.
"""

from __future__ import annotations

import email
import email.policy
import io
import re
from email.generator import BytesGenerator
from email.header import decode_header, make_header
from email.utils import getaddresses

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.outbox.mail import OutboxFolder, build_message, dispatch
from models.ledger import OutboxMessage

COMPANY = parse_company(EXAMPLE)  # its name is Chinese: 上海回款示范有限公司
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 120 + b"\n%%EOF\n"  # every byte value, ~30 KB
TEXT = "王经理您好：\n\n贵公司发票 INV-2026-001 金额 ¥12,345.67 已逾期 15 天，请尽快安排付款。\n" + "谢谢合作！" * 120 + "\n"
HTML = "<html><body><p>王经理您好：</p><table>" + "<tr><td>INV-2026-001</td><td>¥12,345.67</td></tr>" * 60 + "</table></body></html>"


def outbox_row(**fields) -> OutboxMessage:
    values = {
        "key": "C1:follow_up:2026-11-23:email",
        "to_address": "wangwei@hx.example.cn",
        "to_name": "王伟",
        "subject": "付款提醒：发票 INV-2026-001 已逾期",
        "text": TEXT,
    }
    return OutboxMessage(**values | fields)


def written(tmp_path, row: OutboxMessage) -> bytes:
    """The bytes of ``row``'s message as the outbox folder writes them."""
    OutboxFolder(tmp_path).send(build_message(row, COMPANY))
    (path,) = tmp_path.glob("*.eml")
    return path.read_bytes()


def well_formed(raw: bytes) -> email.message.EmailMessage:
    """``raw`` parsed, once its bytes are checked: the headers of every part ASCII and short, every line at most 998."""
    assert raw.isascii()  # 7-bit throughout: bodies base64, headers encoded
    assert all(len(line) <= 998 for line in raw.split(b"\n"))
    for block in re.findall(rb"(?:^|\n\n)((?:(?:Content-|MIME-|From|To|Subject|Message-ID|X-Huikuan)[^\n]*\n(?:[ \t][^\n]*\n)*)+)", raw):
        assert all(len(line) <= 78 for line in block.split(b"\n")), block
        assert all(len(word) <= 75 for word in re.findall(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=", block)), block
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_a_chinese_message_reads_back_the_same(tmp_path):
    row = outbox_row()
    message = well_formed(written(tmp_path, row))
    assert b"\xe7\x8e\x8b" not in written(tmp_path, row)  # 王 appears only encoded
    assert message["Subject"] == row.subject
    (sender,), (to,) = message["From"].addresses, message["To"].addresses
    assert (sender.display_name, sender.addr_spec) == ("上海回款示范有限公司", "ar@huikuan-demo.example.cn")
    assert (to.display_name, to.addr_spec) == ("王伟", "wangwei@hx.example.cn")
    assert message["Message-ID"] == "<C1.follow_up.2026-11-23.email@huikuan>"
    assert message["X-Huikuan-Key"] == row.key
    assert message["Date"].datetime.tzinfo is not None  # RFC 5322's one required date, aware
    assert message.get_content_type() == "text/plain" and message.get_content_charset() == "utf-8"
    assert message.get_content() == TEXT


def test_a_long_subject_and_a_long_name_are_folded_and_read_back_the_same(tmp_path):
    subject = "【催款提醒】杭州华信贸易有限公司：发票 INV-2026-00001、INV-2026-00002 等 3 张已逾期，合计 ¥37,037.01，请于 2026-11-30 前付款"
    name = "中国石油化工股份有限公司北京燕山分公司 财务部, 应付账款组"  # a comma too, in an address list
    row = outbox_row(subject=subject, to_name=name)
    raw = written(tmp_path, row)
    message = well_formed(raw)
    assert raw.count(b"\n =?utf-8?b?") >= 4  # folded: continuation lines of encoded words
    assert message["Subject"] == subject
    # RFC 2047 decoding (that of mail clients and of email.header) gives the name back exactly. Python 3.11's
    # address parser puts a space between two encoded words of a display name (CPython gh-128110), so:
    raw_to = email.message_from_bytes(raw)["To"]
    assert str(make_header(decode_header(raw_to))) == f"{name} <wangwei@hx.example.cn>"
    assert message["To"].addresses[0].addr_spec == "wangwei@hx.example.cn"
    assert [address for _, address in getaddresses([raw_to])] == ["wangwei@hx.example.cn"]  # smtplib's envelope: one recipient


def test_a_long_english_subject_is_folded_at_spaces_and_left_readable(tmp_path):
    subject = "Payment reminder for Acme Trading Ltd: invoices INV-2026-00001, INV-2026-00002 and INV-2026-00003 are overdue, please pay by 2026-11-30"
    raw = written(tmp_path, outbox_row(subject=subject, to_name="Doe, Jane", to_address="ap@acme.example.com"))
    message = well_formed(raw)
    raw_subject = email.message_from_bytes(raw)["Subject"]
    assert raw_subject.startswith("Payment reminder for Acme") and "\n " in raw_subject  # as written, folded
    assert message["Subject"] == subject
    assert (message["To"].addresses[0].display_name, message["To"].addresses[0].addr_spec) == ("Doe, Jane", "ap@acme.example.com")


def test_html_and_a_pdf_attachment_read_back_the_same(tmp_path):
    row = outbox_row(html=HTML, attachment=PDF, attachment_name="催账函-C1.pdf")
    message = well_formed(written(tmp_path, row))
    assert message.get_content_type() == "multipart/mixed"
    assert [part.get_content_type() for part in message.walk()] == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/pdf"]
    assert message.get_body(("plain",)).get_content() == TEXT
    assert message.get_body(("html",)).get_content() == HTML
    (attachment,) = message.iter_attachments()
    assert (attachment.get_content_type(), attachment.get_filename(), attachment.get_content()) == ("application/pdf", "催账函-C1.pdf", PDF)
    assert attachment.get_content_disposition() == "attachment"


def test_an_attachment_without_html_and_the_default_file_name(tmp_path):
    message = well_formed(written(tmp_path, outbox_row(attachment=PDF)))
    assert [part.get_content_type() for part in message.walk()] == ["multipart/mixed", "text/plain", "application/pdf"]
    (attachment,) = message.iter_attachments()
    assert (attachment.get_filename(), attachment.get_content()) == ("letter.pdf", PDF)


def test_no_text_can_add_a_header_or_be_decoded_as_something_else(tmp_path):
    row = outbox_row(subject="Reminder\nBcc: everyone@example.com", to_name="=?utf-8?q?Boss?=", attachment=PDF, attachment_name="=?utf-8?q?x?=.pdf")
    message = well_formed(written(tmp_path, row))
    assert message["Bcc"] is None and message["Subject"] == "ReminderBcc: everyone@example.com"
    assert message["To"].addresses[0].display_name == "=?utf-8?q?Boss?="
    assert next(message.iter_attachments()).get_filename() == "=?utf-8?q?x?=.pdf"


def test_a_non_ascii_key_is_encoded_and_names_the_file_as_before(tmp_path):
    row = outbox_row(key="华信:follow_up:2026-11-23:email")
    message = well_formed(written(tmp_path, row))
    assert message["X-Huikuan-Key"] == row.key
    assert message["Message-ID"] == "<follow_up.2026-11-23.email@huikuan>"  # still a dot-atom
    assert [p.name for p in tmp_path.glob("*.eml")] == ["_follow_up_2026-11-23_email.eml"]


def test_for_smtp_every_line_ends_in_crlf():
    message = build_message(outbox_row(subject="【催款提醒】" * 20, to_name="王伟（杭州华信贸易有限公司 财务部）", html=HTML, attachment=PDF), COMPANY)
    out = io.BytesIO()
    BytesGenerator(out).flatten(message, linesep="\r\n")  # as smtplib's send_message writes it
    assert re.search(rb"(?<!\r)\n", out.getvalue()) is None
    assert email.message_from_bytes(out.getvalue(), policy=email.policy.default)["Subject"] == "【催款提醒】" * 20


def test_a_message_that_cannot_be_written_is_kept_with_its_error_and_the_others_go_out(sqlite_engine, tmp_path):
    with Session(sqlite_engine) as session, session.begin():
        session.add_all([outbox_row(key="C1:a", to_address="王伟@例子.中国"), outbox_row(key="C1:b")])
    result = dispatch(sessionmaker(sqlite_engine), COMPANY, OutboxFolder(tmp_path))
    assert (result.sent, result.failed) == (1, 1) and "UnicodeEncodeError" in result.errors[0]
    with Session(sqlite_engine) as session:
        rows = {r.key: r for r in session.scalars(select(OutboxMessage))}
    assert rows["C1:a"].sent_at is None and rows["C1:a"].attempts == 1 and "UnicodeEncodeError" in rows["C1:a"].last_error
    assert rows["C1:b"].sent_at is not None and [p.name for p in tmp_path.glob("*.eml")] == ["C1_b.eml"]
