"""Readiness for a load balancer: whether the store answers, asked sparingly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from herald import errors
from herald.service.outage import StoreWatch
from herald.storage.base import Store


class Readiness:
    """Whether this process can serve, from a ping of the store shared by every probe
    for `cache_seconds`. Not an operation of any caller: probes carry no credentials,
    so no policy action applies."""

    def __init__(
        self,
        store: Store,
        watch: StoreWatch,
        *,
        cache_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._watch = watch
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._last: tuple[float, bool] | None = None
        self._lock = asyncio.Lock()

    async def ready(self) -> bool:
        """Whether the store answers, asked at most once per `cache_seconds` however
        many probes come, so that a storm of them cannot load the store."""
        async with self._lock:
            last = self._last
            if last is not None and self._monotonic() - last[0] < self._cache_seconds:
                return last[1]
            answered = await self.probe_store()
            self._last = (self._monotonic(), answered)
            return answered

    async def probe_store(self) -> bool:
        """Ping the store and tell the outage watch what came of it."""
        if await self._store.ping():
            self._watch.answered()
            return True
        self._watch.failed(errors.StoreUnavailable("the store does not answer a ping"))
        return False
