"""Webhook signatures: HMAC-SHA256 over `timestamp + "." + body`.

Headers on every webhook request:

- `X-Tierstream-Timestamp`: Unix seconds when the request was signed;
- `X-Tierstream-Signature`: `v1=` + hex HMAC-SHA256(secret, f"{timestamp}.{body}");
- `Idempotency-Key`: the TierChanged event_id (several joined by `+` for a digest); a key
  that is not a plain token of at most 64 characters is sent as `sha256-` and 32 hex digits
  of its SHA-256 (`streams.notifier.escape.header_token`).

Signing the timestamp with the body lets a receiver reject replays older than a tolerance.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = [
    "IDEMPOTENCY_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "sign",
    "signature_headers",
    "verify_signature",
]

SIGNATURE_HEADER = "X-Tierstream-Signature"
TIMESTAMP_HEADER = "X-Tierstream-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_SCHEME = "v1"


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def sign(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>`."""
    mac = hmac.new(_as_bytes(secret), _as_bytes(timestamp) + b"." + body, hashlib.sha256)
    return f"{_SCHEME}={mac.hexdigest()}"


def signature_headers(
    secret: str | bytes, body: bytes, now: float, idempotency_key: str
) -> dict[str, str]:
    """The three headers of a signed request made at Unix time `now`."""
    timestamp = str(int(now))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        IDEMPOTENCY_HEADER: idempotency_key,
    }


def verify_signature(
    secret: str | bytes,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: float,
    tolerance_seconds: float = 300.0,
) -> bool:
    """Whether `signature` (the header, possibly several comma-separated `v1=` values during
    a secret rotation) signs `body` at `timestamp`, and the timestamp is within
    `tolerance_seconds` of `now` (Unix seconds). Comparison is constant-time."""
    try:
        signed_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - signed_at) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body)
    candidates = [part.strip() for part in signature.split(",")]
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
