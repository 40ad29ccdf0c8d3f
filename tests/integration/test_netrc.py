"""A ``~/.netrc`` (or ``$NETRC``) never competes with the API key: the explicit key always wins,
as in httpx, for the Client, the SyncClient and the command line, while proxies from the
environment keep working.

aiohttp, when it trusts the environment, reads netrc for every request that has no ``auth``
and refuses a netrc login beside an explicit Authorization header (a ValueError on every
request; aiohttp 3.9 replaced the Bearer key with the netrc login instead). A client only
trusts the environment for a remote host (a loopback one is never proxied), so these tests make
the client take the emulator for a remote host, as a real deployment would be.
"""

from __future__ import annotations

import base64
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

import aiotofu
import aiotofu._client
from aiotofu.cli import main
from aiotofu.testing import Emulator
from tests.helpers import serving

NETRC_FILES = {
    "host entry": "machine 127.0.0.1 login netrc-user password netrc-secret\n",
    "default entry": "default login netrc-user password netrc-secret\n",
}


def not_https() -> pytest.WarningsChecker:
    """The warning every plain-HTTP remote base URL gets (the emulator, taken for remote)."""
    return pytest.warns(UserWarning, match="not HTTPS")


@pytest.fixture(params=sorted(NETRC_FILES))
def netrc(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$NETRC`` names a file with a login for the emulator's host (or a default one), and
    the client treats the emulator as a remote host: it trusts the environment for it."""
    path = tmp_path / "netrc"
    path.write_text(NETRC_FILES[request.param])
    path.chmod(0o600)
    monkeypatch.setenv("NETRC", str(path))
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(aiotofu._client, "is_loopback", lambda host: False)
    return path


async def test_a_client_sends_its_key_whatever_netrc_says(emu: Emulator, netrc: Path) -> None:
    with not_https():
        client = aiotofu.Client(emu.api_key, base_url=emu.base_url, retry=None)
    async with client:
        assert len(await client.batches.list(max_items=120).collect()) == 120


def test_a_sync_client_sends_its_key_whatever_netrc_says(
    threaded_emu: Emulator, netrc: Path
) -> None:
    with not_https():
        client = aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url)
    with client:
        assert len(client.batches.list(max_items=5).collect()) == 5


def test_the_command_line_lists_whatever_netrc_says(
    threaded_emu: Emulator, netrc: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["batches", "list", "--max-items", "3", "--base-url", threaded_emu.base_url]
    with not_https():
        status = main([*argv, "--api-key", threaded_emu.api_key])
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert len(out.splitlines()) == 3


async def test_a_proxy_from_the_environment_still_carries_the_key(
    netrc: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key goes through the proxy as the Bearer token, never as the netrc login; the
    proxy gets netrc's login for its own host, as aiohttp's ``trust_env`` gives it."""
    seen: list[tuple[str, str | None, str | None]] = []

    async def proxy(request: web.Request) -> web.Response:
        headers = request.headers
        seen.append(
            (str(request.url), headers.get("Authorization"), headers.get("Proxy-Authorization"))
        )
        return web.json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})

    async with serving(proxy) as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url.removesuffix("/api"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with not_https():
            client = aiotofu.Client("k", base_url="http://tofupilot.invalid/api", retry=None)
        async with client:
            assert await client.batches.list().collect() == []
    netrc_login = "Basic " + base64.b64encode(b"netrc-user:netrc-secret").decode()
    assert seen == [(seen[0][0], "Bearer k", netrc_login)]
    assert seen[0][0].startswith("http://tofupilot.invalid/api/v2/batches")


async def test_a_lent_session_that_would_send_a_netrc_login_is_refused_clearly(
    emu: Emulator, netrc: Path
) -> None:
    """A lent session is used as it is: when it trusts the environment and netrc has a login
    for the API's host, aiohttp cannot send the key, and the error says why and what to do."""
    async with aiohttp.ClientSession(trust_env=True) as session:
        with not_https():
            client = aiotofu.Client(emu.api_key, base_url=emu.base_url, session=session, retry=None)
        async with client:
            listing = client.batches.list(max_items=3)
            with pytest.raises(aiotofu.InvalidParameterError, match="session: .*netrc") as caught:
                await listing.collect()
            assert emu.api_key not in str(caught.value)
            assert "netrc-secret" not in str(caught.value)
        async with aiohttp.ClientSession(trust_env=False) as session:
            with not_https():
                client = aiotofu.Client(emu.api_key, base_url=emu.base_url, session=session)
            async with client:
                assert len(await client.batches.list(max_items=3).collect()) == 3
