"""`CustomerProfile`: who looks after a customer (topic `customers`, compacted)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.bounds import MAX_EMAIL_LENGTH, MAX_TEXT_LENGTH, EventId

__all__ = ["AccountManager", "CustomerProfile"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class AccountManager(BaseModel):
    """The person alerts about a customer are routed to. Personal data: never log or label it."""

    model_config = _FROZEN

    id: EventId
    name: str = Field(min_length=1, max_length=MAX_TEXT_LENGTH)
    email: str | None = Field(
        default=None, max_length=MAX_EMAIL_LENGTH, pattern=r"^[^@\s]+@[^@\s]+$"
    )
    slack: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)


class CustomerProfile(BaseModel):
    """Latest known profile of a customer; a tombstone (null value) on the topic erases it."""

    model_config = _FROZEN

    customer_id: EventId
    account_manager: AccountManager
    industry: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    size: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    region: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
