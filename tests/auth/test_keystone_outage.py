"""Keystone out of reach is a 503 (never a 401), and Herald recovers without a restart."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from auth_support import ServerFactory, as_user
from herald.auth.keystone import UNAVAILABLE
from keystone_server import Keystone
from support import free_port

WORKERS = 4
PAUSE = 0.02  # between one worker's requests: at most ~200 requests/s in all


def assert_unavailable(status: int, body: dict[str, Any]) -> None:
    assert status == 503
    assert body == {"title": "Service temporarily unavailable", "description": UNAVAILABLE}


def test_keystone_never_reached_is_503_with_a_body(keystone_herald: ServerFactory) -> None:
    served = keystone_herald(keystone_auth_url=f"http://127.0.0.1:{free_port()}/v3")
    response = httpx.get(served.url + "/v2/queues", headers=as_user("some-token"), timeout=30)
    assert_unavailable(response.status_code, response.json())
    # With no token at all the answer needs no Keystone: still a 401.
    assert httpx.get(served.url + "/v2/queues", timeout=30).status_code == 401


def test_keystone_stopped_and_started_again_under_load(
    keystone_herald: ServerFactory,
    keystone: Keystone,
    tokens: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # No cache, so that every request asks Keystone.
    url = keystone_herald(keystone_cache_seconds="0").url + "/v2/queues"
    token = tokens("alice")
    results: list[tuple[float, int, dict[str, Any]]] = []
    done = threading.Event()

    def load() -> None:
        with httpx.Client(timeout=30) as client:
            while not done.is_set():
                answer = client.get(url, headers=as_user(token))
                body = answer.json() if answer.content else {}
                results.append((time.monotonic(), answer.status_code, body))
                time.sleep(PAUSE)

    caplog.set_level(logging.INFO, logger="herald")
    workers = [threading.Thread(target=load) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0)
        down = time.monotonic()
        keystone.stop()
        stopped = time.monotonic()
        time.sleep(2.0)
        restarting = time.monotonic()
        keystone.start()
        up = time.monotonic()
        recovery = up + 30
        while time.monotonic() < recovery and not any(t > up and s == 200 for t, s, _ in results):
            time.sleep(0.05)
        time.sleep(1.0)
    finally:
        done.set()
        for worker in workers:
            worker.join(timeout=60)
        if keystone.process is None or keystone.process.poll() is not None:
            keystone.start()

    assert {status for _, status, _ in results} <= {200, 503}
    assert all(status == 200 for t, status, _ in results if t < down)
    while_down = [(s, b) for t, s, b in results if stopped + 0.2 < t < restarting]
    assert while_down, "no request completed while Keystone was down"
    for status, body in while_down:
        assert_unavailable(status, body)
    after = [(t, s) for t, s, _ in results if t > up]
    first_ok = min(t for t, s in after if s == 200)
    assert first_ok - up < 30
    # A Keystone just started may be slow with its first answers; by the end
    # of the run every request is served again.
    last = max(t for t, _ in after)
    assert all(s == 200 for t, s in after if t > max(first_ok, last - 0.4))
    # The outage is logged when it starts and when it ends, not once per request.
    logged = [r.getMessage() for r in caplog.records if r.name == "herald"]
    assert 1 <= sum("cannot be reached" in line for line in logged) <= 2
    assert sum("answers again" in line for line in logged) >= 1
    assert len(logged) < 10


def test_a_revoked_service_token_is_replaced(
    keystone_herald: ServerFactory, keystone: Keystone, tokens: Callable[[str], str]
) -> None:
    served = keystone_herald(keystone_cache_seconds="0")
    url = served.url + "/v2/queues"
    assert httpx.get(url, headers=as_user(tokens("alice")), timeout=30).status_code == 200
    service_token = served.step.session.get_token()
    assert service_token
    keystone.revoke(service_token)
    # Keystone refuses the old service token with 401; Herald gets a new one and asks again.
    assert httpx.get(url, headers=as_user(tokens("bob")), timeout=30).status_code == 200
    assert served.step.session.get_token() not in (None, service_token)


def test_a_hanging_keystone_costs_its_timeout_and_blocks_nothing(
    keystone_herald: ServerFactory, keystone: Keystone, tokens: Callable[[str], str]
) -> None:
    url = keystone_herald(keystone_timeout="1").url + "/v2/queues"
    cached = tokens("alice")
    assert httpx.get(url, headers=as_user(cached), timeout=30).status_code == 200
    fresh = [tokens("bob") for _ in range(6)]  # more than the step's 4 threads

    def get(token: str) -> tuple[int, float]:
        started = time.monotonic()
        answer = httpx.get(url, headers=as_user(token), timeout=30)
        return answer.status_code, time.monotonic() - started

    keystone.pause()
    try:
        with concurrent.futures.ThreadPoolExecutor(len(fresh)) as pool:
            waiting = [pool.submit(get, token) for token in fresh]
            time.sleep(0.3)
            # Validations hang in their threads; the event loop serves on.
            status, took = get(cached)
            assert status == 200 and took < 0.5, took
            hung = [future.result() for future in waiting]
    finally:
        keystone.resume()
    assert {status for status, _ in hung} == {503}
    # Four at a time, each given up after the 1 s timeout: two rounds at most.
    assert max(took for _, took in hung) < 4
    time.sleep(0.5)
    assert httpx.get(url, headers=as_user(tokens("bob")), timeout=30).status_code == 200
