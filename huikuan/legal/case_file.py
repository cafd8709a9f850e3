"""The case file (案件材料) a lawyer asks for, written as a folder with an index and as a ZIP of it.

``huikuan case CUSTOMER --out DIR`` writes ``DIR/case-<customer>-<day>/``:

- ``summary.pdf`` and ``summary.md``: one page in Chinese, the amounts (principal,
  late-payment charge, total claimed), the contract terms and the limitation date;
- ``invoices.csv``, ``charges.csv`` (the charge counted period by period),
  ``statements.csv``, ``payments.csv``, ``promises.csv``, ``contacts.csv``;
- ``documents/``: every email and letter sent to the customer, as sent, and
  ``documents.csv`` with each one's delivery record and SHA-256;
- ``index.csv`` and ``index.md``: every file above with its SHA-256;

and ``case-<customer>-<day>.zip`` beside the folder. The ledger is not changed.
Text from customers and people is data: CSV cells that a spreadsheet would
evaluate are escaped, the Markdown is escaped.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.documents.escaping import markdown_text, spreadsheet_text
from huikuan.legal.standing import CustomerStanding
from models.charges import percent_text
from models.ledger import Allocation, ContactLog, Customer, Invoice, Payment, Promise, PromiseInvoice, Statement
from models.money import format_money


@dataclass(frozen=True)
class CaseFile:
    folder: Path
    archive: Path
    files: tuple[tuple[str, str, str], ...]  # (path inside the folder, what it is, SHA-256)


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str):
        return spreadsheet_text(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _csv(header: Iterable[str], rows: Iterable[Iterable[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(header))
    writer.writerows([_cell(v) for v in row] for row in rows)
    return buffer.getvalue().encode("utf-8-sig")  # Excel on Chinese Windows reads UTF-8 only with the BOM


def _rate(standing: CustomerStanding) -> str:
    terms = standing.terms
    if terms is None:
        return "合同未约定违约金（不主张）"
    rate = f"每日 {percent_text(terms.rate)}" if terms.per == "day" else f"年 {percent_text(terms.rate)}（按 {terms.days_in_year} 天折算日利率）"
    parts = [rate, "自到期日次日起算" + (f"，宽限 {terms.grace_days} 天" if terms.grace_days else "")]
    if terms.cap_ratio is not None:
        parts.append(f"以发票金额的 {percent_text(terms.cap_ratio)} 为上限")
    if terms.cap_amount is not None:
        parts.append(f"每张发票以 {format_money(terms.cap_amount)} 为上限")
    if terms.clause:
        parts.append(f"依据：{terms.clause}")
    return "；".join(parts)


def summary_markdown(standing: CustomerStanding, customer: Customer, company_name: str, zone: ZoneInfo) -> str:
    """The one-page summary, in Chinese."""
    money = lambda amount: format_money(amount, customer.currency)  # noqa: E731
    first = standing.first_expiry
    delivered = sorted(((_delivered_on(d, zone), d) for d in standing.documents if d.is_demand and _delivered_on(d, zone)), key=lambda x: x[0])
    lines = [
        f"# 案件摘要：{markdown_text(customer.name)}（{markdown_text(customer.customer_id)}）",
        "",
        f"债权人：{markdown_text(company_name)}　　截至日期：{standing.as_of.isoformat()}",
        "",
        "## 金额",
        "",
        f"- 未付本金：{money(standing.open_total)}（{len(standing.invoices)} 张发票）",
        f"- 逾期违约金（计至 {standing.as_of.isoformat()}）：{money(standing.charge_total)}",
        f"- 合计主张：{money(standing.claim_total)}",
        f"- 违约金约定：{markdown_text(_rate(standing))}",
        "",
        "## 诉讼时效（民法典第188条、第195条）",
        "",
    ]
    if first is None:
        lines.append("- 无未付发票。")
    else:
        restart = first.limitation.restarted_by
        why = (
            f"{restart.on.isoformat()} {_RESTART_WORDS[restart.kind.value]}（{markdown_text(restart.reference)}）重新起算"
            if restart
            else "自到期日起算，未中断"
        )
        state = "已届满" if first.limitation.expired(standing.as_of) else f"尚余 {first.limitation.days_left(standing.as_of)} 天"
        lines += [f"- 最早届满：发票 {markdown_text(first.invoice_id)}，{first.limitation.expires_on.isoformat()}（{state}）", f"- 依据：{why}"]
        expired = [i for i in standing.invoices if i.limitation.expired(standing.as_of)]
        if expired:
            lines.append(f"- 已届满发票 {len(expired)} 张，合计本金 {money(sum((i.open_amount for i in expired), Decimal(0)))}")
    lines += [
        "",
        "## 催收与证据",
        "",
        f"- 已送达的书面催款（邮件、函件）：{len(delivered)} 份，见 documents.csv（含 SHA-256 与送达时间）",
        f"- 最近一次送达：{delivered[-1][0].isoformat()}，{markdown_text(delivered[-1][1].subject)}" if delivered else "- 尚无已送达的书面催款",
        "",
        "## 发票明细",
        "",
        "| 发票 | 到期日 | 未付本金 | 违约金 | 时效届满日 |",
        "|---|---|---:|---:|---|",
    ]
    lines += [
        f"| {markdown_text(i.invoice_id)} | {i.due_on.isoformat()} | {money(i.open_amount)} | {money(i.charge_amount)} | {i.limitation.expires_on.isoformat()} |"
        for i in sorted(standing.invoices, key=lambda i: (i.due_on, i.invoice_id))
    ]
    return "\n".join(lines) + "\n"


def _delivered_on(document, zone: ZoneInfo) -> dt.date | None:
    """The latest day the document reached the customer: by the mail server or, posted, by the courier."""
    days = [day for day in (document.delivered_on(zone), document.courier[0] if document.courier else None) if day]
    return max(days) if days else None


_RESTART_WORDS = {
    "demand_delivered": "书面催款送达",
    "statement_confirmed": "对账单确认",
    "promise": "承诺付款",
    "instalment_plan": "分期付款协议",
    "part_payment": "部分付款",
}


def summary_pdf(markdown: str) -> bytes:
    """The summary as a one-page A4 PDF, with the Chinese font the letters embed."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    from huikuan.documents.pdf import cjk_font

    font, _source = cjk_font()
    body = ParagraphStyle("body", fontName=font, fontSize=9.5, leading=14, wordWrap="CJK")
    heading = ParagraphStyle("h2", parent=body, fontSize=12, leading=18, spaceBefore=6)
    title = ParagraphStyle("h1", parent=body, fontSize=15, leading=22, spaceAfter=4)
    story: list = []
    table: list[list[str]] = []

    def end_table() -> None:
        if table:
            grid = Table(table, repeatRows=1, hAlign="LEFT")
            grid.setStyle(
                TableStyle(
                    [
                        ("FONT", (0, 0), (-1, -1), font, 8.5),
                        ("ALIGN", (2, 1), (3, -1), "RIGHT"),
                        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
                        ("LINEBELOW", (0, 1), (-1, -1), 0.2, colors.grey),
                        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                    ]
                )
            )
            story.append(grid)
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            if not line.startswith("|---"):
                table.append([_unescape_markdown(cell.strip()) for cell in line.strip().strip("|").split(" | ")])
            continue
        end_table()
        if not line.strip():
            story.append(Spacer(1, 2 * mm))
            continue
        text = escape(_unescape_markdown(line.lstrip("#- ").strip()))
        style = title if line.startswith("# ") else heading if line.startswith("## ") else body
        story.append(Paragraph(("• " if line.startswith("- ") else "") + text, style))
    end_table()
    buffer = io.BytesIO()
    SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm, bottomMargin=16 * mm, title="案件摘要").build(story)
    return buffer.getvalue()


def _unescape_markdown(text: str) -> str:
    out, skip = [], False
    for char in text:
        if char == "\\" and not skip:
            skip = True
            continue
        out.append(char)
        skip = False
    return "".join(out)


def write_case_file(session: Session, standing: CustomerStanding, customer: Customer, *, company_name: str, zone: ZoneInfo, out: Path) -> CaseFile:
    """Write the case file of ``standing``'s customer under ``out``; an earlier one of the same day is replaced."""
    name = f"case-{customer.customer_id}-{standing.as_of.isoformat()}"
    folder, archive = out / name, out / f"{name}.zip"
    files: dict[str, tuple[str, bytes]] = {}
    as_of = standing.as_of

    markdown = summary_markdown(standing, customer, company_name, zone)
    files["summary.md"] = ("one-page summary (zh_CN), Markdown", markdown.encode("utf-8"))
    files["summary.pdf"] = ("one-page summary (zh_CN), PDF", summary_pdf(markdown))
    files["invoices.csv"] = (
        "the open invoices: principal, charge, limitation date and what last restarted it",
        _csv(
            ["invoice_id", "issued_on", "due_on", "amount", "open", "charge", "claim", "expires_on", "restarted_on", "restarted_by", "reference"],
            (
                [
                    i.invoice_id,
                    i.issued_on,
                    i.due_on,
                    i.amount,
                    i.open_amount,
                    i.charge_amount,
                    i.claim,
                    i.limitation.expires_on,
                    i.limitation.restarted_by.on if i.limitation.restarted_by else None,
                    i.limitation.restarted_by.kind.value if i.limitation.restarted_by else "due date",
                    i.limitation.restarted_by.reference if i.limitation.restarted_by else None,
                ]
                for i in standing.invoices
            ),
        ),
    )
    files["charges.csv"] = (
        "the late-payment charge counted period by period on the open principal",
        _csv(
            ["invoice_id", "first_day", "last_day", "days", "principal", "daily_rate", "charge_unrounded", "cap", "charged"],
            (
                [i.invoice_id, p.first, p.last, p.days, p.principal, i.charge.terms.daily_rate, p.charge, i.charge.terms.cap(i.amount), i.charge.amount]
                for i in standing.invoices
                if i.charge
                for p in i.charge.periods
            ),
        ),
    )
    files["terms.txt"] = ("the contract's late-payment terms", (_rate(standing) + "\n").encode("utf-8"))
    statements = session.scalars(select(Statement).where(Statement.customer_id == customer.customer_id).order_by(Statement.month)).all()
    files["statements.csv"] = (
        "the monthly statements and the customer's confirmations",
        _csv(
            ["month", "amount", "state", "sent_on", "confirmed_on", "invoice_title", "tax_id", "tracking_no", "invoices"],
            (
                [
                    s.month,
                    s.amount,
                    s.state.value,
                    s.sent_on,
                    s.confirmed_on,
                    s.invoice_title,
                    s.tax_id,
                    s.tracking_no,
                    ";".join(session.scalars(select(Invoice.invoice_id).where(Invoice.statement_id == s.id).order_by(Invoice.invoice_id))),
                ]
                for s in statements
            ),
        ),
    )
    payments = session.scalars(
        select(Payment).where(Payment.customer_id == customer.customer_id, Payment.received_on <= as_of).order_by(Payment.received_on, Payment.payment_id)
    ).all()
    files["payments.csv"] = (
        "the payments received and the invoices they paid",
        _csv(
            ["payment_id", "received_on", "amount", "applied_to"],
            (
                [
                    p.payment_id,
                    p.received_on,
                    p.amount,
                    ";".join(f"{a.invoice_id}={a.amount}" for a in session.scalars(select(Allocation).where(Allocation.payment_id == p.payment_id))),
                ]
                for p in payments
            ),
        ),
    )
    promises = session.scalars(
        select(Promise).where(Promise.customer_id == customer.customer_id, Promise.made_on <= as_of).order_by(Promise.made_on, Promise.id)
    ).all()
    files["promises.csv"] = (
        "the customer's promises to pay (an acknowledgement of the debt)",
        _csv(
            ["made_on", "amount", "due_on", "invoices", "note"],
            (
                [p.made_on, p.amount, p.due_on, ";".join(session.scalars(select(PromiseInvoice.invoice_id).where(PromiseInvoice.promise_id == p.id))), p.note]
                for p in promises
            ),
        ),
    )
    contacts = session.scalars(
        select(ContactLog)
        .where(ContactLog.customer_id == customer.customer_id, ContactLog.contacted_on <= as_of)
        .order_by(ContactLog.contacted_on, ContactLog.id)
    ).all()
    files["contacts.csv"] = (
        "the contact log: every call, visit and email recorded",
        _csv(
            ["contacted_on", "channel", "result", "person", "excuse", "note", "next_step", "recorded_by"],
            (
                [c.contacted_on, c.channel.value, c.result.value, c.person, c.excuse.value if c.excuse else None, c.note, c.next_step, c.recorded_by]
                for c in contacts
            ),
        ),
    )
    sent = [d for d in standing.documents if d.queued_at.astimezone(zone).date() <= as_of]
    for document in sent:
        accepted = (
            "; not sent"
            if document.sent_at is None
            else f"; accepted by the mail server at {document.acceptance(zone)}"
            if document.server_reply
            else f"; sent at {document.acceptance(zone)}"
        )
        files[f"documents/{document.file_name}"] = (f"{document.kind or 'message'} to {document.to_address}, as sent{accepted}", document.body)
    files["documents.csv"] = (
        "each email and letter sent: what it was, its delivery record and SHA-256",
        _csv(
            [
                "file",
                "kind",
                "demand",
                "subject",
                "to",
                "queued_at",
                "delivered_at",
                "sha256",
                "posted_delivered_on",
                "courier",
                "tracking_no",
                "key",
                "server_reply",
                "queue_id",
            ],
            (
                [
                    f"documents/{d.file_name}",
                    d.kind,
                    "yes" if d.is_demand else "no",
                    d.subject,
                    d.to_address,
                    d.queued_at.astimezone(zone),
                    d.sent_at.astimezone(zone) if d.sent_at else "not sent",
                    d.sha256,
                    *(d.courier or (None, None, None)),
                    d.key,
                    d.server_reply,
                    d.queue_id,
                ]
                for d in sent
            ),
        ),
    )

    if folder.exists():
        shutil.rmtree(folder)
    (folder / "documents").mkdir(parents=True)
    index = []
    for path, (what, data) in files.items():
        (folder / path).write_bytes(data)
        index.append((path, what, hashlib.sha256(data).hexdigest()))
    (folder / "index.csv").write_bytes(_csv(["file", "what", "sha256"], index))
    (folder / "index.md").write_text(
        f"# 案件材料索引 / Case file index: {markdown_text(customer.name)} ({markdown_text(customer.customer_id)}), {as_of.isoformat()}\n\n"
        "| file | what | SHA-256 |\n|---|---|---|\n" + "".join(f"| {markdown_text(p)} | {markdown_text(w)} | `{h}` |\n" for p, w, h in index),
        encoding="utf-8",
    )
    partial = archive.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            bundle.write(path, f"{name}/{path.relative_to(folder).as_posix()}")
    partial.replace(archive)
    return CaseFile(folder, archive, tuple(index))
