"""Approvals asked for together: one list a day for one approver role.

A supervisor reviews the month's statements before they go out (PROCESS.md §1,
"supervisor approves, collector sends"). On a large ledger that is hundreds of
statements on one day; one request each would be hundreds of codes, emails and
waiting runs. Requests of the kinds the company file lists under
``asked_together`` are therefore gathered into an `ApprovalGroup` per action,
approver role and day: one code, one email with the list, one form with
"approve (or deny) all but the ones held". The requests remain rows of their
own, each decided, dated and carried out as if answered alone; a held one
leaves the list and is asked for on its own (its own code, its own run).

Everything here runs in the caller's transaction and is keyed like the rest of
the ledger: forming a group twice, sending its code twice or judging the same
answer twice does nothing more.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from huikuan.approvals.check import check_answer, code_hash, is_old_hash, new_code, note_refused
from huikuan.collection import execution
from huikuan.documents import i18n
from huikuan.documents.escaping import markdown_text
from huikuan.documents.render import render_approval_list
from huikuan.ledger.company import Company
from huikuan.ledger.records import open_amounts
from models.enums import ApprovalState
from models.ledger import Approval, ApprovalGroup, Customer, Invoice, Statement
from models.money import format_money
from models.texts import Reason, Term, Text

BRIEF_ROWS = 100  # rows in the form's description; the run's table artifact has them all
EMAIL_ROWS = 50


@dataclass(frozen=True)
class Row:
    """One request of a list, as the approver sees it."""

    customer_id: str
    name: str
    collector: str
    about: str  # the statement's month, or the invoices (a ``Text``: said in the reader's locale)
    amount: Decimal
    currency: str
    state: str

    def cells(self, locale: str = i18n.SOURCE_LOCALE) -> dict[str, str]:
        return {
            "customer": self.customer_id,
            "name": self.name,
            "collector": self.collector,
            "about": i18n.render(self.about, locale),
            "amount": format_money(self.amount, self.currency),
            "state": self.state,
        }

    def artifact_cells(self) -> dict[str, str]:
        """The cells for the run's table artifact, which the Prefect UI renders as Markdown: the ledger's text escaped."""
        return {column: value if column in ("amount", "state") else markdown_text(value) for column, value in self.cells().items()}


@dataclass(frozen=True)
class GroupRequest:
    key: str
    action: str
    approver_role: str
    requested_on: dt.date
    state: str
    rows: list[Row]
    brief: str  # markdown: what the approver decides


@dataclass(frozen=True)
class GroupDecision:
    accepted: bool
    state: ApprovalState
    message: str
    decided: list[str]  # approval keys decided by this answer
    held: list[str]  # approval keys held back, each to be asked for alone


def group_prefix(action: str, role: str, day: dt.date) -> str:
    return f"review:{action}:{role}:{day.isoformat()}"


def is_group_key(key: str) -> bool:
    return key.startswith("review:")


def form_groups(session: Session, company: Company) -> list[str]:
    """Gather the open requests asked for together that belong to no list yet; return the lists still waiting for their run.

    One list per action, approver role and day: always for the kinds the
    company asks together (``asked_together``), and for any other kind on a day
    that brings at least ``lists_from`` of it (a boss does not answer 250
    stop-shipments one by one; two are better asked alone, each with its whole
    story). Requests opened later the same day (a second run, a catch-up) make
    the day's next list (``…:2``): a list already emailed is never changed
    under its approver.
    """
    loose = session.scalars(
        select(Approval)
        .where(Approval.state == ApprovalState.requested, Approval.group_key.is_(None), Approval.held.is_(False), Approval.flow_run_id.is_(None))
        .order_by(Approval.id)
    )
    together: dict[tuple[str, str, dt.date], list[Approval]] = defaultdict(list)
    for approval in loose:
        together[(approval.action, approval.approver_role, approval.requested_on)].append(approval)
    for (action, role, day), members in together.items():
        if action not in company.asked_together and not (company.lists_from and len(members) >= company.lists_from):
            continue  # asked alone
        prefix = group_prefix(action, role, day)
        earlier = session.scalar(select(func.count()).select_from(ApprovalGroup).where(ApprovalGroup.key.startswith(prefix + ":", autoescape=True)))
        group = ApprovalGroup(key=f"{prefix}:{earlier + 1}", action=action, approver_role=role, requested_on=day, held="")
        session.add(group)
        session.flush()  # the unique key: a run forming the same list at the same moment fails here and is retried
        for approval in members:
            approval.group_key = group.key
    session.flush()
    return list(
        session.scalars(
            select(ApprovalGroup.key).where(ApprovalGroup.state == ApprovalState.requested, ApprovalGroup.flow_run_id.is_(None)).order_by(ApprovalGroup.id)
        )
    )


def get_group(session: Session, key: str) -> ApprovalGroup:
    group = session.scalar(select(ApprovalGroup).where(ApprovalGroup.key == key))
    if group is None:
        raise KeyError(f"no list of requests {key}")
    return group


def members_of(session: Session, group: ApprovalGroup) -> list[Approval]:
    return list(session.scalars(select(Approval).where(Approval.group_key == group.key).order_by(Approval.customer_id, Approval.id)))


def rows_of(session: Session, members: list[Approval], as_of: dt.date) -> list[Row]:
    """What each request is about: the statement waiting to be sent (its month and amount), or the open invoices."""
    ids = sorted({m.customer_id for m in members})
    customers = {c.customer_id: c for c in session.scalars(select(Customer).where(Customer.customer_id.in_(ids)))}
    statements: dict[str, list[Statement]] = defaultdict(list)
    for statement in session.scalars(select(Statement).where(Statement.customer_id.in_(ids), Statement.sent_on.is_(None)).order_by(Statement.month)):
        statements[statement.customer_id].append(statement)
    rows = []
    for member in members:
        customer = customers[member.customer_id]
        waiting = statements.get(member.customer_id, [])
        if member.action == "send_statement" and waiting:
            about, amount = ", ".join(s.month for s in waiting), sum((s.amount for s in waiting), Decimal("0.00"))
        else:
            named = {i for i in member.invoices.split(";") if i}
            still_open = {i: v for i, v in open_amounts(session, member.customer_id, as_of).items() if not named or i in named}
            due = [d for d in session.scalars(select(Invoice.due_on).where(Invoice.invoice_id.in_(still_open)))]
            invoices = tuple(sorted(still_open))
            about = Text("{invoices} ({days} days overdue)", invoices=invoices, days=(as_of - min(due)).days) if due else ", ".join(invoices) or "-"
            amount = sum(still_open.values(), Decimal("0.00"))
        state = "held: asked alone" if member.held else member.state.value
        rows.append(Row(member.customer_id, customer.name, customer.collector or "-", about, amount, customer.currency, state))
    return rows


def totals(rows: list[Row]) -> str:
    by_currency: dict[str, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for row in rows:
        by_currency[row.currency] += row.amount
    return ", ".join(format_money(amount, currency) for currency, amount in sorted(by_currency.items())) or "0.00"


def open_group(session: Session, key: str, company: Company, as_of: dt.date, flow_run_id: str | None, form_url: str = "") -> GroupRequest:
    """Note the run that waits for the answer and email the list with a one-time code (once); describe the decision."""
    group = get_group(session, key)
    group.flow_run_id = group.flow_run_id or flow_run_id
    members = members_of(session, group)
    rows = rows_of(session, members, as_of)
    if group.code_hash is None and group.state is ApprovalState.requested:
        send_group_code(session, group, rows, company, as_of, form_url=form_url)
    return GroupRequest(group.key, group.action, group.approver_role, group.requested_on, group.state.value, rows, brief(group, rows))


def brief(group: ApprovalGroup, rows: list[Row]) -> str:
    """The form's description: the list (its first rows), the totals, and how to answer; names and ids escaped (``huikuan.documents.escaping``)."""
    what = group.action.replace("_", " ")
    shown = rows[:BRIEF_ROWS]
    table = "\n".join(
        f"| {n} | {markdown_text(r.customer_id)} | {markdown_text(r.name)} | {markdown_text(r.about)} | {format_money(r.amount, r.currency)} "
        f"| {markdown_text(r.collector)} |"
        for n, r in enumerate(shown, 1)
    )
    more = f"\n\n… and {len(rows) - len(shown)} more: the run's table artifact lists all {len(rows)}." if len(rows) > len(shown) else ""
    return (
        f"## {what}: {len(rows)} request(s) of {group.requested_on}, for the **{group.approver_role}**\n\n"
        f"Total **{totals(rows)}**. Your decision applies to every request in the list except those you hold back; "
        "a held request is asked for again on its own (with its own code), e.g. a statement to be corrected first.\n\n"
        f"| # | customer | name | about | amount | collector |\n|---|---|---|---|---|---|\n{table}{more}\n\n"
        "Enter your id from the company file, the one-time code emailed to you, your decision, and the customer ids to hold back (if any)."
    )


def send_group_code(
    session: Session, group: ApprovalGroup, rows: list[Row], company: Company, as_of: dt.date, *, round_: int | str = 0, form_url: str = ""
) -> bool:
    """Email the list and a fresh one-time code to each person who may decide it, in their language; once per round (0: the request)."""
    key = execution.code_round_key(group.key, group.runs_ended, round_)
    if execution.already_queued(session, key):
        return False
    from huikuan.web.tokens import approval_link  # not at the top: the tokens module imports this one

    code = new_code()
    group.code_hash = code_hash(code, group.key)
    group.code_sent_on = as_of
    for person in company.with_role(group.approver_role):
        web_url = approval_link(company, group.key, person.id, code, as_of)
        _email_list(session, f"{key}:{person.id}", group, rows, company, person, code=code, form_url=form_url, web_url=web_url)
    session.flush()
    return True


def _email_list(
    session: Session, key: str, group: ApprovalGroup, rows: list[Row], company: Company, person, *, reason: Reason | None = None, **extra: str
) -> None:
    """Queue the list to ``person`` (keyed ``key``) in their language (``i18n.person_locale``); ``reason`` said in it too."""
    locale = i18n.person_locale(company, person)
    if reason is not None:
        extra["reason"] = i18n.render(reason, locale)
    email = render_approval_list(
        locale,
        company=company.name,
        addressee=execution.party(person),
        action=group.action,
        requested_on=group.requested_on,
        rows=[r.cells(locale) for r in rows],
        total=totals(rows),
        max_rows=EMAIL_ROWS,
        key=group.key,
        **extra,
    )
    execution.queue(session, key, None, execution.party(person), email.subject, email.text, email.html)


def held_ids(text: str) -> list[str]:
    """Customer ids typed by a person: separated by commas, semicolons or spaces (full-width ones too)."""
    return [part for part in re.split(r"[\s,;，；、]+", text or "") if part]


def decide_group(
    session: Session, key: str, *, approver: str, code: str, approve: bool, hold: list[str], comment: str | None, attempt: int, company: Company, as_of: dt.date
) -> GroupDecision:
    """Accept or refuse one answer to a list; the same attempt always gets the same answer.

    Accepted: every request still open in the list is approved (and carried out)
    or denied, except those of the customers held back, which leave the list to
    be asked for alone. Refused (wrong person, wrong code, a held id not in the
    list): nothing changes and the run waits for another answer. Like a single
    request's, an approver's answers are refused without checking the code
    after ``huikuan.approvals.check.REFUSALS_PER_HOUR`` refused ones in an hour.
    """
    group = get_group(session, key)
    if group.state is not ApprovalState.requested:
        return GroupDecision(True, group.state, f"already {group.state.value} by {group.decided_by}", [], [])
    if attempt <= group.last_refused_attempt:
        return GroupDecision(False, group.state, "this answer was refused before", [], [])
    members = [m for m in members_of(session, group) if m.state is ApprovalState.requested and not m.held]
    at = execution.now()
    problem, blocked = check_answer(group, approver=approver, code=code, company=company, at=at)
    if problem is None:
        unknown = sorted(set(hold) - {m.customer_id for m in members})
        if unknown:
            problem = f"not in this list (nothing was decided; correct the ids to hold): {', '.join(unknown)}"
    if problem is not None:
        group.last_refused_attempt = attempt
        note_refused(group, approver=approver, at=at, blocked=blocked)
        session.flush()
        return GroupDecision(False, group.state, problem, [], [])
    decided, held = [], []
    stamp = execution.now()
    for member in members:
        if member.customer_id in hold:
            member.held = True
            held.append(member.key)
            continue
        member.state = ApprovalState.approved if approve else ApprovalState.denied
        member.decided_at, member.decided_by, member.comment = stamp, approver, comment
        if approve:
            execution.carry_out(session, member, company, as_of)
        decided.append(member.key)
    group.state = ApprovalState.approved if approve else ApprovalState.denied
    group.decided_at, group.decided_by, group.comment = stamp, approver, comment
    group.held = ";".join(sorted(set(hold)))
    group.code_hash = None  # one time
    session.flush()
    verb = "approved" if approve else "denied"
    return GroupDecision(True, group.state, f"{len(decided)} {verb} by {approver}" + (f", {len(held)} held back: {group.held}" if held else ""), decided, held)


def open_groups(session: Session) -> list[ApprovalGroup]:
    return list(
        session.scalars(select(ApprovalGroup).where(ApprovalGroup.state == ApprovalState.requested).order_by(ApprovalGroup.requested_on, ApprovalGroup.id))
    )


def remind_or_expire_groups(session: Session, company: Company, as_of: dt.date) -> list[str]:
    """Unanswered lists, like single requests: re-sent with a new code and escalated to the GM, then expired (every open request in it)."""
    notes = []
    for group in open_groups(session):
        age = (as_of - group.requested_on).days
        members = members_of(session, group)
        waiting = [m for m in members if m.state is ApprovalState.requested and not m.held]
        rows = rows_of(session, waiting, as_of)
        if age >= company.approval_expiry_days:
            group.state, group.decided_at, group.code_hash = ApprovalState.expired, execution.now(), None
            for member in waiting:
                member.state, member.decided_at = ApprovalState.expired, group.decided_at
            notes.append(f"{group.key} expired after {age} days ({len(waiting)} requests)")
            _escalate(session, group, rows, company, Reason("expired"), tag="expired")
        elif age >= company.approval_reminder_days * (group.reminders + 1):
            group.reminders += 1
            send_group_code(session, group, rows, company, as_of, round_=group.reminders)
            _escalate(session, group, rows, company, Reason("reminder", count=group.reminders), tag=f"reminder {group.reminders}")
            notes.append(f"{group.key} re-sent ({group.reminders})")
    session.flush()
    return notes


def run_ended(session: Session, group: ApprovalGroup, company: Company, as_of: dt.date, *, run_id: str | None, why: str) -> bool:
    """The list's waiting run ended without a decision: as ``execution.run_ended`` (a new run and code on the next daily run, the GM told)."""
    if group.state is not ApprovalState.requested or group.run_ended_at is not None or (run_id and group.flow_run_id != run_id):
        return False
    group.runs_ended += 1
    group.run_ended_at = execution.now()
    group.code_hash = None  # the code of the ended run is no longer valid
    group.last_refused_attempt = 0  # the new run counts its answers from 1
    rows = rows_of(session, [m for m in members_of(session, group) if m.state is ApprovalState.requested and not m.held], as_of)
    _escalate(session, group, rows, company, Reason("run_ended", run=group.flow_run_id or "", why=why), tag=f"run {group.runs_ended} ended")
    session.flush()
    return True


def renew_old_code(session: Session, group: ApprovalGroup, company: Company, as_of: dt.date) -> bool:
    """A list's code stored by an earlier version (plain SHA-256): a new code to the same waiting run, once."""
    if group.state is not ApprovalState.requested or not is_old_hash(group.code_hash):
        return False
    group.code_hash = None
    rows = rows_of(session, [m for m in members_of(session, group) if m.state is ApprovalState.requested and not m.held], as_of)
    return send_group_code(session, group, rows, company, as_of, round_="renewed")


def _escalate(session: Session, group: ApprovalGroup, rows: list[Row], company: Company, what: Reason, tag: str | None = None) -> None:
    """The GM is told, in their locale (``i18n.person_locale``), that a list is unanswered (``what`` came of it); ``tag`` keys the email."""
    unanswered = Reason(
        "unanswered_list", key=group.key, count=len(rows), action=Term(group.action), role=Term(group.approver_role), requested_on=group.requested_on, what=what
    )
    for person in company.with_role("gm"):
        _email_list(session, f"{group.key}:unanswered:{tag or what}:{person.id}", group, rows, company, person, reason=unanswered)
