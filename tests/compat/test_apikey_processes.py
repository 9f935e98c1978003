"""API keys on one store are seen alike by every API process, revocations included."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from support import ServerProcess, server_environ

CACHE_SECONDS = 1.0


def herald_keys(store_uri: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "herald", "keys", *argv, "--store", store_uri],
        capture_output=True,
        text=True,
        timeout=60,
        env=server_environ(),
    )


def new_key(store_uri: str, project: str) -> str:
    made = herald_keys(store_uri, "create", "--project", project)
    assert made.returncode == 0, made.stderr
    return dict(line.split(": ", 1) for line in made.stdout.splitlines())["key"]


def client(server: ServerProcess, key: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}", "Client-ID": str(uuid.uuid4())}
    return httpx.Client(base_url=server.url, headers=headers, timeout=30)


def test_two_processes_see_the_same_keys_and_revocations(store_uri: str, tmp_path: Path) -> None:
    env = {
        "HERALD_AUTH": "apikey",
        "HERALD_APIKEY_CACHE_SECONDS": str(CACHE_SECONDS),
        "HERALD_LOG_LEVEL": "debug",
    }
    first_key = new_key(store_uri, "shared")
    servers = [ServerProcess(store_uri, tmp_path, env=env).start() for _ in range(2)]
    try:
        one, two = (client(server, first_key) for server in servers)
        posted = one.post("/v2/queues/work/messages", json={"messages": [{"body": "hi"}]})
        assert posted.status_code == 201, posted.text
        listed = two.get("/v2/queues/work/messages", params={"echo": "true"})
        assert [m["body"] for m in listed.json()["messages"]] == ["hi"]

        # A key made while both serve works on both at once: unknown ids are not cached.
        later_key = new_key(store_uri, "shared")
        for server in servers:
            assert client(server, later_key).get("/v2/queues").status_code == 200

        revoked = herald_keys(store_uri, "revoke", first_key.split(".")[0])
        assert revoked.returncode == 0, revoked.stderr
        revoked_at = time.monotonic()
        for refused in (one, two):
            while refused.get("/v2/queues").status_code == 200:
                assert time.monotonic() - revoked_at < CACHE_SECONDS + 1.0
                time.sleep(0.05)
            response = refused.get("/v2/queues")
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")
        for server in servers:
            assert client(server, later_key).get("/v2/queues").status_code == 200
    finally:
        codes = [server.stop() for server in servers]
    assert codes == [0, 0]
    logs = "".join(server.log.read_text() for server in servers)
    assert logs.count("auth apikey (project and roles from each key's record") == 2
    for key in (first_key, later_key):
        assert key.split(".")[1] not in logs
