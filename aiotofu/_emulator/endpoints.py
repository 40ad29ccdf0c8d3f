"""The emulator's list endpoints other than batches: each one's parameters (from TofuPilot's
reference and the official SDK's models), what each filter matches, and its sorts.

Batches keep their SQL path (``store.py``), which serves millions of records; these endpoints
serve from memory: parts from their catalogue, stations from the store, the others from the
derived records of ``world.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .listing import EmulatedEndpoint, Param, metadata_matches

__all__ = ["LISTINGS", "PARTS", "STATIONS"]

Record = dict[str, Any]
Getter = Callable[[Record], Any]

OUTCOMES = ("PASS", "FAIL", "ERROR", "TIMEOUT", "ABORTED")
SAMPLES = ("golden", "failing", "ignored")
SAMPLES_OR_PRODUCTION = ("production", *SAMPLES)
ENVIRONMENTS = ("production", "preview", "development")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

STRINGS = Param("strings")
DATETIME = Param("datetime")
BOOL = Param("bool")
DURATION = Param("duration")
SEARCH = Param("text", max_length=100)
METADATA = Param("metadata")


def _enum(values: tuple[str, ...]) -> Param:
    return Param("enum", values)


def _in(get: Getter) -> Callable[[Record, Any], bool]:
    """The record's value (by ``get``) is one of the filter's."""
    return lambda record, values: get(record) in values


def _any_in(get: Callable[[Record], list[Any]]) -> Callable[[Record, Any], bool]:
    """One of the record's values is one of the filter's."""
    return lambda record, values: any(value in values for value in get(record))


def _at_least(get: Getter) -> Callable[[Record, Any], bool]:
    return lambda record, low: (value := get(record)) is not None and value >= low


def _at_most(get: Getter) -> Callable[[Record, Any], bool]:
    return lambda record, high: (value := get(record)) is not None and value <= high


def _search(*getters: Getter) -> Callable[[Record, Any], bool]:
    """Case-insensitive: the text is in one of the record's fields."""

    def match(record: Record, text: str) -> bool:
        needle = text.lower()
        return any(needle in (get(record) or "").lower() for get in getters)

    return match


def _sample(get: Getter) -> Callable[[Record, Any], bool]:
    """``production`` stands for a unit without a sample class."""
    return lambda record, values: (get(record) or "production") in values


def _metadata(record: Record, where: dict[str, Any]) -> bool:
    return metadata_matches(record["_metadata"], where)


def _key(*path: str) -> Getter:
    """A getter of a nested public key (None anywhere on the way gives None)."""

    def get(record: Record) -> Any:
        value: Any = record
        for key in path:
            if value is None:
                return None
            value = value[key]
        return value

    return get


def _of_run(get: Getter) -> Getter:
    """A getter on the run a phase, measurement or log line belongs to."""
    return lambda record: get(record["_run"])


def _deployment(key: str) -> Getter:
    return lambda run: None if run["_deployment"] is None else run["_deployment"][key]


# What the filters of a run match, on the run itself; phases, measurements and log lines
# have them too, on their run (``_of_run``).
_RUN_FILTERS: dict[str, Getter] = {
    "procedure_versions": _key("procedure", "version", "tag"),
    "deployment_ids": _deployment("id"),
    "environments": _deployment("environment"),
    "serial_numbers": _key("unit", "serial_number"),
    "part_numbers": _key("unit", "part", "number"),
    "revision_numbers": _key("unit", "part", "revision", "number"),
    "batch_numbers": _key("unit", "batch", "number"),
    "operated_by_ids": _key("operated_by", "id"),
    "operated_by_names": _key("operated_by", "name"),
    "created_by_station_ids": _key("created_by_station", "id"),
    "created_by_user_ids": _key("created_by_user", "id"),
}


def _run_matches(names: tuple[str, ...], on_run: bool) -> dict[str, Callable[[Record, Any], bool]]:
    return {
        name: _in(_RUN_FILTERS[name] if on_run else _of_run(_RUN_FILTERS[name])) for name in names
    }


def _units_by_runs(unit: Record, where: dict[str, Any]) -> bool:
    """The run filters of units match one run of the unit (its latest, with latest_only);
    the run count bounds count them all."""
    runs = unit["_runs"]
    count = len(runs)
    if count < where.get("run_count_min", 0) or count > where.get("run_count_max", count):
        return False
    conditions: list[tuple[Callable[[Record, Any], bool], Any]] = [
        (lambda run, v: run["procedure"]["id"] in v, where.get("procedure_ids")),
        (lambda run, v: run["outcome"] in v, where.get("outcomes")),
        (lambda run, v: run["_started"] >= v, where.get("started_after")),
        (lambda run, v: run["_started"] <= v, where.get("started_before")),
    ]
    conditions = [(test, value) for test, value in conditions if value is not None]
    if not conditions:
        return True
    if where.get("latest_only"):
        runs = [unit["_last_run"]] if runs else []
    return any(all(test(run, value) for test, value in conditions) for run in runs)


UNITS = EmulatedEndpoint(
    params={
        "search_query": SEARCH,
        "ids": STRINGS,
        "serial_numbers": STRINGS,
        "part_numbers": STRINGS,
        "revision_numbers": STRINGS,
        "batch_numbers": STRINGS,
        "procedure_ids": STRINGS,
        "outcomes": _enum(OUTCOMES),
        "started_after": DATETIME,
        "started_before": DATETIME,
        "latest_only": BOOL,
        "run_count_min": Param("int"),
        "run_count_max": Param("int"),
        "created_after": DATETIME,
        "created_before": DATETIME,
        "created_by_user_ids": STRINGS,
        "created_by_station_ids": STRINGS,
        "exclude_units_with_parent": BOOL,
        "samples": _enum(SAMPLES_OR_PRODUCTION),
        "metadata": METADATA,
        "include_metadata": BOOL,
    },
    match={
        "search_query": _search(_key("serial_number")),
        "ids": _in(_key("id")),
        "serial_numbers": _in(_key("serial_number")),
        "part_numbers": _in(_key("part", "number")),
        "revision_numbers": _in(_key("part", "revision", "number")),
        "batch_numbers": _in(_key("batch", "number")),
        "created_after": _at_least(_key("_created")),
        "created_before": _at_most(_key("_created")),
        "created_by_user_ids": _in(_key("created_by_user", "id")),
        "created_by_station_ids": _in(_key("created_by_station", "id")),
        "exclude_units_with_parent": lambda unit, exclude: not exclude or unit["parent"] is None,
        "samples": _sample(_key("sample")),
        "metadata": _metadata,
    },
    combined=(
        "procedure_ids",
        "outcomes",
        "started_after",
        "started_before",
        "latest_only",
        "run_count_min",
        "run_count_max",
    ),
    match_together=_units_by_runs,
    sorts={
        "created_at": _key("_created"),
        "serial_number": _key("serial_number"),
        "last_run_at": lambda unit: unit["_last_run"]["_started"] if unit["_runs"] else None,
        "part_number": _key("part", "number"),
        "last_run_procedure": _key("last_run", "procedure", "name"),
    },
    includes={"include_metadata": ("metadata", "_metadata")},
)

RUNS = EmulatedEndpoint(
    params={
        "search_query": SEARCH,
        "ids": STRINGS,
        "outcomes": _enum(OUTCOMES),
        "procedure_ids": STRINGS,
        "procedure_versions": STRINGS,
        "deployment_ids": STRINGS,
        "execution_ids": STRINGS,
        "slot_keys": STRINGS,
        "slot_names": STRINGS,
        "environments": _enum(ENVIRONMENTS),
        "serial_numbers": STRINGS,
        "samples": _enum(SAMPLES_OR_PRODUCTION),
        "part_numbers": STRINGS,
        "revision_numbers": STRINGS,
        "batch_numbers": STRINGS,
        "duration_min": DURATION,
        "duration_max": DURATION,
        "started_after": DATETIME,
        "started_before": DATETIME,
        "ended_after": DATETIME,
        "ended_before": DATETIME,
        "created_after": DATETIME,
        "created_before": DATETIME,
        "created_by_user_ids": STRINGS,
        "created_by_station_ids": STRINGS,
        "operated_by_ids": STRINGS,
        "operated_by_names": STRINGS,
        "metadata": METADATA,
        "include_metadata": BOOL,
        "include_sequences": BOOL,
    },
    match={
        "search_query": _search(
            _key("unit", "serial_number"), _key("procedure", "name"), _key("id")
        ),
        "ids": _in(_key("id")),
        "outcomes": _in(_key("outcome")),
        "procedure_ids": _in(_key("procedure", "id")),
        "execution_ids": _in(_key("execution_id")),
        "slot_keys": _in(_key("slot_key")),
        "slot_names": _in(_key("slot_name")),
        "samples": _sample(_key("unit", "sample")),
        "duration_min": _at_least(_key("_duration")),
        "duration_max": _at_most(_key("_duration")),
        "started_after": _at_least(_key("_started")),
        "started_before": _at_most(_key("_started")),
        "ended_after": _at_least(_key("_ended")),
        "ended_before": _at_most(_key("_ended")),
        "created_after": _at_least(_key("_created")),
        "created_before": _at_most(_key("_created")),
        "metadata": _metadata,
        **_run_matches(tuple(_RUN_FILTERS), on_run=True),
    },
    sorts={
        "started_at": _key("_started"),
        "created_at": _key("_created"),
        "duration": _key("_duration"),
        "outcome": _key("outcome"),
        "serial_number": _key("unit", "serial_number"),
        "part_number": _key("unit", "part", "number"),
        "revision_number": _key("unit", "part", "revision", "number"),
    },
    includes={
        "include_metadata": ("metadata", "_metadata"),
        "include_sequences": ("sequences", "_sequences"),
    },
)

# No sort parameter: newest first.
PROCEDURES = EmulatedEndpoint(
    params={"search_query": SEARCH, "created_after": DATETIME, "created_before": DATETIME},
    match={
        "search_query": _search(_key("name")),
        "created_after": _at_least(_key("_created")),
        "created_before": _at_most(_key("_created")),
    },
    order=(_key("_created"), True),
)

DEPLOYMENTS = EmulatedEndpoint(
    params={
        "procedure_ids": STRINGS,
        "environments": _enum(ENVIRONMENTS),
        "build_statuses": _enum(("pending", "building", "ready", "failed")),
        "pushed": BOOL,
        "branch_names": STRINGS,
        "author_usernames": STRINGS,
        "deployed_after": DATETIME,
        "deployed_before": DATETIME,
        "search_query": SEARCH,
    },
    match={
        "procedure_ids": _in(_key("_procedure_id")),
        "environments": _in(_key("environment")),
        "build_statuses": _in(_key("status")),
        "pushed": lambda deployment, pushed: bool(deployment["stations"]) is pushed,
        "branch_names": _in(_key("_branch")),
        "author_usernames": _in(_key("_author")),
        "deployed_after": _at_least(_key("_deployed")),
        "deployed_before": _at_most(_key("_deployed")),
        "search_query": _search(
            _key("commit", "message"), _key("commit", "sha"), _key("commit", "branch")
        ),
    },
    order=(_key("_deployed"), True),  # no sort parameter: the latest deployed first
)

_LOG_SEVERITY = {level: index for index, level in enumerate(LEVELS)}
_LOG_RUN_FILTERS = (
    "procedure_versions",
    "deployment_ids",
    "environments",
    "serial_numbers",
    "part_numbers",
    "revision_numbers",
    "batch_numbers",
    "created_by_station_ids",
    "created_by_user_ids",
)

LOGS = EmulatedEndpoint(
    params={
        "procedure_ids": STRINGS,
        "search_query": SEARCH,
        "levels": _enum(LEVELS),
        "timestamp_after": DATETIME,
        "timestamp_before": DATETIME,
        "source_files": STRINGS,
        "run_ids": STRINGS,
        "run_outcomes": _enum(OUTCOMES),
        **dict.fromkeys(_LOG_RUN_FILTERS, STRINGS),
        "environments": _enum(ENVIRONMENTS),
        "samples": _enum(SAMPLES),
    },
    match={
        "procedure_ids": _in(_key("procedure", "id")),
        "search_query": _search(_key("message")),
        "levels": _in(_key("level")),
        "timestamp_after": _at_least(_key("_created")),
        "timestamp_before": _at_most(_key("_created")),
        "source_files": _in(_key("source_file")),
        "run_ids": _in(_key("run", "id")),
        "run_outcomes": _in(_key("run", "outcome")),
        "samples": _sample(_of_run(_key("unit", "sample"))),
        **_run_matches(_LOG_RUN_FILTERS, on_run=False),
    },
    sorts={
        "created_at": _key("_created"),
        "level": lambda log: _LOG_SEVERITY[log["level"]],
        "run_id": _key("run", "id"),
        "outcome": _key("run", "outcome"),
    },
)

_SCOPED_RUN_FILTERS = (
    "deployment_ids",
    "procedure_versions",
    "operated_by_ids",
    "operated_by_names",
    "created_by_station_ids",
    "created_by_user_ids",
    "serial_numbers",
    "part_numbers",
    "revision_numbers",
    "batch_numbers",
)


# The API's default is true: without the parameter, only final attempts are answered.
EXCLUDE_RETRIES = Param("bool", default=True)


def _final_only(record: Record, exclude_retries: bool) -> bool:
    return not exclude_retries or bool(record["is_final_attempt"])


def _of_procedure(record: Record, procedure_id: str) -> bool:
    return bool(record["_run"]["procedure"]["id"] == procedure_id)


PHASES = EmulatedEndpoint(
    params={
        "procedure_id": Param("text", required=True),
        "names": STRINGS,
        "outcomes": _enum(("PASS", "FAIL", "SKIP", "ERROR")),
        "sequence_paths": STRINGS,
        "started_after": DATETIME,
        "started_before": DATETIME,
        "exclude_retries": EXCLUDE_RETRIES,
        "run_outcomes": _enum(OUTCOMES),
        "ids": STRINGS,
        "duration_min": DURATION,
        "duration_max": DURATION,
        **dict.fromkeys(_SCOPED_RUN_FILTERS, STRINGS),
        "environments": _enum(ENVIRONMENTS),
        "samples": _enum(SAMPLES_OR_PRODUCTION),
    },
    match={
        "procedure_id": _of_procedure,
        "names": _in(_key("name")),
        "outcomes": _in(_key("outcome")),
        "sequence_paths": _in(_key("sequence_path")),
        "started_after": _at_least(_key("_started")),
        "started_before": _at_most(_key("_started")),
        "exclude_retries": _final_only,
        "run_outcomes": _in(_key("run_outcome")),
        "ids": _in(_key("id")),
        "duration_min": _at_least(_key("_duration")),
        "duration_max": _at_most(_key("_duration")),
        "environments": _in(_of_run(_deployment("environment"))),
        "samples": _sample(_key("sample")),
        **_run_matches(_SCOPED_RUN_FILTERS, on_run=False),
    },
    sorts={
        "started_at": _key("_started"),
        "duration": _key("_duration"),
        "outcome": _key("outcome"),
        "serial_number": _key("serial_number"),
        "phase_name": _key("name"),
    },
)


def _value_of(kind: str) -> Getter:
    return lambda measurement: measurement[kind]


MEASUREMENTS = EmulatedEndpoint(
    params={
        "procedure_id": Param("text", required=True),
        "phase_name": Param("text"),
        "measurement_name": Param("text"),
        "phase_names": STRINGS,
        "outcomes": _enum(OUTCOMES),
        "ids": STRINGS,
        "duration_min": DURATION,
        "duration_max": DURATION,
        **dict.fromkeys(_SCOPED_RUN_FILTERS, STRINGS),
        "environments": _enum(ENVIRONMENTS),
        "started_after": DATETIME,
        "started_before": DATETIME,
        "exclude_retries": EXCLUDE_RETRIES,
        "value_min": Param("number"),
        "value_max": Param("number"),
        "value_bool": BOOL,
        "value_strings": STRINGS,
        "measurement_outcomes": _enum(("PASS", "FAIL", "UNSET")),
        "measurement_types": _enum(
            ("numeric", "boolean", "string", "multidimensional", "empty", "json")
        ),
    },
    match={
        "procedure_id": _of_procedure,
        "phase_name": lambda m, name: m["phase_name"] == name,
        "measurement_name": lambda m, name: m["measurement_name"] == name,
        "phase_names": _in(_key("phase_name")),
        "outcomes": _in(_of_run(_key("outcome"))),
        "ids": _in(_key("id")),
        # The duration of the measurement's phase.
        "duration_min": _at_least(lambda m: m["_phase"]["_duration"]),
        "duration_max": _at_most(lambda m: m["_phase"]["_duration"]),
        "environments": _in(_of_run(_deployment("environment"))),
        "started_after": _at_least(lambda m: m["_phase"]["_started"]),
        "started_before": _at_most(lambda m: m["_phase"]["_started"]),
        "exclude_retries": _final_only,
        "value_min": _at_least(_value_of("value")),
        "value_max": _at_most(_value_of("value")),
        "value_bool": lambda m, value: m["bool_value"] is value,
        "value_strings": _in(_value_of("string_value")),
        "measurement_outcomes": _in(_key("measurement_outcome")),
        "measurement_types": _in(_key("measurement_type")),
        **_run_matches(_SCOPED_RUN_FILTERS, on_run=False),
    },
    sorts={
        "started_at": lambda m: m["_phase"]["_started"],
        "value": _value_of("value"),
        "outcome": _key("measurement_outcome"),
        "serial_number": _key("serial_number"),
        "phase_name": _key("phase_name"),
        "measurement_name": _key("measurement_name"),
    },
)


def _procedures_of(record: Record) -> list[str]:
    if "_procedures" in record:
        return list(record["_procedures"])
    return [procedure["id"] for procedure in record["procedures"]]


PARTS = EmulatedEndpoint(
    params={
        "search_query": SEARCH,
        "procedure_ids": STRINGS,
        "metadata": METADATA,
        "include_metadata": BOOL,
    },
    match={
        "search_query": _search(_key("number"), _key("name")),
        "procedure_ids": _any_in(_procedures_of),
        "metadata": _metadata,
    },
    sorts={"created_at": _key("_created"), "name": _key("name"), "number": _key("number")},
    includes={"include_metadata": ("metadata", "_metadata")},
)

# No sort parameter: in name order.
STATIONS = EmulatedEndpoint(
    params={
        "search_query": SEARCH,
        "procedure_ids": STRINGS,
        "metadata": METADATA,
        "include_metadata": BOOL,
    },
    match={
        "search_query": _search(_key("name")),
        "procedure_ids": _any_in(_procedures_of),
        "metadata": _metadata,
    },
    includes={"include_metadata": ("metadata", "_metadata")},
    order=(_key("name"), False),
)

# path -> (listing, the name of its records in ``world.Records``)
LISTINGS: dict[str, tuple[EmulatedEndpoint, str]] = {
    "/api/v2/units": (UNITS, "units"),
    "/api/v2/runs": (RUNS, "runs"),
    "/api/v2/procedures": (PROCEDURES, "procedures"),
    "/api/v2/deployments": (DEPLOYMENTS, "deployments"),
    "/api/v2/logs": (LOGS, "logs"),
    "/api/v2/phases": (PHASES, "phases"),
    "/api/v2/measurements": (MEASUREMENTS, "measurements"),
}
