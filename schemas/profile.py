"""`CustomerProfile`: who looks after a customer (topic `customers`, compacted)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.bounds import MAX_EMAIL_LENGTH, MAX_TEXT_LENGTH, EventId

__all__ = ["PROFILE_DIMENSIONS", "AccountManager", "CustomerProfile", "ProfileDimensions"]

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


# The profile fields a policy may rank within or condition on (DESIGN.md "Policy-defined
# tiers"), in this order wherever they are listed.
PROFILE_DIMENSIONS = ("industry", "size", "region")


class ProfileDimensions(BaseModel):
    """A customer's segmentation fields, as `TierChanged.profile` carries them (contract 1.5).

    Group codes such as `manufacturing`, `smb`, `emea`, never names or free text; a missing
    field is null (such customers form their own group when a policy ranks within it)."""

    model_config = _FROZEN

    industry: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    size: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    region: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)


class CustomerProfile(BaseModel):
    """Latest known profile of a customer; a tombstone (null value) on the topic erases it."""

    model_config = _FROZEN

    customer_id: EventId
    account_manager: AccountManager
    industry: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    size: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)
    region: str | None = Field(default=None, max_length=MAX_TEXT_LENGTH)

    @property
    def dimensions(self) -> ProfileDimensions:
        """The segmentation fields alone (no account manager)."""
        return ProfileDimensions(industry=self.industry, size=self.size, region=self.region)
