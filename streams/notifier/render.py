"""Alert messages: what changed, why, the figures, and the service level the tier is owed.

Pure functions from alerts to a `Message` (subject, plain text, JSON payload, Slack payload).
Several alerts for one manager render as one digest. Every payload lists its alerts with
their `event_id`, so a receiver can de-duplicate per change, digest or not.

Ids and free text from upstream go into the text forms through `streams.notifier.escape`
(one printable line each; Slack markup escaped), into the JSON forms as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas import ChangedField, Classification
from schemas.classification import ClassificationMetrics
from streams.notifier.escape import header_token, inline, slack_text
from streams.notifier.routing import Recipient
from streams.notifier.rules import Alert, Trigger

__all__ = ["Message", "alert_payload", "change_lines", "figure_line", "headline", "render"]

_TRIGGER_WORDS = {
    Trigger.TIER_UPGRADE: "tier upgrade",
    Trigger.AT_RISK: "now at risk",
    Trigger.DECLINE: "entered decline",
    Trigger.COMPLAINT: "complaint",
    Trigger.RISING_STAR: "rising star",
}


@dataclass(frozen=True, slots=True)
class Message:
    """One outgoing message for one recipient: a single alert or a digest of several."""

    subject: str
    text: str
    payload: dict[str, Any]
    slack: dict[str, Any]
    event_ids: tuple[str, ...]

    @property
    def idempotency_key(self) -> str:
        """The event_id for a single alert; for a digest, its event ids joined by `+` (stable).
        Safe in a header: a key that is not a plain token is replaced by its SHA-256
        (`streams.notifier.escape.header_token`)."""
        key = self.event_ids[0] if len(self.event_ids) == 1 else "+".join(sorted(self.event_ids))
        return header_token(key)


def _value(classification: Classification | None, field: ChangedField) -> str:
    if classification is None:
        return "none"
    value = {
        ChangedField.TIER: classification.tier,
        ChangedField.RISK: classification.risk,
        ChangedField.LIFECYCLE: classification.lifecycle,
        ChangedField.SEGMENT: classification.segment,
        ChangedField.RISING_STAR: "yes" if classification.rising_star else "no",
    }[field]
    return "none" if value is None else str(value)


def headline(alert: Alert) -> str:
    """`customer c-1: tier upgrade, now at risk`."""
    words = ", ".join(_TRIGGER_WORDS[trigger] for trigger in alert.triggers)
    return f"customer {inline(alert.event.customer_id)}: {words}"


def change_lines(alert: Alert) -> list[str]:
    """One line per changed field, `tier: B -> A`."""
    event = alert.event
    return [
        f"{field.value}: {_value(event.previous, field)} -> {_value(event.current, field)}"
        for field in event.changes
    ]


def figure_line(metrics: ClassificationMetrics) -> str:
    """The figures a classification came from, in one line."""
    parts = [
        f"recency {metrics.recency_days if metrics.recency_days is not None else '-'} days",
        f"frequency {metrics.frequency}",
        f"monetary {metrics.monetary:,.2f}",
    ]
    if metrics.monetary_share_above is not None:
        parts.append(
            f"top {metrics.monetary_share_above * 100:.1f} % of "
            f"{metrics.active_customers:,} active customers"
        )
    return ", ".join(parts)


def _scores(classification: Classification) -> str:
    scores = classification.scores
    if scores is None:
        return "no RFM scores (inactive)"
    return f"R{scores.recency} F{scores.frequency} M{scores.monetary}"


def alert_payload(alert: Alert) -> dict[str, Any]:
    """The JSON form of one alert (webhook body item, Redis stream entry, SSE data)."""
    event = alert.event
    return {
        "event_id": event.event_id,
        "customer_id": event.customer_id,
        "occurred_at": event.occurred_at.isoformat(),
        "triggers": [trigger.value for trigger in alert.triggers],
        "direction": event.direction.value,
        "changes": [
            {
                "field": field.value,
                "from": _value(event.previous, field),
                "to": _value(event.current, field),
            }
            for field in event.changes
        ],
        "tier": event.current.tier,
        "tier_label": alert.tier_label,
        "service_level": alert.service_level,
        "classification": event.current.model_dump(mode="json"),
        "reasons": [reason.model_dump(mode="json") for reason in event.reasons],
        "metrics": event.metrics.model_dump(mode="json"),
        "policy_version": event.policy_version,
        "summary": headline(alert),
    }


def _alert_text(alert: Alert) -> str:
    event = alert.event
    lines = [headline(alert), "", "What changed:"]
    lines += [f"  - {line}" for line in change_lines(alert)]
    lines += ["", "Why:"]
    lines += [
        f"  - {inline(reason.text, 1000)} [{inline(reason.code)}]" for reason in event.reasons
    ]
    lines += [
        "",
        f"Figures: {figure_line(event.metrics)}; {_scores(event.current)}",
        f"Service level for tier {event.current.tier} ({inline(alert.tier_label)}): "
        f"{inline(alert.service_level, 1000)}",
        f"Event {inline(event.event_id)} at {event.occurred_at.isoformat()}, "
        f"policy {inline(event.policy_version)}",
    ]
    return "\n".join(lines)


def _slack(alerts: Sequence[Alert], recipient: Recipient, title: str) -> dict[str, Any]:
    # A Slack member id (U…/W…, ASCII letters and digits) becomes a mention; anything else
    # is shown as written, escaped, so that no id or name can mention or link anyone.
    who = recipient.slack or recipient.name or recipient.manager_id
    member = who[:1] in {"U", "W"} and who.isascii() and who.isalnum()
    mention = f"<@{who}>" if member else slack_text(who)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": inline(title, 150)}},
    ]
    for alert in alerts:
        body = (
            f"*{slack_text(headline(alert), 1000)}*\n"
            # Field names and enum values only: no markup to escape.
            + "\n".join(f"• {line}" for line in change_lines(alert))
            + "\n"
            + "\n".join(f"> {slack_text(reason.text, 1000)}" for reason in alert.event.reasons)
            + f"\n_{figure_line(alert.event.metrics)}_"
            + f"\nService level ({slack_text(alert.tier_label)}): "
            + slack_text(alert.service_level, 1000)
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}})
    # Slack caps a message at 50 blocks; the fallback text still names the count.
    return {"text": f"{mention}: {slack_text(title)}", "blocks": blocks[:50]}


def render(alerts: Sequence[Alert], recipient: Recipient) -> Message:
    """One message for `recipient`: the alert itself, or a digest when there are several."""
    if not alerts:
        raise ValueError("render needs at least one alert")
    if len(alerts) == 1:
        alert = alerts[0]
        subject = f"[tierstream] {headline(alert)}"
        text = _alert_text(alert)
        kind = "tierstream.alert"
    else:
        subject = f"[tierstream] {len(alerts)} customer changes"
        text = "\n\n".join(
            [f"{len(alerts)} changes for your customers:"]
            + [f"{index}. {_alert_text(alert)}" for index, alert in enumerate(alerts, 1)]
        )
        kind = "tierstream.alert_digest"
    payload = {
        "type": kind,
        "manager_id": recipient.manager_id,
        "count": len(alerts),
        "text": text,
        "alerts": [alert_payload(alert) for alert in alerts],
    }
    return Message(
        subject=subject,
        text=text,
        payload=payload,
        slack=_slack(alerts, recipient, subject.removeprefix("[tierstream] ")),
        event_ids=tuple(alert.event_id for alert in alerts),
    )
