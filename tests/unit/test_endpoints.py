"""The listing engine from an endpoint's value alone: the filter vocabulary, the batches
endpoint's precise signature held to its filters class, and a toy endpoint (a model and a spec,
nothing else) that lists, validates, pins, resumes and is typed."""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest

import aiotofu
import aiotofu._resources
from aiotofu._clock import get_clock
from aiotofu._endpoint import Endpoint
from aiotofu._filters import (
    Choices,
    Duration,
    Filters,
    Flag,
    Instant,
    Integer,
    JsonObject,
    Metadata,
    Strings,
    Text,
    filter_field,
)
from aiotofu._listings import EndpointEngine
from aiotofu._models import AwareDatetime
from aiotofu._requester import Requester
from aiotofu.endpoints import BATCHES, ENDPOINTS, BatchFilters
from aiotofu.testing import MockTransport, Request, Response, json_response

UTC = timezone.utc

# -- the vocabulary -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value", "normalised", "wire"),
    [
        (Strings(), "a", ("a",), ("a",)),
        (Strings(), ["a", "b"], ("a", "b"), ("a", "b")),
        (Choices(("PASS", "FAIL")), "FAIL", ("FAIL",), ("FAIL",)),
        (Text(max_length=3), "abc", "abc", ("abc",)),
        (Instant(), datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None, ("2024-01-02T03:04:05Z",)),
        (Integer(0, 10), 7, 7, ("7",)),
        (Flag(), True, True, ("true",)),
        (Flag(), False, False, ("false",)),
        (Duration(), timedelta(minutes=1, seconds=30), "PT90S", ("PT90S",)),
        (Duration(), "PT1M30S", "PT90S", ("PT90S",)),
        (Duration(), "P1DT0.5S", "PT86400.5S", ("PT86400.5S",)),
        (JsonObject(max_keys=5), {"fw": {"in": ["1.0"]}}, '{"fw":{"in":["1.0"]}}', None),
        (
            Metadata(),
            {"fw": {"in": ["1.0", "1.1"]}, "temp": {"gte": 20}, "ok": {"eq": True}},
            '{"fw":{"in":["1.0","1.1"]},"temp":{"gte":20.0},"ok":{"eq":true}}',
            None,
        ),
        (Metadata(), {"lot": {"contains": "A7"}}, '{"lot":{"contains":"A7"}}', None),
    ],
)
def test_each_kind_checks_and_encodes(kind: Any, value: Any, normalised: Any, wire: Any) -> None:
    checked = kind.check("f", value)
    if normalised is not None:
        assert checked == normalised
    assert kind.wire(checked) == (wire or (checked,))
    assert kind.from_json("f", kind.to_json(checked)) == checked
    hash(checked)  # listings are cached by their filters


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (Strings(), [], "must not be empty"),
        (Strings(), [""], "empty string"),
        (Strings(), 5, "got int"),
        (Choices(("PASS", "FAIL")), ["pass"], "'pass' is not one of PASS, FAIL"),
        (Text(max_length=3), "abcd", "at most 3 characters"),
        (Instant(), datetime(2024, 1, 1), "naive"),
        (Instant(), "2024-01-01", "timezone-aware datetime"),
        (Integer(0, 10), 11, "between 0 and 10"),
        (Integer(0, 10), True, "expected an integer"),
        (Flag(), "yes", "expected True or False"),
        (Duration(), "90 seconds", "ISO 8601 duration"),
        (Duration(), "PT", "ISO 8601 duration"),
        (Duration(), timedelta(seconds=-1), "finite duration >= 0"),
        (JsonObject(max_keys=1), {"a": 1, "b": 2}, "at most 1 keys"),
        (JsonObject(), [1], "expected a dict"),
        (JsonObject(), {"x": float("nan")}, "not JSON-serialisable"),
        (Metadata(), {str(i): {"eq": True} for i in range(6)}, "at most 5 keys"),
        (Metadata(), {"fw": {"in": "1.0"}}, "'in' takes a list of strings"),
        (Metadata(), {"fw": {"contains": 3}}, "'contains' takes a string"),
        (Metadata(), {"t": {"gte": "20"}}, "must be"),
        (Metadata(), {"t": {"eq": True, "gte": 1}}, "must be"),
        (Metadata(), {"t": {"between": [1, 2]}}, "must be"),
        (Metadata(), {"t": {}}, "must be"),
    ],
)
def test_each_kind_names_the_filter_and_what_is_allowed(
    kind: Any, value: Any, message: str
) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^f: .*{message}"):
        kind.check("f", value)


# -- batches: the precise signature is the filters class's --------------------------------

LISTING_OPTIONS = ["sort_by", "sort_order", "page_size", "max_items", "cursor", "prefetch"]
WATCH_OPTIONS = ["poll_interval", "since", "page_size", "resume_token", "lookback"]
RESOURCES = [
    resource
    for resource in vars(aiotofu._resources).values()
    if isinstance(resource, type)
    and issubclass(resource, aiotofu._resources._Resource)
    and resource is not aiotofu._resources._Resource
]


def test_every_endpoint_has_a_resource() -> None:
    assert sorted(resource.endpoint.name for resource in RESOURCES) == sorted(
        endpoint.name for endpoint in ENDPOINTS
    )


@pytest.mark.parametrize("resource", RESOURCES, ids=lambda r: r.endpoint.name)
def test_list_takes_exactly_the_filters_of_its_class_then_the_listing_options(
    resource: type[Any],
) -> None:
    endpoint = resource.endpoint
    parameters = inspect.signature(resource.list).parameters
    names = [name for name in parameters if name != "self"]
    filters = [name for name, _ in endpoint.filters.declared()]
    options = LISTING_OPTIONS if endpoint.sortable else LISTING_OPTIONS[2:]
    assert names == [*filters, *options]
    hints = typing.get_type_hints(resource.list)
    declared = typing.get_type_hints(endpoint.filters)
    defaults = attrs.fields_dict(endpoint.filters)
    for name, info in endpoint.filters.declared():
        assert parameters[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert hints[name] == declared[name], name
        if info.required:
            assert parameters[name].default is inspect.Parameter.empty
        else:
            assert parameters[name].default == defaults[name].default, name
        if isinstance(info.kind, Choices):  # the type checker's values are the checked ones
            literal = typing.get_args(hints[name])[0]
            assert typing.get_args(literal) == info.kind.values, name
    if endpoint.sortable:
        assert typing.get_args(hints["sort_by"]) == endpoint.sorts
        assert parameters["sort_by"].default == endpoint.sorts[0]


@pytest.mark.parametrize(
    "resource", [r for r in RESOURCES if r.endpoint.time_bounds], ids=lambda r: r.endpoint.name
)
def test_watch_takes_the_filters_but_the_time_window(resource: type[Any]) -> None:
    endpoint = resource.endpoint
    parameters = inspect.signature(resource.watch).parameters
    names = [name for name in parameters if name != "self"]
    filters = [name for name, _ in endpoint.filters.declared() if name not in endpoint.time_bounds]
    assert names == [*filters, *WATCH_OPTIONS]
    hints = typing.get_type_hints(resource.watch)
    declared = typing.get_type_hints(endpoint.filters)
    for name in filters:
        assert hints[name] == declared[name], name


def test_only_resources_with_a_time_window_have_a_watch() -> None:
    for resource in RESOURCES:
        assert hasattr(resource, "watch") == bool(resource.endpoint.time_bounds), resource


def test_the_batches_endpoint_sends_the_sdks_order() -> None:
    query = BATCHES.query(BatchFilters(part_numbers="P", ids="i"), sort_by="number")
    assert [key for key, _ in query.to_query(cursor=0, limit=5)] == [
        "ids",
        "limit",
        "cursor",
        "part_numbers",
        "sort_by",
        "sort_order",
    ]


# -- a toy endpoint: a model and a spec, nothing else -------------------------------------


@attrs.frozen
class Widget:
    id: str
    name: str
    created_at: AwareDatetime
    size: int


@attrs.frozen(cache_hash=True)
class WidgetFilters(Filters):
    names: str | Iterable[str] | None = filter_field(Strings(), flag="--name", help="name")
    colours: str | Iterable[str] | None = filter_field(
        Choices(("red", "blue")), flag="--colour", help="colour"
    )
    created_after: datetime | None = filter_field(Instant(), help="inclusive")
    created_before: datetime | None = filter_field(Instant(), help="inclusive")
    min_size: int | None = filter_field(Integer(0, 100), help="smallest size")
    boxed: bool | None = filter_field(Flag(), help="in a box")


WIDGETS: Endpoint[Widget, WidgetFilters] = Endpoint(
    name="widgets",
    path="/v2/widgets",
    model=Widget,
    filters=WidgetFilters,
    sorts=("created_at", "name"),
    sent_after={"boxed": ("limit", "cursor", "sort_by", "sort_order")},
    time_field="created_at",
    time_bounds=("created_after", "created_before"),
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
STOCK = [
    {
        "id": f"w{i:02d}",
        "name": f"widget {i}",
        "created_at": (T0 + timedelta(minutes=i)).isoformat(),
        "size": i,
    }
    for i in range(23)
]


def serve(request: Request) -> Response:
    """A widget server: newest first, created_before honoured, offsets and limits."""
    query: dict[str, list[str]] = {}
    for key, value in request.query:
        query.setdefault(key, []).append(value)
    newest_first = query.get("sort_order", ["desc"])[0] == "desc"
    rows = sorted(STOCK, key=lambda w: (w["created_at"], w["id"]), reverse=newest_first)
    if "created_before" in query:
        bound = datetime.fromisoformat(query["created_before"][0].replace("Z", "+00:00"))
        rows = [w for w in rows if datetime.fromisoformat(w["created_at"]) <= bound]
    if "created_after" in query:
        bound = datetime.fromisoformat(query["created_after"][0].replace("Z", "+00:00"))
        rows = [w for w in rows if datetime.fromisoformat(w["created_at"]) >= bound]
    if "min_size" in query:
        rows = [w for w in rows if w["size"] >= int(query["min_size"][0])]
    cursor, limit = int(query["cursor"][0]), int(query["limit"][0])
    more = cursor + limit < len(rows)
    page = rows[cursor : cursor + limit]
    return json_response(
        {"data": page, "meta": {"has_more": more, "next_cursor": cursor + limit if more else None}}
    )


def widgets(transport: MockTransport) -> EndpointEngine[Widget, WidgetFilters]:
    requester = Requester(
        transport,
        base_url="https://example.invalid/api",
        api_key="k",
        user_agent="test",
        retry=None,
        max_concurrency=4,
        clock=get_clock(),
    )
    return EndpointEngine(WIDGETS, requester)


async def test_a_toy_endpoint_lists_validates_pins_and_resumes() -> None:
    transport = MockTransport(serve)
    listings = widgets(transport)
    paginator: aiotofu.Paginator[Widget] = listings.list(
        WidgetFilters(min_size=3, boxed=False), page_size=5, prefetch=1
    )
    first = [await paginator.__anext__() for _ in range(7)]
    token = paginator.resume_token
    await paginator.aclose()
    rest = await listings.resume(token).collect()
    got = [w.id for w in first + rest]
    assert got == [f"w{i:02d}" for i in range(22, 2, -1)]
    assert all(isinstance(w.created_at, datetime) and w.created_at.tzinfo for w in first)
    # Pinned after the first page, with every filter on the wire in the spec's order.
    later = transport.requests[1]
    assert [k for k, _ in later.query][:3] == ["created_before", "min_size", "boxed"]
    assert dict(later.query)["boxed"] == "false"
    pinned = json.loads(json.dumps(dict(later.query)))["created_before"]
    assert pinned == "2024-01-01T00:22:00.001000Z"  # the newest time, a tick later


def test_a_toy_endpoint_validates_before_any_request() -> None:
    transport = MockTransport(serve)
    with pytest.raises(aiotofu.InvalidParameterError, match="^colours: 'green' is not one of"):
        WidgetFilters(colours=["green"])
    with pytest.raises(aiotofu.InvalidParameterError, match="^sort_by: expected 'created_at'"):
        widgets(transport).list(WidgetFilters(), sort_by="size")
    with pytest.raises(aiotofu.InvalidParameterError, match="^page_size: "):
        widgets(transport).list(WidgetFilters(), page_size=0)
    assert transport.requests == []
    assert WidgetFilters.flag_of("colours") == "--colour"
    assert WidgetFilters.flag_of("min_size") == "--min-size"


async def test_a_toy_endpoint_with_a_time_field_can_be_watched(clock: Any) -> None:
    transport = MockTransport(serve)
    listings = widgets(transport)
    watcher: aiotofu.Watcher[Widget] = listings.watch(WidgetFilters(), poll_interval=1.0)
    async with watcher:
        newest = T0 + timedelta(minutes=22)
        assert watcher.since == newest
        STOCK.append(
            {
                "id": "w99",
                "name": "new",
                "created_at": (newest + timedelta(seconds=1)).isoformat(),
                "size": 1,
            }
        )
        try:
            fresh = await watcher.__anext__()
        finally:
            STOCK.pop()
    assert fresh.id == "w99"
    assert isinstance(watcher.resume_token, str)


def test_an_endpoint_without_a_time_field_cannot_be_watched() -> None:
    timeless = attrs.evolve(WIDGETS, time_field=None, time_bounds=None)
    listings = EndpointEngine(timeless, widgets(MockTransport(serve)).requester)
    with pytest.raises(aiotofu.StateError, match="no creation time to watch by"):
        listings.watch(WidgetFilters())


def test_a_filter_with_the_apis_default_is_always_sent() -> None:
    @attrs.frozen(cache_hash=True)
    class Defaults(Filters):
        include_metadata: bool = filter_field(Flag(), help="with metadata", default=False)

    assert Defaults().wire("include_metadata") == ("false",)
    assert Defaults(include_metadata=True).wire("include_metadata") == ("true",)
    with pytest.raises(aiotofu.InvalidParameterError, match="^include_metadata: "):
        Defaults(include_metadata="yes")  # type: ignore[arg-type]
