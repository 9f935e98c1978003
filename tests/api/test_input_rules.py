"""Input a strict client could not read back, and names no client could reach: refused.

Every refusal is a 400 with a true description, and changes nothing.
"""

from __future__ import annotations

import json

import httpx
import pytest

from api_support import (
    PATCH_TYPE,
    assert_error,
    assert_routing_error,
    counts,
    post,
    queue_names,
    raw_exchange,
    raw_request,
)

POST = "/v2/queues/q/messages"


def post_raw(api: httpx.Client, body: bytes) -> httpx.Response:
    return api.post(POST, content=body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"messages": [{"body": "\xff"}]}',
        b'{"messages": [{"body": {"k\xc3": 1}}]}',
        b'{"messages": [{"body": "\xed\xa0\x80"}]}',  # a surrogate written as UTF-8
    ],
)
def test_a_message_body_that_is_not_utf8_is_refused(api: httpx.Client, body: bytes) -> None:
    document = assert_error(post_raw(api, body), 400, "Invalid request body")
    assert "not valid UTF-8" in document["description"]
    assert queue_names(api) == []


def test_a_message_body_of_valid_utf8_is_kept(api: httpx.Client) -> None:
    (message_id,) = post(api, "q", {"body": "h\u00e9llo \U0001f600"})
    got = api.get(f"{POST}/{message_id}").json()
    assert got["body"] == "h\u00e9llo \U0001f600"


@pytest.mark.parametrize("escape", [b"\\ud800", b"\\udfff", b"x\\ud83dy"])
def test_a_lone_surrogate_escape_gets_a_true_description(api: httpx.Client, escape: bytes) -> None:
    body = b'{"messages": [{"body": "' + escape + b'"}]}'
    document = assert_error(post_raw(api, body), 400, "Invalid request body")
    assert "surrogate" in document["description"]
    assert "truncated" not in document["description"]
    assert queue_names(api) == []


def test_a_paired_surrogate_escape_is_a_character(api: httpx.Client) -> None:
    response = post_raw(api, b'{"messages": [{"body": "\\ud83d\\ude00"}]}')
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        (b"9223372036854775807", True),
        (b"-9223372036854775808", True),
        (b"9223372036854775808", False),
        (b"-9223372036854775809", False),
        (b"1" + b"0" * 5000, False),
        (b"1e308", True),
        (b"1e309", False),
        (b"-1e999", False),
        (b'"99999999999999999999999"', True),  # digits in a string are text
    ],
)
def test_numbers_in_message_bodies_fit_64_bits_and_doubles(
    api: httpx.Client, number: bytes, ok: bool
) -> None:
    body = b'{"messages": [{"body": {"n": [' + number + b"]}}]}"
    response = post_raw(api, body)
    if ok:
        assert response.status_code == 201, response.text
    else:
        assert_error(response, 400, "Invalid request body")
        assert counts(api, "q") == (0, 0, 0)


@pytest.mark.parametrize("number", ["9223372036854775808", "1e999"])
def test_numbers_in_metadata_fit_too(api: httpx.Client, number: str) -> None:
    body = '{"big": ' + number + "}"
    assert_error(api.put("/v2/queues/m", content=body), 400, "Invalid request body")
    assert queue_names(api) == []
    assert api.put("/v2/queues/m", json={"big": 2**63 - 1}).status_code == 201
    patch = [{"op": "add", "path": "/metadata/more", "value": 0}]
    text = '[{"op": "add", "path": "/metadata/more", "value": ' + number + "}]"
    response = api.patch("/v2/queues/m", content=text, headers={"Content-Type": PATCH_TYPE})
    assert_error(response, 400, "Invalid request body")
    assert "more" not in api.get("/v2/queues/m").json()
    assert (
        api.patch("/v2/queues/m", json=patch, headers={"Content-Type": PATCH_TYPE}).status_code
        == 200
    )


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_and_dot_dot_are_not_queue_names(api: httpx.Client, name: str) -> None:
    # Sent raw: an HTTP client would fold the dots away before they reach the server.
    status, body = raw_exchange(
        str(api.base_url), raw_request(api, "PUT", f"/v2/queues/{name}", 0, b"")
    )
    assert (status, json.loads(body)["title"]) == (400, "Invalid queue identification")
    assert queue_names(api) == []
    assert api.put("/v2/queues/...").status_code == 201


@pytest.mark.parametrize("path", ["/v2/queues/q/claims/", "/v2/queues/q/messages/", "/v2/queues/"])
def test_a_trailing_slash_names_nothing(api: httpx.Client, path: str) -> None:
    post(api, "q")
    assert_routing_error(api.delete(path), 404)
    assert_routing_error(api.get(path), 404)
    assert counts(api, "q") == (0, 1, 1)


def test_a_doubled_slash_names_nothing(api: httpx.Client) -> None:
    assert_routing_error(api.get("/v2/queues//stats"), 404)


CONTROL = [chr(c) for c in (*range(32), 127)]


@pytest.mark.parametrize("char", CONTROL, ids=lambda c: f"{ord(c):02x}")
def test_a_control_character_ends_no_name(api: httpx.Client, char: str) -> None:
    quoted = f"%{ord(char):02X}"
    assert_error(api.put(f"/v2/queues/abc{quoted}"), 400, "Invalid queue identification")
    assert_error(
        api.post(f"/v2/queues/abc{quoted}/messages", json={"messages": [{"body": 1}]}),
        400,
        "Invalid queue identification",
    )
    dead_letters = {"_dead_letter_queue": "dlq" + char, "_max_claim_count": 2}
    assert_error(api.put("/v2/queues/ok", json=dead_letters), 400, "Invalid API request")
    assert_error(api.get(f"/v2/queues?name=abc{quoted}"), 400, "Invalid API request")
    assert queue_names(api) == []
