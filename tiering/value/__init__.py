"""Customer value models: BG/NBD purchases, Gamma-Gamma spend, and CLV from both.

- `summarise_orders(orders, as_of, unit)` → per-customer (x, t_x, T, zbar) (`summary`);
- `bg_nbd`: fit, `p_alive`, `expected_purchases` (Fader, Hardie & Lee 2005);
- `gamma_gamma`: fit, `expected_order_value` (Fader, Hardie & Lee 2005; Fader & Hardie 2013);
- `fit_value_model` / `predict` (`clv`): both models together, `predicted_clv` and
  `expected_next_order_at`;
- `ValueModel`, `load_model`, `save_model` (`model_file`): the JSON model file.

Pure: no I/O besides the model file helpers, no clock (as_of is a parameter).
"""

from tiering.value.bg_nbd import BgNbdParams
from tiering.value.clv import (
    DEFAULT_HORIZON_DAYS,
    FitReport,
    Prediction,
    fit_value_model,
    predict,
)
from tiering.value.exceptions import ModelFileError, ValueModelError
from tiering.value.gamma_gamma import GammaGammaParams
from tiering.value.model_file import (
    ValueModel,
    load_model,
    model_json,
    model_version,
    parse_model,
    save_model,
)
from tiering.value.summary import (
    TimeUnit,
    ValueSummary,
    summarise_days,
    summarise_orders,
    summarise_transactions,
)

__all__ = [
    "DEFAULT_HORIZON_DAYS",
    "BgNbdParams",
    "FitReport",
    "GammaGammaParams",
    "ModelFileError",
    "Prediction",
    "TimeUnit",
    "ValueModel",
    "ValueModelError",
    "ValueSummary",
    "fit_value_model",
    "load_model",
    "model_json",
    "model_version",
    "parse_model",
    "predict",
    "save_model",
    "summarise_days",
    "summarise_orders",
    "summarise_transactions",
]
