"""Security of the embedded stack (issue #12, finding 4): ``huikuan start`` is closed to other web pages.

``huikuan start`` runs as the README starts it (a fresh directory, the defaults,
a small demo), on a free port. Then, as a web page open in the same browser or
a program on the machine would:

- without the password, the API answers 401 (artifacts with contacts and
  balances unreadable, no run started); only ``/api/health`` stays open;
- a cross-origin request from another page's origin is not allowed (no
  ``access-control-allow-origin`` for it), the UI's own origin is;
- with the password but without a CSRF token the server issued, a changing
  request (POST) is refused with 403; with one, it is served;
- the password was generated, printed once and kept in
  ``huikuan-data/prefect/auth-string`` with mode 0600; ``huikuan approvals
  answer`` finds it there by itself (it reaches the server and is told the run
  does not exist, not refused at the door).

On the code before the fix the first probe already fails: the API answered
everyone. ``local_auth_string`` is checked on its own as well (kept, not
regenerated; a damaged file is an error).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from huikuan.stack import AUTH_USER, StackError, auth_file, free_port, local_auth_string, log_tail

STARTUP = 420  # seconds for the demo, the server, the deployments and the worker on a loaded 2-core machine
EVIL_ORIGIN = "http://evil.example"


@dataclass
class Started:
    work: Path
    port: int
    output: Path
    env: dict[str, str]

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def password(self) -> str:
        return auth_file(self.work / "huikuan-data" / "prefect").read_text(encoding="utf-8").strip()


def request(url: str, method: str = "GET", body: dict | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read().decode()


def basic(auth: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}


@pytest.fixture(scope="module")
def started(tmp_path_factory) -> Iterator[Started]:
    """``huikuan start`` in a fresh directory with nothing of ours in the environment, until the test ends."""
    work = tmp_path_factory.mktemp("huikuan-start")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "HUIKUAN_"))}
    env.update(
        {
            "HUIKUAN_SERVER_PORT": str(port),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
            "COLUMNS": "200",
        }
    )
    output = work / "start.out"
    with output.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "huikuan.cli", "start", "--customers", "5", "--as-of", "2026-11-22"],
            cwd=work,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + STARTUP
        while "Press Ctrl-C" not in output.read_text(encoding="utf-8", errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"huikuan start did not start (status {process.poll()}):\n{log_tail(output, 60)}")
            time.sleep(1)
        yield Started(work, port, output, env)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_the_api_demands_the_password(started: Started) -> None:
    for path in ("/admin/version", f"/csrf-token?client={uuid.uuid4()}", f"/flow_runs/{uuid.uuid4()}"):
        status, _, _ = request(f"{started.api}{path}")
        assert status == 401, f"the local API answered GET {path} without the password"
        status, _, _ = request(f"{started.api}{path}", headers=basic(f"{AUTH_USER}:wrong"))
        assert status == 401, f"the local API answered GET {path} with a wrong password"
    status, _, _ = request(f"{started.api}/artifacts/filter", "POST", {"limit": 5})
    assert status in (401, 403), "the local API served a POST without the password"
    status, _, _ = request(f"{started.api}/health")
    assert status == 200  # what the stack itself waits on


def test_other_origins_may_not_read_the_api(started: Started) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    _, evil, _ = request(f"{started.api}/artifacts/filter", "OPTIONS", headers={"Origin": EVIL_ORIGIN, **preflight})
    assert evil.get("access-control-allow-origin") not in ("*", EVIL_ORIGIN)
    own = f"http://127.0.0.1:{started.port}"
    _, allowed, _ = request(f"{started.api}/artifacts/filter", "OPTIONS", headers={"Origin": own, **preflight})
    assert allowed.get("access-control-allow-origin") == own
    _, simple, _ = request(f"{started.api}/health", headers={"Origin": EVIL_ORIGIN})
    assert simple.get("access-control-allow-origin") not in ("*", EVIL_ORIGIN)


def test_changes_need_a_csrf_token_from_the_server(started: Started) -> None:
    auth = basic(started.password)
    status, _, body = request(f"{started.api}/artifacts/filter", "POST", {"limit": 5}, auth)
    assert status == 403 and "CSRF" in body
    client = str(uuid.uuid4())
    status, _, body = request(f"{started.api}/csrf-token?client={client}", headers=auth)
    assert status == 200, body
    token = json.loads(body)["token"]
    status, _, body = request(f"{started.api}/artifacts/filter", "POST", {"limit": 5}, {**auth, "Prefect-Csrf-Token": token, "Prefect-Csrf-Client": client})
    assert status == 200, body


def test_the_password_is_generated_shown_once_and_kept_private(started: Started) -> None:
    path = auth_file(started.work / "huikuan-data" / "prefect")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = started.password
    assert password.startswith(f"{AUTH_USER}:") and len(password.partition(":")[2]) >= 20
    printed = started.output.read_text(encoding="utf-8")
    assert printed.count(password) == 1 and "shown only now" in printed
    # The same password on every later start: the browser's login and the shells keep working.
    assert local_auth_string(path.parent) == (password, False)


def test_approvals_answer_finds_the_password_itself(started: Started) -> None:
    """A request whose run the server does not know: the answer gets through the door and is told so."""
    import sqlite3

    run_id = str(uuid.uuid4())
    with sqlite3.connect(started.work / "huikuan.db") as db:
        customer = db.execute("SELECT customer_id FROM customers ORDER BY customer_id LIMIT 1").fetchone()[0]
        db.execute(
            "INSERT INTO approvals (key, customer_id, action, approver_role, state, requested_on, requested_at, flow_run_id, "
            "invoices, reminders, refusals, held, runs_ended, recent_refusals) VALUES "
            "('approval:probe', ?, 'stop_shipment', 'boss', 'requested', '2026-11-22', '2026-11-22 01:00:00', ?, '', 0, 0, 0, 0, '')",
            (customer, run_id),
        )
    answered = subprocess.run(
        [sys.executable, "-m", "huikuan.cli", "approvals", "answer", "approval:probe", "--approver", "boss", "--code", "123456", "--decision", "approve"],
        cwd=started.work,
        env=started.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answered.returncode == 1
    assert f"has no run {run_id}" in answered.stderr, answered.stderr


def test_a_damaged_password_file_is_an_error(tmp_path: Path) -> None:
    value, created = local_auth_string(tmp_path)
    assert created and local_auth_string(tmp_path) == (value, False)
    auth_file(tmp_path).write_text("no-colon\n", encoding="utf-8")
    with pytest.raises(StackError, match="auth-string"):
        local_auth_string(tmp_path)
