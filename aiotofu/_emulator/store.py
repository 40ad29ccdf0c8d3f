"""The emulator's data: batches, units, users and stations in SQLite (standard library only).

In memory by default; a path persists it. Timestamps are kept as integer microseconds since the
epoch, and answered to the millisecond (truncated, as TofuPilot's JavaScript server shows them).
With the precision "ms" (the default), generated and created records use whole milliseconds;
with "us", they carry microseconds, as PostgreSQL behind TofuPilot stores them (see
``PRECISIONS``). Every order has a unique tie-breaker so that offsets are stable (or, for an
emulator whose ties are unstable, a per-request permutation of each group of equal keys).

Every write is also written to a journal (``Change``), from which the emulator's world applies
exactly what changed to its own records instead of deriving them again.
"""

from __future__ import annotations

import functools
import hashlib
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "PRECISIONS",
    "PROCEDURES",
    "BatchFilter",
    "Change",
    "Snapshot",
    "Store",
    "format_timestamp",
    "now_micros",
    "part_name",
    "parts_catalogue",
    "procedure_id",
    "stable_id",
    "station_record",
    "sub_millisecond",
    "tie_key",
    "user_record",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, name TEXT);
CREATE TABLE IF NOT EXISTS stations (id TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    number TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,          -- microseconds since the epoch, UTC
    unit_count INTEGER NOT NULL DEFAULT 0,
    user_id TEXT REFERENCES users(id),
    station_id TEXT REFERENCES stations(id)
);
CREATE TABLE IF NOT EXISTS units (
    batch_seq INTEGER NOT NULL REFERENCES batches(seq),
    serial_number TEXT NOT NULL,
    part_number TEXT NOT NULL,
    revision TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS batches_by_created ON batches (created_at, id);
CREATE INDEX IF NOT EXISTS batches_by_number ON batches (number, id);
CREATE INDEX IF NOT EXISTS units_by_batch ON units (batch_seq, part_number, revision);
CREATE INDEX IF NOT EXISTS units_by_part ON units (part_number, revision, batch_seq);
CREATE INDEX IF NOT EXISTS units_by_serial ON units (serial_number);
"""

_SELECT = """
SELECT b.id, b.number, b.created_at, b.unit_count, b.user_id, u.name, b.station_id, s.name
FROM batches AS b
LEFT JOIN users AS u ON u.id = b.user_id
LEFT JOIN stations AS s ON s.id = b.station_id"""

_FIRST_NAMES = ["Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Dennis", "Frances"]
_LAST_NAMES = ["Lovelace", "Hopper", "Torvalds", "Hamilton", "Turing", "Liskov", "Ritchie"]
_STATIONS = ["Assembly", "ICT", "Functional Test", "Burn-in", "Final QA", "Flashing"]
_PARTS = [
    ("PCB-V1.2", "Main board", ["1.0", "1.1", "2.0"]),
    ("PCB-V1.3", "Main board", ["1.0", "1.1"]),
    ("PSU-220", "Power supply", ["A", "B"]),
    ("SENS-T1", "Temperature sensor", ["1.0"]),
    ("CAM-4K", "Camera module", ["3.2", "3.3"]),
]
EPOCH_START = datetime(2024, 1, 1, tzinfo=timezone.utc)

# What the emulator's times are stored to: whole milliseconds ("ms", what the API shows), or
# microseconds ("us", what PostgreSQL behind TofuPilot's JavaScript server keeps: a record at
# 12:00:00.123456 reads ``.123Z``, and ``created_before=...123Z`` leaves it out).
PRECISIONS = ("ms", "us")


def sub_millisecond(*parts: str) -> int:
    """The microseconds past its millisecond (0..999) of a generated time with the precision
    "us": drawn from ``parts`` (what names the time), the same on every run, and from no random
    stream, so the precision "ms" generates exactly the data it always did."""
    digest = hashlib.blake2b(":".join(("us", *parts)).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 1000


def now_micros(precision: str) -> int:
    """Now, since the epoch, in microseconds: to the microsecond with "us", else to the
    millisecond (the clock read as the precision stores it)."""
    now = time.time_ns() // 1000
    return now if precision == "us" else now - now % 1000


def resolution(precision: str) -> int:
    """The smallest step between two stored times, in microseconds: what "a moment later"
    than the newest record means when a new one must come after it."""
    return 1 if precision == "us" else 1000


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch of an aware datetime."""
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_timestamp(micros: int) -> str:
    """``2024-01-15T10:30:00.000Z``: what TofuPilot (a JavaScript server) sends.

    Arithmetic rather than ``strftime``, which was most of the cost of serving a page.
    """
    days, rest = divmod(micros, 86_400_000_000)
    seconds, micro = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_day(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micro // 1000:03d}Z"


@functools.lru_cache(maxsize=4096)
def _day(days: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=days)).isoformat()


UnitRow = tuple[Any, ...]

_UNIT_ROWS = (
    "SELECT x.serial_number, x.part_number, x.revision, x.created_at, b.id, b.number, "
    "b.user_id, u.name, b.station_id, s.name FROM units AS x "
    "JOIN batches AS b ON b.seq = x.batch_seq "
    "LEFT JOIN users AS u ON u.id = b.user_id "
    "LEFT JOIN stations AS s ON s.id = b.station_id"
)
_UNIT_ORDER = " ORDER BY x.created_at, b.seq, x.serial_number"


@dataclass(frozen=True)
class Change:
    """One write, as the journal keeps it.

    ``kind`` is ``"batches_added"`` (``first``..``last``: the sequence numbers of the batches
    added, their units with them), ``"batch_deleted"`` (``batch_id``, its units with it) or
    ``"unit_deleted"`` (``batch_id`` and ``serial_number``).
    """

    kind: str
    batch_id: str | None = None
    serial_number: str | None = None
    first: int = 0
    last: int = 0


@dataclass(frozen=True)
class Snapshot:
    """What the store holds at one moment: its unit rows (as ``Store.unit_rows``), users and
    stations, and the length of its journal then (the changes made after it follow)."""

    unit_rows: tuple[UnitRow, ...]
    users: tuple[dict[str, Any], ...]
    stations: tuple[dict[str, Any], ...]
    position: int


@dataclass(frozen=True)
class BatchFilter:
    """The filters of ``GET /v2/batches``, already validated."""

    ids: Sequence[str] = ()
    numbers: Sequence[str] = ()
    part_numbers: Sequence[str] = ()
    revision_numbers: Sequence[str] = ()
    created_after: int | None = None  # microseconds, inclusive
    created_before: int | None = None  # microseconds, inclusive
    search_query: str | None = None
    sort_by: str = "created_at"
    sort_order: str = "desc"
    tie_salt: bytes | None = None  # None: ties broken by id; else by this request's permutation


class Store:
    """All the emulator's data. Thread-safe: one connection behind a lock.

    ``precision`` (one of PRECISIONS) is what generated and created batches are stamped to;
    times given explicitly are kept as given, and a kept database keeps the ones it holds.
    """

    def __init__(self, path: str = ":memory:", *, precision: str = "ms") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self.version = 0  # changes with the data: what caches of answers are keyed by
        # Every write since this store was opened, oldest first (see Change); small records,
        # never the rows themselves, so a store generated with millions of batches keeps one.
        self._journal: list[Change] = []
        self._db.executescript("PRAGMA journal_mode = WAL;" if path != ":memory:" else "")
        self._db.executescript(_SCHEMA)
        self._db.create_function("tie_key", 2, tie_key, deterministic=True)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def count(self) -> int:
        """How many batches there are."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])

    # -- reading ---------------------------------------------------------------------------

    def list_batches(
        self, where: BatchFilter, *, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of batches in the requested order, and whether more follow."""
        clauses, params = _where(where)
        direction = "DESC" if where.sort_order == "desc" else "ASC"
        column = "created_at" if where.sort_by == "created_at" else "number"
        # Ties are broken by the id (stable), or by the request's permutation (unstable: what
        # SQL without a unique tie-breaker may do), which walks the ties off the index.
        tie = "b.id" if where.tie_salt is None else "tie_key(b.id, ?)"
        inner = f"ORDER BY b.{column} {direction}, page_tie {direction}"
        order = f"ORDER BY b.{column} {direction}, page.page_tie {direction}"
        # The offset is walked on the covering index alone; only the page's rows are joined.
        sql = (
            f"{_SELECT} JOIN (SELECT b.seq, {tie} AS page_tie FROM batches AS b"
            + (" WHERE " + " AND ".join(clauses) if clauses else "")
            + f" {inner} LIMIT ? OFFSET ?) AS page ON page.seq = b.seq {order}"
        )
        salt = [] if where.tie_salt is None else [where.tie_salt]
        with self._lock:
            rows = self._db.execute(sql, [*salt, *params, limit + 1, offset]).fetchall()
        return [_batch(row) for row in rows[:limit]], len(rows) > limit

    def list_users(self) -> list[dict[str, Any]]:
        """Every user, as ``GET /v2/users`` answers: email, image and banned derived from the id
        (some without an email or an image, one in twelve banned)."""
        with self._lock:
            rows = self._db.execute("SELECT id, name FROM users ORDER BY id").fetchall()
        return [user_record(user_id, name) for user_id, name in rows]

    def list_stations(self) -> list[dict[str, Any]]:
        """Every station, in name order, with its procedures, team and metadata (derived from
        its id, the same on every run)."""
        with self._lock:
            rows = self._db.execute("SELECT id, name FROM stations ORDER BY name, id").fetchall()
        return [station_record(station_id, name) for station_id, name in rows]

    def unit_rows(self, first: int | None = None, last: int | None = None) -> list[UnitRow]:
        """Every unit with its batch, oldest first: ``(serial_number, part_number, revision,
        created_at, batch_id, batch_number, user_id, user_name, station_id, station_name)``
        (what the emulator's units, runs and the records of runs are derived from); with
        ``first`` and ``last``, those of the batches with these sequence numbers only."""
        with self._lock:
            if first is None or last is None:
                return self._db.execute(_UNIT_ROWS + _UNIT_ORDER).fetchall()
            return self._db.execute(
                _UNIT_ROWS + " WHERE b.seq BETWEEN ? AND ?" + _UNIT_ORDER, [first, last]
            ).fetchall()

    def snapshot(self) -> Snapshot:
        """Every unit row, user and station, and the journal's length, at one moment."""
        while True:
            # Read without holding the lock across the three reads (each takes it), and retry
            # in the rare case a write came in between: the snapshot is one moment.
            position = len(self._journal)
            rows = self.unit_rows()
            users = self.list_users()
            stations = self.list_stations()
            if len(self._journal) == position:
                return Snapshot(tuple(rows), tuple(users), tuple(stations), position)

    def changes(self, since: int) -> list[Change]:
        """The writes made after the journal had ``since`` entries, oldest first."""
        with self._lock:
            return self._journal[since:]

    def get_batch(self, number: str) -> dict[str, Any] | None:
        """A batch with its units, as ``GET /v2/batches/{number}`` answers; None if unknown."""
        with self._lock:
            row = self._db.execute(_SELECT + " WHERE b.number = ?", [number]).fetchone()
            if row is None:
                return None
            units = self._db.execute(
                "SELECT serial_number, created_at, part_number, revision FROM units "
                "WHERE batch_seq = (SELECT seq FROM batches WHERE number = ?) "
                "ORDER BY serial_number",
                [number],
            ).fetchall()
        batch = _batch(row)
        del batch["unit_count"]
        batch["units"] = [
            {
                "id": stable_id("unit", serial),
                "serial_number": serial,
                "created_at": format_timestamp(created),
                "part": {
                    "id": stable_id("part", part_number),
                    "number": part_number,
                    "name": part_name(part_number),
                    "revision": {
                        "id": stable_id("rev", part_number, revision),
                        "number": revision,
                    },
                },
            }
            for serial, created, part_number, revision in units
        ]
        return batch

    def find_batch(self, number: str) -> dict[str, Any] | None:
        """The batch numbered ``number``, matched case-insensitively as an upload matches it
        (as ``GET /v2/batches`` shows it, without its unit count); None if there is none."""
        with self._lock:
            row = self._db.execute(
                _SELECT + " WHERE lower(b.number) = lower(?) ORDER BY b.seq LIMIT 1", [number]
            ).fetchone()
        return None if row is None else _batch(row)

    # -- writing ---------------------------------------------------------------------------

    def record_unit(
        self, batch_id: str, serial_number: str, part_number: str, revision: str, created_at: int
    ) -> None:
        """Add a unit to an existing batch (which counts one unit more) that the caller has
        already given the world (an upload's): not journalled, so the world does not add it
        twice; deleting it or its batch is, and cascades as for every unit. ValueError if the
        serial number is taken; KeyError if there is no such batch."""
        with self._lock:
            taken = self._db.execute(
                "SELECT 1 FROM units WHERE serial_number = ?", [serial_number]
            ).fetchone()
            if taken:
                raise ValueError(f"serial number already in use: {serial_number}")
            row = self._db.execute("SELECT seq FROM batches WHERE id = ?", [batch_id]).fetchone()
            if row is None:
                raise KeyError(batch_id)
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT INTO units VALUES (?, ?, ?, ?, ?)",
                [row[0], serial_number, part_number, revision, created_at],
            )
            self._db.execute("UPDATE batches SET unit_count = unit_count + 1 WHERE seq = ?", row)
            self._db.execute("COMMIT")
            self.version += 1

    def create_batch(
        self,
        number: str,
        *,
        created_at: int | None = None,
        units: Sequence[tuple[str, str, str]] = (),
        user: tuple[str, str | None] | None = None,
        station: tuple[str, str] | None = None,
        batch_id: str | None = None,
    ) -> str:
        """Add a batch (units are ``(serial, part_number, revision)``); its id. KeyError on a
        duplicate number; ValueError naming a serial number already taken (a unit is known by
        its serial number: its id is derived from it)."""
        batch_id = batch_id or str(uuid.uuid4())
        serials = [serial for serial, _, _ in units]
        with self._lock:
            taken = {serial for serial in serials if serials.count(serial) > 1}
            for chunk in range(0, len(serials), 500):
                part = serials[chunk : chunk + 500]
                taken.update(
                    row[0]
                    for row in self._db.execute(
                        f"SELECT serial_number FROM units WHERE {_in('serial_number', part)}", part
                    )
                )
            if taken:
                raise ValueError(f"serial number already in use: {', '.join(sorted(taken))}")
            if created_at is None:
                # Now, but never before the newest batch: generated data may run ahead of the
                # wall clock, and a new batch must still be the newest.
                newest = self._db.execute("SELECT MAX(created_at) FROM batches").fetchone()[0]
                now = now_micros(self.precision)
                step = resolution(self.precision)
                created_at = now if newest is None else max(now, int(newest) + step)
            try:
                self._db.execute("BEGIN")
                if user is not None:
                    self._db.execute("INSERT OR IGNORE INTO users VALUES (?, ?)", user)
                if station is not None:
                    self._db.execute("INSERT OR IGNORE INTO stations VALUES (?, ?)", station)
                cursor = self._db.execute(
                    "INSERT INTO batches (id, number, created_at, unit_count, user_id, station_id) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        batch_id,
                        number,
                        created_at,
                        len(units),
                        user and user[0],
                        station and station[0],
                    ],
                )
                seq = cursor.lastrowid
                self._db.executemany(
                    "INSERT INTO units VALUES (?, ?, ?, ?, ?)",
                    [(seq, serial, part, rev, created_at) for serial, part, rev in units],
                )
                self._db.execute("COMMIT")
            except sqlite3.IntegrityError as exc:
                self._db.execute("ROLLBACK")
                raise KeyError(number) from exc
            assert seq is not None
            self._journal.append(Change("batches_added", first=seq, last=seq))
            self.version += 1
        return batch_id

    def delete_batch(self, key: str) -> bool:
        """Delete the batch with this id or number, and its units; False if there is none."""
        with self._lock:
            row = self._db.execute(
                "SELECT seq, id FROM batches WHERE id = ? OR number = ?", [key, key]
            ).fetchone()
            if row is None:
                return False
            seq, batch_id = row
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM units WHERE batch_seq = ?", [seq])
            self._db.execute("DELETE FROM batches WHERE seq = ?", [seq])
            self._db.execute("COMMIT")
            self._journal.append(Change("batch_deleted", batch_id=batch_id))
            self.version += 1
        return True

    def delete_unit(self, batch_id: str, serial_number: str) -> bool:
        """Delete one unit of a batch, which then counts one unit less; False if there is none."""
        with self._lock:
            row = self._db.execute("SELECT seq FROM batches WHERE id = ?", [batch_id]).fetchone()
            if row is None:
                return False
            self._db.execute("BEGIN")
            gone = self._db.execute(
                "DELETE FROM units WHERE batch_seq = ? AND serial_number = ?",
                [row[0], serial_number],
            ).rowcount
            self._db.execute(
                "UPDATE batches SET unit_count = unit_count - ? WHERE seq = ?", [gone, row[0]]
            )
            self._db.execute("COMMIT")
            if not gone:
                return False
            self._journal.append(
                Change("unit_deleted", batch_id=batch_id, serial_number=serial_number)
            )
            self.version += 1
        return True

    def generate(self, count: int, *, seed: int = 0) -> None:
        """Add ``count`` realistic batches, the same for the same seed and existing count.

        Creation times start on 2024-01-01 and advance by up to 10 minutes, sometimes not at all
        (batches created in the same millisecond); some batches have no user, some no station,
        some users no name, some batches no units. With the precision "us", each time also
        gets microseconds past its millisecond (the same data otherwise): of the batches that
        share a millisecond, about half share the instant exactly (a bulk import in one
        transaction) and the others follow a few microseconds later.
        """
        rng = random.Random(seed)
        users = [
            (
                _uuid(rng),
                None if i % 5 == 4 else f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
            )
            for i in range(12)
        ]
        stations = [(_uuid(rng), f"{name} Station {i + 1:02d}") for i, name in enumerate(_STATIONS)]
        start = self._newest() or to_micros(EPOCH_START)
        first = self.count()
        # Batches added to a kept database continue it: their own stream of random numbers.
        rng = random.Random(f"{seed}:{first}")
        # The microseconds have a stream of their own, so that "ms" draws exactly what it did.
        fine = random.Random(f"us:{seed}:{first}") if self.precision == "us" else None
        micro = start % 1000 if fine is not None else 0
        created = start - micro
        batches = []
        units = []
        for index in range(first, first + count):
            step = 0 if rng.random() < 0.03 else rng.randrange(1, 600_000) * 1000
            created += step
            if fine is not None and (step or fine.random() < 0.5):
                # A new millisecond: any microsecond in it; the same one: a later (or the same)
                # microsecond, so that the order of creation is kept. Otherwise the very same
                # instant as the batch before.
                micro = fine.randrange(1000) if step else fine.randrange(micro, 1000)
            stamp = created + micro
            number = f"BATCH-{index + 1:07d}"
            user = rng.choice(users) if rng.random() < 0.7 else None
            station = rng.choice(stations) if rng.random() < 0.8 else None
            part, _, revisions = rng.choice(_PARTS)
            revision = rng.choice(revisions)
            unit_count = 0 if rng.random() < 0.05 else rng.randrange(1, 12)
            seq = index + 1
            batches.append(
                (
                    seq,
                    _uuid(rng),
                    number,
                    stamp,
                    unit_count,
                    user and user[0],
                    station and station[0],
                )
            )
            for k in range(unit_count):
                units.append((seq, f"SN-{seq:07d}-{k:02d}", part, revision, stamp))
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO users VALUES (?, ?)", users)
            self._db.executemany("INSERT OR IGNORE INTO stations VALUES (?, ?)", stations)
            self._db.executemany("INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)", batches)
            self._db.executemany("INSERT INTO units VALUES (?, ?, ?, ?, ?)", units)
            self._db.execute("COMMIT")
            if count:
                self._journal.append(Change("batches_added", first=first + 1, last=first + count))
            self.version += 1
            self._db.execute("ANALYZE")

    def _newest(self) -> int | None:
        with self._lock:
            value = self._db.execute("SELECT MAX(created_at) FROM batches").fetchone()[0]
        return None if value is None else int(value)


def _where(where: BatchFilter) -> tuple[list[str], list[Any]]:
    """SQL conditions and their parameters for the filters of ``where``."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, values in (("b.id", where.ids), ("b.number", where.numbers)):
        if values:
            clauses.append(_in(column, values))
            params += values
    if where.created_after is not None:
        clauses.append("b.created_at >= ?")
        params.append(where.created_after)
    if where.created_before is not None:
        clauses.append("b.created_at <= ?")
        params.append(where.created_before)
    if where.part_numbers or where.revision_numbers:
        # Part and revision are matched on the same unit: a revision belongs to its part.
        unit_clauses = ["x.batch_seq = b.seq"]
        for column, values in (
            ("x.part_number", where.part_numbers),
            ("x.revision", where.revision_numbers),
        ):
            if values:
                unit_clauses.append(_in(column, values))
                params += values
        clauses.append(f"EXISTS (SELECT 1 FROM units AS x WHERE {' AND '.join(unit_clauses)})")
    if where.search_query:
        pattern = "%" + _escape_like(where.search_query) + "%"
        clauses.append(
            "(b.number LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM units AS y "
            "WHERE y.batch_seq = b.seq AND y.serial_number LIKE ? ESCAPE '\\'))"
        )
        params += [pattern, pattern]
    return clauses, params


def _in(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join('?' * len(values))})"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _batch(row: Sequence[Any]) -> dict[str, Any]:
    batch_id, number, created_at, unit_count, user_id, user_name, station_id, station_name = row
    return {
        "id": batch_id,
        "number": number,
        "created_at": format_timestamp(created_at),
        "created_by_user": None if user_id is None else {"id": user_id, "name": user_name},
        "created_by_station": (
            None if station_id is None else {"id": station_id, "name": station_name}
        ),
        "unit_count": unit_count,
    }


_FAMILIES = ["boards", "power", "sensors", "optics"]
# The procedures that parts and stations are linked to (the emulator has two more).
PROCEDURES = ["Functional test", "ICT", "Burn-in", "Final QA"]


@functools.lru_cache(maxsize=len(PRECISIONS))
def parts_catalogue(precision: str = "ms") -> tuple[dict[str, Any], ...]:
    """Every part the emulator knows: those its batches' units use, and 40 more, the same on
    every run. Each has revisions, metadata and the procedures that test it (by id); with the
    precision "us", creation times with microseconds."""
    parts = [(number, name, revisions) for number, name, revisions in _PARTS]
    parts += [(f"PART-{k:04d}", f"Component {k:04d}", [f"{1 + k % 3}.0"]) for k in range(1, 41)]
    catalogue: list[dict[str, Any]] = []
    for index, (number, name, revisions) in enumerate(parts):
        created = to_micros(EPOCH_START) - (len(parts) - index) * 86_400_000_000
        if precision == "us":
            created += sub_millisecond("part", number)
        if index % 7 == 3:
            created = catalogue[-1]["_created"]  # two parts created in the same instant
        catalogue.append(
            {
                "id": stable_id("part", number),
                "number": number,
                "name": name,
                "created_at": format_timestamp(created),
                "revisions": [
                    {"id": stable_id("rev", number, revision), "number": revision}
                    for revision in revisions
                ],
                "_created": created,
                "_metadata": {
                    "family": _FAMILIES[index % len(_FAMILIES)],
                    "layers": float(2 + index % 5 * 2),
                    "rohs": index % 4 != 1,
                },
                "_procedures": [
                    stable_id("procedure", PROCEDURES[(index + k) % len(PROCEDURES)])
                    for k in range(1 + index % 2)
                ],
            }
        )
    return tuple(catalogue)


_TEAMS = [("Line 1", "L1"), ("Line 2", "L2")]


def station_record(station_id: str, name: str) -> dict[str, Any]:
    """A station as ``GET /v2/stations`` answers, its procedures and team derived from its id."""
    digest = hashlib.blake2b(station_id.encode(), digest_size=4).digest()
    procedures = [
        {"id": procedure_id(procedure), "name": procedure}
        for k, procedure in enumerate(PROCEDURES)
        if (digest[0] >> k) & 1
    ]
    team = None if digest[1] % 4 == 0 else _TEAMS[digest[1] % 2]
    return {
        "id": station_id,
        "name": name,
        "procedures": procedures,
        "procedures_count": float(len(procedures)),
        "team": None if team is None else {"id": stable_id("team", team[0]), "name": team[0]},
        "_metadata": {
            "line": team[1] if team else "lab",
            "bays": float(1 + digest[2] % 6),
            "calibrated": digest[3] % 3 != 0,
        },
    }


def procedure_id(name: str) -> str:
    """The id of one of the emulator's procedures (``Functional test``, ``ICT``...)."""
    return stable_id("procedure", name)


def user_record(user_id: str, name: str | None) -> dict[str, Any]:
    """A user as ``GET /v2/users`` answers, email, image and banned derived from the id."""
    digest = hashlib.blake2b(user_id.encode(), digest_size=4).digest()
    handle = (name or "member").lower().replace(" ", ".")
    return {
        "id": user_id,
        "email": None if digest[0] % 6 == 0 else f"{handle}.{digest[1]}@example.com",
        "name": name,
        "image": None if digest[2] % 3 == 0 else f"https://img.example.com/{user_id}.png",
        "banned": digest[3] % 12 == 0,
    }


def _uuid(rng: random.Random) -> str:
    """A version-4 UUID from ``rng``, formatted without building a uuid.UUID (seeding speed)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def tie_key(record_id: str, salt: bytes) -> int:
    """Where a record falls among the records of equal sort keys in one request of an
    emulator whose ties are unstable: a permutation drawn from the request's salt (an integer
    below 2**56, which SQLite holds)."""
    digest = hashlib.blake2b(record_id.encode(), digest_size=7, key=salt[:64]).digest()
    return int.from_bytes(digest, "big")


def stable_id(*parts: str) -> str:
    """A UUID that is the same for the same parts on every run (ids of derived records)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "aiotofu:" + ":".join(parts)))


def part_name(part_number: str) -> str:
    """The name of one of the emulator's part numbers."""
    return next((name for number, name, _ in _PARTS if number == part_number), part_number)


class SyntheticStore:
    """Any number of batches computed from their position instead of stored: for benchmarks that
    stream millions of records without a database of millions of rows.

    Batch ``i`` (0 is the oldest) is created ``i`` minutes after 2024-01-01 (with the precision
    "us", and some microseconds); everything else is derived from ``i`` and the seed, so every
    answer is the same from run to run. Only the ordering parameters are supported; filters are
    refused by the handler.
    """

    version = 0  # the data never changes
    _STEP = 60_000_000  # a minute between two batches

    def __init__(self, count: int, *, seed: int = 0, precision: str = "ms") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
        self.precision = precision
        self._count = count
        self._seed = seed
        self._start = to_micros(EPOCH_START)
        rng = random.Random(seed)
        self._users = [
            (_uuid(rng), f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}") for _ in range(8)
        ]
        self._stations = [(_uuid(rng), f"{name} Station") for name in _STATIONS]

    def count(self) -> int:
        """How many batches there are."""
        return self._count

    def close(self) -> None:
        """Nothing to close."""

    def list_users(self) -> list[dict[str, Any]]:
        """The users the synthetic batches are created by."""
        return [user_record(user_id, name) for user_id, name in sorted(self._users)]

    def list_batches(
        self, where: BatchFilter, *, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page; numbers grow with creation time, so both sorts give the same order.

        The date filters are served (aiotofu pins ``created_before``); the handler refuses the
        others.
        """
        step = self._STEP
        low, high = 0, self._count - 1  # the positions in range, oldest to newest
        if where.created_after is not None:
            after = where.created_after
            low = max(low, -(-(after - self._start) // step))
            # Microseconds put a batch up to 999 µs after its minute: the one before the
            # first whole minute in range may be in range too.
            if low >= 1 and self._time(low - 1) >= after:
                low -= 1
        if where.created_before is not None:
            before = where.created_before
            high = min(high, (before - self._start) // step)
            if 0 <= high < self._count and self._time(high) > before:
                high -= 1
        total = max(0, high - low + 1)
        end = min(total, offset + limit)
        if where.sort_order == "desc":
            positions = range(high - offset, high - end, -1)
        else:
            positions = range(low + offset, low + end)
        return [self._batch(i) for i in positions], end < total

    def _time(self, i: int) -> int:
        """When batch ``i`` was created, in microseconds."""
        at = self._start + i * self._STEP
        return at + sub_millisecond(str(self._seed), str(i)) if self.precision == "us" else at

    def _batch(self, i: int) -> dict[str, Any]:
        digest = hashlib.blake2b(f"{self._seed}:{i}".encode(), digest_size=16).hexdigest()
        user = self._users[i % len(self._users)] if i % 10 < 7 else None
        station = self._stations[i % len(self._stations)] if i % 10 != 3 else None
        return {
            "id": f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:]}",
            "number": f"BATCH-{i + 1:07d}",
            "created_at": format_timestamp(self._time(i)),
            "created_by_user": None if user is None else {"id": user[0], "name": user[1]},
            "created_by_station": None
            if station is None
            else {"id": station[0], "name": station[1]},
            "unit_count": (i * 7) % 12,
        }
