"""Invariants of the BG/NBD predictions over generated customers and parameters (hypothesis)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tiering.value.bg_nbd import BgNbdParams, expected_purchases, p_alive

_positive = st.floats(min_value=0.05, max_value=20, allow_nan=False)
# a = 1 exactly is the formula's removable singularity (it divides by a − 1).
_a = _positive.filter(lambda a: abs(a - 1) > 1e-3)


@st.composite
def params(draw: st.DrawFn) -> BgNbdParams:
    return BgNbdParams(r=draw(_positive), alpha=draw(_positive), a=draw(_a), b=draw(_positive))


@st.composite
def customers(draw: st.DrawFn) -> tuple[int, float, float]:
    """(x, t_x, T) with 0 <= t_x <= T and t_x = 0 when x = 0."""
    T = draw(st.floats(min_value=0.1, max_value=500))
    x = draw(st.integers(min_value=0, max_value=60))
    t_x = 0.0 if x == 0 else draw(st.floats(min_value=0, max_value=T))
    return x, t_x, T


@given(params(), customers())
def test_p_alive_is_a_probability(model: BgNbdParams, customer: tuple[int, float, float]) -> None:
    x, t_x, T = customer
    value = float(p_alive(model, [x], [t_x], [T])[0])
    assert 0.0 <= value <= 1.0


@given(params(), customers(), st.floats(min_value=0, max_value=1))
def test_p_alive_does_not_rise_when_the_last_purchase_is_longer_ago(
    model: BgNbdParams, customer: tuple[int, float, float], share: float
) -> None:
    x, t_x, T = customer
    earlier = t_x * share
    recent, older = p_alive(model, [x, x], [t_x, earlier], [T, T])
    assert older <= recent + 1e-12


@given(params(), customers(), st.floats(min_value=0, max_value=400))
def test_expected_purchases_are_not_negative(
    model: BgNbdParams, customer: tuple[int, float, float], horizon: float
) -> None:
    x, t_x, T = customer
    assert float(expected_purchases(model, horizon, [x], [t_x], [T])[0]) >= -1e-9


@given(params(), customers(), st.floats(min_value=0, max_value=200), st.floats(0, 200))
def test_expected_purchases_do_not_fall_as_the_horizon_grows(
    model: BgNbdParams, customer: tuple[int, float, float], horizon: float, extra: float
) -> None:
    x, t_x, T = customer
    shorter = float(expected_purchases(model, horizon, [x], [t_x], [T])[0])
    longer = float(expected_purchases(model, horizon + extra, [x], [t_x], [T])[0])
    assert longer >= shorter - 1e-9 * max(1.0, abs(shorter))
