"""The first commands a new user types (issue 25, items 2-5): flags named as the API's filters,
a wrong flag answered with the subcommand's usage and the nearest flag, switches for booleans,
plain dates, enum values in any case, ``--version``, ``users list``, and tables that show what
the next command needs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import aiotofu
from aiotofu._emulator.store import procedure_id
from aiotofu.cli import main
from aiotofu.testing import Emulator

from .test_cli import connection, run


@pytest.fixture(scope="module")
def small() -> Iterator[Emulator]:
    """A small emulator in its own thread, shared by the module's tests (they only read)."""
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal(name="first-commands") as portal:
        server = Emulator(batches=60, runs=40, seed=11)
        portal.call(server.__aenter__)
        try:
            yield server
        finally:
            portal.call(server.__aexit__, None, None, None)


def ids(out: str) -> list[str]:
    return [json.loads(line)["id"] for line in out.splitlines()]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"aiotofu {aiotofu.__version__}\n"


def test_users_list_in_every_format(small: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "users", "list", *connection(small))
    assert (status, err) == (0, "")
    users = [json.loads(line) for line in out.splitlines()]
    with aiotofu.SyncClient(small.api_key, base_url=small.base_url) as client:
        assert [user["id"] for user in users] == [user.id for user in client.users.list()]
    status, out, _ = run(capsys, "users", "list", "--format", "table", *connection(small))
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "EMAIL", "BANNED", "ID"]
    assert len(rows) == len(users)
    nameless = [user for user in users if user["name"] is None]
    assert nameless  # the emulator has some: their rows say so, with the id to tell them apart
    for user in nameless:
        assert any(row.startswith("(no name)") and user["id"] in row for row in rows)


@pytest.mark.parametrize(
    ("api_name", "alias", "value"),
    [
        ("--search-query", "--search", "BATCH-000001"),
        ("--part-numbers", "--part-number", "PCB-V1.2"),
        ("--revision-numbers", "--revision", "1.0"),
    ],
)
def test_filters_take_the_apis_names_and_keep_the_short_ones(
    small: Emulator, capsys: pytest.CaptureFixture[str], api_name: str, alias: str, value: str
) -> None:
    _, by_name, _ = run(capsys, "batches", "list", api_name, value, *connection(small))
    _, by_alias, _ = run(capsys, "batches", "list", alias, value, *connection(small))
    _, everything, _ = run(capsys, "batches", "list", *connection(small))
    assert ids(by_name) == ids(by_alias)
    assert 0 < len(ids(by_name)) < len(ids(everything))


def test_an_error_names_the_flag_as_typed(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--revision-numbers", "--revision"):
        status, _, err = run(capsys, "batches", "list", "--api-key", "k", flag, "")
        assert status == 2
        assert err.startswith(f"aiotofu: error: {flag}: ")


@pytest.mark.parametrize(
    ("typo", "suggested"),
    [("--serch", "--search"), ("--part-numbr", "--part-number"), ("--revisions", "--revision")],
)
def test_a_wrong_flag_gets_the_subcommands_usage_and_the_nearest_flag(
    capsys: pytest.CaptureFixture[str], typo: str, suggested: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(["batches", "list", typo, "x", "--api-key", "k"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: aiotofu batches list ")
    assert f"unrecognized arguments: {typo} x" in err
    assert f"(did you mean {suggested}" in err


def test_booleans_are_switches_and_still_take_true_or_false(
    small: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["runs", "list", "--max-items", "5", *connection(small)]
    for flags, shown in (
        (["--include-metadata"], True),
        (["--include-metadata", "true"], True),
        (["--no-include-metadata"], False),
        (["--include-metadata", "false"], False),
    ):
        status, out, err = run(capsys, *base, *flags)
        assert (status, err) == (0, "")
        runs = [json.loads(line) for line in out.splitlines()]
        assert len(runs) == 5
        assert all((run_["metadata"] is not None) is shown for run_ in runs), flags
    with pytest.raises(SystemExit):
        main([*base, "--no-include-metadata", "true"])
    assert "unrecognized arguments: true" in capsys.readouterr().err


def test_a_plain_date_is_midnight_utc_and_enums_take_any_case(
    small: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["runs", "list", *connection(small)]
    exact = ["--started-after", "2024-01-03T00:00:00Z", "--outcomes", "PASS"]
    _, expected, _ = run(capsys, *base, *exact, "--sort-order", "asc")
    status, out, err = run(
        capsys, *base, "--started-after", "2024-01-03", "--outcome", "pass", "--sort-order", "ASC"
    )
    assert (status, err) == (0, "")
    assert ids(out) == ids(expected)
    assert 0 < len(ids(out)) < 40
    status, _, err = run(capsys, *base, "--started-after", "2024-13-02")
    assert status == 2
    assert err.startswith("aiotofu: error: --started-after: expected an RFC 3339")
    status, _, err = run(capsys, *base, "--outcome", "FAILED")
    assert (status, "'FAILED' is not one of PASS" in err) == (2, True)


def test_the_tables_show_what_the_next_command_needs(
    small: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The procedures table gives the id that ``phases list`` and ``measurements list`` take;
    a measurement shows its limits; a phase's duration reads as a run's does."""
    table = ["--format", "table", *connection(small)]
    status, out, _ = run(capsys, "procedures", "list", *table)
    assert status == 0
    ict = procedure_id("ICT")
    [row] = [line for line in out.splitlines() if " ICT " in f" {line} "]
    assert row.startswith(ict)
    status, out, _ = run(
        capsys, "measurements", "list", "--procedure-id", ict, "--max-items", "20", *table
    )
    header, *rows = out.splitlines()
    assert "LIMITS" in header.split()
    assert any("x >= " in row or "x == " in row for row in rows)
    phases = ["phases", "list", "--procedure-id", ict, "--max-items", "20"]
    status, out, _ = run(capsys, *phases, *table)
    header, *rows = out.splitlines()
    assert header.split()[-1] == "DURATION"
    assert all(row.endswith((" ms", " s", " min", "-")) for row in rows)
    status, out, _ = run(capsys, "runs", "list", "--max-items", "20", *table)
    assert all(not row.split()[-1].startswith("PT") for row in out.splitlines()[1:])
