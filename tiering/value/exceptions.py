"""Errors of the customer-value models (one root under `TieringError`)."""

from __future__ import annotations

from tiering.exceptions import TieringError

__all__ = ["ModelFileError", "ValueModelError"]


class ValueModelError(TieringError):
    """Root of the value-model errors: a fit that cannot run or inputs the models refuse."""


class ModelFileError(ValueModelError):
    """A model file is unreadable or invalid; the message names the file and the field."""
