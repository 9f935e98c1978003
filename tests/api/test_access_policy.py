"""The access policy over HTTP (§8.5): Zaqar's defaults, and a policy file that narrows them."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from api_support import (
    ServerFactory,
    assert_empty,
    assert_error,
    client,
    counts,
    message,
    metadata,
    post,
    queue_names,
)
from support import new_client_id

POLICY = """\
# Only admins delete queues; producers (or admins) post; pre-signed URLs may not list.
"queues:delete": "role:admin"
"producers": "role:producer or rule:context_is_admin"
"messages:create": "rule:producers"
"messages:get_all": "not authenticated_by:signed_url"
"""
DENIED = "You are not authorized to complete this action."


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policy") / "policy.yaml"
    path.write_text(POLICY)
    return path


@pytest.fixture
def narrowed(make_server: ServerFactory, policy_file: Path) -> str:
    """A server under the policy file above, which also signs URLs."""
    return make_server(policy_file=str(policy_file), signed_url_secret_key="k")


def post_as(api: httpx.Client, queue: str, roles: str) -> httpx.Response:
    return api.post(
        f"/v2/queues/{queue}/messages",
        json={"messages": [message()]},
        headers={"X-Roles": roles},
    )


def test_by_default_any_caller_may_delete_a_queue(api: httpx.Client) -> None:
    post(api, "q")
    assert_empty(api.delete("/v2/queues/q", headers={"X-Roles": "member"}))
    assert counts(api, "q") == (0, 0, 0)


def test_a_denied_action_is_403_json_and_changes_nothing(narrowed: str) -> None:
    with client(narrowed) as member:
        assert post_as(member, "q", "producer").status_code == 201
        member.patch(
            "/v2/queues/q",
            json=[{"op": "add", "path": "/metadata/colour", "value": "blue"}],
            headers={"Content-Type": "application/openstack-messaging-v2.0-json-patch"},
        )
        before = metadata(member, "q")
        response = member.delete("/v2/queues/q", headers={"X-Roles": "member"})
        assert assert_error(response, 403, "Not authorized")["description"] == DENIED
        assert queue_names(member) == ["q"]
        assert metadata(member, "q") == before and before["colour"] == "blue"
        assert counts(member, "q") == (0, 1, 1)


def test_the_role_the_file_asks_for_allows_the_action(narrowed: str) -> None:
    with client(narrowed) as admin:
        assert post_as(admin, "q", "admin").status_code == 201
        assert_empty(admin.delete("/v2/queues/q", headers={"X-Roles": "Member, Admin"}))
        assert queue_names(admin) == []


def test_rules_of_the_file_may_refer_to_each_other(narrowed: str) -> None:
    with client(narrowed) as member:
        assert_error(post_as(member, "q", "member"), 403, "Not authorized")
        assert_error(post_as(member, "q", ""), 403, "Not authorized")
        assert counts(member, "q") == (0, 0, 0)
        assert post_as(member, "q", "producer").status_code == 201
        assert post_as(member, "q", "admin").status_code == 201
        assert counts(member, "q") == (0, 2, 2)


def test_what_the_file_leaves_alone_keeps_zaqars_default(narrowed: str) -> None:
    with client(narrowed) as member:
        assert member.put("/v2/queues/q").status_code == 201
        assert member.get("/v2/queues/q/stats").status_code == 200
        assert member.get("/v2/queues/q/messages").status_code == 200


def test_the_policy_holds_for_pre_signed_urls_too(narrowed: str) -> None:
    with client(narrowed) as owner:
        posted = post_as(owner, "q", "producer")
        assert posted.status_code == 201
        (href,) = posted.json()["resources"]
        response = owner.post("/v2/queues/q/share", json={"methods": ["GET"]})
        assert response.status_code == 200
        grant = response.json()
    headers = {
        "Client-ID": new_client_id(),
        "X-Project-ID": grant["project"],
        "URL-Signature": grant["signature"],
        "URL-Expires": grant["expires"],
        "URL-Methods": ",".join(grant["methods"]),
        "URL-Paths": ",".join(grant["paths"]),
    }
    with httpx.Client(base_url=narrowed, headers=headers) as holder:
        # The signature holds, so the policy decides: listing is denied, one message is not.
        assert_error(holder.get("/v2/queues/q/messages"), 403, "Not authorized")
        assert holder.get(href).status_code == 200


def test_health_needs_the_admin_role_under_a_policy_file_too(
    make_server: ServerFactory, policy_file: Path
) -> None:
    with client(make_server(policy_file=str(policy_file), admin_mode=True)) as caller:
        assert_error(caller.get("/v2/health", headers={"X-Roles": "member"}), 403)
        assert caller.get("/v2/health", headers={"X-Roles": "admin"}).status_code == 200
