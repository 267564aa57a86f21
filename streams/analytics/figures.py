"""The figures the report shows, computed from scored customers (no drawing here).

Revenue is the monetary column (net spend in the window; margin under a margin-basis
policy); a share is a part's revenue over the total revenue of all scored customers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from schemas import Lifecycle, Risk
from streams.analytics.scored import ScoredCustomer

__all__ = [
    "HIGH_VALUE_TIERS",
    "LOW_P_ALIVE",
    "Count",
    "GridCell",
    "LorenzCurve",
    "SegmentRow",
    "TierRow",
    "at_risk_high_value",
    "lifecycle_counts",
    "lorenz_curve",
    "rfm_grid",
    "rising_stars",
    "risk_counts",
    "segment_rows",
    "tier_rows",
]

HIGH_VALUE_TIERS = 2
"""How many of the policy's tiers, from the top, count as high value (A and B by default)."""
LOW_P_ALIVE = 0.5
"""With a value model, a high-value customer whose P(alive) is below this is more likely gone
than alive, and is listed as at risk even when its rule-based risk is ok."""


def _share(part: Decimal | int, total: Decimal | int) -> float | None:
    """part / total, or None when the total is 0 (a share of nothing is undefined)."""
    return float(part) / float(total) if total else None


@dataclass(frozen=True)
class TierRow:
    """Customers and revenue of one tier, with their shares of all customers and revenue."""

    tier: str
    label: str
    customers: int
    customer_share: float | None
    revenue: Decimal
    revenue_share: float | None


def tier_rows(customers: Sequence[ScoredCustomer], labels: Mapping[str, str]) -> list[TierRow]:
    """One row per tier: the policy's tiers in `labels` order (highest first), then any other
    tier a customer is in, by name; revenue_share = tier revenue / total revenue."""
    count: Counter[str] = Counter(customer.tier for customer in customers)
    tiers = [*labels, *sorted(set(count) - set(labels))]
    revenue: dict[str, Decimal] = dict.fromkeys(tiers, Decimal(0))
    for customer in customers:
        revenue[customer.tier] += customer.monetary
    total = sum(revenue.values(), Decimal(0))
    return [
        TierRow(
            tier,
            labels.get(tier, tier),
            count[tier],
            _share(count[tier], len(customers)),
            revenue[tier],
            _share(revenue[tier], total),
        )
        for tier in tiers
    ]


@dataclass(frozen=True)
class LorenzCurve:
    """Cumulative revenue share against cumulative customer share, customers sorted by
    revenue, largest first (the Pareto curve). Points start at (0, 0) and end at (1, 1).

    `cuts` marks each tier boundary: (tier name, share of customers in that tier and the
    tiers above it, share of revenue of those customers by tier). With hysteresis a tier is
    not exactly a revenue rank range, so a cut's revenue share is the tiers' own revenue,
    not the curve's height at that point.
    """

    customer_share: tuple[float, ...]
    revenue_share: tuple[float, ...]
    cuts: tuple[tuple[str, float, float], ...]


def lorenz_curve(customers: Sequence[ScoredCustomer], max_points: int = 1000) -> LorenzCurve | None:
    """The curve through at most `max_points` + 1 evenly spaced customer counts (exact when
    there are fewer customers); None when there are no customers or no revenue."""
    values = sorted((customer.monetary for customer in customers), reverse=True)
    total = sum(values, Decimal(0))
    if not values or not total:
        return None
    running = [Decimal(0)]
    for value in values:
        running.append(running[-1] + value)
    count = len(values)
    step = max(1, count // max_points)
    indices = sorted({*range(0, count + 1, step), count})
    rows = tier_rows(customers, {})
    cuts: list[tuple[str, float, float]] = []
    above_customers, above_revenue = 0, Decimal(0)
    for row in rows[:-1]:
        above_customers += row.customers
        above_revenue += row.revenue
        cuts.append((row.tier, above_customers / count, float(above_revenue / total)))
    return LorenzCurve(
        tuple(index / count for index in indices),
        tuple(float(running[index] / total) for index in indices),
        tuple(cuts),
    )


@dataclass(frozen=True)
class GridCell:
    """Active customers with one (R, F) score pair, and their most common segment."""

    customers: int
    segment: str


def rfm_grid(customers: Sequence[ScoredCustomer]) -> dict[tuple[int, int], GridCell]:
    """(R score, F score) → cell, for scored (active) customers only. The most common
    segment wins; ties go to the alphabetically first segment (deterministic)."""
    segments: dict[tuple[int, int], Counter[str]] = {}
    for customer in customers:
        if customer.r_score is None or customer.f_score is None:
            continue
        key = (customer.r_score, customer.f_score)
        segments.setdefault(key, Counter())[customer.rfm_segment or ""] += 1
    return {
        key: GridCell(
            sum(counter.values()), min(counter.items(), key=lambda item: (-item[1], item[0]))[0]
        )
        for key, counter in segments.items()
    }


@dataclass(frozen=True)
class SegmentRow:
    """Customers and revenue of one RFM segment (`inactive`: customers without scores)."""

    segment: str
    customers: int
    revenue: Decimal
    revenue_share: float | None


def segment_rows(customers: Sequence[ScoredCustomer]) -> list[SegmentRow]:
    """Segments by revenue, largest first, then by name."""
    count: Counter[str] = Counter()
    revenue: dict[str, Decimal] = {}
    for customer in customers:
        name = customer.rfm_segment or "inactive"
        count[name] += 1
        revenue[name] = revenue.get(name, Decimal(0)) + customer.monetary
    total = sum(revenue.values(), Decimal(0))
    return sorted(
        (
            SegmentRow(name, count[name], revenue[name], _share(revenue[name], total))
            for name in count
        ),
        key=lambda row: (-row.revenue, row.segment),
    )


@dataclass(frozen=True)
class Count:
    """How many customers have one value of a classification field."""

    value: str
    customers: int


def lifecycle_counts(customers: Sequence[ScoredCustomer]) -> list[Count]:
    """Customers per lifecycle stage, in the stage order of the vocabulary."""
    count = Counter(customer.lifecycle for customer in customers)
    return [Count(stage.value, count[stage.value]) for stage in Lifecycle]


def risk_counts(customers: Sequence[ScoredCustomer]) -> list[Count]:
    """Customers per risk value, in the order of the vocabulary."""
    count = Counter(customer.risk for customer in customers)
    return [Count(risk.value, count[risk.value]) for risk in Risk]


def at_risk_high_value(
    customers: Sequence[ScoredCustomer],
    limit: int = 25,
    high_value_tiers: Collection[str] = ("A", "B"),
) -> list[ScoredCustomer]:
    """Customers of `high_value_tiers` (the policy's top HIGH_VALUE_TIERS tiers) whose risk
    is at_risk or churned (churned in a high tier happens while hysteresis holds a downgrade),
    or whose p_alive < LOW_P_ALIVE when a value model was given; by revenue, largest first,
    then by id."""
    chosen = [
        customer
        for customer in customers
        if customer.tier in high_value_tiers
        and (
            customer.risk != Risk.OK.value
            or (customer.p_alive is not None and customer.p_alive < LOW_P_ALIVE)
        )
    ]
    chosen.sort(key=lambda customer: (-customer.monetary, customer.customer_id))
    return chosen[:limit]


def rising_stars(customers: Sequence[ScoredCustomer], limit: int = 25) -> list[ScoredCustomer]:
    """Customers flagged rising_star, by predicted_clv (when known), then revenue, largest
    first, then by id."""
    chosen = [customer for customer in customers if customer.rising_star]
    chosen.sort(
        key=lambda customer: (
            -(customer.predicted_clv or 0.0),
            -customer.monetary,
            customer.customer_id,
        )
    )
    return chosen[:limit]
