"""`DeadLetter`: an input record that could not be used (topic `tierstream-dlq`)."""

from __future__ import annotations

import base64

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["DeadLetter"]


class DeadLetter(BaseModel):
    """The original bytes of a bad record, where it came from, and why it was rejected.

    `value_b64`/`key_b64` are base64 so that any bytes, valid UTF-8 or not, survive.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key_b64: str | None
    value_b64: str | None
    reason: str = Field(min_length=1, description="what was wrong, e.g. a validation message")
    error_type: str = Field(description="machine code: json_invalid, schema_invalid, ...")
    rejected_at: AwareDatetime

    @property
    def value(self) -> bytes | None:
        """The original value bytes."""
        return None if self.value_b64 is None else base64.b64decode(self.value_b64)

    @staticmethod
    def encode(raw: bytes | None) -> str | None:
        """Base64 text of raw bytes (None stays None)."""
        return None if raw is None else base64.b64encode(raw).decode("ascii")
