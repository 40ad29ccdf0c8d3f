"""TLS against a self-hosted server signed by a private CA (made here with trustme): verify= and
cert= on Client and SyncClient, SSL_CERT_FILE with trust_env, mutual TLS, and TLSError: raised
at once, never retried, saying what failed and which option fixes it."""

from __future__ import annotations

import asyncio
import ssl
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
import trustme

import aiotofu
from aiotofu.testing import VirtualClock

from .tls_server import (
    certificate_demanding_server,
    hashed_ca_directory,
    tls_emulator,
    write_ca,
    write_client_cert,
)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_verify_with_the_private_ca_file_lists_over_https(
    ca: trustme.CA, tmp_path: Path
) -> None:
    async with (
        tls_emulator(ca, tmp_path) as server,
        aiotofu.Client(server.api_key, base_url=server.base_url, verify=server.ca_file) as client,
    ):
        assert len(await client.batches.list().collect()) == 30


async def test_verify_takes_an_ssl_context(ca: trustme.CA, tmp_path: Path) -> None:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    async with (
        tls_emulator(ca, tmp_path) as server,
        aiotofu.Client(server.api_key, base_url=server.base_url, verify=context) as client,
    ):
        assert len(await client.batches.list(max_items=5).collect()) == 5


async def test_verify_false_accepts_any_certificate(ca: trustme.CA, tmp_path: Path) -> None:
    async with (
        tls_emulator(ca, tmp_path) as server,
        aiotofu.Client(server.api_key, base_url=server.base_url, verify=False) as client,
    ):
        assert len(await client.batches.list(max_items=5).collect()) == 5


async def test_an_unknown_ca_is_a_tls_error_at_once_naming_the_fix(
    ca: trustme.CA, tmp_path: Path, clock: VirtualClock
) -> None:
    """Not retried (no wait, no retry event, no request reached the application), and the
    message names what failed and the options that fix it."""
    retries: list[aiotofu.RetryEvent] = []
    async with (
        tls_emulator(ca, tmp_path) as server,
        aiotofu.Client(server.api_key, base_url=server.base_url, on_retry=retries.append) as c,
    ):
        with pytest.raises(aiotofu.TLSError) as caught:
            await c.batches.list().collect()
        assert server.server.state.stats.requests == 0
    assert isinstance(caught.value, aiotofu.TransportError)
    assert retries == []
    assert clock.sleeps == []
    message = str(caught.value)
    assert "unknown certificate authority" in message
    assert "verify=" in message
    assert "SSL_CERT_FILE" in message
    assert "localhost" in message
    assert server.api_key not in message


async def test_a_hostname_mismatch_says_so_and_suggests_the_base_url(
    ca: trustme.CA, tmp_path: Path, clock: VirtualClock
) -> None:
    async with (
        tls_emulator(ca, tmp_path, names=("tofupilot.corp",)) as server,
        aiotofu.Client(server.api_key, base_url=server.base_url, verify=server.ca_file) as c,
    ):
        with pytest.raises(aiotofu.TLSError) as caught:
            await c.batches.list().collect()
    assert "does not match" in str(caught.value)
    assert "base_url" in str(caught.value)
    assert clock.sleeps == []


async def test_an_expired_certificate_says_expired(
    ca: trustme.CA, tmp_path: Path, clock: VirtualClock
) -> None:
    past = datetime.now(timezone.utc) - timedelta(days=1)
    async with (
        tls_emulator(ca, tmp_path, not_after=past) as server,
        aiotofu.Client(server.api_key, base_url=server.base_url, verify=server.ca_file) as c,
    ):
        with pytest.raises(aiotofu.TLSError, match="expired"):
            await c.batches.list().collect()
    assert clock.sleeps == []


async def test_ssl_cert_file_is_honoured_when_trust_env(
    ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read when the client is made (aiohttp reads it once, when it is imported), and ignored
    with trust_env=False."""
    async with tls_emulator(ca, tmp_path) as server:
        monkeypatch.setenv("SSL_CERT_FILE", server.ca_file)
        async with aiotofu.Client(server.api_key, base_url=server.base_url) as client:
            assert len(await client.batches.list(max_items=3).collect()) == 3
        untrusting = aiotofu.Client(
            server.api_key, base_url=server.base_url, trust_env=False, retry=None
        )
        async with untrusting:
            with pytest.raises(aiotofu.TLSError):
                await untrusting.batches.list().collect()


async def test_ssl_cert_dir_is_honoured_when_trust_env(
    ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with tls_emulator(ca, tmp_path) as server:
        directory = await asyncio.to_thread(hashed_ca_directory, server.ca_file, tmp_path / "c")
        if directory is None:
            pytest.skip("no openssl command to hash the CA's subject")
        monkeypatch.setenv("SSL_CERT_DIR", str(directory))
        async with aiotofu.Client(server.api_key, base_url=server.base_url) as client:
            assert len(await client.batches.list(max_items=3).collect()) == 3


async def test_mutual_tls_with_a_client_certificate(ca: trustme.CA, tmp_path: Path) -> None:
    """cert= as one PEM file (key and chain) or as a (cert, key) pair."""
    clients = trustme.CA()
    combined, cert, key = write_client_cert(clients, tmp_path)
    async with tls_emulator(ca, tmp_path, client_ca=clients) as server:
        for given in (combined, (cert, key)):
            async with aiotofu.Client(
                server.api_key, base_url=server.base_url, verify=server.ca_file, cert=given
            ) as client:
                assert len(await client.batches.list(max_items=3).collect()) == 3


async def test_a_refused_handshake_without_a_client_certificate_asks_for_cert(
    ca: trustme.CA, tmp_path: Path, clock: VirtualClock
) -> None:
    """A server that demands a client certificate refuses the handshake with an alert: a
    TLSError at once, which asks for cert=."""
    ca_file = write_ca(ca, tmp_path)
    retries: list[aiotofu.RetryEvent] = []
    with certificate_demanding_server(ca, trustme.CA(), maximum=ssl.TLSVersion.TLSv1_2) as url:
        async with aiotofu.Client(
            "key", base_url=url, verify=ca_file, on_retry=retries.append
        ) as client:
            with pytest.raises(aiotofu.TLSError) as caught:
                await client.batches.list().collect()
    assert "client certificate" in str(caught.value)
    assert "cert=" in str(caught.value)
    assert retries == []
    assert clock.sleeps == []


async def test_a_tls13_server_dropping_a_client_without_certificate_hints_at_cert(
    ca: trustme.CA, tmp_path: Path
) -> None:
    """In TLS 1.3 the server checks the client's certificate after the handshake, and the
    client may only see the connection reset: a TransportError (it may be a network fault, so
    it is retried as one) whose message says what cert= would change."""
    clients = trustme.CA()
    async with (
        tls_emulator(ca, tmp_path, client_ca=clients) as server,
        aiotofu.Client(
            server.api_key, base_url=server.base_url, verify=server.ca_file, retry=None
        ) as client,
    ):
        with pytest.raises(aiotofu.TransportError) as caught:
            await client.batches.list().collect()
    assert "cert=" in str(caught.value)


async def test_a_lent_session_gets_the_tls_options_too(ca: trustme.CA, tmp_path: Path) -> None:
    async with (
        tls_emulator(ca, tmp_path) as server,
        aiohttp.ClientSession() as session,
        aiotofu.Client(
            server.api_key, base_url=server.base_url, session=session, verify=server.ca_file
        ) as client,
    ):
        assert len(await client.batches.list(max_items=3).collect()) == 3


async def test_sync_client_takes_verify_and_cert(ca: trustme.CA, tmp_path: Path) -> None:
    clients = trustme.CA()
    combined, _, _ = write_client_cert(clients, tmp_path)
    async with tls_emulator(ca, tmp_path, client_ca=clients) as server:

        def blocking() -> int:
            with aiotofu.SyncClient(
                server.api_key, base_url=server.base_url, verify=server.ca_file, cert=combined
            ) as client:
                return len(client.batches.list(max_items=4).collect())

        assert await asyncio.to_thread(blocking) == 4


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"verify": 42}, "verify"),
        ({"verify": "/nonexistent/ca.pem"}, "verify"),
        ({"cert": "/nonexistent/client.pem"}, "cert"),
        ({"cert": ("a.pem",)}, "cert"),
        ({"cert": 7}, "cert"),
    ],
)
def test_bad_tls_options_are_typed_errors_naming_the_option(
    options: dict[str, object], parameter: str
) -> None:
    with pytest.raises(aiotofu.InvalidParameterError) as caught:
        aiotofu.Client("key", base_url="https://tofupilot.corp/api", **options)  # type: ignore[arg-type]
    assert caught.value.parameter == parameter


def test_a_pem_file_that_is_not_a_certificate_names_the_option(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(aiotofu.InvalidParameterError) as caught:
        aiotofu.Client("key", base_url="https://tofupilot.corp/api", verify=str(junk))
    assert caught.value.parameter == "verify"
    with pytest.raises(aiotofu.InvalidParameterError) as caught:
        aiotofu.Client("key", base_url="https://tofupilot.corp/api", cert=str(junk))
    assert caught.value.parameter == "cert"


def test_the_tls_options_never_show_in_the_repr(tmp_path: Path) -> None:
    """The repr says whether it verifies, never a key file's path."""
    client = aiotofu.Client("secret-key", base_url="https://tofupilot.corp/api", verify=False)
    assert "secret-key" not in repr(client)
    assert "verify=False" in repr(client)


async def test_emulator_client_takes_the_tls_options_and_a_tls_front_end_url(
    ca: trustme.CA, tmp_path: Path
) -> None:
    """``Emulator.client(base_url=..., verify=...)``: the emulator's key, a TLS front end's URL."""
    from aiotofu.testing import Emulator

    async with tls_emulator(ca, tmp_path) as server:
        emu = Emulator.__new__(Emulator)
        emu._server = server.server
        async with emu.client(base_url=server.base_url, verify=server.ca_file) as client:
            assert len(await client.batches.list(max_items=2).collect()) == 2
