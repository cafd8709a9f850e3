"""Late-payment charges (违约金 / 逾期利息) on an invoice, as a contract sets them.

Pure: no database, no Prefect, the day is an argument. A charge is counted day
by day on the principal still open that day, so a partial payment reduces it
from its own date (not from the last payment, not on the original amount), in
``Decimal`` throughout, capped, and rounded half-up to the fen once, at the end.
A charge is a claim shown on letters and in the case file; it is never part of
the balance payments are allocated against unless finance books it.

Conventions (each stated in the calculation it produces):

- Charges accrue from the day after the due date; with a grace period of N
  days, the first N of those days are free (a payment within them costs nothing).
- A payment received on day d reduces the principal from day d: day d is
  charged on what was left after it.
- A daily rate (万分之五 = ``0.0005``) applies as is; an annual rate is divided
  by ``days_in_year`` (365 unless the contract says 360).
- The cap is the smaller of ``cap_ratio`` × the invoice's amount and
  ``cap_amount``, whichever the contract gives.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from models.money import CENT, ZERO

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class ChargeTerms:
    """A contract's late-payment terms.

    Args:
        rate: per day (``per="day"``) or per year (``per="year"``), as a fraction: 0.0005 is 0.05%.
        per: "day" or "year".
        grace_days: days after the due date that are not charged.
        cap_ratio: the charge is at most this fraction of the invoice's amount (0.30: 30%).
        cap_amount: the charge is at most this amount.
        clause: where the contract says so ("合同第八条"), quoted on letters as the basis.
        days_in_year: how an annual rate is made daily (365 or 360).
    """

    rate: Decimal
    per: str = "day"
    grace_days: int = 0
    cap_ratio: Decimal | None = None
    cap_amount: Decimal | None = None
    clause: str | None = None
    days_in_year: int = 365

    def __post_init__(self) -> None:
        if self.per not in ("day", "year"):
            raise ValueError(f"a rate is per day or per year, not per {self.per!r}")
        if self.rate < 0 or self.grace_days < 0:
            raise ValueError("a rate and a grace period cannot be negative")
        if self.days_in_year not in (360, 365):
            raise ValueError(f"an annual rate is made daily over 360 or 365 days, not {self.days_in_year}")
        if (self.cap_ratio is not None and self.cap_ratio < 0) or (self.cap_amount is not None and self.cap_amount < 0):
            raise ValueError("a cap cannot be negative")

    @property
    def daily_rate(self) -> Decimal:
        return self.rate if self.per == "day" else self.rate / self.days_in_year

    def cap(self, amount: Decimal) -> Decimal | None:
        """The most that may be charged on an invoice of ``amount``; None without a cap."""
        caps = [c for c in (self.cap_ratio * amount if self.cap_ratio is not None else None, self.cap_amount) if c is not None]
        return min(caps) if caps else None


@dataclass(frozen=True)
class ChargePeriod:
    """Days charged on the same open principal: ``first`` to ``last`` inclusive."""

    first: dt.date
    last: dt.date
    principal: Decimal
    charge: Decimal  # unrounded

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass(frozen=True)
class Charge:
    """The late-payment charge on one invoice up to a day, with how it was counted."""

    invoice_id: str
    as_of: dt.date
    principal_open: Decimal  # still open at the end of ``as_of``
    amount: Decimal  # the charge, capped and rounded to the fen
    uncapped: Decimal  # before the cap, rounded to the fen
    capped: bool
    periods: tuple[ChargePeriod, ...]
    terms: ChargeTerms

    @property
    def days(self) -> int:
        return sum(p.days for p in self.periods)

    @property
    def total(self) -> Decimal:
        """What is claimed on the invoice: the open principal and the charge."""
        return self.principal_open + self.amount


def late_charge(invoice_id: str, amount: Decimal, due_on: dt.date, payments: Iterable[tuple[dt.date, Decimal]], as_of: dt.date, terms: ChargeTerms) -> Charge:
    """The charge on an invoice of ``amount`` due on ``due_on``, counted up to and including ``as_of``.

    ``payments`` are the (day received, amount applied to this invoice) pairs; those after ``as_of`` are ignored.
    """
    received: dict[dt.date, Decimal] = {}
    for day, paid in payments:
        if day <= as_of:
            received[day] = received.get(day, ZERO) + paid
    first_charged = due_on + DAY * (terms.grace_days + 1)
    open_amount = amount - sum((paid for day, paid in received.items() if day < first_charged), ZERO)
    periods: list[ChargePeriod] = []
    start = first_charged
    # Each payment day starts a new period: that day is charged on what is left after it.
    for change in sorted(day for day in received if day >= first_charged) + [as_of + DAY]:
        if change > start and open_amount > 0:
            last = change - DAY
            days = (last - start).days + 1
            periods.append(ChargePeriod(start, last, open_amount, open_amount * terms.daily_rate * days))
        if change <= as_of:
            open_amount -= received[change]
            start = max(start, change)
    raw = sum((p.charge for p in periods), Decimal(0))
    cap = terms.cap(amount)
    charged = raw if cap is None else min(raw, cap)
    return Charge(
        invoice_id=invoice_id,
        as_of=as_of,
        principal_open=max(open_amount, ZERO),
        amount=charged.quantize(CENT, rounding=ROUND_HALF_UP),
        uncapped=raw.quantize(CENT, rounding=ROUND_HALF_UP),
        capped=cap is not None and raw > cap,
        periods=tuple(periods),
        terms=terms,
    )


# -- a customer's contract terms as the customers import file writes them --------------------

_RATE = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,6})?)%/(day|year|日|天|年)")
_PERCENT = re.compile(r"([0-9]{1,3}(?:\.[0-9]{1,4})?)%")
_PER = {"day": "day", "日": "day", "天": "day", "year": "year", "年": "year"}
NO_CHARGE = "none"


def percent_text(fraction: Decimal) -> str:
    """0.0005 → "0.05%", 0.3 → "30%": as a contract writes it, without float noise or trailing zeros."""
    return f"{(fraction * 100).normalize():f}%"


def parse_rate(value: str) -> str:
    """A late-payment rate as a contract states it: ``0.05%/day`` (万分之五), ``6%/year``, or ``none``; its canonical text."""
    if value.strip().lower() in (NO_CHARGE, "无", "0"):
        return NO_CHARGE
    match = _RATE.fullmatch(value.strip().replace(" ", ""))
    if match is None:
        raise ValueError(f"{value!r} is not a rate; write a percentage per day or year, e.g. 0.05%/day or 6%/year, or none")
    return f"{percent_text(Decimal(match[1]) / 100)}/{_PER[match[2]]}"


def parse_cap(value: str) -> str:
    """A cap on the charge: a share of the invoice (``30%``) or an amount (``5000.00``); its canonical text."""
    match = _PERCENT.fullmatch(value.strip())
    if match is not None:
        return percent_text(Decimal(match[1]) / 100)
    if re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,2})?", value.strip()):
        return f"{Decimal(value.strip()).quantize(CENT)}"
    raise ValueError(f"{value!r} is not a cap; write a share of the invoice such as 30% or an amount such as 5000.00")


def contract_terms(rate: str, grace_days: int | None = None, cap: str | None = None, clause: str | None = None) -> ChargeTerms | None:
    """The ``ChargeTerms`` of canonical texts (``parse_rate``, ``parse_cap``); None for ``none``."""
    if rate == NO_CHARGE:
        return None
    percent, per = rate.split("/")
    cap_ratio = cap_amount = None
    if cap:
        if cap.endswith("%"):
            cap_ratio = Decimal(cap[:-1]) / 100
        else:
            cap_amount = Decimal(cap)
    return ChargeTerms(rate=Decimal(percent[:-1]) / 100, per=per, grace_days=grace_days or 0, cap_ratio=cap_ratio, cap_amount=cap_amount, clause=clause or None)
