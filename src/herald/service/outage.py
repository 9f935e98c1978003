"""The store's outages as this process sees them: one log line when one begins and
one when it ends, however many requests fail in between."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator

from herald.errors import StoreUnavailable
from herald.service.events import Events

log = logging.getLogger("herald")


class StoreWatch:
    """Whether the store is down, since when, and the two log lines of each outage."""

    def __init__(self, events: Events, clock: Callable[[], float] = time.monotonic) -> None:
        self._events = events
        self._clock = clock
        self.down_since: float | None = None

    @property
    def down(self) -> bool:
        return self.down_since is not None

    def failed(self, error: StoreUnavailable) -> None:
        """An operation failed on the store: the start of an outage unless one is on."""
        self._events.store_failed()
        if self.down_since is not None:
            return
        self.down_since = self._clock()
        self._events.store_outage(down=True)
        log.error(
            "store outage began: %s; answering 503 until the store answers again",
            error.description,
        )

    def answered(self) -> None:
        """The store answered: the end of the outage, if there was one."""
        if self.down_since is None:
            return
        lasted = self._clock() - self.down_since
        self.down_since = None
        self._events.store_outage(down=False)
        log.warning("store outage ended: the store answers again after %.1f s", lasted)

    @contextlib.contextmanager
    def background(self, what: str) -> Iterator[None]:
        """Runs one round of a background task: a store outage is noted (its two lines say
        enough), anything else is logged with its traceback; the task goes on either way."""
        try:
            yield
        except StoreUnavailable as exc:
            self.failed(exc)
        except Exception:
            log.exception("%s failed; will retry", what)
