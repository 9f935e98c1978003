"""Trusts for `trust+http(s)` subscribers, against the real Keystone: made with the caller's
own token, and turned into trust-scoped tokens that act as the caller."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from herald.config import KeystoneSettings
from herald.delivery.trust import TrustRefused, Trusts
from herald.errors import NotAuthenticated, NotAuthorized, ServiceUnavailable
from keystone_server import Keystone
from support import free_port


def service_settings(keystone: Keystone, **changes: Any) -> KeystoneSettings:
    service = keystone.accounts["herald"]
    fields: dict[str, Any] = {
        "auth_url": keystone.auth_url,
        "username": service.name,
        "password": service.password,
        "project_name": service.project_name,
        **changes,
    }
    return KeystoneSettings(**fields)


@pytest.fixture
async def trusts(keystone: Keystone) -> AsyncIterator[Trusts]:
    trusts = Trusts(service_settings(keystone))
    await trusts.start()
    try:
        yield trusts
    finally:
        await trusts.stop()


def in_an_hour() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)


def what_keystone_says(keystone: Keystone, token: str) -> dict[str, Any]:
    answer = keystone.call("GET", "/auth/tokens", **{"X-Subject-Token": token})
    found: dict[str, Any] = answer.json()["token"]
    return found


async def test_a_trust_is_the_callers_user_project_and_roles_lent_to_herald(
    keystone: Keystone, trusts: Trusts, tokens: Callable[[str], str]
) -> None:
    alice = keystone.accounts["alice"]
    expires = in_an_hour()
    trust_id = await trusts.create(tokens("alice"), alice.project_id, expires)
    trust = keystone.call("GET", f"/OS-TRUST/trusts/{trust_id}").json()["trust"]
    assert trust["trustor_user_id"] == alice.user_id
    assert trust["trustee_user_id"] == keystone.accounts["herald"].user_id
    assert trust["project_id"] == alice.project_id
    assert trust["impersonation"] is True
    assert {role["name"] for role in trust["roles"]} >= {"member", "reader"}
    assert trust["expires_at"].startswith(expires.strftime("%Y-%m-%dT%H:%M:%S"))


async def test_a_trust_scoped_token_acts_as_the_caller(
    keystone: Keystone, trusts: Trusts, tokens: Callable[[str], str]
) -> None:
    alice = keystone.accounts["alice"]
    trust_id = await trusts.create(tokens("alice"), alice.project_id, in_an_hour())
    token = await trusts.token(trust_id)
    seen = what_keystone_says(keystone, token)
    # Impersonation: the token names the trustor, scoped to the trust's project.
    assert seen["user"]["id"] == alice.user_id
    assert seen["project"]["id"] == alice.project_id
    assert seen["OS-TRUST:trust"]["id"] == trust_id
    assert "member" in {role["name"] for role in seen["roles"]}
    # Asked again, the same token comes from the cache.
    assert await trusts.token(trust_id) == token


async def test_a_trust_without_an_expiry_never_expires(
    keystone: Keystone, trusts: Trusts, tokens: Callable[[str], str]
) -> None:
    bob = keystone.accounts["bob"]
    trust_id = await trusts.create(tokens("bob"), bob.project_id, None)
    trust = keystone.call("GET", f"/OS-TRUST/trusts/{trust_id}").json()["trust"]
    assert trust["expires_at"] is None
    assert trust["trustor_user_id"] == bob.user_id


async def test_a_token_for_another_project_makes_no_trust(
    keystone: Keystone, trusts: Trusts, tokens: Callable[[str], str]
) -> None:
    with pytest.raises(NotAuthorized, match="scoped to the queue's project"):
        await trusts.create(tokens("alice"), keystone.accounts["bob"].project_id, in_an_hour())


async def test_a_token_keystone_does_not_know_makes_no_trust(
    keystone: Keystone, trusts: Trusts, tokens: Callable[[str], str]
) -> None:
    token = tokens("alice")
    keystone.revoke(token)
    with pytest.raises(NotAuthenticated):
        await trusts.create(token, keystone.accounts["alice"].project_id, in_an_hour())
    with pytest.raises(NotAuthenticated):
        await trusts.create("not-a-token", keystone.accounts["alice"].project_id, None)


async def test_a_deleted_trust_gives_no_token(
    keystone: Keystone, trusts: Trusts, tokens: Callable[[str], str]
) -> None:
    alice = keystone.accounts["alice"]
    trust_id = await trusts.create(tokens("alice"), alice.project_id, in_an_hour())
    keystone.call("DELETE", f"/OS-TRUST/trusts/{trust_id}")
    with pytest.raises(TrustRefused):
        await trusts.token(trust_id)
    with pytest.raises(TrustRefused):
        await trusts.token("no-such-trust")


async def test_a_wrong_service_password_is_the_servers_fault(
    keystone: Keystone, tokens: Callable[[str], str]
) -> None:
    trusts = Trusts(service_settings(keystone, password="wrong"))
    await trusts.start()
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            await trusts.create(tokens("alice"), keystone.accounts["alice"].project_id, None)
    finally:
        await trusts.stop()
    assert "wrong" not in caught.value.public_description


async def test_keystone_out_of_reach_is_503() -> None:
    trusts = Trusts(KeystoneSettings(
        auth_url=f"http://127.0.0.1:{free_port()}", username="u", password="p",
        project_name="service", timeout=2,
    ))  # fmt: skip
    await trusts.start()
    try:
        with pytest.raises(ServiceUnavailable):
            await trusts.create("some-token", "project", None)
    finally:
        await trusts.stop()
