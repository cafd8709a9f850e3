"""Issue #13, item 4: what the company's people read is in the company's locale, from one message catalogue.

The catalogue (``huikuan/documents/locales/zh_CN/LC_MESSAGES/huikuan.po``) translates every
message the code marks (``Text(...)``, ``N_(...)``), every word of ``TERMS`` and
every reason of the built-in policies, with the same ``{fields}``. The policy gives
reasons as codes and values; the internal emails, the reports and the terminal
tables say them in the company's locale, while CSV and JSON keep the ids and the
English that programs read.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import pickle
import re
import string
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.collection import execution
from huikuan.documents import i18n
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.importer import import_files
from huikuan.reports.builders import REPORTS, kpis, pending_approvals, to_csv, to_markdown
from models.calendar import calendar_for
from models.engine import Evaluator
from models.enums import ApprovalState, Segment
from models.ledger import Approval, OutboxMessage
from models.policy import load_policy
from models.texts import REASONS, Reason, Term, step_text
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
ROOT = Path(__file__).resolve().parent.parent
ZH = parse_company(EXAMPLE)  # locale zh_CN, the default
EN = ZH.model_copy(update={"locale": "en"})
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,contact_title,locale,collector\n"
    "C1,杭州华信贸易有限公司,wangwei@hx.example.cn,13800000001,王伟,财务经理,zh_CN,c02\n"
    "C2,Acme Trading Ltd,ap@acme.example.com,+14155550142,Jane Doe,Controller,en,\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\nINV-2026-000080,C2,2026-08-10,2026-09-10,800.00\nI1,C1,2026-09-01,2026-10-01,1200.00\n",
}
# 2026-11-11: INV-2026-000080 is 62 days overdue (more than 2 months: notify_gm).
GM_DAY = D(2026, 11, 11)
runner = CliRunner()


# -- the catalogue ---------------------------------------------------------------------------


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def marked_messages() -> dict[str, str]:
    """Every message the code marks for the catalogue, with where it is."""
    found = {}
    for folder in ("models", "huikuan"):
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords={"N_": None, "Text": None}, comment_tags=()
        ):
            found.setdefault(message, f"{folder}/{filename}:{lineno}")
    return found


def policy_reasons() -> dict[str, str]:
    found = {}
    for name in ("handbook", "credit"):
        policy = load_policy(name)
        for segment in (None, *Segment):
            for step in policy.steps if segment is None else policy.steps_for(segment):
                if step.reason:
                    found.setdefault(step.reason, f"policies/{name}.yaml step {step.id}")
    return found


def test_the_catalogue_translates_every_marked_message_and_policy_reason_with_the_same_fields():
    catalogue = i18n.catalogue("zh_CN")
    wanted = {**marked_messages(), **policy_reasons(), **{words: f"TERMS[{term!r}]" for term, words in i18n.TERMS.items()}}
    assert len(wanted) > 150  # the extraction found the code's messages
    missing = [f"{where}: {msgid!r}" for msgid, where in wanted.items() if not (catalogue.get(msgid) and catalogue.get(msgid).string)]
    assert not missing, "not in huikuan/documents/locales/zh_CN/LC_MESSAGES/huikuan.po:\n" + "\n".join(missing)
    wrong = [f"{message.id!r}: {message.string!r}" for message in catalogue if message.id and _fields(message.id) != _fields(message.string)]
    assert not wrong, "a translation must keep the id's {fields}, and no other:\n" + "\n".join(wrong)
    assert not [m.id for m in catalogue if m.id and m.fuzzy]


def test_every_reason_code_is_in_the_catalogue_and_reads_without_english_in_chinese():
    for code, msgid in REASONS.items():
        translated = i18n.gettext(msgid, "zh_CN")
        assert translated != msgid, code
        assert not re.search(r"[A-Za-z]", re.sub(r"\{\w+\}", "", translated)), (code, translated)


def test_the_terminal_s_words_cover_every_value_they_name():
    """Every restart of a limitation period, facet of an account, statement state, contact channel and result has its words."""
    from huikuan.cli.legal import RESTARTS
    from huikuan.cli.views import FACETS, IMPORT_FILES
    from huikuan.documents.last_contact import CHANNELS, RESULTS
    from huikuan.ledger.account_state import LIMIT, LOCK, STANDING
    from huikuan.ledger.importer import KIND_ORDER
    from models.engine import STATEMENT_ORDER
    from models.enums import Channel, ContactResult
    from models.explain import STATEMENT_STATES
    from models.limitation import Restart

    assert set(RESTARTS) == {r.value for r in Restart}
    assert set(FACETS) == {LOCK, STANDING, LIMIT} and set(IMPORT_FILES) == set(KIND_ORDER)
    assert set(STATEMENT_STATES) == set(STATEMENT_ORDER)
    assert set(CHANNELS) == {c.value for c in Channel} and set(RESULTS) == {r.value for r in ContactResult}


def test_a_company_policy_text_outside_the_catalogue_is_shown_as_written():
    reason = Reason("invoice_age", invoice="I9", age=Reason("overdue", days=3), step=step_text("我们自己的规则：先打电话", "call_first"))
    assert i18n.render(reason, "zh_CN") == "发票 I9 逾期 3 天；我们自己的规则：先打电话"
    assert i18n.render(Reason("statement", month="2026-10", step=step_text("", "call_first")), "zh_CN") == "2026-10 对账单：call_first"


# -- reasons: structured in the policy, English for programs, the reader's words at the edge ------


def test_the_engine_gives_reasons_as_codes_and_values_with_the_english_text_unchanged():
    reason = Reason(
        "invoice_age",
        invoice="INV-2026-000080",
        age=Reason("overdue", days=62),
        step=step_text("more than 2 months unpaid; notify the general manager (总经理)", "notify_gm"),
    )
    assert reason == "invoice INV-2026-000080 is 62 days overdue; more than 2 months unpaid; notify the general manager (总经理)"
    assert reason.code == "invoice_age" and reason.params["age"].params == {"days": 62}
    assert i18n.render(reason, "zh_CN") == "发票 INV-2026-000080 逾期 62 天；超过2个月未付；通知总经理"
    copy = pickle.loads(pickle.dumps(reason))  # Prefect may persist a task's result
    assert copy == reason and copy.code == "invoice_age" and i18n.render(copy, "zh_CN") == i18n.render(reason, "zh_CN")
    resumed = Reason(
        "resumed_late", invoice="I1", pause=Reason("promise", amount=Decimal("1000.00"), due_on=D(2026, 11, 30)), since=D(2026, 12, 1), action=Term("follow_up")
    )
    assert resumed == "invoice I1: promise of 1000.00 by 2026-11-30 is over (due since 2026-12-01: recorded late); follow_up at once"
    assert i18n.render(resumed, "zh_CN") == "发票 I1：“承诺于2026年11月30日前付款 1,000.00”已结束（自2026年12月1日起应办，登记较晚）；立即跟进催收"


@pytest.fixture
def ledger(tmp_path, sqlite_engine):
    paths = write_files(tmp_path, FILES)
    with Session(sqlite_engine) as session:
        import_files(session, paths)
        session.commit()
        yield session


def _take(session: Session, customer_id: str, day: dt.date, company):
    from huikuan.ledger.facts import load_facts

    facts, country = next(load_facts(session, only=[customer_id]))
    actions = Evaluator(facts, load_policy(), calendar_for(country)).actions_on(day)
    return actions, [execution.take_action(session, action, company=company, as_of=day) for action in actions]


def test_the_general_manager_reads_why_in_the_company_s_chinese_even_about_an_english_customer(ledger):
    actions, _outcomes = _take(ledger, "C2", GM_DAY, ZH)
    notify = next(a for a in actions if a.action == "notify_gm")
    assert notify.reasons == ("invoice INV-2026-000080 is 62 days overdue; more than 2 months unpaid; notify the general manager (总经理)",)
    mail = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key == f"{notify.key}:to:gm"))
    assert "原因：发票 INV-2026-000080 逾期 62 天；超过2个月未付；通知总经理" in mail.text
    assert "原因：发票 INV-2026-000080 逾期 62 天" in mail.html
    assert mail.subject.startswith("【通知总经理】Acme Trading Ltd")
    assert not re.search(r"\b(?:invoice|overdue|days|notify|Reason|Dear)\b", mail.text + mail.subject), mail.text
    # The customer's own email of the day stays in the customer's language.
    to_customer = ledger.scalars(select(OutboxMessage).where(OutboxMessage.to_address == "ap@acme.example.com")).all()
    assert to_customer and all("Dear" in m.text or "Jane" in m.text for m in to_customer)


def test_a_company_that_works_in_english_reads_its_internal_emails_in_english(ledger):
    actions, _outcomes = _take(ledger, "C2", GM_DAY, EN)
    notify = next(a for a in actions if a.action == "notify_gm")
    mail = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key == f"{notify.key}:to:gm"))
    assert "Reason: invoice INV-2026-000080 is 62 days overdue; more than 2 months unpaid; notify the general manager (总经理)" in mail.text


def test_unanswered_requests_are_escalated_to_the_gm_in_the_company_s_locale(ledger):
    day = D(2026, 12, 11)  # INV-2026-000080 more than 3 months unpaid: stop_shipment asks the boss
    outcome = next(o for o in _take(ledger, "C2", day, ZH)[1] if o.action == "stop_shipment")
    approval = ledger.scalar(select(Approval).where(Approval.key == outcome.approval_key))
    execution.send_code(ledger, approval, ZH, day)
    request = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key.like(f"{approval.key}:code:0:boss")))
    assert request.subject.startswith("【待审批】Acme Trading Ltd：锁定账户、停止出库") and "逾期" in request.subject
    execution.remind_or_expire(ledger, ZH, day + dt.timedelta(days=7))
    assert approval.state is ApprovalState.expired
    expired = ledger.scalar(select(OutboxMessage).where(OutboxMessage.key.like(f"{approval.key}:unanswered:expired:gm")))
    assert "原因：自2026年12月11日起请老板审批的“锁定账户、停止出库”尚未处理：已过期" in expired.text


# -- reports and tables ------------------------------------------------------------------------


def test_a_report_for_people_is_in_the_locale_and_its_csv_keeps_the_column_ids(ledger):
    report = REPORTS["aging"](ledger, GM_DAY)
    text = to_markdown(report, "zh_CN")
    assert text.startswith("## 账龄分析（按客户）\n\n截至2026年11月11日\n\n| 客户编号 | 客户名称 | 未到期 | 1-30 | 31-60 | 61-90 | 91-180 | 180天以上 | 合计 |")
    assert "| 合计 |  |" in text and "- 截至2026年11月11日已开具的每张发票" in text
    assert to_csv(report).splitlines()[0] == "customer_id,customer,not due,1-30,31-60,61-90,91-180,over 180,total"
    assert to_markdown(report).startswith("## Aging by customer\n\nAs of 2026-11-11\n\n| customer\\_id | customer | not due |")
    measures = to_markdown(kpis(ledger, GM_DAY), "zh_CN")
    assert "| 逾期率 | 100.00% |" in measures and "应收账款周转天数（DSO，倒推法）" in measures


def test_the_approvals_report_names_actions_and_roles_in_the_locale(ledger):
    ledger.add(Approval(key="k1", customer_id="C2", action="stop_shipment", approver_role="boss", state=ApprovalState.requested, requested_on=D(2026, 11, 2)))
    ledger.commit()
    report = pending_approvals(ledger, D(2026, 11, 5))
    assert "| 1 | C2 | Acme Trading Ltd | 锁定账户、停止出库 | 老板 | 2026-11-02 | 3 | 0 | 0 |" in to_markdown(report, "zh_CN")
    assert "stop_shipment,boss" in to_csv(report)  # ids for programs


@pytest.fixture
def cli_ledger(cli_env):
    (cli_env / "company.yaml").write_text(EXAMPLE, encoding="utf-8")
    assert runner.invoke(app, ["db", "upgrade"], catch_exceptions=False).exit_code == 0
    paths = write_files(cli_env, FILES)
    args = [item for kind, path in paths.items() for item in (f"--{kind}", str(path))]
    assert runner.invoke(app, ["import", *args], catch_exceptions=False).exit_code == 0
    return cli_env


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_plan_and_simulate_as_tables_for_people_csv_and_json_for_programs(cli_ledger):
    table = run("plan", "--as-of", GM_DAY.isoformat(), "--format", "table")
    assert table.exit_code == 0, table.output
    assert "2026年11月11日应办事项" in table.stdout
    for header in ("日期", "客户编号", "事项", "发票", "方式", "负责角色", "需审批", "原因"):
        assert header in table.stdout
    assert "通知总经理" in table.stdout and "逾期 62" in table.stdout and "notify_gm" not in table.stdout  # the reason may wrap
    plain = run("plan", "--as-of", GM_DAY.isoformat())
    rows = list(csv.reader(io.StringIO(plain.stdout)))
    assert rows[0] == ["date", "customer_id", "action", "invoices", "channel", "role", "needs_approval"]
    assert ["2026-11-11", "C2", "notify_gm", "INV-2026-000080", "internal", "gm", "false"] in rows
    data = json.loads(run("plan", "--as-of", GM_DAY.isoformat(), "--format", "json").stdout)
    assert any(r["action"] == "notify_gm" and r["reasons"][0].startswith("invoice INV-2026-000080 is 62 days overdue") for r in data)
    simulated = run("simulate", "--from", "2026-11-09", "--to", "2026-11-13", "--format", "table")
    assert simulated.exit_code == 0 and "2026年11月9日至2026年11月13日的应办事项" in simulated.stdout and "审批均获批准" in simulated.stdout
    assert run("simulate", "--from", "2026-11-09", "--to", "2026-11-13").stdout.startswith("date,customer_id,action,")


def test_the_company_s_locale_decides_the_report_s_language_on_the_terminal(cli_ledger):
    assert run("report", "kpis", "--as-of", GM_DAY.isoformat()).stdout.startswith("## 应收账款关键指标")
    (cli_ledger / "company.yaml").write_text(EXAMPLE + "locale: en\n", encoding="utf-8")
    from huikuan.ledger.company import company_from

    company_from.cache_clear()
    try:
        assert run("report", "kpis", "--as-of", GM_DAY.isoformat()).stdout.startswith("## Receivables KPIs")
        assert "Actions due on 2026-11-11" in run("plan", "--as-of", GM_DAY.isoformat(), "--format", "table").stdout
    finally:
        company_from.cache_clear()
