"""`auth = "apikey"` over HTTP: a key reaches its own project only, and every bad key is a 401."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

import backends
from api_support import PATCH_TYPE, assert_json, claim, counts, metadata, post, queue_names
from apikey_support import CACHE_SECONDS, KeyedServer, keyed_server
from herald.auth.keys import make_key
from herald.config import load_settings
from support import running_app, server_environ

MISSING = 'Bearer realm="herald"'
INVALID = 'Bearer realm="herald", error="invalid_token"'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KeyedServer]:
    with keyed_server(tmp_path_factory.mktemp("apikey")) as running:
        yield running


def project() -> str:
    return f"p-{uuid.uuid4().hex[:12]}"


def assert_401(response: httpx.Response, challenge: str = INVALID) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["www-authenticate"] == challenge
    document = assert_json(response)
    assert set(document) == {"title", "description"} and document["title"] == "Unauthorized"


# Isolation


@pytest.mark.parametrize("header", ["authorization", "x-auth-token"])
def test_a_key_reaches_none_of_another_projects_resources_by_any_route(
    server: KeyedServer, header: str
) -> None:
    a_project, b_project = project(), project()
    b = server.client(server.key(b_project), header=header)
    b.headers["X-Project-ID"] = a_project  # ignored: the key says b_project
    assert b.put("/v2/queues/shared", json={"owner": "b"}).status_code == 201
    ids = post(b, "shared", {"body": 1}, {"body": 2}, {"body": 3})
    claim_id, claimed = claim(b, "shared", limit=1)
    before = (metadata(b, "shared"), counts(b, "shared"))

    a = server.client(server.key(a_project, ("admin",)), header=header)
    a.headers.update({"X-Project-ID": b_project, "X-Roles": "admin"})
    path = "/v2/queues/shared"
    assert queue_names(a) == []
    assert a.get(path).json().get("owner") is None
    assert a.get(f"{path}/stats").json()["messages"]["total"] == 0
    everything = {"echo": "true", "include_claimed": "true"}
    assert a.get(f"{path}/messages", params=everything).json()["messages"] == []
    for message_id in ids:
        assert a.get(f"{path}/messages/{message_id}").status_code == 404
        assert a.delete(f"{path}/messages/{message_id}").status_code == 204
        deleted = a.delete(f"{path}/messages/{message_id}", params={"claim_id": claim_id})
        assert deleted.status_code == 204
    assert a.get(f"{path}/messages", params={"ids": ",".join(ids)}).status_code == 404
    assert a.delete(f"{path}/messages", params={"ids": ",".join(ids)}).status_code == 204
    assert a.get(f"{path}/claims/{claim_id}").status_code == 404
    renewed = a.patch(f"{path}/claims/{claim_id}", json={"ttl": 300})
    assert renewed.status_code == 404
    assert a.delete(f"{path}/claims/{claim_id}").status_code == 204
    assert a.post(f"{path}/claims", json={"ttl": 60}).status_code == 204
    popped = a.delete(f"{path}/messages", params={"pop": 3})
    assert popped.status_code == 200 and popped.json()["messages"] == []
    assert a.post(f"{path}/purge", json={"resource_types": ["messages"]}).status_code == 204
    change = [{"op": "replace", "path": "/metadata/owner", "value": "a"}]
    patched = a.patch(path, json=change, headers={"Content-Type": PATCH_TYPE})
    assert patched.status_code == 404
    assert a.delete(path).status_code == 204
    # What A writes lands in A's project, whatever X-Project-ID says.
    post(a, "shared", {"body": "from a"})
    assert queue_names(a) == ["shared"]

    assert (metadata(b, "shared"), counts(b, "shared")) == before
    listed_b = b.get(f"{path}/messages", params=everything)
    assert [m["body"] for m in listed_b.json()["messages"]] == [1, 2, 3]
    held = b.get(f"{path}/claims/{claim_id}")
    assert held.status_code == 200
    assert [m["id"] for m in held.json()["messages"]] == [m["id"] for m in claimed]


# Refusals


def requests_of_every_kind(queue: str) -> list[tuple[str, str, dict[str, Any]]]:
    path = f"/v2/queues/{queue}"
    change = [{"op": "add", "path": "/metadata/owner", "value": "intruder"}]
    return [
        ("GET", "/v2/", {}),
        ("GET", "/v2/ping", {}),
        ("GET", "/v2/queues", {}),
        ("GET", path, {}),
        ("PUT", "/v2/queues/new", {"json": {}}),
        ("PATCH", path, {"json": change, "headers": {"Content-Type": PATCH_TYPE}}),
        ("GET", f"{path}/stats", {}),
        ("POST", f"{path}/messages", {"json": {"messages": [{"body": "intruder"}]}}),
        ("GET", f"{path}/messages", {"params": {"echo": "true"}}),
        ("DELETE", f"{path}/messages", {"params": {"pop": 5}}),
        ("POST", f"{path}/claims", {"json": {"ttl": 60}}),
        ("POST", f"{path}/purge", {"json": {"resource_types": ["messages"]}}),
        ("DELETE", path, {}),
    ]


def test_every_bad_key_is_a_401_with_a_challenge_and_changes_nothing(
    server: KeyedServer, caplog: pytest.LogCaptureFixture
) -> None:
    owner = project()
    good = server.key(owner, ("admin",))
    mine = server.client(good)
    post(mine, "mine", {"body": "kept"})
    before = (queue_names(mine), metadata(mine, "mine"), counts(mine, "mine"))

    live_id = good.split(".")[0]
    forged = f"{live_id}.{server.key(owner).split('.')[1]}"
    revoked = server.key(owner, ("admin",), revoked=True)
    expired = server.key(owner, ("admin",), expires_in=-1)
    never_stored = f"{uuid.uuid4().hex[:16]}.{good.split('.')[1]}"
    refused: list[tuple[dict[str, str], str]] = [
        ({}, MISSING),
        ({"X-Auth-Token": ""}, MISSING),
        ({"Authorization": f"Bearer {never_stored}"}, INVALID),
        ({"Authorization": f"Bearer {forged}"}, INVALID),
        ({"Authorization": f"Bearer {revoked}"}, INVALID),
        ({"X-Auth-Token": expired}, INVALID),
        ({"Authorization": "Bearer garbage"}, INVALID),
        ({"Authorization": f"Bearer {good}x"}, INVALID),
        ({"Authorization": f"Bearer {good.upper()}"}, INVALID),
        ({"Authorization": f"Basic {good}"}, INVALID),
        ({"Authorization": good}, INVALID),
        ({"Authorization": f"Bearer {good}", "X-Auth-Token": revoked}, INVALID),
    ]
    secrets = [k.split(".")[1] for k in (good, forged, revoked, expired)]
    bodies = []
    with caplog.at_level(logging.DEBUG, logger="herald"):
        for headers, challenge in refused:
            with httpx.Client(base_url=server.url, timeout=30) as bad:
                bad.headers.update(
                    {"Client-ID": str(uuid.uuid4()), "X-Project-ID": owner, **headers}
                )
                for method, path, options in requests_of_every_kind("mine"):
                    response = bad.request(method, path, **options)
                    assert_401(response, challenge)
                    bodies.append(response.text)
    assert (queue_names(mine), metadata(mine, "mine"), counts(mine, "mine")) == before
    assert "refused: revoked" in caplog.text and "refused: wrong secret" in caplog.text
    for secret in secrets:
        assert secret not in caplog.text
        assert not any(secret in body for body in bodies)


def test_the_version_document_needs_no_key(server: KeyedServer) -> None:
    assert httpx.get(server.url + "/", timeout=30).status_code == 300


def test_the_admin_role_comes_from_the_key_not_from_x_roles(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with keyed_server(tmp_path_factory.mktemp("admin"), admin_mode=True) as admin_server:
        admin = admin_server.client(admin_server.key(project(), ("admin",)))
        member = admin_server.client(admin_server.key(project(), ("member",)))
        member.headers["X-Roles"] = "admin"
        assert admin.get("/v2/health").status_code == 200
        assert member.get("/v2/health").status_code == 403


def test_a_valid_key_without_a_client_id_is_a_400(server: KeyedServer) -> None:
    key = server.key(project())
    response = httpx.get(
        server.url + "/v2/queues", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert response.status_code == 400 and "www-authenticate" not in response.headers


# Revocation


def test_a_key_revoked_with_the_cli_stops_working_within_cache_seconds(
    server: KeyedServer,
) -> None:
    key = server.key(project())
    client = server.client(key)
    assert client.get("/v2/queues").status_code == 200  # now cached
    revoke = subprocess.run(
        [
            sys.executable,
            "-m",
            "herald",
            "keys",
            "revoke",
            key.split(".")[0],
            "--store",
            server.store_uri,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=server_environ(),
    )
    assert revoke.returncode == 0, revoke.stderr
    revoked_at = time.monotonic()
    while client.get("/v2/queues").status_code == 200:
        assert time.monotonic() - revoked_at < CACHE_SECONDS + 0.5
        time.sleep(0.05)
    assert_401(client.get("/v2/queues"))
    assert key.split(".")[1] not in revoke.stdout + revoke.stderr


# A store that fails


async def test_a_store_that_goes_away_is_a_503_never_a_401() -> None:
    async with backends.postgres_store() as (store, uri):
        made = make_key("p", (), now=time.time())
        await store.put_key(made.record)
        settings = load_settings(
            environ={"HERALD_APIKEY_CACHE_SECONDS": "0"},
            overrides={"store": uri + "?min_size=1&connect_timeout=2", "auth": "apikey"},
        )
        with running_app(settings) as url:
            headers = {"Authorization": f"Bearer {made.key}", "Client-ID": str(uuid.uuid4())}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
                assert (await client.get("/v2/queues")).status_code == 200
                await backends.drop_postgres_database(urlsplit(uri).path[1:])
                for _ in range(3):
                    response = await client.get("/v2/queues")
                    assert response.status_code == 503, response.text
                    assert "www-authenticate" not in response.headers
