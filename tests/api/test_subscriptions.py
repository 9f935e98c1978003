"""Subscriptions over HTTP: create, list, get, update, delete and confirm, and every refusal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from api_support import ServerFactory, assert_empty, assert_error, assert_json, client, walk
from support import FakeClock

WEBHOOK = "http://127.0.0.1:9/hook"
SUB_KEYS = {"id", "source", "subscriber", "ttl", "age", "options", "confirmed"}


def subscribe(api: httpx.Client, queue: str, **fields: Any) -> str:
    document = {"subscriber": WEBHOOK, **fields}
    response = api.post(f"/v2/queues/{queue}/subscriptions", json=document)
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"/v2/queues/{queue}/subscriptions"
    subscription_id: str = assert_json(response)["subscription_id"]
    return subscription_id


def get(api: httpx.Client, queue: str, sid: str) -> dict[str, Any]:
    response = api.get(f"/v2/queues/{queue}/subscriptions/{sid}")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = assert_json(response)
    return document


def test_create_then_get_shows_zaqar_shape(api: httpx.Client) -> None:
    sid = subscribe(api, "q", ttl=600, options={"a": 1})
    assert get(api, "q", sid) == {
        "id": sid,
        "source": "q",
        "subscriber": WEBHOOK,
        "ttl": 600,
        "age": 0,
        "options": {"a": 1},
        "confirmed": False,
    }


def test_defaults_ttl_3600_and_empty_options(api: httpx.Client) -> None:
    sub = get(api, "q", subscribe(api, "q"))
    assert (sub["ttl"], sub["options"]) == (3600, {})


def test_subscribing_creates_the_queue(api: httpx.Client) -> None:
    subscribe(api, "lazy")
    names = [q["name"] for q in api.get("/v2/queues").json()["queues"]]
    assert names == ["lazy"]


@pytest.mark.parametrize(
    "subscriber",
    [
        "http://example.com/h",
        "https://example.com/h",
        "mailto:ops@example.com",
        "queue:other",
    ],
)
def test_every_subscriber_type_is_accepted(api: httpx.Client, subscriber: str) -> None:
    sid = subscribe(api, "q", subscriber=subscriber)
    assert get(api, "q", sid)["subscriber"] == subscriber


@pytest.mark.parametrize(
    ("document", "description"),
    [
        ({"ttl": 60}, "Missing parameter subscriber in body."),
        ({"subscriber": "ftp://example.com/x"}, "must be supported in the list"),
        ({"subscriber": "example.com/x"}, "must be supported in the list"),
        ({"subscriber": ""}, "non-empty string"),
        ({"subscriber": 5}, "non-empty string URI"),
        ({"subscriber": "http:///nohost"}, "must look like"),
        ({"subscriber": "mailto:nobody"}, "mailto:name@example.com"),
        ({"subscriber": "queue:q"}, "cannot be subscribed to itself"),
        ({"subscriber": "queue:bad name"}, "queue name of the same project"),
        ({"subscriber": WEBHOOK, "ttl": 59}, "at least 60 seconds"),
        ({"subscriber": WEBHOOK, "ttl": "60"}, "must be an integer"),
        ({"subscriber": WEBHOOK, "ttl": True}, "must be an integer"),
        ({"subscriber": WEBHOOK, "ttl": 2**62}, "year 9999"),
        ({"subscriber": WEBHOOK, "options": []}, "Options must be a dict."),
        ({"subscriber": WEBHOOK, "options": {"_retry_policy": 5}}, "_retry_policy"),
        (
            {"subscriber": WEBHOOK, "options": {"_retry_policy": {"minimum_delay": "x"}}},
            "minimum_delay",
        ),
        (
            {"subscriber": WEBHOOK, "options": {"_retry_policy": {"maximum_delay": 9}}},
            "maximum_delay",
        ),
        ({"subscriber": WEBHOOK, "options": {"filter_policy": []}}, "filter"),
        (
            {"subscriber": WEBHOOK, "options": {"filter_policy": {"a": [{"numeric": 5}]}}},
            "numeric",
        ),
        ({"subscriber": WEBHOOK, "options": {"dead_letter_queue": "no way"}}, "dead_letter"),
        ({"subscriber": WEBHOOK, "options": {"post_headers": {"a": 1}}}, "post_headers"),
        ({}, "No subscription to create."),
        # Nobody's token reaches a noauth server, so nothing could make the trust.
        ({"subscriber": "trust+http://example.com/h"}, "auth = keystone"),
        ({"subscriber": "trust+https://example.com/h"}, "auth = keystone"),
        # A trust named by the client would borrow whoever made it.
        ({"subscriber": WEBHOOK, "options": {"trust_id": "borrowed"}}, "trust_id"),
    ],
)
def test_create_refusals_store_nothing(
    api: httpx.Client, document: dict[str, Any], description: str
) -> None:
    response = api.post("/v2/queues/q/subscriptions", json=document)
    assert description in assert_error(response, 400)["description"]
    assert api.get("/v2/queues/q/subscriptions").json()["subscriptions"] == []


def test_ttl_of_exactly_60_is_accepted(api: httpx.Client) -> None:
    assert get(api, "q", subscribe(api, "q", ttl=60))["ttl"] == 60


def test_empty_and_non_object_bodies_are_refused(api: httpx.Client) -> None:
    assert_error(api.post("/v2/queues/q/subscriptions", content=b""), 400)
    assert_error(api.post("/v2/queues/q/subscriptions", content=b"[1]"), 400)
    assert_error(api.post("/v2/queues/q/subscriptions", content=b"{"), 400, "Invalid request body")


def test_bad_queue_name(api: httpx.Client) -> None:
    response = api.post("/v2/queues/bad%20q/subscriptions", json={"subscriber": WEBHOOK})
    assert_error(response, 400, "Invalid queue identification")


def test_unconfirmed_duplicate_answers_the_existing_id(api: httpx.Client) -> None:
    first = subscribe(api, "q")
    assert subscribe(api, "q") == first
    assert len(api.get("/v2/queues/q/subscriptions").json()["subscriptions"]) == 1


def test_confirmed_duplicate_is_a_conflict(api: httpx.Client) -> None:
    sid = subscribe(api, "q")
    confirm = api.put(f"/v2/queues/q/subscriptions/{sid}/confirm", json={"confirmed": True})
    assert_empty(confirm)
    assert confirm.headers["location"] == f"/v2/queues/q/subscriptions/{sid}/confirm"
    assert get(api, "q", sid)["confirmed"] is True
    response = api.post("/v2/queues/q/subscriptions", json={"subscriber": WEBHOOK})
    assert_error(response, 409, "Resource conflict")


def test_same_subscriber_on_another_queue_is_another_subscription(api: httpx.Client) -> None:
    assert subscribe(api, "a") != subscribe(api, "b")


def test_confirm_refusals(api: httpx.Client) -> None:
    sid = subscribe(api, "q")
    path = f"/v2/queues/q/subscriptions/{sid}/confirm"
    for document in ({"confirmed": "yes"}, {"confirmed": None}, {"other": True}):
        assert "boolean" in assert_error(api.put(path, json=document), 400)["description"]
    assert_error(api.put(path, content=b""), 400)
    missing = api.put("/v2/queues/q/subscriptions/nope/confirm", json={"confirmed": True})
    assert_error(missing, 404, "Not found")
    assert get(api, "q", sid)["confirmed"] is False


def test_unconfirm(api: httpx.Client) -> None:
    sid = subscribe(api, "q")
    path = f"/v2/queues/q/subscriptions/{sid}/confirm"
    assert_empty(api.put(path, json={"confirmed": True}))
    assert_empty(api.put(path, json={"confirmed": False}))
    assert get(api, "q", sid)["confirmed"] is False


def test_get_missing_is_404(api: httpx.Client) -> None:
    response = api.get("/v2/queues/q/subscriptions/nope")
    assert assert_error(response, 404, "Not found")["description"] == (
        "Subscription nope does not exist"
    )


def test_listing_pages_by_id_with_next_links(api: httpx.Client) -> None:
    ids = sorted(subscribe(api, "q", subscriber=f"http://127.0.0.1:9/{i}") for i in range(5))
    pages = walk(api, "/v2/queues/q/subscriptions", "subscriptions", limit=2)
    assert [[s["id"] for s in page] for page in pages] == [ids[:2], ids[2:4], ids[4:]]
    assert all(set(s) == SUB_KEYS for page in pages for s in page)
    first = api.get("/v2/queues/q/subscriptions", params={"limit": 2}).json()
    assert first["links"][0]["href"] == f"/v2/queues/q/subscriptions?limit=2&marker={ids[1]}"


def test_listing_default_page_is_ten(api: httpx.Client) -> None:
    for i in range(11):
        subscribe(api, "q", subscriber=f"http://127.0.0.1:9/{i}")
    assert len(api.get("/v2/queues/q/subscriptions").json()["subscriptions"]) == 10


def test_listing_of_a_missing_queue_is_empty(api: httpx.Client) -> None:
    response = api.get("/v2/queues/none/subscriptions")
    assert assert_json(response) == {"subscriptions": [], "links": []}


@pytest.mark.parametrize(("limit", "status"), [(1, 200), (20, 200), (0, 400), (21, 400)])
def test_listing_limit_bounds(api: httpx.Client, limit: int, status: int) -> None:
    response = api.get("/v2/queues/q/subscriptions", params={"limit": limit})
    assert response.status_code == status, response.text


def test_patch_changes_fields_and_renews_ttl(api: httpx.Client, clock: FakeClock) -> None:
    sid = subscribe(api, "q", ttl=100)
    clock.advance(30)
    assert get(api, "q", sid)["age"] == 30
    path = f"/v2/queues/q/subscriptions/{sid}"
    response = api.patch(path, json={"ttl": 200, "options": {"b": 2}})
    assert_empty(response)
    assert response.headers["location"] == path
    sub = get(api, "q", sid)
    assert (sub["ttl"], sub["age"], sub["options"]) == (200, 0, {"b": 2})
    assert_empty(api.patch(path, json={"subscriber": "https://example.com/new"}))
    assert get(api, "q", sid)["subscriber"] == "https://example.com/new"


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"unknown": 1},
        {"ttl": 59},
        {"ttl": "x"},
        {"options": "x"},
        {"subscriber": "ftp://x"},
        {"options": {"_retry_policy": {"retries_with_no_delay": -1}}},
        {"options": {"trust_id": "borrowed"}},
        {"subscriber": "trust+https://example.com/h"},
    ],
)
def test_patch_refusals_change_nothing(api: httpx.Client, document: dict[str, Any]) -> None:
    sid = subscribe(api, "q", ttl=100)
    assert_error(api.patch(f"/v2/queues/q/subscriptions/{sid}", json=document), 400)
    sub = get(api, "q", sid)
    assert (sub["ttl"], sub["subscriber"], sub["options"]) == (100, WEBHOOK, {})


def test_patch_missing_is_404(api: httpx.Client) -> None:
    assert_error(api.patch("/v2/queues/q/subscriptions/nope", json={"ttl": 100}), 404)


def test_patch_onto_another_subscriber_is_a_conflict(api: httpx.Client) -> None:
    subscribe(api, "q", subscriber="http://127.0.0.1:9/a")
    sid = subscribe(api, "q", subscriber="http://127.0.0.1:9/b")
    response = api.patch(
        f"/v2/queues/q/subscriptions/{sid}", json={"subscriber": "http://127.0.0.1:9/a"}
    )
    assert_error(response, 409)
    assert get(api, "q", sid)["subscriber"] == "http://127.0.0.1:9/b"


def test_delete_is_always_204(api: httpx.Client) -> None:
    sid = subscribe(api, "q")
    assert_empty(api.delete(f"/v2/queues/q/subscriptions/{sid}"))
    assert_error(api.get(f"/v2/queues/q/subscriptions/{sid}"), 404)
    assert_empty(api.delete(f"/v2/queues/q/subscriptions/{sid}"))


def test_expired_subscription_is_gone_and_blocks_nothing(
    api: httpx.Client, clock: FakeClock
) -> None:
    sid = subscribe(api, "q", ttl=60)
    clock.advance(59)
    assert get(api, "q", sid)["age"] == 59
    clock.advance(1)
    assert_error(api.get(f"/v2/queues/q/subscriptions/{sid}"), 404)
    assert subscribe(api, "q") != sid


def test_expired_subscription_leaves_the_listing_and_the_others_stay(
    api: httpx.Client, clock: FakeClock
) -> None:
    """Zaqar's functional `test_expired_subscription`: the default ttl outlives the minimum."""
    longlived = subscribe(api, "q")
    shortlived = subscribe(api, "q", subscriber="http://expire.me", ttl=60)
    clock.advance(60)
    assert_error(api.get(f"/v2/queues/q/subscriptions/{shortlived}"), 404)
    listed = assert_json(api.get("/v2/queues/q/subscriptions"))["subscriptions"]
    assert [s["id"] for s in listed] == [longlived]


def test_a_shorter_ttl_by_patch_expires_the_subscription_then(
    api: httpx.Client, clock: FakeClock
) -> None:
    """Zaqar's functional `test_update_ttl`: a new ttl counts from the PATCH."""
    sid = subscribe(api, "q")
    clock.advance(10)
    assert_empty(api.patch(f"/v2/queues/q/subscriptions/{sid}", json={"ttl": 60}))
    clock.advance(59)
    assert get(api, "q", sid)["ttl"] == 60
    clock.advance(1)
    assert_error(api.get(f"/v2/queues/q/subscriptions/{sid}"), 404)
    assert assert_json(api.get("/v2/queues/q/subscriptions"))["subscriptions"] == []


def test_purge_subscriptions_only(api: httpx.Client) -> None:
    subscribe(api, "q")
    api.post("/v2/queues/q/messages", json={"messages": [{"body": 1}]})
    purge = api.post("/v2/queues/q/purge", json={"resource_types": ["subscriptions"]})
    assert_empty(purge)
    assert api.get("/v2/queues/q/subscriptions").json()["subscriptions"] == []
    assert api.get("/v2/queues/q/stats").json()["messages"]["total"] == 1


def test_purge_messages_keeps_subscriptions(api: httpx.Client) -> None:
    subscribe(api, "q")
    assert_empty(api.post("/v2/queues/q/purge", json={"resource_types": ["messages"]}))
    assert len(api.get("/v2/queues/q/subscriptions").json()["subscriptions"]) == 1


def test_projects_do_not_see_each_others_subscriptions(api: httpx.Client, server_url: str) -> None:
    sid = subscribe(api, "q")
    with httpx.Client(base_url=server_url, headers={**api.headers, "X-Project-ID": "other"}) as o:
        assert_error(o.get(f"/v2/queues/q/subscriptions/{sid}"), 404)
        assert o.get("/v2/queues/q/subscriptions").json()["subscriptions"] == []


SUBSCRIPTION_POLICY = """\
"subscription:create": "role:admin"
"subscription:get_all": "role:admin"
"subscription:get": "role:admin"
"subscription:update": "role:admin"
"subscription:delete": "role:admin"
"subscription:confirm": "role:admin"
"""


def test_every_subscription_action_is_checked_against_the_policy(
    make_server: ServerFactory, tmp_path: Path
) -> None:
    rules = tmp_path / "policy.yaml"
    rules.write_text(SUBSCRIPTION_POLICY)
    base = make_server(policy_file=str(rules))
    admin = client(base)
    admin.headers["X-Roles"] = "admin"
    sid = subscribe(admin, "q")
    user = client(base, project=admin.headers["X-Project-ID"])
    item = f"/v2/queues/q/subscriptions/{sid}"
    for response in (
        user.post("/v2/queues/q/subscriptions", json={"subscriber": WEBHOOK}),
        user.get("/v2/queues/q/subscriptions"),
        user.get(item),
        user.patch(item, json={"ttl": 100}),
        user.delete(item),
        user.put(f"{item}/confirm", json={"confirmed": True}),
    ):
        assert_error(response, 403, "Not authorized")
    assert get(admin, "q", sid)["ttl"] == 3600


def test_a_signing_secret_is_never_shown(api: httpx.Client) -> None:
    made = api.post(
        "/v2/queues/signed/subscriptions",
        json={
            "subscriber": "http://127.0.0.1:9/hook",
            "options": {"signing_secret": "s3cret-of-sixteen+"},
        },
    )
    assert made.status_code == 201, made.text
    sub_id = made.json()["subscription_id"]
    shown = api.get(f"/v2/queues/signed/subscriptions/{sub_id}").json()
    assert "signing_secret" not in shown["options"]
    listed = api.get("/v2/queues/signed/subscriptions").json()["subscriptions"]
    assert all("signing_secret" not in s["options"] for s in listed)
    assert "s3cret-of-sixteen+" not in api.get("/v2/queues/signed/subscriptions").text
