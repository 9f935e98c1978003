"""The root documents, ping and health, routing errors, and the header pipeline (§1.1, §1.2)."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from api_support import (
    ServerFactory,
    assert_empty,
    assert_error,
    assert_json,
    assert_routing_error,
    client,
    listed_ids,
    message,
    post,
    project_of,
    queue_names,
    stats,
)
from support import headers

VERSIONS = {
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

HOME_RELS = {
    "rel/queues",
    "rel/queue",
    "rel/queue_stats",
    "rel/queue_purge",
    "rel/messages",
    "rel/post_messages",
    "rel/messages_delete",
    "rel/message_delete",
    "rel/message_get",
    "rel/claim",
    "rel/post_claim",
    "rel/patch_claim",
    "rel/delete_claim",
    "rel/ping",
}

HEALTH_OPERATIONS = {
    "create_queue",
    "post_messages",
    "claim_messages",
    "list_messages",
    "delete_messages",
    "delete_claim",
    "bulk_delete_messages",
    "delete_queue",
}


def bare(server_url: str) -> httpx.Client:
    """A client that sends no Client-ID, project or content type of its own."""
    return httpx.Client(base_url=server_url, timeout=30)


# The root document


def test_root_is_the_versions_document_without_any_header(server_url: str) -> None:
    with bare(server_url) as anonymous:
        response = anonymous.get("/")
    assert response.status_code == 300
    assert assert_json(response) == VERSIONS


def test_root_ignores_the_identity_headers(api: httpx.Client) -> None:
    response = api.get("/", headers={"Client-ID": "not a uuid"})
    assert response.status_code == 300
    assert response.json() == VERSIONS


# The home document


def test_home_document_is_json_home_and_cacheable(api: httpx.Client) -> None:
    response = api.get("/v2/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json-home"
    assert response.headers["cache-control"] == "max-age=86400"
    resources = response.json()["resources"]
    assert set(resources) >= HOME_RELS
    assert "rel/health" not in resources
    for rel, resource in resources.items():
        assert resource["href-template"].startswith("/v2/"), rel
        assert isinstance(resource["href-vars"], dict), rel
        assert resource["hints"]["allow"], rel
        assert "application/json" in resource["hints"]["formats"], rel
    assert resources["rel/queues"]["href-template"].startswith("/v2/queues{?")
    assert resources["rel/messages_delete"]["href-template"].endswith("{?ids,pop}")
    assert "claim_id" in resources["rel/message_delete"]["href-template"]
    assert resources["rel/post_messages"]["hints"]["allow"] == ["POST"]
    assert resources["rel/post_messages"]["hints"]["accept-post"] == ["application/json"]


def test_home_document_needs_the_identity_headers(server_url: str) -> None:
    with bare(server_url) as anonymous:
        assert_error(anonymous.get("/v2/"), 400)


def test_home_document_lists_health_in_admin_mode(make_server: ServerFactory) -> None:
    with client(make_server(admin_mode=True)) as admin:
        response = admin.get("/v2/")
    assert response.status_code == 200
    assert response.json()["resources"]["rel/health"]["href-template"] == "/v2/health"


def test_v2_without_slash_is_not_found(api: httpx.Client) -> None:
    assert_routing_error(api.get("/v2"), 404)


# Ping


def test_ping_get_and_head_answer_204(api: httpx.Client) -> None:
    assert_empty(api.get("/v2/ping"))
    assert_empty(api.head("/v2/ping"))


def test_ping_needs_the_identity_headers(server_url: str) -> None:
    with bare(server_url) as anonymous:
        assert_error(anonymous.get("/v2/ping"), 400)


# Health


def test_health_is_not_routed_without_admin_mode(api: httpx.Client) -> None:
    assert_routing_error(api.get("/v2/health", headers={"X-Roles": "admin"}), 404)


def test_health_needs_the_admin_role(make_server: ServerFactory) -> None:
    with client(make_server(admin_mode=True)) as admin:
        assert_error(admin.get("/v2/health"), 403, "Not authorized")
        assert_error(admin.get("/v2/health", headers={"X-Roles": "member"}), 403, "Not authorized")


def test_health_reports_each_operation(make_server: ServerFactory) -> None:
    with client(make_server(admin_mode=True)) as admin:
        response = admin.get("/v2/health", headers={"X-Roles": "member, admin"})
        assert admin.get("/v2/health", headers={"X-Roles": "Admin"}).status_code == 200
        assert response.status_code == 200
        report = assert_json(response)
        assert set(report) == {"storage_reachable", "operation_status"}
        assert report["storage_reachable"] is True
        operations = report["operation_status"]
        assert set(operations) == HEALTH_OPERATIONS
        for name, status in operations.items():
            assert set(status) == {"succeeded", "seconds", "ref"}, name
            assert status["succeeded"] is True, name
            assert isinstance(status["seconds"], float), name
        assert isinstance(operations["claim_messages"]["ref"], str)
        # The check cleans up after itself: the caller's project sees nothing.
        assert queue_names(admin) == []


def test_health_needs_the_identity_headers(make_server: ServerFactory) -> None:
    with bare(make_server(admin_mode=True)) as anonymous:
        assert_error(anonymous.get("/v2/health", headers={"X-Roles": "admin"}), 400)


# Routing errors


@pytest.mark.parametrize(
    "path",
    [
        "/v3/queues",
        "/v2/nothing",
        "/v2/queues/q/nothing",
        "/v2/queues/q/messages/1/extra",
        "/v2/queues/q/claims/c/extra",
        "/queues",
        "/v2/health",
    ],
)
def test_unknown_paths_are_404_with_a_title_only(api: httpx.Client, path: str) -> None:
    assert_routing_error(api.get(path), 404)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("HEAD", "/v2/queues/q", {"GET", "PUT", "PATCH", "DELETE"}),
        ("POST", "/v2/queues/q", {"GET", "PUT", "PATCH", "DELETE"}),
        ("POST", "/v2/queues", {"GET"}),
        ("PUT", "/v2/ping", {"GET", "HEAD"}),
        ("GET", "/v2/queues/q/purge", {"POST"}),
        ("PUT", "/v2/queues/q/messages", {"GET", "POST", "DELETE"}),
        ("PATCH", "/v2/queues/q/messages/1", {"GET", "DELETE"}),
        ("GET", "/v2/queues/q/claims", {"POST"}),
        ("PUT", "/v2/queues/q/claims/c", {"GET", "PATCH", "DELETE"}),
        ("DELETE", "/v2/queues/q/stats", {"GET"}),
        ("POST", "/", {"GET"}),
    ],
)
def test_unknown_methods_are_405_with_allow(
    api: httpx.Client, method: str, path: str, allowed: set[str]
) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
    if method != "HEAD":
        assert_routing_error(response, 405)


def test_routing_errors_come_before_the_header_checks(server_url: str) -> None:
    with bare(server_url) as anonymous:
        assert_routing_error(anonymous.get("/v2/nothing"), 404)
        assert_routing_error(anonymous.post("/v2/queues"), 405)


# Content-Type and Accept


def test_form_encoded_bodies_are_refused_and_change_nothing(api: httpx.Client) -> None:
    response = api.post(
        "/v2/queues/q/messages",
        content=b"messages=1",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(response, 400, "Invalid Content-Type")
    assert stats(api, "q")["total"] == 0
    assert queue_names(api) == []


def test_form_encoded_content_type_without_a_body_is_fine(api: httpx.Client) -> None:
    response = api.get("/v2/queues", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/plain, text/html"])
def test_accept_without_json_is_406(api: httpx.Client, accept: str) -> None:
    response = api.get("/v2/queues", headers={"Accept": accept})
    assert_error(response, 406)


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "*/*",
        "application/*",
        "text/html, application/json;q=0.5",
        "application/json; charset=utf-8",
    ],
)
def test_accept_allowing_json_is_fine(api: httpx.Client, accept: str) -> None:
    assert api.get("/v2/queues", headers={"Accept": accept}).status_code == 200


def test_a_406_changes_nothing(api: httpx.Client) -> None:
    response = api.post(
        "/v2/queues/q/messages",
        json={"messages": [message()]},
        headers={"Accept": "text/html"},
    )
    assert_error(response, 406)
    assert stats(api, "q")["total"] == 0


# Client-ID


def test_missing_client_id_is_400(api: httpx.Client) -> None:
    api.headers.pop("Client-ID")
    assert_error(api.get("/v2/queues"), 400, "Missing header value")
    response = api.post("/v2/queues/q/messages", json={"messages": [message()]})
    assert_error(response, 400, "Missing header value")
    api.headers["Client-ID"] = str(uuid.uuid4())
    assert stats(api, "q")["total"] == 0


@pytest.mark.parametrize(
    "value", ["not-a-uuid", "12345", "0" * 31, "0" * 33, "g" * 32, "", "{" + "0" * 31 + "}"]
)
def test_malformed_client_id_is_400(api: httpx.Client, value: str) -> None:
    response = api.post(
        "/v2/queues/q/messages", json={"messages": [message()]}, headers={"Client-ID": value}
    )
    assert_error(response, 400)
    assert stats(api, "q")["total"] == 0


@pytest.mark.parametrize(
    "form",
    [
        lambda u: str(u),
        lambda u: u.hex,
        lambda u: str(u).upper(),
        lambda u: "{" + str(u) + "}",
        lambda u: "urn:uuid:" + str(u),
    ],
    ids=["dashed", "hex", "upper", "braces", "urn"],
)
def test_every_uuid_form_is_accepted_and_means_the_same_client(
    api: httpx.Client, form: Callable[[uuid.UUID], str]
) -> None:
    same = uuid.uuid4()
    response = api.post(
        "/v2/queues/q/messages",
        json={"messages": [message()]},
        headers={"Client-ID": form(same)},
    )
    assert response.status_code == 201
    # Echo compares clients, not spellings: the canonical form sees its own post.
    own = {"Client-ID": str(same)}
    assert api.get("/v2/queues/q/messages", headers=own).json()["messages"] == []
    assert len(api.get("/v2/queues/q/messages?echo=true", headers=own).json()["messages"]) == 1


@pytest.mark.parametrize(("length", "ok"), [(9, False), (10, True), (36, True), (37, False)])
def test_client_id_length_rules_when_uuid_safety_is_off(
    make_server: ServerFactory, length: int, ok: bool
) -> None:
    url = make_server(client_id_uuid_safe="off")
    with client(url, client_id="c" * length) as api:
        response = api.post("/v2/queues/q/messages", json={"messages": [message()]})
        if ok:
            assert response.status_code == 201
            assert listed_ids(api, "q", echo=False) == []
            assert len(listed_ids(api, "q", echo=True)) == 1
        else:
            assert_error(response, 400)
            api.headers["Client-ID"] = "another-client"
            assert stats(api, "q")["total"] == 0


def test_missing_client_id_is_refused_even_when_uuid_safety_is_off(
    make_server: ServerFactory,
) -> None:
    with client(make_server(client_id_uuid_safe="off")) as api:
        api.headers.pop("Client-ID")
        assert_error(api.get("/v2/queues"), 400, "Missing header value")


# Project


def test_missing_project_is_400(api: httpx.Client) -> None:
    api.headers.pop("X-Project-ID")
    assert_error(api.get("/v2/queues"), 400, "Project-Id Missing")
    assert_error(api.put("/v2/queues/q"), 400, "Project-Id Missing")


def test_empty_project_is_400(api: httpx.Client) -> None:
    response = api.put("/v2/queues/q", headers={"X-Project-ID": ""})
    assert_error(response, 400, "Empty project header not allowed")


@pytest.mark.parametrize("header", ["X-Tenant-Id", "X-Tenant"])
def test_tenant_headers_name_the_project(api: httpx.Client, header: str) -> None:
    project = project_of(api)
    with httpx.Client(base_url=str(api.base_url), timeout=30) as other:
        tenant = {"Client-ID": str(uuid.uuid4()), header: project}
        assert other.put("/v2/queues/by-tenant", headers=tenant).status_code == 201
    assert queue_names(api) == ["by-tenant"]


def long_project(length: int) -> str:
    return (uuid.uuid4().hex * 9)[:length]


def test_project_id_of_256_characters_is_fine(api: httpx.Client) -> None:
    project = {"X-Project-ID": long_project(256)}
    assert api.put("/v2/queues/q", headers=project).status_code == 201
    listed = api.get("/v2/queues", headers=project).json()["queues"]
    assert [q["name"] for q in listed] == ["q"]


def test_project_id_of_257_characters_is_400_on_queue_routes(api: httpx.Client) -> None:
    project = {"X-Project-ID": long_project(257)}
    response = api.put("/v2/queues/q", headers=project)
    assert_error(response, 400, "Invalid queue identification")
    assert api.get("/v2/queues", headers={"X-Project-ID": long_project(256)}).json() == {
        "queues": [],
        "links": [],
    }


def test_long_project_id_is_refused_off_queue_routes_too(api: httpx.Client) -> None:
    # An identity value is checked before any store sees it, whatever the route.
    for path in ("/v2/queues", "/v2/ping", "/v2/"):
        response = api.get(path, headers={"X-Project-ID": "p" * 257})
        assert_error(response, 400, "Invalid queue identification")
    assert api.get("/v2/queues", headers={"X-Project-ID": "p" * 256}).status_code == 200


def test_long_project_id_is_refused_by_every_queue_route(api: httpx.Client) -> None:
    long = {"X-Project-ID": "x" * 257}
    for method, path in [
        ("GET", "/v2/queues/q"),
        ("GET", "/v2/queues/q/stats"),
        ("POST", "/v2/queues/q/purge"),
        ("GET", "/v2/queues/q/messages"),
        ("POST", "/v2/queues/q/claims"),
        ("GET", "/v2/queues/q/messages/1"),
        ("GET", "/v2/queues/q/claims/c"),
    ]:
        response = api.request(method, path, headers=long)
        assert_error(response, 400, "Invalid queue identification")


# Queue names


@pytest.mark.parametrize("name", ["q" * 64, "a.b", "a-b_c.D9", "9", "...", "-", "_"])
def test_valid_queue_names(api: httpx.Client, name: str) -> None:
    assert api.put(f"/v2/queues/{name}").status_code == 201
    assert post(api, name, message())
    assert name in queue_names(api)
    listed = api.get("/v2/queues", params={"detailed": "true"}).json()["queues"]
    assert {"name": name, "href": f"/v2/queues/{name}"} in [
        {"name": q["name"], "href": q["href"]} for q in listed
    ]


@pytest.mark.parametrize(
    "name", ["q" * 65, "a%20b", "a$b", "a:b", "%C3%BC", "a%2Cb", "a+b", "a%40b", "a*b"]
)
def test_invalid_queue_names_are_400_and_change_nothing(api: httpx.Client, name: str) -> None:
    for method, path, body in [
        ("PUT", f"/v2/queues/{name}", None),
        ("POST", f"/v2/queues/{name}/messages", {"messages": [message()]}),
        ("GET", f"/v2/queues/{name}", None),
        ("GET", f"/v2/queues/{name}/messages", None),
        ("POST", f"/v2/queues/{name}/claims", None),
        ("DELETE", f"/v2/queues/{name}", None),
    ]:
        response = api.request(method, path, json=body)
        assert_error(response, 400, "Invalid queue identification")
    assert queue_names(api) == []


# Order of the checks (§1.1)


def test_check_order(api: httpx.Client) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    bad_accept = {"Accept": "text/html"}
    no_client = {"Client-ID": ""}
    long_project = {"X-Project-ID": "p" * 300}
    bad_queue = "/v2/queues/bad$name/messages"
    # form-encoded body beats a bad Accept, the Client-ID, the project and the queue name
    response = api.post(
        bad_queue, content=b"a=1", headers={**form, **bad_accept, **no_client, **long_project}
    )
    assert_error(response, 400, "Invalid Content-Type")
    # Accept beats the Client-ID
    response = api.post(bad_queue, content=b"{}", headers={**bad_accept, **no_client})
    assert_error(response, 406)
    # Client-ID beats the project
    api.headers.pop("X-Project-ID")
    assert_error(api.post(bad_queue, content=b"{}", headers={"Client-ID": "bad"}), 400)
    assert api.post(bad_queue, content=b"{}", headers={"Client-ID": "bad"}).json()["title"] == (
        "Wrong UUID value"
    )
    # the project beats the queue name
    assert_error(api.post(bad_queue, content=b"{}"), 400, "Project-Id Missing")
    # the queue name beats the body
    api.headers["X-Project-ID"] = "p-" + uuid.uuid4().hex
    assert_error(api.post(bad_queue, content=b"{not json"), 400, "Invalid queue identification")


def test_the_project_scopes_everything(api: httpx.Client) -> None:
    ids = post(api, "shared", message(), message())
    with client(str(api.base_url)) as stranger:
        assert queue_names(stranger) == []
        assert stranger.get("/v2/queues/shared/stats").json()["messages"]["total"] == 0
        assert stranger.get("/v2/queues/shared/messages?echo=true").json()["messages"] == []
        assert stranger.get(f"/v2/queues/shared/messages/{ids[0]}").status_code == 404
        assert stranger.get(f"/v2/queues/shared/messages?ids={ids[0]}").status_code == 404
        assert stranger.post("/v2/queues/shared/claims").status_code == 204
        assert stranger.delete(f"/v2/queues/shared/messages/{ids[0]}").status_code == 204
        assert stranger.delete(f"/v2/queues/shared/messages?ids={ids[1]}").status_code == 204
        assert stranger.delete("/v2/queues/shared/messages?pop=2").json() == {"messages": []}
        assert stranger.post("/v2/queues/shared/purge").status_code == 204
        assert stranger.delete("/v2/queues/shared").status_code == 204
        claim = api.post("/v2/queues/shared/claims?limit=1")
        claim_path = claim.headers["location"]
        assert stranger.get(claim_path).status_code == 404
        assert stranger.patch(claim_path, json={"ttl": 100}).status_code == 404
        assert stranger.delete(claim_path).status_code == 204
    assert api.get(claim_path).status_code == 200
    found = stats(api, "shared")
    assert (found["claimed"], found["free"], found["total"]) == (1, 1, 2)


def test_headers_are_case_insensitive(server_url: str) -> None:
    raw = headers()
    lowered = {k.lower(): v for k, v in raw.items()}
    with httpx.Client(base_url=server_url, headers=lowered, timeout=30) as api:
        assert api.get("/v2/queues").status_code == 200
