"""One timer for deadlines of one length: each block ends by its own deadline, in turn."""

from __future__ import annotations

import asyncio
import time

import pytest

from herald.delivery.deadlines import Deadlines


async def sleeping(deadlines: Deadlines, seconds: float) -> str:
    with deadlines.within():
        await asyncio.sleep(seconds)
    return "finished"


async def test_a_block_past_its_deadline_raises_timeout_error() -> None:
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        await sleeping(Deadlines(0.05), 5)
    assert time.monotonic() - began < 1


async def test_blocks_within_their_deadline_finish_and_leave_nothing_behind() -> None:
    deadlines = Deadlines(0.2)
    assert (
        await asyncio.gather(*(sleeping(deadlines, 0.01) for _ in range(50))) == ["finished"] * 50
    )
    assert not deadlines._pending


async def test_each_block_is_timed_from_its_own_start() -> None:
    deadlines = Deadlines(0.3)
    first = asyncio.ensure_future(sleeping(deadlines, 5))
    await asyncio.sleep(0.2)
    # Started later: still running when the first one's deadline passes.
    second = asyncio.ensure_future(sleeping(deadlines, 0.2))
    with pytest.raises(TimeoutError):
        await first
    assert not second.done()
    assert await second == "finished"


async def test_a_slow_block_at_the_head_does_not_hold_back_a_later_deadline() -> None:
    deadlines = Deadlines(0.2)
    quick = asyncio.ensure_future(sleeping(deadlines, 0.01))
    slow = [asyncio.ensure_future(sleeping(deadlines, 5)) for _ in range(3)]
    assert await quick == "finished"
    for task in slow:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(task, 2)


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    task = asyncio.ensure_future(sleeping(Deadlines(5), 5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_block_outside_a_task_is_refused() -> None:
    with pytest.raises(RuntimeError), Deadlines(1).within():
        pass
