"""Maximum likelihood over positive parameters, searched as their logarithms (both value
models fit this way: tiering.value.bg_nbd, tiering.value.gamma_gamma).

Each parameter θ > 0 is searched as log θ in [−LOG_PARAMETER_BOUND, LOG_PARAMETER_BOUND]
(θ from 2e-9 to 5e8) by L-BFGS-B from θ = 1: wide enough for any real data set, and a
parameter that ends at an edge means the data do not pin it down (reported, not raised).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

from tiering.value.exceptions import ValueModelError

__all__ = ["LOG_PARAMETER_BOUND", "LogParameterFit", "fit_log_parameters"]

LOG_PARAMETER_BOUND = 20.0
# How close to an edge (in log units) a parameter counts as "at the bound".
_AT_BOUND = 1e-3


@dataclass(frozen=True, slots=True)
class LogParameterFit:
    """The maximising parameters (not logs), the maximum log-likelihood, the names of the
    parameters at a bound of the search, and whether the optimiser reported convergence."""

    values: tuple[float, ...]
    log_likelihood: float
    at_bound: tuple[str, ...]
    converged: bool


def fit_log_parameters(
    negative_log_likelihood: Callable[[NDArray[np.float64]], float],
    names: tuple[str, ...],
    model: str,
) -> LogParameterFit:
    """Minimise `negative_log_likelihood` (a function of the parameters' logarithms, in the
    order of `names`); a non-finite optimum raises ValueModelError naming `model`."""
    result = minimize(
        negative_log_likelihood,
        np.zeros(len(names)),
        method="L-BFGS-B",
        bounds=[(-LOG_PARAMETER_BOUND, LOG_PARAMETER_BOUND)] * len(names),
        options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 10_000},
    )
    if not np.isfinite(result.fun):
        raise ValueModelError(f"{model} fit ended at a non-finite likelihood: {result.message}")
    at_bound = tuple(
        name
        for name, value in zip(names, result.x, strict=True)
        if abs(abs(float(value)) - LOG_PARAMETER_BOUND) < _AT_BOUND
    )
    values = tuple(float(value) for value in np.exp(result.x))
    return LogParameterFit(values, float(-result.fun), at_bound, bool(result.success))
