"""The report's charts, drawn with matplotlib into SVG text for inlining in the HTML.

Why matplotlib to inline SVG rather than a JavaScript library (e.g. plotly): the report must
open without a network, and inline SVG needs no script at all, so it also opens where
scripts are blocked (mail attachments, locked-down browsers) and prints as vectors; a report
is about 0.4 MB (glyphs as paths) instead of the ~4 MB of an embedded plotly.js; and the
output is deterministic (fixed hash salt, no date), so it can be diffed and tested. The price
is no hover or zoom: every number a chart shows is also in a table next to it.

Text is drawn as glyph paths (svg.fonttype "path") so that a chart looks the same whichever
fonts the reader's machine has. Charts never show customer ids: ids go into HTML tables,
where the template escapes them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.collections import QuadMesh
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

from streams.analytics.figures import Count, GridCell, LorenzCurve, TierRow
from streams.analytics.migration import NONE, MigrationMatrix

__all__ = [
    "counts_chart",
    "lorenz_chart",
    "migration_chart",
    "rfm_grid_chart",
    "tier_share_chart",
]

_TIER_COLOURS = ("#1f4e79", "#5b9bd5", "#bdd7ee")
_CUSTOMERS_COLOUR, _REVENUE_COLOUR = "#a5a5a5", "#1f4e79"
_SVG_PROLOGUE = re.compile(r"\A.*?(?=<svg\b)", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def _plain(text: str) -> str:
    """Text matplotlib must not read as mathtext (a `$` in a policy label)."""
    return text.replace("$", r"\$")


def _svg(figure: Figure, name: str) -> str:
    """The figure as an `<svg>` element whose ids are unique to `name` within the page.

    Several SVGs inline in one HTML document share one id space; matplotlib names groups
    `figure_1`, `axes_1`... in every file, and `url(#…)`/`href="#…"` could then resolve to
    another chart's definition. Prefixing every id and reference with the chart name avoids
    that. The page's CSS shrinks a chart wider
    than the page (max-width, with the viewBox keeping its proportions).
    """
    buffer = io.StringIO()
    with rc_context({"svg.hashsalt": f"tierstream-{name}", "svg.fonttype": "path"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = _METADATA.sub("", _SVG_PROLOGUE.sub("", buffer.getvalue(), count=1), count=1)
    text = text.replace('id="', f'id="{name}-')
    text = text.replace('href="#', f'href="#{name}-').replace("url(#", f"url(#{name}-")
    return text.replace("<svg ", f'<svg role="img" aria-label="{name} chart" ', 1)


def lorenz_chart(curve: LorenzCurve, labels: dict[str, str]) -> str:
    """Cumulative revenue share against customer share, with a dashed line at each tier cut
    annotated with the tiers' shares of customers and revenue."""
    figure = Figure(figsize=(8, 4.6))
    axes = figure.add_subplot()
    x = [share * 100 for share in curve.customer_share]
    y = [share * 100 for share in curve.revenue_share]
    axes.fill_between(x, y, x, color=_REVENUE_COLOUR, alpha=0.08, linewidth=0)
    axes.plot(x, y, color=_REVENUE_COLOUR, linewidth=2, label="revenue (customers by revenue)")
    axes.plot([0, 100], [0, 100], color="#888888", linewidth=1, linestyle=":", label="equal")
    for index, (_, customer_share, revenue_share) in enumerate(curve.cuts):
        axes.axvline(customer_share * 100, color=_TIER_COLOURS[index], linestyle="--", linewidth=1)
        tiers = [cut[0] for cut in curve.cuts[: index + 1]]
        names = ", ".join(labels.get(name, name) for name in tiers)
        axes.annotate(
            _plain(
                f"{'+'.join(tiers)} ({names}): {customer_share:.1%} of customers,"
                f" {revenue_share:.1%} of revenue"
            ),
            xy=(customer_share * 100, revenue_share * 100),
            xytext=(customer_share * 100 + 2, 38 - 14 * index),
            arrowprops={"arrowstyle": "->", "color": "#555555"},
            fontsize=9,
        )
        axes.plot([customer_share * 100], [revenue_share * 100], "o", color=_TIER_COLOURS[index])
    axes.set_xlim(0, 100)
    axes.set_ylim(0, 102)
    axes.set_xlabel("customers, largest revenue first (cumulative %)")
    axes.set_ylabel("revenue (cumulative %)")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right", fontsize=9)
    return _svg(figure, "lorenz")


def _bar_labels(axes: Axes, bars: BarContainer, texts: Sequence[str]) -> None:
    axes.bar_label(bars, labels=list(texts), padding=2, fontsize=8)


def tier_share_chart(rows: Sequence[TierRow]) -> str:
    """Per tier, side by side: share of customers and share of revenue (%)."""
    figure = Figure(figsize=(6.5, 3.6))
    axes = figure.add_subplot()
    positions = range(len(rows))
    customers = [(row.customer_share or 0.0) * 100 for row in rows]
    revenue = [(row.revenue_share or 0.0) * 100 for row in rows]
    width = 0.38
    left = axes.bar([p - width / 2 for p in positions], customers, width, color=_CUSTOMERS_COLOUR)
    right = axes.bar([p + width / 2 for p in positions], revenue, width, color=_REVENUE_COLOUR)
    _bar_labels(axes, left, [f"{value:.1f} %" for value in customers])
    _bar_labels(axes, right, [f"{value:.1f} %" for value in revenue])
    left.set_label("customers")
    right.set_label("revenue")
    axes.set_xticks(list(positions), [_plain(f"{row.tier} {row.label}") for row in rows])
    axes.set_ylabel("share (%)")
    axes.set_ylim(0, max([*customers, *revenue, 1.0]) * 1.15)
    axes.legend(fontsize=9)
    axes.grid(axis="y", alpha=0.3)
    return _svg(figure, "tiers")


def _heat_map(axes: Axes, values: Sequence[Sequence[float]], top: float) -> QuadMesh:
    """Cells centred on integer positions (row i at y = i), drawn as vector quads: imshow
    would embed a raster image in the SVG."""
    edges_x = [index - 0.5 for index in range(len(values[0]) + 1)]
    edges_y = [index - 0.5 for index in range(len(values) + 1)]
    return axes.pcolormesh(edges_x, edges_y, values, cmap="Blues", vmin=0, vmax=top)


def _colour_bar(figure: Figure, axes: Axes, image: QuadMesh, label: str) -> None:
    """A colour bar drawn as vectors (matplotlib rasterises its gradient by default)."""
    bar = figure.colorbar(image, ax=axes, label=label)
    if bar.solids is not None:
        bar.solids.set_rasterized(False)
        bar.solids.set_edgecolor("face")  # no hairline seams between the vector steps


def _wrapped(segment: str) -> str:
    """A segment name on at most two lines that fit a grid cell ("potential\nloyalist")."""
    words = segment.split("_")
    if len(segment) <= 12 or len(words) == 1:
        return " ".join(words)
    half = max(1, len(words) // 2)
    return " ".join(words[:half]) + "\n" + " ".join(words[half:])


def rfm_grid_chart(grid: dict[tuple[int, int], GridCell]) -> str:
    """5 × 5 heat map of active customers by R score (x) and F score (y), each cell labelled
    with its customer count and most common segment."""
    figure = Figure(figsize=(7, 5.2))
    axes = figure.add_subplot()
    counts = [
        [grid[(r, f)].customers if (r, f) in grid else 0 for r in range(1, 6)] for f in range(1, 6)
    ]
    top = max(max(row) for row in counts) or 1
    image = _heat_map(axes, counts, top)
    for f in range(1, 6):
        for r in range(1, 6):
            cell = grid.get((r, f))
            if cell is None:
                continue
            colour = "white" if cell.customers > top * 0.6 else "black"
            text = f"{cell.customers:,}\n{_wrapped(cell.segment)}"
            axes.text(
                r - 1, f - 1, _plain(text), ha="center", va="center", fontsize=7.5, color=colour
            )
    axes.set_xticks(range(5), [str(score) for score in range(1, 6)])
    axes.set_yticks(range(5), [str(score) for score in range(1, 6)])
    axes.set_xlabel("R score (5 = bought most recently)")
    axes.set_ylabel("F score (5 = buys most often)")
    _colour_bar(figure, axes, image, "customers")
    return _svg(figure, "rfm")


def counts_chart(lifecycle: Sequence[Count], risk: Sequence[Count]) -> str:
    """Two horizontal bar charts: customers per lifecycle stage and per risk value."""
    figure = Figure(figsize=(8, 3.2))
    for index, (title, counts) in enumerate((("lifecycle", lifecycle), ("risk", risk))):
        axes = figure.add_subplot(1, 2, index + 1)
        names = [count.value.replace("_", " ") for count in counts]
        values = [count.customers for count in counts]
        bars = axes.barh(names, values, color=_REVENUE_COLOUR if index == 0 else "#c55a11")
        _bar_labels(axes, bars, [f"{value:,}" for value in values])
        axes.invert_yaxis()
        axes.set_title(title, fontsize=10)
        axes.set_xlabel("customers")
        axes.set_xlim(0, max([*values, 1]) * 1.2)
    figure.tight_layout()
    return _svg(figure, "counts")


def migration_chart(matrix: MigrationMatrix) -> str:
    """Heat map of customers from each state (rows, first scoring) to each state (columns,
    second scoring), shaded by the share of the row's customers (where a tier's customers
    went) and labelled with customers, that row share, and the cell's revenue in the second
    scoring as a share of all revenue there. `none` is left out when
    nobody is in it."""
    STATES = matrix.states
    states = [
        state
        for state in STATES
        if state != NONE or matrix.customers_from(NONE) or matrix.customers_to(NONE)
    ]
    figure = Figure(figsize=(6.5, 4.2 + 0.6 * (len(states) - 3)))
    axes = figure.add_subplot()
    row_shares = [
        [
            matrix.cell(source, target).customers / (matrix.customers_from(source) or 1)
            for target in states
        ]
        for source in states
    ]
    total_to = sum(matrix.cell(s, t).to_revenue for s in STATES for t in STATES)
    image = _heat_map(axes, row_shares, 1)
    axes.invert_yaxis()  # first state on top, like the table
    for row, source in enumerate(states):
        for column, target in enumerate(states):
            cell = matrix.cell(source, target)
            if not cell.customers:
                continue
            text = f"{cell.customers:,} ({row_shares[row][column]:.0%})"
            if total_to:
                text += f"\n{float(cell.to_revenue / total_to):.1%} of revenue"
            colour = "white" if row_shares[row][column] > 0.6 else "black"
            axes.text(column, row, text, ha="center", va="center", fontsize=8, color=colour)
    axes.set_xticks(range(len(states)), states)
    axes.set_yticks(range(len(states)), states)
    axes.set_xlabel(_plain(f"to: {matrix.second_label}"))
    axes.set_ylabel(_plain(f"from: {matrix.first_label}"))
    _colour_bar(figure, axes, image, "share of the row's customers")
    return _svg(figure, "migration")
