"""SQLite hears other processes' commits through inotify, or by polling without it."""

from __future__ import annotations

import asyncio
import sqlite3
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


async def test_the_look_at_other_processes_commits_seeks_past_the_last_message_seen(
    tmp_path: Path,
) -> None:
    # Grouping by queue tempts the planner to walk an index of every message in the
    # file, at each look while another process writes; it must seek by id instead.
    path = str(tmp_path / "plan.sqlite3")
    store = SQLiteStore(path)
    await store.open()
    try:
        made = [NewMessage(msgspec.Raw(b"1"), 300, 0)] * 50
        for queue in ("a", "b"):
            await store.post_messages("p", queue, lambda metadata: made, "c", 1_800_000_000.0)
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        plan = [
            row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + wakeups._CHANGED, (60, 0, 0))
        ]
        changed = conn.execute(wakeups._CHANGED, (60, 0, 0)).fetchall()
    finally:
        conn.close()
    assert [step for step in plan if " m USING INTEGER PRIMARY KEY (rowid>?)" in step]
    assert not [step for step in plan if "messages_by_queue" in step]
    assert changed == [("p", "b", 100)]
