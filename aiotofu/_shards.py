"""``Plan`` and ``Shard``: a listing cut in time into pieces that any number of workers read.

Pure data, no I/O. A shard is a half-open window ``[start, end)`` on its resource's time key
(``created_at``) with the listing's own filters, and ``at_most``, the bound the planning probe
proved on its records. The shards of a plan are contiguous and in time order: the first starts
at the oldest record, the last ends one millisecond (``TICK``) after ``as_of``, the newest
record's time when planning began, so that together they hold every record whose time (as the
API answers it, to the millisecond) is at most ``as_of``. How they are found is
``_planning``'s business; how one is read, the engine's (``_listings``).

A shard read that stops early (a budget, a worker that falls behind) hands back its remainder
(``ShardReader.remainder``): a Shard again, ``[t, end)`` from the time ``t`` of the last record
read, with ``taken``, the records of ``t`` already read (and their ids, ``taken_ids``: a tie
group is cut by who was read, not by where, so an order that moves ties keeps it exact). It
splits like any shard, ``depth`` counting the splits from a planned shard up to
``MAX_SPLIT_DEPTH``, so that idle workers take halves of a slow shard and no chain of halvings
goes on without end.

Both are frozen attrs classes, equal by value, picklable and JSON-able (``to_json()`` /
``from_json()``, checked strictly on the way in: a JSON that is not one of ours, or altered,
raises InvalidParameterError naming what is wrong). Neither ever holds the API key: a shard is
what a worker on another machine needs, and it brings its own credentials.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from ._convert import format_datetime, parse_datetime
from ._endpoint import Endpoint
from ._filters import Filters, check_int
from ._options import MAX_CURSOR
from .endpoints import ENDPOINTS
from .errors import InvalidParameterError

__all__ = [
    "MAX_SPLIT_DEPTH",
    "TICK",
    "Plan",
    "Shard",
    "midpoint",
    "remainder",
    "shardable",
    "sharded_endpoint",
]

# The precision of the API's times (see ``_pages.TICK``, the same millisecond): the last
# shard ends one TICK after ``as_of``, and no shard is split below it.
TICK = timedelta(milliseconds=1)
# What a JSON of ours says it is, and the version of its shape.
_VERSION = 1
# Splits from a planned shard, at most (Airbyte bounds its own at 10): each halves the window,
# so ten leave a thousandth of it, and past that a slow shard is slow for its records (a tie
# group, records of one instant), which no window cuts.
MAX_SPLIT_DEPTH = 10
# Keys a shard's JSON holds only when they differ from their defaults (a planned shard's JSON
# is the same as before remainders existed).
_SHARD_OPTIONAL = {"taken": 0, "taken_ids": [], "depth": 0}


def shardable(endpoint: Endpoint[Any, Any]) -> bool:
    """Whether a listing of ``endpoint`` can be cut in time: its records carry a creation
    time that is never null, that the API filters inclusively (``time_bounds``) and that it
    sorts by, so that a shard is read oldest first and re-anchored on it. Phases and
    measurements are not: their only time, ``started_at``, may be null, and a window on it
    would leave those records out of every shard."""
    return (
        endpoint.time_field is not None
        and endpoint.time_bounds is not None
        and endpoint.time_field in endpoint.sorts
    )


_SHARDABLE = {endpoint.name: endpoint for endpoint in ENDPOINTS if shardable(endpoint)}


def sharded_endpoint(resource: Any, name: str) -> Endpoint[Any, Any]:
    """The endpoint a shard or plan of ``resource`` lists; InvalidParameterError naming
    ``name`` if there is none that can be sharded."""
    endpoint = _SHARDABLE.get(resource) if isinstance(resource, str) else None
    if endpoint is None:
        raise InvalidParameterError(
            name,
            f"resource: expected one of {', '.join(sorted(_SHARDABLE))} (the resources that "
            f"can be sharded), got {resource!r}",
        )
    return endpoint


def midpoint(start: datetime, end: datetime) -> datetime | None:
    """The time midpoint of ``[start, end)``, on a whole millisecond from ``start``, so that
    each half is at least one TICK long; None if the window is shorter than two TICKs (one
    instant, as the API answers times: it cannot be cut)."""
    ticks = (end - start) // TICK
    if ticks < 2:
        return None
    return start + (ticks // 2) * TICK


def remainder(shard: Shard, time: datetime, ids: Sequence[str], taken: int) -> Shard:
    """What is left of ``shard`` once its records up to one at ``time`` were read, in time
    order: ``[time, end)`` but for the ``taken`` records of ``time`` read (``ids``: theirs, the
    last read last; fewer than ``taken`` when there were too many to keep, the last always)."""
    if not shard.start <= time < shard.end:
        window = f"[{format_datetime(shard.start)}, {format_datetime(shard.end)})"
        raise InvalidParameterError(
            "shard", f"a record read at {format_datetime(time)} is not in {window}"
        )
    return attrs.evolve(shard, start=time, taken=taken, taken_ids=tuple(ids))


def _utc(name: str, value: Any) -> datetime:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise InvalidParameterError(name, f"expected a timezone-aware datetime, got {value!r}")
    return value.astimezone(timezone.utc)


def _tuple_of_ids(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(ids)


@attrs.frozen
class Shard:
    """One piece of a plan: the records of ``resource`` that match ``filters`` (the listing's
    own) and whose time ``t`` (``created_at``, to the millisecond as the API answers it)
    satisfies ``start <= t < end``. ``at_most`` is the bound the planning probe proved on
    their count when it was planned (records written since are read all the same).

    Read it with ``client.<resource>.read(shard)``; hand half of it to another worker with
    ``split()``; send it anywhere with ``to_json()`` or pickle. It never holds the API key.

    A remainder (``ShardReader.remainder``, what a read that stopped has not read) starts at
    the time of the last record read, inside that instant: ``taken`` records of ``start`` were
    read already (``taken_ids`` their ids, in the order read, the last one the last record;
    past ``_pagestate.MAX_TIES`` of them, only that last one) and are not read again. A planned
    shard has none. ``depth`` counts the ``split()`` calls since it was planned.
    """

    resource: str
    start: datetime
    end: datetime
    filters: Filters
    at_most: int
    taken: int = 0
    taken_ids: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_ids)
    # Bookkeeping, not what the shard holds: halves equal the shards of the same windows.
    depth: int = attrs.field(default=0, eq=False)

    def __attrs_post_init__(self) -> None:
        endpoint = sharded_endpoint(self.resource, "shard")
        start, end = _utc("start", self.start), _utc("end", self.end)
        if not start < end:
            raise InvalidParameterError(
                "shard", f"start must be before end, got [{start.isoformat()}, {end.isoformat()})"
            )
        if type(self.filters) is not endpoint.filters:
            raise InvalidParameterError(
                "filters",
                f"expected {endpoint.filters.__name__} for {self.resource}, "
                f"got {type(self.filters).__name__}",
            )
        check_int("at_most", self.at_most, 0, MAX_CURSOR)
        check_int("taken", self.taken, 0, MAX_CURSOR)
        check_int("depth", self.depth, 0, MAX_SPLIT_DEPTH)
        ids = self.taken_ids
        if not all(isinstance(one, str) and one for one in ids):
            raise InvalidParameterError("taken_ids", "expected record ids (non-empty strings)")
        if len(set(ids)) != len(ids):
            raise InvalidParameterError("taken_ids", "an id is there twice")
        if len(ids) > self.taken or (self.taken and not ids):
            raise InvalidParameterError(
                "taken_ids",
                f"{len(ids)} ids for taken={self.taken}: expected the ids of the records taken "
                "(at least the last one, at most all of them)",
            )
        # In UTC: equal shards compare equal and print the same, however they were made.
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)

    def split(self) -> tuple[Shard, Shard]:
        """The two halves of this shard at its time midpoint (on a whole millisecond):
        ``[start, middle)`` and ``[middle, end)``, whose reads together are this shard's.
        Each keeps ``at_most`` (a bound on either half too), the first keeps ``taken`` (a
        remainder's records already read), and both count one more ``depth``. A shard shorter
        than two milliseconds holds one instant, as the API answers times, and cannot be split,
        nor can one split ``MAX_SPLIT_DEPTH`` times already: InvalidParameterError."""
        middle = midpoint(self.start, self.end)
        if middle is None:
            raise InvalidParameterError(
                "shard",
                f"[{format_datetime(self.start)}, {format_datetime(self.end)}) is shorter than "
                "2 ms: its records share one instant (the API's times are milliseconds), which "
                "no window can cut",
            )
        if self.depth >= MAX_SPLIT_DEPTH:
            raise InvalidParameterError(
                "shard",
                f"split {self.depth} times already (at most {MAX_SPLIT_DEPTH}): read it as it is",
            )
        depth = self.depth + 1
        return (
            attrs.evolve(self, end=middle, depth=depth),
            attrs.evolve(self, start=middle, taken=0, taken_ids=(), depth=depth),
        )

    def to_json(self) -> str:
        """This shard as JSON text (what ``Shard.from_json()`` and ``--shard`` take)."""
        return json.dumps(self._to_data(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Shard:
        """The shard ``to_json()`` wrote, every value checked again: InvalidParameterError
        naming what is wrong if it is not JSON, not a shard, or altered."""
        return cls._from_data(_load(text, "shard"), "shard")

    def _to_data(self) -> dict[str, Any]:
        data = {
            "aiotofu": "shard",
            "version": _VERSION,
            "resource": self.resource,
            "start": format_datetime(self.start),
            "end": format_datetime(self.end),
            "filters": self.filters.to_json(),
            "at_most": self.at_most,
        }
        given = {"taken": self.taken, "taken_ids": list(self.taken_ids), "depth": self.depth}
        return data | {key: value for key, value in given.items() if value}

    @classmethod
    def _from_data(cls, data: Any, name: str) -> Shard:
        keys = ("resource", "start", "end", "filters", "at_most")
        fields = _fields(data, "shard", name, keys, optional=tuple(_SHARD_OPTIONAL))
        endpoint = sharded_endpoint(fields["resource"], name)
        optional = {key: fields.get(key, default) for key, default in _SHARD_OPTIONAL.items()}
        if not isinstance(optional["taken_ids"], list):
            raise InvalidParameterError(name, "taken_ids: expected a list of record ids")
        try:
            return cls(
                resource=endpoint.name,
                start=_datetime(fields["start"], name, "start"),
                end=_datetime(fields["end"], name, "end"),
                filters=_filters(endpoint, fields["filters"], name),
                at_most=_at_most(fields["at_most"], name),
                **optional,
            )
        except InvalidParameterError as exc:
            if exc.parameter == name:
                raise
            raise InvalidParameterError(name, str(exc)) from None


def _tuple_of_shards(shards: Iterable[Shard]) -> tuple[Shard, ...]:
    return tuple(shards)


@attrs.frozen
class Plan:
    """A listing cut into shards: ``shards`` in time order, each a half-open window on the
    resource's ``created_at``, together covering ``[shards[0].start, as_of]``.

    ``as_of`` is the horizon: the newest record's time when planning began (with no record,
    just before the listing's own ``created_after``, or the earliest instant). A record created
    after it belongs to a later plan, or to a ``watch(since=plan.as_of)``. ``filters`` are the
    listing's own, ``target_size`` the bound each shard was planned to (a shard of one instant
    can hold more: records created in the same millisecond cannot be cut apart).

    The reads of the shards together yield every record that matches the filters and whose
    time, to the millisecond as the API answers it, is at most ``as_of``: exactly what one
    ``list()`` with the same filters and ``created_before=plan.as_of`` yields, on a server
    that stores the milliseconds it answers. A server that stores microseconds (PostgreSQL
    behind JavaScript) reads ``created_before=as_of`` as ``as_of.000``: that ``list()`` leaves
    out the records stored later within ``as_of``'s millisecond, which the plan holds (they
    read as ``as_of``, so a watch ``since=as_of`` does not yield them).
    """

    resource: str
    as_of: datetime
    shards: tuple[Shard, ...] = attrs.field(converter=_tuple_of_shards)
    filters: Filters
    target_size: int

    def __attrs_post_init__(self) -> None:
        sharded_endpoint(self.resource, "plan")
        object.__setattr__(self, "as_of", _utc("as_of", self.as_of))
        check_int("target_size", self.target_size, 1, MAX_CURSOR)
        for shard in self.shards:
            if not isinstance(shard, Shard):
                raise InvalidParameterError(
                    "shards", f"expected Shard values, got {type(shard).__name__}"
                )

    def validate(self) -> None:
        """Check that the shards partition the plan: each of its resource and filters, in time
        order, each starting where the one before ends (so disjoint and contiguous), the last
        ending one millisecond after ``as_of`` (every instant up to ``as_of`` covered).
        InvalidParameterError naming the first shard that is not; a plan that passes is one
        whose reads, together, hold each record once. Pure: no request."""
        previous: Shard | None = None
        for index, shard in enumerate(self.shards):
            where = f"shards[{index}]"
            if shard.resource != self.resource:
                raise InvalidParameterError(
                    "plan", f"{where} is a shard of {shard.resource}, in a plan of {self.resource}"
                )
            if shard.filters != self.filters:
                raise InvalidParameterError("plan", f"{where} has other filters than the plan")
            if shard.taken:
                raise InvalidParameterError(
                    "plan",
                    f"{where} is a remainder (it leaves out {shard.taken} records of its first "
                    "instant, read before): a plan's shards hold whole instants",
                )
            if previous is not None and shard.start != previous.end:
                gap = "overlaps" if shard.start < previous.end else "leaves a gap after"
                raise InvalidParameterError(
                    "plan",
                    f"{where} starts at {format_datetime(shard.start)}: it {gap} the shard "
                    f"before, which ends at {format_datetime(previous.end)}",
                )
            previous = shard
        if previous is not None and previous.end != self.as_of + TICK:
            raise InvalidParameterError(
                "plan",
                f"the last shard ends at {format_datetime(previous.end)}, not one millisecond "
                f"after as_of ({format_datetime(self.as_of)})",
            )

    def to_json(self) -> str:
        """This plan as JSON text, its shards as ``Shard.to_json()`` writes them."""
        data = {
            "aiotofu": "plan",
            "version": _VERSION,
            "resource": self.resource,
            "as_of": format_datetime(self.as_of),
            "filters": self.filters.to_json(),
            "target_size": self.target_size,
            "shards": [shard._to_data() for shard in self.shards],
        }
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """The plan ``to_json()`` wrote, every value checked again and the plan validated
        (``validate()``): InvalidParameterError naming what is wrong otherwise."""
        keys = ("resource", "as_of", "filters", "target_size", "shards")
        fields = _fields(_load(text, "plan"), "plan", "plan", keys)
        endpoint = sharded_endpoint(fields["resource"], "plan")
        shards = fields["shards"]
        if not isinstance(shards, list):
            raise InvalidParameterError("plan", "shards: expected a list of shards")
        try:
            target_size = check_int("target_size", fields["target_size"], 1, MAX_CURSOR)
        except InvalidParameterError as exc:
            raise InvalidParameterError("plan", str(exc)) from None
        plan = cls(
            resource=endpoint.name,
            as_of=_datetime(fields["as_of"], "plan", "as_of"),
            shards=[Shard._from_data(shard, "plan") for shard in shards],
            filters=_filters(endpoint, fields["filters"], "plan"),
            target_size=target_size,
        )
        plan.validate()
        return plan


def _load(text: Any, name: str) -> Any:
    if not isinstance(text, (str, bytes)):
        raise InvalidParameterError(name, f"expected JSON text, got {type(text).__name__}")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidParameterError(name, f"not JSON ({exc})") from None


def _fields(
    data: Any, kind: str, name: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The fields of a JSON object of ours of ``kind``: every key of ``keys`` there, those of
    ``optional`` if they like, and no other."""
    if not isinstance(data, Mapping):
        raise InvalidParameterError(name, f"not a {kind}: expected a JSON object")
    tag = data.get("aiotofu")
    if tag != kind:
        other = f"a {tag}" if tag in ("plan", "shard") else "something else"
        hint = " (give one of its shards: .shards[i])" if tag == "plan" else ""
        raise InvalidParameterError(name, f"not a {kind}: this JSON is {other}{hint}")
    if data.get("version") != _VERSION:
        raise InvalidParameterError(
            name, f"a {kind} of version {data.get('version')!r}; this aiotofu reads {_VERSION}"
        )
    given = set(data) - {"aiotofu", "version"}
    missing, unknown = set(keys) - given, given - set(keys) - set(optional)
    if missing:
        raise InvalidParameterError(name, f"not a valid {kind}: {sorted(missing)[0]} is missing")
    if unknown:
        raise InvalidParameterError(name, f"not a valid {kind}: unknown key {sorted(unknown)[0]}")
    return dict(data)


def _datetime(value: Any, name: str, key: str) -> datetime:
    if isinstance(value, str):
        try:
            return parse_datetime(value)
        except ValueError:
            pass
    raise InvalidParameterError(name, f"{key}: expected an RFC 3339 date-time, got {value!r}")


def _at_most(value: Any, name: str) -> int:
    try:
        return check_int("at_most", value, 0, MAX_CURSOR)
    except InvalidParameterError as exc:
        raise InvalidParameterError(name, str(exc)) from None


def _filters(endpoint: Endpoint[Any, Any], value: Any, name: str) -> Filters:
    if not isinstance(value, Mapping):
        raise InvalidParameterError(name, "filters: expected a JSON object")
    declared = {key for key, _ in endpoint.filters.declared()}
    unknown = set(value) - declared
    if unknown:
        raise InvalidParameterError(
            name, f"filters: {sorted(unknown)[0]} is not a filter of {endpoint.name}"
        )
    try:
        filters: Filters = endpoint.filters.from_json(value, name)
    except InvalidParameterError as exc:
        raise InvalidParameterError(name, f"filters: {exc}") from None
    return filters
