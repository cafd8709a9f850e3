"""The approver's page (``huikuan.web.approval``) from the approval email's link, through FastAPI's TestClient.

The ledger is tests/web_ledger.py's (as of 2026-11-10): W1 owes I1 10,000.00, 41 days
late, and the boss is asked to stop its shipments; W5 (English, a name with a <script>)
owes I5. The requests are opened as the request-approval flow opens them
(``execution.send_code``: the code and the link emailed), and the links are read from
those emails. The waiting Prefect run is faked at its one seam, ``resume``: each answer
is read as the flow's RunInput reads it and judged by the flow's own check
(``execution.decide``, ``approval_groups.decide_group``), attempt by attempt, as the
run's ``judge`` task does.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from flows.approval import Answer, ListAnswer
from huikuan.approvals import groups as approval_groups
from huikuan.approvals.check import code_hash, code_matches
from huikuan.approvals.runs import RunNotWaiting
from huikuan.collection import execution
from huikuan.ledger import records
from huikuan.ledger.company import WebSection
from huikuan.ledger.settings import Settings
from huikuan.outbox.mail import mask_codes
from huikuan.web.app import create_app
from huikuan.web.limits import RateLimiter
from huikuan.web.tokens import approval_token, csrf_token, read_approval_token
from models.enums import ApprovalState, Channel, ContactResult, StatementState
from models.ledger import ActionTaken, Approval, ApprovalGroup, Customer, OutboxMessage, Statement
from tests.web_ledger import COMPANY as API_COMPANY
from tests.web_ledger import NASTY, TODAY, statements_for_review

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

BASE = "https://huikuan.example.cn"
COMPANY = API_COMPANY.model_copy(update={"web": WebSection(api_keys=API_COMPANY.web.api_keys, base_url=BASE)})
NOW = dt.datetime(2026, 11, 10, 10, 0, tzinfo=dt.UTC)
STOP = "approval:W1:stop_shipment:2026-11-10"
BOSS = "boss@huikuan-demo.example.cn"
SUP = "supervisor@huikuan-demo.example.cn"
LINK = re.compile(re.escape(BASE) + r"(/a/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)")


class WaitingRuns:
    """The Prefect runs waiting for answers, at the web service's one seam: ``resume(run id, answer)``.

    Each answer is validated as the flow's RunInput (``Answer``, ``ListAnswer``) and judged by the
    same call as the flow's ``judge`` tasks make, counting the run's attempts from 1. ``busy``: the
    run does not wait right now (``RunNotWaiting``); ``silent``: answers are taken but not judged yet.
    """

    def __init__(self, engine, company=COMPANY) -> None:
        self.engine, self.company = engine, company
        self.answers: list[tuple[str, dict]] = []
        self.busy: RunNotWaiting | None = None
        self.silent = False

    def __call__(self, run_id: str, answer: dict[str, str]) -> None:
        if self.busy is not None:
            raise self.busy
        self.answers.append((run_id, answer))
        if self.silent:
            return
        attempt = sum(1 for run, _answer in self.answers if run == run_id)
        with Session(self.engine) as session, session.begin():
            key = session.scalar(select(Approval.key).where(Approval.flow_run_id == run_id))
            if key is not None:
                given = Answer.model_validate(answer)
                execution.decide(
                    session,
                    key,
                    approver=given.approver,
                    code=given.code,
                    approve=given.decision == "approve",
                    comment=given.comment or None,
                    attempt=attempt,
                    company=self.company,
                    as_of=TODAY,
                )
                return
            key = session.scalar(select(ApprovalGroup.key).where(ApprovalGroup.flow_run_id == run_id))
            given = ListAnswer.model_validate(answer)
            approval_groups.decide_group(
                session,
                key,
                approver=given.approver,
                code=given.code,
                approve=given.decision == "approve",
                hold=approval_groups.held_ids(given.hold),
                comment=given.comment or None,
                attempt=attempt,
                company=self.company,
                as_of=TODAY,
            )


def open_request(engine, customer_id: str, action: str, invoices: str, *, company=COMPANY) -> str:
    """A request for ``action`` on ``customer_id`` opened as request-approval opens it: its run noted, the code and link emailed."""
    key = f"approval:{customer_id}:{action}:{TODAY}"
    with Session(engine) as session, session.begin():
        approval = Approval(
            key=key,
            customer_id=customer_id,
            action=action,
            approver_role=company.approver_role(action),
            requested_on=TODAY,
            action_key=key.removeprefix("approval:"),
            invoices=invoices,
            flow_run_id=f"run-{customer_id}-{action}",
        )
        session.add(approval)
        session.flush()
        execution.send_code(session, approval, company, TODAY, form_url=f"http://127.0.0.1:4200/runs/flow-run/run-{customer_id}-{action}")
    return key


@pytest.fixture(autouse=True)
def today_is_the_ledgers(monkeypatch):
    """The company's today (the links' expiry counts from it) is the ledger's day."""
    monkeypatch.setattr(Settings, "today", lambda self: TODAY)


@pytest.fixture
def ledger(web_ledger):
    """W1 with a phone call on record (a note written as HTML) and the boss asked to stop its shipments."""
    with Session(web_ledger) as session, session.begin():
        records.log_contact(
            session, "W1", channel=Channel.phone, result=ContactResult.promised, on=dt.date(2026, 11, 2), note=f"答应月底付 {NASTY}", recorded_by="c01"
        )
    open_request(web_ledger, "W1", "stop_shipment", "I1")
    return web_ledger


@pytest.fixture
def runs(ledger):
    return WaitingRuns(ledger)


@pytest.fixture
def client(ledger, runs):
    return TestClient(create_app(engine=ledger, company=COMPANY, today=lambda: TODAY, now=lambda: NOW, resume=runs))


def emailed(engine, to: str, key: str) -> OutboxMessage:
    with Session(engine) as session:
        return session.scalars(
            select(OutboxMessage).where(OutboxMessage.to_address == to, OutboxMessage.key.like(f"{key}:%")).order_by(OutboxMessage.id.desc())
        ).first()


def link_in(engine, to: str = BOSS, key: str = STOP) -> str:
    """The page's path in the approval email to ``to`` (the plain text; the HTML has the same link)."""
    mail = emailed(engine, to, key)
    found = LINK.findall(mail.text)
    assert found and set(LINK.findall(mail.html)) == set(found), mail.text
    return found[0]


def visible(html: str) -> str:
    """The page's text as shown: no tags or attributes (the links and form tokens hold random letters)."""
    return unescape(re.sub(r"<[^>]+>", " ", html))


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def approval(engine, key: str = STOP) -> Approval:
    with Session(engine) as session:
        return session.scalar(select(Approval).where(Approval.key == key))


def decide(client, path: str, decision: str, comment: str = "", **extra):
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path + "/decide", data={"csrf": csrf_of(page.text), "decision": decision, "comment": comment, **extra})


def test_the_approval_email_links_to_the_page_beside_the_code_and_the_prefect_form(ledger):
    mail = emailed(ledger, BOSS, STOP)
    path = link_in(ledger)
    assert mail.text.index(path) < mail.text.index("http://127.0.0.1:4200/runs/flow-run/run-W1-stop_shipment")  # the page first, the form as well
    assert re.search(r"验证码\s*\d{6}", mail.text) and "仅限您本人使用一次" in mail.text
    link = read_approval_token(path.removeprefix("/a/"), now=NOW)
    assert (link.key, link.person_id) == (STOP, "boss")
    assert code_matches(link.code, STOP, approval(ledger).code_hash)  # the email's own code, sealed in the link
    assert re.search(r"验证码\s*(\d{6})", mail.text).group(1) not in path  # not readable in the address
    assert link.expires_at.date() == TODAY + dt.timedelta(days=COMPANY.approval_expiry_days)


def test_the_page_shows_the_request_on_a_phone_in_chinese(client, ledger):
    page = client.get(link_in(ledger))
    assert page.status_code == 200 and 'name="viewport"' in page.text and page.headers["cache-control"] == "no-store"
    text = visible(page.text)
    assert "审批：锁定账户、停止出库" in text and "杭州华信贸易有限公司（W1）" in text and "吴宏（董事长）" in text
    assert "I1" in text and "2026-09-30" in text and "逾期 41 天" in text and "¥10,000.00" in text
    assert "I2" not in text  # the request is about I1 only
    assert f"2026年11月2日 电话，承诺付款（答应月底付 {NASTY}）" in text  # the history in the worklist's words, its note shown as typed ...
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text  # ... and escaped
    assert 'value="approve"' in page.text and 'value="deny"' in page.text and "W5" not in text


def test_the_boss_approves_the_run_judges_it_and_the_account_is_locked(client, ledger, runs, caplog):
    with caplog.at_level(logging.INFO, logger="huikuan.web"):
        answer = decide(client, link_in(ledger), "approve")
    assert answer.status_code == 200 and "已批准（吴宏）" in answer.text and "账户已锁定" in answer.text
    run_id, given = runs.answers[0]
    assert run_id == "run-W1-stop_shipment" and given["approver"] == "boss" and given["decision"] == "approve"
    assert code_matches(given["code"], STOP, emailed_code_hash(ledger))  # the code the run checks is the email's
    decided = approval(ledger)
    assert (decided.state, decided.decided_by, decided.code_hash) == (ApprovalState.approved, "boss", None)
    with Session(ledger) as session:
        assert session.get(Customer, "W1").locked_on == TODAY
    assert "boss answered approval:W1:stop_shipment:2026-11-10" in caplog.text


def emailed_code_hash(engine) -> str:
    """The hash of the code in the boss's email, as it was before the decision cleared it."""
    mail = emailed(engine, BOSS, STOP)
    return code_hash(re.search(r"验证码\s*(\d{6})", mail.text).group(1), STOP)


def test_refusing_needs_a_reason_and_is_recorded_with_it(client, ledger, runs):
    path = link_in(ledger)
    bare = decide(client, path, "deny", "  ")
    assert bare.status_code == 400 and "拒绝时请填写原因" in bare.text and runs.answers == []
    answer = decide(client, path, "deny", "客户已承诺月底付款，暂缓锁定")
    assert answer.status_code == 200 and "已拒绝（吴宏）" in answer.text
    refused = approval(ledger)
    assert (refused.state, refused.comment) == (ApprovalState.denied, "客户已承诺月底付款，暂缓锁定")
    with Session(ledger) as session:
        assert session.get(Customer, "W1").locked_on is None


def test_a_replayed_link_is_refused_logged_and_nothing_is_answered_again(client, ledger, runs, caplog):
    path = link_in(ledger)
    form = {"csrf": csrf_of(client.get(path).text), "decision": "approve", "comment": ""}
    assert client.post(path + "/decide", data=form).status_code == 200
    with caplog.at_level(logging.WARNING, logger="huikuan.web"):
        again = client.post(path + "/decide", data=form | {"decision": "deny", "comment": "改主意"})
        shown = client.get(path)
    for page in (again, shown):
        assert page.status_code == 410 and "此审批已处理" in page.text and "已批准" in page.text and 'id="decide"' not in page.text
    assert len(runs.answers) == 1 and approval(ledger).state is ApprovalState.approved
    assert caplog.text.count("approval link refused") == 2 and "already approved" in caplog.text


def test_an_altered_link_is_refused_with_a_plain_page_and_logged(client, ledger, runs, caplog):
    path = link_in(ledger)
    payload, signature = path.removeprefix("/a/").split(".")
    link = read_approval_token(path.removeprefix("/a/"), now=NOW)
    forged = approval_token(STOP, "boss", link.code, expires_at=NOW + dt.timedelta(days=1)).split(".")[0]  # a payload signed for itself
    altered = [
        f"/a/{forged}.{signature}",
        f"/a/{payload}.{signature[:-2]}{'AA' if not signature.endswith('AA') else 'BB'}",
        f"/a/{payload[:-3]}xyz.{signature}",
        f"/a/{payload}",
        "/a/garbage",
        f"/s/{path.removeprefix('/a/')}",  # an approval link is no statement link
    ]
    client.app.state.web.refused = RateLimiter(100, 3600)  # each is refused for what it is, not for the ones before
    with caplog.at_level(logging.WARNING, logger="huikuan.web"):
        for bad in altered:
            page = client.get(bad)
            assert page.status_code == 403 and "无效" in page.text and "W1" not in visible(page.text) and "Traceback" not in page.text, bad
            form = "/confirm" if bad.startswith("/s/") else "/decide"
            assert client.post(bad + form, data={"decision": "approve", "csrf": csrf_token(bad.split("/")[-1])}).status_code == 403
    assert caplog.text.count("link refused") == 2 * len(altered)
    assert runs.answers == [] and approval(ledger).state is ApprovalState.requested


def test_a_post_without_the_pages_token_is_refused(client, ledger, runs):
    path = link_in(ledger)
    other = csrf_token(approval_token(STOP, "boss", "123456", expires_at=NOW + dt.timedelta(days=1)))
    for form in ({"decision": "approve"}, {"decision": "approve", "csrf": ""}, {"decision": "approve", "csrf": other}):
        assert client.post(path + "/decide", data=form).status_code == 403
    assert runs.answers == [] and approval(ledger).state is ApprovalState.requested


def test_a_link_for_another_approver_is_refused_by_the_runs_own_check(client, ledger, runs):
    """The gm holds a link with the right code (as if forwarded to them); the run refuses the gm, as the form would."""
    code = read_approval_token(link_in(ledger).removeprefix("/a/"), now=NOW).code
    path = "/a/" + approval_token(STOP, "gm", code, expires_at=NOW + dt.timedelta(days=1))
    answer = decide(client, path, "approve")
    assert answer.status_code == 409 and "未被接受" in answer.text and "may not decide stop_shipment" in answer.text
    assert runs.answers[0][1]["approver"] == "gm"
    still = approval(ledger)
    assert (still.state, still.refusals) == (ApprovalState.requested, 1)
    with Session(ledger) as session:
        assert session.scalar(select(ActionTaken.key).where(ActionTaken.action == "approval_refused")) == f"{STOP}:refused:1"
        assert session.get(Customer, "W1").locked_on is None
    nobody = "/a/" + approval_token(STOP, "intruder", code, expires_at=NOW + dt.timedelta(days=1))
    assert client.get(nobody).status_code == 403  # not in the company file: not even shown
    assert decide(client, link_in(ledger), "approve").status_code == 200  # the boss's own link still works


def test_an_expired_link_and_a_link_whose_code_was_replaced_are_gone(ledger, runs, caplog):
    path = link_in(ledger)
    later = TestClient(
        create_app(engine=ledger, company=COMPANY, today=lambda: TODAY, resume=runs, now=lambda: NOW + dt.timedelta(days=COMPANY.approval_expiry_days + 1))
    )
    with caplog.at_level(logging.WARNING, logger="huikuan.web"):
        expired = later.get(path)
        assert expired.status_code == 410 and "链接已过期" in expired.text
        with Session(ledger) as session, session.begin():  # the reminder two days on: a new code and link
            execution.send_code(session, session.scalar(select(Approval).where(Approval.key == STOP)), COMPANY, TODAY + dt.timedelta(days=2), round_=1)
        client = TestClient(create_app(engine=ledger, company=COMPANY, today=lambda: TODAY, now=lambda: NOW, resume=runs))
        replaced = client.get(path)
        assert replaced.status_code == 410 and "链接已失效" in replaced.text
    assert "expired" in caplog.text and "was replaced" in caplog.text
    newest = link_in(ledger)
    assert newest != path and client.get(newest).status_code == 200
    assert runs.answers == []


def test_a_run_that_does_not_wait_or_has_not_judged_yet(client, ledger, runs):
    path = link_in(ledger)
    runs.busy = RunNotWaiting("run-W1-stop_shipment", ended=False)
    busy = decide(client, path, "approve")
    assert busy.status_code == 503 and "暂时无法提交" in busy.text
    runs.busy, runs.silent = None, True
    client.app.state.web.answer_wait = 0.6
    pending = decide(client, path, "approve")
    assert pending.status_code == 202 and "已提交" in pending.text and len(runs.answers) == 1
    assert approval(ledger).state is ApprovalState.requested
    runs.busy = RunNotWaiting("run-W1-stop_shipment", ended=True)
    assert decide(client, path, "approve").status_code == 410


def test_an_english_approver_gets_the_page_in_english_with_the_letters_preview(ledger, runs):
    boss = COMPANY.person("boss").model_copy(update={"locale": "en"})
    company = COMPANY.model_copy(update={"people": [boss if p.id == "boss" else p for p in COMPANY.people]})
    runs.company = company
    key = open_request(ledger, "W5", "dunning_letter", "I5", company=company)
    client = TestClient(create_app(engine=ledger, company=company, today=lambda: TODAY, now=lambda: NOW, resume=runs))
    page = client.get(link_in(ledger, BOSS, key))
    assert page.status_code == 200 and "Your decision: send a dunning letter" in page.text and "The letter" in page.text
    assert 'id="preview"' in page.text and "I5" in page.text and "Acme" in page.text
    assert "<script>" not in page.text and "&lt;script&gt;" in page.text
    answer = client.post(link_in(ledger, BOSS, key) + "/decide", data={"csrf": csrf_of(page.text), "decision": "approve", "comment": ""})
    assert answer.status_code == 200 and "Approved by 吴宏" in answer.text
    with Session(ledger) as session:
        assert session.scalar(select(OutboxMessage.attachment_name).where(OutboxMessage.key == f"{key.removeprefix('approval:')}:letter"))


DEPUTY = "deputy@huikuan-demo.example.cn"
SPOKEN = {  # how each locale's approval email and page begin, and the last contact as they restate it
    "zh_CN": {"subject": "【待审批】", "code": "验证码", "contact": "2026年11月3日 电话，承诺付款", "page": '<html lang="zh-CN">'},
    "en": {"subject": "[Approval needed]", "code": "one-time code", "contact": "call on 3 November 2026: promised to pay", "page": '<html lang="en">'},
}


def speaking(company, locale: str, **own: str):
    """``company`` in ``locale``, the people ``own`` names (id=locale) in their own, and a second boss (孙立) with none of his own."""
    people = [p.model_copy(update={"locale": own[p.id]}) if p.id in own else p for p in company.people]
    deputy = company.person("boss").model_copy(update={"id": "boss2", "name": "孙立", "email": DEPUTY, "locale": None})
    return company.model_copy(update={"locale": locale, "people": [*people, deputy]})


@pytest.mark.parametrize(("company_locale", "own"), [("zh_CN", "en"), ("en", "zh_CN")])
def test_an_approval_email_is_in_the_approvers_own_language_else_the_companys_as_the_page_is(ledger, company_locale, own):
    with Session(ledger) as session, session.begin():
        records.log_contact(session, "W5", channel=Channel.phone, result=ContactResult.promised, on=dt.date(2026, 11, 3), recorded_by="c02")
    company = speaking(COMPANY, company_locale, boss=own)
    key = open_request(ledger, "W5", "dunning_letter", "I5", company=company)
    client = TestClient(create_app(engine=ledger, company=company, today=lambda: TODAY, now=lambda: NOW, resume=WaitingRuns(ledger, company)))
    for to, locale in ((BOSS, own), (DEPUTY, company_locale)):  # the boss reads his own language, his deputy the company's
        mail, words = emailed(ledger, to, key), SPOKEN[locale]
        assert mail.subject.startswith(words["subject"]) and words["code"] in mail.text and words["contact"] in mail.text, (to, mail.text)
        assert words["page"] in client.get(link_in(ledger, to, key)).text


def test_a_list_is_emailed_and_shown_in_the_approvers_own_language_else_the_companys(ledger):
    company = speaking(COMPANY, "zh_CN", boss="en").model_copy(update={"asked_together": ["dunning_letter"]})
    with Session(ledger) as session, session.begin():
        for customer_id, invoice in (("W1", "I1"), ("W5", "I5")):
            session.add(
                Approval(
                    key=f"approval:{customer_id}:dunning_letter:{TODAY}",
                    customer_id=customer_id,
                    action="dunning_letter",
                    approver_role="boss",
                    requested_on=TODAY,
                    invoices=invoice,
                )
            )
        session.flush()
        (key,) = approval_groups.form_groups(session, company)
        approval_groups.open_group(session, key, company, TODAY, "run-list", form_url="http://127.0.0.1:4200/runs/flow-run/run-list")
    client = TestClient(create_app(engine=ledger, company=company, today=lambda: TODAY, now=lambda: NOW, resume=WaitingRuns(ledger, company)))
    for to, locale, overdue in ((BOSS, "en", "I1 (41 days overdue)"), (DEPUTY, "zh_CN", "I1（逾期 41 天）")):
        mail = emailed(ledger, to, key)
        assert mail.subject.startswith(SPOKEN[locale]["subject"]) and overdue in mail.text, (to, mail.text)
        page = client.get(link_in(ledger, to, key)).text
        assert SPOKEN[locale]["page"] in page and overdue in visible(page), (to, visible(page))


def ask_for_review(engine, company=COMPANY) -> str:
    """W1's and W5's October statements prepared, and the supervisor asked to review them as one list (its run noted, the link emailed)."""
    with Session(engine) as session, session.begin():
        key = statements_for_review(session, company)
        approval_groups.open_group(session, key, company, TODAY, "run-list", form_url="http://127.0.0.1:4200/runs/flow-run/run-list")
    return key


@pytest.fixture
def review_list(ledger):
    return ask_for_review(ledger)


def test_a_list_is_approved_from_its_page_holding_one_back(client, ledger, runs, review_list):
    path = link_in(ledger, SUP, review_list)
    page = client.get(path)
    text = visible(page.text)
    assert page.status_code == 200 and "审批清单：审核并发出对账单" in text and "2 项" in text and "赵敏（收款主管）" in text
    assert page.text.count('name="hold"') == 2 and 'value="W1"' in page.text and 'value="W5"' in page.text
    assert "<script>" not in page.text  # W5's name, escaped
    answer = client.post(path + "/decide", data={"csrf": csrf_of(page.text), "decision": "approve", "comment": "", "hold": ["W5", "NOPE"]})
    assert answer.status_code == 200 and "已批准（赵敏）" in answer.text and "暂缓：W5" in answer.text
    assert runs.answers == [("run-list", {"approver": "sup", "code": runs.answers[0][1]["code"], "decision": "approve", "comment": "", "hold": "W5"})]
    with Session(ledger) as session:
        sent = dict(session.execute(select(Statement.customer_id, Statement.state)).all())
        assert sent == {"W1": StatementState.sent, "W5": StatementState.prepared}
        held = session.scalar(select(Approval).where(Approval.customer_id == "W5", Approval.action == "send_statement"))
        assert (held.state, held.held) == (ApprovalState.requested, True)
        statement_mail = session.scalar(select(OutboxMessage).where(OutboxMessage.key.like("%:2026-10:email")))
    assert statement_mail.to_address == "w1@example.cn" and f"{BASE}/s/" in statement_mail.text  # the statement email W1 gets: its page's link
    assert client.get(path).status_code == 410  # used


def test_a_delivered_approval_email_keeps_neither_code_nor_link_in_the_ledger(ledger):
    mail = emailed(ledger, BOSS, STOP)
    text, html = mask_codes(mail.text, mail.html)
    assert "/a/******" in text and "/a/******" in html and not LINK.search(text) and not LINK.search(html)
    assert not re.search(r"验证码\s*\d{6}", text)
    assert mask_codes(text, html) == (text, html)


def test_bad_approval_links_count_against_the_address(ledger, runs):
    client = TestClient(create_app(engine=ledger, company=COMPANY, today=lambda: TODAY, now=lambda: NOW, resume=runs))
    for _ in range(10):
        assert client.get("/a/garbage").status_code == 403
    assert client.get(link_in(ledger)).status_code == 429
