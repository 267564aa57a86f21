"""Run `tierstream worker` and `tierstream notifier` with a deployment file's environment.

The environment is the one the built manifests (kustomize) or docker-compose.yml give the
container, changed only where this machine differs from the cluster, never in what decides
where the process listens:
- where things are: the shared broker and Redis (PLAINTEXT, no SASL) instead of the
  cluster's; fresh app id, topics, group and Redis prefix per test (the broker is shared);
- files that exist only in the pod (policy, value model, tokens, data dir): local copies;
- port numbers: every declared port P becomes a free port F, in the variables and in the
  probe and scrape targets alike (the shared machine may already have P in use), so a
  process that ignores its port variable listens on its default, not on F, and fails.
Requests go to 127.0.0.2, a loopback address the processes do not bind by default: a
server on 127.0.0.1 refuses them (as a pod's loopback refuses the kubelet and Prometheus),
one on 0.0.0.0 answers.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from streams.access import digest
from tests.conftest import Infra
from tests.integration.notifier_harness import free_port
from tests.unit.cdnow import PUBLISHED_MODEL_JSON

__all__ = ["OTHER_LOOPBACK", "TOKEN", "get", "local_environment", "port_map", "wait_for"]

OTHER_LOOPBACK = "127.0.0.2"
TOKEN = "deployment-test-token"  # noqa: S105 (a test token, not a credential)
_CLUSTER_ONLY = (
    "TIERSTREAM_KAFKA__SECURITY_PROTOCOL",
    "TIERSTREAM_KAFKA__SASL_MECHANISM",
    "TIERSTREAM_KAFKA__SASL_USERNAME",
    "TIERSTREAM_KAFKA__SASL_PASSWORD",
)


def port_map(*declared: int) -> dict[int, int]:
    """Each declared port -> a free local port."""
    return {port: free_port() for port in declared}


def local_environment(
    env: Mapping[str, str],
    infra: Infra,
    name: str,
    workdir: Path,
    ports: Mapping[int, int],
    policy_text: str,
) -> dict[str, str]:
    """The deployment's environment for a process on this machine (see the module doc)."""
    local = {key: value for key, value in env.items() if key not in _CLUSTER_ONLY}
    for key, value in local.items():
        if value.isdigit() and int(value) in ports:
            local[key] = str(ports[int(value)])
    workdir.mkdir(parents=True, exist_ok=True)
    if "TIERSTREAM_POLICY" in local:
        policy = workdir / "policy.yaml"
        policy.write_text(policy_text, encoding="utf-8")
        local["TIERSTREAM_POLICY"] = str(policy)
    if "TIERSTREAM_CLV_MODEL" in local:
        model = workdir / "model.json"
        model.write_text(PUBLISHED_MODEL_JSON, encoding="utf-8")
        local["TIERSTREAM_CLV_MODEL"] = str(model)
    if "TIERSTREAM_ACCESS__TOKENS_FILE" in local:
        tokens = workdir / "tokens.json"
        tokens.write_text(
            json.dumps({"tokens": [{"sha256": digest(TOKEN), "admin": True}]}), encoding="utf-8"
        )
        local["TIERSTREAM_ACCESS__TOKENS_FILE"] = str(tokens)
    if "TIERSTREAM_DATA_DIR" in local:
        local["TIERSTREAM_DATA_DIR"] = str(workdir / "data")
    local.update(
        {
            "TIERSTREAM_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
            "TIERSTREAM_REDIS_URL": infra.redis_url,
            "TIERSTREAM_APP_ID": name,
            "TIERSTREAM_REDIS__KEY_PREFIX": name,
            "TIERSTREAM_NOTIFIER__GROUP_ID": f"{name}-notifier",
            "TIERSTREAM_TOPICS__ORDERS": f"{name}-orders",
            "TIERSTREAM_TOPICS__FEEDBACK": f"{name}-feedback",
            "TIERSTREAM_TOPICS__CUSTOMERS": f"{name}-customers",
            "TIERSTREAM_TOPICS__TIER_CHANGES": f"{name}-tier-changes",
            "TIERSTREAM_TOPICS__DEAD_LETTER": f"{name}-dlq",
        }
    )
    return local


def get(url: str, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    """Status and body of a GET; 0 when nothing answers (connection refused or reset)."""
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=3) as answer:  # noqa: S310
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def wait_for(url: str, status: int, timeout: float) -> tuple[int, bytes]:
    """Poll a URL every 0.2 s until it answers `status` or `timeout` seconds pass; the last
    answer either way."""
    deadline = time.monotonic() + timeout
    answer = get(url)
    while answer[0] != status and time.monotonic() < deadline:
        time.sleep(0.2)
        answer = get(url)
    return answer
