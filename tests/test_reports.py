"""Reports (PROCESS §7) over a small ledger whose every number is computed by hand below."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from sqlalchemy import update

from huikuan.ledger.importer import import_files
from huikuan.reports.builders import REPORTS, Ratio, Report, aging, kpis, pending_approvals, statement_status, to_csv, to_markdown, to_xlsx
from models.enums import ApprovalState, CustomerStatus
from models.ledger import Approval, Customer, Statement
from models.metrics import bad_debt_ratio, collection_effectiveness, dso_count_back, overdue_ratio, target_progress
from tests.ledger_files import write_files

D = dt.date
M = Decimal
AS_OF = D(2026, 3, 15)  # 2026 is not a leap year: February has 28 days

# Customers: A ordinary/zhang, B key/li, C high_risk/zhang (blacklisted below), D ordinary/li.
# Invoices (issued, due, amount) and their state on 2026-03-15:
#   I1  A 03-05 due 04-04 1000  open 1000, not due                         (March sales)
#   I2  A 02-10 due 03-12 2000  P1 500 on 03-10 -> open 1500, 3 days over   (Feb sales)
#   I3  B 01-10 due 02-09 3000  P2 1200 on 03-05 -> open 1800, 19+15 = 34 days  (Jan sales)
#   I4  B 12-01 due 12-31 4000  P6 1000 on 03-20 is after as_of -> open 4000, 31+28+15 = 74 days (Dec sales)
#   I5  C 2025-08-01 due 08-31 500  open 500, 30+31+30+31+31+28+15 = 196 days (Aug sales)
#   I6  C 2025-10-01 due 10-31 700  open 700, 30+31+31+28+15 = 135 days (Oct sales)
#   I7  D 03-01 due 03-06 600   P3 100 on 03-14 -> open 500, 9 days over    (March sales)
#   I8  D 02-01 due 03-03 800   P4 800 on 03-02 -> closed                  (Feb sales)
#   I9  A 03-16 (after as_of) 999 -> ignored everywhere
#   I10 A 01-20 due 02-19 400   P5 400 on 02-25 -> closed                  (Jan sales)
# Open on 03-15: 1000+1500+1800+4000+500+700+500 = 10000; not due 1000 (I1); overdue 9000.
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,segment,collector\n"
    "A,华信,a@x.cn,1,王,ordinary,zhang\nB,恒达,b@x.cn,2,李,key,li\nC,远洋,c@x.cn,3,陈,high_risk,zhang\nD,大河,d@x.cn,4,赵,ordinary,li\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount\n"
    "I1,A,2026-03-05,2026-04-04,1000.00\nI2,A,2026-02-10,2026-03-12,2000.00\nI3,B,2026-01-10,2026-02-09,3000.00\n"
    "I4,B,2025-12-01,2025-12-31,4000.00\nI5,C,2025-08-01,2025-08-31,500.00\nI6,C,2025-10-01,2025-10-31,700.00\n"
    "I7,D,2026-03-01,2026-03-06,600.00\nI8,D,2026-02-01,2026-03-03,800.00\nI9,A,2026-03-16,2026-04-15,999.00\n"
    "I10,A,2026-01-20,2026-02-19,400.00\n",
    "payments": "payment_id,customer_id,received_on,amount,invoice_id\n"
    "P1,A,2026-03-10,500.00,I2\nP2,B,2026-03-05,1200.00,I3\nP3,D,2026-03-14,100.00,I7\nP4,D,2026-03-02,800.00,I8\n"
    "P5,A,2026-02-25,400.00,I10\nP6,B,2026-03-20,1000.00,I4\n",
}


@pytest.fixture
def ledger(tmp_path, session):
    paths = write_files(tmp_path, FILES)
    import_files(session, paths)
    session.execute(update(Customer).where(Customer.customer_id == "C").values(status=CustomerStatus.blacklisted))
    session.commit()
    return session


def rows_by_first(report: Report) -> dict:
    return {row[0]: row[1:] for row in report.rows}


# -- models/metrics.py -----------------------------------------------------------


def test_dso_count_back_textbook():
    # 150,000 open; last month 100,000 over 30 days, the month before 80,000 over 31:
    # 30 + 50,000 / 80,000 x 31 = 30 + 19.375 = 49.38
    assert dso_count_back(M("150000"), [(30, M("100000")), (31, M("80000"))]) == M("49.38")
    # less than the first month's sales: 30,000 / 100,000 x 30 = 9.00
    assert dso_count_back(M("30000"), [(30, M("100000"))]) == M("9.00")
    # exactly the first month: 30 days
    assert dso_count_back(M("100000"), [(30, M("100000")), (31, M("80000"))]) == M("30.00")
    # a month without sales adds its days: 15 + 28 + 100/200 x 31 = 58.50
    assert dso_count_back(M("100"), [(15, M("0")), (28, M("0")), (31, M("200"))]) == M("58.50")
    # more than all sales given: all the days, nothing more
    assert dso_count_back(M("999999"), [(30, M("100")), (31, M("100"))]) == M("61.00")
    assert dso_count_back(M("0"), [(30, M("100"))]) == M("0.00")


def test_ratios():
    assert overdue_ratio(M("9000"), M("10000")) == M("0.9000")
    assert bad_debt_ratio(M("1"), M("3")) == M("0.3333")
    assert overdue_ratio(M("5"), M("0")) == M("0") and bad_debt_ratio(M("0"), M("0")) == M("0")


def test_collection_effectiveness():
    # textbook: beginning 100,000, sales 50,000, ending 60,000, ending current 40,000:
    # (150,000 - 60,000) / (150,000 - 40,000) x 100 = 90,000 / 110,000 x 100 = 81.82
    assert collection_effectiveness(M("100000"), M("50000"), M("60000"), M("40000")) == M("81.82")
    assert collection_effectiveness(M("100"), M("0"), M("0"), M("0")) == M("100.00")
    assert collection_effectiveness(M("0"), M("0"), M("0"), M("0")) is None


def test_target_progress():
    # 70% of 8,200 = 5,740; 1,200 collected = 0.20905 -> 0.2091
    assert target_progress(M("8200"), M("1200")) == (M("5740.00"), M("0.2091"))
    assert target_progress(M("1000"), M("350"), share=M("0.50")) == (M("500.00"), M("0.7000"))
    assert target_progress(M("0"), M("0")) == (M("0.00"), M("0"))


# -- aging -----------------------------------------------------------------------


def test_aging_by_customer(ledger):
    report = aging(ledger, AS_OF)
    assert report.columns == ["customer_id", "customer", "not due", "1-30", "31-60", "61-90", "91-180", "over 180", "total"]
    z = M("0")
    assert rows_by_first(report) == {
        "A": ["华信", M("1000"), M("1500"), z, z, z, z, M("2500")],  # I1 not due, I2 3 days
        "B": ["恒达", z, z, M("1800"), M("4000"), z, z, M("5800")],  # I3 34 days, I4 74 days
        "C": ["远洋", z, z, z, z, M("700"), M("500"), M("1200")],  # I6 135 days, I5 196 days
        "D": ["大河", z, M("500"), z, z, z, z, M("500")],  # I7 9 days
        "total": ["", M("1000"), M("2000"), M("1800"), M("4000"), M("700"), M("500"), M("10000")],
    }
    assert report.rows[-1][0] == "total"


def test_aging_by_segment_collector_and_credit_buckets(ledger):
    z = M("0")
    segment = aging(ledger, AS_OF, by="segment")
    assert rows_by_first(segment) == {  # ordinary = A + D, key = B, high_risk = C
        "high_risk": [z, z, z, z, M("700"), M("500"), M("1200")],
        "key": [z, z, M("1800"), M("4000"), z, z, M("5800")],
        "ordinary": [M("1000"), M("2000"), z, z, z, z, M("3000")],
        "total": [M("1000"), M("2000"), M("1800"), M("4000"), M("700"), M("500"), M("10000")],
    }
    collector = aging(ledger, AS_OF, by="collector")
    assert rows_by_first(collector) == {  # zhang = A + C, li = B + D
        "li": [z, M("500"), M("1800"), M("4000"), z, z, M("6300")],
        "zhang": [M("1000"), M("1500"), z, z, M("700"), M("500"), M("3700")],
        "total": [M("1000"), M("2000"), M("1800"), M("4000"), M("700"), M("500"), M("10000")],
    }
    credit = aging(ledger, AS_OF, buckets="credit")
    assert credit.columns[2:] == ["not due", "1-15", "16-30", "31-60", "over 60", "total"]
    assert rows_by_first(credit) == {
        "A": ["华信", M("1000"), M("1500"), z, z, z, M("2500")],  # I2 3 days
        "B": ["恒达", z, z, z, M("1800"), M("4000"), M("5800")],  # 34 and 74 days
        "C": ["远洋", z, z, z, z, M("1200"), M("1200")],
        "D": ["大河", z, M("500"), z, z, z, M("500")],  # 9 days
        "total": ["", M("1000"), M("2000"), z, M("1800"), M("5200"), M("10000")],
    }


def test_aging_per_currency(ledger, tmp_path):
    path = tmp_path / "usd.csv"
    path.write_text("invoice_id,customer_id,issued_on,due_on,amount,currency\nU1,B,2026-03-01,2026-03-10,250.00,USD\n", encoding="utf-8")
    import_files(ledger, {"invoices": path})
    report = aging(ledger, AS_OF, by="segment")
    assert report.columns[0] == "currency"
    assert [r[:2] + r[-1:] for r in report.rows if r[1] == "total"] == [["CNY", "total", M("10000")], ["USD", "total", M("250")]]
    assert ["USD", "key", M("0"), M("250"), M("0"), M("0"), M("0"), M("0"), M("250")] in report.rows  # 5 days over


# -- KPIs ------------------------------------------------------------------------


def test_kpis(ledger):
    report = kpis(ledger, AS_OF)
    values = dict(report.rows)
    assert values["total open"] == M("10000")
    assert values["overdue open"] == M("9000")
    assert values["overdue ratio"] == M("0.9000") and isinstance(values["overdue ratio"], Ratio)
    # bad debt: I5 (196 days, also blacklisted) 500 + I6 (blacklisted C, 135 days) 700 = 1200 / 10000
    assert values["bad debt"] == M("1200")
    assert values["bad-debt ratio"] == M("0.1200")
    # count-back of 10000: March to date (15 days) 1000+600 = 1600 -> 8400 left, 15 days;
    # February (28) 2000+800 = 2800 -> 5600, 43 days; January (31) 3000+400 = 3400 -> 2200, 74 days;
    # December (31) 4000 > 2200: 2200/4000 x 31 = 17.05 -> 91.05
    assert values["DSO (days, count-back)"] == M("91.05")
    # beginning AR (open 02-28): I2 2000 + I3 3000 + I4 4000 + I5 500 + I6 700 + I8 800 = 11000 (I10 paid 02-25)
    # credit sales March to date 1600; ending 10000; ending current 1000 (I1)
    # CEI = (11000 + 1600 - 10000) / (11000 + 1600 - 1000) x 100 = 2600 / 11600 x 100 = 22.41
    assert values["CEI month to date (%)"] == M("22.41")
    # overdue on 02-28: I3 3000 + I4 4000 + I5 500 + I6 700 = 8200 (I2 due 03-12, I8 due 03-03 not yet)
    # target 70% = 5740; collected on those in March: P2 1200 on I3 (P1, P3, P4 went to invoices not overdue then;
    # P6 is after as_of) -> 1200 / 5740 = 0.2091
    assert values["overdue at start of month"] == M("8200")
    assert values["month target (70% of overdue at start)"] == M("5740.00")
    assert values["collected on that overdue"] == M("1200")
    assert values["target progress"] == M("0.2091")
    assert any("count-back" in n for n in report.notes) and any("blacklisted" in n for n in report.notes)


def test_kpis_on_an_empty_ledger(sqlite_engine):
    from sqlalchemy.orm import Session

    with Session(sqlite_engine) as session:
        values = dict(kpis(session, AS_OF).rows)
    assert values["total open"] == 0 and values["overdue ratio"] == 0 and values["DSO (days, count-back)"] == 0
    assert values["CEI month to date (%)"] is None


# -- statements and approvals ------------------------------------------------------------


def test_statement_status(ledger):
    def add(customer, month, prepared, sent=None, confirmed=None, invoiced=None):
        ledger.add(
            Statement(customer_id=customer, month=month, amount=M("1.00"), prepared_on=prepared, sent_on=sent, confirmed_on=confirmed, invoiced_on=invoiced)
        )

    # 2026-01: deadlines 02-05, 02-08 (a Sunday: met on Monday 02-09, as the policy moves it), 02-20 and 02-28 (the 30th does not exist in February)
    add("A", "2026-01", D(2026, 2, 4), D(2026, 2, 9), D(2026, 2, 18), D(2026, 2, 27))  # sent on the moved deadline: not late
    add("B", "2026-01", D(2026, 2, 6), D(2026, 2, 8))  # prepared late; confirm and invoice missing, deadlines passed
    # 2026-02: deadlines 03-05, 03-08, 03-20, 03-30; as of 03-15 only the first two have passed
    add("A", "2026-02", D(2026, 3, 5), D(2026, 3, 7))  # on time, not confirmed yet (not late)
    add("B", "2026-02", D(2026, 3, 6))  # prepared late, not sent (late)
    add("D", "2026-02", D(2026, 3, 16))  # prepared after as_of: not prepared by 03-15 -> late; not sent -> late
    add("A", "2026-04", D(2026, 5, 1))  # a later billing month: not in the report
    ledger.commit()
    report = statement_status(ledger, AS_OF)
    assert report.columns == [
        "month",
        "statements",
        "prepared",
        "sent",
        "confirmed",
        "invoiced",
        "prepared late",
        "sent late",
        "confirmed late",
        "invoiced late",
    ]
    assert report.rows == [["2026-01", 2, 2, 2, 1, 1, 1, 0, 1, 1], ["2026-02", 3, 2, 1, 0, 0, 2, 2, 0, 0]]
    assert any("holiday" in n for n in report.notes)


def test_pending_approvals(ledger):
    def add(key, customer, action, state, on, reminders=0, refusals=0):
        ledger.add(
            Approval(key=key, customer_id=customer, action=action, approver_role="boss", state=state, requested_on=on, reminders=reminders, refusals=refusals)
        )

    add("k1", "B", "stop_shipment", ApprovalState.requested, D(2026, 3, 1), reminders=2, refusals=1)
    add("k2", "C", "lawyer_letter", ApprovalState.requested, D(2026, 3, 10))
    add("k3", "A", "stop_shipment", ApprovalState.approved, D(2026, 3, 2))
    add("k4", "D", "stop_shipment", ApprovalState.requested, D(2026, 3, 20))  # after as_of
    ledger.commit()
    report = pending_approvals(ledger, AS_OF)
    assert [row[1:] for row in report.rows] == [
        ["B", "恒达", "stop_shipment", "boss", D(2026, 3, 1), 14, 2, 1],
        ["C", "远洋", "lawyer_letter", "boss", D(2026, 3, 10), 5, 0, 0],
    ]


# -- the registry and rendering ------------------------------------------------------------


def test_every_registered_report_builds(ledger):
    assert set(REPORTS) == {"aging", "aging-segment", "aging-collector", "aging-credit", "kpis", "statements", "approvals", "limitation"}
    for name, build in REPORTS.items():
        report = build(ledger, AS_OF)
        assert report.name == name and report.as_of == AS_OF and report.notes


def test_markdown(ledger):
    text = to_markdown(aging(ledger, AS_OF))
    assert "## Aging by customer" in text
    assert "| total |  | 1,000.00 | 2,000.00 | 1,800.00 | 4,000.00 | 700.00 | 500.00 | 10,000.00 |" in text
    assert "| A | 华信 | 1,000.00 | 1,500.00 |" in text
    kpi_text = to_markdown(kpis(ledger, AS_OF))
    assert "| overdue ratio | 90.00% |" in kpi_text and "| target progress | 20.91% |" in kpi_text
    assert "| DSO (days, count-back) | 91.05 |" in kpi_text


def test_csv_parses_back(ledger):
    rows = list(csv.reader(io.StringIO(to_csv(aging(ledger, AS_OF)))))
    assert rows[0][:3] == ["customer_id", "customer", "not due"]
    assert rows[-1] == ["total", "", "1000.00", "2000.00", "1800.00", "4000.00", "700.00", "500.00", "10000.00"]
    values = dict(list(csv.reader(io.StringIO(to_csv(kpis(ledger, AS_OF)))))[1:])
    assert values["overdue ratio"] == "0.9000" and values["DSO (days, count-back)"] == "91.05"


def test_xlsx(ledger, tmp_path):
    from openpyxl import load_workbook

    path = to_xlsx(kpis(ledger, AS_OF), tmp_path / "kpis.xlsx")
    sheet = load_workbook(path).active
    assert [c.value for c in sheet[1]] == ["measure", "value"]
    assert sheet["A1"].font.bold
    assert sheet["A2"].value == "total open" and sheet["B2"].value == 10000
    assert sheet["B4"].value == pytest.approx(0.9) and sheet["B4"].number_format == "0.00%"
    texts = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True) if row[0]]
    assert any("count-back" in t for t in texts)
