"""Matching bank lines to customers and invoices (pure): certain lines applied, the rest waiting; never the wrong customer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from huikuan.bank.matching import (
    SUBSET_LIMIT,
    Apply,
    Book,
    CustomerFacts,
    LineFacts,
    OpenInvoice,
    PlannedPayment,
    Wait,
    decide,
    exact_sets,
    normal_name,
    plan_payments,
    referenced_months,
)

D = dt.date
M = Decimal


def book(**invoices) -> Book:
    customers = {"C1": CustomerFacts("C1", "上海华信机械有限公司"), "C2": CustomerFacts("C2", "恒达（集团）贸易有限公司")}
    return Book(customers, {c: [OpenInvoice(*i) for i in rows] for c, rows in invoices.items()})


C1_INVOICES = [("INV-A1", D(2026, 9, 30), M("100.00")), ("INV-A2", D(2026, 10, 30), M("250.00")), ("INV-A3", D(2026, 11, 30), M("400.00"))]


def line(amount: str, payer: str = "", reference: str = "", account: str = "") -> LineFacts:
    return LineFacts(D(2026, 12, 1), M(amount), payer, account, reference)


@pytest.mark.parametrize(
    ("name", "variant"),
    [
        ("恒达（集团）贸易有限公司", "恒达(集团)贸易有限公司"),
        ("恒达（集团）贸易有限公司", "恒达 集团 贸易有限公司"),
        ("ABC（上海）电子有限公司", "ＡＢＣ(上海)电子有限公司"),
        ("ABC Trading Ltd.", "abc trading ltd."),
    ],
)
def test_names_fold_full_width_forms_spaces_and_brackets(name, variant):
    assert normal_name(name) == normal_name(variant)


def test_names_that_differ_in_words_stay_different():
    assert normal_name("恒达贸易有限公司") != normal_name("恒达贸易有限责任公司")


@pytest.mark.parametrize(
    ("amount", "paid"),
    [
        ("100.00", ("INV-A1",)),
        ("400.00", ("INV-A3",)),
        ("750.00", ("INV-A1", "INV-A2", "INV-A3")),
        ("650.00", ("INV-A2", "INV-A3")),
        ("350.00", ("INV-A1", "INV-A2")),
    ],
)
def test_a_known_payer_paying_exactly_one_set_is_applied(amount, paid):
    decision = decide(line(amount, "上海华信机械有限公司"), book(C1=C1_INVOICES))
    assert isinstance(decision, Apply) and decision.customer_id == "C1" and decision.invoices == paid


@pytest.mark.parametrize(
    ("amount", "why"), [("600.00", "part of the 750.00 it owes"), ("800.00", "more than the 750.00 it owes: an over-payment waits for finance")]
)
def test_a_known_payer_paying_no_set_exactly_waits(amount, why):
    decision = decide(line(amount, "上海华信机械有限公司"), book(C1=C1_INVOICES))
    assert isinstance(decision, Wait) and why in decision.reason


def test_two_sets_of_the_same_amount_wait():
    invoices = C1_INVOICES + [("INV-A4", D(2026, 12, 30), M("350.00"))]  # 350 = A4 = A1 + A2
    assert "2 sets" in decide(line("350.00", "上海华信机械有限公司"), book(C1=invoices)).reason


def test_with_more_open_invoices_than_the_search_bound_only_one_invoice_or_all_count():
    many = [(f"A{n:02d}", D(2026, 1, 1) + dt.timedelta(days=n), M("10.00") + n) for n in range(SUBSET_LIMIT + 3)]
    open_invoices = [OpenInvoice(*i) for i in many]
    assert exact_sets(open_invoices, M("15.00")) == [("A05",)]
    assert exact_sets(open_invoices, M("47.00")) == []  # A13 + A14: pairs are not searched
    assert exact_sets(open_invoices, sum((i.open for i in open_invoices), M(0))) == [tuple(i.invoice_id for i in open_invoices)]


def test_a_reference_naming_an_open_invoice_applies_with_an_unknown_payer_only_at_its_amount():
    ledger = book(C1=C1_INVOICES)
    applied = decide(line("250.00", "张三", "付INV-A2货款"), ledger)
    assert isinstance(applied, Apply) and applied.payments == (PlannedPayment("INV-A2", M("250.00")),)
    assert isinstance(decide(line("200.00", "张三", "付INV-A2货款"), ledger), Wait)
    # The customer itself may pay part of the invoice it names.
    part = decide(line("200.00", "上海华信机械有限公司", "INV-A2"), ledger)
    assert isinstance(part, Apply) and part.payments == (PlannedPayment("INV-A2", M("200.00")),)


def test_a_reference_is_read_in_full_width_and_lower_case():
    decision = decide(line("250.00", "", "ｉｎｖ－ａ２ 货款"), book(C1=C1_INVOICES))
    assert isinstance(decision, Apply) and decision.invoices == ("INV-A2",)


def test_conflicting_evidence_waits():
    ledger = book(C1=C1_INVOICES, C2=[("INV-B1", D(2026, 10, 1), M("250.00"))])
    assert "but the payer is C2" in decide(line("250.00", "恒达(集团)贸易有限公司", "INV-A2"), ledger).reason
    assert "invoices of 2 customers" in decide(line("350.00", "", "INV-A2 INV-B1"), ledger).reason
    ledger.accounts["6222"] = {"C2"}
    assert "any of C1, C2" in decide(line("100.00", "上海华信机械有限公司", account="6222"), ledger).reason


def test_a_line_in_another_currency_waits():
    ledger = Book({"C1": CustomerFacts("C1", "华信", "USD")}, {"C1": [OpenInvoice(*i) for i in C1_INVOICES]})
    assert "is billed in USD" in decide(LineFacts(D(2026, 12, 1), M("100.00"), "华信", currency="CNY"), ledger).reason


def test_invoices_issued_after_the_money_arrived_are_not_matched():
    ledger = Book({"C1": CustomerFacts("C1", "华信")}, {"C1": [OpenInvoice("INV-A1", D(2027, 1, 31), M("100.00"), None, D(2026, 12, 31))]})
    assert isinstance(decide(line("100.00", "华信"), ledger), Wait)


@pytest.mark.parametrize(
    ("reference", "months"),
    [
        ("2026-10对账单", ["2026-10"]),
        ("2026年9月货款", ["2026-09"]),
        ("10月货款", ["2026-10"]),
        ("12月", ["2026-12"]),
        ("付款 20261015", []),
        ("INV-2026-10", ["2026-10"]),
    ],
)
def test_statement_months_in_references(reference, months):
    assert referenced_months(line("1.00", reference=reference)) == months


def test_plan_payments_uses_one_payment_when_oldest_first_pays_the_same_invoices():
    open_invoices = [OpenInvoice(*i) for i in C1_INVOICES]
    assert plan_payments(open_invoices, M("300.00"), {"INV-A1", "INV-A2"}) == ((PlannedPayment(None, M("300.00")),), ("INV-A1", "INV-A2"))
    assert plan_payments(open_invoices, M("650.00"), {"INV-A2", "INV-A3"}) == (
        (PlannedPayment("INV-A2", M("250.00")), PlannedPayment("INV-A3", M("400.00"))),
        ("INV-A2", "INV-A3"),
    )
    assert "oldest-first would pay others" in plan_payments(open_invoices, M("600.00"), {"INV-A2", "INV-A3"})
    assert "750.01 is more than the 750.00 open" in plan_payments(open_invoices, M("750.01"))
    assert "A9 is not open" in plan_payments(open_invoices, M("1.00"), {"A9"})


# -- the property: never the wrong customer ------------------------------------------------------------

SYLLABLES = ["华", "信", "恒", "达", "星", "辰", "南", "方", "东", "海"]
SUFFIXES = ["有限公司", "（集团）有限公司", "贸易有限公司", "科技(上海)有限公司"]
NOISE = ["货款", "转账", "往来款", "", "付款", "劳务费", "预付款", "对账单", "10月", "2026-11"]


@st.composite
def worlds(draw):
    """Customers (names often alike or equal), their open invoices, known accounts, and one line paid by one of them."""
    count = draw(st.integers(2, 6))
    customers, invoices, accounts = {}, {}, {}
    for n in range(count):
        name = "".join(draw(st.lists(st.sampled_from(SYLLABLES), min_size=1, max_size=3))) + draw(st.sampled_from(SUFFIXES))
        customer_id = f"C{n}"
        customers[customer_id] = CustomerFacts(customer_id, name)
        amounts = draw(st.lists(st.integers(1, 50).map(lambda k: M(k * 50)), min_size=0, max_size=6))
        invoices[customer_id] = [
            OpenInvoice(
                f"INV-{n}-{k}", D(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 300))), amount, draw(st.sampled_from([None, "2026-10", "2026-11"]))
            )
            for k, amount in enumerate(amounts)
        ]
        if draw(st.booleans()):
            accounts[f"6222{n:04d}"] = {customer_id}
    payer_id = draw(st.sampled_from(sorted(customers)))
    own = invoices[payer_id]
    name = customers[payer_id].name
    how = draw(st.sampled_from(["exact", "brackets", "full-width", "spaces", "stranger", "short"]))
    payer = {
        "exact": name,
        "brackets": name.replace("（", "(").replace("）", ")").replace("(", "").replace(")", ""),
        "full-width": name.replace("(", "（").replace(")", "）"),
        "spaces": " ".join(name),
        "stranger": draw(st.sampled_from(["张三", "李四", "某某投资有限公司", ""])),
        "short": name[:2],
    }[how]
    account = draw(st.sampled_from([f"6222{int(payer_id[1:]):04d}", "", "62179999"]))
    paid = draw(st.lists(st.sampled_from(own), unique=True, max_size=len(own))) if own else []
    amount = sum((i.open for i in paid), M(0)) or M(draw(st.integers(1, 5000)))
    if draw(st.booleans()) and own:
        amount -= M(draw(st.integers(0, 49)))  # part of it
    assume(amount > 0)
    reference = draw(st.sampled_from(NOISE))
    if paid and draw(st.booleans()):
        reference += " " + " ".join(i.invoice_id.lower() if draw(st.booleans()) else i.invoice_id for i in paid)
    facts = LineFacts(D(2026, 12, 1), amount, payer, account, reference)
    return Book(customers, invoices, accounts), facts, payer_id


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_no_line_is_ever_applied_to_another_customer_than_the_one_who_paid(world):
    ledger, facts, payer_id = world
    decision = decide(facts, ledger)
    if isinstance(decision, Apply):
        assert decision.customer_id == payer_id, decision.reason
        open_now = {i.invoice_id: i.open for i in ledger.open_invoices(payer_id)}
        assert set(decision.invoices) <= set(open_now)
        assert sum((p.amount for p in decision.payments), M(0)) == facts.amount
        assert facts.amount <= sum(open_now.values(), M(0))  # never an over-payment on its own: that waits for finance
        assert all(p.amount <= open_now[p.invoice_id] for p in decision.payments if p.invoice_id)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_whole_generated_statement_applied_line_by_line_never_pays_another_customer(data):
    """Customers alike (or equal) in name and amounts; the generator's statement (name variants, references, combined, part
    payments, strangers) decided line by line, each applied line allocated by the ledger's rule and kept in the book."""
    from huikuan.demo.bank_statement import sample_statement
    from models.allocation import OpenInvoice as LedgerInvoice
    from models.allocation import allocate

    count = data.draw(st.integers(2, 8))
    names, invoices = {}, {}
    for n in range(count):
        names[f"C{n}"] = "".join(data.draw(st.lists(st.sampled_from(SYLLABLES[:4]), min_size=1, max_size=2))) + data.draw(st.sampled_from(SUFFIXES))
        amounts = data.draw(st.lists(st.integers(1, 8).map(lambda k: M(k * 100)), min_size=1, max_size=5))
        invoices[f"C{n}"] = [(f"INV-{n}-{k}", D(2026, 6, 30) + dt.timedelta(days=30 * k), amount) for k, amount in enumerate(amounts)]
    lines = sample_statement(names, invoices, start=D(2026, 12, 1), seed=data.draw(st.integers(0, 10**6)), strangers=0.3)
    ledger = Book(
        {c: CustomerFacts(c, name) for c, name in names.items()},
        {c: [OpenInvoice(i, due, amount, None, due - dt.timedelta(days=30)) for i, due, amount in rows] for c, rows in invoices.items()},
    )
    for sample in (line for line in lines if line.credit):
        decision = decide(LineFacts(sample.booked_on, sample.credit, sample.payer, sample.account, f"{sample.memo} {sample.purpose}"), ledger)
        if isinstance(decision, Wait):
            continue
        assert decision.customer_id == sample.paid_by, (sample, decision.reason)
        for payment in decision.payments:
            still = [LedgerInvoice(i.invoice_id, i.due_on, i.issued_on, i.open) for i in ledger.open_invoices(decision.customer_id)]
            ledger.paid(decision.customer_id, allocate(payment.amount, still, customer_id=decision.customer_id, invoice_id=payment.invoice_id))
