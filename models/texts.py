"""Texts people read, as data: a message and its values, said in the reader's language at the edge.

Pure code says what it means, not how it reads: ``Text("invoice {invoice} is {age}; {step}",
invoice="INV-1", age=Text("{days} days overdue", days=62), step=Text(step.reason))``. The
message id is the English source text with ``{named}`` fields; ``huikuan.documents.i18n.render``
looks it up in the message catalogue (``huikuan/documents/locales``) and fills in the values in the
reader's locale: a nested ``Text`` is rendered the same way, a ``Term`` (an action or a
role: ``notify_gm``) in the locale's words, a date, a number or a list as that locale
writes them.

A ``Text`` is also its English string (ids as ids, dates ISO), unchanged from before
texts were data: programs that read it (the plan's JSON, the ledger's action details,
the credit API) see what they always saw.

``Reason`` is a ``Text`` with a stable ``code``: why the policy calls for an action.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def N_(msgid: str) -> str:
    """Marks an English source text for the message catalogue (the extraction finds it); returns it unchanged."""
    return msgid


class Term(str):
    """A word of the product (an action, a role, a segment, a status: ``notify_gm``): its id in English, the locale's word for people."""

    __slots__ = ()


class Text(str):
    """A message (the English source text, ``{named}`` fields) with its values; the string is the English text."""

    msgid: str
    params: Mapping[str, Any]

    def __new__(cls, msgid: str, /, **params: Any) -> Text:
        self = str.__new__(cls, _english(msgid, params))
        self.msgid = msgid
        self.params = params
        return self

    def __reduce__(self):  # a str subclass with fields: pickled (Prefect's task results) with them
        return _text, (type(self), self.msgid, dict(self.params), getattr(self, "code", None))


def _text(cls: type[Text], msgid: str, params: dict[str, Any], code: str | None) -> Text:
    if code is not None:
        return cls(code, **params)
    return Text(msgid, **params)


def _english(msgid: str, params: Mapping[str, Any]) -> str:
    """The English text: ``msgid`` with its values as ``english_value`` writes them."""
    if not params:
        return msgid
    if _AS_THEY_ARE.issuperset(map(type, params.values())):
        return msgid.format_map(params)  # english_value would copy each into a plain str of the same characters
    return msgid.format(**{name: english_value(value) for name, value in params.items()})


def english_value(value: Any) -> str:
    """A value inside an English text as programs have always read it: dates ISO, lists joined by ", ", the rest as str()."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return ", ".join(english_value(item) for item in value)
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


# Why the policy calls for an action, by code. The texts are the English the engine always
# wrote; ``step`` is the step's own reason (a ``Text`` of the policy's words) or its action.
REASONS: dict[str, str] = {
    "invoice_age": N_("invoice {invoice} is {age}; {step}"),
    "limitation_date": N_("{reason} (limitation date {date})"),
    "resumed": N_("invoice {invoice}: {pause} is over; {action} at once"),
    "resumed_late": N_("invoice {invoice}: {pause} is over (due since {since}: recorded late); {action} at once"),
    "paid_in_full": N_("invoice {invoice} was paid in full on {paid_on}; {step}"),
    "lock_paid": N_("locked since {locked_on} for {debts}, all paid by {paid_on}; {step}"),
    "statement": N_("statement {month}: {step}"),
    "statement_readdressed": N_("statement {month}: its email bounced on {bounced_on} and the address was fixed on {fixed_on}; {step}"),
    "missed": N_("missed before huikuan: due on {due_on} (invoice {invoice}, {days} days overdue); {step}"),
    # Why an invoice is paused (the value ``pause`` above, and explain's "paused: ...").
    "disputed": N_("disputed since {opened_on}"),
    "promise": N_("promise of {amount} by {due_on}"),
    "promise_kept": N_("promise of {amount} by {due_on} (kept {kept_on})"),
    "plan_missed": N_("instalment plan of {made_on}: the instalment due {due_on} was missed"),
    "plan_kept": N_("instalment plan of {made_on}, kept"),
    # The invoice's age inside ``invoice_age``.
    "overdue": N_("{days} days overdue"),
    "due_today": N_("due today"),
    "due_in": N_("due in {days} days"),
    # An approval request nobody answered (to the general manager).
    "unanswered": N_("the request to {action} (for the {role}) since {requested_on} is unanswered: {what}"),
    "unanswered_list": N_("the list {key} ({count} requests to {action}, for the {role}) since {requested_on} is unanswered: {what}"),
    "expired": N_("expired"),
    "reminder": N_("reminder {count}"),
    "run_ended": N_("its waiting run {run} ended without a decision ({why}); the next daily run asks again with a new code"),
    "lift_approved_by": N_("lift approved by {person}"),
    "lifted_by": N_("lifted by {person}: {note}"),
    # A customer email not sent: its address is known to bounce (to the collector, huikuan.outbox.bounces).
    "email_bounced": N_("{address} bounced on {since}: the {action} was not emailed to the customer; reach them another way and correct the address"),
    "statement_email_bounced": N_(
        "{address} bounced on {since}: the statement {month} ({action}) was not emailed to the customer; reach them another way and correct the address"
    ),
}


class Reason(Text):
    """Why: a ``code`` of ``REASONS`` and its values; the string is the English text."""

    code: str

    def __new__(cls, code: str, /, **params: Any) -> Reason:
        return cls.written(code, _english(REASONS[code], params), **params)

    @classmethod
    def written(cls, code: str, english: str, /, **params: Any) -> Reason:
        """``Reason(code, **params)`` whose English the caller has already written, the same string (a hot path that keeps the text around its values)."""
        self = str.__new__(cls, english)
        self.msgid = REASONS[code]
        self.params = params
        self.code = code
        return self


# Values that ``str.format`` writes as ``english_value`` does: strings and texts (none changes how it is formatted).
_AS_THEY_ARE = frozenset({str, Text, Reason, Term})


def step_text(reason: str, action: str) -> Text | Term:
    """A step's own words: its reason (the policy's text, looked up in the catalogue), or its action when it gives none."""
    return Text(reason) if reason else Term(action)
