"""Messages (§2.4, §3, §4.1, §4.4, §4.7): post, list, get, delete, pop, delays and TTLs."""

from __future__ import annotations

import httpx
import pytest

from api_support import (
    MESSAGE_KEYS,
    POPPED_KEYS,
    ServerFactory,
    assert_empty,
    assert_error,
    assert_json,
    claim,
    claim_id_of,
    client,
    counts,
    id_of,
    listed_ids,
    listing,
    message,
    peer,
    post,
    post_n,
    stats,
    walk,
)
from support import FakeClock

# Posting


def test_post_answers_201_with_location_and_hrefs_in_order(api: httpx.Client) -> None:
    response = api.post(
        "/v2/queues/q/messages",
        json={"messages": [message({"i": 0}), message({"i": 1}), message({"i": 2})]},
    )
    assert response.status_code == 201
    document = assert_json(response)
    assert set(document) == {"resources"}
    hrefs = document["resources"]
    assert len(hrefs) == 3
    ids = [id_of(h) for h in hrefs]
    assert hrefs == [f"/v2/queues/q/messages/{i}" for i in ids]
    assert len(set(ids)) == 3
    assert all(isinstance(i, str) and i for i in ids)
    assert response.headers["location"] == f"/v2/queues/q/messages?ids={','.join(ids)}"
    # The Location lists exactly the posted messages, in order.
    got = api.get(response.headers["location"]).json()["messages"]
    assert [m["body"] for m in got] == [{"i": 0}, {"i": 1}, {"i": 2}]


@pytest.mark.parametrize(
    "body",
    [
        "text",
        "",
        0,
        -1.5,
        12345678901234,
        True,
        None,
        [],
        [1, "two", {"three": 3}],
        {},
        {"deep": {"er": [{"est": None}]}},
        "h\u00e9ros \u2603 \U0001f600",
    ],
)
def test_any_json_body_round_trips(api: httpx.Client, body: object) -> None:
    (message_id,) = post(api, "q", {"body": body})
    got = api.get(f"/v2/queues/q/messages/{message_id}").json()
    assert got["body"] == body
    assert listing(api, "q", echo=True)["messages"][0]["body"] == body


def test_message_objects_have_exactly_the_documented_keys(api: httpx.Client) -> None:
    (message_id,) = post(api, "q", {"body": {"a": 1}, "ttl": 300, "extra": "dropped"})
    got = assert_json(api.get(f"/v2/queues/q/messages/{message_id}"))
    assert got == {
        "id": message_id,
        "href": f"/v2/queues/q/messages/{message_id}",
        "ttl": 300,
        "age": 0,
        "body": {"a": 1},
    }
    (listed,) = listing(api, "q", echo=True)["messages"]
    assert listed == got
    (by_ids,) = api.get(f"/v2/queues/q/messages?ids={message_id}").json()["messages"]
    assert by_ids == got


def test_post_ttl_defaults(api: httpx.Client) -> None:
    post(api, "plain", message())
    api.put("/v2/queues/short", json={"_default_message_ttl": 120})
    post(api, "short", message(), message(ttl=90))
    assert [m["ttl"] for m in listing(api, "plain", echo=True)["messages"]] == [3600]
    assert [m["ttl"] for m in listing(api, "short", echo=True)["messages"]] == [120, 90]


def test_many_messages_in_one_post(api: httpx.Client) -> None:
    ids = post_n(api, "q", 150)
    assert len(ids) == 150
    assert stats(api, "q")["total"] == 150


def test_age_counts_from_the_post(api: httpx.Client, clock: FakeClock) -> None:
    (message_id,) = post(api, "q", message())
    clock.advance(42)
    assert api.get(f"/v2/queues/q/messages/{message_id}").json()["age"] == 42
    assert listing(api, "q", echo=True)["messages"][0]["age"] == 42


# Listing


def test_listing_is_oldest_first(api: httpx.Client) -> None:
    ids = post_n(api, "q", 3)
    ids += post_n(api, "q", 2)
    assert listed_ids(api, "q") == ids


def test_empty_listing_is_200_with_no_links(api: httpx.Client) -> None:
    post(api, "q", message())
    response = api.get("/v2/queues/q/messages")
    assert assert_json(response) == {"messages": [], "links": []}


def test_echo_hides_the_callers_own_messages(api: httpx.Client) -> None:
    mine = post(api, "q", message())
    with peer(api) as other:
        theirs = post(other, "q", message())
        assert listed_ids(other, "q", echo=False) == mine
        assert listed_ids(other, "q", echo=True) == mine + theirs
    assert listed_ids(api, "q", echo=False) == theirs
    assert [m["id"] for m in listing(api, "q")["messages"]] == theirs


def test_include_claimed_shows_claimed_messages_with_their_claim(api: httpx.Client) -> None:
    ids = post_n(api, "q", 3)
    claim_id, _ = claim(api, "q", limit=2)
    assert listed_ids(api, "q") == ids[2:]
    shown = listing(api, "q", echo=True, include_claimed=True)["messages"]
    assert [m["id"] for m in shown] == ids
    assert [m["href"] for m in shown] == [
        f"/v2/queues/q/messages/{ids[0]}?claim_id={claim_id}",
        f"/v2/queues/q/messages/{ids[1]}?claim_id={claim_id}",
        f"/v2/queues/q/messages/{ids[2]}",
    ]
    assert claim_id_of(shown[0]["href"]) == claim_id
    # With a marker too.
    after = listing(api, "q", echo=True, include_claimed=True, marker=ids[0])["messages"]
    assert [m["id"] for m in after] == ids[1:]
    assert after[0]["href"].endswith(f"?claim_id={claim_id}")


def test_include_delayed_shows_messages_that_are_not_yet_due(
    api: httpx.Client, clock: FakeClock
) -> None:
    due = post(api, "q", message())
    later = post(api, "q", message(delay=30))
    assert listed_ids(api, "q") == due
    assert listed_ids(api, "q", include_delayed=True) == due + later
    clock.advance(30)
    assert listed_ids(api, "q") == due + later


def test_queue_default_delay_applies_to_posts_without_one(
    api: httpx.Client, clock: FakeClock
) -> None:
    api.put("/v2/queues/q", json={"_default_message_delay": 60})
    delayed = post(api, "q", message())
    at_once = post(api, "q", message(delay=0))
    longer = post(api, "q", message(delay=120))
    assert listed_ids(api, "q") == at_once
    assert listed_ids(api, "q", include_delayed=True) == delayed + at_once + longer
    clock.advance(60)
    assert listed_ids(api, "q") == delayed + at_once
    clock.advance(60)
    assert listed_ids(api, "q") == delayed + at_once + longer


def test_delayed_messages_are_not_claimed_or_popped_until_due(
    api: httpx.Client, clock: FakeClock
) -> None:
    (late,) = post(api, "q", message(delay=100))
    assert_empty(api.post("/v2/queues/q/claims"))
    assert api.delete("/v2/queues/q/messages?pop=5").json() == {"messages": []}
    # It can be read and deleted by id meanwhile.
    assert api.get(f"/v2/queues/q/messages/{late}").status_code == 200
    clock.advance(100)
    _, claimed = claim(api, "q")
    assert [m["id"] for m in claimed] == [late]


@pytest.mark.parametrize("limit", [1, 3, 7, 20])
def test_paging_follows_links_without_repeats_or_gaps(api: httpx.Client, limit: int) -> None:
    ids = post_n(api, "q", 23)
    pages = walk(api, "/v2/queues/q/messages", "messages", limit=limit, echo=True)
    assert all(len(page) == limit for page in pages[:-1])
    seen = [m["id"] for page in pages for m in page]
    assert seen == ids


def test_paging_default_limit_is_ten(api: httpx.Client) -> None:
    post_n(api, "q", 23)
    pages = walk(api, "/v2/queues/q/messages", "messages", echo=True)
    assert [len(page) for page in pages] == [10, 10, 3]


def test_next_link_keeps_the_query(api: httpx.Client) -> None:
    ids = post_n(api, "q", 3)
    document = listing(api, "q", limit=2, echo=True, include_claimed=True)
    (link,) = document["links"]
    assert link["rel"] == "next"
    path, query = link["href"].split("?", 1)
    assert path == "/v2/queues/q/messages"
    parts = query.split("&")
    for part in ("limit=2", "echo=true", "include_claimed=true", f"marker={ids[1]}"):
        assert part in parts, link
    # The last non-empty page still links on; the page after it is empty.
    last = api.get(link["href"]).json()
    assert [m["id"] for m in last["messages"]] == ids[2:]
    assert len(last["links"]) == 1
    assert api.get(last["links"][0]["href"]).json() == {"messages": [], "links": []}


def test_paging_sees_messages_posted_while_paging(api: httpx.Client) -> None:
    first = post_n(api, "q", 4)
    page = listing(api, "q", limit=4, echo=True)
    later = post_n(api, "q", 2)
    nxt = api.get(page["links"][0]["href"]).json()
    assert [m["id"] for m in nxt["messages"]] == later
    assert [m["id"] for m in page["messages"]] == first


def test_paging_with_claimed_and_delayed_messages(api: httpx.Client) -> None:
    ids = post_n(api, "q", 6)
    ids += post(api, "q", message(delay=300))
    ids += post_n(api, "q", 5)
    claim(api, "q", limit=3)
    pages = walk(
        api,
        "/v2/queues/q/messages",
        "messages",
        limit=4,
        echo=True,
        include_claimed=True,
        include_delayed=True,
    )
    assert [m["id"] for page in pages for m in page] == ids
    visible = walk(api, "/v2/queues/q/messages", "messages", limit=4, echo=True)
    assert [m["id"] for page in visible for m in page] == ids[3:6] + ids[7:]


def test_unknown_marker_gives_an_empty_page_not_an_error(api: httpx.Client) -> None:
    post_n(api, "q", 2)
    for marker in ("zzz", "99999999999", "-1"):
        response = api.get("/v2/queues/q/messages", params={"marker": marker, "echo": "true"})
        assert response.status_code == 200
        assert response.json() == {"messages": [], "links": []}


# Get by ids and by id


def test_get_by_ids_keeps_the_order_asked_and_skips_unknown(api: httpx.Client) -> None:
    a, b, c = post_n(api, "q", 3)
    response = api.get(f"/v2/queues/q/messages?ids={c},nope,{a},424242424,{b}")
    assert response.status_code == 200
    document = assert_json(response)
    assert set(document) == {"messages"}
    assert [m["id"] for m in document["messages"]] == [c, a, b]
    assert all(set(m) == MESSAGE_KEYS for m in document["messages"])


def test_get_by_ids_ignores_echo_and_shows_claims(api: httpx.Client) -> None:
    a, b = post_n(api, "q", 2)
    claim_id, _ = claim(api, "q", limit=1)
    got = api.get(f"/v2/queues/q/messages?ids={a},{b}").json()["messages"]
    assert got[0]["href"] == f"/v2/queues/q/messages/{a}?claim_id={claim_id}"
    assert got[1]["href"] == f"/v2/queues/q/messages/{b}"


def test_get_by_ids_with_none_found_is_404(api: httpx.Client) -> None:
    (a,) = post(api, "q", message())
    api.delete(f"/v2/queues/q/messages/{a}")
    assert_error(api.get(f"/v2/queues/q/messages?ids={a},nope"), 404, "Not found")


def test_get_by_ids_ignores_blank_items(api: httpx.Client) -> None:
    a, b = post_n(api, "q", 2)
    got = api.get(f"/v2/queues/q/messages?ids=,{a},,{b},").json()["messages"]
    assert [m["id"] for m in got] == [a, b]


def test_get_one_message(api: httpx.Client) -> None:
    (a,) = post(api, "q", message({"k": "v"}, ttl=200))
    claim_id, _ = claim(api, "q")
    got = assert_json(api.get(f"/v2/queues/q/messages/{a}"))
    assert got["href"] == f"/v2/queues/q/messages/{a}?claim_id={claim_id}"
    assert set(got) == MESSAGE_KEYS


@pytest.mark.parametrize("message_id", ["424242424", "abc", "-1", "1.5", "0"])
def test_get_unknown_message_is_404(api: httpx.Client, message_id: str) -> None:
    post(api, "q", message())
    assert_error(api.get(f"/v2/queues/q/messages/{message_id}"), 404, "Not found")


def test_a_message_id_belongs_to_its_queue(api: httpx.Client) -> None:
    (a,) = post(api, "one", message())
    post(api, "two", message())
    assert api.get(f"/v2/queues/two/messages/{a}").status_code == 404
    assert api.get(f"/v2/queues/two/messages?ids={a}").status_code == 404
    assert_empty(api.delete(f"/v2/queues/two/messages/{a}"))
    assert_empty(api.delete(f"/v2/queues/two/messages?ids={a}"))
    assert api.get(f"/v2/queues/one/messages/{a}").status_code == 200


# TTL expiry (§4.7): expired messages are never returned


def test_expired_messages_are_gone_everywhere(api: httpx.Client, clock: FakeClock) -> None:
    short, long = post(api, "q", message(ttl=60), message(ttl=120))
    clock.advance(59)
    assert listed_ids(api, "q") == [short, long]
    clock.advance(1)
    assert listed_ids(api, "q", include_claimed=True, include_delayed=True) == [long]
    assert api.get(f"/v2/queues/q/messages/{short}").status_code == 404
    got = api.get(f"/v2/queues/q/messages?ids={short},{long}").json()["messages"]
    assert [m["id"] for m in got] == [long]
    assert stats(api, "q")["total"] == 1
    assert stats(api, "q")["oldest"]["href"].endswith(f"/{long}")
    _, claimed = claim(api, "q", limit=5)
    assert [m["id"] for m in claimed] == [long]
    clock.advance(60 + 60)
    assert listed_ids(api, "q", include_claimed=True) == []
    assert api.delete("/v2/queues/q/messages?pop=5").json() == {"messages": []}


# Bulk delete


def test_bulk_delete_by_ids(api: httpx.Client) -> None:
    a, b, c, d = post_n(api, "q", 4)
    claim(api, "q", limit=1)
    assert_empty(api.delete(f"/v2/queues/q/messages?ids={a},{c},unknown,9999999"))
    # Claims are not checked: the claimed message `a` went too.
    assert listed_ids(api, "q", include_claimed=True) == [b, d]
    assert_empty(api.delete(f"/v2/queues/q/messages?ids={b},{d}"))
    assert stats(api, "q")["total"] == 0


def test_bulk_delete_with_claim_ids_when_configured(make_server: ServerFactory) -> None:
    with client(make_server(message_delete_with_claim_id=True)) as api:
        a, b, c = post_n(api, "q", 3)
        claim_id, _ = claim(api, "q", limit=2)
        assert_error(api.delete(f"/v2/queues/q/messages?ids={a}"), 400)
        assert stats(api, "q")["total"] == 3
        assert_empty(api.delete(f"/v2/queues/q/messages?ids={a},{c}&claim_ids={claim_id}"))
        # Only the messages held by the given claim went.
        assert listed_ids(api, "q", include_claimed=True) == [b, c]
        assert_empty(api.delete(f"/v2/queues/q/messages?ids={b}&claim_ids=other"))
        assert listed_ids(api, "q", include_claimed=True) == [b, c]


def test_bulk_delete_ignores_claim_ids_when_not_configured(api: httpx.Client) -> None:
    a, b = post_n(api, "q", 2)
    assert_empty(api.delete(f"/v2/queues/q/messages?ids={a},{b}&claim_ids=whatever"))
    assert stats(api, "q")["total"] == 0


# Pop


def test_pop_takes_the_oldest_free_messages(api: httpx.Client, clock: FakeClock) -> None:
    ids = post_n(api, "q", 5)
    claim(api, "q", limit=1)
    post(api, "q", message(delay=60))
    clock.advance(7)
    response = api.delete("/v2/queues/q/messages?pop=2")
    assert response.status_code == 200
    document = assert_json(response)
    assert set(document) == {"messages"}
    popped = document["messages"]
    assert [m["id"] for m in popped] == ids[1:3]
    for m in popped:
        assert set(m) == POPPED_KEYS
        assert m["claim_id"] is None
        assert m["claim_count"] == 0
        assert m["age"] == 7
        assert m["ttl"] == 3600
    assert [m["body"] for m in popped] == [{"i": 1}, {"i": 2}]
    # Popped messages are gone; the claimed and the delayed ones stay.
    rest = api.delete("/v2/queues/q/messages?pop=20").json()["messages"]
    assert [m["id"] for m in rest] == ids[3:]
    assert counts(api, "q") == (1, 1, 2)


def test_pop_reports_the_claim_count_of_a_once_claimed_message(
    api: httpx.Client, clock: FakeClock
) -> None:
    (a,) = post(api, "q", message())
    claim(api, "q", ttl=60)
    clock.advance(61)
    (popped,) = api.delete("/v2/queues/q/messages?pop=1").json()["messages"]
    assert popped["id"] == a
    assert popped["claim_count"] == 1
    assert popped["claim_id"] is None


# Single delete: the decision table of §2.4


def test_delete_missing_message_is_204(api: httpx.Client) -> None:
    post(api, "q", message())
    assert_empty(api.delete("/v2/queues/q/messages/424242"))
    assert_empty(api.delete("/v2/queues/q/messages/abc"))
    assert_empty(api.delete("/v2/queues/q/messages/424242?claim_id=whatever"))
    assert stats(api, "q")["total"] == 1


def test_delete_never_claimed_without_claim_id(api: httpx.Client) -> None:
    (a,) = post(api, "q", message())
    assert_empty(api.delete(f"/v2/queues/q/messages/{a}"))
    assert api.get(f"/v2/queues/q/messages/{a}").status_code == 404


def test_delete_released_message_without_claim_id(api: httpx.Client) -> None:
    (a,) = post(api, "q", message())
    claim_id, _ = claim(api, "q")
    assert_empty(api.delete(f"/v2/queues/q/claims/{claim_id}"))
    assert_empty(api.delete(f"/v2/queues/q/messages/{a}"))
    assert stats(api, "q")["total"] == 0


def test_delete_after_claim_expiry_without_claim_id(api: httpx.Client, clock: FakeClock) -> None:
    (a,) = post(api, "q", message())
    claim(api, "q", ttl=60)
    clock.advance(60)
    assert_empty(api.delete(f"/v2/queues/q/messages/{a}"))
    assert stats(api, "q")["total"] == 0


def test_delete_claimed_message_without_claim_id_is_403(api: httpx.Client) -> None:
    (a,) = post(api, "q", message())
    claim(api, "q")
    assert_error(api.delete(f"/v2/queues/q/messages/{a}"), 403, "Unable to delete")
    assert counts(api, "q") == (1, 0, 1)


@pytest.mark.parametrize("claim_id", ["not-a-claim", "00000000-0000-0000-0000-000000000000"])
def test_delete_with_unknown_claim_id_is_400(api: httpx.Client, claim_id: str) -> None:
    (a,) = post(api, "q", message())
    assert_error(
        api.delete(f"/v2/queues/q/messages/{a}?claim_id={claim_id}"), 400, "Unable to delete"
    )
    claim(api, "q")
    assert_error(
        api.delete(f"/v2/queues/q/messages/{a}?claim_id={claim_id}"), 400, "Unable to delete"
    )
    assert stats(api, "q")["total"] == 1


def test_delete_with_expired_claim_id_is_400(api: httpx.Client, clock: FakeClock) -> None:
    (a,) = post(api, "q", message())
    claim_id, _ = claim(api, "q", ttl=60)
    clock.advance(61)
    assert_error(
        api.delete(f"/v2/queues/q/messages/{a}?claim_id={claim_id}"), 400, "Unable to delete"
    )
    assert stats(api, "q")["total"] == 1


def test_delete_with_released_claim_id_is_400(api: httpx.Client) -> None:
    (a,) = post(api, "q", message())
    claim_id, _ = claim(api, "q")
    api.delete(f"/v2/queues/q/claims/{claim_id}")
    assert_error(
        api.delete(f"/v2/queues/q/messages/{a}?claim_id={claim_id}"), 400, "Unable to delete"
    )
    assert stats(api, "q")["total"] == 1


def test_delete_unclaimed_message_with_a_live_claim_id_is_400(api: httpx.Client) -> None:
    a, b = post_n(api, "q", 2)
    claim_id, _ = claim(api, "q", limit=1)
    assert_error(
        api.delete(f"/v2/queues/q/messages/{b}?claim_id={claim_id}"), 400, "Unable to delete"
    )
    assert listed_ids(api, "q", include_claimed=True) == [a, b]


def test_delete_with_another_live_claim_is_403(api: httpx.Client) -> None:
    a, b = post_n(api, "q", 2)
    first, _ = claim(api, "q", limit=1)
    second, _ = claim(api, "q", limit=1)
    assert_error(
        api.delete(f"/v2/queues/q/messages/{a}?claim_id={second}"), 403, "Unable to delete"
    )
    assert_error(api.delete(f"/v2/queues/q/messages/{b}?claim_id={first}"), 403, "Unable to delete")
    assert counts(api, "q") == (2, 0, 2)


def test_delete_with_its_claim_removes_it_from_the_claim(api: httpx.Client) -> None:
    a, b = post_n(api, "q", 2)
    claim_id, claimed = claim(api, "q", limit=2)
    assert_empty(api.delete(claimed[0]["href"]))
    assert api.get(f"/v2/queues/q/messages/{a}").status_code == 404
    left = api.get(f"/v2/queues/q/claims/{claim_id}").json()["messages"]
    assert [m["id"] for m in left] == [b]
    assert_empty(api.delete(f"/v2/queues/q/messages/{b}?claim_id={claim_id}"))
    assert stats(api, "q")["total"] == 0


def test_delete_claim_id_of_another_queue_is_400(api: httpx.Client) -> None:
    (a,) = post(api, "q", message())
    post(api, "other", message())
    other_claim, _ = claim(api, "other")
    assert_error(
        api.delete(f"/v2/queues/q/messages/{a}?claim_id={other_claim}"), 400, "Unable to delete"
    )
    assert stats(api, "q")["total"] == 1
