"""`wait` on listings and claims over HTTP: its bounds, its answers, and no change without it.

Wake-ups across processes and on every backend are in tests/test_long_polls_across_processes.py.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from api_support import (
    ServerFactory,
    assert_empty,
    assert_error,
    assert_json,
    client,
    message,
    peer,
    post,
)

WAIT_PARAMS = ("/v2/queues/q/messages", "/v2/queues/q/claims")


def ask(api: httpx.Client, path: str, wait: str) -> httpx.Response:
    method = "POST" if path.endswith("claims") else "GET"
    return api.request(method, path, params={"wait": wait})


@pytest.mark.parametrize("path", WAIT_PARAMS)
@pytest.mark.parametrize("wait", ["1.001", "2", "-1", "-0.001", "soon", "nan", "inf", "1e400"])
def test_a_wait_outside_zero_to_max_wait_is_a_400_that_changes_nothing(
    make_server: ServerFactory, path: str, wait: str
) -> None:
    with client(make_server(max_wait=1)) as api:
        post(api, "q", message("stays"))
        document = assert_error(ask(api, path, wait), 400, "Invalid parameter")
        assert '"wait"' in document["description"]
        # Nothing was claimed by the refused request.
        assert api.post("/v2/queues/q/claims").status_code == 201


@pytest.mark.parametrize("wait", ["1", "1.0", "0", ""])
def test_a_wait_up_to_max_wait_ends_with_the_usual_empty_answers(
    make_server: ServerFactory, wait: str
) -> None:
    with client(make_server(max_wait=1)) as api:
        assert_empty(ask(api, "/v2/queues/q/claims", wait))
        assert assert_json(ask(api, "/v2/queues/q/messages", wait)) == {
            "messages": [],
            "links": [],
        }


def test_max_wait_zero_allows_no_waiting(make_server: ServerFactory) -> None:
    with client(make_server(max_wait=0)) as api:
        assert_empty(ask(api, "/v2/queues/q/claims", "0"))
        assert_error(ask(api, "/v2/queues/q/claims", "0.5"), 400, "Invalid parameter")


def test_a_waiting_claim_gets_the_message_posted_meanwhile(api: httpx.Client) -> None:
    answers: list[httpx.Response] = []
    with peer(api) as other:
        waiting = threading.Thread(
            target=lambda: answers.append(
                api.post("/v2/queues/q/claims", params={"wait": 20, "limit": 5}, timeout=10)
            )
        )
        waiting.start()
        ids = post(other, "q", message("one"), message("two"))
        waiting.join()
    (response,) = answers
    assert response.status_code == 201
    claimed = assert_json(response)["messages"]
    assert {m["href"].rsplit("/", 1)[1].split("?")[0] for m in claimed} <= set(ids)
    assert claimed


def test_a_listing_with_messages_answers_at_once_and_its_next_link_keeps_the_wait(
    api: httpx.Client,
) -> None:
    post(api, "q", message("there"))
    page = assert_json(api.get("/v2/queues/q/messages", params={"wait": 20, "echo": True}))
    assert [m["body"] for m in page["messages"]] == ["there"]
    (link,) = page["links"]
    assert "wait=20" in link["href"]


def test_without_wait_the_next_link_is_as_before(api: httpx.Client) -> None:
    post(api, "q", message("there"))
    page = assert_json(api.get("/v2/queues/q/messages", params={"echo": True}))
    assert "wait" not in page["links"][0]["href"]
