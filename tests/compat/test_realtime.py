"""TTL, claim expiry, grace and delay on the real clock, with one-second minima."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support import headers, make_settings, running_app


@pytest.fixture
def api(tmp_path: Path) -> Iterator[httpx.Client]:
    settings = make_settings(
        tmp_path, min_message_ttl=1, min_claim_ttl=1, min_claim_grace=1, gc_interval=0.2
    )
    with running_app(settings) as url, httpx.Client(base_url=url, headers=headers()) as client:
        yield client


def listed(api: httpx.Client, **params: str) -> list[object]:
    response = api.get("/v2/queues/q/messages", params={"echo": "true", **params})
    return [m["body"] for m in response.json()["messages"]]


def test_messages_expire_and_are_collected(api: httpx.Client) -> None:
    api.post("/v2/queues/q/messages", json={"messages": [{"body": "brief", "ttl": 1}]})
    assert listed(api) == ["brief"]
    time.sleep(1.5)
    assert listed(api) == []
    assert api.get("/v2/queues/q/stats").json()["messages"]["total"] == 0


def test_expired_claims_release_their_messages(api: httpx.Client) -> None:
    api.post("/v2/queues/q/messages", json={"messages": [{"body": "job", "ttl": 60}]})
    first = api.post("/v2/queues/q/claims", json={"ttl": 1, "grace": 1})
    assert first.status_code == 201
    assert api.post("/v2/queues/q/claims", json={"ttl": 1, "grace": 1}).status_code == 204
    time.sleep(1.3)
    assert api.get(first.headers["location"]).status_code == 404
    again = api.post("/v2/queues/q/claims", json={"ttl": 1, "grace": 1})
    assert again.status_code == 201 and again.json()["messages"][0]["body"] == "job"


def test_grace_keeps_a_claimed_message_alive(api: httpx.Client) -> None:
    api.post("/v2/queues/q/messages", json={"messages": [{"body": "slow", "ttl": 1}]})
    claim = api.post("/v2/queues/q/claims", json={"ttl": 2, "grace": 1})
    assert claim.json()["messages"][0]["ttl"] == 3
    time.sleep(2.4)
    # The claim is over but grace keeps the message for one more second.
    assert listed(api) == ["slow"]
    time.sleep(1.0)
    assert listed(api) == []


def test_delayed_messages_wait_their_turn(api: httpx.Client) -> None:
    api.post("/v2/queues/q/messages", json={"messages": [{"body": "later", "delay": 1}]})
    assert listed(api) == []
    assert listed(api, include_delayed="true") == ["later"]
    assert api.post("/v2/queues/q/claims", json={}).status_code == 204
    time.sleep(1.2)
    assert listed(api) == ["later"]
    assert api.post("/v2/queues/q/claims", json={}).status_code == 201
