"""Pre-signed URLs (§2.2 share, §8.3, §8.4): making them, using them, and every way they fail."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from api_support import (
    PATCH_TYPE,
    ServerFactory,
    assert_error,
    assert_json,
    client,
    counts,
    id_of,
    listed_ids,
    message,
    metadata,
    patch,
    post,
    project_of,
)
from support import FakeClock, new_client_id

SECRET = "correct horse battery staple"
DAY = 86400
REFUSED = "404 Not Found"


@pytest.fixture
def signing(make_server: ServerFactory) -> str:
    """The base URL of a server with a secret key for pre-signed URLs."""
    return make_server(signed_url_secret_key=SECRET)


@pytest.fixture
def owner(signing: str) -> Iterator[httpx.Client]:
    """A client of the signing server in a project of its own, with ordinary credentials."""
    with client(signing) as api:
        yield api


def share(api: httpx.Client, queue: str, **body: Any) -> dict[str, Any]:
    response = api.post(f"/v2/queues/{queue}/share", json=body)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = assert_json(response)
    return document


def url_headers(grant: dict[str, Any], **changes: str) -> dict[str, str]:
    """The headers a holder of the URL sends, and nothing else but a Client-ID."""
    headers = {
        "Client-ID": new_client_id(),
        "X-Project-ID": grant["project"],
        "URL-Signature": grant["signature"],
        "URL-Expires": grant["expires"],
        "URL-Methods": ",".join(grant["methods"]),
        "URL-Paths": ",".join(grant["paths"]),
    }
    headers.update(changes)
    return headers


def holder(base_url: str, grant: dict[str, Any], **changes: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, headers=url_headers(grant, **changes), timeout=30)


def zaqar_signature(
    key: str, paths: list[str], methods: list[str], project: str, expires: str
) -> str:
    # The formula of API.md §8.3, with its literal backslash-n separators.
    text = r"\n".join((",".join(sorted(paths)), ",".join(sorted(methods)), project, expires))
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def assert_refused(response: httpx.Response) -> None:
    assert_error(response, 404, REFUSED)


# Making one


def test_a_share_answers_the_signed_grant_with_zaqars_defaults(
    owner: httpx.Client, clock: FakeClock
) -> None:
    response = owner.post("/v2/queues/jobs/share", json={})
    assert response.status_code == 200
    document = assert_json(response)
    assert list(document) == ["paths", "methods", "project", "expires", "signature"]
    project = project_of(owner)
    assert document["paths"] == ["/v2/queues/jobs/messages"]
    assert document["methods"] == ["GET"]
    assert document["project"] == project
    assert document["expires"] == stamp(clock.now + DAY)
    assert document["signature"] == zaqar_signature(
        SECRET, document["paths"], ["GET"], project, document["expires"]
    )


def test_paths_and_methods_are_sorted_and_signed_as_given(
    owner: httpx.Client, clock: FakeClock
) -> None:
    document = share(
        owner,
        "jobs",
        paths=["messages", "claims", "subscriptions"],
        methods=["POST", "GET", "DELETE"],
        expires="2099-01-02T03:04:05",
    )
    assert document["paths"] == [
        "/v2/queues/jobs/claims",
        "/v2/queues/jobs/messages",
        "/v2/queues/jobs/subscriptions",
    ]
    assert document["methods"] == ["DELETE", "GET", "POST"]
    assert document["expires"] == "2099-01-02T03:04:05"
    assert document["signature"] == zaqar_signature(
        SECRET, document["paths"], document["methods"], project_of(owner), "2099-01-02T03:04:05"
    )


@pytest.mark.parametrize(
    ("expires", "signed"),
    [
        ("2099-01-02T03:04:05Z", "2099-01-02T03:04:05"),
        ("2099-01-02T03:04:05+02:00", "2099-01-02T01:04:05"),
        ("2099-01-02T03:04:05.999999", "2099-01-02T03:04:05"),
        ("2099-01-02 03:04:05", "2099-01-02T03:04:05"),
        ("2099-01-02", "2099-01-02T00:00:00"),
    ],
)
def test_an_expiry_is_signed_as_utc_to_the_second(
    owner: httpx.Client, expires: str, signed: str
) -> None:
    assert share(owner, "jobs", expires=expires)["expires"] == signed


@pytest.mark.parametrize("body", [{"paths": []}, {"methods": []}, {"paths": None, "expires": None}])
def test_empty_or_null_fields_take_the_defaults(owner: httpx.Client, body: dict[str, Any]) -> None:
    document = share(owner, "jobs", **body)
    assert document["paths"] == ["/v2/queues/jobs/messages"]
    assert document["methods"] == ["GET"]


def test_the_expiry_must_be_later_than_now_to_the_second(
    owner: httpx.Client, clock: FakeClock
) -> None:
    clock.advance(1 - clock.now % 1)  # on a whole second, so that the boundary is exact
    assert_error(
        owner.post("/v2/queues/jobs/share", json={"expires": stamp(clock.now)}),
        400,
        "Invalid API request",
    )
    assert share(owner, "jobs", expires=stamp(clock.now + 1))["expires"] == stamp(clock.now + 1)


@pytest.mark.parametrize(
    ("body", "title"),
    [
        ({"paths": ["messages"], "colour": "blue"}, "Invalid API request"),
        ({"project": "other"}, "Invalid API request"),
        ({"paths": ["queues"]}, "Invalid API request"),
        ({"paths": ["Messages"]}, "Invalid API request"),
        ({"paths": ["messages", "share"]}, "Invalid API request"),
        ({"paths": "messages"}, "Invalid API request"),
        ({"paths": [1]}, "Invalid API request"),
        ({"methods": "GET"}, "Invalid API request"),
        ({"methods": ["GET", None]}, "Invalid API request"),
        ({"methods": ["GET\\nother"]}, "Invalid API request"),
        ({"expires": 4102444800}, "Invalid API request"),
        ({"expires": "4102444800"}, "Invalid API request"),
        ({"expires": " 42 "}, "Invalid API request"),
        ({"expires": True}, "Invalid API request"),
        ({"expires": ["2099-01-01T00:00:00"]}, "Invalid API request"),
        ({"expires": "tomorrow"}, "Invalid API request"),
        ({"expires": "2099-13-01T00:00:00"}, "Invalid API request"),
        ({"expires": "9999-12-31T23:59:59-23:59"}, "Invalid API request"),
        ({"expires": "2000-01-01T00:00:00"}, "Invalid API request"),
    ],
)
def test_a_bad_share_request_is_400(owner: httpx.Client, body: dict[str, Any], title: str) -> None:
    assert_error(owner.post("/v2/queues/jobs/share", json=body), 400, title)


@pytest.mark.parametrize("content", [b"", b"   ", b"[]", b'"messages"', b"{", b"null"])
def test_a_share_body_that_is_not_an_object_is_400(owner: httpx.Client, content: bytes) -> None:
    response = owner.post("/v2/queues/jobs/share", content=content)
    assert_error(response, 400, "Invalid request body")


def test_a_share_body_is_bounded_like_queue_metadata(owner: httpx.Client) -> None:
    body = b'{"methods": ["' + b"G" * 70000 + b'"]}'
    assert_error(owner.post("/v2/queues/jobs/share", content=body), 400, "Invalid API request")


def test_a_share_of_a_bad_queue_name_is_400(owner: httpx.Client) -> None:
    assert_error(
        owner.post("/v2/queues/no%20spaces/share", json={}), 400, "Invalid queue identification"
    )


def test_without_a_secret_key_sharing_says_so(api: httpx.Client) -> None:
    document = assert_error(api.post("/v2/queues/jobs/share", json={}), 400, "Invalid API request")
    assert "secret_key" in document["description"]


def test_the_share_route_takes_only_post(owner: httpx.Client) -> None:
    response = owner.get("/v2/queues/jobs/share")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_the_home_document_lists_the_share_resource(owner: httpx.Client) -> None:
    resources = owner.get("/v2/").json()["resources"]
    assert resources["rel/queue_share"]["href-template"] == "/v2/queues/{queue_name}/share"
    assert resources["rel/queue_share"]["hints"]["allow"] == ["POST"]


# Using one


def test_a_url_acts_for_its_project_without_other_credentials(
    signing: str, owner: httpx.Client
) -> None:
    grant = share(owner, "inbox", methods=["GET", "POST"])
    with holder(signing, grant) as anyone:
        posted = anyone.post("/v2/queues/inbox/messages", json={"messages": [message("hi")]})
        assert posted.status_code == 201, posted.text
        (href,) = posted.json()["resources"]
        listed = anyone.get("/v2/queues/inbox/messages", params={"echo": "true"})
        assert listed.status_code == 200
        assert [m["body"] for m in listed.json()["messages"]] == ["hi"]
        # A signed collection covers the resources under it.
        one = anyone.get(href)
        assert one.status_code == 200 and one.json()["body"] == "hi"
    assert listed_ids(owner, "inbox") == [id_of(href)]


def test_a_url_for_claims_claims_and_releases(signing: str, owner: httpx.Client) -> None:
    post(owner, "work")
    grant = share(owner, "work", paths=["claims"], methods=["POST", "DELETE"])
    with holder(signing, grant) as worker:
        taken = worker.post("/v2/queues/work/claims", json={"ttl": 60, "grace": 60})
        assert taken.status_code == 201, taken.text
        assert counts(owner, "work") == (1, 0, 1)
        released = worker.delete(taken.headers["location"])
        assert released.status_code == 204
    assert counts(owner, "work") == (0, 1, 1)


def test_a_url_is_good_until_the_second_it_expires(
    signing: str, owner: httpx.Client, clock: FakeClock
) -> None:
    clock.advance(1 - clock.now % 1)
    expires = clock.now + 120
    grant = share(owner, "brief", expires=stamp(expires))
    with holder(signing, grant) as anyone:
        clock.advance(expires - 1 - clock.now)
        assert anyone.get("/v2/queues/brief/messages").status_code == 200
        clock.advance(1)
        assert_refused(anyone.get("/v2/queues/brief/messages"))


def test_a_signed_request_still_needs_a_client_id(signing: str, owner: httpx.Client) -> None:
    grant = share(owner, "inbox")
    headers = url_headers(grant)
    del headers["Client-ID"]
    assert_error(httpx.get(signing + "/v2/queues/inbox/messages", headers=headers), 400)
    headers["Client-ID"] = "not a uuid"
    assert_error(httpx.get(signing + "/v2/queues/inbox/messages", headers=headers), 400)


def test_the_signature_is_judged_before_the_media_types(signing: str, owner: httpx.Client) -> None:
    grant = share(owner, "inbox")
    wrong = {"Accept": "text/html"}
    with holder(signing, grant, **{"URL-Signature": "0" * 64}) as forger:
        assert_refused(forger.get("/v2/queues/inbox/messages", headers=wrong))
    with holder(signing, grant) as anyone:
        assert anyone.get("/v2/queues/inbox/messages", headers=wrong).status_code == 406


def test_roles_sent_with_a_url_grant_nothing_more(make_server: ServerFactory) -> None:
    base = make_server(signed_url_secret_key=SECRET, admin_mode=True)
    with client(base) as owner:
        grant = share(owner, "inbox")
    with holder(base, grant, **{"X-Roles": "admin"}) as anyone:
        assert_refused(anyone.get("/v2/health"))
        assert anyone.get("/v2/queues/inbox/messages").status_code == 200


# Every way a URL fails: 404, and nothing changes


@pytest.fixture
def posting_grant(owner: httpx.Client) -> dict[str, Any]:
    """A URL that lets its holder post to and list queue `box` of the owner's project."""
    post(owner, "box")
    return share(owner, "box", methods=["GET", "POST"])


def forged(grant: dict[str, Any], field: str) -> dict[str, str]:
    """The URL's headers with one field changed."""
    if field == "signature":
        flipped = "0" if grant["signature"][0] != "0" else "1"
        return {"URL-Signature": flipped + grant["signature"][1:]}
    if field == "signature case":
        return {"URL-Signature": grant["signature"].upper()}
    if field == "expires":
        return {"URL-Expires": "2099-01-01T00:00:00"}
    if field == "methods":
        return {"URL-Methods": "DELETE,GET,POST"}
    if field == "paths":
        return {"URL-Paths": grant["paths"][0] + ",/v2/queues/box/claims"}
    if field == "project":
        return {"X-Project-ID": grant["project"] + "x"}
    raise AssertionError(field)


@pytest.mark.parametrize(
    "field", ["signature", "signature case", "expires", "methods", "paths", "project"]
)
def test_a_tampered_field_is_refused_and_changes_nothing(
    signing: str, owner: httpx.Client, posting_grant: dict[str, Any], field: str
) -> None:
    with holder(signing, posting_grant, **forged(posting_grant, field)) as forger:
        assert_refused(forger.post("/v2/queues/box/messages", json={"messages": [message()]}))
        assert_refused(forger.get("/v2/queues/box/messages"))
    assert counts(owner, "box") == (0, 1, 1)


@pytest.mark.parametrize("missing", ["URL-Expires", "URL-Methods", "URL-Paths", "X-Project-ID"])
def test_a_missing_field_is_refused(
    signing: str, owner: httpx.Client, posting_grant: dict[str, Any], missing: str
) -> None:
    headers = url_headers(posting_grant)
    del headers[missing]
    response = httpx.post(
        signing + "/v2/queues/box/messages", json={"messages": [message()]}, headers=headers
    )
    assert_refused(response)
    assert counts(owner, "box") == (0, 1, 1)


def test_an_expired_url_is_refused_and_changes_nothing(
    signing: str, owner: httpx.Client, clock: FakeClock
) -> None:
    post(owner, "box")
    grant = share(owner, "box", methods=["GET", "POST"], expires=stamp(clock.now + 60))
    clock.advance(60)
    with holder(signing, grant) as late:
        assert_refused(late.post("/v2/queues/box/messages", json={"messages": [message()]}))
    assert counts(owner, "box") == (0, 1, 1)


def test_a_method_that_was_not_signed_is_refused(
    signing: str, owner: httpx.Client, posting_grant: dict[str, Any]
) -> None:
    (existing,) = listed_ids(owner, "box")
    with holder(signing, posting_grant) as anyone:
        assert_refused(anyone.delete(f"/v2/queues/box/messages/{existing}"))
        assert_refused(anyone.delete("/v2/queues/box/messages", params={"ids": existing}))
    assert listed_ids(owner, "box") == [existing]


def test_a_path_that_was_not_signed_is_refused(
    signing: str, owner: httpx.Client, posting_grant: dict[str, Any]
) -> None:
    patch(owner, "box", [{"op": "add", "path": "/metadata/colour", "value": "blue"}])
    before = metadata(owner, "box")
    with holder(signing, posting_grant) as anyone:
        assert_refused(anyone.post("/v2/queues/box/claims", json={"ttl": 60, "grace": 60}))
        assert_refused(
            anyone.patch(
                "/v2/queues/box",
                json=[{"op": "add", "path": "/metadata/colour", "value": "red"}],
                headers={"Content-Type": PATCH_TYPE},
            )
        )
        assert_refused(anyone.post("/v2/queues/box/purge", json={}))
        assert_refused(anyone.post("/v2/queues/box/share", json={"methods": ["DELETE"]}))
        assert_refused(anyone.get("/v2/queues/box/stats"))
        assert_refused(anyone.get("/v2/queues"))
        assert_refused(anyone.get("/v2/ping"))
        assert_refused(anyone.post("/v2/queues/other/messages", json={"messages": [message()]}))
    assert metadata(owner, "box") == before
    assert counts(owner, "box") == (0, 1, 1)
    assert counts(owner, "other") == (0, 0, 0)


def test_a_queue_name_with_a_dot_opens_only_that_queue(signing: str, owner: httpx.Client) -> None:
    grant = share(owner, "a.b", methods=["POST"])
    with holder(signing, grant) as anyone:
        for other in ("axb", "a.bc", "a"):
            response = anyone.post(f"/v2/queues/{other}/messages", json={"messages": [message()]})
            assert_refused(response)
            assert counts(owner, other) == (0, 0, 0)
        created = anyone.post("/v2/queues/a.b/messages", json={"messages": [message()]})
        assert created.status_code == 201


def test_a_url_of_one_project_does_not_open_another(
    signing: str, owner: httpx.Client, posting_grant: dict[str, Any]
) -> None:
    with client(signing) as neighbour:
        post(neighbour, "box")
        other = project_of(neighbour)
        with holder(signing, posting_grant, **{"X-Project-ID": other}) as forger:
            assert_refused(forger.post("/v2/queues/box/messages", json={"messages": [message()]}))
        assert counts(neighbour, "box") == (0, 1, 1)
    assert counts(owner, "box") == (0, 1, 1)


@pytest.mark.parametrize("value", [b"", b"0" * 64, b"not hex at all", b"\xe9" * 64])
def test_any_signature_header_is_verified_never_skipped(
    signing: str, owner: httpx.Client, value: bytes
) -> None:
    post(owner, "box")
    # Ordinary credentials and a signature that does not hold: the signature wins.
    headers = {b"URL-Signature": value}
    response = owner.post(
        "/v2/queues/box/messages", json={"messages": [message()]}, headers=headers
    )
    assert_refused(response)
    assert_refused(owner.delete("/v2/queues/box", headers=headers))
    assert counts(owner, "box") == (0, 1, 1)


def test_without_a_secret_key_no_signature_holds(api: httpx.Client) -> None:
    post(api, "box")
    headers = url_headers(
        {
            "project": project_of(api),
            "signature": zaqar_signature("", ["/v2/queues/box/messages"], ["POST"], "p", "2099"),
            "expires": "2099-01-01T00:00:00",
            "methods": ["POST"],
            "paths": ["/v2/queues/box/messages"],
        }
    )
    response = api.post("/v2/queues/box/messages", json={"messages": []}, headers=headers)
    assert_refused(response)
    assert counts(api, "box") == (0, 1, 1)


def test_a_url_signed_with_another_key_is_refused(
    signing: str, make_server: ServerFactory, owner: httpx.Client
) -> None:
    other_server = make_server(signed_url_secret_key=SECRET + "!")
    with client(other_server, project=project_of(owner)) as elsewhere:
        grant = share(elsewhere, "box", methods=["POST"])
    with holder(signing, grant) as forger:
        assert_refused(forger.post("/v2/queues/box/messages", json={"messages": [message()]}))
    assert counts(owner, "box") == (0, 0, 0)
