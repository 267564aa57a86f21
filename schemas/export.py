"""Export the JSON Schema of every public event to `schemas/jsonschema/`.

Platform teams read these files; `tests/unit/test_schema_export.py` fails when they drift
from the models. Regenerate with `python -m schemas.export` and note the change in
`schemas/CHANGELOG.md`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from schemas.customer_classification import CustomerClassification
from schemas.dead_letter import DeadLetter
from schemas.events import FeedbackEvent, OrderEvent
from schemas.profile import CustomerProfile
from schemas.tier_changed import TierChanged

__all__ = ["EXPORTED_MODELS", "SCHEMA_DIR", "render_schema", "write_all"]

SCHEMA_DIR = Path(__file__).parent / "jsonschema"

EXPORTED_MODELS: dict[str, type[BaseModel]] = {
    "customer_classification": CustomerClassification,
    "customer_profile": CustomerProfile,
    "dead_letter": DeadLetter,
    "feedback_event": FeedbackEvent,
    "order_event": OrderEvent,
    "tier_changed": TierChanged,
}


def render_schema(model: type[BaseModel]) -> str:
    """The model's JSON Schema (validation mode) as stable, pretty-printed text."""
    schema = model.model_json_schema(mode="validation")
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write one `<name>.schema.json` per exported model; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in EXPORTED_MODELS.items():
        path = directory / f"{name}.schema.json"
        path.write_text(render_schema(model), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write_all():
        sys.stdout.write(f"wrote {written_path}\n")
