"""Encrypted queues on every backend: a real `herald serve`, and the store read directly."""

from __future__ import annotations

import asyncio
import base64
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from backends import REDIS_URL
from support import ServerProcess, headers

PATCH_TYPE = "application/openstack-messaging-v2.0-json-patch"
ENCRYPTED = {"_enable_encrypt_messages": True}


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def bodies(marker: str) -> list[Any]:
    """Bodies of every JSON kind, each holding the marker so the store can be searched for it."""
    return [
        {"secret": marker, "n": 1, "nested": [1.5, None, True, {"é": "ü ✓"}]},
        [marker, 2, {"k": "v"}],
        f"just the {marker}",
        {"secret": marker, "big": "x" * 10_000},
    ]


@contextmanager
def serving(store_uri: str, tmp_path: Path, **env: str) -> Iterator[httpx.Client]:
    """A `herald serve` on the store with HERALD_ENCRYPTION_* from `env`, and a client of it."""
    variables = {f"HERALD_ENCRYPTION_{name.upper()}": value for name, value in env.items()}
    server = ServerProcess(store_uri, tmp_path, env=variables).start()
    try:
        with httpx.Client(base_url=server.url, headers=headers("sealed"), timeout=30) as client:
            yield client
    finally:
        assert server.stop() == 0
    log = server.log.read_text()
    for value in env.values():
        for key in value.split(","):
            assert key not in log, "a key reached the log"


def stored_bodies(store_uri: str) -> dict[str, bytes]:
    """Every message body in the store as the store holds it, by message id."""
    if store_uri.startswith("sqlite:"):
        path = store_uri.removeprefix("sqlite:///")
        with closing(sqlite3.connect(path)) as db:
            return {str(i): bytes(b) for i, b in db.execute("SELECT id, body FROM messages")}
    if store_uri.startswith("redis:"):
        import redis

        from herald.storage.redis import Keys

        prefix = parse_qs(urlsplit(store_uri).query)["prefix"][0]
        keys = Keys(prefix)
        client = redis.Redis.from_url(REDIS_URL)
        try:
            found: dict[str, bytes] = {}
            for name in client.scan_iter(match=keys.message_prefix + "*", count=1000):
                body = client.hget(name, "b")
                assert isinstance(body, bytes)
                found[name.decode().removeprefix(keys.message_prefix)] = body
            return found
        finally:
            client.close()
    return asyncio.run(_postgres_bodies(store_uri))


async def _postgres_bodies(uri: str) -> dict[str, bytes]:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(uri, timeout=5)
    try:
        rows = await conn.fetch("SELECT id, body FROM herald.messages")
    finally:
        await conn.close()
    return {str(row["id"]): bytes(row["body"]) for row in rows}


def post(client: httpx.Client, queue: str, items: list[Any]) -> list[str]:
    answer = client.post(
        f"/v2/queues/{queue}/messages", json={"messages": [{"body": b} for b in items]}
    )
    assert answer.status_code == 201, answer.text
    return [href.rsplit("/", 1)[1] for href in answer.json()["resources"]]


def listed(client: httpx.Client, queue: str) -> list[Any]:
    answer = client.get(
        f"/v2/queues/{queue}/messages",
        params={"echo": "true", "include_claimed": "true", "limit": "20"},
    )
    assert answer.status_code == 200, answer.text
    return [m["body"] for m in answer.json()["messages"]]


def patch(client: httpx.Client, queue: str, operations: list[dict[str, Any]]) -> httpx.Response:
    return client.patch(
        f"/v2/queues/{queue}", json=operations, headers={"Content-Type": PATCH_TYPE}
    )


def switch(client: httpx.Client, queue: str, op: str, value: bool) -> httpx.Response:
    return patch(
        client, queue, [{"op": op, "path": "/metadata/_enable_encrypt_messages", "value": value}]
    )


def assert_sealed(stored: bytes, marker: str) -> None:
    assert stored[:1] == b"\x00", stored[:40]
    assert marker.encode() not in stored


def test_an_encrypted_queue_gives_back_exact_bodies_and_stores_none_of_them(
    store_uri: str, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    sent = bodies(marker)
    with serving(store_uri, tmp_path, key=new_key()) as client:
        assert client.put("/v2/queues/q", json=ENCRYPTED).status_code == 201
        assert client.get("/v2/queues/q").json()["_enable_encrypt_messages"] is True
        ids = post(client, "q", sent)

        stored = stored_bodies(store_uri)
        assert set(ids) <= set(stored)
        for message_id in ids:
            assert_sealed(stored[message_id], marker)

        assert listed(client, "q") == sent
        one = client.get(f"/v2/queues/q/messages/{ids[1]}")
        assert one.status_code == 200 and one.json()["body"] == sent[1]
        some = client.get("/v2/queues/q/messages", params={"ids": f"{ids[3]},{ids[0]}"})
        assert [m["body"] for m in some.json()["messages"]] == [sent[3], sent[0]]

        claim = client.post("/v2/queues/q/claims", params={"limit": "2"}, json={"ttl": 60})
        assert claim.status_code == 201
        assert [m["body"] for m in claim.json()["messages"]] == sent[:2]
        claim_href = claim.headers["Location"]
        assert [m["body"] for m in client.get(claim_href).json()["messages"]] == sent[:2]

        popped = client.delete("/v2/queues/q/messages", params={"pop": "5"})
        assert popped.status_code == 200
        assert [m["body"] for m in popped.json()["messages"]] == sent[2:]


def test_a_queue_encrypted_later_reads_old_and_new_bodies(store_uri: str, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    plain, sealed, after = {"before": marker}, {"during": marker}, {"after": marker}
    with serving(store_uri, tmp_path, key=new_key()) as client:
        [plain_id] = post(client, "q", [plain])
        assert switch(client, "q", "add", True).status_code == 200
        [sealed_id] = post(client, "q", [sealed])
        assert switch(client, "q", "replace", False).status_code == 200
        [after_id] = post(client, "q", [after])
        assert listed(client, "q") == [plain, sealed, after]
        stored = stored_bodies(store_uri)
    assert marker.encode() in stored[plain_id] and marker.encode() in stored[after_id]
    assert_sealed(stored[sealed_id], marker)


def test_encryption_without_a_key_is_refused_and_changes_nothing(
    store_uri: str, tmp_path: Path
) -> None:
    with serving(store_uri, tmp_path) as client:
        refused = client.put("/v2/queues/q", json={**ENCRYPTED, "colour": "red"})
        assert refused.status_code == 400
        assert "encryption key" in refused.json()["description"]
        assert client.get("/v2/queues").json()["queues"] == []

        assert client.put("/v2/queues/q", json={"colour": "red"}).status_code == 201
        operations: list[dict[str, Any]] = [
            {"op": "add", "path": "/metadata/colour", "value": "blue"},
            {"op": "add", "path": "/metadata/_enable_encrypt_messages", "value": True},
        ]
        refused = patch(client, "q", operations)
        assert refused.status_code == 400
        assert "encryption key" in refused.json()["description"]
        metadata = client.get("/v2/queues/q").json()
        assert metadata["colour"] == "red" and metadata["_enable_encrypt_messages"] is False


def test_dead_letters_of_an_encrypted_queue_read_back_and_stay_sealed(
    store_uri: str, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    poison = {"poison": marker}
    rules = {**ENCRYPTED, "_dead_letter_queue": "dead", "_max_claim_count": 1}
    with serving(store_uri, tmp_path, key=new_key()) as client:
        assert client.put("/v2/queues/q", json=rules).status_code == 201
        post(client, "q", [poison])
        claim = client.post("/v2/queues/q/claims", json={"ttl": 60})
        assert claim.status_code == 201
        assert client.delete(claim.headers["Location"]).status_code == 204
        # Claimed once already: this claim sets it aside and it moves to "dead".
        assert client.post("/v2/queues/q/claims", json={"ttl": 60}).status_code == 204
        assert listed(client, "q") == []
        assert listed(client, "dead") == [poison]
        # The move may give the message a new id; it is the only one in the store.
        [stored] = stored_bodies(store_uri).values()
        assert_sealed(stored, marker)
        claim = client.post("/v2/queues/dead/claims", json={"ttl": 60})
        assert [m["body"] for m in claim.json()["messages"]] == [poison]


def test_a_server_without_the_key_says_so_and_loses_nothing(store_uri: str, tmp_path: Path) -> None:
    first, second = new_key(), new_key()
    sent = [{"n": n} for n in range(3)]
    with serving(store_uri, tmp_path, key=first) as client:
        assert client.put("/v2/queues/q", json=ENCRYPTED).status_code == 201
        ids = post(client, "q", sent)

    with serving(store_uri, tmp_path, key=second) as client:
        answers = [
            client.get("/v2/queues/q/messages", params={"echo": "true"}),
            client.get(f"/v2/queues/q/messages/{ids[0]}"),
            client.get("/v2/queues/q/messages", params={"ids": ids[1]}),
            client.post("/v2/queues/q/claims", json={"ttl": 600}),
            client.delete("/v2/queues/q/messages", params={"pop": "3"}),
        ]
        for answer in answers:
            assert answer.status_code == 500, answer.text
            error = answer.json()
            assert set(error) == {"title", "description"}
            assert error["title"] == "Message encryption failure"
            assert "encrypted with a key this server does not have" in error["description"]
            assert first not in answer.text and second not in answer.text
        # A new post is sealed with the new key and reads back.
        assert client.put("/v2/queues/fresh", json=ENCRYPTED).status_code == 201
        post(client, "fresh", [{"new": True}])
        assert listed(client, "fresh") == [{"new": True}]

    # The log names the key that sealed the messages by its id, for the operator.
    logs = "".join(log.read_text() for log in tmp_path.glob("serve-*.log"))
    assert "which is neither [encryption] key nor one of old_keys" in logs

    # The failed claim was released (or the pop would have found nothing to pop),
    # and the failed pop put its messages back.
    with serving(store_uri, tmp_path, key=second, old_keys=f"{new_key()},{first}") as client:
        assert sorted(listed(client, "q"), key=lambda b: b["n"]) == sent
        claim = client.post("/v2/queues/q/claims", params={"limit": "5"}, json={"ttl": 60})
        assert claim.status_code == 201 and len(claim.json()["messages"]) == 3
        assert listed(client, "fresh") == [{"new": True}]


def test_old_keys_open_what_an_earlier_key_sealed(store_uri: str, tmp_path: Path) -> None:
    first, second = new_key(), new_key()
    with serving(store_uri, tmp_path, key=first) as client:
        assert client.put("/v2/queues/q", json=ENCRYPTED).status_code == 201
        [old_id] = post(client, "q", [{"sealed": "first"}])
    with serving(store_uri, tmp_path, key=second, old_keys=first) as client:
        [new_id] = post(client, "q", [{"sealed": "second"}])
        assert listed(client, "q") == [{"sealed": "first"}, {"sealed": "second"}]
    stored = stored_bodies(store_uri)
    # Bytes 2-5 name the key that sealed the body.
    assert stored[old_id][2:6] != stored[new_id][2:6]
    # Once the old key is dropped, what it sealed is refused, the rest still reads.
    with serving(store_uri, tmp_path, key=second) as client:
        assert client.get(f"/v2/queues/q/messages/{new_id}").json()["body"] == {"sealed": "second"}
        assert client.get(f"/v2/queues/q/messages/{old_id}").status_code == 500
