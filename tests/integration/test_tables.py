"""Listings as tables on the emulator (issue 22 items 1 and 2, issue 21's read_dataframe):
``to_arrow()`` / ``to_pandas()`` and their sync twins, page by page with the class's schema,
``--format parquet --output FILE`` written as the pages come, and ``aiotofu.dask.read_dataframe``
equal to one listing."""

from __future__ import annotations

import math
import os
import pty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from anyio.from_thread import start_blocking_portal

import aiotofu
import aiotofu.dask
from aiotofu import _tables
from aiotofu._tables import TableBuilder
from aiotofu.cli import main
from aiotofu.testing import Emulator

WORLD: dict[str, Any] = {"batches": 12, "runs": 90, "seed": 5}
MODELS: dict[str, type[Any]] = {
    "batches": aiotofu.Batch,
    "units": aiotofu.Unit,
    "parts": aiotofu.Part,
    "procedures": aiotofu.Procedure,
    "stations": aiotofu.Station,
    "deployments": aiotofu.Deployment,
    "logs": aiotofu.Log,
}


@pytest.fixture(scope="module")
def world() -> Iterator[Emulator]:
    """A small emulator in its own thread, for async tests, SyncClient, the CLI and Dask."""
    with start_blocking_portal(name="emulator") as portal:
        server = Emulator(**WORLD)
        portal.call(server.__aenter__)
        try:
            yield server
        finally:
            portal.call(server.__aexit__, None, None, None)


def client(world: Emulator, **options: Any) -> aiotofu.Client:
    return aiotofu.Client(world.api_key, base_url=world.base_url, **options)


def table_of(cls: type[Any], records: list[Any]) -> pa.Table:
    builder = TableBuilder(cls)
    builder.add(records)
    return builder.table()


async def test_to_arrow_is_the_listing_page_by_page_with_the_class_schema(world: Emulator) -> None:
    async with client(world) as c:
        records = await c.runs.list(page_size=7, include_metadata=True).collect()
        listing = c.runs.list(page_size=7, include_metadata=True)
        table = await listing.to_arrow()
    assert len(records) == 90
    assert table.schema.equals(aiotofu.schema(aiotofu.Run), check_metadata=True)
    assert table.equals(table_of(aiotofu.Run, records))
    assert table.column("id").to_pylist() == [run.id for run in records]
    assert table.column("duration").to_pylist() == [run.duration for run in records]
    assert listing.done  # closed at the end, as collect()


async def test_an_empty_listing_is_an_empty_table_with_the_schema(world: Emulator) -> None:
    async with client(world) as c:
        table = await c.runs.list(serial_numbers=["no-such-unit"]).to_arrow()
        frame = await c.runs.list(serial_numbers=["no-such-unit"]).to_pandas()
    assert table.num_rows == 0
    assert table.schema.equals(aiotofu.schema(aiotofu.Run), check_metadata=True)
    assert list(frame.columns) == aiotofu.schema(aiotofu.Run).names
    assert str(frame["started_at"].dtype) == "datetime64[us, UTC]"


async def test_every_endpoint_makes_a_table(world: Emulator) -> None:
    async with client(world) as c:
        procedure = (await c.procedures.list(max_items=1).collect())[0]
        for name, cls in MODELS.items():
            table = await getattr(c, name).list(page_size=20).to_arrow()
            assert table.num_rows > 0, name
            assert table.schema.equals(aiotofu.schema(cls), check_metadata=True), name
        for name in ("phases", "measurements"):
            records = await getattr(c, name).list(procedure_id=procedure.id).collect()
            frame = await getattr(c, name).list(procedure_id=procedure.id).to_pandas()
            assert list(frame["id"]) == [record.id for record in records] != [], name
    assert str(frame["measurement_outcome"].dtype) == "category"


async def test_to_pandas_has_flat_columns_and_typed_dtypes(world: Emulator) -> None:
    async with client(world) as c:
        frame = await c.runs.list(include_metadata=True).to_pandas()
    assert len(frame) == 90
    assert "unit.part.revision.number" in frame.columns
    assert str(frame["duration"].dtype) == "timedelta64[us]"
    assert str(frame["created_at"].dtype) == "datetime64[us, UTC]"
    assert str(frame["outcome"].dtype) == "category"
    assert str(frame["id"].dtype) == "string"
    assert (frame["ended_at"] - frame["started_at"] == frame["duration"]).all()


async def test_a_failed_to_arrow_loses_nothing(world: Emulator) -> None:
    """As collect(): a failure on a later page counts nothing as handed out, so that the next
    call still gives every record (a table built of the pages before it would be lost)."""
    async with Emulator(**WORLD, fail_rate=0.25) as flaky, client(world) as c:
        expected = await c.runs.list(page_size=10).collect()
        async with aiotofu.Client(flaky.api_key, base_url=flaky.base_url, retry=None) as f:
            listing = f.runs.list(page_size=10)
            failures = 0
            while True:
                try:
                    table = await listing.to_arrow()
                except aiotofu.ServerError:
                    failures += 1
                    continue
                break
    assert failures > 0
    assert table.column("id").to_pylist() == [run.id for run in expected]


def test_the_sync_twins_give_the_rest_of_the_listing(world: Emulator) -> None:
    with aiotofu.SyncClient(world.api_key, base_url=world.base_url) as c:
        every = c.runs.list(page_size=8).collect()
        listing = c.runs.list(page_size=8)
        first = [next(listing) for _ in range(3)]
        table = listing.to_arrow()
        assert listing.collect() == []  # everything was handed out
        token = listing.resume_token
        frame = c.runs.list(page_size=8).to_pandas()
        rest = c.runs.resume(token).collect()
    assert [run.id for run in first] + table.column("id").to_pylist() == [r.id for r in every]
    assert rest == []
    assert list(frame["id"]) == [run.id for run in every]


def cli(world: Emulator, *argv: str) -> int:
    return main([*argv, "--base-url", world.base_url, "--api-key", world.api_key])


def test_cli_parquet_reads_back_with_the_schema_written_as_the_pages_come(
    world: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bounded memory: records are made a batch a page at a time (never more than a page held
    as records) and written as a row group every ROW_GROUP_ROWS rows, not at the end."""
    monkeypatch.setattr(_tables, "ROW_GROUP_ROWS", 20)
    sizes: list[int] = []
    real = _tables.record_batch

    def spy(cls: type[Any], records: Any) -> Any:
        sizes.append(len(records))
        return real(cls, records)

    monkeypatch.setattr(_tables, "record_batch", spy)
    path = tmp_path / "runs.parquet"
    status = cli(
        world, "runs", "list", "--page-size", "9", "--format", "parquet", "--output", str(path)
    )
    assert status == 0
    assert max(sizes) == 9
    assert sum(sizes) == 90
    back = pq.read_table(path, schema=aiotofu.schema(aiotofu.Run))
    file = pq.ParquetFile(path)
    assert file.metadata.num_row_groups == math.ceil(90 / 27)  # 3 pages of 9 pass 20 rows
    assert file.schema_arrow.equals(aiotofu.schema(aiotofu.Run))
    with aiotofu.SyncClient(world.api_key, base_url=world.base_url) as c:
        expected = c.runs.list(page_size=100).collect()
    assert back.equals(table_of(aiotofu.Run, expected))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "parquet"], "--format parquet: give the file to write with --output FILE"),
        (["--output", "x.parquet"], "--output: only with --format parquet"),
    ],
)
def test_cli_parquet_usage_errors(
    world: Emulator, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert cli(world, "batches", "list", *argv) == 2
    assert message in capsys.readouterr().err


def test_cli_parquet_is_never_written_to_a_terminal(
    world: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    leader, follower = pty.openpty()
    try:
        status = cli(
            world, "batches", "list", "--format", "parquet", "--output", os.ttyname(follower)
        )
    finally:
        os.close(leader)
        os.close(follower)
    assert status == 2
    assert "never written to a terminal" in capsys.readouterr().err


def test_cli_parquet_that_fails_at_once_leaves_no_file(
    world: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "runs.parquet"
    status = main(
        [
            "runs",
            "list",
            "--format",
            "parquet",
            "--output",
            str(path),
            "--base-url",
            world.base_url,
            "--api-key",
            "wrong-key",
        ]
    )
    assert status == 1
    assert "AuthenticationError" in capsys.readouterr().err
    assert not path.exists()


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.Client]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as local,
        distributed.Client(local, set_as_default=False) as dask_client,
    ):
        yield dask_client


def test_read_dataframe_is_one_listing_one_partition_per_shard(
    world: Emulator, cluster: distributed.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOFUPILOT_API_KEY", world.api_key)
    with aiotofu.SyncClient(world.api_key, base_url=world.base_url) as c:
        plan = c.runs.plan(target_size=25)
        expected = c.runs.list(created_before=plan.as_of, sort_order="asc").to_pandas()
    frame = aiotofu.dask.read_dataframe(plan, base_url=world.base_url)
    assert frame.npartitions == len(plan.shards) > 1
    assert list(frame.columns) == aiotofu.schema(aiotofu.Run).names
    assert frame.dtypes.to_dict() == expected.dtypes.to_dict()  # meta, from the schema
    got = cluster.compute(frame).result()
    assert sorted(got["id"]) == sorted(expected["id"])
    by_id = got.set_index("id").sort_index()
    assert by_id.equals(expected.set_index("id").sort_index())


def test_read_dataframe_checks_its_arguments_before_any_task() -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="plan"):
        aiotofu.dask.read_dataframe("not a plan")  # type: ignore[arg-type]
