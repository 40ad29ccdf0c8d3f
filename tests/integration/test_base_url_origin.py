"""End to end, on the emulator: an origin as base URL (``TOFUPILOT_URL`` as TofuPilot's own
clients set it) reaches the API below ``/api``; a wrong base URL earns the emulator's 404 on
every path, which now names the URL asked and the base URL to try."""

from __future__ import annotations

import pytest

import aiotofu
from aiotofu.cli import main
from aiotofu.testing import Emulator


def origin(emu: Emulator) -> str:
    """``http://127.0.0.1:<port>``: the emulator's base URL without its ``/api``."""
    assert emu.base_url.endswith("/api")
    return emu.base_url.removesuffix("/api")


async def test_a_client_given_the_origin_lists_from_the_api(emu: Emulator) -> None:
    async with aiotofu.Client(emu.api_key, base_url=origin(emu)) as client:
        assert client.base_url == emu.base_url
        assert len(await client.batches.list(max_items=30).collect()) == 30


def test_a_sync_client_and_the_command_line_read_tofupilot_url_as_an_origin(
    threaded_emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOFUPILOT_URL", origin(threaded_emu) + "/")
    monkeypatch.setenv("TOFUPILOT_API_KEY", threaded_emu.api_key)
    with aiotofu.SyncClient() as client:
        assert len(client.batches.list(max_items=4).collect()) == 4
    assert main(["batches", "list", "--max-items", "3"]) == 0
    out, err = capsys.readouterr()
    assert (len(out.splitlines()), err) == (3, "")


async def test_a_wrong_base_url_404_names_the_url_and_the_one_to_try(emu: Emulator) -> None:
    wrong = origin(emu) + "/tofupilot"
    async with aiotofu.Client(emu.api_key, base_url=wrong, retry=None) as client:
        with pytest.raises(aiotofu.NotFoundError) as caught:
            await client.runs.list(outcomes="PASS").collect()
    text = str(caught.value)
    assert f"GET {wrong}/v2/runs" in text
    assert f"try {wrong}/api as base_url" in text
    assert emu.api_key not in text
    assert "PASS" not in text


def test_the_command_line_prints_the_404_advice_on_one_line(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = origin(threaded_emu) + "/api/v1"
    argv = ["batches", "list", "--base-url", wrong, "--api-key", threaded_emu.api_key]
    assert main(argv) != 0
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert f"GET {wrong}/v2/batches" in err
    assert f"try {threaded_emu.base_url} as base_url" in err
    assert threaded_emu.api_key not in err
