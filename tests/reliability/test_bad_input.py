"""Every argument of every public function, given a wrong type or an out-of-range value, raises
InvalidParameterError naming it, and nothing is sent."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

import aiotofu
from aiotofu.testing import Emulator

AWARE = datetime(2024, 1, 1, tzinfo=timezone.utc)
NAIVE = datetime(2024, 1, 1)

# (argument, bad values) for batches.list(); watch() shares the filters it has.
LIST_ARGUMENTS: dict[str, list[Any]] = {
    "ids": [[], [1], [""], 5, b"x", {"a": 1}],
    "numbers": [[], [None], 3.5],
    "part_numbers": [[], [b"x"], object()],
    "revision_numbers": [[], [[]], True],
    "created_after": [NAIVE, "2024-01-01T00:00:00Z", 0],
    "created_before": [NAIVE, AWARE.date()],
    "search_query": ["x" * 101, 5, ["q"]],
    "sort_by": ["name", None, 1],
    "sort_order": ["DESC", None, True],
    "page_size": [0, 101, -1, 2.0, "50", True, None],
    "max_items": [-1, 1.5, "10", False],
    "cursor": [-1, 2**53, 0.0, "0", None],
    "prefetch": [-1, 65, 1.0, None],
}
WATCH_ARGUMENTS: dict[str, list[Any]] = {
    "poll_interval": [-1, "30", None, float("nan")],
    "since": [NAIVE, "yesterday", 1],
    "page_size": [0, 101, "100"],
    "ids": [[], [1]],
    "search_query": ["x" * 101],
    "resume_token": ["", "garbage", 5],
}
CLIENT_ARGUMENTS: dict[str, list[Any]] = {
    "api_key": ["", "   ", 5, b"key", "a\r\nb"],
    "base_url": [
        "",
        "ftp://x/api",
        "www.tofupilot.app",
        "https://u:p@x/api",
        "https://x/api?q=1",
        5,
    ],
    "max_concurrency": [0, -1, 1.5, "4", None],
    # 1e-310 is > 0, but one request every 1 / 1e-310 seconds is never (it hung).
    "rate_limit": [0, -1.0, float("inf"), float("nan"), 1e-310, "5", True],
    "retry": [5, "default", {"attempts": 3}],
    "timeout": [0, -1, "30", None, True],
    "session": [object(), "session"],
}
POLICY_ARGUMENTS: dict[str, list[Any]] = {
    "attempts": [0, -1, 2.5, "5", None],
    "initial_backoff": [-0.1, "0.5", None, float("nan")],
    "max_backoff": [-1, "30"],
    "jitter": [1, "yes", None],
    "max_retry_after": [-1, "120", None],
}


def _shown(value: Any) -> str:
    # A bare object's repr holds its address, which differs between processes: pytest-xdist's
    # workers must collect the same ids.
    return "object()" if type(value) is object else f"{value!r:.30}"


def cases(arguments: dict[str, list[Any]]) -> list[Any]:
    return [
        pytest.param(name, value, id=f"{name}={_shown(value)}")
        for name, values in arguments.items()
        for value in values
    ]


@pytest.fixture(scope="module")
def client() -> aiotofu.Client:
    # Nothing listens on port 9: had anything been sent, the error would be a TransportError.
    return aiotofu.Client("key", base_url="http://127.0.0.1:9/api")


@pytest.mark.parametrize(("name", "value"), cases(LIST_ARGUMENTS))
def test_list(client: aiotofu.Client, name: str, value: Any) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^{name}: ") as info:
        client.batches.list(**{name: value})
    assert info.value.parameter == name
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(("name", "value"), cases(WATCH_ARGUMENTS))
def test_watch(client: aiotofu.Client, name: str, value: Any) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^{name}: "):
        client.batches.watch(**{name: value})


@pytest.mark.parametrize(
    ("name", "value"), [("token", "garbage"), ("token", 7), ("max_items", -1), ("prefetch", "2")]
)
def test_resume(client: aiotofu.Client, name: str, value: Any) -> None:
    token = client.batches.list().resume_token
    arguments = {"token": token, name: value}
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^{name}: "):
        client.batches.resume(**arguments)


@pytest.mark.parametrize(("name", "value"), cases(CLIENT_ARGUMENTS))
@pytest.mark.parametrize("cls", [aiotofu.Client, aiotofu.SyncClient])
def test_client(cls: type[Any], name: str, value: Any) -> None:
    arguments = {"api_key": "key", name: value}
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^{name}: "):
        cls(**arguments)


@pytest.mark.parametrize(("name", "value"), cases(POLICY_ARGUMENTS))
def test_retry_policy(name: str, value: Any) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^{name}: "):
        aiotofu.RetryPolicy(**{name: value})


@pytest.mark.parametrize(
    "settings",
    [{"fail_rate": 1.5}, {"drop_rate": -0.1}, {"latency": -1}, {"rate_limit": 0}, {"bogus": 1}],
)
async def test_emulator_settings(settings: dict[str, Any]) -> None:
    async with Emulator() as emu:
        with pytest.raises(aiotofu.InvalidParameterError):
            emu.set_faults(**settings)


async def test_nothing_is_sent_for_any_bad_argument() -> None:
    async with Emulator(batches=5) as emu, emu.client() as client:
        for name, values in LIST_ARGUMENTS.items():
            for value in values:
                with pytest.raises(aiotofu.InvalidParameterError):
                    client.batches.list(**{name: value})
        assert emu.stats["requests"] == 0
