"""Which handler serves which path and method."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from herald.transport.http import claims, messages, queues, subscriptions, system
from herald.transport.http.console import ConsoleFiles
from herald.transport.http.responses import Response

Handler = Callable[..., Awaitable[Response]]
Resource = dict[str, Handler]


class Route:
    """A resolved path: its handlers by method, the path's variables by name, and its
    template (what metrics and access logs name it by, never the raw path)."""

    __slots__ = ("anonymous", "params", "resource", "template", "topic")

    def __init__(
        self,
        resource: Resource,
        template: str,
        params: dict[str, str] | None = None,
        *,
        anonymous: bool = False,
        topic: bool = False,
    ) -> None:
        self.resource = resource
        self.template = template
        self.params = params or {}
        self.anonymous = anonymous
        # The named queue is one of the project's topics.
        self.topic = topic


UNMATCHED = "unmatched"
"""The template of a path no route takes: one label value however many such paths come."""


class Router:
    """Exact routing of the v2 API and the probes; `admin_mode` adds /v2/health, `console`
    the web console; `auth` is only described, in the OpenAPI document."""

    def __init__(
        self, admin_mode: bool = False, auth: str = "noauth", console: bool = False
    ) -> None:
        self.admin_mode = admin_mode
        self.console: dict[str, Resource] = {}
        if console:
            files = ConsoleFiles()
            self.console = {name: {"GET": files.handler(name)} for name in files.names()}
            self.console[""] = self.console["index.html"]
        self.root: Resource = {"GET": system.versions}
        self.openapi: Resource = {"GET": partial(system.openapi, admin_mode=admin_mode, auth=auth)}
        self.home: Resource = {"GET": partial(system.home, admin_mode=admin_mode)}
        self.ping: Resource = {"GET": system.ping, "HEAD": system.ping}
        self.health: Resource = {"GET": system.health}
        self.healthz: Resource = {"GET": system.healthz, "HEAD": system.healthz}
        self.readyz: Resource = {"GET": system.readyz, "HEAD": system.readyz}
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
            return Route(self.root, "/", anonymous=True)
        if path.startswith("/console") and self.console:
            return self._console_file(path[len("/console") :])
        if path == "/openapi.json":
            return Route(self.openapi, "/openapi.json", anonymous=True)
        if not path.startswith("/v2/"):
            # Probes answer whatever `auth` is: a load balancer sends no credentials.
            if path == "/healthz":
                return Route(self.healthz, "/healthz", anonymous=True)
            if path == "/readyz":
                return Route(self.readyz, "/readyz", anonymous=True)
            return None
        if path == "/v2/":
            return Route(self.home, "/v2/")
        parts: list[Any] = path[4:].split("/")
        if "" in parts:
            # An empty segment (a trailing or doubled slash) names nothing, not an empty id.
            return None
        match parts:
            case ["ping"]:
                return Route(self.ping, "/v2/ping")
            case ["health"] if self.admin_mode:
                return Route(self.health, "/v2/health")
            case ["queues"]:
                return Route(self.queues, "/v2/queues")
            case ["topics"]:
                return Route(self.queues, "/v2/topics", topic=True)
            case ["topics", *rest]:
                found = self._queue_route(rest, "/v2/topics/{topic}")
                # Topics fan out to subscribers: nothing claims from them or shares them.
                if found is None or found.resource in (self.claims, self.claim, self.share):
                    return None
                found.topic = True
                return found
            case ["queues", *rest]:
                return self._queue_route(rest, "/v2/queues/{queue}")
        return None

    def _queue_route(self, parts: list[Any], base: str) -> Route | None:
        """The route below /v2/queues (or /v2/topics): a queue and what of it; `base`
        starts its template."""
        match parts:
            case [queue]:
                return Route(self.queue, base, {"queue": queue})
            case [queue, "stats"]:
                return Route(self.stats, f"{base}/stats", {"queue": queue})
            case [queue, "purge"]:
                return Route(self.purge, f"{base}/purge", {"queue": queue})
            case [queue, "share"]:
                return Route(self.share, f"{base}/share", {"queue": queue})
            case [queue, "messages"]:
                return Route(self.messages, f"{base}/messages", {"queue": queue})
            case [queue, "messages", message_id]:
                ids = {"queue": queue, "message_id": message_id}
                return Route(self.message, f"{base}/messages/{{message_id}}", ids)
            case [queue, "claims"]:
                return Route(self.claims, f"{base}/claims", {"queue": queue})
            case [queue, "claims", claim_id]:
                ids = {"queue": queue, "claim_id": claim_id}
                return Route(self.claim, f"{base}/claims/{{claim_id}}", ids)
            case [queue, "subscriptions"]:
                return Route(self.subscriptions, f"{base}/subscriptions", {"queue": queue})
            case [queue, "subscriptions", subscription_id]:
                ids = {"queue": queue, "subscription_id": subscription_id}
                return Route(self.subscription, f"{base}/subscriptions/{{subscription_id}}", ids)
            case [queue, "subscriptions", subscription_id, "confirm"]:
                ids = {"queue": queue, "subscription_id": subscription_id}
                template = f"{base}/subscriptions/{{subscription_id}}/confirm"
                return Route(self.confirm, template, ids)
        return None

    def _console_file(self, rest: str) -> Route | None:
        # The files are public like `/`: the data they show comes from API calls
        # that carry the user's own credentials.
        if rest in ("", "/"):
            return Route(self.console[""], "/console", anonymous=True)
        resource = self.console.get(rest[1:]) if rest.startswith("/") else None
        return Route(resource, "/console/{file}", anonymous=True) if resource else None
