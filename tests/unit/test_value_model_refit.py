"""A refitted value model reaches the ranking stage from the next boundary on.

The worker's `ModelSource` re-reads the model file when it changes (at most every
`check_seconds` on an injected clock) and keeps the model in use when the new file is bad;
the rankers switch at the next boundary and every evaluation from there names the new
version (TierChanged.value_model_version, the `ranked` table).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streams.pipeline.checkpoints import RankedRecord
from streams.pipeline.local_pipeline import LocalPipeline
from streams.pipeline.rank_stage import PartitionRanker
from streams.worker.model_source import ModelSource
from tests.unit.builders import POLICY, purchase, state_of
from tiering import ExactPopulation, Measurement, RankedMetric, measure
from tiering.value import ValueModel, model_json, model_version

DAY_SECONDS = 86_400
PARTITIONS = 2
START = datetime(2026, 1, 1, tzinfo=UTC)
CUSTOMERS = ("c1", "c2", "c3", "c4")


def _model(calibration_end: str, r: float = 0.243) -> ValueModel:
    return ValueModel.model_validate(
        {
            "bg_nbd": {"r": r, "alpha": 4.414, "a": 0.793, "b": 2.426},
            "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.44},
            "time_unit": "week",
            "calibration_end": calibration_end,
            "customers": 2357,
            "log_likelihood": {"bg_nbd": -9582.4, "gamma_gamma": -4053.0},
        }
    )


OLD = _model("2025-12-31")
NEW = _model("2026-01-01", r=0.3)


class _Clock:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _replace(path: Path, text: str) -> None:
    """As `clv fit --out` does: a new file renamed over the old one (new inode)."""
    staged = path.with_suffix(".tmp")
    staged.write_text(text, encoding="utf-8")
    os.replace(staged, path)


@pytest.fixture
def watched(tmp_path: Path) -> tuple[Path, _Clock, ModelSource]:
    path = tmp_path / "model.json"
    path.write_text(model_json(OLD), encoding="utf-8")
    clock = _Clock()
    return path, clock, ModelSource(path, check_seconds=60, monotonic=clock)


def test_model_source_hands_over_a_replaced_model_file_after_its_check_interval(
    watched: tuple[Path, _Clock, ModelSource],
) -> None:
    path, clock, source = watched
    _replace(path, model_json(NEW))
    clock.now = 59.0
    assert source.current() == OLD
    clock.now = 60.0
    assert source.current() == NEW
    assert source.version == model_version(NEW)


def test_model_source_keeps_the_old_model_and_names_the_field_of_a_bad_new_file(
    watched: tuple[Path, _Clock, ModelSource], caplog: pytest.LogCaptureFixture
) -> None:
    path, clock, source = watched
    _replace(path, model_json(OLD).replace('"r": 0.243', '"r": -1.0'))
    clock.now = 60.0
    with caplog.at_level(logging.ERROR, logger="tierstream.worker"):
        assert source.current() == OLD
    assert source.version == model_version(OLD)
    assert source.reloads == {"loaded": 0, "rejected": 1}
    assert "bg_nbd.r" in caplog.text


def test_model_source_takes_a_good_file_that_follows_a_bad_one(
    watched: tuple[Path, _Clock, ModelSource],
) -> None:
    path, clock, source = watched
    _replace(path, "{")
    clock.now = 60.0
    assert source.current() == OLD
    _replace(path, model_json(NEW))
    clock.now = 120.0
    assert source.current() == NEW


def test_model_source_keeps_the_model_while_the_file_is_missing(
    watched: tuple[Path, _Clock, ModelSource],
) -> None:
    path, clock, source = watched
    path.unlink()
    clock.now = 60.0
    assert source.current() == OLD


def _pipeline_at_first_boundary() -> LocalPipeline:
    pipeline = LocalPipeline(POLICY, PARTITIONS, DAY_SECONDS, value_model=OLD)
    for number, customer in enumerate(CUSTOMERS):
        pipeline.feed(purchase(START + timedelta(hours=number + 1), "50", customer=customer))
    _close_through(pipeline, START + timedelta(days=1))
    return pipeline


def _close_through(pipeline: LocalPipeline, boundary: datetime) -> None:
    for partition in range(PARTITIONS):
        pipeline.watermark(partition, boundary + timedelta(microseconds=1))


def _evaluated_version(pipeline: LocalPipeline, customer: str) -> str | None:
    raw = pipeline.ranked(customer)
    assert raw is not None
    evaluation = RankedRecord.from_json(raw).evaluation
    assert evaluation is not None
    return evaluation.value_model_version


def test_a_new_model_re_evaluates_every_customer_at_the_next_boundary_under_its_version() -> None:
    pipeline = _pipeline_at_first_boundary()
    assert {_evaluated_version(pipeline, c) for c in CUSTOMERS} == {model_version(OLD)}
    pipeline.use_value_model(NEW)
    # The next boundary is one another customer's purchase makes; c1..c4 bring no event to
    # it: the new model alone re-evaluates them (every partition sweeps the boundary).
    pipeline.feed(purchase(START + timedelta(days=1, hours=2), "80", customer="c5"))
    _close_through(pipeline, START + timedelta(days=2))
    assert {_evaluated_version(pipeline, c) for c in CUSTOMERS} == {model_version(NEW)}


def test_tier_changes_after_the_swap_carry_the_new_model_version() -> None:
    pipeline = _pipeline_at_first_boundary()
    before = len(pipeline.emitted)
    assert {e.value_model_version for e in pipeline.emitted} == {model_version(OLD)}
    pipeline.use_value_model(NEW)
    pipeline.feed(purchase(START + timedelta(days=1, hours=2), "80", customer="c5"))
    _close_through(pipeline, START + timedelta(days=2))
    after = pipeline.emitted[before:]
    assert any(e.customer_id == "c5" for e in after)
    assert {e.value_model_version for e in after} == {model_version(NEW)}


def _ranked_once(model: ValueModel) -> tuple[PartitionRanker, ExactPopulation]:
    """A ranker that ranked CUSTOMERS at the first boundary, and that boundary's population."""
    at = START + timedelta(days=1)
    measurements: list[Measurement] = [
        measure(state_of([purchase(START, "50", customer=c)]), POLICY, at) for c in CUSTOMERS
    ]
    population = ExactPopulation(
        {
            RankedMetric.MONETARY: [float(m.monetary) for m in measurements],
            RankedMetric.FREQUENCY: [float(m.frequency) for m in measurements],
            RankedMetric.RECENCY_DAYS: [float(m.recency_days or 0) for m in measurements],
        }
    )
    ranker = PartitionRanker(POLICY, value_model=model)
    ranker.rank(at, population, tuple(measurements))
    return ranker, population


def test_an_unchanged_population_and_model_re_evaluate_nobody() -> None:
    ranker, population = _ranked_once(OLD)
    ranker.use_value_model(ValueModel.model_validate(OLD.model_dump()))  # same version
    ranker.rank(START + timedelta(days=2), population, ())
    assert ranker.touched == set()


def test_a_new_model_alone_re_evaluates_every_customer_of_the_partition() -> None:
    ranker, population = _ranked_once(OLD)
    ranker.use_value_model(NEW)
    ranker.rank(START + timedelta(days=2), population, ())
    assert ranker.touched == set(CUSTOMERS)
    evaluations = [ranker.entry(customer)[3] for customer in CUSTOMERS]
    assert {e.value_model_version for e in evaluations if e is not None} == {model_version(NEW)}
