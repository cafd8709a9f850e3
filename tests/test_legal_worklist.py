"""The limitation warning on the collector's worklist (issue #17): "send a written demand now", the invoice and its limitation date.

On explicit dates: A-1 is due 2023-03-10, so its limitation period (3 years, 民法典 第188条)
ends on 2026-03-10 (a Tuesday); the handbook's ``limitation_warning_30`` falls on 2026-02-06
(30 days before, rolled back off the weekend to Friday), ``limitation_warning_90`` on 2025-12-10.
"""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from huikuan.ledger.company import EXAMPLE, parse_company
from huikuan.reports.worklist import worklist, worklist_markdown
from models.policy import load_policy
from tests.ledger_files import import_ledger

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")  # the young debts' limitation dates are in 2028/2029

D = dt.date
WARNED = D(2026, 2, 6)
COMPANY = parse_company(EXAMPLE)  # Chinese: the company's people read Chinese
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,settlement,segment,collector\n"
    "A,华信,a@a.cn,1,王,per_invoice,ordinary,zhang\nB,恒达,b@b.cn,2,李,per_invoice,ordinary,zhang\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "A-1,A,2023-02-08,2023-03-10,1000.00\nA-2,A,2026-01-05,2026-01-20,500.00\nB-1,B,2025-11-01,2025-12-01,800.00\n",
}


@pytest.fixture
def ledger(tmp_path, session):
    return import_ledger(session, tmp_path, FILES)


def item_of(items, customer_id):
    return next(i for i in items if i.customer_id == customer_id)


def test_the_collector_is_told_to_send_a_written_demand_with_the_invoice_and_its_limitation_date(ledger):
    items = worklist(ledger, WARNED, company=COMPANY)
    a = item_of(items, "A")
    assert "limitation_warning" in a.actions
    assert a.demand == "请立即发出书面催告（以留有送达凭证的函件）：发票 A-1 的诉讼时效于2026年3月10日届满"
    assert item_of(items, "B").demand is None  # B's debt is young
    text = worklist_markdown(items, WARNED, COMPANY)
    assert "- Limitation: **请立即发出书面催告（以留有送达凭证的函件）：发票 A-1 的诉讼时效于2026年3月10日届满**" in text
    assert text.count("书面催告") == 1
    assert item_of(worklist(ledger, D(2025, 12, 10), company=COMPANY), "A").demand.endswith("发票 A-1 的诉讼时效于2026年3月10日届满")
    later = worklist(ledger, D(2026, 2, 9), company=COMPANY)  # no warning that day: the usual follow-up only
    assert item_of(later, "A").demand is None and "书面催告" not in worklist_markdown(later, D(2026, 2, 9), COMPANY)


def test_in_an_english_company_the_line_is_english(ledger):
    company = parse_company(yaml.safe_dump({**yaml.safe_load(EXAMPLE), "locale": "en"}, allow_unicode=True))
    a = item_of(worklist(ledger, WARNED, company=company), "A")
    assert a.demand == "Send a written demand now (a letter with a delivery record): invoice A-1, limitation period ends 2026-03-10"


def test_a_warning_alone_puts_the_debt_on_the_collector_s_list(ledger):
    handbook = load_policy("handbook")
    only_warnings = handbook.model_copy(update={"steps": [s for s in handbook.steps if s.action == "limitation_warning" or s.id == handbook.resume_step]})
    items = worklist(ledger, WARNED, policy=only_warnings, company=COMPANY)
    assert [i.customer_id for i in items] == ["A"]  # the warning's role is the manager; the debt is on its collector's list
    a = items[0]
    assert (a.collector, a.channel, a.when, a.invoices) == ("zhang", "letter", "", ("A-1",))
    assert a.demand.endswith("发票 A-1 的诉讼时效于2026年3月10日届满")
    text = worklist_markdown(items, WARNED, COMPANY)
    assert "| 1 | 华信 (A) | ¥1,500.00 |" in text and "| written demand |" in text
    assert worklist(ledger, WARNED, policy=only_warnings, company=COMPANY, collector="zhang") == items
