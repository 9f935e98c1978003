"""Handlers of /v2/queues/{queue}/subscriptions[/{subscription_id}[/confirm]]."""

from __future__ import annotations

from herald.service import Service
from herald.service.subscriptions import SubscriptionView
from herald.transport.http.request import Request
from herald.transport.http.responses import (
    Link,
    Response,
    empty,
    json_response,
    next_href,
    subscription_href,
    subscriptions_href,
)

# Zaqar reads subscription bodies whole; this bounds them like queue metadata.
_TOO_LARGE = "Subscription body is too large. Max size: {}"


async def _body(svc: Service, req: Request) -> bytes:
    cap = svc.limits.max_queue_metadata
    return await req.body(cap, _TOO_LARGE.format(cap))


async def create_subscription(svc: Service, req: Request, queue: str) -> Response:
    created = await svc.subscriptions.create(req.caller, queue, await _body(svc, req))
    location = [(b"location", subscriptions_href(req.root, queue).encode())]
    return json_response(201, {"subscription_id": created.id}, location)


async def list_subscriptions(svc: Service, req: Request, queue: str) -> Response:
    limit = req.int_param("limit")
    found = await svc.subscriptions.listing(
        req.caller, queue, marker=req.str_param("marker"), limit=limit
    )
    links = []
    if found:
        links.append(Link("next", next_href(req.path, {"limit": limit}, found[-1].id)))
    return json_response(200, {"subscriptions": found, "links": links})


async def get_subscription(
    svc: Service, req: Request, queue: str, subscription_id: str
) -> Response:
    found: SubscriptionView = await svc.subscriptions.get(req.caller, queue, subscription_id)
    return json_response(200, found)


async def update_subscription(
    svc: Service, req: Request, queue: str, subscription_id: str
) -> Response:
    await svc.subscriptions.update(req.caller, queue, subscription_id, await _body(svc, req))
    return empty(204, subscription_href(req.root, queue, subscription_id))


async def delete_subscription(
    svc: Service, req: Request, queue: str, subscription_id: str
) -> Response:
    await svc.subscriptions.delete(req.caller, queue, subscription_id)
    return empty(204)


async def confirm_subscription(
    svc: Service, req: Request, queue: str, subscription_id: str
) -> Response:
    await svc.subscriptions.confirm(req.caller, queue, subscription_id, await _body(svc, req))
    return empty(204, subscription_href(req.root, queue, subscription_id) + "/confirm")
