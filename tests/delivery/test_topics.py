"""Topics: SNS topics beside the queues of a project, fanning out to queue subscribers."""

from __future__ import annotations

import time

import httpx

from api_support import ServerFactory, assert_error, client, listed_ids
from webhook_receiver import Receiver


def wait_for_messages(api: httpx.Client, queue: str, count: int, within: float = 60) -> list[str]:
    deadline = time.monotonic() + within
    while True:
        found = listed_ids(api, queue)
        if len(found) >= count:
            return found
        assert time.monotonic() < deadline, f"{queue}: {len(found)} of {count} messages"
        time.sleep(0.02)


def test_topic_fans_out_to_three_queues(delivering: ServerFactory) -> None:
    api = client(delivering())
    for name in ("billing", "audit", "search"):
        answer = api.post("/v2/topics/orders/subscriptions", json={"subscriber": f"queue:{name}"})
        assert answer.status_code == 201, answer.text
        assert answer.headers["location"] == "/v2/topics/orders/subscriptions"
    posted = api.post(
        "/v2/topics/orders/messages",
        json={"messages": [{"body": {"order": i}, "ttl": 600} for i in range(3)]},
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["resources"][0].startswith("/v2/topics/orders/messages/")
    for name in ("billing", "audit", "search"):
        wait_for_messages(api, name, 3)
        got = api.get(f"/v2/queues/{name}/messages", params={"echo": "true"}).json()
        # Sends to one subscriber overlap (per_subscription_window), so not in order.
        bodies = sorted(m["body"]["order"] for m in got["messages"])
        assert bodies == [0, 1, 2]
        assert all(m["ttl"] == 600 for m in got["messages"])


def test_topics_and_queues_are_apart(delivering: ServerFactory) -> None:
    api = client(delivering())
    assert api.put("/v2/topics/news").status_code == 201
    assert api.put("/v2/queues/news").status_code == 201
    assert api.put("/v2/topics/other").status_code == 201
    assert [t["name"] for t in api.get("/v2/topics").json()["topics"]] == ["news", "other"]
    assert [q["name"] for q in api.get("/v2/queues").json()["queues"]] == ["news"]
    assert api.get("/v2/topics").json()["topics"][0]["href"] == "/v2/topics/news"
    api.post("/v2/topics/news/messages", json={"messages": [{"body": 1}]})
    assert api.get("/v2/topics/news/stats").json()["messages"]["total"] == 1
    assert api.get("/v2/queues/news/stats").json()["messages"]["total"] == 0


def test_topic_webhook_subscriber(delivering: ServerFactory, receiver: Receiver) -> None:
    api = client(delivering())
    api.post("/v2/topics/t/subscriptions", json={"subscriber": receiver.url("/t")})
    api.post("/v2/topics/t/messages", json={"messages": [{"body": "hi"}]})
    (got,) = receiver.wait_for("/t", 1)
    assert (got.body["body"], got.body["queue_name"]) == ("hi", "t")


def test_topic_may_subscribe_a_queue_of_its_own_name(delivering: ServerFactory) -> None:
    api = client(delivering())
    answer = api.post("/v2/topics/same/subscriptions", json={"subscriber": "queue:same"})
    assert answer.status_code == 201, answer.text
    api.post("/v2/topics/same/messages", json={"messages": [{"body": 1}]})
    wait_for_messages(api, "same", 1)


def test_topic_names_are_checked(delivering: ServerFactory) -> None:
    api = client(delivering())
    assert_error(api.put("/v2/topics/bad%20name"), 400, "Invalid topic identification")
    assert api.post("/v2/topics/t/claims").status_code == 404
    assert api.post("/v2/topics/t/share", json={}).status_code == 404
