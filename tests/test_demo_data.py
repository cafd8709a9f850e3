"""The demo portfolio generator (huikuan.demo.data): files per CONTRACT.md, realistic mix, consistent ledger."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from huikuan.demo.data import CHARGE_COLUMNS, CUSTOMER_COLUMNS, INVOICE_COLUMNS, PAYMENT_COLUMNS, DemoFiles, customer_rng, draw_profile, generate_demo

AS_OF = date(2026, 10, 9)
FILES = ("customers.csv", "invoices.csv", "payments.csv", "charges.csv", "events.jsonl")

# The contract's columns: required first, then the optional ones (CONTRACT.md "Import files").
CONTRACT = {
    "customers": (
        ("customer_id", "name", "email", "phone", "contact_name"),
        ("contact_title", "locale", "country", "settlement", "payment_terms_days", "credit_limit", "segment", "currency", "collector"),
    ),
    "invoices": (("invoice_id", "customer_id", "issued_on", "due_on", "amount"), ("currency",)),
    "payments": (("payment_id", "customer_id", "received_on", "amount"), ("invoice_id",)),
    "charges": (("charge_id", "customer_id", "delivered_on", "amount"), ("description", "receipt_received_on")),
}
AMOUNT = re.compile(r"^[0-9]+\.[0-9]{2}$")
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ZH_TITLES = {"财务经理", "采购经理", "出纳", "会计", "总经理", "财务主管"}
EXCUSES = {None, "duo", "la", "lai", "tuo", "tui", "mo"}
CJK = re.compile(r"[\u4e00-\u9fff]")


def money(text: str) -> Decimal:
    assert AMOUNT.match(text), f"not an amount with exactly 2 decimals: {text!r}"
    value = Decimal(text)
    assert value > 0, text
    return value


def day(text: str) -> date:
    assert ISO.match(text), text
    return date.fromisoformat(text)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM"
    assert b"\r" not in raw, "\\n line endings only"
    text = raw.decode("utf-8")
    reader = csv.reader(text.splitlines())
    header = next(reader)
    rows = [dict(zip(header, row, strict=True)) for row in reader]
    return header, rows


@dataclass
class Ledger:
    """The demo files read back and replayed independently of the generator."""

    as_of: date
    customers: dict[str, dict[str, str]]
    invoices: dict[str, dict]
    payments: list[dict[str, str]]
    charges: list[dict[str, str]]
    events: list[dict]
    lines: list[str]
    # invoice id -> [(received_on, amount)] as allocated by the importer's rule
    applied: dict[str, list[tuple[date, Decimal]]] = field(default_factory=lambda: defaultdict(list))

    def open_at(self, invoice_id: str, on: date) -> Decimal:
        paid = sum((a for d, a in self.applied[invoice_id] if d <= on), Decimal("0"))
        return self.invoices[invoice_id]["amount"] - paid


def load(files: DemoFiles, as_of: date) -> Ledger:
    headers = {}
    _, customers = read_csv(files.customers)
    headers["customers"], _ = read_csv(files.customers)
    headers["invoices"], invoices = read_csv(files.invoices)
    headers["payments"], payments = read_csv(files.payments)
    headers["charges"], charges = read_csv(files.charges)
    for kind, (required, optional) in CONTRACT.items():
        header = headers[kind]
        assert tuple(header[: len(required)]) == required, kind
        assert set(header[len(required) :]) <= set(optional), f"unknown column in {kind}: {header}"
        assert len(set(header)) == len(header)
    assert tuple(headers["customers"]) == CUSTOMER_COLUMNS
    assert tuple(headers["invoices"]) == INVOICE_COLUMNS
    assert tuple(headers["payments"]) == PAYMENT_COLUMNS
    assert tuple(headers["charges"]) == CHARGE_COLUMNS

    raw = files.events.read_bytes()
    assert b"\r" not in raw and not raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8").splitlines()
    events = [json.loads(line) for line in lines]

    by_id = {c["customer_id"]: c for c in customers}
    assert len(by_id) == len(customers), "customer ids unique"
    inv = {}
    for row in invoices:
        assert row["invoice_id"] not in inv, "invoice ids unique"
        inv[row["invoice_id"]] = {**row, "amount": money(row["amount"]), "issued": day(row["issued_on"]), "due": day(row["due_on"])}
    assert files.counts == {"customers": len(customers), "invoices": len(invoices), "payments": len(payments), "charges": len(charges), "events": len(events)}
    return Ledger(as_of, by_id, inv, payments, charges, events, lines)


def replay(ledger: Ledger) -> None:
    """The importer's rule: in (received_on, payment_id) order, a named invoice first,
    otherwise the customer's oldest open invoices by (due_on, issued_on, invoice_id)."""
    open_ = {i: v["amount"] for i, v in ledger.invoices.items()}
    per_customer = defaultdict(list)
    for i, v in ledger.invoices.items():
        per_customer[v["customer_id"]].append(i)
    order = sorted(ledger.payments, key=lambda p: (p["received_on"], p["payment_id"]))
    for p in order:
        received = day(p["received_on"])
        amount = money(p["amount"])
        cid = p["customer_id"]
        assert cid in ledger.customers
        assert received <= ledger.as_of
        if p["invoice_id"]:
            v = ledger.invoices[p["invoice_id"]]
            assert v["customer_id"] == cid
            assert received >= v["issued"]
            assert amount <= open_[p["invoice_id"]], f"{p['payment_id']} pays more than is open"
            open_[p["invoice_id"]] -= amount
            ledger.applied[p["invoice_id"]].append((received, amount))
            continue
        owed = sum((open_[i] for i in per_customer[cid] if ledger.invoices[i]["issued"] <= received), Decimal(0))
        assert amount <= owed, f"{p['payment_id']} pays more than the customer owes"
        rest = amount
        for i in sorted((i for i in per_customer[cid] if open_[i] > 0), key=lambda i: (ledger.invoices[i]["due_on"], ledger.invoices[i]["issued_on"], i)):
            take = min(rest, open_[i])
            assert ledger.invoices[i]["issued"] <= received
            open_[i] -= take
            ledger.applied[i].append((received, take))
            rest -= take
            if not rest:
                break
        assert rest == 0
    for i, value in open_.items():
        assert 0 <= value <= ledger.invoices[i]["amount"]


def aging(ledger: Ledger) -> Counter:
    buckets = Counter()
    for i, v in ledger.invoices.items():
        left = ledger.open_at(i, ledger.as_of)
        days = (ledger.as_of - v["due"]).days
        if left > 0 and days > 0:
            bucket = "1-30" if days <= 30 else "31-60" if days <= 60 else "61-90" if days <= 90 else "90+"
            buckets[bucket] += left
    return buckets


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[DemoFiles, Ledger]:
    files = generate_demo(tmp_path_factory.mktemp("demo"), customers=200, as_of=AS_OF)
    ledger = load(files, AS_OF)
    replay(ledger)
    return files, ledger


@pytest.fixture(scope="module")
def demo500(tmp_path_factory) -> tuple[DemoFiles, Ledger]:
    files = generate_demo(tmp_path_factory.mktemp("demo500"), customers=500, as_of=AS_OF, seed=7)
    ledger = load(files, AS_OF)
    replay(ledger)
    return files, ledger


# --------------------------------------------------------------------------- files


def test_same_arguments_give_byte_identical_files_and_another_seed_differs(demo, tmp_path):
    files, _ = demo
    again = generate_demo(tmp_path / "again", customers=200, as_of=AS_OF)
    other = generate_demo(tmp_path / "other", customers=200, as_of=AS_OF, seed=2027)
    for name in FILES:
        assert (files.customers.parent / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert again.counts == files.counts
    for name in FILES:
        assert (files.customers.parent / name).read_bytes() != (tmp_path / "other" / name).read_bytes(), name
    assert other.counts["customers"] == 200


def test_writes_the_five_files_and_nothing_else(demo):
    files, _ = demo
    directory = files.customers.parent
    assert sorted(p.name for p in directory.iterdir()) == sorted(FILES)
    assert [files.customers.name, files.invoices.name, files.payments.name, files.charges.name, files.events.name] == list(FILES)


def test_amounts_have_two_decimals_and_ids_are_unique(demo):
    _, ledger = demo
    for c in ledger.customers.values():
        money(c["credit_limit"])
    for p in ledger.payments:
        money(p["amount"])
    for ch in ledger.charges:
        money(ch["amount"])
    assert len({p["payment_id"] for p in ledger.payments}) == len(ledger.payments)
    assert len({c["charge_id"] for c in ledger.charges}) == len(ledger.charges)
    assert all(re.fullmatch(r"C\d{6}", c) for c in ledger.customers)
    assert all(re.fullmatch(r"INV-\d{4}-\d{6}", i) for i in ledger.invoices)
    assert all(re.fullmatch(r"PAY-\d{6}", p["payment_id"]) for p in ledger.payments)
    assert all(re.fullmatch(r"CH-\d{6}", c["charge_id"]) for c in ledger.charges)


def test_invoices_reference_customers_in_their_currency_and_dates_are_consistent(demo):
    _, ledger = demo
    for i, v in ledger.invoices.items():
        customer = ledger.customers[v["customer_id"]]
        assert v["issued"] <= v["due"]
        assert v["issued"] <= AS_OF
        assert (v["due"] - v["issued"]).days == int(customer["payment_terms_days"])
        assert v["currency"] == customer["currency"]
        assert i.startswith(f"INV-{v['issued'].year}-")
    # Every billed month has invoices; the oldest is about `months` months back.
    assert min(v["issued"] for v in ledger.invoices.values()) >= date(2026, 4, 1)
    months = Counter(v["issued_on"][:7] for v in ledger.invoices.values())
    assert all(months[m] > 100 for m in ("2026-04", "2026-05", "2026-06", "2026-07", "2026-08"))


def test_payment_ids_increase_with_the_received_date(demo):
    _, ledger = demo
    ids = [p["payment_id"] for p in ledger.payments]
    assert ids == sorted(ids)
    dates = [p["received_on"] for p in ledger.payments]
    assert dates == sorted(dates)


def test_payments_never_exceed_what_is_owed_and_some_are_unnamed_or_partial(demo):
    _, ledger = demo  # the fixture replayed the importer's rule and checked every payment
    unnamed = [p for p in ledger.payments if not p["invoice_id"]]
    assert 0 < len(unnamed) < len(ledger.payments) / 2
    partly_paid = [i for i in ledger.invoices if 0 < ledger.open_at(i, AS_OF) < ledger.invoices[i]["amount"]]
    assert partly_paid
    for i, v in ledger.invoices.items():
        assert sum((a for _, a in ledger.applied[i]), Decimal(0)) <= v["amount"]


def test_overdue_debt_in_every_age_bucket(demo):
    _, ledger = demo
    buckets = aging(ledger)
    for name in ("1-30", "31-60", "61-90", "90+"):
        assert buckets[name] > 0, (name, buckets)
    # And plenty paid on time: most invoices due before as_of are settled.
    due = [i for i, v in ledger.invoices.items() if v["due"] < AS_OF - timedelta(days=90)]
    settled = [i for i in due if ledger.open_at(i, AS_OF) == 0]
    assert 0.55 < len(settled) / len(due) < 0.95


def test_charges_are_this_months_deliveries_of_statement_customers(demo):
    _, ledger = demo
    assert ledger.charges
    for ch in ledger.charges:
        customer = ledger.customers[ch["customer_id"]]
        assert customer["settlement"] in ("monthly_statement", "per_receipt")
        delivered = day(ch["delivered_on"])
        assert delivered <= AS_OF
        assert delivered >= date(2026, 9, 1)
        assert ch["description"]
        if ch["receipt_received_on"]:
            assert customer["settlement"] == "per_receipt"
            assert delivered <= day(ch["receipt_received_on"]) <= AS_OF
    assert any(ch["delivered_on"].startswith("2026-10") for ch in ledger.charges)
    assert any(ch["receipt_received_on"] for ch in ledger.charges)


def test_customers_look_real(demo500):
    _, ledger = demo500
    names = [c["name"] for c in ledger.customers.values()]
    assert len(set(names)) == len(names)
    for c in ledger.customers.values():
        assert c["email"].isascii() and re.fullmatch(r"[a-z0-9.]+@[a-z0-9.-]+\.example\.[a-z]+", c["email"])
        assert c["collector"] in {f"c0{n}" for n in range(1, 7)}
        assert c["payment_terms_days"] in {"15", "30", "45", "60"}
        if c["locale"] == "zh_CN":
            assert c["country"] == "CN" and c["currency"] == "CNY"
            assert c["name"].endswith("公司") and CJK.search(c["name"])
            assert re.fullmatch(r"1[3-9]\d{9}", c["phone"])
            assert c["contact_title"] in ZH_TITLES
            assert 2 <= len(c["contact_name"]) <= 3 and CJK.match(c["contact_name"])
        else:
            assert c["locale"] == "en"
            assert c["country"] in {"US", "DE", "JP", "SG"}
            assert c["currency"] in {"CNY", "USD"}
            assert c["name"].isascii() and c["contact_name"].isascii()
            assert c["phone"].startswith("+")


def test_the_mix_is_roughly_as_specified(demo500):
    _, ledger = demo500
    n = len(ledger.customers)
    share = lambda column, value: sum(c[column] == value for c in ledger.customers.values()) / n  # noqa: E731
    assert 0.05 <= share("segment", "key") <= 0.20
    assert 0.60 <= share("segment", "ordinary") <= 0.80
    assert 0.06 <= share("segment", "high_risk") <= 0.20
    assert 0.03 <= share("segment", "small") <= 0.15
    assert 0.60 <= share("settlement", "monthly_statement") <= 0.80
    assert 0.08 <= share("settlement", "per_receipt") <= 0.25
    assert 0.08 <= share("settlement", "per_invoice") <= 0.25
    assert 0.55 <= share("payment_terms_days", "30") <= 0.85
    assert 0.01 <= share("locale", "en") <= 0.10
    payers = Counter(draw_profile(customer_rng(7, i)).payer for i in range(1, n + 1))
    assert 0.35 <= payers["a"] / n <= 0.55
    assert 0.20 <= payers["b"] / n <= 0.40
    assert 0.10 <= payers["c"] / n <= 0.25
    assert 0.04 <= payers["d"] / n <= 0.13
    # The hidden profile is what the customer row shows.
    for i in (1, 2, 3, 250, 500):
        profile = draw_profile(customer_rng(7, i))
        row = ledger.customers[f"C{i:06d}"]
        assert (row["segment"], row["settlement"], row["currency"]) == (profile.segment, profile.settlement, profile.currency)
    # Non-payers: customers with invoices due long ago and no payment at all.
    paying = {p["customer_id"] for p in ledger.payments}
    never = [c for c in ledger.customers if c not in paying]
    assert 0.04 <= len(never) / n <= 0.20
    # Key accounts are billed more than small firms.
    billed = defaultdict(Decimal)
    for v in ledger.invoices.values():
        if ledger.customers[v["customer_id"]]["currency"] == "CNY":
            billed[ledger.customers[v["customer_id"]]["segment"]] += v["amount"]
    count = Counter(c["segment"] for c in ledger.customers.values() if c["currency"] == "CNY")
    per = {s: billed[s] / count[s] for s in ("key", "small", "ordinary")}
    assert per["key"] > per["ordinary"] > per["small"]


# --------------------------------------------------------------------------- events

SHAPES = {
    "contact": ["kind", "customer_id", "on", "channel", "result", "note", "excuse"],
    "promise": ["kind", "customer_id", "on", "amount", "by", "invoices"],
    "dispute_open": ["kind", "invoice_id", "on", "reason"],
    "dispute_resolve": ["kind", "invoice_id", "on"],
}


def check_events(ledger: Ledger) -> dict[str, list[date]]:
    """Every event well-formed, sorted, referencing existing ids; disputed invoices unpaid meanwhile."""
    as_of = ledger.as_of
    assert ledger.lines == sorted(ledger.lines, key=lambda line: (json.loads(line)["on"], line))
    disputes: dict[str, list[date]] = {}
    for line, e in zip(ledger.lines, ledger.events, strict=True):
        assert list(e) == SHAPES[e["kind"]], line
        assert json.dumps(e, ensure_ascii=False) == line
        on = day(e["on"])
        assert on <= as_of
        if e["kind"] == "contact":
            customer = ledger.customers[e["customer_id"]]
            assert e["channel"] in {"phone", "email", "visit"}
            assert e["result"] in {"reached", "unreachable", "promised", "disputed", "refused"}
            assert e["excuse"] in EXCUSES
            assert isinstance(e["note"], str) and e["note"]
            if customer["locale"] == "en":
                assert e["note"].isascii()
            else:
                assert CJK.search(e["note"])
        elif e["kind"] == "promise":
            assert e["customer_id"] in ledger.customers
            amount = money(e["amount"])
            assert day(e["by"]) > on
            assert e["invoices"] and len(set(e["invoices"])) == len(e["invoices"])
            for i in e["invoices"]:
                assert ledger.invoices[i]["customer_id"] == e["customer_id"]
                assert ledger.invoices[i]["issued"] <= on
            assert amount <= sum(ledger.open_at(i, on) for i in e["invoices"]), line
        elif e["kind"] == "dispute_open":
            assert e["reason"]
            assert ledger.invoices[e["invoice_id"]]["issued"] <= on
            assert e["invoice_id"] not in disputes, "one dispute per invoice"
            disputes[e["invoice_id"]] = [on]
        else:
            assert e["invoice_id"] in disputes and len(disputes[e["invoice_id"]]) == 1
            assert on > disputes[e["invoice_id"]][0]
            disputes[e["invoice_id"]].append(on)
    # A disputed invoice is not paid while the dispute is open.
    for i, spell in disputes.items():
        start, end = spell[0], (spell[1] if len(spell) == 2 else as_of)
        assert not [d for d, _ in ledger.applied[i] if start <= d <= end], i
    return disputes


def test_events_are_well_formed_sorted_and_reference_existing_ids(demo):
    _, ledger = demo
    disputes = check_events(ledger)
    assert disputes
    assert 0.005 < len(disputes) / len(ledger.invoices) < 0.08, "a few % of invoices disputed"
    assert any(len(d) == 2 for d in disputes.values()) and any(len(d) == 1 for d in disputes.values())


def test_events_cover_excuses_promises_kept_broken_and_running(demo):
    _, ledger = demo
    contacts = [e for e in ledger.events if e["kind"] == "contact"]
    assert {e["excuse"] for e in contacts} == EXCUSES
    assert {e["channel"] for e in contacts} == {"phone", "email", "visit"}
    assert {e["result"] for e in contacts} == {"reached", "unreachable", "promised", "disputed", "refused"}
    promised_days = {(e["customer_id"], e["on"]) for e in contacts if e["result"] == "promised"}
    outcome = Counter()
    promises = [e for e in ledger.events if e["kind"] == "promise"]
    for e in promises:
        on, by = day(e["on"]), day(e["by"])
        paid = sum((a for i in e["invoices"] for d, a in ledger.applied[i] if on < d <= by), Decimal(0))
        if paid >= Decimal(e["amount"]):
            outcome["kept"] += 1
        elif by < AS_OF:
            outcome["broken"] += 1
        else:
            outcome["running"] += 1
    assert outcome["kept"] and outcome["broken"] and outcome["running"], outcome
    preceded = sum((e["customer_id"], e["on"]) in promised_days for e in promises)
    assert preceded >= 0.8 * len(promises)
    # Events are mostly about customers with overdue invoices, not the punctual ones.
    per_customer = Counter(e.get("customer_id") for e in contacts)
    assert len(per_customer) < 0.8 * len(ledger.customers)


# --------------------------------------------------------------------------- other dates, sizes


def test_an_early_month_as_of_across_a_year_end_stays_consistent(tmp_path):
    as_of = date(2027, 1, 3)
    files = generate_demo(tmp_path, customers=150, as_of=as_of, seed=11, months=4)
    ledger = load(files, as_of)
    replay(ledger)
    for v in ledger.invoices.values():
        assert v["issued"] <= as_of and v["issued"] >= date(2026, 9, 1)
    check_events(ledger)
    for ch in ledger.charges:
        assert day(ch["delivered_on"]) <= as_of
    for i, v in ledger.invoices.items():
        assert i.startswith(f"INV-{v['issued'].year}-")
    # December is not fully invoiced yet on Jan 3: its deliveries are still charges, with January's.
    assert {ch["delivered_on"][:7] for ch in ledger.charges} == {"2026-12", "2027-01"}


def test_zero_customers_writes_headers_only(tmp_path):
    calls = []
    files = generate_demo(tmp_path / "empty", customers=0, as_of=AS_OF, progress=calls.append)
    assert files.counts == {"customers": 0, "invoices": 0, "payments": 0, "charges": 0, "events": 0}
    assert files.customers.read_text(encoding="utf-8") == ",".join(CUSTOMER_COLUMNS) + "\n"
    assert files.payments.read_text(encoding="utf-8") == ",".join(PAYMENT_COLUMNS) + "\n"
    assert files.events.read_bytes() == b""
    assert sum(calls) == 0


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError):
        generate_demo(tmp_path, customers=-1, as_of=AS_OF)
    with pytest.raises(ValueError):
        generate_demo(tmp_path, customers=1, as_of=AS_OF, months=0)


def test_twenty_thousand_customers_with_progress(tmp_path):
    calls: list[int] = []
    files = generate_demo(tmp_path / "big", customers=20_000, as_of=AS_OF, progress=calls.append)
    assert sum(calls) == 20_000 and len(calls) >= 10
    assert files.counts["customers"] == 20_000
    for kind, path in (("customers", files.customers), ("invoices", files.invoices), ("payments", files.payments), ("charges", files.charges)):
        with path.open(encoding="utf-8") as f:
            assert sum(1 for _ in f) == files.counts[kind] + 1, kind
    with files.events.open(encoding="utf-8") as f:
        assert sum(1 for _ in f) == files.counts["events"]
    assert files.counts["invoices"] > 5 * 20_000
    assert files.counts["payments"] > 3 * 20_000
    assert not [p for p in (tmp_path / "big").iterdir() if p.name.startswith(".")], "temporary files removed"
