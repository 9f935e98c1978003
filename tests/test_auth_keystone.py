"""The keystone step's parts that need no Keystone: settings, the cache, URLs, token parsing."""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.server
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgspec
import pytest

from herald import errors
from herald.auth.cache import DeadlineCache
from herald.auth.keystone import KeystoneAuth, Validated, v3_url
from herald.config import ConfigError, KeystoneSettings, load_settings
from herald.identity import ClientIdRule
from support import FakeClock, server_environ

COMPLETE = {
    "HERALD_AUTH": "keystone",
    "HERALD_KEYSTONE_AUTH_URL": "http://127.0.0.1:5000/v3",
    "HERALD_KEYSTONE_USERNAME": "herald",
    "HERALD_KEYSTONE_PASSWORD": "pw",
    "HERALD_KEYSTONE_PROJECT_NAME": "service",
}


def test_complete_keystone_settings_load() -> None:
    settings = load_settings(environ=COMPLETE)
    assert settings.auth == "keystone"
    assert settings.keystone.username == "herald"


@pytest.mark.parametrize("missing", ["AUTH_URL", "USERNAME", "PASSWORD", "PROJECT_NAME"])
def test_incomplete_keystone_settings_are_refused(missing: str) -> None:
    environ = {k: v for k, v in COMPLETE.items() if k != f"HERALD_KEYSTONE_{missing}"}
    with pytest.raises(ConfigError, match=f"auth = keystone needs keystone {missing.lower()} "):
        load_settings(environ=environ)


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("AUTH_URL", "127.0.0.1:5000"),
        ("WWW_AUTHENTICATE_URI", "keystone.example"),
        ("WWW_AUTHENTICATE_URI", 'https://k/"injected'),
        ("WWW_AUTHENTICATE_URI", "https://k/\r\nSet-Cookie: x"),
        ("WWW_AUTHENTICATE_URI", "https://k/é"),
    ],
)
def test_keystone_urls_must_be_http_and_fit_in_a_header(name: str, url: str) -> None:
    with pytest.raises(ConfigError, match=f"{name.lower()} must be an http"):
        load_settings(environ={**COMPLETE, f"HERALD_KEYSTONE_{name}": url})


def test_serve_refuses_incomplete_keystone_settings_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "herald", "serve", "--port", "0"],
        cwd=tmp_path,
        env={**server_environ(), "HERALD_AUTH": "keystone"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "herald: invalid setting: auth = keystone needs keystone auth_url, username, password, "
        "project_name (the [keystone] table or HERALD_KEYSTONE_<NAME>)"
    ]


@pytest.mark.parametrize(
    ("given", "v3"),
    [
        ("http://k:5000", "http://k:5000/v3"),
        ("http://k:5000/", "http://k:5000/v3"),
        ("http://k:5000/v3", "http://k:5000/v3"),
        ("https://k/identity/v3/", "https://k/identity/v3"),
    ],
)
def test_the_v3_root_is_found_from_either_spelling(given: str, v3: str) -> None:
    assert v3_url(given) == v3


def test_cached_values_go_at_their_deadline() -> None:
    clock = FakeClock(1000.0)
    cache: DeadlineCache[str] = DeadlineCache(10, clock)
    cache.put(b"a", "A", 5)
    cache.put(b"b", "B", 0)
    assert cache.get(b"a") == "A" and cache.get(b"b") is None
    clock.advance(4.9)
    assert cache.get(b"a") == "A"
    clock.advance(0.1)
    assert cache.get(b"a") is None and len(cache) == 0


def test_a_full_cache_forgets_its_oldest_entry_first() -> None:
    cache: DeadlineCache[int] = DeadlineCache(3, FakeClock())
    for n in range(5):
        cache.put(bytes([n]), n, 60)
    assert len(cache) == 3
    assert [cache.get(bytes([n])) for n in range(5)] == [None, None, 2, 3, 4]


def step() -> KeystoneAuth:
    settings = msgspec.convert(
        {"auth_url": "http://k/v3", "username": "u", "password": "p", "project_name": "s"},
        KeystoneSettings,
    )
    return KeystoneAuth(settings, ClientIdRule())


def validation(**token: object) -> bytes:
    body = {
        "expires_at": "2030-01-02T03:04:05.000000Z",
        "user": {"id": "u1", "name": "alice"},
        "project": {"id": "p1", "name": "A"},
        "roles": [{"id": "r1", "name": "Admin"}, {"id": "r2", "name": "member"}],
        "catalog": [],
        **token,
    }
    return msgspec.json.encode({"token": body})


def test_a_validation_is_read_for_project_user_and_roles_in_lower_case() -> None:
    validated, expires = step()._parse(validation())
    assert (validated.project, validated.user_id) == ("p1", "u1")
    assert validated.roles == frozenset({"admin", "member"})
    assert expires == 1893553445.0


def test_an_unscoped_validation_has_no_project() -> None:
    validated, _ = step()._parse(validation(project=None))
    assert validated.project is None


@pytest.mark.parametrize(
    "body", [b"not json", b'{"token": {}}', validation(expires_at="soon")], ids=str
)
def test_a_validation_that_does_not_parse_is_a_503(body: bytes) -> None:
    with pytest.raises(errors.ServiceUnavailable):
        step()._parse(body)


class SlowKeystone:
    """Stands in for `_ask_keystone`: counts calls and answers once released."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = threading.Event()

    def __call__(self, token: str) -> tuple[Validated, float]:
        self.calls.append(token)
        self.release.wait(10)
        expires = time.time() + 3600
        return Validated("p1", "u1", frozenset({"member"}), expires), expires


async def started(keystone: SlowKeystone, **options: int) -> KeystoneAuth:
    auth = KeystoneAuth(step().settings, ClientIdRule(), **options)  # type: ignore[arg-type]
    auth._ask_keystone = keystone  # type: ignore[method-assign]
    auth._pool = concurrent.futures.ThreadPoolExecutor(2)
    return auth


async def test_requests_with_the_same_new_token_share_one_validation() -> None:
    keystone = SlowKeystone()
    auth = await started(keystone)
    waiting = [asyncio.ensure_future(auth.validate("tok")) for _ in range(5)]
    await asyncio.sleep(0.05)
    keystone.release.set()
    assert {v.project for v in await asyncio.gather(*waiting)} == {"p1"}
    assert keystone.calls == ["tok"]
    # And the next request is a cache hit.
    assert (await auth.validate("tok")).project == "p1" and keystone.calls == ["tok"]
    await auth.stop()


async def test_past_the_pending_bound_a_new_token_is_a_503_at_once() -> None:
    keystone = SlowKeystone()
    auth = await started(keystone, max_pending=2)
    waiting = [asyncio.ensure_future(auth.validate(f"tok-{n}")) for n in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(errors.ServiceUnavailable):
        await auth.validate("one-too-many")
    keystone.release.set()
    await asyncio.gather(*waiting)
    assert sorted(keystone.calls) == ["tok-0", "tok-1"]
    await auth.stop()


async def test_a_client_that_goes_away_does_not_cancel_the_others_validation() -> None:
    keystone = SlowKeystone()
    auth = await started(keystone)
    first = asyncio.ensure_future(auth.validate("tok"))
    second = asyncio.ensure_future(auth.validate("tok"))
    await asyncio.sleep(0.05)
    first.cancel()
    keystone.release.set()
    assert (await second).project == "p1"
    await auth.stop()


class _Failing(http.server.BaseHTTPRequestHandler):
    """A Keystone that answers every request with a 500."""

    def do_GET(self) -> None:
        self.send_error(500)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


async def test_a_failing_keystone_neither_stops_start_up_nor_answers_401() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = msgspec.convert(
            {
                "auth_url": f"http://127.0.0.1:{server.server_address[1]}",
                "username": "u",
                "password": "p",
                "project_name": "s",
            },
            KeystoneSettings,
        )
        auth = KeystoneAuth(settings, ClientIdRule())
        await auth.start()
        with pytest.raises(errors.ServiceUnavailable):
            await auth.validate("some-token")
        await auth.stop()
    finally:
        server.shutdown()
        server.server_close()
