"""Handlers of /v2/queues/{queue}/messages[/{message_id}]."""

from __future__ import annotations

from herald.service import Service, unless_gone
from herald.transport.http.request import Request
from herald.transport.http.responses import (
    Link,
    MessageList,
    MessagePage,
    Resources,
    Response,
    empty,
    json_response,
    message_href,
    message_out,
    messages_out,
    next_href,
    popped_out,
)


async def post_messages(svc: Service, req: Request, queue: str) -> Response:
    cap = svc.limits.max_messages_post_size
    data = await req.body(cap, f"Message collection size is too large. Max size {cap}")
    ids = await svc.messages.post(req.caller, queue, data)
    hrefs = [message_href(queue, i, root=req.root) for i in ids]
    location = f"{req.root}/{queue}/messages?ids={','.join(ids)}".encode()
    return json_response(201, Resources(hrefs), [(b"location", location)])


async def list_or_get_messages(svc: Service, req: Request, queue: str) -> Response:
    ids = req.list_param("ids")
    if ids is not None:
        found = await svc.messages.get_many(req.caller, queue, ids)
        return json_response(200, MessageList(messages_out(queue, found, root=req.root)))
    limit = req.int_param("limit")
    echo = req.bool_param("echo")
    include_claimed = req.bool_param("include_claimed")
    include_delayed = req.bool_param("include_delayed")
    wait = req.seconds_param("wait")
    listing = svc.messages.listing(
        req.caller,
        queue,
        marker=req.str_param("marker"),
        limit=limit,
        echo=echo,
        include_claimed=include_claimed,
        include_delayed=include_delayed,
        wait=wait,
    )
    messages = await (unless_gone(listing, req.disconnected()) if wait else listing)
    links = []
    if messages:
        params = {
            "limit": limit,
            "echo": echo,
            "include_claimed": include_claimed,
            "include_delayed": include_delayed,
            # A reader following the link keeps waiting as it asked to.
            "wait": req.query.get("wait") if wait else None,
        }
        links.append(Link("next", next_href(req.path, params, messages[-1].id)))
    return json_response(200, MessagePage(messages_out(queue, messages, root=req.root), links))


async def delete_messages(svc: Service, req: Request, queue: str) -> Response:
    popped = await svc.messages.delete_many(
        req.caller,
        queue,
        ids=req.list_param("ids"),
        pop=req.int_param("pop"),
        claim_ids=req.list_param("claim_ids"),
    )
    return empty(204) if popped is None else json_response(200, popped_out(popped))


async def get_message(svc: Service, req: Request, queue: str, message_id: str) -> Response:
    message = await svc.messages.get(req.caller, queue, message_id)
    return json_response(200, message_out(queue, message, root=req.root))


async def delete_message(svc: Service, req: Request, queue: str, message_id: str) -> Response:
    await svc.messages.delete(req.caller, queue, message_id, req.query.get("claim_id"))
    return empty(204)
