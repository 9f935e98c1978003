"""Claims: take, read, renew and release; and moving messages claimed too often."""

from __future__ import annotations

import logging
from typing import Any

from herald import errors
from herald.identity import Caller
from herald.model import ClaimBody, ClaimRequest, ClaimView, DeadLetter
from herald.service.access import action
from herald.service.context import Context
from herald.service.documents import decode_document
from herald.service.limits import check_document_size, check_wait, claim_times, page_limit
from herald.service.policy import policy_of
from herald.service.views import views
from herald.storage.base import Store

log = logging.getLogger("herald")


class Claims:
    """The claim operations of one service."""

    def __init__(self, context: Context) -> None:
        self._store = context.store
        self.policy = context.policy
        self._limits = context.limits
        self._clock = context.clock
        self._cipher = context.cipher
        self._events = context.events
        self._waiters = context.long_polls()

    @action("claims:create")
    async def create(
        self,
        caller: Caller,
        queue: str,
        limit: int | None,
        body: bytes,
        *,
        wait: float = 0.0,
    ) -> ClaimView | None:
        """Claim up to `limit` messages; when there are none, wait up to `wait` seconds
        for some, in turn with other waiting claimers. None when nothing was claimed."""
        check_document_size(self._limits, body, "Claim body")
        limit = page_limit(self._limits, limit, self._limits.max_messages_per_claim_or_pop)
        document = decode_document(body, ClaimBody) if body.strip() else ClaimBody()
        ttl, grace = claim_times(self._limits, document)
        wait = check_wait(self._limits, wait)
        if not wait:
            return await self._claim(caller, queue, limit, ttl, grace)

        async def attempt() -> ClaimView | None:
            return await self._claim(caller, queue, limit, ttl, grace)

        return await self._waiters.wait(caller.project, queue, attempt, wait, claims=True)

    async def _claim(
        self, caller: Caller, queue: str, limit: int, ttl: int, grace: int
    ) -> ClaimView | None:
        # The rule of the plan the store used last: a store may plan more than once.
        rules: list[DeadLetter | None] = [None]

        def plan(metadata: dict[str, Any]) -> ClaimRequest:
            rule = rules[0] = policy_of(metadata).dead_letter
            most = None if rule is None else rule.max_claim_count
            return ClaimRequest(limit=limit, ttl=ttl, grace=grace, max_claim_count=most)

        now = self._clock()
        claim = await self._store.create_claim(caller.project, queue, plan, now)
        if claim is None:
            return None
        rule = rules[0]
        if claim.exhausted and rule is not None:
            ids = [m.id for m in claim.exhausted]
            moved = await dead_letter(self._store, caller.project, queue, claim.id, ids, rule, now)
            self._events.messages_dead_lettered(moved)
            if moved:
                self._events.queue_used(caller.project, rule.queue)
        if not claim.messages:
            await self._store.release_claim(caller.project, queue, claim.id, now)
            return None
        try:
            messages = self._cipher.open_all(caller.project, queue, claim.messages)
        except errors.EncryptionFailure:
            # Nobody got these messages: they are claimable again at once, by a server
            # that has the key perhaps, rather than after the claim's ttl.
            await self._store.release_claim(caller.project, queue, claim.id, now)
            raise
        self._events.claims_created()
        self._events.messages_claimed(len(messages))
        self._events.queue_used(caller.project, queue)
        return ClaimView(claim.id, claim.ttl, 0, views(messages, now))

    @action("claims:get")
    async def get(self, caller: Caller, queue: str, claim_id: str) -> ClaimView:
        now = self._clock()
        claim = await self._store.get_claim(caller.project, queue, claim_id, now)
        if claim is None:
            raise _claim_not_found(claim_id, queue, caller.project)
        age = int(now - claim.updated)
        messages = self._cipher.open_all(caller.project, queue, claim.messages)
        return ClaimView(claim.id, claim.ttl, age, views(messages, now))

    @action("claims:update")
    async def update(self, caller: Caller, queue: str, claim_id: str, body: bytes) -> None:
        check_document_size(self._limits, body, "Claim body")
        if not body.strip():
            raise errors.InvalidBody('The PATCH body is empty: expected {"ttl", "grace"}.')
        ttl, grace = claim_times(self._limits, decode_document(body, ClaimBody))
        renewed = await self._store.renew_claim(
            caller.project, queue, claim_id, ttl, grace, self._clock()
        )
        if not renewed:
            raise _claim_not_found(claim_id, queue, caller.project)
        self._events.claims_renewed()

    @action("claims:delete")
    async def delete(self, caller: Caller, queue: str, claim_id: str) -> None:
        await self._store.release_claim(caller.project, queue, claim_id, self._clock())
        self._events.claims_released()


async def dead_letter(
    store: Store,
    project: str,
    queue: str,
    claim_id: str,
    ids: list[str],
    rule: DeadLetter,
    now: float,
) -> int:
    """Move messages claimed too often to the dead-letter queue; how many moved.

    The claim holds them until they are moved, so if this never happens (the
    process dies) the claim runs out and the next claim sets them aside again:
    a message may reach the dead-letter queue late, never get lost. A move that
    fails is logged, not raised: the caller's claim of the other messages
    stands, and raising would strand them under a claim nobody knows of."""
    try:
        return await store.move_messages(project, queue, claim_id, ids, rule.queue, rule.ttl, now)
    except errors.HeraldError as exc:
        log.warning(
            "moving %d messages of queue %s to %s failed; the next claim after this one "
            "ends tries again: %s",
            len(ids),
            queue,
            rule.queue,
            exc.description,
        )
        return 0


def _claim_not_found(claim_id: str, queue: str, project: str) -> errors.NotFound:
    return errors.NotFound(
        f"Claim {claim_id} does not exist in queue {queue} for project {project}."
    )
