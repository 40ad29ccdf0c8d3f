"""The facades derived from one declaration per endpoint: ``list()`` and ``watch()`` take
exactly what the endpoint module's classes declare (signature, docstring, checks), the wire
order is the filters class's declaration order, and the sync twins mirror the async methods."""

from __future__ import annotations

import inspect
import pickle
import typing
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, Literal

import attrs
import pytest

import aiotofu
from aiotofu._endpoint import Endpoint
from aiotofu._facades import listing, watching
from aiotofu._filters import Filters, Flag, Strings, Text, about, filter_field
from aiotofu._options import SortedListOptions, WatchOptions
from aiotofu._resources import Runs
from aiotofu._sync import SyncPaginator, SyncRuns, SyncWatcher
from aiotofu.endpoints import ENDPOINTS
from aiotofu.endpoints import RUNS as RUNS_ENDPOINT
from aiotofu.testing import MockTransport, Request, Response, json_response

UTC = timezone.utc

# What the official SDK sends, key by key, as the endpoint modules spelt it out by hand before
# the order was derived (tests/integration/test_every_endpoint_conformance.py asks the SDK).
SDK_WIRE_ORDERS = {
    "batches": (
        "ids",
        "numbers",
        "created_after",
        "created_before",
        "limit",
        "cursor",
        "search_query",
        "part_numbers",
        "revision_numbers",
        "sort_by",
        "sort_order",
    ),
    "units": (
        "search_query",
        "ids",
        "serial_numbers",
        "part_numbers",
        "revision_numbers",
        "batch_numbers",
        "procedure_ids",
        "outcomes",
        "started_after",
        "started_before",
        "latest_only",
        "run_count_min",
        "run_count_max",
        "created_after",
        "created_before",
        "created_by_user_ids",
        "created_by_station_ids",
        "exclude_units_with_parent",
        "samples",
        "limit",
        "cursor",
        "sort_by",
        "sort_order",
        "metadata",
        "include_metadata",
    ),
    "runs": (
        "search_query",
        "ids",
        "outcomes",
        "procedure_ids",
        "procedure_versions",
        "deployment_ids",
        "execution_ids",
        "slot_keys",
        "slot_names",
        "environments",
        "serial_numbers",
        "samples",
        "part_numbers",
        "revision_numbers",
        "batch_numbers",
        "duration_min",
        "duration_max",
        "started_after",
        "started_before",
        "ended_after",
        "ended_before",
        "created_after",
        "created_before",
        "created_by_user_ids",
        "created_by_station_ids",
        "operated_by_ids",
        "operated_by_names",
        "limit",
        "cursor",
        "sort_by",
        "sort_order",
        "metadata",
        "include_metadata",
        "include_sequences",
    ),
    "parts": (
        "limit",
        "cursor",
        "search_query",
        "procedure_ids",
        "sort_by",
        "sort_order",
        "metadata",
        "include_metadata",
    ),
    "procedures": ("limit", "cursor", "search_query", "created_after", "created_before"),
    "stations": (
        "limit",
        "cursor",
        "search_query",
        "procedure_ids",
        "metadata",
        "include_metadata",
    ),
    "deployments": (
        "procedure_ids",
        "environments",
        "build_statuses",
        "pushed",
        "branch_names",
        "author_usernames",
        "deployed_after",
        "deployed_before",
        "search_query",
        "limit",
        "cursor",
    ),
    "logs": (
        "procedure_ids",
        "search_query",
        "levels",
        "timestamp_after",
        "timestamp_before",
        "source_files",
        "run_ids",
        "run_outcomes",
        "procedure_versions",
        "deployment_ids",
        "environments",
        "serial_numbers",
        "part_numbers",
        "revision_numbers",
        "batch_numbers",
        "samples",
        "created_by_station_ids",
        "created_by_user_ids",
        "sort_by",
        "sort_order",
        "limit",
        "cursor",
    ),
    "phases": (
        "procedure_id",
        "names",
        "outcomes",
        "sequence_paths",
        "started_after",
        "started_before",
        "exclude_retries",
        "run_outcomes",
        "ids",
        "duration_min",
        "duration_max",
        "deployment_ids",
        "procedure_versions",
        "environments",
        "operated_by_ids",
        "operated_by_names",
        "created_by_station_ids",
        "created_by_user_ids",
        "serial_numbers",
        "part_numbers",
        "revision_numbers",
        "batch_numbers",
        "samples",
        "sort_by",
        "sort_order",
        "limit",
        "cursor",
    ),
    "measurements": (
        "procedure_id",
        "phase_name",
        "measurement_name",
        "phase_names",
        "outcomes",
        "ids",
        "duration_min",
        "duration_max",
        "deployment_ids",
        "procedure_versions",
        "environments",
        "serial_numbers",
        "part_numbers",
        "revision_numbers",
        "batch_numbers",
        "operated_by_ids",
        "operated_by_names",
        "created_by_station_ids",
        "created_by_user_ids",
        "started_after",
        "started_before",
        "exclude_retries",
        "value_min",
        "value_max",
        "value_bool",
        "value_strings",
        "measurement_outcomes",
        "measurement_types",
        "sort_by",
        "sort_order",
        "limit",
        "cursor",
    ),
}


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_the_wire_order_is_the_declaration_order_with_paging_in_place(endpoint: Any) -> None:
    assert endpoint.wire_order == SDK_WIRE_ORDERS[endpoint.name]


def test_a_misplaced_paging_key_is_refused_when_the_endpoint_is_declared() -> None:
    endpoint = ENDPOINTS[0]
    with pytest.raises(ValueError, match="must place"):
        attrs.evolve(endpoint, sent_after={None: ("limit",)})
    with pytest.raises(ValueError, match="does not declare"):
        attrs.evolve(endpoint, sent_after={"nonsense": ("limit", "cursor")})


# -- a toy endpoint: its filters, declared once, become list()'s parameters ---------------


@attrs.frozen
class Gadget:
    id: str
    created_at: datetime


@attrs.frozen(kw_only=True, cache_hash=True)
class GadgetFilters(Filters):
    """The filters of ``GET /v2/gadgets``."""

    shop: str = attrs.field(metadata=about(Text(non_empty=True), help="the shop", required=True))
    names: str | Iterable[str] | None = filter_field(Strings(), help="gadget name")
    created_after: datetime | None = filter_field(Text(), help="created at or after")
    created_before: datetime | None = filter_field(Text(), help="created at or before")
    shiny: bool = filter_field(Flag(), help="only shiny gadgets", default=False)


GadgetSort = Literal["created_at", "name"]


@attrs.frozen(kw_only=True)
class GadgetList(GadgetFilters, SortedListOptions[Gadget]):
    """Stream the gadgets of one shop."""

    sort_by: GadgetSort = "created_at"


@attrs.frozen(kw_only=True)
class GadgetWatch(GadgetFilters, WatchOptions[Gadget]):
    """Yield new gadgets."""

    created_after: None = None
    created_before: None = None


GADGETS: Endpoint[Gadget, GadgetFilters] = Endpoint(
    name="gadgets",
    path="/v2/gadgets",
    model=Gadget,
    filters=GadgetFilters,
    sorts=typing.get_args(GadgetSort),
    sent_after={None: ("limit", "cursor"), "shiny": ("sort_by", "sort_order")},
)


class Gadgets:
    """A resource that records what its facades hand the engine."""

    list = listing(GadgetList)
    watch = watching(GadgetWatch)

    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def _list(self, filters: Any, **options: Any) -> Any:
        self.calls.append((filters, options))
        return "paginator"

    _watch = _list


def test_list_takes_the_declared_filters_then_the_options() -> None:
    parameters = inspect.signature(Gadgets().list).parameters
    assert list(parameters) == [
        "shop",
        "names",
        "created_after",
        "created_before",
        "shiny",
        "sort_by",
        "sort_order",
        "page_size",
        "max_items",
        "cursor",
        "prefetch",
    ]
    assert parameters["shop"].default is inspect.Parameter.empty
    assert parameters["shiny"].default is False
    assert parameters["sort_by"].annotation == GadgetSort
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters.values())


def test_a_call_builds_the_filters_and_hands_the_options_with_their_defaults() -> None:
    gadgets = Gadgets()
    assert gadgets.list(shop="s", names="a", page_size=7) == "paginator"
    ((filters, options),) = gadgets.calls
    assert filters == GadgetFilters(shop="s", names=("a",))
    assert options == {
        "sort_by": "created_at",
        "sort_order": "desc",
        "page_size": 7,
        "max_items": None,
        "cursor": 0,
        "prefetch": 2,
    }


def test_what_python_would_refuse_is_a_type_error_naming_the_method() -> None:
    gadgets = Gadgets()
    with pytest.raises(
        TypeError, match=r"^list\(\) got an unexpected keyword argument 'page_sise'"
    ):
        gadgets.list(shop="s", page_sise=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^list\(\) missing a required argument: 'shop'"):
        gadgets.list()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"^list\(\) too many positional arguments"):
        gadgets.list("s")  # type: ignore[misc]
    # The watch's own window is not a filter of it: None, what its class types it as, is
    # taken (and not sent), anything else refused.
    with pytest.raises(aiotofu.InvalidParameterError, match="^created_after: .* own window"):
        gadgets.watch(shop="s", created_after=datetime.now(UTC))  # type: ignore[arg-type]
    assert gadgets.calls == []
    gadgets.watch(shop="s", created_after=None)
    assert len(gadgets.calls) == 1


def test_a_facade_is_its_resource_s_method() -> None:
    """In help(), in errors and for pickle (found in review: 'function list in module
    aiotofu._facades', and Runs.list could not be pickled)."""
    assert (Runs.list.__qualname__, Runs.list.__module__) == ("Runs.list", "aiotofu._resources")
    assert pickle.loads(pickle.dumps(Runs.watch)) is Runs.watch
    with pytest.raises(TypeError, match=r"^Runs\.list\(\) got an unexpected keyword argument"):
        Runs.list(None, page_sise=3)  # type: ignore[call-arg]


def test_a_bad_filter_is_the_filters_class_error() -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="^shop: is required"):
        Gadgets().list(shop=None)  # type: ignore[arg-type]


def test_the_docstring_is_composed_from_each_fields_help() -> None:
    doc = Gadgets.list.__doc__ or ""
    assert doc.startswith("Stream the gadgets of one shop.")
    assert "    shop: the shop (required)" in doc
    assert "    shiny: only shiny gadgets" in doc
    assert "    sort_by: order by 'created_at', 'name' (default 'created_at')" in doc
    assert "    page_size: records per request, 1..100 (default 100)" in doc
    watch_doc = Gadgets.watch.__doc__ or ""
    assert "created_after" not in watch_doc
    assert "    since: " in watch_doc


def test_the_type_hints_are_the_declared_ones() -> None:
    hints = typing.get_type_hints(Gadgets.list)
    assert hints["names"] == str | Iterable[str] | None
    assert hints["return"] == aiotofu.Paginator[Gadget]
    assert typing.get_type_hints(Gadgets.watch)["return"] == aiotofu.Watcher[Gadget]


def test_the_sync_twin_has_the_same_parameters() -> None:
    for name in ("list", "watch"):
        sync = inspect.signature(getattr(SyncRuns, name)).parameters
        assert list(sync) == list(inspect.signature(getattr(Runs, name)).parameters)
        assert getattr(SyncRuns, name).__doc__ == getattr(Runs, name).__doc__
    assert typing.get_type_hints(SyncRuns.list)["return"] == SyncPaginator[aiotofu.Run]
    assert inspect.signature(SyncRuns.watch).return_annotation == SyncWatcher[aiotofu.Run]


async def test_runs_list_outcomes_fail_walks_to_the_query_string() -> None:
    """The walk of ``client.runs.list(outcomes=["FAIL"])``, from the call to the wire."""

    def serve(request: Request) -> Response:
        return json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})

    transport = MockTransport(serve)
    async with aiotofu.Client("key", transport=transport) as client:
        assert await client.runs.list(outcomes=["FAIL"], sort_by="created_at").collect() == []
        with pytest.raises(aiotofu.InvalidParameterError, match="^outcomes: 'FIAL' is not"):
            client.runs.list(outcomes=["FIAL"])  # type: ignore[list-item]
        with pytest.raises(aiotofu.InvalidParameterError, match="^created_after: "):
            client.runs.watch(created_after=datetime.now(UTC))  # type: ignore[arg-type]
    (request,) = transport.requests
    assert list(request.query) == [
        ("outcomes", "FAIL"),
        ("limit", "100"),
        ("cursor", "0"),
        ("sort_by", "created_at"),
        ("sort_order", "desc"),
        ("include_metadata", "false"),
        ("include_sequences", "false"),
    ]


def test_a_resource_with_another_endpoints_facade_is_refused() -> None:
    from aiotofu._resources import _Resource
    from aiotofu.endpoints import UNITS
    from aiotofu.endpoints.runs import RunList, RunWatch

    with pytest.raises(TypeError, match="^units: declared with RunFilters"):

        class Mixed(_Resource[Any, Any]):
            endpoint = UNITS
            list = listing(RunList)

    @attrs.frozen(kw_only=True)
    class Windowed(GadgetFilters, WatchOptions[Gadget]):
        """A watch that forgot to leave its window out."""

    with pytest.raises(TypeError, match=r"a watch leaves out exactly \['created_after'"):

        class Leaky(_Resource[Any, Any]):
            endpoint = attrs.evolve(GADGETS, time_bounds=("created_after", "created_before"))
            watch = watching(Windowed)

    class Fine(_Resource[Any, Any]):
        endpoint = RUNS_ENDPOINT
        list = listing(RunList)
        watch = watching(RunWatch)

    assert Fine.list.parameters.filters is RUNS_ENDPOINT.filters  # type: ignore[attr-defined]
