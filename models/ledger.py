"""The ledger: customers, billing, money received, and everything done about it.

Natural ids from the import files (customer_id, invoice_id, ...) are primary
keys, so re-importing a file finds the same rows. Amounts are `Money`
(Decimal), datetimes are aware; dates that a person names are `*_on` dates.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Boolean, Enum, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import AwareDateTime, Base
from models.enums import ActionState, ApprovalState, BankLineState, Channel, ContactResult, CustomerStatus, Excuse, Locale, Segment, Settlement, StatementState


def _enum(cls) -> Enum:
    """A portable enum column: VARCHAR plus a CHECK constraint, no native type."""
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
        name=cls.__name__.lower(),
    )


def _created_at() -> Mapped[dt.datetime]:
    return mapped_column(AwareDateTime(), server_default=func.current_timestamp())


class Customer(Base):
    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[Locale] = mapped_column(_enum(Locale), default=Locale.zh_CN)
    country: Mapped[str] = mapped_column(String(2), default="CN")
    settlement: Mapped[Settlement] = mapped_column(_enum(Settlement), default=Settlement.monthly_statement)
    payment_terms_days: Mapped[int] = mapped_column(default=30)
    credit_limit: Mapped[Decimal | None]
    segment: Mapped[Segment] = mapped_column(_enum(Segment), default=Segment.ordinary)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    collector: Mapped[str | None] = mapped_column(String(64), index=True)
    # The contract's late-payment terms (models.charges.contract_terms), as imported; no rate: the company file's.
    late_charge_rate: Mapped[str | None] = mapped_column(String(20))  # "0.05%/day", "6%/year" or "none"
    late_charge_grace_days: Mapped[int | None]
    late_charge_cap: Mapped[str | None] = mapped_column(String(20))  # "30%" or "5000.00"
    contract_clause: Mapped[str | None] = mapped_column(String(100))
    # The account's state is three facets, each changed with a history row (AccountChange):
    # the credit standing, the shipping lock and the credit limit (above).
    status: Mapped[CustomerStatus] = mapped_column(_enum(CustomerStatus), default=CustomerStatus.active)  # the credit standing
    standing_since: Mapped[dt.date | None]  # the day the credit standing last changed
    standing_invoices: Mapped[str] = mapped_column(Text, default="")  # the invoices that caused it, ids joined by ';'
    locked_on: Mapped[dt.date | None]  # the shipping lock: the day shipments were stopped (None: not locked); letters count from it
    lock_invoices: Mapped[str] = mapped_column(Text, default="")  # the debts that caused the lock; paid, they lift it
    created_at: Mapped[dt.datetime] = _created_at()

    contacts: Mapped[list[Contact]] = relationship(back_populates="customer", order_by="Contact.id")
    invoices: Mapped[list[Invoice]] = relationship(back_populates="customer", order_by="Invoice.due_on")

    @property
    def primary_contact(self) -> Contact | None:
        return next((c for c in self.contacts if c.is_primary), None)


class Contact(Base):
    """A person at the customer: letters and emails are addressed to a named person."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(50))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    # The day ``email`` was known to bounce (``huikuan contact bounced``, or the mail server refused it for good):
    # no customer email goes to it, the collector is told instead (huikuan.outbox.bounces). A new address clears it.
    email_bounced_on: Mapped[dt.date | None]

    customer: Mapped[Customer] = relationship(back_populates="contacts")


class Statement(Base):
    """A customer's monthly statement (账单/对账单) and how far it has got."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("customer_id", "month"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    month: Mapped[str] = mapped_column(String(7))  # billing month, YYYY-MM
    state: Mapped[StatementState] = mapped_column(_enum(StatementState), default=StatementState.prepared)
    amount: Mapped[Decimal]
    prepared_on: Mapped[dt.date]
    reviewed_on: Mapped[dt.date | None]
    sent_on: Mapped[dt.date | None]
    confirmed_on: Mapped[dt.date | None]
    invoiced_on: Mapped[dt.date | None]
    mailed_on: Mapped[dt.date | None]
    # Its email was not sent on ``bounced_on`` (the address bounced: back to reviewed); the address was fixed on
    # ``readdressed_on`` (the mark cleared, huikuan.ledger.importer): the engine sends it again then, once.
    bounced_on: Mapped[dt.date | None]
    readdressed_on: Mapped[dt.date | None]
    invoice_title: Mapped[str | None] = mapped_column(String(200))
    tax_id: Mapped[str | None] = mapped_column(String(50))
    invoice_address: Mapped[str | None] = mapped_column(String(300))
    invoice_bank: Mapped[str | None] = mapped_column(String(300))
    tracking_no: Mapped[str | None] = mapped_column(String(100))


class Charge(Base):
    """A delivery or service to be billed on the monthly statement."""

    __tablename__ = "charges"

    charge_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    delivered_on: Mapped[dt.date]
    amount: Mapped[Decimal]
    description: Mapped[str | None] = mapped_column(String(300))
    receipt_received_on: Mapped[dt.date | None]
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"), index=True)


class Invoice(Base):
    __tablename__ = "invoices"
    # By customer and due date, holding every column ``load_facts`` reads: its read of a batch needs no table lookup (migration 0016).
    __table_args__ = (Index("ix_invoices_customer_due_cover", "customer_id", "due_on", "invoice_id", "issued_on", "amount", "statement_id"),)

    invoice_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    issued_on: Mapped[dt.date]
    due_on: Mapped[dt.date]
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"), index=True)

    customer: Mapped[Customer] = relationship(back_populates="invoices")
    allocations: Mapped[list[Allocation]] = relationship(back_populates="invoice")


class Payment(Base):
    __tablename__ = "payments"

    payment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    received_on: Mapped[dt.date]
    amount: Mapped[Decimal]
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.invoice_id"))  # as named by finance

    allocations: Mapped[list[Allocation]] = relationship(back_populates="payment")


class Allocation(Base):
    """The part of a payment applied to one invoice; the rest of the invoice keeps aging."""

    __tablename__ = "allocations"

    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.payment_id"), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.invoice_id"), primary_key=True, index=True)
    amount: Mapped[Decimal]

    payment: Mapped[Payment] = relationship(back_populates="allocations")
    invoice: Mapped[Invoice] = relationship(back_populates="allocations")


class Dispute(Base):
    """An objection (异议) to an invoice: dunning on it pauses until resolved."""

    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.invoice_id"), index=True)
    opened_on: Mapped[dt.date]
    reason: Mapped[str] = mapped_column(Text)
    resolved_on: Mapped[dt.date | None]
    resolution: Mapped[str | None] = mapped_column(Text)


class Promise(Base):
    """A promise to pay (还款承诺): always a specific amount by a specific date."""

    __tablename__ = "promises"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    made_on: Mapped[dt.date]
    amount: Mapped[Decimal]
    due_on: Mapped[dt.date]  # the date promised
    note: Mapped[str | None] = mapped_column(Text)

    invoices: Mapped[list[PromiseInvoice]] = relationship(cascade="all, delete-orphan")


class PromiseInvoice(Base):
    __tablename__ = "promise_invoices"

    promise_id: Mapped[int] = mapped_column(ForeignKey("promises.id"), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.invoice_id"), primary_key=True)


class ContactLog(Base):
    """Every contact: date, channel, person reached, result, excuse, next step."""

    __tablename__ = "contact_log"
    __table_args__ = (Index("ix_contact_log_customer_on", "customer_id", "contacted_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    contacted_on: Mapped[dt.date]
    channel: Mapped[Channel] = mapped_column(_enum(Channel))
    result: Mapped[ContactResult] = mapped_column(_enum(ContactResult))
    person: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    excuse: Mapped[Excuse | None] = mapped_column(_enum(Excuse))
    next_step: Mapped[str | None] = mapped_column(Text)
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = _created_at()


class Approval(Base):
    """A request for a decision (stop-shipment, letters, statement review)."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    action: Mapped[str] = mapped_column(String(64))
    approver_role: Mapped[str] = mapped_column(String(32))
    state: Mapped[ApprovalState] = mapped_column(_enum(ApprovalState), default=ApprovalState.requested)
    requested_on: Mapped[dt.date]
    requested_at: Mapped[dt.datetime] = _created_at()
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    action_key: Mapped[str | None] = mapped_column(String(200))  # the action that asked for it
    invoices: Mapped[str] = mapped_column(Text, default="")  # ids joined by ';'
    code_hash: Mapped[str | None] = mapped_column(String(128))  # sha256 of the one-time code emailed to the approver
    code_sent_on: Mapped[dt.date | None]
    reminders: Mapped[int] = mapped_column(default=0)
    refusals: Mapped[int] = mapped_column(default=0)  # wrong codes and unauthorised approvers, each logged
    group_key: Mapped[str | None] = mapped_column(String(200), index=True)  # asked for together with others (ApprovalGroup)
    held: Mapped[bool] = mapped_column(Boolean, default=False)  # held back from its group: decided on its own
    effect: Mapped[str | None] = mapped_column(String(32))  # what approving it changes in the account (models.policy.Effect), if anything
    runs_ended: Mapped[int] = mapped_column(default=0)  # waiting runs that ended without a decision (each followed by a new run and code)
    run_ended_at: Mapped[dt.datetime | None]  # set: the waiting run ended undecided, the next daily run starts a new one
    recent_refusals: Mapped[str] = mapped_column(Text, default="")  # "approver<TAB>time" of the last hour's refused answers (the rate limit)


class ApprovalGroup(Base):
    """Requests of one kind for one approver role, opened on one day, asked for together.

    A supervisor reviews a month's statements as one list: one code, one form,
    "approve all" or "approve all but these". The requests stay rows of their
    own (``Approval.group_key``); a held one is asked for again on its own.
    """

    __tablename__ = "approval_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # review:<action>:<role>:<day>:<n>
    action: Mapped[str] = mapped_column(String(64))
    approver_role: Mapped[str] = mapped_column(String(32))
    requested_on: Mapped[dt.date]
    requested_at: Mapped[dt.datetime] = _created_at()
    state: Mapped[ApprovalState] = mapped_column(_enum(ApprovalState), default=ApprovalState.requested)
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    held: Mapped[str] = mapped_column(Text, default="")  # customer ids held back, joined by ';'
    flow_run_id: Mapped[str | None] = mapped_column(String(64))
    code_hash: Mapped[str | None] = mapped_column(String(128))
    code_sent_on: Mapped[dt.date | None]
    reminders: Mapped[int] = mapped_column(default=0)
    refusals: Mapped[int] = mapped_column(default=0)
    last_refused_attempt: Mapped[int] = mapped_column(default=0)  # a retried judgement of a refused answer refuses it again
    runs_ended: Mapped[int] = mapped_column(default=0)  # as Approval's
    run_ended_at: Mapped[dt.datetime | None]
    recent_refusals: Mapped[str] = mapped_column(Text, default="")


class ActionTaken(Base):
    """Every action the system took; its key makes each side effect happen once.

    The key is ``customer:action:date`` (or finer); the unique constraint is what
    stops a retried task or a rerun flow from sending or locking twice.
    """

    __tablename__ = "actions"
    __table_args__ = (Index("ix_actions_customer_on", "customer_id", "due_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    action: Mapped[str] = mapped_column(String(64))
    due_on: Mapped[dt.date]
    channel: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(16))
    invoices: Mapped[str] = mapped_column(Text, default="")  # ids joined by ';'
    state: Mapped[ActionState] = mapped_column(_enum(ActionState), default=ActionState.started)
    detail: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = _created_at()
    finished_at: Mapped[dt.datetime | None]


class AccountChange(Base):
    """A change of one facet of an account's state, with its cause.

    ``facet`` is ``shipping_lock`` (values ``locked``/``open``), ``credit_standing``
    (a ``CustomerStatus`` value) or ``credit_limit`` (an amount, or empty for none).
    ``cause`` names what changed it: an action's key, a payment, a person.
    """

    __tablename__ = "account_changes"
    __table_args__ = (Index("ix_account_changes_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"))
    facet: Mapped[str] = mapped_column(String(32))
    changed_on: Mapped[dt.date]
    old_value: Mapped[str] = mapped_column(String(64), default="")
    new_value: Mapped[str] = mapped_column(String(64), default="")
    cause: Mapped[str] = mapped_column(String(250))
    reason: Mapped[str] = mapped_column(Text, default="")
    invoices: Mapped[str] = mapped_column(Text, default="")  # ids joined by ';'
    changed_at: Mapped[dt.datetime] = _created_at()


class EventTaken(Base):
    """An event-triggered step taken: a step that comes on the first run that sees its event.

    A payment, a broken promise, a resolved dispute or a statement state can be
    recorded days after its own date; the step it brings is due on every working
    day from the event's date until a run takes it. Its key (for example
    ``C1:resume:INV-1:promise:2026-11-10``) makes that once.
    """

    __tablename__ = "events_taken"

    event_key: Mapped[str] = mapped_column(String(250), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    action_key: Mapped[str] = mapped_column(String(200))
    taken_on: Mapped[dt.date]


class InstalmentPlan(Base):
    """An instalment plan (分期付款): while every instalment is paid on time it replaces the ladder."""

    __tablename__ = "instalment_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    made_on: Mapped[dt.date]
    note: Mapped[str | None] = mapped_column(Text)

    instalments: Mapped[list[Instalment]] = relationship(cascade="all, delete-orphan", order_by="Instalment.due_on")
    invoices: Mapped[list[InstalmentPlanInvoice]] = relationship(cascade="all, delete-orphan")


class Instalment(Base):
    __tablename__ = "instalments"

    plan_id: Mapped[int] = mapped_column(ForeignKey("instalment_plans.id"), primary_key=True)
    due_on: Mapped[dt.date] = mapped_column(primary_key=True)
    amount: Mapped[Decimal]


class InstalmentPlanInvoice(Base):
    __tablename__ = "instalment_plan_invoices"

    plan_id: Mapped[int] = mapped_column(ForeignKey("instalment_plans.id"), primary_key=True)
    invoice_id: Mapped[str] = mapped_column(ForeignKey("invoices.invoice_id"), primary_key=True)


class OutboxMessage(Base):
    """An email waiting to go out, written in the same transaction as the action that made it.

    Dispatch sends it (SMTP or the outbox folder) and stamps ``sent_at``; the key
    is also the message's Message-ID, so a message is queued once whatever reruns.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(250), unique=True)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    to_address: Mapped[str] = mapped_column(String(200))
    to_name: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    attachment_name: Mapped[str | None] = mapped_column(String(200))
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    queued_at: Mapped[dt.datetime] = _created_at()
    sent_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # The SMTP server's reply to DATA, its acceptance ("250 2.0.0 Ok: queued as 4F1A2B"), at sent_at: the delivery
    # record of an email (huikuan.legal.evidence); None when the outbox folder got it.
    server_reply: Mapped[str | None] = mapped_column(String(500))
    # When the recipient's server refused it for good (5xx to RCPT), or its address was marked bounced before it went:
    # never sent, never retried (huikuan.outbox.bounces).
    bounced_at: Mapped[dt.datetime | None]


class LetterDelivery(Base):
    """The courier's proof that a posted letter reached the customer (送达凭证), recorded by a person.

    ``document_key`` is the letter's outbox key (``<action key>:letter``): the PDF
    posted is the one attached there. A letter restarts the limitation period
    from the day it was delivered (``models.limitation``).
    """

    __tablename__ = "letter_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_key: Mapped[str] = mapped_column(ForeignKey("outbox.key"), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    delivered_on: Mapped[dt.date]
    courier: Mapped[str | None] = mapped_column(String(50))
    tracking_no: Mapped[str] = mapped_column(String(100))
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime] = _created_at()


class CollectionDay(Base):
    """A day the daily collection finished: the run after a gap (a stopped server, a killed worker) does the missed days first."""

    __tablename__ = "collection_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    policy: Mapped[str] = mapped_column(String(200))
    accounts: Mapped[int] = mapped_column(default=0)  # accounts with something due
    taken: Mapped[int] = mapped_column(default=0)  # the day's actions in the ledger when it was last noted done
    problems: Mapped[int] = mapped_column(default=0)  # accounts whose actions could not be taken
    finished_at: Mapped[dt.datetime] = mapped_column(AwareDateTime())


class BankLine(Base):
    """An incoming transfer on the company's bank statement, stored once under its key.

    ``key`` is ``tx:<transaction id>``, or without one a hash of the date, amount,
    payer, reference and its position among identical lines of the statement, so
    that importing a statement again, or one that overlaps it, finds the same row.
    An applied line became the payments in ``payments``; ``note`` says why it was
    applied or why it waits.
    """

    __tablename__ = "bank_lines"
    __table_args__ = (Index("ix_bank_lines_state_booked", "state", "booked_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(250), unique=True)
    transaction_id: Mapped[str | None] = mapped_column(String(64), index=True)
    booked_on: Mapped[dt.date]
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    payer: Mapped[str] = mapped_column(String(200), default="")
    payer_account: Mapped[str] = mapped_column(String(64), default="", index=True)
    reference: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(300))  # the file and row it was first read from
    state: Mapped[BankLineState] = mapped_column(_enum(BankLineState), default=BankLineState.waiting)
    customer_id: Mapped[str | None] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(64))  # "auto" or the person who matched it
    decided_on: Mapped[dt.date | None]
    imported_at: Mapped[dt.datetime] = _created_at()

    payments: Mapped[list[BankLinePayment]] = relationship(cascade="all, delete-orphan", order_by="BankLinePayment.payment_id")


class BankLinePayment(Base):
    """A payment an applied bank line became (one, or one per invoice when it paid invoices that oldest-first would not)."""

    __tablename__ = "bank_line_payments"

    line_id: Mapped[int] = mapped_column(ForeignKey("bank_lines.id"), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.payment_id"), primary_key=True, unique=True)


class PayerAccount(Base):
    """A bank account known to pay for a customer: remembered when finance matches a line from it."""

    __tablename__ = "payer_accounts"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), primary_key=True, index=True)
    payer: Mapped[str] = mapped_column(String(200), default="")  # the name the bank gave with it
    remembered_on: Mapped[dt.date]
    remembered_by: Mapped[str | None] = mapped_column(String(64))


class UnappliedCredit(Base):
    """A movement of a customer's unapplied credit: money received beyond what it paid on invoices.

    ``amount`` > 0: kept, when finance matched a bank line (``line_id``) that paid
    more than was open (the open invoices paid oldest first, the rest kept here).
    ``amount`` < 0: used, when finance applied the credit to invoices as the payment
    ``payment_id``. The customer's credit is the sum. ``key`` (``line:<id>``,
    ``used:<payment id>``) makes each movement recorded once.
    """

    __tablename__ = "unapplied_credits"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(120), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.customer_id"), index=True)
    amount: Mapped[Decimal]
    line_id: Mapped[int | None] = mapped_column(ForeignKey("bank_lines.id"))
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.payment_id"))
    recorded_on: Mapped[dt.date]
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[dt.datetime] = _created_at()
