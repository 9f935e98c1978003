"""`herald bench` against a real Herald: it runs, counts, and reports valid JSON.

No assertion here is about speed: the numbers only have to be sane.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from herald.bench import cli as bench_cli
from herald.bench.stats import Histogram, RoleStats, bucket_of, bucket_value
from support import free_port, make_settings, running_app


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("bench"), durability="normal")
    with running_app(settings) as url:
        yield url


def bench(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "herald", "bench", "--warmup", "0", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def bench_json(server: str, *args: str) -> dict[str, Any]:
    project = f"bench-{uuid.uuid4().hex[:8]}"
    done = bench("-s", server, "--project", project, "-t", "1", "--json", "-q", *args)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def assert_sane_latency(latency: dict[str, float]) -> None:
    assert latency["count"] > 0
    assert 0 < latency["p50_ms"] <= latency["p90_ms"] <= latency["p99_ms"]
    assert latency["p99_ms"] <= latency["max_ms"] * 1.02


def test_producer_reports_messages_latency_and_json(server: str) -> None:
    report = bench_json(server, "--producer", "1x4", "--messages-per-post", "3")
    assert report["tool"] == "herald bench"
    assert report["server"] == server
    assert report["config"]["messages_per_post"] == 3
    producer = report["roles"]["producer"]
    assert producer["errors"] == {}
    assert producer["requests"] > 0
    assert producer["messages"] == 3 * producer["requests"]
    assert producer["msgs_per_s"] > 0
    assert_sane_latency(producer["latency"]["post"])
    assert sum(second["requests"] for second in producer["timeline"]) == producer["requests"]
    assert set(report["roles"]) == {"producer"}


@pytest.mark.parametrize("delete", ["each", "bulk"])
def test_consumer_claims_and_deletes_prefilled_messages(server: str, delete: str) -> None:
    report = bench_json(
        server,
        "--producer", "0",
        "--consumer", "1x2",
        "--queues", "2",
        "--prefill", "150",
        "--messages-per-claim", "5",
        "--delete", delete,
    )  # fmt: skip
    consumer = report["roles"]["consumer"]
    assert consumer["errors"] == {}
    assert 0 < consumer["messages"] <= 2 * 150
    assert_sane_latency(consumer["latency"]["claim"])
    assert_sane_latency(consumer["latency"]["delete"])
    if delete == "bulk":
        # One DELETE per claim that found messages.
        assert consumer["latency"]["delete"]["count"] <= consumer["latency"]["claim"]["count"]


def test_observer_pages_through_the_queues(server: str) -> None:
    report = bench_json(
        server, "--producer", "0", "--observer", "1x2", "--prefill", "30", "--queues", "1"
    )
    observer = report["roles"]["observer"]
    assert observer["errors"] == {}
    assert observer["messages"] > 0
    assert_sane_latency(observer["latency"]["list"])
    # 30 messages in pages of 10, then an empty page and the walk starts over.
    assert observer["idle_requests"] > 0


def test_prefill_alone_fills_the_queues_for_a_later_run(server: str) -> None:
    project = f"bench-{uuid.uuid4().hex[:8]}"
    common = ("-s", server, "--project", project, "--queues", "1", "-q", "--json")
    filled = json.loads(bench(*common, "--producer", "0", "--prefill", "25").stdout)
    assert filled["roles"] == {}
    report = json.loads(
        bench(*common, "-t", "1", "--no-reset", "--producer", "0", "--consumer", "1x1").stdout
    )
    assert report["roles"]["consumer"]["messages"] == 25


def test_all_roles_at_once_print_a_summary(server: str) -> None:
    done = bench(
        "-s", server,
        "--project", f"bench-{uuid.uuid4().hex[:8]}",
        "-t", "1",
        "--producer", "1x2",
        "--consumer", "1x2",
        "--observer", "1x1",
        "--delete", "bulk",
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert any(line.startswith("producer") for line in lines)
    assert any(line.startswith("consumer") for line in lines)
    assert any(line.startswith("observer") for line in lines)
    assert "msgs/s" in done.stdout and "p99 ms" in done.stdout
    # Progress goes to stderr, never into the report.
    assert "preparing queues" in done.stderr
    assert "preparing" not in done.stdout


def test_plot_writes_a_png(server: str, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    picture = tmp_path / "run.png"
    report = bench_json(server, "--producer", "1x2", "--plot", str(picture))
    assert report["roles"]["producer"]["messages"] > 0
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench_cli, "plotting_available", lambda: False)
    parser = argparse.ArgumentParser()
    bench_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "--plot", "x.png"])
    assert bench_cli.run(args) == 2
    assert "pip install 'herald[bench]'" in capsys.readouterr().err


def test_unreachable_server_is_reported() -> None:
    done = bench("-s", f"http://127.0.0.1:{free_port()}", "-t", "1", "-q", check=False)
    assert done.returncode == 2
    assert "cannot reach the server" in done.stderr


def test_role_shapes_parse() -> None:
    parser = argparse.ArgumentParser()
    bench_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "--producer", "2x16", "--consumer", "8", "--observer", "0"])
    assert (args.producer.processes, args.producer.concurrency) == (2, 16)
    assert (args.consumer.processes, args.consumer.concurrency) == (1, 8)
    assert not args.observer.active
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "--producer", "two"])


def test_histogram_percentiles_are_close() -> None:
    histogram = Histogram()
    for micros in range(1, 100_001):
        histogram.record(micros)
    assert histogram.percentile(0.5) == pytest.approx(50.0, rel=0.02)
    assert histogram.percentile(0.99) == pytest.approx(99.0, rel=0.02)
    assert histogram.max_us == 100_000
    for micros in (0, 1, 127, 128, 129, 1000, 65_535, 10**7):
        assert bucket_value(bucket_of(micros)) == pytest.approx(micros, rel=0.02, abs=0.5)


def test_role_stats_merge_adds_up() -> None:
    one, two = RoleStats("producer", 1, 4), RoleStats("producer", 1, 4)
    for stats, n in ((one, 3), (two, 5)):
        for i in range(n):
            stats.requests += 1
            stats.messages += 2
            stats.op("post").record(1000 + i)
            stats.second(i % 2).requests += 1
        stats.errors["503"] = 1
    total = RoleStats("producer")
    total.merge(one)
    total.merge(two)
    report = total.report(duration=2.0)
    assert (report["processes"], report["concurrency"]) == (2, 8)
    assert report["requests"] == 8 and report["messages"] == 16
    assert report["msgs_per_s"] == 8.0
    assert report["errors"] == {"503": 2}
    assert report["latency"]["post"]["count"] == 8
    assert [s["requests"] for s in report["timeline"]] == [5, 3]
