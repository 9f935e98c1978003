"""The requests Zaqar's webhooks send: a notification per message, and the confirmation notice.

A notification's body is the message as posted (`ttl`, `body`, and `delay`
on a delayed queue) with `Message_Type: "Notification"` and `queue_name`
added. `options.post_data`, when set, is the body instead, with every
`"$zaqar_message$"` (quotes included) replaced by that JSON; `post_headers`
are added to `Content-Type: application/json`.
"""

from __future__ import annotations

import urllib.parse
from datetime import datetime
from typing import Any, Final, Literal

import msgspec

from herald.auth.signed_urls import Grant, SharedUrl, grant, signed_path
from herald.service.subscribers import WebhookOptions

PLACEHOLDER: Final = '"$zaqar_message$"'
JSON: Final = "application/json"
MESSAGE_ID_HEADER: Final = "X-Herald-Message-Id"
_encode = msgspec.json.Encoder().encode


class NotifiedMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A posted message as a notification tells it; `delay` only on a delayed queue. `id`
    travels in the `X-Herald-Message-Id` header, not the body: the body stays exactly
    Zaqar's (which notifies before storing, so has no id to give)."""

    ttl: int
    body: Any
    delay: int | None = None
    id: str | None = None


class _Notification(msgspec.Struct, kw_only=True, omit_defaults=True):
    # Zaqar's key order: the message's own keys, then what the notifier and the task add.
    ttl: int
    body: Any
    delay: int | None = None
    Message_Type: str
    queue_name: str


class WebhookRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One POST to a subscriber: its headers and the exact bytes of its body."""

    headers: dict[str, str]
    body: bytes


def notification_json(message: NotifiedMessage, queue: str) -> bytes:
    """The notification of one message, as JSON."""
    return _encode(
        _Notification(
            ttl=message.ttl,
            body=message.body,
            delay=message.delay,
            Message_Type="Notification",
            queue_name=queue,
        )
    )


def notification_request(
    message: NotifiedMessage, queue: str, options: WebhookOptions
) -> WebhookRequest:
    """The webhook request for one message, `post_data` and `post_headers` applied."""
    notice = notification_json(message, queue)
    headers = request_headers(options)
    if message.id is not None:
        # At least once means a receiver may see a message twice: this is what it drops
        # a repeat by.
        headers[MESSAGE_ID_HEADER] = message.id
    return WebhookRequest(headers=headers, body=render(notice, options))


def render(notice: bytes, options: WebhookOptions) -> bytes:
    """The body of a request: the notice, or `post_data` with the notice in its placeholders."""
    if options.post_data is None:
        return notice
    return options.post_data.encode().replace(PLACEHOLDER.encode(), notice)


def request_headers(options: WebhookOptions) -> dict[str, str]:
    """`Content-Type: application/json`, then the subscription's `post_headers` over it."""
    headers = {"Content-Type": JSON}
    for name, value in options.post_headers.items():
        # One spelling per header, whatever case the subscription wrote it in.
        for existing in [key for key in headers if key.lower() == name.lower()]:
            del headers[existing]
        headers[name] = value
    return headers


# Confirmation


ConfirmationType = Literal["SubscriptionConfirmation", "UnsubscribeConfirmation"]


class Confirmation(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The notice that asks a subscriber to confirm (or tells it it has unsubscribed), with a
    pre-signed URL for `PUT /v2/queues/{q}/subscriptions/{id}/confirm`; Zaqar's keys."""

    WSGISubscribeURL: str | None = None
    WebSocketSubscribeURL: str | None = None
    Message_Type: ConfirmationType
    Message: str
    URL_Signature: str = msgspec.field(name="URL-Signature")
    URL_Methods: str = msgspec.field(name="URL-Methods")
    URL_Paths: str = msgspec.field(name="URL-Paths")
    X_Project_ID: str = msgspec.field(name="X-Project-ID")
    URL_Expires: str = msgspec.field(name="URL-Expires")
    SubscribeBody: dict[str, bool] = msgspec.field(default_factory=lambda: {"confirmed": True})
    UnsubscribeBody: dict[str, bool] = msgspec.field(default_factory=lambda: {"confirmed": False})
    queue_name: str


def confirm_path(queue: str, subscription_id: str) -> str:
    """The path a subscriber PUTs `{"confirmed": true}` to."""
    return f"{signed_path(queue, 'subscriptions')}/{subscription_id}/confirm"


def confirm_grant(queue: str, subscription_id: str, project: str, expires: datetime) -> Grant:
    """What the confirmation's signature allows: PUT on the confirm path, until `expires`
    (naive UTC, as `signed_urls.grant` takes it)."""
    return grant([confirm_path(queue, subscription_id)], ["PUT"], project, expires)


def confirmation(
    queue: str,
    signed: SharedUrl,
    *,
    unsubscribed: bool = False,
    endpoint: str | None = None,
    websocket_endpoint: str | None = None,
) -> Confirmation:
    """The confirmation notice for a signed confirm grant; the subscribe URLs appear only when
    the server knows its public endpoints, as Zaqar's appear only with a Keystone catalog."""
    path = signed.paths[0]
    if unsubscribed:
        kind: ConfirmationType = "UnsubscribeConfirmation"
        text = (
            f"You have unsubscribed successfully to the queue: {queue}, "
            "you can resubscribe it by using confirmed=True."
        )
    else:
        kind = "SubscriptionConfirmation"
        text = f"You have chosen to subscribe to the queue: {queue}"
    return Confirmation(
        WSGISubscribeURL=urllib.parse.urljoin(endpoint, path) if endpoint else None,
        WebSocketSubscribeURL=(
            urllib.parse.urljoin(websocket_endpoint, path) if websocket_endpoint else None
        ),
        Message_Type=kind,
        Message=text,
        URL_Signature=signed.signature,
        URL_Methods=signed.methods[0],
        URL_Paths=path,
        X_Project_ID=signed.project,
        URL_Expires=signed.expires,
        queue_name=queue,
    )


def confirmation_request(notice: Confirmation, options: WebhookOptions) -> WebhookRequest:
    """The webhook request of a confirmation notice; Zaqar sends it through the same task as
    notifications, so `queue_name`, `post_data` and `post_headers` apply to it too."""
    return WebhookRequest(headers=request_headers(options), body=render(_encode(notice), options))
