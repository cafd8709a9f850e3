"""The management report's charts (PROCESS §7): month-end series and their PNGs.

A series is plain data for the last ``months`` month ends on or before ``as_of``,
oldest first, in one currency (amounts in other currencies are left out, never
converted). Its numbers are the reports' own: the open items of
:func:`huikuan.reports.portfolio.open_items` in the standard aging buckets, and the DSO,
target and collected of :func:`huikuan.reports.builders.kpi_measures` on each month end,
where "the month to date" is the whole month. Money stays Decimal until a chart
draws it.

The charts are drawn on a bare :class:`matplotlib.figure.Figure` (the Agg
renderer, no pyplot, no global state), so that flows may draw them in threads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from sqlalchemy.orm import Session

from huikuan.reports.builders import COLLECTED, DSO, PROGRESS, TARGET, kpi_measures
from huikuan.reports.portfolio import open_items
from models.aging import AGING_BUCKETS
from models.money import ZERO

MONTHS = 12
DPI = 80  # with SIZE, about 600 x 270 pixels: small enough to inline in an artifact
SIZE = (7.5, 3.4)
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # not the locale's
# Green (not due) to dark red (over 180 days), one per AGING_BUCKETS label.
BUCKET_COLOURS = ("#59a14f", "#b5d334", "#f1ce63", "#f28e2b", "#e15759", "#8c1c13")


class TargetPoint(NamedTuple):
    """One month: 70% of what was overdue at its start, what was collected on that, and the share."""

    month_end: dt.date
    target: Decimal
    collected: Decimal
    progress: Decimal


AgingPoint = tuple[dt.date, dict[str, Decimal]]
DsoPoint = tuple[dt.date, Decimal]


def month_ends(as_of: dt.date, months: int = MONTHS) -> list[dt.date]:
    """The last ``months`` month ends on or before ``as_of``, oldest first."""
    if months < 1:
        raise ValueError(f"months must be at least 1, not {months}")
    following = as_of + dt.timedelta(days=1)
    last = as_of if following.day == 1 else as_of.replace(day=1) - dt.timedelta(days=1)
    ends = [last]
    while len(ends) < months:
        ends.append(ends[-1].replace(day=1) - dt.timedelta(days=1))
    return ends[::-1]


# -- series ----------------------------------------------------------------------


def aging_over_time(session: Session, as_of: dt.date, months: int = MONTHS, currency: str = "CNY") -> list[AgingPoint]:
    """(month end, {bucket: open amount}) with every bucket of AGING_BUCKETS, in their order."""
    series = []
    for end in month_ends(as_of, months):
        buckets = {label: ZERO for label, _first, _last in AGING_BUCKETS}
        for item in open_items(session, end):
            if item.currency == currency:
                buckets[item.bucket] += item.open_amount
        series.append((end, buckets))
    return series


def _measures(session: Session, end: dt.date, currency: str) -> dict:
    # A currency with nothing on the books that day is absent from kpi_measures: all zero.
    return kpi_measures(session, end).get(currency, {})


def dso_trend(session: Session, as_of: dt.date, months: int = MONTHS, currency: str = "CNY") -> list[DsoPoint]:
    """(month end, count-back DSO in days on that day)."""
    return [(end, _measures(session, end, currency).get(DSO, Decimal("0.00"))) for end in month_ends(as_of, months)]


def collected_vs_target(session: Session, as_of: dt.date, months: int = MONTHS, currency: str = "CNY") -> list[TargetPoint]:
    """Per month: the month's target and what was collected toward it (the KPI report's definitions)."""
    series = []
    for end in month_ends(as_of, months):
        values = _measures(session, end, currency)
        series.append(TargetPoint(end, values.get(TARGET, Decimal("0.00")), values.get(COLLECTED, ZERO), values.get(PROGRESS, Decimal("0"))))
    return series


# -- charts ----------------------------------------------------------------------


def _figure(title: str) -> tuple[Figure, object]:
    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=11, loc="left")
    axes.tick_params(labelsize=8)
    axes.grid(axis="y", color="#dddddd", linewidth=0.6)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    return figure, axes


def _money_axis(axes, largest: float) -> None:
    if largest >= 1_000_000:
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v / 1_000_000:,.1f}M"))
    elif largest >= 10_000:
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v / 1_000:,.0f}k"))
    else:
        axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))


def _months_axis(axes, ends: Sequence[dt.date]) -> list[int]:
    # "Apr" under each bar, the year under the first month and under each January.
    positions = list(range(len(ends)))
    labels = [MONTH_NAMES[end.month - 1] + (f"\n{end.year}" if index == 0 or end.month == 1 else "") for index, end in enumerate(ends)]
    axes.set_xticks(positions, labels, fontsize=8 if len(ends) <= 12 else 6)
    return positions


def _save(figure: Figure, path: Path | str) -> Path:
    path = Path(path)
    figure.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def aging_chart(series: Sequence[AgingPoint], path: Path | str, currency: str = "CNY") -> Path:
    """Stacked bars: the open balance of each aging bucket at each month end."""
    figure, axes = _figure(f"Open receivables by age at month end ({currency})")
    ends = [end for end, _buckets in series]
    positions = _months_axis(axes, ends)
    bottoms = [0.0] * len(series)
    for (label, _first, _last), colour in zip(AGING_BUCKETS, BUCKET_COLOURS):
        heights = [float(buckets[label]) for _end, buckets in series]
        axes.bar(positions, heights, 0.7, bottom=bottoms, color=colour, label=label)
        bottoms = [b + h for b, h in zip(bottoms, heights)]
    _money_axis(axes, max(bottoms, default=0.0))
    axes.legend(title="days overdue", fontsize=7, title_fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _save(figure, path)


def dso_chart(series: Sequence[DsoPoint], path: Path | str) -> Path:
    """A line: count-back DSO at each month end, each point labelled."""
    figure, axes = _figure("DSO at month end (days, count-back)")
    positions = _months_axis(axes, [end for end, _dso in series])
    values = [float(dso) for _end, dso in series]
    axes.plot(positions, values, color="#4e79a7", marker="o", markersize=4, linewidth=1.8)
    for x, y in zip(positions, values):
        axes.annotate(f"{y:.0f}", (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    axes.set_ylim(0, max(values, default=0.0) * 1.2 or 1)
    return _save(figure, path)


def target_chart(series: Sequence[TargetPoint], path: Path | str, currency: str = "CNY") -> Path:
    """Bars side by side per month: the 70% target and what was collected toward it, with the share."""
    figure, axes = _figure(f"Collected vs the month's target: 70% of overdue at its start ({currency})")
    positions = _months_axis(axes, [point.month_end for point in series])
    targets = [float(point.target) for point in series]
    collected = [float(point.collected) for point in series]
    axes.bar([x - 0.2 for x in positions], targets, 0.4, color="#bab0ac", label="target")
    axes.bar([x + 0.2 for x in positions], collected, 0.4, color="#4e79a7", label="collected")
    for x, point, height in zip(positions, series, collected):
        if point.target > 0:
            axes.annotate(f"{point.progress * 100:.0f}%", (x + 0.2, height), textcoords="offset points", xytext=(0, 2), ha="center", fontsize=7)
    largest = max(targets + collected, default=0.0)
    axes.set_ylim(0, largest * 1.15 or 1)
    _money_axis(axes, largest)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _save(figure, path)
