"""Who receives an alert: the customer's account manager, else the configured default owner."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from schemas.profile import AccountManager

__all__ = ["UNROUTED", "Recipient", "RouteSource", "route"]


# Manager id of the placeholder recipient that unroutable alerts are parked with.
UNROUTED = "unrouted"


class RouteSource(StrEnum):
    """Where the recipient came from (a closed set, safe as a log field)."""

    PROFILE = "profile"
    EVENT = "event"
    DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class Recipient:
    """An alert's addressee. Personal data: never log or label anything but `source`."""

    manager_id: str
    name: str | None
    email: str | None
    slack: str | None
    source: RouteSource


def _from_manager(manager: AccountManager, source: RouteSource) -> Recipient:
    return Recipient(manager.id, manager.name, manager.email, manager.slack, source)


def route(
    customer_id: str,
    event_manager: AccountManager | None,
    profiles: Mapping[str, AccountManager],
    default_owner: str | None,
    default_owner_email: str | None = None,
) -> Recipient | None:
    """The recipient of an alert about `customer_id`, or None when nobody can be named.

    The compacted `customers` topic wins over the manager copied into the TierChanged: it is
    the latest word on ownership, while the event may be older than a hand-over (a replay).
    """
    manager = profiles.get(customer_id)
    if manager is not None:
        return _from_manager(manager, RouteSource.PROFILE)
    if event_manager is not None:
        return _from_manager(event_manager, RouteSource.EVENT)
    if default_owner:
        return Recipient(default_owner, None, default_owner_email, None, RouteSource.DEFAULT)
    return None
