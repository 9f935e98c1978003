"""A real webhook endpoint for the delivery tests: an HTTP server that records what it is
sent and answers as a test scripts it, failing on purpose."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support import free_port


class Received:
    """One request the receiver got: its path, headers and JSON body."""

    def __init__(self, path: str, headers: dict[str, str], body: Any) -> None:
        self.path = path
        self.headers = headers
        self.body = body


class Receiver:
    """Answers each path with the statuses scripted for it, in order, then 200; a path
    marked hanging holds every request until released."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._lock = threading.Condition()
        self._received: dict[str, list[Received]] = defaultdict(list)
        self._script: dict[str, deque[int]] = defaultdict(deque)
        self._hanging: dict[str, threading.Event] = {}
        self._arrived: dict[str, int] = defaultdict(int)
        self._every: dict[str, tuple[int, int]] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, path: str, *statuses: int) -> None:
        """Answer the next requests on `path` with these statuses, then 200."""
        with self._lock:
            self._script[path].extend(statuses)

    def fail_every(self, path: str, nth: int, status: int = 500) -> None:
        """Answer every `nth` request on `path` with `status`."""
        with self._lock:
            self._every[path] = (nth, status)

    def hang(self, path: str) -> threading.Event:
        """Hold requests on `path` until the returned event is set."""
        event = threading.Event()
        self._hanging[path] = event
        return event

    def wait_arrived(self, path: str, count: int, within: float = 60) -> None:
        """Until `count` requests on `path` have arrived, answered or still held."""
        deadline = time.monotonic() + within
        with self._lock:
            while self._arrived[path] < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{path}: {self._arrived[path]} of {count} arrived"
                self._lock.wait(left)

    def received(self, path: str) -> list[Received]:
        with self._lock:
            return list(self._received[path])

    def wait_for(self, path: str, count: int, within: float = 60) -> list[Received]:
        """The requests on `path` once there are at least `count`; fails after `within`."""
        deadline = time.monotonic() + within
        with self._lock:
            while len(self._received[path]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{path}: {len(self._received[path])} of {count} requests"
                self._lock.wait(left)
            return list(self._received[path])

    def _record(self, path: str, headers: dict[str, str], body: Any) -> int:
        with self._lock:
            self._received[path].append(Received(path, headers, body))
            count = len(self._received[path])
            self._lock.notify_all()
            if self._script[path]:
                return self._script[path].popleft()
            every = self._every.get(path)
            if every is not None and count % every[0] == 0:
                return every[1]
            return 200


@contextmanager
def webhook_receiver() -> Iterator[Receiver]:
    receiver = Receiver(free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            raw = self.rfile.read(length)
            with receiver._lock:
                receiver._arrived[self.path] += 1
                receiver._lock.notify_all()
            hanging = receiver._hanging.get(self.path)
            if hanging is not None:
                hanging.wait(120)
            status = receiver._record(self.path, dict(self.headers.items()), json.loads(raw))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        for event in receiver._hanging.values():
            event.set()
        server.shutdown()
        server.server_close()
