"""What the deployment files may set, read from the code: Settings' variables and endpoints."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import yaml
from pydantic import BaseModel

from streams.settings import Settings
from tests.unit.cdnow import PUBLISHED_MODEL_JSON as _STAND_IN_MODEL

__all__ = ["REPO", "load_yaml", "settings_from_env", "settings_variables", "value_at"]

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


# A valid model file (_STAND_IN_MODEL) is read in place of the one TIERSTREAM_CLV_MODEL
# names in a deployment: that file exists only where it runs (the refit job writes it).


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """Settings as a process with exactly these TIERSTREAM_* variables would build them (a
    model file named by TIERSTREAM_CLV_MODEL is validated from a stand-in; the result names
    the deployment's path)."""
    model = env.get(f"{PREFIX}CLV_MODEL")
    with tempfile.TemporaryDirectory() as directory:
        if model is not None:
            stand_in = Path(directory) / "model.json"
            stand_in.write_text(_STAND_IN_MODEL, encoding="utf-8")
            env = {**env, f"{PREFIX}CLV_MODEL": str(stand_in)}
        with _environment(env):
            settings = Settings()
    if model is None:
        return settings
    return settings.model_copy(update={"clv_model": Path(model)})


def value_at(settings: Settings, path: tuple[str, ...]) -> Any:
    """The value at a field path, secrets revealed, so it compares with the variable's text."""
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return value
