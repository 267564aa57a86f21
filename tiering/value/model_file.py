"""The value-model JSON file (DESIGN.md, "Customer value"): written by `tierstream clv fit`,
read by `score --clv-model` and the worker.

    {"bg_nbd": {"r", "alpha", "a", "b"}, "gamma_gamma": {"p", "q", "v"},
     "time_unit": "day" | "week", "calibration_end": "YYYY-MM-DD", "customers": N,
     "log_likelihood": {"bg_nbd", "gamma_gamma"}}

`customers` is the number of customers the BG/NBD model was fitted on. Unknown fields are
refused, so a misspelt parameter is an error rather than a silent default.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, NonNegativeInt, PositiveFloat, ValidationError

from tiering.value.bg_nbd import BgNbdParams
from tiering.value.exceptions import ModelFileError
from tiering.value.gamma_gamma import GammaGammaParams
from tiering.value.summary import TimeUnit

__all__ = [
    "BgNbdSection",
    "GammaGammaSection",
    "LogLikelihoods",
    "ValueModel",
    "load_model",
    "model_json",
    "model_version",
    "parse_model",
    "save_model",
]

_STRICT = ConfigDict(frozen=True, extra="forbid")


class BgNbdSection(BaseModel):
    """BG/NBD parameters (alpha in the file's time unit)."""

    model_config = _STRICT
    r: PositiveFloat
    alpha: PositiveFloat
    a: PositiveFloat
    b: PositiveFloat

    def params(self) -> BgNbdParams:
        """The parameters as the model module takes them."""
        return BgNbdParams(self.r, self.alpha, self.a, self.b)


class GammaGammaSection(BaseModel):
    """Gamma-Gamma parameters (v in money units)."""

    model_config = _STRICT
    p: PositiveFloat
    q: PositiveFloat
    v: PositiveFloat

    def params(self) -> GammaGammaParams:
        """The parameters as the model module takes them."""
        return GammaGammaParams(self.p, self.q, self.v)


class LogLikelihoods(BaseModel):
    """Summed log-likelihoods of the two fits (fit quality; higher is better)."""

    model_config = _STRICT
    bg_nbd: float
    gamma_gamma: float


class ValueModel(BaseModel):
    """A fitted pair of value models and what they were fitted on."""

    model_config = _STRICT
    bg_nbd: BgNbdSection
    gamma_gamma: GammaGammaSection
    time_unit: TimeUnit
    calibration_end: date
    customers: NonNegativeInt
    log_likelihood: LogLikelihoods


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(file)"
    return f"field {field}: {first['msg']}"


def parse_model(text: str | bytes, source: str = "model") -> ValueModel:
    """A model from JSON text; `ModelFileError` naming `source` and the first bad field."""
    try:
        return ValueModel.model_validate_json(text)
    except ValidationError as error:
        raise ModelFileError(f"{source}: {_describe(error)}") from None


def load_model(path: Path) -> ValueModel:
    """Read a model file; `ModelFileError` when it is unreadable or a field is invalid."""
    try:
        text = path.read_bytes()
    except OSError as error:
        raise ModelFileError(f"{path}: cannot read: {error.strerror}") from None
    return parse_model(text, str(path))


def model_json(model: ValueModel) -> str:
    """The file's JSON text (indented, newline-terminated)."""
    return model.model_dump_json(indent=2) + "\n"


def save_model(model: ValueModel, path: Path) -> None:
    """Write the model file."""
    path.write_text(model_json(model), encoding="utf-8")


def model_version(model: ValueModel) -> str:
    """`<calibration_end>.<first 12 hex digits of the SHA-256 of model_json>`: names the model
    in `TierChanged.value_model_version`; the same fitted content gives the same version."""
    digest = hashlib.sha256(model_json(model).encode()).hexdigest()[:12]
    return f"{model.calibration_end.isoformat()}.{digest}"
