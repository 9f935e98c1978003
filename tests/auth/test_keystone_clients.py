"""python-zaqarclient, unchanged, against Herald with keystone auth, through Keystone's catalog."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from zaqarclient.queues import client as zaqar
from zaqarclient.transport import errors as zaqar_errors

from auth_support import ServerFactory
from keystone_server import Account, Keystone


@pytest.fixture(scope="module")
def catalogued(keystone_herald: ServerFactory, keystone: Keystone) -> Iterator[str]:
    """A keystone Herald that Keystone's catalog lists as the `messaging` service."""
    url = keystone_herald().url
    service = keystone.create("service", type="messaging", name="herald", enabled=True)
    endpoints = [
        keystone.create(
            "endpoint",
            service_id=service["id"],
            interface=interface,
            url=url,
            region_id="RegionOne",
        )
        for interface in ("public", "internal", "admin")
    ]
    try:
        yield url
    finally:
        for endpoint in endpoints:
            keystone.call("DELETE", f"/endpoints/{endpoint['id']}")
        keystone.call("DELETE", f"/services/{service['id']}")


def keystone_options(keystone: Keystone, account: Account) -> dict[str, Any]:
    return {
        "os_auth_url": keystone.auth_url,
        "os_username": account.name,
        "os_password": account.password,
        "os_project_name": account.project_name,
        "os_user_domain_name": "Default",
        "os_project_domain_name": "Default",
    }


def connect(url: str | None, options: dict[str, Any]) -> zaqar.Client:
    conf = {
        "auth_opts": {"backend": "keystone", "options": options},
        "client_uuid": str(uuid.uuid4()),
    }
    return zaqar.Client(url, version=2, conf=conf)


@pytest.mark.parametrize("through_catalog", [False, True], ids=["url", "catalog"])
def test_zaqarclient_with_keystone_auth(
    catalogued: str, keystone: Keystone, through_catalog: bool
) -> None:
    url = None if through_catalog else catalogued
    name = f"jobs-{uuid.uuid4().hex[:8]}"
    alice = connect(url, keystone_options(keystone, keystone.accounts["alice"]))
    assert alice.ping() is True
    queue = alice.queue(name, force_create=True)
    queue.post([{"body": {"n": n}, "ttl": 300} for n in range(3)])
    assert [m.body["n"] for m in queue.messages(echo=True)] == [0, 1, 2]
    claim = queue.claim(ttl=60, grace=60, limit=2)
    claimed = list(claim)
    assert [m.body["n"] for m in claimed] == [0, 1]
    for message in claimed:
        message.delete()
    assert queue.stats["messages"]["total"] == 1

    bob = connect(url, keystone_options(keystone, keystone.accounts["bob"]))
    queues, _ = bob.queues(with_count=True)
    assert name not in [q.name for q in queues]
    assert list(bob.queue(name).messages(echo=True)) == []
    queue.delete()


def test_zaqarclient_with_a_token_keystone_does_not_know(catalogued: str) -> None:
    cli = connect(catalogued, {"os_auth_token": "gAAAAAB-not-a-real-token"})
    with pytest.raises(zaqar_errors.UnauthorizedError):
        list(cli.queue("jobs").messages())
