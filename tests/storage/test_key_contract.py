"""The API key part of the storage contract, on every driver."""

from __future__ import annotations

import msgspec

from herald.model import ApiKeyRecord
from herald.storage.base import Store

T0 = 1_800_000_000.0


def record(
    key_id: str,
    project: str = "project-a",
    *,
    created: float = T0,
    roles: tuple[str, ...] = (),
    expires: float | None = None,
) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=key_id,
        secret_hash=f"{key_id:0>64}"[-64:],
        project=project,
        roles=roles,
        created=created,
        expires=expires,
    )


async def test_a_key_reads_back_as_stored(store: Store) -> None:
    plain = record("0a0a0a0a0a0a0a0a")
    full = record("1b1b1b1b1b1b1b1b", roles=("admin", "member"), expires=T0 + 86400.125)
    assert await store.put_key(plain) is True
    assert await store.put_key(full) is True
    assert await store.get_key(plain.id) == plain
    assert await store.get_key(full.id) == full


async def test_a_key_id_is_taken_once(store: Store) -> None:
    first = record("2c2c2c2c2c2c2c2c", "p1")
    assert await store.put_key(first) is True
    other = msgspec.structs.replace(first, project="p2", secret_hash="f" * 64, created=T0 + 1)
    assert await store.put_key(other) is False
    assert await store.get_key(first.id) == first
    assert await store.list_keys("p2") == []
    assert await store.list_keys(None) == [first]


async def test_an_unknown_key_is_none(store: Store) -> None:
    await store.put_key(record("3d3d3d3d3d3d3d3d"))
    for text in ("4e4e4e4e4e4e4e4e", "", "3d3d3d3d3d3d3d3d\x00", "3D3D3D3D3D3D3D3D", "é:*"):
        assert await store.get_key(text) is None
        assert await store.revoke_key(text, T0) is None


async def test_keys_are_listed_by_project_oldest_first(store: Store) -> None:
    later = record("aaaaaaaaaaaaaaaa", "p", created=T0 + 10)
    tie_b = record("bbbbbbbbbbbbbbbb", "p", created=T0)
    tie_a = record("9999999999999999", "p", created=T0)
    elsewhere = record("cccccccccccccccc", "p:x", created=T0 - 5)
    for r in (later, tie_b, elsewhere, tie_a):
        await store.put_key(r)
    assert await store.list_keys("p") == [tie_a, tie_b, later]
    assert await store.list_keys("p:x") == [elsewhere]
    assert await store.list_keys(None) == [elsewhere, tie_a, tie_b, later]
    assert await store.list_keys("nobody") == []
    assert await store.list_keys("p\x00") == []


async def test_revocation_keeps_its_first_time_and_the_key(store: Store) -> None:
    key = record("5f5f5f5f5f5f5f5f", roles=("member",))
    await store.put_key(key)
    revoked = msgspec.structs.replace(key, revoked=T0 + 60)
    assert await store.revoke_key(key.id, T0 + 60) == revoked
    assert await store.revoke_key(key.id, T0 + 120) == revoked
    assert await store.get_key(key.id) == revoked
    assert await store.list_keys(key.project) == [revoked]


async def test_keys_are_no_queues_and_outlive_garbage_collection(store: Store) -> None:
    expired = record("6a6a6a6a6a6a6a6a", "p", expires=T0 + 1)
    await store.put_key(expired)
    await store.revoke_key(expired.id, T0 + 2)
    assert await store.count_queues("p") == 0
    assert await store.list_queues("p", marker=None, limit=10) == []
    await store.collect_garbage(T0 + 86400)
    found = await store.get_key(expired.id)
    assert found is not None and found.revoked == T0 + 2
