"""The tier policy: the default is valid, and a bad file names the field that is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.cli.main import main
from tiering import PolicyError, default_policy, load_policy

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "tiering" / "default_policy.yaml"


def _write_variant(tmp_path: Path, change: dict[str, object]) -> Path:
    document = yaml.safe_load(DEFAULT_FILE.read_text())
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        target = document
        for name in parents:
            target = target[name]
        target[leaf] = value
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_default_policy_implements_the_design_defaults() -> None:
    policy = default_policy()
    assert (policy.abc.a_cut, policy.abc.b_cut, policy.window_days) == (0.05, 0.20, 365)
    assert policy.hysteresis.downgrade_after_days == 14
    assert policy.tiers[0].label == "core"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"abc.a_cut": 0.3}, "abc"),
        ({"abc.b_cut": "lots"}, "abc.b_cut"),
        ({"basis": "profit"}, "basis"),
        ({"window_days": 0}, "window_days"),
        ({"lifecycle.growth_ratio": 0.9}, "lifecycle.growth_ratio"),
        ({"segments": [{"segment": "lost", "recency": [3, 1]}]}, "segments.0"),
        ({"counted_changes": ["tier", "colour"]}, "counted_changes.1"),
    ],
)
def test_bad_policy_names_the_field(tmp_path: Path, change: dict[str, object], field: str) -> None:
    with pytest.raises(PolicyError, match=f"field '{field}"):
        load_policy(_write_variant(tmp_path, change))


def test_segment_map_must_cover_every_score_combination(tmp_path: Path) -> None:
    document = yaml.safe_load(DEFAULT_FILE.read_text())
    document["segments"] = [rule for rule in document["segments"] if rule["segment"] != "champions"]
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(PolicyError, match="no rule covers R5 F4"):
        load_policy(path)


def test_unknown_field_is_rejected_by_name(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="field 'colour'"):
        load_policy(_write_variant(tmp_path, {"colour": "blue"}))


def test_not_yaml_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("abc: [unclosed")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(path)


def test_validate_command_accepts_the_default_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "validate", str(DEFAULT_FILE)]) == 0
    assert "OK" in capsys.readouterr().out


def test_validate_command_explains_the_first_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_variant(tmp_path, {"hysteresis.downgrade_after_days": -1})
    assert main(["policy", "validate", str(path)]) == 1
    assert "field 'hysteresis.downgrade_after_days'" in capsys.readouterr().err
