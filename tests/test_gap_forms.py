"""The forms for `huikuan contact bounced` and `huikuan bank apply-credit` (record-bounced-email, apply-credit), under Prefect's test harness.

They call what the commands call (huikuan.outbox.bounces.mark_bounced, huikuan.bank.cash.apply_credit) and say the same.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from deployments.deploy import build_deployments
from huikuan.ledger.db import session_scope
from models.ledger import Allocation, Contact
from tests.test_bank_cash import gbk_csv
from tests.test_bank_cli import import_the_ledger, run

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")


@pytest.fixture
def ledger(cli_env):
    """The ledger of tests/test_bank_cash.py, through ``huikuan import``."""
    import_the_ledger(cli_env)
    return cli_env


def test_both_are_forms_asking_for_what_they_need(tmp_path):
    deployments = {d.flow_name: d for d in build_deployments(timezone="Asia/Shanghai", working_dir=tmp_path)}
    for name, required in (("record-bounced-email", ["customer_id", "email"]), ("apply-credit", ["customer_id"])):
        assert "form" in deployments[name].tags and not deployments[name].schedules
        assert deployments[name]._parameter_openapi_schema.required == required


def test_the_bounced_email_form_marks_the_address_once(ledger, prefect):
    from flows.recording import record_bounced_email

    assert record_bounced_email("C1", " C1@X.cn", on=dt.date(2026, 11, 12)) == "C1@X.cn of C1 marked bounced since 2026-11-12"
    assert record_bounced_email("C1", "c1@x.cn") == "c1@x.cn of C1 was already marked bounced"  # again: nothing changes
    with session_scope() as session:
        assert session.scalar(select(Contact.email_bounced_on).where(Contact.customer_id == "C1")) == dt.date(2026, 11, 12)
    with pytest.raises(Exception, match="no contact with the email 'nobody@x.cn'"):
        record_bounced_email("C1", "nobody@x.cn")


def test_the_apply_credit_form_applies_the_credit_as_the_command_does(ledger, prefect):
    from flows.bank import apply_credit, import_statement, match_bank_line

    import_statement(str(gbk_csv(ledger / "stmt.csv")))
    assert match_bank_line("TX007", "C4", by="fin").endswith("899.00 kept as unapplied credit")
    with pytest.raises(Exception, match="cannot be applied"):
        apply_credit("C4", on=dt.date(2026, 12, 1))  # nothing open
    invoices = ledger / "more.csv"
    invoices.write_text("invoice_id,customer_id,issued_on,due_on,amount\nXC4-02,C4,2026-12-01,2026-12-31,500.00\n", encoding="utf-8")
    assert run("import", "--invoices", str(invoices)).exit_code == 0
    assert apply_credit("C4", invoices="XC4-02", by="fin", on=dt.date(2026, 12, 1)) == "500.00 of C4's unapplied credit applied: XC4-02 500.00; 399.00 left"
    with session_scope() as session:
        assert session.scalar(select(Allocation.amount).where(Allocation.invoice_id == "XC4-02")) == 500
