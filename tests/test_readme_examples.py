"""Issue #13, item 6: the README's example commands work on the demo as generated.

The demo is loaded as of a day (today, for ``huikuan start``), so ``huikuan start``
and ``huikuan demo`` print commands that fit it: its own customers, invoices and
statements, and its day (``huikuan.demo.load.demo_examples``). The README shows what
they print for the demo as of one day, in the fenced block after the comment
``<!-- demo-examples as-of=DAY … -->``. Here: that block is what ``huikuan demo
--as-of DAY`` prints, and each of its commands succeeds, in order, on that demo;
and the commands printed for a demo of another day succeed on theirs too.
In-process through typer's CliRunner, on SQLite, no Prefect server.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.demo.load import README_DAY
from models.calendar import _cached_calendar

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"<!-- demo-examples as-of=(\d{4}-\d{2}-\d{2})\b[^>]*-->\n```bash\n(.*?)```", re.S)
runner = CliRunner()


def readme_examples() -> tuple[dt.date, str]:
    """The README's marked block: the demo's day and the lines as printed."""
    found = MARKER.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(found) == 1, "README.md needs one '<!-- demo-examples as-of=YYYY-MM-DD -->' comment before a ```bash block"
    day, block = found[0]
    return dt.date.fromisoformat(day), block


def commands(block: str) -> list[list[str]]:
    """Each command line of a block as the shell splits it (comments dropped); lines that are only a comment are skipped."""
    found = []
    for line in block.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[0] == "huikuan", line
            found.append(words[1:])
    return found


@pytest.fixture
def fresh(cli_env, monkeypatch):
    """An empty ledger and data directory, no company file, the commands run in a scratch folder (files they write land there)."""
    monkeypatch.chdir(cli_env)
    return cli_env


def run(args: list[str]):
    return runner.invoke(app, args, catch_exceptions=False)


# `shipping check` answers with its exit status: 1 locked, 3 only against payment (e.g. over the credit limit).
ANSWERS = {("shipping", "check"): {0, 1, 3}}


def run_all(lines: list[list[str]]) -> None:
    for args in lines:
        result = run(args)
        allowed = ANSWERS.get(tuple(args[:2]), {0})
        assert result.exit_code in allowed, f"huikuan {shlex.join(args)} exited {result.exit_code}:\n{result.output}"
        if allowed != {0}:
            assert result.stdout.strip() and not result.stderr.strip(), result.output  # an answer, not an error


def test_the_readme_shows_what_the_demo_prints_and_every_command_works(fresh):
    day, block = readme_examples()
    assert day == README_DAY
    loaded = run(["demo", "--as-of", day.isoformat()])
    assert loaded.exit_code == 0, loaded.output
    printed = (fresh / "data" / "demo" / "examples.txt").read_text(encoding="utf-8")
    assert printed == block, "README.md's demo-examples block is not what `huikuan demo --as-of DAY` prints now: paste examples.txt into it"
    assert printed in loaded.stdout
    lines = commands(block)
    said = [" ".join(args[:2]) for args in lines]
    # The README shows the things a new user does first, the recording ones included, not only the looking ones.
    for wanted in ("contact log", "promise", "payment", "dispute open", "statement confirm", "statement invoiced", "approvals list", "worklist"):
        assert any(each.startswith(wanted) for each in said), f"the README's examples have no `huikuan {wanted}`"
    run_all(lines)
    assert (fresh / "aging.xlsx").exists()


@pytest.mark.parametrize("day", ["2026-12-07"])  # a Monday before the 8th: no statement is sent yet that month
def test_the_examples_printed_for_another_day_work_on_its_demo(fresh, day):
    _cached_calendar.cache_clear()  # the calendar's warning comes once per calendar: fresh ones, as in a new process
    loaded = run(["start", "--no-server", "--customers", "60", "--as-of", day])
    assert loaded.exit_code == 0, loaded.output
    assert "Try it on the demo" in loaded.stdout and "huikuan adopt --dry-run --as-of " + day in loaded.stdout
    lines = commands((fresh / "data" / "demo" / "examples.txt").read_text(encoding="utf-8"))
    assert all(day in " ".join(args) for args in lines if args[0] not in ("approvals", "calendar", "shipping"))
    run_all(lines)
