"""Sending webhooks to a real HTTP server that fails on purpose: each outcome, the headers and
body it receives, signing, pinning to the judged address, and what is never followed."""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from certificates import self_signed, trusting
from delivery_support import Receiver, receiving
from herald.config import NotificationSettings
from herald.delivery.outcome import Outcome
from herald.delivery.payload import NotifiedMessage, WebhookRequest, notification_request
from herald.delivery.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from herald.delivery.webhook import RetryAfter, WebhookSender, classify
from herald.service.subscribers import HostRule, Subscriber, check_subscriber, webhook_options
from support import free_port

NOW = 1_764_590_000.0
SECRET = "a-secret-of-sixteen-or-more"


def subscriber(url: str, settings: NotificationSettings | None = None) -> Subscriber:
    return check_subscriber(url, HostRule(settings or NotificationSettings()))


def request() -> WebhookRequest:
    return notification_request(
        NotifiedMessage(ttl=300, body={"k": "v"}), "orders", webhook_options({})
    )


@pytest.fixture
async def sender() -> AsyncIterator[WebhookSender]:
    sender = WebhookSender(NotificationSettings(webhook_timeout=0.5))
    try:
        yield sender
    finally:
        await sender.aclose()


async def send(sender: WebhookSender, url: str, **kwargs: str) -> Outcome:
    return await sender.send(subscriber(url), request(), now=NOW, **kwargs)


async def test_a_2xx_is_delivered_with_zaqars_body(
    sender: WebhookSender, receiver: Receiver
) -> None:
    outcome = await send(sender, f"{receiver.url}/hook?x=1")
    assert outcome == Outcome(verdict="delivered", reason="answered 200", status=200)
    (got,) = receiver.received
    assert got.path == "/hook?x=1"
    assert got.headers["content-type"] == "application/json"
    assert json.loads(got.body) == {
        "ttl": 300,
        "body": {"k": "v"},
        "Message_Type": "Notification",
        "queue_name": "orders",
    }
    assert SIGNATURE_HEADER.lower() not in got.headers
    assert "x-auth-token" not in got.headers


async def test_the_connection_is_kept_for_the_next_delivery(
    sender: WebhookSender, receiver: Receiver
) -> None:
    for _ in range(3):
        assert (await send(sender, f"{receiver.url}/hook")).verdict == "delivered"
    assert len({got.peer_port for got in receiver.received}) == 1


async def test_a_body_past_the_cap_is_not_read_and_closes_the_connection(
    sender: WebhookSender, receiver: Receiver
) -> None:
    for _ in range(2):
        assert (await send(sender, f"{receiver.url}/big")).verdict == "delivered"
    assert len({got.peer_port for got in receiver.received}) == 2


@pytest.mark.parametrize("status", [201, 204, 299])
async def test_every_2xx_is_delivered(
    sender: WebhookSender, receiver: Receiver, status: int
) -> None:
    assert (await send(sender, f"{receiver.url}/status/{status}")).verdict == "delivered"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
async def test_a_5xx_408_or_429_is_worth_a_retry(
    sender: WebhookSender, receiver: Receiver, status: int
) -> None:
    outcome = await send(sender, f"{receiver.url}/status/{status}")
    assert outcome.retryable
    assert outcome.status == status


@pytest.mark.parametrize("status", [429, 503])
async def test_a_retry_after_is_passed_on(
    sender: WebhookSender, receiver: Receiver, status: int
) -> None:
    outcome = await send(sender, f"{receiver.url}/status/{status}")
    assert isinstance(outcome, RetryAfter)
    assert outcome.retry_after == 7.0


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422])
async def test_another_4xx_is_a_permanent_failure(
    sender: WebhookSender, receiver: Receiver, status: int
) -> None:
    outcome = await send(sender, f"{receiver.url}/status/{status}")
    assert outcome == Outcome(verdict="failed", reason=f"answered {status}", status=status)


async def test_a_redirect_is_a_failure_and_is_not_followed(
    sender: WebhookSender, receiver: Receiver
) -> None:
    outcome = await send(sender, f"{receiver.url}/redirect")
    assert outcome.verdict == "failed"
    assert outcome.status == 302
    assert receiver.paths() == ["/redirect"]


async def test_a_refused_connection_is_worth_a_retry(sender: WebhookSender) -> None:
    outcome = await send(sender, f"http://127.0.0.1:{free_port()}/hook")
    assert outcome.verdict == "retry"
    assert outcome.reason.startswith("connection failed")


async def test_a_timeout_is_worth_a_retry(sender: WebhookSender, receiver: Receiver) -> None:
    outcome = await send(sender, f"{receiver.url}/slow")
    assert outcome == Outcome(verdict="retry", reason="timed out")


async def test_an_answer_dripped_a_line_at_a_time_is_a_timeout(
    sender: WebhookSender, receiver: Receiver
) -> None:
    # Every line comes within the 0.5 s read timeout; the whole answer would take 6 s.
    outcome = await send(sender, f"{receiver.url}/drip")
    assert outcome == Outcome(verdict="retry", reason="timed out")


async def test_post_headers_and_post_data_reach_the_subscriber(
    sender: WebhookSender, receiver: Receiver
) -> None:
    options = webhook_options(
        {
            "post_headers": {"X-Custom": "yes", "content-type": "text/plain"},
            "post_data": '{"wrapped": "$zaqar_message$", "n": 1}',
        }
    )
    made = notification_request(NotifiedMessage(ttl=60, body=[1]), "q", options)
    outcome = await sender.send(subscriber(f"{receiver.url}/h"), made, now=NOW)
    assert outcome.delivered
    (got,) = receiver.received
    assert got.headers["x-custom"] == "yes"
    assert got.headers["content-type"] == "text/plain"
    assert json.loads(got.body) == {
        "wrapped": {"ttl": 60, "body": [1], "Message_Type": "Notification", "queue_name": "q"},
        "n": 1,
    }


async def test_a_signed_request_verifies_at_the_receiver(
    sender: WebhookSender, receiver: Receiver
) -> None:
    await send(sender, f"{receiver.url}/h", signing_secret=SECRET)
    (got,) = receiver.received
    assert got.headers[TIMESTAMP_HEADER.lower()] == str(int(NOW))
    assert verify(
        SECRET,
        got.body,
        got.headers[SIGNATURE_HEADER.lower()],
        got.headers[TIMESTAMP_HEADER.lower()],
        now=NOW,
    )
    assert not verify(
        "another-secret-of-16+", got.body, got.headers[SIGNATURE_HEADER.lower()],
        got.headers[TIMESTAMP_HEADER.lower()], now=NOW,
    )  # fmt: skip


async def test_a_trust_token_goes_in_x_auth_token(
    sender: WebhookSender, receiver: Receiver
) -> None:
    trust = subscriber(f"trust+{receiver.url}/h")
    assert trust.target == f"{receiver.url}/h"
    await sender.send(trust, request(), now=NOW, auth_token="gAAAA-token")
    (got,) = receiver.received
    assert got.headers["x-auth-token"] == "gAAAA-token"


async def test_a_denied_target_is_a_permanent_failure_never_contacted(receiver: Receiver) -> None:
    sender = WebhookSender(NotificationSettings(deny_private=True))
    try:
        # `localhost` passes the subscribe-time check only as a name that is
        # not literally private; the resolution at delivery refuses it.
        outcome = await sender.send(
            Subscriber(
                url=f"http://localhost:{receiver.port}/h",
                scheme="http",
                sink="webhook",
                target=f"http://localhost:{receiver.port}/h",
                host="localhost",
                port=receiver.port,
            ),
            request(),
            now=NOW,
        )
    finally:
        await sender.aclose()
    assert outcome.verdict == "failed"
    assert "resolves to a private, loopback" in outcome.reason
    assert receiver.received == []


async def test_an_allowed_network_is_reached_through_the_judged_address(
    receiver: Receiver,
) -> None:
    # deny_private with 127.0.0.0/8 allowed: the name is resolved, judged, and the
    # connection made to the address, the Host header still naming the subscriber's host.
    settings = NotificationSettings(deny_private=True, allow_hosts=["localhost", "127.0.0.0/8"])
    sender = WebhookSender(settings)
    try:
        outcome = await sender.send(
            subscriber(f"http://localhost:{receiver.port}/h", settings), request(), now=NOW
        )
    finally:
        await sender.aclose()
    assert outcome.delivered
    (got,) = receiver.received
    assert got.headers["host"] == f"localhost:{receiver.port}"


async def test_nothing_secret_is_logged(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    sender = WebhookSender(NotificationSettings())
    caplog.set_level(logging.DEBUG, logger="herald.delivery")
    url = f"http://user:pa55word@127.0.0.1:{receiver.port}/status/500?token=s3cr3t"
    try:
        await sender.send(
            subscriber(url), request(), now=NOW, signing_secret=SECRET, auth_token="tok3n"
        )
    finally:
        await sender.aclose()
    logged = caplog.text
    assert f"127.0.0.1:{receiver.port}" in logged
    for secret in ("pa55word", "s3cr3t", SECRET, "tok3n", '"k"', "/status"):
        assert secret not in logged


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(199, "failed"), (200, "delivered"), (300, "failed"), (399, "failed"), (407, "failed"),
     (408, "retry"), (409, "failed"), (428, "failed"), (429, "retry"), (430, "failed"),
     (499, "failed"), (500, "retry"), (599, "retry")],
)  # fmt: skip
def test_statuses_at_each_boundary(status: int, verdict: str) -> None:
    assert classify(status).verdict == verdict


def test_a_retry_after_date_is_read_against_now() -> None:
    outcome = classify(503, "Tue, 01 Dec 2026 12:00:30 GMT", now=1_796_126_400.0)
    assert isinstance(outcome, RetryAfter)
    assert outcome.retry_after == 30.0
    assert not isinstance(classify(503, "soon"), RetryAfter)


def tls_server(directory: Path, hosts: list[str]) -> tuple[ssl.SSLContext, Path]:
    cert, key = self_signed(directory, "receiver", hosts)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context, cert


async def pinned_https(cert: Path, port: int) -> Outcome:
    settings = NotificationSettings(deny_private=True, allow_hosts=["localhost", "127.0.0.0/8"])
    sender = WebhookSender(settings, ssl_context=trusting(cert))
    try:
        url = f"https://localhost:{port}/h"
        return await sender.send(subscriber(url, settings), request(), now=NOW)
    finally:
        await sender.aclose()


async def test_a_pinned_https_request_verifies_the_subscribers_host_name(tmp_path: Path) -> None:
    # Connected to 127.0.0.1, the certificate is still checked against `localhost`.
    context, cert = tls_server(tmp_path, ["localhost"])
    with receiving(context) as tls_receiver:
        outcome = await pinned_https(cert, tls_receiver.port)
        assert outcome.delivered, outcome
        (got,) = tls_receiver.received
        assert got.headers["host"] == f"localhost:{tls_receiver.port}"


async def test_a_certificate_for_another_name_is_not_accepted(tmp_path: Path) -> None:
    # The certificate is good for 127.0.0.1, the address connected to, but not for the host.
    context, cert = tls_server(tmp_path, ["other.example"])
    with receiving(context) as tls_receiver:
        outcome = await pinned_https(cert, tls_receiver.port)
        assert outcome.verdict == "retry"
        assert outcome.reason == "connection failed: TLS failed (CERTIFICATE_VERIFY_FAILED)"
        assert tls_receiver.received == []
