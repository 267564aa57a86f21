"""`tierstream demo` runs its sample through the real broker and reports every order."""

from __future__ import annotations

import pytest

from streams.cli import main
from tests.conftest import Infra

pytestmark = pytest.mark.integration


def test_demo_round_trips_every_sample_order(
    infra: Infra, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_code = main(["demo", "--duration", "6", "--orders", "25", "--keep-infra"])
    output = capsys.readouterr().out
    assert exit_code == 0
    assert "25 of 25 orders round-tripped" in output
