"""``aiotofu.dlt.source()`` loading into DuckDB, on an emulator in its own thread (a pipeline
blocks its caller): incremental loads add exactly what is new, the lag window brings late
records once, deletions during a load lose nothing that existed throughout (where dlt's own
REST API source, the baseline in ``benchmarks/load.py``, loses some), and merges leave no
duplicates. One small emulator and one pipeline into a DuckDB file of its own per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

dlt = pytest.importorskip("dlt")
duckdb = pytest.importorskip("duckdb")

import aiotofu  # noqa: E402
import aiotofu.dlt  # noqa: E402
from aiotofu.testing import Emulator  # noqa: E402
from benchmarks import load as bench  # noqa: E402


@pytest.fixture(autouse=True)
def _dlt_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dlt's data directory in tmp_path, and no telemetry."""
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")


@pytest.fixture
def small() -> Iterator[Emulator]:
    """60 batches (with their units), 40 runs, in a thread of its own."""
    with bench.threaded_emulator(batches=60, runs=40, seed=3) as emu:
        yield emu


def source(emu: Emulator, **options: Any) -> Any:
    return aiotofu.dlt.source(api_key=emu.api_key, base_url=emu.base_url, **options)


def rows(
    path: Path, name: str, table: str, columns: str = "id", dataset: str = "tofupilot"
) -> list[Any]:
    with duckdb.connect(str(path / f"{name}.duckdb"), read_only=True) as connection:
        return connection.sql(f"SELECT {columns} FROM {dataset}.{table}").fetchall()


def test_two_loads_with_an_upload_between_them_add_exactly_the_new_run(
    small: Emulator, tmp_path: Path
) -> None:
    pipeline = bench.pipeline(tmp_path, "runs")
    pipeline.run(source(small, resources=["runs"]))
    before = {row[0] for row in rows(tmp_path, "runs", "runs")}
    assert len(before) == 40
    new = small.add_run(procedure="ICT")
    small.reset_stats()
    pipeline.run(source(small, resources=["runs"]))
    after = [row[0] for row in rows(tmp_path, "runs", "runs")]
    assert sorted(after) == sorted([*before, new])
    # Incremental: the second load asked only for what was created since the first, less the
    # lag (the new run and those of the last ten minutes), not for every run again.
    assert all("created_after=" in request.path_qs for request in small.log)
    assert pipeline.last_trace.last_normalize_info.row_counts["runs"] < 5


def test_a_run_loads_with_its_times_as_timestamps_and_its_duration_as_the_apis_text(
    small: Emulator, tmp_path: Path
) -> None:
    """dlt has no duration type and fails on a timedelta: a duration is the API's own text."""
    pipeline = bench.pipeline(tmp_path, "typed")
    pipeline.run(source(small, resources=["runs"]))
    with aiotofu.SyncClient(small.api_key, base_url=small.base_url) as client:
        expected = {run.id: run for run in client.runs.list()}
    loaded = rows(tmp_path, "typed", "runs", "id, duration, started_at")
    assert len(loaded) == len(expected)
    for run_id, duration, started_at in loaded:
        assert duration == aiotofu.to_json_dict(expected[run_id])["duration"]
        assert started_at == expected[run_id].started_at


def test_a_past_stamped_batch_inside_the_lag_window_arrives_once(
    small: Emulator, tmp_path: Path
) -> None:
    """A batch committed late, stamped 5 minutes before the newest one loaded, is in the
    next load's window (lag 10 minutes) and in the table once; one stamped past the window
    is not (the documented limit of the lag)."""
    pipeline = bench.pipeline(tmp_path, "late")
    pipeline.run(source(small, resources=["batches"]))
    [[newest]] = rows(tmp_path, "late", "batches", "max(created_at)")
    late = small.add_batch("LATE-5-MIN", created_at=newest - timedelta(minutes=5))
    too_late = small.add_batch("LATE-1-HOUR", created_at=newest - timedelta(hours=1))
    pipeline.run(source(small, resources=["batches"]))
    ids = [row[0] for row in rows(tmp_path, "late", "batches")]
    assert ids.count(late) == 1
    assert too_late not in ids
    assert len(ids) == len(set(ids)) == 61


def test_deletions_during_the_first_load_lose_nothing_that_existed_throughout(
    tmp_path: Path,
) -> None:
    """Two of the batches already received are deleted before every answer, 40 in all: the
    source loads every batch that existed throughout. The baseline (dlt's REST API source with
    an offset paginator), under the same deletions, loses some: that shows the deletions shift
    what offsets point at, so the source's 0 is a result, not a quiet server."""
    lost = {}
    for name, (make, newest_first) in bench.CONTENDERS.items():
        with bench.threaded_emulator(batches=300, runs=0, seed=3, latency=0.001) as emu:
            order = bench.batch_ids(emu, newest_first=newest_first)
            throughout = set(order[bench.DELETED :])
            bench.delete_while_paging(emu, order[: bench.DELETED])
            bench.pipeline(tmp_path, name).run(make(emu))
            loaded = {row[0] for row in rows(tmp_path, name, "batches")}
            lost[name] = len(throughout - loaded)
    assert lost["aiotofu"] == 0
    assert lost["baseline"] > 0


def test_merge_leaves_no_duplicates_after_two_runs(tmp_path: Path) -> None:
    """Every resource, loaded twice (the lag and look-back windows read again): one row per id
    in every table, phases and measurements with their procedure, and the API key in no file
    the pipeline or the database wrote."""
    with bench.threaded_emulator(batches=10, runs=12, seed=3) as small:
        pipeline = bench.pipeline(tmp_path, "all")
        pipeline.run(source(small))
        first = {table: len(rows(tmp_path, "all", table)) for table in aiotofu.dlt.RESOURCES}
        small.add_run(procedure="Functional test")
        pipeline.run(source(small))
    for table in aiotofu.dlt.RESOURCES:
        ids = [row[0] for row in rows(tmp_path, "all", table)]
        assert ids, table
        assert len(ids) == len(set(ids)), table
        assert len(ids) >= first[table], table
    assert len(rows(tmp_path, "all", "runs")) == first["runs"] + 1
    # Phases and measurements name the procedure they were listed under: their run's.
    procedures = dict(rows(tmp_path, "all", "runs", "id, procedure__id"))
    for table in aiotofu.dlt.BY_PROCEDURE:
        listed = rows(tmp_path, "all", table, "run_id, procedure_id")
        assert all(procedures[run] == procedure for run, procedure in listed), table
    key = small.api_key.encode()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert key not in path.read_bytes(), path


def test_bad_arguments_are_refused_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="resources"):
        aiotofu.dlt.source(resources=["runs", "nope"], api_key="k")
    with pytest.raises(aiotofu.InvalidParameterError, match="start"):
        aiotofu.dlt.source(start=datetime(2024, 1, 1), api_key="k")  # naive
    with pytest.raises(aiotofu.InvalidParameterError, match="lag"):
        aiotofu.dlt.source(lag=timedelta(minutes=-1), api_key="k")
    with pytest.raises(aiotofu.InvalidParameterError, match="page_size"):
        aiotofu.dlt.source(page_size=101, api_key="k")
    with pytest.raises(aiotofu.TofuPilotError, match="TOFUPILOT_API_KEY"):
        aiotofu.dlt.source()
    monkeypatch.setenv("SOURCES__TOFUPILOT__API_KEY", "from-dlt-secrets")
    made = aiotofu.dlt.source(resources="runs", start=datetime(2024, 1, 1, tzinfo=timezone.utc))
    assert list(made.selected_resources) == ["runs"]
    assert "from-dlt-secrets" not in repr(made) + repr(made.resources["runs"])


def test_the_load_command_loads_the_resources_named_and_then_only_what_is_new(
    small: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aiotofu.cli import main

    database = tmp_path / "cli.duckdb"
    command = ["load", "--destination", "duckdb", "--path", str(database)]
    command += ["--resources", "runs,units", "--base-url", small.base_url]
    assert main([*command, "--api-key", small.api_key]) == 0
    printed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert printed["runs"] == "40"
    assert int(printed["units"]) > 0
    assert len(rows(tmp_path, "cli", "runs", dataset=aiotofu.dlt.DATASET)) == 40
    small.add_run()
    assert main([*command, "--api-key", small.api_key]) == 0
    assert int(dict(line.split("\t") for line in capsys.readouterr().out.splitlines())["runs"]) < 5
    assert len(rows(tmp_path, "cli", "runs", dataset=aiotofu.dlt.DATASET)) == 41
    # A refused key: one line naming aiotofu's error, exit 1, the key nowhere.
    assert main([*command, "--api-key", "tp-not-the-key"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aiotofu: AuthenticationError")
    assert "Traceback" not in err
    assert "tp-not-the-key" not in err
    assert main([*command, "--resources", "runs,nope", "--api-key", small.api_key]) == 2
    assert "resources" in capsys.readouterr().err


def test_a_database_file_named_like_the_dataset_loads(small: Emulator, tmp_path: Path) -> None:
    """DuckDB names a file's catalog after it: ``tofupilot.duckdb`` with a dataset (a schema)
    named ``tofupilot`` made every table name ambiguous, and the load failed. The dataset of
    ``duckdb_pipeline`` is named so that the natural file name works."""
    pipeline = aiotofu.dlt.duckdb_pipeline(tmp_path / "tofupilot.duckdb")
    loaded = aiotofu.dlt.run(pipeline, source(small, resources=["runs"]))
    assert loaded["runs"] == 40
    with duckdb.connect(str(tmp_path / "tofupilot.duckdb"), read_only=True) as connection:
        [[count]] = connection.sql(f"SELECT count(*) FROM {aiotofu.dlt.DATASET}.runs").fetchall()
    assert count == 40


def test_the_same_source_loads_into_postgresql_when_a_server_is_given(
    small: Emulator, tmp_path: Path
) -> None:
    """PostgreSQL, as a team would load it: the same source, dlt's own pipeline. Skipped
    unless ``AIOTOFU_TEST_POSTGRES`` is a ``postgresql://`` URL (and psycopg2 is installed)."""
    credentials = os.environ.get("AIOTOFU_TEST_POSTGRES")
    if not credentials:
        pytest.skip("no PostgreSQL server: set AIOTOFU_TEST_POSTGRES to a postgresql:// URL")
    pytest.importorskip("psycopg2")
    pipeline = dlt.pipeline(
        pipeline_name="postgres",
        destination=dlt.destinations.postgres(credentials),
        dataset_name=f"aiotofu_test_{uuid.uuid4().hex[:8]}",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    try:
        for _ in range(2):
            assert aiotofu.dlt.run(pipeline, source(small, resources=["runs"]))["runs"] <= 40
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name("runs")
            [[count, ids]] = client.execute_sql(f"SELECT count(*), count(DISTINCT id) FROM {table}")
        assert count == ids == 40
    finally:
        with pipeline.sql_client() as client:
            client.drop_dataset()


def test_the_load_command_takes_the_tls_flags_and_a_missing_key_is_a_usage_error(
    small: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--ca-file, --client-cert and --insecure reach the source's clients, as on every other
    command (a missing CA file is refused before anything is loaded; they were ignored)."""
    from aiotofu.cli import main

    database = tmp_path / "tls.duckdb"
    command = ["load", "--destination", "duckdb", "--path", str(database), "--resources", "runs"]
    command += ["--base-url", small.base_url, "--api-key", small.api_key]
    assert main([*command, "--ca-file", str(tmp_path / "missing.pem")]) == 2
    assert "verify" in capsys.readouterr().err
    assert not database.exists()
    assert main([*command, "--insecure"]) == 0  # http: nothing to verify, but said
    assert "--insecure" in capsys.readouterr().err
    monkeypatch.delenv("TOFUPILOT_API_KEY", raising=False)
    assert main(command[:-2]) == 2
    assert "--api-key" in capsys.readouterr().err


def test_the_source_checks_its_tls_options_when_made(tmp_path: Path) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="^verify"):
        aiotofu.dlt.source(api_key="k", verify=str(tmp_path / "missing.pem"))
