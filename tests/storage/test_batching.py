"""The batcher drivers use to send concurrent requests to their backend together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from herald.storage.batching import Batcher


class Recorder:
    """A `send` that answers each item doubled and remembers the batches it saw."""

    def __init__(self, hold: asyncio.Event | None = None) -> None:
        self.batches: list[tuple[str, list[int]]] = []
        self.out = 0
        self.most_out = 0
        self.hold = hold

    async def send(self, key: str, items: list[int]) -> list[int | BaseException]:
        self.batches.append((key, items))
        self.out += 1
        self.most_out = max(self.most_out, self.out)
        try:
            if self.hold is not None:
                await self.hold.wait()
            await asyncio.sleep(0)
            return [ValueError(f"odd {i}") if i % 2 else i * 2 for i in items]
        finally:
            self.out -= 1


async def test_items_of_one_loop_turn_go_as_one_batch_per_key() -> None:
    recorder = Recorder()
    batcher: Batcher[str, int, int] = Batcher(recorder.send)
    results = await asyncio.gather(
        batcher.submit("a", 2), batcher.submit("b", 4), batcher.submit("a", 6)
    )
    # Typed as a tuple for fixed arguments, gather's result is in fact a list.
    assert list(results) == [4, 8, 12]
    assert sorted(recorder.batches) == [("a", [2, 6]), ("b", [4])]


async def test_each_item_gets_its_own_error() -> None:
    batcher: Batcher[str, int, int] = Batcher(Recorder().send)
    results = await asyncio.gather(
        batcher.submit("a", 1), batcher.submit("a", 2), return_exceptions=True
    )
    assert isinstance(results[0], ValueError) and str(results[0]) == "odd 1"
    assert results[1] == 4


async def test_a_failed_send_fails_every_item_of_its_batch_only() -> None:
    async def send(key: str, items: list[int]) -> Sequence[int | BaseException]:
        if key == "broken":
            raise ConnectionError("backend gone")
        return items

    batcher: Batcher[str, int, int] = Batcher(send)
    results = await asyncio.gather(
        batcher.submit("broken", 1),
        batcher.submit("broken", 2),
        batcher.submit("fine", 3),
        return_exceptions=True,
    )
    assert [type(r) for r in results[:2]] == [ConnectionError, ConnectionError]
    assert results[2] == 3


async def test_a_send_answering_too_few_results_fails_instead_of_hanging() -> None:
    async def send(key: str, items: list[int]) -> Sequence[int | BaseException]:
        return items[:1]

    batcher: Batcher[str, int, int] = Batcher(send)
    results = await asyncio.wait_for(
        asyncio.gather(batcher.submit("a", 1), batcher.submit("a", 2), return_exceptions=True),
        timeout=5,
    )
    assert all(isinstance(r, AssertionError) for r in results)


async def test_exclusive_keeps_one_batch_out_per_key_and_gathers_the_next() -> None:
    hold = asyncio.Event()
    recorder = Recorder(hold)
    batcher: Batcher[str, int, int] = Batcher(recorder.send, exclusive=True)
    first = asyncio.ensure_future(batcher.submit("a", 2))
    other_key = asyncio.ensure_future(batcher.submit("b", 0))
    await asyncio.sleep(0.01)
    later = [asyncio.ensure_future(batcher.submit("a", i)) for i in (4, 6, 8)]
    await asyncio.sleep(0.01)
    assert recorder.batches == [("a", [2]), ("b", [0])]  # "a" waits for its first batch
    hold.set()
    assert await asyncio.gather(first, other_key, *later) == [4, 0, 8, 12, 16]
    assert recorder.batches[2:] == [("a", [4, 6, 8])]
    assert recorder.most_out == 2  # one per key


async def test_without_exclusive_batches_of_a_key_overlap() -> None:
    hold = asyncio.Event()
    recorder = Recorder(hold)
    batcher: Batcher[str, int, int] = Batcher(recorder.send)
    first = asyncio.ensure_future(batcher.submit("a", 2))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(batcher.submit("a", 4))
    await asyncio.sleep(0.01)
    assert recorder.most_out == 2
    hold.set()
    assert list(await asyncio.gather(first, second)) == [4, 8]


async def test_a_cancelled_caller_does_not_break_the_batch() -> None:
    hold = asyncio.Event()
    batcher: Batcher[str, int, int] = Batcher(Recorder(hold).send)
    gone = asyncio.ensure_future(batcher.submit("a", 2))
    kept = asyncio.ensure_future(batcher.submit("a", 4))
    await asyncio.sleep(0.01)
    gone.cancel()
    hold.set()
    assert await kept == 8
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_a_caller_gone_before_its_batch_left_is_not_sent() -> None:
    hold = asyncio.Event()
    recorder = Recorder(hold)
    batcher: Batcher[str, int, int] = Batcher(recorder.send, exclusive=True)
    first = asyncio.ensure_future(batcher.submit("a", 2))
    await asyncio.sleep(0.01)
    gone = asyncio.ensure_future(batcher.submit("a", 4))
    kept = asyncio.ensure_future(batcher.submit("a", 6))
    await asyncio.sleep(0.01)
    gone.cancel()
    hold.set()
    assert list(await asyncio.gather(first, kept)) == [4, 12]
    assert recorder.batches == [("a", [2]), ("a", [6])]


async def test_big_batches_are_split() -> None:
    recorder = Recorder()
    batcher: Batcher[str, int, int] = Batcher(recorder.send, max_items=3)
    results = await asyncio.gather(*(batcher.submit("a", i) for i in (0, 2, 4, 6, 8, 10, 12)))
    assert results == [0, 4, 8, 12, 16, 20, 24]
    assert recorder.batches == [("a", [0, 2, 4]), ("a", [6, 8, 10]), ("a", [12])]


async def test_an_exclusive_key_is_free_again_after_a_failed_send() -> None:
    calls: list[list[int]] = []

    async def send(key: str, items: list[int]) -> Sequence[int | BaseException]:
        calls.append(items)
        if len(calls) == 1:
            raise ConnectionError("backend gone")
        return items

    batcher: Batcher[str, int, int] = Batcher(send, exclusive=True)
    with pytest.raises(ConnectionError):
        await batcher.submit("a", 1)
    assert await asyncio.wait_for(batcher.submit("a", 2), timeout=5) == 2
