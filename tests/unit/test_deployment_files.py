"""docker-compose.yml and k8s/ agree with the code's settings and the pinned Kafka version."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from tests.unit.deploy_support import settings_variables

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, object]:
    loaded = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def _settings_variables() -> set[str]:
    # Flat and nested (TIERSTREAM_WEB__HOST) forms; tests/unit/deploy_support.py.
    return set(settings_variables())


def test_compose_kafka_image_matches_the_broker_the_tests_run() -> None:
    pom = (REPO / "scripts" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>(.+)</kafka.version>", pom)
    assert version is not None
    services = _compose()["services"]
    assert isinstance(services, dict)
    assert services["kafka"]["image"] == f"apache/kafka:{version.group(1)}"


def test_compose_worker_sets_only_variables_the_settings_know() -> None:
    services = _compose()["services"]
    assert isinstance(services, dict)
    environment = set(services["worker"]["environment"])
    assert {"TIERSTREAM_KAFKA_BOOTSTRAP", "TIERSTREAM_REDIS_URL"} <= environment
    assert environment <= _settings_variables()


def test_k8s_config_map_sets_only_variables_the_settings_know() -> None:
    base = yaml.safe_load((REPO / "k8s" / "base" / "kustomization.yaml").read_text())
    literals = base["configMapGenerator"][0]["literals"]
    names = {literal.split("=", 1)[0] for literal in literals}
    assert names <= _settings_variables()
