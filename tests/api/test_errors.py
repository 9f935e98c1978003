"""Bad input: the right 4xx with a {title, description} body, no change, and never a 500."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from api_support import (
    PATCH_TYPE,
    RESERVED_DEFAULTS,
    assert_error,
    claim,
    counts,
    message,
    metadata,
    post,
    post_n,
    queue_names,
    raw_exchange,
    raw_request,
    stats,
)

BODY = "Invalid request body"
API = "Invalid API request"
PARAM = "Invalid parameter"

# Message posts


@pytest.mark.parametrize(
    ("body", "title"),
    [
        pytest.param(b"", BODY, id="empty"),
        pytest.param(b"   ", BODY, id="blank"),
        pytest.param(b'{"messages": [', BODY, id="malformed"),
        pytest.param(b"{'messages': []}", BODY, id="single-quotes"),
        pytest.param(b'\xff\xfe{"messages": []}', BODY, id="not-utf8"),
        pytest.param(b"{}", API, id="no-messages-key"),
        pytest.param(b'{"message": [{"body": 1}]}', API, id="misspelt-key"),
        pytest.param(b'[{"body": 1, "ttl": 60}]', API, id="bare-array"),
        pytest.param(b"[]", API, id="empty-bare-array"),
        pytest.param(b'[{"body": 1', BODY, id="malformed-array"),
        pytest.param(b'{"messages": []}', API, id="empty-list"),
        pytest.param(b'{"messages": {"body": 1}}', BODY, id="messages-object"),
        pytest.param(b'{"messages": "x"}', BODY, id="messages-string"),
        pytest.param(b'{"messages": null}', BODY, id="messages-null"),
        pytest.param(b'{"messages": [1]}', BODY, id="element-not-object"),
        pytest.param(b'{"messages": [[]]}', BODY, id="element-array"),
        pytest.param(b'{"messages": [{"ttl": 60}]}', BODY, id="missing-body"),
        pytest.param(b'{"messages": [{"body": 1}, {"ttl": 60}]}', BODY, id="second-missing-body"),
        pytest.param(b'{"messages": [{"body": 1, "ttl": "60"}]}', BODY, id="ttl-string"),
        pytest.param(b'{"messages": [{"body": 1, "ttl": true}]}', BODY, id="ttl-bool"),
        pytest.param(b'{"messages": [{"body": 1, "ttl": null}]}', BODY, id="ttl-null"),
        pytest.param(b'{"messages": [{"body": 1, "ttl": 60.5}]}', BODY, id="ttl-float"),
        pytest.param(b'{"messages": [{"body": 1, "ttl": [60]}]}', BODY, id="ttl-list"),
        pytest.param(b'{"messages": [{"body": 1, "delay": "5"}]}', BODY, id="delay-string"),
        pytest.param(b'{"messages": [{"body": 1, "delay": false}]}', BODY, id="delay-bool"),
        pytest.param(b'{"messages": [{"body": 1, "delay": null}]}', BODY, id="delay-null"),
        pytest.param(b'{"messages": [{"body": 1, "ttl": 59}]}', API, id="ttl-low"),
        pytest.param(b'{"messages": [{"body": 1, "delay": 901}]}', API, id="delay-high"),
    ],
)
def test_bad_posts(api: httpx.Client, body: bytes, title: str) -> None:
    assert_error(api.post("/v2/queues/q/messages", content=body), 400, title)
    assert stats(api, "q")["total"] == 0
    assert queue_names(api) == []


@pytest.mark.parametrize("body", [b'"messages"', b"5", b"null", b"true"])
def test_posts_that_are_not_objects(api: httpx.Client, body: bytes) -> None:
    assert_error(api.post("/v2/queues/q/messages", content=body), 400)
    assert stats(api, "q")["total"] == 0


def test_bad_post_to_an_existing_queue_changes_nothing(api: httpx.Client) -> None:
    post(api, "q", message())
    response = api.post("/v2/queues/q/messages", json={"messages": [{"body": 1}, {"ttl": 60}]})
    assert_error(response, 400, BODY)
    assert stats(api, "q")["total"] == 1


def test_deeply_nested_bodies_are_400_not_500(api: httpx.Client) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    response = api.post("/v2/queues/q/messages", content=b'{"messages": [{"body": ' + deep + b"}]}")
    assert_error(response, 400, BODY)
    assert stats(api, "q")["total"] == 0
    nested = b"[" * 30_000 + b"]" * 30_000
    assert_error(api.put("/v2/queues/q", content=b'{"a": ' + nested + b"}"), 400, BODY)
    assert queue_names(api) == []
    api.put("/v2/queues/q", json={"a": 1})
    response = api.patch(
        "/v2/queues/q",
        content=b'[{"op": "add", "path": "/metadata/b", "value": ' + nested + b"}]",
        headers={"Content-Type": PATCH_TYPE},
    )
    assert_error(response, 400, BODY)
    assert metadata(api, "q") == {**RESERVED_DEFAULTS, "a": 1}
    post(api, "q", message())
    response = api.post("/v2/queues/q/claims", content=b'{"ttl": ' + nested + b"}")
    assert_error(response, 400, BODY)
    assert counts(api, "q") == (0, 1, 1)


def test_reasonably_nested_bodies_are_fine(api: httpx.Client) -> None:
    nested: object = "leaf"
    for _ in range(200):
        nested = {"n": [nested]}
    (message_id,) = post(api, "q", {"body": nested})
    assert api.get(f"/v2/queues/q/messages/{message_id}").json()["body"] == nested


# Claims


@pytest.mark.parametrize(
    ("body", "title"),
    [
        pytest.param(b"{", BODY, id="malformed"),
        pytest.param(b"[]", BODY, id="array"),
        pytest.param(b'"ttl"', BODY, id="string"),
        pytest.param(b"null", BODY, id="null"),
        pytest.param(b'{"ttl": "60"}', BODY, id="ttl-string"),
        pytest.param(b'{"ttl": true}', BODY, id="ttl-bool"),
        pytest.param(b'{"ttl": null}', BODY, id="ttl-null"),
        pytest.param(b'{"grace": null}', BODY, id="grace-null"),
        pytest.param(b'{"ttl": null, "grace": null}', BODY, id="both-null"),
        pytest.param(b'{"ttl": 60.5}', BODY, id="ttl-float"),
        pytest.param(b'{"grace": "60"}', BODY, id="grace-string"),
        # Beyond 64 bits an integer is a body error, as Zaqar's JSON decoding makes it.
        pytest.param(b'{"ttl": 10000000000000000000000}', BODY, id="ttl-beyond-64-bits"),
        pytest.param(b'{"ttl": 9223372036854775807}', API, id="ttl-huge"),
        pytest.param(b'{"grace": -1}', API, id="grace-negative"),
    ],
)
def test_bad_claim_bodies(api: httpx.Client, body: bytes, title: str) -> None:
    post(api, "q", message())
    assert_error(api.post("/v2/queues/q/claims", content=body), 400, title)
    assert counts(api, "q") == (0, 1, 1)


@pytest.mark.parametrize(
    ("body", "title"),
    [
        pytest.param(b"", BODY, id="empty"),
        pytest.param(b"  ", BODY, id="blank"),
        pytest.param(b"{", BODY, id="malformed"),
        pytest.param(b"[]", BODY, id="array"),
        pytest.param(b"null", BODY, id="null"),
        pytest.param(b'{"ttl": null}', BODY, id="ttl-null"),
        pytest.param(b'{"grace": null}', BODY, id="grace-null"),
        pytest.param(b'{"ttl": "100"}', BODY, id="ttl-string"),
        pytest.param(b'{"ttl": 43201}', API, id="ttl-high"),
    ],
)
def test_bad_claim_renewals(api: httpx.Client, body: bytes, title: str) -> None:
    post(api, "q", message())
    claim_id, _ = claim(api, "q", ttl=100)
    path = f"/v2/queues/q/claims/{claim_id}"
    assert_error(api.patch(path, content=body), 400, title)
    assert api.get(path).json()["ttl"] == 100


def test_bad_renewal_of_a_missing_claim_is_400_first(api: httpx.Client) -> None:
    assert_error(api.patch("/v2/queues/q/claims/nothing", content=b""), 400, BODY)


# Queue metadata


@pytest.mark.parametrize(
    "body",
    [b"[]", b'["a"]', b'"meta"', b"5", b"null", b"true", b"{", b"{'a': 1}", b"\xff"],
)
def test_put_needs_an_object(api: httpx.Client, body: bytes) -> None:
    assert_error(api.put("/v2/queues/q", content=body), 400, BODY)
    assert queue_names(api) == []


def test_put_with_bad_metadata_on_an_existing_queue_keeps_it(api: httpx.Client) -> None:
    api.put("/v2/queues/q", json={"a": 1})
    assert_error(api.put("/v2/queues/q", content=b"[1]"), 400, BODY)
    assert_error(api.put("/v2/queues/q", json={"_default_message_ttl": 1}), 400, API)
    assert metadata(api, "q") == {**RESERVED_DEFAULTS, "a": 1}


def test_empty_patch_body_is_400(api: httpx.Client) -> None:
    api.put("/v2/queues/q", json={"a": 1})
    response = api.patch("/v2/queues/q", content=b"", headers={"Content-Type": PATCH_TYPE})
    assert_error(response, 400, BODY)
    assert metadata(api, "q") == {**RESERVED_DEFAULTS, "a": 1}


# Query strings


@pytest.mark.parametrize(
    "path",
    [
        "/v2/queues?limit=abc",
        "/v2/queues?limit=1.5",
        "/v2/queues?limit=99999999999999999999999",
        "/v2/queues?detailed=maybe",
        "/v2/queues?detailed=TRUE",
        "/v2/queues?with_count=2",
        "/v2/queues/q/messages?limit=ten",
        "/v2/queues/q/messages?echo=x",
        "/v2/queues/q/messages?echo=tru",
        "/v2/queues/q/messages?include_claimed=nah",
        "/v2/queues/q/messages?include_delayed=-1",
        "/v2/queues/q/messages?limit=1e1",
    ],
)
def test_bad_query_values_on_reads(api: httpx.Client, path: str) -> None:
    post(api, "q", message())
    assert_error(api.get(path), 400, PARAM)


def test_bad_query_values_on_writes_change_nothing(api: httpx.Client) -> None:
    post_n(api, "q", 3)
    assert_error(api.post("/v2/queues/q/claims?limit=x"), 400, PARAM)
    assert_error(api.post("/v2/queues/q/claims?limit=2.0"), 400, PARAM)
    assert_error(api.delete("/v2/queues/q/messages?pop=x"), 400, PARAM)
    assert_error(api.delete("/v2/queues/q/messages?pop=1.0"), 400, PARAM)
    assert counts(api, "q") == (0, 3, 3)


@pytest.mark.parametrize(
    ("word", "value"),
    [
        *[(w, True) for w in ("true", "True", "t", "yes", "y", "1", "on")],
        *[(w, False) for w in ("false", "False", "f", "no", "n", "0", "off")],
    ],
)
def test_boolean_spellings(api: httpx.Client, word: str, value: bool) -> None:
    ids = post(api, "q", message())
    got = api.get(f"/v2/queues/q/messages?echo={word}").json()["messages"]
    assert [m["id"] for m in got] == (ids if value else [])


def test_blank_query_values_are_ignored(api: httpx.Client) -> None:
    ids = post_n(api, "q", 12)
    got = api.get("/v2/queues/q/messages?echo=true&limit=&marker=&include_claimed=").json()
    assert [m["id"] for m in got["messages"]] == ids[:10]
    assert api.get("/v2/queues?limit=&detailed=&with_count=").status_code == 200
    response = api.post("/v2/queues/q/claims?limit=")
    assert len(response.json()["messages"]) == 10


def test_unknown_query_parameters_are_ignored(api: httpx.Client) -> None:
    ids = post(api, "q", message())
    got = api.get("/v2/queues/q/messages?echo=true&colour=red&page=2").json()["messages"]
    assert [m["id"] for m in got] == ids


# Bulk delete and pop


def test_ids_and_pop_together_is_400(api: httpx.Client) -> None:
    ids = post_n(api, "q", 3)
    response = api.delete(f"/v2/queues/q/messages?ids={ids[0]}&pop=1")
    assert_error(response, 400, API)
    assert stats(api, "q")["total"] == 3


@pytest.mark.parametrize("query", ["", "?", "?ids=", "?pop=", "?claim_ids=x"])
def test_neither_ids_nor_pop_is_400(api: httpx.Client, query: str) -> None:
    post_n(api, "q", 3)
    assert_error(api.delete(f"/v2/queues/q/messages{query}"), 400, API)
    assert stats(api, "q")["total"] == 3


# Every error has the documented shape


def test_every_error_body_has_a_title_and_a_description(api: httpx.Client) -> None:
    (message_id,) = post(api, "q", message())
    claim_id, _ = claim(api, "q")
    no_client = {"Client-ID": ""}
    cases: list[tuple[str, str, dict[str, str], bytes | None, int]] = [
        ("GET", "/v2/queues", no_client, None, 400),
        ("GET", "/v2/queues", {"Client-ID": "x"}, None, 400),
        ("GET", "/v2/queues", {"X-Project-ID": ""}, None, 400),
        ("GET", "/v2/queues", {"Accept": "text/html"}, None, 406),
        (
            "POST",
            "/v2/queues/q/messages",
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"a=1",
            400,
        ),
        ("PUT", "/v2/queues/bad$", {}, None, 400),
        ("PATCH", "/v2/queues/q", {}, b"[]", 415),
        (
            "PATCH",
            "/v2/queues/q",
            {"Content-Type": PATCH_TYPE},
            b'[{"op": "remove", "path": "/metadata/zz"}]',
            409,
        ),
        (
            "PATCH",
            "/v2/queues/none",
            {"Content-Type": PATCH_TYPE},
            b'[{"op": "remove", "path": "/metadata/zz"}]',
            404,
        ),
        ("GET", "/v2/queues/q/messages/424242", {}, None, 404),
        ("GET", "/v2/queues/q/claims/nothing", {}, None, 404),
        ("GET", "/v2/queues/q/messages?ids=424242", {}, None, 404),
        ("DELETE", f"/v2/queues/q/messages/{message_id}", {}, None, 403),
        ("DELETE", f"/v2/queues/q/messages/{message_id}?claim_id=nope", {}, None, 400),
        ("GET", "/v2/queues?limit=0", {}, None, 400),
        ("GET", "/v2/queues?limit=x", {}, None, 400),
        ("POST", "/v2/queues/q/messages", {}, b"{", 400),
        ("POST", "/v2/queues/q/claims", {}, b'{"ttl": 1}', 400),
        ("PATCH", f"/v2/queues/q/claims/{claim_id}", {}, b"", 400),
    ]
    for method, path, headers, body, status in cases:
        response = api.request(method, path, headers=headers, content=body)
        assert_error(response, status)
    assert counts(api, "q") == (1, 0, 1)


# Odd but harmless input never produces a 500


@pytest.mark.parametrize(
    "path",
    [
        "/v2/queues/q/messages?marker=%00&echo=true",
        "/v2/queues/q/messages?marker=%zz",
        "/v2/queues/q/messages?marker=" + "9" * 40,
        "/v2/queues/q/messages/" + "9" * 40,
        "/v2/queues/q/messages/%F0%9F%98%80",
        "/v2/queues/q/messages/%00",
        "/v2/queues/q/messages?ids=" + "9" * 40,
        "/v2/queues/q/messages?ids=%F0%9F%98%80,-1,0,%00",
        "/v2/queues/q/claims/%00",
        "/v2/queues/q/claims/" + "c" * 2000,
        "/v2/queues?marker=%FF",
        "/v2/queues?marker=" + "z" * 100,
        "/v2/queues?name=" + "a" * 3000,
        "/v2/queues?colour=%FF&n=99999999999999999999999999999",
        "/v2/queues?name=%28%3F%3D",
    ],
)
def test_odd_reads_are_never_500(api: httpx.Client, path: str) -> None:
    post(api, "q", message())
    response = api.get(path)
    assert response.status_code in (200, 400, 404), response.text
    if response.status_code != 200:
        assert_error(response, response.status_code)


@pytest.mark.parametrize(
    "path",
    [
        "/v2/queues/q/messages/" + "9" * 40,
        "/v2/queues/q/messages/%00?claim_id=%00",
        "/v2/queues/q/messages/1?claim_id=" + "c" * 2000,
        "/v2/queues/q/messages?ids=" + "9" * 40,
        "/v2/queues/q/messages?ids=1&claim_ids=%00",
        "/v2/queues/q/claims/%00",
    ],
)
def test_odd_deletes_are_never_500(api: httpx.Client, path: str) -> None:
    post_n(api, "q", 2)
    response = api.delete(path)
    assert response.status_code in (204, 400, 403), response.text
    assert stats(api, "q")["total"] >= 1


@pytest.mark.parametrize("project", ["\u00e9t\u00e9".encode("latin-1"), "caf\u00e9".encode()])
def test_non_ascii_project_ids_are_just_names(api: httpx.Client, project: bytes) -> None:
    odd = {b"X-Project-ID": project + uuid.uuid4().hex.encode()}
    response = api.put("/v2/queues/q", headers=odd)
    assert response.status_code == 201
    response = api.get("/v2/queues", headers=odd)
    assert [q["name"] for q in response.json()["queues"]] == ["q"]


def test_huge_integers_in_metadata_do_not_break_listing(api: httpx.Client) -> None:
    response = api.put("/v2/queues/q", content=b'{"big": 99999999999999999999999999999}')
    assert response.status_code in (201, 400)
    assert api.get("/v2/queues?detailed=true").status_code == 200
    assert api.get("/v2/queues?big=99999999999999999999999999999").status_code == 200
    assert api.get("/v2/queues/q").status_code == 200


# A body over the limit is refused from its Content-Length, unread


@pytest.mark.parametrize(
    ("method", "path", "length"),
    [
        ("POST", "/v2/queues/q/messages", 262145),
        ("POST", "/v2/queues/q/messages", 10**12),
        ("PUT", "/v2/queues/q", 65537),
        ("PATCH", "/v2/queues/q", 65537),
        ("POST", "/v2/queues/q/claims", 10**9),
    ],
)
def test_oversized_body_is_refused_before_it_is_read(
    api: httpx.Client, method: str, path: str, length: int
) -> None:
    started = time.monotonic()
    request = raw_request(api, method, path, length, b'{"messages": [')
    status, body = raw_exchange(str(api.base_url), request)
    assert time.monotonic() - started < 3
    assert status == 400
    assert set(httpx.Response(400, content=body).json()) == {"title", "description"}
    assert queue_names(api) == []
    assert stats(api, "q")["total"] == 0


def test_refused_upload_leaves_the_server_serving(api: httpx.Client) -> None:
    request = raw_request(api, "POST", "/v2/queues/q/messages", 10**12, b"x" * 1000)
    assert raw_exchange(str(api.base_url), request)[0] == 400
    ids = post(api, "q", message())
    assert len(ids) == 1
    assert api.get("/v2/queues").status_code == 200


def test_body_within_the_limit_is_read_to_the_end(api: httpx.Client) -> None:
    body = b'{"messages": [{"body": "' + b"y" * 1000 + b'"}]}'
    request = raw_request(api, "POST", "/v2/queues/q/messages", len(body), body)
    status, _ = raw_exchange(str(api.base_url), request)
    assert status == 201
    assert stats(api, "q")["total"] == 1
