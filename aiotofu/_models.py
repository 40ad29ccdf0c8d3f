"""The records aiotofu yields: frozen attrs classes with exactly the fields the API documents."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Generic, Literal, NoReturn, TypeVar

import attrs
import msgspec

__all__ = [
    "DURATION_UNIT",
    "JSON_KEYS",
    "Batch",
    "BatchRef",
    "BuildStatus",
    "Deployment",
    "DeploymentCommit",
    "DeploymentRepository",
    "Environment",
    "FrozenDict",
    "LastRun",
    "LinkedRepository",
    "Log",
    "LogLevel",
    "LogRun",
    "Measurement",
    "MeasurementOutcome",
    "MeasurementType",
    "MemberRef",
    "Operator",
    "Outcome",
    "Page",
    "Part",
    "PartRef",
    "PartRevision",
    "Phase",
    "PhaseOutcome",
    "Procedure",
    "ProcedureRef",
    "ProcedureVersionRef",
    "Provider",
    "Run",
    "RunProcedure",
    "RunSequence",
    "RunUnit",
    "Sample",
    "SampleFilter",
    "SequenceOutcome",
    "Station",
    "StationRef",
    "TeamRef",
    "Trigger",
    "Unit",
    "UnitRef",
    "User",
    "UserRef",
    "Validator",
]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

# The attrs field metadata key of an integer field that counts a time unit (``"ms"``): a
# duration, in tables.
DURATION_UNIT = "aiotofu.duration_unit"

# A datetime that must carry a time zone: what the wire decoder checks (``2024-01-15T10:30:00Z``).
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]

# The API's enums, as its reference spells them; the filters that take them check against these.
Outcome = Literal["PASS", "FAIL", "ERROR", "TIMEOUT", "ABORTED"]
"""The outcome of a run."""
SequenceOutcome = Literal["PASS", "FAIL", "ERROR", "TIMEOUT", "ABORTED", "SKIP"]
"""The outcome of a sequence call: a run's outcomes, and SKIP when none of its phases ran."""
PhaseOutcome = Literal["PASS", "FAIL", "SKIP", "ERROR"]
"""The outcome of a phase."""
MeasurementOutcome = Literal["PASS", "FAIL", "UNSET"]
"""The outcome of a measurement or of one of its validators."""
MeasurementType = Literal["numeric", "boolean", "string", "multidimensional", "empty", "json"]
"""The type of a measurement's value."""
Sample = Literal["golden", "failing", "ignored"]
"""A reference sample's class (a production unit has none: ``None``)."""
SampleFilter = Literal["production", "golden", "failing", "ignored"]
"""What a filter on samples takes: a sample class, or ``production`` for units with none."""
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
"""The severity of a log line."""
Environment = Literal["production", "preview", "development"]
"""A deployment environment."""
BuildStatus = Literal["pending", "building", "ready", "failed"]
"""The build status of a deployment."""
Trigger = Literal["auto", "manual", "cli"]
"""How a deployment was triggered."""
Provider = Literal["github", "gitlab", "bitbucket"]
"""A source repository's host."""


class FrozenDict(dict[K, V]):
    """A read-only ``dict`` that hashes: a record's ``metadata``.

    Records are frozen, and frozen means hashable (``hash(run)``, a run in a set or as a dict
    key): a plain dict field would make that raise. A subclass of ``dict`` rather than a
    ``Mapping`` of its own, so that everything that takes the API's ``dict`` (``json.dumps``,
    pandas, ``isinstance(value, dict)``, equality with a plain dict) goes on taking it; every
    method that would change it raises ``TypeError``. ``dict(metadata)`` is a mutable copy.
    """

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))

    def __reduce__(self) -> tuple[Any, ...]:
        # dict's own pickling fills an empty instance item by item, which this one refuses.
        return (type(self), (dict(self),))

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"

    def _refuse(self, *_: Any, **__: Any) -> NoReturn:
        raise TypeError("a record's metadata is read-only: copy it first (dict(metadata))")

    __setitem__ = _refuse
    __delitem__ = _refuse
    __ior__ = _refuse
    clear = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    update = _refuse


# A record's custom metadata, as the decoders read it (a JSON object of strings, numbers and
# booleans); every record holds it as a FrozenDict. Typed as the read-only Mapping (msgspec
# decodes a Mapping in C, then the record freezes it: a FrozenDict annotation would need a
# Python hook per value), so that a type checker also flags ``run.metadata[k] = v``.
Metadata = Mapping[str, str | float | bool]


def _freeze_metadata(record: Any) -> None:
    """``__attrs_post_init__`` of the records with ``metadata``: a dict given becomes a
    FrozenDict. The wire decoder (msgspec) sets fields without ``__init__`` and then calls
    this; cattrs and users call ``__init__``: every record is frozen the same way."""
    metadata = record.metadata
    if metadata is not None and type(metadata) is not FrozenDict:
        if not isinstance(metadata, Mapping):
            raise TypeError(f"metadata must be a mapping, got {type(metadata).__name__}")
        object.__setattr__(record, "metadata", FrozenDict(metadata))


@attrs.frozen
class UserRef:
    """The user who created a record. ``name`` is ``None`` for users without a display name."""

    id: str
    name: str | None = None


@attrs.frozen
class StationRef:
    """The test station that created a record."""

    id: str
    name: str


@attrs.frozen
class Batch:
    """A batch of units, as ``GET /v2/batches`` returns it.

    ``created_at`` is always time-zone aware. A batch created through the API by a station has no
    ``created_by_user``, one created in the web app has no ``created_by_station``.
    """

    id: str
    number: str
    created_at: AwareDatetime
    unit_count: int
    created_by_user: UserRef | None = None
    created_by_station: StationRef | None = None


@attrs.frozen
class PartRevision:
    """A revision of a part."""

    id: str
    number: str


@attrs.frozen
class Part:
    """A part (a product or a component), as ``GET /v2/parts`` returns it.

    ``metadata`` is present only when the listing asked for it (``include_metadata=True``).
    """

    id: str
    number: str
    name: str
    created_at: AwareDatetime
    revisions: tuple[PartRevision, ...]
    metadata: Metadata | None = None

    __attrs_post_init__ = _freeze_metadata


@attrs.frozen
class ProcedureRef:
    """A test procedure a record refers to."""

    id: str
    name: str


@attrs.frozen
class TeamRef:
    """A team a record belongs to."""

    id: str
    name: str


@attrs.frozen
class Station:
    """A test station, as ``GET /v2/stations`` returns it.

    ``metadata`` is present only when the listing asked for it (``include_metadata=True``).
    """

    id: str
    name: str
    procedures: tuple[ProcedureRef, ...]
    procedures_count: float
    team: TeamRef | None
    metadata: Metadata | None = None

    __attrs_post_init__ = _freeze_metadata


@attrs.frozen
class User:
    """A member of the organisation, as ``GET /v2/users`` returns it.

    ``email`` is ``None`` for another member when the key belongs to a viewer restricted to
    access groups; ``name`` and ``image`` (a profile image URL) may be ``None``.
    """

    id: str
    email: str | None
    name: str | None
    image: str | None
    banned: bool


@attrs.frozen
class MemberRef:
    """A member of the organisation a record refers to, with an email when the API gives one
    (``None`` for a viewer restricted to access groups)."""

    id: str
    name: str | None
    email: str | None


@attrs.frozen
class UnitRef:
    """A unit a record refers to (a parent, a child, the unit of a log line)."""

    id: str
    serial_number: str


@attrs.frozen
class BatchRef:
    """The batch a unit belongs to."""

    id: str
    number: str


@attrs.frozen
class PartRef:
    """The part a unit is built as, with the revision it is built from."""

    id: str
    number: str
    name: str
    revision: PartRevision


@attrs.frozen
class LastRun:
    """The most recent run of a unit. ``ended_at`` is ``None`` while it runs, ``procedure``
    for a run without one."""

    id: str
    outcome: Outcome
    started_at: AwareDatetime
    ended_at: AwareDatetime | None
    procedure: ProcedureRef | None


@attrs.frozen
class Unit:
    """A unit under test, as ``GET /v2/units`` returns it.

    ``children`` holds at most ten of the units assembled into it; ``sample`` is ``None`` for a
    production unit. ``metadata`` is present only when the listing asked for it.
    """

    id: str
    serial_number: str
    created_at: AwareDatetime
    sample: Sample | None
    children: tuple[UnitRef, ...]
    part: PartRef
    created_by_user: UserRef | None = None
    created_by_station: StationRef | None = None
    batch: BatchRef | None = None
    parent: UnitRef | None = None
    last_run: LastRun | None = None
    metadata: Metadata | None = None

    __attrs_post_init__ = _freeze_metadata


@attrs.frozen
class ProcedureVersionRef:
    """The version of a procedure a run used."""

    id: str
    tag: str


@attrs.frozen
class RunProcedure:
    """The procedure of a run, with the version it ran (``None``: unversioned)."""

    id: str
    name: str
    version: ProcedureVersionRef | None


@attrs.frozen
class RunUnit:
    """The unit a run tested: its part and revision, and its batch when it has one."""

    id: str
    serial_number: str
    sample: Sample | None
    part: PartRef
    batch: BatchRef | None = None


@attrs.frozen
class Operator:
    """Who operated a run: a member (``id`` and ``email`` set) or a declared name (both
    ``None``)."""

    id: str | None
    name: str | None
    email: str | None


@attrs.frozen
class RunSequence:
    """A top-level sequence call of a run. ``path`` is unique within the run; a skipped call has
    no times and no ``duration`` (a ``timedelta`` otherwise: see ``Run``)."""

    id: str
    path: str
    key: str
    parent_path: str | None
    name: str
    source: str | None
    outcome: SequenceOutcome
    started_at: AwareDatetime | None
    ended_at: AwareDatetime | None
    duration: timedelta | None


@attrs.frozen
class Run:
    """A test run, as ``GET /v2/runs`` returns it.

    ``duration`` is a ``timedelta``, read from the API's ISO 8601 text (``PT90.5S``), which
    ``aiotofu.to_json_dict(run)`` (and the command line's jsonl and csv) writes back in that
    form. ``execution_id``, ``slot_key`` and ``slot_name``
    are set for the runs of a multi-slot execution. ``created_by_*`` and ``operated_by`` are
    ``None`` when the API leaves them out; ``metadata`` and ``sequences`` are present only when
    the listing asked for them (``include_metadata``, ``include_sequences``).
    """

    id: str
    created_at: AwareDatetime
    started_at: AwareDatetime
    ended_at: AwareDatetime
    duration: timedelta
    outcome: Outcome
    execution_id: str | None
    slot_key: str | None
    slot_name: str | None
    procedure: RunProcedure
    unit: RunUnit
    docstring: str | None = None
    created_by_user: MemberRef | None = None
    created_by_station: StationRef | None = None
    operated_by: Operator | None = None
    metadata: Metadata | None = None
    sequences: tuple[RunSequence, ...] | None = None

    __attrs_post_init__ = _freeze_metadata


@attrs.frozen
class LinkedRepository:
    """The source repository linked to a procedure (JSON ``linkedRepository``); ``full_name``
    is ``owner/repo`` (JSON ``fullName``)."""

    id: str
    name: str
    full_name: str
    provider: Provider


@attrs.frozen
class Procedure:
    """A test procedure, as ``GET /v2/procedures`` returns it."""

    id: str
    name: str
    created_at: AwareDatetime
    created_by_user: MemberRef
    linked_repository: LinkedRepository | None


@attrs.frozen
class DeploymentCommit:
    """The git commit a deployment was built from."""

    id: str
    sha: str
    message: str
    author_username: str
    author_avatar_url: str | None
    committed_at: AwareDatetime | None
    branch: str | None


@attrs.frozen
class DeploymentRepository:
    """The host of a deployment's source repository."""

    provider: Provider


@attrs.frozen
class Deployment:
    """A deployment of a procedure to stations, as ``GET /v2/deployments`` returns it.

    ``commit`` and ``repository`` are ``None`` for a deployment not built from git; a build
    not started (or not ended) has no ``started_at`` (``ended_at``).
    """

    id: str
    environment: Environment
    trigger: Trigger
    status: BuildStatus
    skipped: bool
    started_at: AwareDatetime | None
    ended_at: AwareDatetime | None
    deployed_at: AwareDatetime
    procedure: ProcedureRef | None
    commit: DeploymentCommit | None
    repository: DeploymentRepository | None
    stations: tuple[StationRef, ...]


@attrs.frozen
class LogRun:
    """The run a log line belongs to."""

    id: str
    outcome: Outcome
    started_at: AwareDatetime


@attrs.frozen
class Log:
    """A log line of a run, as ``GET /v2/logs`` returns it."""

    id: str
    level: LogLevel
    message: str
    created_at: AwareDatetime
    source_file: str | None
    line_number: int | None
    run: LogRun
    unit: UnitRef
    procedure: ProcedureRef
    created_by_user: MemberRef | None = None
    created_by_station: StationRef | None = None


@attrs.frozen
class Phase:
    """One attempt of a phase of a run, as ``GET /v2/phases`` returns it.

    ``retry_count`` is 0 for the first attempt; ``sequence_path`` is ``None`` for a phase
    written in the procedure itself; times are ``None`` when the API did not record them.
    ``duration_ms`` is the API's own value (whole milliseconds); ``duration`` is the same as a
    ``timedelta``, as on runs and their sequence calls (and a duration column in tables).
    """

    id: str
    name: str
    outcome: PhaseOutcome
    started_at: AwareDatetime | None
    ended_at: AwareDatetime | None
    # The unit makes it a duration in tables (aiotofu.schema): the API's value, typed.
    duration_ms: int | None = attrs.field(metadata={DURATION_UNIT: "ms"})
    retry_count: int
    sequence_path: str | None
    is_final_attempt: bool
    run_id: str
    run_outcome: Outcome
    serial_number: str | None
    sample: Sample | None

    @property
    def duration(self) -> timedelta | None:
        """``duration_ms`` as a ``timedelta`` (None when the API has no duration)."""
        ms = self.duration_ms
        return None if ms is None else timedelta(milliseconds=ms)


@attrs.frozen
class Validator:
    """A limit a measurement was checked against: ``operator`` and ``expected_value`` (a bool,
    a number, a string, or a list of numbers or of strings), or an expression alone."""

    outcome: MeasurementOutcome
    operator: str | None
    expected_value: bool | float | str | tuple[float | str, ...] | None
    expression: str
    is_decisive: bool | None
    is_expression_only: bool
    analytics_expression: str | None
    has_custom_expression: bool


@attrs.frozen
class Measurement:
    """A measurement of a phase of a run, as ``GET /v2/measurements`` returns it.

    Which of ``value``, ``bool_value`` and ``string_value`` is set follows
    ``measurement_type``; ``validators`` is ``None`` when it has none.
    """

    id: str
    phase_name: str
    measurement_name: str
    started_at: AwareDatetime | None
    value: float | None
    bool_value: bool | None
    string_value: str | None
    units: str | None
    measurement_outcome: MeasurementOutcome
    run_id: str
    serial_number: str | None
    sample: Sample | None
    measurement_type: MeasurementType
    retry_count: int
    is_final_attempt: bool
    validators: tuple[Validator, ...] | None


# The fields whose JSON key is not their name: the API's only two camelCase keys.
JSON_KEYS: dict[type, dict[str, str]] = {
    Procedure: {"linked_repository": "linkedRepository"},
    LinkedRepository: {"full_name": "fullName"},
}


@attrs.frozen
class Page(Generic[T]):
    """One page of a list endpoint.

    ``cursor`` is the offset this page was requested at; ``next_cursor`` is the server's cursor for
    the following page (``None`` on the last one); ``has_more`` says whether one exists.
    """

    items: tuple[T, ...]
    cursor: int
    has_more: bool
    next_cursor: int | None
