"""Integration-test hooks: a socket or transport a test leaves open fails that test.

The garbage collector finds an unclosed asyncio transport whenever it next runs, and pytest
turns the ResourceWarning of its finaliser into a failure of whichever test is running then
(CI stop 21 failed the Redis-password test of the tier lookup for a socket opened before
it). Collecting at each integration test's teardown makes the leak fail the test that
leaked it. Unit tests open no sockets, so they do not pay for the collection.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def collect_what_this_test_left_unclosed() -> Iterator[None]:
    yield
    gc.collect()
