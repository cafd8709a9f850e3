"""Issue #13, item 7: the smaller things people read, one test each.

- ``approvals list`` says when nothing waits, and shows each request whole: key, customer name, amount;
- ``approvals answer`` says whether the waiting run accepted the answer, both ways;
- ``report statements`` moves a deadline off a day off as the policy does (the 5th on a Saturday is met on Monday);
- ``huikuan start`` says how many steps were missed before huikuan, and the command that takes them;
- the calendar warning for a year without official data comes only from commands about a day in it;
- worklist artifacts are named by the collector's name (the key stays the id Prefect allows);
- the portfolio table shows company names whole;
- a statement is confirmed only once sent, and with a well-formed 统一社会信用代码 (GB 32100-2015);
- the tests leave ``docs/screenshots`` alone unless ``HUIKUAN_SCREENSHOTS`` names it.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import warnings
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from huikuan.approvals.check import code_hash
from huikuan.cli import app
from huikuan.collection import execution
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.db import engine_for, session_scope
from huikuan.ledger.records import normal_tax_id, tax_id_problem, uscc_check_character
from huikuan.ledger.settings import get_settings
from models.enums import ApprovalState, StatementState
from models.ledger import Approval, ApprovalGroup, Customer, Statement

D = dt.date
ROOT = Path(__file__).resolve().parent.parent
COMPANY = parse_company(EXAMPLE)
LONG_NAME = "内蒙古自治区呼和浩特市金桥经济技术开发区远大重型机械装备制造有限责任公司"
CUSTOMERS = (
    "customer_id,name,email,phone,contact_name,collector\n"
    f"C1,杭州华信贸易有限公司,wangwei@hx.example.cn,13800000001,王伟,c01\n"
    f"C2,{LONG_NAME},li@yd.example.cn,13800000002,李强,c01\n"
)
INVOICES = (
    "invoice_id,customer_id,issued_on,due_on,amount\n"
    "I1,C1,2026-06-10,2026-07-10,10000.00\nI2,C1,2026-09-10,2026-10-10,5000.00\nI3,C2,2026-07-01,2026-08-01,2500.00\n"
)
CHARGES = "charge_id,customer_id,delivered_on,amount,description\nH1,C1,2026-08-12,1200.00,钢材一批\nH2,C1,2026-10-12,300.00,运输服务\n"
runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")  # in-process; the warning test runs its commands as processes


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An empty ledger, a data directory and the example company file, for commands run in-process or as a subprocess."""
    company = tmp_path / "company.yaml"
    company.write_text(EXAMPLE, encoding="utf-8")
    values = {
        "HUIKUAN_DATABASE_URL": f"sqlite:///{tmp_path / 'huikuan.db'}",
        "HUIKUAN_DATA_DIR": str(tmp_path / "data"),
        "HUIKUAN_COMPANY_FILE": str(company),
        "HUIKUAN_SECRET_KEY": "a test key of the server",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    engine_for.cache_clear()
    yield values
    engine_for.cache_clear()
    get_settings.cache_clear()


@pytest.fixture
def ledger(env, tmp_path):
    """C1 (two invoices, charges in August and October) and C2 (a very long name), imported as a company would."""
    files = []
    for kind, text in (("customers", CUSTOMERS), ("invoices", INVOICES), ("charges", CHARGES)):
        path = tmp_path / f"{kind}.csv"
        path.write_text(text, encoding="utf-8")
        files += [f"--{kind}", str(path)]
    result = run("import", *files)
    assert result.exit_code == 0, result.output
    return env


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# -- approvals list -----------------------------------------------------------------------------


def test_approvals_list_says_when_nothing_waits_and_shows_each_request_whole(ledger):
    empty = run("approvals", "list", "--as-of", "2026-11-20")
    assert empty.exit_code == 0 and empty.stdout.strip() == "No request is waiting for a decision on 2026-11-20."
    key = "approval:C1:stop_shipment:2026-11-18"
    with session_scope() as session:
        session.add(
            Approval(
                key=key,
                customer_id="C1",
                action="stop_shipment",
                approver_role="boss",
                requested_on=D(2026, 11, 18),
                invoices="I1",
                flow_run_id="11111111-2222-3333-4444-555555555555",
            )
        )
        session.add(
            Approval(
                key="approval:C2:lawyer_letter:2026-11-19",
                customer_id="C2",
                action="lawyer_letter",
                approver_role="boss",
                requested_on=D(2026, 11, 19),
                invoices="I3",
            )
        )
        group = ApprovalGroup(
            key="review:send_statement:supervisor:2026-11-09:1", action="send_statement", approver_role="supervisor", requested_on=D(2026, 11, 9), held=""
        )
        session.add(group)
        session.add(
            Approval(
                key="approval:C1:send_statement:2026-11-09",
                customer_id="C1",
                action="send_statement",
                approver_role="supervisor",
                requested_on=D(2026, 11, 9),
                group_key=group.key,
            )
        )
        session.add(Statement(customer_id="C1", month="2026-10", amount=Decimal("300.00"), prepared_on=D(2026, 11, 5)))
    shown = run("approvals", "list", "--as-of", "2026-11-20")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0] == "3 waiting for a decision on 2026-11-20 (answer with `huikuan approvals answer KEY`):"
    # Each entry: the key whole at the start of its line with the decision, then the customer, the amount, what it is about.
    assert lines[1:] == [
        "review:send_statement:supervisor:2026-11-09:1  send_statement for the supervisor, since 2026-11-09; run not started yet",
        "    a list of 1: C1 杭州华信贸易有限公司; total ¥300.00",  # the statement waiting to be sent
        f"{key}  stop_shipment for the boss, since 2026-11-18; run waiting",
        "    C1 杭州华信贸易有限公司: ¥10,000.00, I1 (133 days overdue)",  # 2026-07-10 to 2026-11-20
        "approval:C2:lawyer_letter:2026-11-19  lawyer_letter for the boss, since 2026-11-19; run not started yet",
        f"    C2 {LONG_NAME}: ¥2,500.00, I3 (111 days overdue)",  # 2026-08-01 to 2026-11-20
    ]


# -- approvals answer ---------------------------------------------------------------------------


@pytest.fixture
def waiting(ledger, monkeypatch):
    """A stop-shipment waiting for the boss in run "run-1", whose code is 123456; the run judges answers as request-approval does."""
    import huikuan.approvals.runs

    key = "approval:C1:stop_shipment:2026-11-18"
    with session_scope() as session:
        session.add(
            Approval(
                key=key,
                customer_id="C1",
                action="stop_shipment",
                approver_role="boss",
                requested_on=D(2026, 11, 18),
                invoices="I1",
                flow_run_id="run-1",
                code_hash=code_hash("123456", key),
                code_sent_on=D(2026, 11, 18),
            )
        )
    answers = []

    def the_run_judges(run_id, answer):  # what the waiting run does with an answer it is given (flows.approval / tasks.approvals.judge)
        answers.append((run_id, answer))
        with session_scope() as session:
            execution.decide(
                session,
                key,
                approver=answer["approver"],
                code=answer["code"],
                approve=answer["decision"] == "approve",
                comment=answer["comment"] or None,
                attempt=len(answers),
                company=COMPANY,
                as_of=D(2026, 11, 19),
            )

    monkeypatch.setattr(huikuan.approvals.runs, "resume_waiting_run", the_run_judges)
    return key, answers


def test_approvals_answer_says_a_refused_answer_was_refused(waiting):
    key, answers = waiting
    refused = run("approvals", "answer", key, "--approver", "boss", "--code", "000000", "--decision", "approve", "--wait", "5")
    assert refused.exit_code == 1 and answers == [("run-1", {"approver": "boss", "code": "000000", "decision": "approve", "comment": ""})]
    line = one_error_line(refused)
    assert "refused" in line and "the code is wrong" in line and "the run waits for another answer" in line
    wrong_person = run("approvals", "answer", key, "--approver", "c01", "--code", "123456", "--decision", "approve", "--wait", "5")
    assert wrong_person.exit_code == 1 and "may not decide stop_shipment" in one_error_line(wrong_person)
    with session_scope() as session:
        assert session.scalar(select(Approval.state).where(Approval.key == key)) is ApprovalState.requested


def test_approvals_answer_says_an_accepted_answer_was_accepted_and_carried_out(waiting):
    key, _answers = waiting
    accepted = run("approvals", "answer", key, "--approver", "boss", "--code", "123456", "--decision", "approve", "--wait", "5")
    assert accepted.exit_code == 0, accepted.output
    assert accepted.stdout.strip() == f"accepted: {key} approved by boss and carried out"
    with session_scope() as session:
        assert session.get(Customer, "C1").locked_on is not None


def test_approvals_answer_says_when_the_run_has_not_judged_in_time(ledger, monkeypatch):
    import huikuan.approvals.runs

    key = "approval:C1:stop_shipment:2026-11-18"
    with session_scope() as session:
        session.add(Approval(key=key, customer_id="C1", action="stop_shipment", approver_role="boss", requested_on=D(2026, 11, 18), flow_run_id="run-1"))
    monkeypatch.setattr(huikuan.approvals.runs, "resume_waiting_run", lambda run_id, answer: None)  # a run that never gets to it
    late = run("approvals", "answer", key, "--approver", "boss", "--code", "123456", "--decision", "deny", "--wait", "0")
    assert late.exit_code == 1 and "has not judged it within 0 s" in one_error_line(late)


# -- report statements --------------------------------------------------------------------------


def test_report_statements_moves_a_deadline_off_a_day_off_as_the_policy_does(ledger):
    """August's statement is due by the 5th of September 2026, a Saturday: the policy prepares it on Monday the 7th."""
    from huikuan.reports.builders import statement_status
    from huikuan.reports.planning import plan
    from models.calendar import calendar_for
    from models.engine import statement_deadline
    from models.policy import load_policy

    assert D(2026, 9, 5).weekday() == 5
    assert statement_deadline("2026-08", 5, calendar_for("CN")) == D(2026, 9, 7)
    with session_scope() as session:
        on_saturday = [a.action for a in plan(session, D(2026, 9, 5), load_policy("handbook")) if a.customer_id == "C1"]
        on_monday = [a.action for a in plan(session, D(2026, 9, 7), load_policy("handbook")) if a.customer_id == "C1"]
    assert "prepare_statement" not in on_saturday and "prepare_statement" in on_monday  # the policy's own rule
    with session_scope() as session:
        session.add(Statement(customer_id="C1", month="2026-08", amount=Decimal("1200.00"), prepared_on=D(2026, 9, 7)))
    with session_scope() as session:
        report = statement_status(session, D(2026, 9, 7))
    row = dict(zip(report.columns, report.rows[0]))
    assert (row["month"], row["prepared"], row["prepared late"]) == ("2026-08", 1, 0)
    with session_scope() as session:
        session.scalar(select(Statement)).prepared_on = D(2026, 9, 8)  # a day after the moved deadline: late
    with session_scope() as session:
        late = dict(zip(report.columns, statement_status(session, D(2026, 9, 8)).rows[0]))
    assert late["prepared late"] == 1
    shown = run("report", "statements", "--as-of", "2026-09-08", "--format", "csv")
    assert shown.exit_code == 0 and shown.stdout.splitlines()[1] == "2026-08,1,1,0,0,0,1,0,0,0"  # prepared late; sent by Tuesday the 8th: not yet due


# -- huikuan start and adopt --------------------------------------------------------------------


def test_start_says_how_many_steps_were_missed_and_how_to_take_them(env):
    started = run("start", "--no-server", "--customers", "40", "--as-of", "2026-11-22")
    assert started.exit_code == 0, started.output
    said = " ".join(started.stdout.split())
    dry = run("adopt", "--dry-run", "--as-of", "2026-11-22")
    missed = int(dry.stdout.split(" missed step(s)")[0].split()[-1])
    assert missed > 0
    assert f"{missed} one-time step(s) for " in said
    assert "`huikuan adopt --dry-run --as-of 2026-11-22` lists them, `huikuan adopt --as-of 2026-11-22` takes them once" in said
    assert run("adopt", "--as-of", "2026-11-22").exit_code == 0
    again = run("start", "--no-server", "--as-of", "2026-11-22")
    assert "one-time step(s)" not in again.stdout  # taken: nothing more to say


# -- the calendar warning -----------------------------------------------------------------------


def huikuan(env: dict, *args: str) -> subprocess.CompletedProcess:
    """The command in a process of its own, as a person runs it."""
    return subprocess.run([sys.executable, "-m", "huikuan.cli", *args], capture_output=True, text=True, env={**os.environ, **env}, cwd=ROOT, timeout=120)


def calendar_warnings(*args: str) -> list[str]:
    """The calendar warnings the command lets through, with fresh calendars (each warns once per process)."""
    from models.calendar import CalendarFallbackWarning, _cached_calendar

    _cached_calendar.cache_clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # as shown to a person, but recorded: the command's own filters decide
        result = run(*args)
    assert result.exit_code == 0, result.output
    return [str(w.message) for w in caught if issubclass(w.category, CalendarFallbackWarning)]


def test_the_calendar_warning_comes_only_from_commands_about_a_day_in_that_year(ledger):
    # C1's debts reach into 2027 (cadences) and 2029 (the limitation period): looked up on the way, not asked about.
    for args in (
        ("plan", "--as-of", "2026-12-04"),
        ("explain", "C1", "--as-of", "2026-12-04"),
        ("worklist", "--as-of", "2026-12-04"),
        ("adopt", "--dry-run", "--as-of", "2026-12-04"),
        ("report", "limitation", "--as-of", "2026-12-04"),
    ):
        assert calendar_warnings(*args) == [], args
    # customers show shows the limitation dates: one in 2029 is said (tests/test_legal_calendar.py), and nothing else.
    shown = calendar_warnings("customers", "show", "C1", "--as-of", "2026-12-04")
    assert len(shown) == 1 and shown[0].startswith("no official CN calendar for 2029: the limitation dates (诉讼时效) in 2029"), shown
    assert [w[:40] for w in calendar_warnings("plan", "--as-of", "2027-01-04")] == ["no official CN calendar for 2027: using "]
    assert any("for 2027" in w for w in calendar_warnings("simulate", "--from", "2026-12-28", "--to", "2027-01-05"))
    in_2027 = huikuan(ledger, "worklist", "--as-of", "2027-01-04")  # as a person sees it: one line on stderr
    assert in_2027.returncode == 0, in_2027.stderr
    lines = [line for line in in_2027.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("warning: no official CN calendar for 2027: using the statutory days off"), in_2027.stderr


# -- worklist artifacts -------------------------------------------------------------------------


def test_a_worklist_is_named_by_its_collector_s_name(ledger):
    from huikuan.reports.worklist import artifact_naming, collector_name

    assert collector_name("c01", COMPANY) == "张伟 (c01)" and collector_name("x9", COMPANY) == "x9" and collector_name(None, COMPANY) == "(unassigned)"
    key, description = artifact_naming("c01", COMPANY, D(2026, 11, 23), 3)
    assert key == "worklist-c01"  # Prefect's keys take a-z, 0-9 and dashes: the id, the same every day
    assert description.replace("\\", "") == "张伟 (c01): worklist for 2026-11-23, 3 to call or visit"  # Markdown, the name escaped
    shown = run("worklist", "--as-of", "2026-11-23")
    assert shown.exit_code == 0 and "## 张伟 \\(c01\\) (2; " in shown.stdout  # the heading by name (Markdown-escaped)
    source = (ROOT / "tasks" / "day.py").read_text(encoding="utf-8")
    assert "artifact_naming(collector, people, day, length)" in source  # the daily run's artifacts are named so


# -- the portfolio table ------------------------------------------------------------------------


def test_the_portfolio_shows_company_names_whole(ledger):
    shown = run("portfolio", "--as-of", "2026-11-23")
    assert shown.exit_code == 0
    assert "…" not in shown.stdout
    oldest = shown.stdout[shown.stdout.index("最久的欠款") :]
    assert LONG_NAME in "".join(line.split("C2")[-1].strip().split("  ")[0] for line in oldest.splitlines()) or LONG_NAME in oldest
    assert "杭州华信贸易有限公司" in oldest


# -- statement confirmation ---------------------------------------------------------------------


def test_the_check_character_of_a_unified_social_credit_code():
    # Published codes (GB 32100-2015 check characters): the sample of the standard's explanation, and real companies'.
    for code in ("91350100M000100Y43", "914403001922038216", "9144030071526726XG", "91110000802100433B"):
        assert tax_id_problem(code) is None, code
        assert uscc_check_character(code[:17]) == code[17]
    assert normal_tax_id(" ９１３５０１００ｍ０００１００ｙ４３ ") == "91350100M000100Y43"  # full-width, lower case and spaces as typed
    assert "18 characters" in tax_id_problem("91420100XXXX")
    assert "'I' is not used" in tax_id_problem("91350100I000100Y43")
    assert "administrative division" in tax_id_problem("9135A100M000100Y43")
    assert "check character" in tax_id_problem("91350100M000100Y44")


def test_a_statement_is_confirmed_only_once_sent_and_with_a_well_formed_tax_id(ledger):
    confirm = ("statement", "confirm", "C1", "--month", "2026-10", "--invoice-title", "杭州华信贸易有限公司")
    none_yet = run(*confirm, "--tax-id", "91350100M000100Y43", "--on", "2026-11-06")
    assert none_yet.exit_code == 1 and "has no 2026-10 statement" in one_error_line(none_yet)
    with session_scope() as session:
        statement = execution.prepare_statement(session, session.get(Customer, "C1"), "2026-10", D(2026, 11, 5))
    prepared = run(*confirm, "--tax-id", "91350100M000100Y43", "--on", "2026-11-06")
    assert prepared.exit_code == 1 and "has not been sent yet (prepared)" in one_error_line(prepared)
    with session_scope() as session:
        statement = session.scalar(select(Statement).where(Statement.month == "2026-10"))
        statement.reviewed_on = statement.sent_on = D(2026, 11, 9)
        statement.state = StatementState.sent
    before = run(*confirm, "--tax-id", "91350100M000100Y43", "--on", "2026-11-08")
    assert before.exit_code == 1 and "before it was sent" in one_error_line(before)
    for bad, why in (("91420100XXXX", "has 18 characters, this has 12"), ("91350100M000100Y44", "the check character")):
        refused = run(*confirm, "--tax-id", bad, "--on", "2026-11-12")
        line = one_error_line(refused)
        assert refused.exit_code == 1 and line.startswith(f"error: tax id (税号) '{bad}'") and why in line
    accepted = run(*confirm, "--tax-id", "91350100m000100y43", "--on", "2026-11-12")
    assert accepted.exit_code == 0, accepted.output
    with session_scope() as session:
        statement = session.scalar(select(Statement).where(Statement.month == "2026-10"))
        assert (statement.state, statement.confirmed_on, statement.tax_id) == (StatementState.confirmed, D(2026, 11, 12), "91350100M000100Y43")


# -- screenshots --------------------------------------------------------------------------------


def test_the_browser_tests_write_screenshots_to_docs_only_when_asked(tmp_path, monkeypatch):
    import tests.stack_harness as harness
    import tests.test_browser_approval as browser

    class Page:
        def screenshot(self, path: str, **_kw) -> None:
            Path(path).write_bytes(b"\x89PNG")

    monkeypatch.delenv("HUIKUAN_SCREENSHOTS", raising=False)
    assert harness.screenshots_folder() is None
    docs = ROOT / "docs" / "screenshots"
    before = {p.name: p.stat().st_mtime_ns for p in docs.iterdir()}
    monkeypatch.setattr(harness, "SCREENSHOTS", harness.screenshots_folder())
    saved = browser.save_screenshot(Page(), tmp_path, "approval-form.png")
    assert saved == tmp_path / "approval-form.png" and saved.exists()
    assert {p.name: p.stat().st_mtime_ns for p in docs.iterdir()} == before  # the tracked images untouched
    monkeypatch.setenv("HUIKUAN_SCREENSHOTS", str(tmp_path / "docs-copy"))
    monkeypatch.setattr(harness, "SCREENSHOTS", harness.screenshots_folder())
    browser.save_screenshot(Page(), tmp_path, "approval-form.png")
    assert (tmp_path / "docs-copy" / "approval-form.png").exists()
    monkeypatch.setenv("HUIKUAN_SCREENSHOTS", "docs/screenshots")
    assert harness.screenshots_folder() == docs.resolve()
