"""``huikuan customers show`` says beside a contact's address that it bounced, with the day it was marked (issue #13)."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.ledger.db import session_scope
from huikuan.reports.portfolio import customer_file
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

runner = CliRunner()
ADDRESS = "wangwei@hx.example.cn"
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,contact_title,collector\n"
    f"C1,杭州华信贸易有限公司,{ADDRESS},13800000001,王伟,财务经理,c02\n"
    "C2,宁波海港物流有限公司,zhao@nb.example.cn,13800000002,赵敏,出纳,c02\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\nI1,C1,2026-08-10,2026-09-10,10000.00\n",
}


@pytest.fixture
def shown_ledger(cli_env):
    paths = write_files(cli_env, FILES)
    assert runner.invoke(app, ["import", "--customers", str(paths["customers"]), "--invoices", str(paths["invoices"])]).exit_code == 0


def show(customer_id: str, as_of: str) -> str:
    result = runner.invoke(app, ["customers", "show", customer_id, "--as-of", as_of], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_bounced_address_is_shown_with_the_day_it_was_marked(shown_ledger):
    assert "退信" not in show("C1", "2026-11-16")
    marked = runner.invoke(app, ["contact", "bounced", "C1", ADDRESS, "--on", "2026-11-12"])
    assert marked.exit_code == 0, marked.output
    (line,) = [line for line in show("C1", "2026-11-16").splitlines() if ADDRESS in line]
    assert "自2026年11月12日起退信" in line  # beside the address, in the company's language
    assert "退信" not in show("C1", "2026-11-11")  # not yet known on an earlier day
    assert "退信" not in show("C2", "2026-11-16")  # another customer's address is not touched
    with session_scope() as session:
        shown = customer_file(session, "C1", dt.date(2026, 11, 16))
        assert shown.bounced_on(" WangWei@HX.example.cn") == dt.date(2026, 11, 12) and shown.bounced_on("zhao@nb.example.cn") is None
