"""Records as values: typed durations, frozen meaning hashable, and to_dict / to_json_dict."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import aiotofu
from aiotofu import FrozenDict, Phase, Run
from aiotofu._convert import format_duration, structure
from aiotofu._wire import decode_body
from benchmarks.runs_page import fixture_page

UTC = timezone.utc

PHASE: dict[str, Any] = {
    "id": "p1",
    "name": "Measure rail",
    "outcome": "PASS",
    "started_at": "2024-06-01T10:00:00.000Z",
    "ended_at": "2024-06-01T10:00:01.250Z",
    "duration_ms": 1250,
    "retry_count": 0,
    "sequence_path": None,
    "is_final_attempt": True,
    "run_id": "r1",
    "run_outcome": "PASS",
    "serial_number": "SN-1",
    "sample": None,
}


def runs(count: int = 3) -> tuple[Run, ...]:
    """Runs with metadata and sequence calls, decoded by the wire decoder."""
    return decode_body(fixture_page(count), Run).data


def runs_by_cattrs(count: int = 3) -> list[Run]:
    """The same runs, decoded by the careful path."""
    data = json.loads(fixture_page(count))["data"]
    return structure(data, list[Run], "$.data")


@pytest.mark.parametrize("decode", [runs, runs_by_cattrs], ids=["msgspec", "cattrs"])
def test_a_run_with_metadata_and_sequences_is_hashable(decode: Any) -> None:
    """Frozen means hashable: a run's metadata (a dict) and its arrays (lists) made
    ``hash(run)`` raise TypeError."""
    decoded = decode()
    assert all(run.metadata for run in decoded)
    assert len({*decoded, *decoded}) == len(decoded)
    assert {run: run.id for run in decoded}[decoded[0]] == decoded[0].id
    assert isinstance(decoded[0].sequences, tuple)


def test_metadata_is_a_read_only_dict_equal_to_the_plain_one() -> None:
    run = runs(1)[0]
    assert run.metadata is not None
    plain = json.loads(fixture_page(1))["data"][0]["metadata"]
    assert isinstance(run.metadata, dict)
    assert isinstance(run.metadata, FrozenDict)
    assert run.metadata == plain
    assert json.loads(json.dumps(run.metadata)) == plain
    for change in (
        lambda m: m.__setitem__("k", 1),
        lambda m: m.__delitem__(next(iter(m))),
        lambda m: m.update(k=1),
        lambda m: m.pop(next(iter(m))),
        lambda m: m.popitem(),
        lambda m: m.setdefault("k", 1),
        lambda m: m.clear(),
    ):
        with pytest.raises(TypeError, match="read-only"):
            change(run.metadata)
    assert run.metadata == plain  # nothing was lost on the way
    copied = dict(run.metadata)
    copied["k"] = 1  # a copy is an ordinary dict
    assert "k" not in run.metadata


def test_a_record_built_by_hand_freezes_its_metadata() -> None:
    run = runs(1)[0]
    built = aiotofu.Part(
        id="p",
        number="PCB",
        name="Board",
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        revisions=(),
        metadata={"rev": "A", "ok": True},
    )
    assert type(built.metadata) is FrozenDict
    assert hash(built) == hash(copy.copy(built))
    assert hash(run) == hash(pickle.loads(pickle.dumps(run)))
    with pytest.raises(TypeError, match="metadata must be a mapping"):
        aiotofu.Station(
            id="s",
            name="S",
            procedures=(),
            procedures_count=0.0,
            team=None,
            metadata=[("a", 1)],  # type: ignore[arg-type]
        )


def test_records_pickle_with_their_frozen_metadata() -> None:
    """dict's own pickling refills an empty instance with __setitem__, which a read-only one
    refuses: records cross processes (Dask) and must come back equal."""
    decoded = runs()
    back = pickle.loads(pickle.dumps(decoded))
    assert back == decoded
    assert type(back[0].metadata) is FrozenDict
    assert copy.deepcopy(decoded) == decoded


@pytest.mark.parametrize("decode", [runs, runs_by_cattrs], ids=["msgspec", "cattrs"])
def test_durations_are_timedeltas_on_runs_and_their_sequences(decode: Any) -> None:
    data = json.loads(fixture_page(3))["data"]
    for run, raw in zip(decode(), data, strict=True):
        assert isinstance(run.duration, timedelta)
        assert run.duration == run.ended_at - run.started_at
        # The API's text comes back from to_json_dict as it was sent.
        assert format_duration(run.duration) == raw["duration"]
        assert aiotofu.to_json_dict(run)["duration"] == raw["duration"]
        for sequence, raw_sequence in zip(run.sequences or (), raw["sequences"], strict=True):
            assert sequence.duration is None or isinstance(sequence.duration, timedelta)
            assert aiotofu.to_json_dict(sequence)["duration"] == raw_sequence["duration"]


def test_a_phase_has_its_duration_as_a_timedelta_beside_the_apis_milliseconds() -> None:
    phase = structure(PHASE, Phase, "$")
    assert phase.duration_ms == 1250
    assert phase.duration == timedelta(milliseconds=1250)
    assert structure({**PHASE, "duration_ms": None}, Phase, "$").duration is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=12.5), "PT12.5S"),
        (timedelta(0), "PT0S"),
        (timedelta(minutes=1, seconds=30, milliseconds=500), "PT90.5S"),
        (timedelta(days=1, microseconds=1), "PT86400.000001S"),
        (-timedelta(seconds=1), "-PT1S"),
    ],
)
def test_durations_are_written_in_the_apis_form_and_read_back(value: timedelta, text: str) -> None:
    assert format_duration(value) == text
    assert structure(text, timedelta, "$") == value


def test_a_duration_that_is_not_iso_8601_days_to_seconds_is_a_decode_error() -> None:
    raw = json.loads(fixture_page(1))["data"]
    raw[0]["duration"] = "P1M"  # a month has no fixed length
    body = json.dumps({"data": raw, "meta": {"has_more": False}}).encode()
    with pytest.raises(aiotofu.DecodeError, match=r"ISO 8601 duration.*@ \$\.data\[0\]\.duration"):
        decode_body(body, Run)


def test_to_dict_keeps_python_values_and_to_json_dict_is_json_ready() -> None:
    run = runs(1)[0]
    plain = aiotofu.to_dict(run)
    assert plain["created_at"] == run.created_at
    assert plain["created_at"].tzinfo is not None
    assert plain["duration"] == run.duration
    assert plain["procedure"] == aiotofu.to_dict(run.procedure)
    assert isinstance(plain["procedure"], dict)
    assert type(plain["metadata"]) is dict
    assert type(plain["sequences"]) is list
    assert isinstance(plain["sequences"][0]["started_at"], datetime)

    data = aiotofu.to_json_dict(run)
    assert json.loads(json.dumps(data)) == data  # JSON types only
    raw = json.loads(fixture_page(1))["data"][0]
    assert data["duration"] == raw["duration"]
    assert data["metadata"] == raw["metadata"]
    assert data["created_at"].endswith("Z")
    assert decode_body(
        json.dumps({"data": [data], "meta": {"has_more": False}}).encode(), Run
    ).data == (run,)


def test_unstructure_is_to_json_dict() -> None:
    run = runs(1)[0]
    assert aiotofu.unstructure(run) == aiotofu.to_json_dict(run)
    assert aiotofu.unstructure([run]) == [aiotofu.to_json_dict(run)]


@pytest.mark.parametrize("value", [42, "run", {"id": "a"}, None, Run])
def test_to_dict_refuses_what_is_not_a_record(value: Any) -> None:
    for convert in (aiotofu.to_dict, aiotofu.to_json_dict):
        with pytest.raises(aiotofu.InvalidParameterError, match="expected an aiotofu record"):
            convert(value)
