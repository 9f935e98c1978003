"""Long polls through real servers on every backend: a waiter in one process woken by a
post through another (`herald serve` beside an in-process server, and `--workers 2`),
clients that leave, waiters served in turn and delayed messages coming due.

Every waiting request asks for a long wait (`LONG`) but gives up much sooner
(`ANSWER_WITHIN`): only a wake-up can answer it in time.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

import backends
from herald.transport.http.app import HeraldApp, create_app
from support import ServerProcess, headers, make_settings, serving_app

LONG = 20
ANSWER_WITHIN = 10.0
PROJECT = "long-polls"


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    name = f"herald_test_lp_{int(time.time() * 1000) % 10**9}"
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    elif request.param == "redis":
        yield from backends.redis_store_uri(name)
    else:
        yield from backends.postgres_store_uri(name)


@contextlib.contextmanager
def in_process(tmp_path: Path, store: str) -> Iterator[tuple[HeraldApp, str]]:
    """A server in this process, whose waiters a test can count, on the shared store."""
    app = create_app(make_settings(tmp_path, store=store))
    with serving_app(app) as url:
        yield app, url


@contextlib.contextmanager
def other_process(tmp_path: Path, store: str, *args: str) -> Iterator[str]:
    server = ServerProcess(store, tmp_path, *args).start()
    try:
        yield server.url
    finally:
        assert server.stop() == 0


def api(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers=headers(PROJECT), timeout=ANSWER_WITHIN)


def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + ANSWER_WITHIN
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.005)


class Background:
    """A request made in a thread; `answer()` waits for its response."""

    def __init__(self, send: Callable[[], httpx.Response]) -> None:
        self._answers: list[httpx.Response | BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(send,), daemon=True)
        self._thread.start()

    def _run(self, send: Callable[[], httpx.Response]) -> None:
        try:
            self._answers.append(send())
        except BaseException as exc:
            self._answers.append(exc)

    def answer(self) -> httpx.Response:
        self._thread.join(ANSWER_WITHIN + 5)
        (got,) = self._answers
        if isinstance(got, BaseException):
            raise got
        return got


def claiming(url: str, wait: float = LONG) -> Background:
    def send() -> httpx.Response:
        with api(url) as c:
            return c.post("/v2/queues/q/claims", params={"wait": wait, "limit": 1})

    return Background(send)


def post(url: str, body: object, delay: int = 0) -> None:
    with api(url) as c:
        sent = c.post("/v2/queues/q/messages", json={"messages": [{"body": body, "delay": delay}]})
        assert sent.status_code == 201, sent.text


def claimed_bodies(response: httpx.Response) -> list[object]:
    assert response.status_code == 201, (response.status_code, response.text)
    return [m["body"] for m in response.json()["messages"]]


def waiting(app: HeraldApp) -> int:
    return app.herald.service.waiters.waiting(PROJECT, "q")


def test_a_claim_waiting_in_one_process_gets_a_post_through_another(
    tmp_path: Path, store_uri: str
) -> None:
    with in_process(tmp_path, store_uri) as (app, url), other_process(tmp_path, store_uri) as far:
        waiter = claiming(url)
        until(lambda: waiting(app) == 1)
        post(far, "across")
        assert claimed_bodies(waiter.answer()) == ["across"]
        # And the other way round: a waiter over there, a post here.
        waiter = claiming(far)
        time.sleep(0.2)  # not needed for correctness: a post first is claimed at once
        post(url, "back")
        assert claimed_bodies(waiter.answer()) == ["back"]


def test_waiters_are_served_in_the_order_they_came(tmp_path: Path, store_uri: str) -> None:
    with in_process(tmp_path, store_uri) as (app, url), other_process(tmp_path, store_uri) as far:
        waiters = []
        for n in range(1, 4):
            waiters.append(claiming(url))
            until(lambda n=n: waiting(app) == n)  # type: ignore[misc]
        for n, waiter in enumerate(waiters, start=1):
            post(far, n)
            assert claimed_bodies(waiter.answer()) == [n]


def test_a_delayed_message_coming_due_wakes_a_waiter(tmp_path: Path, store_uri: str) -> None:
    with in_process(tmp_path, store_uri) as (app, url), other_process(tmp_path, store_uri) as far:
        waiter = claiming(url)
        until(lambda: waiting(app) == 1)
        post(far, "due soon", delay=1)
        assert claimed_bodies(waiter.answer()) == ["due soon"]


def test_an_expired_wait_answers_204_and_an_empty_page(tmp_path: Path, store_uri: str) -> None:
    with in_process(tmp_path, store_uri) as (app, url), api(url) as c:
        assert c.post("/v2/queues/q/claims", params={"wait": 0.5}).status_code == 204
        page = c.get("/v2/queues/q/messages", params={"wait": 0.5})
        assert page.status_code == 200
        assert page.json() == {"messages": [], "links": []}
        assert waiting(app) == 0


def test_a_client_that_leaves_frees_its_waiter_at_once(tmp_path: Path, store_uri: str) -> None:
    with in_process(tmp_path, store_uri) as (app, url):
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        head = "".join(
            f"{name}: {value}\r\n" for name, value in {**headers(PROJECT), "Host": "x"}.items()
        )
        for path, method in (("claims", "POST"), ("messages", "GET")):
            request = f"{method} /v2/queues/q/{path}?wait={LONG} HTTP/1.1\r\n{head}"
            request += "Content-Length: 0\r\n\r\n" if method == "POST" else "\r\n"
            with socket.create_connection((parts.hostname, parts.port)) as sock:
                sock.sendall(request.encode())
                until(lambda: waiting(app) == 1)
            # Long before its wait of LONG seconds would have ended.
            until(lambda: waiting(app) == 0)
        # Nobody claimed the next message for the client that left.
        post(url, "kept")
        with api(url) as c:
            assert claimed_bodies(c.post("/v2/queues/q/claims")) == ["kept"]


def test_workers_wake_each_other(tmp_path: Path, store_uri: str) -> None:
    with other_process(tmp_path, store_uri, "--workers", "2") as url:
        # Each connection lands on either worker: several rounds make both ways likely.
        for n in range(6):
            waiter = claiming(url)
            time.sleep(0.1)
            post(url, n)
            assert claimed_bodies(waiter.answer()) == [n]
