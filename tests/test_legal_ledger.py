"""The legal side read from a ledger, on explicit dates (issue #17): charges, limitation dates, the report, the case file.

The pure rules are tested in test_legal_domain.py; these check what the ledger
feeds them: a delivered letter restarts the period of the invoices it demanded,
an undelivered one does not, a confirmed statement and a part payment do, and the
charge follows the payments as received.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import tempfile
import zipfile
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdf
import pytest
import yaml
from typer.testing import CliRunner

from huikuan.cli import app
from huikuan.ledger.company import LegalSection
from huikuan.ledger.db import session_scope
from huikuan.legal.case_file import write_case_file
from huikuan.legal.report import limitation_rows
from huikuan.legal.standing import customer_standing
from models.charges import ChargeTerms
from models.enums import StatementState
from models.ledger import ActionTaken, Allocation, Customer, Invoice, OutboxMessage, Payment, Statement
from models.limitation import Restart
from models.policy import load_policy

D = dt.date
SHANGHAI = ZoneInfo("Asia/Shanghai")
TERMS = ChargeTerms(rate=Decimal("0.0005"), clause="合同第八条")


class EveryDayWorks:
    """A calendar where every day is a working day: the dates below are the rule's, unmoved."""

    def roll_forward(self, day: dt.date) -> dt.date:
        return day


def sent(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI)


def add_letter(session, key: str, kind: str, invoices: str, day: dt.date, *, delivered: bool) -> None:
    session.add(ActionTaken(key=key, customer_id="C1", action=kind, due_on=day, channel="letter", role="collector", invoices=invoices))
    session.add(
        OutboxMessage(
            key=f"{key}:letter",
            customer_id="C1",
            to_address="ap@huaxin.example",
            to_name="王会计",
            subject=f"{kind} {day}",
            text="请付款",
            attachment_name=f"{kind}-C1-{day}.pdf",
            attachment=b"%PDF-1.4 " + key.encode(),
            queued_at=sent(day, 9),
            sent_at=sent(day) if delivered else None,
        )
    )


def build(session, *, confirmed_statement: bool) -> None:
    session.add(Customer(customer_id="C1", name='华信=HYPERLINK("x")', country="CN"))
    session.flush()
    statement = Statement(
        customer_id="C1",
        month="2023-05",
        amount=Decimal("500.00"),
        prepared_on=D(2023, 6, 1),
        state=StatementState.confirmed if confirmed_statement else StatementState.sent,
        sent_on=D(2023, 6, 2),
        confirmed_on=D(2024, 8, 1) if confirmed_statement else None,
    )
    session.add(statement)
    session.flush()
    session.add_all(
        [
            Invoice(invoice_id="I1", customer_id="C1", issued_on=D(2022, 12, 10), due_on=D(2023, 1, 10), amount=Decimal("1000.00")),
            Invoice(invoice_id="I2", customer_id="C1", issued_on=D(2023, 5, 31), due_on=D(2023, 6, 30), amount=Decimal("500.00"), statement_id=statement.id),
            Invoice(invoice_id="I3", customer_id="C1", issued_on=D(2023, 5, 31), due_on=D(2023, 6, 30), amount=Decimal("80.00")),
            Payment(payment_id="P1", customer_id="C1", received_on=D(2024, 2, 1), amount=Decimal("100.00")),
            Payment(payment_id="P2", customer_id="C1", received_on=D(2023, 9, 1), amount=Decimal("80.00")),
        ]
    )
    session.flush()
    session.add_all(
        [Allocation(payment_id="P1", invoice_id="I2", amount=Decimal("100.00")), Allocation(payment_id="P2", invoice_id="I3", amount=Decimal("80.00"))]
    )
    add_letter(session, "C1:dunning_letter:2024-03-01", "dunning_letter", "I1", D(2024, 3, 1), delivered=True)
    add_letter(session, "C1:lawyer_letter:2024-05-06", "lawyer_letter", "I1;I2", D(2024, 5, 6), delivered=False)
    session.flush()


def standing(session, as_of: dt.date, terms: ChargeTerms | None = TERMS):
    return customer_standing(session, session.get(Customer, "C1"), as_of, terms=terms, working=EveryDayWorks())


def test_a_delivered_letter_a_part_payment_and_a_confirmation_restart_the_period_an_undelivered_letter_does_not(session):
    build(session, confirmed_statement=True)
    found = {i.invoice_id: i.limitation for i in standing(session, D(2024, 9, 1)).invoices}
    assert set(found) == {"I1", "I2"}  # I3 is paid
    assert found["I1"].expires_on == D(2027, 3, 1)  # the dunning letter reached them on 2024-03-01
    assert (found["I1"].restarted_by.kind, found["I1"].restarted_by.reference) == (Restart.demand_delivered, "C1:dunning_letter:2024-03-01:letter")
    assert found["I2"].expires_on == D(2027, 8, 1)  # the statement listing it was confirmed on 2024-08-01
    assert found["I2"].restarted_by.kind is Restart.statement_confirmed


def test_without_the_confirmation_the_part_payment_counts_and_the_unsent_lawyers_letter_does_not(session):
    build(session, confirmed_statement=False)
    found = {i.invoice_id: i.limitation for i in standing(session, D(2024, 9, 1)).invoices}
    assert found["I2"].expires_on == D(2027, 2, 1)
    assert (found["I2"].restarted_by.kind, found["I2"].restarted_by.reference) == (Restart.part_payment, "payment of 100.00")
    assert found["I1"].expires_on == D(2027, 3, 1)  # not 2027-05-06: that letter was never sent


def test_a_letter_sent_late_in_the_day_counts_on_the_company_s_calendar_day(session):
    build(session, confirmed_statement=False)
    session.get(OutboxMessage, 1).sent_at = dt.datetime(2024, 2, 29, 17, 30, tzinfo=dt.UTC)  # 2024-03-01 01:30 in Shanghai
    session.flush()
    i1 = next(i for i in standing(session, D(2024, 9, 1)).invoices if i.invoice_id == "I1")
    assert i1.limitation.expires_on == D(2027, 3, 1)


def test_the_charge_follows_the_open_principal_from_each_payment_s_date(session):
    build(session, confirmed_statement=False)
    i2 = next(i for i in standing(session, D(2024, 3, 1)).invoices if i.invoice_id == "I2")
    # 2023-07-01..2024-01-31: 215 days on 500.00; 2024-02-01..2024-03-01: 30 days on 400.00; 0.05% a day.
    assert [(p.first, p.last, p.principal) for p in i2.charge.periods] == [
        (D(2023, 7, 1), D(2024, 1, 31), Decimal("500.00")),
        (D(2024, 2, 1), D(2024, 3, 1), Decimal("400.00")),
    ]
    assert i2.charge.amount == Decimal("59.75")
    assert i2.claim == Decimal("459.75")
    capped = ChargeTerms(rate=Decimal("0.0005"), cap_ratio=Decimal("0.10"))
    i1 = next(i for i in standing(session, D(2024, 3, 1), capped).invoices if i.invoice_id == "I1")
    assert (i1.charge.amount, i1.charge.capped) == (Decimal("100.00"), True)
    assert all(i.charge is None and i.claim == i.open_amount for i in standing(session, D(2024, 3, 1), None).invoices)


def test_the_company_file_gives_the_terms_and_a_customer_s_imported_contract_overrides_them():
    from huikuan.ledger.company import EXAMPLE, Company
    from huikuan.legal.standing import terms_for

    company = Company.model_validate({**yaml.safe_load(EXAMPLE), "legal": {"charges": {"rate": "0.0005", "cap_ratio": "0.3", "clause": "合同第八条"}}})
    standard = ChargeTerms(rate=Decimal("0.0005"), cap_ratio=Decimal("0.3"), clause="合同第八条")
    assert terms_for(Customer(customer_id="C1", name="a"), company) == standard
    assert terms_for(Customer(customer_id="C1", name="a"), None) is None
    assert terms_for(Customer(customer_id="C2", name="b", late_charge_rate="none"), company) is None
    own = terms_for(Customer(customer_id="C3", name="c", late_charge_rate="6%/year", late_charge_cap="5000.00", contract_clause="第十二条"), company)
    assert own == ChargeTerms(rate=Decimal("0.06"), per="year", cap_amount=Decimal("5000.00"), clause="第十二条")
    assert terms_for(Customer(customer_id="C4", name="d", contract_clause="第九条"), company).clause == "第九条"
    with pytest.raises(ValueError, match="rate"):
        LegalSection.model_validate({"charges": {"rate": "-0.1"}})


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("0.05%/day", "0.05%/day"), ("0.050%/日", "0.05%/day"), ("6%/year", "6%/year"), ("6 %/年", "6%/year"), ("none", "none"), ("无", "none")],
)
def test_rates_as_contracts_write_them(text, canonical):
    from models.charges import parse_rate

    assert parse_rate(text) == canonical


@pytest.mark.parametrize("text", ["0.0005", "5%", "0.05%/month", "-1%/day", "=1+1", "１%/day"])
def test_a_rate_that_is_not_one_is_refused(text):
    from models.charges import parse_rate

    with pytest.raises(ValueError, match="is not a rate"):
        parse_rate(text)


def test_the_limitation_report_lists_debts_by_expiry_and_marks_expired_and_warned_ones(session):
    build(session, confirmed_statement=True)

    class Context:
        company = None
        policy = load_policy("handbook")

        def calendar(self, country):
            return EveryDayWorks()

    rows = limitation_rows(session, D(2027, 6, 1), Context())
    assert [(r[2], r[6], r[7], r[9]) for r in rows] == [("I1", D(2027, 3, 1), -92, "expired"), ("I2", D(2027, 8, 1), 61, "warn")]
    assert limitation_rows(session, D(2025, 1, 1), Context()) == []  # nothing expires within a year


def test_the_case_file_lists_every_document_with_its_hash_and_reads_back(session, tmp_path):
    build(session, confirmed_statement=True)
    found = standing(session, D(2024, 9, 1))
    case = write_case_file(session, found, session.get(Customer, "C1"), company_name="示例贸易有限公司", zone=SHANGHAI, out=tmp_path)
    index = list(csv.DictReader(io.StringIO((case.folder / "index.csv").read_text(encoding="utf-8-sig"))))
    on_disk = sorted(str(p.relative_to(case.folder)) for p in case.folder.rglob("*") if p.is_file() and p.name not in ("index.csv", "index.md"))
    assert sorted(row["file"] for row in index) == on_disk
    for row in index:
        assert hashlib.sha256((case.folder / row["file"]).read_bytes()).hexdigest() == row["sha256"], row["file"]
    assert "documents/dunning_letter-C1-2024-03-01.pdf" in on_disk and "documents/lawyer_letter-C1-2024-05-06.pdf" in on_disk
    documents = {row["file"]: row for row in csv.DictReader(io.StringIO((case.folder / "documents.csv").read_text(encoding="utf-8-sig")))}
    letter = documents["documents/dunning_letter-C1-2024-03-01.pdf"]
    assert letter["sha256"] == hashlib.sha256(b"%PDF-1.4 C1:dunning_letter:2024-03-01").hexdigest()
    assert letter["delivered_at"] == "2024-03-01T10:00:00+08:00" and letter["demand"] == "yes"
    assert documents["documents/lawyer_letter-C1-2024-05-06.pdf"]["delivered_at"] == "not sent"
    invoices = list(csv.DictReader(io.StringIO((case.folder / "invoices.csv").read_text(encoding="utf-8-sig"))))
    assert [(r["invoice_id"], r["open"], r["expires_on"], r["restarted_by"]) for r in invoices] == [
        ("I1", "1000.00", "2027-03-01", "demand_delivered"),
        ("I2", "400.00", "2027-08-01", "statement_confirmed"),
    ]
    text = "".join(pypdf.PdfReader(case.folder / "summary.pdf").pages[0].extract_text().split())
    for part in ("案件摘要", "¥1,400.00", f"¥{found.charge_total:,.2f}", f"¥{found.claim_total:,.2f}", "2027-03-01", "合同第八条"):
        assert part in text, part
    assert "\\=HYPERLINK" in (case.folder / "summary.md").read_text(encoding="utf-8")  # the customer's name is data
    with zipfile.ZipFile(case.archive) as bundle:
        assert sorted(bundle.namelist()) == sorted(f"case-C1-2024-09-01/{p}" for p in [*on_disk, "index.csv", "index.md"])


@pytest.fixture
def cli_ledger(cli_env):
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    with session_scope() as session:
        build(session, confirmed_statement=True)
    return cli_env


def test_the_commands_show_the_standing_write_the_case_and_report_limitation(cli_ledger):
    runner = CliRunner()
    shown = runner.invoke(app, ["customers", "show", "C1", "--as-of", "2024-09-01"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    assert "法律状态（截至2024年9月1日）" in shown.output and "2027-03-01" in shown.output and "2024年8月1日对账单确认" in shown.output
    case = runner.invoke(app, ["case", "C1", "--out", str(cli_ledger / "cases"), "--as-of", "2024-09-01"], catch_exceptions=False)
    assert case.exit_code == 0, case.output
    assert (cli_ledger / "cases" / "case-C1-2024-09-01.zip").is_file()
    missing = runner.invoke(app, ["case", "C404"])
    assert missing.exit_code == 1 and "unknown customer C404" in missing.output
    report = runner.invoke(app, ["report", "limitation", "--as-of", "2027-06-01", "--format", "csv"], catch_exceptions=False)
    assert report.exit_code == 0, report.output
    lines = report.output.strip().splitlines()
    assert lines[0].startswith("customer_id,customer,invoice_id,due_on,open,charge,expires_on,days_left,restarted_by,status")
    assert lines[1].split(",")[2] == "I1" and lines[1].endswith("expired")


def test_a_posted_letter_restarts_the_period_from_the_day_the_courier_delivered_it(session):
    from huikuan.legal.delivery import record_letter_delivery

    build(session, confirmed_statement=False)
    # The lawyer's letter was never emailed; the paper copy was signed for on 2024-05-10.
    delivery, new = record_letter_delivery(
        session, "C1:lawyer_letter:2024-05-06", tracking_no="SF1234567890", courier="顺丰", delivered_on=D(2024, 5, 10), today=D(2024, 9, 1), by="li"
    )
    assert new and delivery.document_key == "C1:lawyer_letter:2024-05-06:letter"
    found = {i.invoice_id: i.limitation for i in standing(session, D(2024, 9, 1)).invoices}
    assert found["I1"].expires_on == found["I2"].expires_on == D(2027, 5, 10)
    assert found["I2"].restarted_by.reference == "C1:lawyer_letter:2024-05-06:letter (courier)"
    before = {i.invoice_id: i.limitation.expires_on for i in standing(session, D(2024, 5, 9)).invoices}
    assert before == {"I1": D(2027, 3, 1), "I2": D(2027, 2, 1)}  # not known the day before
    again, new = record_letter_delivery(
        session, "C1:lawyer_letter:2024-05-06:letter", tracking_no="SF1234567890", delivered_on=D(2024, 5, 10), today=D(2024, 9, 1)
    )
    assert again.id == delivery.id and not new
    case = write_case_file(
        session,
        standing(session, D(2024, 9, 1)),
        session.get(Customer, "C1"),
        company_name="示例",
        zone=SHANGHAI,
        out=Path(session.info.setdefault("tmp", tempfile.mkdtemp())),
    )
    rows = {row["kind"]: row for row in csv.DictReader(io.StringIO((case.folder / "documents.csv").read_text(encoding="utf-8-sig")))}
    assert (rows["lawyer_letter"]["posted_delivered_on"], rows["lawyer_letter"]["courier"], rows["lawyer_letter"]["tracking_no"]) == (
        "2024-05-10",
        "顺丰",
        "SF1234567890",
    )


@pytest.mark.parametrize(
    ("key", "tracking", "on", "message"),
    [
        ("C1:lawyer_letter:2024-05-06", "SF1234567890", D(2024, 5, 11), "already recorded delivered on 2024-05-10"),
        ("C1:lawyer_letter:2024-05-07", "SF1", D(2024, 5, 10), "is not a tracking number"),
        ("C1:lawyer_letter:2024-05-07", "SF1234567890", D(2024, 5, 10), "no letter C1:lawyer_letter:2024-05-07"),
        ("C1:dunning_letter:2024-03-01", "SF1234567891", D(2024, 2, 20), "not between the day the letter was made"),
        ("C1:dunning_letter:2024-03-01", "SF1234567891", D(2024, 9, 2), "not between the day the letter was made"),
        ("C1:dunning_letter:2024-03-01", "=cmd|' /C calc'!A0", D(2024, 3, 5), "is not a tracking number"),
    ],
)
def test_a_delivery_that_cannot_be_right_is_refused(session, key, tracking, on, message):
    from huikuan.ledger.records import LedgerError
    from huikuan.legal.delivery import record_letter_delivery

    build(session, confirmed_statement=False)
    record_letter_delivery(session, "C1:lawyer_letter:2024-05-06", tracking_no="SF1234567890", delivered_on=D(2024, 5, 10), today=D(2024, 9, 1))
    with pytest.raises(LedgerError, match=re.escape(message)):
        record_letter_delivery(session, key, tracking_no=tracking, delivered_on=on, today=D(2024, 9, 1))


def test_letter_delivered_on_the_command_line(cli_ledger, monkeypatch):
    runner = CliRunner()
    done = runner.invoke(app, ["letter", "delivered", "C1:lawyer_letter:2024-05-06", "--tracking-no", "EMS-98765", "--on", "2024-05-09"])
    assert done.exit_code == 0, done.output
    assert "recorded: C1:lawyer_letter:2024-05-06:letter delivered on 2024-05-09" in done.output
    again = runner.invoke(app, ["letter", "delivered", "C1:lawyer_letter:2024-05-06", "--tracking-no", "EMS-98765", "--on", "2024-05-09"])
    assert again.exit_code == 0 and "already recorded" in again.output
    wrong = runner.invoke(app, ["letter", "delivered", "C1:nothing", "--tracking-no", "EMS-98765", "--on", "2024-05-09"])
    assert wrong.exit_code == 1 and "no letter C1:nothing" in wrong.output and "Traceback" not in wrong.output
