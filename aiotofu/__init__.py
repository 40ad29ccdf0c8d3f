"""aiotofu: stream TofuPilot's REST API v2 from asyncio.

::

    async with aiotofu.Client() as client:
        async for batch in client.batches.list(part_numbers=["PCB-V1.2"]):
            print(batch.number, batch.created_at)
"""

from importlib.metadata import PackageNotFoundError, version

from ._client import Client
from ._convert import unstructure
from ._models import (
    Batch,
    Page,
    Part,
    PartRevision,
    ProcedureRef,
    Station,
    StationRef,
    TeamRef,
    User,
    UserRef,
)
from ._paginate import Paginator
from ._requester import RetryEvent
from ._retry import RetryPolicy
from ._sync import SyncClient
from ._watch import Watcher
from .errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConsistencyError,
    DecodeError,
    InvalidParameterError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    StateError,
    TofuPilotError,
    TransportError,
)

try:
    __version__ = version("aiotofu")
except PackageNotFoundError:  # pragma: no cover - imported from a source tree
    __version__ = "0+unknown"

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "Client",
    "ConflictError",
    "ConsistencyError",
    "DecodeError",
    "InvalidParameterError",
    "NotFoundError",
    "Page",
    "PaginationError",
    "Paginator",
    "Part",
    "PartRevision",
    "PermissionDeniedError",
    "ProcedureRef",
    "RateLimitError",
    "RequestTimeoutError",
    "RetryEvent",
    "RetryPolicy",
    "ServerError",
    "StateError",
    "Station",
    "StationRef",
    "SyncClient",
    "TeamRef",
    "TofuPilotError",
    "TransportError",
    "User",
    "UserRef",
    "Watcher",
    "__version__",
    "unstructure",
]
