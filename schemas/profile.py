"""`CustomerProfile`: who looks after a customer (topic `customers`, compacted)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AccountManager", "CustomerProfile"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class AccountManager(BaseModel):
    """The person alerts about a customer are routed to. Personal data: never log or label it."""

    model_config = _FROZEN

    id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    slack: str | None = Field(default=None, max_length=200)


class CustomerProfile(BaseModel):
    """Latest known profile of a customer; a tombstone (null value) on the topic erases it."""

    model_config = _FROZEN

    customer_id: str = Field(min_length=1, max_length=200)
    account_manager: AccountManager
    industry: str | None = None
    size: str | None = None
    region: str | None = None
