"""The approver's page: the request (or the list) from the email's link, approve or refuse, on a phone.

The link (:func:`huikuan.web.tokens.approval_link`) names one request or list, the
approver it was emailed to and the one-time code of that email. The page shows
the request as the Prefect form describes it: the customer, the open invoices
and their ages, the history, the statement's lines or the letter's preview; a
list shows each request with a "hold" box. Deciding gives the waiting Prefect
run the answer the form would (approver, code, decision, comment, held ids), so
the run judges it with its own check (``execution.decide``,
``approval_groups.decide_group``), carries it out and stays the record; the page
then reads the outcome from the ledger as ``huikuan approvals answer`` does
(``approval_check.wait_for_verdict``). The page and the emails are in the
approver's language (``i18n.person_locale``).

A link is refused, logged and counted like a wrong statement link when it is
altered, expired, for a request already decided (replayed) or for a code that a
later email or an ended run replaced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from prefect.exceptions import ObjectNotFound
from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.approvals import groups as approval_groups
from huikuan.approvals.check import code_matches, wait_for_verdict
from huikuan.approvals.runs import RunNotWaiting, ServerPasswordError
from huikuan.collection import execution
from huikuan.documents import i18n
from huikuan.documents.last_contact import restate
from huikuan.documents.render import LETTER_KINDS, render_letter
from huikuan.ledger.company import Person
from huikuan.reports.portfolio import customer_file
from huikuan.web import pages
from huikuan.web.app import WebContext, context_of
from huikuan.web.pages import address, one
from huikuan.web.tokens import ApprovalLink, LinkRefused, csrf_matches, csrf_token, read_approval_token, token_tag
from models.enums import ApprovalState
from models.ledger import Approval, ApprovalGroup, Charge, Statement
from models.money import ZERO

log = logging.getLogger("huikuan.web.approval")
router = APIRouter(prefix="/a", include_in_schema=False)
MAX_COMMENT = 1000


@dataclass
class Asked:
    """What a live link names: the request or list as the ledger has it now, the approver, their language."""

    link: ApprovalLink
    request: Approval | ApprovalGroup
    person: Person
    locale: str

    @property
    def is_list(self) -> bool:
        return isinstance(self.request, ApprovalGroup)


def _find(session: Session, key: str) -> Approval | ApprovalGroup | None:
    model = ApprovalGroup if approval_groups.is_group_key(key) else Approval
    return session.scalar(select(model).where(model.key == key))


def _open(request: Request, token: str, *, posting: bool) -> Asked | HTMLResponse:
    """The link's live request, or the error page: rate limits, signature and expiry, then the request's state."""
    too_many = pages.held_back(request, token, posting=posting)
    if too_many is not None:
        return too_many
    web: WebContext = context_of(request)
    try:
        link = read_approval_token(token, now=web.now())
    except LinkRefused as refused:
        return pages.refused(request, token, "expired" if refused.expired else "invalid", 410 if refused.expired else 403, str(refused), about="approval")
    company = web.company
    try:
        person = company.person(link.person_id) if company is not None else None
    except KeyError:
        person = None
    if person is None:
        return pages.refused(request, token, "invalid", 403, f"{link.person_id!r} is not in the company file", about="approval")
    locale = i18n.person_locale(company, person)
    with web.session() as session:
        asked = _find(session, link.key)
        if asked is None:
            return pages.refused(request, token, "invalid", 403, f"no request {link.key}", about="approval", locale=locale)
        if asked.state is not ApprovalState.requested:
            return pages.refused(
                request,
                token,
                "used",
                410,
                f"{link.key} is already {asked.state.value} (by {asked.decided_by})",
                about="approval",
                locale=locale,
                state=asked.state.value,
                decided_by=_name(company, asked.decided_by),
                decided_at=asked.decided_at,
            )
        # The code of the email the link came with: a reminder's new code, or a run that ended, replaced it.
        if asked.run_ended_at is not None or not code_matches(link.code, asked.key, asked.code_hash):
            return pages.refused(request, token, "replaced", 410, f"the code of {link.key} was replaced", about="approval", locale=locale)
    return Asked(link, asked, person, locale)


def _name(company, person_id: str | None) -> str:
    """A person as the page names them: their name from the company file, else their id."""
    try:
        return company.person(person_id).name if person_id else ""
    except KeyError:
        return person_id


def _single(session: Session, web: WebContext, approval: Approval, locale: str) -> dict:
    """A request's page: the customer, its open invoices (those the request names) and their ages, the history, the statement or the letter.

    The past contacts are told as the worklist, the escalations and the requests' emails tell them (``restate``), in the approver's ``locale``.
    """
    today = web.today()
    file = customer_file(session, approval.customer_id, today, contacts=8)
    named = {i for i in approval.invoices.split(";") if i}
    invoices = [(invoice, amount, days, dispute) for invoice, amount, days, dispute in file.invoices if not named or invoice.invoice_id in named]
    lines = []
    if approval.action == "send_statement":
        waiting = select(Statement.id).where(Statement.customer_id == approval.customer_id, Statement.sent_on.is_(None))
        lines = [
            (c.delivered_on, c.description or c.charge_id, c.amount)
            for c in session.scalars(select(Charge).where(Charge.statement_id.in_(waiting)).order_by(Charge.delivered_on, Charge.charge_id))
        ]
    preview = None
    if approval.action in LETTER_KINDS and invoices:
        context = execution.document_context(session, file.customer, approval.action, web.company, today, invoices=tuple(named))
        preview = render_letter(context).text
    return dict(
        customer=file.customer,
        currency=file.customer.currency,
        invoices=invoices,
        balance=file.balance,
        owed=sum((amount for _i, amount, _d, _x in invoices), ZERO),
        oldest=max((days for _i, _a, days, _x in invoices), default=None),
        statement_lines=lines,
        statement_total=sum((amount for _d, _w, amount in lines), ZERO),
        contacts=[restate(contact, locale, internal=True) for contact in file.contacts],
        promises=file.promises,
        changes=file.changes[-6:],
        preview=preview,
    )


def _list(session: Session, web: WebContext, group: ApprovalGroup, locale: str) -> dict:
    """A list's page: each request still waiting in it (the rows of the email and the Prefect form, in the approver's ``locale``), with the total."""
    waiting = [m for m in approval_groups.members_of(session, group) if m.state is ApprovalState.requested and not m.held]
    rows = approval_groups.rows_of(session, waiting, web.today())
    return dict(rows=[r.cells(locale) for r in rows], total=approval_groups.totals(rows), currency="CNY")


def _show(request: Request, token: str, asked: Asked, status: int = 200, *, errors: list[str] | None = None, form: dict | None = None) -> HTMLResponse:
    web: WebContext = context_of(request)
    with web.session() as session:
        request_row = _find(session, asked.link.key)
        about = _list(session, web, request_row, asked.locale) if asked.is_list else _single(session, web, request_row, asked.locale)
    return pages.html(
        "approval_list" if asked.is_list else "approval",
        asked.locale,
        status,
        action=request_row.action,
        requested_on=request_row.requested_on,
        role=request_row.approver_role,
        approver=asked.person,
        company=web.company.name,
        csrf=csrf_token(token),
        decide_url=f"/a/{token}/decide",
        errors=errors or [],
        form={"comment": "", "hold": []} | (form or {}),
        **about,
    )


@router.get("/{token}", response_class=HTMLResponse)
def show(token: str, request: Request) -> HTMLResponse:
    asked = _open(request, token, posting=False)
    return asked if isinstance(asked, HTMLResponse) else _show(request, token, asked)


_WORDS = {
    "zh_CN": {"reason": "拒绝时请填写原因", "too_long": f"说明最多 {MAX_COMMENT} 个字"},
    "en": {"reason": "Please give the reason for refusing", "too_long": f"The comment may be at most {MAX_COMMENT} characters long"},
}


@router.post("/{token}/decide", response_class=HTMLResponse)
async def decide(token: str, request: Request) -> HTMLResponse:
    """Answer the waiting run as the Prefect form would, then wait a little for its judgement and show it."""
    asked = _open(request, token, posting=True)
    if isinstance(asked, HTMLResponse):
        return asked
    form = await pages.read_form(request)
    if form is None or one(form, "decision") not in ("approve", "deny"):
        return pages.error(request, "invalid", 400, asked.locale, about="approval")
    if not csrf_matches(token, one(form, "csrf")):
        log.warning("approval form without its token from %s (link %s)", address(request), token_tag(token))
        return pages.error(request, "invalid", 403, asked.locale, about="approval")
    decision, comment = one(form, "decision"), one(form, "comment")
    web: WebContext = context_of(request)
    with web.session() as session:
        listed = (
            {m.customer_id for m in approval_groups.members_of(session, asked.request) if m.state is ApprovalState.requested and not m.held}
            if asked.is_list
            else set()
        )
    held = [customer for customer in dict.fromkeys(form.get("hold", [])) if customer in listed]  # only what the page shows can be held
    words = _WORDS[asked.locale]
    errors = ([words["reason"]] if decision == "deny" and not comment else []) + ([words["too_long"]] if len(comment) > MAX_COMMENT else [])
    if errors:
        return _show(request, token, asked, 400, errors=errors, form={"comment": comment, "hold": held})
    run_id = asked.request.flow_run_id
    if not run_id:
        return pages.error(request, "not_waiting", 503, asked.locale, about="approval")
    answer = {"approver": asked.person.id, "code": asked.link.code, "decision": decision, "comment": comment}
    if asked.is_list:
        answer["hold"] = " ".join(held)
    try:
        await run_in_threadpool(web.resume, run_id, answer)
    except RunNotWaiting as exc:
        if exc.ended:
            return pages.refused(request, token, "replaced", 410, f"the run {run_id} of {asked.link.key} has ended", about="approval", locale=asked.locale)
        return pages.error(request, "not_waiting", 503, asked.locale, about="approval")
    except (ObjectNotFound, ServerPasswordError, httpx.HTTPError, OSError) as exc:
        log.error("cannot answer the run %s of %s: %s: %s", run_id, asked.link.key, type(exc).__name__, exc)
        return pages.error(request, "unavailable", 503, asked.locale, about="approval")
    log.info(
        "%s answered %s on the approver's page from %s: %s%s",
        asked.person.id,
        asked.link.key,
        address(request),
        decision,
        f", holding {' '.join(held)}" if held else "",
    )
    return await _outcome(request, asked, decision, held)


async def _outcome(request: Request, asked: Asked, decision: str, held: list[str]) -> HTMLResponse:
    """The run's judgement (``approval_check.wait_for_verdict``): decided, refused (another refusal counted), or still on its way."""
    web: WebContext = context_of(request)
    verdict = await run_in_threadpool(wait_for_verdict, web.session, asked.link.key, refusals_before=asked.request.refusals, wait=web.answer_wait)
    if verdict.accepted:
        return pages.html(
            "approval_done",
            asked.locale,
            outcome=verdict.outcome,
            action=verdict.action,
            company=web.company.name,
            held=held,
            decided_by=_name(web.company, verdict.decided_by),
        )
    if verdict.accepted is False:
        return pages.html(
            "approval_done", asked.locale, 409, outcome="refused", action=verdict.action, company=web.company.name, held=[], decided_by="", why=verdict.why
        )
    return pages.html(
        "approval_done", asked.locale, 202, outcome="pending", action=verdict.action, company=web.company.name, held=held, decided_by="", decision=decision
    )
