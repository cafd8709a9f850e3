"""Money is Decimal with two places, end to end."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

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


def format_money(amount: Decimal, currency: str = "CNY") -> str:
    """``¥1,234.50`` style for people; files keep the plain decimal."""
    symbol = {"CNY": "¥", "USD": "$", "EUR": "€", "JPY": "JP¥"}.get(currency, currency + " ")
    return f"{symbol}{amount:,.2f}"
