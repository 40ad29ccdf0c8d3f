"""Shared fixtures: a clean environment and a virtual clock for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aiotofu.testing import VirtualClock, virtual_clock


@pytest.fixture(autouse=True)
def _no_tofupilot_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's real key or URL from the environment."""
    monkeypatch.delenv("TOFUPILOT_API_KEY", raising=False)
    monkeypatch.delenv("TOFUPILOT_URL", raising=False)


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """Backoff and Retry-After waits return at once and are recorded in ``clock.sleeps``."""
    with virtual_clock() as fake:
        yield fake
