"""One default page size (issue 25, item 11): the API's maximum, 100, for every listing, watch
and shard read, in the library, its sync twin and the command line (it was 50 in the library
and 100 in watch and the CLI)."""

from __future__ import annotations

import inspect

import aiotofu
from aiotofu._options import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from aiotofu.endpoints import ENDPOINTS
from aiotofu.testing import MockTransport, Request, Response, json_response


def empty(request: Request) -> Response:
    return json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})


def test_the_default_is_the_apis_maximum() -> None:
    assert DEFAULT_PAGE_SIZE == MAX_PAGE_SIZE == 100


async def test_every_listing_asks_for_full_pages_by_default() -> None:
    transport = MockTransport(empty)
    async with aiotofu.Client("k", transport=transport) as client:
        for endpoint in ENDPOINTS:
            required = {"procedure_id": "p"} if endpoint.name in ("phases", "measurements") else {}
            transport.requests.clear()
            await getattr(client, endpoint.name).list(**required).collect()
            limits = {
                value
                for request in transport.requests
                for key, value in request.query
                if key == "limit"
            }
            # A listing pinned on time probes its newest record first with limit=1.
            assert limits - {"1"} == {"100"}, endpoint.name


def test_every_signature_says_so() -> None:
    client = aiotofu.SyncClient("k", base_url="http://127.0.0.1:9/api")
    with client:
        for owner in (aiotofu.Client("k", base_url="http://127.0.0.1:9/api"), client):
            for endpoint in ENDPOINTS:
                resource = getattr(owner, endpoint.name)
                for method in ("list", "watch", "read"):
                    if hasattr(resource, method):
                        parameter = inspect.signature(getattr(resource, method)).parameters
                        assert parameter["page_size"].default == 100, (endpoint.name, method)
