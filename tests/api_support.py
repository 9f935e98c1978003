"""Helpers of the HTTP behaviour suite: posting, claiming, paging and error checks."""

from __future__ import annotations

import socket
import uuid
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from support import headers

MESSAGE_KEYS = {"id", "href", "ttl", "age", "body"}
POPPED_KEYS = {"id", "age", "ttl", "body", "claim_id", "claim_count"}
PATCH_TYPE = "application/openstack-messaging-v2.0-json-patch"
RESERVED_DEFAULTS: dict[str, Any] = {
    "_max_messages_post_size": 262144,
    "_default_message_ttl": 3600,
    "_default_message_delay": 0,
    "_dead_letter_queue": None,
    "_dead_letter_queue_messages_ttl": None,
    "_max_claim_count": None,
    "_enable_encrypt_messages": False,
}

# A query parameter as the helpers take it; booleans go out as the API spells them.
QueryValue = str | int | bool


class ServerFactory(Protocol):
    """The `make_server` fixture: the base URL of a server with these settings overridden."""

    def __call__(self, **overrides: object) -> str: ...


def client(base_url: str, project: str | None = None, client_id: str | None = None) -> httpx.Client:
    """A client of a server with its own project (and Client-ID) unless told."""
    return httpx.Client(base_url=base_url, headers=headers(project, client_id), timeout=30)


def peer(api: httpx.Client) -> httpx.Client:
    """Another client in the same project, with a Client-ID of its own."""
    return client(str(api.base_url), project=api.headers["X-Project-ID"])


def project_of(api: httpx.Client) -> str:
    return api.headers["X-Project-ID"]


def assert_json(response: httpx.Response) -> Any:
    assert response.headers["content-type"] == "application/json", response.headers
    return response.json()


def assert_error(response: httpx.Response, status: int, title: str | None = None) -> dict[str, Any]:
    """A client error: the status and a {title, description} JSON body."""
    assert response.status_code == status, (response.status_code, response.text)
    document: dict[str, Any] = assert_json(response)
    assert set(document) == {"title", "description"}, document
    assert isinstance(document["title"], str) and document["title"]
    assert isinstance(document["description"], str) and document["description"]
    if title is not None:
        assert document["title"] == title, document
    return document


def assert_routing_error(response: httpx.Response, status: int) -> None:
    titles = {404: "404 Not Found", 405: "405 Method Not Allowed"}
    assert response.status_code == status, (response.status_code, response.text)
    assert assert_json(response) == {"title": titles[status]}


def assert_empty(response: httpx.Response, status: int = 204) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.content == b""


def message(body: Any = None, ttl: int | None = None, delay: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"body": {"n": uuid.uuid4().hex[:8]} if body is None else body}
    if ttl is not None:
        out["ttl"] = ttl
    if delay is not None:
        out["delay"] = delay
    return out


def id_of(href: str) -> str:
    """The message id of a message href: the last path segment before any query."""
    return href.split("?")[0].rsplit("/", 1)[1]


def claim_id_of(href: str) -> str:
    """The claim id of a claimed message's href, read as python-zaqarclient does."""
    assert "?claim_id=" in href, href
    return href.rsplit("=", 1)[1]


def post(api: httpx.Client, queue: str, *messages: dict[str, Any]) -> list[str]:
    """Post messages (one default message if none given); their ids."""
    response = api.post(
        f"/v2/queues/{queue}/messages", json={"messages": list(messages) or [message()]}
    )
    assert response.status_code == 201, response.text
    return [id_of(href) for href in response.json()["resources"]]


def post_n(api: httpx.Client, queue: str, count: int, **fields: Any) -> list[str]:
    return post(api, queue, *({"body": {"i": i}, **fields} for i in range(count)))


def listing(api: httpx.Client, queue: str, **params: QueryValue) -> dict[str, Any]:
    response = api.get(f"/v2/queues/{queue}/messages", params=_params(params))
    assert response.status_code == 200, response.text
    document: dict[str, Any] = assert_json(response)
    return document


def listed_ids(api: httpx.Client, queue: str, **params: QueryValue) -> list[str]:
    params.setdefault("echo", True)
    params.setdefault("limit", 20)
    return [m["id"] for m in listing(api, queue, **params)["messages"]]


def walk(
    api: httpx.Client, path: str, key: str, **params: QueryValue
) -> list[list[dict[str, Any]]]:
    """Follow `next` links from the first page until an empty page; the pages."""
    response = api.get(path, params=_params(params))
    pages: list[list[dict[str, Any]]] = []
    for _ in range(1000):
        assert response.status_code == 200, response.text
        document = response.json()
        items = document[key]
        if not items:
            assert document["links"] == []
            return pages
        pages.append(items)
        (link,) = document["links"]
        assert link["rel"] == "next"
        assert link["href"].startswith(path + "?"), link
        response = api.get(link["href"])
    raise AssertionError("paging did not end")


def stats(api: httpx.Client, queue: str) -> dict[str, Any]:
    response = api.get(f"/v2/queues/{queue}/stats")
    assert response.status_code == 200, response.text
    return dict(assert_json(response)["messages"])


def counts(api: httpx.Client, queue: str) -> tuple[int, int, int]:
    """(claimed, free, total) of a queue."""
    found = stats(api, queue)
    return found["claimed"], found["free"], found["total"]


def claim(
    api: httpx.Client, queue: str, ttl: int = 60, grace: int = 60, limit: int | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Claim messages; (claim id, messages). Fails unless something was claimed."""
    params = {} if limit is None else {"limit": limit}
    response = api.post(
        f"/v2/queues/{queue}/claims", params=params, json={"ttl": ttl, "grace": grace}
    )
    assert response.status_code == 201, (response.status_code, response.text)
    location = response.headers["location"]
    claim_id = location.rsplit("/", 1)[1]
    return claim_id, response.json()["messages"]


def metadata(api: httpx.Client, queue: str) -> dict[str, Any]:
    response = api.get(f"/v2/queues/{queue}")
    assert response.status_code == 200, response.text
    return dict(assert_json(response))


def patch(api: httpx.Client, queue: str, operations: Any) -> httpx.Response:
    return api.patch(
        f"/v2/queues/{queue}",
        json=operations,
        headers={"Content-Type": PATCH_TYPE},
    )


def queue_names(api: httpx.Client) -> list[str]:
    response = api.get("/v2/queues", params={"limit": 20})
    assert response.status_code == 200, response.text
    return [q["name"] for q in response.json()["queues"]]


def _params(params: dict[str, QueryValue]) -> dict[str, str | int]:
    return {k: ("true" if v else "false") if isinstance(v, bool) else v for k, v in params.items()}


def raw_exchange(base_url: str, request: bytes, timeout: float = 5) -> tuple[int, bytes]:
    """Send bytes on a fresh connection; the status and body of the response."""
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, "connection closed before a response"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = dict(line.split(":", 1) for line in lines[1:])
        length = int({k.lower(): v for k, v in fields.items()}["content-length"])
        while len(rest) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed mid-body"
            rest += chunk
        return status, rest[:length]


def raw_request(api: httpx.Client, method: str, path: str, length: int, sent: bytes) -> bytes:
    head = [
        f"{method} {path} HTTP/1.1",
        f"Host: {urlsplit(str(api.base_url)).netloc}",
        f"Client-ID: {api.headers['Client-ID']}",
        f"X-Project-ID: {api.headers['X-Project-ID']}",
        "Content-Type: " + (PATCH_TYPE if method == "PATCH" else "application/json"),
        f"Content-Length: {length}",
        "",
        "",
    ]
    return "\r\n".join(head).encode() + sent
