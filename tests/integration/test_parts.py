"""``client.parts``: an endpoint with no time filter, on the engine, against the emulator (the
SDK's view of it is in test_every_endpoint_conformance.py)."""

from __future__ import annotations

import pytest

import aiotofu
from aiotofu._emulator.store import parts_catalogue, procedure_id
from aiotofu.testing import Emulator


async def test_every_part_once_in_every_order(emu: Emulator) -> None:
    async with emu.client() as client:
        for sort_by in ("created_at", "name", "number"):
            for order in ("asc", "desc"):
                parts = await client.parts.list(
                    sort_by=sort_by,  # type: ignore[arg-type]
                    sort_order=order,  # type: ignore[arg-type]
                    page_size=7,
                ).collect()
                assert len({p.id for p in parts}) == len(parts) == len(parts_catalogue())
                keys = [getattr(p, sort_by) for p in parts]
                assert keys == sorted(keys, reverse=order == "desc")
    assert all(isinstance(p, aiotofu.Part) and p.revisions for p in parts)
    assert all(p.metadata is None for p in parts)


async def test_filters_narrow_and_metadata_is_included_on_request(emu: Emulator) -> None:
    async with emu.client() as client:
        boards = await client.parts.list(
            metadata={"family": {"in": ["boards"]}, "layers": {"gte": 4}},
            include_metadata=True,
        ).collect()
        searched = await client.parts.list(search_query="main board").collect()
        tested = await client.parts.list(procedure_ids=procedure_id("ICT")).collect()
    assert boards
    for part in boards:
        assert part.metadata is not None
        assert part.metadata["family"] == "boards"
        assert isinstance(part.metadata["layers"], float)
        assert part.metadata["layers"] >= 4
    assert {p.number for p in searched} == {"PCB-V1.2", "PCB-V1.3"}
    assert 0 < len(tested) < len(parts_catalogue())


async def test_a_listing_of_parts_resumes_where_it_stopped(emu: Emulator) -> None:
    """No time filter, no pin: the token's anchor is what the resumed listing checks."""
    async with emu.client() as client:
        full = await client.parts.list(sort_by="number", page_size=100).collect()
        token_listing = client.parts.list(sort_by="number", page_size=5)
        first = [await token_listing.__anext__() for _ in range(12)]
        token = token_listing.resume_token
        await token_listing.aclose()
        rest = await client.parts.resume(token).collect()
    assert [p.id for p in first + rest] == [p.id for p in full]


def test_bad_part_filters_send_nothing() -> None:
    client = aiotofu.Client("k")
    with pytest.raises(aiotofu.InvalidParameterError, match="^metadata: "):
        client.parts.list(metadata={"a": {"between": [1, 2]}})
    with pytest.raises(aiotofu.InvalidParameterError, match="^sort_by: "):
        client.parts.list(sort_by="revision")  # type: ignore[arg-type]
    with pytest.raises(aiotofu.InvalidParameterError, match="^include_metadata: "):
        client.parts.list(include_metadata="yes")  # type: ignore[arg-type]
