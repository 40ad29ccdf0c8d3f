"""The base URL as TofuPilot's own clients read it, and a 404 that says which URL it asked.

TofuPilot's clients take ``TOFUPILOT_URL`` as the origin (``https://tofupilot.corp``) and append
the API's path themselves, so an origin, for ``base_url=`` and ``TOFUPILOT_URL`` alike, means the
``/api`` below it; a URL with a path is kept as given. A 404 (what a wrong base URL earns on
every request) names the URL it asked, never the query or the key, and suggests the form.
"""

from __future__ import annotations

import pytest

import aiotofu
from aiotofu.testing import MockTransport, Request, Response, json_response

KEY = "tp-secret-key"
EMPTY_PAGE = {"data": [], "meta": {"has_more": False, "next_cursor": None}}

AS_GIVEN_AND_MEANT = [
    ("https://tofupilot.corp", "https://tofupilot.corp/api"),
    ("https://tofupilot.corp/", "https://tofupilot.corp/api"),
    ("https://tofupilot.corp//", "https://tofupilot.corp/api"),
    ("https://tofupilot.corp:8443", "https://tofupilot.corp:8443/api"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080/api"),
    ("https://tofupilot.corp/api", "https://tofupilot.corp/api"),
    ("https://tofupilot.corp/api/", "https://tofupilot.corp/api"),
    ("http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api"),
    ("https://gateway.corp/tofupilot", "https://gateway.corp/tofupilot"),
]


@pytest.mark.parametrize(("given", "meant"), AS_GIVEN_AND_MEANT)
def test_an_origin_means_the_api_below_it_and_a_path_is_kept(given: str, meant: str) -> None:
    assert aiotofu.Client(KEY, base_url=given).base_url == meant


@pytest.mark.parametrize(("given", "meant"), AS_GIVEN_AND_MEANT)
def test_tofupilot_url_is_read_the_same_way(
    given: str, meant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOFUPILOT_URL", given)
    assert aiotofu.Client(KEY).base_url == meant
    with aiotofu.SyncClient(KEY) as client:
        assert client.base_url == meant


async def test_an_origin_sends_its_requests_below_api() -> None:
    transport = MockTransport(lambda request: json_response(EMPTY_PAGE))
    async with aiotofu.Client(KEY, base_url="https://tofupilot.corp", transport=transport) as c:
        assert await c.batches.list().collect() == []
    assert transport.requests[0].url == "https://tofupilot.corp/api/v2/batches"


def not_found(request: Request) -> Response:
    return Response(status=404, headers={"Content-Type": "text/plain"}, body=b"404: Not Found")


@pytest.mark.parametrize(
    ("base_url", "asked", "suggested"),
    [
        (
            "https://gateway.corp/tofupilot",
            "https://gateway.corp/tofupilot/v2/batches",
            "https://gateway.corp/tofupilot/api",
        ),
        (
            "https://tofupilot.corp/api/v1",
            "https://tofupilot.corp/api/v1/v2/batches",
            "https://tofupilot.corp/api",
        ),
        ("https://tofupilot.corp/api", "https://tofupilot.corp/api/v2/batches", "/api"),
    ],
)
async def test_a_404_names_the_url_it_asked_and_suggests_the_base_url_form(
    base_url: str, asked: str, suggested: str
) -> None:
    transport = MockTransport(not_found)
    async with aiotofu.Client(KEY, base_url=base_url, transport=transport) as client:
        listing = client.batches.list(part_numbers="PCB-1", page_size=7)
        with pytest.raises(aiotofu.NotFoundError) as caught:
            await listing.collect()
    error = caught.value
    text = str(error)
    assert f"GET {asked}" in text
    assert suggested in text
    assert "base URL" in text
    assert (error.status, error.code) == (404, "NOT_FOUND")
    assert error.message.startswith("14 bytes of text/plain")  # the server's account, as before
    assert KEY not in text
    assert "PCB-1" not in text  # the query stays out of the message
    assert "limit" not in text
    assert len(transport.requests) == 1  # a 404 is not retried


async def test_the_users_list_404_says_the_same() -> None:
    transport = MockTransport(not_found)
    async with aiotofu.Client(KEY, base_url="https://tofupilot.corp/x", transport=transport) as c:
        with pytest.raises(aiotofu.NotFoundError, match=r"GET https://tofupilot.corp/x/v2/users"):
            await c.users.list()


def test_explain_not_found_keeps_every_attribute_of_the_answer() -> None:
    from aiotofu._sansio import explain_not_found

    error = aiotofu.NotFoundError(
        404, "NOT_FOUND", "Batch not found", [{"path": ["id"]}], headers={"X-Request-Id": "r1"}
    )
    request = Request("GET", "https://tofupilot.corp/v2/batches", (("cursor", "50"),))
    explained = explain_not_found(error, request, "https://tofupilot.corp")
    assert isinstance(explained, aiotofu.NotFoundError)
    assert (explained.status, explained.code, explained.message) == (
        404,
        "NOT_FOUND",
        "Batch not found",
    )
    assert explained.issues == error.issues
    assert explained.request_id == "r1"
    assert str(explained).startswith(str(error))
    assert "cursor" not in str(explained)
