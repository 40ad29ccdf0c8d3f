"""``client.stations``: no time filter and no sort parameter, on the engine, against the emulator
(the SDK's view of it is in test_every_endpoint_conformance.py)."""

from __future__ import annotations

import pytest

import aiotofu
from aiotofu._emulator.store import procedure_id
from aiotofu.testing import Emulator


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
