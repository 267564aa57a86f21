"""What the demo shows: figures gathered from the run, as a rich view, plain lines, a summary.

The tier counts come from the `TierChanged` stream itself (each customer's latest
classification), the alerts from the webhook sink; nothing here reads a log.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from schemas import Risk
from schemas.tier_changed import TierChanged
from streams.demo.sink import WebhookSink

__all__ = ["Board", "describe_change"]

# Styles of the top tiers, highest first; lower tiers are plain.
_TIER_STYLES = ("bold green", "yellow")
_DIRECTION_STYLE = {"upgrade": "green", "downgrade": "red", "initial": "dim", "lateral": "cyan"}


def describe_change(event: TierChanged) -> str:
    """`tier B→A, risk ok→at_risk` for the fields the event lists as changed."""
    parts = []
    for changed in event.changes:
        before = event.previous.model_dump(mode="json")[changed.value] if event.previous else None
        after = event.current.model_dump(mode="json")[changed.value]
        parts.append(f"{changed.value} {before or '–'}→{after or '–'}")
    return ", ".join(parts)


@dataclass
class Board:
    """Live figures of one demo run."""

    run_id: str
    duration: float
    total_events: int
    sink: WebhookSink
    skipped_rows: int = 0
    keep: int = 8
    started: float = field(default_factory=time.monotonic)
    published: int = 0
    event_time: datetime | None = None
    replay_done: bool = False
    tier_changes: int = 0
    directions: Counter[str] = field(default_factory=Counter)
    tiers: dict[str, str] = field(default_factory=dict)
    # The policy's tier names, highest first (the default policy's unless told).
    tier_names: tuple[str, ...] = ("A", "B", "C")
    risks: dict[str, Risk] = field(default_factory=dict)
    latest: deque[TierChanged] = field(default_factory=deque)
    first_change_after: float | None = None
    processes: dict[str, str] = field(default_factory=dict)
    sse_alerts: int = 0
    lookup: str = "not made"

    def on_sse_alert(self) -> None:
        """One alert arrived on the manager's SSE stream (read with its bearer token)."""
        self.sse_alerts += 1

    def last_customer(self) -> str | None:
        """The customer of the latest TierChanged, for the lookup at the end."""
        return self.latest[-1].customer_id if self.latest else None

    @property
    def elapsed(self) -> float:
        """Seconds since the demo started."""
        return time.monotonic() - self.started

    def on_progress(self, published: int, event_time: datetime) -> None:
        """The feed published its `published`-th event, at event time `event_time`."""
        self.published, self.event_time = published, event_time

    def on_tier_changed(self, event: TierChanged) -> None:
        """Count one TierChanged and remember it as the latest."""
        self.tier_changes += 1
        if self.first_change_after is None:
            self.first_change_after = self.elapsed
        self.directions[event.direction.value] += 1
        self.tiers[event.customer_id] = event.current.tier
        self.risks[event.customer_id] = event.current.risk
        self.latest.append(event)
        while len(self.latest) > self.keep:
            self.latest.popleft()

    def tier_counts(self) -> dict[str, int]:
        """Customers per current tier (every tier of the policy listed, zeros included)."""
        counts = Counter(self.tiers.values())
        listed = {tier: counts.get(tier, 0) for tier in self.tier_names}
        return listed | {tier: count for tier, count in counts.items() if tier not in listed}

    def at_risk(self) -> int:
        """Customers whose latest classification says at_risk."""
        return sum(1 for risk in self.risks.values() if risk is Risk.AT_RISK)

    # -- plain text -------------------------------------------------------------------------

    def _tiers_text(self) -> str:
        return " ".join(f"{tier} {count:,}" for tier, count in self.tier_counts().items())

    def _alerts_text(self) -> str:
        sink = self.sink
        return (
            f"{sink.alerts:,} alerts in {sink.requests:,} webhook requests "
            f"(signatures verified {sink.verified:,} of {sink.requests:,})"
        )

    def plain_line(self) -> str:
        """One progress line for logs and CI (no terminal)."""
        when = self.event_time.date().isoformat() if self.event_time else "-"
        return (
            f"[{self.elapsed:5.0f}s] replayed {self.published:,}/{self.total_events:,} "
            f"(event time {when}) | TierChanged {self.tier_changes:,} | "
            f"tiers {self._tiers_text()} | {self._alerts_text()}"
        )

    def summary_lines(self) -> list[str]:
        """The final summary (the integration test reads these lines)."""
        directions = ", ".join(f"{name} {n:,}" for name, n in sorted(self.directions.items()))
        first = (
            f"first after {self.first_change_after:.0f} s"
            if self.first_change_after is not None
            else "none arrived"
        )
        return [
            f"events replayed:    {self.published:,} of {self.total_events:,}"
            f" ({self.skipped_rows:,} unusable CSV rows skipped)",
            f"TierChanged seen:   {self.tier_changes:,} ({directions or 'none'}; {first})",
            f"customers per tier: {self._tiers_text()}; at risk {self.at_risk():,}",
            f"alerts received:    {self.sink.alerts:,} ({self.sink.unique_alerts:,} distinct, "
            f"{self.sink.digests:,} digests)",
            f"signatures:         verified {self.sink.verified:,} of {self.sink.requests:,} "
            f"webhook requests, rejected {self.sink.rejected:,}",
            f"alerts on SSE:      {self.sse_alerts:,} (the owner's stream, read with its token)",
            f"customer lookup:    {self.lookup}",
            f"elapsed:            {self.elapsed:.1f} s",
        ]

    # -- rich view --------------------------------------------------------------------------

    def _header(self) -> Text:
        text = Text.assemble(
            ("tierstream demo", "bold"),
            f"  run {self.run_id}  ",
            (f"{self.elapsed:.0f} s", "bold"),
            f" of {self.duration:.0f} s   ",
        )
        for name, state in self.processes.items():
            style = "green" if state == "running" else "red"
            text.append(f"{name} ", style="bold")
            text.append(f"● {state}  ", style=style)
        return text

    def _replay(self) -> Table:
        grid = Table.grid(padding=(0, 1))
        when = self.event_time.date().isoformat() if self.event_time else "—"
        status = "done" if self.replay_done else f"event time {when}"
        grid.add_row(
            "events replayed",
            ProgressBar(total=max(self.total_events, 1), completed=self.published, width=40),
            f"{self.published:,}/{self.total_events:,}  {status}",
        )
        return grid

    def _tiers(self) -> Table:
        table = Table(title="customers per tier", title_justify="left", expand=False)
        table.add_column("tier")
        table.add_column("customers", justify="right")
        table.add_column("")
        counts = self.tier_counts()
        largest = max(max(counts.values()), 1)
        for position, (tier, count) in enumerate(counts.items()):
            bar = "█" * round(30 * count / largest)
            style = _TIER_STYLES[position] if position < len(_TIER_STYLES) else "white"
            table.add_row(Text(tier, style), f"{count:,}", bar)
        return table

    def _change_counts(self) -> Text:
        return Text(
            f"{self.tier_changes:,} TierChanged · at risk {self.at_risk():,} · "
            + " · ".join(f"{d} {n:,}" for d, n in sorted(self.directions.items())),
            style="bold",
        )

    def _changes(self) -> Table:
        table = Table(title="latest tier changes", title_justify="left", expand=True)
        for column in ("event time", "customer", "direction", "what changed"):
            table.add_column(column, no_wrap=column != "what changed")
        for event in reversed(self.latest):
            direction = event.direction.value
            table.add_row(
                event.occurred_at.date().isoformat(),
                event.customer_id,
                Text(direction, _DIRECTION_STYLE.get(direction, "")),
                describe_change(event),
            )
        return table

    def _alerts(self) -> Table:
        table = Table(
            title=f"alerts received by the webhook · {self._alerts_text()}",
            title_justify="left",
            expand=True,
        )
        for column in ("sig", "customer", "triggers", "message"):
            table.add_column(column, no_wrap=column != "message")
        for alert in reversed(self.sink.latest):
            mark = Text("✓", "green") if alert.verified else Text("✗", "bold red")
            kind = f" (digest of {alert.digest_size})" if alert.digest_size > 1 else ""
            table.add_row(mark, alert.customer_id, ", ".join(alert.triggers), alert.summary + kind)
        return table

    def render(self) -> RenderableType:
        """The live view."""
        return Panel(
            Group(
                self._header(),
                self._replay(),
                self._tiers(),
                self._change_counts(),
                self._changes(),
                self._alerts(),
            ),
            border_style="blue",
        )
