"""TLS in pure terms: which SSL context the options ask for, which failures are TLSErrors
(never retried) and which are a connection cut short (retried), and what each message says."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from aiotofu._tls import explain, ssl_context
from aiotofu._transport import _is_tls_failure, _ssl_cause

KEY = ConnectionKey("tofupilot.corp", 443, True, True, None, None, None)


def verification_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    error.verify_code = code
    error.verify_message = message
    return error


def test_the_default_is_aiohttps_own_context() -> None:
    assert ssl_context(True, None, trust_env=True, environ={}) is None


def test_ssl_cert_file_is_read_with_trust_env_only(tmp_path: object) -> None:
    """Set in the environment: with trust_env a context from it (here a missing file: the
    error names the variable); without, the compiled-in locations, not the variable."""
    environ = {"SSL_CERT_FILE": "/nonexistent/bundle.pem"}
    with pytest.raises(ValueError, match="SSL_CERT_FILE"):
        ssl_context(True, None, trust_env=True, environ=environ)
    context = ssl_context(True, None, trust_env=False, environ=environ)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED


def test_verify_false_checks_nothing() -> None:
    context = ssl_context(False, None, trust_env=True, environ={})
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_NONE
    assert not context.check_hostname


def test_a_context_given_is_used_as_it_is() -> None:
    given = ssl.create_default_context()
    assert ssl_context(given, None, trust_env=True, environ={}) is given


@pytest.mark.parametrize(
    ("code", "message", "says"),
    [
        (20, "unable to get local issuer certificate", "unknown certificate authority"),
        (19, "self-signed certificate in certificate chain", "unknown certificate authority"),
        (62, "Hostname mismatch, certificate is not valid for 'x'.", "does not match"),
        (10, "certificate has expired", "expired"),
        (9, "certificate is not yet valid", "clock"),
    ],
)
def test_a_certificate_failure_is_a_tls_error_that_says_what_failed(
    code: int, message: str, says: str
) -> None:
    cause = verification_error(code, message)
    exc = aiohttp.ClientConnectorCertificateError(KEY, cause)
    assert _ssl_cause(exc) is cause
    assert _is_tls_failure(exc, cause)
    assert says in explain(cause, "tofupilot.corp:443")


def test_a_connection_cut_short_during_the_handshake_is_retried_as_a_lost_connection() -> None:
    """An EOF in the middle of the handshake (an overloaded load balancer) is the network's
    doing: not a TLSError, so the retry policy retries it."""
    cause = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    exc = aiohttp.ClientConnectorSSLError(KEY, cause)
    assert not _is_tls_failure(exc, _ssl_cause(exc))


def test_a_servers_alert_is_a_tls_error() -> None:
    cause = ssl.SSLError(1, "[SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure")
    cause.reason = "SSLV3_ALERT_HANDSHAKE_FAILURE"  # type: ignore[misc]
    exc = aiohttp.ClientConnectorSSLError(KEY, cause)
    assert _is_tls_failure(exc, _ssl_cause(exc))
    assert "cert=" in explain(cause, "tofupilot.corp:443")
    plain = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    assert "http://" in explain(plain, "tofupilot.corp:443")


def test_a_context_from_the_same_unchanged_files_is_made_once(tmp_path: Path) -> None:
    """SSL_CERT_FILE set (as on many machines) made every Client load the bundle again, tens of
    milliseconds each; a file changed since is read again."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(Path(ssl.get_default_verify_paths().openssl_cafile).read_bytes())
    environ = {"SSL_CERT_FILE": str(bundle)}
    first = ssl_context(True, None, trust_env=True, environ=environ)
    assert ssl_context(True, None, trust_env=True, environ=environ) is first
    assert ssl_context(str(bundle), None, trust_env=True, environ={}) is not first
    bundle.write_bytes(bundle.read_bytes() + b"\n")
    assert ssl_context(True, None, trust_env=True, environ=environ) is not first
