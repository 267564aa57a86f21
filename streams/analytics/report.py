"""`tierstream score --report REPORT.html`: one self-contained HTML file about a scoring.

Sections: tiers (customers and revenue share per tier), the Pareto/Lorenz curve of revenue
with the tier cuts, the RFM grid and segments, lifecycle and risk counts, the migration
matrix when comparing, and watch lists (at-risk high-value customers; rising stars when the
score output has a `rising_star` column). The file has no script and loads nothing: charts
are inline SVG (streams.analytics.charts says why), styles are inline.

Every value from the data (customer ids, policy labels, file names) reaches the HTML through
Jinja2 with autoescaping on, so an id such as `<script>` is shown, never run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from streams.analytics import charts, figures
from streams.analytics.migration import MigrationMatrix
from streams.analytics.scored import Scoring

__all__ = ["ReportInput", "render_report", "write_report"]


@dataclass(frozen=True)
class ReportInput:
    """What the report describes: the scoring, tier labels, a description of where it came
    from (label, value pairs shown in the header), and the migration into this scoring when
    comparing."""

    scoring: Scoring
    labels: Mapping[str, str]
    description: Sequence[tuple[str, str]]
    matrix: MigrationMatrix | None = None


def _money(value: Decimal | float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.1f} %"


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("streams.analytics", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["money"] = _money
    environment.filters["percent"] = _percent
    return environment


def render_report(report: ReportInput) -> str:
    """The HTML document."""
    customers = report.scoring.customers
    tier_rows = figures.tier_rows(customers, report.labels)
    high_value_tiers = list(report.labels)[: figures.HIGH_VALUE_TIERS] or ["A", "B"]
    curve = figures.lorenz_curve(customers)
    grid = figures.rfm_grid(customers)
    lifecycle = figures.lifecycle_counts(customers)
    risk = figures.risk_counts(customers)
    label_by_tier = dict(report.labels)
    chart_svgs = {
        "tiers": charts.tier_share_chart(tier_rows),
        "counts": charts.counts_chart(lifecycle, risk),
    }
    if curve is not None:
        chart_svgs["lorenz"] = charts.lorenz_chart(curve, label_by_tier)
    if grid:
        chart_svgs["rfm"] = charts.rfm_grid_chart(grid)
    if report.matrix is not None:
        chart_svgs["migration"] = charts.migration_chart(report.matrix)
    template = _environment().get_template("report.html.j2")
    return template.render(
        description=report.description,
        customers=len(customers),
        total_revenue=sum((customer.monetary for customer in customers), Decimal(0)),
        tier_rows=tier_rows,
        charts={name: Markup(svg) for name, svg in chart_svgs.items()},  # noqa: S704 - our SVG
        segment_rows=figures.segment_rows(customers),
        lifecycle=lifecycle,
        risk=risk,
        matrix=report.matrix,
        states=report.matrix.states if report.matrix is not None else (),
        at_risk=figures.at_risk_high_value(customers, high_value_tiers=high_value_tiers),
        high_value_tiers=high_value_tiers,
        low_p_alive=figures.LOW_P_ALIVE,
        has_value_columns=report.scoring.has_value_columns,
        has_rising_star=report.scoring.has_rising_star,
        rising_stars=figures.rising_stars(customers),
    )


def write_report(path: Path, report: ReportInput) -> None:
    """Write the HTML document to `path` (UTF-8)."""
    path.write_text(render_report(report), encoding="utf-8")
