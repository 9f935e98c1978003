"""Handlers of /v2/queues/{queue}/messages[/{message_id}]."""

from __future__ import annotations

import msgspec

from herald import errors
from herald.model import MessageIn, PostBody
from herald.service import Service
from herald.transport.http.request import Request, decode_json
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


class _PostDocument(msgspec.Struct):
    """A post body as sent: without `messages` it is an API error, not a body error."""

    messages: list[MessageIn] | msgspec.UnsetType = msgspec.UNSET


async def post_messages(svc: Service, req: Request, queue: str) -> Response:
    cap = svc.limits.max_messages_post_size
    data = await req.body(cap, f"Message collection size is too large. Max size {cap}")
    if not data.strip():
        raise errors.InvalidBody('The request body is empty: expected {"messages": [...]}.')
    try:
        document: _PostDocument | None = decode_json(data, _PostDocument)
    except errors.InvalidBody:
        if data.lstrip()[:1] != b"[":
            raise
        # A bare JSON array (the v1 shape) is well-formed but has no `messages`.
        decode_json(data, list[msgspec.Raw])
        document = None
    if document is None or document.messages is msgspec.UNSET:
        raise errors.InvalidRequest(
            'No messages were found in the request body: expected {"messages": [...]}.'
        )
    ids = await svc.post_messages(
        req.project, queue, req.client_id, PostBody(document.messages), len(data)
    )
    hrefs = [message_href(queue, i) for i in ids]
    location = f"/v2/queues/{queue}/messages?ids={','.join(ids)}".encode()
    return json_response(201, Resources(hrefs), [(b"location", location)])


async def list_or_get_messages(svc: Service, req: Request, queue: str) -> Response:
    ids = req.list_param("ids")
    if ids is not None:
        found = await svc.get_messages(req.project, queue, ids)
        return json_response(200, MessageList(messages_out(queue, found)))
    limit = req.int_param("limit")
    echo = req.bool_param("echo")
    include_claimed = req.bool_param("include_claimed")
    include_delayed = req.bool_param("include_delayed")
    messages = await svc.list_messages(
        req.project,
        queue,
        req.client_id,
        marker=req.str_param("marker"),
        limit=limit,
        echo=echo,
        include_claimed=include_claimed,
        include_delayed=include_delayed,
    )
    links = []
    if messages:
        params = {
            "limit": limit,
            "echo": echo,
            "include_claimed": include_claimed,
            "include_delayed": include_delayed,
        }
        links.append(Link("next", next_href(req.path, params, messages[-1].id)))
    return json_response(200, MessagePage(messages_out(queue, messages), links))


async def delete_messages(svc: Service, req: Request, queue: str) -> Response:
    ids = req.list_param("ids")
    pop = req.int_param("pop")
    if ids is not None and pop is not None:
        raise errors.InvalidRequest("ids and pop may not be specified at the same time.")
    if pop is not None:
        popped = await svc.pop_messages(req.project, queue, pop)
        return json_response(200, popped_out(popped))
    if ids is None:
        raise errors.InvalidRequest("Either ids or pop must be specified.")
    await svc.delete_messages(req.project, queue, ids, req.list_param("claim_ids"))
    return empty(204)


async def get_message(svc: Service, req: Request, queue: str, message_id: str) -> Response:
    message = await svc.get_message(req.project, queue, message_id)
    return json_response(200, message_out(queue, message))


async def delete_message(svc: Service, req: Request, queue: str, message_id: str) -> Response:
    claim_id = req.query.get("claim_id")
    await svc.delete_message(req.project, queue, message_id, claim_id)
    return empty(204)
