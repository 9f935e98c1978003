"""Senders by subscriber scheme: a webhook POST, or a post into a queue of the same project."""

from __future__ import annotations

import logging
from typing import Protocol

import httpx
import msgspec

from herald import errors
from herald.delivery.outcome import Notification, Outcome
from herald.identity import Caller
from herald.service import Service
from herald.service.topics import owner_project

log = logging.getLogger("herald.delivery")

# The Client-ID of messages the engine posts, so that consumers can tell them apart.
ENGINE_CLIENT_ID = "6e6f7469-6669-6572-0000-000000000001"
_encode = msgspec.json.Encoder().encode


class Sender(Protocol):
    async def send(self, notification: Notification) -> Outcome: ...


class QueueSender:
    """Posts the message into `queue:NAME` of the subscription's project, through the
    service, so that the target queue's rules (sizes, ttl, encryption) apply."""

    def __init__(self, service: Service) -> None:
        self._service = service

    async def send(self, notification: Notification) -> Outcome:
        target = notification.subscriber.split(":", 1)[1]
        caller = Caller(project=owner_project(notification.project), client_id=ENGINE_CLIENT_ID)
        document = {"messages": [{"body": notification.body, "ttl": notification.ttl}]}
        try:
            await self._service.messages.post(caller, target, _encode(document))
        except errors.ServiceUnavailable:
            return Outcome.RETRY
        except errors.HeraldError as exc:
            log.warning(
                "queue %s refused the message of subscription %s: %s",
                target,
                notification.subscription_id,
                exc.description,
            )
            return Outcome.REFUSED
        return Outcome.DELIVERED


def webhook_payload(notification: Notification) -> bytes:
    """Zaqar's notification body: the posted message's fields, its queue and its kind."""
    message = {
        "body": notification.body,
        "ttl": notification.ttl,
        "queue_name": notification.queue,
        "Message_Type": "Notification",
    }
    encoded = _encode(message)
    template = notification.options.get("post_data")
    if isinstance(template, str) and '"$zaqar_message$"' in template:
        return template.replace('"$zaqar_message$"', encoded.decode()).encode()
    return encoded


def classify(status: int) -> Outcome:
    """2xx delivers; 5xx and 429 are worth retrying; any other answer refuses for good."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status >= 500 or status == 429:
        return Outcome.RETRY
    return Outcome.REFUSED


class WebhookSender:
    """POSTs the notification as JSON; redirects are not followed."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, notification: Notification) -> Outcome:
        url = notification.subscriber.removeprefix("trust+")
        headers = {"Content-Type": "application/json"}
        extra = notification.options.get("post_headers")
        if isinstance(extra, dict):
            headers.update({str(k): str(v) for k, v in extra.items()})
        try:
            answer = await self._client.post(
                url, content=webhook_payload(notification), headers=headers
            )
        except httpx.HTTPError as exc:
            log.info(
                "webhook of subscription %s unreachable: %s", notification.subscription_id, exc
            )
            return Outcome.RETRY
        return classify(answer.status_code)
