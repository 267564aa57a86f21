"""Read order and feedback CSV files into validated events, reporting unusable rows.

Orders: header `customer_id,order_id,occurred_at,amount` with optional `kind,margin,currency`
(kind defaults to purchase). Feedback: `customer_id,occurred_at,kind,score`. A timestamp
without a time zone is taken as UTC; a bare date means its midnight UTC. Rows that cannot be
used are skipped and reported with their line number and reason; only an unreadable file or
a missing required column is fatal (`CsvError`). Rows are held to the same bounds as events
from Kafka (`schemas.bounds`): an amount above 10^12, a time outside 1970..2100 or an id
longer than 200 characters is an unusable row whose reason names the field and the bound.
An amount of 0 is usable (a free sample or fully discounted order is still a purchase); a
negative or unparseable amount is not.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from schemas import FeedbackEvent, FeedbackKind, OrderEvent, OrderKind
from schemas.bounds import MAX_ID_LENGTH, MAX_TEXT_LENGTH, event_time_problem, money_problem
from schemas.profile import PROFILE_DIMENSIONS, ProfileDimensions

__all__ = [
    "CsvError",
    "CsvReport",
    "ProfileRow",
    "RowProblem",
    "event_id_of",
    "parse_feedback_row",
    "parse_instant",
    "parse_order_row",
    "read_feedback",
    "read_orders",
    "read_profiles",
    "row_verdict",
]

ORDER_COLUMNS = ("customer_id", "order_id", "occurred_at", "amount")
FEEDBACK_COLUMNS = ("customer_id", "occurred_at", "kind", "score")
# Profiles (`score --profiles`): customer_id, then industry, size, region (each optional:
# an empty cell or an absent column means unknown).
PROFILE_COLUMNS = ("customer_id",)


class CsvError(Exception):
    """The file cannot be read at all (missing, unreadable, or without the required columns)."""


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A skipped row: its 1-based line number in the file (its row number in a Parquet file,
    then named by `source`) and why it was skipped."""

    line: int
    reason: str
    source: str | None = None


@dataclass
class CsvReport:
    """What reading one file found."""

    path: Path
    rows: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    unit: str = "line"  # what a problem's number counts: CSV lines, or Parquet rows

    @property
    def by_reason(self) -> Counter[str]:
        """Number of skipped rows per reason."""
        return Counter(problem.reason for problem in self.problems)


class _RowError(ValueError):
    pass


def parse_instant(text: str) -> datetime:
    """An RFC 3339 timestamp or ISO date; naive values are UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _required(row: dict[str, str | None], name: str) -> str:
    value = (row.get(name) or "").strip()
    if not value:
        raise _RowError(f"missing {name}")
    return value


def _id(row: dict[str, str | None], name: str) -> str:
    value = _required(row, name)
    if len(value) > MAX_ID_LENGTH:
        raise _RowError(f"{name} longer than {MAX_ID_LENGTH} characters")
    return value


def _event_id(readable: str) -> str:
    """The readable id of a row, or a digest of it when it would be longer than an id may be
    (long customer or order ids); either way the same row always gets the same id."""
    if len(readable) <= MAX_ID_LENGTH:
        return readable
    return "csv:sha256:" + hashlib.sha256(readable.encode()).hexdigest()


def event_id_of(kind: str, order_id: str, occurred_at: datetime, amount: Decimal) -> str:
    """The id of an order row's event: the same row always gets the same id, so a repeated
    refund row is recognised as one refund."""
    return _event_id(f"csv:{kind}:{order_id}:{occurred_at.isoformat()}:{amount}")


def _instant(row: dict[str, str | None]) -> datetime:
    text = _required(row, "occurred_at")
    try:
        instant = parse_instant(text)
    except ValueError:
        raise _RowError("unparseable occurred_at") from None
    problem = event_time_problem(instant)
    if problem is not None:
        raise _RowError(f"occurred_at {problem}")
    return instant


def _decimal(row: dict[str, str | None], name: str, *, required: bool) -> Decimal | None:
    text = (row.get(name) or "").strip()
    if not text:
        if required:
            raise _RowError(f"missing {name}")
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _RowError(f"unparseable {name}") from None
    if not value.is_finite():
        raise _RowError(f"unparseable {name}")
    if value < 0:
        raise _RowError(f"negative {name}")
    problem = money_problem(value)
    if problem is not None:
        raise _RowError(f"{name} {problem}")
    return value


def _order(row: dict[str, str | None]) -> OrderEvent:
    customer_id = _id(row, "customer_id")
    order_id = _id(row, "order_id")
    occurred_at = _instant(row)
    # 0 is a usable amount: a free or fully discounted purchase still counts (DESIGN.md).
    amount = _decimal(row, "amount", required=True)
    kind_text = (row.get("kind") or "purchase").strip() or "purchase"
    try:
        kind = OrderKind(kind_text)
    except ValueError:
        raise _RowError("unknown kind") from None
    margin = _decimal(row, "margin", required=False)
    currency = (row.get("currency") or "EUR").strip() or "EUR"
    assert amount is not None  # required above
    event_id = event_id_of(kind.value, order_id, occurred_at, amount)
    try:
        return OrderEvent(
            event_id=event_id,
            order_id=order_id,
            customer_id=customer_id,
            occurred_at=occurred_at,
            amount=amount,
            currency=currency,
            kind=kind,
            margin=margin,
        )
    except ValidationError as error:
        raise _RowError(f"invalid {error.errors()[0]['loc'][0]}") from None


def _feedback(row: dict[str, str | None]) -> FeedbackEvent:
    customer_id = _id(row, "customer_id")
    occurred_at = _instant(row)
    try:
        kind = FeedbackKind(_required(row, "kind"))
    except ValueError:
        raise _RowError("unknown kind") from None
    score_text = (row.get("score") or "").strip()
    try:
        score = int(score_text) if score_text else None
    except ValueError:
        raise _RowError("unparseable score") from None
    event_id = _event_id(
        f"csv:feedback:{customer_id}:{occurred_at.isoformat()}:{kind.value}:{score_text}"
    )
    try:
        return FeedbackEvent(
            event_id=event_id,
            customer_id=customer_id,
            occurred_at=occurred_at,
            kind=kind,
            score=score,
        )
    except ValidationError:
        raise _RowError("score out of range for kind") from None


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """One usable row of a profiles file."""

    customer_id: str
    dimensions: ProfileDimensions


def _profile(row: dict[str, str | None]) -> ProfileRow:
    customer_id = _id(row, "customer_id")
    values: dict[str, str | None] = {}
    for name in PROFILE_DIMENSIONS:
        value = (row.get(name) or "").strip()
        if len(value) > MAX_TEXT_LENGTH:
            raise _RowError(f"{name} longer than {MAX_TEXT_LENGTH} characters")
        values[name] = value or None
    return ProfileRow(customer_id, ProfileDimensions(**values))


_EventT = TypeVar("_EventT", OrderEvent, FeedbackEvent, ProfileRow)


def parse_order_row(row: dict[str, str | None]) -> OrderEvent:
    """One order row (header name → text, None when absent) as an event; raises ValueError
    whose text is the problem reason when the row is unusable."""
    return _order(row)


def parse_feedback_row(row: dict[str, str | None]) -> FeedbackEvent:
    """One feedback row as an event; raises ValueError (the reason) when it is unusable."""
    return _feedback(row)


def row_verdict(
    parse: Callable[[dict[str, str | None]], _EventT], row: dict[str, str | None]
) -> tuple[_EventT | None, str | None]:
    """(event, None) for a usable row, (None, reason) for an unusable one: the row rules
    every reader shares (`streams.batch` applies them to the rows its fast path leaves)."""
    try:
        return parse(row), None
    except _RowError as problem:
        return None, str(problem)


def _read(
    path: Path,
    columns: tuple[str, ...],
    parse: Callable[[dict[str, str | None]], _EventT],
    report: CsvReport,
    on_progress: Callable[[int], None] | None,
) -> Iterator[_EventT]:
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as error:
        raise CsvError(f"{path}: cannot open: {error.strerror}") from None

    def counted(lines: Iterator[str]) -> Iterator[str]:
        # Characters read stand in for bytes: the progress bar needs no more precision.
        for line in lines:
            if on_progress is not None:
                on_progress(len(line))
            yield line

    with handle:
        reader = csv.DictReader(counted(iter(handle)))
        try:
            header = reader.fieldnames or []
            missing = [name for name in columns if name not in header]
            if missing:
                raise CsvError(f"{path}: header lacks required column(s): {', '.join(missing)}")
            for row in reader:
                report.rows += 1
                try:
                    yield parse(row)
                except _RowError as problem:
                    report.problems.append(RowProblem(reader.line_num, str(problem)))
        except (csv.Error, UnicodeDecodeError) as error:
            raise CsvError(f"{path}: line {reader.line_num}: cannot read: {error}") from None


def read_orders(
    path: Path, report: CsvReport, on_progress: Callable[[int], None] | None = None
) -> Iterator[OrderEvent]:
    """Usable order rows as events; problems are appended to `report`."""
    return _read(path, ORDER_COLUMNS, _order, report, on_progress)


def read_feedback(
    path: Path, report: CsvReport, on_progress: Callable[[int], None] | None = None
) -> Iterator[FeedbackEvent]:
    """Usable feedback rows as events; problems are appended to `report`."""
    return _read(path, FEEDBACK_COLUMNS, _feedback, report, on_progress)


def read_profiles(path: Path, report: CsvReport) -> dict[str, ProfileDimensions]:
    """customer_id → dimensions of the usable rows; unusable rows, and a customer's rows
    after its first (which counts), are appended to `report` with their line numbers."""
    profiles: dict[str, ProfileDimensions] = {}

    def first_of_customer(row: dict[str, str | None]) -> ProfileRow:
        parsed = _profile(row)
        if parsed.customer_id in profiles:
            raise _RowError("repeated customer_id (its first row counts)")
        profiles[parsed.customer_id] = parsed.dimensions
        return parsed

    for _ in _read(path, PROFILE_COLUMNS, first_of_customer, report, None):
        pass
    return profiles
