"""Work-arounds for faust-streaming 0.15.3 defects the worker depends on; each says why.

They patch private internals of that one release, so the worker refuses to start on any
other (`check_faust_version`): a new release must be read against each work-around first.
The TransactionGate (streams/worker/transaction_gate.py) is the other quarantined module.
"""

from __future__ import annotations

import importlib.metadata
import shutil
from collections.abc import Mapping
from typing import Any

from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP, AppT
from faust.types.enums import ProcessingGuarantee

__all__ = [
    "PINNED_FAUST",
    "FaustVersionError",
    "check_faust_version",
    "discard_local_tables_under_exactly_once",
    "forget_acks_of_revoked_partitions",
    "forget_uncommitted_table_writes",
    "recover_tables_to_the_broker_end_offsets",
    "seek_stream_partitions_before_delivering_them",
    "seek_uncommitted_partitions_to_their_reset_offset",
]


# The faust-streaming release every work-around here and in transaction_gate.py was written
# and tested against (constraints.txt pins it too).
PINNED_FAUST = "0.15.3"


class FaustVersionError(RuntimeError):
    """The installed faust-streaming is not the release the work-arounds were made for."""


def check_faust_version() -> None:
    """Fail fast unless faust-streaming is exactly `PINNED_FAUST`."""
    installed = importlib.metadata.version("faust-streaming")
    if installed != PINNED_FAUST:
        raise FaustVersionError(
            f"faust-streaming {installed} is installed, but streams/worker/faust_fixes.py and "
            f"transaction_gate.py patch internals of {PINNED_FAUST}: install {PINNED_FAUST} "
            "(constraints.txt), or re-check each work-around against the new release first"
        )


async def _end_offsets_from_the_broker(
    self: AIOKafkaConsumerThread, partitions: list[TP]
) -> Mapping[TP, int]:
    consumer: Any = self._ensure_consumer()
    offsets: Mapping[TP, int] = await consumer.end_offsets(partitions)
    return offsets


def recover_tables_to_the_broker_end_offsets() -> None:
    """Make table recovery read each changelog up to its end as the broker reports it.

    Under exactly_once Faust takes a changelog's end from the consumer's cached last stable
    offset, which aiokafka learns only from a fetch of that partition. For a partition that a
    rebalance has just assigned there has been no fetch yet: Faust reads the end as -1, an
    empty changelog, and the worker taking the partition over starts from empty tables
    (tier changes computed from nothing) or, with a persisted offset, crashes with a
    ConsistencyError (robinhood/faust#658; seen here as two workers that diverged from one).
    A ListOffsets request from the read_committed consumer answers with the last stable
    offset itself. Idempotent; applies to every app in the process.
    """
    AIOKafkaConsumerThread._highwaters = _end_offsets_from_the_broker  # type: ignore[method-assign]


def discard_local_tables_under_exactly_once(app: AppT) -> None:
    """Under exactly_once, remove the app's local RocksDB tables before it starts, so that
    every table partition is rebuilt from its changelog's committed records alone.

    A RocksDB table writes each change to disk at once, but under exactly_once the changelog
    record of that change belongs to a transaction that a crash (or a fenced producer) aborts.
    Recovery reads committed records only and writes them over the local copy: a key that
    only aborted transactions wrote stays there, with a change that never happened. After a
    SIGKILL the restarted worker found such states (a customer's day record already holding
    the event it was about to process again) and lost or changed TierChanged. Nothing is lost
    by the removal: Faust 0.15.3 never records a changelog offset in a RocksDB table under
    exactly_once (it looks the pending offsets up by the *source* partitions it commits, but
    keeps them by changelog partition), so recovery replays each changelog from its start
    anyway. The memory store starts empty and needs nothing.
    """
    # Faust's settings descriptor types this as the enum class, not a member.
    guarantee: Any = app.conf.processing_guarantee
    if guarantee is not ProcessingGuarantee.EXACTLY_ONCE:
        return
    if app.conf.store.scheme != "rocksdb":
        return
    shutil.rmtree(app.conf.tabledir, ignore_errors=True)


def seek_stream_partitions_before_delivering_them() -> None:
    """Hold the consumer's flow from the moment recovery resumes the stream partitions until
    it has sought them to their committed offsets.

    Once table recovery is done Faust resumes the stream partitions, *then* awaits the
    committed offsets and seeks to them, with the flow (running since recovery began)
    still on. Records fetched in between reach the agents, and the seek then sets the read
    offsets back: the same records are delivered a second time, or the jump is counted as
    a gap and marked acknowledged while an agent still holds them. A restarted worker
    applied events twice and ranked with measurements missing or repeated (seen as
    TierChanged lost or a day late after a SIGKILL). Both places that resume stream
    partitions (recovery.py) seek next and then resume the flow themselves; the others
    resume changelog partitions only, with the flow left running. Idempotent.
    """
    if getattr(Consumer, "_tierstream_seek_first", False):
        return
    original = Consumer.resume_partitions

    def resume_partitions(self: Consumer, tps: Any) -> None:
        tps = set(tps)
        # Changelog partitions (recovery, standbys) are resumed with the flow left running.
        changelogs = self.app.tables.changelog_topics
        if any(tp.topic not in changelogs for tp in tps):
            self.stop_flow()
        original(self, tps)

    Consumer.resume_partitions = resume_partitions  # type: ignore[method-assign]
    Consumer._tierstream_seek_first = True  # type: ignore[attr-defined]


async def _seek_to_committed_or_reset(self: AIOKafkaConsumerThread) -> Mapping[TP, int]:
    consumer: Any = self._ensure_consumer()
    changelogs = self.app.tables.changelog_topics
    from_start = self.app.conf.consumer_auto_offset_reset == "earliest"

    async def seek() -> Mapping[TP, int]:
        committed: Mapping[TP, int] = await consumer.seek_to_committed()
        for tp, offset in committed.items():
            if tp.topic in changelogs or (offset is not None and offset > 0):
                continue
            if offset == 0 or from_start:
                await consumer.seek_to_beginning(tp)
            else:
                await consumer.seek_to_end(tp)
        return committed

    result: Mapping[TP, int] = await self.call_thread(seek)
    return result


def seek_uncommitted_partitions_to_their_reset_offset() -> None:
    """Make Faust's "seek to committed offsets" also rewind the stream partitions that have
    no committed offset yet, to where the reset policy starts them.

    aiokafka's seek_to_committed skips a partition whose committed offset is missing or 0,
    leaving it where the last fetch left it. Faust drops the records a fetch returns while
    its flow is stopped and relies on that seek to read them again: for a partition nothing
    has committed yet they were lost. Seen with two workers: the one that kept partitions
    across the rebalance had fetched them to their ends and never processed a record of
    them (0 TierChanged; the other worker's ranks waited for their summaries forever).
    Changelog partitions are left alone: recovery and standbys position those themselves.
    """
    AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed_or_reset  # type: ignore[method-assign]


def forget_acks_of_revoked_partitions(app: AppT, revoked: Any) -> None:
    """Drop the acknowledgements of revoked partitions that arrived after Faust dropped them.

    Faust forgets the acks of revoked partitions first, and only then stops the flow and
    signals the revocation: an agent still busy with a record acknowledges it (and every
    record it releases) into the cleared lists. Once the open transactions are aborted the
    next commit would commit those offsets without their outputs (seen: 611 of 2,542
    TierChanged missing after a rebalance). Call after aborting, before the next commit.
    """
    consumer: Any = app.consumer
    for tp in revoked:
        consumer._acked.pop(tp, None)
        consumer._acked_index.pop(tp, None)
        consumer._gap.pop(tp, None)


def forget_uncommitted_table_writes(app: AppT) -> None:
    """Empty every table of the app, to be rebuilt by the recovery that follows a rebalance.

    Call when partitions are revoked under exactly_once, after the open transactions were
    aborted. Faust keeps a table's contents across a rebalance and recovery only writes the
    changelog's committed records over them: a change whose transaction was aborted would
    stay.

    Recovery must then replay every changelog from its start, so its read positions are
    forgotten too. Faust keeps, for each changelog partition the worker keeps through the
    rebalance, the offset its last recovery read up to, and resumes there: the records
    before it (everything restored at the worker's start) would be missing from the
    emptied table. Seen as a restarted worker that, when a second worker joined, ranked
    its kept partitions from nearly empty state (106 of 2,543 TierChanged missing; after a
    SIGKILL restart, about 700 repeated). The memory store persists no offset, and under
    exactly_once Faust records none in RocksDB either (see
    discard_local_tables_under_exactly_once), so the replay starts at each changelog's
    earliest offset.
    """
    for table in app.tables.values():
        store: Any = table.data
        if hasattr(store, "_dbs"):  # RocksDB: one open database per partition
            for database in store._dbs.values():
                for key in list(database.keys()):
                    database.delete(key)
            store._key_index.clear()
        else:
            store.data.clear()
            store._key_partition.clear()
    tables: Any = app.tables  # TableManagerT does not declare `recovery`
    recovery = tables.recovery
    recovery.active_offsets.clear()
    recovery.standby_offsets.clear()
