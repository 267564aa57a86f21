"""Who may read customers and alerts over HTTP: bearer tokens and what each one grants.

The endpoints that reveal customers or alerts (the worker's `GET /customers/{id}`, the
notifier's `/alerts/stream`) ask `Access.grant_for(Authorization header)`. Probes and
`/metrics` never do. Tokens come from a JSON file (TIERSTREAM_ACCESS__TOKENS_FILE, a mounted
Secret in k8s and compose) that holds only SHA-256 digests of the tokens, so neither the file
nor the process's memory nor a log line ever holds a usable token:

    {"tokens": [
        {"sha256": "<64 hex digits>", "admin": true},
        {"sha256": "<64 hex digits>", "managers": ["m-17", "m-18"]}
    ]}

`printf %s "$TOKEN" | sha256sum` gives a token's digest. An admin token reads every customer
and every manager's alerts; a manager token reads only the customers whose account manager
is one of its managers, and only those managers' alert streams. Without a tokens file the
endpoints are open (a laptop, the demo without one); the manifests always configure one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = ["ADMIN", "Access", "AccessFileError", "Grant", "digest", "load_grants"]


class AccessFileError(ValueError):
    """The tokens file cannot be read or is invalid; the message says which entry and why."""


@dataclass(frozen=True)
class Grant:
    """What one token may read: everything (`admin`) or the customers and alerts of `managers`."""

    admin: bool
    managers: frozenset[str]

    def may_read(self, manager_id: str | None) -> bool:
        """Whether this grant covers a customer or alert stream of `manager_id` (None: the
        customer has no known account manager, which only an admin may read)."""
        return self.admin or (manager_id is not None and manager_id in self.managers)


ADMIN = Grant(admin=True, managers=frozenset())


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    admin: bool = False
    managers: list[str] = Field(default_factory=list, max_length=10_000)

    @model_validator(mode="after")
    def _grants_something(self) -> _Entry:
        if not self.admin and not self.managers:
            raise ValueError("an entry needs admin: true or a non-empty managers list")
        if any(not manager or len(manager) > 200 for manager in self.managers):
            raise ValueError("manager ids are 1 to 200 characters")
        return self


class _TokensFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tokens: list[_Entry] = Field(min_length=1)


def digest(token: str) -> str:
    """SHA-256 of the token's UTF-8 bytes, lower-case hex: what the tokens file holds."""
    return hashlib.sha256(token.encode()).hexdigest()


def load_grants(path: Path) -> dict[str, Grant]:
    """token digest -> grant, from a tokens file; AccessFileError names the problem (never a
    digest: even those stay out of messages and logs)."""
    try:
        parsed = _TokensFile.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except OSError as error:
        raise AccessFileError(f"cannot read the tokens file {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise AccessFileError(f"tokens file {path} is not JSON (line {error.lineno})") from None
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        raise AccessFileError(f"tokens file {path}: {problems}") from None
    grants: dict[str, Grant] = {}
    for index, entry in enumerate(parsed.tokens):
        if entry.sha256 in grants:
            raise AccessFileError(f"tokens file {path}: tokens.{index} repeats an earlier digest")
        grants[entry.sha256] = Grant(entry.admin, frozenset(entry.managers))
    return grants


class Access:
    """Bearer-token checks for one process; `open` (no tokens file) grants everything."""

    def __init__(self, grants: dict[str, Grant] | None) -> None:
        self._grants = grants

    @classmethod
    def from_file(cls, path: Path | None) -> Access:
        """The tokens file's grants, or open access when no file is configured."""
        return cls(None if path is None else load_grants(path))

    @property
    def open(self) -> bool:
        """True when no tokens are configured: every request is an admin."""
        return self._grants is None

    def grant_for(self, authorization: str | None) -> Grant | None:
        """The grant of an `Authorization: Bearer TOKEN` header; None when the header is
        missing, malformed or names no configured token (the caller answers 401)."""
        if self._grants is None:
            return ADMIN
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        return self._grants.get(digest(token))
