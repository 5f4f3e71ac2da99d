"""The fund's progress toward its target over time, drawn server-side as an accessible SVG.

The series come from the ledger alone: each transaction moves the ``committed``, ``unfunded``
and ``receivable`` balances, and committed / called / paid-in follow from them exactly as in
``ledger.fund_figures`` (called = committed − unfunded, paid-in = called − receivable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

from pitchtank.fund import ledger
from pitchtank.fund.models import LedgerTransaction

SERIES = ("committed", "called", "paid_in")
WIDTH, HEIGHT = 720, 320
LEFT, RIGHT, TOP, BOTTOM = 104, 20, 20, 44
TICKS = 4


@dataclass(frozen=True)
class DayPoint:
    """The fund's cumulative figures at the end of one day (Mexico City time)."""

    day: date
    committed_cents: int
    called_cents: int
    paid_in_cents: int

    def value(self, series: str) -> int:
        return getattr(self, f"{series}_cents")


def progress_by_day(transactions: Iterable[LedgerTransaction], zone: ZoneInfo) -> list[DayPoint]:
    """Cumulative committed, called and paid-in at the end of each day that had a movement."""
    deltas: dict[date, list[int]] = {}
    for transaction in transactions:
        day = transaction.created_at.astimezone(zone).date()
        moved = deltas.setdefault(day, [0, 0, 0])
        for entry in transaction.entries:
            if entry.account == ledger.COMMITTED:
                moved[0] -= entry.amount_cents
            elif entry.account == ledger.UNFUNDED:
                moved[1] += entry.amount_cents
            elif entry.account == ledger.RECEIVABLE:
                moved[2] += entry.amount_cents
    points: list[DayPoint] = []
    committed = unfunded = receivable = 0
    for day in sorted(deltas):
        committed += deltas[day][0]
        unfunded += deltas[day][1]
        receivable += deltas[day][2]
        called = committed - unfunded
        points.append(DayPoint(day, committed, called, called - receivable))
    return points


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2, 2.5 or 5 × 10ⁿ at or above ``value`` (in centavos), so ticks are round."""
    if value <= 0:
        return 100
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 2.5, 5, 10):
        candidate = int(step * magnitude)
        if candidate >= value:
            return candidate
    return 10 * magnitude  # pragma: no cover


def short_pesos(cents: int) -> str:
    """Axis labels: whole pesos with thousands separators (``$2,500,000``)."""
    return f"${cents // 100:,}"


def _fmt(number: float) -> str:
    return f"{number:.1f}".rstrip("0").rstrip(".")


def progress_svg(points: list[DayPoint], *, target_cents: int, chart_id: str, title: str, description: str,
                 labels: dict[str, str], day_label: Callable[[date], str], until: date) -> Markup | None:
    """An inline ``<svg role="img">`` with a title and description; None when nothing happened yet.

    Each series is a step line (values hold until the next day with a movement), carried on to
    ``until`` (today); the target is a dashed line. Colours and dashes live in fund.css.
    """
    if not points:
        return None
    first = points[0].day
    last = max(points[-1].day, until)
    if last <= first:
        last = first + timedelta(days=1)
    span = (last - first).days
    top_value = nice_ceiling(max(target_cents, *(max(p.value(s) for s in SERIES) for p in points)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + plot_w * (day - first).days / span

    def y(cents: int) -> float:
        return TOP + plot_h * (1 - max(cents, 0) / top_value)

    chart_id = escape(chart_id)  # an attribute value, escaped like every text below
    parts: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="fund-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for tick in range(TICKS + 1):
        value = top_value * tick // TICKS
        ty = _fmt(y(value))
        parts.append(f'<line class="fund-chart__grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty}" y2="{ty}"/>')
        parts.append(f'<text class="fund-chart__tick" x="{LEFT - 8}" y="{ty}" text-anchor="end" '
                     f'dominant-baseline="middle">{escape(short_pesos(value))}</text>')
    axis_y = HEIGHT - BOTTOM
    for day, anchor in ((first, "start"), (last, "end")):
        parts.append(f'<text class="fund-chart__tick" x="{_fmt(x(day))}" y="{axis_y + 24}" '
                     f'text-anchor="{anchor}">{escape(day_label(day))}</text>')
    parts.append(f'<line class="fund-chart__axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{axis_y}" y2="{axis_y}"/>')
    target_y = _fmt(y(target_cents))
    parts.append(f'<line class="fund-chart__target" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                 f'y1="{target_y}" y2="{target_y}"/>')
    parts.append(f'<text class="fund-chart__target-label" x="{WIDTH - RIGHT}" y="{_fmt(y(target_cents) - 6)}" '
                 f'text-anchor="end">{escape(labels["target"])}</text>')
    for series in SERIES:
        coords = [(x(first), y(0))]
        previous = 0
        for point in points:
            px = x(point.day)
            coords.append((px, y(previous)))
            previous = point.value(series)
            coords.append((px, y(previous)))
        coords.append((x(last), y(previous)))
        path = " ".join(f"{_fmt(cx)},{_fmt(cy)}" for cx, cy in coords)
        parts.append(f'<polyline class="fund-chart__line fund-chart__line--{series}" points="{path}"/>')
        end_x, end_y = coords[-1]
        parts.append(f'<circle class="fund-chart__dot fund-chart__dot--{series}" cx="{_fmt(end_x)}" '
                     f'cy="{_fmt(end_y)}" r="4"/>')
    parts.append("</svg>")
    # Every text and attribute above is escaped; numbers and class names are our own.
    return Markup("".join(parts))  # noqa: S704  # nosec B704
