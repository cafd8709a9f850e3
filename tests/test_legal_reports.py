"""The aging report's optional charge column (issue #17): ``huikuan report aging --charges``, new CSV columns at the end only.

Every figure is worked out by hand below, on explicit dates.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
import yaml
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.db import session_scope
from huikuan.ledger.importer import import_files
from huikuan.reports.builders import aging, to_markdown
from tests.ledger_files import import_ledger, write_files

D = dt.date
M = Decimal
AS_OF = D(2026, 3, 15)
# The standard contract: 6% a year (a year of 365 days), no cap; customer C has no terms of its own.
COMPANY_YAML = yaml.safe_dump({**yaml.safe_load(EXAMPLE), "legal": {"charges": {"rate": "0.06", "per": "year"}}}, allow_unicode=True)
# A (0.05% a day, at most 25.00 an invoice):
#   A1 1000.00 due 01-10, 400.00 paid 03-01: 01-11..02-28 49 days on 1000 = 24.50, 03-01..03-15 15 days on 600 = 4.50; 29.00 capped: 25.00
#   A2 2345.67 due 02-28: 03-01..03-15 15 days on 2345.67 = 17.592525 -> 17.59                       A: open 2945.67, charge 42.59
# B (none): B1 500.00 due 01-31, no charge.
# C (the standard 6%/year): C1 3650.00 due 02-13: 02-14..03-15 30 days on 3650 * 0.06 / 365 = 18.00  C: open 3650.00, charge 18.00
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,segment,collector,late_charge_rate,late_charge_cap,contract_clause\n"
    "A,华信,a@x.cn,1,王,ordinary,zhang,0.05%/day,25.00,第八条\nB,恒达,b@x.cn,2,李,key,li,none,,\nC,远洋,c@x.cn,3,陈,ordinary,zhang,,,\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "A1,A,2025-12-10,2026-01-10,1000.00\nA2,A,2026-01-29,2026-02-28,2345.67\nB1,B,2026-01-01,2026-01-31,500.00\n"
    "C1,C,2026-01-14,2026-02-13,3650.00\nC2,C,2026-03-16,2026-04-15,999.00\n",
    "payments": "payment_id,customer_id,received_on,amount,invoice_id\nP1,A,2026-03-01,400.00,A1\n",
}


@pytest.fixture
def ledger(tmp_path, session):
    return import_ledger(session, tmp_path, FILES)


def charges_of(session):
    from huikuan.legal.standing import open_invoice_charges

    return open_invoice_charges(session, AS_OF, parse_company(COMPANY_YAML))


def test_each_open_invoice_has_its_customer_s_charge(ledger):
    assert charges_of(ledger) == {"A1": M("25.00"), "A2": M("17.59"), "C1": M("18.00")}


def test_the_charge_and_the_claim_come_after_the_report_s_columns(ledger):
    plain = aging(ledger, AS_OF)
    report = aging(ledger, AS_OF, charges=charges_of(ledger))
    assert report.columns == plain.columns + ["charge", "claim"]
    rows = {row[0]: row for row in report.rows}
    assert [row[:-2] for row in report.rows] == plain.rows  # the balance is what it was: a charge is a claim beside it
    assert rows["A"][-3:] == [M("2945.67"), M("42.59"), M("2988.26")]
    assert rows["B"][-3:] == [M("500.00"), M("0"), M("500.00")]
    assert rows["C"][-3:] == [M("3650.00"), M("18.00"), M("3668.00")]
    total = report.rows[-1]
    assert total[-3:] == [M("7095.67"), M("60.59"), M("7156.26")]
    assert "late-payment charge to 2026-03-15" in to_markdown(report)
    assert "违约金" in to_markdown(report, "zh_CN") and "本金及违约金合计" in to_markdown(report, "zh_CN")


def test_grouped_by_collector_the_charges_add_up(ledger):
    report = aging(ledger, AS_OF, by="collector", charges=charges_of(ledger))
    rows = {str(row[0]): row[-2:] for row in report.rows}
    assert rows["zhang"] == [M("60.59"), M("6656.26")]  # 2945.67 + 3650.00 + 60.59
    assert rows["li"] == [M("0"), M("500.00")]


@pytest.fixture
def cli_ledger(cli_env):
    (cli_env / "company.yaml").write_text(COMPANY_YAML, encoding="utf-8")
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    with session_scope() as session:
        import_files(session, write_files(cli_env, FILES))
    return cli_env


def test_report_aging_charges_on_the_command_line(cli_ledger):
    runner = CliRunner()
    done = runner.invoke(app, ["report", "aging", "--as-of", "2026-03-15", "--format", "csv", "--charges"], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    rows = list(csv.reader(io.StringIO(done.output)))
    plain = list(csv.reader(io.StringIO(runner.invoke(app, ["report", "aging", "--as-of", "2026-03-15", "--format", "csv"]).output)))
    assert rows[0] == plain[0] + ["charge", "claim"] and plain[0][-1] == "total"
    assert rows[1][0] == "A" and rows[1][-2:] == ["42.59", "2988.26"]
    assert rows[-1][-3:] == ["7095.67", "60.59", "7156.26"]
    wrong = runner.invoke(app, ["report", "kpis", "--as-of", "2026-03-15", "--charges"])
    assert wrong.exit_code != 0 and "--charges is for the aging reports" in wrong.output
