"""``huikuan start`` runs the web service beside the Prefect server and prints its address beside the UI's; ``huikuan web`` runs it alone.

The stack itself is faked here (tests/test_browser_web.py starts a real one, web
service included): what is checked is the command's wiring, the port it asks for
(``--web-port``, ``HUIKUAN_WEB_PORT``) and what it prints.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.ledger.db import engine_for
from huikuan.ledger.settings import get_settings

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")


class Stack:
    """What ``huikuan start`` uses of ``LocalStack``: started, then stopped at once (as by Ctrl-C)."""

    made: list[Stack] = []

    def __init__(self, *, port, settings, web_port=None, **_):
        self.port, self.settings, self.web_port = port, settings, web_port
        self.home = Path(settings.data_dir) / "prefect"
        self.ui_url, self.api_url = f"http://127.0.0.1:{port}/", f"http://127.0.0.1:{port}/api"
        self.web_url = f"http://127.0.0.1:{web_port}/" if web_port else None
        self.work_pool, self.cwd, self.recovered, self.auth_string = "huikuan", Path.cwd(), [], None
        self.started = self.stopped = False
        Stack.made.append(self)

    def start(self):
        self.started = True

    def alive(self):
        raise KeyboardInterrupt  # Ctrl-C as soon as it runs

    def stop(self):
        self.stopped = True

    def deployment_statuses(self):
        return []


@pytest.fixture
def started(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUIKUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'huikuan.db'}")
    monkeypatch.setenv("HUIKUAN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HUIKUAN_COMPANY_FILE", str(tmp_path / "company.yaml"))
    monkeypatch.delenv("HUIKUAN_WEB_PORT", raising=False)
    monkeypatch.setattr("huikuan.stack.LocalStack", Stack)
    Stack.made.clear()
    for cache in (get_settings, engine_for):
        cache.cache_clear()
    yield lambda *args, **env: CliRunner().invoke(app, ["start", "--customers", "20", "--as-of", "2026-11-22", *args], env=env, catch_exceptions=False)
    for cache in (get_settings, engine_for):
        cache.cache_clear()


def test_start_runs_the_web_service_and_prints_its_address_beside_the_ui_s(started):
    result = started("--port", "4210")
    assert result.exit_code == 0, result.output
    (stack,) = Stack.made
    assert stack.web_port == 4300 and stack.started and stack.stopped
    lines = result.stdout.splitlines()
    ui = next(i for i, line in enumerate(lines) if line.startswith("Prefect UI: http://127.0.0.1:4210/"))
    assert lines[ui + 1].startswith("Web: http://127.0.0.1:4300/") and "http://127.0.0.1:4300/api/docs" in lines[ui + 1]
    assert "Stopping the web service, the worker and the server" in result.stdout


def test_the_web_port_is_an_option_and_a_setting(started):
    assert started("--web-port", "4411").exit_code == 0
    assert started(HUIKUAN_WEB_PORT="4412").exit_code == 0
    assert [stack.web_port for stack in Stack.made] == [4411, 4412]


def test_huikuan_web_serves_the_app_alone_on_this_machine_without_an_access_log(started, monkeypatch):
    """The pages' paths are their links, credentials: uvicorn must not log them; the address printed is the one served."""
    import uvicorn
    from fastapi.testclient import TestClient

    served = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.append((app, options)))
    alone = CliRunner().invoke(app, ["web"], catch_exceptions=False)
    assert alone.exit_code == 0, alone.output
    assert alone.stdout.startswith("huikuan web: http://127.0.0.1:4300/") and "http://127.0.0.1:4300/api/docs" in alone.stdout
    moved = CliRunner().invoke(app, ["web", "--port", "4321"], env={"HUIKUAN_WEB_HOST": "0.0.0.0"}, catch_exceptions=False)
    assert moved.exit_code == 0 and "http://0.0.0.0:4321/" in moved.stdout
    assert [(options["host"], options["port"], options["access_log"]) for _app, options in served] == [("127.0.0.1", 4300, False), ("0.0.0.0", 4321, False)]
    client = TestClient(served[0][0])
    assert [client.get(path).status_code for path in ("/api/docs", "/a/garbage", "/s/garbage")] == [200, 403, 403]
