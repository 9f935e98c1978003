"""Deliveries to a real webhook endpoint: payloads, retries on the policy's schedule, refusals,
dead letters, filters, confirmation, and a dead endpoint beside a live one."""

from __future__ import annotations

import time
from typing import Any

import httpx

from api_support import ServerFactory, client, listed_ids, post
from support import FakeClock
from webhook_receiver import Receiver

# No immediate retries, one after 20 s, then a backoff of 20 and 25 s, then give up.
SLOW_POLICY = {
    "retries_with_no_delay": 0,
    "minimum_delay_retries": 1,
    "minimum_delay": 20,
    "maximum_delay": 30,
    "maximum_delay_retries": 0,
}


def subscribe(api: httpx.Client, queue: str, subscriber: str, **options: Any) -> str:
    response = api.post(
        f"/v2/queues/{queue}/subscriptions",
        json={"subscriber": subscriber, "options": options},
    )
    assert response.status_code == 201, response.text
    sid: str = response.json()["subscription_id"]
    return sid


def bodies(receiver: Receiver, path: str, count: int) -> list[Any]:
    return [r.body["body"] for r in receiver.wait_for(path, count)]


def barrier(api: httpx.Client, receiver: Receiver, queue: str = "barrier") -> None:
    """Post to a live endpoint and wait for it: every delivery due before has been leased."""
    path = f"/barrier-{queue}"
    seen = len(receiver.received(path))
    if seen == 0:
        subscribe(api, queue, receiver.url(path))
    post(api, queue, {"body": "barrier"})
    receiver.wait_for(path, seen + 1)


def test_webhook_gets_zaqar_payload_in_order(delivering: ServerFactory, receiver: Receiver) -> None:
    # A window of one is what promises posting order.
    api = client(delivering(notifications_per_subscription_window=1))
    subscribe(api, "orders", receiver.url("/hook"), post_headers={"X-Token": "t"})
    ids = post(api, "orders", *({"body": {"n": i}, "ttl": 300} for i in range(5)))
    got = receiver.wait_for("/hook", 5)
    # Zaqar's notification exactly, and the message id beside it, so that a receiver
    # can drop a duplicate.
    assert [r.body for r in got] == [
        {
            "ttl": 300,
            "body": {"n": i},
            "Message_Type": "Notification",
            "queue_name": "orders",
        }
        for i in range(5)
    ]
    assert [r.headers["X-Herald-Message-Id"] for r in got] == ids
    assert got[0].headers["X-Token"] == "t"
    assert got[0].headers["Content-Type"] == "application/json"


def test_post_data_template(delivering: ServerFactory, receiver: Receiver) -> None:
    api = client(delivering())
    template = '{"wrapped": "$zaqar_message$", "by": "test"}'
    subscribe(api, "q", receiver.url("/t"), post_data=template)
    post(api, "q", {"body": 7})
    (got,) = receiver.wait_for("/t", 1)
    assert got.body["by"] == "test"
    assert got.body["wrapped"]["body"] == 7


def test_5xx_is_retried_on_the_policy_schedule(
    delivering: ServerFactory, receiver: Receiver, engine_clock: FakeClock
) -> None:
    api = client(delivering())
    receiver.answer("/flaky", 500, 503)
    subscribe(api, "q", receiver.url("/flaky"), _retry_policy=SLOW_POLICY)
    post(api, "q", {"body": "m"})
    receiver.wait_for("/flaky", 1)
    engine_clock.advance(19)
    barrier(api, receiver)
    assert len(receiver.received("/flaky")) == 1
    # A second more than due: the clock's float sums need not land on the due time exactly.
    engine_clock.advance(2)
    receiver.wait_for("/flaky", 2)
    # The second failure waits the backoff's first delay, 20 s.
    engine_clock.advance(19)
    barrier(api, receiver)
    assert len(receiver.received("/flaky")) == 2
    engine_clock.advance(2)
    assert bodies(receiver, "/flaky", 3) == ["m", "m", "m"]
    engine_clock.advance(100)
    barrier(api, receiver)
    assert len(receiver.received("/flaky")) == 3


def test_queue_retry_policy_wins_when_it_says_so(
    delivering: ServerFactory, receiver: Receiver, engine_clock: FakeClock
) -> None:
    api = client(delivering())
    queue_policy = {**SLOW_POLICY, "minimum_delay": 40, "maximum_delay": 50}
    api.put(
        "/v2/queues/q",
        json={"_retry_policy": {**queue_policy, "ignore_subscription_override": True}},
    )
    receiver.answer("/h", 500)
    subscribe(api, "q", receiver.url("/h"), _retry_policy=SLOW_POLICY)
    post(api, "q", {"body": "m"})
    receiver.wait_for("/h", 1)
    engine_clock.advance(39)
    barrier(api, receiver)
    assert len(receiver.received("/h")) == 1
    engine_clock.advance(2)
    receiver.wait_for("/h", 2)


def test_4xx_is_not_retried_and_goes_to_the_dead_letter_queue(
    delivering: ServerFactory, receiver: Receiver, engine_clock: FakeClock
) -> None:
    api = client(delivering())
    receiver.answer("/gone", 410)
    subscribe(api, "q", receiver.url("/gone"), dead_letter_queue="dead")
    # A ttl beyond the clock's jump below: the dead letter may be posted before the jump.
    post(api, "q", {"body": {"lost": True}, "ttl": 3600})
    receiver.wait_for("/gone", 1)
    engine_clock.advance(1000)
    # The dead letter is posted once the refusal is known, in step with nothing else
    # this test can observe: wait for it (bounded) rather than for another delivery.
    deadline = time.monotonic() + 30
    while not listed_ids(api, "dead") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(receiver.received("/gone")) == 1
    dead = api.get("/v2/queues/dead/messages", params={"echo": "true"}).json()["messages"]
    assert [(m["body"], m["ttl"]) for m in dead] == [({"lost": True}, 3600)]


def test_exhausted_retries_go_to_the_dead_letter_queue(
    delivering: ServerFactory, receiver: Receiver, engine_clock: FakeClock
) -> None:
    api = client(delivering())
    receiver.answer("/down", *([500] * 10))
    subscribe(api, "q", receiver.url("/down"), _retry_policy=SLOW_POLICY, dead_letter_queue="dlq")
    post(api, "q", {"body": "x"})
    # One attempt and the three retries of SLOW_POLICY (20, 20, 25 s).
    for count, wait in ((1, 21), (2, 21), (3, 26)):
        receiver.wait_for("/down", count)
        engine_clock.advance(wait)
    receiver.wait_for("/down", 4)
    for _ in range(200):
        if listed_ids(api, "dlq"):
            break
        barrier(api, receiver)
    assert len(listed_ids(api, "dlq")) == 1
    engine_clock.advance(1000)
    barrier(api, receiver)
    assert len(receiver.received("/down")) == 4


def test_unreachable_endpoint_is_retried(
    delivering: ServerFactory, receiver: Receiver, engine_clock: FakeClock
) -> None:
    api = client(delivering())
    subscribe(api, "q", "http://127.0.0.1:9/nothing-listens", dead_letter_queue="dlq")
    post(api, "q", {"body": "x"})
    # Zaqar's default policy: 3 at once, 3 after 5 s, backoff 5..25, 3 after 30 s.
    for _ in range(40):
        engine_clock.advance(30)
        barrier(api, receiver)
        if listed_ids(api, "dlq"):
            break
    assert len(listed_ids(api, "dlq")) == 1


def test_a_lease_lapsing_mid_send_does_not_send_it_twice_from_one_process(
    delivering: ServerFactory, receiver: Receiver, engine_clock: FakeClock
) -> None:
    api = client(delivering())
    released = receiver.hang("/slow")
    subscribe(api, "q", receiver.url("/slow"))
    post(api, "q", {"body": "once"})
    receiver.wait_arrived("/slow", 1)
    # Its lease lapses while the receiver holds it; the next lease finds it due again.
    engine_clock.advance(120)
    barrier(api, receiver)
    released.set()
    receiver.wait_for("/slow", 1)
    barrier(api, receiver)
    assert len(receiver.received("/slow")) == 1


def test_dead_endpoint_does_not_delay_a_live_one(
    delivering: ServerFactory, receiver: Receiver
) -> None:
    api = client(delivering(notifications_concurrency=4))
    released = receiver.hang("/dead")
    subscribe(api, "q", receiver.url("/dead"))
    subscribe(api, "q", receiver.url("/live"))
    post(api, "q", *({"body": i} for i in range(20)))
    # Every message reaches the live endpoint while the dead one holds its first requests
    # (at most half the slots: per_subscription_window is capped by concurrency).
    assert sorted(bodies(receiver, "/live", 20)) == list(range(20))
    assert receiver.received("/dead") == []
    released.set()
    assert sorted(bodies(receiver, "/dead", 20)) == list(range(20))


def test_filter_policy_end_to_end(delivering: ServerFactory, receiver: Receiver) -> None:
    api = client(delivering())
    subscribe(api, "q", receiver.url("/big"), filter_policy={"price": [{"numeric": [">", 100]}]})
    subscribe(api, "q", receiver.url("/all"))
    post(api, "q", *({"body": {"price": p}} for p in (5, 500, 50, 1000)), {"body": "text"})
    receiver.wait_for("/all", 5)
    barrier(api, receiver)
    assert sorted(b["price"] for b in bodies(receiver, "/big", 2)) == [500, 1000]
    assert len(receiver.received("/big")) == 2


def test_confirmation_is_required_and_sent_with_a_signed_url(
    delivering: ServerFactory, receiver: Receiver
) -> None:
    base = delivering(
        notifications_require_confirmation=True, signed_url_secret_key="confirm-test-key"
    )
    api = client(base)
    sid = subscribe(api, "q", receiver.url("/c"))
    (request,) = receiver.wait_for("/c", 1)
    note = request.body
    assert note["Message_Type"] == "SubscriptionConfirmation"
    assert note["URL-Paths"] == f"/v2/queues/q/subscriptions/{sid}/confirm"
    assert note["URL-Methods"] == "PUT"
    # Unconfirmed: the message is not delivered.
    post(api, "q", {"body": "before"})
    barrier(api, receiver)
    assert len(receiver.received("/c")) == 1
    # The subscriber confirms with nothing but what it was sent.
    headers = {
        key: note[key]
        for key in ("URL-Signature", "URL-Methods", "URL-Paths", "URL-Expires", "X-Project-ID")
    }
    headers["Client-ID"] = "3a1b2c3d-0000-4000-8000-000000000001"
    answer = httpx.put(base + note["URL-Paths"], json=note["SubscribeBody"], headers=headers)
    assert answer.status_code == 204, answer.text
    post(api, "q", {"body": "after"})
    got = receiver.wait_for("/c", 2)
    assert got[1].body["body"] == "after"


def test_deleted_subscription_gets_nothing_more(
    delivering: ServerFactory, receiver: Receiver, engine_clock: FakeClock
) -> None:
    api = client(delivering())
    receiver.answer("/h", 500)
    sid = subscribe(api, "q", receiver.url("/h"), _retry_policy=SLOW_POLICY)
    post(api, "q", {"body": 1})
    receiver.wait_for("/h", 1)
    api.delete(f"/v2/queues/q/subscriptions/{sid}")
    engine_clock.advance(100)
    barrier(api, receiver)
    assert len(receiver.received("/h")) == 1


def test_ttl_expiring_mid_way_stops_delivery(
    delivering: ServerFactory, receiver: Receiver, engine_clock: FakeClock
) -> None:
    api = client(delivering())
    receiver.answer("/h", 500)
    response = api.post(
        "/v2/queues/q/subscriptions",
        json={
            "subscriber": receiver.url("/h"),
            "ttl": 60,
            "options": {"_retry_policy": SLOW_POLICY},
        },
    )
    assert response.status_code == 201
    post(api, "q", {"body": 1})
    receiver.wait_for("/h", 1)
    # The retry is due at +20 but the subscription lives only 60 s: let it lapse first.
    engine_clock.advance(60)
    barrier(api, receiver)
    assert len(receiver.received("/h")) == 1
    post(api, "q", {"body": 2})
    barrier(api, receiver)
    assert len(receiver.received("/h")) == 1
