"""Every limit of §1.5 at its boundary and one past it; a refusal changes nothing."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from api_support import (
    PATCH_TYPE,
    RESERVED_DEFAULTS,
    assert_error,
    claim,
    client,
    counts,
    listed_ids,
    message,
    metadata,
    post,
    post_n,
    queue_names,
    stats,
)
from support import FakeClock, make_settings, running_app

MAX_POST = 262144
MAX_METADATA = 65536
MAX_TTL = 1209600


def post_body(size: int, queue_body: str = "x") -> bytes:
    """A valid message post of exactly `size` bytes."""
    head, tail = b'{"messages": [{"body": "', b'"}]}'
    filler = size - len(head) - len(tail)
    assert filler >= 0
    return head + queue_body.encode() * filler + tail


def metadata_body(size: int) -> bytes:
    head, tail = b'{"pad": "', b'"}'
    return head + b"m" * (size - len(head) - len(tail)) + tail


def patch_body(size: int) -> bytes:
    head, tail = b'[{"op": "add", "path": "/metadata/pad", "value": "', b'"}]'
    return head + b"m" * (size - len(head) - len(tail)) + tail


# Message TTL and delay


@pytest.mark.parametrize(
    ("ttl", "ok"), [(59, False), (60, True), (MAX_TTL, True), (MAX_TTL + 1, False)]
)
def test_message_ttl_bounds(api: httpx.Client, ttl: int, ok: bool) -> None:
    response = api.post("/v2/queues/q/messages", json={"messages": [message(ttl=ttl)]})
    if ok:
        assert response.status_code == 201
        assert [m["ttl"] for m in api.get("/v2/queues/q/messages?echo=1").json()["messages"]] == [
            ttl
        ]
    else:
        assert_error(response, 400, "Invalid API request")
        assert stats(api, "q")["total"] == 0
        assert queue_names(api) == []


@pytest.mark.parametrize("ttl", [0, -60, 10**30])
def test_message_ttl_far_out_of_range(api: httpx.Client, ttl: int) -> None:
    response = api.post("/v2/queues/q/messages", json={"messages": [message(ttl=ttl)]})
    assert_error(response, 400)
    assert stats(api, "q")["total"] == 0


def test_one_bad_message_refuses_the_whole_post(api: httpx.Client) -> None:
    response = api.post(
        "/v2/queues/q/messages",
        json={"messages": [message(), message(ttl=59), message()]},
    )
    assert_error(response, 400, "Invalid API request")
    assert stats(api, "q")["total"] == 0


@pytest.mark.parametrize(("delay", "ok"), [(-1, False), (0, True), (900, True), (901, False)])
def test_message_delay_bounds(api: httpx.Client, delay: int, ok: bool) -> None:
    response = api.post("/v2/queues/q/messages", json={"messages": [message(delay=delay)]})
    if ok:
        assert response.status_code == 201
        assert len(listed_ids(api, "q", include_delayed=True)) == 1
    else:
        assert_error(response, 400, "Invalid API request")
        assert stats(api, "q")["total"] == 0


# Claim TTL and grace


@pytest.mark.parametrize(("field", "low", "high"), [("ttl", 60, 43200), ("grace", 60, 43200)])
@pytest.mark.parametrize("offset", [-1, 0, "high", "high+1"])
def test_claim_create_bounds(
    api: httpx.Client, field: str, low: int, high: int, offset: int | str
) -> None:
    value = {-1: low - 1, 0: low, "high": high, "high+1": high + 1}[offset]
    post(api, "q", message())
    body = {"ttl": 60, "grace": 60, field: value}
    response = api.post("/v2/queues/q/claims", json=body)
    if offset in (0, "high"):
        assert response.status_code == 201
        if field == "ttl":
            assert api.get(response.headers["location"]).json()["ttl"] == value
    else:
        assert_error(response, 400, "Invalid API request")
        assert counts(api, "q") == (0, 1, 1)


@pytest.mark.parametrize(("field", "low", "high"), [("ttl", 60, 43200), ("grace", 60, 43200)])
@pytest.mark.parametrize("offset", [-1, 0, "high", "high+1"])
def test_claim_renew_bounds(
    api: httpx.Client, field: str, low: int, high: int, offset: int | str
) -> None:
    value = {-1: low - 1, 0: low, "high": high, "high+1": high + 1}[offset]
    post(api, "q", message(ttl=600))
    claim_id, _ = claim(api, "q", ttl=100, grace=60)
    path = f"/v2/queues/q/claims/{claim_id}"
    response = api.patch(path, json={"ttl": 100, "grace": 60, field: value})
    if offset in (0, "high"):
        assert response.status_code == 204
        assert api.get(path).json()["ttl"] == (value if field == "ttl" else 100)
    else:
        assert_error(response, 400, "Invalid API request")
        got = api.get(path).json()
        assert got["ttl"] == 100
        assert got["messages"][0]["ttl"] == 600


# Page sizes and counts: 1..20


@pytest.fixture
def queues21(api: httpx.Client) -> httpx.Client:
    for i in range(21):
        assert api.put(f"/v2/queues/q{i:02d}").status_code == 201
    return api


@pytest.mark.parametrize(("limit", "count"), [(0, None), (1, 1), (20, 20), (21, None), (-1, None)])
def test_queue_list_limit(queues21: httpx.Client, limit: int, count: int | None) -> None:
    response = queues21.get(f"/v2/queues?limit={limit}")
    if count is None:
        assert_error(response, 400, "Invalid API request")
    else:
        assert response.status_code == 200
        assert len(response.json()["queues"]) == count


@pytest.mark.parametrize(("limit", "count"), [(0, None), (1, 1), (20, 20), (21, None), (-1, None)])
def test_message_list_limit(api: httpx.Client, limit: int, count: int | None) -> None:
    post_n(api, "q", 21)
    response = api.get(f"/v2/queues/q/messages?echo=true&limit={limit}")
    if count is None:
        assert_error(response, 400, "Invalid API request")
    else:
        assert response.status_code == 200
        assert len(response.json()["messages"]) == count


@pytest.mark.parametrize(("count", "ok"), [(1, True), (20, True), (21, False)])
def test_get_by_ids_count(api: httpx.Client, count: int, ok: bool) -> None:
    ids = post_n(api, "q", 21)[:count]
    response = api.get(f"/v2/queues/q/messages?ids={','.join(ids)}")
    if ok:
        assert response.status_code == 200
        assert [m["id"] for m in response.json()["messages"]] == ids
    else:
        assert_error(response, 400, "Invalid API request")


@pytest.mark.parametrize(("count", "ok"), [(1, True), (20, True), (21, False)])
def test_bulk_delete_ids_count(api: httpx.Client, count: int, ok: bool) -> None:
    ids = post_n(api, "q", 21)[:count]
    response = api.delete(f"/v2/queues/q/messages?ids={','.join(ids)}")
    if ok:
        assert response.status_code == 204
        assert stats(api, "q")["total"] == 21 - count
    else:
        assert_error(response, 400, "Invalid API request")
        assert stats(api, "q")["total"] == 21


@pytest.mark.parametrize(("limit", "count"), [(0, None), (1, 1), (20, 20), (21, None), (-5, None)])
def test_claim_limit(api: httpx.Client, limit: int, count: int | None) -> None:
    post_n(api, "q", 21)
    response = api.post(f"/v2/queues/q/claims?limit={limit}", json={"ttl": 60, "grace": 60})
    if count is None:
        assert_error(response, 400, "Invalid API request")
        assert counts(api, "q") == (0, 21, 21)
    else:
        assert response.status_code == 201
        assert len(response.json()["messages"]) == count
        assert counts(api, "q") == (count, 21 - count, 21)


@pytest.mark.parametrize(("pop", "count"), [(0, None), (1, 1), (20, 20), (21, None), (-1, None)])
def test_pop_count(api: httpx.Client, pop: int, count: int | None) -> None:
    post_n(api, "q", 21)
    response = api.delete(f"/v2/queues/q/messages?pop={pop}")
    if count is None:
        assert_error(response, 400, "Invalid API request")
        assert stats(api, "q")["total"] == 21
    else:
        assert response.status_code == 200
        assert len(response.json()["messages"]) == count
        assert stats(api, "q")["total"] == 21 - count


# Body sizes


def test_post_of_exactly_the_size_limit_is_accepted(api: httpx.Client) -> None:
    body = post_body(MAX_POST)
    assert len(body) == MAX_POST
    response = api.post("/v2/queues/q/messages", content=body)
    assert response.status_code == 201, response.text
    assert stats(api, "q")["total"] == 1


def test_post_one_byte_over_the_size_limit_is_refused(api: httpx.Client) -> None:
    response = api.post("/v2/queues/q/messages", content=post_body(MAX_POST + 1))
    assert_error(response, 400, "Invalid API request")
    assert stats(api, "q")["total"] == 0
    assert queue_names(api) == []


def test_post_size_limit_holds_for_chunked_bodies(api: httpx.Client) -> None:
    def chunks(body: bytes) -> Iterator[bytes]:
        for start in range(0, len(body), 10000):
            yield body[start : start + 10000]

    response = api.post("/v2/queues/q/messages", content=chunks(post_body(MAX_POST)))
    assert response.status_code == 201
    response = api.post("/v2/queues/q/messages", content=chunks(post_body(MAX_POST + 1)))
    assert_error(response, 400, "Invalid API request")
    assert stats(api, "q")["total"] == 1


@pytest.mark.parametrize(("size", "ok"), [(1000, True), (1001, False)])
def test_queue_post_size_limit(api: httpx.Client, size: int, ok: bool) -> None:
    api.put("/v2/queues/q", json={"_max_messages_post_size": 1000})
    response = api.post("/v2/queues/q/messages", content=post_body(size))
    if ok:
        assert response.status_code == 201
        assert stats(api, "q")["total"] == 1
    else:
        assert_error(response, 400, "Invalid API request")
        assert stats(api, "q")["total"] == 0


def test_queue_post_size_limit_cannot_raise_the_global_one(api: httpx.Client) -> None:
    api.put("/v2/queues/q", json={"_max_messages_post_size": MAX_POST})
    assert api.post("/v2/queues/q/messages", content=post_body(MAX_POST)).status_code == 201
    response = api.post("/v2/queues/q/messages", content=post_body(MAX_POST + 1))
    assert_error(response, 400)
    assert stats(api, "q")["total"] == 1


@pytest.mark.parametrize(("size", "ok"), [(MAX_METADATA, True), (MAX_METADATA + 1, False)])
def test_queue_put_metadata_size(api: httpx.Client, size: int, ok: bool) -> None:
    body = metadata_body(size)
    assert len(body) == size
    response = api.put("/v2/queues/q", content=body)
    if ok:
        assert response.status_code == 201
        assert len(metadata(api, "q")["pad"]) == size - 11
    else:
        assert_error(response, 400, "Invalid API request")
        assert queue_names(api) == []


@pytest.mark.parametrize(("size", "ok"), [(MAX_METADATA, True), (MAX_METADATA + 1, False)])
def test_queue_patch_metadata_size(api: httpx.Client, size: int, ok: bool) -> None:
    api.put("/v2/queues/q", json={"a": 1})
    body = patch_body(size)
    assert len(body) == size
    response = api.patch("/v2/queues/q", content=body, headers={"Content-Type": PATCH_TYPE})
    if ok:
        assert response.status_code == 200
        assert "pad" in metadata(api, "q")
    else:
        assert_error(response, 400, "Invalid API request")
        assert metadata(api, "q") == {**RESERVED_DEFAULTS, "a": 1}


# Reserved queue metadata (§2.3), through PUT and PATCH

RESERVED_BOUNDS = [
    ("_default_message_ttl", 59, False),
    ("_default_message_ttl", 60, True),
    ("_default_message_ttl", MAX_TTL, True),
    ("_default_message_ttl", MAX_TTL + 1, False),
    ("_default_message_delay", -1, False),
    ("_default_message_delay", 0, True),
    ("_default_message_delay", 900, True),
    ("_default_message_delay", 901, False),
    ("_max_messages_post_size", 0, False),
    ("_max_messages_post_size", 1, True),
    ("_max_messages_post_size", MAX_POST, True),
    ("_max_messages_post_size", MAX_POST + 1, False),
    ("_dead_letter_queue_messages_ttl", 59, False),
    ("_dead_letter_queue_messages_ttl", 60, True),
    ("_dead_letter_queue_messages_ttl", MAX_TTL, True),
    ("_dead_letter_queue_messages_ttl", MAX_TTL + 1, False),
    ("_max_claim_count", 1, True),
    ("_max_claim_count", "3", False),
    ("_max_claim_count", 2.5, False),
    ("_default_message_ttl", "3600", False),
    ("_default_message_ttl", 3600.0, False),
    ("_default_message_ttl", True, False),
    ("_enable_encrypt_messages", "yes", False),
]


@pytest.mark.parametrize(("key", "value", "ok"), RESERVED_BOUNDS)
def test_reserved_metadata_on_put(api: httpx.Client, key: str, value: object, ok: bool) -> None:
    response = api.put("/v2/queues/q", json={key: value, "other": 1})
    if ok:
        assert response.status_code == 201
        assert metadata(api, "q")[key] == (value or RESERVED_DEFAULTS[key])
    else:
        assert_error(response, 400, "Invalid API request")
        assert queue_names(api) == []


@pytest.mark.parametrize(("key", "value", "ok"), RESERVED_BOUNDS)
def test_reserved_metadata_on_patch(api: httpx.Client, key: str, value: object, ok: bool) -> None:
    api.put("/v2/queues/q", json={"other": 1})
    response = api.patch(
        "/v2/queues/q",
        json=[{"op": "add", "path": f"/metadata/{key}", "value": value}],
        headers={"Content-Type": PATCH_TYPE},
    )
    if ok:
        assert response.status_code == 200
        assert response.json()[key] == (value or RESERVED_DEFAULTS[key])
    else:
        assert_error(response, 400, "Invalid API request")
        assert metadata(api, "q") == {**RESERVED_DEFAULTS, "other": 1}


# Configured limits


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server whose limits are all set low."""
    settings = make_settings(
        tmp_path_factory.mktemp("small"),
        max_queues_per_page=4,
        max_messages_per_page=5,
        max_messages_per_claim_or_pop=3,
        max_queue_metadata=200,
        max_messages_post_size=500,
        max_message_ttl=300,
        max_message_delay=30,
        max_claim_ttl=120,
        max_claim_grace=90,
        default_message_ttl=200,
        default_claim_ttl=100,
        default_claim_grace=70,
    )
    with running_app(settings, FakeClock()) as url:
        yield url


@pytest.fixture
def tiny(small: str) -> Iterator[httpx.Client]:
    with client(small) as api:
        yield api


def test_configured_page_limits(tiny: httpx.Client) -> None:
    for i in range(5):
        tiny.put(f"/v2/queues/q{i}")
    assert len(tiny.get("/v2/queues?limit=4").json()["queues"]) == 4
    assert_error(tiny.get("/v2/queues?limit=5"), 400)
    # The default page is the smaller of 10 and the maximum.
    assert len(tiny.get("/v2/queues").json()["queues"]) == 4
    ids = post_n(tiny, "q0", 6)
    assert len(tiny.get("/v2/queues/q0/messages?echo=1&limit=5").json()["messages"]) == 5
    assert_error(tiny.get("/v2/queues/q0/messages?echo=1&limit=6"), 400)
    assert len(tiny.get("/v2/queues/q0/messages?echo=1").json()["messages"]) == 5
    assert tiny.get(f"/v2/queues/q0/messages?ids={','.join(ids[:5])}").status_code == 200
    assert_error(tiny.get(f"/v2/queues/q0/messages?ids={','.join(ids)}"), 400)
    assert_error(tiny.delete(f"/v2/queues/q0/messages?ids={','.join(ids)}"), 400)
    assert_error(tiny.delete("/v2/queues/q0/messages?pop=4"), 400)
    assert_error(tiny.post("/v2/queues/q0/claims?limit=4"), 400)
    assert stats(tiny, "q0") == {**stats(tiny, "q0"), "claimed": 0, "total": 6}
    assert len(tiny.delete("/v2/queues/q0/messages?pop=3").json()["messages"]) == 3
    response = tiny.post("/v2/queues/q0/claims")
    assert len(response.json()["messages"]) == 3


def test_configured_ttls_and_defaults(tiny: httpx.Client) -> None:
    assert_error(tiny.post("/v2/queues/q/messages", json={"messages": [message(ttl=301)]}), 400)
    assert_error(tiny.post("/v2/queues/q/messages", json={"messages": [message(delay=31)]}), 400)
    post(tiny, "q", message(ttl=300, delay=30), message())
    ttls = [
        m["ttl"]
        for m in tiny.get("/v2/queues/q/messages?echo=1&include_delayed=1").json()["messages"]
    ]
    assert ttls == [300, 200]
    assert metadata(tiny, "q")["_default_message_ttl"] == 200
    assert metadata(tiny, "q")["_max_messages_post_size"] == 500
    assert_error(tiny.post("/v2/queues/q/claims", json={"ttl": 121}), 400)
    assert_error(tiny.post("/v2/queues/q/claims", json={"grace": 91}), 400)
    response = tiny.post("/v2/queues/q/claims", json={})
    assert tiny.get(response.headers["location"]).json()["ttl"] == 100
    # The default grace of 70 s extends the 200-second message past the 100-second claim? No:
    # it outlives the claim already, so its TTL stays.
    assert [m["ttl"] for m in response.json()["messages"]] == [200]


def test_configured_body_sizes(tiny: httpx.Client) -> None:
    assert tiny.post("/v2/queues/q/messages", content=post_body(500)).status_code == 201
    assert_error(tiny.post("/v2/queues/q/messages", content=post_body(501)), 400)
    assert stats(tiny, "q")["total"] == 1
    assert tiny.put("/v2/queues/m", content=metadata_body(200)).status_code == 201
    assert_error(tiny.put("/v2/queues/n", content=metadata_body(201)), 400)
    assert "n" not in [q["name"] for q in tiny.get("/v2/queues?marker=m").json()["queues"]]
    assert_error(tiny.put("/v2/queues/o", json={"_max_messages_post_size": 501}), 400)
