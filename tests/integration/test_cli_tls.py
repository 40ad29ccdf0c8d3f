"""The command line against an HTTPS server behind a private CA: --ca-file, --client-cert,
--insecure (with a warning on stderr), and a certificate failure as one clear line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme
from anyio.from_thread import start_blocking_portal

from aiotofu.cli import main

from .tls_server import TLSServer, tls_emulator, write_client_cert


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@contextmanager
def served(*args: Any, **options: Any) -> Iterator[TLSServer]:
    """The HTTPS emulator in a thread of its own: the command runs its own loop in this one."""
    with (
        start_blocking_portal(name="tls-emulator") as portal,
        portal.wrap_async_context_manager(tls_emulator(*args, **options)) as server,
    ):
        yield server


def run(*argv: str) -> int:
    return main(list(argv))


def test_ca_file_and_client_cert(
    ca: trustme.CA, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clients = trustme.CA()
    _, cert, key = write_client_cert(clients, tmp_path)
    with served(ca, tmp_path, client_ca=clients) as server:
        status = run(
            "batches", "list", "--max-items", "3", "--format", "jsonl",
            "--base-url", server.base_url, "--api-key", server.api_key,
            "--ca-file", server.ca_file, "--client-cert", f"{cert},{key}",
        )  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 0, err
    assert len(out.splitlines()) == 3


def test_an_untrusted_certificate_is_one_line_naming_ca_file(
    ca: trustme.CA, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with served(ca, tmp_path) as server:
        status = run("batches", "list", "--base-url", server.base_url, "--api-key", server.api_key)
    _, err = capsys.readouterr()
    assert status != 0
    assert "TLSError" in err
    assert "--ca-file" in err
    assert "retrying" not in err
    assert "Traceback" not in err


def test_insecure_works_and_warns(
    ca: trustme.CA, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with served(ca, tmp_path) as server:
        status = run(
            "batches", "list", "--max-items", "2", "--format", "jsonl",
            "--base-url", server.base_url, "--api-key", server.api_key, "--insecure",
        )  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 0, err
    assert len(out.splitlines()) == 2
    assert "--insecure" in err
    assert "not verified" in err


def test_a_missing_ca_file_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run(
        "batches", "list", "--base-url", "https://tofupilot.corp/api", "--api-key", "k",
        "--ca-file", str(tmp_path / "missing.pem"),
    )  # fmt: skip
    _, err = capsys.readouterr()
    assert status != 0
    assert "verify" in err
    assert "missing.pem" in err
