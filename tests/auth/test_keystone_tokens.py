"""Which tokens Herald takes under keystone, and how it refuses the others (401, 403)."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable

import httpx
import pytest

from auth_support import ServerFactory, as_user
from keystone_server import Keystone


def assert_unauthorized(response: httpx.Response, uri: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == f'Keystone uri="{uri}"'
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["title"] == "Unauthorized"
    assert body["description"]


def fernet_lookalike() -> str:
    """A token of a fernet token's shape that no Keystone ever issued."""
    return base64.urlsafe_b64encode(b"\x80" + os.urandom(150)).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [None, "", "garbage", "has space", "é-not-ascii", "x" * 9000, "lookalike"],
    ids=["missing", "empty", "garbage", "space", "non-ascii", "huge", "lookalike"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/queues"),
        ("GET", "/v2/"),
        ("GET", "/v2/ping"),
        ("PUT", "/v2/queues/q"),
        ("POST", "/v2/queues/q/messages"),
        ("POST", "/v2/queues/q/claims"),
    ],
)
def test_no_valid_token_is_401_with_the_keystone_challenge(
    keystone_herald: ServerFactory, keystone: Keystone, token: str | None, method: str, path: str
) -> None:
    headers = as_user("")
    del headers["X-Auth-Token"]
    if token is not None:
        headers["X-Auth-Token"] = fernet_lookalike() if token == "lookalike" else token
    raw = {k.encode(): v.encode() for k, v in headers.items()}  # non-ASCII as UTF-8 bytes
    response = httpx.request(
        method,
        keystone_herald().url + path,
        headers=raw,
        json={"messages": [{"body": 1}]} if method == "POST" else None,
        timeout=30,
    )
    assert_unauthorized(response, keystone.auth_url)


@pytest.mark.parametrize(
    ("method", "path", "extra", "with_token"),
    [
        ("GET", "/v2/no-such-thing", {}, 404),
        ("GET", "/v3/queues", {}, 404),
        ("DELETE", "/v2/queues", {}, 405),
        ("GET", "/v2/queues", {"Accept": "text/xml"}, 406),
        (
            "POST",
            "/v2/queues/q/messages",
            {"Content-Type": "application/x-www-form-urlencoded"},
            400,
        ),
        ("PUT", "/v2/queues/" + "q" * 65, {}, 400),
    ],
    ids=["unknown-path", "unknown-version", "wrong-method", "not-json", "form-body", "bad-name"],
)
def test_the_token_is_checked_before_the_path_and_media_types(
    keystone_herald: ServerFactory,
    keystone: Keystone,
    tokens: Callable[[str], str],
    method: str,
    path: str,
    extra: dict[str, str],
    with_token: int,
) -> None:
    """Zaqar's auth middleware answers 401 before its router and hooks see the
    request; the same request with a valid token gets the error it deserves."""
    url = keystone_herald().url + path
    headers = {**as_user(""), **extra}
    del headers["X-Auth-Token"]
    body = b"a=1" if method == "POST" else None
    assert_unauthorized(
        httpx.request(method, url, headers=headers, content=body, timeout=30), keystone.auth_url
    )
    headers["X-Auth-Token"] = tokens("alice")
    answer = httpx.request(method, url, headers=headers, content=body, timeout=30)
    assert answer.status_code == with_token, answer.text


def test_the_challenge_names_www_authenticate_uri_when_set(
    keystone_herald: ServerFactory,
) -> None:
    uri = "https://keystone.example.org/identity"
    url = keystone_herald(keystone_www_authenticate_uri=uri).url
    assert_unauthorized(httpx.get(url + "/v2/queues", timeout=30), uri)


def test_the_root_stays_open(keystone_herald: ServerFactory) -> None:
    response = httpx.get(keystone_herald().url + "/", timeout=30)
    assert response.status_code == 300
    assert "versions" in response.json()


def test_a_valid_token_still_needs_a_valid_client_id(
    keystone_herald: ServerFactory, tokens: Callable[[str], str]
) -> None:
    url = keystone_herald().url + "/v2/queues"
    token = tokens("alice")
    missing = httpx.get(url, headers={"X-Auth-Token": token}, timeout=30)
    assert (missing.status_code, missing.json()["title"]) == (400, "Missing header value")
    wrong = httpx.get(url, headers=as_user(token, **{"Client-ID": "nope"}), timeout=30)
    assert (wrong.status_code, wrong.json()["title"]) == (400, "Wrong UUID value")


def test_an_unscoped_token_acts_for_no_project(
    keystone_herald: ServerFactory, keystone: Keystone
) -> None:
    alice = keystone.accounts["alice"]
    unscoped = keystone.token(alice.name, alice.password)
    response = httpx.get(
        keystone_herald().url + "/v2/queues",
        headers=as_user(unscoped, **{"X-Project-ID": alice.project_id}),
        timeout=30,
    )
    assert response.status_code == 403
    assert response.json()["title"] == "Not authorized"


def test_an_expired_token_is_refused_though_it_was_cached(
    keystone_herald: ServerFactory, keystone: Keystone
) -> None:
    # The cache would keep it for 300 s; the token's own expiry comes first.
    url = keystone_herald().url + "/v2/queues"
    token, expires = keystone.short_lived_token(keystone.accounts["alice"], seconds=10)
    if time.time() < expires - 1:  # a slow machine may have used up its life already
        assert httpx.get(url, headers=as_user(token), timeout=30).status_code == 200
    time.sleep(max(0.0, expires - time.time()) + 1.0)
    assert_unauthorized(httpx.get(url, headers=as_user(token), timeout=30), keystone.auth_url)


def test_a_revoked_token_is_refused_at_once_without_a_cache(
    keystone_herald: ServerFactory, keystone: Keystone, tokens: Callable[[str], str]
) -> None:
    url = keystone_herald(keystone_cache_seconds="0").url + "/v2/queues"
    token = tokens("alice")
    assert httpx.get(url, headers=as_user(token), timeout=30).status_code == 200
    keystone.revoke(token)
    assert_unauthorized(httpx.get(url, headers=as_user(token), timeout=30), keystone.auth_url)


def test_a_revoked_token_outlives_its_revocation_by_cache_seconds_at_most(
    keystone_herald: ServerFactory, keystone: Keystone, tokens: Callable[[str], str]
) -> None:
    url = keystone_herald(keystone_cache_seconds="3").url + "/v2/queues"
    token = tokens("alice")
    assert httpx.get(url, headers=as_user(token), timeout=30).status_code == 200
    cached_at = time.monotonic()
    keystone.revoke(token)
    # Within the bound the cached validation stands ...
    if time.monotonic() - cached_at < 2.5:
        assert httpx.get(url, headers=as_user(token), timeout=30).status_code == 200
    # ... and past it Keystone is asked again, and says no.
    time.sleep(max(0.0, cached_at + 3.2 - time.monotonic()))
    assert_unauthorized(httpx.get(url, headers=as_user(token), timeout=30), keystone.auth_url)


def test_roles_come_from_the_token_not_from_x_roles(
    keystone_herald: ServerFactory, tokens: Callable[[str], str]
) -> None:
    url = keystone_herald(admin_mode="true").url + "/v2/health"
    member = httpx.get(url, headers=as_user(tokens("alice"), **{"X-Roles": "admin"}), timeout=30)
    assert member.status_code == 403
    admin = httpx.get(url, headers=as_user(tokens("root")), timeout=60)
    assert admin.status_code == 200, admin.text
    assert admin.json()["storage_reachable"] is True


def test_a_pre_signed_url_needs_no_token_and_is_judged_after_routing(
    keystone_herald: ServerFactory, tokens: Callable[[str], str]
) -> None:
    """As in Zaqar, a request carrying URL-Signature skips the token check; an
    unknown path is then a routing 404, and a bad signature the signed-URL 404."""
    url = keystone_herald(signed_url_secret_key="a secret for the keystone tests").url
    owner = as_user(tokens("alice"))
    posted = httpx.post(
        url + "/v2/queues/signed/messages",
        headers=owner,
        json={"messages": [{"body": "hello", "ttl": 300}]},
        timeout=30,
    )
    assert posted.status_code == 201, posted.text
    grant = httpx.post(url + "/v2/queues/signed/share", headers=owner, json={}, timeout=30).json()
    holder = {
        "Client-ID": owner["Client-ID"],
        "X-Project-ID": grant["project"],
        "URL-Signature": grant["signature"],
        "URL-Expires": grant["expires"],
        "URL-Methods": ",".join(grant["methods"]),
        "URL-Paths": ",".join(grant["paths"]),
    }
    listed = httpx.get(url + "/v2/queues/signed/messages?echo=true", headers=holder, timeout=30)
    assert listed.status_code == 200, listed.text
    assert [m["body"] for m in listed.json()["messages"]] == ["hello"]
    unknown = httpx.get(url + "/v2/no-such-thing", headers=holder, timeout=30)
    assert unknown.status_code == 404
    assert unknown.json() == {"title": "404 Not Found"}
    forged = {**holder, "URL-Signature": "0" * 64}
    refused = httpx.get(url + "/v2/queues/signed/messages", headers=forged, timeout=30)
    assert refused.status_code == 404
    assert refused.json()["title"] == "404 Not Found"
