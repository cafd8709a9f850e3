"""The harness of the tests on a real local stack: ``huikuan.stack.LocalStack`` in a temporary directory.

Used by tests/test_server_approval.py, tests/test_fault_worker.py and the
browser tests: the stack's settings and environment, its start and stop, the
``huikuan`` command run as a subprocess with the stack's environment, waiting
for what the stack does (with the worker's log on a timeout), the ledger and the
outbox folder it writes, the flow runs it holds, and Debian's Chromium.
"""

from __future__ import annotations

import contextlib
import email
import email.message
import email.policy
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.ledger.company import EXAMPLE
from huikuan.ledger.db import make_engine
from huikuan.ledger.settings import Settings
from huikuan.stack import LocalStack, free_port, local_auth_string, log_tail
from models.ledger import Approval, ApprovalGroup

T = TypeVar("T")
WAIT = 240.0  # seconds for each step: generous, a loaded 2-core machine is slow to start processes
STACK_ENV = {"PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}

# The small ledger of the approval tests (server and browser).
AS_OF = "2026-09-02"  # C1's invoice fell due on 2026-06-01: more than 3 months unpaid, stop_shipment is due
CUSTOMERS = (
    "customer_id,name,email,phone,contact_name\nC1,华信贸易有限公司,c1@example.cn,021-1,王伟\nC2,恒达物流有限公司,c2@example.cn,021-2,李娜\n"
    "C3,安信电子有限公司,c3@example.cn,021-3,赵磊\n"
)
INVOICES = "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-05-01,2026-06-01,12000.00\nI2,C2,2026-08-20,2026-09-20,500.00\n"
# October's deliveries: statements prepared on 11-05 and submitted for review on 11-09 (the 8th is a Sunday).
CHARGES = "charge_id,customer_id,delivered_on,amount,description\nH1,C2,2026-10-15,880.00,仓储费\nH2,C3,2026-10-21,2300.00,电子元件\n"

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (.ci/run installs it)
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}  # a common phone's viewport in CSS pixels
BOSS = "boss@huikuan-demo.example.cn"  # the example company's boss


# -- the stack ------------------------------------------------------------------------------


def new_stack(work: Path, files: Mapping[str, str] = {}, *, startup_timeout: float = WAIT, password: bool = True, web: bool = False) -> LocalStack:  # noqa: B006 - read only
    """The stack (not started yet) working in ``work``: the example company, ``files`` (name -> text) written there, a SQLite ledger.

    The outbox is the example company's folder, huikuan-data/outbox relative to
    ``work``. With ``password`` the stack has one, as ``huikuan start`` has: every
    client sends it and the UI asks for it. With ``web`` it runs the web service too.
    """
    (work / "company.yaml").write_text(EXAMPLE, encoding="utf-8")
    for name, text in files.items():
        (work / name).write_text(text, encoding="utf-8")
    settings = Settings(
        database_url=f"sqlite:///{work / 'huikuan.db'}",
        company_file=work / "company.yaml",
        data_dir=work / "huikuan-data",
        timezone="Asia/Shanghai",
        policy="handbook",
        retry_delay_seconds=1,
    )
    return LocalStack(
        port=free_port(),
        home=work / "prefect",
        cwd=work,
        settings=settings,
        startup_timeout=startup_timeout,
        web_port=free_port() if web else None,
        extra_env=dict(STACK_ENV),
        auth_string=local_auth_string(work / "prefect")[0] if password else None,
    )


@contextlib.contextmanager
def running(stack: LocalStack) -> Iterator[LocalStack]:
    """The stack started, and stopped afterwards whatever happened (also when it did not start)."""
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


def huikuan(stack: LocalStack, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The ``huikuan`` command as the warehouse or a script runs it, with the stack's environment."""
    return subprocess.run([sys.executable, "-m", "huikuan.cli", *args], cwd=stack.cwd, env=stack.environment(), capture_output=True, text=True, timeout=timeout)


def wait_for(stack: LocalStack, what: str, probe: Callable[[], T | None], timeout: float = WAIT) -> T:
    """Poll ``probe`` until it returns something truthy; on timeout fail with the last value and the worker's log."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        assert stack.alive(), stack.problem()
        last = probe()
        if last:
            return last
        time.sleep(1)
    pytest.fail(f"waited {timeout:.0f}s for {what}; last seen: {last!r}\n--- worker log:\n{log_tail(stack.worker_log, 80)}")


def descendants(pid: int) -> list[int]:
    """Every process under ``pid`` (from /proc), children first found first."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


# -- what the stack wrote: the ledger, the outbox folder --------------------------------------


def ledger(stack: LocalStack) -> Session:
    return Session(make_engine(stack.settings.database_url))


def the_approval(stack: LocalStack) -> Approval | None:
    """C1's stop-shipment request (the small ledger's, on AS_OF)."""
    with ledger(stack) as session:
        return session.scalar(select(Approval).where(Approval.customer_id == "C1", Approval.action == "stop_shipment"))


def list_run(stack: LocalStack, key: str) -> str | None:
    """The flow run of the list of requests ``key``, once noted."""
    with ledger(stack) as session:
        return session.scalar(select(ApprovalGroup.flow_run_id).where(ApprovalGroup.key == key))


def approval_run(stack: LocalStack, key: str) -> str | None:
    """The flow run of the request ``key``, once noted."""
    with ledger(stack) as session:
        return session.scalar(select(Approval.flow_run_id).where(Approval.key == key))


def outbox_emails(stack: LocalStack, newest_first: bool = False) -> Iterator[tuple[Path, email.message.EmailMessage]]:
    """(path, message) of each delivered email: the .eml files of the example company's outbox folder, by name or newest first."""
    outbox = stack.cwd / "huikuan-data" / "outbox"
    paths = sorted(outbox.glob("*.eml"), key=(lambda p: p.stat().st_mtime) if newest_first else None, reverse=newest_first) if outbox.is_dir() else []
    for path in paths:
        yield path, email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def code_emailed_to(stack: LocalStack, address: str) -> str | None:
    """The one-time code in the approval request emailed to ``address`` (the outbox folder of the example company)."""
    for path, message in outbox_emails(stack):
        if address in str(message["To"]) and ":code:" in str(message["X-Huikuan-Key"]):
            found = re.search(r"(?:验证码|code)\D{0,20}(\d{6})", message.get_body(("plain",)).get_content())
            assert found, f"no code in {path}"
            return found.group(1)
    return None


# -- the flow runs --------------------------------------------------------------------------


def flow_run_state(stack: LocalStack, run_id):
    from prefect.client.orchestration import get_client

    with stack.client_settings(), get_client(sync_client=True) as client:
        return client.read_flow_run(run_id).state


def suspended_for(stack: LocalStack, run_id, pause_key: str):
    """The run's state when it waits for the answer under ``pause_key`` (each answer has its own key)."""
    state = flow_run_state(stack, run_id)
    waiting = state.is_paused() and state.name == "Suspended" and state.state_details.pause_key == pause_key
    return state if waiting else None


def finished(stack: LocalStack, run_id, what: str, timeout: float = WAIT):
    """The run's final state, once it has one."""
    return wait_for(stack, what, lambda: (s := flow_run_state(stack, run_id)).is_final() and s, timeout=timeout)


def the_boss_is_asked(stack: LocalStack) -> tuple[Approval, str, str]:
    """The daily collection of AS_OF run to completion; then C1's stop-shipment request, its run waiting for the first
    answer and the code emailed to the boss: (the request as first noted, its run's id, the code)."""
    from prefect.deployments import run_deployment

    with stack.client_settings():
        daily = run_deployment("daily-collection/daily-collection", parameters={"as_of": AS_OF}, timeout=0)
    finished(stack, daily.id, "the daily collection to complete")
    assert flow_run_state(stack, daily.id).is_completed(), flow_run_state(stack, daily.id)

    approval = wait_for(stack, "the approval request's run to be noted", lambda: (a := the_approval(stack)) and a.flow_run_id and a)
    run_id = approval.flow_run_id
    wait_for(stack, "the request to wait for the boss's first answer", lambda: suspended_for(stack, run_id, "answer-1"))
    code = wait_for(stack, "the code emailed to the boss", lambda: code_emailed_to(stack, BOSS))
    return approval, run_id, code


# -- Debian's Chromium (the ``chromium`` fixture of tests/conftest.py checks it is there) --------


def screenshots_folder() -> Path | None:
    """Where the screenshots are copied besides the test's directory: ``HUIKUAN_SCREENSHOTS`` (e.g. docs/screenshots), else nowhere."""
    folder = os.environ.get("HUIKUAN_SCREENSHOTS", "").strip()
    return (ROOT / folder).resolve() if folder else None


SCREENSHOTS = screenshots_folder()


def keep_screenshot(path: Path) -> None:
    """A screenshot copied to ``HUIKUAN_SCREENSHOTS`` (the documentation's images) when it is set."""
    if SCREENSHOTS is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOTS / path.name)


@contextlib.contextmanager
def headless_chromium(**launch) -> Iterator:
    """Debian's Chromium, headless, driven by Playwright's sync API; closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, **launch)
        try:
            yield browser
        finally:
            browser.close()
