"""The operations of the API and their rules; knows nothing of HTTP.

Each operation reads the clock once and passes that `now` to storage.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from herald import errors
from herald.model import (
    PROJECT_ID_MAX_LEN,
    QUEUE_NAME,
    ClaimBody,
    ClaimRequest,
    ClaimView,
    DeadLetter,
    Limits,
    MessageIn,
    MessageQuery,
    MessageRef,
    MessageStamp,
    MessageView,
    NewMessage,
    PostBody,
    PurgeBody,
    QueueEntry,
    QueuePage,
    StatsView,
    StoredMessage,
)
from herald.storage.base import DeleteOutcome, Store

PURGEABLE = ("messages", "subscriptions")
_NAME_FILTER = re.compile(r"^\^?[A-Za-z0-9_.-]{0,64}\$?$")
PATCH_OPS = ("add", "replace", "remove")


class Service:
    """Queues, messages and claims for many projects over one store."""

    def __init__(
        self, store: Store, limits: Limits, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock

    # Identification

    def check_queue_name(self, project: str, name: str) -> None:
        """Reject a queue name or project id the API does not allow."""
        if len(project) > PROJECT_ID_MAX_LEN or not QUEUE_NAME.match(name):
            raise errors.InvalidQueueName(
                "Queue names may not be more than 64 characters long and must be made "
                "up of letters, digits, underscores, dots and dashes; project ids may "
                f"not be more than {PROJECT_ID_MAX_LEN} characters long."
            )

    # Queues

    async def list_queues(
        self,
        project: str,
        *,
        marker: str | None,
        limit: int | None,
        name: str | None,
        with_count: bool,
        filters: dict[str, Any],
    ) -> QueuePage:
        limit = self._page_limit(limit, self.limits.max_queues_per_page)
        if name is not None:
            _check_name_filter(name)
        wanted = QueueFilter(name, filters)
        queues: list[QueueEntry] = []
        while len(queues) < limit:
            page = await self.store.list_queues(
                project, marker=marker, limit=limit, prefix=wanted.prefix
            )
            queues += [q for q in page if wanted.accepts(q)][: limit - len(queues)]
            if len(page) < limit:
                break
            marker = page[-1].name
        queues = [QueueEntry(q.name, self._with_defaults(q.metadata)) for q in queues]
        count = await self.store.count_queues(project) if with_count else None
        return QueuePage(queues=queues, count=count)

    async def create_queue(self, project: str, name: str, metadata: Any) -> bool:
        """Create a queue; False if it existed (its metadata is then left alone)."""
        metadata = self._check_metadata_document(metadata)
        return await self.store.create_queue(project, name, metadata)

    async def get_queue(self, project: str, name: str) -> dict[str, Any]:
        """The queue's metadata with the reserved keys' defaults filled in."""
        return self._with_defaults(await self.store.queue_metadata(project, name) or {})

    async def update_queue(self, project: str, name: str, patch: Any) -> dict[str, Any]:
        """Apply a JSON-patch document to the queue's metadata, all or nothing."""
        operations = _parse_patch(patch)

        def change(old: dict[str, Any]) -> dict[str, Any]:
            new = dict(old)
            for op, key, value in operations:
                if op == "add":
                    new[key] = value
                elif key in new:
                    if op == "replace":
                        new[key] = value
                    else:
                        del new[key]
                elif key not in _RESERVED_DEFAULTS:
                    raise errors.Conflict(f"The metadata key {key!r} does not exist.")
                elif op == "replace":
                    new[key] = value
            self._check_reserved(new)
            return new

        metadata = await self.store.update_queue_metadata(project, name, change)
        if metadata is None:
            raise errors.NotFound(f"Queue {name} does not exist for project {project}.")
        return self._with_defaults(metadata)

    async def delete_queue(self, project: str, name: str) -> None:
        await self.store.delete_queue(project, name)

    async def queue_stats(self, project: str, name: str) -> StatsView:
        now = self.clock()
        stats = await self.store.queue_stats(project, name, now)
        return StatsView(
            claimed=stats.claimed,
            free=stats.total - stats.claimed,
            total=stats.total,
            oldest=_stamp(stats.oldest, now),
            newest=_stamp(stats.newest, now),
        )

    async def purge_queue(self, project: str, name: str, body: PurgeBody | None) -> None:
        kinds = PURGEABLE if body is None else body.resource_types
        unknown = [k for k in kinds if k not in PURGEABLE]
        if unknown:
            raise errors.InvalidRequest(
                f"Unknown resource types {unknown}: purge takes any of {list(PURGEABLE)}."
            )
        if "messages" in kinds:
            await self.store.purge_messages(project, name)

    # Messages

    def post_size_limit(self, metadata: dict[str, Any] | None) -> int:
        """The byte cap on a message post to a queue with this metadata."""
        cap = self.limits.max_messages_post_size
        own = (metadata or {}).get("_max_messages_post_size")
        return min(own, cap) if own else cap

    async def post_messages(
        self, project: str, queue: str, client_id: str, body: PostBody, size: int
    ) -> list[str]:
        """Store the messages in order; `size` is the request body's length in bytes."""

        def prepare(metadata: dict[str, Any]) -> list[NewMessage]:
            cap = self.post_size_limit(metadata)
            if size > cap:
                raise errors.InvalidRequest(f"Message collection size is too large. Max size {cap}")
            if not body.messages:
                raise errors.InvalidRequest("No messages to enqueue.")
            limits = self.limits
            default_ttl = metadata.get("_default_message_ttl") or limits.default_message_ttl
            default_delay = metadata.get("_default_message_delay") or limits.default_message_delay
            messages = []
            for message in body.messages:
                ttl = default_ttl if message.ttl is msgspec.UNSET else message.ttl
                delay = default_delay if message.delay is msgspec.UNSET else message.delay
                self._check_message_ttl(ttl)
                self._check_delay(delay)
                messages.append(NewMessage(message.body, ttl, delay))
            return messages

        return await self.store.post_messages(project, queue, prepare, client_id, self.clock())

    async def list_messages(
        self,
        project: str,
        queue: str,
        client_id: str,
        *,
        marker: str | None = None,
        limit: int | None = None,
        echo: bool = False,
        include_claimed: bool = False,
        include_delayed: bool = False,
    ) -> list[MessageView]:
        query = MessageQuery(
            marker=marker,
            limit=self._page_limit(limit, self.limits.max_messages_per_page),
            echo=echo,
            client_id=client_id,
            include_claimed=include_claimed,
            include_delayed=include_delayed,
        )
        now = self.clock()
        return _views(await self.store.list_messages(project, queue, query, now), now)

    async def get_messages(self, project: str, queue: str, ids: list[str]) -> list[MessageView]:
        self._check_id_count(ids)
        now = self.clock()
        found = await self.store.get_messages(project, queue, ids, now)
        if not found:
            raise errors.NotFound(
                f"No messages with IDs: {', '.join(ids)} found in the queue {queue} "
                f"for project {project}."
            )
        return _views(found, now)

    async def get_message(self, project: str, queue: str, message_id: str) -> MessageView:
        now = self.clock()
        found = await self.store.get_messages(project, queue, [message_id], now)
        if not found:
            raise errors.NotFound(
                f"Message {message_id} does not exist in queue {queue} for project {project}."
            )
        return _view(found[0], now)

    async def delete_messages(
        self, project: str, queue: str, ids: list[str], claim_ids: list[str] | None
    ) -> None:
        self._check_id_count(ids)
        if self.limits.message_delete_with_claim_id and not claim_ids:
            raise errors.InvalidRequest(
                'The request should have both "ids" and "claim_ids" parameters.'
            )
        if not self.limits.message_delete_with_claim_id:
            claim_ids = None
        await self.store.delete_messages(project, queue, ids, claim_ids, self.clock())

    async def pop_messages(self, project: str, queue: str, count: int) -> list[MessageView]:
        top = self.limits.max_messages_per_claim_or_pop
        if not 1 <= count <= top:
            raise errors.InvalidRequest(
                f"Pop value must be at least 1 and may not be greater than {top}."
            )
        now = self.clock()
        return _views(await self.store.pop_messages(project, queue, count, now), now)

    async def delete_message(
        self, project: str, queue: str, message_id: str, claim_id: str | None
    ) -> None:
        outcome = await self.store.delete_message(
            project, queue, message_id, claim_id, self.clock()
        )
        if outcome is DeleteOutcome.CLAIMED:
            raise errors.MessageClaimed(
                "This message is claimed; it cannot be deleted without a valid claim ID."
            )
        if outcome is DeleteOutcome.CLAIMED_BY_OTHER:
            raise errors.MessageClaimed(
                "This message is claimed by another claim; it cannot be deleted with "
                "the claim ID given."
            )
        if outcome is DeleteOutcome.CLAIM_GONE:
            raise errors.ClaimGone("The specified claim does not exist or has expired.")
        if outcome is DeleteOutcome.NOT_CLAIMED:
            raise errors.MessageNotClaimed(
                "A claim was specified, but the message is not currently claimed."
            )

    # Claims

    async def create_claim(
        self, project: str, queue: str, limit: int | None, body: ClaimBody | None
    ) -> ClaimView | None:
        """Claim up to `limit` messages; None when there was nothing to claim."""
        limit = self._page_limit(limit, self.limits.max_messages_per_claim_or_pop)
        ttl, grace = self._claim_times(body or ClaimBody())

        # The rule of the plan the store used: a store may plan more than once.
        rules: list[DeadLetter | None] = [None]

        def plan(metadata: dict[str, Any]) -> ClaimRequest:
            rule = rules[0] = _dead_letter_rule(metadata)
            most = None if rule is None else rule.max_claim_count
            return ClaimRequest(limit=limit, ttl=ttl, grace=grace, max_claim_count=most)

        now = self.clock()
        claim = await self.store.create_claim(project, queue, plan, now)
        if claim is None:
            return None
        rule = rules[0]
        if claim.exhausted and rule is not None:
            ids = [m.id for m in claim.exhausted]
            await self.store.move_messages(project, queue, claim.id, ids, rule.queue, rule.ttl, now)
        if not claim.messages:
            await self.store.release_claim(project, queue, claim.id, now)
            return None
        return ClaimView(claim.id, claim.ttl, 0, _views(claim.messages, now))

    async def get_claim(self, project: str, queue: str, claim_id: str) -> ClaimView:
        now = self.clock()
        claim = await self.store.get_claim(project, queue, claim_id, now)
        if claim is None:
            raise _claim_not_found(claim_id, queue, project)
        return ClaimView(claim.id, claim.ttl, int(now - claim.updated), _views(claim.messages, now))

    async def update_claim(self, project: str, queue: str, claim_id: str, body: ClaimBody) -> None:
        ttl, grace = self._claim_times(body)
        renewed = await self.store.renew_claim(project, queue, claim_id, ttl, grace, self.clock())
        if not renewed:
            raise _claim_not_found(claim_id, queue, project)

    async def delete_claim(self, project: str, queue: str, claim_id: str) -> None:
        await self.store.release_claim(project, queue, claim_id, self.clock())

    # Housekeeping

    async def health(self) -> dict[str, Any]:
        """Run each kind of operation once on a throwaway queue and time it."""
        reachable = await self.store.ping()
        report: dict[str, Any] = {"storage_reachable": reachable, "operation_status": {}}
        if not reachable:
            return report
        project, queue, client = f"herald-health-{uuid.uuid4().hex}", "health", uuid.uuid4().hex
        status = report["operation_status"]
        body = msgspec.json.encode({"health": "check"})
        state: dict[str, Any] = {}

        async def post() -> None:
            batch = PostBody([MessageIn(msgspec.Raw(body), ttl=600)] * 100)
            state["ids"] = await self.post_messages(project, queue, client, batch, len(body))

        async def claim() -> str | None:
            made = await self.create_claim(project, queue, 10, ClaimBody(ttl=60, grace=300))
            state["claim"] = made
            return None if made is None else made.id

        async def delete_claimed() -> None:
            for message in state["claim"].messages:
                await self.delete_message(project, queue, message.id, state["claim"].id)

        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("create_queue", lambda: self.create_queue(project, queue, {})),
            ("post_messages", post),
            ("claim_messages", claim),
            ("list_messages", lambda: self.list_messages(project, queue, client, echo=True)),
            ("delete_messages", delete_claimed),
            ("delete_claim", lambda: self.delete_claim(project, queue, state["claim"].id)),
            (
                "bulk_delete_messages",
                lambda: self.delete_messages(project, queue, state["ids"][-20:], None),
            ),
            ("delete_queue", lambda: self.delete_queue(project, queue)),
        ]
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
        await self.store.delete_queue(project, queue)
        return report

    async def collect_garbage(self) -> int:
        return await self.store.collect_garbage(self.clock())

    # Rules

    def _page_limit(self, limit: int | None, top: int) -> int:
        if limit is None:
            return min(self.limits.default_page_size, top)
        if not 1 <= limit <= top:
            raise errors.InvalidRequest(
                f"Limit must be at least 1 and may not be greater than {top}."
            )
        return limit

    def _check_id_count(self, ids: list[str]) -> None:
        top = self.limits.max_messages_per_page
        if not 1 <= len(ids) <= top:
            raise errors.InvalidRequest(
                f"Limit must be at least 1 and may not be greater than {top}."
            )

    def _check_message_ttl(self, ttl: int) -> None:
        top = self.limits.max_message_ttl
        low = self.limits.min_message_ttl
        if not low <= ttl <= top:
            raise errors.InvalidRequest(
                f"The TTL for a message may not exceed {top} seconds, and must be at "
                f"least {low} seconds long."
            )

    def _check_delay(self, delay: int) -> None:
        top = self.limits.max_message_delay
        if not 0 <= delay <= top:
            raise errors.InvalidRequest(
                f"The delay of a message must be between 0 and {top} seconds."
            )

    def _claim_times(self, body: ClaimBody) -> tuple[int, int]:
        ttl = self.limits.default_claim_ttl if body.ttl is msgspec.UNSET else body.ttl
        grace = self.limits.default_claim_grace if body.grace is msgspec.UNSET else body.grace
        limits = self.limits
        if not limits.min_claim_ttl <= ttl <= limits.max_claim_ttl:
            raise errors.InvalidRequest(
                f"The TTL for a claim may not exceed {limits.max_claim_ttl} seconds, "
                f"and must be at least {limits.min_claim_ttl} seconds long."
            )
        if not limits.min_claim_grace <= grace <= limits.max_claim_grace:
            raise errors.InvalidRequest(
                f"The grace for a claim may not exceed {limits.max_claim_grace} "
                f"seconds, and must be at least {limits.min_claim_grace} seconds long."
            )
        return ttl, grace

    def _check_metadata_document(self, metadata: Any) -> dict[str, Any]:
        if not isinstance(metadata, dict):
            raise errors.InvalidBody("Queue metadata must be a JSON object.")
        self._check_reserved(metadata)
        return metadata

    def _check_reserved(self, metadata: dict[str, Any]) -> None:
        limits = self.limits
        _int_in(metadata, "_max_messages_post_size", 1, limits.max_messages_post_size)
        _int_in(metadata, "_default_message_ttl", limits.min_message_ttl, limits.max_message_ttl)
        _int_in(metadata, "_default_message_delay", 0, limits.max_message_delay)
        _int_in(
            metadata,
            "_dead_letter_queue_messages_ttl",
            limits.min_message_ttl,
            limits.max_message_ttl,
        )
        _int_in(metadata, "_max_claim_count", 1, 2**31 - 1)
        dlq = metadata.get("_dead_letter_queue")
        if dlq is not None and not (isinstance(dlq, str) and QUEUE_NAME.match(dlq)):
            raise errors.InvalidRequest(
                "_dead_letter_queue must be a valid queue name: 1 to 64 letters, digits, "
                "underscores, dots or dashes."
            )
        for key, kind, word in (
            ("_enable_encrypt_messages", bool, "a boolean"),
            ("_retry_policy", dict, "an object"),
            ("_flavor", str, "a string"),
        ):
            value = metadata.get(key)
            if value is not None and not isinstance(value, kind):
                raise errors.InvalidRequest(f"{key} must be {word}.")
        if metadata.get("_enable_encrypt_messages"):
            # Accepting the flag without encrypting would be a silent lie.
            raise errors.InvalidRequest("Message encryption is not supported by this server.")

    def _with_defaults(self, metadata: dict[str, Any]) -> dict[str, Any]:
        out = dict(metadata)
        defaults = {
            **_RESERVED_DEFAULTS,
            "_max_messages_post_size": self.limits.max_messages_post_size,
            "_default_message_ttl": self.limits.default_message_ttl,
            "_default_message_delay": self.limits.default_message_delay,
        }
        for key, value in defaults.items():
            if not out.get(key):
                out[key] = value
        return out


_RESERVED_DEFAULTS: dict[str, Any] = {
    "_max_messages_post_size": None,
    "_default_message_ttl": None,
    "_default_message_delay": None,
    "_dead_letter_queue": None,
    "_dead_letter_queue_messages_ttl": None,
    "_max_claim_count": None,
    "_enable_encrypt_messages": False,
}


def _int_in(metadata: dict[str, Any], key: str, low: int, high: int) -> None:
    value = metadata.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise errors.InvalidRequest(f"{key} must be an integer from {low} to {high}.")


class QueueFilter:
    """A queue listing's conditions: a name pattern and metadata values."""

    def __init__(self, name_pattern: str | None, filters: dict[str, Any]) -> None:
        self._pattern = re.compile(name_pattern) if name_pattern else None
        self._filters = filters
        # A pattern anchored at the start begins with a plain prefix the store can seek to.
        literal = re.match(r"\^([A-Za-z0-9_-]*)", name_pattern or "")
        self.prefix = literal.group(1) if literal else ""

    def accepts(self, queue: QueueEntry) -> bool:
        if self._pattern is not None and self._pattern.search(queue.name) is None:
            return False
        return all(queue.metadata.get(k) == v for k, v in self._filters.items())


def _check_name_filter(pattern: str) -> None:
    # A full regex would let one request pin a CPU with catastrophic
    # backtracking; without repetition or groups, matching stays linear.
    if not _NAME_FILTER.match(pattern):
        raise errors.InvalidRequest(
            "The name filter may hold letters, digits, '_', '-', '.' (any character), "
            "and '^' or '$' to anchor it."
        )


def _parse_patch(patch: Any) -> list[tuple[str, str, Any]]:
    """Check a JSON-patch document and reduce it to (op, key, value) steps."""
    if not isinstance(patch, list) or not patch:
        raise errors.InvalidBody("The patch document must be a non-empty JSON array.")
    steps = []
    for item in patch:
        if not isinstance(item, dict):
            raise errors.InvalidBody("Each patch operation must be a JSON object.")
        op = item.get("op")
        if op not in PATCH_OPS:
            raise errors.InvalidBody(f"The op of a patch must be one of {list(PATCH_OPS)}.")
        path = item.get("path")
        if not isinstance(path, str):
            raise errors.InvalidBody("Each patch operation needs a string path.")
        if op != "remove" and "value" not in item:
            raise errors.InvalidBody(f"The {op} operation needs a value.")
        segments = _pointer(path)
        if len(segments) != 2:
            raise errors.InvalidBody(f"The path {path!r} must be /metadata/<key>.")
        if op != "remove" and segments[0].lower() != "metadata":
            raise errors.InvalidBody(f"The path {path!r} must start with /metadata.")
        steps.append((op, segments[1], item.get("value")))
    return steps


def _pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise errors.InvalidBody(f"The path {path!r} is not a JSON pointer.")
    segments = path[1:].split("/")
    out = []
    for segment in segments:
        if not segment:
            raise errors.InvalidBody(f"The path {path!r} has an empty segment.")
        stripped = segment.replace("~0", "").replace("~1", "")
        if "~" in stripped:
            raise errors.InvalidBody(f"The path {path!r} has a bad ~ escape.")
        out.append(segment.replace("~1", "/").replace("~0", "~"))
    return out


def _dead_letter_rule(metadata: dict[str, Any]) -> DeadLetter | None:
    queue = metadata.get("_dead_letter_queue")
    most = metadata.get("_max_claim_count")
    if not queue or not most:
        return None
    return DeadLetter(queue, int(most), metadata.get("_dead_letter_queue_messages_ttl"))


def _claim_not_found(claim_id: str, queue: str, project: str) -> errors.NotFound:
    return errors.NotFound(
        f"Claim {claim_id} does not exist in queue {queue} for project {project}."
    )


def _view(message: StoredMessage, now: float) -> MessageView:
    return MessageView(
        message.id,
        message.ttl,
        int(now - message.created),
        message.body,
        message.claim_id,
        message.claim_count,
    )


def _views(messages: list[StoredMessage], now: float) -> list[MessageView]:
    return [_view(m, now) for m in messages]


def _stamp(ref: MessageRef | None, now: float) -> MessageStamp | None:
    if ref is None:
        return None
    created = datetime.fromtimestamp(ref.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return MessageStamp(ref.id, int(now - ref.created), created)
