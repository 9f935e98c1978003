"""Under keystone a token acts for its own project only, whatever X-Project-ID says.

Bob (project B) fills a queue; Alice (project A) then tries every route on a
queue of the same name, with and without `X-Project-ID: B`, and must only
ever reach her own project's queue of that name.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from auth_support import ServerFactory, as_user
from keystone_server import Keystone

QUEUE = "shared-name"


@pytest.fixture(scope="module")
def bobs_queue(
    keystone_herald: ServerFactory, tokens: Callable[[str], str]
) -> tuple[str, list[str], str]:
    """Bob's queue in project B: its URL, two message ids and a live claim's id."""
    url = keystone_herald().url
    bob = as_user(tokens("bob"))
    with httpx.Client(base_url=url, headers=bob, timeout=30) as client:
        assert client.put(f"/v2/queues/{QUEUE}", json={"owner": "bob"}).status_code == 201
        posted = client.post(
            f"/v2/queues/{QUEUE}/messages",
            json={"messages": [{"body": {"n": n}, "ttl": 600} for n in range(3)]},
        )
        assert posted.status_code == 201
        ids = [href.rsplit("/", 1)[1] for href in posted.json()["resources"]]
        claimed = client.post(f"/v2/queues/{QUEUE}/claims?limit=1", json={"ttl": 300})
        assert claimed.status_code == 201
        claim_id = claimed.json()["messages"][0]["href"].rsplit("=", 1)[1]
    return url, ids, claim_id


@pytest.mark.parametrize("project_header", [{}, {"X-Project-ID": "B"}], ids=["plain", "as-B"])
def test_a_token_for_a_reaches_none_of_bs_queues(
    bobs_queue: tuple[str, list[str], str],
    keystone: Keystone,
    tokens: Callable[[str], str],
    project_header: dict[str, str],
) -> None:
    url, ids, claim_id = bobs_queue
    bob_project = keystone.accounts["bob"].project_id
    header = {"X-Project-ID": bob_project} if project_header else {}
    alice = as_user(tokens("alice"), **header)
    with httpx.Client(base_url=url, headers=alice, timeout=30) as client:
        listed = client.get("/v2/queues")
        assert listed.status_code == 200
        assert QUEUE not in [q["name"] for q in listed.json()["queues"]]
        # A's queue of the same name is a lazy, empty queue of A's own.
        assert "owner" not in client.get(f"/v2/queues/{QUEUE}").json()
        assert client.get(f"/v2/queues/{QUEUE}/stats").json()["messages"]["total"] == 0
        assert client.get(f"/v2/queues/{QUEUE}/messages?echo=true").status_code == 200
        assert client.get(f"/v2/queues/{QUEUE}/messages?echo=true").json()["messages"] == []
        assert client.get(f"/v2/queues/{QUEUE}/messages/{ids[0]}").status_code == 404
        by_ids = client.get(f"/v2/queues/{QUEUE}/messages", params={"ids": ",".join(ids)})
        assert by_ids.status_code in (200, 404)
        assert by_ids.status_code == 404 or by_ids.json()["messages"] == []
        assert client.get(f"/v2/queues/{QUEUE}/claims/{claim_id}").status_code == 404
        patched = client.patch(f"/v2/queues/{QUEUE}/claims/{claim_id}", json={"ttl": 100})
        assert patched.status_code == 404
        assert client.post(f"/v2/queues/{QUEUE}/claims", json={"ttl": 60}).status_code == 204
        # Deletes and purges act on A's queue; B's is checked untouched below.
        assert client.delete(f"/v2/queues/{QUEUE}/claims/{claim_id}").status_code == 204
        assert client.delete(f"/v2/queues/{QUEUE}/messages/{ids[1]}").status_code == 204
        assert client.delete(f"/v2/queues/{QUEUE}/messages?ids={ids[2]}").status_code == 204
        assert client.post(f"/v2/queues/{QUEUE}/purge").status_code == 204
        assert client.delete(f"/v2/queues/{QUEUE}").status_code == 204
        # Posting with X-Project-ID: B lands in A's project.
        assert (
            client.post(
                f"/v2/queues/{QUEUE}-alice/messages", json={"messages": [{"body": 1}]}
            ).status_code
            == 201
        )

    bob = as_user(tokens("bob"))
    with httpx.Client(base_url=url, headers=bob, timeout=30) as client:
        assert client.get(f"/v2/queues/{QUEUE}").json()["owner"] == "bob"
        stats = client.get(f"/v2/queues/{QUEUE}/stats").json()["messages"]
        assert (stats["total"], stats["claimed"]) == (3, 1)
        assert client.get(f"/v2/queues/{QUEUE}/claims/{claim_id}").status_code == 200
        names = [q["name"] for q in client.get("/v2/queues").json()["queues"]]
        assert f"{QUEUE}-alice" not in names


def test_what_a_posts_as_b_is_found_in_a(
    keystone_herald: ServerFactory, keystone: Keystone, tokens: Callable[[str], str]
) -> None:
    url = keystone_herald().url
    b = keystone.accounts["bob"].project_id
    alice = tokens("alice")
    with httpx.Client(base_url=url, timeout=30) as client:
        sent = client.post(
            "/v2/queues/posted-as-b/messages",
            json={"messages": [{"body": "hello"}]},
            headers=as_user(alice, **{"X-Project-ID": b, "X-Tenant-Id": b}),
        )
        assert sent.status_code == 201
        mine = client.get("/v2/queues/posted-as-b/messages?echo=true", headers=as_user(alice))
        assert [m["body"] for m in mine.json()["messages"]] == ["hello"]
        theirs = client.get(
            "/v2/queues/posted-as-b/messages?echo=true", headers=as_user(tokens("bob"))
        )
        assert theirs.json()["messages"] == []
