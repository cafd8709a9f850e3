"""plan, simulate and explain over a real ledger (SQLite and PostgreSQL) and through the CLI."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.ledger.db import engine_for
from huikuan.ledger.facts import load_facts
from huikuan.ledger.importer import import_files
from huikuan.ledger.records import open_dispute, record_promise
from huikuan.ledger.settings import get_settings
from huikuan.reports.planning import COLUMNS, plan, simulate_ledger, write_csv
from models.engine import PromiseFacts, StatementFacts
from models.enums import CustomerStatus
from models.ledger import Customer, Statement
from models.policy import load_policy
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,settlement,segment\n"
    "C1,华信,a@b.cn,1,王,monthly_statement,ordinary\nC2,恒达,c@d.cn,2,李,per_receipt,key\nC3,远洋,e@f.cn,3,陈,per_invoice,ordinary\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "I1,C1,2026-08-11,2026-09-10,1000.00\nI2,C1,2026-08-12,2026-09-12,200.00\nI3,C2,2026-08-11,2026-09-10,300.00\nI4,C3,2026-08-11,2026-09-10,50.00\n",
    "payments": "payment_id,customer_id,received_on,amount,invoice_id\nP1,C1,2026-09-16,400.00,I1\nP2,C3,2026-09-09,50.00,I4\n",
    "charges": "charge_id,customer_id,delivered_on,amount,receipt_received_on\n"
    "H1,C2,2026-10-03,10.00,2026-10-09\nH2,C2,2026-10-20,10.00,2026-11-02\nH3,C1,2026-10-21,99.00,\n",
}


@pytest.fixture
def ledger(tmp_path, session):
    paths = write_files(tmp_path, FILES)
    import_files(session, paths)
    record_promise(session, "C1", amount=Decimal("200.00"), by=D(2026, 10, 20), on=D(2026, 10, 8), invoices=["I2"])
    open_dispute(session, "I3", reason="数量不符", on=D(2026, 9, 20))
    session.add(Statement(customer_id="C1", month="2026-09", amount=Decimal("1200.00"), prepared_on=D(2026, 10, 8), sent_on=D(2026, 10, 9)))
    session.execute(update(Customer).where(Customer.customer_id == "C3").values(status=CustomerStatus.locked, locked_on=D(2026, 9, 1)))
    session.commit()
    return session


def test_the_ledger_becomes_the_engine_s_facts(ledger):
    facts = {f.customer_id: (f, country) for f, country in load_facts(ledger, batch=2)}
    c1, country = facts["C1"]
    assert country == "CN"
    assert [i.invoice_id for i in c1.invoices] == ["I1", "I2"]
    assert c1.invoices[0].payments == ((D(2026, 9, 16), Decimal("400.00")),)
    assert c1.promises == (PromiseFacts(D(2026, 10, 8), D(2026, 10, 20), Decimal("200.00"), frozenset({"I2"})),)
    assert sorted(c1.statements, key=lambda s: s.month) == [
        StatementFacts("2026-09", {"prepared": D(2026, 10, 8), "sent": D(2026, 10, 9)}, None),
        StatementFacts("2026-10", {}, None),  # charges without a statement yet; H3 has no receipt
    ]
    c2, _ = facts["C2"]
    assert c2.invoices[0].disputes == ((D(2026, 9, 20), None),)
    assert c2.statements == (StatementFacts("2026-10", {}, D(2026, 11, 2)),)  # every receipt back by 11-02
    c3, _ = facts["C3"]
    assert (c3.status, c3.locked_on) == (CustomerStatus.locked, D(2026, 9, 1))
    assert c3.invoices[0].paid_in_full_on() == D(2026, 9, 9)


def test_plan_over_the_ledger(ledger):
    rows = [(a.customer_id, a.action, a.invoices, a.role) for a in plan(ledger, D(2026, 9, 14), load_policy())]
    # C1: I1's D+3 (Sunday) and I2's D+1 (Sunday) roll to Monday; C2's I3 is not disputed yet (a key account: the manager).
    assert rows == [("C1", "follow_up", ("I1", "I2"), "collector"), ("C2", "follow_up", ("I3",), "manager")]
    november = {(a.customer_id, a.action) for a in plan(ledger, D(2026, 11, 5), load_policy())}
    assert ("C1", "prepare_statement") in november and ("C2", "prepare_statement") in november
    assert not any(customer == "C2" and action == "follow_up" for customer, action in november)  # disputed


def test_simulate_over_the_ledger_is_sorted_and_keys_are_unique(ledger):
    actions = simulate_ledger(ledger, D(2026, 9, 1), D(2026, 12, 31), load_policy())
    assert [a.sort_key() for a in actions] == sorted(a.sort_key() for a in actions)
    assert len({a.key for a in actions}) == len(actions)
    out = io.StringIO()
    write_csv(actions, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(COLUMNS) == "date,customer_id,action,invoices,channel,role,needs_approval"
    assert len(lines) == len(actions) + 1


# -- through the command line --------------------------------------------------


runner = CliRunner()


@pytest.fixture
def cli_ledger(cli_env):
    """A SQLite ledger with the FILES imported, for the command line."""
    args = [item for kind, path in write_files(cli_env, FILES).items() for item in (f"--{kind}", str(path))]
    assert runner.invoke(app, ["import", *args]).exit_code == 0
    assert runner.invoke(app, ["promise", "C1", "--amount", "200.00", "--by", "2026-10-20", "--on", "2026-10-08", "--invoices", "I2"]).exit_code == 0
    assert runner.invoke(app, ["dispute", "open", "I3", "--reason", "数量不符", "--on", "2026-09-20"]).exit_code == 0
    engine_for.cache_clear()
    return cli_env / "huikuan.db"


def digest(path: Path) -> str:
    """What the ledger holds, read as SQL through SQLite (its WAL included).

    Not the main file's bytes: those change without a write whenever the last connection to close checkpoints the
    WAL that the set-up's commands left (when the garbage collector gets to their pooled connections, later under load).
    """
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return hashlib.sha256("\n".join(connection.iterdump()).encode()).hexdigest()


def test_plan_prints_the_contract_csv_and_writes_nothing(cli_ledger):
    before = digest(cli_ledger)
    result = runner.invoke(app, ["plan", "--as-of", "2026-09-14"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "date,customer_id,action,invoices,channel,role,needs_approval",
        "2026-09-14,C1,follow_up,I1;I2,email+phone,collector,false",
        "2026-09-14,C2,follow_up,I3,email+phone,manager,false",
    ]
    assert digest(cli_ledger) == before


def test_plan_as_json_carries_keys_and_reasons(cli_ledger):
    result = runner.invoke(app, ["plan", "--as-of", "2026-09-14", "--format", "json"])
    rows = json.loads(result.stdout)
    assert rows[0]["key"] == "C1:follow_up:2026-09-14"
    assert rows[0]["invoices"] == ["I1", "I2"] and rows[0]["needs_approval"] is False
    assert any("I1 is 4 days overdue" in reason for reason in rows[0]["reasons"])


def test_simulate_with_granted_and_denied_approvals(cli_ledger):
    before = digest(cli_ledger)
    granted = runner.invoke(app, ["simulate", "--from", "2026-09-01", "--to", "2027-01-31"])
    denied = runner.invoke(app, ["simulate", "--from", "2026-09-01", "--to", "2027-01-31", "--approvals", "deny"])
    assert granted.exit_code == denied.exit_code == 0
    granted_rows = list(csv.DictReader(io.StringIO(granted.stdout)))
    denied_rows = list(csv.DictReader(io.StringIO(denied.stdout)))
    assert [(r["date"], r["customer_id"], r["action"]) for r in granted_rows] == sorted((r["date"], r["customer_id"], r["action"]) for r in granted_rows)
    stop = [r for r in granted_rows if r["action"] == "stop_shipment"]
    # I1 locks C1 on 12-11; I2 reaches the lock step after that (12-14) and asks for no second lock; C2's I3 is disputed.
    assert stop == [
        {"date": "2026-12-11", "customer_id": "C1", "action": "stop_shipment", "invoices": "I1", "channel": "system", "role": "boss", "needs_approval": "true"}
    ]
    assert {"dunning_letter", "statement_letter", "lawyer_letter"} <= {r["action"] for r in granted_rows}
    assert not {"dunning_letter", "statement_letter", "lawyer_letter"} & {r["action"] for r in denied_rows}
    assert digest(cli_ledger) == before


def test_explain_says_what_fired_and_why_not(cli_ledger):
    result = runner.invoke(app, ["explain", "C1", "--as-of", "2026-10-12"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())  # in the company's language (zh_CN without a company file)
    assert "notify_manager 发票 I1 办理 发票 I1 逾期 32 天" in text
    assert "stop_shipment 发票 I1 否 将于2026年12月11日办理" in text
    assert "dunning_letter 发票 I1 否 账户锁定后才办理" in text
    assert "reminder 发票 I2 否 暂停：承诺于2026年10月20日前付款 200.00，至2026年10月20日" in text
    assert "visit 发票 I1 否 该客户不是长期拖延付款的客户" in text
    assert "send_statement 对账单 2026-10 否 对账单当前为“未制作”；该步骤适用于“已制作、已审核”" in text
    from huikuan.ledger.db import session_scope
    from huikuan.reports.planning import explain_customer

    with session_scope() as session:  # each answer is a text whose string is the English programs read, as before
        said = {(e.step, e.subject): (e.fires, e.why) for e in explain_customer(session, "C1", dt.date(2026, 10, 12), load_policy("handbook"))}
    assert said["notify_manager", "invoice I1"][0] is True
    assert said["stop_shipment", "invoice I1"] == (False, "comes on 2026-12-11")
    assert said["dunning_letter", "invoice I1"] == (False, "only once the account is locked")
    assert said["reminder", "invoice I2"] == (False, "paused: promise of 200.00 by 2026-10-20 until 2026-10-20")
    assert said["visit", "invoice I1"] == (False, "the customer is not a chronically late payer")
    assert said["send_statement", "statement 2026-10"] == (False, "the statement is not prepared; the step is for prepared, reviewed")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "--as-of", "2026-09-14", "--policy", "lenient"], "no policy named 'lenient'"),
        (["simulate", "--from", "2026-09-14", "--to", "2026-09-01"], "--to 2026-09-01 is before --from 2026-09-14"),
        (["plan", "--as-of", "14/09/2026"], "--as-of '14/09/2026' is not a date"),
        (["explain", "NOPE", "--as-of", "2026-09-14"], "unknown customer NOPE"),
    ],
)
def test_clear_errors(cli_ledger, args, message):
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.stderr


def test_a_company_policy_file_on_the_command_line(cli_ledger, tmp_path):
    policy = tmp_path / "gentle.yaml"
    policy.write_text(
        "name: gentle\nresume_step: call\nsteps:\n  - id: call\n    action: follow_up\n    trigger: {cadence: {start: 7, every: 7}}\n    channel: phone\n    role: collector\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["plan", "--as-of", "2026-09-17", "--policy", str(policy)])
    assert result.stdout.splitlines()[1:] == ["2026-09-17,C1,follow_up,I1,phone,collector,false", "2026-09-17,C2,follow_up,I3,phone,collector,false"]


def test_an_instalment_plan_from_the_command_line_holds_the_ladder(cli_ledger):
    result = runner.invoke(app, ["instalments", "C1", "--schedule", "2026-10-15=300;2026-11-16=300", "--invoices", "I1", "--on", "2026-09-14"])
    assert result.exit_code == 0, result.output
    assert "instalment plan of 2 instalment(s) recorded for C1" in result.stdout
    plan_day = runner.invoke(app, ["plan", "--as-of", "2026-09-15"]).stdout.splitlines()
    assert "2026-09-15,C1,follow_up,I2,email+phone,collector,false" in plan_day  # I1 waits for the plan; I2 does not
    explained = " ".join(runner.invoke(app, ["explain", "C1", "--as-of", "2026-09-15"]).stdout.split())
    assert "reminder 发票 I1 否 暂停：2026年9月14日约定的分期付款" in explained, explained
    bad = runner.invoke(app, ["instalments", "C1", "--schedule", "2026-10-15:300"])
    assert bad.exit_code == 1 and "is not DATE=AMOUNT" in bad.stderr


STATUTORY_2027 = ["2027-01-01", "2027-02-05", "2027-02-08", "2027-04-05", "2027-06-09", "2027-09-15", "2027-10-01"]


def _simulated_days(*args: str) -> set[str]:
    result = runner.invoke(app, ["simulate", "--from", "2026-12-01", "--to", "2027-12-31", *args])
    assert result.exit_code == 0, result.output
    return {row["date"] for row in csv.DictReader(io.StringIO(result.stdout))}


def test_simulate_over_2027_acts_on_no_statutory_day_off(cli_ledger, monkeypatch, tmp_path):
    monkeypatch.setenv("HUIKUAN_COMPANY_FILE", str(tmp_path / "none.yaml"))
    get_settings.cache_clear()
    days = _simulated_days()
    assert not days & set(STATUTORY_2027)
    assert {"2026-12-31", "2027-01-04", "2027-02-04", "2027-02-09", "2027-10-08"} <= days  # C1's daily follow-ups go on around them


def test_simulate_follows_the_declared_schedule(cli_ledger, monkeypatch, tmp_path):
    from huikuan.ledger.company import EXAMPLE

    company = tmp_path / "company.yaml"
    company.write_text(
        EXAMPLE + "calendar:\n  closed_days: [2027-03-15]\n  CN:\n    2027:\n"
        "      holidays: [2027-01-01, 2027-02-05, 2027-02-08, 2027-02-09, 2027-02-10, 2027-02-11, 2027-10-01]\n"
        "      workdays: [2027-02-20]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HUIKUAN_COMPANY_FILE", str(company))
    get_settings.cache_clear()
    days = _simulated_days()
    assert not days & {"2027-01-01", "2027-02-05", "2027-02-09", "2027-02-10", "2027-02-11", "2027-03-15", "2027-10-01"}
    assert {"2027-02-20", "2027-04-05", "2027-02-12"} <= days  # a make-up Saturday is worked; an undeclared statutory day too
    listing = runner.invoke(app, ["calendar", "2027"])
    assert listing.exit_code == 0, listing.output
    assert "2027-02-20  work  调休 make-up working day  declared" in listing.stdout
    assert "2027-03-15  off  company closing day  closed" in listing.stdout
