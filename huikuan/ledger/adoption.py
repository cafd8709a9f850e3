"""Adopting huikuan over an existing ledger: the one-time steps whose dates passed before it, taken once.

The policy is date-anchored: an invoice already 100 days overdue when the
ledger comes under huikuan has its escalations and its stop-shipment in the
past, and the daily run, which takes what falls due today, never takes them.
``adopt`` is the explicit catch-up (``huikuan adopt``): every such step not yet
in the ledger (an action of that name for the same customer naming one of its
invoices), dated the adoption day, each customer's in one transaction as the
daily run takes them; a stop-shipment becomes the boss's approval request.
Rerunning it, on that day or later, takes nothing twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from huikuan.collection.batch import AccountResult, take_for_customer
from huikuan.ledger.company import Company
from huikuan.ledger.context import calendars_of
from huikuan.ledger.facts import load_facts
from models.calendar import CalendarBook
from models.engine import Action, missed_steps
from models.ledger import ActionTaken
from models.policy import Policy


@dataclass
class Adoption:
    as_of: dt.date
    dry_run: bool
    actions: list[Action]  # the missed steps not in the ledger before this run: taken now, or (dry run) what would be
    accounts: list[AccountResult]  # each customer with missed steps: what this run took, the approvals it requested, any problem

    @property
    def taken(self) -> list[Action]:
        keys = {key for account in self.accounts for key in account.taken}
        return [a for a in self.actions if a.key in keys]

    @property
    def approvals(self) -> list[str]:
        return [key for account in self.accounts for key in account.approvals]

    @property
    def failed(self) -> list[AccountResult]:
        return [a for a in self.accounts if a.error]


def already_taken(session: Session, customer_id: str) -> set[tuple[str, str]]:
    """(action, invoice id) of every action the ledger holds for the customer."""
    rows = session.execute(select(ActionTaken.action, ActionTaken.invoices).where(ActionTaken.customer_id == customer_id))
    return {(action, invoice_id) for action, invoices in rows for invoice_id in invoices.split(";") if invoice_id}


def missed_actions(session: Session, day: dt.date, policy: Policy, calendars: CalendarBook) -> list[Action]:
    """The steps every customer missed before ``day`` and the ledger does not hold yet, by customer and action."""
    actions: list[Action] = []
    for facts, country in load_facts(session):
        calendar = calendars.calendar(country)  # the run's calendar, as the daily run takes actions
        if missed_steps(facts, day, policy, calendar):  # the ledger is read only for the few customers with any
            actions += missed_steps(facts, day, policy, calendar, taken=already_taken(session, facts.customer_id))
    return actions


def adopt(engine: Engine, day: dt.date, policy: Policy, company: Company | None, *, dry_run: bool = False) -> Adoption:
    """Take the steps missed before ``day`` once (with ``dry_run``: only say which); ``company`` may be None for a dry run."""
    with Session(engine) as session:
        actions = missed_actions(session, day, policy, calendars_of(company))
    by_customer: dict[str, list[Action]] = {}
    for action in actions:
        by_customer.setdefault(action.customer_id, []).append(action)
    accounts = [AccountResult(customer_id, due=[a.key for a in due]) for customer_id, due in by_customer.items()]
    if not dry_run:
        if company is None:
            raise ValueError("taking actions needs the company (who is notified, who approves)")
        factory = sessionmaker(engine, expire_on_commit=False)
        for account in accounts:
            take_for_customer(factory, account, by_customer[account.customer_id], day, company)
    return Adoption(day, dry_run, actions, accounts)
