"""Claims (§2.5, §4.3, §4.5): create, get, renew, release, expiry, grace, dead letters."""

from __future__ import annotations

import httpx
import pytest

from api_support import (
    MESSAGE_KEYS,
    assert_empty,
    assert_error,
    assert_json,
    claim,
    claim_id_of,
    counts,
    listed_ids,
    message,
    metadata,
    post,
    post_n,
    queue_names,
    stats,
)
from support import FakeClock

# Create


def test_claim_answers_201_with_location_and_claimed_hrefs(api: httpx.Client) -> None:
    ids = post_n(api, "q", 3)
    response = api.post("/v2/queues/q/claims?limit=2", json={"ttl": 100, "grace": 60})
    assert response.status_code == 201
    location = response.headers["location"]
    assert location.startswith("/v2/queues/q/claims/")
    claim_id = location.rsplit("/", 1)[1]
    assert claim_id
    document = assert_json(response)
    assert set(document) == {"messages"}
    claimed = document["messages"]
    assert [m["id"] for m in claimed] == ids[:2]
    for m, i in zip(claimed, ids, strict=False):
        assert set(m) == MESSAGE_KEYS
        assert m["href"] == f"/v2/queues/q/messages/{i}?claim_id={claim_id}"
        assert claim_id_of(m["href"]) == claim_id
        assert m["ttl"] == 3600
        assert m["age"] == 0
    assert [m["body"] for m in claimed] == [{"i": 0}, {"i": 1}]


def test_claim_limit_defaults_to_ten_and_claims_are_fifo(api: httpx.Client) -> None:
    ids = post_n(api, "q", 13)
    _, first = claim(api, "q")
    assert [m["id"] for m in first] == ids[:10]
    _, second = claim(api, "q", limit=2)
    assert [m["id"] for m in second] == ids[10:12]
    _, third = claim(api, "q", limit=20)
    assert [m["id"] for m in third] == ids[12:]
    assert_empty(api.post("/v2/queues/q/claims"))


def test_a_limit_in_the_body_is_ignored(api: httpx.Client) -> None:
    post_n(api, "q", 12)
    response = api.post("/v2/queues/q/claims", json={"ttl": 60, "grace": 60, "limit": 1})
    assert response.status_code == 201
    assert len(response.json()["messages"]) == 10


@pytest.mark.parametrize("body", [b"", b"{}", b"  "])
def test_claim_defaults_are_300_and_60(api: httpx.Client, clock: FakeClock, body: bytes) -> None:
    post(api, "q", message(ttl=60))
    response = api.post("/v2/queues/q/claims", content=body)
    assert response.status_code == 201
    claimed = response.json()["messages"]
    # The 60-second message now outlives the 300-second claim by the 60-second grace.
    assert claimed[0]["ttl"] == 360
    got = api.get(response.headers["location"]).json()
    assert got["ttl"] == 300
    clock.advance(299)
    assert api.get(response.headers["location"]).status_code == 200
    clock.advance(1)
    assert api.get(response.headers["location"]).status_code == 404


def test_claim_with_only_ttl_or_only_grace(api: httpx.Client) -> None:
    post_n(api, "q", 2)
    only_ttl = api.post("/v2/queues/q/claims?limit=1", json={"ttl": 120})
    assert api.get(only_ttl.headers["location"]).json()["ttl"] == 120
    only_grace = api.post("/v2/queues/q/claims?limit=1", json={"grace": 120})
    assert api.get(only_grace.headers["location"]).json()["ttl"] == 300


def test_nothing_to_claim_is_204_without_body_or_location(api: httpx.Client) -> None:
    for queue in ("never-made", "empty"):
        if queue == "empty":
            api.put("/v2/queues/empty")
        response = api.post(f"/v2/queues/{queue}/claims", json={"ttl": 60, "grace": 60})
        assert_empty(response)
        assert "location" not in response.headers
    post(api, "busy", message())
    claim(api, "busy")
    assert_empty(api.post("/v2/queues/busy/claims"))
    assert "never-made" not in queue_names(api)


def test_claimed_messages_are_hidden_from_other_claimers(api: httpx.Client) -> None:
    ids = post_n(api, "q", 4)
    first, mine = claim(api, "q", limit=2)
    second, theirs = claim(api, "q", limit=5)
    assert first != second
    assert [m["id"] for m in mine] == ids[:2]
    assert [m["id"] for m in theirs] == ids[2:]


def test_claims_ignore_echo(api: httpx.Client) -> None:
    ids = post(api, "q", message())
    _, claimed = claim(api, "q")
    assert [m["id"] for m in claimed] == ids


# Get


def test_get_claim(api: httpx.Client, clock: FakeClock) -> None:
    ids = post_n(api, "q", 2)
    claim_id, _ = claim(api, "q", ttl=120, grace=60)
    clock.advance(15)
    response = api.get(f"/v2/queues/q/claims/{claim_id}")
    assert response.status_code == 200
    document = assert_json(response)
    assert set(document) == {"age", "ttl", "messages", "href"}
    assert document["href"] == f"/v2/queues/q/claims/{claim_id}"
    assert document["age"] == 15
    assert document["ttl"] == 120
    assert [m["id"] for m in document["messages"]] == ids
    for m in document["messages"]:
        assert set(m) == MESSAGE_KEYS
        assert m["href"].endswith(f"?claim_id={claim_id}")
        assert m["age"] == 15


@pytest.mark.parametrize("claim_id", ["nothing", "00000000-0000-0000-0000-000000000000"])
def test_get_unknown_claim_is_404(api: httpx.Client, claim_id: str) -> None:
    post(api, "q", message())
    claim(api, "q")
    assert_error(api.get(f"/v2/queues/q/claims/{claim_id}"), 404, "Not found")


def test_a_claim_belongs_to_its_queue(api: httpx.Client) -> None:
    post(api, "q", message())
    post(api, "other", message())
    claim_id, _ = claim(api, "q")
    assert_error(api.get(f"/v2/queues/other/claims/{claim_id}"), 404, "Not found")
    assert_error(api.patch(f"/v2/queues/other/claims/{claim_id}", json={}), 404)
    assert_empty(api.delete(f"/v2/queues/other/claims/{claim_id}"))
    assert api.get(f"/v2/queues/q/claims/{claim_id}").status_code == 200


# Expiry and release


def test_expired_claim_frees_its_messages(api: httpx.Client, clock: FakeClock) -> None:
    ids = post_n(api, "q", 2)
    claim_id, _ = claim(api, "q", ttl=60)
    clock.advance(59)
    assert_empty(api.post("/v2/queues/q/claims"))
    assert counts(api, "q") == (2, 0, 2)
    clock.advance(1)
    assert_error(api.get(f"/v2/queues/q/claims/{claim_id}"), 404, "Not found")
    assert_error(api.patch(f"/v2/queues/q/claims/{claim_id}", json={"ttl": 60}), 404)
    assert counts(api, "q") == (0, 2, 2)
    assert listed_ids(api, "q") == ids
    assert all(
        "claim_id" not in m["href"]
        for m in api.get("/v2/queues/q/messages?echo=1").json()["messages"]
    )
    again, claimed = claim(api, "q")
    assert again != claim_id
    assert [m["id"] for m in claimed] == ids
    assert_empty(api.delete(f"/v2/queues/q/claims/{claim_id}"))
    assert counts(api, "q") == (2, 0, 2)


def test_release_frees_the_messages_at_once(api: httpx.Client) -> None:
    ids = post_n(api, "q", 3)
    claim_id, _ = claim(api, "q", limit=2)
    assert_empty(api.delete(f"/v2/queues/q/claims/{claim_id}"))
    assert_error(api.get(f"/v2/queues/q/claims/{claim_id}"), 404)
    assert counts(api, "q") == (0, 3, 3)
    got = api.get(f"/v2/queues/q/messages/{ids[0]}").json()
    assert got["href"] == f"/v2/queues/q/messages/{ids[0]}"
    _, claimed = claim(api, "q", limit=5)
    assert [m["id"] for m in claimed] == ids
    assert_empty(api.delete(f"/v2/queues/q/claims/{claim_id}"))
    assert_empty(api.delete("/v2/queues/q/claims/never-was"))


# Renew


def test_renew_restarts_the_claim_from_now(api: httpx.Client, clock: FakeClock) -> None:
    post(api, "q", message())
    claim_id, _ = claim(api, "q", ttl=100)
    clock.advance(50)
    assert_empty(api.patch(f"/v2/queues/q/claims/{claim_id}", json={"ttl": 60, "grace": 60}))
    got = api.get(f"/v2/queues/q/claims/{claim_id}").json()
    assert (got["ttl"], got["age"]) == (60, 0)
    # Replaced, not added: it ends 60 s after the PATCH, before the first 100 s were up.
    clock.advance(59)
    assert api.get(f"/v2/queues/q/claims/{claim_id}").status_code == 200
    clock.advance(1)
    assert api.get(f"/v2/queues/q/claims/{claim_id}").status_code == 404
    assert counts(api, "q") == (0, 1, 1)


def test_renew_can_outlast_the_first_ttl(api: httpx.Client, clock: FakeClock) -> None:
    post(api, "q", message())
    claim_id, _ = claim(api, "q", ttl=60)
    clock.advance(50)
    assert_empty(api.patch(f"/v2/queues/q/claims/{claim_id}", json={"ttl": 200}))
    clock.advance(100)
    assert api.get(f"/v2/queues/q/claims/{claim_id}").json()["age"] == 100
    assert_empty(api.post("/v2/queues/q/claims"))


def test_renew_with_empty_object_uses_the_defaults(api: httpx.Client, clock: FakeClock) -> None:
    post(api, "q", message())
    claim_id, _ = claim(api, "q", ttl=60)
    assert_empty(api.patch(f"/v2/queues/q/claims/{claim_id}", json={}))
    assert api.get(f"/v2/queues/q/claims/{claim_id}").json()["ttl"] == 300


def test_renew_unknown_claim_is_404(api: httpx.Client) -> None:
    post(api, "q", message())
    assert_error(api.patch("/v2/queues/q/claims/nothing", json={"ttl": 60}), 404, "Not found")


# Grace (§4.3)


def test_grace_keeps_a_short_message_alive_past_its_claim(
    api: httpx.Client, clock: FakeClock
) -> None:
    (short,) = post(api, "q", message(ttl=60))
    (long,) = post(api, "q", message(ttl=3600))
    _, claimed = claim(api, "q", ttl=120, grace=60)
    assert {m["id"]: m["ttl"] for m in claimed} == {short: 180, long: 3600}
    assert api.get(f"/v2/queues/q/messages/{short}").json()["ttl"] == 180
    clock.advance(179)
    assert api.get(f"/v2/queues/q/messages/{short}").status_code == 200
    clock.advance(1)
    assert api.get(f"/v2/queues/q/messages/{short}").status_code == 404
    assert api.get(f"/v2/queues/q/messages/{long}").json()["ttl"] == 3600


def test_grace_on_renew_counts_from_the_patch(api: httpx.Client, clock: FakeClock) -> None:
    (a,) = post(api, "q", message(ttl=120))
    claim_id, claimed = claim(api, "q", ttl=60, grace=60)
    assert claimed[0]["ttl"] == 120
    clock.advance(50)
    patch = {"ttl": 300, "grace": 100}
    assert_empty(api.patch(f"/v2/queues/q/claims/{claim_id}", json=patch))
    assert api.get(f"/v2/queues/q/messages/{a}").json()["ttl"] == 400
    assert api.get(f"/v2/queues/q/claims/{claim_id}").json()["messages"][0]["ttl"] == 400
    clock.advance(299)
    assert api.get(f"/v2/queues/q/claims/{claim_id}").status_code == 200
    clock.advance(1)
    assert api.get(f"/v2/queues/q/claims/{claim_id}").status_code == 404
    # The message lives on until 400 s after the PATCH: 450 s after it was posted.
    clock.advance(99)
    assert api.get(f"/v2/queues/q/messages/{a}").status_code == 200
    clock.advance(1)
    assert api.get(f"/v2/queues/q/messages/{a}").status_code == 404


def test_a_message_deleted_with_its_claim_stays_deleted_after_release(
    api: httpx.Client,
) -> None:
    a, b = post_n(api, "q", 2)
    claim_id, _ = claim(api, "q")
    api.delete(f"/v2/queues/q/messages/{a}?claim_id={claim_id}")
    api.delete(f"/v2/queues/q/claims/{claim_id}")
    assert listed_ids(api, "q") == [b]


# Dead letters (§4.5)


def dead_letter_queue(api: httpx.Client, queue: str, **extra: object) -> None:
    body = {"_max_claim_count": 2, "_dead_letter_queue": "dead", **extra}
    assert api.put(f"/v2/queues/{queue}", json=body).status_code == 201


def test_message_moves_to_the_dead_letter_queue_after_max_claims(
    api: httpx.Client, clock: FakeClock
) -> None:
    dead_letter_queue(api, "q", _dead_letter_queue_messages_ttl=120)
    (a,) = post(api, "q", message({"job": 1}))
    for _ in range(2):
        _, claimed = claim(api, "q", ttl=60)
        assert [m["id"] for m in claimed] == [a]
        clock.advance(60)
    # The third claim finds the message spent: it moves, and nothing is claimed.
    assert_empty(api.post("/v2/queues/q/claims", json={"ttl": 60}))
    assert stats(api, "q") == {"claimed": 0, "free": 0, "total": 0}
    assert "dead" in queue_names(api)
    # It arrives unclaimed and visible, with the dead-letter TTL.
    (moved,) = api.get("/v2/queues/dead/messages?echo=true").json()["messages"]
    assert moved["body"] == {"job": 1}
    assert moved["ttl"] == 120
    # Its age still counts from the first post.
    assert moved["age"] == 120
    assert counts(api, "dead") == (0, 1, 1)
    _, claimed = claim(api, "dead")
    assert [m["body"] for m in claimed] == [{"job": 1}]


def test_dead_letter_keeps_the_ttl_without_a_dead_letter_ttl(
    api: httpx.Client, clock: FakeClock
) -> None:
    dead_letter_queue(api, "q")
    post(api, "q", message(ttl=1000))
    for _ in range(2):
        claim(api, "q", ttl=60)
        clock.advance(60)
    assert_empty(api.post("/v2/queues/q/claims"))
    (moved,) = api.get("/v2/queues/dead/messages?echo=true").json()["messages"]
    assert moved["ttl"] == 1000
    # It arrives with a fresh claim count.
    (popped,) = api.delete("/v2/queues/dead/messages?pop=1").json()["messages"]
    assert (popped["id"], popped["claim_count"], popped["claim_id"]) == (moved["id"], 0, None)


def test_dead_letter_into_an_existing_queue_joins_its_tail(
    api: httpx.Client, clock: FakeClock
) -> None:
    api.put("/v2/queues/dead", json={"kind": "graveyard"})
    earlier = post(api, "dead", message({"was": "here"}))
    dead_letter_queue(api, "q")
    post(api, "q", message({"job": "spent"}))
    for _ in range(2):
        claim(api, "q", ttl=60)
        clock.advance(60)
    (fresh,) = post(api, "q", message({"job": "fresh"}))
    # The spent message moves; the fresh one is claimed in the same call.
    _, claimed = claim(api, "q", limit=5)
    assert [m["id"] for m in claimed] == [fresh]
    listed = api.get("/v2/queues/dead/messages?echo=true").json()["messages"]
    assert [m["id"] for m in listed][:1] == earlier
    assert [m["body"] for m in listed] == [{"was": "here"}, {"job": "spent"}]
    assert metadata(api, "dead")["kind"] == "graveyard"


def test_max_claim_count_without_a_dead_letter_queue_moves_nothing(
    api: httpx.Client, clock: FakeClock
) -> None:
    api.put("/v2/queues/q", json={"_max_claim_count": 1})
    (a,) = post(api, "q", message())
    for _ in range(3):
        _, claimed = claim(api, "q", ttl=60)
        assert [m["id"] for m in claimed] == [a]
        clock.advance(60)


def test_released_claims_count_towards_dead_lettering(api: httpx.Client) -> None:
    dead_letter_queue(api, "q")
    post(api, "q", message())
    for _ in range(2):
        claim_id, _ = claim(api, "q")
        api.delete(f"/v2/queues/q/claims/{claim_id}")
    assert_empty(api.post("/v2/queues/q/claims"))
    assert stats(api, "dead")["total"] == 1
