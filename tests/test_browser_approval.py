"""End to end in a real browser: the boss answers a stop-shipment request in the Prefect UI.

Playwright (from PyPI) drives Debian's Chromium (``/usr/bin/chromium``; never
``playwright install``) against a real local Prefect server started by
``huikuan.server.LocalStack``, as in ``test_server_approval``: the daily
collection of 2026-09-02 asks the boss to approve C1's stop-shipment, the
request's run waits (Suspended) for an answer, the one-time code is emailed to
the outbox. The boss opens the run's page, clicks Resume, fills the form the
``Answer`` RunInput describes (approver, code, decision) and submits it; the
account is then locked and the warehouse's check refuses the shipment.

Screenshots of the filled form and of the completed run are written to the
test's temporary directory and to ``docs/screenshots/`` (the documentation's
images). Without Chromium the test is skipped, except in CI, where it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from huikuan.company import EXAMPLE
from huikuan.server import LocalStack, free_port, log_tail
from huikuan.settings import Settings
from models.enums import CustomerStatus
from models.ledger import ActionTaken, Approval, Customer

# Helpers only (not the ``stack`` fixture, so that module's own stack is not started again for this one).
from tests.test_server_approval import (
    AS_OF, CUSTOMERS, INVOICES, WAIT, code_emailed_to, flow_run_state, huikuan, ledger, suspended_for, the_approval, wait_for,
)

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (.ci/run installs it)
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
BOSS = "boss@huikuan-demo.example.cn"
UI_WAIT_MS = 120_000  # for each step in the page: the UI is slow to load on a loaded 2-core machine
# Tall enough for the whole Resume dialog: when the dialog is taller than the window, Prefect's UI
# shrinks the request's description and draws the form's fields over its last lines.
VIEWPORT = {"width": 1280, "height": 1200}


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, checked first: a missing browser skips the test (fails it in CI) before the stack starts."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        reason = f"Debian's Chromium is not installed ({CHROMIUM} is missing): the browser test did not run"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must install Debian's chromium package (.ci/run)")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[LocalStack]:
    """A ledger with two customers, the example company, and the whole stack working in a temporary directory."""
    work = tmp_path_factory.mktemp("huikuan-browser")
    (work / "company.yaml").write_text(EXAMPLE, encoding="utf-8")  # outbox: huikuan-data/outbox, relative to work
    (work / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (work / "invoices.csv").write_text(INVOICES, encoding="utf-8")
    settings = Settings(
        database_url=f"sqlite:///{work / 'huikuan.db'}", company_file=work / "company.yaml", data_dir=work / "huikuan-data",
        timezone="Asia/Shanghai", policy="handbook", retry_delay_seconds=1,
    )
    local = LocalStack(
        port=free_port(), home=work / "prefect", cwd=work, settings=settings, startup_timeout=WAIT,
        extra_env={"PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"},
    )
    imported = huikuan(local, "import", "--customers", "customers.csv", "--invoices", "invoices.csv")
    assert imported.returncode == 0, imported.stderr
    try:
        local.start()
        yield local
    finally:
        local.stop()
    assert local.server.poll() is not None and local.worker.poll() is not None


# -- the browser --------------------------------------------------------------------------

@contextlib.contextmanager
def browser_page(stack: LocalStack, tmp_path: Path, name: str) -> Iterator:
    """A page in headless Chromium; on failure its screenshot (``<name>-failure.png``) and the page's errors are printed.

    Playwright's sync API keeps an event loop running in this thread while it is
    open, and Prefect's client then takes this thread for async code
    (``run_deployment`` returns a coroutine): the browser is open only while the
    page is used, never around calls to Prefect's client.
    """
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=UI_WAIT_MS)  # expect's own default is 5 s
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, timeout=UI_WAIT_MS)
        try:
            context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="Asia/Shanghai")
            context.set_default_timeout(UI_WAIT_MS)
            context.set_default_navigation_timeout(UI_WAIT_MS)
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            try:
                yield page
            except BaseException:
                failure = tmp_path / f"{name}-failure.png"
                with contextlib.suppress(Exception):
                    page.screenshot(path=str(failure))
                with contextlib.suppress(Exception):
                    shown = page.locator("[role=dialog], [role=alert], [class*=toast]").all_inner_texts()
                    print(f"dialogs and messages shown: {shown}")
                print(f"the page when the test failed: {failure}; errors in the page: {errors}")
                print(f"--- server log:\n{log_tail(stack.server_log, 40)}")
                raise
        finally:
            browser.close()


def form_field(dialog, label: str):
    """The form's field (label, description and control) whose label reads exactly ``label``.

    Prefect's schema form renders ``<label for=...>`` with an id no control carries,
    so ``get_by_label`` finds nothing: the field is the nearest element around the
    label that also holds a control (a text area or input, or the select's button).
    """
    field = dialog.locator(
        f"xpath=.//label[normalize-space(.)='{label}']"
        "/ancestor::*[.//textarea or .//input or .//button[contains(@class, 'select')]][1]"
    )
    field.first.wait_for(timeout=UI_WAIT_MS)
    labels = [text.strip() for text in dialog.locator("label").all_inner_texts()]
    assert field.count() == 1, f"expected one form field labelled {label!r}; the labels in the dialog: {labels}"
    return field


def fill_text(dialog, label: str, value: str) -> None:
    from playwright.sync_api import expect

    control = form_field(dialog, label).locator("textarea, input:not([type=hidden])").first
    control.fill(value)
    expect(control).to_have_value(value)


def choose(page, dialog, label: str, option: str) -> None:
    """Pick ``option`` in the select of the field ``label``.

    A click on the select's box does not open its options (Prefect 3.9's UI, headless
    Chromium); a click on its chevron does, and so do Space and ArrowDown on the box.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    field = form_field(dialog, label)
    box = field.locator("button[class*='select']").first
    wanted = page.get_by_role("option", name=option, exact=True)
    openers = [
        ("a click on its chevron", lambda: field.locator("[class*='select-button__icon']").first.click(timeout=10_000)),
        ("Space", lambda: (box.focus(), page.keyboard.press("Space"))),
        ("ArrowDown", lambda: (box.focus(), page.keyboard.press("ArrowDown"))),
        ("a click on the box", lambda: box.click()),
    ]
    for _how, open_options in openers:
        try:
            if not wanted.is_visible():
                open_options()
            wanted.wait_for(state="visible", timeout=10_000)
            break
        except PlaywrightTimeout:
            continue
    else:
        pytest.fail(f"the options of {label!r} did not open (tried {', '.join(how for how, _ in openers)})")
    wanted.click()
    expect(field.get_by_role("button", name=option, exact=True)).to_be_visible()  # the box shows the choice


def submit(page, dialog, still_waiting, attempts: int = 3) -> None:
    """Click Submit until the dialog closes: again (as the boss would) when the UI says it failed and the run still waits.

    Prefect's server on SQLite now and then refuses the resume with "database is
    locked" (a write that meets another one; the UI shows "Failed to resume flow
    run" and keeps the dialog open); the run is then unchanged and still suspended.
    """
    from playwright.sync_api import expect

    failed = page.get_by_text("Failed to resume flow run")  # shown twice for one failed request
    for attempt in range(1, attempts + 1):
        dialog.get_by_role("button", name="Submit", exact=True).click()
        deadline = time.monotonic() + UI_WAIT_MS / 1000
        while time.monotonic() < deadline and dialog.is_visible() and not failed.first.is_visible():
            page.wait_for_timeout(250)
        if dialog.is_hidden():
            if attempt > 1:
                print(f"\nthe answer was submitted at attempt {attempt}: the server failed to resume the run before")
            return
        assert failed.first.is_visible(), f"the dialog is still open {UI_WAIT_MS / 1000:.0f}s after Submit"
        assert still_waiting(), "the UI says the resume failed, but the run does not wait for the answer any more"
        expect(failed).to_have_count(0)  # the message goes away by itself after a few seconds; then again
    pytest.fail(f"the server failed to resume the run at each of {attempts} submits")


def ends_above(page, text: str, element) -> bool:
    """Whether the text ``text`` ends above ``element`` (not drawn over by it)."""
    upper, lower = page.get_by_text(text).first.bounding_box(), element.bounding_box()
    return bool(upper and lower and upper["y"] + upper["height"] <= lower["y"] + 1)


def settle_graph(page, responses: list[str], timeout: float = 60.0) -> None:
    """Wait until the run's timeline (a canvas) has its data and stops moving: its zoom is animated after it loads.

    Only for the picture: when it never settles the test goes on (and says so).
    """
    deadline, canvas = time.monotonic() + timeout, page.locator("canvas").first
    while time.monotonic() < deadline and not any("/graph" in url for url in responses):
        page.wait_for_timeout(250)
    frames: list[bytes] = []
    while time.monotonic() < deadline:
        frames = [*frames[-2:], canvas.screenshot()]
        if len(frames) == 3 and frames[0] == frames[1] == frames[2]:
            return
        page.wait_for_timeout(500)
    print(f"the run's timeline did not settle within {timeout:.0f}s (graph requests: {[u for u in responses if '/graph' in u]})")


def save_screenshot(page, tmp_path: Path, name: str) -> Path:
    """The page's screenshot in the test's directory, copied to docs/screenshots (the documentation's image)."""
    path = tmp_path / name
    page.screenshot(path=str(path))
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENSHOTS / name)
    return path


# -- the ledger -------------------------------------------------------------------------

def answered(stack: LocalStack, run_id, approval_key: str):
    """The run's final state, None while it runs; fails at once if the answer was refused (the run waits again)."""
    state = flow_run_state(stack, run_id)
    if state.is_final():
        return state
    if suspended_for(stack, run_id, "answer-2"):
        with ledger(stack) as session:
            refusals = session.scalars(select(ActionTaken.detail).where(ActionTaken.key.like(f"{approval_key}:refused:%"))).all()
        pytest.fail(f"the answer submitted in the browser was refused: {refusals}")
    return None


def waits_for(stack: LocalStack, run_id, pause_key: str) -> bool:
    """``suspended_for`` through the REST API: Prefect's client is not used while the browser is open (see ``browser_page``)."""
    with urllib.request.urlopen(f"{stack.api_url}/flow_runs/{run_id}", timeout=60) as response:
        state = json.load(response)["state"]
    return (state["type"], state["name"], state["state_details"].get("pause_key")) == ("PAUSED", "Suspended", pause_key)


def c1(stack: LocalStack) -> Customer:
    with ledger(stack) as session:
        return session.get(Customer, "C1")


def test_the_boss_approves_in_the_prefect_ui_with_a_real_browser(chromium, stack, tmp_path):
    from playwright.sync_api import expect
    from prefect.deployments import run_deployment

    started = time.monotonic()
    with stack.client_settings():
        daily = run_deployment("daily-collection/daily-collection", parameters={"as_of": AS_OF}, timeout=0)
    wait_for(stack, "the daily collection to complete", lambda: (s := flow_run_state(stack, daily.id)).is_final() and s)
    assert flow_run_state(stack, daily.id).is_completed(), flow_run_state(stack, daily.id)

    approval = wait_for(stack, "the approval request's run to be noted", lambda: (a := the_approval(stack)) and a.flow_run_id and a)
    run_id = approval.flow_run_id
    wait_for(stack, "the request to wait for the boss's answer", lambda: suspended_for(stack, run_id, "answer-1"))
    code = wait_for(stack, "the code emailed to the boss", lambda: code_emailed_to(stack, BOSS))
    assert c1(stack).status is CustomerStatus.active and waits_for(stack, run_id, "answer-1")
    run_page = f"{stack.ui_url}runs/flow-run/{run_id}"

    with browser_page(stack, tmp_path, "approval-form") as page:
        page.goto(run_page, wait_until="load")
        expect(page.get_by_text("Suspended", exact=True).first).to_be_visible()
        page.get_by_role("button", name="Resume", exact=True).first.click()

        dialog = page.get_by_role("dialog")
        expect(dialog).to_be_visible()
        expect(dialog.get_by_text("Resume Flow Run")).to_be_visible()
        # The request's description (markdown) above the form: what the boss decides on.
        expect(dialog.get_by_role("heading", name="stop shipment: 华信贸易有限公司 (C1)")).to_be_visible()
        expect(dialog.get_by_text("¥12,000.00").first).to_be_visible()

        fill_text(dialog, "Approver", "boss")
        fill_text(dialog, "Code", code)
        choose(page, dialog, "Decision", "approve")
        # The documentation's picture shows the whole description, none of it under the form.
        assert ends_above(page, "Enter your id from the company file", dialog.locator("label").first), "the form hides the description"
        save_screenshot(page, tmp_path, "approval-form.png")

        submit(page, dialog, lambda: waits_for(stack, run_id, "answer-1"))

    final = wait_for(stack, "the answered request to complete", lambda: answered(stack, run_id, approval.key))
    assert final.is_completed(), final
    locked = wait_for(stack, "C1 to be locked", lambda: (c := c1(stack)).status is CustomerStatus.locked and c)
    assert locked.locked_on is not None

    with browser_page(stack, tmp_path, "approval-done") as page:  # the run's page once more: Completed, nothing to resume
        responses: list[str] = []
        page.on("response", lambda response: responses.append(response.url) if response.ok else None)
        page.goto(run_page, wait_until="load")
        expect(page.get_by_text("Completed", exact=True).first).to_be_visible()
        expect(page.get_by_text("approval:C1:stop_shipment:2026-09-02").first).to_be_visible()
        expect(page.get_by_role("button", name="Resume", exact=True)).to_have_count(0)
        expect(page.get_by_text(re.compile(r"^\d+ Task runs?$")).first).to_be_visible()  # the header is complete
        expect(page.get_by_text("Finished in state Completed()").first).to_be_visible()  # the logs are shown
        settle_graph(page, responses)
        save_screenshot(page, tmp_path, "approval-done.png")

    with ledger(stack) as session:
        approval = session.scalar(select(Approval).where(Approval.key == approval.key))
        assert (approval.state.value, approval.decided_by, approval.refusals) == ("approved", "boss", 0)
    shipping = huikuan(stack, "shipping", "check", "C1")
    assert shipping.returncode == 1 and "locked" in shipping.stdout, shipping.stdout + shipping.stderr
    assert huikuan(stack, "shipping", "check", "C2").returncode == 0
    print(f"\nthe browser test took {time.monotonic() - started:.0f}s once the stack was up; screenshots in {SCREENSHOTS}")
