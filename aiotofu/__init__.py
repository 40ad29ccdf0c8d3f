"""aiotofu: stream TofuPilot's REST API v2 from asyncio.

::

    async with aiotofu.Client() as client:
        async for batch in client.batches.list(part_numbers=["PCB-V1.2"]):
            print(batch.number, batch.created_at)
"""

from importlib.metadata import PackageNotFoundError, version

from ._client import Client
from ._convert import to_dict, to_json_dict, unstructure
from ._events import PageEvent
from ._models import (
    Batch,
    BatchRef,
    Deployment,
    DeploymentCommit,
    DeploymentRepository,
    FrozenDict,
    LastRun,
    LinkedRepository,
    Log,
    LogRun,
    Measurement,
    MemberRef,
    Operator,
    Page,
    Part,
    PartRef,
    PartRevision,
    Phase,
    Procedure,
    ProcedureRef,
    ProcedureVersionRef,
    Run,
    RunProcedure,
    RunSequence,
    RunUnit,
    Station,
    StationRef,
    TeamRef,
    Unit,
    UnitRef,
    User,
    UserRef,
    Validator,
)
from ._paginate import Paginator
from ._requester import RetryEvent
from ._retry import RetryPolicy
from ._shardreader import ShardReader
from ._shards import Plan, Shard
from ._sync import SyncClient
from ._tables import schema
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
    TLSError,
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
    "BatchRef",
    "Client",
    "ConflictError",
    "ConsistencyError",
    "DecodeError",
    "Deployment",
    "DeploymentCommit",
    "DeploymentRepository",
    "FrozenDict",
    "InvalidParameterError",
    "LastRun",
    "LinkedRepository",
    "Log",
    "LogRun",
    "Measurement",
    "MemberRef",
    "NotFoundError",
    "Operator",
    "Page",
    "PageEvent",
    "PaginationError",
    "Paginator",
    "Part",
    "PartRef",
    "PartRevision",
    "PermissionDeniedError",
    "Phase",
    "Plan",
    "Procedure",
    "ProcedureRef",
    "ProcedureVersionRef",
    "RateLimitError",
    "RequestTimeoutError",
    "RetryEvent",
    "RetryPolicy",
    "Run",
    "RunProcedure",
    "RunSequence",
    "RunUnit",
    "ServerError",
    "Shard",
    "ShardReader",
    "StateError",
    "Station",
    "StationRef",
    "SyncClient",
    "TLSError",
    "TeamRef",
    "TofuPilotError",
    "TransportError",
    "Unit",
    "UnitRef",
    "User",
    "UserRef",
    "Validator",
    "Watcher",
    "__version__",
    "schema",
    "to_dict",
    "to_json_dict",
    "unstructure",
]
