"""The closed vocabularies of the ledger (stored as their string values)."""

from __future__ import annotations

from enum import StrEnum


class Locale(StrEnum):
    zh_CN = "zh_CN"
    en = "en"


class Settlement(StrEnum):
    monthly_statement = "monthly_statement"
    per_receipt = "per_receipt"  # settled against delivery receipts (根据回单结算)
    per_invoice = "per_invoice"


class Segment(StrEnum):
    key = "key"
    ordinary = "ordinary"
    high_risk = "high_risk"
    small = "small"


class CustomerStatus(StrEnum):
    active = "active"
    credit_suspended = "credit_suspended"  # sales told to stop selling on credit
    cash_only = "cash_only"
    blacklisted = "blacklisted"  # 黑名单: credit cancelled, cash only
    locked = "locked"  # 系统锁定无法出库: no shipment may leave


class StatementState(StrEnum):
    prepared = "prepared"
    reviewed = "reviewed"
    sent = "sent"
    confirmed = "confirmed"  # with the customer's invoicing info (开票信息)
    invoiced = "invoiced"
    invoice_mailed = "invoice_mailed"


# The actions whose email is a month's statement (its lines, its link to confirm it), not a demand on invoices.
STATEMENT_EMAILS = ("send_statement", "statement_follow_up")


class Channel(StrEnum):
    phone = "phone"
    email = "email"
    visit = "visit"


class ContactResult(StrEnum):
    reached = "reached"
    unreachable = "unreachable"
    promised = "promised"
    disputed = "disputed"
    refused = "refused"


class Excuse(StrEnum):
    """The six evasions of the handbook (躲, 拉, 赖, 拖, 推, 磨)."""

    duo = "duo"  # 躲: dodges calls and visits
    la = "la"  # 拉: stalls with talk of relationship and future business
    lai = "lai"  # 赖: denies or disowns the debt
    tuo = "tuo"  # 拖: delays, "next week"
    tui = "tui"  # 推: shifts to someone else (boss away, finance busy)
    mo = "mo"  # 磨: wears the collector down, haggles endlessly

    @property
    def label(self) -> str:
        return {"duo": "躲", "la": "拉", "lai": "赖", "tuo": "拖", "tui": "推", "mo": "磨"}[self.value]


class ApprovalState(StrEnum):
    requested = "requested"
    approved = "approved"
    denied = "denied"
    expired = "expired"


class ActionState(StrEnum):
    started = "started"  # claimed by its key; the side effect may or may not have happened
    done = "done"
    failed = "failed"


class BankLineState(StrEnum):
    """Where an incoming line of the bank's statement stands (huikuan bank)."""

    applied = "applied"  # recorded as a payment of one customer
    waiting = "waiting"  # for finance: customer or invoices not certain
    ignored = "ignored"  # not a customer's payment (a refund, interest, a transfer between own accounts)
