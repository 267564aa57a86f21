"""The demo's pure parts: the closing watermark, change descriptions, the board's figures."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from schemas import OrderEvent, Risk
from streams.demo.board import Board, describe_change
from streams.demo.feed import final_watermark
from streams.demo.sink import WebhookSink
from streams.notifier.testing import classification, tier_changed

DAY = 86_400


def _order(at: datetime) -> OrderEvent:
    return OrderEvent(
        event_id=f"e-{at.isoformat()}",
        order_id=f"o-{at.isoformat()}",
        customer_id="c1",
        occurred_at=at,
        amount=Decimal("10"),
    )


def test_final_watermark_passes_the_boundary_after_the_last_event() -> None:
    # Last event 2026-03-01 13:00; its epoch ends at 2026-03-02 00:00, which must close.
    events = [
        _order(datetime(2026, 2, 1, tzinfo=UTC)),
        _order(datetime(2026, 3, 1, 13, tzinfo=UTC)),
    ]
    mark = final_watermark(events, DAY)
    assert mark is not None and mark > datetime(2026, 3, 2, tzinfo=UTC)
    assert mark < datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC)
    assert final_watermark([], DAY) is None


def test_describe_change_lists_each_changed_field_with_before_and_after() -> None:
    first = tier_changed("c1", None, classification("B"))
    assert "tier –→B" in describe_change(first)
    upgrade = tier_changed("c1", classification("B"), classification("A", risk=Risk.AT_RISK))
    assert describe_change(upgrade) == "tier B→A, risk ok→at_risk"


def test_board_counts_each_customer_under_its_latest_tier() -> None:
    board = Board("run", 60, 10, WebhookSink(secret="s"))  # noqa: S106 - not a credential
    board.on_tier_changed(tier_changed("c1", None, classification("B")))
    board.on_tier_changed(tier_changed("c2", None, classification("C")))
    board.on_tier_changed(tier_changed("c1", classification("B"), classification("A")))
    assert board.tier_changes == 3
    assert board.tier_counts() == {"A": 1, "B": 0, "C": 1}
    assert board.directions == {"initial": 2, "upgrade": 1}
    assert any("TierChanged seen:   3 " in line for line in board.summary_lines())
