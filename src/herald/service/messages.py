"""Messages: post, list, get, delete and pop."""

from __future__ import annotations

import math
from typing import Any

import msgspec

from herald import errors
from herald.identity import Caller
from herald.model import MessageIn, MessageQuery, MessageView, NewMessage, StoredMessage
from herald.service.access import action
from herald.service.context import Context
from herald.service.documents import decode_document
from herald.service.limits import (
    check_delay,
    check_id_count,
    check_message_ttl,
    check_wait,
    page_limit,
)
from herald.service.names import check_marker
from herald.service.policy import policy_of
from herald.service.views import view, views
from herald.storage.base import DeleteOutcome

_REFUSED_DELETES: dict[DeleteOutcome, tuple[type[errors.HeraldError], str]] = {
    DeleteOutcome.CLAIMED: (
        errors.MessageClaimed,
        "This message is claimed; it cannot be deleted without a valid claim ID.",
    ),
    DeleteOutcome.CLAIMED_BY_OTHER: (
        errors.MessageClaimed,
        "This message is claimed by another claim; it cannot be deleted with the claim ID given.",
    ),
    DeleteOutcome.CLAIM_GONE: (
        errors.ClaimGone,
        "The specified claim does not exist or has expired.",
    ),
    DeleteOutcome.NOT_CLAIMED: (
        errors.MessageNotClaimed,
        "A claim was specified, but the message is not currently claimed.",
    ),
}


class _PostDocument(msgspec.Struct):
    """A post body as sent: without `messages` it is an API error, not a body error."""

    messages: list[MessageIn] | msgspec.UnsetType = msgspec.UNSET


class Messages:
    """The message operations of one service."""

    def __init__(self, context: Context) -> None:
        self._store = context.store
        self.policy = context.policy
        self._limits = context.limits
        self._clock = context.clock
        self._cipher = context.cipher
        self._events = context.events
        self._waiters = context.long_polls()

    @action("messages:create")
    async def post(self, caller: Caller, queue: str, body: bytes) -> list[str]:
        """Store the messages of a post body in order; their ids."""
        posted = _post_document(body)
        size = len(body)
        limits = self._limits
        cipher = self._cipher
        project = caller.project

        def prepare(metadata: dict[str, Any]) -> list[NewMessage]:
            policy = policy_of(metadata)
            cap = policy.post_size_limit(limits)
            if size > cap:
                raise errors.InvalidRequest(f"Message collection size is too large. Max size {cap}")
            if not posted:
                raise errors.InvalidRequest("No messages to enqueue.")
            default_ttl = policy.default_message_ttl or limits.default_message_ttl
            default_delay = policy.default_message_delay or limits.default_message_delay
            encrypt = policy.enable_encrypt_messages
            messages = []
            for message in posted:
                ttl = default_ttl if message.ttl is msgspec.UNSET else message.ttl
                delay = default_delay if message.delay is msgspec.UNSET else message.delay
                check_message_ttl(limits, ttl)
                check_delay(limits, delay)
                sealed = cipher.seal(project, message.body) if encrypt else message.body
                messages.append(NewMessage(sealed, ttl, delay))
            return messages

        ids = await self._store.post_messages(
            project, queue, prepare, caller.client_id, self._clock()
        )
        self._waiters.posted(project, queue)
        self._events.messages_posted(len(ids))
        self._events.queue_used(project, queue)
        return ids

    @action("messages:get_all")
    async def listing(
        self,
        caller: Caller,
        queue: str,
        *,
        marker: str | None = None,
        limit: int | None = None,
        echo: bool = False,
        include_claimed: bool = False,
        include_delayed: bool = False,
        wait: float = 0.0,
    ) -> list[MessageView]:
        """A page of messages after `marker`; when there are none, wait up to `wait`
        seconds for some before answering the empty page."""
        wait = check_wait(self._limits, wait)
        query = MessageQuery(
            marker=check_marker(marker),
            limit=page_limit(self._limits, limit, self._limits.max_messages_per_page),
            echo=echo,
            client_id=caller.client_id,
            include_claimed=include_claimed,
            include_delayed=include_delayed,
        )
        if not wait:
            return await self._page(caller, queue, query)

        async def attempt() -> list[MessageView] | None:
            return await self._page(caller, queue, query) or None

        found = await self._waiters.wait(caller.project, queue, attempt, wait, claims=False)
        return found or []

    async def _page(self, caller: Caller, queue: str, query: MessageQuery) -> list[MessageView]:
        now = self._clock()
        found = await self._store.list_messages(caller.project, queue, query, now)
        return views(self._cipher.open_all(caller.project, queue, found), now)

    @action("messages:get_all")
    async def get_many(self, caller: Caller, queue: str, ids: list[str]) -> list[MessageView]:
        check_id_count(self._limits, ids)
        now = self._clock()
        found = await self._store.get_messages(caller.project, queue, ids, now)
        if not found:
            raise errors.NotFound(
                f"No messages with IDs: {', '.join(ids)} found in the queue {queue} "
                f"for project {caller.project}."
            )
        return views(self._cipher.open_all(caller.project, queue, found), now)

    @action("messages:get")
    async def get(self, caller: Caller, queue: str, message_id: str) -> MessageView:
        now = self._clock()
        found = await self._store.get_messages(caller.project, queue, [message_id], now)
        if not found:
            raise errors.NotFound(
                f"Message {message_id} does not exist in queue {queue} "
                f"for project {caller.project}."
            )
        return view(self._cipher.open(caller.project, queue, found[0]), now)

    @action("messages:delete_all")
    async def delete_many(
        self,
        caller: Caller,
        queue: str,
        *,
        ids: list[str] | None,
        pop: int | None,
        claim_ids: list[str] | None,
    ) -> list[MessageView] | None:
        """Delete the messages named by `ids`, or pop `pop` of them (and return those)."""
        if ids is not None and pop is not None:
            raise errors.InvalidRequest("ids and pop may not be specified at the same time.")
        if pop is not None:
            return await self._pop(caller, queue, pop)
        if ids is None:
            raise errors.InvalidRequest("Either ids or pop must be specified.")
        check_id_count(self._limits, ids)
        if self._limits.message_delete_with_claim_id and not claim_ids:
            raise errors.InvalidRequest(
                'The request should have both "ids" and "claim_ids" parameters.'
            )
        if not self._limits.message_delete_with_claim_id:
            claim_ids = None
        await self._store.delete_messages(caller.project, queue, ids, claim_ids, self._clock())
        return None

    async def _pop(self, caller: Caller, queue: str, count: int) -> list[MessageView]:
        top = self._limits.max_messages_per_claim_or_pop
        if not 1 <= count <= top:
            raise errors.InvalidRequest(
                f"Pop value must be at least 1 and may not be greater than {top}."
            )
        now = self._clock()
        popped = await self._store.pop_messages(caller.project, queue, count, now)
        try:
            opened = views(self._cipher.open_all(caller.project, queue, popped), now)
        except errors.EncryptionFailure:
            await self._put_back(caller, queue, popped, now)
            raise
        self._events.messages_deleted(len(popped))
        return opened

    async def _put_back(
        self, caller: Caller, queue: str, messages: list[StoredMessage], now: float
    ) -> None:
        """Store popped messages again as they were stored, at the tail of the queue: a
        pop that could not decrypt them answers an error, and must not lose them too."""

        def prepare(metadata: dict[str, Any]) -> list[NewMessage]:
            # What is left of each ttl; the store wants at least a second of it.
            return [
                NewMessage(m.body, max(1, math.ceil(m.created + m.ttl - now)), 0) for m in messages
            ]

        await self._store.post_messages(caller.project, queue, prepare, caller.client_id, now)

    @action("messages:delete")
    async def delete(
        self, caller: Caller, queue: str, message_id: str, claim_id: str | None
    ) -> None:
        outcome = await self._store.delete_message(
            caller.project, queue, message_id, claim_id, self._clock()
        )
        refusal = _REFUSED_DELETES.get(outcome)
        if refusal is not None:
            kind, description = refusal
            raise kind(description)
        if outcome is DeleteOutcome.DELETED:
            self._events.messages_deleted(1)


def _post_document(body: bytes) -> list[MessageIn]:
    """The messages of a post body; the v1 shape (a bare array) has none."""
    if not body.strip():
        raise errors.InvalidBody('The request body is empty: expected {"messages": [...]}.')
    try:
        document: _PostDocument | None = decode_document(body, _PostDocument)
    except errors.InvalidBody:
        if body.lstrip()[:1] != b"[":
            raise
        # A bare JSON array (the v1 shape) is well-formed but has no `messages`.
        decode_document(body, list[msgspec.Raw])
        document = None
    if document is None or document.messages is msgspec.UNSET:
        raise errors.InvalidRequest(
            'No messages were found in the request body: expected {"messages": [...]}.'
        )
    return document.messages
