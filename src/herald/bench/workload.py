"""What a run does: its settings, the requests each role sends, and the role loops."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import msgspec

from herald.bench.client import Connection, ServerURL, build_request
from herald.bench.stats import RoleStats

ROLES = ("producer", "consumer", "observer")


@dataclasses.dataclass(frozen=True)
class RoleShape:
    """How many processes run a role and how many requests each keeps in flight."""

    processes: int
    concurrency: int

    @property
    def active(self) -> bool:
        return self.processes > 0 and self.concurrency > 0

    def __str__(self) -> str:
        return f"{self.processes}x{self.concurrency}"


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    """Everything a run needs; pickled to every worker process."""

    url: str = "http://127.0.0.1:8888"
    project: str = "herald-bench"
    duration: float = 10.0
    warmup: float = 1.0
    producer: RoleShape = RoleShape(1, 16)
    consumer: RoleShape = RoleShape(0, 0)
    observer: RoleShape = RoleShape(0, 0)
    queues: int = 4
    queue_prefix: str = "herald-bench"
    message_size: int = 200
    message_ttl: int = 3600
    messages_per_post: int = 1
    messages_per_claim: int = 10
    messages_per_list: int = 10
    claim_ttl: int = 300
    claim_grace: int = 60
    bulk_delete: bool = False
    empty_wait: float = 0.0
    prefill: int = 0
    reset: bool = True

    def shape(self, role: str) -> RoleShape:
        shape: RoleShape = getattr(self, role)
        return shape

    @property
    def queue_names(self) -> list[str]:
        return [f"{self.queue_prefix}-{i}" for i in range(self.queues)]


def message_body(size: int, ttl: int) -> bytes:
    """One message element `{"ttl": …, "body": {…}}` that serialises to about `size` bytes."""
    skeleton = msgspec.json.encode({"ttl": ttl, "body": {"event": "bench", "data": ""}})
    padding = max(0, size - len(skeleton))
    return msgspec.json.encode({"ttl": ttl, "body": {"event": "bench", "data": "x" * padding}})


def post_body(config: BenchConfig, count: int) -> bytes:
    one = message_body(config.message_size, config.message_ttl)
    return b'{"messages":[' + b",".join([one] * count) + b"]}"


def header_block(server: ServerURL, project: str, client_id: str) -> bytes:
    """The headers every request of one worker carries."""
    return (
        f"Host: {server.authority}\r\nClient-ID: {client_id}\r\n"
        f"X-Project-ID: {project}\r\nAccept: application/json\r\n"
    ).encode()


class _Claimed(msgspec.Struct):
    href: str


class _ClaimBody(msgspec.Struct):
    messages: list[_Claimed]


class _Link(msgspec.Struct):
    href: str


class _Listed(msgspec.Struct):
    id: str


class _Page(msgspec.Struct):
    messages: list[_Listed]
    links: list[_Link] = []


_claim_decoder = msgspec.json.Decoder(_ClaimBody)
_page_decoder = msgspec.json.Decoder(_Page)


class Worker:
    """The role loops of one process: `concurrency` coroutines, each with its own connection."""

    def __init__(self, config: BenchConfig, role: str, stats: RoleStats, seed: int) -> None:
        self.config = config
        self.role = role
        self.stats = stats
        self.server = ServerURL(config.url)
        self.headers = header_block(self.server, config.project, str(uuid.uuid4()))
        self.random = random.Random(seed)
        self.queues = config.queue_names
        self.start_ns = 0
        self.record_from_ns = 0
        self.end_ns = 0

    def target(self, path: str) -> str:
        return self.server.prefix + path

    def request(self, method: str, path: str, body: bytes = b"") -> bytes:
        return build_request(method, self.target(path), self.headers, body)

    async def run(self, start: float) -> None:
        """Run the role's loops from monotonic time `start` for warm-up plus duration."""
        config = self.config
        self.start_ns = int(start * 1e9)
        self.record_from_ns = self.start_ns + int(config.warmup * 1e9)
        self.end_ns = self.record_from_ns + int(config.duration * 1e9)
        loop_of: dict[str, Callable[[Connection], Awaitable[None]]] = {
            "producer": self._produce,
            "consumer": self._consume,
            "observer": self._observe,
        }
        body = loop_of[self.role]
        connections = [
            Connection(self.server.host, self.server.port)
            for _ in range(config.shape(self.role).concurrency)
        ]
        delay = start - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks = [asyncio.ensure_future(body(c)) for c in connections]
        # Requests still in flight at the end are not counted; give them a
        # moment to finish, then cancel them so the run is bounded in time.
        remaining = (self.end_ns - time.monotonic_ns()) / 1e9
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, remaining) + 2.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for connection in connections:
            connection.close()

    async def _call(self, connection: Connection, request: bytes) -> tuple[int, bytes, int, int]:
        """Send one request; status (0 for a connection failure), body, end time, microseconds."""
        started = time.monotonic_ns()
        try:
            status, body = await connection.send(request)
        except OSError:
            status, body = 0, b""
        ended = time.monotonic_ns()
        if status == 0:
            # Do not spin on a server that refuses connections.
            await asyncio.sleep(0.05)
        return status, body, ended, (ended - started) // 1000

    def _record(
        self,
        op: str,
        ended: int,
        micros: int,
        error: str | None = None,
        messages: int = 0,
        idle: bool = False,
    ) -> None:
        """Count one request if it ended inside the measured window."""
        if not self.record_from_ns <= ended <= self.end_ns:
            return
        stats = self.stats
        second = stats.second((ended - self.record_from_ns) // 1_000_000_000)
        stats.requests += 1
        second.requests += 1
        if error is None:
            stats.messages += messages
            second.messages += messages
            stats.op(op).record(micros)
            second.latency.record(micros)
            if idle:
                stats.idle += 1
        else:
            stats.errors[error] = stats.errors.get(error, 0) + 1
            second.errors += 1

    def _running(self) -> bool:
        return time.monotonic_ns() < self.end_ns

    async def _produce(self, connection: Connection) -> None:
        count = self.config.messages_per_post
        body = post_body(self.config, count)
        requests = [self.request("POST", f"/v2/queues/{q}/messages", body) for q in self.queues]
        choose = self.random.choice
        while self._running():
            status, _, ended, micros = await self._call(connection, choose(requests))
            if status == 201:
                self._record("post", ended, micros, messages=count)
            else:
                self._record("post", ended, micros, _error(status))

    async def _consume(self, connection: Connection) -> None:
        config = self.config
        claim_body = msgspec.json.encode({"ttl": config.claim_ttl, "grace": config.claim_grace})
        claims = [
            (
                q,
                self.request(
                    "POST", f"/v2/queues/{q}/claims?limit={config.messages_per_claim}", claim_body
                ),
            )
            for q in self.queues
        ]
        choose = self.random.choice
        prefix = self.server.prefix
        headers = self.headers
        while self._running():
            queue, claim = choose(claims)
            status, body, ended, micros = await self._call(connection, claim)
            if status == 204:
                self._record("claim", ended, micros, idle=True)
                if config.empty_wait:
                    await asyncio.sleep(config.empty_wait)
                continue
            if status != 201:
                self._record("claim", ended, micros, _error(status))
                continue
            try:
                hrefs = [m.href for m in _claim_decoder.decode(body).messages]
            except msgspec.DecodeError:
                self._record("claim", ended, micros, "bad-body")
                continue
            self._record("claim", ended, micros)
            if config.bulk_delete:
                ids = ",".join(h.split("?", 1)[0].rsplit("/", 1)[1] for h in hrefs)
                request = build_request(
                    "DELETE", f"{prefix}/v2/queues/{queue}/messages?ids={ids}", headers
                )
                status, _, ended, micros = await self._call(connection, request)
                if status == 204:
                    self._record("delete", ended, micros, messages=len(hrefs))
                else:
                    self._record("delete", ended, micros, _error(status))
                continue
            for href in hrefs:
                if not self._running():
                    break
                request = build_request("DELETE", prefix + href, headers)
                status, _, ended, micros = await self._call(connection, request)
                if status == 204:
                    self._record("delete", ended, micros, messages=1)
                else:
                    self._record("delete", ended, micros, _error(status))

    async def _observe(self, connection: Connection) -> None:
        config = self.config
        markers: dict[str, str | None] = dict.fromkeys(self.queues)
        head = f"limit={config.messages_per_list}&echo=true"
        choose = self.random.choice
        while self._running():
            queue = choose(self.queues)
            marker = markers[queue]
            # The first page goes without include_claimed because Zaqar 23.0.1
            # on Redis answers 503 to include_claimed without a marker.
            query = head if marker is None else f"{head}&include_claimed=true&marker={marker}"
            request = self.request("GET", f"/v2/queues/{queue}/messages?{query}")
            status, body, ended, micros = await self._call(connection, request)
            if status != 200:
                self._record("list", ended, micros, _error(status))
                continue
            try:
                page = _page_decoder.decode(body)
            except msgspec.DecodeError:
                self._record("list", ended, micros, "bad-body")
                continue
            listed = len(page.messages)
            self._record("list", ended, micros, messages=listed, idle=not listed)
            if listed:
                markers[queue] = _marker(page) or quote(page.messages[-1].id, safe="")
            else:
                # At the end of the queue an observer starts over from its
                # head, so that a run measures listing rather than waiting.
                markers[queue] = None
                if config.empty_wait:
                    await asyncio.sleep(config.empty_wait)


def _error(status: int) -> str:
    return str(status) if status else "connection"


def _marker(page: _Page) -> str | None:
    """The marker of the page's next link, still URL-encoded."""
    for link in page.links:
        _, _, query = link.href.partition("?")
        for pair in query.split("&"):
            if pair.startswith("marker="):
                return pair[len("marker=") :]
    return None
