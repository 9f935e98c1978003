"""PostgreSQL text cannot hold NUL: client text holding one names nothing, and
creating anything by it is the client's error, never a server error."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

import backends
from herald.config import load_settings
from herald.errors import InvalidRequest
from herald.model import ClaimRequest, NewMessage
from support import headers, running_app

T0 = 1_800_000_000.0
P = "p"


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    yield from backends.postgres_store_uri(f"herald_test_{uuid.uuid4().hex[:12]}")


async def test_nothing_is_created_by_a_name_holding_nul() -> None:
    async with backends.postgres_store() as (store, _):
        with pytest.raises(InvalidRequest):
            await store.create_queue(P, "a\x00b", {})
        with pytest.raises(InvalidRequest):
            await store.create_queue("p\x00", "q", {})
        for queue, client in (("a\x00b", "client"), ("q", "client\x00")):
            with pytest.raises(InvalidRequest):
                await store.post_messages(P, queue, _one_message, client, T0)
        assert await store.count_queues(P) == 0


async def test_held_messages_move_to_no_queue_named_with_nul() -> None:
    async with backends.postgres_store() as (store, _):
        ids = await store.post_messages(P, "q", _one_message, "client", T0)
        made = await store.create_claim(P, "q", _claim_all, T0)
        assert made is not None
        with pytest.raises(InvalidRequest):
            await store.move_messages(P, "q", made.id, ids, "dead\x00", None, T0)
        assert await store.move_messages(P, "q\x00", made.id, ids, "dead", None, T0) == 0
        held = await store.get_claim(P, "q", made.id, T0)
        assert held is not None and [m.id for m in held.messages] == ids


def test_a_queue_marker_holding_nul_is_no_server_error(postgres_uri: str) -> None:
    settings = load_settings(environ={}, overrides={"store": postgres_uri})
    with running_app(settings) as url, httpx.Client(base_url=url, headers=headers()) as api:
        assert api.put("/v2/queues/a").status_code == 201
        for marker in ("\x00", "a\x00"):
            response = api.get("/v2/queues", params={"marker": marker})
            assert response.status_code < 500, response.text


def _one_message(metadata: dict[str, Any]) -> list[NewMessage]:
    return [NewMessage(msgspec.Raw(b'"m"'), 300, 0)]


def _claim_all(metadata: dict[str, Any]) -> ClaimRequest:
    return ClaimRequest(limit=10, ttl=60, grace=60)
