"""Emails and letters to customers and to our own people, from Jinja2 templates; letters as PDF.

Templates live in ``templates/<locale>/`` (``zh_CN`` first, ``en``), the same file
names in each locale: ``<kind>.subject.j2``, ``<kind>.txt.j2`` and ``<kind>.html.j2``
for an email, ``<kind>.letter.j2`` for a letter, and partials starting with ``_``.
A missing variable is an error, never a blank: the environment is strict, and an
optional field of the context that is ``None`` is not passed at all, so a template
that needs it raises ``jinja2.UndefinedError`` instead of printing "None".

A letter is rendered to a small HTML subset that is both readable in a browser and
laid out as a one-page A4 PDF by :func:`huikuan.documents.pdf.letter_pdf`:

- ``<h1>`` the letter's title (exactly one);
- ``<p>`` a paragraph; class ``ref`` (right-aligned date line), ``to`` (the
  addressee block), ``amount`` (the amount owed, boxed and large), ``center``
  (a centred heading), ``note`` (small); two leading ideographic spaces indent
  the first line, as Chinese paragraphs are;
- inline ``<strong>``/``<b>``, ``<em>``/``<i>``, ``<u>``, ``<br/>`` and
  ``<span class="amount">`` (the amount owed, large and dark red);
- ``<table>`` of ``<tr>`` (class ``total`` for a sum row) with ``<th>``/``<td>``
  (class ``num`` right-aligns a number);
- ``<div class="signature">`` (right half of the page), ``<div class="slip">``
  (a boxed reply slip), ``<hr class="cut"/>`` (a dashed cut line), ``<article>``;
- ``<div class="schedule">`` last: a schedule (附件) on the pages after the letter,
  e.g. every open invoice of a statement-confirmation letter; the letter itself
  still keeps to one page.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import pass_context
from jinja2.runtime import Context

from huikuan.documents.i18n import label
from huikuan.documents.markup import blocks_text, parse_letter, walk
from models import money
from models.charges import Charge, percent_text
from models.enums import STATEMENT_EMAILS

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates"
LOCALES = ("zh_CN", "en")
EMAIL_KINDS: tuple[str, ...] = (
    "reminder",
    "follow_up",
    "send_statement",
    "statement_follow_up",
    "send_invoice_info",
    "payment_notice",
    "escalation",
    "approval_request",
    "lock_lifted",
)
LETTER_KINDS: tuple[str, ...] = ("dunning_letter", "statement_letter", "lawyer_letter", "urgent_letter", "stern_letter", "final_notice")
# Kind-specific values of render_email: (required, optional).
EMAIL_EXTRAS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "send_statement": (("confirm_by",), ("statement_url",)),  # statement_url: the customer's page (huikuan web)
    "statement_follow_up": (("confirm_by",), ("statement_url",)),
    "escalation": (("action", "reason", "role"), ()),
    "lock_lifted": (
        ("locked_on",),
        ("reason", "by"),
    ),  # by: the person who lifted it (else its debts were paid)  # the reason (the engine's, in English) is shown in English mail only
    "approval_request": (("code", "decision", "form_url"), ("approver", "preview_text", "expires_on", "web_url")),  # web_url: the approver's page
}
# A letter lists its oldest invoices and sums up the rest in one row, so that it keeps to one page.
LETTER_MAX_ROWS = 8
EMAIL_MAX_ROWS = 20

CENT = Decimal("0.01")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
_HONORIFICS_ZH = ("副总经理", "总经理", "董事长", "总裁", "总监", "经理", "主管", "主任", "会计", "出纳", "律师", "部长", "处长", "科长", "厂长", "老板")


@dataclass(frozen=True)
class Party:
    """A person writing or addressed: name, and the title and contacts a letter shows."""

    name: str
    title: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True)
class InvoiceLine:
    invoice_id: str
    issued_on: dt.date
    due_on: dt.date
    amount: Decimal
    open_amount: Decimal
    days_overdue: int


@dataclass(frozen=True)
class DocumentContext:
    """Everything a document says, as of ``today``; optional fields are ``None`` when unknown."""

    kind: str
    locale: str
    today: dt.date
    company: str
    company_address: str
    customer_name: str
    addressee: Party
    sender: Party
    currency: str = "CNY"
    invoices: tuple[InvoiceLine, ...] = ()
    pay_by: dt.date | None = None
    statement_month: str | None = None
    statement_lines: tuple[tuple[dt.date, str, Decimal], ...] = ()
    tracking_no: str | None = None
    last_contact: str | None = None
    promise: str | None = None
    charges: tuple[Charge, ...] = ()  # a letter's late-payment charges to ``today`` (huikuan.legal.standing.letter_charges); () without terms

    @property
    def total_open(self) -> Decimal:
        return sum((line.open_amount for line in self.invoices), Decimal("0"))


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class RenderedLetter:
    """A letter's title and body in the letter markup of this module (see the module's docstring)."""

    title: str
    html: str

    @property
    def text(self) -> str:
        """The letter as plain text, e.g. the preview an approver reads."""
        return blocks_text(parse_letter(self.html))


# --- The environment and its filters -------------------------------------------------------


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith((".html.j2", ".letter.j2", ".html"))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one Jinja2 environment: strict, HTML and letters escaped, plain text and subjects not.

    The templates are the package's own files: each is compiled once, never checked again for a change
    (``auto_reload`` would stat its file at every render, 5% of taking a day's actions, issue #18).
    """
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        auto_reload=False,
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(money=_money, capital=_capital_filter, longdate=_longdate, longmonth=_longmonth, honorific=_honorific, label=_label, age=_age)
    return env


def template_names(locale: str) -> list[str]:
    """The template files of one locale, relative to its folder."""
    folder = TEMPLATE_DIR / locale
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*.j2"))


def _check_money(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"money must be a Decimal (or int), not {type(value).__name__}: {value!r}")
    return Decimal(value).quantize(CENT, ROUND_HALF_UP)


def format_money(value: Decimal | int, locale: str, currency: str = "CNY") -> str:
    """``models.money.format_money`` (the one money format) in the documents' argument order."""
    return money.format_money(value, currency, locale)


def format_date(day: dt.date, locale: str) -> str:
    """``2026年11月30日`` in Chinese, ``30 November 2026`` in English."""
    if not isinstance(day, dt.date):
        raise TypeError(f"a calendar date is needed, not {day!r}")
    if locale == "zh_CN":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"


_DIGITS_ZH = "零壹贰叁肆伍陆柒捌玖"
_UNITS_ZH = ("", "拾", "佰", "仟")
_GROUPS_ZH = ("", "万", "亿", "万亿")


def _capital_group(number: int) -> str:
    text, zero = "", False
    for power in (3, 2, 1, 0):
        digit = number // 10**power % 10
        if digit == 0:
            zero = zero or bool(text)
            continue
        text += ("零" if zero else "") + _DIGITS_ZH[digit] + _UNITS_ZH[power]
        zero = False
    return text


def capital_yuan(value: Decimal | int) -> str:
    """The amount in Chinese capital numerals as on a cheque: ``壹万贰仟叁佰肆拾伍元伍角整``."""
    amount = _check_money(value)
    if amount < 0:
        return "负" + capital_yuan(-amount)
    yuan = int(amount)
    jiao, fen = divmod(int((amount - yuan) * 100), 10)
    groups = []
    while yuan:
        yuan, group = divmod(yuan, 10000)
        groups.append(group)
    text, gap = "", False
    for index in reversed(range(len(groups))):
        group = groups[index]
        if group == 0:
            gap = bool(text)
            continue
        if text and (gap or group < 1000):
            text += "零"
        text += _capital_group(group) + _GROUPS_ZH[index]
        gap = False
    text = (text or "零") + "元"
    if jiao == fen == 0:
        return text + "整"
    if jiao:
        text += _DIGITS_ZH[jiao] + "角"
    elif text != "零元":
        text += "零"
    if text.startswith("零元"):
        text = text[2:]
    return text + (_DIGITS_ZH[fen] + "分" if fen else "整")


def _defined(value: Any) -> Any:
    """A filter's input must exist: a missing value raises here rather than being formatted."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    return value


@pass_context
def _money(context: Context, value: Decimal | int, currency: str | None = None) -> str:
    return format_money(_defined(value), context["locale"], currency or context["currency"])


@pass_context
def _capital_filter(context: Context, value: Decimal | int) -> str:
    if context["currency"] != "CNY":
        raise ValueError(f"capital numerals are for yuan, not {context['currency']}")
    return "人民币" + capital_yuan(_defined(value))


@pass_context
def _longdate(context: Context, day: dt.date) -> str:
    return format_date(_defined(day), context["locale"])


@pass_context
def _longmonth(context: Context, month: str) -> str:
    year, number = (int(part) for part in _defined(month).split("-"))
    if context["locale"] == "zh_CN":
        return f"{year}年{number}月"
    return f"{_MONTHS_EN[number - 1]} {year}"


@pass_context
def _honorific(context: Context, party: dict[str, str]) -> str:
    """How a person is addressed: ``王伟经理`` (or ``王伟先生/女士``), ``Wang Wei``."""
    name = _defined(party)["name"]
    if context["locale"] != "zh_CN":
        return name
    title = party.get("title", "")
    for honorific in _HONORIFICS_ZH:
        if title.endswith(honorific):
            return name + honorific
    return name + "先生/女士"


@pass_context
def _label(context: Context, value: str) -> str:
    """An action or role id (``notify_gm``, ``gm``) in the locale's words, from the message catalogue; other text as it is."""
    return label(_defined(value), context["locale"])


@pass_context
def _age(context: Context, days: int) -> str:
    zh = context["locale"] == "zh_CN"
    if _defined(days) > 0:
        return f"逾期 {days} 天" if zh else f"{days} day{'s' if days > 1 else ''} overdue"
    if days == 0:
        return "今日到期" if zh else "due today"
    return "未到期" if zh else "not yet due"


# --- Rendering -----------------------------------------------------------------------------


def _party(party: Party) -> dict[str, str]:
    return {key: value for key, value in asdict(party).items() if value is not None}


def _variables(context: DocumentContext, extra: dict[str, Any], max_rows: int) -> dict[str, Any]:
    if context.locale not in LOCALES:
        raise ValueError(f"unknown locale {context.locale!r}; one of {LOCALES}")
    if context.statement_month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", context.statement_month):
        raise ValueError(f"statement_month must be YYYY-MM, not {context.statement_month!r}")
    oldest_first = sorted(context.invoices, key=lambda line: (line.due_on, line.invoice_id))
    rows, rest = oldest_first[:max_rows], oldest_first[max_rows:]
    variables: dict[str, Any] = {
        "kind": context.kind,
        "locale": context.locale,
        "today": context.today,
        "company": context.company,
        "company_address": context.company_address,
        "customer_name": context.customer_name,
        "addressee": _party(context.addressee),
        "sender": _party(context.sender),
        "currency": context.currency,
        "invoices": oldest_first,
        "rows": rows,
        "total_amount": sum((line.amount for line in context.invoices), Decimal("0")),
        "total_open": context.total_open,
        "pay_by": context.pay_by,
        "statement_month": context.statement_month,
        "tracking_no": context.tracking_no,
        "last_contact": context.last_contact,
        "promise": context.promise,
    }
    if rest:
        variables["rest"] = {
            "count": len(rest),
            "amount": sum((line.amount for line in rest), Decimal("0")),
            "open_amount": sum((line.open_amount for line in rest), Decimal("0")),
        }
    if oldest_first:
        variables["first_due"] = oldest_first[0].due_on
        variables["oldest_days"] = max(line.days_overdue for line in oldest_first)
    if context.charges:
        variables["charges"] = _charges(context.charges)
    if context.statement_lines:
        variables["statement_lines"] = sorted(context.statement_lines, key=lambda line: line[0])
        variables["statement_total"] = sum((line[2] for line in context.statement_lines), Decimal("0"))
    clash = sorted(set(extra) & set(variables))
    if clash:
        raise TypeError(f"extra values may not replace the context's: {clash}")
    variables.update({key: _party(value) if isinstance(value, Party) else value for key, value in extra.items()})
    return {key: value for key, value in variables.items() if value is not None}


def _charges(charges: tuple[Charge, ...]) -> dict[str, Any] | None:
    """What ``_charges.letter.j2`` shows: the principal, the charge to the letter's day, the total, and the contract's terms.

    None (nothing shown) when nothing is charged yet (within the grace days).
    """
    charge = sum((c.amount for c in charges), Decimal("0"))
    if charge <= 0:
        return None
    terms = charges[0].terms
    principal = sum((c.principal_open for c in charges), Decimal("0"))
    return {
        "as_of": charges[0].as_of,
        "principal": principal,
        "amount": charge,
        "total": principal + charge,
        "rate": percent_text(terms.rate),
        "per": terms.per,
        "grace_days": terms.grace_days,
        "cap_ratio": percent_text(terms.cap_ratio) if terms.cap_ratio is not None else None,
        "cap_amount": terms.cap_amount,
        "capped": any(c.capped for c in charges),
        "clause": terms.clause,
    }


def _render(name: str, variables: dict[str, Any]) -> str:
    try:
        return environment().get_template(name).render(variables)
    except jinja2.UndefinedError as exc:
        raise jinja2.UndefinedError(f"{name}: {exc.message}") from exc


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)) + "\n"


def render_email(context: DocumentContext, **extra: Any) -> RenderedEmail:
    """The subject, plain text and HTML of an email of ``context.kind`` (one of ``EMAIL_KINDS``).

    Args:
        context: what the email says and to whom.
        **extra: the kind's own values (``EMAIL_EXTRAS``): ``confirm_by`` (a date) for the
            statement emails; ``action``, ``reason``, ``role`` for ``escalation``;
            ``code``, ``decision``, ``form_url`` and optionally ``approver`` (a name or
            a ``Party``), ``preview_text``, ``expires_on`` for ``approval_request``.

    Raises:
        jinja2.UndefinedError: a value the template needs is missing (e.g. ``pay_by``).
        ValueError: unknown kind or locale, or no invoices / statement lines to speak of.
        TypeError: an extra value unknown or missing, or a float where money is expected.
    """
    if context.kind not in EMAIL_KINDS:
        raise ValueError(f"unknown email kind {context.kind!r}; one of {EMAIL_KINDS}")
    required, optional = EMAIL_EXTRAS.get(context.kind, ((), ()))
    unknown = sorted(set(extra) - set(required) - set(optional))
    if unknown:
        raise TypeError(f"{context.kind} takes no extra values {unknown}; it takes {required + optional}")
    missing = [name for name in required if extra.get(name) is None]
    if missing:
        raise TypeError(f"{context.kind} needs the extra values {missing}")
    if context.kind in STATEMENT_EMAILS and not context.statement_lines:
        raise ValueError(f"{context.kind} needs the statement's lines")
    # An unconfirmed statement is escalated before any invoice exists.
    about_statement = context.kind in STATEMENT_EMAILS or (context.kind in ("escalation", "approval_request") and context.statement_lines)
    if not about_statement and not context.invoices and context.kind != "lock_lifted":  # a lock lifted by a person may name no debt
        raise ValueError(f"{context.kind} needs the invoices it is about")
    variables = _variables(context, extra, EMAIL_MAX_ROWS)
    base = f"{context.locale}/{context.kind}"
    subject = " ".join(_render(f"{base}.subject.j2", variables).split())
    variables["subject"] = subject
    return RenderedEmail(subject=subject, text=_tidy(_render(f"{base}.txt.j2", variables)), html=_tidy(_render(f"{base}.html.j2", variables)))


def render_approval_list(
    locale: str,
    *,
    company: str,
    addressee: Party,
    action: str,
    requested_on: dt.date,
    rows: list[dict[str, str]],
    total: str,
    max_rows: int,
    key: str,
    code: str | None = None,
    form_url: str = "",
    reason: str | None = None,
    web_url: str = "",
) -> RenderedEmail:
    """The email with a list of requests decided together: to the approver with its one-time code, or (``reason``) to the GM when unanswered.

    ``web_url``: the approver's page of the list (``huikuan web``), with the request.

    ``rows`` are already formatted (customer, name, about, amount, collector): a list mixes customers and currencies.
    """
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}; one of {LOCALES}")
    if (code is None) == (reason is None):
        raise TypeError("an approval list is either a request (code) or an escalation (reason)")
    variables = {
        "locale": locale,
        "currency": "CNY",
        "company": company,
        "addressee": _party(addressee),
        "action": action,
        "requested_on": requested_on,
        "rows": rows,
        "total": total,
        "max_rows": max_rows,
        "key": key,
        "form_url": form_url,
        "code": code,
        "reason": reason,
        "web_url": web_url,
    }
    variables = {name: value for name, value in variables.items() if value is not None}
    subject = " ".join(_render(f"{locale}/approval_list.subject.j2", variables).split())
    variables["subject"] = subject
    return RenderedEmail(
        subject=subject, text=_tidy(_render(f"{locale}/approval_list.txt.j2", variables)), html=_tidy(_render(f"{locale}/approval_list.html.j2", variables))
    )


def render_letter(context: DocumentContext) -> RenderedLetter:
    """A letter of ``context.kind`` (one of ``LETTER_KINDS``); it asks for payment by ``context.pay_by``.

    More than ``LETTER_MAX_ROWS`` invoices are listed oldest first and the rest summed
    up in one row, so that the letter keeps to one page.

    Raises:
        jinja2.UndefinedError: a value the template needs is missing (e.g. ``pay_by``).
        ValueError: unknown kind or locale, or no invoices.
    """
    if context.kind not in LETTER_KINDS:
        raise ValueError(f"unknown letter kind {context.kind!r}; one of {LETTER_KINDS}")
    if not context.invoices:
        raise ValueError(f"{context.kind} needs the invoices it is about")
    markup = _tidy(_render(f"{context.locale}/{context.kind}.letter.j2", _variables(context, {}, LETTER_MAX_ROWS)))
    titles = [block for block in walk(parse_letter(markup)) if block.tag == "h1"]
    if len(titles) != 1:
        raise ValueError(f"{context.kind}: a letter has exactly one <h1> title, found {len(titles)}")
    title = re.sub(r"(?<=[\u3000-\u9fff])\s+(?=[\u3000-\u9fff])", "", " ".join(titles[0].text.split()))
    return RenderedLetter(title=title, html=markup)
