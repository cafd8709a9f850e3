"""A limitation date in a year the holiday calendar does not cover is said where limitation dates are shown (issue #17).

I1 is due 2026-10-15: its limitation date, 2029-10-15, is moved off days off on a
2029 calendar without official data (statutory days off only). ``customers show``,
``huikuan case`` and ``report limitation`` (when it lists that date) warn about it;
the commands that only look 2029 up on the way (plan, worklist, explain) do not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.ledger.db import engine_for, session_scope
from huikuan.ledger.importer import import_files
from huikuan.ledger.settings import get_settings
from tests.ledger_files import write_files

FILES = {
    "customers": "customer_id,name,email,phone,contact_name,collector\nC1,华信,a@a.cn,1,王,zhang\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-09-15,2026-10-15,1000.00\nI2,C1,2023-09-15,2023-10-15,500.00\n",
}
SAID = (
    "no official CN calendar for 2029: the limitation dates (诉讼时效) in 2029 are moved off the statutory days off "
    "(全国年节及纪念日放假办法) without make-up working days; declare the published schedule in the company file's calendar section"
)


@pytest.fixture
def env(tmp_path, monkeypatch):
    values = {
        "HUIKUAN_DATABASE_URL": f"sqlite:///{tmp_path / 'huikuan.db'}",
        "HUIKUAN_DATA_DIR": str(tmp_path / "data"),
        "HUIKUAN_COMPANY_FILE": str(tmp_path / "none.yaml"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    engine_for.cache_clear()
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    with session_scope() as session:
        import_files(session, write_files(tmp_path, FILES))
    yield {**values, "out": str(tmp_path / "cases")}
    engine_for.cache_clear()
    get_settings.cache_clear()


def calendar_warnings(*args: str) -> list[str]:
    """The calendar warnings the command lets through, with fresh calendars (each warns once per process)."""
    from models.calendar import CalendarFallbackWarning, _cached_calendar

    _cached_calendar.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # as shown to a person, but recorded: the command's own filters decide
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [str(w.message) for w in caught if issubclass(w.category, CalendarFallbackWarning)]


def test_the_commands_that_show_limitation_dates_say_the_year_is_not_covered(env):
    assert calendar_warnings("customers", "show", "C1", "--as-of", "2026-12-04") == [SAID]
    assert calendar_warnings("case", "C1", "--out", env["out"], "--as-of", "2026-12-04") == [SAID]
    assert SAID in calendar_warnings("report", "limitation", "--as-of", "2028-12-04")  # I1's date is listed


def test_the_other_commands_and_a_report_that_does_not_list_the_date_say_nothing(env):
    for args in (
        ("plan", "--as-of", "2026-12-04"),
        ("worklist", "--as-of", "2026-12-04"),
        ("explain", "C1", "--as-of", "2026-12-04"),
        ("report", "limitation", "--as-of", "2026-12-04"),
        ("report", "aging", "--charges", "--as-of", "2026-12-04"),
    ):
        assert calendar_warnings(*args) == [], args


def test_a_person_sees_one_line_on_stderr(env):
    shown = subprocess.run(
        [sys.executable, "-m", "huikuan.cli", "customers", "show", "C1", "--as-of", "2026-12-04"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert [line for line in shown.stderr.splitlines() if line.strip()] == [f"warning: {SAID}"]
    assert "2029-10-15" in shown.stdout
