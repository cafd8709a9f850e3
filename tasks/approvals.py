"""Tasks of an approval: open the request (code emailed once), judge an answer, start the runs.

The same for a list of requests asked for together (`huikuan.approvals.groups`).
"""

from __future__ import annotations

import contextvars
import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.logging import get_run_logger
from prefect.utilities.urls import url_for
from sqlalchemy import select

from huikuan.approvals import groups as approval_groups
from huikuan.collection import execution
from huikuan.collection.batch import approvals_waiting_for_a_run
from huikuan.documents.escaping import markdown_quote, markdown_quote_lines, markdown_text
from huikuan.documents.render import render_letter
from huikuan.ledger.db import session_scope
from huikuan.reports.portfolio import customer_file
from models.ledger import Approval, ApprovalGroup
from models.money import format_money
from tasks import SERVER_TIMEOUT
from tasks.ledger import company

APPROVAL_DEPLOYMENT = "request-approval/request-approval"
GROUP_DEPLOYMENT = "request-group-approval/request-group-approval"


START_THREADS = 8  # approval runs created at once


@dataclass(frozen=True)
class Request:
    key: str
    action: str
    customer_id: str
    approver_role: str
    state: str
    brief: str  # markdown: what the approver decides


@task(cache_policy=NO_CACHE, task_run_name="open {approval_key}")
def open_request(approval_key: str, as_of: dt.date, flow_run_id: str | None) -> Request:
    """Note the run that waits for the answer, email the one-time code (once), describe the decision."""
    with session_scope() as session:
        approval = session.scalar(select(Approval).where(Approval.key == approval_key))
        if approval is None:
            raise ValueError(f"no approval {approval_key}")
        approval.flow_run_id = approval.flow_run_id or flow_run_id
        if approval.code_hash is None and approval.state.value == "requested":
            execution.send_code(session, approval, company(), as_of, form_url=form_url(approval.flow_run_id))
        return Request(approval.key, approval.action, approval.customer_id, approval.approver_role, approval.state.value, _brief(session, approval, as_of))


def form_url(flow_run_id: str | None) -> str:
    """Where the approver answers: the waiting run's page in the Prefect UI (empty outside a server)."""
    return (url_for("flow-run", obj_id=flow_run_id) or "") if flow_run_id else ""


def _contact(contact) -> str:
    """A contact in the form's list: the system's record on the line, the collector's note as a quote under it (escaped)."""
    line = f"- {contact.contacted_on} {contact.channel.value} {contact.result.value}"
    if contact.person:
        line += f" with {markdown_text(contact.person)}"
    return line + (f", note:\n  {markdown_quote(contact.note)}" if contact.note and contact.note.strip() else "")


def _brief(session, approval: Approval, as_of: dt.date) -> str:
    """The form's description, in Markdown: customer and user text in it escaped (``huikuan.documents.escaping``)."""
    file = customer_file(session, approval.customer_id, as_of)
    customer = file.customer
    named = set(filter(None, approval.invoices.split(";")))
    rows = "\n".join(
        f"| {markdown_text(invoice.invoice_id)} | {invoice.due_on} | {days} | {format_money(amount, customer.currency)} |"
        for invoice, amount, days, _dispute in file.invoices
        if not named or invoice.invoice_id in named
    )
    contacts = "\n".join(_contact(c) for c in file.contacts) or "- none recorded"
    preview = ""
    if approval.action in ("dunning_letter", "statement_letter", "lawyer_letter"):
        context = execution.document_context(session, customer, approval.action, company(), as_of, invoices=tuple(named))
        preview = "\n\n**The letter** (preview):\n\n" + markdown_quote_lines(render_letter(context).text)
    return (
        f"## {approval.action.replace('_', ' ')}: {markdown_text(customer.name)} ({markdown_text(customer.customer_id)})\n\n"
        f"Requested on {approval.requested_on}, for the **{approval.approver_role}**. "
        f"Open balance **{format_money(file.balance, customer.currency)}**; status {customer.status.value}.\n\n"
        f"| invoice | due | days overdue | open |\n|---|---|---|---|\n{rows}\n\n"
        f"**Recent contacts**\n\n{contacts}{preview}\n\n"
        "Enter your id from the company file, the one-time code emailed to you, and your decision."
    )


@task(cache_policy=NO_CACHE, task_run_name="answer {approval_key} #{attempt}")
def judge(approval_key: str, approver: str, code: str, approve: bool, comment: str | None, attempt: int, as_of: dt.date) -> execution.Decision:
    with session_scope() as session:
        decision = execution.decide(
            session, approval_key, approver=approver, code=code, approve=approve, comment=comment, attempt=attempt, company=company(), as_of=as_of
        )
    logger = get_run_logger()
    (logger.info if decision.accepted else logger.warning)("%s attempt %s: %s", approval_key, attempt, decision.message)
    return decision


@task(cache_policy=NO_CACHE, task_run_name="open {group_key}")
def open_group(group_key: str, as_of: dt.date, flow_run_id: str | None) -> approval_groups.GroupRequest:
    """Note the list's waiting run, email the list and its one-time code (once), describe the decision."""
    with session_scope() as session:
        return approval_groups.open_group(session, group_key, company(), as_of, flow_run_id, form_url=form_url(flow_run_id))


@task(cache_policy=NO_CACHE, task_run_name="answer {group_key} #{attempt}")
def judge_group(
    group_key: str, approver: str, code: str, approve: bool, hold: list[str], comment: str | None, attempt: int, as_of: dt.date
) -> approval_groups.GroupDecision:
    with session_scope() as session:
        decision = approval_groups.decide_group(
            session, group_key, approver=approver, code=code, approve=approve, hold=hold, comment=comment, attempt=attempt, company=company(), as_of=as_of
        )
    logger = get_run_logger()
    (logger.info if decision.accepted else logger.warning)("%s attempt %s: %s", group_key, attempt, decision.message)
    return decision


def start_run(key: str, as_of: dt.date, number: int = 0) -> str | None:
    """The waiting run of one request or list: its first (``number`` 0) or the one after ``number`` runs ended undecided.

    The idempotency key is the request's key, then ``<key>:run<n>``: starting the
    same run twice (a retried task, a rerun day) returns the run already there.
    None when the deployment is missing (the request waits until one is deployed).
    """
    group = approval_groups.is_group_key(key)
    deployment = GROUP_DEPLOYMENT if group else APPROVAL_DEPLOYMENT
    parameters = {"group_key" if group else "approval_key": key, "as_of": as_of.isoformat()}
    name = key.removeprefix("approval:")
    idempotency_key, run_name = (key, name) if number == 0 else (f"{key}:run{number}", f"{name} (run {number})")
    try:
        run = run_deployment(deployment, parameters=parameters, timeout=0, as_subflow=False, idempotency_key=idempotency_key, flow_run_name=run_name)
    except ObjectNotFound:
        get_run_logger().warning("no %s deployment: %s waits until one is deployed (huikuan start)", deployment, key)
        return None
    return str(run.id)


@task(cache_policy=NO_CACHE, timeout_seconds=SERVER_TIMEOUT)
def start_approval_runs(approval_keys: list[str], as_of: dt.date) -> list[str]:
    """One waiting run per request or list of requests (``review:…`` keys).

    The runs are created a few at a time: each is a round trip to the server,
    and a large portfolio's day may ask for many.
    """

    def start(key: str) -> str | None:
        return start_run(key, as_of)

    if len(approval_keys) <= 1:
        started = [start(key) for key in approval_keys]
    else:
        with ThreadPoolExecutor(max_workers=START_THREADS) as pool:  # each thread carries this run's settings (context variables)
            started = list(pool.map(lambda key: contextvars.copy_context().run(start, key), approval_keys))
    return [run_id for run_id in started if run_id]


@task(
    cache_policy=NO_CACHE, retries=2, retry_delay_seconds=1, timeout_seconds=SERVER_TIMEOUT
)  # two runs forming the same list at once: one retries and finds it
def start_waiting_approval_runs() -> list[str]:
    """A waiting run for every open request or list that has none yet: those opened today, and any whose start a crash lost.

    Requests of the kinds asked for together are first gathered into the day's lists.
    """
    with session_scope() as session:
        lists = approval_groups.form_groups(session, company())
        day_of = dict(session.execute(select(ApprovalGroup.key, ApprovalGroup.requested_on).where(ApprovalGroup.key.in_(lists))).all())
        waiting = approvals_waiting_for_a_run(session) + [(key, day_of[key]) for key in lists]
    started = []
    for requested_on in sorted({day for _key, day in waiting}):
        started += start_approval_runs.fn([key for key, day in waiting if day == requested_on], requested_on)
    return started


@task(cache_policy=NO_CACHE, task_run_name="answers ran out {key}")
def answers_ran_out(key: str, flow_run_id: str, as_of: dt.date, max_answers: int) -> bool:
    """The waiting run took its ``max_answers`` answers without a decision: its code dies, the GM is told, the next daily run asks again."""
    with session_scope() as session:
        if approval_groups.is_group_key(key):
            marked = approval_groups.run_ended(
                session, approval_groups.get_group(session, key), company(), as_of, run_id=flow_run_id, why=f"its {max_answers} answers ran out"
            )
        else:
            approval = session.scalar(select(Approval).where(Approval.key == key))
            marked = approval is not None and execution.run_ended(
                session, approval, company(), as_of, run_id=flow_run_id, why=f"its {max_answers} answers ran out"
            )
    get_run_logger().warning("%s: %s answers without a decision; the next daily run starts a new run with a new code", key, max_answers)
    return marked
