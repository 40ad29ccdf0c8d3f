"""The ``aiotofu`` command: in-process for its output, in subprocesses for signals and exits."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import pty
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

import aiotofu
from aiotofu._emulator.store import procedure_id
from aiotofu.cli import csv_columns, main
from aiotofu.testing import Emulator, VirtualClock


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def connection(emu: Emulator) -> list[str]:
    return ["--base-url", emu.base_url, "--api-key", emu.api_key]


def test_jsonl_streams_every_batch_as_tofupilot_json(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "batches", "list", *connection(threaded_emu))
    assert (status, err) == (0, "")
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 1000
    assert len({line["id"] for line in lines}) == 1000
    assert set(lines[0]) == {
        "id",
        "number",
        "created_at",
        "unit_count",
        "created_by_user",
        "created_by_station",
    }
    assert lines[0]["created_at"].endswith("Z")
    assert threaded_emu.api_key not in out


def test_csv_has_a_header_and_a_row_per_batch(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "batches", "list", "--format", "csv", "--max-items", "25", *connection(threaded_emu)
    )
    rows = list(csv.reader(io.StringIO(out)))
    assert status == 0
    assert tuple(rows[0]) == csv_columns(aiotofu.Batch)
    assert len(rows) == 26


def test_table_and_filters(threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    threaded_emu.add_batch("CLI-ONE", units=[("CLI-SN-1", "PART-X", "R1")])
    threaded_emu.add_batch("CLI-TWO", units=[("CLI-SN-2", "PART-Y", "R1")])
    status, out, _ = run(
        capsys,
        "batches",
        "list",
        "--format",
        "table",
        "--part-number",
        "PART-X",
        "--part-number",
        "PART-Y",
        "--revision",
        "R1",
        "--created-after",
        "2020-01-01T00:00:00Z",
        "--sort-by",
        "number",
        "--sort-order",
        "asc",
        *connection(threaded_emu),
    )
    lines = out.splitlines()
    assert status == 0
    assert lines[0].startswith("NUMBER")
    assert [line.split()[0] for line in lines[1:]] == ["CLI-ONE", "CLI-TWO"]
    status, out, _ = run(
        capsys, "batches", "list", "--search", "CLI-SN-2", *connection(threaded_emu)
    )
    assert [json.loads(line)["number"] for line in out.splitlines()] == ["CLI-TWO"]


def test_resume_continues_a_listing(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    client = aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url)
    with client, client.batches.list(page_size=50) as iterator:
        head = [next(iterator).id for _ in range(990)]
        token = iterator.resume_token
    status, out, _ = run(capsys, "batches", "list", "--resume", token, *connection(threaded_emu))
    assert status == 0
    tail = [json.loads(line)["id"] for line in out.splitlines()]
    assert len(tail) == 10
    assert not set(head) & set(tail)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--page-size", "500"], "--page-size: must be between 1 and 100, got 500"),
        (["--max-items", "-3"], "--max-items: must be at least 0"),
        (["--created-after", "yesterday"], "--created-after: expected an RFC 3339"),
        (["--created-after", "2024-01-01T00:00:00"], "--created-after: expected an RFC 3339"),
        (["--search", "x" * 101], "--search: at most 100 characters"),
        (["--resume", "garbage"], "--resume: not a resume token"),
        (["--base-url", "ftp://example.com"], "base_url: expected an http(s) URL"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run(capsys, "batches", "list", *connection(threaded_emu), *argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize("action", ["list", "watch"])
def test_a_missing_key_is_a_usage_error_naming_the_environment_variable(
    capsys: pytest.CaptureFixture[str], action: str
) -> None:
    status, _, err = run(capsys, "batches", action, "--base-url", "http://127.0.0.1:9/api")
    assert status == 2
    assert "--api-key" in err
    assert "TOFUPILOT_API_KEY" in err
    assert err.count("\n") == 1


def test_api_errors_are_one_line_and_exit_1(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(
        capsys, "batches", "list", "--base-url", threaded_emu.base_url, "--api-key", "tp-wrong-key"
    )
    assert (status, out) == (1, "")
    assert err == "aiotofu: AuthenticationError: 401 UNAUTHORIZED: Unauthorized\n"
    assert "tp-wrong-key" not in err


def test_a_refused_connection_is_a_transport_error_after_the_retries(
    capsys: pytest.CaptureFixture[str], clock: VirtualClock
) -> None:
    """The command retries a refused connection with the default policy's backoff (waited on
    the virtual clock), then prints one error line."""
    status, _, err = run(
        capsys, "batches", "list", "--base-url", "http://127.0.0.1:9/api", "--api-key", "k"
    )
    assert status == 1
    assert err.startswith("aiotofu: TransportError: ")
    assert err.count("\n") == 1
    assert len(clock.sleeps) == aiotofu.RetryPolicy().attempts - 1


def test_the_emulator_refuses_a_public_address(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "emulator", "--host", "0.0.0.0")
    assert status == 2
    assert "--allow-remote" in err


def test_bad_fault_settings_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "demo", "--fail-rate", "1.5")
    assert status == 2
    assert "fail_rate must be between 0 and 1" in err


def test_the_emulator_takes_a_rate_limit_and_its_burst(capsys: pytest.CaptureFixture[str]) -> None:
    from aiotofu import cli
    from aiotofu._emulator import FaultSettings

    args = cli._parser().parse_args(["emulator", "--rate-limit", "40", "--rate-burst", "5"])
    assert cli._fault_settings(args) == FaultSettings(rate_limit=40, rate_burst=5)
    status, _, err = run(capsys, "demo", "--rate-limit", "40", "--rate-burst", "0.5")
    assert status == 2
    assert "rate_burst must be a finite number >= 1" in err


def test_demo_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "demo", "--batches", "400", "--latency", "0", "--fail-rate", "0.2")
    assert status == 0
    assert "streamed 400 batches in 5 pages" in out
    assert "every batch exactly once, newest first: yes" in out
    assert "every run exactly once: yes" in out


# -- subprocesses: real signals -------------------------------------------------------------


def command(*argv: str) -> list[str]:
    return [sys.executable, "-m", "aiotofu", *argv]


@pytest.fixture
def emulator_process() -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    """``aiotofu emulator --port 0`` in a subprocess: (process, base URL, key)."""
    process = subprocess.Popen(
        # A little latency, so that a listing page by page lasts long enough to be interrupted.
        command(
            "emulator",
            "--port",
            "0",
            "--batches",
            "300",
            "--latency",
            "0.01",
            "--api-key",
            "tp-subprocess-key",
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    base_url = first.split()[-1]
    key_line = process.stdout.readline()
    try:
        yield process, base_url, key_line.split()[-1]
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.mark.slow
def test_the_emulator_command_serves_and_stops_on_sigterm(
    emulator_process: tuple[subprocess.Popen[str], str, str],
) -> None:
    process, base_url, key = emulator_process
    assert base_url.startswith("http://127.0.0.1:")
    assert base_url.endswith("/api")
    assert key == "tp-subprocess-key"
    listed = subprocess.run(
        command("batches", "list", "--base-url", base_url, "--api-key", key),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0
    assert len(listed.stdout.splitlines()) == 300
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "stopped" in out
    assert "Traceback" not in err


@pytest.mark.slow
def test_ctrl_c_stops_a_listing_cleanly_and_prints_the_resume_token(
    emulator_process: tuple[subprocess.Popen[str], str, str],
) -> None:
    _, base_url, key = emulator_process
    env: dict[str, Any] = {**os.environ, "TOFUPILOT_API_KEY": key, "TOFUPILOT_URL": base_url}
    # --page-size 1 and no prefetch: slow enough to be interrupted in the middle.
    listing = subprocess.Popen(
        command("batches", "list", "--page-size", "1", "--prefetch", "0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert listing.stdout is not None
    for _ in range(5):
        listing.stdout.readline()
    listing.send_signal(signal.SIGINT)
    out, err = listing.communicate(timeout=20)
    assert listing.returncode == 130
    assert "Traceback" not in err
    [line] = [line for line in err.splitlines() if "--resume" in line]
    token = line.split("--resume ")[1]
    assert key not in err + out
    resumed = subprocess.run(
        command("batches", "list", "--resume", token),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    lines_before = 5 + len(out.splitlines())
    assert resumed.returncode == 0
    assert lines_before + len(resumed.stdout.splitlines()) == 300


@pytest.mark.slow
def test_python_dash_m_aiotofu_help() -> None:
    result = subprocess.run(command("--help"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "batches" in result.stdout
    assert "emulator" in result.stdout


@pytest.mark.slow
def test_a_reader_that_goes_away_is_not_an_error(
    emulator_process: tuple[subprocess.Popen[str], str, str],
) -> None:
    _, base_url, key = emulator_process
    result = subprocess.run(
        f"{sys.executable} -m aiotofu batches list --base-url {base_url} --api-key {key} | head -3",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert len(result.stdout.splitlines()) == 3
    assert "Traceback" not in result.stderr
    assert "BrokenPipe" not in result.stderr


@pytest.mark.slow
def test_progress_is_shown_on_a_terminal(
    emulator_process: tuple[subprocess.Popen[str], str, str],
) -> None:
    _, base_url, key = emulator_process
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            command("batches", "list", "--base-url", base_url, "--api-key", key),
            stdout=subprocess.PIPE,
            stderr=terminal,
            timeout=60,
        )
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal's other end is closed: all was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert result.returncode == 0
    assert b"300 batches" in shown
    assert b"/s" in shown


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--part-number", "PCB-V1.2"], "--part-number"),
        (["--page-size", "10"], "--page-size"),
        (["--sort-order", "asc"], "--sort-order"),
        (["--search", "x", "--id", "a"], "--id"),
    ],
)
def test_resume_with_filters_or_a_page_size_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    """A token carries the filters and the page size: others given with it are refused."""
    status, out, err = run(capsys, "batches", "list", "--resume", "TOKEN", "--api-key", "k", *flags)
    assert (status, out) == (2, "")
    assert named in err
    assert "--resume" in err


def test_resume_takes_max_items_and_prefetch(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--base-url", threaded_emu.base_url, "--api-key", threaded_emu.api_key]
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        batches = client.batches.list(page_size=10)
        next(batches)
        token = batches.resume_token
    status, out, _ = run(
        capsys, "batches", "list", "--resume", token, "--max-items", "3", "--prefetch", "0", *base
    )
    assert status == 0
    assert len(out.splitlines()) == 3


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--part-number", ""], "--part-number"),
        (["--id", ""], "--id"),
        (["--revision", ""], "--revision"),
        (["--search", "x" * 101], "--search"),
        (["--page-size", "0"], "--page-size"),
    ],
)
def test_errors_name_the_flag_as_the_user_types_it(
    capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    status, _, err = run(capsys, "batches", "list", "--api-key", "k", *flags)
    assert status == 2
    assert err.startswith(f"aiotofu: error: {named}: ")


def test_the_table_prints_whole_readable_utc_times() -> None:
    from datetime import datetime, timedelta, timezone

    from aiotofu._convert import table_time

    moment = datetime(2024, 1, 2, 17, 51, 6, 21000, tzinfo=timezone(timedelta(hours=2)))
    assert table_time(moment) == "2024-01-02 15:51:06.021"
    assert table_time(moment.replace(microsecond=0)) == "2024-01-02 15:51:06.000"


def test_parts_list_from_the_command_line(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every resource of the engine has its command, its flags derived from its filters."""
    base = connection(threaded_emu)
    status, out, _ = run(capsys, "parts", "list", "--format", "jsonl", *base)
    assert status == 0
    assert len(out.splitlines()) == 45
    status, out, _ = run(
        capsys,
        "parts",
        "list",
        "--format",
        "csv",
        "--metadata",
        '{"family": {"in": ["boards"]}}',
        "--include-metadata",
        "true",
        "--sort-by",
        "number",
        *base,
    )
    assert status == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["id", "number", "name", "created_at", "revisions", "metadata"]
    assert all('"family":"boards"' in row[5] for row in rows[1:])
    assert [row[1] for row in rows[1:]] == sorted((row[1] for row in rows[1:]), reverse=True)
    status, _, err = run(capsys, "parts", "list", "--metadata", "[1]", *base)
    assert (status, err.startswith("aiotofu: error: --metadata: ")) == (2, True)
    for wrong in (["list", "--sort-by", "size"], ["watch"]):  # parts have no watch
        with pytest.raises(SystemExit) as info:
            main(["parts", *wrong, *base])
        assert info.value.code == 2


def test_csv_flattens_nested_records_to_dotted_columns(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys, "batches", "list", "--format", "csv", "--max-items", "5", *connection(threaded_emu)
    )
    assert status == 0
    header = next(csv.reader(io.StringIO(out)))
    assert "created_by_user.name" in header
    assert "created_by_station.id" in header


def test_stations_list_from_the_command_line(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(
        capsys,
        "stations",
        "list",
        "--format",
        "csv",
        "--search",
        "station",
        *connection(threaded_emu),
    )
    assert status == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0][:2] == ["id", "name"]
    assert "team.name" in rows[0]
    assert len(rows) == 7
    with pytest.raises(SystemExit):  # no order to choose for stations
        main(["stations", "list", "--sort-by", "name", *connection(threaded_emu)])


def test_the_test_engineers_first_command(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """``aiotofu runs list --outcome FAIL --procedure-id ... --started-after ...``, in every
    format, and the same runs as the library gives."""
    functional = procedure_id("Functional test")
    flags = ["--outcome", "FAIL", "--procedure-id", functional]
    flags += ["--started-after", "2024-01-02T00:00:00Z", *connection(threaded_emu)]
    status, out, err = run(capsys, "runs", "list", "--format", "jsonl", *flags)
    assert (status, err) == (0, "")
    runs = [json.loads(line) for line in out.splitlines()]
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        expected = client.runs.list(
            outcomes="FAIL",
            procedure_ids=functional,
            started_after=datetime(2024, 1, 2, tzinfo=timezone.utc),
        ).collect()
    assert [run["id"] for run in runs] == [run.id for run in expected]
    assert runs
    assert {run["outcome"] for run in runs} == {"FAIL"}
    status, out, _ = run(capsys, "runs", "list", "--format", "table", *flags)
    assert status == 0
    assert out.splitlines()[0].split() == [
        "STARTED",
        "(UTC)",
        "OUTCOME",
        "PROCEDURE",
        "SERIAL",
        "DURATION",
    ]
    assert len(out.splitlines()) == len(runs) + 1
    status, out, _ = run(capsys, "runs", "list", "--format", "csv", *flags)
    header = next(csv.reader(io.StringIO(out)))
    assert {"unit.serial_number", "unit.part.revision.number", "procedure.version.tag"} <= set(
        header
    )


@pytest.mark.parametrize(
    ("resource", "extra"),
    [
        (
            "units",
            ["--part-number", "PCB-V1.2", "--latest-only", "true", "--sort-by", "serial_number"],
        ),
        ("procedures", ["--search", "test"]),
        ("deployments", ["--environment", "production", "--pushed", "true"]),
        ("logs", ["--level", "ERROR", "--level", "CRITICAL"]),
        ("phases", ["--procedure-id", procedure_id("ICT"), "--exclude-retries", "false"]),
        (
            "measurements",
            [
                "--procedure-id",
                procedure_id("ICT"),
                "--value-min",
                "1",
                "--measurement-type",
                "numeric",
            ],
        ),
    ],
)
def test_every_resource_lists_from_the_command_line(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str], resource: str, extra: list[str]
) -> None:
    base = connection(threaded_emu)
    status, out, err = run(
        capsys, resource, "list", "--format", "jsonl", "--max-items", "30", *extra, *base
    )
    assert (status, err) == (0, "")
    assert 0 < len(out.splitlines()) <= 30
    status, out, _ = run(
        capsys, resource, "list", "--format", "table", "--max-items", "3", *extra, *base
    )
    assert status == 0
    assert len(out.splitlines()) >= 2


def test_watches_exist_where_the_api_can_filter_by_creation(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for resource in ("batches", "units", "runs", "logs"):
        with pytest.raises(SystemExit) as info:
            main([resource, "watch", "--help"])
        assert info.value.code == 0
    for resource in ("parts", "procedures", "stations", "deployments", "phases", "measurements"):
        with pytest.raises(SystemExit) as info:
            main([resource, "watch"])
        assert info.value.code == 2
    with pytest.raises(SystemExit) as info:  # required by the API, required by the command
        main(["measurements", "list"])
    assert info.value.code == 2
    assert "--procedure-id" in capsys.readouterr().err


def test_plan_says_its_retries_and_the_page_size_help_gives_the_default(
    threaded_emu: Emulator,
    capsys: pytest.CaptureFixture[str],
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plan's retries are said on stderr as a listing's are (they vanished: the aiotofu
    logger's only handler is a NullHandler). As a user runs it: no handler on the root
    logger (pytest's own would take the warnings)."""
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    threaded_emu.inject(503, 503)
    status, out, err = run(
        capsys, "batches", "plan", "--target-size", "500", *connection(threaded_emu)
    )
    assert status == 0
    assert aiotofu.Plan.from_json(out).shards
    assert err.count("retrying GET") == 2
    with pytest.raises(SystemExit):
        main(["batches", "list", "--help"])
    assert "1..100 (50)" in " ".join(capsys.readouterr().out.split())
