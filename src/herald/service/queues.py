"""Queues: create, read, patch, delete, list with filters, stats and purge."""

from __future__ import annotations

import re
from typing import Any

from herald import errors
from herald.identity import Caller
from herald.model import PurgeBody, QueueEntry, QueuePage, StatsView
from herald.service.access import action
from herald.service.context import Context
from herald.service.documents import decode_document
from herald.service.limits import check_document_size, page_limit
from herald.service.names import check_marker, check_name_filter
from herald.service.patch import apply_patch, parse_patch
from herald.service.policy import check_reserved, with_defaults
from herald.service.views import stamp

PURGEABLE = ("messages", "subscriptions")
SCAN_PAGE = 500


class QueueFilter:
    """A queue listing's conditions: a name pattern and metadata values."""

    def __init__(self, name_pattern: str | None, filters: dict[str, Any]) -> None:
        self._pattern = re.compile(name_pattern) if name_pattern else None
        self._filters = filters
        # A pattern anchored at the start begins with a plain prefix the store can seek to.
        literal = re.match(r"\^([A-Za-z0-9_-]*)", name_pattern or "")
        self.prefix = literal.group(1) if literal else ""
        # Whether any condition is left once the store has sought to the prefix.
        self.filters_in_service = bool(filters) or (
            self._pattern is not None and name_pattern != f"^{self.prefix}"
        )

    def accepts(self, queue: QueueEntry) -> bool:
        if self._pattern is not None and self._pattern.search(queue.name) is None:
            return False
        return all(queue.metadata.get(k) == v for k, v in self._filters.items())


class Queues:
    """The queue operations of one service."""

    def __init__(self, context: Context) -> None:
        self._store = context.store
        self.policy = context.policy
        self._limits = context.limits
        self._clock = context.clock
        self._can_encrypt = context.cipher.can_seal

    @action("queues:get_all")
    async def listing(
        self,
        caller: Caller,
        *,
        marker: str | None,
        limit: int | None,
        name: str | None,
        with_count: bool,
        filters: dict[str, Any],
    ) -> QueuePage:
        limit = page_limit(self._limits, limit, self._limits.max_queues_per_page)
        check_marker(marker)
        if name is not None:
            check_name_filter(name)
        wanted = QueueFilter(name, filters)
        # A filter the store cannot apply may pass over many queues for each it
        # keeps: big pages cost one round trip per SCAN_PAGE queues, not per `limit`.
        size = max(limit, SCAN_PAGE) if wanted.filters_in_service else limit
        found: list[QueueEntry] = []
        while len(found) < limit:
            page = await self._store.list_queues(
                caller.project, marker=marker, limit=size, prefix=wanted.prefix
            )
            found += [q for q in page if wanted.accepts(q)][: limit - len(found)]
            if len(page) < size:
                break
            marker = page[-1].name
        queues = [QueueEntry(q.name, with_defaults(q.metadata, self._limits)) for q in found]
        count = await self._store.count_queues(caller.project) if with_count else None
        return QueuePage(queues=queues, count=count)

    @action("queues:create")
    async def create(self, caller: Caller, name: str, body: bytes) -> bool:
        """Create a queue; False if it existed (its metadata is then left alone)."""
        check_document_size(self._limits, body, "Queue metadata")
        metadata = decode_document(body, object) if body else {}
        if not isinstance(metadata, dict):
            raise errors.InvalidBody("Queue metadata must be a JSON object.")
        check_reserved(metadata, self._limits, can_encrypt=self._can_encrypt)
        return await self._store.create_queue(caller.project, name, metadata)

    @action("queues:get")
    async def get(self, caller: Caller, name: str) -> dict[str, Any]:
        """The queue's metadata with the reserved keys' defaults filled in."""
        metadata = await self._store.queue_metadata(caller.project, name)
        return with_defaults(metadata or {}, self._limits)

    @action("queues:update")
    async def update(self, caller: Caller, name: str, body: bytes) -> dict[str, Any]:
        """Apply a JSON-patch document to the queue's metadata, all or nothing."""
        check_document_size(self._limits, body, "Queue metadata")
        if not body.strip():
            raise errors.InvalidBody("The PATCH body is empty.")
        steps = parse_patch(decode_document(body, object))

        def change(old: dict[str, Any]) -> dict[str, Any]:
            new = apply_patch(steps, old)
            # A queue encrypted before its server lost the key may still change other keys.
            encrypted = bool(old.get("_enable_encrypt_messages"))
            check_reserved(new, self._limits, can_encrypt=self._can_encrypt or encrypted)
            return new

        metadata = await self._store.update_queue_metadata(caller.project, name, change)
        if metadata is None:
            raise errors.NotFound(f"Queue {name} does not exist for project {caller.project}.")
        return with_defaults(metadata, self._limits)

    @action("queues:delete")
    async def delete(self, caller: Caller, name: str) -> None:
        await self._store.delete_queue(caller.project, name)

    @action("queues:stats")
    async def stats(self, caller: Caller, name: str) -> StatsView:
        now = self._clock()
        stats = await self._store.queue_stats(caller.project, name, now)
        return StatsView(
            claimed=stats.claimed,
            free=stats.total - stats.claimed,
            total=stats.total,
            oldest=stamp(stats.oldest, now),
            newest=stamp(stats.newest, now),
        )

    @action("queues:purge")
    async def purge(self, caller: Caller, name: str, body: bytes) -> None:
        check_document_size(self._limits, body, "Purge body")
        kinds = decode_document(body, PurgeBody).resource_types if body.strip() else PURGEABLE
        unknown = [k for k in kinds if k not in PURGEABLE]
        if unknown:
            raise errors.InvalidRequest(
                f"Unknown resource types {unknown}: purge takes any of {list(PURGEABLE)}."
            )
        if "messages" in kinds:
            await self._store.purge_messages(caller.project, name)
        if "subscriptions" in kinds:
            await self._store.purge_subscriptions(caller.project, name)
