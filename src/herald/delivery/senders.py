"""How each kind of subscriber is sent one message: a webhook POST, an e-mail, or a post into
a queue of the same project."""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec

from herald import errors
from herald.delivery.mailto import Mailer, notification_mail, subject_of
from herald.delivery.outcome import Outcome
from herald.delivery.payload import NotifiedMessage, notification_json, notification_request
from herald.delivery.webhook import WebhookSender
from herald.identity import Caller
from herald.model import Subscription
from herald.service import Service
from herald.service.subscribers import Subscriber, WebhookOptions, webhook_options
from herald.service.topics import owner_project

log = logging.getLogger("herald.delivery")

# The Client-ID of the messages the engine posts, so that consumers can tell them apart.
ENGINE_CLIENT_ID = "6e6f7469-6669-6572-0000-000000000001"
_encode = msgspec.json.Encoder().encode


class Sender(Protocol):
    async def send(
        self, sub: Subscription, subscriber: Subscriber, message: NotifiedMessage, now: float
    ) -> Outcome: ...


class WebhookDelivery:
    """Zaqar's webhook request for the message, signed when the subscription has a secret."""

    def __init__(self, webhook: WebhookSender) -> None:
        self._webhook = webhook
        # The options of the subscription read last, parsed: the engine reads a
        # subscription once for a batch of its deliveries, so they come in runs.
        self._last: tuple[dict[str, object], WebhookOptions] | None = None

    async def send(
        self,
        sub: Subscription,
        subscriber: Subscriber,
        message: NotifiedMessage,
        now: float,
        auth_token: str | None = None,
    ) -> Outcome:
        last = self._last
        if last is not None and last[0] is sub.options:
            options = last[1]
        else:
            options = webhook_options(sub.options)
            self._last = (sub.options, options)
        request = notification_request(message, sub.source, options)
        return await self._webhook.send(
            subscriber,
            request,
            now=now,
            signing_secret=options.signing_secret,
            auth_token=auth_token,
            lane=sub.id,
        )


class MailDelivery:
    """The notification's JSON as an e-mail, through the operator's relay."""

    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer

    async def send(
        self, sub: Subscription, subscriber: Subscriber, message: NotifiedMessage, now: float
    ) -> Outcome:
        mail = notification_mail(
            subscriber,
            notification_json(message, sub.source),
            sender=self._mailer.sender,
            subject=subject_of(subscriber, sub.options),
        )
        return await self._mailer.send(mail)


class QueueDelivery:
    """Posts the message's body into `queue:NAME` of the subscription's project through the
    service, so that the target queue's own rules (sizes, ttl, encryption) apply."""

    def __init__(self, service: Service) -> None:
        self._service = service

    async def send(
        self, sub: Subscription, subscriber: Subscriber, message: NotifiedMessage, now: float
    ) -> Outcome:
        return await post_into(self._service, sub.project, subscriber.target, message)


async def post_into(
    service: Service, project: str, queue: str, message: NotifiedMessage
) -> Outcome:
    """Post one message into a queue of the project (or of the topics' owner)."""
    caller = Caller(project=owner_project(project), client_id=ENGINE_CLIENT_ID)
    document = {"messages": [{"body": message.body, "ttl": message.ttl}]}
    try:
        await service.messages.post(caller, queue, _encode(document))
    except errors.ServiceUnavailable as exc:
        return Outcome(verdict="retry", reason=exc.public_description)
    except errors.HeraldError as exc:
        return Outcome(verdict="failed", reason=f"queue {queue} refused it: {exc.description}")
    return Outcome(verdict="delivered", reason=f"posted to queue {queue}")
