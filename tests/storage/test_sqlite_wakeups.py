"""SQLite hears other processes' commits through inotify, or by polling without it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from herald.model import NewMessage
from herald.storage.sqlite import SQLiteStore, wakeups


async def heard_across(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    watching, writing = SQLiteStore(path), SQLiteStore(path)
    await watching.open()
    await writing.open()
    heard = asyncio.Event()
    try:
        await watching.watch("p", "q", heard.set)
        made = [NewMessage(msgspec.Raw(b"1"), 300, 0)]
        await writing.post_messages("p", "q", lambda metadata: made, "c", 1_800_000_000.0)
        await asyncio.wait_for(heard.wait(), 10)
    finally:
        await watching.close()
        await writing.close()


@pytest.mark.skipif(not wakeups.HAVE_INOTIFY, reason="no inotify here")
async def test_a_post_of_another_store_is_heard_through_inotify(tmp_path: Path) -> None:
    await heard_across(tmp_path)


async def test_without_inotify_a_post_of_another_store_is_heard_by_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wakeups, "HAVE_INOTIFY", False)
    await heard_across(tmp_path)
