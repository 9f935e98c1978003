"""Health: whether the store answers, and a timed run of every kind of operation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from herald import errors
from herald.identity import Caller
from herald.service.access import action
from herald.service.claims import Claims
from herald.service.context import Context
from herald.service.messages import Messages
from herald.service.queues import Queues


class Health:
    """Liveness of the store and the admin's detailed report."""

    def __init__(
        self, context: Context, queues: Queues, messages: Messages, claims: Claims
    ) -> None:
        self._store = context.store
        self.policy = context.policy
        self._queues = queues
        self._messages = messages
        self._claims = claims

    @action("ping:get")
    async def ping(self, caller: Caller, *, probe_store: bool = True) -> None:
        """Return if the store answers (or without asking it); a 503 otherwise."""
        if probe_store and not await self._store.ping():
            raise errors.StoreUnavailable("The storage backend does not answer a ping.")

    @action("health:get")
    async def report(self, caller: Caller) -> dict[str, Any]:
        """Run each kind of operation once on a throwaway queue and time it."""
        reachable = await self._store.ping()
        report: dict[str, Any] = {"storage_reachable": reachable, "operation_status": {}}
        if not reachable:
            return report
        # The probe has the asker's roles, so that a policy reserving the
        # operations to admins does not fail the health check of one.
        probe = Caller(
            project=f"herald-health-{uuid.uuid4().hex}",
            client_id=uuid.uuid4().hex,
            roles=caller.roles,
            user_id=caller.user_id,
            authenticated_by=caller.authenticated_by,
        )
        queue = "health"
        body = msgspec.json.encode({"messages": [{"body": {"health": "check"}, "ttl": 600}] * 100})
        state: dict[str, Any] = {}

        async def post() -> None:
            state["ids"] = await self._messages.post(probe, queue, body)

        async def claim() -> str | None:
            made = await self._claims.create(probe, queue, 10, b'{"ttl": 60, "grace": 300}')
            state["claim"] = made
            return None if made is None else made.id

        async def delete_claimed() -> None:
            for message in state["claim"].messages:
                await self._messages.delete(probe, queue, message.id, state["claim"].id)

        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("create_queue", lambda: self._queues.create(probe, queue, b"")),
            ("post_messages", post),
            ("claim_messages", claim),
            ("list_messages", lambda: self._messages.listing(probe, queue, echo=True)),
            ("delete_messages", delete_claimed),
            ("delete_claim", lambda: self._claims.delete(probe, queue, state["claim"].id)),
            (
                "bulk_delete_messages",
                lambda: self._messages.delete_many(
                    probe, queue, ids=state["ids"][-20:], pop=None, claim_ids=None
                ),
            ),
            ("delete_queue", lambda: self._queues.delete(probe, queue)),
        ]
        status = report["operation_status"]
        for name, step in steps:
            started = time.perf_counter()
            try:
                ref = await step()
                succeeded = True
            except Exception:
                ref, succeeded = None, False
            status[name] = {
                "succeeded": succeeded,
                "seconds": round(time.perf_counter() - started, 6),
                "ref": ref if isinstance(ref, str) else None,
            }
        await self._store.delete_queue(probe.project, queue)
        return report
