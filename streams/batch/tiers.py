"""The policy's tiers and rising stars over columns (`tiering.tiers`, `tiering.rising`).

Every expression reads the columns `classify` (`streams.batch.engine`) builds: `share_above`
(p, null for an inactive customer), `lifecycle`, `risk`, `rising_star` and the profile
dimensions `industry`, `size`, `region` (null when unknown), with the fold's float
arithmetic, so each customer lands in the tier `tiering.tiers.candidate_tier` gives it:

- rank_level(p) = position of the first tier with a condition p < top_share; len(tiers)
  when none holds or p is null;
- projection v = predicted_clv (value model) or, with at least MIN_TREND_ORDERS orders in
  the window, second_half × window_days / half_split_days;
- p_proj = (n − #{ranked monetary ≤ v}) / n over the n active customers of the group;
- rising_star ⇔ p and p_proj known, rank_level(p) > 0 and rank_level(p_proj) < rank_level(p);
- tier = the first tier any of whose conditions holds; the last tier otherwise.
"""

from __future__ import annotations

import polars as pl

from tiering import Policy
from tiering.policy import TierCondition
from tiering.rising import MIN_TREND_ORDERS

__all__ = ["GROUP", "growth", "projected_share_above", "rank_level", "rising_star", "tier"]

# The ranking group column: the rank_within dimension's value (null: without it).
GROUP = "_group"


def rank_level(policy: Policy, share: pl.Expr) -> pl.Expr:
    """`tiering.tiers.rank_level` of a share column (null share: len(tiers))."""
    cuts = [
        (position, condition.top_share)
        for position, tier_policy in enumerate(policy.tiers)
        for condition in tier_policy.when or ()
        if condition.top_share is not None
    ]
    # Built from the last cut up, so the first cut that holds decides.
    level: pl.Expr = pl.lit(len(policy.tiers))
    for position, top_share in reversed(cuts):
        level = pl.when(share < top_share).then(pl.lit(position)).otherwise(level)
    return level


def growth(policy: Policy) -> pl.Expr:
    """`tiering.rising.growth_projection`: null when inactive or fewer than two orders."""
    return (
        pl.when(pl.col("active") & (pl.col("frequency") >= MIN_TREND_ORDERS))
        .then(pl.col("second_half") * policy.window_days / policy.lifecycle.half_split_days)
        .otherwise(None)
    )


def projected_share_above(active: pl.DataFrame) -> pl.DataFrame:
    """customer_id and `projected_share` of the active customers with a `projected` value:
    the share of their group's active customers whose monetary_float is strictly greater.

    One sort of the group's monetary values and the projections together, a monetary before
    an equal projection, so a running count of monetary values at a projection's row is
    #{monetary ≤ v}."""
    counts = active.group_by(GROUP).agg(pl.len().alias("_n"))
    values = active.select(
        GROUP,
        pl.col("monetary_float").alias("_v"),
        pl.lit(1, dtype=pl.Int64).alias("_ranked"),
        pl.lit(None, dtype=pl.String).alias("customer_id"),
    )
    queries = active.filter(pl.col("projected").is_not_null()).select(
        GROUP,
        pl.col("projected").alias("_v"),
        pl.lit(0, dtype=pl.Int64).alias("_ranked"),
        pl.col("customer_id").cast(pl.String),
    )
    both = (
        pl.concat([values, queries])
        .sort(GROUP, "_v", "_ranked", descending=[False, False, True], nulls_last=True)
        .with_columns(pl.col("_ranked").cum_sum().over(GROUP).alias("_at_or_below"))
        .filter(pl.col("_ranked") == 0)
        .join(counts, on=GROUP, how="left", nulls_equal=True)
    )
    n = pl.col("_n").cast(pl.Float64)
    share = (pl.col("_n") - pl.col("_at_or_below")).cast(pl.Float64) / n
    return both.select("customer_id", share.alias("projected_share"))


def rising_star(policy: Policy) -> pl.Expr:
    """`tiering.rising.is_rising_star` of `share_above` and `projected_share`."""
    level = rank_level(policy, pl.col("share_above"))
    return (
        pl.col("share_above").is_not_null()
        & pl.col("projected_share").is_not_null()
        & (level > 0)
        & (rank_level(policy, pl.col("projected_share")) < level)
    ).fill_null(value=False)


def _holds(condition: TierCondition) -> pl.Expr:
    """`tiering.tiers.condition_holds` without a margin (score has no hysteresis)."""
    parts: list[pl.Expr] = []
    if condition.top_share is not None:
        parts.append(pl.col("share_above") < condition.top_share)
    for name, listed in (("lifecycle", condition.lifecycle), ("risk", condition.risk)):
        if listed is not None:
            parts.append(pl.col(name).is_in([value.value for value in listed]))
    if condition.rising_star is not None:
        parts.append(pl.col("rising_star") == condition.rising_star)
    for name, values in (
        ("industry", condition.industry),
        ("size", condition.size),
        ("region", condition.region),
    ):
        if values is not None:
            parts.append(pl.col(name).is_in(list(values)))
    if not parts:  # every field given as null: nothing to check, as in the fold
        return pl.lit(value=True)
    # A null (inactive p, unknown dimension) does not meet a condition.
    return pl.all_horizontal(part.fill_null(value=False) for part in parts)


def tier(policy: Policy) -> pl.Expr:
    """`tiering.tiers.candidate_tier`: the first tier whose condition holds."""
    name: pl.Expr = pl.lit(policy.tiers[-1].name)
    # Built from the last tier up, so the first tier that holds decides.
    for tier_policy in reversed(policy.tiers[:-1]):
        assert tier_policy.when is not None  # validated: only the last tier has none
        holds = pl.any_horizontal(_holds(condition) for condition in tier_policy.when)
        name = pl.when(holds).then(pl.lit(tier_policy.name)).otherwise(name)
    return name
