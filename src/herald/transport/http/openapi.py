"""The OpenAPI 3.1 description of the HTTP API, made from the limits and settings served.

Bodies take their schemas from the msgspec structs the handlers decode and
encode; tests/api/test_openapi.py holds the paths and methods here to the
router's, both ways, so neither can change without the other.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

import msgspec

from herald import __version__
from herald.auth.signed_urls import SharedUrl
from herald.model import ClaimBody, Limits, PostBody, PurgeBody
from herald.transport.http.queues import PATCH_TYPE
from herald.transport.http.responses import (
    ClaimOut,
    MessageList,
    MessageOut,
    MessagePage,
    PoppedList,
    Resources,
    Stats,
)

_SCHEMAS = "#/components/schemas/"
_STRUCTS = (
    PostBody,
    ClaimBody,
    PurgeBody,
    MessageOut,
    MessagePage,
    MessageList,
    PoppedList,
    Resources,
    ClaimOut,
    Stats,
    SharedUrl,
)
# A name the router can resolve: the queue-name rule with at least one character
# that is not a dot (a name of dots only is refused, and a client would resolve
# `..` in a path before sending it).
_QUEUE_NAME_PATTERN = "^[a-zA-Z0-9_.-]*[a-zA-Z0-9_-][a-zA-Z0-9_.-]*$"
_ID_PATTERN = "^[A-Za-z0-9_-]+$"
_ERRORS = {
    400: "The request is malformed, or a header, parameter or body breaks a rule.",
    401: "A credential is missing or not valid (auth = keystone or apikey).",
    403: "The policy does not allow the caller this action, or the message is claimed.",
    404: "Nothing is found at this path, or a pre-signed URL does not allow the request.",
    406: "The Accept header rules out application/json.",
    409: "The change conflicts with the resource as it is.",
    415: "The Content-Type is not the one this operation takes.",
    503: "The store cannot be reached or is overloaded; try again.",
}
_COMMON_ERRORS = (400, 401, 403, 404, 406, 503)


def ref(name: str) -> dict[str, str]:
    return {"$ref": _SCHEMAS + name}


@cache
def openapi_document(limits: Limits, *, admin_mode: bool, auth: str) -> bytes:
    """The document as served: JSON, for these limits and settings."""
    return msgspec.json.encode(describe(limits, admin_mode=admin_mode, auth=auth))


def describe(limits: Limits, *, admin_mode: bool, auth: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document as a JSON-ready dict."""
    paths = _paths(limits, anonymous_project=auth != "noauth")
    paths.update(_topic_paths(paths))
    if not admin_mode:
        del paths["/v2/health"]
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Herald (OpenStack Zaqar v2 API)",
            "version": __version__,
            "description": "Queues with claims, messages and pre-signed URLs, as Zaqar v2 "
            "speaks them. Every error answers with a JSON body {title, description}. "
            "Under auth = keystone the X-Auth-Token header carries a Keystone token; "
            "under auth = apikey it (or Authorization: Bearer) carries an API key; "
            "under noauth the X-Project-ID header is trusted as sent.",
        },
        "paths": paths,
        "components": {"schemas": _schemas(limits), "responses": _error_responses()},
    }
    if auth != "noauth":
        document["components"]["securitySchemes"] = {
            "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}
        }
        document["security"] = [{"token": []}]
    return document


def _schemas(limits: Limits) -> dict[str, Any]:
    _, schemas = msgspec.json.schema_components(_STRUCTS, ref_template=_SCHEMAS + "{name}")
    message_in = schemas["MessageIn"]["properties"]
    message_in["ttl"].update(minimum=limits.min_message_ttl, maximum=limits.max_message_ttl)
    message_in["delay"].update(minimum=0, maximum=limits.max_message_delay)
    schemas["PostBody"]["properties"]["messages"]["minItems"] = 1
    claim = schemas["ClaimBody"]["properties"]
    claim["ttl"].update(minimum=limits.min_claim_ttl, maximum=limits.max_claim_ttl)
    claim["grace"].update(minimum=limits.min_claim_grace, maximum=limits.max_claim_grace)
    purge = schemas["PurgeBody"]["properties"]["resource_types"]
    purge["items"] = {"enum": ["messages", "subscriptions"]}
    schemas["Error"] = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "description": {"type": "string"}},
        "required": ["title"],
    }
    schemas["QueueMetadata"] = {
        "type": "object",
        "description": "Free-form metadata; keys starting with `_` are Zaqar's reserved "
        "ones and are checked.",
    }
    schemas["QueueList"] = {
        "type": "object",
        "properties": {
            "queues": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "href": {"type": "string"},
                        "metadata": ref("QueueMetadata"),
                    },
                    "required": ["name", "href"],
                },
            },
            "links": {"type": "array", "items": ref("Link")},
            "count": {"type": "integer", "minimum": 1},
        },
        "required": ["queues", "links"],
    }
    topics = copy.deepcopy(schemas["QueueList"])
    topics["properties"]["topics"] = topics["properties"].pop("queues")
    topics["required"] = ["topics", "links"]
    schemas["TopicList"] = topics
    schemas["JsonPatch"] = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "op": {"enum": ["add", "replace", "remove"]},
                "path": {"type": "string", "pattern": "^/metadata/"},
                "value": {},
            },
            "required": ["op", "path"],
        },
    }
    schemas["ShareBody"] = {
        "type": "object",
        "properties": {
            "paths": {"type": "array", "items": {"enum": ["messages", "subscriptions", "claims"]}},
            "methods": {"type": "array", "items": {"type": "string"}},
            "expires": {"type": "string", "description": "ISO 8601, in the future"},
        },
        "additionalProperties": False,
    }
    return schemas


def _error_responses() -> dict[str, Any]:
    body = {"application/json": {"schema": ref("Error")}}
    return {str(status): {"description": text, "content": body} for status, text in _ERRORS.items()}


def _paths(limits: Limits, *, anonymous_project: bool) -> dict[str, Any]:
    identity = [
        _header(
            "Client-ID",
            "The client's UUID; listings hide its own messages unless echo.",
            {"type": "string", "format": "uuid"},
            required=True,
        ),
        _header(
            "X-Project-ID",
            "The project every resource belongs to; trusted as sent only under noauth, "
            "where it is required, and taken from the credential otherwise.",
            {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[\\x21-\\x7e]+$"},
            required=not anonymous_project,
        ),
    ]
    queue = _path(
        "queue_name",
        "A queue name: up to 64 letters, digits, _, . and -.",
        {"type": "string", "minLength": 1, "maxLength": 64, "pattern": _QUEUE_NAME_PATTERN},
    )
    message_id = _path(
        "message_id",
        "A message id, as the server gave it.",
        {"type": "string", "pattern": _ID_PATTERN, "maxLength": 64},
    )
    claim_id = _path(
        "claim_id",
        "A claim id, as the server gave it.",
        {"type": "string", "pattern": _ID_PATTERN, "maxLength": 64},
    )
    subscription_id = _path(
        "subscription_id",
        "A subscription id, as the server gave it.",
        {"type": "string", "maxLength": 64},
    )
    marker = _query(
        "marker", "Start after this marker (the last name or id of the page).", {"type": "string"}
    )
    per_page = _query(
        "limit",
        "Messages per page.",
        {"type": "integer", "minimum": 1, "maximum": limits.max_messages_per_page},
    )
    per_claim = _query(
        "limit",
        "Messages to claim.",
        {"type": "integer", "minimum": 1, "maximum": limits.max_messages_per_claim_or_pop},
    )
    ids = _query(
        "ids",
        f"Comma-separated message ids, at most {limits.max_messages_per_page}.",
        {"type": "string", "pattern": "^[A-Za-z0-9_-]+(,[A-Za-z0-9_-]+)*$"},
    )

    def flag(name: str, text: str) -> dict[str, Any]:
        return _query(name, text, {"type": "boolean"})

    def operation(
        summary: str,
        responses: dict[int, Any],
        *parameters: dict[str, Any],
        body: dict[str, Any] | None = None,
        errors: tuple[int, ...] = _COMMON_ERRORS,
        anonymous: bool = False,
    ) -> dict[str, Any]:
        described: dict[str, Any] = {
            "summary": summary,
            "parameters": [*([] if anonymous else identity), *parameters],
            "responses": {str(status): answer for status, answer in responses.items()},
        }
        for status in () if anonymous else errors:
            described["responses"][str(status)] = {"$ref": f"#/components/responses/{status}"}
        if body is not None:
            described["requestBody"] = body
        if anonymous:
            described["security"] = []
        return described

    metadata_cap = f"at most {limits.max_queue_metadata} bytes"
    return {
        "/": {
            "get": operation(
                "The API versions", {300: _json("Versions", {"type": "object"})}, anonymous=True
            )
        },
        "/openapi.json": {
            "get": operation(
                "This document", {200: _json("OpenAPI 3.1", {"type": "object"})}, anonymous=True
            )
        },
        "/healthz": {
            method: operation(
                "Liveness: the process serves (for load balancers, no credentials)",
                {200: _json("Alive", {"type": "object"})},
                anonymous=True,
            )
            for method in ("get", "head")
        },
        "/readyz": {
            method: operation(
                "Readiness: the store answers (for load balancers, no credentials)",
                {
                    200: _json("Ready", {"type": "object"}),
                    503: _json("The store does not answer", {"type": "object"}),
                },
                anonymous=True,
            )
            for method in ("get", "head")
        },
        "/v2/": {
            "get": operation(
                "The JSON-Home document",
                {
                    200: {
                        "description": "Resources and their hints",
                        "content": {"application/json-home": {"schema": {"type": "object"}}},
                    }
                },
            )
        },
        "/v2/ping": {
            "get": operation("Whether the store answers", {204: _empty("It does")}),
            "head": operation("Whether the server answers", {204: _empty("It does")}),
        },
        "/v2/health": {
            "get": operation(
                "The store's health (admin_mode, admin role)",
                {200: _json("Health report", {"type": "object"})},
            )
        },
        "/v2/queues": {
            "get": operation(
                "List queues by name; other parameters filter by metadata",
                {200: _json("A page of queues", ref("QueueList"))},
                marker,
                _query(
                    "limit",
                    "Queues per page.",
                    {"type": "integer", "minimum": 1, "maximum": limits.max_queues_per_page},
                ),
                flag("detailed", "Include each queue's metadata."),
                _query("name", "Only queues whose name matches.", {"type": "string"}),
                flag("with_count", "Include the number of the project's queues."),
            )
        },
        "/v2/queues/{queue_name}": {
            "parameters": [queue],
            "put": operation(
                "Create a queue (an existing one is left as it is)",
                {201: _empty("Created", location=True), 204: _empty("It existed already")},
                body=_body(ref("QueueMetadata"), f"Metadata, {metadata_cap}", required=False),
            ),
            "get": operation(
                "A queue's metadata, with defaults", {200: _json("Metadata", ref("QueueMetadata"))}
            ),
            "patch": operation(
                "Change a queue's metadata with JSON patch operations",
                {200: _json("The metadata after the change", ref("QueueMetadata"))},
                body=_body(ref("JsonPatch"), f"Operations, {metadata_cap}", media=PATCH_TYPE),
                errors=(*_COMMON_ERRORS, 409, 415),
            ),
            "delete": operation(
                "Delete a queue, its messages and claims",
                {204: _empty("Deleted, or there was none")},
            ),
        },
        "/v2/queues/{queue_name}/stats": {
            "parameters": [queue],
            "get": operation("Count a queue's messages", {200: _json("Counts", ref("Stats"))}),
        },
        "/v2/queues/{queue_name}/purge": {
            "parameters": [queue],
            "post": operation(
                "Remove a queue's messages and/or subscriptions",
                {204: _empty("Purged")},
                body=_body(ref("PurgeBody"), "What to purge; no body purges both", required=False),
            ),
        },
        "/v2/queues/{queue_name}/share": {
            "parameters": [queue],
            "post": operation(
                "Sign a pre-signed URL for the queue",
                {200: _json("The signed grant", ref("SharedUrl"))},
                body=_body(ref("ShareBody"), "What to grant"),
            ),
        },
        "/v2/queues/{queue_name}/messages": {
            "parameters": [queue],
            "get": operation(
                "List messages without claiming them, or get some by id",
                {200: _json("Messages", {"anyOf": [ref("MessagePage"), ref("MessageList")]})},
                marker,
                per_page,
                flag("echo", "Include the messages of this Client-ID."),
                flag("include_claimed", "Include claimed messages."),
                flag("include_delayed", "Include messages not yet due."),
                ids,
            ),
            "post": operation(
                "Post messages",
                {201: _json("Their hrefs, in order", ref("Resources"), location=True)},
                body=_body(
                    ref("PostBody"),
                    f"Messages, at most {limits.max_messages_post_size} bytes in all",
                ),
            ),
            "delete": operation(
                "Delete messages by id, or pop unclaimed ones",
                {200: _json("The popped messages", ref("PoppedList")), 204: _empty("Deleted")},
                ids,
                _query(
                    "pop",
                    "Pop this many unclaimed messages.",
                    {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": limits.max_messages_per_claim_or_pop,
                    },
                ),
                _query(
                    "claim_ids", "Comma-separated claim ids of the messages.", {"type": "string"}
                ),
            ),
        },
        "/v2/queues/{queue_name}/messages/{message_id}": {
            "parameters": [queue, message_id],
            "get": operation("A message", {200: _json("The message", ref("MessageOut"))}),
            "delete": operation(
                "Delete a message; a claimed one needs its claim id",
                {204: _empty("Deleted, or there was none")},
                _query("claim_id", "The claim holding the message.", {"type": "string"}),
            ),
        },
        "/v2/queues/{queue_name}/claims": {
            "parameters": [queue],
            "post": operation(
                "Claim messages",
                {
                    201: _json("The claimed messages", ref("MessageList"), location=True),
                    204: _empty("Nothing to claim"),
                },
                per_claim,
                body=_body(
                    ref("ClaimBody"), "ttl and grace; no body takes the defaults", required=False
                ),
            ),
        },
        "/v2/queues/{queue_name}/subscriptions": {
            "parameters": [queue],
            "get": operation(
                "List the queue's subscriptions",
                {200: _json("A page of subscriptions", _SUBSCRIPTION_PAGE)},
                marker,
                _query(
                    "limit",
                    "Subscriptions per page.",
                    {"type": "integer", "minimum": 1, "maximum": limits.max_subscriptions_per_page},
                ),
            ),
            "post": operation(
                "Subscribe to the queue's messages (a duplicate not yet confirmed answers "
                "its existing id)",
                {201: _json("The subscription's id", _SUBSCRIPTION_ID, location=True)},
                body=_body(_SUBSCRIPTION_IN, "subscriber, ttl and options"),
                errors=(*_COMMON_ERRORS, 409),
            ),
        },
        "/v2/queues/{queue_name}/subscriptions/{subscription_id}": {
            "parameters": [queue, subscription_id],
            "get": operation("A subscription", {200: _json("The subscription", _SUBSCRIPTION)}),
            "patch": operation(
                "Change a subscription's subscriber, ttl or options",
                {204: _empty("Changed", location=True)},
                body=_body(_SUBSCRIPTION_PATCH, "What to change"),
                errors=(*_COMMON_ERRORS, 409),
            ),
            "delete": operation(
                "Delete a subscription", {204: _empty("Deleted, or there was none")}
            ),
        },
        "/v2/queues/{queue_name}/subscriptions/{subscription_id}/confirm": {
            "parameters": [queue, subscription_id],
            "put": operation(
                "Confirm a subscription, or withdraw its confirmation",
                {204: _empty("Recorded", location=True)},
                body=_body(_CONFIRM, "Whether the subscriber confirms"),
            ),
        },
        "/v2/queues/{queue_name}/claims/{claim_id}": {
            "parameters": [queue, claim_id],
            "get": operation(
                "A claim and its messages", {200: _json("The claim", ref("ClaimOut"))}
            ),
            "patch": operation(
                "Renew a claim",
                {204: _empty("Renewed")},
                body=_body(ref("ClaimBody"), "The new ttl and grace"),
            ),
            "delete": operation("Release a claim", {204: _empty("Released, or there was none")}),
        },
    }


# What a topic does not have of a queue's: nothing claims from a topic or shares it.
_QUEUE_ONLY = re.compile(r"^/v2/queues/\{queue_name\}/(claims|share)(/|$)")


def _topic_paths(paths: dict[str, Any]) -> dict[str, Any]:
    """The /v2/topics path items, made from the queue ones: the same operations on the
    caller's topics, less claims and share, with the topic's own list shape."""
    topics: dict[str, Any] = {}
    for template, item in paths.items():
        if not template.startswith("/v2/queues") or _QUEUE_ONLY.match(template):
            continue
        topic = copy.deepcopy(item)
        for key, operation in topic.items():
            if key == "parameters":
                topic[key] = [_as_topic_parameter(p) for p in operation]
                continue
            operation["summary"] = re.sub(r"\bqueue(s?)\b", r"topic\1", operation["summary"])
        name = template.replace("/v2/queues", "/v2/topics", 1).replace(
            "{queue_name}", "{topic_name}"
        )
        topics[name] = topic
    listing = topics["/v2/topics"]["get"]["responses"]["200"]
    listing["content"]["application/json"]["schema"] = ref("TopicList")
    listing["description"] = "A page of topics"
    return topics


def _as_topic_parameter(parameter: dict[str, Any]) -> dict[str, Any]:
    if parameter["name"] != "queue_name":
        return parameter
    return {**parameter, "name": "topic_name", "description": "A topic name, named as queues are."}


def _header(name: str, text: str, schema: dict[str, Any], *, required: bool) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "description": text,
        "required": required,
        "schema": schema,
    }


def _path(name: str, text: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "description": text, "required": True, "schema": schema}


def _query(name: str, text: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": text, "schema": schema}


_SUBSCRIPTION = {
    "type": "object",
    "required": ["id", "source", "subscriber", "ttl", "age", "options", "confirmed"],
    "properties": {
        "id": {"type": "string"},
        "source": {"type": "string"},
        "subscriber": {"type": "string"},
        "ttl": {"type": "integer"},
        "age": {"type": "integer"},
        "options": {"type": "object"},
        "confirmed": {"type": "boolean"},
    },
}
_SUBSCRIPTION_PAGE = {
    "type": "object",
    "required": ["subscriptions", "links"],
    "properties": {
        "subscriptions": {"type": "array", "items": _SUBSCRIPTION},
        "links": {"type": "array", "items": {"type": "object"}},
    },
}
_SUBSCRIPTION_ID = {
    "type": "object",
    "required": ["subscription_id"],
    "properties": {"subscription_id": {"type": "string"}},
}
_SUBSCRIPTION_IN = {
    "type": "object",
    "required": ["subscriber"],
    "properties": {
        "subscriber": {
            "type": "string",
            "description": "http(s)://, mailto:, trust+http(s)://, queue:NAME",
        },
        "ttl": {"type": "integer", "minimum": 60},
        "options": {"type": "object"},
    },
}
_SUBSCRIPTION_PATCH = {
    "type": "object",
    "minProperties": 1,
    "properties": _SUBSCRIPTION_IN["properties"],
}
_CONFIRM = {
    "type": "object",
    "required": ["confirmed"],
    "properties": {"confirmed": {"type": "boolean"}},
}


def _json(text: str, schema: dict[str, Any], *, location: bool = False) -> dict[str, Any]:
    answer = {"description": text, "content": {"application/json": {"schema": schema}}}
    if location:
        answer["headers"] = _LOCATION
    return answer


def _empty(text: str, *, location: bool = False) -> dict[str, Any]:
    return {"description": text, "headers": _LOCATION} if location else {"description": text}


def _body(
    schema: dict[str, Any], text: str, *, media: str = "application/json", required: bool = True
) -> dict[str, Any]:
    return {"description": text, "required": required, "content": {media: {"schema": schema}}}


_LOCATION = {
    "Location": {
        "description": "The new resource's path",
        "required": True,
        "schema": {"type": "string"},
    }
}
