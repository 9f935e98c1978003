"""What the service tells an observer as it works: counts of what happened, and
which queues are in use; by default nobody listens."""

from __future__ import annotations


class Events:
    """The events the service emits; each method is a no-op here, and an observer
    (the Prometheus metrics of `herald.metrics`) overrides those it counts."""

    def messages_posted(self, count: int) -> None:
        """`count` messages were stored by a post."""

    def messages_claimed(self, count: int) -> None:
        """A claim handed out `count` messages."""

    def messages_deleted(self, count: int) -> None:
        """`count` messages were deleted (one by id, or popped)."""

    def messages_dead_lettered(self, count: int) -> None:
        """`count` messages moved to their dead-letter queue."""

    def claims_created(self) -> None:
        """A claim was made (one that holds at least one message)."""

    def claims_renewed(self) -> None:
        """A live claim's ttl was restarted."""

    def claims_released(self) -> None:
        """A claim was ended by its holder."""

    def garbage_collected(self, count: int) -> None:
        """Garbage collection removed `count` expired messages and claims."""

    def store_failed(self) -> None:
        """An operation failed because the store is unavailable."""

    def store_outage(self, down: bool) -> None:
        """The store stopped answering (`down`), or answers again."""

    def queue_used(self, project: str, queue: str) -> None:
        """A message was posted to or claimed from this queue: worth sampling its depth."""

    def long_poll_began(self) -> None:
        """A request found nothing and waits for a message."""

    def long_poll_ended(self, outcome: str) -> None:
        """A waiting request ended: `woken` (it found something), `timed_out`, or
        `abandoned` (its client left, or the server stopped)."""

    def websocket_opened(self) -> None:
        """A WebSocket connection was accepted."""

    def websocket_closed(self) -> None:
        """A WebSocket connection ended."""

    def websocket_frame(self, direction: str) -> None:
        """A WebSocket frame was `received` or `sent` (pushed notifications included)."""

    def push_began(self) -> None:
        """A WebSocket push subscription started sending."""

    def push_ended(self) -> None:
        """A WebSocket push subscription stopped (cancelled, expired, or its socket closed)."""

    def delivery_attempted(self, sink: str, outcome: str, seconds: float) -> None:
        """One attempt to send a notification to a `sink` (webhook, queue, mailto)
        ended `delivered`, `retried` (another attempt is due) or `failed` (given up)."""

    def delivery_skipped(self, reason: str) -> None:
        """A delivery ended unsent: `filtered`, `unconfirmed`, `gone` or `expired`."""

    def delivery_dead_lettered(self) -> None:
        """A delivery given up was posted to its subscription's dead-letter queue."""

    def delivery_lag(self, sink: str, seconds: float) -> None:
        """A notification reached its `sink` this long after its message was posted."""
