"""Rising stars: customers below the top tier whose predicted value would rank them higher.

DESIGN.md ("Policy-defined tiers"): a rising star is a customer below the top tier whose
predicted value would place it in a higher tier than its current standing. Here:

- projected value v_proj = predicted_clv when a value model is loaded (expected purchases over
  `value.horizon_days` × expected order value), else the growth fallback
  v_proj = second_half × window_days / half_split_days: the monetary of the last
  `half_split_days` (the lifecycle's recent half-window) at that pace for a whole window.
  The fallback needs at least two purchase orders in the window: one order is no trend.
- p_proj = share of ranked customers whose monetary is strictly greater than v_proj (the same
  population as the customer's own p: v_proj is read as "what the customer would bring over a
  window", so it is compared with what customers brought over the window; with a value
  model this is meaningful when `value.horizon_days` is close to `window_days`).
- rising star ⇔ active, rank_level(p) > 0 (below the top tier by rank) and
  rank_level(p_proj) < rank_level(p) (`tiering.tiers.rank_level`).
"""

from __future__ import annotations

from tiering.measure import Measurement
from tiering.policy import Policy
from tiering.population import Population, RankedMetric
from tiering.tiers import rank_level

__all__ = ["MIN_TREND_ORDERS", "growth_projection", "is_rising_star", "projected_share_above"]

# Purchase orders in the window the growth fallback needs before it projects anything.
MIN_TREND_ORDERS = 2


def growth_projection(measurement: Measurement, policy: Policy) -> float | None:
    """second_half × window_days / half_split_days, or None (inactive, or fewer than
    MIN_TREND_ORDERS purchase orders in the window)."""
    if not measurement.active or measurement.frequency < MIN_TREND_ORDERS:
        return None
    return float(measurement.second_half) * policy.window_days / policy.lifecycle.half_split_days


def projected_share_above(projected: float | None, population: Population) -> float | None:
    """p_proj: the share of ranked customers with a strictly greater monetary than `projected`."""
    if projected is None:
        return None
    return population.share_greater(RankedMetric.MONETARY, projected)


def is_rising_star(
    share_above: float | None, projected_share: float | None, policy: Policy
) -> bool:
    """Below the top tier by rank, and the projection's rank reaches a higher tier."""
    if share_above is None or projected_share is None:
        return False
    level = rank_level(policy, share_above)
    return level > 0 and rank_level(policy, projected_share) < level
