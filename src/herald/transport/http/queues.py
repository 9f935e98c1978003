"""Handlers of /v2/queues and /v2/queues/{queue}[/stats|/purge]."""

from __future__ import annotations

from typing import Any

from herald import errors
from herald.model import PurgeBody
from herald.service import Service
from herald.transport.http.request import Request, decode_json
from herald.transport.http.responses import (
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
    page = await svc.list_queues(
        req.project,
        marker=req.str_param("marker"),
        limit=limit,
        name=name,
        with_count=with_count,
        filters=filters,
    )
    queues = []
    for entry in page.queues:
        item: dict[str, Any] = {"name": entry.name, "href": queue_href(entry.name)}
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
    document: dict[str, Any] = {"queues": queues, "links": links}
    if page.count:
        document["count"] = page.count
    return json_response(200, document)


async def create_queue(svc: Service, req: Request, queue: str) -> Response:
    data = await req.body(
        svc.limits.max_queue_metadata,
        f"Queue metadata is too large. Max size: {svc.limits.max_queue_metadata}",
    )
    metadata = decode_json(data, object) if data.strip() else {}
    created = await svc.create_queue(req.project, queue, metadata)
    return empty(201 if created else 204, queue_href(queue))


async def get_queue(svc: Service, req: Request, queue: str) -> Response:
    return json_response(200, await svc.get_queue(req.project, queue))


async def update_queue(svc: Service, req: Request, queue: str) -> Response:
    content_type = (req.header("content-type") or "").split(";")[0].strip()
    if content_type != PATCH_TYPE:
        raise errors.UnsupportedMediaType(f"Accepted media type for PATCH: {PATCH_TYPE}.")
    data = await req.body(
        svc.limits.max_queue_metadata,
        f"Queue metadata is too large. Max size: {svc.limits.max_queue_metadata}",
    )
    if not data.strip():
        raise errors.InvalidBody("The PATCH body is empty.")
    metadata = await svc.update_queue(req.project, queue, decode_json(data, object))
    return json_response(200, metadata)


async def delete_queue(svc: Service, req: Request, queue: str) -> Response:
    await svc.delete_queue(req.project, queue)
    return empty(204)


async def queue_stats(svc: Service, req: Request, queue: str) -> Response:
    return json_response(200, stats_out(queue, await svc.queue_stats(req.project, queue)))


async def purge_queue(svc: Service, req: Request, queue: str) -> Response:
    data = await req.body(
        svc.limits.max_queue_metadata,
        f"Purge body is too large. Max size: {svc.limits.max_queue_metadata}",
    )
    body = decode_json(data, PurgeBody) if data.strip() else None
    await svc.purge_queue(req.project, queue, body)
    return empty(204)


def _filter_value(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        return value
