"""The house's habits, checked with the tests: ruff's lint (the rules in pyproject.toml) and its format pass on the whole tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", str(ROOT)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_code_is_laid_out_by_ruff_format():
    """`ruff format` (line length 160, pyproject.toml) leaves nothing to change: run it before committing."""
    done = subprocess.run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache", str(ROOT)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_flows_read_like_runbooks_no_sql_and_no_polling_in_them():
    """A flow orders its tasks; reading the ledger and waiting on the server are tasks (tasks/), with their timeouts."""
    for path in sorted((ROOT / "flows").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        for word in ("sqlalchemy", "session_scope", "time.sleep", "get_client", "prefect.artifacts", "huikuan.documents.escaping"):
            assert word not in source, f"{path.relative_to(ROOT)} uses {word}: put it in a task"
