"""python-zaqarclient, unchanged, against `herald serve` on every backend."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from zaqarclient.queues import client as zaqar
from zaqarclient.transport import errors as zaqar_errors

from support import ServerProcess


@pytest.fixture
def server(store_uri: str, tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(store_uri, tmp_path).start()
    try:
        yield process
    finally:
        assert process.stop() == 0


def connect(url: str, project: str, client_id: str | None = None) -> zaqar.Client:
    conf = {
        "auth_opts": {"backend": "noauth", "options": {"os_project_id": project}},
        "client_uuid": client_id or str(uuid.uuid4()),
    }
    return zaqar.Client(url, version=2, conf=conf)


def test_queue_lifecycle_with_the_real_client(server: ServerProcess) -> None:
    cli = connect(server.url, "tenant-a")
    assert cli.ping() is True
    queue = cli.queue("jobs", force_create=True)
    assert queue.exists()
    queue.metadata(new_meta={"colour": "blue", "_default_message_ttl": 600})
    meta = cli.queue("jobs").metadata(force_reload=True)
    assert meta["colour"] == "blue" and meta["_default_message_ttl"] == 600

    queue.post([{"body": {"n": i}, "ttl": 300} for i in range(5)])
    # Without echo the poster does not see its own messages; with echo it does.
    assert list(queue.messages()) == []
    listed = list(queue.messages(echo=True, limit=2).stream())
    assert [m.body["n"] for m in listed] == [0, 1, 2, 3, 4]
    observer = connect(server.url, "tenant-a").queue("jobs")
    assert [m.body["n"] for m in observer.messages()] == [0, 1, 2, 3, 4]
    one = queue.message(listed[0].id)
    assert one.body == {"n": 0}
    assert [m.id for m in queue.messages(listed[1].id, listed[2].id)] == [
        listed[1].id,
        listed[2].id,
    ]

    claim = queue.claim(ttl=120, grace=60, limit=2)
    claimed = list(claim)
    assert [m.body["n"] for m in claimed] == [0, 1]
    assert all(m.claim_id == claim.id for m in claimed)
    claim.update(ttl=300, grace=60)
    assert len(list(queue.claim(id=claim.id))) == 2
    claimed[0].delete()
    stats = queue.stats["messages"]
    assert stats["total"] == 4 and stats["claimed"] == 1 and stats["free"] == 3
    claim.delete()
    assert queue.stats["messages"]["claimed"] == 0

    popped = list(queue.pop(2))
    assert [m.body["n"] for m in popped] == [1, 2]
    queue.delete_messages(listed[3].id)
    assert [m.body["n"] for m in queue.messages(echo=True)] == [4]
    queue.delete()
    assert queue.stats["messages"]["total"] == 0


def test_claimed_message_needs_its_claim_to_be_deleted(server: ServerProcess) -> None:
    queue = connect(server.url, "tenant-c").queue("work")
    queue.post({"body": "job", "ttl": 300})
    (message,) = list(queue.claim(ttl=60, grace=60))
    # The client always sends the claim id it knows; a bare delete must be refused.
    bare = httpx.delete(
        f"{server.url}/v2/queues/work/messages/{message.id}",
        headers={"Client-ID": str(uuid.uuid4()), "X-Project-ID": "tenant-c"},
    )
    assert bare.status_code == 403
    assert bare.json()["title"] == "Unable to delete"
    message.delete()
    with pytest.raises(zaqar_errors.ResourceNotFound):
        queue.message(message.id)


def test_queue_listing_and_project_isolation(server: ServerProcess) -> None:
    a = connect(server.url, "tenant-x")
    b = connect(server.url, "tenant-y")
    for name in ("alpha", "beta", "gamma"):
        a.queue(name, force_create=True)
    b.queue("private", force_create=True)
    queues, count = a.queues(with_count=True, limit=2)
    # Streaming follows the `next` links page by page until an empty page.
    assert [q.name for q in queues.stream()] == ["alpha", "beta", "gamma"]
    assert count == 3
    theirs, their_count = b.queues(with_count=True)
    assert [q.name for q in theirs] == ["private"] and their_count == 1
    a.queue("alpha").post({"body": "secret", "ttl": 60})
    assert list(b.queue("alpha").messages(echo=True)) == []
    assert b.queue("alpha").stats["messages"]["total"] == 0


def test_a_pre_signed_url_made_and_used_by_the_real_client(store_uri: str, tmp_path: Path) -> None:
    env = {"HERALD_SIGNED_URL_SECRET_KEY": "compat-secret"}
    process = ServerProcess(store_uri, tmp_path, env=env).start()
    try:
        owner = connect(process.url, "tenant-s")
        grant = owner.queue("shared", auto_create=False).signed_url(
            paths=["messages"], methods=["GET", "POST"], ttl_seconds=600
        )
        conf = {
            "auth_opts": {
                "backend": "signed-url",
                "options": {**grant, "os_project_id": grant["project"]},
            },
            "client_uuid": str(uuid.uuid4()),
        }
        holder = zaqar.Client(process.url, version=2, conf=conf).queue("shared", auto_create=False)
        holder.post({"body": "from a holder", "ttl": 300})
        assert [m.body for m in holder.messages(echo=True)] == ["from a holder"]
        # The URL opens nothing it was not signed for.
        with pytest.raises(zaqar_errors.ResourceNotFound):
            holder.claim(ttl=60, grace=60)
        assert owner.queue("shared").stats["messages"]["claimed"] == 0
    finally:
        assert process.stop() == 0
