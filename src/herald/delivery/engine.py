"""The delivery engine: leases the outbox, decides each delivery, sends it, retries or gives up.

The outbox is written by `post_messages` in the same commit as the messages,
so the engine's job is to drain it at least once. Deliveries of one
subscription start oldest first, at most `per_subscription_window` in flight at
once (1 keeps them in order), so a slow or dead endpoint holds back only its own
subscription; a lease keeps other processes off what this
one holds, and lapses if this process dies.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping

import msgspec

from herald import errors
from herald.config import NotificationSettings
from herald.delivery.counters import DeliveryCounters
from herald.delivery.outcome import Outcome
from herald.delivery.payload import NotifiedMessage
from herald.delivery.senders import Sender, post_into
from herald.model import Delivery, StoredMessage, Subscription
from herald.service import Service
from herald.service.filters import FilterPolicy, compile_policy
from herald.service.policy import policy_of
from herald.service.retry_policy import RetryPolicy, effective_retry_policy, parse_retry_policy
from herald.service.subscribers import HostRule, Subscriber, check_subscriber
from herald.storage.base import OUTBOX_WAKEUPS, Store
from herald.storage.batching import Batcher

log = logging.getLogger("herald.delivery")
_decode = msgspec.json.decode
_encode = msgspec.json.Encoder(order="deterministic").encode
# Distinct filter policies kept compiled (and subscriber URLs kept judged); past this
# many the cache starts again.
_FILTER_CACHE = 1024
# Seconds a stopping engine waits for the ends of its deliveries to be stored.
_FINISH_ON_STOP = 5.0


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
        self._hosts = HostRule(settings)
        self._clock = clock
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._chains: dict[str, collections.deque[Delivery]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        # One read of a subscription serves every delivery of it leased in the same batch.
        self._subscriptions: dict[str, asyncio.Task[Subscription | None]] = {}
        self._held = 0
        self._half_batch = max(1, settings.batch_size // 2)
        self._wake = asyncio.Event()
        self.counters = DeliveryCounters()
        self._events = service.events
        self._filters: dict[bytes, FilterPolicy] = {}
        self._subscribers: dict[str, Subscriber] = {}
        # Deliveries whose outcome is known leave the outbox together, one commit for all
        # that finished while the previous commit was out. A send's window slot is free
        # once its outcome is known, not once that commit is: waiting for the commit
        # held each slot through an fsync and capped one subscription at about 2,000
        # deliveries/s. A finish lost to a crash costs a second delivery, never a missing one.
        self._finishing: Batcher[None, str, None] = Batcher(self._finish_all, exclusive=True)
        self._finishes: set[asyncio.Future[None]] = set()
        # Deliveries this process leased and has not let go of; a later lease that meets
        # one again (its first lease lapsed while it was sent or finished) leaves it be.
        self._mine: set[str] = set()
        self._finishing_ids: set[str] = set()

    # Running

    async def run(self) -> None:
        """Lease and work deliveries until cancelled."""
        watching = await self._watch_outbox()
        try:
            while True:
                taken = 0
                with self._service.watch.background("leasing deliveries"):
                    taken = await self.step()
                if taken == 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._settings.poll_interval)
        finally:
            if watching:
                with contextlib.suppress(Exception):
                    await self._store.unwatch_outbox()
            for worker in list(self._workers.values()):
                worker.cancel()
            for worker in list(self._workers.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            # What was delivered is recorded before the store closes, or it goes again.
            if self._finishes:
                await asyncio.wait(set(self._finishes), timeout=_FINISH_ON_STOP)

    async def _watch_outbox(self) -> bool:
        """Be woken when a post writes deliveries, where the store can say so; whether
        it watches. Without it (or if the watch fails) the poll alone finds them."""
        if OUTBOX_WAKEUPS not in self._store.capabilities:
            return False
        try:
            await self._store.watch_outbox(self.wake)
        except Exception as exc:
            log.warning(
                "cannot watch the outbox; polling it every %g s: %s",
                self._settings.poll_interval,
                exc,
            )
            return False
        return True

    def wake(self) -> None:
        """A hint that deliveries may be due: the next lease comes without waiting."""
        self._wake.set()

    async def step(self) -> int:
        """Lease what fits beside what is held and hand each delivery to its subscription's
        worker; how many were leased."""
        # Unfinished deliveries count against the batch, so that commits falling behind
        # slow the leasing instead of piling up deliveries that a crash would send again.
        room = self._room()
        if room <= 0 or (room < self._half_batch and (self._held or self._finishes)):
            # A lease is a commit: while deliveries are under way, lease again only when
            # half a batch has room, not a few at a time (tiny leases competed for the
            # writer with the posts and the finishes).
            return 0
        if self._finishes:
            # A delivery sent but not yet out of the outbox must not come back in this
            # lease, should its own have lapsed meanwhile. The sends go on while this waits.
            await asyncio.wait(set(self._finishes))
            room = self._room()
        leased = await self._store.lease_deliveries(self._clock(), room, self._settings.lease)
        leased = [delivery for delivery in leased if delivery.id not in self._mine]
        self._mine.update(delivery.id for delivery in leased)
        for subscription_id in {delivery.subscription_id for delivery in leased}:
            self._subscriptions.pop(subscription_id, None)
        for delivery in leased:
            self._held += 1
            self._chains.setdefault(delivery.subscription_id, collections.deque()).append(delivery)
            if delivery.subscription_id not in self._workers:
                self._workers[delivery.subscription_id] = asyncio.create_task(
                    self._work(delivery.subscription_id)
                )
        return len(leased)

    async def idle(self) -> None:
        """Wait until every leased delivery has been worked and its end stored (for
        shutdown and tests)."""
        while self._workers or self._finishes:
            await asyncio.gather(*self._workers.values(), *self._finishes, return_exceptions=True)

    async def _work(self, subscription_id: str) -> None:
        chain = self._chains[subscription_id]
        # Never more than half the slots, so that one dead endpoint cannot starve the rest.
        window = min(
            self._settings.per_subscription_window, max(1, self._settings.concurrency // 2)
        )
        flying: set[asyncio.Task[float | None]] = set()
        # Attempts that ended since the worker last looked, told by one callback each:
        # asyncio.wait would hook and unhook every attempt in flight at each ending.
        ended: collections.deque[asyncio.Task[float | None]] = collections.deque()
        signal: list[asyncio.Future[None]] = []

        def landed(task: asyncio.Task[float | None]) -> None:
            flying.discard(task)
            ended.append(task)
            if signal and not signal[0].done():
                signal[0].set_result(None)

        loop = asyncio.get_running_loop()
        try:
            while chain or flying or ended:
                # Ended attempts are looked at first: one that failed defers the rest.
                while chain and len(flying) < window and not ended:
                    delivery = chain.popleft()
                    self._held -= 1
                    self._wake_for_room()
                    if self._clock() >= delivery.due:
                        # Its lease lapsed while it waited: another process may hold it now.
                        self._mine.discard(delivery.id)
                        continue
                    task = asyncio.create_task(self._attempt(delivery))
                    task.add_done_callback(landed)
                    flying.add(task)
                if not ended:
                    if not flying:
                        continue
                    signal.append(loop.create_future())
                    try:
                        await signal[0]
                    finally:
                        signal.clear()
                retry_at = 0.0
                while ended:
                    task = ended.popleft()
                    if not task.cancelled():
                        retry_at = max(retry_at, task.result() or 0.0)
                if retry_at > self._clock():
                    # The endpoint is failing: what is held and not yet sent waits with the
                    # failed one, in order; sends already in flight finish on their own.
                    await self._defer(chain, retry_at)
        finally:
            for task in flying:
                task.cancel()
            for task in list(flying):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            del self._workers[subscription_id]
            self._held -= len(chain)
            self._mine.difference_update(delivery.id for delivery in chain)
            del self._chains[subscription_id]
            self._subscriptions.pop(subscription_id, None)
            self.wake()

    async def _attempt(self, delivery: Delivery) -> float | None:
        async with self._slots:
            try:
                return await self.deliver(delivery, self._subscription(delivery))
            except Exception:
                log.exception("delivery %s failed unexpectedly", delivery.id)
                return None
            finally:
                # A delivery still to be finished is let go of when its finish commits.
                if delivery.id not in self._finishing_ids:
                    self._mine.discard(delivery.id)

    def _subscription(self, delivery: Delivery) -> asyncio.Task[Subscription | None]:
        """The subscription as read once for its deliveries of this batch."""
        found = self._subscriptions.get(delivery.subscription_id)
        if found is None or (found.done() and (found.cancelled() or found.exception() is not None)):
            found = self._subscriptions[delivery.subscription_id] = asyncio.ensure_future(
                self._store.get_subscription(
                    delivery.project, delivery.source, delivery.subscription_id, self._clock()
                )
            )
        return found

    async def _defer(self, chain: collections.deque[Delivery], due: float) -> None:
        # Only what is held now: deliveries leased meanwhile are tried in their turn, or
        # deferring could feed on itself while posts keep coming.
        waiting = list(chain)
        chain.clear()
        self._held -= len(waiting)
        try:
            for delivery in waiting:
                self._let_go(delivery)
                await self._store.retry_delivery(delivery.id, delivery.attempts, due)
        finally:
            self._mine.difference_update(delivery.id for delivery in waiting)

    # Deciding one delivery

    async def deliver(
        self, delivery: Delivery, read: asyncio.Future[Subscription | None] | None = None
    ) -> float | None:
        """Work one leased delivery to its end or its next attempt; when that attempt is
        due if it is retried, else None. `read` is its subscription's read, if one is
        already under way."""
        now = self._clock()
        if read is None:
            sub = await self._store.get_subscription(
                delivery.project, delivery.source, delivery.subscription_id, now
            )
        elif read.done():
            sub = read.result()
        else:
            # Shielded: one delivery cancelled must not cancel the read the others share.
            sub = await asyncio.shield(read)
        if sub is None:
            self.counters.gone += 1
            self._events.delivery_skipped("gone")
            self.counters.lag.pop(delivery.subscription_id, None)
            self._finish(delivery, "subscription gone")
            return None
        if delivery.posted + delivery.ttl <= now:
            self.counters.expired += 1
            self._events.delivery_skipped("expired")
            self._finish(delivery, "message expired")
            return None
        # A queue subscriber is the project's own queue: nobody else to ask.
        if (
            self._settings.require_confirmation
            and not sub.confirmed
            and not sub.subscriber.startswith("queue:")
        ):
            self.counters.unconfirmed += 1
            self._events.delivery_skipped("unconfirmed")
            self._finish(delivery, "subscription not confirmed")
            return None
        body = self._opened(delivery)
        policy = sub.options.get("filter_policy")
        if policy is not None and not self._filter(policy).matches(_decode(bytes(body))):
            self.counters.filtered += 1
            self._events.delivery_skipped("filtered")
            self._finish(delivery, "filtered out")
            return None
        self.counters.attempts += 1
        started = time.perf_counter()
        sink, outcome = await self._send(sub, delivery, body, now)
        seconds = time.perf_counter() - started
        if outcome.delivered:
            self.counters.successes += 1
            lag = self.counters.lag[sub.id] = self._clock() - delivery.posted
            self._events.delivery_attempted(sink, "delivered", seconds)
            self._events.delivery_lag(sink, lag)
            self._finish(delivery, outcome.reason)
            return None
        self.counters.failures += 1
        if outcome.retryable:
            delays = (await self._retry_policy(sub)).delays()
            if delivery.attempts < len(delays):
                # Counted from when the attempt began, so a slow answer does not stretch it;
                # a subscriber's Retry-After may only lengthen the wait.
                wait = max(float(delays[delivery.attempts]), getattr(outcome, "retry_after", 0.0))
                due = now + wait
                self.counters.retries += 1
                self._events.delivery_attempted(sink, "retried", seconds)
                self._let_go(delivery)
                await self._store.retry_delivery(delivery.id, delivery.attempts + 1, due)
                _log(delivery, f"{outcome.reason}; retry {delivery.attempts + 1} in {wait:g} s")
                return due
        self._events.delivery_attempted(sink, "failed", seconds)
        await self._give_up(sub, delivery, body, outcome)
        return None

    async def _send(
        self, sub: Subscription, delivery: Delivery, body: msgspec.Raw, now: float
    ) -> tuple[str, Outcome]:
        """The sink the subscriber names (`unknown` when the rules refuse it now), and
        how the attempt went."""
        try:
            subscriber = self._subscriber(sub.subscriber)
        except errors.InvalidRequest as exc:
            # The operator's rules changed since the subscription was made.
            return "unknown", Outcome(verdict="undeliverable", reason=exc.description)
        sink = subscriber.sink
        sender = self._senders.get(sink)
        if sender is None:
            reason = f"this server sends no {sink} messages"
            return sink, Outcome(verdict="undeliverable", reason=reason)
        message = NotifiedMessage(ttl=delivery.ttl, body=body, id=delivery.message_id)
        return sink, await sender.send(sub, subscriber, message, now)

    async def _give_up(
        self, sub: Subscription, delivery: Delivery, body: msgspec.Raw, outcome: Outcome
    ) -> None:
        """The subscriber refused the message or retries ran out: to the subscription's
        dead-letter queue if it names one, and counted and logged either way."""
        self.counters.given_up += 1
        reason = outcome.reason if not outcome.retryable else f"{outcome.reason}; retries spent"
        target = sub.options.get("dead_letter_queue")
        if isinstance(target, str):
            message = NotifiedMessage(ttl=delivery.ttl, body=body)
            posted = await post_into(self._service, sub.project, target, message)
            if posted.delivered:
                self.counters.dead_lettered += 1
                self._events.delivery_dead_lettered()
                reason += f"; dead-lettered to {target}"
            else:
                reason += f"; not dead-lettered: {posted.reason}"
        self._finish(delivery, f"given up ({reason})", level=logging.WARNING)

    def _subscriber(self, url: str) -> Subscriber:
        """The subscriber URL taken apart and judged by the operator's rules, which do not
        change while the server runs: once per distinct URL, not per delivery."""
        found = self._subscribers.get(url)
        if found is None:
            found = check_subscriber(url, self._hosts)
            if len(self._subscribers) >= _FILTER_CACHE:
                self._subscribers.clear()
            self._subscribers[url] = found
        return found

    def _filter(self, document: object) -> FilterPolicy:
        """The compiled policy, compiled once per distinct policy while it is in use."""
        key = _encode(document)
        found = self._filters.get(key)
        if found is None:
            if len(self._filters) >= _FILTER_CACHE:
                self._filters.clear()
            found = self._filters[key] = compile_policy(document)
        return found

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

    def _let_go(self, delivery: Delivery) -> None:
        """Before its next attempt is stored: from that write on, a lease may hand it
        out again at once, to this process too, and its reply may come back before the
        write's own. Still counted as one of ours then, it would be skipped by that
        lease and held, unsent, until the lease lapsed."""
        self._mine.discard(delivery.id)

    def _finish(self, delivery: Delivery, why: str, level: int = logging.INFO) -> None:
        """Take the delivery out of the outbox with the next batched commit."""
        finish = self._finishing.enqueue(None, delivery.id)
        self._finishes.add(finish)
        self._finishing_ids.add(delivery.id)
        finish.add_done_callback(functools.partial(self._finished, delivery.id))
        _log(delivery, why, level)

    def _finished(self, delivery_id: str, finish: asyncio.Future[None]) -> None:
        self._finishes.discard(finish)
        self._finishing_ids.discard(delivery_id)
        self._mine.discard(delivery_id)
        if finish.cancelled():
            return
        exc = finish.exception()
        if exc is not None:
            log.warning(
                "could not record the end of a delivery; it is sent again when its lease "
                "lapses: %s",
                exc,
            )
        self._wake_for_room()

    def _wake_for_room(self) -> None:
        """Lease more once half a batch has room, before the held deliveries run out."""
        if self._room() >= self._half_batch:
            self.wake()

    def _room(self) -> int:
        return self._settings.batch_size - self._held - len(self._finishes)

    async def _finish_all(self, _: None, delivery_ids: list[str]) -> list[None]:
        await self._store.finish_deliveries(delivery_ids)
        return [None] * len(delivery_ids)


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
