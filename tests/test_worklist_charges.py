"""The late-payment charge in the collector's call script (issue #17): the charge to the worklist's day and the total claim.

On explicit dates, 0.05% a day (万分之五) from the day after the due date: A-1 (1,000.00, due 2026-10-15) on
2026-11-16 has run 32 days (2026-10-16..2026-11-16): 16.00, 1,016.00 in all. The charge is the one rule the letters,
``customers show`` and the aging report use (``huikuan.legal.standing``), said only when above zero.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import yaml

from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.ledger.importer import import_files
from huikuan.ledger.records import record_payment
from huikuan.legal.standing import letter_charges
from huikuan.reports.worklist import worklist, worklist_markdown
from models.enums import Locale
from models.ledger import Customer
from tests.ledger_files import import_ledger, write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
MONDAY = D(2026, 11, 16)
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,settlement,segment,collector,late_charge_rate,late_charge_grace_days,contract_clause\n"
    "A,华信,a@a.cn,1,王,per_invoice,ordinary,zhang,0.05%/day,,合同第八条\n"
    "B,恒达,b@b.cn,2,李,per_invoice,ordinary,zhang,0.05%/day,60,\n"  # within its 60 grace days: nothing charged yet
    "C,远洋,c@c.cn,3,陈,per_invoice,ordinary,zhang,,,\n",  # no terms in its contract
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "A-1,A,2026-09-15,2026-10-15,1000.00\n"
    "B-1,B,2026-09-15,2026-10-15,1000.00\n"
    "C-1,C,2026-09-15,2026-10-15,1000.00\n",
}


@pytest.fixture
def ledger(tmp_path, session):
    return import_ledger(session, tmp_path, FILES)


def items_on(session, day: dt.date, company=None) -> dict:
    return {i.customer_id: i for i in worklist(session, day, company=company)}


def test_the_script_says_the_charge_to_the_day_and_the_total_only_when_there_is_one(ledger):
    items = items_on(ledger, MONDAY)
    assert set(items) == {"A", "B", "C"}
    assert items["A"].say == (
        "华信共欠¥1,000.00在A-1上，最早的已逾期32天。按合同约定，逾期违约金截至今日¥16.00，合计¥1,016.00。要求全额付款，并落实具体金额和付款日期。"
    )
    assert "违约金" not in items["B"].say  # terms, but nothing charged within the grace days
    assert "违约金" not in items["C"].say  # no terms
    assert items["A"].amount_open == Decimal("1000.00")  # a claim beside the balance, never part of it
    text = worklist_markdown(list(items.values()), MONDAY)
    assert "按合同约定，逾期违约金截至今日¥16.00，合计¥1,016.00。" in text and text.count("违约金") == 1


def test_the_charge_is_counted_to_the_worklist_s_day_by_the_one_rule(ledger):
    later = D(2026, 12, 16)  # 62 days: 31.00 on A-1; B's 60 grace days are over: 2 days, 1.00
    items = items_on(ledger, later)
    assert "逾期违约金截至今日¥31.00，合计¥1,031.00。" in items["A"].say
    assert "逾期违约金截至今日¥1.00，合计¥1,001.00。" in items["B"].say
    for customer_id in ("A", "B"):
        customer = ledger.get(Customer, customer_id)
        charge = sum((c.amount for c in letter_charges(ledger, customer, None, later, [f"{customer_id}-1"])), Decimal("0"))
        assert f"逾期违约金截至今日¥{charge:,.2f}" in items[customer_id].say  # what a letter of that day claims


def test_a_part_payment_lowers_the_charge_from_its_date_and_the_total_follows(ledger):
    record_payment(ledger, "P1", "A", amount=Decimal("400.00"), received_on=D(2026, 11, 1), invoice_id="A-1")
    ledger.commit()
    # 2026-10-16..10-31: 16 days on 1,000.00 = 8.00; 11-01..11-16: 16 days on 600.00 = 4.80.
    assert items_on(ledger, MONDAY)["A"].say.startswith("华信共欠¥600.00在A-1上，最早的已逾期32天。按合同约定，逾期违约金截至今日¥12.80，合计¥612.80。")


def test_in_english_and_under_the_company_s_standard_terms(ledger):
    ledger.get(Customer, "A").locale = Locale.en
    ledger.commit()
    assert items_on(ledger, MONDAY)["A"].say == (
        "华信 owes ¥1,000.00 on A-1, the oldest 32 days overdue. Under the contract the late-payment charge to date is ¥16.00, "
        "¥1,016.00 in all. Ask for full payment and get a specific amount and date."
    )
    # C has no terms of its own: the company's standard contract (0.05% a day) gives them.
    company = parse_company(yaml.safe_dump({**yaml.safe_load(EXAMPLE), "legal": {"charges": {"rate": "0.0005"}}}, allow_unicode=True))
    assert "逾期违约金截至今日¥16.00，合计¥1,016.00。" in items_on(ledger, MONDAY, company)["C"].say


def test_the_script_is_the_locale_s_template_and_the_customer_s_text_stays_data(ledger):
    from huikuan.documents.render import environment, template_names

    assert "call_script.txt.j2" in template_names("zh_CN") and "call_script.txt.j2" in template_names("en")
    ledger.get(Customer, "A").name = "{{ 7*7 }} **华信** | <b>"
    ledger.commit()
    a = items_on(ledger, MONDAY)["A"]
    assert a.say == environment().get_template("zh_CN/call_script.txt.j2").render(
        name="{{ 7*7 }} **华信** | <b>", amount="¥1,000.00", invoices=("A-1",), months=(), oldest=32, charge={"amount": "¥16.00", "total": "¥1,016.00"}
    )
    assert a.say.startswith("{{ 7*7 }} **华信** | <b>共欠")  # a name is never template code
    assert "- Say: \\{\\{ 7\\*7 \\}\\} \\*\\*华信\\*\\* \\| \\<b\\>共欠¥1,000.00" in worklist_markdown([a], MONDAY)  # nor markup


@pytest.fixture
def cli_ledger(cli_env):
    from typer.testing import CliRunner

    from huikuan.cli import app
    from huikuan.ledger.db import session_scope

    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    with session_scope() as session:
        import_files(session, write_files(cli_env, FILES))
    return lambda *args: CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_explain_shows_each_open_invoice_s_charge_and_the_total_as_customers_show_does(cli_ledger):
    explained = cli_ledger("explain", "A", "--as-of", "2026-11-16")
    assert explained.exit_code == 0, explained.output
    assert "A，2026年11月16日，策略 handbook" in explained.output and "follow_up_daily" in explained.output  # the steps, as before
    standing = explained.output[explained.output.index("法律状态（截至2026年11月16日）") :]  # in the company's language
    assert "本金 ¥1,000.00 + 违约金 ¥16.00 = ¥1,016.00（依据合同第八条）" in standing
    assert ["A-1", "2026-10-15", "¥1,000.00", "¥16.00", "2029-10-15（剩1064天）", "到期日"] in [line.split() for line in standing.splitlines()]
    shown = cli_ledger("customers", "show", "A", "--as-of", "2026-11-16")
    assert shown.output.endswith(standing)  # the one table of customers show, not a second formatter
    later = cli_ledger("explain", "A", "--as-of", "2026-12-16").output
    assert "+ 违约金 ¥31.00 = ¥1,031.00" in later  # to the day asked about
    assert "+ 违约金 ¥0.00 = ¥1,000.00" in cli_ledger("explain", "B", "--as-of", "2026-11-16").output  # terms, within the grace days
    no_terms = cli_ledger("explain", "C", "--as-of", "2026-11-16")
    assert no_terms.exit_code == 0 and "C，2026年11月16日" in no_terms.output
    assert "法律状态" not in no_terms.output and "违约金" not in no_terms.output
    unknown = cli_ledger("explain", "Z", "--as-of", "2026-11-16")
    assert unknown.exit_code == 1 and "Z" in unknown.output
