"""`tierstream policy validate` on tier lists: each mistake is named by its field, and a
valid file prints its tiers in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.cli.main import main

LAYERS_FILE = Path(__file__).resolve().parents[2] / "examples" / "policies" / "value_layers.yaml"


def _validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], document: dict[str, Any]
) -> tuple[int, str, str]:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document))
    code = main(["policy", "validate", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _layers() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(LAYERS_FILE.read_text())
    return document


def _tier(name: str, when: object = None) -> dict[str, object]:
    tier: dict[str, object] = {"name": name, "label": name, "service_level": "pooled"}
    if when is not None:
        tier["when"] = when
    return tier


def test_a_middle_tier_without_a_condition_is_named_by_its_when(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _layers()
    del document["tiers"][2]["when"]
    code, _, err = _validate(tmp_path, capsys, document)
    assert code == 1
    assert "field 'tiers.2.when': only the last tier may have none" in err


def test_a_last_tier_with_a_condition_is_named_by_its_when(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _layers()
    document["tiers"][3]["when"] = {"risk": ["at_risk"]}
    _, _, err = _validate(tmp_path, capsys, document)
    assert "field 'tiers.3.when': the last tier takes everyone left" in err


def test_a_tier_name_used_twice_is_named_by_its_position(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _layers()
    document["tiers"][1]["name"] = "premium"
    _, _, err = _validate(tmp_path, capsys, document)
    assert "field 'tiers.1.name': 'premium' is used twice" in err


def test_an_alert_naming_an_unknown_tier_is_named_by_its_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _layers()
    document["alerts"]["complaint_in_tiers"] = ["premium", "A"]
    _, _, err = _validate(tmp_path, capsys, document)
    assert "field 'alerts.complaint_in_tiers.1': 'A' is not a tier of this policy" in err


def test_more_than_eight_tiers_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _layers()
    document["tiers"] = [_tier(f"t{i}", {"top_share": 0.1 * i}) for i in range(1, 9)]
    document["tiers"].append(_tier("rest"))
    document["alerts"] = {}
    _, _, err = _validate(tmp_path, capsys, document)
    assert "field 'tiers': Tuple should have at most 8 items" in err


def test_a_tier_name_that_is_not_an_identifier_is_named_with_the_pattern(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _layers()
    document["tiers"][0]["name"] = "top tier"
    _, _, err = _validate(tmp_path, capsys, document)
    assert "field 'tiers.0.name': String should match pattern '^[A-Za-z]" in err


def test_an_empty_condition_is_named_by_its_position_in_the_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _layers()
    document["tiers"][2]["when"] = [{"lifecycle": ["new"]}, {}]
    _, _, err = _validate(tmp_path, capsys, document)
    assert "field 'tiers.2.when.1': a condition needs at least one field" in err


def test_a_cross_field_rule_names_its_field_without_pydantic_wording(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = _layers()
    document["lifecycle"]["half_split_days"] = 400
    _, _, err = _validate(tmp_path, capsys, document)
    assert "field 'lifecycle.half_split_days': must be smaller than window_days" in err
    assert "Value error" not in err


def test_a_valid_policy_prints_its_tiers_in_order_with_their_conditions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _validate(tmp_path, capsys, _layers())
    assert code == 0
    assert out.splitlines()[1:] == [
        "tiers (first that holds wins; top = by margin, 365-day window):",
        "  1. premium     premium: top 15 %",
        "  2. developing  developing: top 50 % and risk ok",
        "  3. potential   potential: (lifecycle new or growth) or (rising star)",
        "  4. marginal    marginal: everyone else",
    ]
