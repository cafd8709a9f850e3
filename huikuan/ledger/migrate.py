"""Bring the ledger's schema up to date with Alembic (``huikuan db upgrade``), and tell whether it is.

The migrations are ``models/migrations/versions/NNNN_name.py`` with ``revision = 'NNNN'``, one after the other.
``is_current`` is asked by every command (``huikuan shipping check`` many times a day): it reads the ledger's
``alembic_version`` and compares it with the newest file's number, without loading Alembic; only a ledger that
is not at that number asks Alembic itself.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

VERSIONS = Path(__file__).resolve().parents[2] / "models" / "migrations" / "versions"


def alembic_config(engine: Engine):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "models:migrations")
    # configparser interpolates "%": a percent-encoded password or a file: URL would break it.
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision``; a no-op on an up-to-date ledger."""
    from alembic import command

    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def newest_revision() -> str:
    """The newest migration's revision, by its file's number (``NNNN_name.py`` holds ``revision = 'NNNN'``)."""
    return max(match[1] for path in VERSIONS.glob("*.py") if (match := re.match(r"(\d{4})_\w+\.py$", path.name)))


def is_current(engine: Engine) -> bool:
    """Whether the ledger's schema is at the newest migration."""
    try:
        with engine.connect() as connection:
            if connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [newest_revision()]:
                return True
    except SQLAlchemyError:
        pass  # no version table: Alembic says what the ledger is
    return alembic_head(engine) == _ledger_revision(engine)


def alembic_head(engine: Engine) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def _ledger_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
