"""The monthly management report: its folder, HTML, workbook and artifacts, over the ledger of test_charts.

Every figure checked here is computed by hand in the comments, from the invoices and
payments listed at the top of tests/test_charts.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from matplotlib.image import imread

from huikuan.reports.management import MAX_INLINE_BYTES, artifact_markdown, period_end, table_rows, write_report
from models.enums import ApprovalState
from models.ledger import Approval, Statement
from tests.test_charts import PNG_MAGIC, load

D = dt.date
M = Decimal
AS_OF = D(2026, 4, 1)  # the scheduled run of 1 April reports on March, at 2026-03-31

# The KPIs (CNY) on 2026-03-31:
#   open 3500 = I1 600 + I3 500 + I5 1000 + I6 800 + I7 600; not due 800 (I6) -> overdue 2700, 2700 / 3500 = 0.7714
#   bad debt: I3 500 (212 days, and C is blacklisted) -> 500 / 3500 = 0.1429
#   DSO 68.30 (see test_charts.test_dso_trend)
#   CEI for March: beginning (02-28) 5200, March sales 800 (I6), ending 3500, ending current 800:
#       (5200 + 800 - 3500) / (5200 + 800 - 800) x 100 = 2500 / 5200 x 100 = 48.08
#   overdue on 02-28 3700 -> target 2590, collected 2000 (P3 on I2) -> 0.7722
# USD: U1 250 open and overdue (50 days); target 70% of 250 = 175, nothing collected.
KPIS_CNY = {
    "total open": M("3500"),
    "overdue open": M("2700"),
    "overdue ratio": M("0.7714"),
    "bad debt": M("500"),
    "bad-debt ratio": M("0.1429"),
    "DSO (days, count-back)": M("68.30"),
    "CEI month to date (%)": M("48.08"),
    "overdue at start of month": M("3700"),
    "month target (70% of overdue at start)": M("2590.00"),
    "collected on that overdue": M("2000"),
    "target progress": M("0.7722"),
}


def add_statements_and_approvals(session) -> None:
    # A's February statement: prepared 03-04 (by the 5th), sent 03-10 (late: the 8th is a Sunday, moved to Monday
    # the 9th as the policy moves it), never confirmed (the 20th has passed: late) nor invoiced (the 30th has passed: late).
    session.add(Statement(customer_id="A", month="2026-02", amount=M("1500.00"), prepared_on=D(2026, 3, 4), sent_on=D(2026, 3, 10)))
    for key, customer, action, state, on in [
        ("k1", "B", "stop_shipment", ApprovalState.requested, D(2026, 3, 25)),  # pending, 6 days on 03-31
        ("k2", "D", "lawyer_letter", ApprovalState.requested, D(2026, 4, 1)),  # after the month: not in March's report
        ("k3", "A", "stop_shipment", ApprovalState.approved, D(2026, 3, 2)),  # decided
    ]:
        session.add(Approval(key=key, customer_id=customer, action=action, approver_role="boss", state=state, requested_on=on))
    session.commit()


@pytest.fixture
def ledger(tmp_path, session):
    load(session, tmp_path)
    add_statements_and_approvals(session)
    return session


@pytest.fixture(scope="module")
def report(tmp_path_factory, sqlite_template):
    """The report written once from a SQLite ledger, for the tests that read its files."""
    import shutil

    from sqlalchemy.orm import Session

    from huikuan.ledger.db import make_engine

    folder = tmp_path_factory.mktemp("written")
    shutil.copy(sqlite_template, folder / "ledger.db")
    engine = make_engine(f"sqlite:///{folder / 'ledger.db'}")
    with Session(engine) as session:
        load(session, folder)
        add_statements_and_approvals(session)
        result = write_report(session, AS_OF, folder / "reports")
    engine.dispose()
    return result


@pytest.mark.parametrize(
    ("as_of", "end"), [(D(2026, 4, 1), D(2026, 3, 31)), (D(2026, 4, 20), D(2026, 3, 31)), (D(2026, 3, 1), D(2026, 2, 28)), (D(2026, 1, 1), D(2025, 12, 31))]
)
def test_period_end_is_the_last_day_of_the_month_before(as_of, end):
    assert period_end(as_of) == end


def test_the_folder_and_the_figures(ledger, tmp_path):
    """On SQLite and PostgreSQL."""
    report = write_report(ledger, AS_OF, tmp_path / "reports")
    folder = tmp_path / "reports" / "report-2026-03"
    assert report.month == "2026-03" and report.period_end == D(2026, 3, 31) and report.folder == folder
    assert sorted(p.name for p in folder.iterdir()) == ["aging.png", "dso.png", "report.html", "report.md", "report.xlsx", "target.png"]
    assert report.currency == "CNY"  # 3500 open against 250 USD
    assert report.kpis["CNY"] == KPIS_CNY
    assert report.kpis["USD"]["total open"] == M("250") and report.kpis["USD"]["month target (70% of overdue at start)"] == M("175.00")
    # zhang = A (I5 1000 at 28 days, I1 600 at 111) + C (I3 500 at 212); li = B (I6 800 not due) + D (I7 600 at 34)
    collector = {tuple(row[:2]): row[2:] for row in report.reports["aging-collector"].rows}
    assert collector[("CNY", "zhang")] == [M(0), M(1000), M(0), M(0), M(600), M(500), M(2100)]
    assert collector[("CNY", "li")] == [M(800), M(0), M(600), M(0), M(0), M(0), M(1400)]
    assert report.reports["statements"].rows == [["2026-02", 1, 1, 1, 0, 0, 0, 1, 1, 1]]
    assert [row[1:7] for row in report.reports["approvals"].rows] == [["B", "恒达 & Co <HK>", "stop_shipment", "boss", D(2026, 3, 25), 6]]


def test_a_rerun_later_in_the_month_rewrites_the_same_folder(ledger, tmp_path):
    out = tmp_path / "out"
    first = write_report(ledger, AS_OF, out)
    first.markdown.write_text("stale", encoding="utf-8")
    again = write_report(ledger, D(2026, 4, 20), out)
    assert again.folder == first.folder and again.kpis == first.kpis
    assert [p.name for p in out.iterdir()] == ["report-2026-03"]
    assert again.markdown.read_text(encoding="utf-8").startswith("# Receivables report, March 2026")


def test_markdown(report):
    text = report.markdown.read_text(encoding="utf-8")
    assert text.startswith("# Receivables report, March 2026\n")
    for name in ("aging", "dso", "target"):
        assert re.search(rf"!\[[^\]]+\]\({name}\.png\)", text)
    assert "| CNY | DSO (days, count-back) | 68.30 |" in text and "| CNY | target progress | 77.22% |" in text
    assert "## Aging by segment" in text and "## Aging by collector" in text
    assert "| 2026-02 | 1 | 1 | 1 | 0 | 0 | 0 | 1 | 1 | 1 |" in text
    assert "| k1 |" not in text and "stop_shipment" in text and "lawyer_letter" not in text


def test_html_is_one_file_with_the_charts_inside(report):
    html = report.html.read_text(encoding="utf-8")
    sources = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)
    assert [base64.b64decode(s) for s in sources] == [report.charts[n].read_bytes() for n in ("aging", "dso", "target")]
    assert all(base64.b64decode(s)[:8] == PNG_MAGIC for s in sources)
    assert not re.search(r'(src|href)="(?!data:)', html)  # nothing to fetch: it can travel alone
    assert "<title>Receivables report, March 2026</title>" in html
    for figure in ("3,500.00", "2,700.00", "77.14%", "14.29%", "68.30", "48.08", "2,590.00", "2,000.00", "77.22%"):
        assert f'<td class="num">{figure}</td>' in html, figure
    assert "恒达 &amp; Co &lt;HK&gt;" in html and "<HK>" not in html  # escaped


def test_the_charts_are_valid_small_pngs(report):
    for path in report.charts.values():
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size < MAX_INLINE_BYTES
        assert imread(path).shape[:2] == (272, 600)


def test_workbook(report):
    from openpyxl import load_workbook

    book = load_workbook(report.xlsx)
    assert book.sheetnames == ["kpis", "aging-segment", "aging-collector", "statements", "approvals", "aging-trend", "dso-trend", "target-trend"]
    kpis = {row[1]: row[2] for row in book["kpis"].iter_rows(min_row=2, values_only=True) if row[0] == "CNY"}
    assert kpis["DSO (days, count-back)"] == pytest.approx(68.30) and kpis["month target (70% of overdue at start)"] == 2590
    assert book["kpis"]["A1"].font.bold and book["kpis"]["C2"].number_format == "#,##0.00"
    # the numbers behind the charts: March's row, and the target share as a percentage
    aging = [row for row in book["aging-trend"].iter_rows(min_row=2, values_only=True) if row[0] is not None]
    assert aging[11][1:] == (800, 1000, 600, 0, 600, 500, 3500) and aging[11][0].date() == D(2026, 3, 31)
    target = book["target-trend"]
    assert [c.value for c in target[13]][1:] == [2590, 2000, pytest.approx(0.7722)] and target["D13"].number_format == "0.00%"
    assert [c.value for c in book["dso-trend"][12]][1] == pytest.approx(70.37)  # February 2026


def test_a_workbook_refuses_two_sheets_of_one_name(report, tmp_path):
    from huikuan.reports.builders import to_xlsx_book

    kpis = report.reports["kpis"]
    with pytest.raises(ValueError, match="sheet name"):
        to_xlsx_book([kpis, kpis], tmp_path / "twice.xlsx")
    assert not (tmp_path / "twice.xlsx").exists()


def test_artifact_markdown_inlines_small_charts_and_lists_large_ones(report):
    text = artifact_markdown(report)
    assert len(re.findall(r"!\[[^\]]+\]\(data:image/png;base64,[A-Za-z0-9+/=]+\)", text)) == 3
    assert "| CNY | month target (70% of overdue at start) | 2,590.00 |" in text
    assert "## Aging by segment" in text and "## Monthly statement status" in text and "## Pending approvals" in text
    assert "## Aging by collector" not in text  # that one is a table artifact
    assert f"In `{report.folder}`" in text and "- `report.html`" in text  # the folder once, then the file names
    listed = artifact_markdown(report, max_image_bytes=1_000)
    assert "data:image" not in listed and all(f"`{path}`" in listed for path in report.charts.values())


def test_table_rows_are_strings_for_json(report):
    rows = table_rows(report.reports["aging-collector"])
    assert rows[0] == {
        "currency": "CNY",
        "collector": "li",
        "not due": "800.00",
        "1-30": "0.00",
        "31-60": "600.00",
        "61-90": "0.00",
        "91-180": "0.00",
        "over 180": "0.00",
        "total": "1,400.00",
    }
    json.dumps(rows)


# -- the flow, under Prefect's test harness -----------------------------------------------------------


@pytest.fixture
def settings_env(tmp_path, monkeypatch):
    """A SQLite ledger with the test_charts invoices, and a data folder, as the flow's settings."""
    from sqlalchemy.orm import Session

    from huikuan.ledger.db import engine_for
    from huikuan.ledger.migrate import upgrade
    from huikuan.ledger.settings import get_settings

    monkeypatch.setenv("HUIKUAN_DATABASE_URL", f"sqlite:///{tmp_path / 'huikuan.db'}")
    monkeypatch.setenv("HUIKUAN_DATA_DIR", str(tmp_path / "data"))
    for cache in (get_settings, engine_for):
        cache.cache_clear()
    upgrade(engine_for())
    with Session(engine_for()) as session:
        load(session, tmp_path)
        add_statements_and_approvals(session)
    yield tmp_path / "data"
    engine_for().dispose()
    for cache in (get_settings, engine_for):
        cache.cache_clear()


def test_the_flow_writes_the_folder_and_publishes_the_artifacts(settings_env):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.testing.utilities import prefect_test_harness

    from flows.management_report import management_report

    with prefect_test_harness(server_startup_timeout=120):
        state = management_report(as_of=AS_OF, return_state=True)
        assert state.is_completed(), state
        flow_run_id = state.state_details.flow_run_id
        with get_client(sync_client=True) as client:
            flow_run = client.read_flow_run(flow_run_id)
            artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    result = state.result()
    folder = settings_env / "reports" / "report-2026-03"
    assert result == {"as_of": "2026-04-01", "month": "2026-03", "folder": str(folder)}
    assert (folder / "report.html").is_file() and (folder / "report.xlsx").is_file() and (folder / "aging.png").is_file()
    assert flow_run.name == "management report 2026-04-01"
    by_key = {a.key: a for a in artifacts}
    assert set(by_key) == {"management-report", "aging-by-collector"}
    summary = by_key["management-report"]
    assert summary.type == "markdown" and summary.description == "KPIs, charts, aging, statements and approvals at 2026-03-31"
    assert "| CNY | DSO (days, count-back) | 68.30 |" in summary.data
    assert summary.data.count("](data:image/png;base64,") == 3
    assert f"In `{folder}`" in summary.data and "- `report.html`" in summary.data
    table = by_key["aging-by-collector"]
    assert table.type == "table"
    rows = json.loads(table.data)
    assert {"currency": "CNY", "collector": "zhang", "total": "2,100.00"}.items() <= rows[1].items()
    assert rows[-1]["collector"] == "total" and rows[-1]["currency"] == "USD" and rows[-1]["total"] == "250.00"
