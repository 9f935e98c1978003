"""API keys: their format, the headers that carry them, and the identity step with its cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from herald import errors
from herald.auth.apikeys import ApiKeyAuth, presented_key
from herald.auth.cache import DeadlineCache
from herald.auth.keys import digest, key_id_of, make_key, matches, refusal
from herald.identity import Caller, ClientIdRule, Presented
from herald.model import ApiKeyRecord
from herald.storage.sqlite import SQLiteStore
from support import FakeClock

CLIENT = "3381af92-2b9e-11e3-b191-71861300734c"
T0 = 1_800_000_000.0


class CountingStore(SQLiteStore):
    """A SQLite store that counts key reads and can be told to fail them."""

    reads = 0
    down = False

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        self.reads += 1
        if self.down:
            raise errors.ServiceUnavailable("the test says the store is down")
        return await super().get_key(key_id)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    opened = CountingStore(str(tmp_path / "keys.sqlite3"))
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def presented(key: str | None = None, **headers: str) -> Presented:
    sent = {"client-id": CLIENT, **{k.replace("_", "-"): v for k, v in headers.items()}}
    if key is not None:
        sent["authorization"] = f"Bearer {key}"
    return Presented("GET", "/v2/queues", sent)


# The key format


def test_a_key_is_an_id_and_256_random_bits_and_only_its_hash_is_kept() -> None:
    made = make_key("p", ["member", "Admin", "member"], now=T0, expires=T0 + 60)
    key_id, secret = made.key.split(".")
    assert key_id == made.record.id and len(key_id) == 16
    assert len(secret) == 43  # 32 bytes in base64url without padding
    assert key_id_of(made.key) == key_id
    assert made.record.secret_hash == digest(made.key) != made.key
    assert secret not in made.record.secret_hash
    assert made.record.roles == ("admin", "member")
    assert (made.record.created, made.record.expires, made.record.revoked) == (T0, T0 + 60, None)
    assert made.key not in repr(made) and secret not in repr(made.record)
    assert len({make_key("p", [], now=T0).key for _ in range(200)}) == 200


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0123456789abcdef",
        "0123456789abcdef.",
        "0123456789ABCDEF." + "a" * 43,
        "0123456789abcde." + "a" * 43,
        "0123456789abcdef." + "a" * 42,
        "0123456789abcdef." + "a" * 44,
        "0123456789abcdef." + "a" * 42 + "=",
        "0123456789abcdef." + "a" * 42 + "é",
        "0123456789abcdef.." + "a" * 42,
        " 0123456789abcdef." + "a" * 43,
        "0123456789abcdef." + "a" * 43 + "\n",
    ],
)
def test_text_that_cannot_be_a_key_has_no_id(text: str) -> None:
    assert key_id_of(text) is None


def test_a_key_holds_until_it_is_revoked_or_expires() -> None:
    made = make_key("p", [], now=T0, expires=T0 + 60)
    other = make_key("p", [], now=T0)
    same_id_other_secret = f"{made.record.id}.{other.key.split('.')[1]}"
    assert matches(made.record, made.key) and not matches(made.record, same_id_other_secret)
    assert refusal(made.record, made.key, T0 + 59.9) is None
    assert refusal(made.record, made.key, T0 + 60) == "expired"
    assert refusal(made.record, same_id_other_secret, T0) == "wrong secret"
    revoked = msgspec.structs.replace(made.record, revoked=T0 + 1)
    assert refusal(revoked, made.key, T0 + 2) == "revoked"


# The headers that carry a key


def test_a_key_comes_as_a_bearer_token_or_as_x_auth_token() -> None:
    assert presented_key({"authorization": "Bearer k"}) == "k"
    assert presented_key({"authorization": "bearer   k "}) == "k"
    assert presented_key({"x-auth-token": "k"}) == "k"
    assert presented_key({"authorization": "Bearer k", "x-auth-token": "k"}) == "k"


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, 'Bearer realm="herald"'),
        ({"x-auth-token": " "}, 'Bearer realm="herald"'),
        ({"authorization": "Basic dXNlcjpwYXNz"}, 'Bearer realm="herald", error="invalid_token"'),
        ({"authorization": "Bearer"}, 'Bearer realm="herald", error="invalid_token"'),
        ({"authorization": "Bearer   "}, 'Bearer realm="herald", error="invalid_token"'),
        (
            {"authorization": "Bearer a", "x-auth-token": "b"},
            'Bearer realm="herald", error="invalid_token"',
        ),
    ],
)
def test_no_key_or_an_ambiguous_one_is_a_401_with_a_challenge(
    headers: dict[str, str], challenge: str
) -> None:
    with pytest.raises(errors.NotAuthenticated) as raised:
        presented_key(headers)
    assert raised.value.code == "not_authenticated"
    assert raised.value.challenge == challenge


# The identity step


async def test_the_key_says_the_project_and_roles_whatever_the_headers_say(
    store: CountingStore,
) -> None:
    made = make_key("alpha", ["member"], now=T0)
    await store.put_key(made.record)
    step = ApiKeyAuth(store, ClientIdRule(), cache_seconds=10)
    caller = await step(presented(made.key, x_project_id="beta", x_roles="admin"))
    assert caller == Caller(
        project="alpha",
        client_id="3381af922b9e11e3b19171861300734c",
        roles=frozenset({"member"}),
        user_id=made.record.id,
        authenticated_by="apikey",
    )
    token = Presented("GET", "/v2/queues", {"client-id": CLIENT, "x-auth-token": made.key})
    assert await step(token) == caller


async def test_the_key_is_checked_before_the_client_id(store: CountingStore) -> None:
    made = make_key("alpha", [], now=T0)
    await store.put_key(made.record)
    step = ApiKeyAuth(store, ClientIdRule(), cache_seconds=10)
    no_client = Presented("GET", "/v2/queues", {"authorization": f"Bearer {made.key}"})
    with pytest.raises(errors.InvalidHeader) as raised:
        await step(no_client)
    assert raised.value.code == "client_id_missing"
    with pytest.raises(errors.NotAuthenticated):
        await step(Presented("GET", "/v2/queues", {"authorization": "Bearer nope"}))


async def test_every_bad_key_gets_the_same_answer(store: CountingStore) -> None:
    live = make_key("alpha", [], now=T0)
    expired = make_key("alpha", [], now=T0 - 120, expires=T0 - 60)
    revoked = make_key("alpha", [], now=T0)
    for made in (live, expired, revoked):
        await store.put_key(made.record)
    await store.revoke_key(revoked.record.id, T0)
    unknown = make_key("alpha", [], now=T0)
    wrong = f"{live.record.id}.{unknown.key.split('.')[1]}"
    step = ApiKeyAuth(store, ClientIdRule(), cache_seconds=10, clock=lambda: T0)
    answers = set()
    for key in (expired.key, revoked.key, unknown.key, wrong, "garbage", live.key + "x"):
        with pytest.raises(errors.NotAuthenticated) as raised:
            await step(presented(key))
        answers.add((raised.value.description, raised.value.challenge))
    assert answers == {
        (
            "The API key is not valid: it is malformed, unknown, revoked or expired.",
            'Bearer realm="herald", error="invalid_token"',
        )
    }


async def test_a_checked_key_is_trusted_for_cache_seconds_and_no_longer(
    store: CountingStore,
) -> None:
    made = make_key("alpha", [], now=T0)
    await store.put_key(made.record)
    monotonic = FakeClock(0.0)
    step = ApiKeyAuth(store, ClientIdRule(), cache_seconds=10, monotonic=monotonic)
    await step(presented(made.key))
    await step(presented(made.key))
    assert store.reads == 1
    await store.revoke_key(made.record.id, T0)
    monotonic.advance(9.9)
    await step(presented(made.key))  # within the bound the process may still trust it
    monotonic.advance(0.1)
    with pytest.raises(errors.NotAuthenticated):
        await step(presented(made.key))
    assert store.reads == 2


async def test_with_cache_seconds_zero_every_request_reads_the_store(
    store: CountingStore,
) -> None:
    made = make_key("alpha", [], now=T0)
    await store.put_key(made.record)
    step = ApiKeyAuth(store, ClientIdRule(), cache_seconds=0)
    await step(presented(made.key))
    await store.revoke_key(made.record.id, T0)
    with pytest.raises(errors.NotAuthenticated):
        await step(presented(made.key))
    assert store.reads == 2 and len(step.checked) == 0


async def test_a_cached_key_still_expires_on_time(store: CountingStore) -> None:
    clock = FakeClock(T0)
    made = make_key("alpha", [], now=T0, expires=T0 + 5)
    await store.put_key(made.record)
    step = ApiKeyAuth(store, ClientIdRule(), cache_seconds=3600, clock=clock)
    await step(presented(made.key))
    clock.advance(5)
    with pytest.raises(errors.NotAuthenticated):
        await step(presented(made.key))
    assert store.reads == 1


async def test_a_wrong_secret_for_a_cached_id_is_refused(store: CountingStore) -> None:
    made = make_key("alpha", [], now=T0)
    await store.put_key(made.record)
    step = ApiKeyAuth(store, ClientIdRule(), cache_seconds=60)
    await step(presented(made.key))
    forged = f"{made.record.id}.{make_key('alpha', [], now=T0).key.split('.')[1]}"
    with pytest.raises(errors.NotAuthenticated):
        await step(presented(forged))


async def test_the_cache_holds_a_bounded_number_of_keys(store: CountingStore) -> None:
    step = ApiKeyAuth(store, ClientIdRule(), cache_seconds=60, cache_size=2)
    made = [make_key("alpha", [], now=T0) for _ in range(3)]
    for key in made:
        await store.put_key(key.record)
        await step(presented(key.key))
    assert len(step.checked) == 2
    assert step.checked.get(made[0].record.id.encode()) is None
    assert step.checked.get(made[2].record.id.encode()) == made[2].record


def test_unknown_ids_are_not_cached() -> None:
    checked: DeadlineCache[ApiKeyRecord] = DeadlineCache(10, FakeClock(0.0))
    assert checked.get(b"0123456789abcdef") is None and len(checked) == 0


async def test_a_store_that_fails_is_a_503_not_a_401(store: CountingStore) -> None:
    made = make_key("alpha", [], now=T0)
    await store.put_key(made.record)
    store.down = True
    step = ApiKeyAuth(store, ClientIdRule(), cache_seconds=10)
    with pytest.raises(errors.ServiceUnavailable):
        await step(presented(made.key))


async def test_a_record_is_trusted_from_when_its_read_began(store: CountingStore) -> None:
    made = make_key("alpha", [], now=T0)
    await store.put_key(made.record)
    monotonic = FakeClock(0.0)

    class SlowStore(CountingStore):
        async def get_key(self, key_id: str) -> ApiKeyRecord | None:
            monotonic.advance(4)  # the store took 4 seconds to answer
            return await store.get_key(key_id)

    slow = SlowStore(store.path)
    step = ApiKeyAuth(slow, ClientIdRule(), cache_seconds=10, monotonic=monotonic)
    await step(presented(made.key))
    monotonic.advance(6)
    assert step.checked.get(made.record.id.encode()) is None
