"""``SyncClient.<resource>.plan()`` refused (a closed client, the thread of a running event loop)
raises its StateError and nothing else: the coroutine it made for the loop thread is closed,
not left to warn "coroutine ... was never awaited" when collected (an error under ``-W error``,
and noise in a user's log). Found while calling it from a Dask task inside async code."""

from __future__ import annotations

import gc
import warnings

import aiotofu
from aiotofu.errors import StateError


def refused_plan_warnings(sync: aiotofu.SyncClient) -> list[str]:
    """Call ``plan()`` where it is refused; the warnings that its collection then gives."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            sync.batches.plan(target_size=10)
        except StateError:
            pass
        else:  # pragma: no cover - the refusal is the premise
            raise AssertionError("plan() was not refused")
        gc.collect()
    return [str(w.message) for w in caught]


def test_a_closed_client_refuses_plan_without_a_stray_coroutine() -> None:
    sync = aiotofu.SyncClient("key", base_url="http://127.0.0.1:9/api")
    sync.close()
    assert refused_plan_warnings(sync) == []


async def test_a_running_loop_refuses_plan_without_a_stray_coroutine() -> None:
    with aiotofu.SyncClient("key", base_url="http://127.0.0.1:9/api") as sync:
        assert refused_plan_warnings(sync) == []
