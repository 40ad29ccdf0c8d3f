"""An emulator behind HTTPS, signed by a certificate authority made in the test (trustme).

The emulator's own aiohttp application, served on a TLS site: what a self-hosted TofuPilot
behind a private CA looks like to a client. ``client_ca`` makes it ask for a client certificate
signed by that CA (mutual TLS).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path

import attrs
import trustme
from aiohttp import web

from aiotofu._emulator import EmulatorServer
from aiotofu._emulator.app import create_app


@attrs.frozen
class TLSServer:
    """A running HTTPS emulator: ``base_url`` (https://localhost:port/api), its ``api_key``,
    and the PEM file of the CA that signed it (``ca_file``)."""

    base_url: str
    api_key: str
    ca_file: str
    server: EmulatorServer


def write_ca(ca: trustme.CA, directory: Path, name: str = "ca.pem") -> str:
    """The CA's certificate as a PEM file, for ``verify=`` or ``SSL_CERT_FILE``."""
    path = directory / name
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def write_client_cert(ca: trustme.CA, directory: Path) -> tuple[str, str, str]:
    """A client certificate signed by ``ca``: (combined PEM, cert PEM, key PEM) paths."""
    leaf = ca.issue_cert("station-7@factory.example")
    combined, cert, key = (directory / n for n in ("client.pem", "cert.pem", "key.pem"))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(combined))
    for i, blob in enumerate(leaf.cert_chain_pems):
        blob.write_to_path(str(cert), append=i > 0)
    leaf.private_key_pem.write_to_path(str(key))
    return str(combined), str(cert), str(key)


@asynccontextmanager
async def tls_emulator(
    ca: trustme.CA,
    directory: Path,
    *,
    names: tuple[str, ...] = ("localhost", "127.0.0.1"),
    not_after: datetime | None = None,
    client_ca: trustme.CA | None = None,
    batches: int = 30,
) -> AsyncIterator[TLSServer]:
    """Serve an emulator of ``batches`` batches over HTTPS with a certificate for ``names``."""
    server = EmulatorServer(batches=batches, seed=3)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names, not_after=not_after).configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    runner = web.AppRunner(create_app(server.state), access_log=None, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield TLSServer(
            base_url=f"https://localhost:{port}/api",
            api_key=server.state.api_key,
            ca_file=write_ca(ca, directory),
            server=server,
        )
    finally:
        await runner.cleanup()
        server.state.store.close()


@contextmanager
def certificate_demanding_server(
    ca: trustme.CA, client_ca: trustme.CA, *, maximum: ssl.TLSVersion
) -> Iterator[str]:
    """A TLS server (blocking sockets, in a thread) that requires a client certificate signed
    by ``client_ca`` and refuses the handshake as OpenSSL does, with an alert: what a
    load balancer enforcing mutual TLS does (asyncio's server side drops the connection
    without one). Yields its base URL."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    client_ca.configure_trust(context)
    context.verify_mode = ssl.CERT_REQUIRED
    context.maximum_version = maximum
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection, contextlib.suppress(OSError):
                connection.settimeout(5)
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{listener.getsockname()[1]}/api"
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def hashed_ca_directory(ca_file: str, directory: Path) -> Path | None:
    """A directory holding ``ca_file`` under its subject's hash, as OpenSSL looks a CA up in
    ``SSL_CERT_DIR``; None without the openssl command to compute the hash."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    digest = subprocess.run(
        [openssl, "x509", "-hash", "-noout", "-in", ca_file],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    directory.mkdir(exist_ok=True)
    (directory / f"{digest}.0").write_bytes(Path(ca_file).read_bytes())
    return directory
