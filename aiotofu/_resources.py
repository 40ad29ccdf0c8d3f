"""``client.batches``, ``client.runs``...: every resource's ``list()``, ``resume()`` and
``watch()`` (where it has one), and ``client.users``.

Listing and watching are the engine's (``_listings``), driven by each endpoint's value
(``aiotofu/endpoints/``); this module gives them precise keyword parameters for type checkers
and IDEs (a test holds each signature to its endpoint's filters class).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Literal, TypeVar

import attrs

from ._endpoint import Endpoint
from ._filters import Filters
from ._listings import Listings
from ._log_watch import watch_logs
from ._models import (
    Batch,
    BuildStatus,
    Deployment,
    Environment,
    Log,
    LogLevel,
    Measurement,
    MeasurementOutcome,
    MeasurementType,
    Outcome,
    Part,
    Phase,
    PhaseOutcome,
    Procedure,
    Run,
    Sample,
    SampleFilter,
    Station,
    Unit,
    User,
)
from ._paginate import Paginator
from ._params import SortBy, SortOrder
from ._requester import Requester
from ._sansio import decode_records
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

    def __init__(self, requester: Requester) -> None:
        self._listings: Listings[T, F] = Listings(self.endpoint, requester)

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


def _is_set(filters: Filters, name: str) -> bool:
    """Whether filter ``name`` differs from its default (None, or the API's default)."""
    default = attrs.fields_dict(type(filters))[name].default
    return bool(getattr(filters, name) != default)


class Batches(_Resource[Batch, BatchFilters]):
    """The batches of a TofuPilot organisation: ``client.batches``."""

    endpoint = BATCHES

    def list(
        self,
        *,
        ids: str | Iterable[str] | None = None,
        numbers: str | Iterable[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        search_query: str | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        sort_by: SortBy = "created_at",
        sort_order: SortOrder = "desc",
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Batch]:
        """Stream the batches that match every given filter, following the cursor for you.

        Filters are TofuPilot's (``GET /v2/batches``): ``ids``, ``numbers``, ``part_numbers`` and
        ``revision_numbers`` take a string or a list of strings; ``created_after`` and
        ``created_before`` are inclusive and must be timezone-aware; ``search_query`` matches a
        batch number or a unit serial number. ``page_size`` is the API's ``limit`` (1..100),
        ``max_items`` stops after that many records, ``cursor`` is the offset to start from and
        ``prefetch`` the number of pages requested ahead of the consumer (0: one request at a time).

        Every argument is checked here, before any request: a bad one raises
        InvalidParameterError naming it. Records created by others while the stream runs do not
        make it repeat or skip a record (see the README's "Guarantees").
        """
        filters = BatchFilters(
            ids=ids,
            numbers=numbers,
            created_after=created_after,
            created_before=created_before,
            search_query=search_query,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
        )
        return self._list(
            filters,
            sort_by=sort_by,
            sort_order=sort_order,
            page_size=page_size,
            max_items=max_items,
            cursor=cursor,
            prefetch=prefetch,
        )

    def watch(
        self,
        *,
        poll_interval: float = 30.0,
        since: datetime | None = None,
        ids: str | Iterable[str] | None = None,
        numbers: str | Iterable[str] | None = None,
        search_query: str | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        page_size: int = 100,
        resume_token: str | None = None,
        lookback: timedelta | float = 0.0,
    ) -> Watcher[Batch]:
        """Yield batches as they are created, oldest first, each exactly once, until you stop.

        Batches created after ``since`` (timezone-aware); by default after the newest batch that
        exists when watching starts (when the watch is entered with ``async with`` or first
        iterated, whichever comes first), as the server reports it, so a skewed local clock
        loses nothing. Polls every ``poll_interval`` seconds once it has
        caught up. The filters are those of ``list()``. Transient errors are retried per the
        client's RetryPolicy; if one outlasts it, it is raised, and iterating again carries on
        from the same position.

        ``resume_token`` (from ``watcher.resume_token``) continues a watch where it stopped,
        with its filters: give no ``since`` and no filters with it.

        ``lookback`` (a timedelta, or seconds) also yields batches that become visible late
        with a ``created_at`` up to that much older than the newest already yielded (a slow
        commit, a station clock behind): each poll re-reads that window, and ids yielded in it
        are remembered so that none is yielded twice. Zero by default.
        """
        filters = BatchFilters(
            ids=ids,
            numbers=numbers,
            search_query=search_query,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
        )
        return self._watch(
            filters,
            poll_interval=poll_interval,
            since=since,
            page_size=page_size,
            resume_token=resume_token,
            lookback=lookback,
        )


class Parts(_Resource[Part, PartFilters]):
    """The parts of a TofuPilot organisation: ``client.parts``."""

    endpoint = PARTS

    def list(
        self,
        *,
        search_query: str | None = None,
        procedure_ids: str | Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        sort_by: Literal["created_at", "name", "number"] = "created_at",
        sort_order: SortOrder = "desc",
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Part]:
        """Stream the parts that match every given filter, following the cursor for you.

        ``search_query`` matches a part number or name; ``procedure_ids`` takes a string or a
        list; ``metadata`` filters on custom metadata (at most 5 keys, each ``{"in": [...]}``,
        ``{"contains": "..."}``, ``{"eq": bool}`` or numbers under ``gte``/``lte``/``gt``/
        ``lt``/``eq``); ``include_metadata`` returns each part's metadata. The other arguments
        are those of ``client.batches.list()``. Parts have no time filter, so the listing is
        kept consistent by verifying every page against the last part handed out.
        """
        filters = PartFilters(
            search_query=search_query,
            procedure_ids=procedure_ids,
            metadata=metadata,
            include_metadata=include_metadata,
        )
        return self._list(
            filters,
            sort_by=sort_by,
            sort_order=sort_order,
            page_size=page_size,
            max_items=max_items,
            cursor=cursor,
            prefetch=prefetch,
        )


class Stations(_Resource[Station, StationFilters]):
    """The test stations of a TofuPilot organisation: ``client.stations``."""

    endpoint = STATIONS

    def list(
        self,
        *,
        search_query: str | None = None,
        procedure_ids: str | Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Station]:
        """Stream the stations that match every given filter, in the server's order.

        ``search_query`` matches a station name; ``procedure_ids`` takes a string or a list;
        ``metadata`` and ``include_metadata`` as for ``client.parts.list()``. The API has no
        sort parameter and no time filter: the listing is kept consistent by verifying every
        page against the last station handed out.
        """
        filters = StationFilters(
            search_query=search_query,
            procedure_ids=procedure_ids,
            metadata=metadata,
            include_metadata=include_metadata,
        )
        return self._list(
            filters, page_size=page_size, max_items=max_items, cursor=cursor, prefetch=prefetch
        )


class Units(_Resource[Unit, UnitFilters]):
    """The units of a TofuPilot organisation: ``client.units``."""

    endpoint = UNITS

    def list(
        self,
        *,
        search_query: str | None = None,
        ids: str | Iterable[str] | None = None,
        serial_numbers: str | Iterable[str] | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        batch_numbers: str | Iterable[str] | None = None,
        procedure_ids: str | Iterable[str] | None = None,
        outcomes: Outcome | Iterable[Outcome] | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        latest_only: bool = False,
        run_count_min: int | None = None,
        run_count_max: int | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        created_by_user_ids: str | Iterable[str] | None = None,
        created_by_station_ids: str | Iterable[str] | None = None,
        exclude_units_with_parent: bool = False,
        samples: SampleFilter | Iterable[SampleFilter] | None = None,
        metadata: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        sort_by: Literal[
            "created_at", "serial_number", "last_run_at", "part_number", "last_run_procedure"
        ] = "created_at",
        sort_order: SortOrder = "desc",
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Unit]:
        """Stream the units that match every given filter, following the cursor for you.

        Filters are the API's (``GET /v2/units``), under its names and defaults: lists take a
        string or a list of strings, enums (``outcomes``, ``samples``) are checked against the
        API's values, datetimes must be timezone-aware, ``metadata`` filters on custom metadata
        (at most 5 keys, as for ``client.parts.list()``). The run filters (``procedure_ids``,
        ``outcomes``, ``started_*``, ``run_count_*``) match a unit by its runs, or by its latest
        run only with ``latest_only``. The listing options are those of
        ``client.batches.list()``; every argument is checked here, before any request.
        """
        filters = UnitFilters(
            search_query=search_query,
            ids=ids,
            serial_numbers=serial_numbers,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
            batch_numbers=batch_numbers,
            procedure_ids=procedure_ids,
            outcomes=outcomes,
            started_after=started_after,
            started_before=started_before,
            latest_only=latest_only,
            run_count_min=run_count_min,
            run_count_max=run_count_max,
            created_after=created_after,
            created_before=created_before,
            created_by_user_ids=created_by_user_ids,
            created_by_station_ids=created_by_station_ids,
            exclude_units_with_parent=exclude_units_with_parent,
            samples=samples,
            metadata=metadata,
            include_metadata=include_metadata,
        )
        return self._list(
            filters,
            sort_by=sort_by,
            sort_order=sort_order,
            page_size=page_size,
            max_items=max_items,
            cursor=cursor,
            prefetch=prefetch,
        )

    def watch(
        self,
        *,
        poll_interval: float = 30.0,
        since: datetime | None = None,
        search_query: str | None = None,
        ids: str | Iterable[str] | None = None,
        serial_numbers: str | Iterable[str] | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        batch_numbers: str | Iterable[str] | None = None,
        procedure_ids: str | Iterable[str] | None = None,
        outcomes: Outcome | Iterable[Outcome] | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        latest_only: bool = False,
        run_count_min: int | None = None,
        run_count_max: int | None = None,
        created_by_user_ids: str | Iterable[str] | None = None,
        created_by_station_ids: str | Iterable[str] | None = None,
        exclude_units_with_parent: bool = False,
        samples: SampleFilter | Iterable[SampleFilter] | None = None,
        metadata: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        page_size: int = 100,
        resume_token: str | None = None,
        lookback: timedelta | float = 0.0,
    ) -> Watcher[Unit]:
        """Yield units as they are created, oldest first, each exactly once, until you stop.

        As ``client.batches.watch()``, by the units' ``created_at``, with the filters of
        ``list()`` except the creation window.
        """
        filters = UnitFilters(
            search_query=search_query,
            ids=ids,
            serial_numbers=serial_numbers,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
            batch_numbers=batch_numbers,
            procedure_ids=procedure_ids,
            outcomes=outcomes,
            started_after=started_after,
            started_before=started_before,
            latest_only=latest_only,
            run_count_min=run_count_min,
            run_count_max=run_count_max,
            created_by_user_ids=created_by_user_ids,
            created_by_station_ids=created_by_station_ids,
            exclude_units_with_parent=exclude_units_with_parent,
            samples=samples,
            metadata=metadata,
            include_metadata=include_metadata,
        )
        return self._watch(
            filters,
            poll_interval=poll_interval,
            since=since,
            page_size=page_size,
            resume_token=resume_token,
            lookback=lookback,
        )


class Runs(_Resource[Run, RunFilters]):
    """The runs of a TofuPilot organisation: ``client.runs``."""

    endpoint = RUNS

    def list(
        self,
        *,
        search_query: str | None = None,
        ids: str | Iterable[str] | None = None,
        outcomes: Outcome | Iterable[Outcome] | None = None,
        procedure_ids: str | Iterable[str] | None = None,
        procedure_versions: str | Iterable[str] | None = None,
        deployment_ids: str | Iterable[str] | None = None,
        execution_ids: str | Iterable[str] | None = None,
        slot_keys: str | Iterable[str] | None = None,
        slot_names: str | Iterable[str] | None = None,
        environments: Environment | Iterable[Environment] | None = None,
        serial_numbers: str | Iterable[str] | None = None,
        samples: SampleFilter | Iterable[SampleFilter] | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        batch_numbers: str | Iterable[str] | None = None,
        duration_min: timedelta | str | None = None,
        duration_max: timedelta | str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        ended_after: datetime | None = None,
        ended_before: datetime | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        created_by_user_ids: str | Iterable[str] | None = None,
        created_by_station_ids: str | Iterable[str] | None = None,
        operated_by_ids: str | Iterable[str] | None = None,
        operated_by_names: str | Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        include_sequences: bool = False,
        sort_by: Literal[
            "started_at",
            "created_at",
            "duration",
            "outcome",
            "serial_number",
            "part_number",
            "revision_number",
        ] = "started_at",
        sort_order: SortOrder = "desc",
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Run]:
        """Stream the runs that match every given filter, newest start first by default.

        Filters are the API's (``GET /v2/runs``): lists take a string or a list of strings;
        ``outcomes``, ``environments`` and ``samples`` are checked against the API's values;
        datetimes must be timezone-aware; ``duration_min`` / ``duration_max`` take a
        ``timedelta`` or an ISO 8601 duration (sent in ISO 8601); ``metadata`` filters on
        custom metadata (at most 5 keys); ``include_metadata`` and ``include_sequences`` add
        each run's metadata and top-level sequence calls. The listing options are those of
        ``client.batches.list()``. Runs are uploaded after they end, so the listing is pinned
        on ``created_before`` (upload time): runs uploaded while it streams are not yielded.
        """
        filters = RunFilters(
            search_query=search_query,
            ids=ids,
            outcomes=outcomes,
            procedure_ids=procedure_ids,
            procedure_versions=procedure_versions,
            deployment_ids=deployment_ids,
            execution_ids=execution_ids,
            slot_keys=slot_keys,
            slot_names=slot_names,
            environments=environments,
            serial_numbers=serial_numbers,
            samples=samples,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
            batch_numbers=batch_numbers,
            duration_min=duration_min,
            duration_max=duration_max,
            started_after=started_after,
            started_before=started_before,
            ended_after=ended_after,
            ended_before=ended_before,
            created_after=created_after,
            created_before=created_before,
            created_by_user_ids=created_by_user_ids,
            created_by_station_ids=created_by_station_ids,
            operated_by_ids=operated_by_ids,
            operated_by_names=operated_by_names,
            metadata=metadata,
            include_metadata=include_metadata,
            include_sequences=include_sequences,
        )
        return self._list(
            filters,
            sort_by=sort_by,
            sort_order=sort_order,
            page_size=page_size,
            max_items=max_items,
            cursor=cursor,
            prefetch=prefetch,
        )

    def watch(
        self,
        *,
        poll_interval: float = 30.0,
        since: datetime | None = None,
        search_query: str | None = None,
        ids: str | Iterable[str] | None = None,
        outcomes: Outcome | Iterable[Outcome] | None = None,
        procedure_ids: str | Iterable[str] | None = None,
        procedure_versions: str | Iterable[str] | None = None,
        deployment_ids: str | Iterable[str] | None = None,
        execution_ids: str | Iterable[str] | None = None,
        slot_keys: str | Iterable[str] | None = None,
        slot_names: str | Iterable[str] | None = None,
        environments: Environment | Iterable[Environment] | None = None,
        serial_numbers: str | Iterable[str] | None = None,
        samples: SampleFilter | Iterable[SampleFilter] | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        batch_numbers: str | Iterable[str] | None = None,
        duration_min: timedelta | str | None = None,
        duration_max: timedelta | str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        ended_after: datetime | None = None,
        ended_before: datetime | None = None,
        created_by_user_ids: str | Iterable[str] | None = None,
        created_by_station_ids: str | Iterable[str] | None = None,
        operated_by_ids: str | Iterable[str] | None = None,
        operated_by_names: str | Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        include_sequences: bool = False,
        page_size: int = 100,
        resume_token: str | None = None,
        lookback: timedelta | float = 0.0,
    ) -> Watcher[Run]:
        """Yield runs as they are uploaded, oldest first, each exactly once, until you stop.

        As ``client.batches.watch()``, by the runs' ``created_at`` (when the API recorded the
        run, not when it started: a run uploaded late with an old start is still seen), with
        the filters of ``list()`` except the upload window.
        """
        filters = RunFilters(
            search_query=search_query,
            ids=ids,
            outcomes=outcomes,
            procedure_ids=procedure_ids,
            procedure_versions=procedure_versions,
            deployment_ids=deployment_ids,
            execution_ids=execution_ids,
            slot_keys=slot_keys,
            slot_names=slot_names,
            environments=environments,
            serial_numbers=serial_numbers,
            samples=samples,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
            batch_numbers=batch_numbers,
            duration_min=duration_min,
            duration_max=duration_max,
            started_after=started_after,
            started_before=started_before,
            ended_after=ended_after,
            ended_before=ended_before,
            created_by_user_ids=created_by_user_ids,
            created_by_station_ids=created_by_station_ids,
            operated_by_ids=operated_by_ids,
            operated_by_names=operated_by_names,
            metadata=metadata,
            include_metadata=include_metadata,
            include_sequences=include_sequences,
        )
        return self._watch(
            filters,
            poll_interval=poll_interval,
            since=since,
            page_size=page_size,
            resume_token=resume_token,
            lookback=lookback,
        )


class Procedures(_Resource[Procedure, ProcedureFilters]):
    """The procedures of a TofuPilot organisation: ``client.procedures``."""

    endpoint = PROCEDURES

    def list(
        self,
        *,
        search_query: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Procedure]:
        """Stream the procedures that match every given filter, in the server's order.

        ``search_query`` matches a procedure name; ``created_after`` / ``created_before`` must
        be timezone-aware. The API takes no sort for procedures; the listing is kept
        consistent by verifying every page against the last procedure handed out.
        """
        filters = ProcedureFilters(
            search_query=search_query, created_after=created_after, created_before=created_before
        )
        return self._list(
            filters, page_size=page_size, max_items=max_items, cursor=cursor, prefetch=prefetch
        )


class Deployments(_Resource[Deployment, DeploymentFilters]):
    """The deployments of a TofuPilot organisation: ``client.deployments``."""

    endpoint = DEPLOYMENTS

    def list(
        self,
        *,
        procedure_ids: str | Iterable[str] | None = None,
        environments: Environment | Iterable[Environment] | None = None,
        build_statuses: BuildStatus | Iterable[BuildStatus] | None = None,
        pushed: bool | None = None,
        branch_names: str | Iterable[str] | None = None,
        author_usernames: str | Iterable[str] | None = None,
        deployed_after: datetime | None = None,
        deployed_before: datetime | None = None,
        search_query: str | None = None,
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Deployment]:
        """Stream the deployments that match every given filter, in the server's order.

        Lists take a string or a list of strings; ``environments`` and ``build_statuses`` are
        checked against the API's values; ``pushed`` keeps deployments pushed to stations (or,
        False, not); the ``deployed_*`` window must be timezone-aware. The API takes no sort
        for deployments; the listing is kept consistent by verifying every page.
        """
        filters = DeploymentFilters(
            procedure_ids=procedure_ids,
            environments=environments,
            build_statuses=build_statuses,
            pushed=pushed,
            branch_names=branch_names,
            author_usernames=author_usernames,
            deployed_after=deployed_after,
            deployed_before=deployed_before,
            search_query=search_query,
        )
        return self._list(
            filters, page_size=page_size, max_items=max_items, cursor=cursor, prefetch=prefetch
        )


class Logs(_Resource[Log, LogFilters]):
    """The logs of a TofuPilot organisation: ``client.logs``."""

    endpoint = LOGS

    def list(
        self,
        *,
        procedure_ids: str | Iterable[str] | None = None,
        search_query: str | None = None,
        levels: LogLevel | Iterable[LogLevel] | None = None,
        timestamp_after: datetime | None = None,
        timestamp_before: datetime | None = None,
        source_files: str | Iterable[str] | None = None,
        run_ids: str | Iterable[str] | None = None,
        run_outcomes: Outcome | Iterable[Outcome] | None = None,
        procedure_versions: str | Iterable[str] | None = None,
        deployment_ids: str | Iterable[str] | None = None,
        environments: Environment | Iterable[Environment] | None = None,
        serial_numbers: str | Iterable[str] | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        batch_numbers: str | Iterable[str] | None = None,
        samples: Sample | Iterable[Sample] | None = None,
        created_by_station_ids: str | Iterable[str] | None = None,
        created_by_user_ids: str | Iterable[str] | None = None,
        sort_by: Literal["created_at", "level", "run_id", "outcome"] = "created_at",
        sort_order: SortOrder = "desc",
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Log]:
        """Stream the log lines that match every given filter, newest first by default.

        Filters are the API's (``GET /v2/logs``): ``levels``, ``run_outcomes``,
        ``environments`` and ``samples`` are checked against the API's values; the
        ``timestamp_*`` window is on each line's ``created_at`` and must be timezone-aware.
        The listing options are those of ``client.batches.list()``.
        """
        filters = LogFilters(
            procedure_ids=procedure_ids,
            search_query=search_query,
            levels=levels,
            timestamp_after=timestamp_after,
            timestamp_before=timestamp_before,
            source_files=source_files,
            run_ids=run_ids,
            run_outcomes=run_outcomes,
            procedure_versions=procedure_versions,
            deployment_ids=deployment_ids,
            environments=environments,
            serial_numbers=serial_numbers,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
            batch_numbers=batch_numbers,
            samples=samples,
            created_by_station_ids=created_by_station_ids,
            created_by_user_ids=created_by_user_ids,
        )
        return self._list(
            filters,
            sort_by=sort_by,
            sort_order=sort_order,
            page_size=page_size,
            max_items=max_items,
            cursor=cursor,
            prefetch=prefetch,
        )

    def watch(
        self,
        *,
        poll_interval: float = 30.0,
        since: datetime | None = None,
        procedure_ids: str | Iterable[str] | None = None,
        search_query: str | None = None,
        levels: LogLevel | Iterable[LogLevel] | None = None,
        source_files: str | Iterable[str] | None = None,
        run_ids: str | Iterable[str] | None = None,
        run_outcomes: Outcome | Iterable[Outcome] | None = None,
        procedure_versions: str | Iterable[str] | None = None,
        deployment_ids: str | Iterable[str] | None = None,
        environments: Environment | Iterable[Environment] | None = None,
        serial_numbers: str | Iterable[str] | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        batch_numbers: str | Iterable[str] | None = None,
        samples: Sample | Iterable[Sample] | None = None,
        created_by_station_ids: str | Iterable[str] | None = None,
        created_by_user_ids: str | Iterable[str] | None = None,
        page_size: int = 100,
        resume_token: str | None = None,
        lookback: timedelta | float = 0.0,
    ) -> Watcher[Log]:
        """Yield the log lines of runs as they are uploaded, each line exactly once, until you
        stop.

        A line's ``created_at`` is the station's clock when it logged it, so the watch does not
        follow it: it follows runs by their upload time (``client.runs.watch()``, the run's
        ``created_at`` as the server recorded it), and yields each new run's lines, run after
        run in upload order, each run's lines oldest first. A run uploaded late, or by a
        station whose clock is off, loses nothing and holds nothing back.

        ``since`` (timezone-aware): the lines of runs uploaded strictly after it; by default,
        of runs uploaded after the newest run on the server when the watch is entered
        (``async with``) or first iterated. ``lookback`` is the runs watch's (runs whose upload
        is recorded late, see ``client.runs.watch()``); ``poll_interval`` how often it asks for
        new runs; ``page_size`` the page of both runs and lines. The filters are those of
        ``list()`` except the ``timestamp_*`` window: every one is sent on each listing of
        lines, and those that are run filters (``procedure_ids``, ``run_ids``,
        ``run_outcomes``, ``procedure_versions``, ``deployment_ids``, ``environments``,
        ``serial_numbers``, ``part_numbers``, ``revision_numbers``, ``batch_numbers``,
        ``samples``, ``created_by_station_ids``, ``created_by_user_ids``) also narrow the runs
        watched. ``watcher.since`` is the upload time reached.

        ``resume_token`` (from ``watcher.resume_token``) continues just after the last line
        handed out, inside a run's lines too, with the watch's filters: give no ``since``, no
        filters and no ``lookback`` with it. A malformed token raises InvalidParameterError.
        """
        filters = LogFilters(
            procedure_ids=procedure_ids,
            search_query=search_query,
            levels=levels,
            source_files=source_files,
            run_ids=run_ids,
            run_outcomes=run_outcomes,
            procedure_versions=procedure_versions,
            deployment_ids=deployment_ids,
            environments=environments,
            serial_numbers=serial_numbers,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
            batch_numbers=batch_numbers,
            samples=samples,
            created_by_station_ids=created_by_station_ids,
            created_by_user_ids=created_by_user_ids,
        )
        return watch_logs(
            self._listings,
            filters,
            poll_interval=poll_interval,
            since=since,
            page_size=page_size,
            resume_token=resume_token,
            lookback=lookback,
        )


class Phases(_Resource[Phase, PhaseFilters]):
    """The phases of a TofuPilot organisation: ``client.phases``."""

    endpoint = PHASES

    def list(
        self,
        *,
        procedure_id: str,
        names: str | Iterable[str] | None = None,
        outcomes: PhaseOutcome | Iterable[PhaseOutcome] | None = None,
        sequence_paths: str | Iterable[str] | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        exclude_retries: bool = True,
        run_outcomes: Outcome | Iterable[Outcome] | None = None,
        ids: str | Iterable[str] | None = None,
        duration_min: timedelta | str | None = None,
        duration_max: timedelta | str | None = None,
        deployment_ids: str | Iterable[str] | None = None,
        procedure_versions: str | Iterable[str] | None = None,
        environments: Environment | Iterable[Environment] | None = None,
        operated_by_ids: str | Iterable[str] | None = None,
        operated_by_names: str | Iterable[str] | None = None,
        created_by_station_ids: str | Iterable[str] | None = None,
        created_by_user_ids: str | Iterable[str] | None = None,
        serial_numbers: str | Iterable[str] | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        batch_numbers: str | Iterable[str] | None = None,
        samples: SampleFilter | Iterable[SampleFilter] | None = None,
        sort_by: Literal[
            "started_at", "duration", "outcome", "serial_number", "phase_name"
        ] = "started_at",
        sort_order: SortOrder = "desc",
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Phase]:
        """Stream the phases of one procedure (``procedure_id`` is required).

        Filters are the API's (``GET /v2/phases``): ``outcomes`` are phase outcomes (PASS,
        FAIL, SKIP, ERROR), ``run_outcomes`` those of their runs; ``exclude_retries`` (True,
        the API's default) keeps only the final attempt of a retried phase;
        ``duration_min`` / ``duration_max`` take a ``timedelta`` or an ISO 8601 duration.
        A phase may have no start time, so the listing is not pinned on one (no phase is
        left out); its continuity is verified page by page instead.
        """
        filters = PhaseFilters(
            procedure_id=procedure_id,
            names=names,
            outcomes=outcomes,
            sequence_paths=sequence_paths,
            started_after=started_after,
            started_before=started_before,
            exclude_retries=exclude_retries,
            run_outcomes=run_outcomes,
            ids=ids,
            duration_min=duration_min,
            duration_max=duration_max,
            deployment_ids=deployment_ids,
            procedure_versions=procedure_versions,
            environments=environments,
            operated_by_ids=operated_by_ids,
            operated_by_names=operated_by_names,
            created_by_station_ids=created_by_station_ids,
            created_by_user_ids=created_by_user_ids,
            serial_numbers=serial_numbers,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
            batch_numbers=batch_numbers,
            samples=samples,
        )
        return self._list(
            filters,
            sort_by=sort_by,
            sort_order=sort_order,
            page_size=page_size,
            max_items=max_items,
            cursor=cursor,
            prefetch=prefetch,
        )


class Measurements(_Resource[Measurement, MeasurementFilters]):
    """The measurements of a TofuPilot organisation: ``client.measurements``."""

    endpoint = MEASUREMENTS

    def list(
        self,
        *,
        procedure_id: str,
        phase_name: str | None = None,
        measurement_name: str | None = None,
        phase_names: str | Iterable[str] | None = None,
        outcomes: Outcome | Iterable[Outcome] | None = None,
        ids: str | Iterable[str] | None = None,
        duration_min: timedelta | str | None = None,
        duration_max: timedelta | str | None = None,
        deployment_ids: str | Iterable[str] | None = None,
        procedure_versions: str | Iterable[str] | None = None,
        environments: Environment | Iterable[Environment] | None = None,
        serial_numbers: str | Iterable[str] | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        batch_numbers: str | Iterable[str] | None = None,
        operated_by_ids: str | Iterable[str] | None = None,
        operated_by_names: str | Iterable[str] | None = None,
        created_by_station_ids: str | Iterable[str] | None = None,
        created_by_user_ids: str | Iterable[str] | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
        exclude_retries: bool = True,
        value_min: float | None = None,
        value_max: float | None = None,
        value_bool: bool | None = None,
        value_strings: str | Iterable[str] | None = None,
        measurement_outcomes: MeasurementOutcome | Iterable[MeasurementOutcome] | None = None,
        measurement_types: MeasurementType | Iterable[MeasurementType] | None = None,
        sort_by: Literal[
            "started_at", "value", "outcome", "serial_number", "phase_name", "measurement_name"
        ] = "started_at",
        sort_order: SortOrder = "desc",
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Measurement]:
        """Stream the measurements of one procedure (``procedure_id`` is required).

        Filters are the API's (``GET /v2/measurements``): ``outcomes`` are those of the runs,
        ``measurement_outcomes`` and ``measurement_types`` the measurements' own;
        ``value_min`` / ``value_max`` bound numeric values, ``value_bool`` and
        ``value_strings`` the others; ``exclude_retries`` (True by default) keeps the final
        attempt of each phase. Like phases, the listing is verified page by page, not pinned.
        """
        filters = MeasurementFilters(
            procedure_id=procedure_id,
            phase_name=phase_name,
            measurement_name=measurement_name,
            phase_names=phase_names,
            outcomes=outcomes,
            ids=ids,
            duration_min=duration_min,
            duration_max=duration_max,
            deployment_ids=deployment_ids,
            procedure_versions=procedure_versions,
            environments=environments,
            serial_numbers=serial_numbers,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
            batch_numbers=batch_numbers,
            operated_by_ids=operated_by_ids,
            operated_by_names=operated_by_names,
            created_by_station_ids=created_by_station_ids,
            created_by_user_ids=created_by_user_ids,
            started_after=started_after,
            started_before=started_before,
            exclude_retries=exclude_retries,
            value_min=value_min,
            value_max=value_max,
            value_bool=value_bool,
            value_strings=value_strings,
            measurement_outcomes=measurement_outcomes,
            measurement_types=measurement_types,
        )
        return self._list(
            filters,
            sort_by=sort_by,
            sort_order=sort_order,
            page_size=page_size,
            max_items=max_items,
            cursor=cursor,
            prefetch=prefetch,
        )


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
