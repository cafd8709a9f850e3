"""The collectors' worklist over a real ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from huikuan.ledger.importer import import_files
from huikuan.ledger.records import log_contact, record_payment, record_promise
from huikuan.reports import worklist as worklist_module
from huikuan.reports.worklist import WorkItem, call_hours, worklist, worklist_heads, worklist_markdown
from models.calendar import calendar_for
from models.enums import Channel, ContactResult, Excuse
from models.ledger import Statement
from models.money import format_money
from tests.ledger_files import write_files

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

D = dt.date
MONDAY = D(2026, 11, 16)  # an ordinary Monday
MONTH_END = D(2026, 11, 27)  # Friday, the second-last working day of November: no calls

FILES = {
    "customers": "customer_id,name,email,phone,contact_name,settlement,segment,collector\n"
    "A,华信,a@a.cn,1,王,per_invoice,ordinary,zhang\n"
    "B,恒达,b@b.cn,2,李,monthly_statement,ordinary,zhang\n"
    "C,远洋,c@c.cn,3,陈,per_invoice,ordinary,zhang\n"
    "D,新星,d@d.cn,4,赵,per_invoice,ordinary,li\n"
    "E,东方,e@e.cn,5,周,per_invoice,ordinary,li\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "A-1,A,2026-09-15,2026-10-15,8464.39\n"
    "B-1,B,2026-08-21,2026-09-20,1000.00\n"
    "B-2,B,2026-09-20,2026-10-20,2000.00\n"
    "C-1,C,2026-09-26,2026-10-26,500.00\n"
    "C-2,C,2026-09-30,2026-10-30,700.00\n"
    "D-1,D,2026-10-23,2026-11-23,300.00\n"
    "E-1,E,2026-09-01,2026-10-01,100.00\n",
    "payments": "payment_id,customer_id,received_on,amount,invoice_id\nP1,B,2026-10-10,300.00,B-1\n",
}


@pytest.fixture
def ledger(tmp_path, session):
    paths = write_files(tmp_path, FILES)
    import_files(session, paths)
    # A: promised everything by 12 November 2026, paid nothing: broken.
    record_promise(session, "A", amount=Decimal("8464.39"), by=D(2026, 11, 12), on=D(2026, 11, 2), invoices=["A-1"])
    # C: a running promise on C-2; C-1 is still followed up.
    record_promise(session, "C", amount=Decimal("700.00"), by=D(2026, 11, 20), on=D(2026, 11, 10), invoices=["C-2"])
    log_contact(session, "C", channel=Channel.phone, result=ContactResult.reached, on=D(2026, 11, 3), note="老板出差", excuse=Excuse.tui)
    log_contact(session, "C", channel=Channel.phone, result=ContactResult.promised, on=D(2026, 11, 10), person="陈", note="下周五付C-2", excuse=Excuse.tuo)
    log_contact(session, "C", channel=Channel.email, result=ContactResult.reached, on=D(2026, 11, 20), note="after the day")
    # B: October's statement was sent on 11-02 and is still unconfirmed (daily follow-up from 11-16).
    session.add(Statement(customer_id="B", month="2026-10", amount=Decimal("2700.00"), prepared_on=D(2026, 11, 1), sent_on=D(2026, 11, 2)))
    session.commit()
    return session


def test_items_ranked_broken_promise_first_then_oldest(ledger):
    items = worklist(ledger, MONDAY)
    assert [(i.collector, i.rank, i.customer_id) for i in items] == [
        ("li", 1, "E"),  # D's invoice is not due yet: only an email reminder, no item
        ("zhang", 1, "A"),  # broken promise on top although only 32 days overdue
        ("zhang", 2, "B"),  # 57 days overdue
        ("zhang", 3, "C"),  # 21 days overdue
    ]
    a, b, c = items[1:]
    assert a.broken_promise == "promised ¥8,464.39 by 12 November 2026, not kept"
    assert a.open_promise is None and a.oldest_days_overdue == 32
    assert a.amount_open == Decimal("8464.39") and a.currency == "CNY"
    assert (b.broken_promise, b.oldest_days_overdue, b.amount_open) == (None, 57, Decimal("2700.00"))
    assert c.open_promise == "promised ¥700.00 by 20 November 2026" and c.broken_promise is None
    assert all(isinstance(i.amount_open, Decimal) for i in items)


def test_actions_of_a_customer_are_merged(ledger):
    items = {i.customer_id: i for i in worklist(ledger, MONDAY)}
    b = items["B"]
    assert b.actions == ("follow_up", "statement_follow_up")
    assert b.invoices == ("B-1", "B-2") and b.channel == "email+phone"
    assert "2026-10对账单尚未确认" in b.say
    assert items["C"].invoices == ("C-1",)  # C-2 is paused by the running promise
    assert items["C"].amount_open == Decimal("1200.00")  # but the whole balance is asked for
    assert len(items) == len({i.customer_id for i in items.values()})


def test_collector_filter(ledger):
    everyone = worklist(ledger, MONDAY)
    assert worklist(ledger, MONDAY, collector="zhang") == [i for i in everyone if i.collector == "zhang"]
    assert [i.customer_id for i in worklist(ledger, MONDAY, collector="li")] == ["E"]
    assert worklist(ledger, MONDAY, collector="nobody") == []


def test_call_hours_on_a_monday_and_at_month_end(ledger):
    assert {i.when for i in worklist(ledger, MONDAY)} == {"09:00-11:30 (best), 13:30-17:00"}
    late = worklist(ledger, MONTH_END)
    assert late and {i.when for i in late} == {"no calls today: month end"}
    cn = calendar_for("CN")
    assert call_hours(D(2026, 11, 21), cn) == "no calls today: weekend"
    assert call_hours(D(2026, 10, 1), cn).startswith("no calls today: ")


def test_last_contact_restated_with_excuses(ledger):
    c = next(i for i in worklist(ledger, MONDAY) if i.customer_id == "C")
    assert c.last_contact == "call on 10 November 2026 with 陈: promised to pay (下周五付C-2), excuse 拖"  # the 11-20 one is later
    assert c.excuses == ("推", "拖")
    a = next(i for i in worklist(ledger, MONDAY) if i.customer_id == "A")
    assert a.last_contact is None and a.excuses == ()


def test_say_names_amount_invoices_contact_and_promise_in_the_customers_language(ledger):
    items = {i.customer_id: i for i in worklist(ledger, MONDAY)}
    a, b, c = items["A"], items["B"], items["C"]
    assert a.say == "华信共欠¥8,464.39在A-1上，最早的已逾期32天。对方承诺2026年11月12日前付¥8,464.39，未兑现：问清原因，要求立即全额付款并给出具体日期。"
    assert "¥2,700.00" in b.say and "B-1、B-2" in b.say and "最早的已逾期57天" in b.say
    assert c.say == (
        "上次联系：2026年11月10日 电话 陈：承诺付款（下周五付C-2），借口：拖。远洋共欠¥1,200.00，其中¥500.00在C-1上，最早的已逾期21天。"
        "对方承诺2026年11月20日前付¥700.00：再次确认，并催收其余款项。"
    )
    # The same account for an English-speaking customer: the same facts, in English.
    from models.enums import Locale
    from models.ledger import Customer

    ledger.get(Customer, "C").locale = Locale.en
    ledger.commit()
    c = next(i for i in worklist(ledger, MONDAY) if i.customer_id == "C")
    assert c.say == (
        "Last time (call on 10 November 2026 with 陈: promised to pay (下周五付C-2), excuse 拖). 远洋 owes ¥1,200.00 in all, ¥500.00 of it on C-1, "
        "the oldest 21 days overdue. They promised ¥700.00 by 20 November 2026: confirm it back and ask for the rest."
    )


def test_a_kept_promise_is_not_broken(ledger):
    record_payment(ledger, "P2", "A", amount=Decimal("8464.39"), received_on=D(2026, 11, 12), invoice_id="A-1")
    ledger.commit()
    assert "A" not in {i.customer_id for i in worklist(ledger, MONDAY)}  # paid: nothing to do
    record_promise(ledger, "B", amount=Decimal("500.00"), by=D(2026, 11, 13), on=D(2026, 11, 9), invoices=["B-2"])
    record_payment(ledger, "P3", "B", amount=Decimal("500.00"), received_on=D(2026, 11, 11), invoice_id="B-2")
    ledger.commit()
    b = next(i for i in worklist(ledger, MONDAY) if i.customer_id == "B")
    assert (b.broken_promise, b.open_promise, b.amount_open) == (None, None, Decimal("2200.00"))


HOURS = "09:00-11:30 (best), 13:30-17:00"


def _rendered(text: str) -> list[tuple[tuple[str, ...], str]]:
    """Each run of text of the Markdown as a renderer sees it: (the tags it is in, outermost first; its source)."""
    markdown_it = pytest.importorskip("markdown_it")
    stack: list[str] = []
    runs = []
    for token in markdown_it.MarkdownIt("commonmark").enable("table").parse(text):
        if token.nesting == 1:
            stack.append(token.tag)
        elif token.nesting == -1:
            stack.pop()
        elif token.type == "inline":
            runs.append((tuple(stack), token.content))
    return runs


def _entries(runs: list[tuple[tuple[str, ...], str]]) -> list[tuple[str, list[str]]]:
    """The numbered list's entries: (the entry's first line, its nested details)."""
    entries: list[tuple[str, list[str]]] = []
    for where, text in runs:
        if where[:2] == ("ol", "li") and len(where) == 3:
            entries.append((text, []))
        elif where[:2] == ("ol", "li") and "ul" in where:
            entries[-1][1].append(text)
    return entries


def test_markdown_a_narrow_table_then_each_rows_texts_under_its_number(ledger):
    text = worklist_markdown(worklist(ledger, MONDAY), MONDAY)
    assert text.startswith("# Worklist 2026-11-16")
    li, zhang = text.index("## li (1; ¥100.00 open)"), text.index("## zhang (3; ¥12,364.39 open)")
    assert li < zhang
    runs = _rendered(text[zhang:])
    assert [t for where, t in runs if where[-1] == "th"] == ["#", "Customer", "Open", "Days overdue", "To do"]
    cells = [t for where, t in runs if where[-1] == "td"]
    assert [cells[k : k + 5] for k in range(0, len(cells), 5)] == [  # "To do": the best of the call hours
        ["1", "华信 (A)", "¥8,464.39", "32", "call 09:00-11:30"],
        ["2", "恒达 (B)", "¥2,700.00", "57", "call 09:00-11:30"],
        ["3", "远洋 (C)", "¥1,200.00", "21", "call 09:00-11:30"],
    ]
    assert not [t for t in cells if "共欠" in t or "promised" in t]  # the long texts are not in the table
    assert text.index("| 3 | 远洋 (C) |") < text.index("1. **华信 (A)**")  # the list is under the table
    a, b, c = _entries(runs)
    assert a == (
        "**华信 (A)**: email+phone, follow_up",
        [
            "Contacts: 王: 1, a@a\\.cn",  # the customer's data is escaped (huikuan.documents.escaping): "." before a domain would make a link
            f"When: {HOURS}",
            "Say: 华信共欠¥8,464.39在A-1上，最早的已逾期32天。对方承诺2026年11月12日前付¥8,464.39，未兑现：问清原因，要求立即全额付款并给出具体日期。",
            "Promise: **promised ¥8,464.39 by 12 November 2026, not kept**",
            "Invoices: A-1",
        ],
    )
    assert b[0] == "**恒达 (B)**: email+phone, follow_up, statement_follow_up" and "Invoices: B-1, B-2" in b[1]
    assert c[1] == [
        "Contacts: 陈: 3, c@c\\.cn",
        f"When: {HOURS}",
        "Say: 上次联系：2026年11月10日 电话 陈：承诺付款（下周五付C-2），借口：拖。远洋共欠¥1,200.00，其中¥500.00在C-1上，最早的已逾期21天。"
        "对方承诺2026年11月20日前付¥700.00：再次确认，并催收其余款项。",
        "Promise: promised ¥700.00 by 20 November 2026",
        "Invoices: C-1",
        "Last contact: call on 10 November 2026 with 陈: promised to pay \\(下周五付C-2\\), excuse 拖",
        "Excuses: 推, 拖",
    ]
    assert worklist_markdown([], MONDAY).endswith("Nobody to call or visit today.\n")


def test_markdown_on_a_day_without_calls_and_for_a_visit(ledger):
    items = worklist(ledger, MONTH_END)
    items[0] = replace(items[0], channel="visit", when="")
    runs = _rendered(worklist_markdown(items, MONTH_END))
    to_do = [t for where, t in runs if where[-1] == "td"][4::5]
    assert to_do == ["visit"] + ["no calls today"] * (len(items) - 1)
    (_visit, visit), *calls = _entries(runs)
    assert not [d for d in visit if d.startswith("When")]
    assert all("When: no calls today: month end" in details for _head, details in calls)


def test_markdown_keeps_an_entrys_details_from_number_ten_on():
    """ "10. " is one character wider than "9. ": the details are indented to match, or they would leave the entry."""
    items = [replace(_item(f"C{n:02d}", None, 30 - n, "1"), rank=n, say=f"say {n}\nline two | still {n}") for n in range(1, 12)]
    entries = _entries(_rendered(worklist_markdown(items, MONDAY)))
    assert [details for _head, details in entries] == [[f"Say: say {n} line two \\| still {n}"] for n in range(1, 12)]


def test_the_ledger_is_read_in_bulk(ledger):
    """As many statements for a list of 44 customers as for one of 4: nothing is read customer by customer."""
    from sqlalchemy import event

    from models.ledger import Customer, Invoice

    def statements() -> int:
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        event.listen(ledger.get_bind(), "before_cursor_execute", listener)
        try:
            worklist(ledger, MONDAY)
        finally:
            event.remove(ledger.get_bind(), "before_cursor_execute", listener)
        return len(seen)

    few = statements()
    for n in range(40):
        ledger.add(Customer(customer_id=f"X{n}", name=f"客户{n}", collector="zhang"))
        ledger.add(Invoice(invoice_id=f"X{n}-1", customer_id=f"X{n}", issued_on=D(2026, 9, 1), due_on=D(2026, 10, 1), amount=Decimal("10.00")))
        log_contact(ledger, f"X{n}", channel=Channel.phone, result=ContactResult.unreachable, on=D(2026, 11, 2))
        record_promise(ledger, f"X{n}", amount=Decimal("5.00"), by=D(2026, 11, 9), on=D(2026, 11, 2))
    ledger.commit()
    assert len(worklist(ledger, MONDAY)) == 44  # D is not on the list: its invoice is not due yet
    assert statements() == few


def test_the_days_heads_are_each_lists_first_rows_built_a_slice_of_customers_at_a_time(ledger, monkeypatch):
    """What the daily run shows (``worklist_heads``): each list's first rows and its length, the same as the whole list's,
    though the items are built a few customers at a time and each list keeps only its best rows (memory flat with the ledger)."""
    from models.ledger import Customer, Invoice

    for n in range(30):
        collector = ("zhang", "li", None)[n % 3]
        ledger.add(Customer(customer_id=f"X{n:02d}", name=f"客户{n}", collector=collector))
        due = D(2026, 10, 1) - dt.timedelta(days=7 * (n % 5))  # ties in days overdue and amount: the customer id decides
        ledger.add(
            Invoice(invoice_id=f"X{n:02d}-1", customer_id=f"X{n:02d}", issued_on=due - dt.timedelta(days=30), due_on=due, amount=Decimal(10 * (n % 4) + 10))
        )
    ledger.commit()
    whole = worklist(ledger, MONDAY)
    lists: dict = {}
    for item in whole:
        lists.setdefault(item.collector, []).append(item)
    slices = []
    items_of = worklist_module._items_of
    monkeypatch.setattr(worklist_module, "CHUNK", 4)
    monkeypatch.setattr(
        worklist_module, "_items_of", lambda session, by_customer, *rest: slices.append(len(by_customer)) or items_of(session, by_customer, *rest)
    )
    heads = worklist_heads(ledger, MONDAY, 3)
    assert [(name, shown, length) for name, shown, length in heads] == [(name, own[:3], len(own)) for name, own in lists.items()]
    assert [name for name, _shown, _length in heads] == ["li", "zhang", None] and all(length > 3 for _name, _shown, length in heads)
    assert len(slices) > 1 and max(slices) <= 4 and sum(slices) == len(whole)
    assert worklist(ledger, MONDAY) == whole  # the whole list, built in slices too, is unchanged


def _item(customer_id: str, broken: str | None, days: int, amount: str) -> WorkItem:
    return WorkItem(0, customer_id, customer_id, "x", "phone", ("follow_up",), "", Decimal(amount), "CNY", (), days, broken, None, None, (), "")


def test_priority_key():
    items = [_item("Z", None, 10, "5"), _item("Y", None, 10, "50"), _item("X", None, 30, "1"), _item("W", "broken", 1, "1"), _item("V", None, 10, "50")]
    assert [i.customer_id for i in sorted(items, key=lambda i: i.priority)] == ["W", "X", "V", "Y", "Z"]
    assert format_money(Decimal("1234.5"), "CNY") == "¥1,234.50" and format_money(Decimal("-3"), "USD") == "-USD 3.00"


def test_a_key_accounts_calls_are_on_the_managers_list(ledger):
    """The handbook gives a key account's follow-ups to the manager: the account leaves its collector's list for the manager's."""
    from huikuan.ledger.company import EXAMPLE, parse_company
    from models.enums import Segment
    from models.ledger import Customer

    ledger.get(Customer, "E").segment = Segment.key
    ledger.commit()
    company = parse_company(EXAMPLE)
    manager = company.first_with_role("manager").id
    items = {i.customer_id: i for i in worklist(ledger, MONDAY, company=company)}
    assert items["E"].collector == manager and items["A"].collector == "zhang"
    assert "E" not in {i.customer_id for i in worklist(ledger, MONDAY, collector="li", company=company)}
    assert [i.customer_id for i in worklist(ledger, MONDAY, collector=manager, company=company)] == ["E"]
    assert next(i for i in worklist(ledger, MONDAY) if i.customer_id == "E").collector == "(manager)"  # no company file: the role
