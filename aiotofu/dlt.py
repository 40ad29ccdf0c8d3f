"""TofuPilot into any dlt destination: ``aiotofu.dlt.source()`` is a dlt source, one resource
per endpoint (extra ``aiotofu[dlt]``; ``import aiotofu`` never imports dlt).

::

    pipeline = dlt.pipeline("tofupilot", destination="duckdb")
    pipeline.run(aiotofu.dlt.source(resources=("runs", "measurements")))

How each resource loads, again and again, without losing or doubling a record:

- ``batches``, ``units`` and ``runs`` are incremental on ``created_at``, the time the server
  recorded the record (for runs the upload, never ``started_at``: stations upload late). Each
  load lists oldest first from the newest ``created_at`` the last one saw, less ``lag``, with
  ``dlt.sources.incremental(..., lag=...)``: a record stamped in the past (a late commit, a
  backfill) that lands within ``lag`` of the newest one is loaded by the next load. dlt turns
  its own boundary deduplication off when ``lag`` is set, so the records of the window come
  twice and the ``merge`` on ``id`` keeps one of each.
- ``procedures``, ``parts``, ``stations`` and ``deployments`` (no creation order the API can
  list by: a procedure's ``created_at`` has no order parameter, the others no creation time)
  are ``merge`` over a full listing: few records, each load replaces them by ``id``.
- ``logs`` follow the runs: the lines of every run a load lists (``run_ids`` of each page of
  runs), since a line's ``created_at`` is the station's clock, not the upload's.
- ``phases`` and ``measurements`` need a ``procedure_id``: each load lists the procedures and,
  for each, its phases (or measurements) incremental on ``started_at``, the only time they
  carry, from the newest start loaded less ``lookback`` (default one day). A run uploaded more
  than ``lookback`` after its newest phase started is missed by later loads (the first load,
  with no state, takes everything); phases that never started (skipped, ``started_at`` null)
  are loaded only by a load that starts from ``start`` (the first one).

Every listing is aiotofu's (re-anchored, verified continuity, retries), so a load under
concurrent deletions and uploads loses nothing that existed throughout it.

Async resources run on dlt's own event loop in a thread of its own: each generator opens its
``aiotofu.Client`` inside itself, on that loop, and closes it when it ends. Resources yield whole
pages (lists of rows), as dlt advises for speed.

The key: ``api_key=``, else dlt's secrets (``sources.tofupilot.api_key``, e.g. in
``.dlt/secrets.toml`` or ``SOURCES__TOFUPILOT__API_KEY``), else ``TOFUPILOT_API_KEY``; the base
URL likewise (``base_url=``, ``sources.tofupilot.base_url``, ``TOFUPILOT_URL``). The key is
read once, when the source is made, kept out of every repr, and never given to dlt's state.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

try:
    import dlt
    from dlt.extract.source import DltSource
    from dlt.pipeline.pipeline import Pipeline
except ImportError as exc:  # pragma: no cover - the suite installs the extra
    raise ImportError(
        f"aiotofu.dlt needs dlt: pip install 'aiotofu[dlt]' ({exc})", name=exc.name
    ) from exc

import attrs

from ._client import API_KEY_ENV, BASE_URL_ENV, Client
from ._convert import format_duration, to_dict
from ._filters import check_int
from ._options import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from ._tls import CertOption, VerifyOption
from .errors import InvalidParameterError, TofuPilotError

__all__ = ["DATASET", "INCREMENTAL", "RESOURCES", "duckdb_pipeline", "run", "source"]

SECTION = "tofupilot"
"""dlt's name for the source, and the section its secrets and config are read from."""

DATASET = "tofupilot_data"
"""The dataset (a DuckDB schema) ``duckdb_pipeline`` loads into: not ``tofupilot``, because
DuckDB names a file's catalog after the file, and a ``tofupilot.duckdb`` holding a schema
``tofupilot`` makes every ``tofupilot.runs`` ambiguous (dlt's load then fails)."""

INCREMENTAL = ("batches", "units", "runs")
"""The resources listed incrementally on the server's creation time, ``created_at``."""

FULL = ("procedures", "parts", "stations", "deployments")
"""The resources merged over a full listing on every load."""

BY_PROCEDURE = ("phases", "measurements")
"""The resources listed per procedure, incremental on ``started_at`` with a look-back."""

RESOURCES = (*INCREMENTAL, *FULL, "logs", *BY_PROCEDURE)
"""Every resource of the source, in the order a load extracts them."""

# The runs of one page asked for their lines at once: a query string stays a few KB.
_RUNS_PER_LOG_QUERY = 50


def _row(record: Any) -> dict[str, Any]:
    """A record as a dlt row: ``aiotofu.to_dict`` (plain dicts, lists and scalars, datetimes
    kept as datetimes: what dlt types as timestamps, and what an incremental cursor compares),
    with durations as the API writes them (``PT12.5S``): dlt has no type for a duration, and
    fails on a ``timedelta``."""
    row: dict[str, Any] = _durations_as_text(to_dict(record))
    return row


def _durations_as_text(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, dict):
        return {key: _durations_as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_durations_as_text(item) for item in value]
    return value


@attrs.frozen
class _Connection:
    """Where and with which key the resources list: the key out of every repr."""

    api_key: str = attrs.field(repr=False)
    base_url: str | None
    page_size: int
    verify: VerifyOption = True
    cert: CertOption = None

    def client(self) -> Client:
        return Client(self.api_key, base_url=self.base_url, verify=self.verify, cert=self.cert)


def source(
    *,
    resources: Iterable[str] = RESOURCES,
    start: datetime | None = None,
    lag: timedelta = timedelta(minutes=10),
    lookback: timedelta = timedelta(days=1),
    api_key: str | None = None,
    base_url: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    verify: VerifyOption = True,
    cert: CertOption = None,
) -> DltSource:
    """A dlt source of TofuPilot's records, one resource per name in ``resources`` (any of
    ``RESOURCES``; by default all of them), each a table merged on ``id``.

    ``start`` (an aware datetime): the first load takes the records created at or after it
    (phases and measurements: started), None everything. ``lag``: how far behind the newest
    ``created_at`` loaded each later load starts again, for records stamped in the past that
    arrive late. ``lookback``: the same for phases and measurements, on ``started_at``.
    ``api_key`` and ``base_url``: see the module's documentation; ``page_size`` the records per
    request (1..100); ``verify`` and ``cert``: TLS, as ``aiotofu.Client`` takes them (a private
    certificate authority, a client certificate).

    Every argument is checked here: InvalidParameterError naming the one that is wrong; no key
    anywhere is a TofuPilotError naming where it was looked for.
    """
    names = _names(resources)
    if start is not None and (not isinstance(start, datetime) or start.utcoffset() is None):
        raise InvalidParameterError("start", f"expected an aware datetime or None, got {start!r}")
    for name, window in (("lag", lag), ("lookback", lookback)):
        if not isinstance(window, timedelta) or window < timedelta(0):
            raise InvalidParameterError(name, f"expected a timedelta >= 0, got {window!r}")
    check_int("page_size", page_size, 1, MAX_PAGE_SIZE)
    connection = _Connection(_api_key(api_key), _base_url(base_url), page_size, verify, cert)
    # Made once here, unopened, so that a bad TLS option (a missing CA file) fails now, not in
    # dlt's extract thread.
    connection.client()

    runs = _created(connection, "runs", start, lag)
    made: dict[str, Any] = {}
    for name in names:
        if name in INCREMENTAL:
            made[name] = runs if name == "runs" else _created(connection, name, start, lag)
        elif name in FULL:
            made[name] = _full(connection, name)
        elif name == "logs":
            made[name] = runs | _logs(connection)
        else:
            made[name] = _by_procedure(connection, name, start, lookback)
    if "logs" in names and "runs" not in names:
        runs.selected = False  # it feeds the lines, and loads nothing itself

    @dlt.source(name=SECTION)
    def tofupilot() -> list[Any]:
        return [made[name] for name in names]

    made_source: DltSource = tofupilot()
    return made_source


def duckdb_pipeline(
    path: str | os.PathLike[str],
    *,
    pipeline_name: str | None = None,
    pipelines_dir: str | os.PathLike[str] | None = None,
) -> Pipeline:
    """The dlt pipeline ``aiotofu load`` runs: into the DuckDB file ``path``, dataset
    ``DATASET`` (``tofupilot_data``). Its name (which keys the incremental state dlt keeps
    in ``pipelines_dir``, by default dlt's own) is one per file unless given, so that the
    state of one database never makes a load into another skip what that one never
    received."""
    resolved = Path(path).resolve()
    if resolved.stem == DATASET:
        raise InvalidParameterError("path", f"a file named {DATASET} hides the dataset: rename it")
    name = pipeline_name or "aiotofu_" + hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    where: dict[str, Any] = {} if pipelines_dir is None else {"pipelines_dir": str(pipelines_dir)}
    made: Pipeline = dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(resolved)),
        dataset_name=DATASET,
        **where,
    )
    return made


def run(pipeline: Pipeline, source: DltSource) -> dict[str, int]:
    """Run ``pipeline`` on ``source``; the rows loaded per table (dlt's own tables left out).

    A load that fails because of TofuPilot (a refused key, the network, retries run out)
    raises aiotofu's own error, not dlt's wrapper around it; anything else raises a
    TofuPilotError with the first line of dlt's message (the key is in no dlt message: it
    never reaches dlt).
    """
    try:
        pipeline.run(source)
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, TofuPilotError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, TofuPilotError):
            raise cause from None
        text = str(exc).strip()
        first_line = text.splitlines()[0] if text else ""
        raise TofuPilotError(f"the load failed: {type(exc).__name__}: {first_line}") from exc
    trace = pipeline.last_trace
    info = None if trace is None else trace.last_normalize_info
    counts = {} if info is None else info.row_counts
    return {table: count for table, count in counts.items() if not table.startswith("_dlt")}


def _names(resources: Iterable[str]) -> tuple[str, ...]:
    if isinstance(resources, str):
        resources = [resources]
    try:
        names = tuple(dict.fromkeys(resources))
    except TypeError:
        raise InvalidParameterError(
            "resources", f"expected names of resources, got {resources!r}"
        ) from None
    unknown = [name for name in names if name not in RESOURCES]
    if unknown or not names:
        raise InvalidParameterError(
            "resources", f"expected some of {', '.join(RESOURCES)}; got {unknown or 'none'}"
        )
    return names


def _api_key(explicit: str | None) -> str:
    if explicit is not None:
        if not isinstance(explicit, str) or not explicit:
            raise InvalidParameterError("api_key", "expected a non-empty string")
        return explicit
    found: Any = dlt.secrets.get(f"sources.{SECTION}.api_key") or os.environ.get(API_KEY_ENV)
    if not found:
        raise TofuPilotError(
            f"no API key: pass api_key=..., set sources.{SECTION}.api_key in dlt's secrets "
            f"(SOURCES__{SECTION.upper()}__API_KEY) or the environment variable {API_KEY_ENV}"
        )
    return str(found)


def _base_url(explicit: str | None) -> str | None:
    if explicit is not None:
        return explicit
    found: Any = dlt.config.get(f"sources.{SECTION}.base_url") or os.environ.get(BASE_URL_ENV)
    return str(found) if found else None  # None: the Client's default


def _created(connection: _Connection, name: str, start: datetime | None, lag: timedelta) -> Any:
    """An incremental resource on ``created_at``: oldest first from the cursor less ``lag``."""

    # dlt reads an incremental from the default of the generator's argument (and binds a copy
    # of it to the pipeline's state); built here, as the decorator form builds it at import.
    cursor = dlt.sources.incremental[datetime](
        "created_at", initial_value=start, lag=lag.total_seconds()
    )

    async def pages(
        created: dlt.sources.incremental[datetime] = cursor,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        async with connection.client() as client:
            listing = getattr(client, name).list(
                created_after=created.start_value,
                sort_by="created_at",
                sort_order="asc",
                page_size=connection.page_size,
            )
            async with listing:
                async for page in listing.pages():
                    yield [_row(record) for record in page.items]

    return dlt.resource(pages, name=name, write_disposition="merge", primary_key="id")


def _full(connection: _Connection, name: str) -> Any:
    """A resource merged over a full listing."""

    async def pages() -> AsyncIterator[list[dict[str, Any]]]:
        async with connection.client() as client:
            listing = getattr(client, name).list(page_size=connection.page_size)
            async with listing:
                async for page in listing.pages():
                    yield [_row(record) for record in page.items]

    return dlt.resource(pages, name=name, write_disposition="merge", primary_key="id")


def _logs(connection: _Connection) -> Any:
    """The lines of each page of runs, fed by the runs resource."""

    async def lines(runs: Sequence[dict[str, Any]]) -> AsyncIterator[list[dict[str, Any]]]:
        ids = [run["id"] for run in runs]
        async with connection.client() as client:
            for first in range(0, len(ids), _RUNS_PER_LOG_QUERY):
                listing = client.logs.list(
                    run_ids=ids[first : first + _RUNS_PER_LOG_QUERY],
                    page_size=connection.page_size,
                )
                async with listing:
                    async for page in listing.pages():
                        yield [_row(record) for record in page.items]

    return dlt.transformer(lines, name="logs", write_disposition="merge", primary_key="id")


def _by_procedure(
    connection: _Connection, name: str, start: datetime | None, lookback: timedelta
) -> Any:
    """Phases or measurements: each procedure's, incremental on ``started_at``."""

    cursor = dlt.sources.incremental[datetime](
        "started_at",
        initial_value=start,
        lag=lookback.total_seconds(),
        on_cursor_value_missing="include",  # a phase that never started: kept, not an error
    )

    async def pages(
        started: dlt.sources.incremental[datetime] = cursor,
    ) -> AsyncIterator[list[dict[str, Any]]]:
        async with connection.client() as client:
            procedures = await client.procedures.list(page_size=MAX_PAGE_SIZE).collect()
            for procedure in procedures:
                listing = getattr(client, name).list(
                    procedure_id=procedure.id,
                    started_after=started.start_value,
                    sort_by="started_at",
                    sort_order="asc",
                    page_size=connection.page_size,
                )
                async with listing:
                    async for page in listing.pages():
                        yield [
                            _row(record) | {"procedure_id": procedure.id} for record in page.items
                        ]

    # A limit is a number, a boolean or a string: one text column whatever a load meets first
    # (dlt would otherwise type it from the first value and add variant columns for the rest).
    hints: dict[str, Any] = {}
    if name == "measurements":
        limit = dlt.mark.make_nested_hints(
            columns=[{"name": "expected_value", "data_type": "text"}]
        )
        hints["nested_hints"] = {"validators": limit}
    return dlt.resource(pages, name=name, write_disposition="merge", primary_key="id", **hints)
