"""Property tests of the policy engine (models.engine) on generated customers.

The facts are generated like a ledger would hold them: 1-6 invoices issued
between 2025-11 and 2027-02 with 0-90 days' terms; no, partial or full payment;
no, open or resolved disputes; promises to pay on some of the invoices, kept by
payments before their date or broken; monthly statements with some states
reached; any segment, settlement and country (CN, US, DE). Windows of up to
120 days starting anywhere in 2026-01..2027-01 are simulated with both built-in
policies, approvals granted or denied, and every action produced is checked
against the rules of CONTRACT.md ("Planning without side effects", "Date rules").

Each invariant is recomputed here from the facts (not read back from the
engine), so that a bug in the engine's own bookkeeping shows up as a failure.
Steps counted from the day an invoice was paid in full (anchor ``paid``: the
credit policy's ``cut_credit_limit``, about the resumption of trading) are not
collection steps: they may name a paid, disputed or promised invoice on the day
it was paid. Two engine bugs these properties found are pinned by regression tests at the end.

More examples for a longer hunt: ``HUIKUAN_PROPERTY_EXAMPLES=3000``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from dataclasses import replace
from decimal import Decimal
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.calendar import calendar_for
from models.engine import Action, CustomerFacts, Evaluator, InvoiceFacts, PromiseFacts, StatementFacts, actions_due, simulate
from models.enums import CustomerStatus, Segment, Settlement
from models.policy import Anchor, Policy, load_policy

pytestmark = pytest.mark.filterwarnings("ignore::models.calendar.CalendarFallbackWarning")

ZERO = Decimal("0.00")
COUNTRIES = ("CN", "US", "DE")
STATES = ("prepared", "reviewed", "sent", "confirmed", "invoiced", "invoice_mailed")
LETTERS = frozenset({"dunning_letter", "statement_letter", "lawyer_letter"})

# HUIKUAN_PROPERTY_EXAMPLES=5000 for a longer hunt; the default keeps the file at ~25 s on 2 cores.
EXAMPLES = int(os.environ.get("HUIKUAN_PROPERTY_EXAMPLES", "300"))
PROPERTY_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@lru_cache(maxsize=None)
def policy(name: str) -> Policy:
    return load_policy(name)


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def cents_of(amount: Decimal) -> int:
    return int(amount * 100)


# -- strategies ----------------------------------------------------------------


def split(draw, total: int, parts: int) -> list[int]:
    """``total`` cents split into ``parts`` positive amounts (``total`` >= ``parts``)."""
    cuts = sorted(draw(st.lists(st.integers(1, total - 1), min_size=parts - 1, max_size=parts - 1, unique=True))) if parts > 1 else []
    bounds = [0, *cuts, total]
    return [b - a for a, b in zip(bounds, bounds[1:])]


@st.composite
def invoices(draw, number: int) -> InvoiceFacts:
    issued = draw(st.dates(d("2025-11-01"), d("2027-02-28")))
    due = issued + dt.timedelta(days=draw(st.integers(0, 90)))
    total = draw(st.integers(100, 5_000_000))
    paid = draw(st.sampled_from(["none", "partial", "full"]))
    payments: list[tuple[dt.date, Decimal]] = []
    if paid != "none":
        count = draw(st.integers(1, 3))
        if paid == "full":
            amounts = split(draw, total, count)
        else:
            part = draw(st.integers(count, total - 1)) if total - 1 >= count else None
            amounts = split(draw, part, count) if part else []
        for cents in amounts:
            payments.append((issued + dt.timedelta(days=draw(st.integers(0, 200))), money(cents)))
    disputed = draw(st.sampled_from(["none", "none", "open", "resolved", "resolved_then_open"]))
    disputes: list[tuple[dt.date, dt.date | None]] = []
    if disputed != "none":
        opened = issued + dt.timedelta(days=draw(st.integers(0, 150)))
        if disputed == "open":
            disputes.append((opened, None))
        else:
            resolved = opened + dt.timedelta(days=draw(st.integers(0, 60)))
            disputes.append((opened, resolved))
            if disputed == "resolved_then_open":
                disputes.append((resolved + dt.timedelta(days=draw(st.integers(1, 40))), None))
    return InvoiceFacts(f"INV{number}", issued, due, money(total), tuple(sorted(payments)), tuple(disputes))


@st.composite
def promises(draw, invoice_list: list[InvoiceFacts]) -> tuple[list[InvoiceFacts], list[PromiseFacts]]:
    """0-2 promises on subsets of the invoices; a kept one adds its payments to the invoices."""
    by_id = {i.invoice_id: i for i in invoice_list}
    made: list[PromiseFacts] = []
    for _ in range(draw(st.integers(0, 2))):
        covered = sorted(draw(st.sets(st.sampled_from(sorted(by_id)), min_size=1, max_size=len(by_id))))
        earliest = max(by_id[i].issued_on for i in covered)
        made_on = min(by_id[i].due_on for i in covered) + dt.timedelta(days=draw(st.integers(-10, 100)))
        made_on = max(made_on, earliest)
        due_on = made_on + dt.timedelta(days=draw(st.integers(0, 30)))
        owed = sum(cents_of(by_id[i].open_on(made_on)) for i in covered)
        if owed <= 0:
            continue  # the ledger refuses a promise on nothing open
        amount = draw(st.integers(1, owed))
        outcome = draw(st.sampled_from(["kept", "broken", "paid_late", "paid_short"]))
        # what each invoice can still take without being paid beyond its amount
        room = {i: cents_of(by_id[i].amount) - sum(cents_of(a) for _on, a in by_id[i].payments) for i in covered}
        if outcome == "kept":
            amount = min(amount, sum(room.values()))
            pay, pay_on = amount, made_on + dt.timedelta(days=draw(st.integers(0, (due_on - made_on).days)))
        elif outcome == "paid_late":
            pay, pay_on = amount, due_on + dt.timedelta(days=draw(st.integers(1, 20)))
        elif outcome == "paid_short":
            pay, pay_on = amount - 1, made_on + dt.timedelta(days=draw(st.integers(0, (due_on - made_on).days)))
        else:
            pay, pay_on = 0, None
        if amount <= 0:
            continue
        for invoice_id in covered:
            applied = min(pay, room[invoice_id])
            if applied <= 0 or pay_on is None:
                continue
            pay -= applied
            invoice = by_id[invoice_id]
            by_id[invoice_id] = replace(invoice, payments=tuple(sorted((*invoice.payments, (pay_on, money(applied))))))
        made.append(PromiseFacts(made_on, due_on, money(amount), frozenset(covered)))
    return [by_id[i.invoice_id] for i in invoice_list], made


@st.composite
def statements(draw) -> list[StatementFacts]:
    months = draw(st.lists(st.sampled_from([f"{y}-{m:02d}" for y, m in _months(2025, 10, 2027, 1)]), max_size=4, unique=True))
    found = []
    for month in sorted(months):
        first = StatementFacts(month).first_of_next_month
        reached: dict[str, dt.date] = {}
        on = first + dt.timedelta(days=draw(st.integers(0, 10)))
        for state in STATES[: draw(st.integers(0, len(STATES)))]:
            reached[state] = on
            on += dt.timedelta(days=draw(st.integers(0, 20)))
        receipts = draw(st.none() | st.integers(0, 28).map(lambda n, first=first: first + dt.timedelta(days=n)))
        found.append(StatementFacts(month, reached, receipts))
    return found


def _months(y0: int, m0: int, y1: int, m1: int):
    y, m = y0, m0
    while (y, m) <= (y1, m1):
        yield y, m
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)


@st.composite
def customers(draw) -> tuple[CustomerFacts, str]:
    count = draw(st.integers(1, 6))
    invoice_list = [draw(invoices(n)) for n in range(count)]
    invoice_list, promise_list = draw(promises(invoice_list))
    locked_on = draw(st.none() | st.none() | st.none() | st.dates(d("2026-01-01"), d("2027-01-31")))
    status = (
        CustomerStatus.locked
        if locked_on
        else draw(st.sampled_from([CustomerStatus.active] * 5 + [CustomerStatus.credit_suspended, CustomerStatus.cash_only, CustomerStatus.blacklisted]))
    )
    facts = CustomerFacts(
        customer_id=draw(st.sampled_from(["C001", "C042", "客户7"])),
        segment=draw(st.sampled_from(list(Segment))),
        settlement=draw(st.sampled_from(list(Settlement))),
        status=status,
        locked_on=locked_on,
        invoices=tuple(invoice_list),
        promises=tuple(promise_list),
        statements=tuple(draw(statements())),
    )
    return facts, draw(st.sampled_from(COUNTRIES))


@st.composite
def windows(draw, facts: CustomerFacts | None = None) -> tuple[dt.date, dt.date]:
    """Up to 120 days starting in 2026-01..2027-01: anywhere, or (mostly) shortly before a date of the facts."""
    first, last = d("2026-01-01"), d("2027-01-31")
    moments = sorted(_moments(facts)) if facts is not None else []
    if moments and draw(st.integers(0, 3)):
        start = draw(st.sampled_from(moments)) - dt.timedelta(days=draw(st.integers(0, 60)))
        start = min(max(start, first), last)
    else:
        start = draw(st.dates(first, last))
    return start, start + dt.timedelta(days=draw(st.integers(0, 120) | st.integers(45, 120)))


def _moments(facts: CustomerFacts):
    for invoice in facts.invoices:
        yield invoice.due_on
        yield from (on for on, _amount in invoice.payments)
        yield from (on for dispute in invoice.disputes for on in dispute if on is not None)
    for promise in facts.promises:
        yield promise.made_on
        yield promise.due_on
    for statement in facts.statements:
        yield statement.first_of_next_month
    if facts.locked_on:
        yield facts.locked_on


@st.composite
def scenarios(draw) -> tuple[CustomerFacts, str, tuple[dt.date, dt.date]]:
    facts, country = draw(customers())
    return facts, country, draw(windows(facts))


policy_names = st.sampled_from(["handbook", "credit"])
approvals = st.booleans()


def run(facts: CustomerFacts, country: str, window, name: str, grant: bool) -> list[Action]:
    start, end = window
    return simulate(facts, start, end, policy(name), calendar_for(country), grant_approvals=grant)


# -- what the contract says, recomputed from the facts ---------------------------


def paid_in_full_on(invoice: InvoiceFacts) -> dt.date | None:
    paid = 0
    for on, amount in sorted(invoice.payments):
        paid += cents_of(amount)
        if paid >= cents_of(invoice.amount):
            return on
    return None


def disputed_on(invoice: InvoiceFacts, day: dt.date) -> bool:
    return any(opened <= day and (resolved is None or day <= resolved) for opened, resolved in invoice.disputes)


def promise_pauses(facts: CustomerFacts) -> dict[str, list[tuple[dt.date, dt.date]]]:
    """Invoice id -> [made_on, end]: end is the day the promised amount was reached, if by the date, else the date."""
    payments = {i.invoice_id: i.payments for i in facts.invoices}
    pauses: dict[str, list[tuple[dt.date, dt.date]]] = defaultdict(list)
    for promise in facts.promises:
        received = sorted((on, a) for i in promise.invoice_ids for on, a in payments.get(i, ()) if promise.made_on <= on)
        end, total = promise.due_on, ZERO
        for on, amount in received:
            total += amount
            if total >= promise.amount:
                end = on if on <= promise.due_on else promise.due_on
                break
        for invoice_id in promise.invoice_ids:
            pauses[invoice_id].append((promise.made_on, end))
    return pauses


def paid_anchored(name: str, facts: CustomerFacts) -> frozenset[str]:
    """Ids of the steps counted from the day an invoice was paid (the credit policy's cut_credit_limit)."""
    return frozenset(s.id for s in policy(name).steps_for(facts.segment) if s.trigger.anchor is Anchor.paid)


def only_paid_anchored(action: Action, name: str, facts: CustomerFacts) -> bool:
    """Steps that follow a payment: the credit policy's resumption and lifting a lock whose debts are paid."""
    return set(action.steps) <= paid_anchored(name, facts) | {"lift_lock"}


def show(actions: list[Action]) -> str:
    return "\n".join(f"  {a.on} {a.action} {';'.join(a.invoices)} steps={','.join(a.steps)}" for a in actions)


# -- 1. dates are working days -------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios(), policy_names, approvals)
def test_every_action_is_on_a_working_day(scenario, name, grant):
    facts, country, window = scenario
    cal = calendar_for(country)
    actions = run(facts, country, window, name, grant)
    wrong = [a for a in actions if not cal.is_working_day(a.on)]
    assert not wrong, f"{country} non-working days:\n{show(wrong)}"
    assert all(window[0] <= a.on <= window[1] for a in actions)


# -- 2. one action per key, sorted ---------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios(), policy_names, approvals)
def test_keys_are_unique_and_output_sorted(scenario, name, grant):
    facts, country, window = scenario
    actions = run(facts, country, window, name, grant)
    keys = [a.key for a in actions]
    assert len(keys) == len(set(keys)), [k for k in keys if keys.count(k) > 1]
    assert all(a.key == f"{a.customer_id}:{a.action}:{a.on.isoformat()}" for a in actions)
    order = [(a.on, a.customer_id, a.action) for a in actions]
    assert order == sorted(order)
    assert all(list(a.invoices) == sorted(set(a.invoices)) for a in actions), "invoices are named sorted and once"


# -- 3. nothing about an invoice paid in full ---------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios(), policy_names, approvals)
def test_no_action_names_an_invoice_paid_in_full(scenario, name, grant):
    facts, country, window = scenario
    paid = {i.invoice_id: paid_in_full_on(i) for i in facts.invoices}
    wrong = [
        a
        for a in run(facts, country, window, name, grant)
        if any(paid[i] is not None and a.on >= paid[i] for i in a.invoices) and not only_paid_anchored(a, name, facts)
    ]
    assert not wrong, f"paid in full {paid}:\n{show(wrong)}"


# -- 4. nothing about an invoice under dispute -------------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios(), policy_names, approvals)
def test_no_action_names_a_disputed_invoice(scenario, name, grant):
    facts, country, window = scenario
    by_id = {i.invoice_id: i for i in facts.invoices}
    wrong = [
        a for a in run(facts, country, window, name, grant) if any(disputed_on(by_id[i], a.on) for i in a.invoices) and not only_paid_anchored(a, name, facts)
    ]
    assert not wrong, f"disputes { {i: v.disputes for i, v in by_id.items() if v.disputes} }:\n{show(wrong)}"


# -- 5. nothing about an invoice under a promise's pause -------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios(), policy_names, approvals)
def test_no_action_names_an_invoice_under_a_promise(scenario, name, grant):
    facts, country, window = scenario
    pauses = promise_pauses(facts)
    wrong = [
        a
        for a in run(facts, country, window, name, grant)
        if any(start <= a.on <= end for i in a.invoices for start, end in pauses.get(i, ())) and not only_paid_anchored(a, name, facts)
    ]
    assert not wrong, f"promise pauses {dict(pauses)}:\n{show(wrong)}"


@PROPERTY_SETTINGS
@given(customers())
def test_the_evaluators_promise_pauses_are_the_contracts(customer):
    """The engine's own pause intervals (Evaluator.pauses) agree with the recomputation above."""
    facts, country = customer
    evaluator = Evaluator(facts, policy("handbook"), calendar_for(country))
    expected = promise_pauses(facts)
    for invoice in facts.invoices:
        found = sorted((p.start, p.end) for p in evaluator.pauses[invoice.invoice_id] if p.why.startswith("promise"))
        assert found == sorted(expected.get(invoice.invoice_id, [])), invoice.invoice_id
        disputes = sorted((p.start, p.end) for p in evaluator.pauses[invoice.invoice_id] if p.why.startswith("disputed"))
        assert disputes == sorted(invoice.disputes, key=lambda x: x[0])


# -- 6. the letters need the boss's lock ------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenarios())
def test_letters_only_after_an_approved_lock(scenario):
    facts, country, window = scenario
    if facts.locked_on is None:
        denied = run(facts, country, window, "handbook", False)
        letters = [a for a in denied if a.action in LETTERS]
        assert not letters, f"letters without an approved lock:\n{show(letters)}"
    granted = run(facts, country, window, "handbook", True)
    locks = [a.on for a in granted if a.action == "stop_shipment" and a.customer_id == facts.customer_id]
    if facts.locked_on is not None:
        locks.append(facts.locked_on)
    early = [a for a in granted if a.action in LETTERS and not any(lock < a.on for lock in locks)]
    assert not early, f"locks {locks}; letters before them:\n{show(early)}"
    # and each is approved by the boss
    assert all(a.needs_approval and a.role == "boss" for a in granted if a.action in LETTERS | {"stop_shipment"})


# -- 7. plan == the first day of a simulation ----------------------------------------------------------

STATEMENT_EFFECTS = {"statement_prepared", "statement_sent"}


@settings(PROPERTY_SETTINGS, max_examples=EXAMPLES)
@given(scenarios(), policy_names, approvals, st.data())
def test_actions_due_is_the_simulation_of_that_day(scenario, name, grant, data):
    """plan's actions for a day are the simulation of that day alone.

    The one difference the contract allows: simulate takes our own steps on their
    day (a statement prepared is then sent the same day when both deadlines roll
    onto it), while plan reads the ledger as recorded. So the simulation holds
    every planned action, and more only when a planned action changed a statement,
    and then only actions on statements.

    The day is mostly one on which something happens: a day with actions in a
    simulation of the window.
    """
    facts, country, window = scenario
    cal = calendar_for(country)
    busy = sorted({a.on for a in run(facts, country, window, name, grant)})
    day = data.draw(st.sampled_from(busy) if busy and data.draw(st.integers(0, 4)) else st.just(window[0]), label="day")
    due = actions_due(facts, day, policy(name), cal)
    simulated = simulate(facts, day, day, policy(name), cal, grant_approvals=grant)
    assert [a for a in simulated if a in due] == due
    extra = [a for a in simulated if a not in due]
    if not any(a.effect in STATEMENT_EFFECTS for a in due):
        assert not extra, f"plan {show(due)}\nsimulate {show(simulated)}"
    assert all(a.statements and not a.invoices for a in extra), show(extra)
    # and the first day of a longer simulation is the same
    longer = simulate(facts, day, day + dt.timedelta(days=10), policy(name), cal, grant_approvals=grant)
    assert [a for a in longer if a.on == day] == simulated


# -- examples: the corner cases ------------------------------------------------------------------------


def invoice(invoice_id="A", issued="2026-03-02", due="2026-04-01", amount="1000.00", payments=(), disputes=()):
    return InvoiceFacts(
        invoice_id,
        d(issued),
        d(due),
        Decimal(amount),
        tuple((d(on), Decimal(a)) for on, a in payments),
        tuple((d(o), d(r) if r else None) for o, r in disputes),
    )


def test_broken_promise_brings_a_follow_up_the_next_working_day_with_the_passed_steps():
    # due Wed 2026-04-01 (DE); promise made 04-20 for 05-05, nothing paid: from 04-20 to 05-05 nothing;
    # 05-06 a follow_up at once plus the escalation (D+28 = 04-29) that fell inside the pause.
    facts = CustomerFacts("C", invoices=(invoice(),), promises=(PromiseFacts(d("2026-04-20"), d("2026-05-05"), Decimal("500.00"), frozenset({"A"})),))
    actions = simulate(facts, d("2026-04-15"), d("2026-05-08"), policy("handbook"), calendar_for("DE"))
    assert not [a for a in actions if d("2026-04-20") <= a.on <= d("2026-05-05")]
    on_0506 = {a.action for a in actions if a.on == d("2026-05-06")}
    assert {"follow_up", "escalate_supervisor"} <= on_0506


def test_kept_promise_ends_the_pause_on_the_payment_day_without_a_resume():
    # 400 of 1000 paid on 04-24 keeps the promise of 400 by 05-05; the cadence goes on from 04-27.
    facts = CustomerFacts(
        "C",
        invoices=(invoice(payments=[("2026-04-24", "400.00")]),),
        promises=(PromiseFacts(d("2026-04-20"), d("2026-05-05"), Decimal("400.00"), frozenset({"A"})),),
    )
    actions = simulate(facts, d("2026-04-15"), d("2026-05-08"), policy("handbook"), calendar_for("DE"))
    assert not [a for a in actions if d("2026-04-20") <= a.on <= d("2026-04-24")]
    assert [a.on for a in actions if a.on > d("2026-04-24") and a.action == "follow_up"][0] == d("2026-04-27")
    # the escalation of 04-29 is skipped: a payment in the 14 days before it is progress
    assert not [a for a in actions if a.action == "escalate_supervisor"]


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        ("2026-06-15", "2026-06-08"),  # D-7 a Monday: as is
        ("2026-10-08", "2026-09-30"),  # D-7 = 10-01, National Day: the reminder moves back, not forward
        ("2026-10-12", "2026-09-30"),  # D-7 = 10-05, still the holiday
        ("2026-10-17", "2026-10-10"),  # D-7 = Saturday 10-10, a make-up working day (调休): as is
        ("2026-10-18", "2026-10-10"),  # D-7 = Sunday 10-11: back to the make-up Saturday
    ],
)
def test_cn_reminder_rolls_back_over_holidays_and_onto_makeup_days(due, expected):
    facts = CustomerFacts("C", invoices=(invoice(issued="2026-05-01", due=due),))
    actions = simulate(facts, d("2026-05-01"), d(due), policy("handbook"), calendar_for("CN"))
    assert [a.on for a in actions if a.action == "reminder"] == [d(expected)]


def test_letters_follow_the_lock_and_stop_when_paid():
    # high-risk: locked after one month; the letters come the next working day, the lawyer's 15 days on
    inv = invoice(due="2026-04-01")
    facts = CustomerFacts("C", segment=Segment.high_risk, invoices=(inv,))
    actions = simulate(facts, d("2026-04-01"), d("2026-06-30"), policy("handbook"), calendar_for("DE"))
    lock = next(a.on for a in actions if a.action == "stop_shipment")
    assert lock == d("2026-05-04")  # 05-02 is a Saturday
    assert [a.on for a in actions if a.action == "dunning_letter"] == [d("2026-05-05")]
    assert [a.on for a in actions if a.action == "lawyer_letter"] == [d("2026-05-19")]
    denied = simulate(facts, d("2026-04-01"), d("2026-06-30"), policy("handbook"), calendar_for("DE"), grant_approvals=False)
    assert not [a for a in denied if a.action in LETTERS]
    paid = replace(facts, invoices=(replace(inv, payments=((d("2026-05-12"), Decimal("1000.00")),)),))
    after = simulate(paid, d("2026-04-01"), d("2026-06-30"), policy("handbook"), calendar_for("DE"))
    # Paid: the lock is lifted that day, once, and nothing else comes.
    assert [(a.on, a.action, a.invoices) for a in after if a.on >= d("2026-05-12")] == [(d("2026-05-12"), "lift_lock", ("A",))]


def test_dispute_resolved_brings_the_follow_up_at_once():
    facts = CustomerFacts("C", invoices=(invoice(disputes=[("2026-04-03", "2026-04-16")]),))
    actions = simulate(facts, d("2026-04-01"), d("2026-04-30"), policy("handbook"), calendar_for("DE"))
    assert not [a for a in actions if d("2026-04-03") <= a.on <= d("2026-04-16")]
    assert "follow_up" in {a.action for a in actions if a.on == d("2026-04-17")}


def test_credit_limit_cut_when_a_cash_only_customer_pays():
    inv = invoice(issued="2026-01-02", due="2026-02-02", amount="100.00", payments=[("2026-03-20", "100.00")])
    actions = simulate(CustomerFacts("C", invoices=(inv,)), d("2026-02-01"), d("2026-04-30"), policy("credit"), calendar_for("DE"))
    assert [(a.on, a.action) for a in actions if a.action == "cut_credit_limit"] == [(d("2026-03-20"), "cut_credit_limit")]


def test_second_credit_stop_after_a_limit_cut_takes_effect():
    a = invoice("A", issued="2026-01-02", due="2026-02-02", amount="100.00", payments=[("2026-03-20", "100.00")])
    b = invoice("B", issued="2026-03-02", due="2026-04-01", amount="100.00", payments=[("2026-06-01", "100.00")])
    actions = simulate(CustomerFacts("C", invoices=(a, b)), d("2026-02-01"), d("2026-06-30"), policy("credit"), calendar_for("DE"))
    stops = [a.on for a in actions if a.action == "stop_credit"]
    cuts = [a.on for a in actions if a.action == "cut_credit_limit"]
    assert stops == [d("2026-03-05"), d("2026-05-04")]
    assert cuts == [d("2026-03-20"), d("2026-06-01")]


def test_a_statement_state_reached_on_a_holiday_brings_its_step_on_a_working_day():
    # April's statement confirmed on Saturday 2026-06-06, after its invoicing deadline (05-30 -> Mon 06-01)
    statement = StatementFacts("2026-04", {"prepared": d("2026-05-05"), "sent": d("2026-05-08"), "confirmed": d("2026-06-06")})
    cal = calendar_for("DE")
    actions = simulate(CustomerFacts("C", statements=(statement,)), d("2026-06-01"), d("2026-06-12"), policy("handbook"), cal)
    issued = [a.on for a in actions if a.action == "issue_invoice"]
    assert issued and all(cal.is_working_day(on) for on in issued), issued


def test_plan_and_simulate_differ_only_by_our_own_same_day_statement_steps():
    # CN 2026: September's statement is due to be prepared on 10-05 and sent on 10-08;
    # the National Day holiday rolls both onto 10-08.
    facts = CustomerFacts("C", statements=(StatementFacts("2026-09"),))
    cal = calendar_for("CN")
    assert [a.action for a in actions_due(facts, d("2026-10-08"), policy("handbook"), cal)] == ["prepare_statement"]
    assert [a.action for a in simulate(facts, d("2026-10-08"), d("2026-10-08"), policy("handbook"), cal)] == ["prepare_statement", "send_statement"]
