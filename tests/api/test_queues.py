"""Queues (§2.2, §2.3, §4.2, §4.8): lazy queues, listing, metadata, PATCH, stats, purge."""

from __future__ import annotations

import re

import httpx
import pytest

from api_support import (
    PATCH_TYPE,
    RESERVED_DEFAULTS,
    assert_empty,
    assert_error,
    assert_json,
    claim,
    client,
    counts,
    listed_ids,
    message,
    metadata,
    patch,
    post,
    post_n,
    queue_names,
    stats,
    walk,
)
from support import FakeClock

# Lazy queues (§4.2)


def test_a_missing_queue_reads_as_empty_and_is_not_created(api: httpx.Client) -> None:
    assert metadata(api, "ghost") == RESERVED_DEFAULTS
    assert stats(api, "ghost") == {"claimed": 0, "free": 0, "total": 0}
    assert assert_json(api.get("/v2/queues/ghost/messages")) == {"messages": [], "links": []}
    assert_empty(api.post("/v2/queues/ghost/claims"))
    assert_empty(api.delete("/v2/queues/ghost"))
    assert_empty(api.delete("/v2/queues/ghost/messages/1"))
    assert_empty(api.delete("/v2/queues/ghost/messages?ids=1,2"))
    assert_empty(api.delete("/v2/queues/ghost/claims/nothing"))
    assert_empty(api.post("/v2/queues/ghost/purge"))
    assert api.delete("/v2/queues/ghost/messages?pop=3").json() == {"messages": []}
    assert_error(api.get("/v2/queues/ghost/messages/1"), 404, "Not found")
    assert_error(api.get("/v2/queues/ghost/messages?ids=1"), 404, "Not found")
    assert_error(api.get("/v2/queues/ghost/claims/nothing"), 404, "Not found")
    assert_error(api.patch("/v2/queues/ghost/claims/nothing", json={}), 404, "Not found")
    assert_error(patch(api, "ghost", [{"op": "add", "path": "/metadata/a", "value": 1}]), 404)
    assert queue_names(api) == []


def test_posting_creates_the_queue_with_empty_metadata(api: httpx.Client) -> None:
    post(api, "lazy", message())
    assert queue_names(api) == ["lazy"]
    assert metadata(api, "lazy") == RESERVED_DEFAULTS
    assert api.put("/v2/queues/lazy").status_code == 204


# PUT, GET and DELETE of one queue


def test_put_creates_then_reports_an_existing_queue(api: httpx.Client) -> None:
    created = api.put("/v2/queues/q", json={"colour": "red"})
    assert created.status_code == 201
    assert created.content == b""
    assert created.headers["location"] == "/v2/queues/q"
    assert created.headers["content-type"] == "application/json"
    again = api.put("/v2/queues/q", json={"colour": "blue", "_default_message_ttl": 100})
    assert_empty(again, 204)
    assert again.headers["location"] == "/v2/queues/q"
    # PUT never changes the metadata of an existing queue; only PATCH does.
    assert metadata(api, "q") == {**RESERVED_DEFAULTS, "colour": "red"}


@pytest.mark.parametrize("body", [b"", b"{}", b" {} \n"])
def test_put_without_metadata(api: httpx.Client, body: bytes) -> None:
    assert api.put("/v2/queues/q", content=body).status_code == 201
    assert metadata(api, "q") == RESERVED_DEFAULTS


@pytest.mark.parametrize("body", [b" ", b"  \n", b"\t"])
def test_put_with_a_body_of_only_white_space_is_400(api: httpx.Client, body: bytes) -> None:
    document = assert_error(api.put("/v2/queues/q", content=body), 400, "Invalid request body")
    assert document["description"] == "Request body could not be parsed."
    assert api.get("/v2/queues").json()["queues"] == []


def test_get_fills_in_reserved_defaults_but_keeps_given_values(api: httpx.Client) -> None:
    given = {
        "_default_message_ttl": 120,
        "_max_messages_post_size": 1000,
        "_default_message_delay": 5,
        "_dead_letter_queue": "dead",
        "_dead_letter_queue_messages_ttl": 600,
        "_max_claim_count": 3,
        "_enable_encrypt_messages": False,
        "nested": {"a": [1, 2, {"b": None}]},
        "unicode": "h\u00e9ros \u2603",
    }
    assert api.put("/v2/queues/q", json=given).status_code == 201
    got = metadata(api, "q")
    assert got == {**RESERVED_DEFAULTS, **given}


def test_falsy_reserved_values_read_as_defaults(api: httpx.Client) -> None:
    given = {"_max_claim_count": None, "_dead_letter_queue": None, "_default_message_delay": 0}
    assert api.put("/v2/queues/q", json=given).status_code == 201
    assert metadata(api, "q") == RESERVED_DEFAULTS


def test_delete_removes_the_queue_and_its_messages(api: httpx.Client) -> None:
    api.put("/v2/queues/q", json={"a": 1})
    post_n(api, "q", 3)
    claim_id, _ = claim(api, "q", limit=1)
    assert_empty(api.delete("/v2/queues/q"))
    assert queue_names(api) == []
    assert stats(api, "q") == {"claimed": 0, "free": 0, "total": 0}
    assert metadata(api, "q") == RESERVED_DEFAULTS
    assert api.get(f"/v2/queues/q/claims/{claim_id}").status_code == 404
    # A queue made again is a new one.
    assert api.put("/v2/queues/q").status_code == 201
    assert listed_ids(api, "q") == []
    assert_empty(api.delete("/v2/queues/q"))


# Listing queues


def test_empty_listing(api: httpx.Client) -> None:
    response = api.get("/v2/queues", params={"with_count": "true"})
    assert assert_json(response) == {"queues": [], "links": []}


def test_listing_pages_by_name_without_repeats(api: httpx.Client) -> None:
    names = ["e", "a.b", "c", "a", "b-1", "d_2", "B"]
    for name in names:
        assert api.put(f"/v2/queues/{name}").status_code == 201
    pages = walk(api, "/v2/queues", "queues", limit=2)
    assert [len(page) for page in pages] == [2, 2, 2, 1]
    listed = [q for page in pages for q in page]
    assert [q["name"] for q in listed] == sorted(names)
    for queue in listed:
        assert queue == {"name": queue["name"], "href": f"/v2/queues/{queue['name']}"}


def test_listing_next_link_keeps_the_parameters(api: httpx.Client) -> None:
    for name in ("a", "b", "c"):
        api.put(f"/v2/queues/{name}", json={"team": "x"})
    response = api.get("/v2/queues?limit=2&detailed=true&with_count=true&team=x")
    document = response.json()
    assert document["count"] == 3
    (link,) = document["links"]
    assert link["rel"] == "next"
    href = link["href"]
    assert href.startswith("/v2/queues?")
    for part in ("limit=2", "detailed=true", "with_count=true", "team=x", "marker=b"):
        assert part in href.split("?", 1)[1].split("&"), href
    second = api.get(href).json()
    assert [q["name"] for q in second["queues"]] == ["c"]
    assert "metadata" in second["queues"][0]
    assert second["count"] == 3


def test_listing_marker_is_exclusive(api: httpx.Client) -> None:
    for name in ("a", "b", "c"):
        api.put(f"/v2/queues/{name}")
    names = [q["name"] for q in api.get("/v2/queues?marker=a").json()["queues"]]
    assert names == ["b", "c"]
    names = [q["name"] for q in api.get("/v2/queues?marker=bb").json()["queues"]]
    assert names == ["c"]
    assert api.get("/v2/queues?marker=c").json() == {"queues": [], "links": []}


def test_listing_default_page_is_ten(api: httpx.Client) -> None:
    for i in range(12):
        api.put(f"/v2/queues/q{i:02d}")
    assert len(api.get("/v2/queues").json()["queues"]) == 10


def test_detailed_listing_shows_metadata_with_defaults(api: httpx.Client) -> None:
    api.put("/v2/queues/a", json={"colour": "red", "_default_message_ttl": 100})
    api.put("/v2/queues/b")
    listed = api.get("/v2/queues?detailed=true").json()["queues"]
    assert listed == [
        {
            "name": "a",
            "href": "/v2/queues/a",
            "metadata": {**RESERVED_DEFAULTS, "colour": "red", "_default_message_ttl": 100},
        },
        {"name": "b", "href": "/v2/queues/b", "metadata": RESERVED_DEFAULTS},
    ]
    plain = api.get("/v2/queues?detailed=false").json()["queues"]
    assert all(set(q) == {"name", "href"} for q in plain)


def test_with_count_counts_every_queue_and_is_omitted_when_zero(api: httpx.Client) -> None:
    assert "count" not in api.get("/v2/queues?with_count=true").json()
    for i in range(3):
        api.put(f"/v2/queues/q{i}")
    document = api.get("/v2/queues?with_count=true&limit=1").json()
    assert document["count"] == 3
    assert len(document["queues"]) == 1
    assert "count" not in api.get("/v2/queues").json()
    assert "count" not in api.get("/v2/queues?with_count=false").json()


def test_name_filter_searches_names(api: httpx.Client) -> None:
    for name in ("orders", "orders-dlq", "billing", "ORDERS"):
        api.put(f"/v2/queues/{name}")
    names = [q["name"] for q in api.get("/v2/queues?name=orders").json()["queues"]]
    assert names == ["orders", "orders-dlq"]
    names = [q["name"] for q in api.get("/v2/queues", params={"name": "^b"}).json()["queues"]]
    assert names == ["billing"]


def test_name_filter_anchors_and_wildcards(api: httpx.Client) -> None:
    for name in ("log.a", "logxa", "alog"):
        api.put(f"/v2/queues/{name}")
    names = [q["name"] for q in api.get("/v2/queues", params={"name": "^log.a$"}).json()["queues"]]
    assert names == ["log.a", "logxa"]


@pytest.mark.parametrize("pattern", ["x" * 64, "^" + "x" * 64 + "$"])
def test_name_filter_of_the_longest_name_is_accepted(api: httpx.Client, pattern: str) -> None:
    api.put(f"/v2/queues/{'x' * 64}")
    names = [q["name"] for q in api.get("/v2/queues", params={"name": pattern}).json()["queues"]]
    assert names == ["x" * 64]


@pytest.mark.parametrize("pattern", ["[", "(a+)+$", "a*", "a|b", "x" * 65])
def test_name_filter_beyond_plain_text_and_anchors_is_400(api: httpx.Client, pattern: str) -> None:
    # Repetition and groups could make one listing backtrack for ever.
    before = api.get("/v2/queues").json()
    assert_error(api.get("/v2/queues", params={"name": pattern}), 400)
    assert api.get("/v2/queues").json() == before


def test_metadata_filters_match_exactly(api: httpx.Client) -> None:
    api.put("/v2/queues/a", json={"colour": "red", "n": 5})
    api.put("/v2/queues/b", json={"colour": "blue", "n": "5"})
    api.put("/v2/queues/c", json={"colour": "red", "n": 6})
    api.put("/v2/queues/d")

    def names(query: str) -> list[str]:
        return [q["name"] for q in api.get(f"/v2/queues?{query}").json()["queues"]]

    assert names("colour=red") == ["a", "c"]
    assert names("colour=red&n=5") == ["a"]
    # A value that parses as an integer matches the integer only.
    assert names("n=5") == ["a"]
    assert names("colour=green") == []
    # Blank values are ignored.
    assert names("colour=") == ["a", "b", "c", "d"]


def test_metadata_filters_page_without_repeats(api: httpx.Client) -> None:
    for i in range(7):
        api.put(f"/v2/queues/q{i}", json={"even": i % 2 == 0, "k": "x" if i % 2 == 0 else "y"})
    pages = walk(api, "/v2/queues", "queues", limit=2, k="x")
    assert [q["name"] for page in pages for q in page] == ["q0", "q2", "q4", "q6"]


def test_queues_are_isolated_by_project(api: httpx.Client) -> None:
    api.put("/v2/queues/mine", json={"owner": "me"})
    with client(str(api.base_url)) as other:
        assert queue_names(other) == []
        assert metadata(other, "mine") == RESERVED_DEFAULTS
        assert other.put("/v2/queues/mine", json={"owner": "other"}).status_code == 201
        assert metadata(other, "mine")["owner"] == "other"
        assert_empty(other.delete("/v2/queues/mine"))
    assert metadata(api, "mine")["owner"] == "me"


# PATCH


def test_patch_add_replace_remove(api: httpx.Client) -> None:
    api.put("/v2/queues/q", json={"a": 1, "b": 2})
    response = patch(
        api,
        "q",
        [
            {"op": "add", "path": "/metadata/c", "value": {"x": [1]}},
            {"op": "replace", "path": "/metadata/a", "value": "one"},
            {"op": "remove", "path": "/metadata/b"},
            {"op": "add", "path": "/metadata/_default_message_ttl", "value": 120},
        ],
    )
    assert response.status_code == 200
    expected = {**RESERVED_DEFAULTS, "a": "one", "c": {"x": [1]}, "_default_message_ttl": 120}
    assert assert_json(response) == expected
    assert metadata(api, "q") == expected


def test_patch_add_overwrites_and_remove_of_absent_reserved_key_is_a_noop(
    api: httpx.Client,
) -> None:
    api.put("/v2/queues/q", json={"a": 1})
    response = patch(
        api,
        "q",
        [
            {"op": "add", "path": "/metadata/a", "value": 2},
            {"op": "remove", "path": "/metadata/_max_claim_count"},
            {"op": "replace", "path": "/metadata/_default_message_delay", "value": 30},
        ],
    )
    assert response.status_code == 200
    assert response.json() == {**RESERVED_DEFAULTS, "a": 2, "_default_message_delay": 30}


def test_patch_path_root_is_case_insensitive_and_escapes_decode(api: httpx.Client) -> None:
    api.put("/v2/queues/q")
    response = patch(
        api,
        "q",
        [
            {"op": "add", "path": "/METADATA/a~1b", "value": 1},
            {"op": "add", "path": "/Metadata/t~0i", "value": 2},
        ],
    )
    assert response.status_code == 200
    assert response.json()["a/b"] == 1
    assert response.json()["t~i"] == 2


def test_patch_remove_does_not_check_the_path_root(api: httpx.Client) -> None:
    api.put("/v2/queues/q", json={"k": 1})
    response = patch(api, "q", [{"op": "remove", "path": "/anything/k"}])
    assert response.status_code == 200
    assert "k" not in response.json()


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json-patch+json", "text/plain", None],
)
def test_patch_needs_its_media_type(api: httpx.Client, content_type: str | None) -> None:
    api.put("/v2/queues/q", json={"a": 1})
    headers = {"Content-Type": content_type} if content_type else {}
    if content_type is None:
        api.headers.pop("Content-Type")
    response = api.patch(
        "/v2/queues/q",
        content=b'[{"op": "add", "path": "/metadata/a", "value": 2}]',
        headers=headers,
    )
    assert_error(response, 415, "415 Unsupported Media Type")
    assert metadata(api, "q")["a"] == 1


def test_patch_remove_of_a_reserved_key_restores_its_default(api: httpx.Client) -> None:
    api.put("/v2/queues/q", json={"_default_message_ttl": 120, "_max_claim_count": 2})
    response = patch(
        api,
        "q",
        [
            {"op": "remove", "path": "/metadata/_default_message_ttl"},
            {"op": "remove", "path": "/metadata/_max_claim_count"},
        ],
    )
    assert response.status_code == 200
    assert response.json() == RESERVED_DEFAULTS
    post(api, "q", message())
    assert [m["ttl"] for m in api.get("/v2/queues/q/messages?echo=1").json()["messages"]] == [3600]


BAD_PATCHES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"   ", id="blank"),
    pytest.param(b"[{", id="malformed"),
    pytest.param(b'{"op": "add", "path": "/metadata/a", "value": 1}', id="not-a-list"),
    pytest.param(b'"add"', id="string"),
    pytest.param(b"[1]", id="op-not-object"),
    pytest.param(b'[{"path": "/metadata/a", "value": 1}]', id="missing-op"),
    pytest.param(b'[{"op": "move", "path": "/metadata/a", "value": 1}]', id="unknown-op"),
    pytest.param(b'[{"op": "test", "path": "/metadata/a", "value": 1}]', id="test-op"),
    pytest.param(b'[{"op": 1, "path": "/metadata/a", "value": 1}]', id="op-not-string"),
    pytest.param(b'[{"op": "add", "value": 1}]', id="missing-path"),
    pytest.param(b'[{"op": "add", "path": 5, "value": 1}]', id="path-not-string"),
    pytest.param(b'[{"op": "add", "path": "/metadata/a"}]', id="add-missing-value"),
    pytest.param(b'[{"op": "replace", "path": "/metadata/a"}]', id="replace-missing-value"),
    pytest.param(b'[{"op": "add", "path": "metadata/a", "value": 1}]', id="no-leading-slash"),
    pytest.param(b'[{"op": "add", "path": "/metadata/a~2", "value": 1}]', id="bad-escape"),
    pytest.param(b'[{"op": "add", "path": "/metadata/a~", "value": 1}]', id="trailing-tilde"),
    pytest.param(b'[{"op": "add", "path": "/metadata/", "value": 1}]', id="empty-segment"),
    pytest.param(b'[{"op": "add", "path": "//a", "value": 1}]', id="empty-root"),
    pytest.param(b'[{"op": "add", "path": "/metadata", "value": 1}]', id="one-segment"),
    pytest.param(b'[{"op": "add", "path": "/metadata/a/b", "value": 1}]', id="three-segments"),
    pytest.param(b'[{"op": "add", "path": "/other/a", "value": 1}]', id="root-not-metadata"),
    pytest.param(b'[{"op": "replace", "path": "/other/a", "value": 1}]', id="replace-root"),
    pytest.param(b'[{"op": "remove", "path": "/metadata"}]', id="remove-one-segment"),
    pytest.param(
        b'[{"op": "add", "path": "/metadata/x", "value": 1}, {"op": "add"}]',
        id="second-op-bad",
    ),
]


@pytest.mark.parametrize("body", BAD_PATCHES)
def test_bad_patches_are_400_and_change_nothing(api: httpx.Client, body: bytes) -> None:
    api.put("/v2/queues/q", json={"a": 1})
    response = api.patch("/v2/queues/q", content=body, headers={"Content-Type": PATCH_TYPE})
    assert_error(response, 400, "Invalid request body")
    assert metadata(api, "q") == {**RESERVED_DEFAULTS, "a": 1}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("_default_message_ttl", 59),
        ("_default_message_ttl", "3600"),
        ("_default_message_delay", 901),
        ("_max_messages_post_size", 0),
        ("_dead_letter_queue_messages_ttl", 30),
        ("_max_claim_count", "two"),
        ("_dead_letter_queue", 5),
        ("_enable_encrypt_messages", "yes"),
        ("_retry_policy", [1]),
        ("_retry_policy", {"minimum_delay": 25}),
        ("_retry_policy", {"retry_backoff_function": "cubic"}),
    ],
)
def test_patch_validates_reserved_values_all_or_nothing(
    api: httpx.Client, key: str, value: object
) -> None:
    api.put("/v2/queues/q", json={"a": 1})
    operations = [
        {"op": "add", "path": "/metadata/b", "value": 2},
        {"op": "add", "path": f"/metadata/{key}", "value": value},
    ]
    assert_error(patch(api, "q", operations), 400, "Invalid API request")
    assert metadata(api, "q") == {**RESERVED_DEFAULTS, "a": 1}


@pytest.mark.parametrize("op", ["replace", "remove"])
def test_patch_of_an_unknown_key_is_409_and_changes_nothing(api: httpx.Client, op: str) -> None:
    api.put("/v2/queues/q", json={"a": 1})
    operations = [
        {"op": "add", "path": "/metadata/b", "value": 2},
        {"op": op, "path": "/metadata/missing", "value": 3},
    ]
    assert_error(patch(api, "q", operations), 409, "Resource conflict")
    assert metadata(api, "q") == {**RESERVED_DEFAULTS, "a": 1}


def test_patch_of_a_missing_queue_is_404(api: httpx.Client) -> None:
    response = patch(api, "nowhere", [{"op": "add", "path": "/metadata/a", "value": 1}])
    assert_error(response, 404, "Not found")
    assert queue_names(api) == []


def test_patch_checks_media_type_and_body_before_the_queue(api: httpx.Client) -> None:
    operations = b'[{"op": "add", "path": "/metadata/a", "value": 1}]'
    response = api.patch("/v2/queues/nowhere", content=operations)
    assert_error(response, 415, "415 Unsupported Media Type")
    response = api.patch("/v2/queues/nowhere", content=b"[{", headers={"Content-Type": PATCH_TYPE})
    assert_error(response, 400, "Invalid request body")
    assert queue_names(api) == []


def test_patched_reserved_values_take_effect(api: httpx.Client) -> None:
    api.put("/v2/queues/q")
    patch(api, "q", [{"op": "add", "path": "/metadata/_default_message_ttl", "value": 120}])
    post(api, "q", message())
    assert [m["ttl"] for m in api.get("/v2/queues/q/messages?echo=true").json()["messages"]] == [
        120
    ]


# Stats (§4.8)


CREATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_stats_count_and_show_oldest_and_newest(api: httpx.Client, clock: FakeClock) -> None:
    first = post(api, "q", message(), message())
    clock.advance(30)
    last = post(api, "q", message())
    claim(api, "q", limit=1)
    found = stats(api, "q")
    assert set(found) == {"claimed", "free", "total", "oldest", "newest"}
    assert (found["claimed"], found["free"], found["total"]) == (1, 2, 3)
    oldest, newest = found["oldest"], found["newest"]
    assert set(oldest) == set(newest) == {"age", "created", "href"}
    assert oldest["href"] == f"/v2/queues/q/messages/{first[0]}"
    assert newest["href"] == f"/v2/queues/q/messages/{last[0]}"
    assert oldest["age"] == 30 and newest["age"] == 0
    assert CREATED.match(oldest["created"]) and CREATED.match(newest["created"])
    assert oldest["created"] <= newest["created"]


def test_stats_count_delayed_messages_as_free(api: httpx.Client) -> None:
    post(api, "q", message(delay=120), message())
    assert counts(api, "q") == (0, 2, 2)
    claim(api, "q")
    assert counts(api, "q") == (1, 1, 2)


def test_stats_ignore_expired_messages_and_free_expired_claims(
    api: httpx.Client, clock: FakeClock
) -> None:
    post(api, "q", message(ttl=60), message(ttl=600))
    claim(api, "q", ttl=120, grace=60, limit=2)
    assert counts(api, "q") == (2, 0, 2)
    clock.advance(121)
    # The claim is over; the short message lived on by the grace period.
    assert counts(api, "q") == (0, 2, 2)
    clock.advance(60)
    found = stats(api, "q")
    assert (found["claimed"], found["free"], found["total"]) == (0, 1, 1)
    clock.advance(600)
    assert stats(api, "q") == {"claimed": 0, "free": 0, "total": 0}


def test_stats_of_an_emptied_queue_have_no_oldest_or_newest(api: httpx.Client) -> None:
    ids = post(api, "q", message())
    api.delete(f"/v2/queues/q/messages/{ids[0]}")
    assert stats(api, "q") == {"claimed": 0, "free": 0, "total": 0}


# Purge


@pytest.mark.parametrize(
    "body",
    [None, {"resource_types": ["messages"]}, {"resource_types": ["messages", "subscriptions"]}],
)
def test_purge_removes_every_message_claimed_or_not(api: httpx.Client, body: object) -> None:
    api.put("/v2/queues/q", json={"keep": True})
    post(api, "q", message(), message(), message(delay=100))
    claim_id, _ = claim(api, "q", limit=1)
    assert_empty(api.post("/v2/queues/q/purge", json=body))
    assert stats(api, "q") == {"claimed": 0, "free": 0, "total": 0}
    assert api.get(f"/v2/queues/q/claims/{claim_id}").status_code == 404
    assert metadata(api, "q")["keep"] is True
    assert queue_names(api) == ["q"]


def test_purge_of_subscriptions_only_keeps_messages(api: httpx.Client) -> None:
    post(api, "q", message())
    assert_empty(api.post("/v2/queues/q/purge", json={"resource_types": ["subscriptions"]}))
    assert stats(api, "q")["total"] == 1


@pytest.mark.parametrize(
    ("body", "title"),
    [
        (b"{}", "Invalid request body"),
        (b'{"resource_types": "messages"}', "Invalid request body"),
        (b'{"resource_types": [1]}', "Invalid request body"),
        (b'{"resource_types": null}', "Invalid request body"),
        (b"[]", "Invalid request body"),
        (b"{bad", "Invalid request body"),
        (b'{"resource_types": ["bogus"]}', "Invalid API request"),
        (b'{"resource_types": ["messages", "claims"]}', "Invalid API request"),
    ],
)
def test_bad_purge_bodies_are_400_and_change_nothing(
    api: httpx.Client, body: bytes, title: str
) -> None:
    post(api, "q", message(), message())
    assert_error(api.post("/v2/queues/q/purge", content=body), 400, title)
    assert stats(api, "q")["total"] == 2
