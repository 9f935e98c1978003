"""Herald on PostgreSQL when things break: the server stops under load, its sessions are
terminated, it is not there at all, or Herald itself is killed with SIGKILL.

What must hold: clients get quick 503s with a JSON error body (never a hang, never
a 500), Herald recovers without a restart once PostgreSQL is back, and every
message answered 201 is still there afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import pytest

import backends
from herald.errors import ServiceUnavailable
from herald.model import NewMessage
from herald.storage.postgres import PostgresStore
from support import ServerProcess, free_port, headers

# Debian keeps the server binaries out of PATH, one directory per major version.
BIN_DIRS = [*sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True), "/usr/local/bin"]
LOAD_THREADS = 4
MAX_REQUESTS_PER_THREAD = 400
REQUEST_TIMEOUT = 15.0
# A request slower than this counts as a hang: every failure here should be quick.
SLOWEST_ACCEPTABLE = 8.0
NEW_MESSAGE = NewMessage(msgspec.Raw(b'{"n": 1}'), 600, 0)


def _tool(name: str) -> str | None:
    for directory in BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


class PrivateCluster:
    """A throwaway PostgreSQL cluster on a free port, run as the `postgres` user when root."""

    def __init__(self) -> None:
        initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
        if initdb is None or pg_ctl is None:
            backends.backend_unreachable(
                "initdb and pg_ctl (for a private PostgreSQL cluster)",
                "install the PostgreSQL server package, e.g. postgresql-15",
            )
            raise AssertionError("unreachable")
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.prefix: list[str] = []
        self.root = Path(tempfile.mkdtemp(prefix="herald-pg-"))
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(self.root)
                backends.backend_unreachable(
                    "a `postgres` user to run a private cluster as", "PostgreSQL refuses root"
                )
                raise
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self.prefix, *command],
            check=True,
            timeout=timeout,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def init(self) -> None:
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._run(
            self.pg_ctl, "start", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30",
            "-o", options,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(self.pg_ctl, "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "30")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def terminate_sessions(self, application: str) -> int:
        """Ask the server to end every session of `application`, as an admin would."""

        async def terminate() -> int:
            import asyncpg  # type: ignore[import-untyped]

            conn = await asyncpg.connect(self.url, timeout=5)
            try:
                return int(
                    await conn.fetchval(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = $1 AND pid <> pg_backend_pid()",
                        application,
                    )
                )
            finally:
                await conn.close()

        return asyncio.run(terminate())


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    made = PrivateCluster()
    try:
        made.init()
        made.start()
        yield made
    finally:
        made.remove()


@pytest.fixture
def shared_postgres() -> Iterator[str]:
    """A database of its own on the test server (the one the contract suite uses)."""
    yield from backends.postgres_store_uri(f"herald_test_{uuid.uuid4().hex[:10]}")


@dataclass
class Outcome:
    status: int | None  # None: no HTTP answer (connection refused or reset, timeout)
    seconds: float
    ids: list[str] = field(default_factory=list)
    body: dict[str, object] | None = None
    error: str = ""


class Load:
    """Threads posting uniquely numbered messages until told to stop; bounded in count."""

    def __init__(self, url: str, queue: str, project: str) -> None:
        self.url, self.queue, self.project = url, queue, project
        self.stopping = threading.Event()
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._post_loop, args=(n,), daemon=True)
            for n in range(LOAD_THREADS)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)

    def _post_loop(self, number: int) -> None:
        with httpx.Client(
            base_url=self.url, headers=headers(self.project), timeout=REQUEST_TIMEOUT
        ) as client:
            for sequence in range(MAX_REQUESTS_PER_THREAD):
                if self.stopping.is_set():
                    return
                messages = [
                    {"ttl": 3600, "body": {"thread": number, "n": sequence, "part": part}}
                    for part in range(1 + sequence % 3)
                ]
                self._record(client, {"messages": messages})

    def _record(self, client: httpx.Client, document: object) -> None:
        started = time.monotonic()
        try:
            response = client.post(f"/v2/queues/{self.queue}/messages", json=document)
        except httpx.HTTPError as exc:
            outcome = Outcome(None, time.monotonic() - started, error=repr(exc))
            time.sleep(0.01)  # the server may be gone: do not spin
        else:
            body = response.json() if response.content else None
            ids = []
            if response.status_code == 201 and isinstance(body, dict):
                ids = [href.rsplit("/", 1)[1] for href in body["resources"]]
            outcome = Outcome(response.status_code, time.monotonic() - started, ids, body)
        with self._lock:
            self.outcomes.append(outcome)

    def count(self, status: int | None) -> int:
        with self._lock:
            return sum(1 for o in self.outcomes if o.status == status)

    def wait_for(self, status: int | None, at_least: int, within: float) -> None:
        deadline = time.monotonic() + within
        while self.count(status) < at_least:
            assert time.monotonic() < deadline, (
                f"waited {within} s for {at_least} answers {status}; have {self.summary()}"
            )
            time.sleep(0.02)

    def summary(self) -> dict[int | None, int]:
        with self._lock:
            tally: dict[int | None, int] = {}
            for o in self.outcomes:
                tally[o.status] = tally.get(o.status, 0) + 1
            return tally

    def acknowledged(self) -> set[str]:
        return {i for o in self.outcomes if o.status == 201 for i in o.ids}


def listed_ids(url: str, queue: str, project: str) -> set[str]:
    """Every message id in the queue, paging by marker."""
    found: set[str] = set()
    marker = None
    with httpx.Client(base_url=url, headers=headers(project), timeout=30) as client:
        for _ in range(10_000):
            params: dict[str, str | int] = {"limit": 20, "echo": "true", "include_claimed": "true"}
            if marker:
                params["marker"] = marker
            response = client.get(f"/v2/queues/{queue}/messages", params=params)
            assert response.status_code == 200, response.text
            page = response.json()["messages"]
            if not page:
                return found
            found.update(m["id"] for m in page)
            marker = page[-1]["id"]
    raise AssertionError("the listing did not end")


def assert_unavailable_body(outcome: Outcome) -> None:
    assert isinstance(outcome.body, dict), outcome
    assert outcome.body.get("title") and outcome.body.get("description"), outcome.body


def post_one(url: str, project: str, queue: str) -> httpx.Response:
    with httpx.Client(base_url=url, headers=headers(project), timeout=REQUEST_TIMEOUT) as client:
        return client.post(
            f"/v2/queues/{queue}/messages", json={"messages": [{"ttl": 600, "body": "probe"}]}
        )


def wait_until_posting_works(url: str, project: str, queue: str, within: float) -> float:
    """Seconds until a post is answered 201; fails on any answer other than 201 or 503."""
    started = time.monotonic()
    while True:
        response = post_one(url, project, queue)
        if response.status_code == 201:
            return time.monotonic() - started
        assert response.status_code == 503, response.text
        assert time.monotonic() - started < within, "Herald did not recover"
        time.sleep(0.1)


def test_postgres_stopping_under_load_gives_503s_then_recovers(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    project, queue = f"p-{uuid.uuid4().hex[:8]}", "load"
    server = ServerProcess(cluster.url + "?min_size=2&max_size=4", tmp_path).start()
    try:
        with Load(server.url, queue, project) as load:
            load.wait_for(201, at_least=50, within=20)
            before_stop = len(load.outcomes)
            cluster.stop("immediate")
            load.wait_for(503, at_least=20, within=20)

            # A request of our own while the server is down: a quick, well-formed 503.
            started = time.monotonic()
            response = post_one(server.url, project, queue)
            assert response.status_code == 503, response.text
            assert time.monotonic() - started < SLOWEST_ACCEPTABLE
            body = response.json()
            assert body["title"] and body["description"]
            assert "PostgreSQL" in body["description"]
            assert "127.0.0.1" not in body["description"]  # the address is for the log

            cluster.start()
            wait_until_posting_works(server.url, project, queue, within=30)
            recovered = load.count(201)
            load.wait_for(201, at_least=recovered + 50, within=20)
        assert server.process is not None and server.process.poll() is None

        outcomes = load.outcomes
        statuses = load.summary()
        print(f"answers: {statuses}")
        assert set(statuses) <= {201, 503}, statuses
        # Until the stop, only requests then in flight may have failed.
        assert all(o.status == 201 for o in outcomes[: max(0, before_stop - LOAD_THREADS)])
        for outcome in outcomes:
            if outcome.status == 503:
                assert_unavailable_body(outcome)
        slowest = max(o.seconds for o in outcomes)
        assert slowest < SLOWEST_ACCEPTABLE, f"a request took {slowest:.1f} s"

        acknowledged = load.acknowledged()
        missing = acknowledged - listed_ids(server.url, queue, project)
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged messages lost"
    finally:
        server.stop()


def test_terminated_sessions_give_503s_then_recover(
    cluster: PrivateCluster, tmp_path: Path
) -> None:
    project, queue = f"p-{uuid.uuid4().hex[:8]}", "admin"
    server = ServerProcess(cluster.url + "?min_size=2&max_size=4", tmp_path).start()
    try:
        with Load(server.url, queue, project) as load:
            load.wait_for(201, at_least=30, within=20)
            for _ in range(3):
                assert cluster.terminate_sessions("herald") >= 1
                time.sleep(0.2)
            before = load.count(201)
            load.wait_for(201, at_least=before + 30, within=20)
        statuses = load.summary()
        print(f"answers: {statuses}")
        assert set(statuses) <= {201, 503}, statuses
        for outcome in load.outcomes:
            if outcome.status == 503:
                assert_unavailable_body(outcome)
        missing = load.acknowledged() - listed_ids(server.url, queue, project)
        assert not missing
    finally:
        server.stop()


def test_unreachable_postgres_fails_open_clearly() -> None:
    port = free_port()  # nothing listens there
    store = PostgresStore.from_uri(f"postgresql://postgres@127.0.0.1:{port}/herald")
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable) as caught:
        asyncio.run(store.open())
    assert time.monotonic() - started < SLOWEST_ACCEPTABLE
    assert f"127.0.0.1:{port}/herald" in caught.value.description


def test_busy_pool_and_slow_statements_give_service_unavailable(shared_postgres: str) -> None:
    async def scenario() -> None:
        import asyncpg

        options = "min_size=1&max_size=1&acquire_timeout=0.5&command_timeout=0.5"
        joiner = "&" if "?" in shared_postgres else "?"
        store = PostgresStore.from_uri(shared_postgres + joiner + options)
        await store.open()
        try:
            await store.create_queue("p", "q", {})
            # The pool's only connection is busy: the next caller gives up quickly.
            async with store.database.connection():
                with pytest.raises(ServiceUnavailable, match="no connection became free"):
                    await store.queue_metadata("p", "q")
            # A statement stuck behind a lock held elsewhere is cut off by the timeout.
            blocker = await asyncpg.connect(shared_postgres)
            try:
                async with blocker.transaction():
                    await blocker.execute("SELECT * FROM herald.queues FOR UPDATE")
                    started = time.monotonic()
                    with pytest.raises(ServiceUnavailable, match="did not answer in time"):
                        await store.post_messages(
                            "p", "q", lambda _: [NEW_MESSAGE], "client", time.time()
                        )
                    assert time.monotonic() - started < 5
            finally:
                await blocker.close()
            # Both failures left the store usable.
            assert (
                len(await store.post_messages("p", "q", lambda _: [NEW_MESSAGE], "c", time.time()))
                == 1
            )
        finally:
            await store.close()

    asyncio.run(scenario())


def test_serve_refuses_to_start_without_postgres(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "herald", "serve", "--port", str(free_port())]
    command += ["--store", f"postgresql://postgres@127.0.0.1:{port}/herald"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert f"127.0.0.1:{port}/herald" in done.stderr, done.stderr


# The SIGKILL test of Herald on PostgreSQL is tests/compat/test_durability.py,
# which runs on every backend.
