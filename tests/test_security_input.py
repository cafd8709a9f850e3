"""Issue #12, finding 6: what the importer and the CLI accept as input, and how they fail.

Amounts are ASCII digits with one optional '.'; ids refuse invisible and control
characters and must be in NFKC form; a UTF-16 file without BOM is named as such; a
database or configuration problem is one ``error:`` line, never a traceback.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

import huikuan.ledger.db
from huikuan.cli import app
from huikuan.ledger.db import engine_for, session_scope
from huikuan.ledger.importer import ImportFailed, import_files
from huikuan.ledger.settings import get_settings
from huikuan.ledger.tables import UnreadableFile, read_table
from models import import_rows
from models.ledger import Customer, Payment, Promise

runner = CliRunner()
HUIKUAN = Path(sys.executable).parent / "huikuan"

CUSTOMERS = "customer_id,name,email,phone,contact_name\nC1,华信,a@b.cn,1,王\n"
INVOICES = "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-01-01,2026-02-01,5000\n"
PROBES = ["1_234.50", "１２３４.５０", "\u0661\u0662\u0663\u0664.\u0665\u0660"]  # underscore, full-width, Arabic-Indic


@pytest.fixture
def ledger_url(cli_env):
    return f"sqlite:///{cli_env / 'huikuan.db'}"


def use_url(monkeypatch, url: str) -> None:
    monkeypatch.setenv("HUIKUAN_DATABASE_URL", url)
    get_settings.cache_clear()
    engine_for.cache_clear()


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def count(model) -> int:
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model))


def with_c1(tmp_path) -> None:
    result = run("import", "--customers", write(tmp_path, "c.csv", CUSTOMERS), "--invoices", write(tmp_path, "i.csv", INVOICES))
    assert result.exit_code == 0, result.output


def assert_one_error_line(result, *expected: str, code: int = 1) -> str:
    """Exit ``code``, no traceback, at most 3 lines in all, one of them ``error: ...`` with ``expected``."""
    output = result.output
    assert result.exit_code == code, output
    assert "Traceback" not in output and "╭" not in output, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) <= 3, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    for text in expected:
        assert text in errors[0], errors[0]
    return errors[0]


# -- amounts -------------------------------------------------------------------------


@pytest.mark.parametrize("probe", PROBES)
def test_the_row_rules_refuse_amounts_not_written_in_ascii_digits(probe):
    with pytest.raises(ValueError, match="write 1234.50"):
        import_rows.parse_amount(probe)
    with pytest.raises(ValueError, match="write 1234.50"):
        import_rows.parse_limit(probe)


@pytest.mark.parametrize("value", ["۱۲۳۴.۵۰", "𝟏𝟐𝟑𝟒.𝟓𝟎", "١٢٣٤٫٥٠", "1234.50\u200b", "1234．50", "12_34", "½", "1234.50\u0660"])
def test_other_non_ascii_amounts_are_refused(value):
    with pytest.raises(ValueError):
        import_rows.parse_amount(value)


@pytest.mark.parametrize(("value", "amount"), [("1234.50", "1234.50"), ("1234", "1234.00"), ("+1234.5", "1234.50"), ("007.10", "7.10"), (".5", "0.50")])
def test_plain_amounts_are_still_accepted(value, amount):
    assert str(import_rows.parse_amount(value)) == amount


def test_an_import_with_non_ascii_amounts_exits_2_with_one_line_per_row_and_writes_nothing(tmp_path, ledger_url):
    with_c1(tmp_path)
    rows = "".join(f"P{n},C1,2026-02-03,{probe}\n" for n, probe in enumerate(PROBES, 1))
    payments = write(tmp_path, "payments.csv", "payment_id,customer_id,received_on,amount\n" + rows)
    result = run("import", "--payments", payments)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith(payments)]
    assert [line.split(": ", 1)[0] for line in lines] == [f"{payments}:{n}:amount" for n in (2, 3, 4)]
    assert all(line.endswith("write 1234.50") for line in lines), lines
    assert "'_'" in lines[0] and "full-width" in lines[1] and "0-9" in lines[2]
    assert count(Payment) == 0


@pytest.mark.parametrize("probe", PROBES)
def test_the_cli_amount_options_refuse_non_ascii_amounts(tmp_path, ledger_url, probe):
    with_c1(tmp_path)
    assert_one_error_line(run("payment", "P1", "C1", "--amount", probe, "--on", "2026-02-03"), "write 1234.50")
    assert_one_error_line(run("promise", "C1", "--amount", probe, "--by", "2026-03-01", "--on", "2026-02-03"), "write 1234.50")
    assert_one_error_line(run("instalments", "C1", "--schedule", f"2026-03-01={probe}", "--on", "2026-02-03"), "write 1234.50")
    assert count(Payment) == 0 and count(Promise) == 0
    assert run("payment", "P1", "C1", "--amount", "1234.50", "--on", "2026-02-03").exit_code == 0


def test_days_and_dates_in_full_width_digits_are_refused_with_the_ascii_form():
    with pytest.raises(ValueError):
        import_rows.parse_days("３０")
    with pytest.raises(ValueError, match="write 2026-08-31"):
        import_rows.parse_date("２０２６-０８-３１")


# -- ids and text ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "named"), [("C\u200b1", "U+200B"), ("C\u202e1", "U+202E"), ("C\u00071", "U+0007"), ("\ufeffC1", "U+FEFF"), ("C\u00ad1", "U+00AD")]
)
def test_ids_refuse_format_and_control_characters(value, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        import_rows.parse_id(value)


@pytest.mark.parametrize(("value", "plain"), [("Ｃ１", "C1"), ("ﬁn-1", "fin-1"), ("Cafe\u0301", "Café"), ("C²", "C2")])
def test_ids_not_in_nfkc_form_are_refused_with_the_normal_form(value, plain):
    with pytest.raises(ValueError, match=f"write {plain!r}"):
        import_rows.parse_id(value)


@pytest.mark.parametrize("value", ["C1", "客户-001", "Café", "A_1.2", "X" * 64])
def test_ordinary_ids_are_accepted(value):
    assert import_rows.parse_id(value) == value


def test_every_id_column_of_an_import_refuses_the_probes(tmp_path, ledger_url):
    with_c1(tmp_path)
    bad = ["C\u200b1", "C\u202e1", "C\u00071"]
    customers = write(
        tmp_path,
        "customers.csv",
        "customer_id,name,email,phone,contact_name,collector\n" + "".join(f"{i},名,a@b.cn,1,王,\n" for i in bad) + "C9,名,a@b.cn,1,王,c\u200b01\n",
    )
    invoices = write(tmp_path, "invoices.csv", "invoice_id,customer_id,issued_on,due_on,amount\n" + "".join(f"{i},C1,2026-01-01,2026-02-01,5\n" for i in bad))
    payments = write(
        tmp_path,
        "payments.csv",
        "payment_id,customer_id,received_on,amount,invoice_id\n" + "".join(f"{i},C1,2026-02-03,1,\n" for i in bad) + "P9,C1,2026-02-03,1,I\u200b1\n",
    )
    charges = write(tmp_path, "charges.csv", "charge_id,customer_id,delivered_on,amount\n" + "".join(f"{i},C1,2026-02-03,1\n" for i in bad))
    result = run("import", "--customers", customers, "--invoices", invoices, "--payments", payments, "--charges", charges)
    assert result.exit_code == 2, result.output
    places = {line.split(": ", 1)[0] for line in result.stderr.splitlines() if ": " in line}
    for path, column in ((customers, "customer_id"), (invoices, "invoice_id"), (payments, "payment_id"), (charges, "charge_id")):
        assert {f"{path}:{n}:{column}" for n in (2, 3, 4)} <= places, result.stderr
    assert f"{customers}:5:collector" in places and f"{payments}:5:invoice_id" in places
    assert count(Customer) == 1


@pytest.mark.parametrize("probe", ["P\u200b1", "P\u202e1", "P\u00071", "Ｐ１", "P 1"])
def test_a_payment_id_typed_on_the_command_line_follows_the_import_rules(tmp_path, ledger_url, probe):
    """``huikuan payment ID …`` (and the record-payment form) makes a new id: refused as the importer refuses it."""
    with_c1(tmp_path)
    assert_one_error_line(run("payment", probe, "C1", "--amount", "1.00", "--on", "2026-02-03"), "payment id")
    assert count(Payment) == 0


@pytest.mark.parametrize(
    ("column", "value"), [("name", "华信\x07"), ("name", "华信\u202e公司"), ("contact_name", "王\x1b[31m"), ("phone", "138\x00"), ("email", "a\u200b@b.cn")]
)
def test_names_and_text_refuse_control_characters(column, value):
    cells = {"customer_id": "C1", "name": "华信", "email": "a@b.cn", "phone": "1", "contact_name": "王", column: value}
    _values, problems = import_rows.CUSTOMERS.parse_row(cells)
    assert [c for c, _m in problems] == [column]


def test_names_and_text_keep_printable_characters_tabs_and_line_breaks():
    cells = {
        "customer_id": "C1",
        "name": "华信\t(上海)\n有限公司 👩\u200d💻",
        "email": "a@b.cn",
        "phone": "+86 138",
        "contact_name": "Zoë",
        "contact_title": "مدير",
    }
    values, problems = import_rows.CUSTOMERS.parse_row(cells)
    assert problems == [] and values["name"] == cells["name"]
    values, problems = import_rows.CHARGES.parse_row(
        {"charge_id": "H1", "customer_id": "C1", "delivered_on": "2026-01-01", "amount": "1", "description": "钢材\r\n一批"}
    )
    assert problems == []


# -- UTF-16 without BOM ------------------------------------------------------------------


@pytest.mark.parametrize(("encoding", "order"), [("utf-16-le", "little-endian"), ("utf-16-be", "big-endian")])
def test_utf16_without_bom_is_named(tmp_path, encoding, order):
    for text in (CUSTOMERS, "customer_id,name,email,phone,contact_name\nC1,上海华信机械有限公司,财务@公司.中国,13800000001,王芳\n"):
        path = tmp_path / "customers.csv"
        path.write_bytes(text.encode(encoding))
        with pytest.raises(UnreadableFile) as unreadable:
            read_table(path)
        assert unreadable.value.row == 1
        assert "UTF-16" in unreadable.value.message and order in unreadable.value.message and "'CSV UTF-8'" in unreadable.value.message


def test_an_import_of_utf16_without_bom_says_utf16(tmp_path, session):
    path = tmp_path / "customers.csv"
    path.write_bytes(CUSTOMERS.encode("utf-16-le"))
    with pytest.raises(ImportFailed) as failed:
        import_files(session, {"customers": path})
    [problem] = failed.value.problems
    assert str(problem).startswith(f"{path}:1:-: the file is UTF-16") and "save it as 'CSV UTF-8'" in str(problem)


def test_a_utf8_file_with_one_nul_is_still_a_nul_problem(tmp_path):
    path = tmp_path / "customers.csv"
    path.write_bytes(CUSTOMERS.encode() + b"C2,a\x00b,a@b.cn,1,x\n")
    with pytest.raises(UnreadableFile, match="NUL"):
        read_table(path)


# -- database and configuration errors: one line ----------------------------------------


@pytest.fixture
def short_busy_timeout(monkeypatch):
    """The ledger waits 30 s for a lock; the test waits 0.2 s."""
    real = huikuan.ledger.db.create_engine

    def create_engine(url, **kwargs):
        if str(url).startswith("sqlite"):
            kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "timeout": 0.2}
        return real(url, **kwargs)

    monkeypatch.setattr(huikuan.ledger.db, "create_engine", create_engine)
    engine_for.cache_clear()


def test_a_locked_database_is_one_error_line(tmp_path, ledger_url, short_busy_timeout):
    with_c1(tmp_path)
    payments = write(tmp_path, "payments.csv", "payment_id,customer_id,received_on,amount\nP1,C1,2026-02-03,10\n")
    holder = sqlite3.connect(tmp_path / "huikuan.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        engine_for.cache_clear()
        assert_one_error_line(run("import", "--payments", payments), "locked", "another program")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert run("import", "--payments", payments).exit_code == 0


def test_a_read_only_database_is_one_error_line(tmp_path, ledger_url, monkeypatch):
    """Tests run as root, where file modes do not stop writes; ``query_only`` makes SQLite refuse them
    the same way (SQLITE_READONLY). A ``sqlite:///file:...?mode=ro&uri=true`` URL cannot be used:
    huikuan.ledger.migrate hands the URL to configparser, which chokes on its '%3A' (reported)."""
    with_c1(tmp_path)
    pragmas = huikuan.ledger.db._sqlite_pragmas

    def read_only(dbapi_connection, record):
        pragmas(dbapi_connection, record)
        dbapi_connection.execute("PRAGMA query_only=ON")

    monkeypatch.setattr(huikuan.ledger.db, "_sqlite_pragmas", read_only)
    engine_for.cache_clear()
    payments = write(tmp_path, "payments.csv", "payment_id,customer_id,received_on,amount\nP1,C1,2026-02-03,10\n")
    assert_one_error_line(run("import", "--payments", payments), "read-only", "HUIKUAN_DATABASE_URL")
    assert_one_error_line(run("payment", "P1", "C1", "--amount", "10", "--on", "2026-02-03"), "read-only")


def test_a_corrupt_database_is_one_error_line(tmp_path, ledger_url):
    (tmp_path / "huikuan.db").write_bytes(b"this is not a database\n" * 300)
    assert_one_error_line(run("portfolio"), "not an SQLite database", "huikuan.db")
    assert_one_error_line(run("db", "upgrade"), "not an SQLite database")


def test_a_database_in_a_missing_folder_is_one_error_line(tmp_path, ledger_url, monkeypatch):
    use_url(monkeypatch, f"sqlite:///{tmp_path / 'nowhere' / 'huikuan.db'}")
    assert_one_error_line(run("portfolio"), "cannot open", "HUIKUAN_DATABASE_URL")


def test_an_unreachable_postgresql_is_one_error_line(ledger_url, monkeypatch):
    use_url(monkeypatch, "postgresql+psycopg://u:secret@127.0.0.1:1/x")
    line = assert_one_error_line(run("portfolio"), "cannot reach the ledger", "127.0.0.1", "HUIKUAN_DATABASE_URL")
    assert "secret" not in line


def test_a_database_url_that_is_not_one_is_one_error_line(ledger_url, monkeypatch):
    use_url(monkeypatch, "not a url")
    assert_one_error_line(run("portfolio"), "HUIKUAN_DATABASE_URL")
    use_url(monkeypatch, "mysql+nosuchdriver://h/x")
    assert_one_error_line(run("portfolio"), "HUIKUAN_DATABASE_URL")


@pytest.mark.parametrize(("text", "expected"), [("people: [oops\n", "not valid YAML"), ("people:\n  - id: 1\n", "problem(s)")])
def test_an_invalid_company_file_is_one_error_line(tmp_path, ledger_url, text, expected):
    (tmp_path / "company.yaml").write_text(text, encoding="utf-8")
    assert_one_error_line(run("worklist"), "company.yaml", expected)
    assert_one_error_line(run("customers", "unlock", "C1", "--by", "boss", "--reason", "paid"), "company.yaml", expected)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HUIKUAN_TIMEZONE", "Mars/Base", "HUIKUAN_TIMEZONE"),
        ("HUIKUAN_CLOSED_DAYS", '["x"]', "HUIKUAN_CLOSED_DAYS"),
        ("HUIKUAN_CLOSED_DAYS", "not json", "HUIKUAN_CLOSED_DAYS"),
        ("HUIKUAN_RETRY_DELAY_SECONDS", "-1", "HUIKUAN_RETRY_DELAY_SECONDS"),
    ],
)
def test_an_invalid_setting_is_one_error_line(ledger_url, monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    assert_one_error_line(run("portfolio"), expected)


def test_an_unknown_policy_file_is_one_error_line(ledger_url):
    assert_one_error_line(run("plan", "--policy", "/nonexistent/policy.yaml"), "policy")


def test_the_installed_command_prints_one_line_for_a_corrupt_database(tmp_path):
    database = tmp_path / "huikuan.db"
    database.write_bytes(os.urandom(8192))
    env = {**os.environ, "HUIKUAN_DATABASE_URL": f"sqlite:///{database}", "COLUMNS": "40", "HUIKUAN_DATA_DIR": str(tmp_path)}
    done = subprocess.run([str(HUIKUAN), "portfolio"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == "" and len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("error: ") and "not an SQLite database" in done.stderr


def test_the_installed_command_prints_one_line_for_an_unreachable_postgresql(tmp_path):
    env = {**os.environ, "HUIKUAN_DATABASE_URL": "postgresql+psycopg://u:secret@127.0.0.1:1/x", "HUIKUAN_DATA_DIR": str(tmp_path)}
    done = subprocess.run([str(HUIKUAN), "portfolio"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr
    assert "cannot reach the ledger" in done.stderr and "secret" not in done.stderr
