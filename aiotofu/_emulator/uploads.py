"""A station's upload: ``POST /v2/runs`` with the official SDK's ``runs.create`` body.

TofuPilot reuses the unit of the serial number (matched case-insensitively) or creates it, in the
batch the upload names (created if new); the procedure must exist. The emulator records the run
as its world records any run added: with the outcome and start the upload gives, and the phases,
measurements and log lines of the procedure's plan (the upload's own are checked for shape, not
kept). Its ``docstring``, ``operated_by`` (a member's email links the member; any other text is a
declared name) and ``metadata`` are the upload's.

A unit created here is written to the world and to the store at once, never through the store's
journal: the world holds it from its first run, and the store knows it for its batch (its units,
its count), so that deleting the batch or the unit later cascades as for any other unit.
"""

from __future__ import annotations

import typing
from typing import Any

from .._models import Outcome
from . import world as world_module
from .listing import date_time, issue
from .store import Store, SyntheticStore, now_micros, resolution
from .world import World

__all__ = ["UploadError", "add_run", "ensure_unit", "upload_run"]

OUTCOMES: tuple[str, ...] = typing.get_args(Outcome)
REQUIRED = ("outcome", "procedure_id", "started_at", "ended_at", "serial_number")


class UploadError(Exception):
    """An upload refused: its status, error code, message and issues (as the API answers)."""

    def __init__(
        self, status: int, code: str, message: str, issues: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.issues = issues or []


def upload_run(store: Store | SyntheticStore, world: World, body: Any, *, seed: int) -> str:
    """Record the run of a ``runs.create`` body; its id. UploadError says what is wrong."""
    if isinstance(store, SyntheticStore):
        raise UploadError(405, "METHOD_NOT_ALLOWED", "A synthetic emulator is read-only")
    if not isinstance(body, dict):
        problem = issue("body", "invalid_type", "Expected object")
        raise UploadError(400, "BAD_REQUEST", "Bad request", [problem])
    problems = [
        issue(name, "invalid_type", "Required")
        for name in REQUIRED
        if not isinstance(body.get(name), str) or not body[name].strip()
    ]
    outcome = body.get("outcome")
    if isinstance(outcome, str) and outcome not in OUTCOMES:
        problems.append(issue("outcome", "invalid_enum_value", f"Expected {' | '.join(OUTCOMES)}"))
    started = date_time(_text(body, "started_at"), "started_at", problems)
    ended = date_time(_text(body, "ended_at"), "ended_at", problems)
    if started is not None and ended is not None and ended < started:
        problems.append(issue("ended_at", "invalid_date", "Must not be before started_at"))
    for name in ("part_number", "revision_number", "batch_number", "operated_by", "docstring"):
        if body.get(name) is not None and not isinstance(body[name], str):
            problems.append(issue(name, "invalid_type", "Expected string"))
    metadata = body.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(v, (str, int, float, bool)) for v in metadata.values())
    ):
        problems.append(
            issue("metadata", "invalid_type", "Expected string, number or boolean values")
        )
    if problems:
        raise UploadError(400, "BAD_REQUEST", "Bad request", problems)
    procedure = world.records().procedures.get(body["procedure_id"])
    if procedure is None:
        raise UploadError(404, "NOT_FOUND", f"Procedure {body['procedure_id']!r} not found")
    try:
        serial = ensure_unit(
            store,
            world,
            body["serial_number"],
            seed=seed,
            part_number=body.get("part_number"),
            revision_number=body.get("revision_number"),
            batch_number=body.get("batch_number"),
        )
    except KeyError as exc:
        raise UploadError(
            400, "BAD_REQUEST", "Bad request", [issue("part_number", "invalid_type", exc.args[0])]
        ) from None
    run_id = world.add_run(
        serial_number=serial, procedure=procedure["name"], outcome=outcome, started_at=started
    )
    with world.reading() as records:
        run = records.runs[run_id]
        run["docstring"] = body.get("docstring")
        run["operated_by"] = _operator(records, body.get("operated_by"))
        if metadata is not None:
            run["_metadata"] = dict(metadata)
        records.version += 1
    return run_id


def add_run(
    store: Store | SyntheticStore,
    world: World,
    *,
    serial_number: str | None,
    seed: int,
    part_number: str | None = None,
    revision_number: str | None = None,
    batch_number: str | None = None,
    **run: Any,
) -> str:
    """``World.add_run``, creating the unit of ``serial_number`` first if there is none (as an
    upload does); KeyError names what is missing."""
    if serial_number is not None:
        serial_number = ensure_unit(
            store,
            world,
            serial_number,
            seed=seed,
            part_number=part_number,
            revision_number=revision_number,
            batch_number=batch_number,
        )
    return world.add_run(serial_number=serial_number, **run)


def ensure_unit(
    store: Store | SyntheticStore,
    world: World,
    serial_number: str,
    *,
    seed: int,
    part_number: str | None,
    revision_number: str | None = None,
    batch_number: str | None = None,
) -> str:
    """The serial number of the unit ``serial_number`` names (case-insensitively), created if
    there is none: of ``part_number`` (required then: KeyError says so), ``revision_number``
    (default: the part's first), in the batch ``batch_number`` (created if new).

    Without a batch number TofuPilot links the unit to no batch; the emulator's units all
    belong to one (its world and store are built that way), so the unit gets a batch of its
    own, numbered as its serial number.
    """
    with world.reading() as records:
        wanted = serial_number.casefold()
        for unit in records.units.values():
            if unit["serial_number"].casefold() == wanted:
                return str(unit["serial_number"])
        if not isinstance(store, Store):
            raise KeyError("a synthetic emulator is read-only")
        if not part_number:
            raise KeyError(
                f"no unit with serial number {serial_number!r}: give a part_number to create "
                "it, as TofuPilot does on upload"
            )
        revision = revision_number or _first_revision(records, part_number)
        number = batch_number or serial_number
        batch = store.find_batch(number)
        if batch is None:
            store.create_batch(number)
            world.records()  # the new batch applied now, empty: the unit below is not in it yet
            batch = store.find_batch(number)
        assert batch is not None
        created = max(
            now_micros(store.precision),
            max((u["_created"] for u in records.units.values()), default=0)
            + resolution(store.precision),
        )
        store.record_unit(batch["id"], serial_number, part_number, revision, created)
        row: tuple[Any, ...] = (serial_number, part_number, revision, created, batch["id"])
        row += (batch["number"], *_creator(batch))
        [unit] = world_module._units([row], seed)
        records.units[unit["id"]] = unit
        records.version += 1
    return serial_number


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) else None


def _first_revision(records: world_module.Records, part_number: str) -> str:
    """The revision a unit of ``part_number`` gets when the upload names none: that of the
    part's oldest unit, or "A" for a new part."""
    for unit in records.units.values():
        if unit["part"]["number"] == part_number:
            return str(unit["part"]["revision"]["number"])
    return "A"


def _creator(batch: dict[str, Any]) -> tuple[Any, ...]:
    user, station = batch.get("created_by_user"), batch.get("created_by_station")
    return (
        user and user["id"],
        user and user["name"],
        station and station["id"],
        station and station["name"],
    )


def _operator(records: world_module.Records, text: str | None) -> dict[str, Any] | None:
    """``operated_by`` as the API records it: a member whose email it is, or a declared name."""
    if not text:
        return None
    for run in records.runs.values():
        operator = run.get("operated_by")
        if operator and operator.get("email") and operator["email"].casefold() == text.casefold():
            return dict(operator)
    return {"id": None, "name": text, "email": None}
