"""TLS: the SSL context a client's options ask for, and what a certificate failure means.

``verify`` and ``cert`` take what httpx and requests take (True, False, a CA bundle's path, an
``ssl.SSLContext``; a client certificate's PEM, or a (cert, key) pair). The context is built
when the client is made, so that a missing or malformed file is an InvalidParameterError naming
the option before anything is sent. It is built only when an option asks for one: the default
(the system's CAs) is aiohttp's own context, shared by every session, free to use.

``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` are honoured with ``trust_env`` as httpx does. aiohttp's
default context read them too, but once, when aiohttp was imported: a variable set later (by a
daemon's startup code, by a test) went unseen. They are read here, when the client is made; and
with ``trust_env=False`` they are ignored (the compiled-in paths are used instead).

A failed handshake is explained (:func:`explain`) in terms of the option that fixes it, and is
never retried: trying again cannot change a certificate.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

from .errors import InvalidParameterError

__all__ = ["CertOption", "VerifyOption", "explain", "ssl_context"]

# What ``verify=`` and ``cert=`` take (also used in the public signatures).
VerifyOption = bool | str | os.PathLike[str] | ssl.SSLContext
CertOption = str | os.PathLike[str] | tuple[str | os.PathLike[str], str | os.PathLike[str]] | None

_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR")


def ssl_context(
    verify: object, cert: object, *, trust_env: bool, environ: Mapping[str, str] = os.environ
) -> ssl.SSLContext | bool | None:
    """What to give aiohttp as ``ssl=``: a context, False (no verification) or None (aiohttp's
    default: the system's CAs, nothing else asked for)."""
    certfile, keyfile = _cert_files(cert)
    if isinstance(verify, ssl.SSLContext):
        context = verify
        if certfile is not None:
            raise InvalidParameterError(
                "cert", "give the client certificate to the SSLContext passed as verify="
            )
        return context
    if isinstance(verify, bool):
        cafile = None
    elif isinstance(verify, (str, os.PathLike)):
        cafile = os.fspath(verify)
        if not os.path.exists(cafile):
            raise InvalidParameterError("verify", f"no CA bundle file or directory at {cafile!r}")
    else:
        raise InvalidParameterError(
            "verify",
            "expected True, False, the path of a CA bundle (PEM) or an ssl.SSLContext, "
            f"got {type(verify).__name__}",
        )
    env = {name: environ[name] for name in _ENV if environ.get(name)} if trust_env else {}
    if verify is True and certfile is None and not env and (trust_env or not _env_set(environ)):
        return None  # aiohttp's default context is exactly this one
    # Loading a CA bundle takes tens of milliseconds (SSL_CERT_FILE is set on many machines,
    # and a Dask task makes a client each): a context made from the same files, unchanged since,
    # is shared, as aiohttp shares its default one. A file changed since is read again.
    key = (
        verify is False,
        _stamp(cafile),
        tuple(sorted((name, _stamp(path)) for name, path in env.items())),
        trust_env,
        _stamp(certfile),
        _stamp(keyfile),
    )
    cached = _CONTEXTS.get(key)
    if cached is None:
        cached = _build(verify, cafile, env, trust_env, certfile, keyfile)
        if len(_CONTEXTS) >= _MAX_CONTEXTS:
            _CONTEXTS.pop(next(iter(_CONTEXTS)))
        _CONTEXTS[key] = cached
    return cached


# Contexts made so far, by the files they were made from (see ssl_context).
_CONTEXTS: dict[tuple[object, ...], ssl.SSLContext] = {}
_MAX_CONTEXTS = 16


def _stamp(path: str | None) -> tuple[object, ...] | None:
    """A file's path with what says it changed (its modification time and size)."""
    if path is None:
        return None
    try:
        status = os.stat(path)
    except OSError:
        return (path,)
    return (path, status.st_mtime_ns, status.st_size)


def _build(
    verify: object,
    cafile: str | None,
    env: Mapping[str, str],
    trust_env: bool,
    certfile: str | None,
    keyfile: str | None,
) -> ssl.SSLContext:
    if verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = _verifying_context(cafile, env, trust_env)
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, keyfile)
        except (OSError, ssl.SSLError) as exc:
            raise InvalidParameterError(
                "cert",
                f"cannot load the client certificate from {certfile!r}"
                + (f" and its key from {keyfile!r}" if keyfile else "")
                + f" ({_reason(exc)}): expected a PEM file holding the certificate and its "
                "private key, or a (certificate, key) pair of PEM files",
            ) from None
    context.set_alpn_protocols(["http/1.1"])  # as aiohttp's own contexts
    return context


def _verifying_context(
    cafile: str | None, env: Mapping[str, str], trust_env: bool
) -> ssl.SSLContext:
    capath: str | None = None
    if cafile is not None:
        option, location = "verify", cafile
        if os.path.isdir(cafile):
            cafile, capath = None, cafile
    elif env:
        option = " and ".join(env)
        location = ", ".join(env.values())
        cafile, capath = env.get("SSL_CERT_FILE"), env.get("SSL_CERT_DIR")
    elif not trust_env:
        # The compiled-in defaults, without the variables OpenSSL would otherwise read.
        paths = ssl.get_default_verify_paths()
        cafile = paths.openssl_cafile if os.path.isfile(paths.openssl_cafile) else None
        capath = paths.openssl_capath if os.path.isdir(paths.openssl_capath) else None
        if cafile is None and capath is None:
            return ssl.create_default_context()
        option, location = "trust_env", "the system's default CA locations"
    else:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidParameterError(
            option,
            f"cannot load certificate authorities from {location!r} ({_reason(exc)}): "
            "expected a PEM file of CA certificates, or a directory of them",
        ) from None


def _env_set(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name) for name in _ENV)


def _cert_files(cert: object) -> tuple[str | None, str | None]:
    if cert is None:
        return None, None
    if isinstance(cert, (str, os.PathLike)):
        files: tuple[object, ...] = (cert,)
    elif isinstance(cert, tuple) and len(cert) == 2:
        files = cert
    else:
        raise InvalidParameterError(
            "cert",
            "expected the path of a PEM file holding the client certificate and its key, or "
            f"a (certificate, key) pair of paths, got {cert!r}"
            if isinstance(cert, tuple)
            else f"expected a path or a (certificate, key) pair, got {type(cert).__name__}",
        )
    paths = []
    for file in files:
        if not isinstance(file, (str, os.PathLike)):
            raise InvalidParameterError("cert", f"expected paths, got {type(file).__name__}")
        path = os.fspath(file)
        if not os.path.isfile(path):
            raise InvalidParameterError("cert", f"no file at {path!r}")
        paths.append(str(path))
    return paths[0], paths[1] if len(paths) == 2 else None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)


# OpenSSL's verification codes (X509_V_ERR_*) a user can act on, in what they mean.
_UNKNOWN_CA = {2, 18, 19, 20, 21}
_EXPIRED = 10
_NOT_YET_VALID = 9
_HOSTNAME = 62


def explain(error: BaseException, host: str) -> str:
    """What a TLS failure with ``host`` means, and which option fixes it."""
    code = getattr(error, "verify_code", None)
    detail = getattr(error, "verify_message", None) or _reason(error)
    if code in _UNKNOWN_CA:
        return (
            f"TLS with {host} failed: its certificate is signed by an unknown certificate "
            f"authority ({detail}). For a self-hosted TofuPilot behind a private CA, pass "
            "verify='ca.pem' (the CA's certificate; the command line's --ca-file) or set "
            "SSL_CERT_FILE to it"
        )
    if code == _HOSTNAME or "match" in str(detail).lower():
        return (
            f"TLS with {host} failed: its certificate does not match that name ({detail}). "
            "Use, in base_url, a host name the certificate is issued for"
        )
    if code == _EXPIRED:
        return (
            f"TLS with {host} failed: its certificate has expired ({detail}). The server's "
            "certificate must be renewed (verify=False, the command line's --insecure, "
            "skips every check: a last resort)"
        )
    if code == _NOT_YET_VALID:
        return (
            f"TLS with {host} failed: its certificate is not valid yet ({detail}): check "
            "this machine's clock"
        )
    # OpenSSL's reasons read SSLV3_ALERT_HANDSHAKE_FAILURE, its messages "sslv3 alert ...".
    text = f"{detail} {error}".lower().replace("_", " ")
    if "certificate required" in text:
        return (
            f"TLS with {host} failed: the server requires a client certificate ({detail}). "
            "Pass cert='client.pem' or cert=('cert.pem', 'key.pem') (the command line's "
            "--client-cert)"
        )
    if "alert handshake failure" in text:
        return (
            f"TLS with {host} failed: the server refused the handshake ({detail}), most "
            "often because it requires a client certificate: pass cert='client.pem' or "
            "cert=('cert.pem', 'key.pem') (the command line's --client-cert)"
        )
    if "unknown ca" in text or "bad certificate" in text:
        return (
            f"TLS with {host} failed: the server refused the client certificate ({detail}). "
            "Pass, as cert=, one that a CA the server trusts has signed"
        )
    if "wrong version number" in text or "record layer failure" in text:
        return (
            f"TLS with {host} failed: the server does not speak TLS there ({detail}). "
            "Check base_url: http:// for a plain HTTP server, and the port"
        )
    if code is not None:
        return (
            f"TLS with {host} failed: the certificate could not be verified ({detail}). "
            "verify='ca.pem' (--ca-file) names the CA to trust"
        )
    return f"TLS with {host} failed during the handshake ({detail})"
