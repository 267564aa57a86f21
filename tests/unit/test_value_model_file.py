"""The value-model JSON file (DESIGN.md, "Customer value"): round trip and named errors."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from tests.unit.cdnow import PUBLISHED_MODEL as VALID
from tiering.value import ModelFileError, TimeUnit, ValueModel, load_model, save_model


def _write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(content))
    return path


def test_saved_model_loads_back_equal(tmp_path: Path) -> None:
    model = ValueModel.model_validate(VALID)
    save_model(model, tmp_path / "m.json")
    assert load_model(tmp_path / "m.json") == model


def test_file_fields_are_read_with_their_types(tmp_path: Path) -> None:
    model = load_model(_write(tmp_path, VALID))
    assert (model.time_unit, model.calibration_end, model.bg_nbd.alpha) == (
        TimeUnit.WEEK,
        date(1997, 9, 30),
        4.414,
    )


def test_non_positive_parameter_is_refused_naming_the_field(tmp_path: Path) -> None:
    bad = {**VALID, "gamma_gamma": {"p": 6.25, "q": 0, "v": 15.44}}
    with pytest.raises(ModelFileError, match=r"field gamma_gamma\.q"):
        load_model(_write(tmp_path, bad))


def test_unknown_time_unit_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="field time_unit"):
        load_model(_write(tmp_path, {**VALID, "time_unit": "month"}))


def test_missing_parameter_is_refused_naming_the_field(tmp_path: Path) -> None:
    bad = {**VALID, "bg_nbd": {"r": 0.243, "alpha": 4.414, "a": 0.793}}
    with pytest.raises(ModelFileError, match=r"field bg_nbd\.b"):
        load_model(_write(tmp_path, bad))


def test_misspelt_field_is_refused_not_ignored(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="field customer"):
        load_model(_write(tmp_path, {**VALID, "customer": 1}))


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="cannot read"):
        load_model(tmp_path / "absent.json")
