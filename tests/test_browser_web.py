"""End to end in a real browser, outside the Prefect UI: the people act from the links in their emails.

The whole stack of ``huikuan start`` (``LocalStack`` with ``web_port``: the Prefect
server, the deployments, a worker and the web service), in a temporary directory, as
tests/test_browser_approval.py runs it; Debian's Chromium on a phone's screen, in Chinese.

- The boss: the daily collection of 2026-09-02 asks to stop C1's shipments; the email
  to the boss carries the page's link; the boss approves there; the same waiting
  request-approval run judges the answer and completes, C1 is locked and the warehouse's
  check refuses the shipment. The link again, and an altered one, are refused.
- The customer: October's statements go to the supervisor as one list; the supervisor
  approves it from the list's link; the statement email C2 then gets carries its page's
  link; C2 confirms there with its invoicing information, and the policy stops
  following the statement up.

Screenshots go to the test's temporary directory, and to docs/screenshots when
HUIKUAN_SCREENSHOTS is set. Slow (a real stack): run it alone.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from huikuan.reports.planning import plan
from huikuan.stack import LocalStack, log_tail
from models.ledger import Approval, Customer, Statement
from models.policy import load_policy
from tests.stack_harness import (
    AS_OF,
    BOSS,
    CHARGES,
    CUSTOMERS,
    INVOICES,
    PHONE,
    finished,
    flow_run_state,
    headless_chromium,
    huikuan,
    keep_screenshot,
    ledger,
    list_run,
    new_stack,
    outbox_emails,
    running,
    suspended_for,
    the_approval,
    wait_for,
)

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

PAGE_WAIT_MS = 90_000  # the page waits up to 20 s for the run's judgement; a loaded machine is slower still
SUP, C2 = "supervisor@huikuan-demo.example.cn", "c2@example.cn"
TAX_ID = "91330100MA2B0F8X10"  # a 统一社会信用代码 with its check character


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[LocalStack]:
    """Three customers, the example company, and the stack with its web service, working in a temporary directory."""
    # The example company has no web.base_url: the links name this machine's web port.
    local = new_stack(tmp_path_factory.mktemp("huikuan-web"), {"customers.csv": CUSTOMERS, "invoices.csv": INVOICES, "charges.csv": CHARGES}, web=True)
    imported = huikuan(local, "import", "--customers", "customers.csv", "--invoices", "invoices.csv", "--charges", "charges.csv")
    assert imported.returncode == 0, imported.stderr
    with running(local):
        yield local
    assert all(p.poll() is not None for p in (local.server, local.worker, local.web))


def link_emailed(stack: LocalStack, to: str, kind: str) -> str | None:
    """The web service's link (``/a/`` or ``/s/``) in the newest delivered email to ``to`` that has one (the outbox folder's .eml)."""
    pattern = re.compile(re.escape(stack.web_url.rstrip("/")) + rf"/{kind}/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
    for _, message in outbox_emails(stack, newest_first=True):
        if to in str(message["To"]):
            found = pattern.search(message.get_body(("plain",)).get_content())
            if found:
                return found.group(0)
    return None


def run_deployment_now(stack: LocalStack, name: str, as_of: str) -> None:
    from prefect.deployments import run_deployment

    with stack.client_settings():
        run = run_deployment(name, parameters={"as_of": as_of}, timeout=0)
    state = finished(stack, run.id, f"{name} of {as_of} to complete")
    assert state.is_completed(), state


def shot(page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / name), full_page=True)
    keep_screenshot(tmp_path / name)


def in_the_browser(stack: LocalStack, tmp_path: Path, use) -> None:
    """``use(page)`` in headless Chromium on a phone's screen, in Chinese; on failure the page's picture and the web service's log."""
    from playwright.sync_api import expect

    expect.set_options(timeout=PAGE_WAIT_MS)
    with headless_chromium() as browser:
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN", timezone_id="Asia/Shanghai")
        context.set_default_timeout(PAGE_WAIT_MS)
        page = context.new_page()
        try:
            use(page)
        except BaseException:
            page.screenshot(path=str(tmp_path / "failure.png"))
            print(f"the page when the test failed: {tmp_path / 'failure.png'}\n--- web log:\n{log_tail(stack.web_log, 40)}")
            raise


def statement_follow_ups(stack: LocalStack, sent_on: dt.date) -> list[dt.date]:
    """The days of the fortnight after sending on which the handbook follows C2's statement up (as ``huikuan plan`` says)."""
    with ledger(stack) as session:
        return [
            day
            for day in (sent_on + dt.timedelta(days=n) for n in range(1, 15))
            if any(a.customer_id == "C2" and a.action == "statement_follow_up" for a in plan(session, day, load_policy("handbook")))
        ]


def test_the_boss_and_a_customer_act_from_their_emails_links(chromium, stack, tmp_path):
    from playwright.sync_api import expect

    started = time.monotonic()
    assert stack.web_url

    # -- the boss stops C1's shipments from the approval email's link -----------------------
    run_deployment_now(stack, "daily-collection/daily-collection", AS_OF)
    approval = wait_for(stack, "the stop-shipment's run to be noted", lambda: (a := the_approval(stack)) and a.flow_run_id and a)
    wait_for(stack, "the request to wait for the boss", lambda: suspended_for(stack, approval.flow_run_id, "answer-1"))
    link = wait_for(stack, "the boss's email with the page's link", lambda: link_emailed(stack, BOSS, "a"))

    def boss_approves(page) -> None:
        page.goto(link)
        expect(page.locator("h1")).to_have_text("审批：锁定账户、停止出库")
        expect(page.locator("#summary")).to_contain_text("华信贸易有限公司（C1）")
        expect(page.locator("#invoices")).to_contain_text("¥12,000.00")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling on a phone
        shot(page, tmp_path, "web-approval.png")
        page.click("#approve")
        expect(page.locator("#message")).to_contain_text(re.compile("已批准|已提交"))
        shot(page, tmp_path, "web-approval-done.png")

    in_the_browser(stack, tmp_path, boss_approves)
    final = finished(stack, approval.flow_run_id, "the request's run to complete")
    assert final.is_completed(), final
    with ledger(stack) as session:
        decided = session.scalar(select(Approval).where(Approval.key == approval.key))
        assert (decided.state.value, decided.decided_by, decided.refusals) == ("approved", "boss", 0)
        assert session.get(Customer, "C1").locked_on is not None
    shipping = huikuan(stack, "shipping", "check", "C1")
    assert shipping.returncode == 1 and "locked" in shipping.stdout, shipping.stdout + shipping.stderr

    payload, signature = link.rsplit("/", 1)[1].split(".")
    altered = link.replace(signature, signature[:-2] + ("AA" if not signature.endswith("AA") else "BB"))

    def links_refused(page) -> None:
        page.goto(link)  # replayed
        expect(page.locator("#error")).to_contain_text("此审批已处理")
        expect(page.locator("form")).to_have_count(0)
        shot(page, tmp_path, "web-approval-replayed.png")
        page.goto(altered)
        expect(page.locator("#error")).to_contain_text("链接无效")

    in_the_browser(stack, tmp_path, links_refused)

    # -- the supervisor sends October's statements, and C2 confirms its own from its email --------
    for day in ("2026-11-05", "2026-11-09"):
        run_deployment_now(stack, "statement-cycle/statement-cycle", day)
    key = "review:send_statement:supervisor:2026-11-09:1"
    list_run_id = wait_for(stack, "the list's run to be noted", lambda: list_run(stack, key))
    wait_for(stack, "the list to wait for the supervisor", lambda: suspended_for(stack, list_run_id, "answer-1"))
    list_link = wait_for(stack, "the supervisor's email with the list's link", lambda: link_emailed(stack, SUP, "a"))

    def supervisor_approves(page) -> None:
        page.goto(list_link)
        expect(page.locator("h1")).to_have_text("审批清单：审核并发出对账单")
        expect(page.locator("#rows input[name=hold]")).to_have_count(2)
        shot(page, tmp_path, "web-approval-list.png")
        page.click("#approve")
        expect(page.locator("#message")).to_contain_text(re.compile("已批准|已提交"))

    in_the_browser(stack, tmp_path, supervisor_approves)
    wait_for(stack, "the list's run to complete", lambda: flow_run_state(stack, list_run_id).is_final())
    statement_link = wait_for(stack, "C2's statement email with its page's link", lambda: link_emailed(stack, C2, "s"))
    with ledger(stack) as session:
        sent_on = session.scalar(select(Statement.sent_on).where(Statement.customer_id == "C2"))
    assert sent_on is not None and statement_follow_ups(stack, sent_on), "the sent statement is followed up"

    def customer_confirms(page) -> None:
        page.goto(statement_link)
        expect(page.locator("h1")).to_have_text("2026年10月对账单")
        expect(page.locator("#total")).to_have_text("¥880.00")
        shot(page, tmp_path, "web-statement.png")
        page.fill("#invoice_title", "恒达物流有限公司")
        page.fill("#tax_id", TAX_ID)
        page.click("#confirm button")
        expect(page.locator("#message")).to_contain_text("感谢确认")
        expect(page.locator("#confirmed")).to_contain_text(TAX_ID)
        shot(page, tmp_path, "web-statement-confirmed.png")

    in_the_browser(stack, tmp_path, customer_confirms)
    with ledger(stack) as session:
        confirmed = session.scalar(select(Statement).where(Statement.customer_id == "C2"))
        assert (confirmed.state.value, confirmed.invoice_title, confirmed.tax_id) == ("confirmed", "恒达物流有限公司", TAX_ID)
    assert statement_follow_ups(stack, sent_on) == []  # confirmed: nothing more to follow up
    print(f"\nthe web's browser test took {time.monotonic() - started:.0f}s once the stack was up; screenshots in {tmp_path}")
