"""Which customer and invoices an incoming bank line pays: applied only when certain, else waiting with suggestions.

Pure: no database, no clock. `decide` takes one line and a `Book` (the customers,
their open invoices, statements, known payer accounts and promises) and returns
`Apply` or `Wait`. A line is applied only when both the customer and the invoices
are certain (CONTRACT.md, "Bank statements"):

- the reference names open invoices of one customer, and the payer is that customer
  or nobody known (then the amount must be exactly what is open on them); or
- the payer is exactly one customer (its name after folding full-width forms,
  spaces and brackets, or an account known for it), and the amount is what is open
  on the invoices of a statement month the reference names, or on exactly one set
  of its open invoices: one invoice, one statement, several (a bounded search over
  at most `SUBSET_LIMIT` open invoices: with more, only one invoice, one statement
  or everything) or all that is open.

Anything else waits, and `suggest` ranks who it may be. `plan_payments` turns a
decided set of invoices into the payments `huikuan.ledger.records.record_payment` records
(the ledger's one allocation, oldest first): one payment when oldest-first pays
exactly those invoices, else one payment per invoice paid in full.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from models.money import ZERO

SUBSET_LIMIT = 12  # 4,096 subsets at most: a customer with more open invoices is matched on one, a statement or all
PROMISE_WINDOW = dt.timedelta(days=30)  # a promise counts as recent while its date is at most this far from the line's
_BRACKETS = "()（）[]【】〔〕<>《》"
_NAME_DROP = re.compile(rf"[\s{re.escape(_BRACKETS)}]+")
_TOKEN_SPLIT = re.compile(r"[^\x21-\x7e]+|[,;:()\[\]{}<>\"'|\\]+")
_ISO_MONTH = re.compile(r"(20[0-9]{2})\s*[-/.年]\s*([0-9]{1,2})(?![0-9])\s*月?")
_MONTH_ONLY = re.compile(r"(?<![0-9])([0-9]{1,2})\s*月")
_DATE_LIKE = re.compile(r"[0-9]{4}[-/.]?[0-9]{2}[-/.]?[0-9]{2}")


def normal_name(text: str) -> str:
    """A payer's or customer's name as compared: NFKC (full-width to half-width), case-folded, no spaces or brackets."""
    return _NAME_DROP.sub("", unicodedata.normalize("NFKC", text)).casefold()


def normal_account(text: str) -> str:
    """An account number as compared: NFKC, no spaces or dashes, upper-case."""
    return re.sub(r"[\s-]+", "", unicodedata.normalize("NFKC", text)).upper()


def _fold_id(text: str) -> str:
    return unicodedata.normalize("NFKC", text).upper()


@dataclass(frozen=True, slots=True)
class LineFacts:
    """What matching reads of a line."""

    booked_on: dt.date
    amount: Decimal
    payer: str = ""
    payer_account: str = ""
    reference: str = ""
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    invoice_id: str
    due_on: dt.date
    open: Decimal
    month: str | None = None  # the statement (YYYY-MM) it was billed on, if any
    issued_on: dt.date = dt.date.min


@dataclass(frozen=True, slots=True)
class Promise:
    customer_id: str
    amount: Decimal
    made_on: dt.date
    due_on: dt.date


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    customer_id: str
    name: str
    currency: str = "CNY"


@dataclass(frozen=True, slots=True)
class PlannedPayment:
    """A payment to record: to ``invoice_id``, or oldest first over the customer's open invoices when None."""

    invoice_id: str | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Apply:
    customer_id: str
    payments: tuple[PlannedPayment, ...]
    invoices: tuple[str, ...]  # the invoices it pays (in part or in full), oldest first
    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    reason: str


@dataclass(frozen=True, slots=True)
class Suggestion:
    customer_id: str
    name: str
    score: int  # 0-100, the higher the likelier
    reasons: tuple[str, ...]
    invoices: tuple[str, ...] = ()  # the invoices its amount would pay exactly, if any


@dataclass
class Book:
    """The ledger as matching sees it; `paid` keeps it current while a statement's lines are applied one by one."""

    customers: dict[str, CustomerFacts]
    invoices: dict[str, list[OpenInvoice]] = field(default_factory=dict)  # customer -> open invoices, oldest first
    accounts: dict[str, set[str]] = field(default_factory=dict)  # normal account -> customers known to pay from it
    promises: list[Promise] = field(default_factory=list)
    closed: dict[str, str] = field(default_factory=dict)  # invoice id -> customer, of the invoices with nothing open

    def __post_init__(self) -> None:
        self.by_name: dict[str, set[str]] = defaultdict(set)
        for customer in self.customers.values():
            self.by_name[normal_name(customer.name)].add(customer.customer_id)
        self.invoices = {c: sorted(i, key=_oldest_first) for c, i in self.invoices.items()}
        self._index_invoices()
        self._names: list[tuple[str, str]] | None = None
        self._owing: dict[Decimal, list[str]] | None = None

    def _index_invoices(self) -> None:
        self.by_invoice: dict[str, list[tuple[str, str]]] = defaultdict(list)  # folded id -> (customer, invoice id)
        self.by_closed: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for invoice_id, customer_id in self.closed.items():
            self.by_closed[_fold_id(invoice_id)].append((customer_id, invoice_id))
        for customer_id, invoices in self.invoices.items():
            for invoice in invoices:
                self.by_invoice[_fold_id(invoice.invoice_id)].append((customer_id, invoice.invoice_id))

    def open_invoices(self, customer_id: str) -> list[OpenInvoice]:
        return self.invoices.get(customer_id, [])

    def paid(self, customer_id: str, allocations: Iterable[tuple[str, Decimal]]) -> None:
        """What the ledger applied of a recorded payment: those invoices are that much less open."""
        left = dict(allocations)
        kept = []
        for invoice in self.open_invoices(customer_id):
            rest = invoice.open - left.pop(invoice.invoice_id, ZERO)
            if rest > 0:
                kept.append(OpenInvoice(invoice.invoice_id, invoice.due_on, rest, invoice.month, invoice.issued_on))
            else:
                self.by_invoice.pop(_fold_id(invoice.invoice_id), None)
                self.by_closed[_fold_id(invoice.invoice_id)].append((customer_id, invoice.invoice_id))
        self.invoices[customer_id] = kept
        self._owing = None

    def owing(self, amount: Decimal, most: int = 5) -> list[str]:
        """The customers with an open invoice of exactly ``amount``, or owing exactly that, when there are at most ``most``."""
        if self._owing is None:
            self._owing = defaultdict(list)
            for customer_id, invoices in self.invoices.items():
                for value in {i.open for i in invoices} | {sum((i.open for i in invoices), ZERO)}:
                    self._owing[value].append(customer_id)
        owing = self._owing.get(amount, [])
        return owing if len(owing) <= most else []

    def remember(self, account: str, customer_id: str) -> None:
        if normal_account(account):
            self.accounts.setdefault(normal_account(account), set()).add(customer_id)

    def names(self) -> list[tuple[str, str]]:
        """(normal name, customer id) of every customer, for the similarity search."""
        if self._names is None:
            self._names = [(normal_name(c.name), c.customer_id) for c in self.customers.values()]
        return self._names


def _oldest_first(invoice: OpenInvoice) -> tuple[dt.date, str]:
    return (invoice.due_on, invoice.invoice_id)  # as huikuan.ledger.records.open_amounts orders them


# -- what a line says ------------------------------------------------------------------------------


def payer_customers(line: LineFacts, book: Book) -> tuple[set[str], set[str]]:
    """(customers whose folded name is the payer's, customers known to pay from the payer's account)."""
    by_name = set(book.by_name.get(normal_name(line.payer), ())) if normal_name(line.payer) else set()
    by_account = set(book.accounts.get(normal_account(line.payer_account), ())) if normal_account(line.payer_account) else set()
    return by_name, by_account


def referenced_invoices(line: LineFacts, book: Book) -> dict[str, list[str]]:
    """customer -> the open invoices of it that the reference names (an id folded to upper-case, unique among open invoices)."""
    found: dict[str, list[str]] = defaultdict(list)
    for token in _reference_tokens(line):
        owners = book.by_invoice.get(token.upper(), [])
        if len(owners) == 1 and owners[0][1] not in found[owners[0][0]]:
            found[owners[0][0]].append(owners[0][1])
    return {c: ids for c, ids in found.items() if ids}


def referenced_closed(line: LineFacts, book: Book) -> list[str]:
    """The invoices the reference names that have nothing open (paid already: the line may pay one twice)."""
    found = []
    for token in _reference_tokens(line):
        if token.upper() not in book.by_invoice:
            found += [invoice_id for _c, invoice_id in book.by_closed.get(token.upper(), [])]
    return list(dict.fromkeys(found))


def _reference_tokens(line: LineFacts) -> Iterable[str]:
    """The words of the reference that may be ids: split at non-ASCII text and punctuation, at least 3 characters, no dates."""
    for token in _TOKEN_SPLIT.split(unicodedata.normalize("NFKC", line.reference)):
        token = token.strip(".-_/#")
        if len(token) >= 3 and not _DATE_LIKE.fullmatch(token):
            yield token


def referenced_months(line: LineFacts) -> list[str]:
    """The months (YYYY-MM) the reference names: 2026-10, 2026年10月, or 10月 (the latest such month up to the line's)."""
    text = unicodedata.normalize("NFKC", line.reference)
    months: list[str] = []
    for match in _ISO_MONTH.finditer(text):
        if 1 <= int(match[2]) <= 12:
            months.append(f"{match[1]}-{int(match[2]):02d}")
    for match in _MONTH_ONLY.finditer(_ISO_MONTH.sub(" ", text)):
        month = int(match[1])
        if 1 <= month <= 12:
            year = line.booked_on.year if month <= line.booked_on.month else line.booked_on.year - 1
            months.append(f"{year}-{month:02d}")
    return list(dict.fromkeys(months))


# -- deciding ------------------------------------------------------------------------------------------


def decide(line: LineFacts, book: Book) -> Apply | Wait:
    """Apply the line when its customer and invoices are certain; else say why it waits."""
    by_name, by_account = payer_customers(line, book)
    payers = by_name | by_account
    referenced = referenced_invoices(line, book)
    closed = referenced_closed(line, book)
    if closed:
        return Wait(f"the reference names {', '.join(closed)}, which {'has' if len(closed) == 1 else 'have'} nothing open: paid twice?")
    if len(referenced) > 1:
        return Wait(f"the reference names invoices of {len(referenced)} customers ({', '.join(sorted(referenced))})")
    if len(payers) > 1:
        return Wait(f"the payer could be any of {', '.join(sorted(payers))} (same name or account)")
    payer = next(iter(payers), None)
    if referenced:
        customer_id, invoices = next(iter(referenced.items()))
        if payer is not None and payer != customer_id:
            return Wait(f"the reference names {', '.join(invoices)} of {customer_id}, but the payer is {payer}")
        problem = _currency_problem(line, book, customer_id)
        if problem:
            return Wait(problem)
        named = _ids(invoices)
        if payer is None:
            if line.amount != sum((i.open for i in book.open_invoices(customer_id) if i.invoice_id in named), ZERO):
                return Wait(f"the reference names {', '.join(invoices)} of {customer_id} but the payer is unknown and the amount is not what is open on them")
            how = "the amount pays " + ("it" if len(invoices) == 1 else "them") + " exactly"
        else:
            how = f"the payer is {customer_id}"
        return _apply(line, book, customer_id, named, f"the reference names {', '.join(invoices)} of {customer_id} and {how}")
    if payer is None:
        return Wait("the payer is not a known customer name or account, and the reference names no open invoice")
    problem = _currency_problem(line, book, payer)
    if problem:
        return Wait(problem)
    how = "name" if payer in by_name else "known account"
    # Invoices issued after the money arrived are not what it pays (a prepayment waits for a person).
    open_invoices = [i for i in book.open_invoices(payer) if i.issued_on <= line.booked_on]
    if not open_invoices:
        return Wait(f"the payer is {payer} ({how}), which has nothing open")
    for month in referenced_months(line):
        billed = [i.invoice_id for i in open_invoices if i.month == month]
        if billed:
            return _apply(line, book, payer, set(billed), f"the payer is {payer} ({how}) and the reference names its {month} statement")
    sets = exact_sets(open_invoices, line.amount)
    if len(sets) == 1:
        paid = sets[0]
        what = _what(open_invoices, paid)
        return _apply(line, book, payer, set(paid), f"the payer is {payer} ({how}) and the amount pays {what} exactly")
    total = sum((i.open for i in open_invoices), ZERO)
    if len(sets) > 1:
        return Wait(f"the payer is {payer} ({how}); {len(sets)} sets of its open invoices add up to {line.amount}")
    if line.amount > total:
        return Wait(
            f"the payer is {payer} ({how}); {line.amount} is more than the {total} it owes: an over-payment waits for finance "
            "(`bank match` pays its invoices and keeps the rest as unapplied credit)"
        )
    return Wait(f"the payer is {payer} ({how}); {line.amount} is part of the {total} it owes and pays no set of its invoices exactly")


def _ids(invoices: Iterable[str]) -> set[str]:
    return set(invoices)


def _what(open_invoices: Sequence[OpenInvoice], paid: tuple[str, ...]) -> str:
    if len(paid) == len(open_invoices):
        return "all it owes" if len(paid) > 1 else paid[0]
    months = {i.month for i in open_invoices if i.invoice_id in paid}
    if len(paid) > 1 and len(months) == 1 and None not in months:
        billed = {i.invoice_id for i in open_invoices if i.month in months}
        if billed == set(paid):
            return f"its {months.pop()} statement"
    return ", ".join(paid)


def _currency_problem(line: LineFacts, book: Book, customer_id: str) -> str | None:
    currency = book.customers[customer_id].currency if customer_id in book.customers else None
    if line.currency and currency and line.currency != currency:
        return f"the line is in {line.currency}, {customer_id} is billed in {currency}"
    return None


def _apply(line: LineFacts, book: Book, customer_id: str, invoice_ids: set[str], reason: str) -> Apply | Wait:
    """Apply with the payments that pay ``invoice_ids``; oldest first runs over every open invoice, as the ledger's does."""
    planned = plan_payments(book.open_invoices(customer_id), line.amount, invoice_ids)
    if isinstance(planned, str):
        return Wait(f"{reason}, but {planned}")
    payments, paid = planned
    return Apply(customer_id, payments, paid, reason)


def exact_sets(open_invoices: Sequence[OpenInvoice], amount: Decimal) -> list[tuple[str, ...]]:
    """Every set of open invoices whose open amounts add up to ``amount`` exactly (two at most: more are as ambiguous).

    All subsets are searched when there are at most `SUBSET_LIMIT` open invoices;
    with more, one invoice, one statement and all of them.
    """
    found: list[tuple[str, ...]] = []
    if len(open_invoices) <= SUBSET_LIMIT:
        cents = [int(i.open * 100) for i in open_invoices]
        target = int(amount * 100)
        for size in range(1, len(open_invoices) + 1):
            for combo in itertools.combinations(range(len(open_invoices)), size):
                if sum(cents[k] for k in combo) == target:
                    found.append(tuple(open_invoices[k].invoice_id for k in combo))
                    if len(found) > 1:
                        return found
        return found
    candidates: list[tuple[str, ...]] = [(i.invoice_id,) for i in open_invoices if i.open == amount]
    months: dict[str, list[OpenInvoice]] = defaultdict(list)
    for invoice in open_invoices:
        if invoice.month:
            months[invoice.month].append(invoice)
    candidates += [tuple(i.invoice_id for i in billed) for billed in months.values() if len(billed) > 1 and sum((i.open for i in billed), ZERO) == amount]
    if sum((i.open for i in open_invoices), ZERO) == amount:
        candidates.append(tuple(i.invoice_id for i in open_invoices))
    return list(dict.fromkeys(candidates))[:2]


def plan_payments(
    open_invoices: Sequence[OpenInvoice], amount: Decimal, invoice_ids: set[str] | None = None
) -> tuple[tuple[PlannedPayment, ...], tuple[str, ...]] | str:
    """The payments that pay ``amount`` on ``invoice_ids`` (None: oldest first over all), and the invoices paid; or why it cannot be.

    The ledger allocates a payment to one named invoice or to the open invoices
    oldest first (`huikuan.ledger.records.record_payment`); a set of invoices is paid by
    one payment when oldest-first pays exactly that set, else by one payment per
    invoice, each paid in full. Neither pays more than is open: what a line pays
    beyond it (`over_payment`) is kept as unapplied credit only when finance
    matches the line, never by `decide`.
    """
    ordered = list(open_invoices)
    total = sum((i.open for i in ordered), ZERO)
    if amount <= 0:
        return "the amount is not above 0"
    if invoice_ids is None:
        if amount > total:
            return f"{amount} is more than the {total} open"
        return (PlannedPayment(None, amount),), _oldest_touched(ordered, amount)
    chosen = [i for i in ordered if i.invoice_id in invoice_ids]
    missing = sorted(invoice_ids - {i.invoice_id for i in chosen})
    if missing:
        return f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not open"
    owed = sum((i.open for i in chosen), ZERO)
    if amount > owed:
        return f"{amount} is more than the {owed} open on {', '.join(i.invoice_id for i in chosen)}"
    if len(chosen) == 1:
        return (PlannedPayment(chosen[0].invoice_id, amount),), (chosen[0].invoice_id,)
    ids = tuple(i.invoice_id for i in chosen)
    if _oldest_touched(ordered, amount) == ids:
        return (PlannedPayment(None, amount),), ids
    if amount == owed:
        return tuple(PlannedPayment(i.invoice_id, i.open) for i in chosen), ids
    return (
        f"{amount} is less than the {owed} open on {', '.join(ids)} and oldest-first would pay others: "
        "name the invoices it pays in full, or the one invoice it pays a part of"
    )


def over_payment(open_invoices: Sequence[OpenInvoice], amount: Decimal, invoice_ids: set[str] | None = None) -> Decimal:
    """What ``amount`` pays beyond what is open on ``invoice_ids`` (None: on all the open invoices); ZERO when it pays no more.

    Finance's match pays what is open (oldest first, or the invoices named) and
    keeps this as the customer's unapplied credit.
    """
    owed = sum((i.open for i in open_invoices if invoice_ids is None or i.invoice_id in invoice_ids), ZERO)
    return max(amount - owed, ZERO)


def _oldest_touched(ordered: Sequence[OpenInvoice], amount: Decimal) -> tuple[str, ...]:
    """The invoices that ``amount`` paid oldest first reaches (the last perhaps in part)."""
    touched, left = [], amount
    for invoice in ordered:
        if left <= 0:
            break
        touched.append(invoice.invoice_id)
        left -= invoice.open
    return tuple(touched)


# -- suggestions --------------------------------------------------------------------------------------


def suggest(line: LineFacts, book: Book, limit: int = 5) -> list[Suggestion]:
    """Who a waiting line may be from, likeliest first: name similarity, known accounts, invoices named, amounts, promises."""
    from rapidfuzz import fuzz, process

    reasons: dict[str, list[str]] = defaultdict(list)
    score: dict[str, float] = defaultdict(float)
    pays: dict[str, tuple[str, ...]] = {}
    payer = normal_name(line.payer)
    if payer:
        names = book.names()
        for _name, similarity, index in process.extract(payer, [n for n, _c in names], scorer=fuzz.WRatio, limit=limit * 2, score_cutoff=60):
            customer_id = names[index][1]
            score[customer_id] += similarity * 0.6
            reasons[customer_id].append(f"name {round(similarity)}%")
    for customer_id in payer_customers(line, book)[1]:
        score[customer_id] += 30
        reasons[customer_id].append("known account")
    for customer_id, invoices in referenced_invoices(line, book).items():
        score[customer_id] += 35
        reasons[customer_id].append(f"reference names {', '.join(invoices)}")
    for promise in book.promises:
        if promise.amount == line.amount and promise.made_on <= line.booked_on and abs(promise.due_on - line.booked_on) <= PROMISE_WINDOW:
            score[promise.customer_id] += 15
            reasons[promise.customer_id].append(f"promised {promise.amount} by {promise.due_on.isoformat()}")
    for customer_id in sorted(set(score) | set(book.owing(line.amount))):
        sets = exact_sets(book.open_invoices(customer_id), line.amount)
        if len(sets) == 1:
            pays[customer_id] = sets[0]
            score[customer_id] += 25
            reasons[customer_id].append(f"amount = {_what(book.open_invoices(customer_id), sets[0])}")
        elif sets:
            score[customer_id] += 10
            reasons[customer_id].append(f"amount = {len(sets)}+ sets of invoices")
    ranked = sorted(score, key=lambda c: (-score[c], c))[:limit]
    return [
        Suggestion(c, book.customers[c].name if c in book.customers else c, min(100, round(score[c])), tuple(reasons[c]), pays.get(c, ()))
        for c in ranked
        if reasons[c]
    ]
