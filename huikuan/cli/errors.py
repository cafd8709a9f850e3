"""One line for a database, configuration or input error: what it means and where to fix it (no traceback reaches a user)."""

from __future__ import annotations

import re


def _flat(text: object) -> str:
    return " ".join(str(text).split())


def _ledger_where() -> str:
    """The ledger's URL without its password, as the error names it."""
    from sqlalchemy.engine import make_url

    from huikuan.ledger.settings import get_settings

    try:
        return make_url(get_settings().database_url).render_as_string(hide_password=True)
    except Exception:  # the URL (or the settings) is what is wrong: the message says so
        return "(HUIKUAN_DATABASE_URL)"


def _database_line(exc: Exception) -> str:
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError

    if isinstance(exc, (ArgumentError, NoSuchModuleError)):
        return (
            f"HUIKUAN_DATABASE_URL is not a ledger URL this program can use ({_flat(exc)}); "
            "write e.g. sqlite:///huikuan.db or postgresql+psycopg://user:password@host/huikuan"
        )
    cause = _flat(exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc)
    where = _ledger_where()
    lowered = cause.lower()
    if "locked" in lowered:
        return f"the ledger {where} is locked by another program (another huikuan command, a backup, a database browser): {cause}; run the command again when it has finished"
    if "readonly" in lowered or "read-only" in lowered or "read only" in lowered:
        return f"the ledger {where} is read-only ({cause}); check the file's and its folder's permissions, or HUIKUAN_DATABASE_URL (mode=ro?)"
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        return f"the ledger {where} is not an SQLite database or is damaged ({cause}); check HUIKUAN_DATABASE_URL, or restore the file from a backup"
    if "full" in lowered and ("disk" in lowered or "space" in lowered):
        return f"the ledger {where}: the disk is full ({cause}); free some space and run the command again"
    if "unable to open" in lowered:
        return f"cannot open the ledger {where} ({cause}); does its folder exist and may this user write there? check HUIKUAN_DATABASE_URL"
    if isinstance(exc, OperationalError) and not where.startswith("sqlite") and exc.statement is None:
        return f"cannot reach the ledger {where} ({cause}); is the database server running? check HUIKUAN_DATABASE_URL"
    return f"the ledger {where} failed: {cause} (check HUIKUAN_DATABASE_URL)"


def _settings_line(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.title == "Settings":
        problems = [
            f"HUIKUAN_{str(e['loc'][0]).upper() if e['loc'] else '?'}{''.join(f'[{part}]' for part in e['loc'][1:])}: {e['msg']} (got {e.get('input')!r})"
            for e in exc.errors(include_url=False)
        ]
        return "invalid setting: " + "; ".join(problems)
    field = re.search(r'field "(\w+)"', str(exc))
    variable = f"HUIKUAN_{field[1].upper()}" if field else "a HUIKUAN_ setting"
    cause = f": {_flat(exc.__cause__)}" if exc.__cause__ else ""
    example = "; write e.g. HUIKUAN_CLOSED_DAYS='[\"2026-10-01\"]'" if variable == "HUIKUAN_CLOSED_DAYS" else ""
    return f"invalid setting {variable}: not valid JSON{cause}{example}"


def error_line(exc: Exception) -> tuple[str, int] | None:
    """The one line (and exit status) for a database or configuration error; None for any other."""
    import sqlite3
    from zoneinfo import ZoneInfoNotFoundError

    from pydantic import ValidationError
    from pydantic_settings import SettingsError
    from sqlalchemy.exc import SQLAlchemyError

    from huikuan.ledger.company import CompanyFileError
    from models.policy import PolicyError

    if isinstance(exc, (SQLAlchemyError, sqlite3.Error)):
        return _database_line(exc), 1
    if isinstance(exc, CompanyFileError):
        hint = "" if "HUIKUAN_COMPANY_FILE" in str(exc) else " (the company file: HUIKUAN_COMPANY_FILE)"
        return one_line(exc) + hint, 1
    if isinstance(exc, PolicyError):
        return one_line(exc), 1
    if isinstance(exc, SettingsError) or (isinstance(exc, ValidationError) and exc.title == "Settings"):
        return _settings_line(exc), 1
    if isinstance(exc, ZoneInfoNotFoundError):
        return f"{_flat(exc.args[0] if exc.args else exc)}: HUIKUAN_TIMEZONE (and the company file) take time zone names such as Asia/Shanghai", 1
    if isinstance(exc, OSError):
        what = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or _flat(exc)
        database = _ledger_where()
        hint = " (the ledger: HUIKUAN_DATABASE_URL)" if exc.filename and str(exc.filename) in database else ""
        return f"{what}{reason}{hint}", 1
    return None


def one_line(text: object) -> str:
    """A multi-line message (a company file's problems, a YAML error) as one line joined by '; '."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip() not in ("", "^"))  # "^": a YAML error's pointer
