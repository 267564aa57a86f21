"""BG/NBD purchase model (Fader, Hardie & Lee 2005, "Counting your customers the easy way").

While alive, a customer buys as a Poisson process with rate λ ~ Gamma(r, alpha) (alpha is a
scale in time units: mean rate r / alpha per unit); after each purchase it drops out with
probability p ~ Beta(a, b). Inputs per customer: x (repeat transactions), t_x (time of the
last one) and T (age), all in the model's time unit (see `tiering.value.summary`).

Likelihood (paper eq. 6), with B the beta function:

    L = B(a, b + x) / B(a, b) · Γ(r + x) alpha^r / (Γ(r) (alpha + T)^(r + x))
      + [x > 0] B(a + 1, b + x − 1) / B(a, b) · Γ(r + x) alpha^r / (Γ(r) (alpha + t_x)^(r + x))

computed as log Γ(r + x) − log Γ(r) + r log alpha + logsumexp(two log terms), so that large x
and T neither overflow nor lose the smaller term. The fit maximises the summed log-likelihood
over log-parameters (so the parameters stay positive) with L-BFGS-B.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import betaln, expit, gammaln, hyp2f1, logsumexp

from tiering.value.exceptions import ValueModelError
from tiering.value.mle import fit_log_parameters

__all__ = [
    "BgNbdFit",
    "BgNbdParams",
    "expected_purchases",
    "fit_bg_nbd",
    "log_likelihood",
    "p_alive",
]

Array = NDArray[np.float64]
Values = Sequence[float] | Array


@dataclass(frozen=True, slots=True)
class BgNbdParams:
    """BG/NBD parameters: rate shape `r`, rate scale `alpha` (time units), dropout Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True, slots=True)
class BgNbdFit:
    """A maximum-likelihood fit: parameters, summed log-likelihood, customers, parameters that
    ended at a search bound (their values are not identified by the data), and whether the
    optimiser reported convergence."""

    params: BgNbdParams
    log_likelihood: float
    customers: int
    at_bound: tuple[str, ...]
    converged: bool


def _arrays(x: Values, t_x: Values, T: Values) -> tuple[Array, Array, Array]:
    xs, txs, ts = (np.asarray(v, dtype=np.float64) for v in (x, t_x, T))
    if xs.shape != txs.shape or xs.shape != ts.shape:
        raise ValueModelError("x, t_x and T must have the same length")
    return xs, txs, ts


def _log_likelihoods(params: BgNbdParams, x: Array, t_x: Array, T: Array) -> Array:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
    repeat = x > 0
    # For x = 0 the second term is absent; evaluate it at x = 1 and mask it to −inf.
    x_safe = np.where(repeat, x, 1.0)
    dropped = betaln(a + 1, b + x_safe - 1) - betaln(a, b) - (r + x) * np.log(alpha + t_x)
    dropped = np.where(repeat, dropped, -np.inf)
    result: Array = common + logsumexp(np.stack([alive, dropped]), axis=0)
    return result


def log_likelihood(
    params: BgNbdParams,
    x: Values,
    t_x: Values,
    T: Values,
) -> float:
    """Summed log-likelihood (paper eq. 6) of the customers (x, t_x, T) under `params`."""
    return float(np.sum(_log_likelihoods(params, *_arrays(x, t_x, T))))


def fit_bg_nbd(
    x: Values,
    t_x: Values,
    T: Values,
) -> BgNbdFit:
    """Maximum-likelihood BG/NBD fit over log-parameters (start at r = alpha = a = b = 1).

    Customers with the same (x, t_x, T) are weighted, not repeated, so the cost grows with the
    number of distinct summaries. Raises `ValueModelError` when there is no customer or the
    likelihood at the end is not finite; a search that stops without converging is reported
    in `BgNbdFit.converged`.
    """
    xs, txs, ts = _arrays(x, t_x, T)
    if xs.size == 0:
        raise ValueModelError("BG/NBD fit needs at least one customer")
    unique, counts = np.unique(np.stack([xs, txs, ts], axis=1), axis=0, return_counts=True)
    ux, utx, ut = unique[:, 0], unique[:, 1], unique[:, 2]
    weights = counts.astype(np.float64)

    def negative(log_params: Array) -> float:
        r, alpha, a, b = np.exp(log_params)
        ll = _log_likelihoods(BgNbdParams(r, alpha, a, b), ux, utx, ut)
        return float(-np.dot(weights, ll))

    fit = fit_log_parameters(negative, ("r", "alpha", "a", "b"), "BG/NBD")
    r, alpha, a, b = fit.values
    params = BgNbdParams(r, alpha, a, b)
    return BgNbdFit(params, fit.log_likelihood, int(xs.size), fit.at_bound, fit.converged)


def _log_dropout_odds(params: BgNbdParams, x: Array, t_x: Array, T: Array) -> Array:
    """log( a / (b + x − 1) · ((alpha + T) / (alpha + t_x))^(r + x) ) for x > 0, −inf for x = 0."""
    repeat = x > 0
    x_safe = np.where(repeat, x, 1.0)
    odds = (
        np.log(params.a)
        - np.log(params.b + x_safe - 1)
        + (params.r + x) * (np.log(params.alpha + T) - np.log(params.alpha + t_x))
    )
    result: Array = np.where(repeat, odds, -np.inf)
    return result


def p_alive(
    params: BgNbdParams,
    x: Values,
    t_x: Values,
    T: Values,
) -> Array:
    """P(alive | x, t_x, T) = 1 / (1 + [x > 0] a / (b + x − 1) ((alpha + T)/(alpha + t_x))^(r + x))
    (Fader, Hardie & Lee 2008, "Computing P(alive) using the BG/NBD model", eq. 2); 1 when x = 0
    because the model lets a customer drop out only right after a purchase."""
    xs, txs, ts = _arrays(x, t_x, T)
    result: Array = expit(-_log_dropout_odds(params, xs, txs, ts))
    return result


def expected_purchases(
    params: BgNbdParams,
    horizon: float,
    x: Values,
    t_x: Values,
    T: Values,
) -> Array:
    """Expected purchases in the next `horizon` time units (paper eq. 10):

        E[Y(t) | x, t_x, T] =
          (a + b + x − 1)/(a − 1) · [1 − ((alpha + T)/(alpha + T + t))^(r + x)
                                     · 2F1(r + x, b + x; a + b + x − 1; t/(alpha + T + t))]
          / (1 + [x > 0] a/(b + x − 1) · ((alpha + T)/(alpha + t_x))^(r + x))

    Undefined at exactly a = 1 (the paper's formula divides by a − 1).
    """
    if horizon < 0:
        raise ValueModelError(f"horizon must be >= 0, got {horizon}")
    xs, txs, ts = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    z = horizon / (alpha + ts + horizon)
    decay = np.exp((r + xs) * (np.log(alpha + ts) - np.log(alpha + ts + horizon)))
    bracket = 1.0 - decay * hyp2f1(r + xs, b + xs, a + b + xs - 1, z)
    alive_part = (a + b + xs - 1) / (a - 1) * bracket
    result: Array = alive_part * p_alive(params, xs, txs, ts)
    return result
