"""An independent computation of DESIGN.md's default definitions with pandas.

Written from the definitions, not from `tiering`: it reads the CSV files itself, applies the
row rules of the CSV formats, and computes every output column of `tierstream score` with
vectorised pandas and exact integer rank arithmetic. Money stays Decimal so that sums (and
therefore ties) are exact.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pandas as pd

WINDOW = timedelta(days=365)
SPLIT = timedelta(days=182)
NEW = timedelta(days=90)
LOOKBACK = timedelta(days=30)
DAY = pd.Timedelta(days=1)

# (R, F) → segment, the default policy's table; M does not split segments.
SEGMENTS = {}
for r_score in range(1, 6):
    for f_score in range(1, 6):
        if r_score == 1 and f_score == 1:
            name = "lost"
        elif r_score <= 2:
            name = "hibernating" if f_score <= 2 else "at_risk" if f_score <= 4 else "cant_lose"
        elif r_score == 3:
            name = (
                "about_to_sleep" if f_score <= 2 else "need_attention" if f_score == 3 else "loyal"
            )
        elif f_score >= 4:
            name = "loyal" if r_score == 4 else "champions"
        elif f_score >= 2:
            name = "potential_loyalist"
        else:
            name = "promising" if r_score == 4 else "new"
        SEGMENTS[(r_score, f_score)] = name


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _times(column: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(column.str.strip(), format="ISO8601", errors="coerce", utc=True)
    return parsed


def load_orders(path: Path) -> pd.DataFrame:
    """Usable order rows: ids present, time parsed, amount a number >= 0, known kind.

    A zero amount is usable (a free purchase counts for frequency, recency and lifecycle).
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = pd.DataFrame(
        {
            "customer_id": raw["customer_id"].str.strip(),
            "order_id": raw["order_id"].str.strip(),
            "at": _times(raw["occurred_at"]),
            "amount": raw["amount"].str.strip().map(_decimal),
            "kind": raw.get("kind", pd.Series("", index=raw.index))
            .str.strip()
            .replace("", "purchase"),
        }
    )
    usable = (
        (frame["customer_id"] != "")
        & (frame["order_id"] != "")
        & frame["at"].notna()
        & frame["amount"].map(lambda a: a is not None and a >= 0)
        & frame["kind"].isin(["purchase", "refund", "cancel"])
    )
    return frame[usable]


def load_feedback(path: Path) -> pd.DataFrame:
    """Usable feedback rows with a score valid for their kind."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = pd.DataFrame(
        {
            "customer_id": raw["customer_id"].str.strip(),
            "at": _times(raw["occurred_at"]),
            "kind": raw["kind"].str.strip(),
            "score": pd.to_numeric(raw["score"].str.strip().replace("", None), errors="coerce"),
        }
    )
    bounds = {"csat": (1, 5), "nps": (0, 10), "complaint": (1, 3)}

    def valid(row: pd.Series) -> bool:
        if row["kind"] == "praise":
            return bool(pd.isna(row["score"]))
        if row["kind"] not in bounds:
            return False
        if pd.isna(row["score"]):
            return row["kind"] == "complaint"
        low, high = bounds[row["kind"]]
        return bool(low <= row["score"] <= high)

    usable = (frame["customer_id"] != "") & frame["at"].notna() & frame.apply(valid, axis=1)
    return frame[usable]


def _sum(values: pd.Series) -> Decimal:
    return sum(values, Decimal(0))


def score(orders_path: Path, feedback_path: Path, as_of: datetime) -> pd.DataFrame:
    """One row per customer with the columns of `tierstream score` (as strings)."""
    orders = load_orders(orders_path)
    feedback = load_feedback(feedback_path)
    customers = sorted(set(orders["customer_id"]) | set(feedback["customer_id"]))
    as_of_ts = pd.Timestamp(as_of)
    orders = orders[orders["at"] <= as_of_ts]
    feedback = feedback[feedback["at"] <= as_of_ts]

    purchases = orders[orders["kind"] == "purchase"].drop_duplicates(["customer_id", "order_id"])
    adjustments = orders[orders["kind"] != "purchase"].drop_duplicates(
        ["customer_id", "kind", "order_id", "at", "amount"]
    )
    start, split = as_of_ts - WINDOW, as_of_ts - SPLIT

    def window_sum(frame: pd.DataFrame, low: pd.Timestamp, high: pd.Timestamp) -> pd.Series:
        inside = frame[(frame["at"] > low) & (frame["at"] <= high)]
        return inside.groupby("customer_id")["amount"].agg(_sum)

    index = pd.Index(customers, name="customer_id")
    zero = Decimal(0)
    net = window_sum(purchases, start, as_of_ts).reindex(index, fill_value=zero) - window_sum(
        adjustments, start, as_of_ts
    ).reindex(index, fill_value=zero)
    h1 = window_sum(purchases, start, split).reindex(index, fill_value=zero) - window_sum(
        adjustments, start, split
    ).reindex(index, fill_value=zero)
    h2 = window_sum(purchases, split, as_of_ts).reindex(index, fill_value=zero) - window_sum(
        adjustments, split, as_of_ts
    ).reindex(index, fill_value=zero)
    in_window = purchases[(purchases["at"] > start) & (purchases["at"] <= as_of_ts)]
    frequency = in_window.groupby("customer_id").size().reindex(index, fill_value=0)
    lifetime = purchases.groupby("customer_id")["at"].agg(["min", "max", "size"]).reindex(index)

    out = pd.DataFrame(index=index)
    out["frequency"] = frequency
    out["monetary"] = net.map(lambda v: max(v, zero))
    out["active"] = frequency > 0
    out["recency_days"] = ((as_of_ts - lifetime["max"]) // DAY).astype("Int64")
    h1 = h1.map(lambda v: max(v, zero))
    h2 = h2.map(lambda v: max(v, zero))

    active = out[out["active"]]
    count = len(active)
    monetary_float = active["monetary"].map(float)
    greater_m = monetary_float.rank(method="min", ascending=False).astype(int) - 1
    smaller_m = monetary_float.rank(method="min", ascending=True).astype(int) - 1
    smaller_f = active["frequency"].rank(method="min", ascending=True).astype(int) - 1
    greater_r = (
        active["recency_days"].astype(float).rank(method="min", ascending=False).astype(int) - 1
    )

    def score_of(below: pd.Series) -> pd.Series:
        return (1 + (5 * below) // count).clip(upper=5)

    out["abc_class"] = "C"
    out.loc[active.index, "abc_class"] = [
        "A" if 100 * g < 5 * count else "B" if 100 * g < 20 * count else "C" for g in greater_m
    ]
    out["tier"] = out["abc_class"]
    out["r_score"] = pd.Series(score_of(greater_r), dtype="Int64")
    out["f_score"] = pd.Series(score_of(smaller_f), dtype="Int64")
    out["m_score"] = pd.Series(score_of(smaller_m), dtype="Int64")
    out["rfm_segment"] = [
        SEGMENTS[(int(r), int(f))] if pd.notna(r) else ""
        for r, f in zip(out["r_score"], out["f_score"], strict=True)
    ]

    negative = feedback[
        (
            (feedback["kind"] == "complaint")
            | ((feedback["kind"] == "csat") & (feedback["score"] <= 2))
        )
        & (feedback["at"] > as_of_ts - LOOKBACK)
    ]
    unhappy = set(negative["customer_id"])
    lifecycle, risk = [], []
    for customer in customers:
        first, last, n = lifetime.loc[customer, ["min", "max", "size"]]
        is_active = bool(out.loc[customer, "active"])
        if pd.notna(first) and as_of_ts - first <= NEW:
            lifecycle.append("new")
        elif not is_active:
            lifecycle.append("churned")
        elif h1[customer] == 0 and h2[customer] == 0:
            lifecycle.append("mature")
        elif h2[customer] >= Decimal("1.2") * h1[customer]:
            lifecycle.append("growth")
        elif h2[customer] <= Decimal("0.8") * h1[customer]:
            lifecycle.append("decline")
        else:
            lifecycle.append("mature")
        if not is_active:
            risk.append("churned")
            continue
        overdue = False
        if pd.notna(n) and n >= 2:
            gap = (last - first) / DAY / (n - 1)
            overdue = out.loc[customer, "recency_days"] > max(30.0, 2 * gap)
        risk.append("at_risk" if overdue or customer in unhappy else "ok")
    out["lifecycle"] = lifecycle
    out["risk"] = risk
    return out.reset_index()
