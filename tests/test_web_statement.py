"""The customer's statement page (``huikuan.web.statement``) behind its signed link, over a real SQLite ledger.

W1's October statement (D1 1,200.00 + D2 800.00 = 2,000.00) was sent on 2026-11-09 and
is unconfirmed: the handbook follows it up from 11-11. W5 (English, a name and a
line with a <script> in them) owes I5 and has its October line D5. See tests/web_ledger.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from huikuan.collection import execution
from huikuan.reports.planning import plan
from huikuan.web.app import create_app
from huikuan.web.limits import RateLimiter
from huikuan.web.tokens import csrf_token, statement_link, statement_token
from models.enums import ContactResult, StatementState
from models.ledger import ContactLog, Customer, Dispute, OutboxMessage, Statement
from models.policy import load_policy
from tests.stack_harness import PHONE, headless_chromium
from tests.web_ledger import COMPANY, NASTY, TODAY

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

SENT_ON = dt.date(2026, 11, 9)
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"  # URL-safe base64's alphabet
NOW = dt.datetime(2026, 11, 10, 10, 0, tzinfo=dt.UTC)
INFO = {
    "invoice_title": "杭州华信贸易有限公司",
    "tax_id": "91330100MA2XXXXX1B",
    "address": "杭州市西湖区文三路 100 号 0571-88886666",
    "bank": "工商银行杭州分行 1202 0000 0000 0000",
}


@pytest.fixture
def ledger(web_ledger):
    """W1's October statement prepared and sent (as the monthly cycle leaves it)."""
    with Session(web_ledger) as session, session.begin():
        statement = execution.prepare_statement(session, session.get(Customer, "W1"), "2026-10", dt.date(2026, 11, 5))
        statement.sent_on, statement.state = SENT_ON, StatementState.sent
    return web_ledger


@pytest.fixture
def client(ledger):
    return TestClient(create_app(engine=ledger, company=COMPANY, today=lambda: TODAY, now=lambda: NOW))


def path_of(customer_id: str = "W1", month: str = "2026-10", **kw) -> str:
    return statement_link(customer_id, month, "http://testserver", **kw).removeprefix("http://testserver")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def follow_ups(engine, day: dt.date) -> list[str]:
    with Session(engine) as session:
        return [a.action for a in plan(session, day, load_policy("handbook")) if a.customer_id == "W1" and a.action.startswith("statement")]


def test_the_link_is_the_base_url_and_a_signed_token():
    link = statement_link("W1", "2026-10", "https://huikuan.example.cn/")
    assert re.fullmatch(r"https://huikuan\.example\.cn/s/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+", link)
    assert statement_token("W1", "2026-10") != statement_token("W1", "2026-09") != statement_token("W2", "2026-10")


def test_the_page_shows_the_months_lines_and_total_in_chinese(client):
    page = client.get(path_of())
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = unescape(page.text)
    assert "2026年10月对账单" in text and "杭州华信贸易有限公司" in text
    assert "钢管 Φ50 × 40 根" in text and "¥1,200.00" in text and "法兰 DN50 × 20 套" in text and "¥800.00" in text
    assert re.search(r'id="total">¥2,000.00<', page.text)
    assert "确认对账单" in text and "提出异议" in text and 'name="viewport"' in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert "W5" not in text and "I5" not in text and "Acme" not in text  # nothing of another customer


def test_confirming_records_it_as_statement_confirm_does_and_the_policy_stops_following_up(client, ledger):
    assert follow_ups(ledger, dt.date(2026, 11, 11)) == ["statement_follow_up"]
    page = client.get(path_of())
    answer = client.post(path_of() + "/confirm", data={"csrf": csrf_of(page.text), **INFO})
    assert answer.status_code == 200 and "感谢确认" in answer.text and "已于2026年11月10日确认" in answer.text
    with Session(ledger) as session:
        statement = session.scalar(select(Statement).where(Statement.customer_id == "W1", Statement.month == "2026-10"))
        assert (statement.state, statement.confirmed_on, statement.invoice_title, statement.tax_id) == (
            StatementState.confirmed,
            TODAY,
            INFO["invoice_title"],
            INFO["tax_id"],
        )
        assert (statement.invoice_address, statement.invoice_bank) == (INFO["address"], INFO["bank"])
        told = session.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == "W1")).all()
    assert [(m.key, m.to_address) for m in told] == [("web:statement:W1:2026-10:confirmed", "c01@huikuan-demo.example.cn")]
    assert "已在线确认2026年10月对账单" in told[0].subject and INFO["tax_id"] in told[0].text
    assert follow_ups(ledger, dt.date(2026, 11, 11)) == []  # confirmed: no more follow-ups
    with Session(ledger) as session:
        assert "issue_invoice" in [a.action for a in plan(session, dt.date(2026, 11, 30), load_policy("handbook")) if a.customer_id == "W1"]


def test_the_collector_is_told_in_their_own_language_else_the_companys(ledger):
    """Like an approver, a collector with a ``locale:`` of their own reads the notice in it; the others the company's."""
    english = COMPANY.model_copy(update={"people": [p.model_copy(update={"locale": "en"}) if p.id == "c02" else p for p in COMPANY.people]})
    with Session(ledger) as session, session.begin():
        execution.prepare_statement(session, session.get(Customer, "W5"), "2026-10", dt.date(2026, 11, 5)).sent_on = SENT_ON
    client = TestClient(create_app(engine=ledger, company=english, today=lambda: TODAY, now=lambda: NOW))
    for customer_id in ("W1", "W5"):  # W1's collector is c01 (none of his own), W5's c02 (English); W5 reads English, W1 Chinese
        assert client.post(path_of(customer_id) + "/confirm", data={"csrf": csrf_of(client.get(path_of(customer_id)).text), **INFO}).status_code == 200
    with Session(ledger) as session:
        told = {m.to_address: m.subject for m in session.scalars(select(OutboxMessage).where(OutboxMessage.key.like("web:statement:%")))}
    assert told["c01@huikuan-demo.example.cn"] == "杭州华信贸易有限公司（W1）已在线确认2026年10月对账单"
    assert told["c02@huikuan-demo.example.cn"].endswith("(W5) confirmed the October 2026 statement online")


def test_a_replayed_confirmation_is_already_confirmed_and_changes_nothing(client, ledger):
    form = {"csrf": csrf_of(client.get(path_of()).text), **INFO}
    assert client.post(path_of() + "/confirm", data=form).status_code == 200
    again = client.post(path_of() + "/confirm", data=form | {"invoice_title": "别的公司", "tax_id": "X"})
    assert again.status_code == 200 and "本对账单已经确认过" in again.text and 'id="confirm"' not in again.text
    later = client.get(path_of())
    assert "已于2026年11月10日确认" in later.text and 'id="confirm"' not in later.text and 'id="dispute"' not in later.text
    with Session(ledger) as session:
        statement = session.scalar(select(Statement).where(Statement.customer_id == "W1"))
        assert (statement.invoice_title, statement.confirmed_on) == (INFO["invoice_title"], TODAY)
        assert session.scalars(select(OutboxMessage.key)).all() == ["web:statement:W1:2026-10:confirmed"]


def test_a_confirmation_needs_the_title_and_tax_id(client, ledger):
    csrf = csrf_of(client.get(path_of()).text)
    answer = client.post(path_of() + "/confirm", data={"csrf": csrf, "invoice_title": " ", "tax_id": ""})
    assert answer.status_code == 400 and "请填写发票抬头和税号" in answer.text
    too_long = client.post(path_of() + "/confirm", data={"csrf": csrf, **INFO, "invoice_title": "长" * 201})
    assert too_long.status_code == 400 and "发票抬头最多 200 个字" in too_long.text and INFO["tax_id"] in too_long.text  # what was typed stays
    with Session(ledger) as session:
        assert session.scalar(select(Statement.confirmed_on).where(Statement.customer_id == "W1")) is None


def test_a_post_without_the_pages_token_or_with_another_links_is_refused(client, ledger, caplog):
    other = csrf_token(statement_token("W1", "2026-09"))
    with caplog.at_level(logging.WARNING, logger="huikuan.web"):
        for form in (INFO, INFO | {"csrf": ""}, INFO | {"csrf": other}):
            answer = client.post(path_of() + "/confirm", data=form)
            assert answer.status_code == 403 and "链接无效" in answer.text
        assert client.post(path_of() + "/dispute", data={"line": "D1", "reason": "x"}).status_code == 403
    assert "statement form without its token" in caplog.text
    with Session(ledger) as session:
        assert session.scalar(select(Statement.confirmed_on).where(Statement.customer_id == "W1")) is None
        assert session.scalars(select(Dispute)).all() == []


def test_an_altered_link_is_refused_with_a_plain_page_and_logged(client, caplog):
    path = path_of()
    payload, signature = path.removeprefix("/s/").split(".")
    other_payload = statement_token("W5", "2026-10").split(".")[0]
    altered = [
        f"/s/{other_payload}.{signature}",  # another customer under this signature
        f"/s/{payload}.{signature[:-2]}{'AA' if not signature.endswith('AA') else 'BB'}",
        f"/s/{payload}",
        "/s/garbage",
        f"/s/{payload}.{signature}x",
        f"/s/{payload}.{signature[:-1]}{B64[B64.index(signature[-1]) ^ 1]}",  # only base64's spare bits: the same bytes, still refused
    ]
    with caplog.at_level(logging.WARNING, logger="huikuan.web"):
        for bad in altered:
            answer = client.get(bad)
            assert answer.status_code == 403, bad
            assert "链接无效" in answer.text and "Traceback" not in answer.text and "W1" not in answer.text
    assert caplog.text.count("statement link refused") == len(altered)
    assert client.get(path_of(), headers={"Accept-Language": "en"}).status_code == 200


def test_an_expired_link_is_gone(client, ledger, caplog):
    expired = path_of(expires_at=NOW - dt.timedelta(seconds=1))
    with caplog.at_level(logging.WARNING, logger="huikuan.web"):
        answer = client.get(expired, headers={"Accept-Language": "en-US,en;q=0.9"})
        assert answer.status_code == 410 and "This link has expired" in answer.text
        assert client.post(expired + "/confirm", data={"csrf": csrf_token(expired.removeprefix("/s/")), **INFO}).status_code == 410
    assert "expired" in caplog.text
    with Session(ledger) as session:
        assert session.scalar(select(Statement.confirmed_on).where(Statement.customer_id == "W1")) is None


def test_a_month_without_a_statement_or_deliveries_is_not_found(client):
    answer = client.get(path_of(month="2026-11"))
    assert answer.status_code == 404 and "没有找到对账单" in answer.text


def test_customer_text_is_escaped_on_the_english_page(client):
    page = client.get(path_of("W5"))
    assert page.status_code == 200 and "Statement for October 2026" in page.text
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    assert "CNY 450.50" in page.text and "I5" in page.text


def test_disputing_records_the_invoice_dispute_as_dispute_open_does_and_tells_the_collector(client, ledger):
    page = client.get(path_of("W5"))
    reason = f"not delivered {NASTY}"
    answer = client.post(path_of("W5") + "/dispute", data={"csrf": csrf_of(page.text), "line": ["D5", "D1"], "invoice": ["I5", "I1"], "reason": reason})
    assert answer.status_code == 200 and "Your dispute has been sent" in answer.text and "(under dispute)" in answer.text
    assert "<script>" not in answer.text
    with Session(ledger) as session:
        assert [(d.invoice_id, d.reason, d.opened_on) for d in session.scalars(select(Dispute))] == [("I5", reason, TODAY)]  # not W1's I1
        contact = session.scalar(select(ContactLog).where(ContactLog.customer_id == "W5"))
        assert contact.result is ContactResult.disputed and "D5, I5" in contact.note and "D1" not in contact.note
        told = session.scalar(select(OutboxMessage).where(OutboxMessage.customer_id == "W5"))
        assert told.to_address == "c02@huikuan-demo.example.cn" and "D5、I5" in told.text
        assert session.scalars(select(ContactLog).where(ContactLog.customer_id == "W1")).all() == []


def test_a_dispute_needs_lines_and_a_reason(client, ledger):
    csrf = csrf_of(client.get(path_of()).text)
    assert "请勾选有异议的项目" in client.post(path_of() + "/dispute", data={"csrf": csrf, "reason": "wrong"}).text
    assert "请填写异议原因" in client.post(path_of() + "/dispute", data={"csrf": csrf, "line": "D1", "reason": " "}).text
    with Session(ledger) as session:
        assert session.scalars(select(ContactLog)).all() == []


def test_attempts_are_rate_limited_per_address_and_per_link(ledger):
    app = create_app(engine=ledger, company=COMPANY, today=lambda: TODAY, now=lambda: NOW)
    client = TestClient(app)
    for _ in range(10):
        assert client.get("/s/garbage").status_code == 403
    assert client.get(path_of()).status_code == 429  # too many bad links from this address: even a good one waits
    app.state.web.refused = RateLimiter(10, 3600)
    csrf = csrf_of(client.get(path_of()).text)
    statuses = [client.post(path_of() + "/dispute", data={"csrf": csrf, "reason": ""}).status_code for _ in range(21)]
    assert statuses[:20] == [400] * 20 and statuses[20] == 429
    assert client.get(path_of("W5")).status_code == 200  # another link is not held back by this one's posts


def test_the_rate_limiter_forgets_after_its_window():
    now = [0.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False] and limiter.allow("b")
    assert limiter.over("a") and not limiter.over("b")
    now[0] = 61.0
    assert limiter.allow("a") and not limiter.over("a")


@pytest.fixture
def served(ledger):
    """The app on a free loopback port under uvicorn, in a thread, for a real browser."""
    import uvicorn

    from huikuan.stack import free_port

    port = free_port()
    app = create_app(engine=ledger, company=COMPANY, today=lambda: TODAY, now=lambda: dt.datetime.now(dt.UTC))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_a_customer_confirms_from_a_phone_in_a_real_browser(chromium, served, ledger, tmp_path):
    from playwright.sync_api import expect

    link = statement_link("W1", "2026-10", served, expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    with headless_chromium() as browser:
        context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN")
        page = context.new_page()
        page.goto(link)
        expect(page.locator("h1")).to_have_text("2026年10月对账单")
        expect(page.locator("#total")).to_have_text("¥2,000.00")
        page.screenshot(path=str(tmp_path / "statement-page.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling on a phone
        page.fill("#invoice_title", INFO["invoice_title"])
        page.fill("#tax_id", INFO["tax_id"])
        page.fill("#address", INFO["address"])
        page.fill("#bank", INFO["bank"])
        page.click("#confirm button")
        expect(page.locator("#message")).to_contain_text("感谢确认")
        expect(page.locator("#confirmed")).to_contain_text(INFO["tax_id"])
        page.screenshot(path=str(tmp_path / "statement-confirmed.png"), full_page=True)
        page.goto(link)  # the link again: confirmed, no form to confirm twice
        expect(page.locator("#confirmed")).to_contain_text("已于2026年11月10日确认")
        expect(page.locator("form")).to_have_count(0)
    print(f"screenshots: {tmp_path / 'statement-page.png'} {tmp_path / 'statement-confirmed.png'}")
    with Session(ledger) as session:
        assert session.scalar(select(Statement.confirmed_on).where(Statement.customer_id == "W1")) == TODAY
    assert follow_ups(ledger, dt.date(2026, 11, 11)) == []


def test_the_statement_email_links_to_the_page(ledger, client, monkeypatch):
    """The statement email (and its follow-up) carries the page's signed link: the company's web.base_url, else this machine's web port."""
    monkeypatch.delenv("HUIKUAN_WEB_PORT", raising=False)
    public = COMPANY.model_copy(update={"web": COMPANY.web.model_copy(update={"base_url": "https://huikuan.example.cn/"})})
    with Session(ledger) as session, session.begin():
        w1 = session.get(Customer, "W1")
        execution.queue_customer_email(session, w1, "send_statement", "W1:send_statement:local", COMPANY, SENT_ON, statements=("2026-10",))
        execution.queue_customer_email(session, w1, "statement_follow_up", "W1:follow_up:public", public, TODAY, statements=("2026-10",))
        monkeypatch.setenv("HUIKUAN_WEB_PORT", "4400")
        execution.queue_customer_email(session, w1, "send_statement", "W1:send_statement:port", COMPANY, SENT_ON, statements=("2026-10",))
    with Session(ledger) as session:
        mails = {m.key: m for m in session.scalars(select(OutboxMessage).where(OutboxMessage.customer_id == "W1"))}
    local, public_mail, port = mails["W1:send_statement:local:email"], mails["W1:follow_up:public:email"], mails["W1:send_statement:port:email"]
    path = re.search(r"http://127\.0\.0\.1:4300(/s/[A-Za-z0-9_.-]+)", local.text).group(1)
    assert f'href="http://127.0.0.1:4300{path}"' in local.html and "在线核对" in local.text
    assert f"https://huikuan.example.cn{path}" in public_mail.text and f"http://127.0.0.1:4400{path}" in port.text  # one link per customer and month
    assert path == path_of()  # W1's October, expiring at the end of December
    page = client.get(path)
    assert page.status_code == 200 and "2026年10月对账单" in page.text
    answer = client.post(path + "/confirm", data={"csrf": csrf_of(page.text), **INFO})
    assert answer.status_code == 200 and "感谢确认" in answer.text
    assert follow_ups(ledger, dt.date(2026, 11, 11)) == []


def test_a_mistyped_tax_id_is_shown_on_the_page_not_recorded(client, ledger):
    csrf = csrf_of(client.get(path_of()).text)
    answer = client.post(path_of() + "/confirm", data={"csrf": csrf, **INFO, "tax_id": "91330100MA2XXXXX1K"})
    if answer.status_code == 200:  # a ledger that does not check the 统一社会信用代码 records it as typed
        pytest.skip("this ledger does not check tax ids")
    assert answer.status_code == 400 and "无法确认" in answer.text and "91330100MA2XXXXX1K" in answer.text
    with Session(ledger) as session:
        assert session.scalar(select(Statement.confirmed_on).where(Statement.customer_id == "W1")) is None
