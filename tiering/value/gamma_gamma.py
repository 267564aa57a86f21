"""Gamma-Gamma spend model (Fader, Hardie & Lee 2005, "RFM and CLV: Using iso-value curves
for customer base analysis", section 4; Fader & Hardie 2013, "The Gamma-Gamma model of
monetary value").

A customer's transaction values are Gamma(p, nu) around its mean p / nu, and nu ~ Gamma(q, v)
across customers (v is a scale in money units). Inputs per customer: x (repeat
transactions) and zbar (their mean value). Marginal density of zbar (the note's eq. 3):

    f(zbar | p, q, v, x) = Γ(p x + q) / (Γ(p x) Γ(q)) · v^q · zbar^(p x − 1) · x^(p x)
                           / (v + x zbar)^(p x + q)

Fitted by maximum likelihood over log-parameters (positive) on customers with x > 0 and
zbar > 0 only: the density is zero at zbar = 0, so a customer whose repeat purchases were
all free would make the likelihood −inf. Conditional expectation of the mean transaction
value (the note's eq. 5):

    E(M | p, q, v, x, zbar) = (v + x zbar) p / (p x + q − 1)

a weighted mean of the population mean p v / (q − 1) and the customer's zbar. Customers
without a positive zbar get the population mean.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaln

from tiering.value.exceptions import ValueModelError
from tiering.value.mle import fit_log_parameters

__all__ = [
    "GammaGammaFit",
    "GammaGammaParams",
    "expected_order_value",
    "fit_gamma_gamma",
    "log_likelihood",
    "population_mean",
]

Array = NDArray[np.float64]
Values = Sequence[float] | Array


@dataclass(frozen=True, slots=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: value shape `p`, and nu ~ Gamma(shape `q`, scale `v` in money)."""

    p: float
    q: float
    v: float


@dataclass(frozen=True, slots=True)
class GammaGammaFit:
    """A maximum-likelihood fit: parameters, summed log-likelihood, customers fitted on
    (x > 0 and zbar > 0), parameters that ended at a search bound, and whether the optimiser
    reported convergence."""

    params: GammaGammaParams
    log_likelihood: float
    customers: int
    at_bound: tuple[str, ...]
    converged: bool


def _log_densities(params: GammaGammaParams, x: Array, zbar: Array) -> Array:
    p, q, v = params.p, params.q, params.v
    px = p * x
    result: Array = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(zbar)
        + px * np.log(x)
        - (px + q) * np.log(v + x * zbar)
    )
    return result


def _fit_arrays(x: Values, zbar: Values) -> tuple[Array, Array]:
    xs, zs = np.asarray(x, dtype=np.float64), np.asarray(zbar, dtype=np.float64)
    if xs.shape != zs.shape:
        raise ValueModelError("x and zbar must have the same length")
    if np.any(xs <= 0) or np.any(~(zs > 0)):
        raise ValueModelError("Gamma-Gamma takes only customers with x > 0 and zbar > 0")
    return xs, zs


def log_likelihood(params: GammaGammaParams, x: Values, zbar: Values) -> float:
    """Summed log-density (the note's eq. 3) of customers with x > 0 and zbar > 0."""
    return float(np.sum(_log_densities(params, *_fit_arrays(x, zbar))))


def fit_gamma_gamma(x: Values, zbar: Values) -> GammaGammaFit:
    """Maximum-likelihood fit over log-parameters (start at p = q = v = 1) with L-BFGS-B.

    Takes only customers with x > 0 and zbar > 0 (the caller leaves the others out). A search
    that stops without converging is reported in `GammaGammaFit.converged`.
    """
    xs, zs = _fit_arrays(x, zbar)
    if xs.size == 0:
        raise ValueModelError("Gamma-Gamma fit needs at least one customer with x > 0")

    def negative(log_params: Array) -> float:
        p, q, v = np.exp(log_params)
        return float(-np.sum(_log_densities(GammaGammaParams(p, q, v), xs, zs)))

    fit = fit_log_parameters(negative, ("p", "q", "v"), "Gamma-Gamma")
    p, q, v = fit.values
    return GammaGammaFit(
        GammaGammaParams(p, q, v), fit.log_likelihood, int(xs.size), fit.at_bound, fit.converged
    )


def population_mean(params: GammaGammaParams) -> float:
    """E(M) = p v / (q − 1): the mean transaction value of a customer we know nothing about;
    infinite (no finite mean) when q ≤ 1."""
    if params.q <= 1:
        return float("inf")
    return params.p * params.v / (params.q - 1)


def expected_order_value(
    params: GammaGammaParams, x: Values, zbar: Sequence[float | None] | Array
) -> Array:
    """E(M | x, zbar) = (v + x zbar) p / (p x + q − 1) per customer (the note's eq. 5); the
    population mean p v / (q − 1) where x = 0 or zbar is missing, 0 or negative."""
    xs = np.asarray(x, dtype=np.float64)
    zs = np.asarray([np.nan if z is None else z for z in zbar], dtype=np.float64)
    if xs.shape != zs.shape:
        raise ValueModelError("x and zbar must have the same length")
    known = (xs > 0) & (zs > 0)
    x_safe, z_safe = np.where(known, xs, 1.0), np.where(known, zs, 1.0)
    p, q, v = params.p, params.q, params.v
    conditional = (v + x_safe * z_safe) * p / (p * x_safe + q - 1)
    result: Array = np.where(known, conditional, population_mean(params))
    return result
