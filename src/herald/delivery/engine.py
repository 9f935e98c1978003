"""The delivery engine: leases the outbox, decides each delivery, sends it, retries or gives up.

The outbox is written by `post_messages` in the same commit as the messages,
so the engine's job is to drain it at least once. Deliveries of one
subscription go one at a time, oldest first, so a slow or dead endpoint holds
back only its own subscription; a lease keeps other processes off what this
one holds, and lapses if this process dies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from herald import errors
from herald.config import NotificationSettings
from herald.delivery.counters import DeliveryCounters
from herald.delivery.outcome import Notification, Outcome
from herald.delivery.senders import Sender
from herald.identity import Caller
from herald.model import Delivery, StoredMessage, Subscription
from herald.service import Service
from herald.service.filters import compile_policy
from herald.service.policy import policy_of
from herald.service.retry_policy import RetryPolicy, effective_retry_policy, parse_retry_policy
from herald.service.subscribers import QUEUE_SCHEME, scheme_of
from herald.service.topics import owner_project
from herald.storage.base import Store

log = logging.getLogger("herald.delivery")
_decode = msgspec.json.decode
_encode = msgspec.json.Encoder().encode


class DeliveryEngine:
    """Works the outbox of one store with bounded concurrency; time comes from `clock`."""

    def __init__(
        self,
        store: Store,
        service: Service,
        settings: NotificationSettings,
        senders: Mapping[str, Sender],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._service = service
        self._settings = settings
        self._senders = senders
        self._clock = clock
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._chains: dict[str, collections.deque[Delivery]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._held = 0
        self._wake = asyncio.Event()
        self.counters = DeliveryCounters()

    # Running

    async def run(self) -> None:
        """Lease and work deliveries until cancelled."""
        try:
            while True:
                try:
                    taken = await self.step()
                except Exception:
                    log.exception("leasing deliveries failed; will retry")
                    taken = 0
                if taken == 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval)
        finally:
            for worker in list(self._workers.values()):
                worker.cancel()
            for worker in list(self._workers.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await worker

    def wake(self) -> None:
        """A hint that deliveries may be due: the next lease comes without waiting."""
        self._wake.set()

    async def step(self) -> int:
        """Lease what fits beside what is held and hand each delivery to its subscription's
        worker; how many were leased."""
        room = self._settings.batch_size - self._held
        if room <= 0:
            return 0
        leased = await self._store.lease_deliveries(self._clock(), room, self._settings.lease)
        for delivery in leased:
            self._held += 1
            self._chains.setdefault(delivery.subscription_id, collections.deque()).append(delivery)
            if delivery.subscription_id not in self._workers:
                self._workers[delivery.subscription_id] = asyncio.create_task(
                    self._work(delivery.subscription_id)
                )
        return len(leased)

    async def idle(self) -> None:
        """Wait until every leased delivery has been worked (for shutdown and tests)."""
        while self._workers:
            await asyncio.gather(*self._workers.values(), return_exceptions=True)

    async def _work(self, subscription_id: str) -> None:
        chain = self._chains[subscription_id]
        try:
            while chain:
                delivery = chain.popleft()
                self._held -= 1
                if self._clock() >= delivery.due:
                    # Its lease lapsed while it waited: another process may hold it now.
                    continue
                async with self._slots:
                    try:
                        retry_at = await self.deliver(delivery)
                    except Exception:
                        log.exception("delivery %s failed unexpectedly", delivery.id)
                        retry_at = None
                if retry_at is not None:
                    # The endpoint is failing: the rest wait with the failed one, in order.
                    await self._defer(chain, retry_at)
        finally:
            del self._workers[subscription_id]
            self._held -= len(chain)
            del self._chains[subscription_id]
            self.wake()

    async def _defer(self, chain: collections.deque[Delivery], due: float) -> None:
        while chain:
            waiting = chain.popleft()
            self._held -= 1
            await self._store.retry_delivery(waiting.id, waiting.attempts, due)

    # Deciding one delivery

    async def deliver(self, delivery: Delivery) -> float | None:
        """Work one leased delivery to its end or its next attempt; when that attempt is
        due if it is retried, else None."""
        now = self._clock()
        sub = await self._store.get_subscription(
            delivery.project, delivery.source, delivery.subscription_id, now
        )
        if sub is None:
            self.counters.gone += 1
            await self._finish(delivery, "subscription gone")
            return None
        if delivery.posted + delivery.ttl <= now:
            self.counters.expired += 1
            await self._finish(delivery, "message expired")
            return None
        if (
            self._settings.require_confirmation
            and not sub.confirmed
            and scheme_of(sub.subscriber) != QUEUE_SCHEME
        ):
            self.counters.unconfirmed += 1
            await self._finish(delivery, "subscription not confirmed")
            return None
        body = self._opened(delivery)
        policy = sub.options.get("filter_policy")
        if policy is not None and not compile_policy(policy).matches(_decode(bytes(body))):
            self.counters.filtered += 1
            await self._finish(delivery, "filtered out")
            return None
        sender = self._senders.get(scheme_of(sub.subscriber))
        self.counters.attempts += 1
        if sender is None:
            outcome = Outcome.REFUSED
            log.warning(
                "subscription %s: this server has no sender for %s subscribers",
                sub.id,
                scheme_of(sub.subscriber),
            )
        else:
            outcome = await sender.send(_notification(sub, delivery, body))
        if outcome is Outcome.DELIVERED:
            self.counters.successes += 1
            self.counters.lag[sub.id] = self._clock() - delivery.posted
            await self._finish(delivery, "delivered")
            return None
        self.counters.failures += 1
        if outcome is Outcome.RETRY:
            delays = (await self._retry_policy(sub)).delays()
            if delivery.attempts < len(delays):
                # Counted from when the attempt began, so a slow answer does not stretch it.
                due = now + delays[delivery.attempts]
                self.counters.retries += 1
                await self._store.retry_delivery(delivery.id, delivery.attempts + 1, due)
                _log(delivery, f"failed, retry {delivery.attempts + 1} in {due - now:g} s")
                return due
        await self._give_up(sub, delivery, body, outcome)
        return None

    async def _give_up(
        self, sub: Subscription, delivery: Delivery, body: msgspec.Raw, outcome: Outcome
    ) -> None:
        """The subscriber refused the message or retries ran out: to the subscription's
        dead-letter queue if it names one, and counted and logged either way."""
        self.counters.given_up += 1
        reason = "refused" if outcome is Outcome.REFUSED else "retries exhausted"
        target = sub.options.get("dead_letter_queue")
        if isinstance(target, str):
            caller = Caller(project=owner_project(sub.project), client_id=_DEAD_LETTER_CLIENT)
            document = {"messages": [{"body": body, "ttl": delivery.ttl}]}
            try:
                await self._service.messages.post(caller, target, _encode(document))
            except errors.HeraldError as exc:
                log.error("dead-letter queue %s refused delivery %s: %s", target, delivery.id, exc)
            else:
                self.counters.dead_lettered += 1
                reason += f", dead-lettered to {target}"
        await self._finish(delivery, f"given up ({reason})", level=logging.WARNING)

    async def _retry_policy(self, sub: Subscription) -> RetryPolicy:
        """The subscription's `_retry_policy`, unless its queue's says to ignore it."""
        metadata = await self._store.queue_metadata(sub.project, sub.source) or {}
        queue = parse_retry_policy(policy_of(metadata).retry_policy)
        own = parse_retry_policy(sub.options.get("_retry_policy"))
        return effective_retry_policy(own, queue)

    def _opened(self, delivery: Delivery) -> msgspec.Raw:
        stored = StoredMessage(
            delivery.message_id, delivery.body, delivery.ttl, delivery.posted, None, 0
        )
        return self._service.context.cipher.open(delivery.project, delivery.source, stored).body

    async def _finish(self, delivery: Delivery, why: str, level: int = logging.INFO) -> None:
        await self._store.finish_delivery(delivery.id)
        _log(delivery, why, level)


_DEAD_LETTER_CLIENT = "6e6f7469-6669-6572-0000-000000000002"


def _notification(sub: Subscription, delivery: Delivery, body: msgspec.Raw) -> Notification:
    options: dict[str, Any] = sub.options
    return Notification(
        subscription_id=sub.id,
        subscriber=sub.subscriber,
        options=options,
        project=sub.project,
        queue=sub.source,
        message_id=delivery.message_id,
        body=body,
        ttl=delivery.ttl,
    )


def _log(delivery: Delivery, what: str, level: int = logging.INFO) -> None:
    log.log(
        level,
        "delivery %s of message %s to subscription %s (attempt %d): %s",
        delivery.id,
        delivery.message_id,
        delivery.subscription_id,
        delivery.attempts + 1,
        what,
    )
