"""What a user sees in a real terminal (issue 25, items 1-3 and 6): the command run on a
pseudo-terminal of 160x45 and of 80x20, its stdout and stderr both the terminal, the screen
rebuilt from what it was sent.

The rows and the status line never share a line, no line is wider than the terminal (a table
fits its width, cut text ends with an ellipsis), a watch shows a table and what it has seen, and
a refused connection says "retrying" with its first retry.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
from collections.abc import Iterator

import pytest

from aiotofu._terminal import cell_width
from aiotofu.testing import Emulator

SIZES = [(160, 45), (80, 20)]
STATUS = re.compile(r"^[\d,]+ (runs|units|measurements), [\d,]+/s$")


@pytest.fixture(scope="module")
def served() -> Iterator[Emulator]:
    """A small emulator in a thread of its own, for the subprocesses below."""
    from anyio.from_thread import start_blocking_portal

    with start_blocking_portal(name="terminal-emulator") as portal:
        server = Emulator(batches=40, runs=120, seed=3)
        portal.call(server.__aenter__)
        try:
            yield server
        finally:
            portal.call(server.__aexit__, None, None, None)


def spawn(columns: int, rows: int, *argv: str) -> tuple[subprocess.Popen[bytes], int]:
    """``python -m aiotofu argv`` with stdout and stderr on a new terminal of this size."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        [sys.executable, *argv],
        stdin=subprocess.DEVNULL,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    return process, controller


def read_until(controller: int, done: bytes | None = None) -> bytes:
    """What the terminal was sent, until ``done`` appears (None: until the other end closes)."""
    shown = b""
    while done is None or done not in shown:
        ready, _, _ = select.select([controller], [], [], 30)
        if not ready:
            raise AssertionError(f"nothing more on the terminal after {shown[-300:]!r}")
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the other end is closed: all was read
            break
        if not chunk:
            break
        shown += chunk
    return shown


def screen(sent: bytes) -> list[str]:
    """The lines a terminal shows for what it was sent: ``\\r`` back to the line's start,
    ``ESC [ K`` erases to its end, a newline ends it (the terminal made ``\\n`` ``\\r\\n``)."""
    lines: list[str] = []
    line: list[str] = []
    column = 0
    text = sent.decode()
    index = 0
    while index < len(text):
        if text.startswith("\x1b[K", index):
            del line[column:]
            index += 3
            continue
        char = text[index]
        index += 1
        if char == "\r":
            column = 0
        elif char == "\n":
            lines.append("".join(line))
            line, column = [], 0
        else:
            if column < len(line):
                line[column] = char
            else:
                line.append(char)
            column += 1
    if line:
        lines.append("".join(line))
    return lines


def command(emu: Emulator, *argv: str) -> list[str]:
    return ["-m", "aiotofu", *argv, "--base-url", emu.base_url, "--api-key", emu.api_key]


@pytest.mark.slow
@pytest.mark.parametrize(("columns", "rows"), SIZES)
@pytest.mark.parametrize("resource", ["runs", "units"])
def test_a_table_fits_the_terminal_and_never_shares_a_line_with_the_status(
    served: Emulator, columns: int, rows: int, resource: str
) -> None:
    """Every line is a row or the status, none wider than the terminal (the units table wrapped
    at 80 columns; rows landed after the status line: "7 runs, 16/s 2024-01-...")."""
    process, controller = spawn(columns, rows, *command(served, resource, "list"))
    try:
        lines = screen(read_until(controller))
    finally:
        os.close(controller)
    assert process.wait(timeout=30) == 0
    header, *body = lines
    assert header.split()[0] == ("STARTED" if resource == "runs" else "SERIAL")
    assert STATUS.match(body[-1]), body[-1]  # the final count stays, as a line of its own
    table = body[:-1]
    assert len(table) == (120 if resource == "runs" else len(served_units(served)))
    assert all(not STATUS.match(line) and "/s" not in line for line in table)
    assert max(cell_width(line) for line in lines) <= columns
    if resource == "units" and columns == 80:
        assert any(line.endswith("\u2026") for line in table)  # LAST RUN cut, and marked


def served_units(emu: Emulator) -> list[str]:
    from aiotofu import SyncClient

    with SyncClient(emu.api_key, base_url=emu.base_url) as client:
        return [unit.id for unit in client.units.list()]


@pytest.mark.slow
@pytest.mark.parametrize(("columns", "rows"), SIZES)
def test_a_watch_on_a_terminal_is_a_table_with_what_it_has_seen(
    served: Emulator, columns: int, rows: int
) -> None:
    """A watch printed jsonl on a terminal and its status showed a rate; now a table, and the
    status says what was seen and the time of the last one. ``--since`` takes a plain date."""
    process, controller = spawn(
        columns,
        rows,
        *command(served, "runs", "watch", "--since", "2020-01-01", "--poll-interval", "0.05"),
    )
    try:
        sent = read_until(controller, b"watching runs: 120 seen, last created ")
        process.send_signal(signal.SIGINT)
        sent += read_until(controller)
    finally:
        os.close(controller)
    assert process.wait(timeout=30) == 130
    lines = screen(sent)
    assert lines[0].split()[:2] == ["STARTED", "(UTC)"]
    assert len([line for line in lines if re.match(r"\d{4}-\d\d-\d\d ", line)]) == 120
    [final] = [line for line in lines if line.startswith("watching runs:")]
    assert re.fullmatch(r"watching runs: 120 seen, last created \S+ \S+ UTC", final)
    assert lines[-1].startswith("aiotofu: interrupted; resume with --resume ")
    # The token is one word to copy: the terminal may wrap it, nothing else.
    assert max(cell_width(line) for line in lines[:-1]) <= columns


@pytest.mark.slow
def test_a_refused_connection_says_retrying_with_its_first_retry() -> None:
    """On a terminal, the first retry is said at once, even where the ``aiotofu`` logger has a
    handler (the NullHandler a library keeps, which silenced logging's last resort: the user saw
    nothing for 5 s, then the error)."""
    script = (
        "import logging, sys; logging.getLogger('aiotofu').addHandler(logging.NullHandler()); "
        "from aiotofu.cli import main; "
        "sys.exit(main(['batches', 'list', '--base-url', 'http://127.0.0.1:9/api', "
        "'--api-key', 'k']))"
    )
    process, controller = spawn(80, 20, "-c", script)
    try:
        # Up to the end of the first retry's line (or, before this was fixed, to the error).
        sent = read_until(controller, b"try 1 of 5 failed")
        sent += read_until(controller, b"\n")
    finally:
        process.kill()
        process.wait(timeout=30)
        os.close(controller)
    header, said, *_ = screen(sent)
    assert header.startswith("NUMBER")  # the table's header, on the same terminal
    assert said.startswith("aiotofu: retrying GET /api/v2/batches (cursor 0) in ")
    assert "TransportError" not in sent.decode()  # said before the retries ran out
