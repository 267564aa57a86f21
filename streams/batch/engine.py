"""Every output column of `tierstream score`, computed over columns instead of per event.

Definitions: DESIGN.md "Definitions (default policy)", as `tiering.measure` and
`tiering.classify` implement them; the fold `tiering.batch.score_history` is the reference
and `tests/unit/test_columnar_engine.py` holds this module equal to it on every customer.
What the fold does, in closed form over a customer's rows at or before as_of (W = window):

- Purchases are identified by (customer, order_id): the first in (time, input order) counts.
  The fold forgets an order id once its purchase is older than the window at the customer's
  latest event, so a reused order id more than W apart can count again; customers with such
  a reuse ("odd" below) are measured by the fold itself, on their own rows.
- Refunds/cancels are identified by (kind, order_id, time as written, amount as written).
- frequency, monetary, h1, h2: counts and sums over (as_of - W, as_of] and its halves;
  money is exact (Decimal(38, 18)) and keeps the scale the fold's Decimal sum would print
  (the most decimals of any term in the window, at least 0: 10.50 - 10.50 prints 0.00).
- Ranks (ABC share, R/F/M scores) compare float(monetary), frequency and recency_days among
  active customers (of the customer's group under the policy's `rank_within` and
  `--profiles`) exactly as `tiering.population.ExactPopulation` does, with the same
  float arithmetic (k / n, then 1 + floor(5 × share + 1e-9)).
- tier and rising_star: `streams.batch.tiers` (the policy's tier conditions as expressions);
  score has no previous tier, so hysteresis never holds one.

Exactness: money is fixed-point, so sums are exact; the fold's Decimal sums are exact too as
long as they stay within 28 significant digits (with 2 decimals: below 10^26), beyond which
the fold rounds and the two could differ in the last digits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
import polars as pl

from schemas.profile import PROFILE_DIMENSIONS
from streams.batch.rows import MONEY, instant_parts
from streams.batch.tiers import GROUP, growth, projected_share_above, rising_star, tier
from tiering import Policy
from tiering.classify import SCORE_EPSILON
from tiering.policy import Basis

__all__ = ["MEASURE_COLUMNS", "PROFILE_COLUMNS", "classify", "dedup_purchases", "measure"]

# Output columns added when profiles are given: the customer's dimensions as read.
PROFILE_COLUMNS = PROFILE_DIMENSIONS

_US_PER_DAY = 86_400_000_000
MEASURE_COLUMNS = (
    "customer_id",
    "active",
    "recency_days",
    "frequency",
    "monetary",
    "monetary_float",
    "lifecycle",
    "risk",
    "second_half",
)


def _days(days: float) -> int:
    """Whole microseconds of a policy's day count (timedelta(days=...) rounds alike)."""
    delta = timedelta(days=days)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def dedup_purchases(purchases: pl.DataFrame, window_days: int) -> tuple[pl.DataFrame, pl.Series]:
    """(purchases with `counted`, the row the fold counts, and `first_written`, the row
    `tiering.value.summarise_orders` counts; customers with an order id reused W or more
    apart).

    Marks instead of copies (the purchases are most of the memory): a 64-bit hash of
    (customer, order_id) finds the candidate repeats with a small table, and only those few
    rows are grouped exactly and ordered (a hash collision just adds a candidate).
    """
    candidate = purchases.select(pl.struct("customer_id", "order_id").hash()).to_series()
    rows = candidate.is_duplicated().arg_true()
    candidates = purchases[rows].with_columns(pl.Series("_row", rows))
    copies = candidates.filter(candidates.select("customer_id", "order_id").is_duplicated())
    odd = (
        copies.group_by("customer_id", "order_id")
        .agg((pl.col("at").max() - pl.col("at").min()).alias("span"))
        .filter(pl.col("span") >= _days(window_days))
        .get_column("customer_id")
        .unique()
    )
    pair = ["customer_id", "order_id"]
    marks = []
    for name, order in (("counted", ["at", "seq"]), ("first_written", ["seq"])):
        winners = copies.sort(order).unique(pair, keep="first").get_column("_row")
        losers = copies.get_column("_row").filter(
            ~copies.get_column("_row").is_in(winners.implode())
        )
        marks.append(
            pl.Series(name, np.ones(purchases.height, dtype=np.bool_)).scatter(losers, False)
        )
    return purchases.with_columns(marks), odd


def _values(frame: pl.DataFrame, basis: Basis, *, adjustment: bool) -> pl.DataFrame:
    """`value` and `scale` of each row under the basis (DESIGN.md; default_policy.yaml):
    margin basis takes the margin, 0 for a purchase without one, the amount for a
    refund/cancel without one."""
    if basis is Basis.REVENUE:
        return frame.with_columns(value=pl.col("amount"), scale=pl.col("amount_scale"))
    missing = pl.col("margin").is_null()
    fallback_value = pl.col("amount") if adjustment else pl.lit(0, dtype=MONEY)
    fallback_scale = pl.col("amount_scale") if adjustment else pl.lit(0, dtype=pl.Int8)
    return frame.with_columns(
        value=pl.when(missing).then(fallback_value).otherwise(pl.col("margin")),
        scale=pl.when(missing).then(fallback_scale).otherwise(pl.col("margin_scale")),
    )


def _sums(
    frame: pl.DataFrame,
    prefix: str,
    bounds: tuple[int, int, int],
    *,
    counted: pl.Expr | None = None,
    lifetime: bool = False,
) -> pl.DataFrame:
    """Per customer: sums over the window and its halves, the window's largest scale and
    row count, and with `lifetime` the first and last time and the count of counted rows."""
    start, split, end = bounds
    at = pl.col("at")
    kept = pl.lit(value=True) if counted is None else counted
    window = (at > start) & (at <= end) & kept
    first_half = (at > start) & (at <= split) & kept
    second_half = (at > split) & (at <= end) & kept
    value = pl.col("value")
    lifetime_figures = (
        [
            at.filter(kept).min().alias("first"),
            at.filter(kept).max().alias("last"),
            kept.sum().alias("count"),
        ]
        if lifetime
        else []
    )
    return (
        frame.group_by("customer_id")
        .agg(
            value.filter(window).sum().alias(f"{prefix}_net"),
            value.filter(first_half).sum().alias(f"{prefix}_h1"),
            value.filter(second_half).sum().alias(f"{prefix}_h2"),
            pl.col("scale").filter(window).max().alias(f"{prefix}_scale"),
            window.sum().alias(f"{prefix}_count"),
            *lifetime_figures,
        )
        .with_columns(pl.col("customer_id").cast(pl.String))
    )


def _monetary_text(value: pl.Expr, scale: pl.Expr) -> pl.Expr:
    """str() of the fold's Decimal: `value` printed with `scale` decimals (scientific
    notation, which Decimal uses below 1E-6, is fixed up by the caller)."""
    text = value.cast(pl.String)
    cut = 18 - scale.cast(pl.Int64) + (scale == 0).cast(pl.Int64)
    return text.str.head(text.str.len_chars() - cut)


def _zero() -> pl.Expr:
    return pl.lit(0, dtype=MONEY)


def measure(
    customers: pl.Series,
    purchases: pl.DataFrame,
    adjustments: pl.DataFrame,
    feedback: pl.DataFrame,
    policy: Policy,
    as_of: datetime,
) -> pl.DataFrame:
    """MEASURE_COLUMNS of every customer (sorted by id), from rows at or before as_of;
    `purchases` marked by `dedup_purchases`."""
    end, _ = instant_parts(as_of)
    start = end - _days(policy.window_days)
    split = end - _days(policy.lifecycle.half_split_days)
    bounds = (start, split, end)
    basis = policy.basis
    bought = _sums(
        _values(purchases, basis, adjustment=False),
        "p",
        bounds,
        counted=pl.col("counted"),
        lifetime=True,
    )
    identity = ["customer_id", "kind", "order_id", "at", "offset", "amount", "amount_scale"]
    returned = _sums(_values(adjustments.unique(identity), basis, adjustment=True), "a", bounds)
    lookback = end - _days(policy.risk.feedback_lookback_days)
    kind = pl.col("kind")
    unhappy = (
        feedback.filter(
            (pl.col("at") > lookback)
            & (
                (kind == "complaint")
                | ((kind == "csat") & (pl.col("score") <= policy.risk.low_csat_max))
            )
        )
        .select("customer_id")
        .unique()
        .with_columns(unhappy=pl.lit(value=True))
    )
    frame = (
        customers.to_frame("customer_id")
        .join(bought, on="customer_id", how="left")
        .join(returned, on="customer_id", how="left")
        .join(unhappy, on="customer_id", how="left")
    )
    zero = _zero()
    net = pl.col("p_net").fill_null(zero) - pl.col("a_net").fill_null(zero)
    h1 = pl.col("p_h1").fill_null(zero) - pl.col("a_h1").fill_null(zero)
    h2 = pl.col("p_h2").fill_null(zero) - pl.col("a_h2").fill_null(zero)
    scale = pl.max_horizontal(
        pl.col("p_scale").fill_null(0), pl.col("a_scale").fill_null(0), pl.lit(0)
    )
    frame = frame.with_columns(
        frequency=pl.col("p_count").fill_null(0).cast(pl.Int64),
        net=net,
        h1=pl.when(h1 > 0).then(h1).otherwise(zero),
        h2=pl.when(h2 > 0).then(h2).otherwise(zero),
        scale=pl.when(net < 0).then(0).otherwise(scale).cast(pl.Int8),
        recency_days=(end - pl.col("last")) // _US_PER_DAY,
    ).with_columns(
        monetary_exact=pl.when(pl.col("net") > 0).then(pl.col("net")).otherwise(zero),
        active=pl.col("frequency") > 0,
    )
    return frame.with_columns(
        monetary=_printed(pl.col("monetary_exact"), pl.col("scale")),
        monetary_float=pl.col("monetary_exact").cast(pl.String).cast(pl.Float64),
        lifecycle=_lifecycle(policy, end),
        risk=_risk(policy),
        # float(Measurement.second_half), for the rising-star growth projection.
        second_half=pl.col("h2").cast(pl.String).cast(pl.Float64),
    ).select(MEASURE_COLUMNS)


def _printed(value: pl.Expr, scale: pl.Expr) -> pl.Expr:
    text = _monetary_text(value, scale)
    # Decimal prints in scientific notation when more than 6 zeros follow the point.
    scientific = pl.when(scale >= 7).then(
        text.map_elements(lambda t: str(Decimal(t)), return_dtype=pl.String)
    )
    return scientific.otherwise(text)


def _ratio(value: float) -> tuple[int, int]:
    """The policy ratio as the fold reads it, Decimal(str(value)), as numerator/denominator."""
    return Decimal(str(value)).as_integer_ratio()


def _lifecycle(policy: Policy, end: int) -> pl.Expr:
    grow_num, grow_den = _ratio(policy.lifecycle.growth_ratio)
    fall_num, fall_den = _ratio(policy.lifecycle.decline_ratio)
    h1, h2 = pl.col("h1"), pl.col("h2")
    return (
        pl.when(
            pl.col("first").is_not_null()
            & (end - pl.col("first") <= _days(policy.lifecycle.new_days))
        )
        .then(pl.lit("new"))
        .when(~pl.col("active"))
        .then(pl.lit("churned"))
        .when((h1 == 0) & (h2 == 0))
        .then(pl.lit("mature"))
        .when(h2 * grow_den >= h1 * grow_num)
        .then(pl.lit("growth"))
        .when(h2 * fall_den <= h1 * fall_num)
        .then(pl.lit("decline"))
        .otherwise(pl.lit("mature"))
    )


def _risk(policy: Policy) -> pl.Expr:
    count = pl.col("count")
    gap = (
        (pl.col("last") - pl.col("first")).cast(pl.Float64)
        / float(_US_PER_DAY)
        / (count - 1).cast(pl.Float64)
    )
    overdue_after = pl.max_horizontal(
        pl.lit(float(policy.risk.min_gap_days)), policy.risk.gap_factor * gap
    )
    overdue = (count >= 2) & (pl.col("recency_days").cast(pl.Float64) > overdue_after)
    return (
        pl.when(~pl.col("active"))
        .then(pl.lit("churned"))
        .when(overdue.fill_null(value=False) | pl.col("unhappy").fill_null(value=False))
        .then(pl.lit("at_risk"))
        .otherwise(pl.lit("ok"))
    )


def _score(share: pl.Expr) -> pl.Expr:
    """1 + floor(5 × share), capped at 5 (`tiering.classify.score_of`)."""
    return ((5 * share + SCORE_EPSILON).floor() + 1).clip(upper_bound=5).cast(pl.Int8)


def _segments(policy: Policy) -> pl.DataFrame:
    rows = [
        (r, f, m, policy.segment_for(r, f, m).value)
        for r in range(1, 6)
        for f in range(1, 6)
        for m in range(1, 6)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "r_score": pl.Int8,
            "f_score": pl.Int8,
            "m_score": pl.Int8,
            "rfm_segment": pl.String,
        },
        orient="row",
    )


def _group_shares(active: pl.DataFrame) -> pl.DataFrame:
    """customer_id, share_above (p), m_below, f_below and r_above of active customers, each
    k / n among the n active customers of the customer's GROUP (ExactPopulation's ranks)."""
    count = pl.len().over(GROUP).cast(pl.Float64)
    monetary, recency = pl.col("monetary_float"), pl.col("recency_days").cast(pl.Float64)
    return active.select(
        "customer_id",
        (monetary.rank("min", descending=True).over(GROUP) - 1).alias("share_above"),
        (monetary.rank("min").over(GROUP) - 1).alias("m_below"),
        (pl.col("frequency").rank("min").over(GROUP) - 1).alias("f_below"),
        (recency.rank("min", descending=True).over(GROUP) - 1).alias("r_above"),
        count.alias("_n"),
    ).with_columns(
        pl.col(name).cast(pl.Float64) / pl.col("_n")
        for name in ("share_above", "m_below", "f_below", "r_above")
    )


def classify(
    measured: pl.DataFrame,
    policy: Policy,
    *,
    profiles: pl.DataFrame | None = None,
    predicted_clv: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The score output columns (`streams.cli.score.OUTPUT_COLUMNS`, then PROFILE_COLUMNS
    when `profiles` is given) of measured customers.

    `profiles`: customer_id and PROFILE_COLUMNS (null = unknown), for tier conditions on them
    and, under `rank_within`, the groups ranked apart (`tiering.batch.group_of`: customers
    without the dimension rank together in their own group). `predicted_clv`: customer_id
    and `predicted_clv` (float) of a value model: the rising-star projection, in place of the
    growth fallback (`tiering.rising`).
    """
    if profiles is None:
        frame = measured.with_columns(
            pl.lit(None, dtype=pl.String).alias(name) for name in PROFILE_COLUMNS
        )
    else:
        frame = measured.join(profiles, on="customer_id", how="left", maintain_order="left")
    # tiering.batch.group_of: without profiles everyone ranks together.
    dimension = policy.rank_within if profiles is not None else None
    frame = frame.with_columns(
        (pl.lit(None, dtype=pl.String) if dimension is None else pl.col(dimension)).alias(GROUP)
    )
    if predicted_clv is None:
        frame = frame.with_columns(growth(policy).alias("projected"))
    else:
        frame = frame.join(predicted_clv, on="customer_id", how="left", maintain_order="left")
        frame = frame.with_columns(pl.coalesce("predicted_clv", growth(policy)).alias("projected"))
    active = frame.filter("active")
    ranked = _group_shares(active)
    share_above = pl.col("share_above")
    ranked = ranked.with_columns(
        abc_class=pl.when(share_above < policy.abc.a_cut)
        .then(pl.lit("A"))
        .when(share_above < policy.abc.b_cut)
        .then(pl.lit("B"))
        .otherwise(pl.lit("C")),
        r_score=_score(pl.col("r_above")),
        f_score=_score(pl.col("f_below")),
        m_score=_score(pl.col("m_below")),
    ).join(_segments(policy), on=("r_score", "f_score", "m_score"), how="left")
    frame = (
        frame.join(
            ranked.select(
                "customer_id",
                "share_above",
                "abc_class",
                "r_score",
                "f_score",
                "m_score",
                "rfm_segment",
            ),
            on="customer_id",
            how="left",
            maintain_order="left",
        )
        .join(projected_share_above(active), on="customer_id", how="left", maintain_order="left")
        .with_columns(pl.col("abc_class").fill_null("C"), rising_star(policy).alias("rising_star"))
    )
    from streams.cli.score import OUTPUT_COLUMNS

    # In `score` no customer has a previous tier, so hysteresis holds none.
    columns = OUTPUT_COLUMNS + (() if profiles is None else PROFILE_COLUMNS)
    frame = frame.with_columns(tier(policy).alias("tier"))
    return frame.with_columns(
        pl.when("rising_star").then(pl.lit("true")).otherwise(pl.lit("false")).alias("rising_star")
    ).select(columns)
