"""k8s/ builds with kustomize, validates against the Kubernetes API schemas, agrees with the code.

Each kustomization (base and every overlay) is built by the real kustomize (scripts/gotools,
pinned in scripts/go/go.sum). Core objects are validated offline, strictly (unknown fields are
errors), by `kubernetes-validate` against the schemas it ships. It ships no schema for custom
resources, so ScaledObject, TriggerAuthentication (KEDA) and ServiceMonitor, PrometheusRule
(Prometheus Operator) are checked structurally below instead of against their CRD schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from streams.cli.main import build_parser
from streams.settings import Settings
from streams.worker.endpoints import (
    LIVENESS_PATH,
    METRICS_PATH,
    NOTIFIER_WEB_PORT,
    READINESS_PATH,
    WORKER_WEB_PORT,
)
from tests.unit.deploy_support import (
    REPO,
    SECRET_NAME,
    kustomize_build,
    one,
    pod_environment,
    served_address,
    settings_from_env,
    settings_variables,
    value_at,
)

KUSTOMIZATIONS = [
    "k8s/base",
    *sorted(f"k8s/overlays/{p.name}" for p in (REPO / "k8s/overlays").iterdir()),
]
KUBERNETES_VERSION = "1.32.0"
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "ServiceMonitor", "PrometheusRule"}


@pytest.fixture(params=KUSTOMIZATIONS)
def built(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """The objects `kustomize build` makes of one kustomization (built once per session)."""
    return kustomize_build(request.param)


def _containers(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in {"StatefulSet", "Deployment"}:
            for container in obj["spec"]["template"]["spec"]["containers"]:
                yield obj["metadata"]["name"], container


def _claim_path(pod: dict[str, Any], container: dict[str, Any], path: Path) -> tuple[str, Path]:
    """(claim name, path inside the claim) of a file a container sees at `path`."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        if path.is_relative_to(mount["mountPath"]):
            claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
            return claim, path.relative_to(mount["mountPath"])
    raise AssertionError(f"{path} is on no mounted volume")


def _refit(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The refit CronJob's pod spec and its one container."""
    job = one(objects, "CronJob", "tierstream-clv-refit")
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    return pod, container


def _config_map(objects: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    # configMapGenerator appends a content hash to the name.
    (found,) = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(prefix)
    ]
    return found


def test_core_objects_validate_against_the_kubernetes_schemas(
    built: list[dict[str, Any]],
) -> None:
    kinds = {obj["kind"] for obj in built}
    assert {"StatefulSet", "Deployment", "Service", "PodDisruptionBudget", "ConfigMap"} <= kinds
    assert kinds - CUSTOM_KINDS, "nothing left to validate"
    for obj in built:
        if obj["kind"] in CUSTOM_KINDS:
            continue  # no CRD schema in kubernetes-validate; see the module docstring
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_validator_rejects_a_misspelt_field() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "x"},
        "spec": {"ports": [{"name": "web", "prot": 6066}]},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(service, KUBERNETES_VERSION, strict=True)


def test_no_secret_is_committed_and_every_reference_names_the_documented_secret(
    built: list[dict[str, Any]],
) -> None:
    assert "Secret" not in {obj["kind"] for obj in built}
    documented = (REPO / "k8s/base/secrets.example.md").read_text()
    for _, container in _containers(built):
        for item in container.get("env", []):
            if "valueFrom" in item:
                ref = item["valueFrom"]["secretKeyRef"]
                assert ref["name"] == SECRET_NAME and f"`{ref['key']}`" in documented
    for obj in built:
        if obj["kind"] in {"StatefulSet", "Deployment"}:
            for volume in obj["spec"]["template"]["spec"]["volumes"]:
                if "secret" in volume:
                    assert volume["secret"]["secretName"] == SECRET_NAME
                    for item in volume["secret"]["items"]:
                        assert f"`{item['key']}`" in documented
    auth = one(built, "TriggerAuthentication", "tierstream-kafka")
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["name"] == SECRET_NAME and f"`{ref['key']}`" in documented


def test_every_variable_is_one_settings_reads_and_takes_effect(
    built: list[dict[str, Any]],
) -> None:
    variables = settings_variables()
    for owner, container in _containers(built):
        env = pod_environment(built, container)
        unknown = {name for name in env if name.startswith("TIERSTREAM_")} - set(variables)
        assert not unknown, f"{owner}: Settings ignores {sorted(unknown)}"
        settings = settings_from_env(env)
        for name, text in env.items():
            assert str(value_at(settings, variables[name])) == text, (owner, name)
        role = "worker" if owner == "tierstream-worker" else "notifier"
        host, _ = served_address(role, settings)
        assert host == "0.0.0.0", owner  # noqa: S104 (reachable by probes)


@pytest.mark.parametrize(
    ("kind", "name", "role", "port"),
    [
        ("StatefulSet", "tierstream-worker", "worker", WORKER_WEB_PORT),
        ("Deployment", "tierstream-notifier", "notifier", NOTIFIER_WEB_PORT),
    ],
)
def test_probes_and_ports_are_where_the_process_listens(
    built: list[dict[str, Any]], kind: str, name: str, role: str, port: int
) -> None:
    workload = one(built, kind, name)
    (container,) = workload["spec"]["template"]["spec"]["containers"]
    settings = settings_from_env(pod_environment(built, container))
    assert served_address(role, settings) == ("0.0.0.0", port)  # noqa: S104
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"web": port}
    assert container["livenessProbe"]["httpGet"] == {"path": LIVENESS_PATH, "port": "web"}
    assert container["readinessProbe"]["httpGet"] == {"path": READINESS_PATH, "port": "web"}
    for key in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][key]), (name, key)
    service = one(built, "Service", name)
    assert service["spec"]["ports"] == [{"name": "web", "port": port, "targetPort": "web"}]
    selector = service["spec"]["selector"]
    assert selector.items() <= workload["spec"]["template"]["metadata"]["labels"].items()


def test_worker_state_lives_on_a_claim_at_the_data_dir_with_standbys(
    built: list[dict[str, Any]],
) -> None:
    worker = one(built, "StatefulSet", "tierstream-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    settings = settings_from_env(pod_environment(built, container))
    (claim,) = worker["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert Path(mounts[claim["metadata"]["name"]]) == settings.data_dir
    assert settings.store == "rocksdb://"
    assert settings.standby_replicas >= 1
    assert worker["spec"]["replicas"] > settings.standby_replicas
    headless = one(built, "Service", worker["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"


def test_the_policy_file_is_mounted_where_settings_look(built: list[dict[str, Any]]) -> None:
    policy = _config_map(built, "tierstream-policy-")
    for owner, container in _containers(built):
        settings = settings_from_env(pod_environment(built, container))
        assert settings.policy is not None
        workload = next(
            o for o in built if o["metadata"]["name"] == owner and "template" in o["spec"]
        )
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        mount = next(
            m for m in container["volumeMounts"] if Path(m["mountPath"]) == settings.policy.parent
        )
        assert volumes[mount["name"]]["configMap"]["name"] == policy["metadata"]["name"]
        assert settings.policy.name in policy["data"]


def test_base_policy_is_the_built_in_default() -> None:
    copy = (REPO / "k8s/base/policy.yaml").read_text()
    assert copy == (REPO / "tiering/default_policy.yaml").read_text(), (
        "cp tiering/default_policy.yaml k8s/base/policy.yaml"
    )


def test_disruption_budgets_cover_both_workloads(built: list[dict[str, Any]]) -> None:
    budgets = [o for o in built if o["kind"] == "PodDisruptionBudget"]
    for kind, name in (("StatefulSet", "tierstream-worker"), ("Deployment", "tierstream-notifier")):
        labels = one(built, kind, name)["spec"]["template"]["metadata"]["labels"]
        matching = [
            b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(matching) == 1, name


def test_keda_scales_the_worker_group_on_the_workers_kafka_and_topic(
    built: list[dict[str, Any]],
) -> None:
    scaled = one(built, "ScaledObject", "tierstream-worker")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "name": "tierstream-worker",
    }
    worker = one(built, "StatefulSet", "tierstream-worker")
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    settings = settings_from_env(pod_environment(built, container))
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    metadata = trigger["metadata"]
    assert metadata["bootstrapServers"] == settings.kafka.bootstrap
    # Faust's consumer group id is the app id.
    assert metadata["consumerGroup"] == settings.app_id
    assert metadata["topic"] in (settings.topics.orders, settings.topics.feedback)
    assert int(metadata["lagThreshold"]) > 0
    assert scaled["spec"]["minReplicaCount"] >= 2
    assert scaled["spec"]["minReplicaCount"] <= worker["spec"]["replicas"]
    assert scaled["spec"]["maxReplicaCount"] <= settings.topics.partitions
    assert trigger["authenticationRef"]["name"] == "tierstream-kafka"
    one(built, "TriggerAuthentication", "tierstream-kafka")


def test_service_monitor_scrapes_both_services_under_the_rules_job_names(
    built: list[dict[str, Any]],
) -> None:
    monitor = one(built, "ServiceMonitor", "tierstream")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == METRICS_PATH
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = {
        o["metadata"]["name"]
        for o in built
        if o["kind"] == "Service" and selector.items() <= o["metadata"]["labels"].items()
    }
    # The operator's job label is the Service name: the one the rules select.
    assert scraped == {"tierstream-worker", "tierstream-notifier"}
    for name in scraped:
        ports = {p["name"] for p in one(built, "Service", name)["spec"]["ports"]}
        assert endpoint["port"] in ports
    prometheus_yml = yaml.safe_load((REPO / "monitoring/prometheus/prometheus.yml").read_text())
    assert scraped <= {job["job_name"] for job in prometheus_yml["scrape_configs"]}


def test_prometheus_rule_carries_exactly_the_alert_rules(built: list[dict[str, Any]]) -> None:
    rule = one(built, "PrometheusRule", "tierstream")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    source = yaml.safe_load((REPO / "monitoring/prometheus/rules.yml").read_text())
    assert rule["spec"]["groups"] == source["groups"], "run scripts/sync-prometheusrule"


def test_every_object_is_labelled_part_of_tierstream_in_its_namespace(
    built: list[dict[str, Any]],
) -> None:
    for obj in built:
        assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tierstream"
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "tierstream", obj["metadata"]["name"]


def test_default_app_id_is_what_the_keda_trigger_assumes() -> None:
    assert Settings.model_fields["app_id"].default == "tierstream"


def test_the_refit_job_runs_a_clv_fit_the_cli_parses_on_the_history_claim(
    built: list[dict[str, Any]],
) -> None:
    pod, container = _refit(built)
    assert "command" not in container  # the image's entrypoint is `tierstream`
    args = build_parser().parse_args(container["args"])
    assert (args.command, args.clv_command, args.calibration_end) == ("clv", "fit", "latest")
    claim, _ = _claim_path(pod, container, args.orders)
    history = next(
        m for m in container["volumeMounts"] if args.orders.is_relative_to(m["mountPath"])
    )
    assert (claim, history["readOnly"]) == ("tierstream-history", True)


def test_the_worker_reads_the_model_file_the_refit_job_writes(
    built: list[dict[str, Any]],
) -> None:
    pod, container = _refit(built)
    written = _claim_path(pod, container, build_parser().parse_args(container["args"]).out)
    worker = one(built, "StatefulSet", "tierstream-worker")
    (worker_container,) = worker["spec"]["template"]["spec"]["containers"]
    settings = settings_from_env(pod_environment(built, worker_container))
    assert settings.clv_model is not None
    worker_pod = worker["spec"]["template"]["spec"]
    assert _claim_path(worker_pod, worker_container, settings.clv_model) == written
    mount = next(
        m
        for m in worker_container["volumeMounts"]
        if Path(m["mountPath"]) == settings.clv_model.parent
    )
    assert mount["readOnly"] is True
    # Worker pods run on several nodes: the claim must be shareable.
    claim = one(built, "PersistentVolumeClaim", written[0])
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_both_workloads_read_tokens_from_the_mounted_secret_key(
    built: list[dict[str, Any]],
) -> None:
    for owner, container in _containers(built):
        settings = settings_from_env(pod_environment(built, container))
        path = settings.access.tokens_file
        assert path is not None, f"{owner}: /customers and /alerts/stream would be open"
        workload = next(
            o for o in built if o["metadata"]["name"] == owner and "template" in o["spec"]
        )
        volumes = {v["name"]: v for v in workload["spec"]["template"]["spec"]["volumes"]}
        mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == path.parent)
        secret = volumes[mount["name"]]["secret"]
        assert secret["secretName"] == SECRET_NAME
        assert {"key": "http-tokens", "path": path.name} in secret["items"]
