"""A local emulator of TofuPilot's REST API v2, every list endpoint: aiohttp.web in front of
SQLite (batches) and one derived data set (the other records, ``world.py``).

It serves ``aiotofu demo``, the project's end-to-end tests and benchmarks, and users' own tests
through :class:`aiotofu.testing.Emulator`.
"""

from .app import EmulatorState, create_app
from .faults import FAULT_KINDS, Fault, Faults, FaultSettings
from .server import EmulatorServer, serve
from .store import BatchFilter, Store

__all__ = [
    "FAULT_KINDS",
    "BatchFilter",
    "EmulatorServer",
    "EmulatorState",
    "Fault",
    "FaultSettings",
    "Faults",
    "Store",
    "create_app",
    "serve",
]
