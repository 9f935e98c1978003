"""Herald on a private Redis that goes away: 503s meanwhile, recovery, no lost 201s.

Each test runs its own `redis-server` (append-only file, fsync on every write)
on a free 127.0.0.1 port, posts from a few threads for a few seconds, and
stops or kills a process under that load.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

import backends
from support import ServerProcess, free_port, headers

QUEUE = "faults.q"  # a dot, as Zaqar's Redis driver could not have
REQUEST_TIMEOUT = 10.0
PHASE = 1.5  # seconds of load before a fault, and again after recovery
# A request that takes longer than this while Redis is away counts as a hang.
MOST_A_REQUEST_MAY_TAKE = 5.0


class PrivateRedis:
    """A redis-server of the test's own, durable on every write; restartable on its data."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            backends.backend_unreachable("redis-server", "install it, e.g. apt-get install redis")
        self.binary = binary
        self.port = free_port()
        self.dir = workdir / f"redis-{self.port}"
        self.dir.mkdir()
        self.process: subprocess.Popen[bytes] | None = None

    def uri(self, prefix: str) -> str:
        return f"redis://127.0.0.1:{self.port}/0?prefix={prefix}&socket_timeout=2"

    def start(self, timeout: float = 15) -> PrivateRedis:
        command = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--save",
            "",
            "--logfile",
            str(self.dir / "redis.log"),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited: {self.log()}")
                try:
                    if client.ping():
                        return self
                except redis.RedisError:  # refused, or still loading its AOF
                    time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError(f"redis-server did not answer: {self.log()}")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGTERM)

    def log(self) -> str:
        path = self.dir / "redis.log"
        return path.read_text()[-2000:] if path.exists() else ""


class Outcome:
    """One POST: when it started, how long it took, its status (0: no answer) and more."""

    __slots__ = ("body", "elapsed", "message_id", "started", "status")

    def __init__(self, started: float, elapsed: float, status: int, body: Any) -> None:
        self.started = started
        self.elapsed = elapsed
        self.status = status
        self.body = body
        self.message_id = body["resources"][0].rsplit("/", 1)[1] if status == 201 else None


class Posters:
    """A few threads posting one message per request until stopped or out of budget."""

    def __init__(self, url: str, project: str, threads: int = 4, budget: int = 4000) -> None:
        self.url = url
        self.project = project
        self.budget = budget
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._post, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Posters:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)

    def _post(self) -> None:
        with httpx.Client(
            base_url=self.url, headers=headers(self.project), timeout=REQUEST_TIMEOUT
        ) as client:
            while not self._stop.is_set():
                with self._lock:
                    if len(self.outcomes) >= self.budget:
                        return
                started = time.monotonic()
                document = {"messages": [{"ttl": 3600, "body": {"n": uuid.uuid4().hex}}]}
                try:
                    response = client.post(f"/v2/queues/{QUEUE}/messages", json=document)
                    status, body = response.status_code, _json(response)
                except httpx.TransportError:
                    status, body = 0, None
                outcome = Outcome(started, time.monotonic() - started, status, body)
                with self._lock:
                    self.outcomes.append(outcome)
                # Pace the load: a few hundred requests a second is plenty here.
                time.sleep(0.002 if status == 201 else 0.02)

    def acknowledged(self) -> set[str]:
        return {o.message_id for o in self.outcomes if o.message_id is not None}


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def listed_ids(url: str, project: str) -> set[str]:
    """Every message id in the queue, paging with the marker the server hands out."""
    found: set[str] = set()
    path = f"/v2/queues/{QUEUE}/messages?limit=20&echo=true&include_claimed=true"
    with httpx.Client(base_url=url, headers=headers(project), timeout=30) as client:
        for _ in range(1000):
            response = client.get(path)
            assert response.status_code == 200, response.text
            page = response.json()
            if not page["messages"]:
                return found
            found.update(m["id"] for m in page["messages"])
            path = next(link["href"] for link in page["links"] if link["rel"] == "next")
    raise AssertionError("paging did not end")


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def private_redis(tmp_path: Path) -> Any:
    server = PrivateRedis(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


def test_serve_refuses_to_start_without_redis(tmp_path: Path) -> None:
    unused = free_port()
    herald = ServerProcess(f"redis://127.0.0.1:{unused}/0", tmp_path)
    with pytest.raises(RuntimeError) as failure:
        herald.start(timeout=20)
    assert "cannot be reached" in str(failure.value)
    assert herald.process is not None and herald.process.returncode == 2


def test_redis_outage_gives_503_then_recovers_without_restart(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    project = f"p-{uuid.uuid4().hex[:12]}"
    herald = ServerProcess(private_redis.uri("faults"), tmp_path).start()
    try:
        with Posters(herald.url, project) as posters:
            time.sleep(PHASE)
            assert len(posters.acknowledged()) >= 50
            private_redis.signal(signal.SIGTERM)
            down_at = time.monotonic()
            wait_for(
                lambda: (
                    sum(o.status == 503 and o.started > down_at for o in posters.outcomes) >= 20
                ),
                10,
                "503s during the outage",
            )
            time.sleep(0.5)  # a real outage, not a blip
            with httpx.Client(base_url=herald.url, headers=headers(project), timeout=10) as c:
                for response in (
                    c.get(f"/v2/queues/{QUEUE}/messages"),
                    c.post(f"/v2/queues/{QUEUE}/claims", json={}),
                    c.get(f"/v2/queues/{QUEUE}/stats"),
                    c.get("/v2/ping"),
                ):
                    assert response.status_code == 503, response.text
            private_redis.start()
            up_at = time.monotonic()
            wait_for(
                lambda: sum(o.status == 201 and o.started > up_at for o in posters.outcomes) >= 50,
                15,
                "posts after Redis came back",
            )
            time.sleep(PHASE)
        outcomes = posters.outcomes
        statuses = {o.status for o in outcomes}
        assert statuses <= {201, 503}, statuses
        for outcome in outcomes:
            if outcome.status == 503:
                assert isinstance(outcome.body, dict), outcome.body
                assert outcome.body.get("title") and outcome.body.get("description"), outcome.body
                # The store's address is for the log, not for clients.
                assert "127.0.0.1" not in outcome.body["description"], outcome.body
        slowest = max(o.elapsed for o in outcomes)
        assert slowest < MOST_A_REQUEST_MAY_TAKE, f"a request took {slowest:.1f}s"
        assert len(outcomes) <= posters.budget
        acknowledged = posters.acknowledged()
        missing = acknowledged - listed_ids(herald.url, project)
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged posts are gone"
        assert herald.process is not None and herald.process.poll() is None
    finally:
        herald.stop()


@pytest.mark.parametrize("victim", ["herald", "redis"])
def test_sigkill_loses_no_acknowledged_message(
    tmp_path: Path, private_redis: PrivateRedis, victim: str
) -> None:
    project = f"p-{uuid.uuid4().hex[:12]}"
    herald = ServerProcess(private_redis.uri("durable"), tmp_path).start()
    try:
        with Posters(herald.url, project) as posters:
            time.sleep(PHASE)
            assert len(posters.acknowledged()) >= 50
            if victim == "herald":
                herald.kill()
            else:
                private_redis.signal(signal.SIGKILL)
            killed_at = time.monotonic()
            # Keep posting into the dead process for a moment, as clients would.
            wait_for(
                lambda: sum(o.started > killed_at for o in posters.outcomes) >= 20,
                10,
                "requests after the kill",
            )
        statuses = {o.status for o in posters.outcomes}
        assert statuses <= {201, 503, 0}, statuses
        if victim == "herald":
            herald = ServerProcess(private_redis.uri("durable"), tmp_path).start()
        else:
            private_redis.start()
        acknowledged = posters.acknowledged()
        missing = acknowledged - listed_ids(herald.url, project)
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged posts are gone"
    finally:
        herald.stop()
