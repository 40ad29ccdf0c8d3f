"""``client.stations``: no time filter and no sort parameter, on the engine; against the emulator
and the official SDK (same stations, same order, same query string)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

import aiotofu
from aiotofu._emulator.store import procedure_id
from aiotofu.testing import Emulator

tofupilot_v2 = pytest.importorskip("tofupilot.v2")


async def test_every_station_once_with_its_procedures_and_team(emu: Emulator) -> None:
    async with emu.client() as client:
        stations = await client.stations.list(page_size=2).collect()
    assert len(stations) == len({s.id for s in stations}) == 6
    assert [s.name for s in stations] == sorted(s.name for s in stations)
    for station in stations:
        assert isinstance(station, aiotofu.Station)
        assert station.procedures_count == len(station.procedures)
        assert all(isinstance(p, aiotofu.ProcedureRef) for p in station.procedures)
        assert station.team is None or isinstance(station.team, aiotofu.TeamRef)
        assert station.metadata is None


async def test_station_filters_narrow(emu: Emulator) -> None:
    async with emu.client() as client:
        every = await client.stations.list().collect()
        ict = await client.stations.list(procedure_ids=procedure_id("ICT")).collect()
        assembly = await client.stations.list(search_query="assembly").collect()
        calibrated = await client.stations.list(
            metadata={"calibrated": {"eq": True}}, include_metadata=True
        ).collect()
    assert {s.id for s in ict} == {
        s.id for s in every if procedure_id("ICT") in {p.id for p in s.procedures}
    }
    assert [s.name for s in assembly] == ["Assembly Station 01"]
    assert all(s.metadata is not None and s.metadata["calibrated"] is True for s in calibrated)


def test_stations_take_no_order_and_check_filters_before_sending() -> None:
    client = aiotofu.Client("k")
    with pytest.raises(TypeError):
        client.stations.list(sort_by="name")  # type: ignore[call-arg]
    with pytest.raises(aiotofu.InvalidParameterError, match="^procedure_ids: "):
        client.stations.list(procedure_ids=[])


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"search_query": "station"},
        {"procedure_ids": [procedure_id("ICT"), procedure_id("Burn-in")]},
        {"metadata": {"bays": {"gte": 2}, "line": {"in": ["L1", "L2"]}}, "include_metadata": True},
    ],
    ids=["defaults", "search", "procedures", "metadata"],
)
def test_the_sdk_agrees_on_stations(threaded_emu: Emulator, filters: dict[str, Any]) -> None:
    with tofupilot_v2.TofuPilot(
        api_key=threaded_emu.api_key, server_url=threaded_emu.base_url
    ) as sdk:
        threaded_emu.reset_stats()
        page = sdk.stations.list(limit=100, cursor=0, **filters)
        sdk_first = threaded_emu.log[0]
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        threaded_emu.reset_stats()
        ours = client.stations.list(page_size=100, prefetch=0, **filters).collect()
        our_first = threaded_emu.log[0]
    assert [s.id for s in page.data] == [s.id for s in ours]
    for theirs, mine in zip(page.data, ours, strict=True):
        assert theirs.name == mine.name
        assert theirs.procedures_count == mine.procedures_count
        assert [p.id for p in theirs.procedures] == [p.id for p in mine.procedures]
    # Blank values left out: the SDK sends an empty "metadata=" when it has no metadata filter.
    assert parse_qsl(urlsplit(our_first.path_qs).query) == parse_qsl(
        urlsplit(sdk_first.path_qs).query
    )
