"""The ``huikuan`` command as a user runs it: exit codes, stderr lines, what it prints."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.ledger.db import session_scope
from models.ledger import Allocation, Customer, Dispute, Invoice, Promise

runner = CliRunner()


@pytest.fixture
def ledger_url(cli_env):
    return f"sqlite:///{cli_env / 'huikuan.db'}"


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def count(model) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_bad_import_exits_2_with_one_line_per_problem_and_writes_nothing(tmp_path, ledger_url):
    customers = write(tmp_path, "customers.csv", "customer_id,name,email,phone,contact_name\nC1,华信,a@b.cn,1,王\n")
    invoices = write(
        tmp_path, "invoices.csv", 'invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-01-01,2026-02-01,"1,000"\nI2,C2,2026-01-01,2026-02-01,5\n'
    )
    result = run("import", "--customers", customers, "--invoices", invoices)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith(invoices)]
    assert lines == [
        f"{invoices}:2:amount: '1,000' has a thousands separator; write 1000",
        f"{invoices}:3:customer_id: unknown customer C2: it is neither in the ledger nor in the customers file",
    ]
    assert "nothing was imported" in result.stderr
    assert count(Customer) == 0


def test_import_then_reimport(tmp_path, ledger_url):
    customers = write(tmp_path, "customers.csv", "customer_id,name,email,phone,contact_name\nC1,华信,a@b.cn,1,王\n")
    invoices = write(tmp_path, "invoices.csv", "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-01-01,2026-02-01,1000\n")
    payments = write(tmp_path, "payments.csv", "payment_id,customer_id,received_on,amount\nP1,C1,2026-02-03,250.50\n")
    first = run("import", "--customers", customers, "--invoices", invoices, "--payments", payments)
    assert first.exit_code == 0, first.output
    again = run("import", "--customers", customers, "--invoices", invoices, "--payments", payments)
    assert again.exit_code == 0
    assert "写入付款核销 1 笔" in first.stdout and "写入付款核销 0 笔" in again.stdout  # the company's language (zh_CN)
    assert count(Allocation) == 1


def test_import_needs_a_file(ledger_url):
    result = run("import")
    assert result.exit_code == 1
    assert "name at least one file" in result.stderr


def test_start_loads_the_demo_once_and_shows_the_portfolio(ledger_url):
    first = run("start", "--no-server", "--customers", "40", "--as-of", "2026-11-22")
    assert first.exit_code == 0, first.output
    assert "loading a demo portfolio of 40 customers as of 2026-11-22" in first.stdout
    assert "账龄分布（截至2026年11月22日）" in first.stdout and "最久的欠款" in first.stdout  # the company's language (zh_CN)
    assert count(Customer) == 40 and count(Invoice) > 40
    second = run("start", "--no-server", "--as-of", "2026-11-22")
    assert second.exit_code == 0
    assert "loading a demo" not in second.stdout
    assert count(Customer) == 40
    assert run("demo", "--customers", "5").exit_code == 1


def test_customers_show(ledger_url):
    run("demo", "--customers", "30", "--as-of", "2026-11-22")
    with session_scope() as session:
        customer_id, name = session.execute(select(Customer.customer_id, Customer.name).order_by(Customer.customer_id)).first()
    result = run("customers", "show", customer_id, "--as-of", "2026-11-22")
    assert result.exit_code == 0
    assert name in result.stdout and "余额" in result.stdout and "未结发票" in result.stdout  # the company's language (zh_CN)
    missing = run("customers", "show", "NOPE")
    assert missing.exit_code == 1 and "unknown customer NOPE" in missing.stderr


def test_customers_show_and_the_portfolio_speak_the_company_s_language(ledger_url, cli_env):
    """The terminal's views say their own words as the reports do: in the company file's ``locale`` (zh_CN without one)."""
    from huikuan.ledger.company import EXAMPLE

    run("demo", "--customers", "30", "--as-of", "2026-11-22")
    with session_scope() as session:
        customer_id = session.scalars(select(Customer.customer_id).order_by(Customer.customer_id)).first()
    words = {
        "zh_CN": ("发货锁定", "信用状态", "结算方式", "账期", "余额", "未结发票", "逾期天数", "诉讼时效届满日", "到期日"),
        "en": ("shipping lock", "credit standing", "settlement", "payment terms", "balance", "Open invoices", "days overdue", "limitation date", "due date"),
    }
    portfolio_words = {
        "zh_CN": ("客户", "按类别：", "账龄分布（截至2026年11月22日）", "最久的欠款"),
        "en": ("Customers", "by segment: ", "Open amounts by age on 2026-11-22", "Oldest debts"),
    }
    for locale in ("zh_CN", "en"):
        if locale == "en":
            (cli_env / "company.yaml").write_text(EXAMPLE + "\nlocale: en\n", encoding="utf-8")
        shown = run("customers", "show", customer_id, "--as-of", "2026-11-22")
        assert shown.exit_code == 0, shown.output
        assert all(word in shown.stdout for word in words[locale]), (locale, shown.stdout)
        other = "en" if locale == "zh_CN" else "zh_CN"
        assert not any(word in shown.stdout for word in words[other][:7]), (locale, shown.stdout)
        portfolio = run("portfolio", "--as-of", "2026-11-22")
        assert all(word in portfolio.stdout for word in portfolio_words[locale]), (locale, portfolio.stdout)


def test_recording_commands_change_the_ledger(tmp_path, ledger_url):
    run(
        "import",
        "--customers",
        write(tmp_path, "c.csv", "customer_id,name,email,phone,contact_name\nC1,华信,a@b.cn,1,王\n"),
        "--invoices",
        write(tmp_path, "i.csv", "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-01-01,2026-02-01,1000\n"),
    )
    assert run("contact", "log", "C1", "--channel", "phone", "--result", "promised", "--note", "答应月底前付", "--on", "2026-11-02").exit_code == 0
    assert run("promise", "C1", "--amount", "600.00", "--by", "2026-11-30", "--on", "2026-11-02").exit_code == 0
    too_much = run("promise", "C1", "--amount", "2000", "--by", "2026-11-30", "--on", "2026-11-02")
    assert too_much.exit_code == 1 and "more than the 1000.00 open" in too_much.stderr
    assert run("promise", "C1", "--amount", "1.005", "--by", "2026-11-30").exit_code == 1
    assert run("dispute", "open", "I1", "--reason", "数量不符", "--on", "2026-11-03").exit_code == 0
    assert run("dispute", "resolve", "I1", "--on", "2026-11-05").exit_code == 0
    bad_day = run("dispute", "open", "I1", "--reason", "x", "--on", "2026-13-01")
    assert bad_day.exit_code == 1 and "--on '2026-13-01' is not a date" in bad_day.stderr
    with session_scope() as session:
        promise = session.scalar(select(Promise))
        assert (promise.amount, promise.due_on) == (Decimal("600.00"), dt.date(2026, 11, 30))
        assert session.scalar(select(Dispute.resolved_on)) == dt.date(2026, 11, 5)


def test_the_installed_command_runs(tmp_path, ledger_url):
    """The console script itself, as the README runs it."""
    result = subprocess.run([sys.executable, "-m", "huikuan.cli", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0
    assert "import" in result.stdout and "customers" in result.stdout


def _commands(command, path=()):
    """Every command under ``command`` (typer's click tree), as the words that call it."""
    subcommands = getattr(command, "commands", {})
    if not subcommands:
        yield path, command
    for name, subcommand in subcommands.items():
        yield from _commands(subcommand, (*path, name))


def test_help_shows_no_value_after_a_flag_and_the_spelling_of_a_day_or_a_month():
    """typer writes ``<bool>`` after a flag (``--help <bool>``), as if it took a value, and ``<str>`` after a day; every argument is explained."""
    import typer.main

    checked = 0
    for path, command in _commands(typer.main.get_command(app)):
        shown = run(*path, "--help")
        assert shown.exit_code == 0, path
        assert "<bool>" not in shown.stdout, (path, shown.stdout)
        unexplained = [p.name for p in command.params if p.param_type_name == "argument" and not getattr(p, "help", None)]
        assert not unexplained, (path, unexplained)  # each argument says what it is, as each option does
        helps = [p.help or "" for p in command.params if getattr(p, "help", None)]
        days = sum("YYYY-MM-DD" in h for h in helps)
        months = sum("YYYY-MM" in h and "YYYY-MM-DD" not in h and "report-YYYY-MM" not in h for h in helps)
        assert (shown.stdout.count("<YYYY-MM-DD>"), shown.stdout.count("<YYYY-MM>")) == (days, months), (path, shown.stdout)
        checked += days + months
    assert checked >= 30  # every --as-of, --on, --from, --to, --by and --month


def test_version():
    from importlib.metadata import version

    shown = run("--version")
    assert (shown.exit_code, shown.stdout) == (0, f"huikuan {version('huikuan')}\n")


def test_a_reader_that_stops_reading_ends_the_command_quietly(tmp_path, ledger_url):
    """``huikuan ... | head``: the closed pipe ends the command as it ends ``cat`` (status 141), with no ``error:`` line."""
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line
    try:
        result = subprocess.run([sys.executable, "-m", "huikuan.cli", "calendar", "2026"], stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    finally:
        os.close(write_end)
    assert (result.returncode, result.stderr) == (141, "")


def test_markdown_is_shown_to_a_terminal_without_its_escapes_and_written_to_a_pipe_as_it_is(tmp_path, ledger_url, monkeypatch):
    """The worklist and a report: a file or a pipe gets the Markdown; a person at a terminal reads no backslashes (``\\(财务经理\\)``)."""
    import io

    from rich.console import Console

    import huikuan.cli.common as common
    from huikuan.documents.escaping import markdown_unescaped

    assert run("demo", "--customers", "30", "--as-of", "2026-11-22").exit_code == 0
    for args in (("worklist", "--as-of", "2026-11-23"), ("report", "aging", "--as-of", "2026-11-22")):
        piped = run(*args).stdout
        assert piped.startswith(("# Worklist 2026-11-23", "## 账龄分析")) and "\\" in piped, piped[:300]  # Markdown, its escapes kept
        screen = io.StringIO()
        with monkeypatch.context() as patched:
            patched.setattr(common, "out", Console(file=screen, force_terminal=True))
            assert run(*args).exit_code == 0
        shown = screen.getvalue()
        assert shown == markdown_unescaped(piped) and "\\" not in shown and shown.startswith(piped[:4])


def test_reports_and_the_worklist_from_the_command_line(tmp_path, ledger_url):
    assert run("demo", "--customers", "30", "--as-of", "2026-11-22").exit_code == 0
    kpis = run("report", "kpis", "--as-of", "2026-11-22")
    assert kpis.exit_code == 0 and "应收账款周转天数（DSO，倒推法）" in kpis.stdout and "目标完成率" in kpis.stdout  # the company's locale (zh_CN)
    aging = run("report", "aging-collector", "--as-of", "2026-11-22", "--format", "csv")
    assert aging.stdout.splitlines()[0].startswith(("collector,not due", "currency,collector,not due"))
    book = tmp_path / "aging.xlsx"
    assert run("report", "aging", "--as-of", "2026-11-22", "--format", "xlsx", "--out", str(book)).exit_code == 0 and book.stat().st_size > 0
    assert "no report 'dso'" in run("report", "dso").stderr
    worklist = run("worklist", "--as-of", "2026-11-23")
    assert worklist.exit_code == 0 and worklist.stdout.startswith("# Worklist 2026-11-23")
    monthly = run("report", "management", "--as-of", "2026-11-01", "--out", str(tmp_path / "reports"))
    assert monthly.exit_code == 0, monthly.stderr
    folder = tmp_path / "reports" / "report-2026-10"
    assert {p.name for p in folder.iterdir()} >= {"report.html", "report.md", "report.xlsx", "aging.png", "dso.png", "target.png"}
    assert "DSO" in monthly.stdout and str(folder) in monthly.stdout.replace("\n", "")
    assert "leave out --format" in " ".join(run("report", "management", "--format", "csv").stderr.split())
