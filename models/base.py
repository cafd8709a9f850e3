"""Declarative base, portable column types and the constraint naming convention."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, DateTime, MetaData, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

from models.money import to_money

# Stable constraint names, so Alembic migrations name the same thing the same way.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Money(TypeDecorator[Decimal]):
    """Decimal with 2 places: ``NUMERIC(18, 2)`` on PostgreSQL, integer cents on SQLite.

    SQLite has no decimal type (NUMERIC is stored as a float), so there the
    amount is kept as a whole number of cents; sums in SQL stay exact on both.
    """

    impl = Numeric(18, 2)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(18, 2, asdecimal=True))

    def process_bind_param(self, value, dialect: Dialect):
        if value is None:
            return None
        amount = to_money(value)
        return int(amount.scaleb(2)) if dialect.name == "sqlite" else amount

    def process_result_value(self, value, dialect: Dialect):
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-2)
        return Decimal(value).quantize(Decimal("0.01"))


class AwareDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware datetimes only; stored in UTC, returned aware on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect: Dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: datetimes must carry a time zone")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value, dialect: Dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {Decimal: Money(), dt.datetime: AwareDateTime()}
