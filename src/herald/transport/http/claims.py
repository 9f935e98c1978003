"""Handlers of /v2/queues/{queue}/claims[/{claim_id}]."""

from __future__ import annotations

from herald.service import Service, unless_gone
from herald.transport.http.request import Request
from herald.transport.http.responses import (
    MessageList,
    Response,
    claim_href,
    claim_out,
    empty,
    json_response,
    messages_out,
)


async def _claim_body(svc: Service, req: Request) -> bytes:
    cap = svc.limits.max_queue_metadata
    return await req.body(cap, f"Claim body is too large. Max size {cap}")


async def create_claim(svc: Service, req: Request, queue: str) -> Response:
    body = await _claim_body(svc, req)
    wait = req.seconds_param("wait")
    creating = svc.claims.create(req.caller, queue, req.int_param("limit"), body, wait=wait)
    claim = await (unless_gone(creating, req.disconnected()) if wait else creating)
    if claim is None:
        return empty(204)
    location = claim_href(queue, claim.id).encode()
    return json_response(
        201, MessageList(messages_out(queue, claim.messages)), [(b"location", location)]
    )


async def get_claim(svc: Service, req: Request, queue: str, claim_id: str) -> Response:
    claim = await svc.claims.get(req.caller, queue, claim_id)
    return json_response(200, claim_out(queue, claim))


async def update_claim(svc: Service, req: Request, queue: str, claim_id: str) -> Response:
    await svc.claims.update(req.caller, queue, claim_id, await _claim_body(svc, req))
    return empty(204)


async def delete_claim(svc: Service, req: Request, queue: str, claim_id: str) -> Response:
    await svc.claims.delete(req.caller, queue, claim_id)
    return empty(204)
