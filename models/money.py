"""Money is Decimal with two places, end to end."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_money(value: Decimal | int | str) -> Decimal:
    """``value`` as Decimal with exactly two places; refuses sub-cent precision."""
    try:
        amount = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    if amount != amount.quantize(CENT):
        raise ValueError(f"more than 2 decimal places: {value}")
    return amount.quantize(CENT)


def format_money(amount: Decimal | int, currency: str = "CNY", locale: str = "zh_CN") -> str:
    """The one money format for people: ``¥1,234.50`` for yuan, ``USD 1,234.50`` for other currencies.

    In English documents yuan read ``CNY 1,234.50``. Rounded half-up to the fen;
    a float is refused (money is never a float). Files keep the plain decimal.
    """
    if isinstance(amount, bool) or not isinstance(amount, (Decimal, int)):
        raise TypeError(f"money must be a Decimal (or int), not {type(amount).__name__}: {amount!r}")
    value = Decimal(amount).quantize(CENT, ROUND_HALF_UP)
    sign, digits = ("-" if value < 0 else ""), f"{abs(value):,.2f}"
    if currency == "CNY" and locale != "en":
        return f"{sign}¥{digits}"
    return f"{sign}{currency} {digits}"
