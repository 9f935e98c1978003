"""One timer for deadlines of one length: each block ends by its own deadline, in turn."""

from __future__ import annotations

import asyncio
import contextlib
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
    deadlines = Deadlines(1.0)
    first = asyncio.ensure_future(sleeping(deadlines, 5))
    await asyncio.sleep(0.5)
    # Started later: still running when the first one's deadline passes.
    second = asyncio.ensure_future(sleeping(deadlines, 0.8))
    with pytest.raises(TimeoutError):
        await first
    assert not second.done()
    assert await second == "finished"


async def test_blocks_behind_a_finished_head_still_time_out() -> None:
    deadlines = Deadlines(0.2)
    quick = asyncio.ensure_future(sleeping(deadlines, 0.01))
    slow = [asyncio.ensure_future(sleeping(deadlines, 5)) for _ in range(3)]
    assert await quick == "finished"
    done, _ = await asyncio.wait(slow, timeout=2)
    assert done == set(slow)
    assert all(isinstance(task.exception(), TimeoutError) for task in slow)


async def test_a_block_that_swallows_its_cancellation_leaves_none_pending() -> None:
    deadlines = Deadlines(0.05)

    async def stubborn() -> int:
        with deadlines.within(), contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(5)
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    assert await asyncio.wait_for(stubborn(), 2) == 0


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    task = asyncio.ensure_future(sleeping(Deadlines(5), 5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_block_outside_a_task_is_refused() -> None:
    failed: list[BaseException] = []

    def callback() -> None:
        try:
            with Deadlines(1).within():
                pass
        except RuntimeError as exc:
            failed.append(exc)

    asyncio.get_running_loop().call_soon(callback)
    await asyncio.sleep(0.01)
    assert [str(exc) for exc in failed] == ["a deadline needs a running task"]


async def test_a_new_loop_gets_its_own_timer() -> None:
    deadlines = Deadlines(0.1)
    # A deadline armed on another loop, which closes with its timer still set.
    await asyncio.to_thread(asyncio.run, sleeping(deadlines, 0.01))
    task = asyncio.ensure_future(sleeping(deadlines, 5))
    done, _ = await asyncio.wait({task}, timeout=2)
    assert done == {task}
    assert isinstance(task.exception(), TimeoutError)
