"""The emulator's records beyond batches: procedures and their versions, deployments, units,
runs, phases, measurements and log lines, as one coherent, deterministic data set.

The world is generated once, from the store as it is when the emulator is made (its batches,
their units, users and stations) and the seed: a unit is one of a batch's, a run tests a unit
with one of the procedures, its phases and measurements follow that procedure's plan and decide
its outcome, its log lines tell the same story, a unit's ``last_run`` is its latest run.

Then every write is applied to the records it touches, as the API's database would: a batch
added brings its units (untested), a run added brings its phases, measurements and log lines and
moves its unit's ``last_run``, and deletions cascade (a batch takes its units, a unit its runs,
a run its phases, measurements and log lines). Every other record stays exactly as it was: the
records are kept, never derived again, so a write cannot reshuffle the rest.

Records are dicts shaped as the API answers (their public keys), with private keys (a leading
underscore) for what the filters and sorts need: times in microseconds, the ids a filter names.
With the precision "us", every generated time has microseconds past its millisecond (drawn from
what names it, not from the random streams, so "ms" generates the data it always did); a
record's times shown in its public keys are those, truncated to the millisecond.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from .store import (
    EPOCH_START,
    PRECISIONS,
    PROCEDURES,
    Change,
    Snapshot,
    Store,
    SyntheticStore,
    format_timestamp,
    now_micros,
    part_name,
    resolution,
    stable_id,
    sub_millisecond,
    to_micros,
)

__all__ = ["PROCEDURE_NAMES", "Records", "World", "iso_duration"]

SECOND = 1_000_000
DAY = 86_400 * SECOND
DEFAULT_MAX_RUNS = 1000

Record = dict[str, Any]

# Every procedure: its name, and its repository (name, provider) when one is linked.
_CATALOGUE = [
    ("Functional test", ("functional-test", "github")),
    ("ICT", ("ict-fixtures", "gitlab")),
    ("Burn-in", None),
    ("Final QA", ("final-qa", "github")),
    ("Calibration", ("calibration", "bitbucket")),
    ("Firmware flashing", None),
]
assert [name for name, _ in _CATALOGUE[: len(PROCEDURES)]] == PROCEDURES
PROCEDURE_NAMES = tuple(name for name, _ in _CATALOGUE)

# A phase: (name, sequence path or None, measurements). A measurement: (name, type, units,
# low, high) for numbers, (name, "boolean") and (name, "string", expected), or (name, "json").
_PLANS: dict[str, list[tuple[str, str | None, list[tuple[Any, ...]]]]] = {
    "Functional test": [
        ("power_on", "power", [("inrush_current", "numeric", "A", 0.1, 1.5)]),
        (
            "voltage_rails",
            "power",
            [("vcc_3v3", "numeric", "V", 3.2, 3.4), ("vcc_5v", "numeric", "V", 4.9, 5.1)],
        ),
        ("firmware_version", None, [("fw_version", "string", "2.1.0")]),
        ("radio_link", "radio", [("rssi", "numeric", "dBm", -80.0, -30.0), ("link_ok", "boolean")]),
        ("shutdown", None, []),
    ],
    "ICT": [
        ("continuity", None, [("open_nets", "numeric", None, 0.0, 0.0)]),
        ("resistors", None, [("r12", "numeric", "Ohm", 990.0, 1010.0)]),
        ("capacitors", None, [("c3", "numeric", "uF", 9.0, 11.0)]),
    ],
    "Burn-in": [
        ("heat_soak", None, [("board_temp", "numeric", "degC", 60.0, 85.0)]),
        ("stress", None, [("errors", "numeric", None, 0.0, 0.0), ("log", "json")]),
    ],
    "Final QA": [
        ("visual", None, [("scratches", "boolean")]),
        ("label", None, [("label_text", "string", "OK")]),
        ("packaging", None, []),
    ],
    "Calibration": [
        ("offset", "cal", [("offset_mv", "numeric", "mV", -5.0, 5.0)]),
        ("gain", "cal", [("gain_error", "numeric", "%", -1.0, 1.0)]),
    ],
    "Firmware flashing": [("flash", None, [("image_crc", "string", "0x1f2e")])],
}
# Each numeric measurement's process, which its outcomes follow: where its mean sits between
# its limits (0: the low one, 1: the high one) and its capability, Cpk = min(mean - low,
# high - mean) / 3 sigma. 1.33 is the usual target; below 1 a measurement fails often enough
# to show in a day's yield, and the Cpk a query computes from the values finds these again.
_PROCESS: dict[str, tuple[float, float]] = {
    "inrush_current": (0.45, 1.5),
    "vcc_3v3": (0.55, 1.33),
    "vcc_5v": (0.5, 1.67),
    "rssi": (0.6, 0.6),
    "r12": (0.5, 1.33),
    "c3": (0.4, 0.75),
    "board_temp": (0.5, 1.0),
    "offset_mv": (0.5, 1.5),
    "gain_error": (0.6, 0.55),
}
# How often the other judged measurements fail: a defect counted, a check that says no, a
# string that does not match.
_SLIP: dict[str, float] = {
    "open_nets": 0.03,
    "errors": 0.04,
    "link_ok": 0.03,
    "scratches": 0.03,
    "fw_version": 0.02,
    "label_text": 0.02,
    "image_crc": 0.02,
}
_SEQUENCES = {"power": "Power checks", "radio": "Radio checks", "cal": "Calibration steps"}
_DECLARED_OPERATORS = ["Night shift", "Line lead", "Contractor A"]
_FIXTURES = ["F1", "F2", "F3", "F4"]
_BRANCHES = ["main", "main", "release/2.x", "feature/faster-boot"]
_CHANGES = ["tighten limits", "new phase", "fix flaky retry"]
_OUTCOMES_BY_CHANCE = [("ERROR", 0.02), ("TIMEOUT", 0.01), ("ABORTED", 0.01)]


@dataclass
class Records:
    """Every record of the world, per endpoint, by id in the order they were made; ``version``
    changes with every write (what cached answers are keyed by)."""

    version: int = 0
    procedures: dict[str, Record] = field(default_factory=dict)
    deployments: dict[str, Record] = field(default_factory=dict)
    units: dict[str, Record] = field(default_factory=dict)
    runs: dict[str, Record] = field(default_factory=dict)
    phases: dict[str, Record] = field(default_factory=dict)
    measurements: dict[str, Record] = field(default_factory=dict)
    logs: dict[str, Record] = field(default_factory=dict)


class World:
    """The records of one emulator: generated on first use from the store as it was when the
    world was made, then changed write by write.

    ``runs`` is how many runs to generate (None: one per unit, at most 1,000); ``precision``
    (one of PRECISIONS) what their times are stamped to. Thread-safe: writes and reads
    (``reading``) take one lock.
    """

    def __init__(
        self,
        store: Store | SyntheticStore,
        *,
        runs: int | None,
        seed: int,
        precision: str = "ms",
    ) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self._store = store
        self._runs = runs
        self._seed = seed
        # What the world is generated from is read now, not on first use: a batch added before
        # the first request is then one more batch, not a different world.
        self._base: Snapshot | None = (
            store.snapshot()
            if isinstance(store, Store)
            else Snapshot((), tuple(store.list_users()), (), 0)
        )
        self._seen = self._base.position  # the store's journal, applied up to here
        self._added = 0  # runs added so far: their ids never repeat, whatever is deleted
        self._records: Records | None = None
        self._context: _Context | None = None
        # Which phases, measurements and log lines each run owns (its cascade on deletion).
        self._owned: dict[str, tuple[list[str], list[str], list[str]]] = {}
        self._lock = threading.RLock()

    def records(self) -> Records:
        """The records as they are now (generated on first use, then kept up to date)."""
        with self._lock:
            return self._current()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Records]:
        """The records, with no write until the block ends (a request reads one state)."""
        with self._lock:
            yield self._current()

    def add_run(
        self,
        *,
        serial_number: str | None = None,
        procedure: str | None = None,
        outcome: str | None = None,
        started_at: int | None = None,
        created_at: int | None = None,
    ) -> str:
        """Record a run as a station would upload it (now, unless ``created_at``); its id.

        ``serial_number`` (an existing unit), ``procedure`` (a name) and ``outcome`` are chosen
        when None; KeyError names what does not exist.
        """
        with self._lock:
            records = self._current()
            units = list(records.units.values())
            unit = None
            if serial_number is not None:
                unit = next((u for u in units if u["serial_number"] == serial_number), None)
                if unit is None:
                    raise KeyError(f"no unit with serial number {serial_number!r}")
            if not units:
                raise KeyError("no unit to test: add a batch with units first")
            if procedure is not None and procedure not in _PLANS:
                raise KeyError(f"no procedure named {procedure!r}")
            if created_at is None:
                newest = max((run["_created"] for run in records.runs.values()), default=0)
                now = now_micros(self.precision)
                created_at = max(now, newest + resolution(self.precision))
            run_id = stable_id("added-run", str(self._seed), str(self._added))
            self._added += 1
            rng = random.Random(run_id)
            if unit is None:
                unit = units[rng.randrange(len(units))]
            assert self._context is not None
            self._owned[run_id] = self._context.run(
                records, rng, run_id, unit, procedure, outcome, started_at, created_at
            )
            _link_last_run(unit)
            records.version += 1
        return run_id

    def delete_run(self, run_id: str) -> None:
        """Delete a run with its phases, measurements and log lines; its unit's ``last_run``
        falls back to the run before (or null). KeyError if there is no such run."""
        with self._lock:
            records = self._current()
            run = records.runs.get(run_id)
            if run is None:
                raise KeyError(f"no run {run_id!r}")
            self._drop_run(records, run)
            _link_last_run(run["_unit"])
            records.version += 1

    def delete_unit(self, id_or_serial_number: str) -> None:
        """Delete a unit (by id or serial number) with its runs, from the store too: its batch
        counts one unit less, its parent loses it from its children, its children lose their
        parent. KeyError if there is no such unit."""
        with self._lock:
            records = self._current()
            unit = records.units.get(id_or_serial_number) or next(
                (u for u in records.units.values() if u["serial_number"] == id_or_serial_number),
                None,
            )
            if unit is None or not isinstance(self._store, Store):
                raise KeyError(f"no unit {id_or_serial_number!r}")
            self._store.delete_unit(unit["batch"]["id"], unit["serial_number"])
            self._current()  # applies the store's change, with its cascade

    # -- keeping up with the store ----------------------------------------------------------

    def _current(self) -> Records:
        """The records, generated if they were not yet, with the store's writes applied."""
        if self._records is None:
            self._records = self._generate()
        if isinstance(self._store, Store):
            changes = self._store.changes(self._seen)
            for change in changes:
                self._apply(self._records, change)
            if changes:
                self._seen += len(changes)
                self._records.version += 1
        return self._records

    def _apply(self, records: Records, change: Change) -> None:
        assert isinstance(self._store, Store)
        if change.kind == "batches_added":
            # Read now: a unit of the batch deleted since then is missing from the rows, and
            # its own change (later in the journal) then finds nothing left to delete.
            for unit in _units(self._store.unit_rows(change.first, change.last), self._seed):
                records.units[unit["id"]] = unit
        elif change.kind == "batch_deleted":
            for unit in [u for u in records.units.values() if u["batch"]["id"] == change.batch_id]:
                self._drop_unit(records, unit)
        else:
            assert change.kind == "unit_deleted", change
            for unit in [
                u
                for u in records.units.values()
                if u["batch"]["id"] == change.batch_id
                and u["serial_number"] == change.serial_number
            ]:
                self._drop_unit(records, unit)

    def _drop_unit(self, records: Records, unit: Record) -> None:
        for run in list(unit["_runs"]):
            self._drop_run(records, run)
        del records.units[unit["id"]]
        parent = unit["parent"] and records.units.get(unit["parent"]["id"])
        if parent:
            parent["children"] = [c for c in parent["children"] if c["id"] != unit["id"]]
        for child in unit["children"]:
            if child["id"] in records.units:
                records.units[child["id"]]["parent"] = None

    def _drop_run(self, records: Records, run: Record) -> None:
        del records.runs[run["id"]]
        run["_unit"]["_runs"].remove(run)
        phases, measurements, logs = self._owned.pop(run["id"])
        for owned, ids in (
            (records.phases, phases),
            (records.measurements, measurements),
            (records.logs, logs),
        ):
            for record_id in ids:
                del owned[record_id]

    # -- generating -------------------------------------------------------------------------

    def _generate(self) -> Records:
        base, self._base = self._base, None  # read once: its rows are not kept
        assert base is not None
        records = Records()
        members = [_member(user) for user in base.users]
        stations = list(base.stations)
        rng = random.Random(f"world:{self._seed}")
        fine = _fine if self.precision == "us" else _whole
        procedures = _procedures(members, rng, fine)
        # Newest first: the order the API answers in (it takes no order parameter).
        records.procedures = {p["id"]: p for p in procedures[::-1]}
        deployments = _deployments(procedures, stations, members, rng, fine)
        records.deployments = {d["id"]: d for d in deployments}
        units = _units(base.unit_rows, self._seed)
        records.units = {unit["id"]: unit for unit in units}
        count = min(len(units), DEFAULT_MAX_RUNS) if self._runs is None else self._runs
        self._context = _Context(procedures, deployments, members, stations, fine)
        if units:
            for index in range(count):
                run_rng = random.Random(f"run:{self._seed}:{index}")
                unit = units[run_rng.randrange(len(units))]
                run_id = stable_id("run", str(self._seed), str(index))
                self._owned[run_id] = self._context.run(
                    records, run_rng, run_id, unit, None, None, None, None
                )
        for unit in units:
            _link_last_run(unit)
        return records


def _fine(*parts: str) -> int:
    """The microseconds past its millisecond of the generated time that ``parts`` name."""
    return sub_millisecond(*parts)


def _whole(*parts: str) -> int:
    """None: times are whole milliseconds (the precision "ms")."""
    return 0


Fine = Callable[..., int]


def _member(user: dict[str, Any]) -> dict[str, Any]:
    return {"id": user["id"], "name": user["name"], "email": user["email"]}


def _procedures(
    members: list[dict[str, Any]], rng: random.Random, fine: Fine
) -> list[dict[str, Any]]:
    """The six procedures, created before the first batch, some with a linked repository."""
    procedures = []
    for index, (name, repository) in enumerate(_CATALOGUE):
        created = to_micros(EPOCH_START) - (90 - 7 * index) * DAY + fine("procedure", name)
        procedure_id = stable_id("procedure", name)
        versions = [] if index % 3 == 2 else _versions(procedure_id, created, rng)
        procedures.append(
            {
                "id": procedure_id,
                "name": name,
                "created_at": format_timestamp(created),
                "created_by_user": rng.choice(members)
                if members
                else {"id": stable_id("user", "system"), "name": None, "email": None},
                "linkedRepository": None
                if repository is None
                else {
                    "id": stable_id("repository", repository[0]),
                    "name": repository[0],
                    "fullName": f"acme/{repository[0]}",
                    "provider": repository[1],
                },
                "_created": created,
                "_versions": versions,
                "_repository": repository,
            }
        )
    return procedures


def _versions(procedure_id: str, created: int, rng: random.Random) -> list[tuple[int, str, str]]:
    """(from, id, tag) of each version of a procedure, oldest first: the first a few days after
    the procedure was created, then one every few days to weeks."""
    versions = []
    at = created
    for minor in range(6):
        at += rng.randrange(2, 16) * DAY
        tag = f"v1.{minor}.0"
        versions.append((at, stable_id("version", procedure_id, tag), tag))
    return versions


def _deployments(
    procedures: list[dict[str, Any]],
    stations: list[dict[str, Any]],
    members: list[dict[str, Any]],
    rng: random.Random,
    fine: Fine,
) -> list[dict[str, Any]]:
    """Deployments of the procedures with a repository (and a few from the CLI, not from
    git), newest first: what the API answers with no order parameter."""
    deployments = []
    for procedure in procedures:
        repository = procedure["_repository"]
        linked = [s for s in stations if any(p["id"] == procedure["id"] for p in s["procedures"])]
        for k, (_, version_id, tag) in enumerate(procedure["_versions"]):
            deployed = procedure["_versions"][k][0] + rng.randrange(0, 3 * 3600) * SECOND
            deployed += fine("deployment", version_id)
            environment = ("production", "preview", "production", "development")[k % 4]
            status = "ready" if rng.random() < 0.8 else rng.choice(["failed", "building"])
            git = repository is not None and k != 1
            pushed = status == "ready" and environment == "production"
            author = rng.choice(members)["name"] if members else None
            author = (author or "ci").lower().replace(" ", "-")
            sha = f"{rng.getrandbits(160):040x}"
            branch = rng.choice(_BRANCHES) if environment != "production" else "main"
            deployments.append(
                {
                    "id": stable_id("deployment", version_id),
                    "environment": environment,
                    "trigger": ("auto" if git else "cli") if k % 4 else "manual",
                    "status": status,
                    "skipped": False,
                    "started_at": format_timestamp(deployed + 2 * SECOND),
                    "ended_at": None
                    if status == "building"
                    else format_timestamp(deployed + rng.randrange(30, 300) * SECOND),
                    "deployed_at": format_timestamp(deployed),
                    "procedure": {"id": procedure["id"], "name": procedure["name"]},
                    "commit": {
                        "id": stable_id("commit", sha),
                        "sha": sha,
                        "message": f"Release {tag}: {rng.choice(_CHANGES)}",
                        "author_username": author,
                        "author_avatar_url": None
                        if k % 3 == 0
                        else f"https://avatars.example.com/{author}.png",
                        "committed_at": format_timestamp(deployed - 600 * SECOND),
                        "branch": branch,
                    }
                    if git
                    else None,
                    "repository": {"provider": repository[1]} if git else None,
                    "stations": [{"id": s["id"], "name": s["name"]} for s in linked]
                    if pushed
                    else [],
                    "_deployed": deployed,
                    "_procedure_id": procedure["id"],
                    "_version": tag,
                    "_branch": branch if git else None,
                    "_author": author if git else None,
                }
            )
    deployments.sort(key=lambda d: (d["_deployed"], d["id"]), reverse=True)
    return deployments


def _units(rows: Sequence[tuple[Any, ...]], seed: int) -> list[dict[str, Any]]:
    """The store's units; in each batch, every fifth unit is assembled into the fourth before."""
    units: list[dict[str, Any]] = []
    by_batch: dict[str, list[dict[str, Any]]] = {}
    for (
        serial,
        part,
        revision,
        created,
        batch_id,
        batch_number,
        user_id,
        user_name,
        sid,
        sname,
    ) in rows:
        unit_id = stable_id("unit", serial)
        rng = random.Random(f"unit:{seed}:{serial}")
        roll = rng.random()
        sample = (
            "golden"
            if roll < 0.02
            else "failing"
            if roll < 0.03
            else "ignored"
            if roll < 0.04
            else None
        )
        unit = {
            "id": unit_id,
            "serial_number": serial,
            "created_at": format_timestamp(created),
            "sample": sample,
            "children": [],
            "part": {
                "id": stable_id("part", part),
                "number": part,
                "name": part_name(part),
                "revision": {"id": stable_id("rev", part, revision), "number": revision},
            },
            "created_by_user": None if user_id is None else {"id": user_id, "name": user_name},
            "created_by_station": None if sid is None else {"id": sid, "name": sname},
            "batch": {"id": batch_id, "number": batch_number},
            "parent": None,
            "last_run": None,
            "_created": created,
            "_metadata": {
                "rework": rng.random() < 0.1,
                "lot": f"LOT-{rng.randrange(1, 40):03d}",
                "yield": round(rng.uniform(0.8, 1.0), 3),
            },
            "_runs": [],
        }
        siblings = by_batch.setdefault(batch_id, [])
        if len(siblings) % 5 == 4:
            parent = siblings[-4]
            unit["parent"] = {"id": parent["id"], "serial_number": parent["serial_number"]}
            if len(parent["children"]) < 10:
                parent["children"].append({"id": unit_id, "serial_number": serial})
        siblings.append(unit)
        units.append(unit)
    return units


class _Context:
    """What every run is generated from: procedures, deployments, members and stations."""

    def __init__(
        self,
        procedures: list[dict[str, Any]],
        deployments: list[dict[str, Any]],
        members: list[dict[str, Any]],
        stations: list[dict[str, Any]],
        fine: Fine,
    ) -> None:
        self.fine = fine  # the microseconds of a generated time (none with "ms")
        self.procedures = procedures
        self.by_name = {p["name"]: p for p in procedures}
        self.deployments = sorted(deployments, key=lambda d: d["_deployed"])
        self.members = members
        self.stations = stations

    def run(
        self,
        records: Records,
        rng: random.Random,
        run_id: str,
        unit: dict[str, Any],
        procedure_name: str | None,
        outcome: str | None,
        started: int | None,
        created: int | None,
    ) -> tuple[list[str], list[str], list[str]]:
        """Generate one run of ``unit`` with its phases, measurements and log lines; the ids
        of those (what the run owns)."""
        procedure = (
            self.by_name[procedure_name]
            if procedure_name is not None
            else rng.choice(self.procedures)
        )
        if started is None and created is not None:
            # Uploaded at `created`, a little after it ended (phases last minutes at most).
            started = created - rng.randrange(15 * 60, 20 * 60) * SECOND
            started -= self.fine(run_id, "started")
        elif started is None:
            started = unit["_created"] + rng.randrange(60, 3 * 86_400) * SECOND
            started += self.fine(run_id, "started")
        version = None
        for since, version_id, tag in procedure["_versions"]:
            if since <= started:
                version = {"id": version_id, "tag": tag}
        deployment = next(
            (
                d
                for d in reversed(self.deployments)
                if d["_procedure_id"] == procedure["id"]
                and d["_deployed"] <= started
                and d["status"] == "ready"
                and (d["environment"] == "production" or rng.random() < 0.15)
            ),
            None,
        )
        phases, measurements, ended, final = _phases(
            rng, run_id, procedure["name"], started, outcome, self.fine
        )
        if created is None:
            created = ended + rng.randrange(100, 30_000) * 1000 + self.fine(run_id, "created")
        by_station = rng.random() < 0.7 and bool(self.stations)
        station = rng.choice(self.stations) if by_station else None
        member = rng.choice(self.members) if self.members and not by_station else None
        operator_roll = rng.random()
        operated_by = (
            dict(rng.choice(self.members))
            if operator_roll < 0.6 and self.members
            else {"id": None, "name": rng.choice(_DECLARED_OPERATORS), "email": None}
            if operator_roll < 0.8
            else None
        )
        slot = rng.random() < 0.15
        index = int(run_id[:8], 16)
        run_unit = {
            "id": unit["id"],
            "serial_number": unit["serial_number"],
            "sample": unit["sample"],
            "part": unit["part"],
            "batch": unit["batch"],
        }
        run = {
            "id": run_id,
            "created_at": format_timestamp(created),
            "started_at": format_timestamp(started),
            "ended_at": format_timestamp(ended),
            "duration": iso_duration(ended - started),
            "outcome": final,
            "execution_id": stable_id("execution", run_id[:6]) if slot else None,
            "slot_key": f"slot-{index % 4 + 1}" if slot else None,
            "slot_name": f"Slot {index % 4 + 1}" if slot else None,
            "procedure": {"id": procedure["id"], "name": procedure["name"], "version": version},
            "unit": run_unit,
            "docstring": rng.choice([None, None, "Nightly regression", "Rework retest"]),
            "created_by_user": member,
            "created_by_station": None
            if station is None
            else {"id": station["id"], "name": station["name"]},
            "operated_by": operated_by,
            "_created": created,
            "_started": started,
            "_ended": ended,
            "_duration": ended - started,
            "_unit": unit,
            "_deployment": deployment,
            "_metadata": {
                "fixture": rng.choice(_FIXTURES),
                "temperature": round(rng.uniform(20.0, 30.0), 1),
                "rework": rng.random() < 0.05,
            },
            "_sequences": _sequences(run_id, phases),
        }
        records.runs[run_id] = run
        unit["_runs"].append(run)
        for phase in phases:
            phase.update(run_id=run_id, run_outcome=final)
            phase.update(serial_number=unit["serial_number"], sample=unit["sample"])
            phase["_run"] = run
            records.phases[phase["id"]] = phase
        for measurement in measurements:
            measurement.update(run_id=run_id, serial_number=unit["serial_number"])
            measurement["sample"] = unit["sample"]
            measurement["_run"] = run
            records.measurements[measurement["id"]] = measurement
        logs = _logs(rng, run, phases, procedure)
        for log in logs:
            records.logs[log["id"]] = log
        return (
            [phase["id"] for phase in phases],
            [measurement["id"] for measurement in measurements],
            [log["id"] for log in logs],
        )


def _phases(
    rng: random.Random,
    run_id: str,
    procedure: str,
    started: int,
    outcome: str | None,
    fine: Fine,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int, str]:
    """The attempts of every phase of a run and their measurements; the run's end and outcome.

    The measurements decide: each is drawn from its process (``_PROCESS``) and judged against
    its limits, an attempt fails when one of its measurements does, and a run fails when the
    last attempt of one of its phases did. A failed attempt is retried once in three (the
    retry draws afresh, and may fail again). A run that errs, times out or is aborted stops at
    a phase, which ends in ERROR, and its remaining phases are skipped. An ``outcome`` asked
    for is made true: FAIL forces one measurement out of its limits, PASS keeps them all in.
    """
    if outcome is None:
        outcome = next((o for o, chance in _OUTCOMES_BY_CHANCE if rng.random() < chance), None)
    plans = _PLANS[procedure]
    stop_at = rng.randrange(len(plans)) if outcome not in (None, "PASS", "FAIL") else -1
    judged = [index for index, (_, _, plan) in enumerate(plans) if _judged(plan)]
    must_fail = judged[rng.randrange(len(judged))] if outcome == "FAIL" else -1
    force = "PASS" if outcome == "PASS" else None
    phases: list[dict[str, Any]] = []
    measurements: list[dict[str, Any]] = []
    at = started
    failed = False
    for index, (name, sequence, plan) in enumerate(plans):
        if 0 <= stop_at < index:
            phases.append(_phase(run_id, name, sequence, "SKIP", None, None, 0, True))
            continue
        attempt = 0
        while True:
            length = rng.randrange(200, 20_000) * 1000 + fine(run_id, name, str(attempt))
            phase = _phase(run_id, name, sequence, "PASS", at, at + length, attempt, True)
            taken = [
                _measurement(
                    phase,
                    spec,
                    "FAIL" if index == must_fail and spec is _first_judged(plan) else force,
                )
                for spec in plan
            ]
            attempt_fails = any(m["measurement_outcome"] == "FAIL" for m in taken)
            phase["outcome"] = "ERROR" if index == stop_at else "FAIL" if attempt_fails else "PASS"
            phases.append(phase)
            measurements.extend(taken)
            at += length
            # A failed attempt is retried once in three, once, unless the outcome is decided.
            if not attempt_fails or attempt or outcome is not None or rng.random() >= 0.33:
                break
            phase["is_final_attempt"] = False
            for measurement in taken:
                measurement["is_final_attempt"] = False
            attempt += 1
        failed = failed or attempt_fails
    final = outcome if outcome is not None else "FAIL" if failed else "PASS"
    return phases, measurements, at, final


def _phase(
    run_id: str,
    name: str,
    sequence: str | None,
    outcome: str,
    started: int | None,
    ended: int | None,
    retry: int,
    final: bool,
) -> dict[str, Any]:
    ran = started is not None and ended is not None
    return {
        "id": stable_id("phase", run_id, name, str(retry)),
        "name": name,
        "outcome": outcome,
        "started_at": None if started is None else format_timestamp(started),
        "ended_at": None if ended is None else format_timestamp(ended),
        "duration_ms": (ended - started) // 1000 if ran else None,  # type: ignore[operator]
        "retry_count": retry,
        "sequence_path": sequence,
        "is_final_attempt": final,
        "_started": started,
        "_duration": (ended - started) if ran else None,  # type: ignore[operator]
    }


def _judged(plan: Sequence[tuple[Any, ...]]) -> bool:
    """Whether a phase's measurements can fail it (a json one is recorded, not judged)."""
    return _first_judged(plan) is not None


def _first_judged(plan: Sequence[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    return next((spec for spec in plan if spec[1] != "json"), None)


def _measurement(phase: dict[str, Any], spec: tuple[Any, ...], force: str | None) -> dict[str, Any]:
    """One measurement of an attempt: drawn from its process, judged against its limits.

    ``force`` "FAIL" puts it out of its limits, "PASS" keeps it within them, None lets the
    draw decide. The draw comes from the measurement's own id, not the run's random stream,
    so that a measurement is the same whatever else the run drew."""
    name, kind = spec[0], spec[1]
    draw = random.Random(f"value:{phase['id']}:{name}")
    value = bool_value = string_value = units = None
    validators: list[dict[str, Any]] | None = None
    if kind == "numeric":
        units, low, high = spec[2], spec[3], spec[4]
        value = _numeric(draw, name, low, high, force)
        validators = [
            _validator(">=", low, value >= low),
            _validator("<=", high, value <= high),
        ]
        passed = low <= value <= high
    elif kind == "boolean":
        bool_value = force == "PASS" or (force is None and draw.random() >= _SLIP[name])
        validators = [_validator("==", True, bool_value)]
        passed = bool_value
    elif kind == "string":
        expected = spec[2]
        slipped = force == "FAIL" or (force is None and draw.random() < _SLIP[name])
        string_value = "mismatch" if slipped else expected
        validators = [_validator("==", expected, string_value == expected)]
        passed = string_value == expected
    outcome = "UNSET" if kind == "json" else "PASS" if passed else "FAIL"  # json: not judged
    return {
        "id": stable_id("measurement", phase["id"], name),
        "phase_name": phase["name"],
        "measurement_name": name,
        "started_at": phase["started_at"],
        "value": value,
        "bool_value": bool_value,
        "string_value": string_value,
        "units": units,
        "measurement_outcome": outcome,
        "measurement_type": kind,
        "retry_count": phase["retry_count"],
        "is_final_attempt": phase["is_final_attempt"],
        "validators": validators,
        "_phase": phase,
    }


def _numeric(draw: random.Random, name: str, low: float, high: float, force: str | None) -> float:
    """A value from the measurement's process: normal about its centre, with the spread its
    capability (Cpk) gives; a count (limits 0..0) is 0 but for its slips. Forced: out of the
    limits above the high one (FAIL), or drawn again until within them (PASS)."""
    if force == "FAIL":
        return round(high + ((high - low) or 1.0) * draw.uniform(0.05, 0.5), 4)
    if low == high:  # a count of defects: none, or a few
        return float(draw.randint(1, 3)) if force is None and draw.random() < _SLIP[name] else low
    centre, cpk = _PROCESS[name]
    mean = low + centre * (high - low)
    sigma = min(mean - low, high - mean) / (3 * cpk)
    for _ in range(20):
        value = round(draw.gauss(mean, sigma), 4)
        if force is None or low <= value <= high:
            return value
    return round(mean, 4)


def _validator(operator: str, expected: Any, passed: bool) -> dict[str, Any]:
    shown = f"{expected:g}" if isinstance(expected, float) else repr(expected)
    return {
        "outcome": "PASS" if passed else "FAIL",
        "operator": operator,
        "expected_value": expected,
        "expression": f"x {operator} {shown}",
        "is_decisive": not passed,
        "is_expression_only": False,
        "analytics_expression": f"{operator} {shown}",
        "has_custom_expression": False,
    }


def _sequences(run_id: str, phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run's top-level sequence calls, from the phases that ran in them."""
    calls: dict[str, list[dict[str, Any]]] = {}
    for phase in phases:
        if phase["sequence_path"] is not None:
            calls.setdefault(phase["sequence_path"], []).append(phase)
    sequences = []
    for path, members in calls.items():
        ran = [p for p in members if p["_started"] is not None]
        outcomes = {p["outcome"] for p in members if p["is_final_attempt"]}
        outcome = (
            "SKIP"
            if not ran
            else "ERROR"
            if "ERROR" in outcomes
            else "FAIL"
            if "FAIL" in outcomes
            else "PASS"
        )
        start: int | None = ran[0]["_started"] if ran else None
        end: int = ran[-1]["_started"] + ran[-1]["_duration"] if ran else 0
        sequences.append(
            {
                "id": stable_id("sequence", run_id, path),
                "path": path,
                "key": path,
                "parent_path": None,
                "name": _SEQUENCES[path],
                "source": f"sequences/{path}.yaml",
                "outcome": outcome,
                "started_at": None if start is None else format_timestamp(start),
                "ended_at": None if start is None else format_timestamp(end),
                "duration": None if start is None else iso_duration(end - start),
            }
        )
    return sequences


def _logs(
    rng: random.Random,
    run: dict[str, Any],
    phases: list[dict[str, Any]],
    procedure: dict[str, Any],
) -> list[dict[str, Any]]:
    """A run's log lines: its start, what went wrong in its phases, its end."""
    lines: list[tuple[int, str, str, str | None, int | None]] = [
        (
            run["_started"],
            "INFO",
            f"Starting {procedure['name']} on {run['unit']['serial_number']}",
            "main.py",
            12,
        ),
    ]
    for phase in phases:
        if phase["_started"] is None:
            continue
        at = phase["_started"]
        if rng.random() < 0.2:
            lines.append(
                (at, "DEBUG", f"{phase['name']}: fixture ready", f"phases/{phase['name']}.py", 8)
            )
        if phase["outcome"] in ("FAIL", "ERROR"):
            level = "ERROR" if phase["outcome"] == "FAIL" else "CRITICAL"
            lines.append(
                (
                    at + 1000,
                    level,
                    f"{phase['name']} failed: limit exceeded",
                    f"phases/{phase['name']}.py",
                    rng.randrange(20, 200),
                )
            )
        elif phase["retry_count"] and rng.random() < 0.8:
            lines.append((at, "WARNING", f"{phase['name']}: retrying", None, None))
    lines.append((run["_ended"], "INFO", f"Run finished: {run['outcome']}", "main.py", 40))
    logs = []
    for k, (at, level, message, source, line) in enumerate(lines):
        logs.append(
            {
                "id": stable_id("log", run["id"], str(k)),
                "level": level,
                "message": message,
                "created_at": format_timestamp(at),
                "source_file": source,
                "line_number": line,
                "run": {
                    "id": run["id"],
                    "outcome": run["outcome"],
                    "started_at": run["started_at"],
                },
                "unit": {"id": run["unit"]["id"], "serial_number": run["unit"]["serial_number"]},
                "procedure": {"id": run["procedure"]["id"], "name": run["procedure"]["name"]},
                "created_by_user": run["created_by_user"],
                "created_by_station": run["created_by_station"],
                "_created": at,
                "_run": run,
            }
        )
    return logs


def _link_last_run(unit: Record) -> None:
    """A unit's ``last_run``: its run started last (the id breaks a tie), or null."""
    if not unit["_runs"]:
        unit["last_run"] = None
        unit.pop("_last_run", None)
        return
    last = max(unit["_runs"], key=lambda run: (run["_started"], run["id"]))
    unit["last_run"] = {
        "id": last["id"],
        "outcome": last["outcome"],
        "started_at": last["started_at"],
        "ended_at": last["ended_at"],
        "procedure": {"id": last["procedure"]["id"], "name": last["procedure"]["name"]},
    }
    unit["_last_run"] = last


def iso_duration(micros: int) -> str:
    """``PT12.5S``: an ISO 8601 duration in seconds, as the API writes a run's."""
    seconds = f"{micros / SECOND:.3f}".rstrip("0").rstrip(".")
    return f"PT{seconds}S"
