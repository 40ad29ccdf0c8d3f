"""The records aiotofu yields: frozen attrs classes with exactly the fields the API documents."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, TypeVar

import attrs
import msgspec

__all__ = [
    "Batch",
    "Page",
    "Part",
    "PartRevision",
    "ProcedureRef",
    "Station",
    "StationRef",
    "TeamRef",
    "User",
    "UserRef",
]

T = TypeVar("T")

# A datetime that must carry a time zone: what the wire decoder checks (``2024-01-15T10:30:00Z``).
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


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
    revisions: list[PartRevision]
    metadata: dict[str, str | float | bool] | None = None


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
    procedures: list[ProcedureRef]
    procedures_count: float
    team: TeamRef | None
    metadata: dict[str, str | float | bool] | None = None


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
class Page(Generic[T]):
    """One page of a list endpoint.

    ``cursor`` is the offset this page was requested at; ``next_cursor`` is the server's cursor for
    the following page (``None`` on the last one); ``has_more`` says whether one exists.
    """

    items: tuple[T, ...]
    cursor: int
    has_more: bool
    next_cursor: int | None
