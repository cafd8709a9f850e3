"""The message catalogue: every text our own people read, in the company's locale.

The source language is English: a message id is the English text (``{named}`` fields
for its values), written where the text is meant (``models.texts.Text``, the
``Reason`` codes of the policy engine, report titles and notes, the product's words
in ``TERMS``). Translations live in one gettext catalogue per locale,
``huikuan/documents/locales/<locale>/LC_MESSAGES/huikuan.po``, read with Babel; a message it
does not have (a company's own policy text) is shown as written. ``tests/test_locale_texts.py``
extracts the messages from the code and the built-in policies and checks that the
catalogue translates each one with the same fields.

Who reads decides the locale: the company's people (internal emails, reports, the
terminal tables) read the company file's ``locale`` (zh_CN by default); an approver
reads the approval emails and pages, and a collector the web service's notices, in
their own ``locale:`` when the company file gives one (``person_locale``);
customers read their own, from the templates (``templates/<locale>/``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from models.texts import N_, Term, Text

if TYPE_CHECKING:
    from huikuan.ledger.company import Company, Person

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
SOURCE_LOCALE = "en"  # the message ids are English: no catalogue needed
DOMAIN = "huikuan"
LOCALE_DIR = Path(__file__).resolve().parent / "locales"

# The product's words (actions, roles, channels, segments, states), by id: the English a
# person reads, translated by the catalogue. An id not here is looked up as it is.
TERMS: dict[str, str] = {
    # roles
    "collector": N_("collector"),
    "supervisor": N_("supervisor"),
    "manager": N_("manager"),
    "gm": N_("general manager"),
    "boss": N_("owner"),
    "finance": N_("finance"),
    "system": N_("system"),
    "shipping": N_("shipping"),
    # actions of the built-in policies
    "prepare_statement": N_("prepare the statement"),
    "send_statement": N_("review and send the statement"),
    "statement_follow_up": N_("statement follow-up"),
    "escalate_statement": N_("unconfirmed statement escalated to the supervisor"),
    "issue_invoice": N_("issue the invoice"),
    "send_invoice_info": N_("send the invoice's mailing details"),
    "reminder": N_("reminder"),
    "follow_up": N_("follow-up"),
    "escalate_supervisor": N_("escalation to the supervisor"),
    "visit": N_("on-site visit"),
    "notify_manager": N_("manager asked to help"),
    "notify_gm": N_("general manager notified"),
    "stop_shipment": N_("lock the account and stop shipments"),
    "dunning_letter": N_("send a dunning letter"),
    "statement_letter": N_("send a statement-confirmation letter"),
    "lawyer_letter": N_("have our lawyer send a lawyer's letter"),
    "urgent_letter": N_("send an urgent letter"),
    "stern_letter": N_("send a stern letter"),
    "final_notice": N_("send the final notice"),
    "payment_notice": N_("payment notice"),
    "suspend_credit": N_("suspend credit sales"),
    "stop_credit": N_("stop credit sales"),
    "cut_credit_limit": N_("cut the credit limit by 40%"),
    "blacklist": N_("blacklist the customer (cash only)"),
    "litigation": N_("sue or hand over to a collection agency"),
    "lift_lock": N_("lift the lock and resume shipments"),
    "limitation_warning": N_("limitation period ending: send a written demand now"),
    # channels
    "email": N_("email"),
    "phone": N_("phone"),
    "email+phone": N_("email and phone"),
    "letter": N_("letter"),
    "internal": N_("internal"),
    # segments and account states
    "key": N_("key account"),
    "ordinary": N_("ordinary"),
    "high_risk": N_("high risk"),
    "small": N_("small"),
    "active": N_("active"),
    "credit_suspended": N_("credit suspended"),
    "cash_only": N_("cash only"),
    "blacklisted": N_("blacklisted"),
    # settlements
    "monthly_statement": N_("monthly statement"),
    "per_invoice": N_("per invoice"),
    "per_receipt": N_("per delivery receipt"),
}


@lru_cache(maxsize=None)
def catalogue(locale: str) -> Catalog | None:
    """The catalogue of ``locale`` (None for the source language, English)."""
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}; one of {LOCALES}")
    if locale == SOURCE_LOCALE:
        return None
    with (LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as file:
        return read_po(file, locale=locale, domain=DOMAIN)


def gettext(msgid: str, locale: str) -> str:
    """``msgid`` in ``locale``: the catalogue's translation, else the message id (English) itself."""
    found = catalogue(locale)
    message = found.get(msgid) if found is not None and msgid else None
    if message is None or not message.string or message.fuzzy:
        return msgid
    return message.string


def render(text: Any, locale: str) -> str:
    """A text in ``locale``: a ``Text`` from the catalogue with its values, a ``Term`` in the locale's words, anything else as written."""
    if isinstance(text, Text):
        template = gettext(text.msgid, locale)
        return template.format(**{name: value(item, locale) for name, item in text.params.items()}) if text.params else template
    if isinstance(text, Term):
        return str(text) if locale == SOURCE_LOCALE else label(text, locale)  # English tables and reasons have always named the id
    return value(text, locale)


def render_all(texts: Iterable[Any], locale: str) -> str:
    """Several texts (an action's reasons) as one line."""
    return separator(locale).join(render(text, locale) for text in texts)


def separator(locale: str) -> str:
    return "；" if locale == "zh_CN" else "; "


def value(item: Any, locale: str) -> str:
    """A value inside a text: dates as the locale writes them (English keeps ISO), amounts with separators, lists joined."""
    if isinstance(item, (Text, Term)):
        return render(item, locale)
    if isinstance(item, dt.date):
        return format_date(item, "long", locale=locale) if locale == "zh_CN" else item.isoformat()
    if isinstance(item, Decimal):
        return f"{item:,.2f}"
    if isinstance(item, (tuple, list)):
        return ("、" if locale == "zh_CN" else ", ").join(value(each, locale) for each in item)
    return str(item)


def label(term: str, locale: str) -> str:
    """An action, role, channel, segment or state id in the locale's words, as an email says it (an unknown id as it is)."""
    return gettext(TERMS.get(term, term), locale)


def column(column_id: str, locale: str) -> str:
    """A report or table column for people: the catalogue's header of the column id (English: the id)."""
    return gettext(column_id, locale)


def yes_no(flag: bool, locale: str) -> str:
    return gettext(N_("yes") if flag else N_("no"), locale)


def company_locale(company: Company | None) -> str:
    """The locale of the company's people: the company file's ``locale``, zh_CN without a company file."""
    return company.locale if company is not None else DEFAULT_LOCALE


def person_locale(company: Company, person: Person) -> str:
    """The locale one of the company's people reads (their emails and pages): their own ``locale:`` in the company file, else the company's."""
    return person.locale or company.locale


def reader_locale() -> str:
    """The locale of the people at the terminal: the company file's (``HUIKUAN_COMPANY_FILE``), zh_CN without one.

    Raises:
        CompanyFileError: the company file is invalid.
    """
    from huikuan.ledger.company import company_from
    from huikuan.ledger.settings import get_settings

    path = get_settings().company_file
    return company_from(str(path.resolve())).locale if path.exists() else DEFAULT_LOCALE
