"""``GET /v2/deployments``: its filters and how it is listed, from the official SDK's models.

The API takes no order for deployments: the server's order is followed with no pin (nothing
says which records a time pin would keep), and the listing's continuity is verified alone.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from datetime import datetime

import attrs

from .._endpoint import Column, Endpoint
from .._filters import Filters, Flag, Instant, filter_field
from .._models import BuildStatus, Deployment, Environment
from .._options import ListOptions
from ._common import ENVIRONMENTS, choices, search, strings, when

__all__ = ["DEPLOYMENTS", "DeploymentFilters", "DeploymentList"]


@attrs.frozen(kw_only=True, cache_hash=True)
class DeploymentFilters(Filters):
    """The filters of ``GET /v2/deployments``."""

    ranges = (("deployed_after", "deployed_before"),)

    procedure_ids: str | Iterable[str] | None = strings("--procedure-id", "procedure id")
    environments: Environment | Iterable[Environment] | None = choices(
        ENVIRONMENTS, "--environment", "environment"
    )
    build_statuses: BuildStatus | Iterable[BuildStatus] | None = choices(
        typing.get_args(BuildStatus), "--build-status", "build status"
    )
    pushed: bool | None = filter_field(
        Flag(), help="only deployments pushed to stations (true) or not (false)"
    )
    branch_names: str | Iterable[str] | None = strings("--branch", "git branch")
    author_usernames: str | Iterable[str] | None = strings("--author", "commit author")
    deployed_after: datetime | None = filter_field(
        Instant(), help="deployed at or after (RFC 3339)"
    )
    deployed_before: datetime | None = filter_field(Instant(), help="deployed at or before")
    search_query: str | None = search("commit message, sha or branch")


@attrs.frozen(kw_only=True)
class DeploymentList(DeploymentFilters, ListOptions[Deployment]):
    """Stream the deployments that match every given filter, in the server's order.

    Lists take a string or a list of strings; ``environments`` and ``build_statuses`` are
    checked against the API's values; ``pushed`` keeps deployments pushed to stations (or,
    False, not); the ``deployed_*`` window must be timezone-aware. The API takes no sort
    for deployments; the listing is kept consistent by verifying every page.
    """


DEPLOYMENTS: Endpoint[Deployment, DeploymentFilters] = Endpoint(
    name="deployments",
    path="/v2/deployments",
    model=Deployment,
    filters=DeploymentFilters,
    sorts=("default",),
    # Where the official SDK (its DeploymentListRequest model) sends the keys that are not filters.
    sent_after={"search_query": ("limit", "cursor")},
    columns=(
        Column("DEPLOYED (UTC)", 23, lambda d: when(d.deployed_at)),
        Column("ENVIRONMENT", 11, lambda d: d.environment),
        Column("STATUS", 8, lambda d: d.status),
        Column("PROCEDURE", 16, lambda d: d.procedure.name if d.procedure else "-"),
        Column("BRANCH", 0, lambda d: (d.commit.branch or "-") if d.commit else "-"),
    ),
)
