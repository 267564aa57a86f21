"""The processes the deployment files configure answer their probes and scrape targets.

The unit tests (tests/unit/test_k8s_manifests.py, test_compose_file.py) read the files; these
start the real `tierstream worker` and `tierstream notifier` with the environment the built
manifests and docker-compose.yml give them (tests/integration/deployed.py says what is made
local and why) and request every probe path and scrape target they declare, from an address
the processes only answer when they listen where the files say (0.0.0.0).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from streams.demo.processes import Child
from streams.notifier.web import ALERTS_PATH
from streams.worker.endpoints import NOTIFIER_WEB_PORT, WORKER_WEB_PORT
from tests.conftest import Infra
from tests.integration.deployed import (
    OTHER_LOOPBACK,
    TOKEN,
    get,
    local_environment,
    port_map,
    wait_for,
)
from tests.integration.worker_process import log_tail, prepare_topics
from tests.unit.deploy_support import REPO, kustomize_build, load_yaml, one, pod_environment

pytestmark = pytest.mark.integration

# Start-up of a worker (assignment, recovery of empty tables) and a notifier on this shared
# 2-core machine; generous because other engineers' tests run beside these.
READY_SECONDS = 120.0
WORKLOADS = {
    "worker": ("StatefulSet", "tierstream-worker"),
    "notifier": ("Deployment", "tierstream-notifier"),
}


@contextmanager
def _running(envs: dict[str, dict[str, str]], logs: Path) -> Iterator[dict[str, Child]]:
    children = {role: Child(role, role, env, logs / f"{role}.log") for role, env in envs.items()}
    with ExitStack() as stack:
        for child in children.values():
            child.start()
            stack.callback(child.stop, 30.0)
        yield children


def _logs(children: dict[str, Child]) -> str:
    return "\n".join(f"--- {name}\n{log_tail(c.log_path)}" for name, c in children.items())


def _k8s_container(objects: list[dict[str, Any]], role: str) -> dict[str, Any]:
    kind, name = WORKLOADS[role]
    (container,) = one(objects, kind, name)["spec"]["template"]["spec"]["containers"]
    return container


def _container_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's `port`: a number, or the name of a container port."""
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


def test_k8s_probes_and_service_monitor_targets_answer_on_the_configured_processes(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    objects = kustomize_build("k8s/base")
    policy = next(
        o for o in objects if o["kind"] == "ConfigMap" and "policy.yaml" in o.get("data", {})
    )["data"]["policy.yaml"]
    ports = port_map(WORKER_WEB_PORT, NOTIFIER_WEB_PORT)
    prepare_topics(infra, unique_name, partitions=4)
    envs = {
        role: local_environment(
            pod_environment(objects, _k8s_container(objects, role)),
            infra,
            unique_name,
            tmp_path / role,
            ports,
            policy,
        )
        for role in WORKLOADS
    }
    monitor = one(objects, "ServiceMonitor", "tierstream")
    (endpoint,) = monitor["spec"]["endpoints"]
    with _running(envs, tmp_path) as children:
        for role, (_, name) in WORKLOADS.items():
            container = _k8s_container(objects, role)
            for probe, status in (("livenessProbe", 200), ("readinessProbe", 200)):
                get_ = container[probe]["httpGet"]
                port = ports[_container_port(container, get_["port"])]
                url = f"http://{OTHER_LOOPBACK}:{port}{get_['path']}"
                answer = wait_for(url, status, READY_SECONDS)
                assert answer[0] == status, f"{role} {probe} {url}: {answer}\n{_logs(children)}"
            # The ServiceMonitor names a Service port; the Service maps it to a container port.
            service = one(objects, "Service", name)
            service_port = next(
                p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]
            )
            port = ports[_container_port(container, service_port["targetPort"])]
            status, body = get(f"http://{OTHER_LOOPBACK}:{port}{endpoint['path']}")
            assert status == 200 and b"tierstream_" in body, (role, status)
        # The manifests configure tokens: what reveals customers or alerts needs one.
        worker, notifier = ports[WORKER_WEB_PORT], ports[NOTIFIER_WEB_PORT]
        assert get(f"http://{OTHER_LOOPBACK}:{worker}/customers/c-1")[0] == 401
        assert get(f"http://{OTHER_LOOPBACK}:{notifier}{ALERTS_PATH}")[0] == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert get(f"http://{OTHER_LOOPBACK}:{worker}/customers/c-1", bearer)[0] == 404


def _healthcheck_target(script: str) -> tuple[int, str]:
    """(port, path) of the URL a compose healthcheck's python one-liner opens."""
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/[^'\"]*)", script)
    assert match, script
    return int(match[1]), match[2]


def _compose_environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in service["environment"].items()}


def test_compose_healthchecks_and_prometheus_targets_answer_on_the_configured_processes(
    infra: Infra, unique_name: str, tmp_path: Path
) -> None:
    compose = load_yaml("docker-compose.yml")
    services = compose["services"]
    policy = (REPO / "tiering/default_policy.yaml").read_text()
    ports = port_map(WORKER_WEB_PORT, NOTIFIER_WEB_PORT)
    prepare_topics(infra, unique_name, partitions=4)
    envs = {
        role: local_environment(
            _compose_environment(services[role]), infra, unique_name, tmp_path / role, ports, policy
        )
        for role in WORKLOADS
    }
    scrape = {
        job["job_name"]: job
        for job in load_yaml("monitoring/prometheus/prometheus.yml")["scrape_configs"]
    }
    with _running(envs, tmp_path) as children:
        for role in WORKLOADS:
            # The healthcheck runs inside the container: its own command, ports made local.
            kind, *command = services[role]["healthcheck"]["test"]
            assert kind == "CMD" and command[0] == "python", command
            script = command[-1]
            declared, path = _healthcheck_target(script)
            script = script.replace(f":{declared}/", f":{ports[declared]}/")
            # Wait from outside the container, where only a 0.0.0.0 listener answers.
            answer = wait_for(
                f"http://{OTHER_LOOPBACK}:{ports[declared]}{path}", 200, READY_SECONDS
            )
            assert answer[0] == 200, f"{role}: {answer}\n{_logs(children)}"
            result = subprocess.run(
                [sys.executable, *command[1:-1], script],
                capture_output=True,
                timeout=30,
                check=False,
            )
            assert result.returncode == 0, (role, result.stderr)
        # Prometheus in compose reaches the services by name: here OTHER_LOOPBACK.
        worker_job = scrape["tierstream-worker"]
        (sd,) = worker_job["dns_sd_configs"]
        assert sd["names"] == ["worker"]
        targets = {"worker": (sd["port"], worker_job["metrics_path"])}
        notifier_job = scrape["tierstream-notifier"]
        ((target,),) = [config["targets"] for config in notifier_job["static_configs"]]
        host, port = target.rsplit(":", 1)
        assert host == "notifier"
        targets["notifier"] = (int(port), notifier_job["metrics_path"])
        for role, (port, path) in targets.items():
            status, body = get(f"http://{OTHER_LOOPBACK}:{ports[port]}{path}")
            assert status == 200 and b"tierstream_" in body, (role, status, _logs(children))
