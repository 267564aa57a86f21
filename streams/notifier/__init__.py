"""The notifier: turns `TierChanged` events into alerts for account managers.

Pure parts (rules, routing, rendering, signing, pacing) are importable without Kafka or
Redis; the service (`streams.notifier.service`) wires them to topics, channels and Redis.
"""

from streams.notifier.exceptions import DeliveryError, NotifierError, PermanentDeliveryError
from streams.notifier.render import Message, render
from streams.notifier.routing import Recipient, RouteSource, route
from streams.notifier.rules import Alert, Trigger, decide
from streams.notifier.signing import verify_signature

__all__ = [
    "Alert",
    "DeliveryError",
    "Message",
    "NotifierError",
    "PermanentDeliveryError",
    "Recipient",
    "RouteSource",
    "Trigger",
    "decide",
    "render",
    "route",
    "verify_signature",
]
