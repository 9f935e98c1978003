"""The bodies and headers Zaqar's webhooks send, the options that shape them, the confirmation
notice with its pre-signed URL, and the HMAC signing receivers can check."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

import pytest

from herald.auth.signed_urls import Signer
from herald.delivery.payload import (
    NotifiedMessage,
    confirm_grant,
    confirmation,
    confirmation_request,
    notification_json,
    notification_request,
)
from herald.delivery.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
    signing_headers,
    verify,
)
from herald.errors import InvalidRequest
from herald.service.subscribers import (
    MAX_POST_HEADERS,
    MAX_SIGNING_SECRET,
    MIN_SIGNING_SECRET,
    WebhookOptions,
    webhook_options,
)

MESSAGE = NotifiedMessage(ttl=300, body={"k": "v"})


def test_a_notification_is_the_message_with_its_type_and_queue_in_zaqars_order() -> None:
    # As Zaqar sends it (API.md 6.4, verified): ttl, body, Message_Type, queue_name.
    assert list(json.loads(notification_json(MESSAGE, "wq"))) == [
        "ttl",
        "body",
        "Message_Type",
        "queue_name",
    ]
    assert json.loads(notification_json(MESSAGE, "wq")) == {
        "ttl": 300,
        "body": {"k": "v"},
        "Message_Type": "Notification",
        "queue_name": "wq",
    }


def test_delay_appears_only_when_given_and_the_id_only_in_a_header() -> None:
    message = NotifiedMessage(ttl=60, body=None, delay=30, id="5f3a")
    assert json.loads(notification_json(message, "q")) == {
        "ttl": 60,
        "body": None,
        "delay": 30,
        "Message_Type": "Notification",
        "queue_name": "q",
    }
    made = notification_request(message, "q", WebhookOptions())
    assert made.headers["X-Herald-Message-Id"] == "5f3a"
    assert "X-Herald-Message-Id" not in notification_request(MESSAGE, "q", WebhookOptions()).headers


def test_the_default_request_is_json() -> None:
    made = notification_request(MESSAGE, "q", WebhookOptions())
    assert made.headers == {"Content-Type": "application/json"}
    assert made.body == notification_json(MESSAGE, "q")


@pytest.mark.parametrize(
    ("post_data", "expected"),
    [
        ('{"m": "$zaqar_message$"}', {"m": "NOTICE"}),
        ('["$zaqar_message$", "$zaqar_message$"]', ["NOTICE", "NOTICE"]),
        # Only the placeholder with its quotes is replaced, as Zaqar's str.replace does.
        ('{"m": "$zaqar_message$", "t": "$zaqar_message$ x"}',
         {"m": "NOTICE", "t": "$zaqar_message$ x"}),
        ('{"fixed": true}', {"fixed": True}),
    ],
)  # fmt: skip
def test_post_data_wraps_the_notice(post_data: str, expected: Any) -> None:
    notice = json.loads(notification_json(MESSAGE, "q"))
    made = notification_request(MESSAGE, "q", WebhookOptions(post_data=post_data))

    def filled(value: Any) -> Any:
        if value == "NOTICE":
            return notice
        if isinstance(value, dict):
            return {k: filled(v) for k, v in value.items()}
        if isinstance(value, list):
            return [filled(v) for v in value]
        return value

    assert json.loads(made.body) == filled(expected)


def test_post_data_need_not_be_json() -> None:
    made = notification_request(MESSAGE, "q", WebhookOptions(post_data="text: $zaqar_message$"))
    assert made.body == b"text: $zaqar_message$"


def test_post_headers_are_added_and_may_replace_the_content_type() -> None:
    options = webhook_options({"post_headers": {"X-A": "1", "content-type": "text/plain"}})
    assert notification_request(MESSAGE, "q", options).headers == {
        "X-A": "1",
        "content-type": "text/plain",
    }


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"post_headers": []}, "post_headers must be an object"),
        ({"post_headers": "X-A: 1"}, "post_headers must be an object"),
        ({"post_headers": {"X-A": 1}}, "the value of X-A must be a string"),
        (
            {"post_headers": {"X-A": "a\r\nX-B: b"}},
            "the value of X-A must be a string of printable",
        ),
        ({"post_headers": {"X-A": "caf\u00e9"}}, "printable ASCII"),
        ({"post_headers": {"X A": "1"}}, "'X A' is not a header name"),
        ({"post_headers": {"": "1"}}, "'' is not a header name"),
        ({"post_headers": {"X-A:": "1"}}, "is not a header name"),
        ({"post_headers": {"Host": "evil"}}, "may not set Host"),
        ({"post_headers": {"content-length": "1"}}, "may not set content-length"),
        ({"post_headers": {"X-Auth-Token": "t"}}, "may not set X-Auth-Token"),
        ({"post_headers": {"X-Herald-Signature": "s"}}, "may not set X-Herald-Signature"),
        ({"post_data": {"a": 1}}, 'post_data must be a string, in which "$zaqar_message$"'),
        ({"post_data": 5}, "post_data must be a string"),
        ({"signing_secret": 5}, "signing_secret must be a string of 16 to 512"),
        ({"signing_secret": "x" * (MIN_SIGNING_SECRET - 1)}, "signing_secret must be"),
        ({"signing_secret": "x" * (MAX_SIGNING_SECRET + 1)}, "signing_secret must be"),
    ],
)
def test_bad_webhook_options_are_refused(options: dict[str, object], words: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        webhook_options(options)
    assert words in caught.value.description


def test_webhook_options_at_their_limits() -> None:
    headers = {f"X-H{i}": "v" for i in range(MAX_POST_HEADERS)}
    assert webhook_options({"post_headers": headers}).post_headers == headers
    with pytest.raises(InvalidRequest, match="at most 32 headers"):
        webhook_options({"post_headers": {**headers, "X-One-More": "v"}})
    for secret in ("x" * MIN_SIGNING_SECRET, "x" * MAX_SIGNING_SECRET):
        assert webhook_options({"signing_secret": secret}).signing_secret == secret


def test_other_options_are_left_alone() -> None:
    assert webhook_options({"subject": "s", "_retry_policy": {}, "x": [1]}) == WebhookOptions()


# Confirmation

SIGNER = Signer("confirm-secret")
EXPIRES = datetime(2026, 12, 2, 12, 0, 0)


def test_a_confirmation_carries_a_signed_put_of_the_confirm_path() -> None:
    signed = SIGNER.sign(confirm_grant("orders", "sub1", "proj", EXPIRES))
    notice = confirmation("orders", signed, endpoint="https://herald.example:8888")
    body = json.loads(confirmation_request(notice, WebhookOptions()).body)
    assert body == {
        "WSGISubscribeURL": "https://herald.example:8888/v2/queues/orders/subscriptions/sub1/confirm",
        "Message_Type": "SubscriptionConfirmation",
        "Message": "You have chosen to subscribe to the queue: orders",
        "URL-Signature": signed.signature,
        "URL-Methods": "PUT",
        "URL-Paths": "/v2/queues/orders/subscriptions/sub1/confirm",
        "X-Project-ID": "proj",
        "URL-Expires": "2026-12-02T12:00:00",
        "SubscribeBody": {"confirmed": True},
        "UnsubscribeBody": {"confirmed": False},
        "queue_name": "orders",
    }  # fmt: skip
    # The signature is the one a pre-signed request to that path verifies.
    assert SIGNER.verifies(confirm_grant("orders", "sub1", "proj", EXPIRES), body["URL-Signature"])


def test_an_unsubscribe_notice_and_the_optional_urls() -> None:
    signed = SIGNER.sign(confirm_grant("q", "s", "p", EXPIRES))
    notice = confirmation(
        "q", signed, unsubscribed=True, websocket_endpoint="ws://herald.example:9000/"
    )
    body = json.loads(confirmation_request(notice, WebhookOptions()).body)
    assert body["Message_Type"] == "UnsubscribeConfirmation"
    assert body["Message"].startswith("You have unsubscribed successfully to the queue: q")
    assert "WSGISubscribeURL" not in body
    assert body["WebSocketSubscribeURL"] == (
        "ws://herald.example:9000/v2/queues/q/subscriptions/s/confirm"
    )


def test_a_confirmation_goes_through_post_data_as_in_zaqar() -> None:
    signed = SIGNER.sign(confirm_grant("q", "s", "p", EXPIRES))
    made = confirmation_request(
        confirmation("q", signed), WebhookOptions(post_data='{"w": "$zaqar_message$"}')
    )
    assert json.loads(made.body)["w"]["Message_Type"] == "SubscriptionConfirmation"


# Signing

SECRET = "0123456789abcdef-secret"
BODY = b'{"ttl":300,"body":{"k":"v"}}'
NOW = 1_764_590_000.0


def test_the_signature_is_an_hmac_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1764590000." + BODY, hashlib.sha256).hexdigest()
    assert signature(SECRET, 1764590000, BODY) == expected
    assert signing_headers(SECRET, BODY, NOW + 0.9) == {
        TIMESTAMP_HEADER: "1764590000",
        SIGNATURE_HEADER: expected,
    }


def test_a_receiver_verifies_within_the_tolerance_both_ways() -> None:
    headers = signing_headers(SECRET, BODY, NOW)
    sig, stamp = headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]
    assert verify(SECRET, BODY, sig, stamp, now=NOW)
    assert verify(SECRET, BODY, sig, stamp, now=NOW + 300)
    assert verify(SECRET, BODY, sig, stamp, now=NOW - 300)
    assert not verify(SECRET, BODY, sig, stamp, now=NOW + 301)
    assert not verify(SECRET, BODY, sig, stamp, now=NOW - 301)
    assert verify(SECRET, BODY, sig, stamp, now=NOW + 1000, tolerance=1000)
    assert verify(SECRET, BODY, sig.upper(), stamp, now=NOW)


@pytest.mark.parametrize(
    ("secret", "body", "sig", "stamp"),
    [
        ("another-secret-of-16", BODY, None, None),
        (SECRET, BODY + b" ", None, None),
        (SECRET, BODY, "0" * 64, None),
        (SECRET, BODY, None, "1764590001"),
        (SECRET, BODY, "", None),
        (SECRET, BODY, None, ""),
        (SECRET, BODY, None, "-1764590000"),
        (SECRET, BODY, None, "1764590000.0"),
        (SECRET, BODY, None, "١٧٦٤٥٩٠٠٠٠"),  # digits, but not ASCII ones
        (SECRET, BODY, "é" * 64, None),
    ],
)
def test_anything_else_does_not_verify(
    secret: str, body: bytes, sig: str | None, stamp: str | None
) -> None:
    good = signing_headers(SECRET, BODY, NOW)
    assert not verify(
        secret,
        body,
        good[SIGNATURE_HEADER] if sig is None else sig,
        good[TIMESTAMP_HEADER] if stamp is None else stamp,
        now=NOW,
    )


def test_missing_headers_do_not_verify() -> None:
    good = signing_headers(SECRET, BODY, NOW)
    assert not verify(SECRET, BODY, None, good[TIMESTAMP_HEADER], now=NOW)
    assert not verify(SECRET, BODY, good[SIGNATURE_HEADER], None, now=NOW)
