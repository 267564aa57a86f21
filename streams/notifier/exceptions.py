"""Errors of the notifier; `NotifierError` is the root."""

from __future__ import annotations

__all__ = ["DeliveryError", "NotifierError", "PermanentDeliveryError"]


class NotifierError(Exception):
    """Root of every error the notifier raises on purpose."""


class DeliveryError(NotifierError):
    """A channel did not accept an alert this time; retrying may help (timeouts, 5xx, 429)."""


class PermanentDeliveryError(DeliveryError):
    """A channel refused an alert in a way retrying will not fix (4xx, bad address): park it."""
