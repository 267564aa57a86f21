"""The domain packages stay pure: no stream, broker, cache or metrics library in them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {"faust", "mode", "aiokafka", "redis", "prometheus_client", "streams", "aiohttp"}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", ["tiering", "schemas"])
def test_domain_package_imports_no_io_framework(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_roots(path) & FORBIDDEN)
        for path in sorted((ROOT / package).rglob("*.py"))
        if _imported_roots(path) & FORBIDDEN
    }
    assert offenders == {}


def test_schemas_does_not_depend_on_tiering() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "schemas").rglob("*.py"))
        if "tiering" in _imported_roots(path)
    ]
    assert offenders == []
