"""Which handler serves which path and method."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from herald.transport.http import claims, messages, queues, system
from herald.transport.http.responses import Response

Handler = Callable[..., Awaitable[Response]]
Resource = dict[str, Handler]


class Route:
    """A resolved path: its handlers by method and the path's variables by name."""

    __slots__ = ("anonymous", "params", "resource")

    def __init__(
        self, resource: Resource, params: dict[str, str] | None = None, *, anonymous: bool = False
    ) -> None:
        self.resource = resource
        self.params = params or {}
        self.anonymous = anonymous


class Router:
    """Exact routing of the v2 API; `admin_mode` adds /v2/health. `auth` is only described,
    in the OpenAPI document."""

    def __init__(self, admin_mode: bool = False, auth: str = "noauth") -> None:
        self.admin_mode = admin_mode
        self.root: Resource = {"GET": system.versions}
        self.openapi: Resource = {"GET": partial(system.openapi, admin_mode=admin_mode, auth=auth)}
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

    def resolve(self, path: str) -> Route | None:
        if path == "/":
            return Route(self.root, anonymous=True)
        if path == "/openapi.json":
            return Route(self.openapi, anonymous=True)
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
            case ["queues", queue]:
                return Route(self.queue, {"queue": queue})
            case ["queues", queue, "stats"]:
                return Route(self.stats, {"queue": queue})
            case ["queues", queue, "purge"]:
                return Route(self.purge, {"queue": queue})
            case ["queues", queue, "share"]:
                return Route(self.share, {"queue": queue})
            case ["queues", queue, "messages"]:
                return Route(self.messages, {"queue": queue})
            case ["queues", queue, "messages", message_id]:
                return Route(self.message, {"queue": queue, "message_id": message_id})
            case ["queues", queue, "claims"]:
                return Route(self.claims, {"queue": queue})
            case ["queues", queue, "claims", claim_id]:
                return Route(self.claim, {"queue": queue, "claim_id": claim_id})
        return None
