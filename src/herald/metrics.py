"""Herald's Prometheus metrics: every collector, the observer of the service's
events, and the registry a scrape reads.

The service emits events (`herald.service.events`) and knows nothing of
Prometheus; transports add only their request metrics. With `--workers N` or
delivery workers each process writes its samples to files in the directory named by
`PROMETHEUS_MULTIPROC_DIR` (prometheus-client's multiprocess mode), and the
process serving `/metrics` adds them up.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import msgspec
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from herald import __version__
from herald.metric_files import MULTIPROCESS_ENV
from herald.service import Events, QueueDepth

# prometheus-client leaves these two untyped; their types as Herald calls them.
_mark_process_dead: Callable[[int, str], None] = multiprocess.mark_process_dead
_files_collector: Callable[[CollectorRegistry | None, str], Collector] = (
    multiprocess.MultiProcessCollector
)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

# Requests, counted by the HTTP transport.
HTTP_REQUESTS = Counter(
    "herald_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "herald_http_request_duration_seconds",
    "Time from the request head to the last byte of the response handed to the server.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
# What the service did.
MESSAGES_POSTED = Counter("herald_messages_posted", "Messages stored by posts.")
MESSAGES_CLAIMED = Counter("herald_messages_claimed", "Messages handed out by claims.")
MESSAGES_DELETED = Counter(
    "herald_messages_deleted", "Messages deleted one by id, or popped (not bulk deletes by ids)."
)
MESSAGES_DEAD_LETTERED = Counter(
    "herald_messages_dead_lettered", "Messages moved to their queue's dead-letter queue."
)
CLAIMS_CREATED = Counter("herald_claims_created", "Claims made that hold messages.")
CLAIMS_RENEWED = Counter("herald_claims_renewed", "Claims whose ttl was restarted.")
CLAIMS_RELEASED = Counter("herald_claims_released", "Claims ended by a DELETE.")
GARBAGE_COLLECTED = Counter(
    "herald_garbage_collected",
    "Expired messages and ended claims removed by garbage collection (the two together).",
)

# The store.
STORE_ERRORS = Counter(
    "herald_store_errors", "Operations that failed because the store was unavailable."
)
STORE_OUTAGES = Counter(
    "herald_store_outages", "Store outages seen to begin, one per process that saw it."
)
STORE_UP = Gauge(
    "herald_store_up",
    "1 while the store answers, 0 during an outage; the lowest over the live processes.",
    multiprocess_mode="livemin",
)

# Notifications: labels are the subscriber's kind and an outcome, both from small
# fixed sets, never a subscription or project id, so the series stay few however
# many subscriptions there are.
NOTIFICATION_DELIVERIES = Counter(
    "herald_notification_deliveries",
    "Notification delivery attempts, by subscriber kind (webhook, queue, mailto) and "
    "outcome (delivered; retried: failed, another attempt is due; failed: given up).",
    ["kind", "outcome"],
)
NOTIFICATION_DELIVERY_SECONDS = Histogram(
    "herald_notification_delivery_duration_seconds",
    "Time one delivery attempt took, by subscriber kind.",
    ["kind"],
    buckets=_LATENCY_BUCKETS,
)
NOTIFICATION_SKIPPED = Counter(
    "herald_notification_skipped",
    "Deliveries ended unsent, by reason (filtered, unconfirmed, gone, expired).",
    ["reason"],
)
NOTIFICATION_DEAD_LETTERED = Counter(
    "herald_notification_dead_lettered",
    "Deliveries given up and posted to their subscription's dead-letter queue.",
)
NOTIFICATION_LAG_SECONDS = Histogram(
    "herald_notification_lag_seconds",
    "Time from a message's post to its notification's arrival, by subscriber kind.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
# Every worker reads the same outbox, so any live worker's sample is the backlog.
NOTIFICATION_BACKLOG = Gauge(
    "herald_notification_backlog",
    "Deliveries pending in the outbox (leased ones included), as last sampled.",
    multiprocess_mode="livemax",
)
NOTIFICATION_OLDEST_SECONDS = Gauge(
    "herald_notification_oldest_pending_seconds",
    "Age of the oldest pending delivery's message (0 when none is pending), as last sampled.",
    multiprocess_mode="livemax",
)
LONG_POLLS_WAITING = Gauge(
    "herald_long_polls_waiting",
    "Long polls waiting for a message now.",
    multiprocess_mode="livesum",
)
LONG_POLLS = Counter(
    "herald_long_polls",
    "Long polls finished, by outcome (woken, timed_out, abandoned).",
    ["outcome"],
)
WEBSOCKET_CONNECTIONS = Gauge(
    "herald_websocket_connections", "Open WebSocket connections.", multiprocess_mode="livesum"
)
WEBSOCKET_PUSHES = Gauge(
    "herald_websocket_push_subscriptions",
    "WebSocket push subscriptions sending now.",
    multiprocess_mode="livesum",
)
WEBSOCKET_FRAMES = Counter(
    "herald_websocket_frames", "WebSocket frames, by direction (received, sent).", ["direction"]
)

_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))


class RequestMetrics:
    """The request counter and latency histogram as the HTTP transport feeds them."""

    def __init__(self) -> None:
        # prometheus-client's labels() costs more than the increment itself: the
        # children of each (route, method, status) are looked up once.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            # A method nobody routes would otherwise let clients mint label values.
            label = method if method in _METHODS else "other"
            children = self._children[key] = (
                HTTP_REQUESTS.labels(route, label, str(status)),
                HTTP_REQUEST_SECONDS.labels(route, label),
            )
        counter, histogram = children
        counter.inc()
        histogram.observe(seconds)


class _Children:
    """A labelled metric's children, each looked up once: prometheus-client's labels()
    costs more than the increment itself (1.2 µs against 0.5), and a delivery or a
    frame would pay it on every count. Only for label values from a closed set."""

    def __init__(self, family: Any) -> None:
        self._family = family
        self._found: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self._found.get(values)
        if child is None:
            child = self._found[values] = self._family.labels(*values)
        return child


class MetricEvents(Events):
    """Counts the service's events, and remembers the `queues` most recently used
    queues for the depth sampler."""

    def __init__(self, queues: int) -> None:
        self._most = queues
        self._used: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._long_polls = _Children(LONG_POLLS)
        self._frames = _Children(WEBSOCKET_FRAMES)
        self._deliveries = _Children(NOTIFICATION_DELIVERIES)
        self._delivery_seconds = _Children(NOTIFICATION_DELIVERY_SECONDS)
        self._skipped = _Children(NOTIFICATION_SKIPPED)
        self._lag = _Children(NOTIFICATION_LAG_SECONDS)
        STORE_UP.set(1)

    def messages_posted(self, count: int) -> None:
        MESSAGES_POSTED.inc(count)

    def messages_claimed(self, count: int) -> None:
        MESSAGES_CLAIMED.inc(count)

    def messages_deleted(self, count: int) -> None:
        MESSAGES_DELETED.inc(count)

    def messages_dead_lettered(self, count: int) -> None:
        MESSAGES_DEAD_LETTERED.inc(count)

    def claims_created(self) -> None:
        CLAIMS_CREATED.inc()

    def claims_renewed(self) -> None:
        CLAIMS_RENEWED.inc()

    def claims_released(self) -> None:
        CLAIMS_RELEASED.inc()

    def garbage_collected(self, count: int) -> None:
        GARBAGE_COLLECTED.inc(count)

    def store_failed(self) -> None:
        STORE_ERRORS.inc()

    def store_outage(self, down: bool) -> None:
        if down:
            STORE_OUTAGES.inc()
        STORE_UP.set(0 if down else 1)

    def long_poll_began(self) -> None:
        LONG_POLLS_WAITING.inc()

    def long_poll_ended(self, outcome: str) -> None:
        LONG_POLLS_WAITING.dec()
        self._long_polls(outcome).inc()

    def websocket_opened(self) -> None:
        WEBSOCKET_CONNECTIONS.inc()

    def websocket_closed(self) -> None:
        WEBSOCKET_CONNECTIONS.dec()

    def websocket_frame(self, direction: str) -> None:
        self._frames(direction).inc()

    def push_began(self) -> None:
        WEBSOCKET_PUSHES.inc()

    def push_ended(self) -> None:
        WEBSOCKET_PUSHES.dec()

    def delivery_attempted(self, sink: str, outcome: str, seconds: float) -> None:
        self._deliveries(sink, outcome).inc()
        self._delivery_seconds(sink).observe(seconds)

    def delivery_skipped(self, reason: str) -> None:
        self._skipped(reason).inc()

    def delivery_dead_lettered(self) -> None:
        NOTIFICATION_DEAD_LETTERED.inc()

    def delivery_lag(self, sink: str, seconds: float) -> None:
        self._lag(sink).observe(max(0.0, seconds))

    def queue_used(self, project: str, queue: str) -> None:
        if self._most == 0:
            return
        key = (project, queue)
        used = self._used
        if key in used:
            used.move_to_end(key)
            return
        used[key] = None
        if len(used) > self._most:
            used.popitem(last=False)

    def used_queues(self) -> list[tuple[str, str]]:
        """The queues to sample, most recently used last."""
        return list(self._used)


class _DepthFile(msgspec.Struct):
    depths: list[QueueDepth]


_depth_encoder = msgspec.json.Encoder()
_depth_decoder = msgspec.json.Decoder(_DepthFile)
_DEPTH_FILE = re.compile(r"depth_(\d+)\.json")


class Depths:
    """The latest depth sample of this process, shown as `herald_queue_messages`.

    Depths are not prometheus-client gauges: a queue that leaves the sample must
    leave the exposition too, which multiprocess gauge files cannot do. Each
    process replaces its own small file instead, and the scrape merges them."""

    def __init__(self) -> None:
        self.latest: list[QueueDepth] = []

    def publish(self, depths: list[QueueDepth]) -> None:
        self.latest = depths
        directory = os.environ.get(MULTIPROCESS_ENV)
        if not directory:
            return
        target = Path(directory) / f"depth_{os.getpid()}.json"
        with tempfile.NamedTemporaryFile("wb", dir=directory, delete=False) as f:
            f.write(_depth_encoder.encode(_DepthFile(depths)))
        os.replace(f.name, target)


DEPTHS = Depths()


class DepthCollector(Collector):
    """`herald_queue_messages{project, queue, state}` from this process's sample, or from
    every live worker's file in `directory`, the most recent per queue winning."""

    def __init__(self, directory: str | None, most: int) -> None:
        self._directory = directory
        self._most = most

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "herald_queue_messages",
            "Unexpired messages of recently used queues, by state (free, claimed, delayed).",
            labels=["project", "queue", "state"],
        )
        merged: dict[tuple[str, str], QueueDepth] = {}
        for depth in self._samples():
            merged[depth.project, depth.queue] = depth
        deepest = sorted(
            merged.values(), key=lambda d: d.free + d.claimed + d.delayed, reverse=True
        )
        for depth in deepest[: self._most]:
            family.add_metric([depth.project, depth.queue, "free"], depth.free)
            family.add_metric([depth.project, depth.queue, "claimed"], depth.claimed)
            family.add_metric([depth.project, depth.queue, "delayed"], depth.delayed)
        yield family

    def _samples(self) -> Iterator[QueueDepth]:
        if self._directory is None:
            yield from DEPTHS.latest
            return
        files = sorted(Path(self._directory).glob("depth_*.json"), key=_modified)
        for path in files:
            found = _DEPTH_FILE.fullmatch(path.name)
            if found is None:
                continue
            if not _alive(int(found.group(1))):
                path.unlink(missing_ok=True)
                continue
            with contextlib.suppress(OSError, msgspec.DecodeError):
                yield from _depth_decoder.decode(path.read_bytes()).depths


def publish_backlog(pending: int, oldest_posted: float | None, now: float) -> None:
    """The outbox sample, as `count_deliveries` gave it at `now`."""
    NOTIFICATION_BACKLOG.set(pending)
    NOTIFICATION_OLDEST_SECONDS.set(0.0 if oldest_posted is None else max(0.0, now - oldest_posted))


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class BuildInfo(Collector):
    """`herald_build_info{version, python}`, always 1."""

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "herald_build_info",
            "Herald's version and the Python running it.",
            labels=["version", "python"],
        )
        family.add_metric([__version__, platform.python_version()], 1)
        yield family


class _LiveWorkers(Collector):
    """prometheus-client's multiprocess collector, after forgetting the `live` gauges of
    workers that died without saying so (a kill -9, a crash)."""

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._files = _files_collector(None, directory)

    def collect(self) -> Iterable[Metric]:
        for path in Path(self._directory).glob("gauge_live*_*.db"):
            pid = path.stem.rsplit("_", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                _mark_process_dead(int(pid), self._directory)
        return self._files.collect()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def scrape_registry(
    directory: str | None, queues: int, *, serves_here: bool = True
) -> CollectorRegistry:
    """What `/metrics` shows: this process's collectors, or with `directory` (processes
    writing multiprocess files) every one's, added up; with `serves_here`, also this
    process's CPU, memory and runtime, as one API process shows without the files."""
    if directory is None:
        registry = REGISTRY
    else:
        registry = CollectorRegistry()
        registry.register(_LiveWorkers(directory))
        if serves_here:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
    registry.register(BuildInfo())
    registry.register(DepthCollector(directory, queues))
    return registry


def serve_metrics(host: str, port: int, registry: CollectorRegistry) -> WSGIServer:
    """Serve the exposition on its own address, from a thread of this process."""
    server, _thread = start_http_server(port, host, registry)
    return server


def process_stopped() -> None:
    """Drop this process's `live` gauges: it serves no longer."""
    directory = os.environ.get(MULTIPROCESS_ENV)
    if directory:
        _mark_process_dead(os.getpid(), directory)
