"""Stage 2 of the worker applies an erase to its tables: the `ranked` record goes, and the
list of pre-erase measurements to drop is kept in the `progress` table across a restart."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from streams.metrics import WorkerMetrics
from streams.worker.observe import WorkerObserver
from streams.worker.stage_two import StageTwo
from tests.unit.builders import POLICY
from tests.unit.test_erasure import ERASED, HOME, PARTITIONS, _day_one

CLOSED = datetime(2026, 1, 6, tzinfo=UTC)


def _stage_two(ranked: dict[bytes, bytes], progress: dict[bytes, bytes]) -> StageTwo:
    observer = WorkerObserver(WorkerMetrics.create(CollectorRegistry()), (), {})
    return StageTwo(POLICY, PARTITIONS, ranked, progress, lambda _: None, None, observer)


def _ranked_tables() -> dict[bytes, bytes]:
    pipeline = _day_one()
    record = pipeline.ranked(ERASED)
    assert record is not None
    return {ERASED.encode(): record}


def test_stage_two_erase_deletes_the_ranked_record() -> None:
    ranked = _ranked_tables()
    _stage_two(ranked, {}).erase(HOME, ERASED, CLOSED)
    assert ranked == {}


def test_the_measurements_to_drop_after_an_erase_survive_a_restart() -> None:
    ranked, progress = _ranked_tables(), {}
    _stage_two(ranked, progress).erase(HOME, ERASED, CLOSED)
    restarted = _stage_two(ranked, progress)
    assert restarted.schedule(HOME).erased == {ERASED: CLOSED}
