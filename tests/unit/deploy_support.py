"""What the deployment files may set, read from the code: Settings' variables and endpoints."""

from __future__ import annotations

import json
import os
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
    "load_yaml",
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
