"""The worker's Faust work-arounds patch one release's internals: any other refuses to start."""

from __future__ import annotations

import importlib.metadata

import pytest

from streams.worker import faust_fixes
from streams.worker.faust_fixes import PINNED_FAUST, FaustVersionError, check_faust_version


def test_the_pinned_release_is_the_installed_one() -> None:
    assert importlib.metadata.version("faust-streaming") == PINNED_FAUST
    check_faust_version()


def test_another_release_fails_fast_naming_both_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(faust_fixes.importlib.metadata, "version", lambda name: "0.16.0")
    with pytest.raises(FaustVersionError, match=r"0\.16\.0 is installed.*0\.15\.3"):
        check_faust_version()
