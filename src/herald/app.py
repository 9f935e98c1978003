"""The composition root: settings → store → service → background tasks, for any transport.

A transport is handed a `Herald` and calls `start` and `stop` around serving;
it builds nothing of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from herald.auth.apikeys import ApiKeyAuth
from herald.auth.policy import load_policy
from herald.auth.signed_urls import SignedUrls, Signer
from herald.config import Settings
from herald.delivery.confirmation import Confirmations
from herald.delivery.engine import DeliveryEngine
from herald.delivery.mailto import Mailer
from herald.delivery.senders import MailDelivery, QueueDelivery, Sender, WebhookDelivery
from herald.delivery.webhook import WebhookSender
from herald.identity import ClientIdRule, IdentityStep, NoAuth
from herald.service import BodyCipher, Events, Service
from herald.service.subscribers import HostRule
from herald.storage.base import Store
from herald.storage.factory import open_store

if TYPE_CHECKING:
    from herald.delivery.trust import Trusts
    from herald.metrics import MetricEvents

log = logging.getLogger("herald")

OUTAGE_PROBE_SECONDS = 1.0
"""How often a process pings a store it has seen fail, to log the outage's end."""


Role = Literal["serve", "deliver"]
"""What a process does: answer the API (and deliver, unless `delivery_workers` do), or
only deliver."""


class Herald:
    """One running Herald: its store, service, identity step and background tasks."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Callable[[], float] = time.time,
        role: Role = "serve",
    ) -> None:
        self.settings = settings
        self.store = store
        self.serves = role == "serve"
        self.delivers = settings.notifications.enabled and (
            role == "deliver" or settings.delivery_workers == 0
        )
        signer = Signer(settings.signed_url.secret_key)
        policy = load_policy(settings.policy_file)
        key, old_keys = settings.encryption.keys()
        cipher = BodyCipher(key, old_keys)
        self.metric_events: MetricEvents | None = None
        events = Events()
        if settings.metrics_port:
            # Imported here: prometheus-client is loaded only by the processes that count.
            from herald.metrics import MetricEvents

            events = self.metric_events = MetricEvents(settings.metrics_queues)
        self.service = Service(
            store,
            settings.limits,
            clock,
            policy=policy,
            signer=signer,
            cipher=cipher,
            events=events,
            ready_cache_seconds=settings.ready_cache_seconds,
            notifications=settings.notifications,
        )
        self._signer = signer
        self._clock = clock
        self.deliveries: DeliveryEngine | None = None
        # Pre-signed URLs are judged ahead of whichever step `auth` chose; a process that
        # only delivers is asked by nobody.
        self.identify: IdentityStep = (
            SignedUrls(identity_step(settings, store), signer, client_id_rule(settings), clock)
            if self.serves
            else NoAuth(client_id_rule(settings))
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._notifying = False
        self.trusts: Trusts | None = None
        if settings.auth == "keystone":
            # Imported here: keystoneauth1 is loaded only by the processes that use it.
            from herald.delivery.trust import Trusts

            # Trust subscribers exist only where callers bring Keystone tokens to lend.
            self.trusts = Trusts(settings.keystone)
            self.service.subscriptions.trustor = self.trusts

    async def start(self) -> None:
        """Open the store, prepare the identity step and start the background tasks."""
        await self.store.open()
        await self.identify.start()
        if self.trusts is not None:
            await self.trusts.start()
        if self.serves and self.settings.gc_interval > 0:
            self._tasks.append(asyncio.create_task(self._collect_garbage()))
        self._tasks.append(asyncio.create_task(self._watch_outages()))
        if self.serves and self.metric_events is not None and self.settings.metrics_queues:
            self._tasks.append(asyncio.create_task(self._sample_depths(self.metric_events)))
        if self.settings.notifications.enabled:
            self._start_notifications()

    def _start_notifications(self) -> None:
        settings = self.settings.notifications
        self._notifying = True
        self._webhook = WebhookSender(settings)
        if self.metric_events is not None:
            # Sampled by the API processes too: the backlog shows even while no delivery
            # worker runs, which is when it grows.
            self._tasks.append(asyncio.create_task(self._sample_backlog()))
        if self.serves:
            # Confirmation notices go out as the subscription is made, from its process.
            self._confirmations = Confirmations(
                self._signer, self._webhook, HostRule(settings), self._clock
            )
            self.service.subscriptions.confirmation_wanted = self._confirmations.wanted
        if not self.delivers:
            return
        self._mailer = Mailer(settings)
        senders: dict[str, Sender] = {
            "webhook": WebhookDelivery(self._webhook),
            "queue": QueueDelivery(self.service),
        }
        if self._mailer.enabled:
            senders["mailto"] = MailDelivery(self._mailer)
        if self.trusts is not None:
            from herald.delivery.trust import TrustDelivery

            senders["trust"] = TrustDelivery(WebhookDelivery(self._webhook), self.trusts)
        self.deliveries = DeliveryEngine(self.store, self.service, settings, senders, self._clock)
        self._tasks.append(asyncio.create_task(self.deliveries.run()))

    async def stop(self) -> None:
        """Stop the background tasks, then close the store."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._notifying:
            self._notifying = False
            if self.serves:
                await self._confirmations.stop()
            await self._webhook.aclose()
            if self.deliveries is not None:
                await self._mailer.aclose()
            self.deliveries = None
        await self.service.waiters.close()
        if self.trusts is not None:
            await self.trusts.stop()
        await self.identify.stop()
        await self.store.close()
        if self.metric_events is not None:
            from herald.metrics import process_stopped

            process_stopped()

    async def _collect_garbage(self) -> None:
        while True:
            await asyncio.sleep(self.settings.gc_interval)
            with self.service.watch.background("garbage collection"):
                await self.service.collect_garbage()

    async def _watch_outages(self) -> None:
        """While the store is down, ping it now and then, so that the outage's end is
        logged even when no request comes to notice it."""
        while True:
            await asyncio.sleep(OUTAGE_PROBE_SECONDS)
            if self.service.watch.down:
                await self.service.readiness.probe_store()

    async def _sample_backlog(self) -> None:
        from herald.metrics import publish_backlog

        while True:
            with self.service.watch.background("sampling the notification backlog"):
                now = self._clock()
                pending, oldest = await self.store.count_deliveries(now)
                publish_backlog(pending, oldest, now)
            await asyncio.sleep(self.settings.metrics_depth_interval)

    async def _sample_depths(self, events: MetricEvents) -> None:
        from herald.metrics import DEPTHS

        while True:
            with self.service.watch.background("sampling queue depths"):
                DEPTHS.publish(await self.service.depths(events.used_queues()))
            await asyncio.sleep(self.settings.metrics_depth_interval)


def identity_step(settings: Settings, store: Store) -> IdentityStep:
    """The step that turns what a request presents into a Caller, as `auth` says."""
    client_ids = client_id_rule(settings)
    if settings.auth == "noauth":
        return NoAuth(client_ids)
    if settings.auth == "apikey":
        return ApiKeyAuth(store, client_ids, cache_seconds=settings.apikey.cache_seconds)
    # Imported here: keystoneauth1 is loaded only by the processes that use it.
    from herald.auth.keystone import KeystoneAuth

    return KeystoneAuth(settings.keystone, client_ids)


def client_id_rule(settings: Settings) -> ClientIdRule:
    """How Client-ID headers are checked: the same rule for a pre-signed request as for others."""
    return ClientIdRule(
        mode=settings.client_id_uuid_safe,
        min_length=settings.min_length_client_id,
        max_length=settings.max_length_client_id,
    )


def build(
    settings: Settings,
    *,
    store: Store | None = None,
    clock: Callable[[], float] = time.time,
    role: Role = "serve",
) -> Herald:
    """Build (but do not start) Herald from its settings."""
    if store is None:
        store = open_store(settings.store, durability=settings.durability)
    return Herald(settings, store, clock, role)
