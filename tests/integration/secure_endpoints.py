"""The secured endpoints of the test infrastructure: the broker's SASL_SSL listener (a
SCRAM-SHA-512 user) and Redis's TLS port (an ACL user), both with certificates of a throwaway
CA that `scripts/infra up` makes. Tests configure tierstream processes for them only through
the settings a deployment uses: TIERSTREAM_KAFKA__* and a rediss:// URL with its CA."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

_VARIABLES = {
    "kafka_bootstrap": "TIERSTREAM_TEST_SECURE_KAFKA_BOOTSTRAP",
    "username": "TIERSTREAM_TEST_SECURE_KAFKA_USERNAME",
    "password": "TIERSTREAM_TEST_SECURE_KAFKA_PASSWORD",
    "redis_url": "TIERSTREAM_TEST_SECURE_REDIS_URL",
    "ca_file": "TIERSTREAM_TEST_SECURE_CA_FILE",
}


@dataclass(frozen=True)
class SecureInfra:
    """Addresses and credentials of the secured endpoints."""

    kafka_bootstrap: str
    username: str
    password: str
    redis_url: str
    ca_file: str

    def kafka_env(self, *, password: str | None = None) -> dict[str, str]:
        """TIERSTREAM_* variables of a process that talks to the SASL_SSL listener (the flat
        bootstrap variable too: it wins over the nested one, and the session sets it)."""
        return {
            "TIERSTREAM_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "TIERSTREAM_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
            "TIERSTREAM_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
            "TIERSTREAM_KAFKA__SASL_USERNAME": self.username,
            "TIERSTREAM_KAFKA__SASL_PASSWORD": self.password if password is None else password,
            "TIERSTREAM_KAFKA__SSL_CAFILE": self.ca_file,
        }

    def redis_env(self, *, url: str | None = None) -> dict[str, str]:
        """TIERSTREAM_* variables of a process that talks to Redis over TLS as the ACL user."""
        return {
            "TIERSTREAM_REDIS_URL": self.redis_url if url is None else url,
            "TIERSTREAM_REDIS__SSL_CA_CERTS": self.ca_file,
        }

    def redis_options(self) -> dict[str, Any]:
        """Keyword arguments of redis.asyncio.from_url for a test's own client."""
        return {"ssl_ca_certs": self.ca_file}


def secure_infra() -> SecureInfra:
    """From the environment (a sourced .infra/env), else from this checkout's .infra/env
    when the `infra` fixture took its plaintext addresses from there too: the tests check
    results on the plaintext listener, which must be the same broker's."""
    values = {field: os.environ.get(name) for field, name in _VARIABLES.items()}
    env_file = REPO / ".infra" / "env"
    from_file = "TIERSTREAM_KAFKA_BOOTSTRAP" not in os.environ
    if not all(values.values()) and from_file and env_file.exists():
        pairs = (line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
        recorded = {name.strip(): value.strip() for name, value in pairs}
        values = {field: recorded.get(name) for field, name in _VARIABLES.items()}
    missing = [name for field, name in _VARIABLES.items() if not values[field]]
    if missing:
        pytest.fail(
            f"no secured endpoints ({', '.join(missing)} unset): infrastructure started by an "
            "older scripts/infra has none; run scripts/infra down && scripts/infra up"
        )
    return SecureInfra(**{field: str(value) for field, value in values.items()})
