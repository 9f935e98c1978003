"""Asking a new subscriber to confirm, with a pre-signed URL that confirms it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from herald import errors
from herald.auth.signed_urls import DEFAULT_LIFETIME, Signer, grant
from herald.delivery.payload import confirmation, confirmation_request
from herald.delivery.webhook import WebhookSender
from herald.model import Subscription
from herald.service.subscribers import HostRule, check_subscriber, webhook_options
from herald.service.topics import is_topic_project, owner_project

log = logging.getLogger("herald.delivery")


def confirm_path(sub: Subscription) -> str:
    """The path that confirms the subscription: under /v2/topics for a topic's."""
    root = "/v2/topics" if is_topic_project(sub.project) else "/v2/queues"
    return f"{root}/{sub.source}/subscriptions/{sub.id}/confirm"


class Confirmations:
    """Sends confirmation notices to webhook subscribers in the background. One that is
    lost is sent again when the client subscribes again (an unconfirmed duplicate re-sends
    it), as with Zaqar."""

    def __init__(
        self,
        signer: Signer,
        webhook: WebhookSender,
        hosts: HostRule,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signer = signer
        self._webhook = webhook
        self._hosts = hosts
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def wanted(self, sub: Subscription, subscribe: bool) -> None:
        task = asyncio.get_running_loop().create_task(self.send(sub, subscribe))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, sub: Subscription, subscribe: bool) -> None:
        try:
            subscriber = check_subscriber(sub.subscriber, self._hosts)
        except errors.InvalidRequest:
            return
        if subscriber.sink not in ("webhook", "trust"):
            log.info("subscription %s: no confirmation is sent to %s", sub.id, subscriber.sink)
            return
        if not self._signer.enabled:
            log.warning(
                "subscription %s needs confirming, but without [signed_url] secret_key "
                "no confirmation URL can be signed",
                sub.id,
            )
            return
        now = self._clock()
        expires = datetime.fromtimestamp(now + DEFAULT_LIFETIME, UTC).replace(tzinfo=None)
        signed = self._signer.sign(
            grant([confirm_path(sub)], ["PUT"], owner_project(sub.project), expires)
        )
        notice = confirmation(sub.source, signed, unsubscribed=not subscribe)
        options = webhook_options(sub.options)
        outcome = await self._webhook.send(
            subscriber,
            confirmation_request(notice, options),
            now=now,
            signing_secret=options.signing_secret,
        )
        log.info("confirmation notice of subscription %s: %s", sub.id, outcome.reason)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
