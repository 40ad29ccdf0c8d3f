"""The ``aiotofu`` command: list or watch any resource, run an emulator, or watch the demo.

::

    aiotofu batches list --part-number PCB-V1.2 --format csv > batches.csv
    aiotofu runs list --outcome FAIL --procedure-id ID --started-after 2024-06-01T00:00:00Z
    aiotofu runs plan --target-size 20000 --outcome FAIL > plan.json
    aiotofu runs read --shard "$(jq -c '.shards[0]' plan.json)" > shard-0.jsonl
    aiotofu emulator --port 8080 --batches 10000
    aiotofu load --destination duckdb --path tofupilot.duckdb --resources runs,measurements
    aiotofu demo

Usage and API errors print one line on stderr and exit non-zero (2: usage, 1: the API or the
network failed, 130: interrupted); the API key never appears in the output. A listing or a watch
that is interrupted, or that fails after printing records, also prints its resume token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import difflib
import functools
import itertools
import json
import logging
import os
import re
import signal
import sys
import time
import typing
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import attrs

from ._client import API_KEY_ENV, BASE_URL_ENV, Client
from ._convert import format_datetime, parse_datetime, table_time, unstructure
from ._endpoint import Column, Endpoint
from ._filters import Choices, FilterInfo, Flag, Instant, Kind
from ._models import Batch, User
from ._options import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from ._paginate import Paginator
from ._requester import RetryEvent
from ._retry import RetryPolicy, is_seconds
from ._shards import Shard, shardable
from ._tables import ParquetSink
from ._terminal import StatusLine, fit, json_line, shown, terminal_columns
from ._transport import is_loopback
from ._watch import Watcher
from .endpoints import ENDPOINTS
from .errors import InvalidParameterError, TofuPilotError

# The emulator (aiohttp's server, SQLite) is imported by the `emulator` and `demo` commands
# only: a `list` or a `watch` must not pay for loading it.
if TYPE_CHECKING:
    from ._emulator import EmulatorServer, FaultSettings

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# The resources of the command line: ``aiotofu <name> list`` (and ``watch``, ``plan`` and
# ``read`` where it can).
RESOURCES = ENDPOINTS


class UsageError(Exception):
    """A bad command line, reported in one line with exit status 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Reported by the subcommand that was given them, with its usage and the nearest flag
        # (argparse would report them with the top-level usage, which lists no flag at all).
        leaf: argparse.ArgumentParser = getattr(args, "parser", parser)
        leaf.error(_unrecognized(leaf, unknown))
    try:
        return int(args.run(args))
    except (UsageError, TofuPilotError) as exc:
        return _report(exc)
    except KeyboardInterrupt:
        print("aiotofu: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`aiotofu batches list | head`): that is its right, not an error.
        # Point stdout at nothing, so that flushing it at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _report(exc: UsageError | TofuPilotError) -> int:
    """Print the one line that says what went wrong; return the exit status it calls for.

    The message may quote the server (an error body's message and issues) or what was typed:
    its control characters are shown escaped, so that it stays one line and cannot drive the
    terminal.
    """
    if isinstance(exc, (UsageError, InvalidParameterError)):
        print(f"aiotofu: error: {shown(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    print(f"aiotofu: {type(exc).__name__}: {shown(str(exc))}", file=sys.stderr)
    return EXIT_FAILED


# -- the parser ------------------------------------------------------------------------------


def _unrecognized(parser: argparse.ArgumentParser, unknown: Sequence[str]) -> str:
    """argparse's "unrecognized arguments" line, with the nearest flag of ``parser`` to the
    first unknown one (``--serach``: did you mean ``--search``?)."""
    message = f"unrecognized arguments: {' '.join(unknown)}"
    flags = [flag for flag in parser._option_string_actions if flag.startswith("--")]
    for word in unknown:
        if word.startswith("--"):
            near = difflib.get_close_matches(word.split("=", 1)[0], flags, n=1, cutoff=0.6)
            if near:
                return f"{message} (did you mean {near[0]}?)"
            break
    return message


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiotofu", description="Stream TofuPilot data, or serve a local emulator of its API."
    )
    parser.add_argument("--version", action="version", version=f"aiotofu {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for endpoint in RESOURCES:
        noun = endpoint.name
        watchable = endpoint.time_field is not None and endpoint.time_bounds is not None
        resource = commands.add_parser(
            noun, help=f"{noun}: list them" + (", or watch for new ones" if watchable else "")
        )
        actions = resource.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser(
            "list", help=f"stream {noun} to stdout", description=f"Stream {noun} to stdout."
        )
        _add_filters(listing, endpoint)
        listing.add_argument(
            "--page-size", type=int, metavar="N", help=f"1..{MAX_PAGE_SIZE} ({DEFAULT_PAGE_SIZE})"
        )
        listing.add_argument("--max-items", type=int, metavar="N", help=f"stop after N {noun}")
        listing.add_argument("--prefetch", type=int, default=2, metavar="N", help="pages ahead (2)")
        listing.add_argument(
            "--format",
            choices=("jsonl", "csv", "table", "parquet"),
            help="output format (default: table on a terminal, jsonl otherwise; parquet needs "
            "--output)",
        )
        listing.add_argument(
            "--output",
            metavar="FILE",
            help="with --format parquet: the file to write, page by page (aiotofu[arrow])",
        )
        listing.add_argument(
            "--resume", metavar="TOKEN", help="continue a listing from its resume token"
        )
        _add_connection(listing)
        listing.set_defaults(run=_run_list, endpoint=endpoint, parser=listing)
        if watchable:
            _add_watch(actions, endpoint)
        if shardable(endpoint):
            _add_shards(actions, endpoint)

    _add_users(commands)

    emulator = commands.add_parser(
        "emulator",
        help="serve a local emulator of TofuPilot's v2 API (every list endpoint)",
        description="Serve TofuPilot's v2 API locally (every list endpoint). The first line "
        "printed ends with the base URL; SIGINT or SIGTERM stop it.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    emulator.add_argument("--port", type=int, default=8080, help="port; 0 = any free one (8080)")
    emulator.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding an address other hosts can reach",
    )
    _add_emulator_data(emulator, batches=1000)
    emulator.add_argument("--api-key", help="the key to accept (default: a random one)")
    emulator.add_argument(
        "--db",
        default=":memory:",
        metavar="PATH",
        help="SQLite file to keep the data in (--batches then tops it up to that many)",
    )
    emulator.add_argument(
        "--synthetic",
        action="store_true",
        help="compute batches on the fly instead of storing them (read-only, no filters): "
        "for streaming millions in benchmarks",
    )
    emulator.add_argument(
        "--tie-order",
        choices=("stable", "unstable"),
        default="stable",
        help="order of records with equal sort keys: by id (stable), or drawn afresh for every "
        "request as SQL without a unique tie-breaker may (unstable)",
    )
    emulator.add_argument(
        "--trickle",
        type=float,
        metavar="RATE",
        help="upload RATE runs a second while serving, as stations would (for watches)",
    )
    emulator.add_argument(
        "--verbose", action="store_true", help="print a line per request answered"
    )
    _add_database(emulator)
    _add_faults(emulator)
    emulator.set_defaults(run=_run_emulator, parser=emulator)

    demo = commands.add_parser(
        "demo",
        help="stream batches from an embedded emulator with faults, and report",
        description="Start an emulator in-process, stream every batch from it through injected "
        "faults, and report what happened.",
    )
    _add_emulator_data(demo, batches=3000)
    # Not --timestamp-precision: the demo's report checks the order by the times it shows
    # (milliseconds) then the id, which microseconds stored behind them do not follow.
    _add_database(demo, precision=False)
    _add_faults(demo, latency=0.02, fail_rate=0.1, drop_rate=0.02)
    demo.set_defaults(run=_run_demo, parser=demo)
    _add_load(commands)
    return parser


def _version() -> str:
    from . import __version__

    return __version__


@attrs.frozen
class _Table:
    """What the output of a resource that is not an endpoint (users) is written from: the
    record's class (for csv) and the table's columns, as an Endpoint holds them."""

    model: type[Any]
    columns: tuple[Column, ...]


# `aiotofu users list`: members by name, with what tells two of the same name apart.
USERS = _Table(
    model=User,
    columns=(
        Column("NAME", 24, lambda user: user.name or "(no name)"),
        Column("EMAIL", 28, lambda user: user.email or "-"),
        Column("BANNED", 6, lambda user: "yes" if user.banned else "no"),
        Column("ID", 0, lambda user: user.id),
    ),
)


def _add_users(commands: Any) -> None:
    users = commands.add_parser("users", help="users: list the organisation's members")
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="print the organisation's members",
        description="Print the organisation's members (GET /v2/users: one request, no pages).",
    )
    listing.add_argument(
        "--format",
        choices=("jsonl", "csv", "table"),
        help="output format (default: table on a terminal, jsonl otherwise)",
    )
    _add_connection(listing)
    listing.set_defaults(run=_run_users, parser=listing)


def _add_watch(actions: Any, endpoint: Endpoint[Any, Any]) -> None:
    noun = endpoint.name
    watch = actions.add_parser(
        "watch",
        help=f"stream new {noun} as they are created",
        description=f"Stream new {noun}, oldest first, until interrupted (a table on a "
        "terminal, jsonl otherwise).",
    )
    _add_filters(watch, endpoint, bounds=False)
    watch.add_argument(
        "--since",
        metavar="DATETIME",
        help="RFC 3339, or a date (midnight UTC) (default: from now on)",
    )
    watch.add_argument("--poll-interval", type=float, default=30.0, metavar="SECONDS", help="(30)")
    watch.add_argument(
        "--page-size", type=int, metavar="N", help=f"1..{MAX_PAGE_SIZE} ({DEFAULT_PAGE_SIZE})"
    )
    watch.add_argument(
        "--lookback",
        type=float,
        metavar="SECONDS",
        help=f"also yield {noun} committed late, up to this much older than the newest seen",
    )
    watch.add_argument("--resume", metavar="TOKEN", help="continue a watch from its resume token")
    watch.add_argument(
        "--format",
        choices=("jsonl", "csv", "table"),
        help="output format (default: table on a terminal, jsonl otherwise)",
    )
    _add_connection(watch)
    watch.set_defaults(run=_run_watch, endpoint=endpoint, parser=watch)


def _add_shards(actions: Any, endpoint: Endpoint[Any, Any]) -> None:
    noun = endpoint.name
    plan = actions.add_parser(
        "plan",
        help=f"cut the listing of {noun} into shards, printed as a plan in JSON",
        description=f"Plan the listing of {noun} as shards of at most --target-size records "
        "(half-open windows on created_at, up to the newest when planning begins), and print "
        "the plan as JSON: each of its .shards is what `read --shard` takes.",
    )
    _add_filters(plan, endpoint, order=False)
    plan.add_argument(
        "--target-size", type=int, required=True, metavar="N", help="the most records a shard holds"
    )
    _add_connection(plan)
    plan.set_defaults(run=_run_plan, endpoint=endpoint, parser=plan)
    read = actions.add_parser(
        "read",
        help=f"stream the {noun} of one shard of a plan to stdout",
        description=f"Stream the {noun} of one shard (its JSON, as a plan holds it), oldest "
        "first, as `list` does.",
    )
    read.add_argument(
        "--shard", metavar="JSON", help="the shard, as JSON text (- reads it from stdin)"
    )
    read.add_argument(
        "--page-size", type=int, metavar="N", help=f"1..{MAX_PAGE_SIZE} ({DEFAULT_PAGE_SIZE})"
    )
    read.add_argument("--prefetch", type=int, default=2, metavar="N", help="pages ahead (2)")
    read.add_argument(
        "--format",
        choices=("jsonl", "csv", "table"),
        help="output format (default: table on a terminal, jsonl otherwise)",
    )
    read.add_argument(
        "--resume", metavar="TOKEN", help="continue an interrupted read from its resume token"
    )
    _add_connection(read)
    read.set_defaults(run=_run_read, endpoint=endpoint, parser=read)


def _add_filters(
    parser: argparse.ArgumentParser,
    endpoint: Endpoint[Any, Any],
    *,
    bounds: bool = True,
    order: bool = True,
) -> None:
    """A flag per filter of ``endpoint``, derived from its filters class (the time bounds left
    out when ``bounds`` is False: a watch sets its own).

    Each flag is the API's name of the filter (``--search-query``, ``--revision-numbers``),
    with the shorter flag the filter declares as an alias (``--search``, ``--revision``); a
    boolean is a switch (``--include-metadata``, ``--no-include-metadata``), which also takes
    ``true`` or ``false``. The flag typed is remembered, so that an error names it as typed.
    """
    group = parser.add_argument_group("filters (repeat a flag for several values)")
    skipped = set(endpoint.time_bounds or ()) if not bounds else set()
    for name, info in endpoint.filters.declared():
        if name in skipped:
            continue
        flags = _flags_of(name, endpoint)
        helped = info.help + ("; a date alone is midnight UTC" if _is_instant(info) else "")
        if isinstance(info.kind, Flag):
            group.add_argument(
                *flags,
                dest=name,
                action=_Switch,
                required=info.required,
                help=f"{helped} (alone: true)",
            )
            group.add_argument(
                *("--no-" + flag[2:] for flag in flags),
                dest=name,
                action=_Negative,
                help="the same, false",
            )
            continue
        group.add_argument(
            *flags,
            dest=name,
            action=_Append if info.kind.many else _Store,
            metavar=info.kind.metavar,
            required=info.required,
            help=helped,
        )
    if bounds and order and endpoint.sortable:
        # Lower-cased first, as enum values are: `--sort-order DESC` is `desc`.
        group.add_argument(
            "--sort-by", type=str.lower, choices=endpoint.sorts, help=f"({endpoint.sorts[0]})"
        )
        group.add_argument("--sort-order", type=str.lower, choices=("asc", "desc"), help="(desc)")


def _flags_of(name: str, endpoint: Endpoint[Any, Any]) -> list[str]:
    """The flags of a filter: the API's name first, then the shorter one it declares."""
    flags = ["--" + name.replace("_", "-")]
    declared: str = endpoint.filters.flag_of(name)
    return flags if declared in flags else [*flags, declared]


def _is_instant(info: FilterInfo) -> bool:
    return isinstance(info.kind, Instant)


def _typed(namespace: argparse.Namespace, dest: str, option_string: str | None) -> None:
    """Remember which flag set ``dest``, as the user typed it (for error messages)."""
    typed: dict[str, str] | None = getattr(namespace, "typed_flags", None)
    if typed is None:
        typed = {}
        namespace.typed_flags = typed
    if option_string:
        typed[dest] = option_string


class _RemembersFlag(argparse.Action):
    """An action that remembers the flag typed (for errors naming it), then does its own."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        _typed(namespace, self.dest, option_string)
        super().__call__(parser, namespace, values, option_string)


class _Store(_RemembersFlag, argparse._StoreAction):
    """``store``, remembering the flag typed."""


class _Append(_RemembersFlag, argparse._AppendAction):
    """``append``, remembering the flag typed."""


class _Switch(argparse.Action):
    """A boolean filter: ``--x`` alone is true, ``--x true|false`` as before (``--no-x``, its
    twin, a ``_Store`` of no value, is false)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs="?", metavar="true|false", **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        _typed(namespace, self.dest, option_string)
        setattr(namespace, self.dest, "true" if values is None else values)


class _Negative(argparse.Action):
    """``--no-x``: the boolean filter ``x``, false."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        _typed(namespace, self.dest, option_string)
        setattr(namespace, self.dest, "false")


def _filters_of(args: argparse.Namespace, endpoint: Endpoint[Any, Any]) -> dict[str, Any]:
    """The values of the filter flags given, parsed by their kinds (unchecked: the filters class
    checks them). As typed on a command line: enum values in any case (``--outcome fail``),
    and a date alone (``2024-06-01``) as midnight UTC; the library itself stays strict."""
    values: dict[str, Any] = {}
    for name, info in endpoint.filters.declared():
        text = getattr(args, name, None)
        if text is None:
            continue
        parse = functools.partial(_from_text, info.kind, name)
        values[name] = [parse(item) for item in text] if info.kind.many else parse(text)
    return values


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _date_or_datetime(text: str) -> str:
    """A date alone (``2024-06-01``) as midnight UTC; any other text as it is."""
    return f"{text}T00:00:00Z" if _DATE.fullmatch(text) else text


def _from_text(kind: Kind, name: str, text: str) -> Any:
    if isinstance(kind, Choices):
        text = {value.lower(): value for value in kind.values}.get(text.lower(), text)
    elif isinstance(kind, Instant):
        text = _date_or_datetime(text)
    return kind.from_text(name, text)


def _add_connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url", help=f"API base URL (default: ${BASE_URL_ENV} or TofuPilot's)"
    )
    parser.add_argument("--api-key", help=f"API key (default: ${API_KEY_ENV})")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument(
        "--ca-file",
        metavar="PEM",
        help="trust the certificate authorities in this file (a self-hosted server behind a "
        "private CA; default: the system's, and $SSL_CERT_FILE)",
    )
    tls.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the server's certificate (a last resort: anyone in the middle "
        "reads the API key)",
    )
    parser.add_argument(
        "--client-cert",
        metavar="PEM",
        help="a client certificate for mutual TLS: one PEM file with the certificate and its "
        "key, or CERT.pem,KEY.pem",
    )


def _add_emulator_data(parser: argparse.ArgumentParser, *, batches: int) -> None:
    parser.add_argument(
        "--batches", type=int, default=batches, help=f"batches to generate ({batches})"
    )
    parser.add_argument(
        "--runs",
        type=int,
        metavar="N",
        help="runs to generate, with their phases, measurements and logs "
        "(default: one per unit, at most 1000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the faults (0)")


def _add_database(parser: argparse.ArgumentParser, *, precision: bool = True) -> None:
    """What the emulator plays of the SQL server behind the API: what an offset costs, and
    (with ``precision``) what its times are stored to."""
    group = parser.add_argument_group("the database behind the API")
    group.add_argument(
        "--offset-cost",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="charge each list request this much per row its cursor skips, as a SQL server "
        "walking an index does (5e-7: PostgreSQL's half a microsecond); concurrent requests "
        "pay side by side (0: none)",
    )
    if not precision:
        parser.set_defaults(timestamp_precision="ms")
        return
    group.add_argument(
        "--timestamp-precision",
        choices=("ms", "us"),
        default="ms",
        help="store times to the millisecond (ms), or to the microsecond and answer them to "
        "the millisecond, as a JavaScript server over PostgreSQL does (us) (ms)",
    )


def _check_database(args: argparse.Namespace) -> None:
    if not is_seconds(args.offset_cost):
        raise UsageError(
            f"--offset-cost: expected a finite number of seconds >= 0, got {args.offset_cost:g}"
        )


def _add_faults(
    parser: argparse.ArgumentParser,
    *,
    latency: float = 0.0,
    fail_rate: float = 0.0,
    drop_rate: float = 0.0,
) -> None:
    group = parser.add_argument_group("faults")
    group.add_argument("--latency", type=float, default=latency, metavar="SECONDS")
    group.add_argument("--fail-rate", type=float, default=fail_rate, metavar="P", help="5xx share")
    group.add_argument(
        "--drop-rate", type=float, default=drop_rate, metavar="P", help="dropped connections share"
    )
    group.add_argument(
        "--rate-limit",
        type=float,
        metavar="N",
        help="requests per second (a token bucket), then 429 with Retry-After",
    )
    group.add_argument(
        "--rate-burst", type=float, metavar="N", help="tokens of that bucket (default: N)"
    )


def _fault_settings(args: argparse.Namespace) -> FaultSettings:
    from ._emulator import FaultSettings

    try:
        return FaultSettings(
            latency=args.latency,
            fail_rate=args.fail_rate,
            drop_rate=args.drop_rate,
            rate_limit=args.rate_limit,
            rate_burst=args.rate_burst,
            seed=args.seed,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# -- aiotofu <resource> list | watch ---------------------------------------------------------


def _flag(
    parameter: str, endpoint: Endpoint[Any, Any], args: argparse.Namespace | None = None
) -> str:
    """The command-line flag of a parameter of the library, as the user typed it (else the
    API's name of it)."""
    if parameter in ("token", "resume_token"):
        return "--resume"
    typed: dict[str, str] = getattr(args, "typed_flags", None) or {}
    if parameter in typed and not typed[parameter].startswith("--no-"):
        return typed[parameter]
    return "--" + parameter.replace("_", "-")


def _client(args: argparse.Namespace, console: _Console | None = None) -> Client:
    """The client of a command; a missing key is a usage error with a hint. With a
    ``console`` on a terminal, every retry is said at once (a mistyped URL shows on the
    first refused connection, not after the last)."""
    if args.api_key is None and not os.environ.get(API_KEY_ENV):
        raise UsageError(f"no API key: pass --api-key KEY or set {API_KEY_ENV}")
    verify, cert = _tls_options(args, console)
    on_retry = console.retried if console is not None and console.status else None
    # Config errors (a missing certificate file too) raise before any I/O.
    return Client(args.api_key, base_url=args.base_url, verify=verify, cert=cert, on_retry=on_retry)


def _tls_options(args: argparse.Namespace, console: _Console | None) -> tuple[Any, Any]:
    """``verify`` and ``cert`` from ``--insecure``, ``--ca-file`` and ``--client-cert`` (with
    the warning ``--insecure`` deserves)."""
    verify: str | bool = True
    if getattr(args, "insecure", False):
        message = (
            "aiotofu: warning: --insecure: the server's certificate is not verified, so "
            "anyone in the middle can read the API key"
        )
        if console is not None:
            console.say(message)
        else:
            print(message, file=sys.stderr)
        verify = False
    elif getattr(args, "ca_file", None):
        verify = args.ca_file
    client_cert = getattr(args, "client_cert", None)
    cert = tuple(client_cert.split(",", 1)) if client_cert and "," in client_cert else client_cert
    return verify, cert


def _refuse_with_resume(args: argparse.Namespace, parameters: Sequence[str]) -> None:
    """A resume token carries the filters and the page size: given with it, they would be
    silently ignored, so they are refused."""
    given = [
        _flag(name, args.endpoint, args) for name in parameters if getattr(args, name) is not None
    ]
    if args.resume and given:
        raise UsageError(
            f"{given[0]}: --resume continues with the filters and page size of its token; "
            f"give none of {', '.join(given)} with it"
        )


def _list_parameters(endpoint: Endpoint[Any, Any]) -> tuple[str, ...]:
    """What a listing's resume token carries, so what --resume refuses beside it."""
    order = ("sort_by", "sort_order") if endpoint.sortable else ()
    return (*(name for name, _ in endpoint.filters.declared()), *order, "page_size")


def _order_of(args: argparse.Namespace, endpoint: Endpoint[Any, Any]) -> dict[str, str]:
    """The order flags given, with the endpoint's defaults; none for an endpoint without one."""
    if not endpoint.sortable:
        return {}
    return {"sort_by": args.sort_by or endpoint.sorts[0], "sort_order": args.sort_order or "desc"}


def _watch_parameters(endpoint: Endpoint[Any, Any]) -> tuple[str, ...]:
    bounds = endpoint.time_bounds or ()
    filters = (name for name, _ in endpoint.filters.declared() if name not in bounds)
    return (*filters, "since", "page_size", "lookback")


def _run_list(args: argparse.Namespace) -> int:
    endpoint: Endpoint[Any, Any] = args.endpoint
    out_format = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    _refuse_with_resume(args, _list_parameters(endpoint))
    sink = _parquet_sink(args, out_format, endpoint)
    console = _Console()
    client = _client(args, console)
    resource = getattr(client, endpoint.name)

    def listing() -> Paginator[Any]:
        if args.resume:
            return typing.cast(
                Paginator[Any],
                resource.resume(args.resume, max_items=args.max_items, prefetch=args.prefetch),
            )
        return typing.cast(
            Paginator[Any],
            resource.list(
                **_filters_of(args, endpoint),
                **_order_of(args, endpoint),
                page_size=DEFAULT_PAGE_SIZE if args.page_size is None else args.page_size,
                max_items=args.max_items,
                prefetch=args.prefetch,
            ),
        )

    if sink is None:
        return _stream(
            client,
            _rename_errors(listing, endpoint, args),
            _writer(out_format, sys.stdout, endpoint),
            noun=endpoint.name,
            console=console,
        )
    status = EXIT_FAILED
    try:
        status = _stream(
            client,
            _rename_errors(listing, endpoint, args),
            sink.write,
            noun=endpoint.name,
            console=console,
        )
    finally:
        # Whatever ended the listing, the records it gave are in the file (a valid one, that
        # --resume continues after); a listing that failed before any leaves no file.
        sink.close(keep=status in (EXIT_OK, EXIT_INTERRUPTED))
    return status


def _parquet_sink(
    args: argparse.Namespace, out_format: str, endpoint: Endpoint[Any, Any]
) -> ParquetSink | None:
    """The Parquet file of ``--format parquet --output FILE`` (None for the other formats)."""
    if out_format != "parquet":
        if args.output is not None:
            raise UsageError("--output: only with --format parquet (the others write to stdout)")
        return None
    if args.output is None:
        raise UsageError("--format parquet: give the file to write with --output FILE")
    if os.path.exists(args.output) and not os.path.isfile(args.output):
        # A device or a pipe: opened without blocking (a FIFO with no reader would wait).
        with contextlib.suppress(OSError):
            device = os.open(args.output, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
            try:
                terminal = os.isatty(device)
            finally:
                os.close(device)
            if terminal:
                raise UsageError("--output: Parquet is binary, never written to a terminal")
    page_size = DEFAULT_PAGE_SIZE if args.page_size is None else args.page_size
    try:
        return ParquetSink(args.output, endpoint.model, page_size=max(page_size, 1))
    except ImportError as exc:
        raise UsageError(f"--format parquet: {exc}") from None


def _run_users(args: argparse.Namespace) -> int:
    out_format = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    console = _Console()
    client = _client(args, console)
    write = _writer(out_format, sys.stdout, USERS)

    async def run() -> None:
        async with client:
            users = await client.users.list()
        for user in users:
            write(user)

    with _escaped_last_resort(console):
        interrupted = _run_interruptibly(run)
    if interrupted:
        print("aiotofu: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _run_plan(args: argparse.Namespace) -> int:
    endpoint: Endpoint[Any, Any] = args.endpoint
    console = _Console()
    client = _client(args, console)
    resource = getattr(client, endpoint.name)
    planning = _rename_errors(
        lambda: resource.plan(**_filters_of(args, endpoint), target_size=args.target_size),
        endpoint,
        args,
    )

    async def run() -> None:
        async with client:
            plan = await planning
        print(plan.to_json())

    try:
        with _escaped_last_resort(console):
            interrupted = _run_interruptibly(run)
    finally:
        planning.close()  # never awaited if the client failed first: not a warning
    if interrupted:
        print("aiotofu: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _run_read(args: argparse.Namespace) -> int:
    endpoint: Endpoint[Any, Any] = args.endpoint
    out_format = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    if (args.shard is None) == (args.resume is None):
        raise UsageError("--shard: give a shard (its JSON), or --resume with a token")
    if args.resume and args.page_size is not None:
        raise UsageError("--page-size: --resume continues with the page size of its token")
    console = _Console()
    client = _client(args, console)
    resource = getattr(client, endpoint.name)

    def reading() -> Paginator[Any]:
        if args.resume:
            return typing.cast(Paginator[Any], resource.resume(args.resume, prefetch=args.prefetch))
        text = sys.stdin.read() if args.shard == "-" else args.shard
        return typing.cast(
            Paginator[Any],
            resource.read(
                Shard.from_json(text),
                page_size=DEFAULT_PAGE_SIZE if args.page_size is None else args.page_size,
                prefetch=args.prefetch,
            ),
        )

    return _stream(
        client,
        _rename_errors(reading, endpoint, args),
        _writer(out_format, sys.stdout, endpoint),
        noun=endpoint.name,
        console=console,
    )


def _run_watch(args: argparse.Namespace) -> int:
    endpoint: Endpoint[Any, Any] = args.endpoint
    out_format = args.format or ("table" if sys.stdout.isatty() else "jsonl")
    _refuse_with_resume(args, _watch_parameters(endpoint))
    console = _Console()
    client = _client(args, console)
    resource = getattr(client, endpoint.name)

    def watching() -> Watcher[Any]:
        if args.resume:
            resumed: Watcher[Any] = resource.watch(
                resume_token=args.resume, poll_interval=args.poll_interval
            )
            return resumed
        watcher: Watcher[Any] = resource.watch(
            **_filters_of(args, endpoint),
            since=_datetime_flag("--since", args.since),
            poll_interval=args.poll_interval,
            page_size=DEFAULT_PAGE_SIZE if args.page_size is None else args.page_size,
            lookback=args.lookback or 0.0,
        )
        return watcher

    return _stream(
        client,
        _rename_errors(watching, endpoint, args),
        _writer(out_format, sys.stdout, endpoint, flush=True),
        noun=endpoint.name,
        offer_before_any=True,
        console=console,
        watching=endpoint.time_field,
    )


def _stream(
    client: Client,
    stream: Paginator[Any] | Watcher[Any],
    write: Callable[[Any], None],
    *,
    noun: str,
    offer_before_any: bool = False,
    console: _Console | None = None,
    watching: str | None = None,
) -> int:
    """Write every record of ``stream``; on Ctrl-C stop cleanly and print the resume token.

    An error that ends the stream for good after records were printed (retries spent, the
    network gone, the key revoked) prints its one line, then the resume token too: the user can
    go on from the last record printed instead of starting over. With nothing printed, a
    listing's token says no more than the command line does, so only the error is printed; a
    watch (``offer_before_any``) still offers its token once it knows where it starts, since
    the same command run later would start later and miss what was created in between.

    On a terminal, stderr shows a status line: records and their rate, or for a watch
    (``watching``: the records' time field) the records seen and the time of the last one.
    It is erased before a row is printed to the same terminal and drawn again after.
    """
    console = console or _Console()
    status = console.status
    progress = _Progress(status, noun, time_field=watching) if status else None
    # Rows printed to the terminal the status is drawn on: erase the status before each.
    shares = status is not None and sys.stdout.isatty()
    printed = 0

    async def run() -> None:
        nonlocal printed
        async with client, stream:
            if progress:
                progress.start()
            async for record in stream:
                if shares and status is not None:
                    status.clear()
                write(record)
                printed += 1
                if progress:
                    if shares:
                        sys.stdout.flush()  # the row on the screen before the status
                    progress.tick(record)

    try:
        with _escaped_last_resort(console):
            interrupted = _run_interruptibly(run)
    except TofuPilotError as exc:
        _finish(progress)
        status_code = _report(exc)
        token = _token_of(stream) if printed or offer_before_any else None
        if token:
            print(
                f"aiotofu: failed after {printed} {noun}; resume with --resume {token}",
                file=sys.stderr,
            )
        return status_code
    _finish(progress)
    if interrupted:
        token = _token_of(stream)
        message = f"; resume with --resume {token}" if token else ""
        print(f"aiotofu: interrupted{message}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


class _Console:
    """What a command says on stderr beside its output. On a terminal (``status`` is then its
    StatusLine), every line goes above the status line, and retries are said as they happen
    (``retried``, the client's ``on_retry``): the library's log lines of retries are then left
    out, not said twice."""

    def __init__(self) -> None:
        self.err: TextIO = sys.stderr
        self.status: StatusLine | None = StatusLine(self.err) if self.err.isatty() else None

    def say(self, line: str) -> None:
        """Print one line (escaped) on stderr, above the status line if there is one."""
        with self.status.above() if self.status else contextlib.nullcontext():
            print(shown(line), file=self.err, flush=True)

    def retried(self, event: RetryEvent) -> None:
        """Say that a request is being retried, at once."""
        where = event.path if event.cursor is None else f"{event.path} (cursor {event.cursor})"
        self.say(
            f"aiotofu: retrying {event.method} {where} in {event.wait:.1f} s "
            f"(try {event.attempt} of {event.attempts} failed: {event.error})"
        )


@contextlib.contextmanager
def _escaped_last_resort(console: _Console | None = None) -> Iterator[None]:
    """The library's warnings (a request being retried, with the error it met: server text)
    printed escaped, one line each, above the status line.

    With no logging configured, as in a plain ``aiotofu`` run, nothing would print them: the
    ``aiotofu`` logger's only handler is a NullHandler, as a library's is. For the command's
    duration it gets a handler that shows control characters escaped, in the format of
    logging's handler of last resort. Logging configured by whoever embeds ``main()`` (a
    handler on the root logger) is left alone.
    """
    if logging.getLogger().handlers:
        yield
        return
    handler = _ConsoleHandler(console or _Console())
    handler.setLevel(logging.WARNING)
    handler.setFormatter(_ShownFormatter("%(message)s"))  # the last resort's own format
    logger = logging.getLogger("aiotofu")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


class _ConsoleHandler(logging.Handler):
    """Log lines through a _Console: above its status line; retries left to its own lines
    when it says them (a terminal)."""

    def __init__(self, console: _Console) -> None:
        super().__init__()
        self._console = console

    def emit(self, record: logging.LogRecord) -> None:
        """Say the record's line, unless it is a retry the console already said."""
        if self._console.status is not None and hasattr(record, "retry"):
            return
        try:
            line = self.format(record)
        except Exception:  # pragma: no cover - logging's own rule: never raise from emit
            self.handleError(record)
            return
        self._console.say(line)


class _ShownFormatter(logging.Formatter):
    """A formatter whose lines show control characters escaped (see ``_terminal``)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record's line, escaped."""
        return shown(super().format(record))


def _finish(progress: _Progress | None) -> None:
    """Flush what was printed, and end the status line, before anything else is said."""
    sys.stdout.flush()
    if progress:
        progress.done()


def _token_of(stream: Paginator[Any] | Watcher[Any]) -> str | None:
    """The stream's resume token; None for a watch that stopped before it knew where it starts."""
    try:
        return stream.resume_token
    except TofuPilotError:
        return None


S = TypeVar("S")


def _rename_errors(
    build: Callable[[], S], endpoint: Endpoint[Any, Any], args: argparse.Namespace | None = None
) -> S:
    """Report an argument error under its flag's name (``--page-size``, not ``page_size``),
    as typed when ``args`` says how."""
    try:
        return build()
    except InvalidParameterError as exc:
        flag = _flag(exc.parameter, endpoint, args)
        raise UsageError(f"{flag}: {str(exc).split(': ', 1)[1]}") from None


def _datetime_flag(flag: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_datetime(_date_or_datetime(text))
    except ValueError:
        raise UsageError(
            f"{flag}: expected an RFC 3339 date-time with a time zone, or a date, got {text!r}"
        ) from None


def _run_interruptibly(stream: Callable[[], Awaitable[None]]) -> bool:
    """Run ``stream`` in a new loop; Ctrl-C or SIGTERM cancel it cleanly. True if interrupted."""
    interrupted = False

    async def runner() -> None:
        nonlocal interrupted
        task = asyncio.ensure_future(stream())
        loop = asyncio.get_running_loop()

        def interrupt() -> None:
            nonlocal interrupted
            interrupted = True
            task.cancel()

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, interrupt)
        try:
            await task
        except asyncio.CancelledError:
            if not interrupted:
                raise
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

    asyncio.run(runner())
    return interrupted


def csv_columns(model: type[Any], prefix: str = "") -> tuple[str, ...]:
    """The csv columns of a record: its fields, nested records flattened to dotted names."""
    hints = typing.get_type_hints(model)
    columns: list[str] = []
    for field in attrs.fields(model):
        kind = hints[field.name]
        # `X | None` of a record is flattened like `X`; lists and mappings stay one column.
        optional = type(None) in typing.get_args(kind)
        inner = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        nested = inner[0] if optional and len(inner) == 1 else kind
        if isinstance(nested, type) and attrs.has(nested):
            columns += csv_columns(nested, f"{prefix}{field.name}.")
        else:
            columns.append(prefix + field.name)
    return tuple(columns)


def _cell(data: Any, column: str) -> str:
    """The text of one dotted column of an unstructured record: lists and objects as JSON."""
    for key in column.split("."):
        data = data.get(key) if isinstance(data, dict) else None
    if data is None:
        return ""
    if isinstance(data, bool):
        return "true" if data else "false"
    if isinstance(data, (list, dict)):
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return str(data)


def _writer(
    out_format: str, out: TextIO, endpoint: Endpoint[Any, Any] | _Table, *, flush: bool = False
) -> Callable[[Any], None]:
    if out_format == "jsonl":

        def write_json(record: Any) -> None:
            # JSON escapes C0 itself; json_line escapes what it leaves raw (DEL, C1...).
            out.write(json_line(json.dumps(unstructure(record), ensure_ascii=False)) + "\n")
            if flush:  # a watch: each record is news, and a pipe must not sit on it
                out.flush()

        return write_json
    if out_format == "csv":
        rows = csv.writer(out, lineterminator="\n")
        header = csv_columns(endpoint.model)
        rows.writerow(header)
        # Into a file or a pipe, csv is data: quoting keeps a newline inside its field for any
        # csv reader, and the text must stay exact. A terminal parses no csv, and would act on
        # the text: there it is escaped as in the table.
        cell = _cell if not out.isatty() else lambda data, column: shown(_cell(data, column))

        def write_csv(record: Any) -> None:
            data = unstructure(record)
            rows.writerow([cell(data, column) for column in header])

        return write_csv
    # The table: the endpoint's columns fitted to the terminal's width (the last one takes
    # what is left), the record's text shown escaped first (one record, one row; the terminal
    # is not driven), cut text ending in an ellipsis. Not on a terminal, the last column is
    # whole.
    columns = endpoint.columns
    widths = _widths(columns, terminal_columns(out))

    def cells(values: list[str]) -> str:
        return " ".join(
            value if width is None else fit(value, width, pad=True)
            for width, value in zip(widths, map(shown, values), strict=True)
        ).rstrip()

    out.write(cells([column.header for column in columns]) + "\n")

    def write_row(record: Any) -> None:
        out.write(cells([column.value(record) for column in columns]) + "\n")
        if flush:
            out.flush()

    return write_row


def _widths(columns: Sequence[Column], total: int | None) -> list[int | None]:
    """The width of each column in a terminal ``total`` cells wide (None: no terminal, and the
    last column, of width 0, unbounded). The columns keep their widths while they fit beside
    the last one; past that, the widest give way first, down to their headers."""
    widths: list[int | None] = [column.width or None for column in columns]
    if total is None or not columns:
        return widths
    room = total - (len(columns) - 1)  # the spaces between the columns
    last = max(len(columns[-1].header), 8)
    sized = [column.width or last for column in columns]
    floors = [min(size, max(len(c.header), 5)) for size, c in zip(sized, columns, strict=True)]
    while sum(sized) > room:
        give = max(range(len(sized)), key=lambda i: (sized[i] - floors[i], -i))
        if sized[give] <= floors[give]:
            break  # a terminal this narrow wraps the rows; nothing shorter stays readable
        sized[give] -= 1
    # What is left goes to the flexible columns (the last); a fixed column keeps its size.
    flexible = [i for i, column in enumerate(columns) if not column.width]
    spare = room - sum(sized)
    for i in flexible[-1:]:
        sized[i] += max(spare, 0)
    return list(sized)


class _Progress:
    """A stream's state on the status line, redrawn at most five times a second: ``12,345
    runs, 4,321/s`` for a listing; ``watching runs: 12 seen, last created 2024-06-01
    12:00:00.123 UTC`` for a watch (``time_field``: what the records are watched by), which
    has no rate worth showing. A record that arrives when a redraw is not yet due asks for one
    in 0.2 s, so the status is back on the screen while the stream waits."""

    def __init__(self, status: StatusLine, noun: str, *, time_field: str | None = None) -> None:
        self._status = status
        self._noun = noun
        self._time_field = time_field
        self._count = 0
        self._last: datetime | None = None
        self._start = self._shown = time.monotonic()
        self._due: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Draw the status at once (a watch waits for its first record: say so)."""
        self._draw()

    def tick(self, record: Any) -> None:
        """Count ``record``, and redraw when due."""
        self._count += 1
        if self._time_field is not None:
            self._last = getattr(record, self._time_field, None)
        if time.monotonic() - self._shown >= 0.2:
            self._draw()
        elif not self._status.drawn and self._due is None:
            self._due = asyncio.get_running_loop().call_later(0.2, self._draw)

    def _text(self) -> str:
        if self._time_field is not None:
            field = self._time_field.removesuffix("_at")
            last = f", last {field} {table_time(self._last)} UTC" if self._last else ""
            return f"watching {self._noun}: {self._count:,} seen{last}"
        rate = self._count / max(time.monotonic() - self._start, 1e-9)
        return f"{self._count:,} {self._noun}, {rate:,.0f}/s"

    def _draw(self) -> None:
        if self._due is not None:
            self._due.cancel()
            self._due = None
        self._shown = time.monotonic()
        self._status.show(self._text())

    def done(self) -> None:
        """Erase the status, leaving the final count as a line."""
        if self._due is not None:
            self._due.cancel()
            self._due = None
        self._status.close(self._text())


# -- aiotofu emulator ------------------------------------------------------------------------


def _run_emulator(args: argparse.Namespace) -> int:
    from ._emulator import EmulatorServer, serve
    from ._emulator.server import check_trickle

    if not is_loopback(args.host) and not args.allow_remote:
        raise UsageError(
            f"--host {args.host} is reachable from other machines; pass --allow-remote to bind it"
        )
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port: expected 0..65535, got {args.port}")
    if args.batches < 0:
        raise UsageError(f"--batches: expected a count >= 0, got {args.batches}")
    _check_runs(args)
    _check_database(args)
    try:
        trickle = check_trickle(args.trickle)
    except ValueError:
        raise UsageError(f"--trickle: expected runs per second > 0, got {args.trickle:g}") from None
    server = EmulatorServer(
        host=args.host,
        port=args.port,
        batches=args.batches,
        runs=args.runs,
        seed=args.seed,
        api_key=args.api_key,
        db=args.db,
        faults=_fault_settings(args),
        synthetic=args.synthetic,
        tie_order=args.tie_order,
        offset_cost=args.offset_cost,
        timestamp_precision=args.timestamp_precision,
    )
    try:
        # Only the options given: serve(server) alone is what stand-ins in tests expect.
        given: dict[str, Any] = {"trickle": trickle} if trickle else {}
        given |= {"verbose": True} if args.verbose else {}
        asyncio.run(serve(server, **given))
    except OSError as exc:
        raise UsageError(
            f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}"
        ) from None
    return EXIT_OK


def _check_runs(args: argparse.Namespace) -> None:
    if args.runs is not None and args.runs < 0:
        raise UsageError(f"--runs: expected a count >= 0, got {args.runs}")


# -- aiotofu demo ----------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    from ._emulator import EmulatorServer

    if args.batches < 1:
        raise UsageError(f"--batches: expected a count >= 1, got {args.batches}")
    _check_runs(args)
    _check_database(args)
    faults = _fault_settings(args)
    print(f"aiotofu demo: generating {args.batches:,} batches in an embedded emulator ...")
    server = EmulatorServer(
        batches=args.batches,
        runs=args.runs,
        seed=args.seed,
        faults=faults,
        offset_cost=args.offset_cost,
        timestamp_precision=args.timestamp_precision,
    )
    retries: list[RetryEvent] = []  # counted from the client's events, not from its log lines
    # The retries are reported below; their log lines would only interleave with the report
    # (with propagation off and no handler, logging would fall back to stderr: hence the
    # NullHandler).
    logger = logging.getLogger("aiotofu")
    quiet = logging.NullHandler()
    logger.propagate, propagate = False, logger.propagate
    logger.addHandler(quiet)
    try:
        report = asyncio.run(_demo(server, retries.append))
    finally:
        logger.removeHandler(quiet)
        logger.propagate = propagate
    unique = len(report["ids"])
    print(
        f"faults: {faults.latency * 1000:g} ms latency, {faults.fail_rate:.0%} 5xx, "
        f"{faults.drop_rate:.0%} dropped connections"
        + (f", {faults.rate_limit:g} requests/s" if faults.rate_limit else "")
    )
    print(f"first: {report['first']}")
    print(f"last:  {report['last']}")
    print(
        f"streamed {report['records']:,} batches in {report['pages']} pages "
        f"in {report['elapsed']:.2f} s ({report['records'] / report['elapsed']:,.0f} batches/s)"
    )
    injected = ", ".join(f"{count} x {kind}" for kind, count in sorted(report["faults"].items()))
    print(f"server: {report['requests']} requests, faults injected: {injected or 'none'}")
    kinds = Counter(event.kind for event in retries)
    by_kind = ", ".join(f"{count} x {kind}" for kind, count in sorted(kinds.items()))
    print(
        f"client: {len(retries)} retries{f' ({by_kind})' if by_kind else ''}; "
        f"peak requests in flight {report['peak']}"
    )
    exact = unique == report["records"] == args.batches
    print(
        f"every batch exactly once, newest first: {'yes' if exact and report['ordered'] else 'NO'}"
    )
    runs = report["runs"]
    runs_exact = len(runs["ids"]) == runs["records"] == runs["expected"]
    failed = ", ".join(f"{count} {outcome}" for outcome, count in sorted(runs["outcomes"].items()))
    print(
        f"then {runs['records']:,} runs of {runs['units']:,} units in {runs['elapsed']:.2f} s "
        f"({failed or 'none'}); every run exactly once: {'yes' if runs_exact else 'NO'}"
    )
    ok = exact and report["ordered"] and runs_exact
    return EXIT_OK if ok else EXIT_FAILED


async def _demo(server: EmulatorServer, on_retry: Callable[[RetryEvent], None]) -> dict[str, Any]:
    await server.start()
    try:
        policy = RetryPolicy(initial_backoff=0.05, max_backoff=1.0, attempts=8)
        async with Client(
            server.state.api_key, base_url=server.base_url, retry=policy, on_retry=on_retry
        ) as client:
            start = time.perf_counter()
            pages = 0
            batches: list[Batch] = []
            async for page in client.batches.list(page_size=100, prefetch=3).pages():
                pages += 1
                batches.extend(page.items)
            elapsed = time.perf_counter() - start
            runs = await _demo_runs(client, server)
        stats = server.state.stats
        return {
            "records": len(batches),
            "ids": {b.id for b in batches},
            "ordered": all(
                (a.created_at, a.id) >= (b.created_at, b.id) for a, b in itertools.pairwise(batches)
            ),
            "pages": pages,
            "elapsed": elapsed,
            "requests": stats.requests,
            "peak": stats.peak_in_flight,
            "faults": dict(server.state.faults.injected),
            "first": _describe(batches[0]) if batches else "-",
            "last": _describe(batches[-1]) if batches else "-",
            "runs": runs,
        }
    finally:
        await server.stop()


async def _demo_runs(client: Client, server: EmulatorServer) -> dict[str, Any]:
    """Every run through the same faults, and what a test engineer asks first: what failed."""
    start = time.perf_counter()
    runs = await client.runs.list(page_size=100, prefetch=3).collect()
    return {
        "records": len(runs),
        "ids": {run.id for run in runs},
        "expected": len(server.state.world.records().runs),
        "units": len({run.unit.id for run in runs}),
        "outcomes": Counter(run.outcome for run in runs if run.outcome != "PASS"),
        "elapsed": time.perf_counter() - start,
    }


def _describe(batch: Batch) -> str:
    user, station = batch.created_by_user, batch.created_by_station
    creator = (user.name or user.id) if user else station.name if station else "nobody known"
    return (
        f"{batch.number} created {format_datetime(batch.created_at)} by {creator}, "
        f"{batch.unit_count} units"
    )


# -- load: the dlt source into a destination ------------------------------------------------


def _add_load(commands: Any) -> None:
    load = commands.add_parser(
        "load",
        help="load records into a database with dlt (extra aiotofu[dlt])",
        description="Load TofuPilot's records into a database with aiotofu.dlt.source(): the "
        "first load takes everything, each later one what was created since (less --lag), "
        "merged on id. Prints the rows loaded per table.",
    )
    load.add_argument("--destination", choices=("duckdb",), required=True, help="duckdb")
    load.add_argument("--path", required=True, metavar="FILE", help="the database file")
    load.add_argument(
        "--resources",
        metavar="NAMES",
        help="comma-separated resources to load (default: all of them)",
    )
    load.add_argument("--start", metavar="DATETIME", help="the first load starts here (ISO 8601)")
    load.add_argument(
        "--lag", type=float, default=10.0, metavar="MINUTES", help="the lag window (10)"
    )
    load.add_argument(
        "--pipeline-name",
        metavar="NAME",
        help="dlt's pipeline, which keeps the incremental state (default: one per --path)",
    )
    _add_connection(load)
    load.set_defaults(run=_run_load)


def _run_load(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from . import dlt as loading  # dlt is imported here, by this command only

    if args.api_key is None and not os.environ.get(API_KEY_ENV):
        raise UsageError(f"no API key: pass --api-key KEY or set {API_KEY_ENV}")
    console = _Console()
    verify, cert = _tls_options(args, console)
    options: dict[str, Any] = {
        "api_key": args.api_key,
        "base_url": args.base_url,
        "verify": verify,
        "cert": cert,
    }
    if args.resources is not None:
        options["resources"] = [name.strip() for name in args.resources.split(",")]
    if not is_seconds(args.lag):
        raise UsageError(f"--lag: expected minutes >= 0, got {args.lag!r}")
    source = loading.source(
        start=_datetime_flag("--start", args.start), lag=timedelta(minutes=args.lag), **options
    )
    pipeline = loading.duckdb_pipeline(args.path, pipeline_name=args.pipeline_name)
    with _escaped_last_resort(console):
        counts = loading.run(pipeline, source)
    for table, count in sorted(counts.items()):
        print(f"{table}\t{count}")
    print(f"aiotofu: loaded into {args.path} (dataset {loading.DATASET})", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
