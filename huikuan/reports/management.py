"""The monthly management report (PROCESS §7): one folder per month for the people who steer.

:func:`write_report` reports on the month before ``as_of``'s month (run on the 1st,
the month just ended), every figure at that month's last day, and writes
``report-YYYY-MM/`` under the folder it is given:

- ``report.md``: the KPIs, the three charts (by file name), aging by segment and by
  collector, statement status and pending approvals, each with the notes that
  define its numbers;
- ``report.html``: the same as one standalone page with the charts inside (data
  URIs), to send as an attachment;
- ``aging.png``, ``dso.png``, ``target.png``: the 12 month ends to that day, in the
  currency with the most open (the tables show every currency, unconverted);
- ``report.xlsx``: one sheet per table, and the numbers behind each chart.

A rerun for the same month rewrites the folder's files.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import jinja2
from sqlalchemy.orm import Session

from huikuan.documents.escaping import markdown_text
from huikuan.reports.builders import REPORTS, TOTAL_OPEN, Ratio, Report, display, kpi_measures, markdown_cell, numeric_columns, to_markdown, to_xlsx_book
from huikuan.reports.charts import MONTHS, aging_chart, aging_over_time, collected_vs_target, dso_chart, dso_trend, target_chart
from models.aging import AGING_BUCKETS
from models.money import ZERO

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "report"
MAX_INLINE_BYTES = 60_000  # a larger chart is listed by its path in the artifact, not inlined
TABLES = ("kpis", "aging-segment", "aging-collector", "statements", "approvals")
ARTIFACT_TABLES = ("kpis", "aging-segment", "statements", "approvals")  # aging by collector is its own table artifact
CHARTS = (
    ("aging", "Open receivables by age at month end"),
    ("dso", "DSO at month end (count-back)"),
    ("target", "Collected vs the monthly target (70% of overdue at the start of the month)"),
)
MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")


@dataclass(frozen=True)
class ManagementReport:
    """What :func:`write_report` wrote, and the KPI figures ({currency: {measure: value}} on ``period_end``)."""

    month: str
    period_end: dt.date
    months: int
    currency: str
    folder: Path
    markdown: Path
    html: Path
    xlsx: Path
    charts: dict[str, Path]
    kpis: dict[str, dict[str, Decimal | None]]
    reports: dict[str, Report]

    @property
    def title(self) -> str:
        return f"Receivables report, {MONTH_NAMES[self.period_end.month - 1]} {self.period_end.year}"

    @property
    def files(self) -> list[Path]:
        return [self.html, self.markdown, self.xlsx, *self.charts.values()]


def period_end(as_of: dt.date) -> dt.date:
    """The last day of the month before ``as_of``'s month: the day the report's figures are taken."""
    return as_of.replace(day=1) - dt.timedelta(days=1)


def write_report(session: Session, as_of: dt.date, out_dir: Path | str, *, months: int = MONTHS) -> ManagementReport:
    """Write the month's folder under ``out_dir`` (see the module's docstring) and say what is in it."""
    end = period_end(as_of)
    month = end.strftime("%Y-%m")
    folder = Path(out_dir) / f"report-{month}"
    folder.mkdir(parents=True, exist_ok=True)
    measures = kpi_measures(session, end)
    currency = max(measures, key=lambda c: measures[c][TOTAL_OPEN])  # ties: the first alphabetically
    reports = {name: REPORTS[name](session, end) for name in TABLES}
    aging = aging_over_time(session, end, months, currency)
    dso = dso_trend(session, end, months, currency)
    target = collected_vs_target(session, end, months, currency)
    reports.update(_series_reports(end, currency, aging, dso, target))
    charts = {
        "aging": aging_chart(aging, folder / "aging.png", currency),
        "dso": dso_chart(dso, folder / "dso.png"),
        "target": target_chart(target, folder / "target.png", currency),
    }
    result = ManagementReport(
        month, end, months, currency, folder, folder / "report.md", folder / "report.html", folder / "report.xlsx", charts, measures, reports
    )
    result.markdown.write_text(report_markdown(result), encoding="utf-8")
    result.html.write_text(report_html(result), encoding="utf-8")
    to_xlsx_book(list(reports.values()), result.xlsx)
    return result


def _series_reports(end: dt.date, currency: str, aging, dso, target) -> dict[str, Report]:
    """The numbers behind the charts, as tables (for the workbook)."""
    labels = [label for label, _first, _last in AGING_BUCKETS]
    where = f"In {currency} only, at each of the {len(dso)} month ends to {end.isoformat()}."
    return {
        "aging-trend": Report(
            "aging-trend",
            "Chart: open receivables by age at month end",
            end,
            ["month end", *labels, "total"],
            [[day, *buckets.values(), sum(buckets.values(), ZERO)] for day, buckets in aging],
            [where, "Open amounts in the standard buckets, as in the aging report on each day."],
        ),
        "dso-trend": Report(
            "dso-trend",
            "Chart: DSO at month end",
            end,
            ["month end", "DSO (days, count-back)"],
            [list(point) for point in dso],
            [where, "DSO by count-back as in the KPI report on each day, the month to date being the whole month."],
        ),
        "target-trend": Report(
            "target-trend",
            "Chart: collected vs the month's target",
            end,
            ["month end", "target", "collected", "progress"],
            [[p.month_end, p.target, p.collected, Ratio(p.progress)] for p in target],
            [
                where,
                "Target = 70% of what was open and overdue at the start of the month; collected = that month's "
                "payments applied to those invoices; as in the KPI report on the month's last day.",
            ],
        ),
    }


# -- markdown ------------------------------------------------------------------------------


def _intro(result: ManagementReport, data: Callable[[str], str] = str) -> str:
    """The report's first paragraph; ``data`` renders the ledger's words in it (the currencies): escaped for Markdown."""
    end = result.period_end.isoformat()
    text = f"Every figure is taken at the end of the month, {end}. The charts show the {result.months} month ends to {end}"
    if len(result.kpis) > 1:
        return text + f", in {data(result.currency)}; the tables show every currency ({', '.join(map(data, result.kpis))}), unconverted."
    return text + f", in {data(result.currency)}."


def _markdown(result: ManagementReport, tables: tuple[str, ...], images: dict[str, str | None]) -> str:
    parts = [f"# {result.title}\n\n{_intro(result, markdown_text)}\n", to_markdown(result.reports[tables[0]]), "## Charts\n"]
    for name, title in CHARTS:
        link = images[name]
        parts.append(f"![{title}]({link})\n" if link else f"- {title}: `{result.charts[name]}` (too large to show here)\n")
    parts.extend(to_markdown(result.reports[name]) for name in tables[1:])
    return "\n".join(parts)


def report_markdown(result: ManagementReport) -> str:
    """``report.md``: every table, and the charts by their file names beside it."""
    return _markdown(result, TABLES, {name: path.name for name, path in result.charts.items()})


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def artifact_markdown(result: ManagementReport, max_image_bytes: int = MAX_INLINE_BYTES) -> str:
    """The Prefect artifact: KPIs, charts inline when small enough, aging by segment, statements, approvals, the files."""
    images = {name: data_uri(path) if path.stat().st_size <= max_image_bytes else None for name, path in result.charts.items()}
    files = "\n".join(f"- `{path.name}`" for path in result.files)
    return _markdown(result, ARTIFACT_TABLES, images) + f"\n## Files\n\nIn `{result.folder}` (send `{result.html.name}`: it holds everything):\n\n{files}\n"


def table_rows(report: Report) -> list[dict[str, str]]:
    """A report's rows as {column: value as people read it}, for a Prefect table artifact.

    The Prefect UI renders a table artifact's cells as Markdown: text in them is escaped as in :func:`to_markdown`.
    """
    return [dict(zip(report.columns, (markdown_cell(v) for v in row))) for row in report.rows]


# -- HTML ------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )


def _table(report: Report) -> dict:
    return {
        "title": report.title,
        "as_of": report.as_of.isoformat(),
        "columns": report.columns,
        "numeric": numeric_columns(report),
        "rows": [[display(v) for v in row] for row in report.rows],
        "notes": report.notes,
    }


def report_html(result: ManagementReport) -> str:
    """``report.html``: one page, the charts inside it, nothing fetched from elsewhere."""
    return (
        _environment()
        .get_template("management.html.j2")
        .render(
            title=result.title,
            intro=_intro(result),
            kpis=_table(result.reports[TABLES[0]]),
            charts=[{"title": title, "src": data_uri(result.charts[name])} for name, title in CHARTS],
            tables=[_table(result.reports[name]) for name in TABLES[1:]],
        )
    )
