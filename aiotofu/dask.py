"""A plan's shards read on Dask: ``aiotofu.dask.read(plan)`` is a ``dask.bag.Bag`` of records,
``aiotofu.dask.read_dataframe(plan)`` a ``dask.dataframe.DataFrame`` of their flat columns, one
partition per shard (extra ``aiotofu[dask]``, and ``aiotofu[pandas]`` for the dataframe;
``import aiotofu`` never imports Dask).

::

    plan = await client.runs.plan(target_size=20_000)
    runs = aiotofu.dask.read(plan)             # a Bag of aiotofu.Run, len(plan.shards) partitions
    failed = runs.filter(lambda run: run.outcome == "FAIL").count().compute()
    frame = aiotofu.dask.read_dataframe(plan)  # the columns of aiotofu.schema(aiotofu.Run)
    per_outcome = frame.groupby("outcome", observed=True).size().compute()

Each partition is one task that opens a fresh ``aiotofu.Client`` in ``asyncio.run`` on the thread
the worker gives it, reads its shard with ``client.<resource>.read(shard)`` and returns the
records as a list; the client is closed before the task returns. The worker's own event loop
(its heartbeats, its transfers) is never used, so a slow read cannot stall the worker.

The API key never enters the task graph: each task resolves it on its worker, from
``TOFUPILOT_API_KEY`` in that worker's environment, as ``aiotofu.Client()`` does. Passing
``api_key=`` puts the key in the graph (sent to the scheduler and every worker, kept in their
memory and wherever the graph is written): do it only where that is acceptable.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

try:
    import dask.bag
    from dask.base import tokenize
    from dask.delayed import Delayed, delayed
except ImportError as exc:  # pragma: no cover - the suite installs the extra
    raise ImportError(
        f"aiotofu.dask needs Dask: pip install 'aiotofu[dask]' ({exc})", name=exc.name
    ) from exc

from ._client import API_KEY_ENV, DEFAULT_BASE_URL, Client
from ._filters import check_int
from ._listings import MAX_PREFETCH
from ._options import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from ._shards import Plan, Shard
from .endpoints import ENDPOINTS
from .errors import InvalidParameterError, TofuPilotError

if TYPE_CHECKING:  # read_dataframe imports it: a bag needs neither pandas nor pyarrow
    import dask.dataframe

__all__ = ["read", "read_dataframe"]

T = TypeVar("T")

# What a task may hand to its Client: plain configuration that pickles. A session or a
# transport belongs to one event loop in one process, and each task runs its own.
_CLIENT_OPTIONS = (
    "api_key",
    "max_concurrency",
    "adaptive",
    "rate_limit",
    "retry",
    "timeout",
    "trust_env",
    "on_retry",
)
_PER_LOOP = {
    "session": "an aiohttp session belongs to one event loop, and each task runs its own",
    "transport": "a transport belongs to one event loop, and each task runs its own",
}


def read(
    plan: Plan,
    *,
    base_url: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    prefetch: int = 2,
    **client_options: Any,
) -> dask.bag.Bag:
    """The records of ``plan`` as a ``dask.bag.Bag``, one partition per shard, in the plan's
    order (each partition oldest first): together every record of the plan, each once, as
    ``client.<resource>.read(shard)`` yields them.

    Nothing is read until the bag is computed. Each task opens a fresh ``aiotofu.Client`` on
    its worker with ``base_url`` (None: the worker's ``TOFUPILOT_URL``, else TofuPilot's) and
    ``client_options`` (``max_concurrency``, ``adaptive``, ``rate_limit``, ``retry``,
    ``timeout``, ``trust_env``, ``on_retry``: they travel in the task graph, so they must
    pickle), reads its shard with ``page_size`` and ``prefetch``, and closes the client.
    Each task's client is a client of its own: ``rate_limit`` holds each task, so a cluster
    running N tasks at once on one key may send N times that (divide it by N to hold the key).

    The key: workers resolve it from ``TOFUPILOT_API_KEY`` in their own environment, and it
    never enters the task graph. ``api_key=`` given here does enter it: it is sent to the
    scheduler and to every worker with the tasks.

    Every argument is checked here, before anything is sent to a cluster:
    InvalidParameterError naming the one that is wrong.
    """
    parts = _tasks(plan, _read_shard, "read", base_url, page_size, prefetch, client_options)
    bag: dask.bag.Bag = dask.bag.from_delayed(parts)  # type: ignore[no-untyped-call]
    return bag


def read_dataframe(
    plan: Plan,
    *,
    base_url: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    prefetch: int = 2,
    **client_options: Any,
) -> dask.dataframe.DataFrame:
    """The records of ``plan`` as a ``dask.dataframe.DataFrame``: the flat columns of
    ``aiotofu.schema()`` of the plan's records, with ``to_pandas()``'s dtypes, one partition
    per shard, in the plan's order (each partition oldest first, with an index of its own).

    The same tasks as ``read()`` (the same arguments, the same rules for the key), each
    making its shard's records a pandas DataFrame page by page. The frame's ``meta`` comes
    from the schema, so Dask never reads a partition to learn the columns. Needs pandas and
    pyarrow (``pip install 'aiotofu[dask,pandas]'``).
    """
    from ._tables import TableBuilder, to_pandas

    try:
        import dask.dataframe
    except ImportError as exc:
        raise ImportError(
            "aiotofu.dask.read_dataframe needs dask.dataframe: "
            f"pip install 'aiotofu[dask,pandas]' ({exc})",
            name=exc.name,
        ) from exc
    if not isinstance(plan, Plan):
        raise InvalidParameterError("plan", f"expected an aiotofu.Plan, got {type(plan).__name__}")
    cls = _model(plan.resource)
    meta = to_pandas(TableBuilder(cls).table(), cls)
    parts = _tasks(plan, _read_frame, "frame", base_url, page_size, prefetch, client_options)
    if not parts:  # a plan of an empty listing: one empty partition with the columns
        empty: dask.dataframe.DataFrame = dask.dataframe.from_pandas(  # type: ignore[no-untyped-call]
            meta, npartitions=1
        )
        return empty
    frame: dask.dataframe.DataFrame = dask.dataframe.from_delayed(parts, meta=meta)
    return frame


def _model(resource: str) -> type[Any]:
    for endpoint in ENDPOINTS:
        if endpoint.name == resource:
            return endpoint.model
    raise InvalidParameterError("plan", f"no resource named {resource!r}")


def _tasks(
    plan: Plan,
    task: Callable[[Shard, dict[str, Any]], Any],
    kind: str,
    base_url: str | None,
    page_size: int,
    prefetch: int,
    client_options: dict[str, Any],
) -> list[Delayed]:
    """One task per shard of ``plan``, each running ``task(shard, options)`` on a worker;
    every argument checked here first."""
    if not isinstance(plan, Plan):
        raise InvalidParameterError("plan", f"expected an aiotofu.Plan, got {type(plan).__name__}")
    if "api_key" in client_options and client_options["api_key"] is None:
        del client_options["api_key"]  # as Client(api_key=None): the worker's environment
    for name in client_options:
        if name in _PER_LOOP:
            raise InvalidParameterError(name, f"not with aiotofu.dask: {_PER_LOOP[name]}")
        if name not in _CLIENT_OPTIONS:
            raise InvalidParameterError(
                name, f"not an option of aiotofu.dask.read(): expected one of {_CLIENT_OPTIONS}"
            )
    check_int("page_size", page_size, 1, MAX_PAGE_SIZE)
    check_int("prefetch", prefetch, 0, MAX_PREFETCH)
    # A client built here and dropped unopened (it opens nothing before its first request)
    # checks the options as a worker's will, so that a typo fails now rather than on every task.
    Client(
        **{"api_key": "checked-on-the-worker", **client_options},
        base_url=DEFAULT_BASE_URL if base_url is None else base_url,
    )
    options = {"base_url": base_url, "page_size": page_size, "prefetch": prefetch}
    options.update(client_options)
    # The graph's names are a hash of what the tasks do, never of the key: a graph that holds
    # one is named at random instead, so that two of them with different keys never merge.
    public = {k: v for k, v in options.items() if k != "api_key"}
    token = tokenize(plan.to_json(), sorted(public.items(), key=lambda item: item[0]))
    if "api_key" in options:
        token = f"{token}-{uuid.uuid4().hex}"
    return [
        delayed(task, pure=True)(
            shard, options, dask_key_name=f"aiotofu-{kind}-{plan.resource}-{token}-{index}"
        )
        for index, shard in enumerate(plan.shards)
    ]


def _read_shard(shard: Shard, options: dict[str, Any]) -> list[Any]:
    """One task: the records of ``shard``, read by a client of its own on this worker."""
    return _on_worker(shard, options, lambda listing: listing.collect())


def _read_frame(shard: Shard, options: dict[str, Any]) -> Any:
    """One task of ``read_dataframe``: the records of ``shard`` as a pandas DataFrame."""
    return _on_worker(shard, options, lambda listing: listing.to_pandas())


def _on_worker(
    shard: Shard, options: dict[str, Any], take: Callable[[Any], Coroutine[Any, Any, T]]
) -> T:
    """Read ``shard`` with a client of its own on this worker; ``take`` makes the result of
    its listing (a Paginator)."""
    options = dict(options)
    page_size, prefetch = options.pop("page_size"), options.pop("prefetch")
    if options.get("api_key") is None and not os.environ.get(API_KEY_ENV):
        raise TofuPilotError(
            f"no API key on this Dask worker: set {API_KEY_ENV} in the environment of every "
            "worker (or pass api_key= to aiotofu.dask.read(), which puts it in the task graph)"
        )

    async def collect() -> T:
        async with Client(**options) as client:
            listing = getattr(client, shard.resource).read(
                shard, page_size=page_size, prefetch=prefetch
            )
            return await take(listing)

    return _run(collect)


def _run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())`` on this thread, or, when this thread already runs an event loop
    (the synchronous scheduler called from async code; a task someone runs on a worker's
    loop), on a thread of its own: never on a loop that something else is driving."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(1, thread_name_prefix="aiotofu-dask") as pool:
        return pool.submit(lambda: asyncio.run(main())).result()
