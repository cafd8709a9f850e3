"""The CLI close to the machine (issue #18): it starts without the heavy modules, and `plan` streams its output.

``huikuan --help`` and ``huikuan shipping check`` are what the warehouse and the ERP's scripts run
many times a day: the command modules import the ORM, Prefect, the documents and the reports only in
the commands that use them (checked here by the modules loaded, not by a clock). ``plan`` writes each
action as the engine yields it, so its memory stays flat with the ledger's size; its CSV and JSON are
byte for byte what the whole list gave.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from huikuan.cli.common import CsvEncoding, OutputFormat, write_actions, write_csv
from huikuan.reports.builders import encode_csv, write_encoded_csv
from huikuan.reports.planning import json_rows, write_json
from models.engine import Action
from models.texts import Text

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("sqlalchemy", "alembic", "prefect", "reportlab", "matplotlib", "jinja2", "openpyxl", "fastapi")
DAY = dt.date(2026, 12, 4)


def loaded_after(code: str) -> list[str]:
    script = f"import sys\n{code}\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))"
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_the_command_loads_no_heavy_module_to_show_its_help():
    assert loaded_after("import huikuan.cli") == []
    assert loaded_after("from typer.testing import CliRunner\nfrom huikuan.cli import app\nCliRunner().invoke(app, ['--help'])") == []


def test_the_shipping_check_loads_the_ledger_only(tmp_path):
    from sqlalchemy import create_engine

    from huikuan.ledger.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'huikuan.db'}"
    engine = create_engine(url)
    upgrade(engine)  # a ledger in use: the check finds it current
    engine.dispose()
    code = (
        f"import os\nos.environ['HUIKUAN_DATABASE_URL'] = {url!r}\nos.environ['HUIKUAN_DATA_DIR'] = {str(tmp_path)!r}\n"
        "from typer.testing import CliRunner\nfrom huikuan.cli import app\n"
        "result = CliRunner().invoke(app, ['shipping', 'check', 'C404'])\nassert result.exit_code == 2, result.output"
    )
    assert loaded_after(code) == ["sqlalchemy"]  # the ledger, nothing else (its schema check needs no Alembic)


def action(customer: str) -> Action:
    return Action(
        on=DAY,
        customer_id=customer,
        action="send_reminder",
        invoices=("I-" + customer,),
        channel="email",
        role="collector",
        needs_approval=False,
        reasons=("due in 3 days",),
        steps=("remind",),
    )


def failing_after(count: int):
    for number in range(count):
        yield action(f"C{number:03d}")
    raise RuntimeError("the ledger went away")


def test_plan_csv_is_written_while_the_plan_is_still_being_made(capsys):
    with pytest.raises(RuntimeError):
        write_actions(failing_after(2), OutputFormat.csv, None, None, title=Text("Actions due on {day}", day=DAY), day=DAY, locale="en")
    written = capsys.readouterr().out.splitlines()
    assert written[0].startswith("date,customer_id,action") and [line.split(",")[1] for line in written[1:]] == ["C000", "C001"]


def test_plan_json_is_written_while_the_plan_is_still_being_made_and_reads_as_before(capsys):
    with pytest.raises(RuntimeError):
        write_actions(failing_after(2), OutputFormat.json, None, None, title=Text("Actions due on {day}", day=DAY), day=DAY, locale="en")
    assert '"customer_id": "C001"' in capsys.readouterr().out
    for actions in ([], [action("C1")], [action("C1"), action("C2"), action("C3")]):
        streamed = io.StringIO()
        write_json(iter(actions), streamed)
        assert streamed.getvalue() == json.dumps(list(json_rows(actions)), ensure_ascii=False, indent=1) + "\n"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_a_csv_file_written_row_by_row_is_the_same_bytes(encoding):
    rows = [["customer_id", "name"], ["C1", "华信机电"], ["C2", 'say "hi", then,\nleave']]
    streamed = io.BytesIO()
    write_encoded_csv(iter(rows), encoding, streamed)
    assert streamed.getvalue() == encode_csv(rows, encoding)
    assert streamed.getvalue().count("\ufeff".encode("utf-8")) == (1 if encoding == "utf-8-sig" else 0)


def test_a_cell_gbk_cannot_hold_leaves_no_file_behind(tmp_path):
    import typer

    target = tmp_path / "plan.csv"
    rows = iter([["customer_id", "name"], ["C1", "华信"], ["C2", "Café 😀"]])
    with pytest.raises(typer.Exit):
        write_csv(rows, target, CsvEncoding.gbk)
    assert list(tmp_path.iterdir()) == []


def test_the_schema_check_knows_the_newest_migration_without_alembic(tmp_path):
    from sqlalchemy import create_engine

    from huikuan.ledger.migrate import alembic_head, is_current, newest_revision, upgrade

    engine = create_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    assert newest_revision() == alembic_head(engine)
    assert not is_current(engine)  # empty: no version table
    upgrade(engine, "0014")
    assert not is_current(engine)
    upgrade(engine)
    assert is_current(engine)
    engine.dispose()
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    code = f"from sqlalchemy import create_engine\nfrom huikuan.ledger.migrate import is_current\nassert is_current(create_engine({url!r}))"
    assert "alembic" not in loaded_after(code)


def test_the_progress_bar_counts_every_customer_in_steps_and_nothing_off_a_terminal():
    """``plan`` counts each customer; the bar is told in steps (rich's ``advance`` costs ~5 µs) and the last step at the end."""
    from rich.console import Console
    from rich.progress import Progress

    from huikuan.cli.common import _Tracker

    progress = Progress(console=Console(file=io.StringIO(), force_terminal=True))
    with progress:
        tracker = _Tracker(progress)
        for _customer in range(1000):
            tracker.advance(1)
        (task,) = progress.tasks
        assert 1000 - _Tracker.SHOWN_EVERY < task.completed < 1000  # told in steps while counting
        tracker.flush()
        assert task.completed == 1000 and tracker.pending == 0
    silent = Progress(console=Console(file=io.StringIO()), disable=True)
    tracker = _Tracker(silent)
    tracker.advance(5)
    assert silent.tasks == [] and tracker.pending == 0
