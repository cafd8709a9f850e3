"""``huikuan bank import|review|match|ignore`` as finance runs them (CONTRACT.md, "Bank statements")."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.ledger.db import session_scope
from huikuan.ledger.settings import get_settings
from models.ledger import Allocation, BankLine, Payment
from tests.test_bank_cash import CUSTOMERS, INVOICES, LINES, gbk_csv

runner = CliRunner()


def import_the_ledger(folder: Path) -> None:
    """tests/test_bank_cash.py's customers and invoices, through ``huikuan import`` (in ``cli_env``'s environment)."""
    customers = folder / "customers.csv"
    customers.write_text("customer_id,name,email,phone,contact_name\n" + "".join(f"{c},{n},{c}@x.cn,1,王\n" for c, n in CUSTOMERS.items()), encoding="utf-8")
    invoices = folder / "invoices.csv"
    invoices.write_text("invoice_id,customer_id,issued_on,due_on,amount\n" + "".join(f"{i},{c},{a},{b},{m}\n" for i, c, a, b, m in INVOICES), encoding="utf-8")
    assert run("import", "--customers", str(customers), "--invoices", str(invoices)).exit_code == 0


@pytest.fixture
def ledger(cli_env):
    import_the_ledger(cli_env)
    return cli_env


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "250"})


def count(model) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_import_review_match(ledger):
    path = str(gbk_csv(ledger / "stmt.csv"))
    result = run("bank", "import", path, "--on", "2026-11-30")
    assert result.exit_code == 0, result.output
    assert "7 incoming line(s), 1 outgoing ignored; 7 new, 0 imported before" in result.stdout
    assert "applied TX002 2026-11-06 2000.00 to C2" in result.stdout
    assert "4 applied, 3 waiting for finance" in result.stdout

    again = run("bank", "import", path, "--format", "csv", "--on", "2026-11-30")
    assert "0 new, 7 imported before" in again.stdout and "0 applied, 3 waiting" in again.stdout

    review = run("bank", "review")
    assert review.exit_code == 0
    assert "Bank lines waiting: 3" in review.stdout
    for expected in ("TX004", "TX005", "TX007", "C4 北京星辰科技有限公司", "--invoices 'XC4-01'", "2 sets"):
        assert expected in review.stdout

    match = run("bank", "match", "TX005", "C5", "--invoices", "NF-2", "--on", "2026-11-30", "--by", "fin")
    assert match.exit_code == 0, match.output
    assert "bank line TX005 of 600.00 applied to C5: NF-2 600.00" in match.stdout
    assert "payer account 6222000055 (广州南方物流有限公司) remembered for C5" in match.stdout
    with session_scope() as session:
        assert session.scalar(select(Allocation.amount).where(Allocation.invoice_id == "NF-2")) == 600
    assert "Bank lines waiting: 2" in run("bank", "review").stdout

    refused = run("bank", "match", "TX005", "C5")
    assert refused.exit_code == 1 and "already applied to C5" in refused.stderr

    ignored = run("bank", "ignore", "TX007", "--reason", "退回的押金")
    assert ignored.exit_code == 0 and "bank line TX007 ignored" in ignored.stdout


def test_a_line_without_a_transaction_id_is_named_as_review_shows_it(ledger):
    run("bank", "import", str(gbk_csv(ledger / "stmt.csv", LINES[4:5], transaction_ids=False)))
    with session_scope() as session:
        line_id = session.scalar(select(BankLine.id))
    assert f"L{line_id}" in run("bank", "review").stdout
    assert run("bank", "match", f"L{line_id}", "C5").exit_code == 0  # oldest first: NF-1
    with session_scope() as session:
        assert session.scalar(select(Allocation.invoice_id)) == "NF-1"


def test_a_bad_statement_exits_2_with_one_line_per_problem_and_writes_nothing(ledger):
    lines = LINES[:2] + [("20261131", "1.001", "", "x", "", "", "TX9")]
    path = str(gbk_csv(ledger / "bad.csv", lines))
    result = run("bank", "import", path)
    assert result.exit_code == 2
    assert [line for line in result.stderr.splitlines() if line.startswith(path)] == [
        f"{path}:8:交易日期: 2026-11-31 is not a date of the calendar",
        f"{path}:8:贷方金额: 1.001 has more than 2 decimal places",
    ]
    assert "nothing was imported" in result.stderr
    assert count(BankLine) == count(Payment) == 0


def test_the_company_files_header_words_are_used(ledger):
    (ledger / "company.yaml").write_text(
        __import__("huikuan.ledger.company", fromlist=["EXAMPLE"]).EXAMPLE
        + "bank:\n  headers:\n    date: [入账时间]\n    credit: [来账金额]\n    payer: [汇款人]\n",
        encoding="utf-8",
    )
    get_settings.cache_clear()
    path = ledger / "other.csv"
    path.write_text("入账时间,来账金额,汇款人\n2026-11-05,1000.00,上海华信机械有限公司\n", encoding="utf-8")
    result = run("bank", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "1 applied, 0 waiting" in result.stdout


def test_an_over_payment_matched_by_finance_is_kept_as_credit_shown_in_the_balance_and_applied_on_request(ledger):
    over = [("20261110", "1600.00", "", "上海华信机械有限公司", "6222999", "货款", "TX301")]  # C1 owes 1,500.00
    imported = run("bank", "import", str(gbk_csv(ledger / "over.csv", over)), "--on", "2026-11-30")
    assert "0 applied, 1 waiting for finance" in imported.stdout
    match = run("bank", "match", "TX301", "C1", "--on", "2026-11-30")
    assert match.exit_code == 0, match.output
    assert "applied to C1: HX-001 1000.00, HX-002 500.00" in match.stdout
    assert "100.00 paid beyond what was open: kept as C1's unapplied credit" in match.stdout
    shown = run("customers", "show", "C1", "--as-of", "2026-11-30")
    assert "¥0.00（截至2026年11月30日）；未核销预收款 ¥100.00，净额 -¥100.00" in shown.stdout  # the company's language

    refused = run("bank", "apply-credit", "C1", "--on", "2026-12-01")
    assert refused.exit_code == 1 and "cannot be applied: 100.00 is more than the 0.00 open" in refused.stderr
    # A new invoice: finance applies the credit to it (never done on its own).
    invoices = ledger / "more.csv"
    invoices.write_text("invoice_id,customer_id,issued_on,due_on,amount\nHX-003,C1,2026-12-01,2026-12-31,250.00\n", encoding="utf-8")
    assert run("import", "--invoices", str(invoices)).exit_code == 0
    assert "未核销预收款 ¥100.00，净额 ¥150.00" in run("customers", "show", "C1", "--as-of", "2026-12-01").stdout
    applied = run("bank", "apply-credit", "C1", "--on", "2026-12-01")
    assert applied.exit_code == 0, applied.output
    assert "100.00 of C1's unapplied credit applied: HX-003 100.00; 0.00 left" in applied.stdout
    with session_scope() as session:
        assert session.scalar(select(Allocation.amount).where(Allocation.invoice_id == "HX-003")) == 100
    again = run("bank", "apply-credit", "C1", "--on", "2026-12-01")
    assert again.exit_code == 1 and "C1 has no unapplied credit" in again.stderr
    shown = run("customers", "show", "C1", "--as-of", "2026-12-01").stdout
    assert "¥150.00（截至2026年12月1日）" in shown and "未核销预收款" not in shown
