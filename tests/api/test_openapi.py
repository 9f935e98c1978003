"""GET /openapi.json: served without credentials, and held to the router both ways."""

from __future__ import annotations

import re
from typing import Any

import httpx
import schemathesis

from api_support import ServerFactory
from apikey_support import keyed_server
from herald.model import Limits
from herald.transport.http.openapi import describe
from herald.transport.http.routes import Resource, Router

METHODS = ("get", "put", "post", "patch", "delete", "head")
SAMPLES = {
    "queue_name": "jobs",
    "topic_name": "news",
    "message_id": "m1",
    "claim_id": "c1",
    "subscription_id": "s1",
}


def document(admin_mode: bool = True, auth: str = "noauth") -> dict[str, Any]:
    return describe(Limits(), admin_mode=admin_mode, auth=auth)


def concrete(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda found: SAMPLES[found[1]], template)


def documented_methods(item: dict[str, Any]) -> set[str]:
    return {method.upper() for method in METHODS if method in item}


def test_the_document_is_valid_openapi_3_1_for_every_setting() -> None:
    for admin_mode in (True, False):
        for auth in ("noauth", "keystone", "apikey"):
            described = document(admin_mode, auth)
            assert described["openapi"] == "3.1.0"
            schemathesis.openapi.from_dict(described).validate()


def test_every_documented_path_is_routed_with_exactly_its_methods() -> None:
    for admin_mode in (True, False):
        router = Router(admin_mode=admin_mode)
        for template, item in document(admin_mode)["paths"].items():
            route = router.resolve(concrete(template))
            assert route is not None, template
            assert set(route.resource) == documented_methods(item), template


def test_every_route_is_documented() -> None:
    router = Router(admin_mode=True)
    # A resource maps HTTP methods to handlers (the console's files are no API).
    resources = [
        value
        for value in vars(router).values()
        if isinstance(value, dict) and value and set(value) <= {m.upper() for m in METHODS}
    ]
    reached: list[Resource] = []
    for template in document()["paths"]:
        route = router.resolve(concrete(template))
        assert route is not None
        reached.append(route.resource)
    missing = [r for r in resources if not any(r is seen for seen in reached)]
    assert missing == [], f"routes the document does not describe: {missing}"


def test_topics_are_described_exactly_where_the_router_takes_them() -> None:
    paths = document()["paths"]
    router = Router(admin_mode=True)
    queue_templates = [t for t in paths if t.startswith("/v2/queues")]
    assert queue_templates
    for queue_template in queue_templates:
        template = queue_template.replace("/v2/queues", "/v2/topics").replace(
            "{queue_name}", "{topic_name}"
        )
        route = router.resolve(concrete(template))
        if route is None:
            assert template not in paths, template
            continue
        assert template in paths, f"a topic route the document does not describe: {template}"
        assert route.topic, template
        assert route.template == template.replace("{topic_name}", "{topic}"), template
        assert documented_methods(paths[template]) == set(route.resource), template
    assert not any("/claims" in t or "/share" in t for t in paths if t.startswith("/v2/topics"))


def test_topic_operations_speak_of_topics_and_list_as_topics() -> None:
    paths = document()["paths"]
    listing = paths["/v2/topics"]["get"]["responses"]["200"]
    assert listing["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TopicList"
    }
    assert "topics" in document()["components"]["schemas"]["TopicList"]["required"]
    item = paths["/v2/topics/{topic_name}/messages"]
    assert [p["name"] for p in item["parameters"]] == ["topic_name"]
    assert "queue" not in paths["/v2/topics/{topic_name}"]["delete"]["summary"]
    # The queue items are not changed by making the topic ones from them.
    assert [p["name"] for p in paths["/v2/queues/{queue_name}/messages"]["parameters"]] == [
        "queue_name"
    ]


def test_health_is_described_only_in_admin_mode() -> None:
    assert "/v2/health" in document(admin_mode=True)["paths"]
    assert "/v2/health" not in document(admin_mode=False)["paths"]
    assert Router(admin_mode=False).resolve("/v2/health") is None


def test_every_operation_describes_the_identity_headers_and_its_errors() -> None:
    for template, item in document()["paths"].items():
        for method in documented_methods(item):
            operation = item[method.lower()]
            names = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
            if template in ("/", "/openapi.json", "/healthz", "/readyz"):
                assert names == set() and operation["security"] == []
                continue
            assert {"Client-ID", "X-Project-ID"} <= names, (method, template)
            assert {"400", "401", "403", "404", "406", "503"} <= set(operation["responses"])


def test_the_project_header_is_required_only_where_it_is_trusted() -> None:
    def project_header(auth: str) -> dict[str, Any]:
        parameters = document(auth=auth)["paths"]["/v2/queues"]["get"]["parameters"]
        return next(p for p in parameters if p["name"] == "X-Project-ID")

    assert project_header("noauth")["required"] is True
    assert "securitySchemes" not in document(auth="noauth")["components"]
    for auth in ("keystone", "apikey"):
        assert project_header(auth)["required"] is False
        described = document(auth=auth)
        assert described["components"]["securitySchemes"]["token"]["name"] == "X-Auth-Token"
        assert described["security"] == [{"token": []}]


def test_the_document_states_the_servers_own_limits(make_server: ServerFactory) -> None:
    url = make_server(max_messages_per_page=7, max_claim_ttl=600)
    served = httpx.get(f"{url}/openapi.json")
    assert served.status_code == 200
    assert served.headers["content-type"] == "application/json"
    described = served.json()
    assert described["openapi"] == "3.1.0"
    listing = described["paths"]["/v2/queues/{queue_name}/messages"]["get"]["parameters"]
    limit = next(p for p in listing if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 7)
    ttl = described["components"]["schemas"]["ClaimBody"]["properties"]["ttl"]
    assert (ttl["minimum"], ttl["maximum"]) == (60, 600)
    assert described["components"]["schemas"]["MessageIn"]["properties"]["ttl"] == {
        "type": "integer",
        "minimum": 60,
        "maximum": 1209600,
    }


def test_it_is_served_without_credentials_under_auth(tmp_path: Any) -> None:
    with keyed_server(tmp_path) as keyed:
        assert httpx.get(f"{keyed.url}/v2/queues").status_code == 401
        served = httpx.get(f"{keyed.url}/openapi.json")
        assert served.status_code == 200
        assert served.json()["security"] == [{"token": []}]
