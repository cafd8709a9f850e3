"""The customer's statement page: the month's lines and total, confirm with the invoicing info, or dispute.

Reached by the signed link of the statement email (:func:`huikuan.web.tokens.statement_link`):
the link names one customer and one month, and the page shows nothing else. A
confirmation is recorded by ``records.confirm_statement`` and a dispute of an
invoice by ``records.open_dispute``, as ``huikuan statement confirm`` and
``huikuan dispute open`` record them, so the policy reacts the same; a disputed
delivery line (not yet invoiced) is a contact with the result ``disputed``. The
customer's collector is told by email either way. A confirmed statement cannot
be confirmed again: a replayed form shows "already confirmed".
"""

from __future__ import annotations

import calendar
import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.collection.execution import party, queue
from huikuan.documents import i18n
from huikuan.documents.render import environment
from huikuan.ledger import records
from huikuan.web import pages
from huikuan.web.app import WebContext, context_of
from huikuan.web.pages import address, one
from huikuan.web.tokens import LinkRefused, StatementLink, csrf_matches, csrf_token, read_statement_token, token_tag
from models.enums import Channel, ContactResult
from models.ledger import Charge, Customer, Dispute, Invoice, Statement
from models.money import ZERO

log = logging.getLogger("huikuan.web.statement")
router = APIRouter(prefix="/s", include_in_schema=False)
LIMITS = {"invoice_title": 200, "tax_id": 50, "address": 300, "bank": 300, "reason": 1000}
RECORDED_BY = "statement-page"


@dataclass
class Page:
    """What the page shows, read from the ledger for the link's customer and month only."""

    customer: Customer
    month: str
    lines: list[tuple[dt.date, str, Decimal, str]]  # delivered on, description, amount, charge id
    statement: Statement | None
    open_invoices: list[tuple[Invoice, Decimal, Dispute | None]]
    previous: Statement | None  # the last confirmed statement: its invoicing info fills the form
    message: str | None = None
    errors: list[str] = field(default_factory=list)
    form: dict[str, str] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum((amount for _day, _what, amount, _id in self.lines), ZERO)


def _error(request: Request, kind: str, status: int, customer: Customer | None = None) -> HTMLResponse:
    return pages.error(request, kind, status, customer.locale.value if customer is not None else None)


def _open_link(request: Request, token: str, *, posting: bool) -> StatementLink | HTMLResponse:
    """The link's customer and month, or the error page: rate limits first, then the signature and expiry."""
    too_many = pages.held_back(request, token, posting=posting)
    if too_many is not None:
        return too_many
    try:
        return read_statement_token(token, now=context_of(request).now())
    except LinkRefused as refused:
        return pages.refused(request, token, "expired" if refused.expired else "invalid", 410 if refused.expired else 403, str(refused), about="statement")


def _month_range(month: str) -> tuple[dt.date, dt.date]:
    year, number = (int(part) for part in month.split("-"))
    return dt.date(year, number, 1), dt.date(year, number, calendar.monthrange(year, number)[1])


def _page(session: Session, link: StatementLink, today: dt.date) -> Page | None:
    customer = session.get(Customer, link.customer_id)
    if customer is None:
        return None
    first, last = _month_range(link.month)
    charges = session.scalars(
        select(Charge)
        .where(Charge.customer_id == customer.customer_id, Charge.delivered_on >= first, Charge.delivered_on <= last)
        .order_by(Charge.delivered_on, Charge.charge_id)
    )
    lines = [(c.delivered_on, c.description or c.charge_id, c.amount, c.charge_id) for c in charges]  # as the statement email lists them
    statement = session.scalar(select(Statement).where(Statement.customer_id == customer.customer_id, Statement.month == link.month))
    if statement is None and not lines:
        return None
    still_open = records.open_amounts(session, customer.customer_id, today)
    disputes = {d.invoice_id: d for d in session.scalars(select(Dispute).where(Dispute.invoice_id.in_(list(still_open)), Dispute.resolved_on.is_(None)))}
    invoices = session.scalars(select(Invoice).where(Invoice.invoice_id.in_(list(still_open))).order_by(Invoice.due_on, Invoice.invoice_id))
    previous = session.scalar(
        select(Statement)
        .where(Statement.customer_id == customer.customer_id, Statement.confirmed_on.is_not(None), Statement.invoice_title.is_not(None))
        .order_by(Statement.month.desc())
        .limit(1)
    )
    return Page(customer, link.month, lines, statement, [(i, still_open[i.invoice_id], disputes.get(i.invoice_id)) for i in invoices], previous)


def _show(request: Request, token: str, page: Page, status: int = 200) -> HTMLResponse:
    customer = page.customer
    previous = page.previous
    form = {"invoice_title": "", "tax_id": "", "address": "", "bank": "", "reason": ""}
    if previous is not None:
        form |= {
            "invoice_title": previous.invoice_title or "",
            "tax_id": previous.tax_id or "",
            "address": previous.invoice_address or "",
            "bank": previous.invoice_bank or "",
        }
    form |= page.form
    return pages.html(
        "statement",
        customer.locale.value,
        status,
        customer_name=customer.name,
        month=page.month,
        currency=customer.currency,
        lines=page.lines,
        total=page.total,
        statement=page.statement,
        open_invoices=page.open_invoices,
        message=page.message,
        errors=page.errors,
        form=form,
        csrf=csrf_token(token),
        confirm_url=f"/s/{token}/confirm",
        dispute_url=f"/s/{token}/dispute",
        company=context_of(request).company.name if context_of(request).company else "",
    )


@router.get("/{token}", response_class=HTMLResponse)
def show(token: str, request: Request) -> HTMLResponse:
    link = _open_link(request, token, posting=False)
    if isinstance(link, HTMLResponse):
        return link
    web = context_of(request)
    with web.session() as session:
        page = _page(session, link, web.today())
        if page is None:
            return _error(request, "no_statement", 404)
        return _show(request, token, page)


@dataclass
class Posted:
    """A form posted from a live link's page, with the page as the ledger has it in the transaction that records the answer."""

    request: Request
    token: str
    link: StatementLink
    form: dict[str, list[str]]
    web: WebContext
    session: Session
    page: Page
    today: dt.date

    @property
    def locale(self) -> str:
        return self.page.customer.locale.value

    def show(self, status: int = 200) -> HTMLResponse:
        return _show(self.request, self.token, self.page, status)


async def _on_post(request: Request, token: str, answer: Callable[[Posted], HTMLResponse]) -> HTMLResponse:
    """A form of the page, answered by ``answer`` in one transaction once the link, the form and its CSRF token are good,
    the link's month has a statement or deliveries (else 404), and it is not confirmed yet (else the page says so)."""
    link = _open_link(request, token, posting=True)
    if isinstance(link, HTMLResponse):
        return link
    form = await pages.read_form(request)
    if form is None:
        return _error(request, "invalid", 400)
    if not csrf_matches(token, one(form, "csrf")):
        log.warning("statement form without its token from %s (link %s)", address(request), token_tag(token))
        return _error(request, "invalid", 403)
    web = context_of(request)
    today = web.today()
    with web.session() as session:
        page = _page(session, link, today)
        if page is None:
            return _error(request, "no_statement", 404)
        if page.statement is not None and page.statement.confirmed_on is not None:
            page.message = "already_confirmed"
            return _show(request, token, page)
        return answer(Posted(request, token, link, form, web, session, page, today))


_TOO_LONG = {
    "zh_CN": {"invoice_title": "发票抬头", "tax_id": "税号", "address": "地址电话", "bank": "开户行及账号", "reason": "异议原因", "": "{}最多 {} 个字"},
    "en": {
        "invoice_title": "The invoice title",
        "tax_id": "The tax id",
        "address": "The address",
        "bank": "The bank and account",
        "reason": "The reason",
        "": "{} may be at most {} characters long",
    },
}


def _too_long(form: dict[str, str], locale: str) -> list[str]:
    words = _TOO_LONG[locale]
    return [words[""].format(words[name], limit) for name, limit in LIMITS.items() if len(form.get(name, "")) > limit]


@router.post("/{token}/confirm", response_class=HTMLResponse)
async def confirm(token: str, request: Request) -> HTMLResponse:
    return await _on_post(request, token, _confirm)


def _confirm(posted: Posted) -> HTMLResponse:
    """The statement confirmed with the invoicing information, as ``huikuan statement confirm`` records it; the collector told."""
    page, locale, link = posted.page, posted.locale, posted.link
    values = {name: one(posted.form, name) for name in ("invoice_title", "tax_id", "address", "bank")}
    page.errors = _too_long(values, locale)
    if not values["invoice_title"] or not values["tax_id"]:
        page.errors.append({"zh_CN": "请填写发票抬头和税号", "en": "Please enter the invoice title and the tax id"}[locale])
    if page.errors:
        page.form = values
        return posted.show(400)
    try:
        statement = records.confirm_statement(
            posted.session,
            page.customer.customer_id,
            month=link.month,
            invoice_title=values["invoice_title"],
            tax_id=values["tax_id"],
            on=posted.today,
            address=values["address"] or None,
            bank=values["bank"] or None,
        )
    except records.LedgerError as refused:  # checked before anything is written: e.g. a mistyped tax id, a statement not sent yet
        page.errors, page.form = [{"zh_CN": "无法确认：{}", "en": "The statement cannot be confirmed: {}"}[locale].format(refused)], values
        return posted.show(400)
    _tell_collector(posted.session, posted.web, page, "confirmed", key=f"web:statement:{page.customer.customer_id}:{link.month}:confirmed", info=values)
    log.info("statement %s of %s confirmed on its page from %s", link.month, page.customer.customer_id, address(posted.request))
    page.statement, page.message = statement, "confirmed"
    return posted.show()


@router.post("/{token}/dispute", response_class=HTMLResponse)
async def dispute(token: str, request: Request) -> HTMLResponse:
    return await _on_post(request, token, _dispute)


def _dispute(posted: Posted) -> HTMLResponse:
    """The ticked lines and invoices disputed with the reason, as ``huikuan dispute open`` records it; the collector told."""
    page, locale, link, session, today = posted.page, posted.locale, posted.link, posted.session, posted.today
    reason = one(posted.form, "reason")
    shown_lines = {charge_id for *_rest, charge_id in page.lines}
    shown_invoices = {invoice.invoice_id for invoice, _amount, _dispute in page.open_invoices}
    lines = [c for c in dict.fromkeys(posted.form.get("line", [])) if c in shown_lines]  # only what this page shows: nothing else can be named
    invoices = [i for i in dict.fromkeys(posted.form.get("invoice", [])) if i in shown_invoices]
    page.errors = _too_long({"reason": reason}, locale)
    if not lines and not invoices:
        page.errors.append({"zh_CN": "请勾选有异议的项目", "en": "Please tick the lines you dispute"}[locale])
    if not reason:
        page.errors.append({"zh_CN": "请填写异议原因", "en": "Please give the reason"}[locale])
    if page.errors:
        page.form = {"reason": reason}
        return posted.show(400)
    already = {invoice.invoice_id for invoice, _amount, open_dispute in page.open_invoices if open_dispute is not None}
    for invoice_id in invoices:
        if invoice_id not in already:
            records.open_dispute(session, invoice_id, reason=reason, on=today)
    records.log_contact(
        session,
        page.customer.customer_id,
        channel=Channel.email,
        result=ContactResult.disputed,
        on=today,
        recorded_by=RECORDED_BY,
        note=f"statement {link.month} disputed on the statement page: {', '.join(lines + invoices)}: {reason}",
    )
    digest = hashlib.sha256("\n".join([*lines, *invoices, reason]).encode()).hexdigest()[:12]
    _tell_collector(
        session,
        posted.web,
        page,
        "disputed",
        key=f"web:statement:{page.customer.customer_id}:{link.month}:disputed:{digest}",
        items=lines + invoices,
        reason=reason,
    )
    log.info("statement %s of %s disputed on its page from %s: %s", link.month, page.customer.customer_id, address(posted.request), lines + invoices)
    refreshed = _page(session, link, today)
    refreshed.message = "disputed"
    return _show(posted.request, posted.token, refreshed)


def _tell_collector(session: Session, web: WebContext, page: Page, what: str, *, key: str, **details) -> None:
    """An email to the customer's collector, in their language (``i18n.person_locale``; none without a company file)."""
    if web.company is None:
        return
    collector = web.company.collector_for(page.customer.collector)
    locale = i18n.person_locale(web.company, collector)
    variables = dict(
        locale=locale,
        what=what,
        customer_id=page.customer.customer_id,
        customer_name=page.customer.name,
        month=page.month,
        total=page.total,
        currency=page.customer.currency,
        collector=collector.name,
        info=details.get("info", {}),
        items=details.get("items", []),
        reason=details.get("reason", ""),
    )
    env = environment()
    subject = env.get_template(f"web/{locale}/collector_notice.subject.j2").render(variables).strip()
    text = env.get_template(f"web/{locale}/collector_notice.txt.j2").render(variables)
    queue(session, key, page.customer.customer_id, party(collector), subject, text, None)
