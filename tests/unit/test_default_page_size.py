"""One default page size (issue 25, item 11): 50, the API's own default and the one the public
contract gives list(), for every listing, watch and shard read, in the library, its sync twin,
the Dask and dlt readers and the command line (it was 50 in the library and 100 in watch, shard
reads and the CLI)."""

from __future__ import annotations

import inspect

import aiotofu
from aiotofu._options import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from aiotofu.endpoints import ENDPOINTS
from aiotofu.testing import MockTransport, Request, Response, json_response


def empty(request: Request) -> Response:
    return json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})


def test_the_default_is_the_apis_own() -> None:
    assert DEFAULT_PAGE_SIZE == 50
    assert MAX_PAGE_SIZE == 100


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
            assert limits - {"1"} == {"50"}, endpoint.name


def test_every_signature_says_so() -> None:
    client = aiotofu.SyncClient("k", base_url="http://127.0.0.1:9/api")
    with client:
        for owner in (aiotofu.Client("k", base_url="http://127.0.0.1:9/api"), client):
            for endpoint in ENDPOINTS:
                resource = getattr(owner, endpoint.name)
                for method in ("list", "watch", "read"):
                    if hasattr(resource, method):
                        parameter = inspect.signature(getattr(resource, method)).parameters
                        assert parameter["page_size"].default == 50, (endpoint.name, method)


def test_the_dask_and_dlt_readers_share_it() -> None:
    import aiotofu.dask
    import aiotofu.dlt

    for reader in (aiotofu.dask.read, aiotofu.dask.read_dataframe, aiotofu.dlt.source):
        assert inspect.signature(reader).parameters["page_size"].default == DEFAULT_PAGE_SIZE
