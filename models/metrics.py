"""Receivables measures (PROCESS §7): pure functions of amounts, no database.

Money is Decimal; every function takes its numbers as arguments (dates are the
caller's business) and rounds half-up at the end only.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

TWO_PLACES = Decimal("0.01")
FOUR_PLACES = Decimal("0.0001")
_ZERO = Decimal("0")


def _q(value: Decimal, places: Decimal) -> Decimal:
    return value.quantize(places, rounding=ROUND_HALF_UP)


def dso_count_back(receivables: Decimal, monthly_sales: Sequence[tuple[int, Decimal]]) -> Decimal:
    """Days sales outstanding by the count-back method, two decimals.

    ``monthly_sales`` is ``(days, credit sales)`` per month, most recent first;
    the first entry is the current month to date (its days are the days elapsed).
    Each month's sales are taken off the receivables while they last, adding
    that month's days; what remains is then ``remainder / sales * days`` of the
    month it runs out in. A month without sales adds its full days.

    When the receivables are larger than all the sales given, the result is the
    sum of all the days given and nothing more (the rest cannot be dated): pass
    enough months for the answer to mean something.
    """
    remaining = Decimal(receivables)
    days_total = _ZERO
    if remaining <= 0:
        return _q(_ZERO, TWO_PLACES)
    for days, sales in monthly_sales:
        sales = Decimal(sales)
        if remaining >= sales:
            remaining -= sales
            days_total += days
            if remaining == 0:
                break
        else:
            days_total += remaining / sales * days
            break
    return _q(days_total, TWO_PLACES)


def _fraction(part: Decimal, total: Decimal) -> Decimal:
    if total == 0:
        return _q(_ZERO, FOUR_PLACES)
    return _q(Decimal(part) / Decimal(total), FOUR_PLACES)


def overdue_ratio(overdue: Decimal, total: Decimal) -> Decimal:
    """Overdue open / total open as a fraction to 4 places (0 when nothing is open)."""
    return _fraction(overdue, total)


def bad_debt_ratio(bad: Decimal, total: Decimal) -> Decimal:
    """Bad debt / total open as a fraction to 4 places (0 when nothing is open)."""
    return _fraction(bad, total)


def collection_effectiveness(beginning_ar: Decimal, credit_sales: Decimal, ending_ar: Decimal, ending_current_ar: Decimal) -> Decimal | None:
    """CEI = (beginning + sales - ending total) / (beginning + sales - ending current) * 100.

    Two decimals; None when the denominator is 0 (nothing was collectable).
    """
    denominator = beginning_ar + credit_sales - ending_current_ar
    if denominator == 0:
        return None
    return _q((beginning_ar + credit_sales - ending_ar) / denominator * 100, TWO_PLACES)


def target_progress(overdue_at_start: Decimal, collected: Decimal, share: Decimal = Decimal("0.70")) -> tuple[Decimal, Decimal]:
    """(target amount, progress fraction) for "collect ``share`` of what was overdue at the start".

    The target is rounded to cents; progress is collected / target to 4 places
    (may exceed 1), 0 when the target is 0.
    """
    target = _q(overdue_at_start * share, TWO_PLACES)
    return target, _fraction(collected, target)
