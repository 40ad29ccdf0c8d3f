"""Record text and server messages cannot drive the terminal the CLI prints to (issue 18, item 14).

Control characters in a record's fields (escape sequences that clear the screen, set the window
title or change colours; carriage returns and newlines that forge rows; DEL, C1 such as CSI
``\\x9b``; bidirectional overrides) are shown escaped in a table, on a terminal in csv, and in
every line printed on stderr; jsonl escapes them the JSON way, losslessly. Ordinary Unicode stays.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator

import pytest
from aiohttp import web
from anyio.from_thread import start_blocking_portal

from aiotofu.cli import main
from aiotofu.testing import Emulator
from tests.helpers import serving

# What must never reach a terminal raw: C0 (a line's own "\n" aside), DEL, C1, the Unicode line
# and paragraph separators, and the bidirectional controls that reorder what a row shows.
UNSAFE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)

# Clear screen, set the window title, a colour, a forged row, DEL, CSI as C1, a bidi override.
EVIL_SERIAL = "SN-\x1b[2J\x1b]0;pwned\x07\x1b[31mRED\r\nFORGED\tROW\x7f\x9b1m\u202eTXT\u2028END"
EVIL_NUMBER = "B-\x1b[2J\r\nFORGED\x85ROW\x9b"
KIND_NUMBER = "Crème-北京-🚀-👩‍🔬"  # accents, CJK, an emoji and a ZWJ sequence: kept as they are


class Terminal(io.StringIO):
    """A stdout or stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def evil(threaded_emu: Emulator) -> dict[str, str]:
    """A batch whose number and unit serial carry control characters, a batch with ordinary
    Unicode, and a run of the evil unit (its first log line names the serial number)."""
    threaded_emu.add_batch(EVIL_NUMBER, units=[(EVIL_SERIAL, "PART-EVIL", "R1")])
    threaded_emu.add_batch(KIND_NUMBER, units=[("SN-KIND", "PART-EVIL", "R1")])
    run_id = threaded_emu.add_run(serial_number=EVIL_SERIAL, procedure="ICT")
    return {"run_id": run_id}


def cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
    stdout: io.StringIO | None = None,
) -> tuple[int, str, str]:
    """Run the command (into ``stdout`` if given): (status, stdout, stderr)."""
    if stdout is not None:
        monkeypatch.setattr("sys.stdout", stdout)
    status = main(list(argv))
    monkeypatch.undo()
    out, err = capsys.readouterr()
    return status, stdout.getvalue() if stdout is not None else out, err


def connection(emu: Emulator) -> list[str]:
    return ["--base-url", emu.base_url, "--api-key", emu.api_key]


def assert_safe(text: str) -> None:
    assert not [match.group() for match in UNSAFE.finditer(text)]


def test_the_table_shows_control_characters_escaped_one_row_per_record(
    threaded_emu: Emulator,
    evil: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = ["--format", "table", *connection(threaded_emu)]
    status, out, _ = cli(
        monkeypatch, capsys, "batches", "list", "--part-number", "PART-EVIL", *base
    )
    assert status == 0
    assert_safe(out)
    _header, *rows = out.split("\n")[:-1]
    assert len(rows) == 2
    assert rows[0].startswith(KIND_NUMBER)  # the newest first, its Unicode as it is
    assert rows[1].startswith(r"B-\x1b[2J\r\nFORGED")  # cut to the column's 20 characters

    status, out, _ = cli(monkeypatch, capsys, "units", "list", "--part-number", "PART-EVIL", *base)
    assert status == 0
    assert_safe(out)
    assert len(out.split("\n")[:-1]) == 3
    assert "SN-\\x1b[2J\\x1b]\u2026" in out  # cut to 16 cells, the cut marked

    # The log's message is the table's last column: shown whole, every character escaped.
    status, out, _ = cli(monkeypatch, capsys, "logs", "list", "--run-id", evil["run_id"], *base)
    assert status == 0
    assert_safe(out)
    escaped = r"SN-\x1b[2J\x1b]0;pwned\x07\x1b[31mRED\r\nFORGED\tROW\x7f\x9b1m\u202eTXT\u2028END"
    [starting] = [line for line in out.split("\n") if "Starting ICT on" in line]
    assert starting.endswith(f"Starting ICT on {escaped}")
    assert "FORGED" not in out.replace(escaped, "")


def test_jsonl_escapes_every_control_character_and_keeps_the_text_exact(
    threaded_emu: Emulator,
    evil: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """JSON escapes C0 itself; DEL, C1 (CSI ``\\x9b``, NEL ``\\x85``), the line separators and
    the bidi controls it would write raw are written as ``\\u....``: still the same text, and
    one line per record for any line splitter."""
    base = ["--format", "jsonl", *connection(threaded_emu)]
    status, out, _ = cli(
        monkeypatch, capsys, "batches", "list", "--part-number", "PART-EVIL", *base
    )
    assert status == 0
    assert_safe(out)
    assert len(out.splitlines()) == out.count("\n") == 2
    assert [json.loads(line)["number"] for line in out.splitlines()] == [KIND_NUMBER, EVIL_NUMBER]
    assert KIND_NUMBER in out  # not \\u-escaped: ordinary Unicode is written as it is

    status, out, _ = cli(monkeypatch, capsys, "logs", "list", "--run-id", evil["run_id"], *base)
    assert status == 0
    assert_safe(out)
    messages = [json.loads(line)["message"] for line in out.splitlines()]
    assert len(messages) == out.count("\n")
    assert f"Starting ICT on {EVIL_SERIAL}" in messages


def test_csv_into_a_file_is_exact_and_on_a_terminal_is_escaped(
    threaded_emu: Emulator,
    evil: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Into a file or a pipe, csv is data for a csv reader: quoted, the text exact. On a
    terminal nobody parses it, and it would act: it is escaped as the table is."""
    flags = ["units", "list", "--format", "csv", "--part-number", "PART-EVIL"]
    status, out, _ = cli(monkeypatch, capsys, *flags, *connection(threaded_emu))
    assert status == 0
    header, *rows = list(csv.reader(io.StringIO(out)))
    serials = [row[header.index("serial_number")] for row in rows]
    assert sorted(serials) == sorted([EVIL_SERIAL, "SN-KIND"])

    status, out, _ = cli(monkeypatch, capsys, *flags, *connection(threaded_emu), stdout=Terminal())
    assert status == 0
    assert_safe(out)
    assert len(out.split("\n")[:-1]) == 3
    assert r"SN-\x1b[2J\x1b]0;pwned\x07" in out


def scripted_server(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Iterator[str]:
    """A server for ``GET /api/v2/batches`` in a thread of its own; yields its base URL."""
    with (
        start_blocking_portal(name="scripted") as portal,
        portal.wrap_async_context_manager(serving(handler)) as base_url,
    ):
        yield base_url


EVIL_MESSAGE = "denied\x1b]0;pwned\x07\x1b[2J\r\naiotofu: all good\x9b"


@pytest.fixture
def refusing() -> Iterator[str]:
    """Answers every request with a 403 whose message and issues carry control characters."""

    async def refuse(request: web.Request) -> web.Response:
        body = {
            "message": EVIL_MESSAGE,
            "code": "FORBIDDEN",
            "issues": [{"path": ["x\x1b[8m"], "message": "hidden\nline"}],
        }
        return web.json_response(body, status=403)

    yield from scripted_server(refuse)


def test_the_one_error_line_escapes_the_server_s_text(
    refusing: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = cli(
        monkeypatch, capsys, "batches", "list", "--base-url", refusing, "--api-key", "tp-k"
    )
    assert (status, out) == (1, "")
    assert err.count("\n") == 1
    assert_safe(err)
    assert err.startswith(
        r"aiotofu: PermissionDeniedError: 403 FORBIDDEN: denied\x1b]0;pwned\x07\x1b[2J\r\n"
    )
    assert r"x\x1b[8m: hidden\nline" in err


@pytest.fixture
def flaky() -> Iterator[str]:
    """A 503 (``Retry-After: 0``) whose message carries control characters, then an empty page."""
    answers = 0

    async def answer(request: web.Request) -> web.Response:
        nonlocal answers
        answers += 1
        if answers == 1:
            body = {"message": EVIL_MESSAGE, "code": "SERVICE_UNAVAILABLE", "issues": []}
            return web.json_response(body, status=503, headers={"Retry-After": "0"})
        return web.json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})

    yield from scripted_server(answer)


@pytest.mark.slow
def test_a_retry_warning_on_stderr_escapes_the_server_s_text(flaky: str) -> None:
    """The retry warnings reach stderr (the program's own handler, in a process of its own as a
    user runs it) and echo the server's message: escaped, on one line."""
    result = subprocess.run(
        [sys.executable, "-m", "aiotofu", "batches", "list", "--base-url", flaky, "--api-key", "k"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stdout) == (0, "")
    assert_safe(result.stderr)
    [warning] = result.stderr.splitlines()
    assert "retrying GET" in warning
    assert r"denied\x1b]0;pwned\x07\x1b[2J\r\naiotofu: all good\x9b" in warning


def test_the_progress_line_counts_the_resource_listed(
    threaded_emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a terminal's stderr the progress line names what it counts (it said "batches" for
    every resource); it quotes no server text, so it has nothing to escape."""
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    status, out, _ = cli(
        monkeypatch, capsys, "runs", "list", "--max-items", "7", *connection(threaded_emu)
    )
    assert status == 0
    assert len(out.splitlines()) == 7
    assert "\r\x1b[K7 runs, " in terminal.getvalue()  # the line erased, then redrawn
    assert "batches" not in terminal.getvalue()
