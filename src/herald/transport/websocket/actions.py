"""Every action a frame may name: the shape of its body, the HTTP request it stands for,
and the one service call it makes.

The HTTP method and path an action stands for are what the identity step
judges a pre-signed frame by, so a signature grants a frame exactly what it
would grant the same request over HTTP.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NamedTuple, Protocol, TypeVar

import msgspec

from herald import errors
from herald.identity import Caller
from herald.model import MessageView
from herald.service import Service, unless_gone
from herald.transport.websocket.frames import Encoding, as_json
from herald.transport.websocket.shapes import (
    ClaimCreated,
    ClaimOut,
    MessageList,
    MessageOne,
    Subscribed,
    messages_out,
    stats_out,
)

T = TypeVar("T")


class Answer(NamedTuple):
    status: int
    document: Any


class Subscriptions(Protocol):
    """The push subscriptions of one connection, each operation checked by the service."""

    async def subscribe(
        self, caller: Caller, queue: str, ttl: int | None, encoding: Encoding
    ) -> str: ...

    async def listing(self, caller: Caller, queue: str) -> list[dict[str, Any]]: ...

    async def get(self, caller: Caller, queue: str, subscription_id: str) -> dict[str, Any]: ...

    async def update(
        self, caller: Caller, queue: str, subscription_id: str, ttl: int | None
    ) -> None: ...

    async def cancel(self, caller: Caller, queue: str, subscription_id: str) -> None: ...


class Call(NamedTuple):
    """What an action runs with: the service, who asks, the frame's encoding, the connection,
    and what returns once the client has gone (a long poll ends with it)."""

    service: Service
    caller: Caller
    encoding: Encoding
    subscriptions: Subscriptions
    gone: Callable[[], Awaitable[None]]

    async def waiting(self, operation: Coroutine[Any, Any, T], wait: float) -> T:
        """The operation's result; one that waits is abandoned if the client leaves first."""
        return await (unless_gone(operation, self.gone()) if wait else operation)

    def json(self, raw: msgspec.Raw) -> bytes:
        return as_json(raw, self.encoding)


class Action(NamedTuple):
    name: str
    method: str
    path: Callable[[Any], str]
    body: type[msgspec.Struct]
    run: Callable[[Call, Any], Awaitable[Answer]]
    # Actions on the server itself name no queue and check none.
    queue: bool = True


ACTIONS: dict[str, Action] = {}


def action(
    name: str, method: str, path: str, body: type[msgspec.Struct], *, queue: bool = True
) -> Callable[[Callable[[Call, Any], Awaitable[Answer]]], Callable[[Call, Any], Awaitable[Answer]]]:
    """Register an action; `path` is a template over the body's fields."""

    def register(
        run: Callable[[Call, Any], Awaitable[Answer]],
    ) -> Callable[[Call, Any], Awaitable[Answer]]:
        ACTIONS[name] = Action(
            name, method, lambda b: path.format_map(_Fields(b)), body, run, queue
        )
        return run

    return register


class _Fields(dict[str, Any]):
    """A body's fields by name, for a path template."""

    def __init__(self, body: msgspec.Struct) -> None:
        super().__init__((f, getattr(body, f)) for f in body.__struct_fields__)


UNSET: Any = msgspec.UNSET


# Bodies


class Nothing(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    pass


class OnQueue(msgspec.Struct, frozen=True):
    queue_name: str


class QueueList(msgspec.Struct, frozen=True):
    marker: str | None = None
    limit: int | None = None
    detailed: bool = False
    name: str | None = None
    with_count: bool = False


class QueueCreate(OnQueue, frozen=True):
    metadata: msgspec.Raw = UNSET


class QueueUpdate(OnQueue, frozen=True):
    # A JSON-patch document: a list of operations.
    metadata: msgspec.Raw


class QueuePurge(OnQueue, frozen=True):
    resource_types: msgspec.Raw = UNSET


class MessageListing(OnQueue, frozen=True):
    marker: str | None = None
    limit: int | None = None
    echo: bool = False
    include_claimed: bool = False
    include_delayed: bool = False
    wait: float = 0.0


class OneMessage(OnQueue, frozen=True):
    message_id: str


class ManyMessages(OnQueue, frozen=True):
    message_ids: list[str]


class MessagePost(OnQueue, frozen=True):
    messages: msgspec.Raw


class MessageDelete(OnQueue, frozen=True):
    message_id: str
    claim_id: str | None = None


class MessageDeleteMany(OnQueue, frozen=True):
    message_ids: list[str] | None = None
    pop: int | None = None
    claim_ids: list[str] | None = None


class ClaimCreate(OnQueue, frozen=True):
    limit: int | None = None
    ttl: msgspec.Raw = UNSET
    grace: msgspec.Raw = UNSET
    wait: float = 0.0


class OneClaim(OnQueue, frozen=True):
    claim_id: str


class ClaimUpdate(OnQueue, frozen=True):
    claim_id: str
    ttl: msgspec.Raw = UNSET
    grace: msgspec.Raw = UNSET


class SubscriptionCreate(OnQueue, frozen=True):
    subscriber: str | None = None
    ttl: int | None = None
    options: dict[str, Any] = {}


class OneSubscription(OnQueue, frozen=True):
    subscription_id: str


class SubscriptionUpdate(OnQueue, frozen=True):
    subscription_id: str
    ttl: int | None = None


# Queues


@action("queue_list", "GET", "/v2/queues", QueueList, queue=False)
async def queue_list(call: Call, body: QueueList) -> Answer:
    page = await call.service.queues.listing(
        call.caller,
        marker=body.marker,
        limit=body.limit,
        name=body.name,
        with_count=body.with_count,
        filters={},
    )
    queues: list[dict[str, Any]] = []
    for entry in page.queues:
        item: dict[str, Any] = {"name": entry.name}
        if body.detailed:
            item["metadata"] = entry.metadata
        queues.append(item)
    document: dict[str, Any] = {"queues": queues}
    if page.count is not None:
        document["count"] = page.count
    return Answer(200, document)


@action("queue_create", "PUT", "/v2/queues/{queue_name}", QueueCreate)
async def queue_create(call: Call, body: QueueCreate) -> Answer:
    metadata = b"" if body.metadata is UNSET else call.json(body.metadata)
    created = await call.service.queues.create(call.caller, body.queue_name, metadata)
    if created:
        return Answer(201, f"Queue {body.queue_name} created.")
    return Answer(204, f"Queue {body.queue_name} exists.")


@action("queue_get", "GET", "/v2/queues/{queue_name}", OnQueue)
async def queue_get(call: Call, body: OnQueue) -> Answer:
    return Answer(200, await call.service.queues.get(call.caller, body.queue_name))


@action("queue_update", "PATCH", "/v2/queues/{queue_name}", QueueUpdate)
async def queue_update(call: Call, body: QueueUpdate) -> Answer:
    patch = call.json(body.metadata)
    return Answer(200, await call.service.queues.update(call.caller, body.queue_name, patch))


@action("queue_delete", "DELETE", "/v2/queues/{queue_name}", OnQueue)
async def queue_delete(call: Call, body: OnQueue) -> Answer:
    await call.service.queues.delete(call.caller, body.queue_name)
    return Answer(204, f"Queue {body.queue_name} removed.")


@action("queue_get_stats", "GET", "/v2/queues/{queue_name}/stats", OnQueue)
async def queue_get_stats(call: Call, body: OnQueue) -> Answer:
    # 200 for a queue that does not exist, as over HTTP (Zaqar's WebSocket says 404).
    stats = await call.service.queues.stats(call.caller, body.queue_name)
    return Answer(200, stats_out(stats))


@action("queue_purge", "POST", "/v2/queues/{queue_name}/purge", QueuePurge)
async def queue_purge(call: Call, body: QueuePurge) -> Answer:
    document = b""
    if body.resource_types is not UNSET:
        document = b'{"resource_types":' + call.json(body.resource_types) + b"}"
    await call.service.queues.purge(call.caller, body.queue_name, document)
    return Answer(204, {})


# Messages


@action("message_list", "GET", "/v2/queues/{queue_name}/messages", MessageListing)
async def message_list(call: Call, body: MessageListing) -> Answer:
    listing = call.service.messages.listing(
        call.caller,
        body.queue_name,
        marker=body.marker,
        limit=body.limit,
        echo=body.echo,
        include_claimed=body.include_claimed,
        include_delayed=body.include_delayed,
        wait=body.wait,
    )
    messages = await call.waiting(listing, body.wait)
    return Answer(200, MessageList(messages_out(messages)))


@action("message_get", "GET", "/v2/queues/{queue_name}/messages/{message_id}", OneMessage)
async def message_get(call: Call, body: OneMessage) -> Answer:
    message = await call.service.messages.get(call.caller, body.queue_name, body.message_id)
    return Answer(200, MessageOne(messages_out([message])[0]))


@action("message_get_many", "GET", "/v2/queues/{queue_name}/messages", ManyMessages)
async def message_get_many(call: Call, body: ManyMessages) -> Answer:
    found = await call.service.messages.get_many(call.caller, body.queue_name, body.message_ids)
    return Answer(200, MessageList(messages_out(found)))


@action("message_post", "POST", "/v2/queues/{queue_name}/messages", MessagePost)
async def message_post(call: Call, body: MessagePost) -> Answer:
    document = b'{"messages":' + call.json(body.messages) + b"}"
    ids = await call.service.messages.post(call.caller, body.queue_name, document)
    return Answer(201, {"message_ids": ids})


@action("message_delete", "DELETE", "/v2/queues/{queue_name}/messages/{message_id}", MessageDelete)
async def message_delete(call: Call, body: MessageDelete) -> Answer:
    await call.service.messages.delete(call.caller, body.queue_name, body.message_id, body.claim_id)
    return Answer(204, {})


@action("message_delete_many", "DELETE", "/v2/queues/{queue_name}/messages", MessageDeleteMany)
async def message_delete_many(call: Call, body: MessageDeleteMany) -> Answer:
    popped: list[MessageView] | None = await call.service.messages.delete_many(
        call.caller,
        body.queue_name,
        ids=body.message_ids,
        pop=body.pop,
        claim_ids=body.claim_ids,
    )
    if popped is None:
        return Answer(204, {})
    return Answer(200, MessageList(messages_out(popped)))


# Claims


def _claim_document(call: Call, body: ClaimCreate | ClaimUpdate) -> bytes:
    parts = [
        b'"' + name.encode() + b'":' + call.json(value)
        for name, value in (("ttl", body.ttl), ("grace", body.grace))
        if value is not UNSET
    ]
    return b"{" + b",".join(parts) + b"}" if parts else b""


@action("claim_create", "POST", "/v2/queues/{queue_name}/claims", ClaimCreate)
async def claim_create(call: Call, body: ClaimCreate) -> Answer:
    creating = call.service.claims.create(
        call.caller, body.queue_name, body.limit, _claim_document(call, body), wait=body.wait
    )
    claim = await call.waiting(creating, body.wait)
    if claim is None:
        return Answer(204, ClaimCreated(None, []))
    return Answer(201, ClaimCreated(claim.id, messages_out(claim.messages)))


@action("claim_get", "GET", "/v2/queues/{queue_name}/claims/{claim_id}", OneClaim)
async def claim_get(call: Call, body: OneClaim) -> Answer:
    claim = await call.service.claims.get(call.caller, body.queue_name, body.claim_id)
    return Answer(200, ClaimOut(claim.age, claim.ttl, messages_out(claim.messages)))


@action("claim_update", "PATCH", "/v2/queues/{queue_name}/claims/{claim_id}", ClaimUpdate)
async def claim_update(call: Call, body: ClaimUpdate) -> Answer:
    document = _claim_document(call, body)
    if not document:
        raise errors.InvalidRequest('claim_update needs "ttl", "grace" or both.')
    await call.service.claims.update(call.caller, body.queue_name, body.claim_id, document)
    return Answer(204, f"Claim {body.claim_id} updated.")


@action("claim_delete", "DELETE", "/v2/queues/{queue_name}/claims/{claim_id}", OneClaim)
async def claim_delete(call: Call, body: OneClaim) -> Answer:
    await call.service.claims.delete(call.caller, body.queue_name, body.claim_id)
    return Answer(204, f"Claim {body.claim_id} deleted.")


# Subscriptions: this connection's push subscriptions


@action("subscription_create", "POST", "/v2/queues/{queue_name}/subscriptions", SubscriptionCreate)
async def subscription_create(call: Call, body: SubscriptionCreate) -> Answer:
    if body.subscriber:
        raise errors.InvalidRequest(
            "This server pushes messages only to the connection that subscribes: leave out "
            '"subscriber" to have the queue\'s new messages sent on this socket.'
        )
    subscription_id = await call.subscriptions.subscribe(
        call.caller, body.queue_name, body.ttl, call.encoding
    )
    return Answer(201, Subscribed(subscription_id, f"Subscription {body.queue_name} created."))


@action("subscription_list", "GET", "/v2/queues/{queue_name}/subscriptions", OnQueue)
async def subscription_list(call: Call, body: OnQueue) -> Answer:
    found = await call.subscriptions.listing(call.caller, body.queue_name)
    return Answer(200, {"subscriptions": found})


@action(
    "subscription_get",
    "GET",
    "/v2/queues/{queue_name}/subscriptions/{subscription_id}",
    OneSubscription,
)
async def subscription_get(call: Call, body: OneSubscription) -> Answer:
    found = await call.subscriptions.get(call.caller, body.queue_name, body.subscription_id)
    return Answer(200, found)


@action(
    "subscription_update",
    "PATCH",
    "/v2/queues/{queue_name}/subscriptions/{subscription_id}",
    SubscriptionUpdate,
)
async def subscription_update(call: Call, body: SubscriptionUpdate) -> Answer:
    await call.subscriptions.update(call.caller, body.queue_name, body.subscription_id, body.ttl)
    return Answer(204, f"Subscription {body.subscription_id} updated.")


@action(
    "subscription_delete",
    "DELETE",
    "/v2/queues/{queue_name}/subscriptions/{subscription_id}",
    OneSubscription,
)
async def subscription_delete(call: Call, body: OneSubscription) -> Answer:
    await call.subscriptions.cancel(call.caller, body.queue_name, body.subscription_id)
    return Answer(204, f"Subscription {body.subscription_id} removed.")


# The server itself


@action("ping_node", "GET", "/v2/ping", Nothing, queue=False)
async def ping_node(call: Call, body: Nothing) -> Answer:
    await call.service.health.ping(call.caller)
    return Answer(204, {})


@action("check_node_health", "GET", "/v2/health", Nothing, queue=False)
async def check_node_health(call: Call, body: Nothing) -> Answer:
    return Answer(200, await call.service.health.report(call.caller))


@action("get_home_doc", "GET", "/v2/", Nothing, queue=False)
async def get_home_doc(call: Call, body: Nothing) -> Answer:
    return Answer(200, HOME)


def _home() -> dict[str, Any]:
    """What a client can ask over a socket: each action and its body's fields."""
    actions: dict[str, Any] = {}
    for name, entry in sorted(ACTIONS.items()):
        fields = msgspec.structs.fields(entry.body)
        actions[name] = {
            "required": [f.name for f in fields if f.required],
            "optional": [f.name for f in fields if not f.required],
        }
    actions["authenticate"] = {"required": [], "optional": [], "headers": ["X-Auth-Token"]}
    return {"api": "v2", "actions": actions}


HOME = _home()
