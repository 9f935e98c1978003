"""The supervision of delivery workers: real spawned processes with a stand-in life, so
that deaths and restarts can be made at will."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from herald.delivery_workers import DeliveryWorkers


def _note_start(environ: Mapping[str, str]) -> None:
    with open(environ["STARTS"], "a") as starts:
        starts.write(f"{time.monotonic()} {os.getpid()}\n")


def exit_at_once(environ: Mapping[str, str], number: int) -> None:
    """A worker that cannot start: it dies as soon as it is born."""
    _note_start(environ)
    raise SystemExit(3)


def live_long(environ: Mapping[str, str], number: int) -> None:
    _note_start(environ)
    time.sleep(60)


def starts(path: Path) -> list[tuple[float, int]]:
    if not path.exists():
        return []
    return [
        (float(t), int(pid))
        for t, pid in (line.split() for line in path.read_text().split("\n") if line)
    ]


def wait_for_starts(path: Path, count: int, within: float = 20) -> list[tuple[float, int]]:
    deadline = time.monotonic() + within
    while len(found := starts(path)) < count:
        assert time.monotonic() < deadline, f"{len(found)} starts, not {count}"
        time.sleep(0.02)
    return found


def test_a_worker_that_keeps_dying_is_started_again_ever_more_slowly(tmp_path: Path) -> None:
    path = tmp_path / "starts"
    workers = DeliveryWorkers(
        {"STARTS": str(path)},
        1,
        target=exit_at_once,
        restart_delay=0.5,
        max_restart_delay=2.0,
    )
    workers.start()
    try:
        found = wait_for_starts(path, 5)
    finally:
        workers.stop()
    gaps = [later[0] - earlier[0] for earlier, later in itertools.pairwise(found)]
    # Each wait is at least the one before it doubled, up to the cap; a spawn only adds
    # (about half a second here, which a fixed delay would not outgrow past the third).
    for n, gap in enumerate(gaps[:4]):
        assert gap >= min(0.5 * 2**n, 2.0) * 0.95, gaps


def test_a_worker_ended_by_any_signal_is_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "starts"
    workers = DeliveryWorkers({"STARTS": str(path)}, 1, target=live_long, restart_delay=0.05)
    workers.start()
    try:
        ((_, first),) = wait_for_starts(path, 1)
        # A real-time signal has no name in `signal.Signals`.
        realtime = signal.SIGRTMIN + 1
        os.kill(first, realtime)
        _, (_, second) = wait_for_starts(path, 2)
        assert second != first
        os.kill(second, signal.SIGKILL)
        wait_for_starts(path, 3)
    finally:
        workers.stop()
    said = caplog.text
    assert f"delivery worker 1 (pid {first}) was ended by signal {realtime}" in said
    assert f"delivery worker 1 (pid {second}) was ended by SIGKILL" in said


def test_stop_during_a_restart_delay_starts_nothing_more(tmp_path: Path) -> None:
    path = tmp_path / "starts"
    workers = DeliveryWorkers({"STARTS": str(path)}, 1, target=exit_at_once, restart_delay=30)
    workers.start()
    wait_for_starts(path, 1)
    time.sleep(0.5)
    began = time.monotonic()
    workers.stop()
    assert time.monotonic() - began < 5
    time.sleep(0.5)
    assert len(starts(path)) == 1
