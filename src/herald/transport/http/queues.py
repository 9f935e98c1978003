"""Handlers of /v2/queues and /v2/queues/{queue}[/stats|/purge|/share]."""

from __future__ import annotations

from typing import Any

from herald import errors
from herald.service import Service
from herald.transport.http.request import Request
from herald.transport.http.responses import (
    TOPICS,
    Response,
    empty,
    json_response,
    next_href,
    queue_href,
    stats_out,
)

PATCH_TYPE = "application/openstack-messaging-v2.0-json-patch"
_LIST_PARAMS = ("marker", "limit", "detailed", "name", "with_count")


async def list_queues(svc: Service, req: Request) -> Response:
    limit = req.int_param("limit")
    detailed = req.bool_param("detailed")
    with_count = req.bool_param("with_count")
    name = req.str_param("name")
    filters: dict[str, Any] = {
        key: _filter_value(value)
        for key, value in req.query.items()
        if key not in _LIST_PARAMS and value != ""
    }
    page = await svc.queues.listing(
        req.caller,
        marker=req.str_param("marker"),
        limit=limit,
        name=name,
        with_count=with_count,
        filters=filters,
    )
    queues = []
    for entry in page.queues:
        item: dict[str, Any] = {"name": entry.name, "href": queue_href(entry.name, root=req.root)}
        if detailed:
            item["metadata"] = entry.metadata
        queues.append(item)
    links = []
    if queues:
        params = {
            "limit": limit,
            "detailed": detailed if "detailed" in req.query else None,
            "name": name,
            "with_count": with_count if "with_count" in req.query else None,
            **filters,
        }
        links.append({"rel": "next", "href": next_href(req.path, params, queues[-1]["name"])})
    kind = "topics" if req.root == TOPICS else "queues"
    document: dict[str, Any] = {kind: queues, "links": links}
    if page.count:
        document["count"] = page.count
    return json_response(200, document)


async def _metadata_body(svc: Service, req: Request, what: str = "Queue metadata") -> bytes:
    cap = svc.limits.max_queue_metadata
    return await req.body(cap, f"{what} is too large. Max size: {cap}")


async def create_queue(svc: Service, req: Request, queue: str) -> Response:
    created = await svc.queues.create(req.caller, queue, await _metadata_body(svc, req))
    return empty(201 if created else 204, queue_href(queue, root=req.root))


async def get_queue(svc: Service, req: Request, queue: str) -> Response:
    return json_response(200, await svc.queues.get(req.caller, queue))


async def update_queue(svc: Service, req: Request, queue: str) -> Response:
    content_type = (req.header("content-type") or "").split(";")[0].strip()
    if content_type != PATCH_TYPE:
        raise errors.UnsupportedMediaType(f"Accepted media type for PATCH: {PATCH_TYPE}.")
    metadata = await svc.queues.update(req.caller, queue, await _metadata_body(svc, req))
    return json_response(200, metadata)


async def delete_queue(svc: Service, req: Request, queue: str) -> Response:
    await svc.queues.delete(req.caller, queue)
    return empty(204)


async def queue_stats(svc: Service, req: Request, queue: str) -> Response:
    return json_response(
        200, stats_out(queue, await svc.queues.stats(req.caller, queue), root=req.root)
    )


async def purge_queue(svc: Service, req: Request, queue: str) -> Response:
    await svc.queues.purge(req.caller, queue, await _metadata_body(svc, req, "Purge body"))
    return empty(204)


async def share_queue(svc: Service, req: Request, queue: str) -> Response:
    body = await _metadata_body(svc, req, "Share body")
    return json_response(200, await svc.sharing.share(req.caller, queue, body))


def _filter_value(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        return value
