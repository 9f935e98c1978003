"""examples/rpc.py against `herald serve` on every backend: a responder process and a
requester process that meet only through the server's queues."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import backends
from support import ServerProcess, headers

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "rpc.py"
PROJECT = "rpc-example-test"


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    name = f"herald_test_rpc_{int(time.time() * 1000) % 10**9}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rpc.sqlite3'}"
    elif request.param == "redis":
        yield from backends.redis_store_uri(name)
    else:
        yield from backends.postgres_store_uri(name)


def example(role: str, url: str, *args: str) -> list[str]:
    return [sys.executable, str(EXAMPLE), role, "--url", url, "--project", PROJECT, *args]


def test_requests_are_answered_in_order_and_leave_no_message(
    store_uri: str, tmp_path: Path
) -> None:
    server = ServerProcess(store_uri, tmp_path).start()
    responder = subprocess.Popen(example("responder", server.url), stderr=subprocess.PIPE)
    try:
        done = subprocess.run(
            example("requester", server.url, "--count", "4"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        answers = [line.split(" in ")[0] for line in done.stdout.splitlines()]
        assert answers == [f"[{n}, {n + 1}, {n + 2}] -> {3 * n + 3}" for n in range(4)]
        assert "4 round trips" in done.stderr
        stats = httpx.get(
            f"{server.url}/v2/queues/rpc-requests/stats", headers=headers(PROJECT)
        ).json()
        assert stats["messages"]["total"] == 0
        queues = httpx.get(f"{server.url}/v2/queues", headers=headers(PROJECT)).json()["queues"]
        assert [q["name"] for q in queues] == ["rpc-requests"]
    finally:
        responder.terminate()
        responder.wait(timeout=10)
        server.stop()


def test_demo_runs_both_roles_in_one_process(tmp_path: Path) -> None:
    server = ServerProcess(f"sqlite:///{tmp_path / 'demo.sqlite3'}", tmp_path).start()
    try:
        done = subprocess.run(
            example("demo", server.url, "--count", "2"), capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[1].startswith("[1, 2, 3] -> 6 in ")
    finally:
        server.stop()
