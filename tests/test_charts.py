"""The management report's month-end series and charts, over a small ledger computed by hand below."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from matplotlib.image import imread
from sqlalchemy import update

from huikuan.ledger.importer import import_files
from huikuan.reports.charts import TargetPoint, aging_chart, aging_over_time, collected_vs_target, dso_chart, dso_trend, month_ends, target_chart
from models.enums import CustomerStatus
from models.ledger import Customer

D = dt.date
M = Decimal
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BUCKETS = ("not due", "1-30", "31-60", "61-90", "91-180", "over 180")

# Customers: A ordinary/zhang, B key/li, C high_risk/zhang (blacklisted), D ordinary/li.
# Invoices in CNY (issued, due, amount) and payments (received, amount):
#   I1 A 2025-11-10 due 12-10 1000   P1 400 on 2026-02-15
#   I2 B 2025-12-05 due 01-04 3000   P2 1000 on 01-20, P3 2000 on 03-10 (closed)
#   I3 C 2025-08-01 due 08-31 500    never paid
#   I4 D 2026-01-15 due 02-14 2000   P4 2000 on 02-10, before it fell due (closed)
#   I5 A 2026-02-01 due 03-03 1500   P5 500 on 03-20
#   I6 B 2026-03-05 due 04-04 800    open
#   I7 D 2026-02-20 due 02-25 600    P6 600 on 2026-04-01, after the end of March
#   U1 B 2026-01-10 due 02-09 250 USD, open: never in a CNY series
# Credit sales (CNY) by month: 2025-08 500, 2025-11 1000, 2025-12 3000, 2026-01 2000,
# 2026-02 2100 (I5 + I7), 2026-03 800; none in 2025-09 and 2025-10.
FILES = {
    "customers": "customer_id,name,email,phone,contact_name,segment,collector\n"
    "A,华信,a@x.cn,1,王,ordinary,zhang\nB,恒达 & Co <HK>,b@x.cn,2,李,key,li\nC,远洋,c@x.cn,3,陈,high_risk,zhang\n"
    "D,大河,d@x.cn,4,赵,ordinary,li\n",
    "invoices": "invoice_id,customer_id,issued_on,due_on,amount,currency\n"
    "I1,A,2025-11-10,2025-12-10,1000.00,CNY\nI2,B,2025-12-05,2026-01-04,3000.00,CNY\nI3,C,2025-08-01,2025-08-31,500.00,CNY\n"
    "I4,D,2026-01-15,2026-02-14,2000.00,CNY\nI5,A,2026-02-01,2026-03-03,1500.00,CNY\nI6,B,2026-03-05,2026-04-04,800.00,CNY\n"
    "I7,D,2026-02-20,2026-02-25,600.00,CNY\nU1,B,2026-01-10,2026-02-09,250.00,USD\n",
    "payments": "payment_id,customer_id,received_on,amount,invoice_id\n"
    "P1,A,2026-02-15,400.00,I1\nP2,B,2026-01-20,1000.00,I2\nP3,B,2026-03-10,2000.00,I2\nP4,D,2026-02-10,2000.00,I4\n"
    "P5,A,2026-03-20,500.00,I5\nP6,D,2026-04-01,600.00,I7\n",
}
END = D(2026, 3, 31)


def load(session, folder) -> None:
    """Import FILES into the (empty) ledger of ``session`` and blacklist C."""
    paths = {}
    for kind, text in FILES.items():
        paths[kind] = folder / f"{kind}.csv"
        paths[kind].write_text(text, encoding="utf-8")
    import_files(session, paths)
    session.execute(update(Customer).where(Customer.customer_id == "C").values(status=CustomerStatus.blacklisted))
    session.commit()


@pytest.fixture
def ledger(tmp_path, session):
    load(session, tmp_path)
    return session


def buckets(*amounts) -> dict[str, Decimal]:
    return dict(zip(BUCKETS, (M(a) for a in amounts), strict=True))


# -- month ends (pure) -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "months", "expected"),
    [
        (D(2026, 4, 1), 3, [D(2026, 1, 31), D(2026, 2, 28), D(2026, 3, 31)]),
        (D(2026, 3, 31), 2, [D(2026, 2, 28), D(2026, 3, 31)]),  # a month end is its own last month end
        (D(2026, 3, 30), 1, [D(2026, 2, 28)]),
        (D(2024, 3, 15), 2, [D(2024, 1, 31), D(2024, 2, 29)]),  # leap year
        (D(2026, 1, 10), 2, [D(2025, 11, 30), D(2025, 12, 31)]),  # across the year
    ],
)
def test_month_ends(as_of, months, expected):
    assert month_ends(as_of, months) == expected


def test_month_ends_default_and_refusal():
    ends = month_ends(D(2026, 4, 1))
    assert len(ends) == 12 and ends[0] == D(2025, 4, 30) and ends[-1] == END
    with pytest.raises(ValueError):
        month_ends(END, 0)


# -- series over the ledger ------------------------------------------------------------


def test_aging_over_time(ledger):
    series = aging_over_time(ledger, D(2026, 4, 1), months=3)
    # 01-31: I4 2000 not due; I2 3000-1000 = 2000, 27 days; I1 1000, 21+31 = 52 days; I3 500, 30+31+30+31+31 = 153 days.
    # 02-28: I5 1500 not due; I7 600, 3 days; I2 2000, 55 days; I1 1000-400 = 600, 80 days; I3 181 days; I4 paid.
    # 03-31: I6 800 not due; I5 1500-500 = 1000, 28 days; I7 600, 34 days (P6 is in April); I1 600, 111 days;
    #        I3 212 days; I2 paid. U1 (USD) is in none of them.
    assert series == [
        (D(2026, 1, 31), buckets(2000, 2000, 1000, 0, 500, 0)),
        (D(2026, 2, 28), buckets(1500, 600, 2000, 600, 0, 500)),
        (D(2026, 3, 31), buckets(800, 1000, 600, 0, 600, 500)),
    ]
    assert [sum(b.values()) for _end, b in series] == [M(5500), M(5200), M(3500)]
    assert list(series[0][1]) == list(BUCKETS)


def test_aging_over_time_default_months_and_another_currency(ledger):
    series = aging_over_time(ledger, END)
    assert [end for end, _b in series] == month_ends(END)
    # Nothing issued before August 2025; on 08-31 I3 is due that very day (not due yet).
    assert all(sum(b.values()) == 0 for _end, b in series[:4])
    assert series[4] == (D(2025, 8, 31), buckets(500, 0, 0, 0, 0, 0))
    # U1 250 USD, due 02-09: 19 days on 02-28, 50 on 03-31.
    usd = aging_over_time(ledger, END, months=2, currency="USD")
    assert usd == [(D(2026, 2, 28), buckets(0, 250, 0, 0, 0, 0)), (D(2026, 3, 31), buckets(0, 0, 250, 0, 0, 0))]


def test_dso_trend(ledger):
    series = dso_trend(ledger, D(2026, 4, 1), months=3)
    # 01-31, open 5500: January (31 days) 2000 -> 3500 left; December (31) 3000 -> 500; November 1000:
    #        500 / 1000 x 30 = 15 -> 31 + 31 + 15 = 77.00
    # 02-28, open 5200: February (28) 2100 -> 3100; January (31) 2000 -> 1100; December 3000:
    #        1100 / 3000 x 31 = 11.367 -> 28 + 31 + 11.367 = 70.37
    # 03-31, open 3500: March (31) 800 -> 2700; February (28) 2100 -> 600; January 2000:
    #        600 / 2000 x 31 = 9.3 -> 31 + 28 + 9.3 = 68.30
    assert series == [(D(2026, 1, 31), M("77.00")), (D(2026, 2, 28), M("70.37")), (D(2026, 3, 31), M("68.30"))]


def test_dso_trend_in_the_early_months(ledger):
    series = dict(dso_trend(ledger, END))
    assert series[D(2025, 7, 31)] == 0  # nothing open
    assert series[D(2025, 8, 31)] == M("31.00")  # 500 open = August's 500 sales: the whole of August
    assert series[D(2025, 9, 30)] == M("61.00")  # September has no sales: its 30 days, then August's 31
    assert series[D(2025, 10, 31)] == M("92.00")  # October too: 31 + 30 + 31


def test_collected_vs_target(ledger):
    series = collected_vs_target(ledger, D(2026, 4, 1), months=3)
    # January: overdue on 12-31 = I1 1000 (21 days) + I3 500 = 1500 (I2 falls due 01-04) -> target 1050;
    #          collected on those in January: nothing (P2 went to I2, not overdue on 12-31) -> 0.
    # February: overdue on 01-31 = I1 1000 + I2 2000 + I3 500 = 3500 -> 2450; P1 400 on I1 (P4 paid I4, not due) -> 400,
    #           400 / 2450 = 0.16327 -> 0.1633.
    # March: overdue on 02-28 = I1 600 + I2 2000 + I3 500 + I7 600 = 3700 (I5 falls due 03-03) -> 2590;
    #        P3 2000 on I2 (P5 paid I5, not overdue on 02-28; P6 is in April) -> 2000, 2000 / 2590 = 0.77220 -> 0.7722.
    assert series == [
        TargetPoint(D(2026, 1, 31), M("1050.00"), M("0"), M("0")),
        TargetPoint(D(2026, 2, 28), M("2450.00"), M("400"), M("0.1633")),
        TargetPoint(D(2026, 3, 31), M("2590.00"), M("2000"), M("0.7722")),
    ]
    assert all(isinstance(value, Decimal) for point in series for value in point[1:])


def test_a_currency_without_business_is_all_zero(ledger):
    assert dso_trend(ledger, END, months=1, currency="EUR") == [(END, M("0"))]
    assert collected_vs_target(ledger, END, months=1, currency="EUR") == [TargetPoint(END, M("0"), M("0"), M("0"))]
    assert aging_over_time(ledger, END, months=1, currency="EUR") == [(END, buckets(0, 0, 0, 0, 0, 0))]


# -- PNGs --------------------------------------------------------------------------------


def check_png(path, limit: int = 60_000) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert 5_000 < len(data) < limit, len(data)  # something drawn, small enough to inline in an artifact
    image = imread(path)
    height, width = image.shape[:2]
    assert (width, height) == (600, 272)  # 7.5 x 3.4 inches at 80 dpi
    assert image.std() > 0.05  # not a blank page


def test_charts_are_small_valid_pngs(tmp_path):
    ends = month_ends(END)
    aging = [(end, buckets(100 * i, 200, 300 * i, 0, 50 * i, 1_000 * (i % 3))) for i, end in enumerate(ends)]
    dso = [(end, M(40) + i) for i, end in enumerate(ends)]
    target = [TargetPoint(end, M(1000), M(70 * i), M(70 * i) / 1000) for i, end in enumerate(ends)]
    paths = [aging_chart(aging, tmp_path / "aging.png", currency="CNY"), dso_chart(dso, tmp_path / "dso.png"), target_chart(target, tmp_path / "target.png")]
    assert paths == [tmp_path / "aging.png", tmp_path / "dso.png", tmp_path / "target.png"]
    for path in paths:
        check_png(path)


def test_charts_of_an_empty_ledger_still_draw(tmp_path, sqlite_engine):
    from sqlalchemy.orm import Session

    with Session(sqlite_engine) as session:
        aging = aging_over_time(session, END, months=3)
        dso = dso_trend(session, END, months=3)
        target = collected_vs_target(session, END, months=3)
    assert all(sum(b.values()) == 0 for _end, b in aging) and all(v == 0 for _end, v in dso)
    for path in (aging_chart(aging, tmp_path / "a.png"), dso_chart(dso, tmp_path / "d.png"), target_chart(target, tmp_path / "t.png")):
        assert path.read_bytes()[:8] == PNG_MAGIC and imread(path).shape[:2] == (272, 600)
