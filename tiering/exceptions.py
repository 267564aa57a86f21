"""Errors of the tiering domain: one root, one subclass per kind of problem."""

from __future__ import annotations

__all__ = ["PolicyError", "TieringError"]


class TieringError(Exception):
    """Root of every error raised by `tiering`."""


class PolicyError(TieringError):
    """A policy file is unreadable or invalid; the message names the field and the fix."""
