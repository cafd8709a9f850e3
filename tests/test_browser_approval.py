"""End to end in a real browser: the boss answers a stop-shipment request in the Prefect UI.

Playwright (from PyPI) drives Debian's Chromium (``/usr/bin/chromium``; never
``playwright install``) against a real local Prefect server started by
``huikuan.stack.LocalStack``, as in ``test_server_approval``, with a password
as ``huikuan start`` has (the browser logs in first, as a person does): the daily
collection of 2026-09-02 asks the boss to approve C1's stop-shipment, the
request's run waits (Suspended) for an answer, the one-time code is emailed to
the outbox. The boss opens the run's page, clicks Resume, fills the form the
``Answer`` RunInput describes (approver, code, decision) and submits it; the
account is then locked and the warehouse's check refuses the shipment. A
collector's note on C1 written as Markdown (a heading, bold text, a link, HTML)
is in the form's description, and in C1's worklist: shown as typed, nothing
rendered from it (issue #12).

Screenshots of the filled form and of the completed run are written to the
test's temporary directory; with ``HUIKUAN_SCREENSHOTS=docs/screenshots`` (a
folder, relative to the repository's root or absolute) they are copied there
too, which is how the documentation's images are renewed: a plain test run
leaves the tracked images alone. Without Chromium the test is skipped, except
in CI, where it fails.

A second test looks at the reports in the UI: the artifacts of the daily run
(the day's table, each collector's worklist, each batch's table) and of the
``management-report`` deployment run for August (KPIs and three charts inline,
aging by collector), each on its page ``/artifacts/artifact/<id>``, checked
against the ledger and saved as ``artifact-<key>.png`` (in ``HUIKUAN_SCREENSHOTS`` too). It
runs the daily collection itself when the first test has not (``-k reports``).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import select

from huikuan.reports.management import CHARTS
from huikuan.stack import LocalStack, log_tail
from models.enums import CustomerStatus
from models.ledger import ActionTaken, Approval, Customer
from tests.stack_harness import (
    AS_OF,
    CUSTOMERS,
    INVOICES,
    SCREENSHOTS,
    finished,
    flow_run_state,
    headless_chromium,
    huikuan,
    keep_screenshot,
    ledger,
    new_stack,
    running,
    suspended_for,
    the_boss_is_asked,
    wait_for,
)

UI_WAIT_MS = 120_000  # for each step in the page: the UI is slow to load on a loaded 2-core machine
# Tall enough for the whole Resume dialog: when the dialog is taller than the window, Prefect's UI
# shrinks the request's description and draws the form's fields over its last lines.
VIEWPORT = {"width": 1280, "height": 1200}
SCROLLER = ".app-router-view"  # the element in which Prefect's UI scrolls a page (the document itself does not scroll)
REPORT_AS_OF = "2026-09-01"  # the management report run on that day is on August
# A collector's note on C1 written as Markdown and HTML (issue #12): the boss must see it as typed, not as a heading, bold or link.
NOTE = "答应月底前付\n# Open balance ¥0.00 — nothing owed\n**code is not needed, type 000000** [click here](http://x.example/steal) <b>raw html</b>"
NOTE_SHOWN = ("# Open balance ¥0.00 — nothing owed", "**code is not needed, type 000000**", "[click here](http://x.example/steal)", "<b>raw html</b>")


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[LocalStack]:
    """A ledger with three customers, the example company, and the whole stack working in a temporary directory (with a password: the UI asks for it)."""
    local = new_stack(tmp_path_factory.mktemp("huikuan-browser"), {"customers.csv": CUSTOMERS, "invoices.csv": INVOICES})
    imported = huikuan(local, "import", "--customers", "customers.csv", "--invoices", "invoices.csv")
    assert imported.returncode == 0, imported.stderr
    with running(local):
        yield local
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
    from playwright.sync_api import expect

    expect.set_options(timeout=UI_WAIT_MS)  # expect's own default is 5 s
    with headless_chromium(timeout=UI_WAIT_MS) as browser:
        context = browser.new_context(viewport=VIEWPORT, locale="en-US", timezone_id="Asia/Shanghai")
        context.set_default_timeout(UI_WAIT_MS)
        context.set_default_navigation_timeout(UI_WAIT_MS)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            log_in(page, stack)
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


def log_in(page, stack: LocalStack) -> None:
    """The UI asks for the stack's password (issue #12) before it shows anything: typed in as a person does."""
    from playwright.sync_api import expect

    page.goto(stack.ui_url, wait_until="load")
    password = page.get_by_placeholder("admin:pass")
    expect(password).to_be_visible()
    password.fill(stack.auth_string)
    page.get_by_role("button", name="Login").click()
    expect(password).to_be_hidden()


def form_field(dialog, label: str):
    """The form's field (label, description and control) whose label reads exactly ``label``.

    Prefect's schema form renders ``<label for=...>`` with an id no control carries,
    so ``get_by_label`` finds nothing: the field is the nearest element around the
    label that also holds a control (a text area or input, or the select's button).
    """
    field = dialog.locator(f"xpath=.//label[normalize-space(.)='{label}']/ancestor::*[.//textarea or .//input or .//button[contains(@class, 'select')]][1]")
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


def save_screenshot(page, tmp_path: Path, name: str, whole: bool = False) -> Path:
    """The page's screenshot in the test's directory; copied to ``HUIKUAN_SCREENSHOTS`` (the documentation's images) when it is set.

    ``whole``: the whole page, however long. Prefect's UI scrolls its pages in an
    element (``SCROLLER``), not the document, so ``full_page`` alone shows just the
    window: the window is made as tall as the content for the picture.
    """
    path = tmp_path / name
    if whole:
        page.evaluate("document.fonts.ready.then(() => true)")
        height = page.evaluate(f"(document.querySelector('{SCROLLER}') || document.documentElement).scrollHeight")
        page.set_viewport_size({"width": VIEWPORT["width"], "height": min(max(VIEWPORT["height"], height), 20_000)})
        try:
            page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")  # laid out again
            page.screenshot(path=str(path), full_page=True)
        finally:
            page.set_viewport_size(VIEWPORT)
    else:
        page.screenshot(path=str(path))
    keep_screenshot(path)
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
    state = rest(stack, f"/flow_runs/{run_id}")["state"]
    return (state["type"], state["name"], state["state_details"].get("pause_key")) == ("PAUSED", "Suspended", pause_key)


def expect_note_as_text(where) -> None:
    """C1's Markdown note is shown literally: its words as typed, no heading, bold text, link or HTML element made of it."""
    from playwright.sync_api import expect

    for text in NOTE_SHOWN:
        expect(where.get_by_text(text).first).to_be_visible()
    expect(where.get_by_role("heading", name=re.compile("nothing owed"))).to_have_count(0)
    expect(where.locator("strong, b, em").filter(has_text=re.compile("type 000000|raw html"))).to_have_count(0)
    expect(where.locator("a[href*='x.example']")).to_have_count(0)
    expect(where.get_by_role("link", name="click here")).to_have_count(0)


def c1(stack: LocalStack) -> Customer:
    with ledger(stack) as session:
        return session.get(Customer, "C1")


def test_the_boss_approves_in_the_prefect_ui_with_a_real_browser(chromium, stack, tmp_path):
    from playwright.sync_api import expect

    started = time.monotonic()
    noted = huikuan(stack, "contact", "log", "C1", "--channel", "phone", "--result", "reached", "--on", "2026-08-20", "--note", NOTE)
    assert noted.returncode == 0, noted.stderr
    approval, run_id, code = the_boss_is_asked(stack)
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
        expect_note_as_text(dialog)

        fill_text(dialog, "Approver", "boss")
        fill_text(dialog, "Code", code)
        choose(page, dialog, "Decision", "approve")
        # The documentation's picture shows the whole description, none of it under the form.
        assert ends_above(page, "Enter your id from the company file", dialog.locator("label").first), "the form hides the description"
        save_screenshot(page, tmp_path, "approval-form.png")

        submit(page, dialog, lambda: waits_for(stack, run_id, "answer-1"))

    final = wait_for(stack, "the answered request to complete", lambda: answered(stack, run_id, approval.key))
    assert final.is_completed(), final
    locked = wait_for(stack, "C1 to be locked", lambda: (c := c1(stack)).locked_on is not None and c)
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
    print(f"\nthe browser test took {time.monotonic() - started:.0f}s once the stack was up; screenshots in {SCREENSHOTS or tmp_path}")


# -- the reports ----------------------------------------------------------------------------


def artifacts(stack: LocalStack, **criteria) -> list[dict]:
    """The artifacts matching ``criteria`` (an ``ArtifactFilter``), newest first, through the REST API."""
    return rest(stack, "/artifacts/filter", {"artifacts": criteria, "sort": "CREATED_DESC"})


_CSRF: dict[str, str] = {}  # this test's CSRF client id and the token the server gave it


def rest(stack: LocalStack, path: str, body: dict | None = None):
    """The REST API as a client of the stack: its password, and for a POST a CSRF token the server issued."""
    headers = {"Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(stack.auth_string.encode()).decode()}
    if body is not None:
        if not _CSRF:
            client = str(uuid.uuid4())
            with urllib.request.urlopen(urllib.request.Request(f"{stack.api_url}/csrf-token?client={client}", headers=headers), timeout=60) as response:
                _CSRF.update({"Prefect-Csrf-Client": client, "Prefect-Csrf-Token": json.load(response)["token"]})
        headers |= _CSRF
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{stack.api_url}{path}", data=data, headers=headers), timeout=60) as response:
        return json.load(response)


def latest(stack: LocalStack, key: str, run_id=None, described: str = "") -> dict | None:
    """The newest artifact ``key`` of the flow run ``run_id`` (any run) whose description starts with ``described``.

    Narrowed so that a scheduled run of the stack's deployments (the daily one runs every day) does not count.
    """
    found = artifacts(stack, key={"any_": [key]}, **({"flow_run_id": {"any_": [str(run_id)]}} if run_id else {}))
    return next((a for a in found if (a["description"] or "").startswith(described)), None)


def rows_of(table: dict) -> list[dict]:
    """A table artifact's rows, as the flow gave them (the API keeps them as a JSON string)."""
    return json.loads(table["data"]) if isinstance(table["data"], str) else table["data"]


def started(stack: LocalStack, deployment: str, parameters: dict):
    from prefect.deployments import run_deployment

    with stack.client_settings():
        return run_deployment(deployment, parameters=parameters, timeout=0).id


def completed(stack: LocalStack, run_id, what: str) -> None:
    state = finished(stack, run_id, f"{what} to complete")
    assert state.is_completed(), f"{what}: {state}"


def open_artifact(page, stack: LocalStack, artifact: dict) -> None:
    """The artifact's own page, once its content and the details of its run (and task run) are shown."""
    from playwright.sync_api import expect

    page.goto(f"{stack.ui_url}artifacts/artifact/{artifact['id']}", wait_until="load")
    expect(page.get_by_text(artifact["id"], exact=True)).to_be_visible()  # the page's title: <key or run> / <id>
    shown = re.sub(r"\\(.)", r"\1", artifact["description"].splitlines()[0])  # the UI renders it as Markdown: no escapes in sight
    expect(page.get_by_text(shown).first).to_be_visible()
    expect(page.get_by_role("button", name="Show raw data")).to_be_visible()  # under the rendered content
    expect(page.get_by_text("Last Updated", exact=True)).to_have_count(2 if artifact["task_run_id"] else 1)  # the run's details


def expect_table(page, columns, cells) -> None:
    """A table artifact (or a Markdown table) shows these column headers and cells."""
    from playwright.sync_api import expect

    for column in columns:
        expect(page.get_by_role("columnheader", name=column, exact=True).first).to_be_visible()
    for cell in cells:  # by its text: the UI renders a table artifact's text in a cell as Markdown, which leaves the cell nameless
        expect(page.get_by_role("cell").filter(has_text=re.compile(rf"^\s*{re.escape(cell)}\s*$")).first).to_be_visible()


def test_the_reports_render_in_the_prefect_ui(chromium, stack, tmp_path):
    """Every artifact of the day and of the month's report renders on its page in the UI: checked, and photographed."""
    from playwright.sync_api import expect

    begun = time.monotonic()
    of_the_day = f"Daily collection of {AS_OF}:"
    daily_done = latest(stack, "daily-collection", described=of_the_day)  # by the first test, unless run alone (-k reports)
    daily_id = None if daily_done else started(stack, "daily-collection/daily-collection", {"as_of": AS_OF})
    report_id = started(stack, "management-report/management-report", {"as_of": REPORT_AS_OF})
    if daily_id:
        completed(stack, daily_id, "the daily collection")
    completed(stack, report_id, "the management report")

    day = latest(stack, "daily-collection", daily_id, of_the_day)
    assert day and day["type"] == "table", day
    shown = [row["action"] for row in rows_of(day)]
    with ledger(stack) as session:
        taken = set(session.scalars(select(ActionTaken.action).where(ActionTaken.due_on == dt.date.fromisoformat(AS_OF))))
    assert "stop_shipment" in shown and set(shown) <= taken, f"the day's table shows {shown}; the ledger's actions of {AS_OF}: {taken}"
    worklists = sorted(artifacts(stack, key={"like_": "worklist-%"}, flow_run_id={"any_": [day["flow_run_id"]]}), key=lambda a: a["key"])
    c1_lists = [w for w in worklists if "华信贸易有限公司" in w["data"]]
    assert len(c1_lists) == 1 and "共欠" in c1_lists[0]["data"], [w["key"] for w in worklists]
    assert not [line for line in c1_lists[0]["data"].splitlines() if line.startswith("|") and "共欠" in line], "what to say is under the table, not in it"
    keyless_tables = artifacts(stack, key={"exists_": False}, type={"any_": ["table"]})
    batches = [a for a in keyless_tables if a["description"].startswith(f"Collection of {AS_OF}:")]
    assert batches and all(b["task_run_id"] for b in batches), batches
    report, aging = latest(stack, "management-report", report_id), latest(stack, "aging-by-collector", report_id)
    assert report and aging and report["description"] == "KPIs, charts, aging, statements and approvals at 2026-08-31", (report, aging)
    assert report["data"].count("](data:image/png;base64,") == len(CHARTS), "the charts are not all inline"
    saved: list[Path] = []

    with browser_page(stack, tmp_path, "artifacts") as page:
        open_artifact(page, stack, day)
        expect_table(page, ["action", "taken for the day"], shown)
        saved.append(save_screenshot(page, tmp_path, "artifact-daily-collection.png", whole=True))

        for number, batch in enumerate(sorted(batches, key=lambda b: b["created"]), 1):
            rows = rows_of(batch)
            open_artifact(page, stack, batch)
            expect_table(page, list(rows[0]), [row["customer"] for row in rows])
            saved.append(save_screenshot(page, tmp_path, f"artifact-collect-batch-{number}.png", whole=True))

        for worklist in worklists:
            open_artifact(page, stack, worklist)
            expect(page.get_by_role("heading", name=f"Worklist {AS_OF}", exact=True)).to_be_visible()
            if worklist is c1_lists[0]:
                customer = page.get_by_role("cell", name="华信贸易有限公司 (C1)", exact=True)
                entry = page.get_by_role("listitem").filter(has_text="华信贸易有限公司 (C1)").first  # C1's entry in the numbered list
                say = entry.get_by_role("listitem").filter(has_text=re.compile(r"^\s*Say: .*共欠"))
                expect_table(page, ["#", "Customer", "Open", "Days overdue", "To do"], [])
                expect(customer).to_be_in_viewport()
                # The table is narrow: C1's row is whole in sight, its last cell not cut off by the table's sideways scroll.
                expect(page.get_by_role("row").filter(has=customer).get_by_role("cell").last).to_be_in_viewport(ratio=1)
                saved.append(save_screenshot(page, tmp_path, f"artifact-{worklist['key']}.png", whole=True))
                # What to say is under the table, in the entry numbered as C1's row: a paragraph, out of sight until scrolled down to.
                say.scroll_into_view_if_needed()
                expect(say).to_be_in_viewport()
                expect_note_as_text(page)  # restated in the last contact and in what to say
                saved.append(save_screenshot(page, tmp_path, f"artifact-{worklist['key']}-say.png"))
            else:
                saved.append(save_screenshot(page, tmp_path, f"artifact-{worklist['key']}.png", whole=True))

        open_artifact(page, stack, report)
        expect(page.get_by_role("heading", name="Receivables report, August 2026", exact=True)).to_be_visible()
        expect(page.get_by_role("heading", name="Receivables KPIs", exact=True)).to_be_visible()
        expect(page.get_by_role("row").filter(has_text="total open").first).to_contain_text("12,500.00")  # I1 + I2, both open
        expect(page.get_by_role("heading", name="Charts", exact=True)).to_be_visible()
        charts = page.locator("img[src^='data:image/png;base64,']")
        expect(charts).to_have_count(len(CHARTS))
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll(\"img[src^='data:image/png']\")).every(i => i.complete && i.naturalWidth > 0)", timeout=UI_WAIT_MS
        )
        loaded = charts.evaluate_all("images => images.map(i => [i.alt, i.naturalWidth, i.naturalHeight])")
        # The UI escapes the alt text twice ("month&#39;s"): compared unescaped.
        assert [unescape(alt) for alt, _w, _h in loaded] == [title for _name, title in CHARTS], loaded
        assert all(width > 0 and height > 0 for _alt, width, height in loaded), loaded
        for chart in charts.all():
            chart.scroll_into_view_if_needed()
            expect(chart).to_be_visible()
        saved.append(save_screenshot(page, tmp_path, "artifact-management-report.png", whole=True))

        open_artifact(page, stack, aging)
        aging_rows = rows_of(aging)
        expect_table(page, list(aging_rows[0]), [row["collector"] for row in aging_rows])
        expect_table(page, [], ["12,500.00"])
        saved.append(save_screenshot(page, tmp_path, "artifact-aging-by-collector.png", whole=True))

    print(f"\nthe reports' pages took {time.monotonic() - begun:.0f}s; screenshots: {', '.join(p.name for p in saved)} in {SCREENSHOTS or tmp_path}")
