"""Latency histograms and per-role counters that worker processes fill and the parent merges."""

from __future__ import annotations

import dataclasses
from typing import Any

# Log-linear buckets: values below 128 µs are exact, above they keep 6
# significant bits (at most 1.6% error) so that a histogram is a few hundred
# ints whatever the load, cheap to fill per request and to ship between
# processes.
_EXACT = 128
_HALF = _EXACT // 2


def bucket_of(micros: int) -> int:
    """The bucket index of a latency in microseconds."""
    if micros < _EXACT:
        return max(micros, 0)
    shift = micros.bit_length() - 7
    return _HALF * shift + (micros >> shift)


def bucket_value(index: int) -> float:
    """The midpoint, in microseconds, of the latencies that fall in a bucket."""
    if index < _EXACT:
        return float(index)
    shift, mantissa = divmod(index, _HALF)
    shift -= 1
    mantissa += _HALF
    low = mantissa << shift
    return low + ((1 << shift) - 1) / 2


class Histogram:
    """Counts of latencies in log-linear buckets."""

    __slots__ = ("buckets", "count", "max_us", "total_us")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0
        self.total_us = 0
        self.max_us = 0

    def record(self, micros: int) -> None:
        """Add one latency in microseconds."""
        index = bucket_of(micros)
        buckets = self.buckets
        buckets[index] = buckets.get(index, 0) + 1
        self.count += 1
        self.total_us += micros
        if micros > self.max_us:
            self.max_us = micros

    def merge(self, other: Histogram) -> None:
        """Add every latency of another histogram to this one."""
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count
        self.total_us += other.total_us
        self.max_us = max(self.max_us, other.max_us)

    def percentile(self, fraction: float) -> float:
        """The latency in milliseconds below which `fraction` of the values fall; 0 if empty."""
        if not self.count:
            return 0.0
        rank = max(1, round(fraction * self.count))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(bucket_value(index), float(self.max_us)) / 1000
        return self.max_us / 1000

    def summary(self) -> dict[str, float | int]:
        """Count, mean, p50/p90/p99 and max in milliseconds."""
        mean = self.total_us / self.count / 1000 if self.count else 0.0
        return {
            "count": self.count,
            "mean_ms": round(mean, 3),
            "p50_ms": round(self.percentile(0.50), 3),
            "p90_ms": round(self.percentile(0.90), 3),
            "p99_ms": round(self.percentile(0.99), 3),
            "max_ms": round(self.max_us / 1000, 3),
        }


@dataclasses.dataclass
class Second:
    """What one role did during one second of the measured window."""

    requests: int = 0
    messages: int = 0
    errors: int = 0
    latency: Histogram = dataclasses.field(default_factory=Histogram)

    def merge(self, other: Second) -> None:
        self.requests += other.requests
        self.messages += other.messages
        self.errors += other.errors
        self.latency.merge(other.latency)


@dataclasses.dataclass
class RoleStats:
    """Counters of one role, in one worker process or merged over all of them."""

    role: str
    processes: int = 0
    concurrency: int = 0
    requests: int = 0
    messages: int = 0
    # Requests that succeeded but found nothing: claims answered 204, empty pages.
    idle: int = 0
    errors: dict[str, int] = dataclasses.field(default_factory=dict)
    ops: dict[str, Histogram] = dataclasses.field(default_factory=dict)
    seconds: list[Second] = dataclasses.field(default_factory=list)

    def second(self, index: int) -> Second:
        """The bucket of the index-th second, growing the timeline as needed."""
        seconds = self.seconds
        while len(seconds) <= index:
            seconds.append(Second())
        return seconds[index]

    def op(self, name: str) -> Histogram:
        histogram = self.ops.get(name)
        if histogram is None:
            histogram = self.ops[name] = Histogram()
        return histogram

    def merge(self, other: RoleStats) -> None:
        """Add another worker's counters of the same role."""
        self.processes += other.processes
        self.concurrency += other.concurrency
        self.requests += other.requests
        self.messages += other.messages
        self.idle += other.idle
        for status, n in other.errors.items():
            self.errors[status] = self.errors.get(status, 0) + n
        for name, histogram in other.ops.items():
            self.op(name).merge(histogram)
        for index, second in enumerate(other.seconds):
            self.second(index).merge(second)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def report(self, duration: float) -> dict[str, Any]:
        """The JSON-ready summary of this role over a window of `duration` seconds."""
        return {
            "processes": self.processes,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "messages": self.messages,
            "idle_requests": self.idle,
            "requests_per_s": round(self.requests / duration, 1) if duration else 0.0,
            "msgs_per_s": round(self.messages / duration, 1) if duration else 0.0,
            "errors": dict(sorted(self.errors.items())),
            "latency": {name: h.summary() for name, h in sorted(self.ops.items())},
            "timeline": [
                {
                    "second": i,
                    "requests": s.requests,
                    "messages": s.messages,
                    "errors": s.errors,
                    "p50_ms": round(s.latency.percentile(0.50), 3),
                    "p99_ms": round(s.latency.percentile(0.99), 3),
                }
                for i, s in enumerate(self.seconds)
            ],
        }
