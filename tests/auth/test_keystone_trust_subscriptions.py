"""Trust subscribers over real HTTP with the real Keystone: the subscribing token makes the
trust, and each notification reaches another Herald queue carrying a token of that trust."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from auth_support import ServerFactory, as_user
from keystone_server import Keystone

QUEUE = "trust-source"


def trust_subscription(url: str, target: str, project: str) -> dict[str, Any]:
    """What tempest's `test_trust_subscription` subscribes: a post into `target`."""
    body = json.dumps({"messages": [{"body": "$zaqar_message$", "ttl": 60}]})
    return {
        "subscriber": f"trust+{url}/v2/queues/{target}/messages",
        "ttl": 1200,
        "options": {
            "post_data": body,
            "post_headers": {"X-Project-ID": project, "Client-ID": str(uuid.uuid4())},
        },
    }


def messages_of(client: httpx.Client, queue: str) -> list[dict[str, Any]]:
    """The queue's messages, waiting (a bounded number of polls) until some arrive."""
    for _ in range(100):
        found = client.get(f"/v2/queues/{queue}/messages", params={"echo": "true"})
        if found.status_code == 200 and found.json()["messages"]:
            messages: list[dict[str, Any]] = found.json()["messages"]
            return messages
        time.sleep(0.2)
    return []


def trust_of(keystone: Keystone, trust_id: str) -> httpx.Response:
    """Keystone's answer about the trust, 404 once it is deleted."""
    return httpx.get(
        f"{keystone.auth_url}/OS-TRUST/trusts/{trust_id}",
        headers={"X-Auth-Token": keystone.admin_token()},
        timeout=30,
    )


def lent_trusts(keystone: Keystone, user_id: str) -> dict[str, dict[str, Any]]:
    """The user's live trusts Keystone holds, by id."""
    listed = keystone.call("GET", f"/OS-TRUST/trusts?trustor_user_id={user_id}")
    return {t["id"]: t for t in listed.json()["trusts"]}


def test_a_trust_subscription_delivers_into_another_queue_as_its_subscriber(
    keystone_herald: ServerFactory, keystone: Keystone, tokens: Callable[[str], str]
) -> None:
    url = keystone_herald().url
    alice = keystone.accounts["alice"]
    target = f"trust-target-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=url, headers=as_user(tokens("alice")), timeout=30) as client:
        made = client.post(
            f"/v2/queues/{QUEUE}/subscriptions",
            json=trust_subscription(url, target, alice.project_id),
        )
        assert made.status_code == 201, made.text
        sub_id = made.json()["subscription_id"]
        shown = client.get(f"/v2/queues/{QUEUE}/subscriptions/{sub_id}").json()
        # The trust is Herald's to keep: GET shows the client's options, not the trust.
        assert "trust_id" not in shown["options"]
        assert shown["subscriber"].startswith("trust+http://")

        posted = client.post(
            f"/v2/queues/{QUEUE}/messages",
            json={"messages": [{"body": {"event": "trusted"}, "ttl": 300}]},
        )
        assert posted.status_code == 201
        arrived = messages_of(client, target)
        (notification,) = [m["body"] for m in arrived]
        # Exactly Zaqar's notification, as tempest's test_trust_subscription wants.
        assert notification == {
            "body": {"event": "trusted"},
            "ttl": 300,
            "queue_name": QUEUE,
            "Message_Type": "Notification",
        }
        client.delete(f"/v2/queues/{QUEUE}/subscriptions/{sub_id}")
        client.delete(f"/v2/queues/{target}")


def subscribe_with_trust(client: httpx.Client, queue: str) -> str:
    """A trust+ subscription of the client's caller, 600 s long; its id."""
    made = client.post(
        f"/v2/queues/{queue}/subscriptions",
        json={"subscriber": "trust+http://127.0.0.1:9/hook", "ttl": 600},
    )
    assert made.status_code == 201, made.text
    subscription_id: str = made.json()["subscription_id"]
    return subscription_id


def test_the_trust_is_the_subscribers_and_goes_with_the_subscription(
    keystone_herald: ServerFactory, keystone: Keystone, tokens: Callable[[str], str]
) -> None:
    served = keystone_herald()
    alice = keystone.accounts["alice"]
    queue = f"trust-life-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=served.url, headers=as_user(tokens("alice")), timeout=30) as c:
        before = lent_trusts(keystone, alice.user_id)
        sub_id = subscribe_with_trust(c, queue)
        (trust_id,) = lent_trusts(keystone, alice.user_id).keys() - before.keys()
        trust = trust_of(keystone, trust_id).json()["trust"]
        assert trust["trustor_user_id"] == alice.user_id
        assert trust["trustee_user_id"] == keystone.accounts["herald"].user_id
        assert trust["project_id"] == alice.project_id
        again = c.post(
            f"/v2/queues/{queue}/subscriptions",
            json={"subscriber": "trust+http://127.0.0.1:9/hook", "ttl": 600},
        )
        # The live duplicate answers its id and keeps its trust; no second one is left.
        assert again.json()["subscription_id"] == sub_id
        assert lent_trusts(keystone, alice.user_id).keys() - before.keys() == {trust_id}

        # A new ttl gets a new trust lasting as long; the old one is deleted.
        assert (
            c.patch(f"/v2/queues/{queue}/subscriptions/{sub_id}", json={"ttl": 900}).status_code
            == 204
        )
        (renewed,) = lent_trusts(keystone, alice.user_id).keys() - before.keys()
        assert renewed != trust_id
        assert trust_of(keystone, trust_id).status_code == 404
        # Options replaced by the client keep the trust.
        assert (
            c.patch(
                f"/v2/queues/{queue}/subscriptions/{sub_id}", json={"options": {"a": 1}}
            ).status_code
            == 204
        )
        assert lent_trusts(keystone, alice.user_id).keys() - before.keys() == {renewed}
        assert c.get(f"/v2/queues/{queue}/subscriptions/{sub_id}").json()["options"] == {"a": 1}

        assert c.delete(f"/v2/queues/{queue}/subscriptions/{sub_id}").status_code == 204
        assert trust_of(keystone, renewed).status_code == 404
        c.delete(f"/v2/queues/{queue}")


def test_a_subscriber_that_leaves_trust_gives_its_trust_back(
    keystone_herald: ServerFactory, keystone: Keystone, tokens: Callable[[str], str]
) -> None:
    served = keystone_herald()
    alice = keystone.accounts["alice"]
    queue = f"trust-leave-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=served.url, headers=as_user(tokens("alice")), timeout=30) as c:
        before = lent_trusts(keystone, alice.user_id)
        sub_id = subscribe_with_trust(c, queue)
        (trust_id,) = lent_trusts(keystone, alice.user_id).keys() - before.keys()
        plain = {"subscriber": "http://127.0.0.1:9/plain"}
        answer = c.patch(f"/v2/queues/{queue}/subscriptions/{sub_id}", json=plain)
        assert answer.status_code == 204, answer.text
        # A plain subscriber borrows nobody's authority: the trust is deleted, not left
        # in Keystone until it expires.
        assert trust_of(keystone, trust_id).status_code == 404
        assert lent_trusts(keystone, alice.user_id).keys() - before.keys() == set()
        shown = c.get(f"/v2/queues/{queue}/subscriptions/{sub_id}").json()
        assert shown["subscriber"] == plain["subscriber"]
        assert "trust_id" not in shown["options"]
        c.delete(f"/v2/queues/{queue}")


@pytest.mark.parametrize(
    "document",
    [
        {"subscriber": "http://127.0.0.1:9/hook", "options": {"trust_id": "borrowed"}},
        {"subscriber": "trust+http://127.0.0.1:9/hook", "options": {"trust_id": "borrowed"}},
    ],
)
def test_a_client_cannot_name_a_trust(
    keystone_herald: ServerFactory, tokens: Callable[[str], str], document: dict[str, Any]
) -> None:
    url = keystone_herald().url
    queue = f"trust-named-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=url, headers=as_user(tokens("alice")), timeout=30) as client:
        refused = client.post(f"/v2/queues/{queue}/subscriptions", json=document)
        assert refused.status_code == 400
        assert "trust_id" in refused.json()["description"]
        listed = client.get(f"/v2/queues/{queue}/subscriptions").json()
        assert listed["subscriptions"] == []
