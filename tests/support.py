"""Helpers shared by the test suites: a fake clock and real servers on free ports."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from herald.config import Settings, load_settings
from herald.transport.http.app import create_app
from herald.transport.http.protocol import HeraldHttpProtocol
from herald.transport.websocket.protocol import HeraldWebSocketProtocol


class FakeClock:
    """A clock that moves only when told to; starts at the real time."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def new_client_id() -> str:
    return str(uuid.uuid4())


def headers(project: str | None = None, client_id: str | None = None) -> dict[str, str]:
    return {
        "Client-ID": client_id or new_client_id(),
        "X-Project-ID": project or f"p-{uuid.uuid4().hex[:12]}",
        "Content-Type": "application/json",
    }


@contextmanager
def running_app(
    settings: Settings,
    clock: Callable[[], float] = time.time,
    protocol: type[asyncio.Protocol] = HeraldHttpProtocol,
    loop: str = "auto",
) -> Iterator[str]:
    """Serve Herald with uvicorn in a thread of this process; yield its base URL."""
    with serving_app(create_app(settings, clock=clock), protocol, loop) as url:
        yield url


@contextmanager
def serving_app(
    app: Any,
    protocol: type[asyncio.Protocol] = HeraldHttpProtocol,
    loop: str = "auto",
    start_within: float = 20,
) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread of this process; yield its base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        access_log=False,
        http=protocol,
        ws=HeraldWebSocketProtocol,
        loop=loop,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_within
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the in-process server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def server_environ() -> dict[str, str]:
    """This process's environment without HERALD_* settings: a test says what it means."""
    return {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}


class ServerProcess:
    """`herald serve` in a subprocess on a free port; with `tls`, the context a client
    trusts the server's certificate with, and an https URL. Its output goes to `log`;
    with `stderr_apart`, its log lines (stderr) go to `errors` instead."""

    def __init__(
        self,
        store: str,
        workdir: Path,
        *args: str,
        env: dict[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        stderr_apart: bool = False,
    ):
        self.port = free_port()
        self.tls = tls
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.store = store
        self.workdir = workdir
        self.args = args
        self.env = {**server_environ(), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"serve-{self.port}.log"
        self.errors = workdir / f"serve-{self.port}.err" if stderr_apart else self.log

    def start(self, timeout: float = 20) -> ServerProcess:
        command = [
            sys.executable,
            "-m",
            "herald",
            "serve",
            "--port",
            str(self.port),
            "--store",
            self.store,
            *self.args,
        ]
        with open(self.log, "ab") as log, open(self.errors, "ab") as errors:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT if self.errors == self.log else errors,
            )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"herald serve exited: {self.log.read_text()}")
            try:
                answer = httpx.get(self.url + "/", timeout=1, verify=self.tls or True)
                if answer.status_code == 300:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.process.kill()
        self.process.wait(timeout=10)
        raise RuntimeError(f"herald serve did not answer: {self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings on a fresh SQLite file under `tmp_path`, ignoring HERALD_* variables."""
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    return load_settings(environ={}, overrides={"store": store, **overrides})


def failed_start(workdir: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run `herald serve` that must stop at start-up; its exit code and everything it said."""
    result = subprocess.run(
        [sys.executable, "-m", "herald", "serve", "--port", "0", *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        env={**server_environ(), **(env or {})},
    )
    return result.returncode, result.stdout + result.stderr
