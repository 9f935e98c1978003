"""PostgreSQL decides a delete again when its message changes hands mid-statement."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import msgspec

import backends
from herald.model import ClaimRequest, NewMessage
from herald.storage.base import DeleteOutcome
from herald.storage.postgres import PostgresStore

T0 = 1_800_000_000.0


async def test_a_delete_racing_a_release_is_decided_on_the_released_message() -> None:
    async with backends.postgres_store() as (store, uri):
        made = [NewMessage(msgspec.Raw(b'"m"'), 300, 0)]
        (message_id,) = await store.post_messages("p", "q", lambda _: made, "c", T0)
        claim = await store.create_claim("p", "q", _claim_one, T0)
        assert claim is not None
        other = await asyncpg.connect(uri)
        try:
            # Another process releases the message's claim, and has not
            # committed yet when the delete reads it as still claimed.
            release = other.transaction()
            await release.start()
            await other.execute(
                f"UPDATE {_messages(store)} SET claim_id = NULL, claim_expires = 0 WHERE id = $1",
                int(message_id),
            )
            deleting = asyncio.ensure_future(
                store.delete_message("p", "q", message_id, claim.id, T0)
            )
            await asyncio.sleep(0.3)
            assert not deleting.done()  # waiting for the row
            await release.commit()
            assert await asyncio.wait_for(deleting, 10) is DeleteOutcome.NOT_CLAIMED
        finally:
            await other.close()
        assert [m.id for m in await store.get_messages("p", "q", [message_id], T0)] == [message_id]


def _claim_one(metadata: dict[str, Any]) -> ClaimRequest:
    return ClaimRequest(limit=1, ttl=60, grace=60)


def _messages(store: PostgresStore) -> str:
    return f'"{store.options.schema}".messages'
