"""/metrics of a real `herald serve`: scraped before and after known traffic, the
counters move by exactly what was sent, with one worker or several."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from metrics_support import Sample, counter, delivery, scrape, scrape_until, serve_metered
from support import headers
from webhook_receiver import webhook_receiver
from ws_support import Frames


def moved(before: dict[Sample, float], after: dict[Sample, float]) -> dict[Sample, float]:
    """How each herald counter moved; unmoved ones left out."""
    deltas = {}
    for key, value in after.items():
        name = key[0]
        if not name.startswith("herald_") or not name.endswith("_total"):
            continue
        delta = value - before.get(key, 0.0)
        if delta:
            deltas[key] = delta
    return deltas


def request(route: str, method: str, status: int) -> Sample:
    return (
        "herald_http_requests_total",
        (("method", method), ("route", route), ("status", str(status))),
    )


def send_known_traffic(url: str) -> None:
    api = httpx.Client(base_url=url + "/v2/queues", headers=headers(), timeout=10)
    with api:
        assert api.put("/metered").status_code == 201
        for _ in range(4):
            posted = api.post(
                "/metered/messages", json={"messages": [{"body": n, "ttl": 300} for n in range(3)]}
            )
            assert posted.status_code == 201
        claimed = api.post("/metered/claims", params={"limit": 5}, json={"ttl": 60})
        assert claimed.status_code == 201
        claim_href = claimed.headers["location"]
        claim_id = claim_href.rsplit("/", 1)[1]
        first = claimed.json()["messages"][0]["id"]
        assert api.patch(f"/metered/claims/{claim_id}", json={"ttl": 120}).status_code == 204
        deleted = api.delete(f"/metered/messages/{first}", params={"claim_id": claim_id})
        assert deleted.status_code == 204
        assert api.delete(f"/metered/claims/{claim_id}").status_code == 204
        assert api.delete("/metered/messages", params={"pop": 2}).status_code == 200
        policy = {"_max_claim_count": 1, "_dead_letter_queue": "graveyard"}
        assert api.put("/fragile", json=policy).status_code == 201
        posted = api.post("/fragile/messages", json={"messages": [{"body": 1}, {"body": 2}]})
        assert posted.status_code == 201
        once = api.post("/fragile/claims", json={"ttl": 60})
        assert once.status_code == 201
        assert api.delete(once.headers["location"].split("/v2/queues", 1)[1]).status_code == 204
        # Both were claimed once already: this claim moves them to the dead-letter queue.
        assert api.post("/fragile/claims", json={"ttl": 60}).status_code == 204
    assert httpx.get(url + "/no/such/path", timeout=10).status_code == 404


EXPECTED = {
    request("/v2/queues/{queue}", "PUT", 201): 2,
    request("/v2/queues/{queue}/messages", "POST", 201): 5,
    request("/v2/queues/{queue}/claims", "POST", 201): 2,
    request("/v2/queues/{queue}/claims", "POST", 204): 1,
    request("/v2/queues/{queue}/claims/{claim_id}", "PATCH", 204): 1,
    request("/v2/queues/{queue}/claims/{claim_id}", "DELETE", 204): 2,
    request("/v2/queues/{queue}/messages/{message_id}", "DELETE", 204): 1,
    request("/v2/queues/{queue}/messages", "DELETE", 200): 1,
    request("unmatched", "GET", 404): 1,
    counter("messages_posted"): 14,
    counter("messages_claimed"): 7,
    counter("messages_deleted"): 3,
    counter("messages_dead_lettered"): 2,
    counter("claims_created"): 2,
    counter("claims_renewed"): 1,
    counter("claims_released"): 2,
}


def test_counters_move_by_exactly_the_traffic_sent_to_two_workers(
    store_uri: str, tmp_path: Path
) -> None:
    server, metrics_port = serve_metered(
        store_uri,
        tmp_path,
        "--workers",
        "2",
        env={"HERALD_METRICS_DEPTH_INTERVAL": "1"},
    )
    try:
        before = scrape(metrics_port)
        send_known_traffic(server.url)
        after = scrape(metrics_port)
        assert moved(before, after) == EXPECTED
        histogram = (
            "herald_http_request_duration_seconds_count",
            (("method", "POST"), ("route", "/v2/queues/{queue}/messages")),
        )
        assert after[histogram] - before.get(histogram, 0) == 5
        assert after["herald_store_up", ()] == 1
        assert any(name == "herald_build_info" for name, _ in after)
        delayed = httpx.post(
            f"{server.url}/v2/queues/later/messages",
            json={"messages": [{"body": 1, "delay": 300}]},
            headers=headers(),
            timeout=10,
        )
        assert delayed.status_code == 201
        assert_depths_reach(
            metrics_port,
            {
                "metered": {"free": 9, "claimed": 0, "delayed": 0},
                "graveyard": {"free": 2, "claimed": 0, "delayed": 0},
                "later": {"free": 0, "claimed": 0, "delayed": 1},
            },
        )
    finally:
        assert server.stop() == 0


def assert_depths_reach(
    metrics_port: int, wanted: dict[str, dict[str, int]], within: float = 20
) -> None:
    """The sampler shows each queue with these many messages in each state."""
    deadline = time.monotonic() + within
    while True:
        shown: dict[str, dict[str, float]] = {}
        for (name, labels), value in scrape(metrics_port).items():
            if name == "herald_queue_messages":
                label = dict(labels)
                shown.setdefault(label["queue"], {})[label["state"]] = value
        if all(shown.get(queue) == states for queue, states in wanted.items()):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"queue depths shown {shown}, expected {wanted}")
        time.sleep(0.2)


def test_one_worker_counts_in_its_own_process(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    server, metrics_port = serve_metered(store, tmp_path, "--workers", "1")
    try:
        before = scrape(metrics_port)
        send_known_traffic(server.url)
        assert moved(before, scrape(metrics_port)) == EXPECTED
    finally:
        assert server.stop() == 0


def test_a_run_starts_from_zero_in_a_metrics_dir_an_earlier_run_used(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    directory = tmp_path / "metrics"
    env = {"HERALD_METRICS_DIR": str(directory)}
    for run in range(2):
        server, metrics_port = serve_metered(store, tmp_path, "--workers", "2", env=env)
        try:
            assert scrape(metrics_port).get(counter("messages_posted"), 0) == 0, f"run {run}"
            project = headers(project=f"p-{uuid.uuid4().hex[:8]}")
            for _ in range(3):
                answer = httpx.post(
                    f"{server.url}/v2/queues/q/messages",
                    json={"messages": [{"body": 1}]},
                    headers=project,
                    timeout=10,
                )
                assert answer.status_code == 201
            assert scrape(metrics_port)[counter("messages_posted")] == 3
        finally:
            assert server.stop() == 0
    # Herald's own files were replaced, never left to add up: one run's worth remains.
    assert directory.is_dir()


def test_the_metrics_port_must_be_free(tmp_path: Path) -> None:
    from support import failed_start

    with socket_taken() as port:
        code, output = failed_start(tmp_path, "--metrics-port", str(port))
    assert code == 2
    assert f"herald: cannot serve metrics on 127.0.0.1:{port}" in output
    assert "Traceback" not in output


class socket_taken:
    """A port some other program listens on."""

    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        return int(self.sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def worker_pids(directory: Path) -> set[int]:
    """The workers writing metric files in `directory` (each has its own `live` gauges)."""
    return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("gauge_livemin_*.db")}


def test_counts_survive_a_worker_killed_and_its_live_gauges_go(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    directory = tmp_path / "metrics"
    server, metrics_port = serve_metered(
        store, tmp_path, "--workers", "2", env={"HERALD_METRICS_DIR": str(directory)}
    )
    try:
        sent = headers()
        for _ in range(20):
            answer = httpx.post(
                f"{server.url}/v2/queues/q/messages",
                json={"messages": [{"body": 1}]},
                headers=sent,
                timeout=10,
            )
            assert answer.status_code == 201
        assert scrape(metrics_port)[counter("messages_posted")] == 20
        workers = worker_pids(directory)
        assert len(workers) == 2
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        # uvicorn starts a worker in the killed one's place.
        while len(worker_pids(directory) - workers) < 1:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.1)
        after = scrape(metrics_port)
        # A dead worker's counts stay in the sum (counters never go down); its
        # `live` gauge leaves it.
        assert after[counter("messages_posted")] == 20
        assert after["herald_store_up", ()] == 1
        assert victim not in worker_pids(directory)
    finally:
        assert server.stop() == 0


def test_deliveries_to_a_real_receiver_move_the_notification_metrics_exactly(
    store_uri: str, tmp_path: Path
) -> None:
    env = {"HERALD_NOTIFICATIONS_POLL_INTERVAL": "0.05", "HERALD_METRICS_DEPTH_INTERVAL": "1"}
    with webhook_receiver() as receiver:
        server, metrics_port = serve_metered(store_uri, tmp_path, "--workers", "2", env=env)
        try:
            api = httpx.Client(base_url=server.url + "/v2/queues", headers=headers(), timeout=10)
            with api:
                # The first message is answered 503 (retried at once), then 400 (given up).
                receiver.answer("/hook", 503, 400)
                made = api.post(
                    "/notified/subscriptions", json={"subscriber": receiver.url("/hook")}
                )
                assert made.status_code == 201
                picky = {
                    "subscriber": receiver.url("/picky"),
                    "options": {"filter_policy": {"price": [{"numeric": [">", 100]}]}},
                }
                assert api.post("/notified/subscriptions", json=picky).status_code == 201
                before = scrape(metrics_port)
                for price in (5, 500, 50):
                    posted = api.post(
                        "/notified/messages", json={"messages": [{"body": {"price": price}}]}
                    )
                    assert posted.status_code == 201
            receiver.wait_for("/hook", 4)
            receiver.wait_for("/picky", 1)
            wanted = {
                delivery("webhook", "delivered"): 3,
                delivery("webhook", "retried"): 1,
                delivery("webhook", "failed"): 1,
                ("herald_notification_skipped_total", (("reason", "filtered"),)): 2,
            }

            def notified(samples: dict[Sample, float]) -> dict[Sample, float]:
                return {k: v for k, v in moved(before, samples).items() if "notification" in k[0]}

            after = scrape_until(metrics_port, lambda samples: notified(samples) == wanted)
            lag = ("herald_notification_lag_seconds_count", (("kind", "webhook"),))
            assert after[lag] - before.get(lag, 0) == 3
            attempts = (
                "herald_notification_delivery_duration_seconds_count",
                (("kind", "webhook"),),
            )
            assert after[attempts] - before.get(attempts, 0) == 5
            # Nothing is left in the outbox once the sampler has looked again.
            scrape_until(
                metrics_port,
                lambda samples: (
                    samples.get(("herald_notification_backlog", ())) == 0
                    and samples.get(("herald_notification_oldest_pending_seconds", ())) == 0
                ),
            )
            assert len(receiver.received("/hook")) == 4
            assert len(receiver.received("/picky")) == 1
        finally:
            assert server.stop() == 0


def gauge(samples: dict[Sample, float], name: str) -> float:
    return samples.get((f"herald_{name}", ()), 0.0)


def test_a_held_long_poll_shows_in_the_gauge_then_leaves_it(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    server, metrics_port = serve_metered(store, tmp_path, "--workers", "2")
    woken = ("herald_long_polls_total", (("outcome", "woken"),))
    timed_out = ("herald_long_polls_total", (("outcome", "timed_out"),))
    try:
        sent = headers()
        before = scrape(metrics_port)
        assert gauge(before, "long_polls_waiting") == 0
        answers: list[httpx.Response] = []

        def hold() -> None:
            answers.append(
                httpx.get(
                    f"{server.url}/v2/queues/held/messages",
                    params={"wait": "15", "echo": "true"},
                    headers=sent,
                    timeout=30,
                )
            )

        waiter = threading.Thread(target=hold)
        waiter.start()
        scrape_until(metrics_port, lambda samples: gauge(samples, "long_polls_waiting") == 1)
        posted = httpx.post(
            f"{server.url}/v2/queues/held/messages",
            json={"messages": [{"body": 1}]},
            headers=sent,
            timeout=10,
        )
        assert posted.status_code == 201
        waiter.join(30)
        assert [answer.status_code for answer in answers] == [200]
        after = scrape_until(
            metrics_port, lambda samples: gauge(samples, "long_polls_waiting") == 0
        )
        assert after[woken] - before.get(woken, 0) == 1
        empty = httpx.get(
            f"{server.url}/v2/queues/empty/messages",
            params={"wait": "1"},
            headers=sent,
            timeout=30,
        )
        assert empty.status_code == 200
        assert empty.json()["messages"] == []
        after = scrape(metrics_port)
        assert after[timed_out] - before.get(timed_out, 0) == 1
        assert gauge(after, "long_polls_waiting") == 0
    finally:
        assert server.stop() == 0


def frames(samples: dict[Sample, float], direction: str) -> float:
    return samples.get(("herald_websocket_frames_total", (("direction", direction),)), 0.0)


def test_websockets_and_their_push_subscriptions_show_while_open(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'herald.sqlite3'}"
    server, metrics_port = serve_metered(store, tmp_path, "--workers", "2")
    try:
        before = scrape(metrics_port)
        assert gauge(before, "websocket_connections") == 0
        with Frames(server.url) as first, Frames(server.url) as second:
            first.ok("queue_create", {"queue_name": "q"}, 201)
            second.ok("subscription_create", {"queue_name": "q", "ttl": 600}, 201)
            shown = scrape_until(
                metrics_port,
                lambda samples: (
                    gauge(samples, "websocket_connections") == 2
                    and gauge(samples, "websocket_push_subscriptions") == 1
                ),
            )
            assert gauge(shown, "websocket_push_subscriptions") == 1
            # Two requests answered, then one message posted and pushed to the subscriber.
            first.ok("message_post", {"queue_name": "q", "messages": [{"body": 1}]}, 201)
            pushed = second.receive()
            assert pushed["body"] == 1, pushed
            counted = scrape_until(
                metrics_port, lambda samples: frames(samples, "sent") - frames(before, "sent") == 4
            )
            assert frames(counted, "received") - frames(before, "received") == 3
        scrape_until(
            metrics_port,
            lambda samples: (
                gauge(samples, "websocket_connections") == 0
                and gauge(samples, "websocket_push_subscriptions") == 0
            ),
        )
    finally:
        assert server.stop() == 0
