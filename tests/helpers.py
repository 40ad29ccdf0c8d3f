"""Helpers shared by the test modules."""

from __future__ import annotations

import asyncio
from typing import Any


def aiotofu_tasks() -> set[asyncio.Task[Any]]:
    """Tasks of the running loop that run aiotofu code, other than the caller's own."""
    current = asyncio.current_task()
    return {
        task
        for task in asyncio.all_tasks()
        if task is not current and "aiotofu" in repr(task.get_coro())
    }
