"""A listing or a watch of the command line that fails for good after printing records prints
its resume token on stderr, after the one error line, and that token continues exactly after the
last record printed: nothing lost, nothing repeated (issue 18, item 12).

End to end: the CLI in-process against an emulator on a real socket in its own thread; the
server breaks (500s past the retries, every connection dropped, the key revoked) while the CLI
is writing, and the retries wait on a virtual clock.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import pytest
from anyio.from_thread import start_blocking_portal

import aiotofu
from aiotofu._convert import format_datetime
from aiotofu._emulator import EmulatorServer, FaultSettings
from aiotofu.cli import main
from aiotofu.testing import VirtualClock, virtual_clock

KEY = "tp-cli-failure-key"


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    """300 batches, served from a thread of its own (the CLI runs its own event loop)."""
    with start_blocking_portal(name="emulator") as portal:
        emulator = EmulatorServer(batches=300, seed=18, api_key=KEY)
        portal.call(emulator.start)
        try:
            yield emulator
        finally:
            portal.call(emulator.stop)


class Tap(io.StringIO):
    """A stdout that calls ``then()`` once, as soon as ``after`` lines have been written."""

    def __init__(self, after: int, then: Callable[[], None]) -> None:
        super().__init__()
        self._after = after
        self._then: Callable[[], None] | None = then

    def write(self, text: str) -> int:
        written = super().write(text)
        if self._then is not None and self.getvalue().count("\n") >= self._after:
            then, self._then = self._then, None
            then()
        return written


def break_server(server: EmulatorServer, how: str) -> Callable[[], None]:
    """What makes every later request fail for good."""

    def breaking() -> None:
        if how == "500":
            server.state.faults.settings = FaultSettings(fail_rate=1.0)
        elif how == "network":
            server.state.faults.settings = FaultSettings(drop_rate=1.0)
        else:
            server.state.api_key = "tp-someone-rotated-the-key"

    return breaking


def repair(server: EmulatorServer) -> None:
    server.state.faults.settings = FaultSettings()
    server.state.api_key = KEY


def cli(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    out: io.StringIO,
    *argv: str,
) -> tuple[int, str, str]:
    """Run the command with ``out`` as its stdout: (status, what it wrote, its stderr)."""
    monkeypatch.setattr("sys.stdout", out)
    status = main(list(argv))
    monkeypatch.undo()
    return status, out.getvalue(), capsys.readouterr().err


def connection(server: EmulatorServer) -> list[str]:
    return ["--base-url", server.base_url, "--api-key", KEY]


def token_of(err: str) -> str:
    """The token of the one stderr line that offers ``--resume``."""
    [line] = [line for line in err.splitlines() if "--resume " in line]
    return line.split("--resume ", 1)[1]


ERRORS = {"500": "ServerError", "network": "TransportError", "401": "AuthenticationError"}


@pytest.mark.parametrize("how", sorted(ERRORS))
def test_a_listing_that_fails_after_printing_prints_a_token_that_resumes_exactly_there(
    server: EmulatorServer,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
) -> None:
    with aiotofu.SyncClient(KEY, base_url=server.base_url) as client:
        expected = [batch.id for batch in client.batches.list(page_size=100).collect()]
    assert len(expected) == 300

    # Pages of 10, two prefetched: the server breaks while records it already sent are printed.
    flags = ["--page-size", "10", "--prefetch", "2", *connection(server)]
    status, out, err = cli(
        monkeypatch, capsys, Tap(35, break_server(server, how)), "batches", "list", *flags
    )
    head = [json.loads(line)["id"] for line in out.splitlines()]
    assert status == 1
    assert 35 <= len(head) < 300
    error, offer = err.splitlines()
    assert error.startswith(f"aiotofu: {ERRORS[how]}: ")
    assert offer.startswith(f"aiotofu: failed after {len(head)} batches; resume with --resume ")
    assert KEY not in err

    repair(server)
    status, out, err = cli(
        monkeypatch, capsys, io.StringIO(), "batches", "list", "--resume", token_of(err),
        *connection(server),
    )  # fmt: skip
    assert (status, err) == (0, "")
    tail = [json.loads(line)["id"] for line in out.splitlines()]
    assert head + tail == expected


def test_a_listing_that_fails_before_printing_anything_prints_only_the_error(
    server: EmulatorServer,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing printed: a token would hold nothing the command line does not (the same filters,
    from the start), so the one error line stays the whole report, as before."""
    break_server(server, "500")()
    status, out, err = cli(
        monkeypatch, capsys, io.StringIO(), "batches", "list", *connection(server)
    )
    assert (status, out) == (1, "")
    assert err.startswith("aiotofu: ServerError: ")
    assert err.count("\n") == 1
    assert "--resume" not in err


def test_a_watch_that_fails_prints_a_token_that_resumes_exactly_there(
    server: EmulatorServer,
    clock: VirtualClock,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with aiotofu.SyncClient(KEY, base_url=server.base_url) as client:
        oldest_first = client.batches.list(page_size=100, sort_order="asc").collect()
    since = oldest_first[99].created_at
    expected = [batch.id for batch in oldest_first if batch.created_at > since]
    assert len(expected) > 150

    flags = ["--page-size", "10", "--since", format_datetime(since), *connection(server)]
    status, out, err = cli(
        monkeypatch, capsys, Tap(50, break_server(server, "401")), "batches", "watch", *flags
    )
    head = [json.loads(line)["id"] for line in out.splitlines()]
    assert status == 1
    assert len(head) >= 50
    error, offer = err.splitlines()
    assert error.startswith("aiotofu: AuthenticationError: ")
    assert offer.startswith(f"aiotofu: failed after {len(head)} batches; resume with --resume ")

    # The resumed watch prints the rest, then (the key revoked again) fails and offers a token.
    repair(server)
    rest = len(expected) - len(head)
    status, out, err = cli(
        monkeypatch, capsys, Tap(rest, break_server(server, "401")), "batches", "watch",
        "--resume", token_of(err), *connection(server),
    )  # fmt: skip
    assert status == 1
    tail = [json.loads(line)["id"] for line in out.splitlines()]
    assert head + tail == expected
    assert "--resume " in err


class RevokingClock(VirtualClock):
    """A virtual clock that revokes the server's key at the watch's first wait between polls."""

    def __init__(self, server: EmulatorServer, poll_interval: float) -> None:
        super().__init__()
        self._server = server
        self._poll_interval = poll_interval

    async def sleep(self, seconds: float) -> None:
        if seconds == self._poll_interval:
            break_server(self._server, "401")()
        await super().sleep(seconds)


def test_a_watch_that_fails_before_printing_offers_its_start_so_nothing_created_meanwhile_is_lost(
    server: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A watch knows where it starts as soon as it has asked the server; run again later, the
    same command would start later and miss what was created in between: so a watch offers its
    token even when it failed before printing anything."""
    from aiotofu._clock import set_clock

    previous = set_clock(RevokingClock(server, poll_interval=7.0))
    try:
        flags = ["--poll-interval", "7", *connection(server)]
        status, out, err = cli(monkeypatch, capsys, io.StringIO(), "batches", "watch", *flags)
    finally:
        set_clock(previous)
    assert (status, out) == (1, "")
    error, offer = err.splitlines()
    assert error.startswith("aiotofu: AuthenticationError: ")
    assert offer.startswith("aiotofu: failed after 0 batches; resume with --resume ")

    repair(server)
    newest = server.state.store
    created = newest.create_batch("CREATED-WHILE-DOWN", created_at=None, units=[])
    # The resumed watch yields the batch created while it was down, then fails again (stopped)
    # at its next poll: one wait of the default poll interval, on a virtual clock.
    with virtual_clock() as clock:
        status, out, _ = cli(
            monkeypatch, capsys, Tap(1, break_server(server, "401")), "batches", "watch",
            "--resume", token_of(err), *connection(server),
        )  # fmt: skip
    assert status == 1
    assert [json.loads(line)["id"] for line in out.splitlines()] == [created]
    assert clock.sleeps == [30.0]
