"""Collecting a batch of accounts on a day: evaluate the policy, take what is due, once.

This is the work of the daily run without Prefect around it (the benchmark's
floor, and what each `collect-batch` task does). Each customer's actions are
taken in one transaction of their own, keyed by the action keys, so a retried
batch or a rerun day skips what is already taken and a customer whose data
breaks an action does not hold up the others: the batch reports it and goes on.
Losing the database is different: that error is raised at once, so that the
task is retried as a whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import exc, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from huikuan.collection import execution
from huikuan.documents.escaping import markdown_text
from huikuan.ledger.company import Company
from huikuan.ledger.context import calendars_of
from huikuan.ledger.db import pipelined_transactions
from huikuan.ledger.facts import load_facts
from huikuan.ledger.heap import older_objects_frozen
from models.calendar import CalendarBook
from models.engine import Action, CustomerFacts, Evaluator, next_action_day
from models.enums import ApprovalState
from models.ledger import ActionTaken, Approval, ApprovalGroup, CollectionDay
from models.policy import Policy

NEXT_ACTION_HORIZON_DAYS = 120
# The statement cycle's own actions (when they concern a statement): what `statement-cycle` takes on its deadlines.
STATEMENT_KINDS = frozenset({"prepare_statement", "send_statement", "statement_follow_up", "escalate_statement", "issue_invoice", "send_invoice_info", "visit"})
CATCH_UP_DAYS = 14  # the longest gap a scheduled run makes up for; older days need a person (`huikuan` or the run form)


@dataclass
class AccountResult:
    """One customer's day: what was due, what this run took, and what comes next."""

    customer_id: str
    due: list[str] = field(default_factory=list)  # action keys
    taken: list[str] = field(default_factory=list)  # the keys this run took (the others were taken before)
    approvals: list[str] = field(default_factory=list)  # approval requests this run opened
    next_action_on: dt.date | None = None
    error: str | None = None
    held: list[str] = field(default_factory=list)  # customer emails not sent, their address bouncing: the collector is told

    def row(self) -> dict:
        """A line of the batch's table artifact (the Prefect UI renders its cells as Markdown: ids and problems escaped)."""
        return {
            "customer": markdown_text(self.customer_id),
            "due": ", ".join(key.split(":")[1] for key in self.due) or "-",
            "taken now": len(self.taken),
            "next action": self.next_action_on.isoformat() if self.next_action_on else "-",
            "problem": markdown_text(self.error) if self.error else "",
            "not emailed": markdown_text("; ".join(self.held)) if self.held else "",
        }


@dataclass
class BatchResult:
    as_of: dt.date
    accounts: list[AccountResult]

    @property
    def taken(self) -> int:
        return sum(len(a.taken) for a in self.accounts)

    @property
    def failed(self) -> list[AccountResult]:
        return [a for a in self.accounts if a.error]

    @property
    def approvals(self) -> list[str]:
        return [key for a in self.accounts for key in a.approvals]


def is_connection_lost(error: BaseException) -> bool:
    """The database is unreachable or gone away (retry later), as opposed to bad data (report it)."""
    if isinstance(error, (ConnectionError, TimeoutError, exc.DisconnectionError)):
        return True
    if type(getattr(error, "orig", None)).__name__ == "PipelineAborted":  # psycopg: a statement after an error of the transaction, answered
        return False
    return isinstance(error, exc.DBAPIError) and (error.connection_invalidated or isinstance(error, (exc.OperationalError, exc.InterfaceError)))


def due_actions(
    session: Session, customer_ids: Sequence[str], day: dt.date, policy: Policy, kinds: Collection[str] | None = None, *, calendars: CalendarBook
) -> dict[str, list[Action]]:
    """The actions due on ``day`` for each of these customers (every customer is a key), only of ``kinds`` if given."""
    return _due_of(load_facts(session, only=list(customer_ids)), customer_ids, day, policy, kinds, calendars=calendars)


def _due_of(
    facts: Iterable[tuple[CustomerFacts, str]],
    customer_ids: Sequence[str],
    day: dt.date,
    policy: Policy,
    kinds: Collection[str] | None,
    *,
    calendars: CalendarBook,
) -> dict[str, list[Action]]:
    due: dict[str, list[Action]] = {customer_id: [] for customer_id in customer_ids}
    for customer, country in facts:
        actions = Evaluator(customer, policy, calendars.calendar(country)).actions_on(day)
        due[customer.customer_id] = sorted((a for a in actions if kinds is None or is_of(a, kinds)), key=Action.sort_key)
    return due


def changes_facts(action: Action) -> bool:
    """Taking ``action`` may change its account's facts (a lock or standing, a statement, an event taken): read them again after."""
    return bool(action.effect or action.statements or action.events)


def is_of(action: Action, kinds: Collection[str]) -> bool:
    """An action of one of ``kinds``; the statement cycle's kinds only count for statements (a visit about an invoice is collection)."""
    return action.action in kinds and (action.statements or not STATEMENT_KINDS & set(kinds))


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}".splitlines()[0][:300]


@contextmanager
def _transaction(where: sessionmaker | Session) -> Iterator[Session]:
    """A transaction of a new session of ``where`` (a session factory), or of ``where`` itself (a session outside a transaction)."""
    if isinstance(where, Session):
        with where.begin():
            yield where
    else:
        with where.begin() as session:
            yield session


def take_for_customer(
    factory: sessionmaker | Session, account: AccountResult, actions: Iterable[Action], day: dt.date, company: Company, *, known: execution.Known | None = None
) -> None:
    """Take one customer's actions in one transaction; a data error is kept on ``account``, a lost database raised.

    ``factory``: a session factory (a session for the customer), or the batch's session, which holds ``known``
    (``execution.read_known``): what the batch read once for the documents. The first try reads no key first: a key
    already taken (a rerun, a retried task, a concurrent run of the same day) is rejected by its unique constraint,
    which fails and rolls back the customer's transaction, and the second try looks each key up first and skips the taken.
    """
    actions = list(actions)
    for attempt in (1, 2):
        try:
            with _transaction(factory) as session:
                outcomes = [execution.take_action(session, action, company=company, as_of=day, known=known, check_first=attempt == 2) for action in actions]
            break
        except exc.IntegrityError as error:
            if attempt == 2:  # a run of the same day took a key first; the second try finds it taken, unless the data is wrong
                account.error = _describe(error)
                return
        except Exception as error:  # noqa: BLE001 - one customer's bad data must not stop the batch
            if is_connection_lost(error):
                raise
            account.error = _describe(error)
            return
    account.taken = [o.key for o in outcomes if o.taken]
    account.approvals = [o.approval_key for o in outcomes if o.taken and o.approval_key]
    account.held = [o.held for o in outcomes if o.taken and o.held]


def collect(
    engine: Engine,
    customer_ids: Sequence[str],
    day: dt.date,
    policy: Policy,
    company: Company,
    *,
    kinds: Collection[str] | None = None,
    next_actions: bool = True,
    calendars: CalendarBook | None = None,
) -> BatchResult:
    """Evaluate and take the due actions (of ``kinds``, or all) of ``customer_ids`` on ``day``; then each account's next action date.

    ``calendars``: the run's calendar book (default: the company's, with ``HUIKUAN_CLOSED_DAYS``).

    The batch reads its facts once: the due actions, the documents' invoices and promises
    (with one query more for the customers and their contacts and one for their last
    contacts, ``execution.read_known``) and the next action dates come from them; only the
    accounts whose actions change their facts (``changes_facts``) are read again for their
    next action date. Each customer's actions are one transaction of the batch's session, on the
    batch's one connection: a connection taken from the pool for each customer cost a check of it
    (a round trip to PostgreSQL) and the pool's own work, an eighth of the batch on PostgreSQL (issue #18).
    On PostgreSQL a customer's INSERTs are sent without waiting for their answers, and its commit
    waits for them and begins the next customer's transaction in the same round trip
    (``pipelined_transactions``): one round trip a customer with an email, not three. A statement's
    error then comes at the commit, and still fails that customer only.
    """
    calendars = calendars or calendars_of(company)
    accounts = []
    with older_objects_frozen(), engine.connect() as connection, Session(connection, expire_on_commit=False) as session:
        with session.begin():
            facts = list(load_facts(session, only=list(customer_ids)))
            due = _due_of(facts, customer_ids, day, policy, kinds, calendars=calendars)
            known = execution.read_known(session, [f for f, _country in facts if due[f.customer_id]], day)
        with pipelined_transactions(connection):
            for customer_id in customer_ids:
                account = AccountResult(customer_id, due=[a.key for a in due[customer_id]])
                if due[customer_id]:
                    take_for_customer(session, account, due[customer_id], day, company, known=known)
                accounts.append(account)
        if next_actions:
            changed = [customer_id for customer_id in customer_ids if any(changes_facts(a) for a in due[customer_id])]
            if changed:
                with session.begin():  # read again: today's actions changed these accounts (a lock, a statement, an event)
                    fresh = {f.customer_id: (f, country) for f, country in load_facts(session, only=changed)}
                facts = [fresh.get(f.customer_id, (f, country)) for f, country in facts]
            by_id = {a.customer_id: a for a in accounts}
            for customer, country in facts:
                by_id[customer.customer_id].next_action_on = next_action_day(customer, day, NEXT_ACTION_HORIZON_DAYS, policy, calendars.calendar(country))
    return BatchResult(day, accounts)


def approvals_waiting_for_a_run(session: Session) -> list[tuple[str, dt.date]]:
    """Open approval requests asked for alone whose waiting run has not started (its start may have been lost in a crash).

    Requests in a list (`huikuan.approvals.groups`) wait in the list's run, unless held back from it. A request
    whose run ended undecided keeps that run's id until its new run starts (`approvals_waiting_for_a_new_run`).
    """
    rows = session.execute(
        select(Approval.key, Approval.requested_on)
        .where(Approval.state == ApprovalState.requested, Approval.flow_run_id.is_(None), or_(Approval.group_key.is_(None), Approval.held.is_(True)))
        .order_by(Approval.id)
    )
    return [(key, requested_on) for key, requested_on in rows]


def approval_runs_to_check(session: Session) -> dict[str, str]:
    """{key: run id} of the open requests asked for alone (or held) and the open lists whose noted waiting run may still wait.

    The daily run asks the Prefect server about each: a run that ended (its
    answers ran out, it failed, crashed or was cancelled) without a decision
    is replaced by a new one (`approvals_waiting_for_a_new_run`).
    """
    alone = session.execute(
        select(Approval.key, Approval.flow_run_id)
        .where(
            Approval.state == ApprovalState.requested,
            Approval.flow_run_id.is_not(None),
            Approval.run_ended_at.is_(None),
            or_(Approval.group_key.is_(None), Approval.held.is_(True)),
        )
        .order_by(Approval.id)
    )
    lists = session.execute(
        select(ApprovalGroup.key, ApprovalGroup.flow_run_id)
        .where(ApprovalGroup.state == ApprovalState.requested, ApprovalGroup.flow_run_id.is_not(None), ApprovalGroup.run_ended_at.is_(None))
        .order_by(ApprovalGroup.id)
    )
    return {key: run_id for key, run_id in [*alone, *lists]}


def approvals_waiting_for_a_new_run(session: Session) -> list[tuple[str, int]]:
    """(key, number of the new run) of the open requests and lists whose waiting run ended undecided: each gets a new run, with a new code.

    The new run's number makes its idempotency key (``<key>:run<n>``): the
    first run's (the key alone) would give back the ended run.
    """
    alone = session.execute(
        select(Approval.key, Approval.runs_ended)
        .where(Approval.state == ApprovalState.requested, Approval.run_ended_at.is_not(None), or_(Approval.group_key.is_(None), Approval.held.is_(True)))
        .order_by(Approval.id)
    )
    lists = session.execute(
        select(ApprovalGroup.key, ApprovalGroup.runs_ended)
        .where(ApprovalGroup.state == ApprovalState.requested, ApprovalGroup.run_ended_at.is_not(None))
        .order_by(ApprovalGroup.id)
    )
    return [(key, runs_ended + 1) for key, runs_ended in [*alone, *lists]]


def batches(customer_ids: Sequence[str], size: int) -> list[list[str]]:
    """Consecutive batches of at most ``size`` customers, in the order given."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    return [list(customer_ids[i : i + size]) for i in range(0, len(customer_ids), size)]


def missed_days(session: Session, today: dt.date, limit: int = CATCH_UP_DAYS) -> list[dt.date]:
    """The days before ``today`` the daily collection never finished, since the last one it did (at most ``limit``).

    Nothing is missed before the first finished day: a new ledger starts today.
    """
    last = session.scalar(select(CollectionDay.day).where(CollectionDay.day < today).order_by(CollectionDay.day.desc()).limit(1))
    if last is None:
        return []
    first = max(last + dt.timedelta(days=1), today - dt.timedelta(days=limit))
    return [first + dt.timedelta(days=n) for n in range((today - first).days)]


def record_day(session: Session, day: dt.date, policy: str, *, accounts: int, problems: int) -> None:
    """Note that the daily collection of ``day`` finished, with the day's actions as the ledger holds them.

    The count is read, not added up: a retried batch or a second run of the day
    finds earlier attempts' actions taken, and two runs noting the day at once
    write the same figure.
    """
    taken = session.scalar(select(func.count()).select_from(ActionTaken).where(ActionTaken.due_on == day)) or 0
    row = session.get(CollectionDay, day)
    if row is None:
        row = CollectionDay(day=day, policy=policy)
        session.add(row)
    row.policy, row.accounts, row.taken, row.problems = policy, accounts, taken, problems
    row.finished_at = dt.datetime.now(dt.UTC)
