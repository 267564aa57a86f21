"""The value columns `tierstream score --clv-model` adds (DESIGN.md, "Customer value").

Each customer with a purchase at or before as_of gets its summary (x, t_x, T, zbar) at as_of
in the model's time unit and the model's predictions over `--clv-horizon-days`; a customer
with no purchase (only refunds or feedback) gets empty value cells.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from schemas import OrderEvent

if TYPE_CHECKING:
    from tiering.value import Prediction

__all__ = ["CLV_COLUMNS", "EMPTY_CELLS", "clv_cells", "prediction_cells"]

CLV_COLUMNS = (
    "p_alive",
    "expected_purchases",
    "expected_order_value",
    "predicted_clv",
    "expected_next_order_at",
)
EMPTY_CELLS = [""] * len(CLV_COLUMNS)


def clv_cells(
    model_path: Path,
    orders: Iterable[OrderEvent],
    as_of: datetime,
    horizon_days: float,
    annual_discount_rate: float = 0.0,
) -> dict[str, list[str]]:
    """Value cells by customer id (figures to 6 decimals, the next order as RFC 3339 UTC).

    Raises `tiering.value.ModelFileError` when the model file cannot be used.
    """
    from tiering.value import load_model, predict, summarise_orders

    model = load_model(model_path)
    summaries = summarise_orders(orders, as_of, model.time_unit)
    return {
        prediction.customer_id: prediction_cells(prediction)
        for prediction in predict(
            model, list(summaries.values()), horizon_days, annual_discount_rate
        )
    }


def prediction_cells(prediction: Prediction) -> list[str]:
    """The CLV_COLUMNS cells of one prediction: figures to 6 decimals, the next order as
    RFC 3339 in the zone of the last purchase."""
    return [
        f"{prediction.p_alive:.6f}",
        f"{prediction.expected_purchases:.6f}",
        f"{prediction.expected_order_value:.6f}",
        f"{prediction.predicted_clv:.6f}",
        prediction.expected_next_order_at.isoformat(),
    ]
