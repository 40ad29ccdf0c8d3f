"""Unit-test fixtures: aioresponses, made to work with aiohttp 3.14."""

from __future__ import annotations

import types
from collections.abc import Iterator
from typing import Any

import aioresponses.core
import pytest
from aiohttp import ClientResponse


class _ClientResponse(ClientResponse):
    """aiohttp 3.14 added a required ``stream_writer`` argument that aioresponses 0.7.9 does not
    pass (pnuckowski/aioresponses#289). A finished request only reads its ``output_size``."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", types.SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses.aioresponses]:
    """aioresponses, intercepting every aiohttp request of the test."""
    monkeypatch.setattr(aioresponses.core, "ClientResponse", _ClientResponse)
    with aioresponses.aioresponses() as mock:
        yield mock
