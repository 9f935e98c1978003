"""Handlers of /, /openapi.json, /v2/, /v2/ping, /v2/health and the probes /healthz and /readyz."""

from __future__ import annotations

from typing import Any

import msgspec

from herald.service import Service
from herald.transport.http.openapi import openapi_document
from herald.transport.http.request import Request
from herald.transport.http.responses import Response, empty, json_response

_VERSIONS = msgspec.json.encode(
    {
        "versions": [
            {
                "id": "2",
                "status": "CURRENT",
                "updated": "2014-9-24T04:06:47Z",
                "media-types": [
                    {
                        "base": "application/json",
                        "type": "application/vnd.openstack.messaging-v2+json",
                    }
                ],
                "links": [{"href": "/v2/", "rel": "self"}],
            }
        ]
    }
)

_QUEUE = {"queue_name": "param/queue_name"}
_MESSAGE = {**_QUEUE, "message_id": "param/message_id"}
_CLAIM = {**_QUEUE, "claim_id": "param/claim_id"}


def _resource(
    template: str, variables: dict[str, str], allow: list[str], post: bool = False
) -> dict[str, Any]:
    hints: dict[str, Any] = {"allow": allow, "formats": {"application/json": {}}}
    if post:
        hints["accept-post"] = ["application/json"]
    return {"href-template": template, "href-vars": variables, "hints": hints}


_HOME_RESOURCES: dict[str, Any] = {
    "rel/queues": _resource(
        "/v2/queues{?marker,limit,detailed}",
        {"marker": "param/marker", "limit": "param/queue_limit", "detailed": "param/detailed"},
        ["GET"],
    ),
    "rel/queue": _resource("/v2/queues/{queue_name}", _QUEUE, ["PUT", "DELETE", "GET", "PATCH"]),
    "rel/queue_stats": _resource("/v2/queues/{queue_name}/stats", _QUEUE, ["GET"]),
    "rel/queue_purge": _resource("/v2/queues/{queue_name}/purge", _QUEUE, ["POST"], post=True),
    "rel/queue_share": _resource("/v2/queues/{queue_name}/share", _QUEUE, ["POST"], post=True),
    "rel/messages": _resource(
        "/v2/queues/{queue_name}/messages{?marker,limit,echo,include_claimed,include_delayed}",
        {
            **_QUEUE,
            "marker": "param/marker",
            "limit": "param/messages_limit",
            "echo": "param/echo",
            "include_claimed": "param/include_claimed",
            "include_delayed": "param/include_delayed",
        },
        ["GET"],
    ),
    "rel/post_messages": _resource("/v2/queues/{queue_name}/messages", _QUEUE, ["POST"], post=True),
    "rel/messages_delete": _resource(
        "/v2/queues/{queue_name}/messages{?ids,pop}",
        {**_QUEUE, "ids": "param/ids", "pop": "param/pop"},
        ["DELETE"],
    ),
    "rel/message_get": _resource(
        "/v2/queues/{queue_name}/messages/{message_id}", _MESSAGE, ["GET"]
    ),
    "rel/message_delete": _resource(
        "/v2/queues/{queue_name}/messages/{message_id}{?claim_id}",
        {**_MESSAGE, "claim_id": "param/claim_id"},
        ["DELETE"],
    ),
    "rel/post_claim": _resource(
        "/v2/queues/{queue_name}/claims{?limit}",
        {**_QUEUE, "limit": "param/claim_limit"},
        ["POST"],
        post=True,
    ),
    "rel/claim": _resource("/v2/queues/{queue_name}/claims/{claim_id}", _CLAIM, ["GET"]),
    "rel/patch_claim": _resource(
        "/v2/queues/{queue_name}/claims/{claim_id}", _CLAIM, ["PATCH"], post=True
    ),
    "rel/delete_claim": _resource("/v2/queues/{queue_name}/claims/{claim_id}", _CLAIM, ["DELETE"]),
    "rel/ping": _resource("/v2/ping", {}, ["GET", "HEAD"]),
}
_ADMIN_RESOURCES: dict[str, Any] = {
    "rel/health": _resource("/v2/health", {}, ["GET"]),
}


def _home_document(admin_mode: bool) -> bytes:
    resources = dict(_HOME_RESOURCES)
    if admin_mode:
        resources.update(_ADMIN_RESOURCES)
    return msgspec.json.encode({"resources": resources})


async def versions(svc: Service, req: Request) -> Response:
    return Response(300, _VERSIONS)


async def openapi(svc: Service, req: Request, admin_mode: bool = False, auth: str = "") -> Response:
    return Response(200, openapi_document(svc.limits, admin_mode=admin_mode, auth=auth))


async def home(svc: Service, req: Request, admin_mode: bool = False) -> Response:
    return Response(
        200,
        _home_document(admin_mode),
        [(b"cache-control", b"max-age=86400")],
        content_type=b"application/json-home",
    )


async def ping(svc: Service, req: Request) -> Response:
    await svc.health.ping(req.caller, probe_store=req.method != "HEAD")
    return empty(204)


async def health(svc: Service, req: Request) -> Response:
    return json_response(200, await svc.health.report(req.caller))


_ALIVE = msgspec.json.encode({"status": "alive"})
_READY = msgspec.json.encode({"status": "ready"})
_NOT_READY = msgspec.json.encode(
    {
        "title": "Service temporarily unavailable",
        "description": "The store does not answer; this process cannot serve requests now.",
    }
)


async def healthz(svc: Service, req: Request) -> Response:
    """Liveness: answering at all is the whole test."""
    return Response(200, _ALIVE)


async def readyz(svc: Service, req: Request) -> Response:
    """Readiness: whether the store answers, from a ping shared by probes for a moment."""
    if await svc.readiness.ready():
        return Response(200, _READY)
    return Response(503, _NOT_READY)
