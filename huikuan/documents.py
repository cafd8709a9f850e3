"""Emails and letters to customers and to our own people, from Jinja2 templates; letters as PDF.

Templates live in ``templates/<locale>/`` (``zh_CN`` first, ``en``), the same file
names in each locale: ``<kind>.subject.j2``, ``<kind>.txt.j2`` and ``<kind>.html.j2``
for an email, ``<kind>.letter.j2`` for a letter, and partials starting with ``_``.
A missing variable is an error, never a blank: the environment is strict, and an
optional field of the context that is ``None`` is not passed at all, so a template
that needs it raises ``jinja2.UndefinedError`` instead of printing "None".

A letter is rendered to a small HTML subset that is both readable in a browser and
laid out as a one-page A4 PDF by :func:`letter_pdf`:

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
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import jinja2
from jinja2 import pass_context
from jinja2.runtime import Context

from huikuan.i18n import label
from models import money
from models.charges import Charge, percent_text

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
LOCALES = ("zh_CN", "en")
EMAIL_KINDS: tuple[str, ...] = (
    "reminder", "follow_up", "send_statement", "statement_follow_up", "send_invoice_info",
    "payment_notice", "escalation", "approval_request", "lock_lifted",
)
LETTER_KINDS: tuple[str, ...] = (
    "dunning_letter", "statement_letter", "lawyer_letter", "urgent_letter", "stern_letter", "final_notice",
)
# Kind-specific values of render_email: (required, optional).
EMAIL_EXTRAS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "send_statement": (("confirm_by",), ("statement_url",)),  # statement_url: the customer's page (huikuan web)
    "statement_follow_up": (("confirm_by",), ("statement_url",)),
    "escalation": (("action", "reason", "role"), ()),
    "lock_lifted": (("locked_on",), ("reason", "by")),  # by: the person who lifted it (else its debts were paid)  # the reason (the engine's, in English) is shown in English mail only
    "approval_request": (("code", "decision", "form_url"), ("approver", "preview_text", "expires_on", "web_url")),  # web_url: the approver's page
}
_STATEMENT_KINDS = ("send_statement", "statement_follow_up")
# A letter lists its oldest invoices and sums up the rest in one row, so that it keeps to one page.
LETTER_MAX_ROWS = 8
EMAIL_MAX_ROWS = 20

CENT = Decimal("0.01")
_MONTHS_EN = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
_HONORIFICS_ZH = (
    "副总经理", "总经理", "董事长", "总裁", "总监", "经理", "主管", "主任", "会计", "出纳",
    "律师", "部长", "处长", "科长", "厂长", "老板",
)


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
        return _blocks_text(_parse_letter(self.html))


# --- The environment and its filters -------------------------------------------------------


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith((".html.j2", ".letter.j2", ".html"))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one Jinja2 environment: strict, HTML and letters escaped, plain text and subjects not."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=_autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        money=_money, capital=_capital_filter, longdate=_longdate, longmonth=_longmonth,
        honorific=_honorific, label=_label, age=_age,
    )
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
        "kind": context.kind, "locale": context.locale, "today": context.today,
        "company": context.company, "company_address": context.company_address,
        "customer_name": context.customer_name,
        "addressee": _party(context.addressee), "sender": _party(context.sender),
        "currency": context.currency, "invoices": oldest_first, "rows": rows,
        "total_amount": sum((line.amount for line in context.invoices), Decimal("0")),
        "total_open": context.total_open,
        "pay_by": context.pay_by, "statement_month": context.statement_month,
        "tracking_no": context.tracking_no, "last_contact": context.last_contact, "promise": context.promise,
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
        "as_of": charges[0].as_of, "principal": principal, "amount": charge, "total": principal + charge,
        "rate": percent_text(terms.rate), "per": terms.per, "grace_days": terms.grace_days,
        "cap_ratio": percent_text(terms.cap_ratio) if terms.cap_ratio is not None else None, "cap_amount": terms.cap_amount,
        "capped": any(c.capped for c in charges), "clause": terms.clause,
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
    if context.kind in _STATEMENT_KINDS and not context.statement_lines:
        raise ValueError(f"{context.kind} needs the statement's lines")
    # An unconfirmed statement is escalated before any invoice exists.
    about_statement = context.kind in _STATEMENT_KINDS or (context.kind in ("escalation", "approval_request") and context.statement_lines)
    if not about_statement and not context.invoices and context.kind != "lock_lifted":  # a lock lifted by a person may name no debt
        raise ValueError(f"{context.kind} needs the invoices it is about")
    variables = _variables(context, extra, EMAIL_MAX_ROWS)
    base = f"{context.locale}/{context.kind}"
    subject = " ".join(_render(f"{base}.subject.j2", variables).split())
    variables["subject"] = subject
    return RenderedEmail(
        subject=subject,
        text=_tidy(_render(f"{base}.txt.j2", variables)),
        html=_tidy(_render(f"{base}.html.j2", variables)),
    )


def render_approval_list(locale: str, *, company: str, addressee: Party, action: str, requested_on: dt.date, rows: list[dict[str, str]],
                         total: str, max_rows: int, key: str, code: str | None = None, form_url: str = "", reason: str | None = None,
                         web_url: str = "") -> RenderedEmail:
    """The email with a list of requests decided together: to the approver with its one-time code, or (``reason``) to the GM when unanswered.

    ``web_url``: the approver's page of the list (``huikuan web``), with the request.

    ``rows`` are already formatted (customer, name, about, amount, collector): a list mixes customers and currencies.
    """
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}; one of {LOCALES}")
    if (code is None) == (reason is None):
        raise TypeError("an approval list is either a request (code) or an escalation (reason)")
    variables = {
        "locale": locale, "currency": "CNY", "company": company, "addressee": _party(addressee), "action": action, "requested_on": requested_on,
        "rows": rows, "total": total, "max_rows": max_rows, "key": key, "form_url": form_url, "code": code, "reason": reason,
        "web_url": web_url,
    }
    variables = {name: value for name, value in variables.items() if value is not None}
    subject = " ".join(_render(f"{locale}/approval_list.subject.j2", variables).split())
    variables["subject"] = subject
    return RenderedEmail(subject=subject, text=_tidy(_render(f"{locale}/approval_list.txt.j2", variables)), html=_tidy(_render(f"{locale}/approval_list.html.j2", variables)))


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
    titles = [block for block in _walk(_parse_letter(markup)) if block.tag == "h1"]
    if len(titles) != 1:
        raise ValueError(f"{context.kind}: a letter has exactly one <h1> title, found {len(titles)}")
    title = re.sub(r"(?<=[\u3000-\u9fff])\s+(?=[\u3000-\u9fff])", "", " ".join(titles[0].text.split()))
    return RenderedLetter(title=title, html=markup)


# --- The letter markup ---------------------------------------------------------------------


@dataclass
class _Block:
    tag: str
    cls: str = ""
    markup: str = ""
    text: str = ""
    span: int = 1
    rows: list[tuple[str, list[_Block]]] = field(default_factory=list)
    children: list[_Block] = field(default_factory=list)


_INLINE = {"b": ("<b>", "</b>"), "strong": ("<b>", "</b>"), "i": ("<i>", "</i>"), "em": ("<i>", "</i>"), "u": ("<u>", "</u>")}
_AMOUNT_FONT = ('<font size="15" color="#A31515">', "</font>")


class _LetterParser(HTMLParser):
    """Reads the letter markup into blocks; anything outside the subset is an error."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = _Block("root")
        self._containers = [self.root]
        self._run: _Block | None = None
        self._closers: list[tuple[str, str]] = []
        self._table: _Block | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        cls = dict(attrs).get("class") or ""
        if self._run is not None:
            self._inline(tag, cls)
        elif tag == "article":
            return
        elif tag == "div":
            self._containers.append(_Block("div", cls))
        elif tag == "hr":
            self._containers[-1].children.append(_Block("hr", cls))
        elif tag == "table":
            self._table = _Block("table", cls)
        elif tag == "tr" and self._table is not None:
            self._table.rows.append((cls, []))
        elif tag in ("th", "td") and self._table is not None and self._table.rows:
            self._run = _Block(tag, cls, span=int(dict(attrs).get("colspan") or 1))
            self._table.rows[-1][1].append(self._run)
        elif tag in ("h1", "p"):
            self._run = _Block(tag, cls)
            self._containers[-1].children.append(self._run)
        else:
            raise ValueError(f"letter markup: <{tag}> is not allowed here")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and self._run is not None:
            self._run.markup += "<br/>"
            self._run.text += "\n"
        elif tag == "hr" and self._run is None:
            self.handle_starttag(tag, attrs)
        else:
            raise ValueError(f"letter markup: <{tag}/> is not allowed here")

    def _inline(self, tag: str, cls: str) -> None:
        assert self._run is not None
        if tag == "br":
            self.handle_startendtag(tag, [])
            return
        if tag == "span":
            opener, closer = _AMOUNT_FONT if cls == "amount" else ("", "")
        elif tag in _INLINE:
            opener, closer = _INLINE[tag]
        else:
            raise ValueError(f"letter markup: <{tag}> is not allowed inside <{self._run.tag}>")
        self._run.markup += opener
        self._closers.append((tag, closer))

    def handle_endtag(self, tag: str) -> None:
        if self._closers and self._closers[-1][0] == tag:
            self._run.markup += self._closers.pop()[1]  # type: ignore[union-attr]
        elif self._run is not None and tag == self._run.tag:
            if self._closers:
                raise ValueError(f"letter markup: <{self._closers[-1][0]}> not closed in <{tag}>")
            self._run.text = "\n".join(" ".join(line.split()) for line in self._run.text.split("\n"))
            self._run = None
        elif tag == "div" and len(self._containers) > 1:
            div = self._containers.pop()
            self._containers[-1].children.append(div)
        elif tag == "table" and self._table is not None:
            self._containers[-1].children.append(self._table)
            self._table = None
        elif tag not in ("tr", "article", "br", "hr"):
            raise ValueError(f"letter markup: unexpected </{tag}>")

    def handle_data(self, data: str) -> None:
        if self._run is not None:
            self._run.markup += escape(data)
            self._run.text += data
        elif data.strip():
            raise ValueError(f"letter markup: text outside a paragraph: {data.strip()[:40]!r}")


def _parse_letter(markup: str) -> list[_Block]:
    parser = _LetterParser()
    parser.feed(markup)
    parser.close()
    if parser._run is not None or len(parser._containers) > 1 or parser._table is not None:
        raise ValueError("letter markup: an element is not closed")
    return parser.root.children


def _walk(blocks: list[_Block]) -> Iterator[_Block]:
    for block in blocks:
        yield block
        yield from _walk(block.children)


def _blocks_text(blocks: list[_Block]) -> str:
    parts = []
    for block in blocks:
        if block.tag == "table":
            parts.append("\n".join("  ".join(cell.text for cell in cells) for _, cells in block.rows))
        elif block.tag == "hr":
            parts.append("- " * 30)
        elif block.tag == "div":
            parts.append(_blocks_text(block.children).replace("\n\n", "\n").strip())
        else:
            parts.append(block.text.strip())
    return "\n\n".join(parts) + "\n"


# --- PDF -----------------------------------------------------------------------------------

CJK_FONT_NAME = "HuikuanCJK"
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
_FONT_FILES = ("wqy-microhei.ttc", "wqy-zenhei.ttc", "DroidSansFallbackFull.ttf", "DroidSansFallback.ttf")
_NOTO_CJK = re.compile(r"^Noto(Sans|Serif)(Mono)?(CJK|SC|TC|JP|KR).*\.(ttc|ttf)$", re.IGNORECASE)


def _has_truetype_outlines(path: Path) -> bool:
    """reportlab embeds TrueType outlines only; most Noto CJK files are CFF (``OTTO``)."""
    try:
        with path.open("rb") as font:
            tag = font.read(4)
            if tag == b"ttcf":
                font.seek(12)
                font.seek(int.from_bytes(font.read(4), "big"))
                tag = font.read(4)
    except OSError:
        return False
    return tag in (b"\x00\x01\x00\x00", b"true")


def _font_candidates() -> Iterator[Path]:
    """TrueType CJK fonts, best first: the one the install brings, then the system's.

    The packaged WenQuanYi Micro Hei (dependency ``paperang-p2-fonts-cjk``) comes first,
    so that a letter looks the same on every machine.
    """
    from importlib import resources

    try:
        packaged = resources.files("paperang_p2_fonts_cjk") / "fonts" / "wqy-microhei.ttc"
    except ModuleNotFoundError:
        pass
    else:
        if packaged.is_file():
            yield Path(str(packaged))
    files = [path for folder in FONT_DIRS if folder.is_dir() for path in sorted(folder.rglob("*")) if path.is_file()]
    for wanted in _FONT_FILES:
        yield from (path for path in files if path.name == wanted)
    yield from (path for path in files if _NOTO_CJK.match(path.name) and _has_truetype_outlines(path))


@lru_cache(maxsize=1)
def cjk_font() -> tuple[str, str]:
    """The font letters are set in, registered with reportlab once: (font name, where it came from).

    The first usable TrueType font of :func:`_font_candidates` is embedded (subset) in
    every letter. Never reportlab's built-in CID font ``STSong-Light``: it is not embedded,
    and viewers without Adobe's language pack show a blank page.

    Raises:
        RuntimeError: no usable font; the message names what to install.
    """
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    for path in _font_candidates():
        try:
            pdfmetrics.registerFont(TTFont(CJK_FONT_NAME, str(path), subfontIndex=0))
        except (TTFError, OSError) as exc:
            log.info("CJK font %s not usable: %s", path, exc)
            continue
        break
    else:
        raise RuntimeError("no TrueType Chinese font for letters: install the package paperang-p2-fonts-cjk "
                           "(python3 -m uv sync) or Debian's fonts-wqy-microhei")
    # One face only: <b> and <i> keep the face (the amount stands out by size, colour and a box).
    for bold in (0, 1):
        for italic in (0, 1):
            addMapping(CJK_FONT_NAME, bold, italic, CJK_FONT_NAME)
    return CJK_FONT_NAME, str(path)


_INK = "#1F2D5A"
_AMOUNT_BG = "#FDF0EC"
_AMOUNT_BAR = "#A31515"


def _styles(font: str, locale: str, scale: float) -> dict[str, Any]:
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
    from reportlab.lib.styles import ParagraphStyle

    def style(name: str, parent: Any = None, **values: Any) -> ParagraphStyle:
        for key in ("fontSize", "leading", "spaceBefore", "spaceAfter"):
            if key in values:
                values[key] *= scale
        return ParagraphStyle(name, parent, **values)

    grey = colors.HexColor("#555555")
    body = style("body", fontName=font, fontSize=10.5, leading=16, spaceAfter=5, wordWrap="CJK" if locale == "zh_CN" else None)
    return {
        "body": body,
        "company": style("company", body, fontSize=17, leading=22, alignment=TA_CENTER, textColor=colors.HexColor(_INK), spaceAfter=2),
        "address": style("address", body, fontSize=8.5, leading=11, alignment=TA_CENTER, textColor=grey, spaceAfter=0),
        "h1": style("h1", body, fontSize=18, leading=24, alignment=TA_CENTER, spaceBefore=8, spaceAfter=8),
        "ref": style("ref", body, alignment=TA_RIGHT, spaceAfter=2),
        "to": style("to", body, spaceAfter=6),
        "sign": style("sign", body, leading=15, spaceAfter=0),
        "amount": style("amount", body, fontSize=12, leading=19, spaceAfter=0),
        "center": style("center", body, fontSize=13, leading=18, alignment=TA_CENTER),
        "note": style("note", body, fontSize=8.5, leading=12, textColor=grey, alignment=TA_CENTER, spaceAfter=2),
        "slip": style("slip", body, fontSize=10, leading=17, spaceAfter=4),
        "cell": style("cell", body, fontSize=9, leading=11, spaceAfter=0, alignment=TA_LEFT),
        "num": style("num", body, fontSize=9, leading=11, spaceAfter=0, alignment=TA_RIGHT),
    }


def _paragraph(block: _Block, styles: dict[str, Any], default: str = "body") -> Any:
    from reportlab.platypus import Paragraph

    style = styles.get(block.cls) or styles.get(block.tag) or styles[default]
    markup = block.markup.strip(" \n\t")
    # A Chinese paragraph opens with two ideographic spaces, which reportlab would drop.
    indent = len(markup) - len(markup.lstrip("\u3000"))
    if indent:
        style = style.clone(f"{style.name}-indent", firstLineIndent=indent * style.fontSize)
    return Paragraph(markup.lstrip("\u3000"), style)


def _invoice_table(block: _Block, styles: dict[str, Any], width: float) -> Any:
    from reportlab.lib import colors
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import Table, TableStyle

    columns = max(sum(cell.span for cell in cells) for _, cells in block.rows)
    # Each column as wide as its widest cell, the room left shared out evenly.
    needed = [0.0] * columns
    for _, cells in block.rows:
        column = 0
        for cell in cells:
            if cell.span == 1 and column < columns:
                text_width = stringWidth(cell.text.strip(), styles["cell"].fontName, styles["cell"].fontSize)
                needed[column] = max(needed[column], text_width + 8)
            column += cell.span
    spare = (width - sum(needed)) / columns
    widths = [need + spare for need in needed] if spare >= 0 else [width * need / sum(needed) for need in needed]
    style = [
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5), ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LINEABOVE", (0, 0), (-1, 0), 0.8, colors.HexColor(_INK)),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.HexColor(_INK)),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEF1F6")),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#C8CDD8")),
    ]
    data = []
    for index, (cls, cells) in enumerate(block.rows):
        row: list[Any] = []
        for cell in cells:
            if cell.span > 1:
                style.append(("SPAN", (len(row), index), (len(row) + cell.span - 1, index)))
            row += [_paragraph(cell, styles, "num" if cell.cls == "num" else "cell")] + [""] * (cell.span - 1)
        data.append(row + [""] * (columns - len(row)))
        if cls == "total":
            style += [("LINEABOVE", (0, index), (-1, index), 0.8, colors.HexColor(_INK)),
                      ("LINEBELOW", (0, index), (-1, index), 0.8, colors.HexColor(_INK))]
    table = Table(data, colWidths=widths, hAlign="LEFT")
    table.setStyle(TableStyle(style))
    return table


def _flowables(blocks: list[_Block], styles: dict[str, Any], width: float) -> list[Any]:
    from reportlab.lib import colors
    from reportlab.platypus import HRFlowable, PageBreak, Spacer, Table, TableStyle

    flowables: list[Any] = []
    for block in blocks:
        if block.tag == "table":
            flowables += [_invoice_table(block, styles, width), Spacer(1, 6)]
        elif block.tag == "hr":
            flowables.append(HRFlowable(width="100%", thickness=0.6, color=colors.grey, dash=(4, 3), spaceBefore=8, spaceAfter=2))
        elif block.tag == "div" and block.cls == "schedule":
            flowables += [PageBreak(), *_flowables(block.children, styles, width)]
        elif block.tag == "div" and block.cls == "signature":
            inner = _flowables(block.children, {**styles, "body": styles["sign"]}, width / 2)
            table = Table([[inner]], colWidths=[width / 2], hAlign="RIGHT")
            table.setStyle(TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0), ("RIGHTPADDING", (0, 0), (-1, -1), 0)]))
            flowables.append(table)
        elif block.tag == "div":
            inner = _flowables(block.children, {**styles, "body": styles["slip"]}, width - 16)
            table = Table([[inner]], colWidths=[width])
            table.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.8, colors.HexColor(_INK)),
                                       ("TOPPADDING", (0, 0), (-1, -1), 6), ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                                       ("LEFTPADDING", (0, 0), (-1, -1), 8), ("RIGHTPADDING", (0, 0), (-1, -1), 8)]))
            flowables.append(table)
        elif block.tag == "p" and block.cls == "amount":
            table = Table([[_paragraph(block, styles)]], colWidths=[width])
            table.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), colors.HexColor(_AMOUNT_BG)),
                                       ("LINEBEFORE", (0, 0), (0, -1), 3, colors.HexColor(_AMOUNT_BAR)),
                                       ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
                                       ("LEFTPADDING", (0, 0), (-1, -1), 10)]))
            flowables += [table, Spacer(1, 6)]
        else:
            flowables.append(_paragraph(block, styles))
    return flowables


# A letter that overflows is set again a little smaller before it is refused.
_SCALES = (1.0, 0.93, 0.86)


def _build_pdf(letter: RenderedLetter, context: DocumentContext, blocks: list[_Block], styles: dict[str, Any]) -> tuple[bytes, int]:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import HRFlowable, Paragraph, SimpleDocTemplate
    from reportlab.platypus.doctemplate import LayoutError

    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=14 * mm, bottomMargin=14 * mm,
        title=letter.title, author=context.company, subject=f"{letter.title} - {context.customer_name}",
        creator="huikuan", invariant=True,
    )
    letterhead = [
        Paragraph(escape(context.company), styles["company"]),
        Paragraph(escape(context.company_address), styles["address"]),
        HRFlowable(width="100%", thickness=1.2, color=colors.HexColor(_INK), spaceBefore=4, spaceAfter=2),
    ]
    try:
        doc.build(letterhead + _flowables(blocks, styles, doc.width))
    except LayoutError:
        return b"", 2
    return buffer.getvalue(), doc.page


def letter_pdf(letter: RenderedLetter, context: DocumentContext) -> bytes:
    """The letter as a one-page A4 PDF: letterhead, date, addressee, body, amount, invoices, signature.

    The same letter gives the same bytes (no timestamps inside), so it can be stored and
    compared by its hash.

    Raises:
        ValueError: the letter does not fit on one page, even set a little smaller
            (a letter is one page at most).
    """
    font, _ = cjk_font()
    blocks = _parse_letter(letter.html)
    letter_blocks = [b for b in blocks if not (b.tag == "div" and b.cls == "schedule")]
    pages = 0
    for scale in _SCALES:
        pdf, pages = _build_pdf(letter, context, letter_blocks, _styles(font, context.locale, scale))
        if pages == 1:
            if len(letter_blocks) < len(blocks):  # the schedule follows on pages of its own
                pdf, _ = _build_pdf(letter, context, blocks, _styles(font, context.locale, scale))
            return pdf
    raise ValueError(f"{letter.title}: needs {pages} pages even set smaller; a letter is one page at most")
