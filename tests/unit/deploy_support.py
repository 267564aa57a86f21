"""What the deployment files may set, read from the code: Settings' variables and endpoints."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from pydantic import BaseModel

from streams.access import digest
from streams.notifier.web import web_address
from streams.settings import Settings
from tests.unit.cdnow import PUBLISHED_MODEL_JSON as _STAND_IN_MODEL

__all__ = [
    "REPO",
    "SECRET_NAME",
    "SECRET_STAND_INS",
    "kustomize_build",
    "load_yaml",
    "one",
    "pod_environment",
    "served_address",
    "settings_from_env",
    "settings_variables",
    "value_at",
]

REPO = Path(__file__).resolve().parents[2]
PREFIX = "TIERSTREAM_"


def load_yaml(relative: str) -> Any:
    """One YAML document of the repo."""
    return yaml.safe_load((REPO / relative).read_text())


def settings_variables() -> dict[str, tuple[str, ...]]:
    """Every variable Settings reads, flat (`TIERSTREAM_WEB_PORT`) and nested
    (`TIERSTREAM_WEB__PORT`, env_nested_delimiter "__"), with the field path it sets."""
    variables: dict[str, tuple[str, ...]] = {}
    for name, field in Settings.model_fields.items():
        variables[f"{PREFIX}{name.upper()}"] = (name,)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub in annotation.model_fields:
                variables[f"{PREFIX}{name.upper()}__{sub.upper()}"] = (name, sub)
    return variables


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    kept = {name: value for name, value in os.environ.items() if not name.startswith(PREFIX)}
    with mock.patch.dict(os.environ, {**kept, **env}, clear=True):
        yield


# Valid stand-ins are read in place of the files a deployment names that exist only where it
# runs: the model file TIERSTREAM_CLV_MODEL names (the refit job writes it) and the tokens
# file TIERSTREAM_ACCESS__TOKENS_FILE names (a Secret).
STAND_IN_TOKENS = json.dumps({"tokens": [{"sha256": digest("stand-in"), "admin": True}]})


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Settings as a process with exactly these TIERSTREAM_* variables would build them (the
    model and tokens files are validated from stand-ins; the result names the deployment's
    paths)."""
    model = env.get(f"{PREFIX}CLV_MODEL")
    tokens = env.get(f"{PREFIX}ACCESS__TOKENS_FILE")
    with tempfile.TemporaryDirectory() as directory:
        if model is not None:
            stand_in = Path(directory) / "model.json"
            stand_in.write_text(_STAND_IN_MODEL, encoding="utf-8")
            env = {**env, f"{PREFIX}CLV_MODEL": str(stand_in)}
        if tokens is not None:
            tokens_stand_in = Path(directory) / "tokens.json"
            tokens_stand_in.write_text(STAND_IN_TOKENS, encoding="utf-8")
            env = {**env, f"{PREFIX}ACCESS__TOKENS_FILE": str(tokens_stand_in)}
        with _environment(env):
            settings = Settings()
    if model is not None:
        settings = settings.model_copy(update={"clv_model": Path(model)})
    if tokens is not None:
        access = settings.access.model_copy(update={"tokens_file": Path(tokens)})
        settings = settings.model_copy(update={"access": access})
    return settings


def value_at(settings: Settings, path: tuple[str, ...]) -> Any:
    """The value at a field path, secrets revealed, so it compares with the variable's text."""
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return value


def served_address(role: str, settings: Settings) -> tuple[str, int]:
    """(host, port) the `tierstream ROLE` process listens on with these settings: the worker's
    Faust web server binds `web` (streams/worker/app.py), the notifier its own group
    (streams.notifier.web.web_address). tests/integration/test_deployment_probes.py proves
    it on the running processes."""
    if role == "notifier":
        return web_address(settings)
    assert role == "worker", role
    return settings.web.host, settings.web.port


SECRET_NAME = "tierstream-secrets"  # noqa: S105 (the Secret object's name, not a value)
# What the secret keys would hold, only so that Settings can be built from the pod's env.
SECRET_STAND_INS = {
    "kafka-sasl-username": "user",
    "kafka-sasl-password": "stand-in",
    "redis-url": "redis://:stand-in@redis:6379/0",
}
_BUILDS: dict[str, list[dict[str, Any]]] = {}


def kustomize_build(path: str) -> list[dict[str, Any]]:
    """The objects the real `kustomize build` (scripts/gotools) makes of a kustomization
    under the repo, built once per session."""
    if path not in _BUILDS:
        kustomize = subprocess.run(
            [str(REPO / "scripts" / "gotools"), "path", "kustomize"],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        ).stdout.strip()
        result = subprocess.run(
            [kustomize, "build", str(REPO / path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        _BUILDS[path] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return _BUILDS[path]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one object of that kind and name."""
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def pod_environment(objects: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    """A container's environment as the kubelet builds it: envFrom ConfigMaps, then `env`;
    secret references read SECRET_STAND_INS."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        env.update(one(objects, "ConfigMap", name)["data"])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == SECRET_NAME, item["name"]
            env[item["name"]] = SECRET_STAND_INS[ref["key"]]
    return env
