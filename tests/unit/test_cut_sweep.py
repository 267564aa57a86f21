"""The cut sweep finds exactly the customers a brute-force comparison finds, with few calls."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from streams.pipeline.cut_sweep import changed_positions


def _threshold_class(cuts: list[float]) -> object:
    def class_of(value: float) -> int:
        return sum(value > cut for cut in cuts)

    return class_of


def test_customers_between_the_old_and_new_cut_change_class() -> None:
    """Cut moves from 10 to 20: values 11..20 fall from class 1 to class 0."""
    values = [float(v) for v in range(1, 31)]
    changed = changed_positions(values, _threshold_class([10.0]), _threshold_class([20.0]))
    assert [values[i] for i in changed] == [float(v) for v in range(11, 21)]


def test_nothing_changes_when_the_cuts_stay() -> None:
    values = [float(v) for v in range(100)]
    same = _threshold_class([50.0])
    assert changed_positions(values, same, same) == []


def test_empty_index_has_no_changes() -> None:
    assert changed_positions([], _threshold_class([1.0]), _threshold_class([2.0])) == []


def test_a_small_cut_move_costs_logarithmically_many_class_evaluations() -> None:
    values = [float(v) for v in range(100_000)]
    calls = 0

    def counted(cuts: list[float]) -> object:
        inner = _threshold_class(cuts)

        def class_of(value: float) -> object:
            nonlocal calls
            calls += 1
            return inner(value)

        return class_of

    changed = changed_positions(values, counted([50_000.0]), counted([50_003.0]))
    assert len(changed) == 3
    assert calls < 500


@given(
    values=st.lists(st.integers(min_value=0, max_value=50), max_size=200),
    old_cuts=st.lists(st.integers(min_value=0, max_value=50), max_size=4),
    new_cuts=st.lists(st.integers(min_value=0, max_value=50), max_size=4),
)
def test_sweep_agrees_with_brute_force(
    values: list[int], old_cuts: list[int], new_cuts: list[int]
) -> None:
    ordered = sorted(float(v) for v in values)
    before = _threshold_class([float(c) for c in old_cuts])
    after = _threshold_class([float(c) for c in new_cuts])
    expected = [i for i, v in enumerate(ordered) if before(v) != after(v)]
    assert changed_positions(ordered, before, after) == expected


def test_sweep_handles_decreasing_step_functions_with_ties() -> None:
    generator = random.Random(3)
    ordered = sorted(float(generator.randint(0, 20)) for _ in range(500))

    def rank_before(value: float) -> int:
        return 0 if value >= 15 else 1 if value >= 8 else 2

    def rank_after(value: float) -> int:
        return 0 if value >= 12 else 1 if value >= 8 else 2

    expected = [i for i, v in enumerate(ordered) if rank_before(v) != rank_after(v)]
    assert changed_positions(ordered, rank_before, rank_after) == expected
