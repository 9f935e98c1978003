"""Which handler serves which path and method."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from herald.transport.http import claims, messages, queues, subscriptions, system
from herald.transport.http.responses import Response

Handler = Callable[..., Awaitable[Response]]
Resource = dict[str, Handler]


class Route:
    """A resolved path: its handlers by method and the path's variables by name."""

    __slots__ = ("anonymous", "params", "resource", "topic")

    def __init__(
        self,
        resource: Resource,
        params: dict[str, str] | None = None,
        *,
        anonymous: bool = False,
        topic: bool = False,
    ) -> None:
        self.resource = resource
        self.params = params or {}
        self.anonymous = anonymous
        # The named queue is one of the project's topics.
        self.topic = topic


class Router:
    """Exact routing of the v2 API; `admin_mode` adds /v2/health."""

    def __init__(self, admin_mode: bool = False) -> None:
        self.admin_mode = admin_mode
        self.root: Resource = {"GET": system.versions}
        self.home: Resource = {"GET": partial(system.home, admin_mode=admin_mode)}
        self.ping: Resource = {"GET": system.ping, "HEAD": system.ping}
        self.health: Resource = {"GET": system.health}
        self.queues: Resource = {"GET": queues.list_queues}
        self.queue: Resource = {
            "GET": queues.get_queue,
            "PUT": queues.create_queue,
            "PATCH": queues.update_queue,
            "DELETE": queues.delete_queue,
        }
        self.stats: Resource = {"GET": queues.queue_stats}
        self.purge: Resource = {"POST": queues.purge_queue}
        self.share: Resource = {"POST": queues.share_queue}
        self.messages: Resource = {
            "GET": messages.list_or_get_messages,
            "POST": messages.post_messages,
            "DELETE": messages.delete_messages,
        }
        self.message: Resource = {"GET": messages.get_message, "DELETE": messages.delete_message}
        self.claims: Resource = {"POST": claims.create_claim}
        self.claim: Resource = {
            "GET": claims.get_claim,
            "PATCH": claims.update_claim,
            "DELETE": claims.delete_claim,
        }
        self.subscriptions: Resource = {
            "GET": subscriptions.list_subscriptions,
            "POST": subscriptions.create_subscription,
        }
        self.subscription: Resource = {
            "GET": subscriptions.get_subscription,
            "PATCH": subscriptions.update_subscription,
            "DELETE": subscriptions.delete_subscription,
        }
        self.confirm: Resource = {"PUT": subscriptions.confirm_subscription}

    def resolve(self, path: str) -> Route | None:
        if path == "/":
            return Route(self.root, anonymous=True)
        if not path.startswith("/v2/"):
            return None
        if path == "/v2/":
            return Route(self.home)
        parts: list[Any] = path[4:].split("/")
        if "" in parts:
            # An empty segment (a trailing or doubled slash) names nothing, not an empty id.
            return None
        match parts:
            case ["ping"]:
                return Route(self.ping)
            case ["health"] if self.admin_mode:
                return Route(self.health)
            case ["queues"]:
                return Route(self.queues)
            case ["topics"]:
                return Route(self.queues, topic=True)
            case ["topics", *rest]:
                found = self._queue_route(rest)
                # Topics fan out to subscribers: nothing claims from them or shares them.
                if found is None or found.resource in (self.claims, self.claim, self.share):
                    return None
                found.topic = True
                return found
            case ["queues", *rest]:
                return self._queue_route(rest)
        return None

    def _queue_route(self, parts: list[Any]) -> Route | None:
        """The route below /v2/queues (or /v2/topics): a queue and what of it."""
        match parts:
            case [queue]:
                return Route(self.queue, {"queue": queue})
            case [queue, "stats"]:
                return Route(self.stats, {"queue": queue})
            case [queue, "purge"]:
                return Route(self.purge, {"queue": queue})
            case [queue, "share"]:
                return Route(self.share, {"queue": queue})
            case [queue, "messages"]:
                return Route(self.messages, {"queue": queue})
            case [queue, "messages", message_id]:
                return Route(self.message, {"queue": queue, "message_id": message_id})
            case [queue, "claims"]:
                return Route(self.claims, {"queue": queue})
            case [queue, "claims", claim_id]:
                return Route(self.claim, {"queue": queue, "claim_id": claim_id})
            case [queue, "subscriptions"]:
                return Route(self.subscriptions, {"queue": queue})
            case [queue, "subscriptions", subscription_id]:
                ids = {"queue": queue, "subscription_id": subscription_id}
                return Route(self.subscription, ids)
            case [queue, "subscriptions", subscription_id, "confirm"]:
                ids = {"queue": queue, "subscription_id": subscription_id}
                return Route(self.confirm, ids)
        return None
