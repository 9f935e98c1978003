"""Asking a new subscriber to confirm, with a pre-signed URL that confirms it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec

from herald.auth.signed_urls import DEFAULT_LIFETIME, Signer, grant
from herald.model import Subscription
from herald.service.subscribers import WEBHOOK_SCHEMES, scheme_of
from herald.service.topics import is_topic_project, owner_project

log = logging.getLogger("herald.delivery")
_encode = msgspec.json.Encoder().encode


def confirm_path(sub: Subscription) -> str:
    root = "/v2/topics" if is_topic_project(sub.project) else "/v2/queues"
    return f"{root}/{sub.source}/subscriptions/{sub.id}/confirm"


def confirmation_message(
    sub: Subscription, subscribe: bool, signer: Signer, now: float
) -> dict[str, Any]:
    """Zaqar's confirmation document: the signed PUT that confirms, and the bodies to send."""
    expires = datetime.fromtimestamp(now + DEFAULT_LIFETIME, UTC).replace(tzinfo=None)
    signed = signer.sign(grant([confirm_path(sub)], ["PUT"], owner_project(sub.project), expires))
    kind = "SubscriptionConfirmation" if subscribe else "UnsubscribeConfirmation"
    verb = "subscribe to" if subscribe else "unsubscribe from"
    return {
        "Message_Type": kind,
        "Message": f"You have chosen to {verb} the queue: {sub.source}",
        "URL-Signature": signed.signature,
        "URL-Methods": signed.methods[0],
        "URL-Paths": signed.paths[0],
        "URL-Expires": signed.expires,
        "X-Project-ID": signed.project,
        "SubscribeBody": {"confirmed": True},
        "UnsubscribeBody": {"confirmed": False},
        "queue_name": sub.source,
    }


class Confirmations:
    """Sends confirmation requests in the background; a lost one is sent again when the
    client subscribes again (an unconfirmed duplicate re-sends it)."""

    def __init__(
        self, signer: Signer, client: httpx.AsyncClient, clock: Callable[[], float] = time.time
    ) -> None:
        self._signer = signer
        self._client = client
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()

    def wanted(self, sub: Subscription, subscribe: bool) -> None:
        if scheme_of(sub.subscriber) not in WEBHOOK_SCHEMES:
            return
        task = asyncio.get_running_loop().create_task(self.send(sub, subscribe))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def send(self, sub: Subscription, subscribe: bool) -> None:
        if not self._signer.enabled:
            log.warning(
                "subscription %s needs confirming, but without [signed_url] secret_key "
                "no confirmation URL can be signed",
                sub.id,
            )
            return
        document = confirmation_message(sub, subscribe, self._signer, self._clock())
        url = sub.subscriber.removeprefix("trust+")
        try:
            answer = await self._client.post(
                url, content=_encode(document), headers={"Content-Type": "application/json"}
            )
        except httpx.HTTPError as exc:
            log.warning("confirmation of subscription %s not sent: %s", sub.id, exc)
            return
        log.info("confirmation of subscription %s sent: %d", sub.id, answer.status_code)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
