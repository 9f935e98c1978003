"""NUL bytes and broken UTF-8 in every query parameter and path id, on every backend.

Whatever a client puts in a URL, the answer is a 2xx or a 4xx with a JSON
body: never a 5xx from a store that cannot hold the text.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from herald.config import load_settings
from support import FakeClock, headers, running_app

HOSTILE = ["%00", "a%00b", "%FF", "%C3%28", "%ED%A0%80", "x%0A", "%7F"]
QUERIES = [
    ("GET", "/v2/queues", "marker"),
    ("GET", "/v2/queues", "name"),
    ("GET", "/v2/queues", "limit"),
    ("GET", "/v2/queues", "detailed"),
    ("GET", "/v2/queues", "with_count"),
    ("GET", "/v2/queues", "colour"),
    ("GET", "/v2/queues/q/messages", "marker"),
    ("GET", "/v2/queues/q/messages", "limit"),
    ("GET", "/v2/queues/q/messages", "echo"),
    ("GET", "/v2/queues/q/messages", "include_claimed"),
    ("GET", "/v2/queues/q/messages", "include_delayed"),
    ("GET", "/v2/queues/q/messages", "ids"),
    ("DELETE", "/v2/queues/q/messages", "ids"),
    ("DELETE", "/v2/queues/q/messages", "pop"),
    ("DELETE", "/v2/queues/q/messages?ids=999999", "claim_ids"),
    ("DELETE", "/v2/queues/q/messages/999999", "claim_id"),
    ("POST", "/v2/queues/q/claims", "limit"),
]
PATHS = [
    ("GET", "/v2/queues/q/messages/{}"),
    ("DELETE", "/v2/queues/q/messages/{}"),
    ("GET", "/v2/queues/q/claims/{}"),
    ("PATCH", "/v2/queues/q/claims/{}"),
    ("DELETE", "/v2/queues/q/claims/{}"),
    ("GET", "/v2/queues/{}/stats"),
]


@pytest.fixture
def served(store_uri: str, tmp_path: Path) -> Iterator[str]:
    settings = load_settings(environ={}, overrides={"store": store_uri})
    with running_app(settings, FakeClock()) as url:
        yield url


def assert_answered(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.url, response.text)
    if response.status_code >= 400:
        document = response.json()
        assert document["title"], document


def test_hostile_text_in_urls_never_reaches_a_store_as_a_500(served: str) -> None:
    with httpx.Client(base_url=served, headers=headers(), timeout=30) as api:
        posted = api.post("/v2/queues/q/messages", json={"messages": [{"body": 1}]})
        assert posted.status_code == 201
        assert api.post("/v2/queues/q/claims", json={"ttl": 60}).status_code == 201
        for method, path, name in QUERIES:
            joiner = "&" if "?" in path else "?"
            for value in HOSTILE:
                url = f"{path}{joiner}{name}={value}"
                body = b"{}" if method in ("POST", "PATCH") else None
                assert_answered(api.request(method, url, content=body))
        for method, template in PATHS:
            for value in HOSTILE:
                body = b'{"ttl": 60}' if method == "PATCH" else None
                assert_answered(api.request(method, template.format(value), content=body))
        # Nothing that was refused touched what was there.
        stats = api.get("/v2/queues/q/stats").json()["messages"]
        assert stats["total"] == 1
