"""docker-compose.yml is a valid Compose file and agrees with the code.

Validation is compose-go's (scripts/gotools builds `composecheck` from the Go module that
Docker Compose itself loads files with; it embeds the compose-spec JSON schema). No PyPI
package ships that schema: `compose-spec` on PyPI is a Rust parser without it, and the last
`docker-compose` 1.x wheel carries a 2021 copy and pins PyYAML < 6, which we cannot install
beside our PyYAML 6.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from streams.worker.endpoints import LIVENESS_PATH, METRICS_PATH, NOTIFIER_WEB_PORT, WORKER_WEB_PORT
from tests.unit.deploy_support import (
    REPO,
    load_yaml,
    served_address,
    settings_from_env,
    settings_variables,
    value_at,
)

TIERSTREAM_SERVICES = ("worker", "notifier")


@pytest.fixture(scope="module")
def composecheck() -> str:
    result = subprocess.run(
        [str(REPO / "scripts" / "gotools"), "path", "composecheck"],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return result.stdout.strip()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml("docker-compose.yml")
    return loaded


def _check(composecheck: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [composecheck, str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def test_compose_go_accepts_the_file(composecheck: str) -> None:
    result = _check(composecheck, REPO / "docker-compose.yml")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {
        "kafka",
        "redis",
        "worker",
        "notifier",
        "prometheus",
        "grafana",
    }


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("healthcheck:", "healthchek:"), "unknown key"),
        (("condition: service_healthy", "condition: service_ready"), "bad condition"),
        (("replicas: 2", "replicas: two"), "bad type"),
    ],
)
def test_compose_go_rejects_a_broken_copy(
    composecheck: str, tmp_path: Path, change: tuple[str, str], reason: str
) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert change[0] in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(change[0], change[1], 1))
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    assert _check(composecheck, broken).returncode != 0, reason


def test_two_workers_and_a_notifier_run_the_image_roles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["worker"]["command"] == ["worker"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["notifier"]["command"] == ["notifier"]
    # Replicas must not share one RocksDB directory: an anonymous volume each.
    assert services["worker"]["volumes"] == ["/data"]


def test_every_dependency_waits_on_a_condition_the_target_can_meet(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert rule["condition"] in {"service_healthy", "service_started"}, (name, target)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits on {target}'s health"
    for name in ("worker", "notifier"):
        assert services[name]["depends_on"]["kafka"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


def _environment(compose: dict[str, Any], service: str) -> dict[str, str]:
    return {k: str(v) for k, v in compose["services"][service]["environment"].items()}


@pytest.mark.parametrize("service", TIERSTREAM_SERVICES)
def test_every_variable_is_one_settings_reads_and_takes_effect(
    compose: dict[str, Any], service: str
) -> None:
    env = _environment(compose, service)
    variables = settings_variables()
    unknown = set(env) - set(variables)
    assert not unknown, f"Settings ignores {sorted(unknown)} (extra='ignore' hides typos)"
    settings = settings_from_env(env)
    for name, text in env.items():
        assert str(value_at(settings, variables[name])) == text, name


@pytest.mark.parametrize(
    ("service", "port"), [("worker", WORKER_WEB_PORT), ("notifier", NOTIFIER_WEB_PORT)]
)
def test_web_servers_listen_where_prometheus_and_healthchecks_look(
    compose: dict[str, Any], service: str, port: int
) -> None:
    settings = settings_from_env(_environment(compose, service))
    assert served_address(service, settings) == ("0.0.0.0", port)  # noqa: S104
    healthcheck = " ".join(compose["services"][service]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}{LIVENESS_PATH}" in healthcheck


def test_prometheus_scrapes_the_compose_services_on_their_ports(compose: dict[str, Any]) -> None:
    config = load_yaml("monitoring/prometheus/prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    worker = jobs["tierstream-worker"]
    assert worker["metrics_path"] == METRICS_PATH
    (sd,) = worker["dns_sd_configs"]
    assert sd["names"] == ["worker"] and sd["port"] == WORKER_WEB_PORT
    notifier = jobs["tierstream-notifier"]
    assert notifier["metrics_path"] == METRICS_PATH
    assert notifier["static_configs"] == [{"targets": [f"notifier:{NOTIFIER_WEB_PORT}"]}]
    assert set(compose["services"]) >= {"worker", "notifier"}


def test_prometheus_and_grafana_get_the_repo_files(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    config_flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    config_dir = str(Path(config_flag.split("=", 1)[1]).parent)
    assert f"./monitoring/prometheus:{config_dir}:ro" in prometheus["volumes"]
    grafana = compose["services"]["grafana"]
    assert "./monitoring/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    for relative in re.findall(r"\./(\S+?):", " ".join(prometheus["volumes"] + grafana["volumes"])):
        assert (REPO / relative).is_dir(), relative


@pytest.mark.parametrize("service", TIERSTREAM_SERVICES)
def test_the_tokens_file_is_the_mounted_http_tokens_secret(
    compose: dict[str, Any], service: str
) -> None:
    settings = settings_from_env(_environment(compose, service))
    assert settings.access.tokens_file is not None, "the endpoints would be open"
    # Compose mounts a short-syntax secret at /run/secrets/<name>.
    assert "http-tokens" in compose["services"][service]["secrets"]
    assert settings.access.tokens_file == Path("/run/secrets/http-tokens")
    assert compose["secrets"]["http-tokens"]["file"].startswith("./secrets/")
    ignored = (REPO / ".gitignore").read_text().split()
    assert "/secrets/" in ignored, "token digests must not be committed by accident"
