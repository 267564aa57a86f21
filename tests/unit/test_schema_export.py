"""The published JSON Schema files are exactly what the models say."""

from __future__ import annotations

import json

import pytest

from schemas.export import EXPORTED_MODELS, SCHEMA_DIR, render_schema


@pytest.mark.parametrize("name", sorted(EXPORTED_MODELS))
def test_published_schema_file_matches_the_model(name: str) -> None:
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.exists(), f"{path} missing: run python -m schemas.export"
    assert path.read_text(encoding="utf-8") == render_schema(EXPORTED_MODELS[name]), (
        f"{path.name} drifted from the model: run python -m schemas.export and update "
        "schemas/CHANGELOG.md"
    )


def test_every_schema_file_belongs_to_an_exported_model() -> None:
    published = {path.name.removesuffix(".schema.json") for path in SCHEMA_DIR.glob("*.json")}
    assert published == set(EXPORTED_MODELS)


def test_tier_changed_schema_requires_the_contract_fields() -> None:
    schema = json.loads(render_schema(EXPORTED_MODELS["tier_changed"]))
    for field in ("event_id", "customer_id", "occurred_at", "current", "changes", "direction"):
        assert field in schema["required"]
