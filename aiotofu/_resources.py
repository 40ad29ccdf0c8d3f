"""``client.batches``, ``client.runs``...: every resource's ``list()``, ``resume()``,
``watch()`` (where it has one), ``plan()``, ``shards()`` and ``read()`` (where it can be sharded:
see ``_shards.shardable``), and ``client.users``.

Listing and watching are the engine's (``_listings``), driven by each endpoint's value; their
keyword parameters are derived (``_facades``) from the classes each endpoint module declares
(``aiotofu/endpoints/``), so that this module names no filter: a resource is its endpoint, its
``list`` and, where it has one, its ``watch``.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from ._endpoint import Endpoint
from ._facades import listing, planning, sharding, watching
from ._filters import Filters
from ._listings import EndpointEngine
from ._log_watch import watch_logs
from ._models import (
    Batch,
    Deployment,
    Log,
    Measurement,
    Part,
    Phase,
    Procedure,
    Run,
    Station,
    Unit,
    User,
)
from ._options import DEFAULT_PAGE_SIZE
from ._paginate import Paginator
from ._planning import ShardSearch
from ._requester import Requester
from ._sansio import decode_records
from ._shardreader import ShardReader
from ._shards import Shard
from ._watch import Watcher
from .endpoints import (
    BATCHES,
    DEPLOYMENTS,
    LOGS,
    MEASUREMENTS,
    PARTS,
    PHASES,
    PROCEDURES,
    RUNS,
    STATIONS,
    UNITS,
    BatchFilters,
    DeploymentFilters,
    LogFilters,
    MeasurementFilters,
    PartFilters,
    PhaseFilters,
    ProcedureFilters,
    RunFilters,
    StationFilters,
    UnitFilters,
)
from .endpoints.batches import BatchList, BatchPlan, BatchWatch
from .endpoints.deployments import DeploymentList
from .endpoints.logs import LogList, LogPlan, LogWatch
from .endpoints.measurements import MeasurementList
from .endpoints.parts import PartList
from .endpoints.phases import PhaseList
from .endpoints.procedures import ProcedureList
from .endpoints.runs import RunList, RunPlan, RunWatch
from .endpoints.stations import StationList
from .endpoints.units import UnitList, UnitPlan, UnitWatch
from .errors import InvalidParameterError

__all__ = [
    "Batches",
    "Deployments",
    "Logs",
    "Measurements",
    "Parts",
    "Phases",
    "Procedures",
    "Runs",
    "Stations",
    "Units",
    "Users",
]

T = TypeVar("T")
F = TypeVar("F", bound=Filters)


class _Resource(Generic[T, F]):
    """What every listed resource shares: its engine, its repr and ``resume()``."""

    endpoint: ClassVar[Endpoint[Any, Any]]

    def __init_subclass__(cls) -> None:
        # A facade declared for another endpoint would check the wrong filters: refused here.
        # And it is this class's method (its name in help(), in errors, to pickle).
        for name in ("list", "watch", "plan", "shards"):
            method: Any = cls.__dict__.get(name)
            parameters = getattr(method, "parameters", None)
            if parameters is not None:
                parameters.check(cls.endpoint, watch=name == "watch")
                method.__qualname__ = f"{cls.__qualname__}.{name}"
                method.__module__ = cls.__module__

    def __init__(self, requester: Requester) -> None:
        self._listings: EndpointEngine[T, F] = EndpointEngine(self.endpoint, requester)

    def __repr__(self) -> str:
        return f"<aiotofu {self.endpoint.name} of {self._listings.requester.base_url}>"

    def resume(
        self, token: str, *, max_items: int | None = None, prefetch: int = 2
    ) -> Paginator[T]:
        """Continue a listing just after the last record its ``resume_token`` had yielded.

        The token carries the filters, the page size, the consistency pin and the last record
        handed out, which the first page is checked against; ``max_items`` and ``prefetch``
        apply to this run. A malformed or altered token raises InvalidParameterError.
        """
        return self._listings.resume(token, max_items=max_items, prefetch=prefetch)

    def _list(self, filters: F, **options: Any) -> Paginator[T]:
        """The listing of ``filters`` (checked) with the listing options (checked there)."""
        return self._listings.list(filters, **options)

    def _watch(
        self,
        filters: F,
        *,
        poll_interval: float,
        since: datetime | None,
        page_size: int,
        resume_token: str | None,
        lookback: timedelta | float,
    ) -> Watcher[T]:
        """A watch of ``filters``, or one resumed from its token (which carries them)."""
        if resume_token is not None:
            named = ["since"] * (since is not None) + list(filters.to_json())
            # Filters with the API's default (sent always) are not the caller's doing.
            named = [name for name in named if name == "since" or _is_set(filters, name)]
            if named:
                raise InvalidParameterError(
                    named[0], "the resume token carries the filters and the position"
                )
            if lookback:
                raise InvalidParameterError("lookback", "the resume token carries the look-back")
            return self._listings.resume_watch(resume_token, poll_interval=poll_interval)
        return self._listings.watch(
            filters,
            poll_interval=poll_interval,
            since=since,
            page_size=page_size,
            lookback=lookback,
        )


class _Sharded(Generic[T, F]):
    """What a resource whose listing can be cut in time adds (``plan``, ``shards``, ``read``;
    each class declares the first two from its endpoint's ``...Plan`` class): a mixin of
    ``_Resource``, whose engine it uses."""

    _listings: EndpointEngine[T, F]

    def read(
        self,
        shard: Shard,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        prefetch: int = 2,
        budget: int | None = None,
    ) -> ShardReader[T]:
        """Every record of ``shard`` (from ``plan()`` or ``shards()`` of this resource, or
        ``Shard.from_json()``), oldest first, each exactly once, with the guarantees of one
        listing: the records that match its filters and whose time ``t`` (to the millisecond,
        as the API answers it) satisfies ``shard.start <= t < shard.end``. A normal Paginator:
        ``pages()``, ``collect()``, prefetch, and a ``resume_token`` that ``resume()``
        continues. A shard of another resource raises InvalidParameterError.

        Stragglers: with ``budget=N`` the read stops after N records; wherever it stops
        (the budget, a ``break``), ``remainder`` is a Shard of what it has not handed out,
        None once it has read the shard to its end. Read the remainder anywhere (or
        ``split()`` it for two workers): with what was handed out, it is the shard's read.
        """
        return self._listings.read(shard, page_size=page_size, prefetch=prefetch, budget=budget)

    def _shards(self, filters: F, *, target_size: int) -> ShardSearch:
        """The shards of the listing of ``filters`` (checked), as they are found."""
        return self._listings.shards(filters, target_size=target_size)


def _is_set(filters: Filters, name: str) -> bool:
    """Whether filter ``name`` differs from its default (None, or the API's default)."""
    default = attrs.fields_dict(type(filters))[name].default
    return bool(getattr(filters, name) != default)


class Batches(_Resource[Batch, BatchFilters], _Sharded[Batch, BatchFilters]):
    """The batches of a TofuPilot organisation: ``client.batches``."""

    endpoint = BATCHES
    list = listing(BatchList)
    watch = watching(BatchWatch)
    plan = planning(BatchPlan)
    shards = sharding(BatchPlan)


class Units(_Resource[Unit, UnitFilters], _Sharded[Unit, UnitFilters]):
    """The units of a TofuPilot organisation: ``client.units``."""

    endpoint = UNITS
    list = listing(UnitList)
    watch = watching(UnitWatch)
    plan = planning(UnitPlan)
    shards = sharding(UnitPlan)


class Runs(_Resource[Run, RunFilters], _Sharded[Run, RunFilters]):
    """The runs of a TofuPilot organisation: ``client.runs``."""

    endpoint = RUNS
    list = listing(RunList)
    watch = watching(RunWatch)
    plan = planning(RunPlan)
    shards = sharding(RunPlan)


class Parts(_Resource[Part, PartFilters]):
    """The parts of a TofuPilot organisation: ``client.parts``."""

    endpoint = PARTS
    list = listing(PartList)


class Procedures(_Resource[Procedure, ProcedureFilters]):
    """The procedures of a TofuPilot organisation: ``client.procedures``."""

    endpoint = PROCEDURES
    list = listing(ProcedureList)


class Stations(_Resource[Station, StationFilters]):
    """The test stations of a TofuPilot organisation: ``client.stations``."""

    endpoint = STATIONS
    list = listing(StationList)


class Deployments(_Resource[Deployment, DeploymentFilters]):
    """The deployments of a TofuPilot organisation: ``client.deployments``."""

    endpoint = DEPLOYMENTS
    list = listing(DeploymentList)


class Logs(_Resource[Log, LogFilters], _Sharded[Log, LogFilters]):
    """The logs of a TofuPilot organisation: ``client.logs``."""

    endpoint = LOGS
    list = listing(LogList)
    watch = watching(LogWatch)
    plan = planning(LogPlan)
    shards = sharding(LogPlan)

    def _watch(self, filters: LogFilters, **options: Any) -> Watcher[Log]:
        """A watch of lines follows runs by their upload time (see ``_log_watch``)."""
        return watch_logs(self._listings, filters, **options)


class Phases(_Resource[Phase, PhaseFilters]):
    """The phases of a TofuPilot organisation: ``client.phases``."""

    endpoint = PHASES
    list = listing(PhaseList)


class Measurements(_Resource[Measurement, MeasurementFilters]):
    """The measurements of a TofuPilot organisation: ``client.measurements``."""

    endpoint = MEASUREMENTS
    list = listing(MeasurementList)


class Users:
    """The members of a TofuPilot organisation: ``client.users``."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    def __repr__(self) -> str:
        return f"<aiotofu users of {self._requester.base_url}>"

    async def list(self) -> list[User]:
        """Every member, in one request (``GET /v2/users`` is not paginated)."""
        request = self._requester.request("/v2/users")
        return await self._requester.send(request, functools.partial(decode_records, cls=User))
