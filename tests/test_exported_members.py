"""The public surface of ``import aiotofu`` is pinned: a new name is a decision, not an accident."""

import aiotofu
import aiotofu.errors

EXPECTED = [
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


def test_all_is_pinned_and_sorted() -> None:
    assert aiotofu.__all__ == EXPECTED
    assert sorted(aiotofu.__all__) == aiotofu.__all__


def test_every_exported_name_exists_and_is_documented() -> None:
    for name in aiotofu.__all__:
        member = getattr(aiotofu, name)
        if name != "__version__":
            assert member.__doc__, f"{name} has no docstring"


def test_errors_are_reexported_at_the_top_level() -> None:
    for name in aiotofu.errors.__all__:
        assert getattr(aiotofu, name) is getattr(aiotofu.errors, name)


def test_error_tree_matches_the_contract() -> None:
    e = aiotofu
    assert issubclass(e.InvalidParameterError, e.TofuPilotError)
    assert issubclass(e.InvalidParameterError, ValueError)
    for cls in (
        e.BadRequestError,
        e.AuthenticationError,
        e.PermissionDeniedError,
        e.NotFoundError,
        e.ConflictError,
        e.RateLimitError,
        e.ServerError,
    ):
        assert issubclass(cls, e.APIError)
    assert issubclass(e.APIError, e.TofuPilotError)
    assert issubclass(e.TransportError, e.TofuPilotError)
    assert issubclass(e.PaginationError, e.DecodeError)
    assert issubclass(e.DecodeError, e.TofuPilotError)
    assert issubclass(e.ConsistencyError, e.PaginationError)
    assert issubclass(e.StateError, e.TofuPilotError)
    assert issubclass(e.StateError, RuntimeError)
    assert issubclass(e.RequestTimeoutError, e.TransportError)
    assert issubclass(e.RequestTimeoutError, TimeoutError)
