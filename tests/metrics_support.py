"""Helpers of the metrics suites: a `herald serve` with /metrics, and its scrapes as samples."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import ServerProcess, free_port

Sample = tuple[str, tuple[tuple[str, str], ...]]


def scrape(port: int) -> dict[Sample, float]:
    """Every sample of the exposition by name and labels; the text must parse."""
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples: dict[Sample, float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def counter(name: str) -> Sample:
    return (f"herald_{name}_total", ())


def serve_metered(
    store: str, workdir: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[ServerProcess, int]:
    metrics_port = free_port()
    server = ServerProcess(
        store,
        workdir,
        "--metrics-port",
        str(metrics_port),
        *args,
        # No collection during the test: it would count removals the test did not make.
        env={"HERALD_GC_INTERVAL": "0", **(env or {})},
    ).start()
    return server, metrics_port


def scrape_until(
    metrics_port: int, holds: Callable[[dict[Sample, float]], bool], within: float = 30
) -> dict[Sample, float]:
    """A scrape of which `holds` is true (an engine counts a moment after it sends)."""
    deadline = time.monotonic() + within
    while True:
        samples = scrape(metrics_port)
        if holds(samples):
            return samples
        if time.monotonic() > deadline:
            herald = {k: v for k, v in samples.items() if "notification" in k[0] or "poll" in k[0]}
            pytest.fail(f"the metrics never reached what was expected: {herald}")
        time.sleep(0.1)


def delivery(kind: str, outcome: str) -> Sample:
    return ("herald_notification_deliveries_total", (("kind", kind), ("outcome", outcome)))
