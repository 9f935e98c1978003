"""SQLite lists queues by seeking the name index, however far the prefix is from the marker."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from herald.storage.sqlite import queues
from herald.storage.sqlite.schema import migrate

OTHERS = 20_000


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    opened = sqlite3.connect(":memory:", isolation_level=None)
    migrate(opened)
    names = [f"a{n:06d}" for n in range(OTHERS)] + ["red-1", "red-2", "reddish", "z"]
    opened.executemany(
        "INSERT INTO queues (project, name, metadata) VALUES ('p', ?, '{}')",
        [(name,) for name in names],
    )
    yield opened
    opened.close()


def steps(conn: sqlite3.Connection, marker: str | None, prefix: str) -> tuple[list[str], int]:
    """The names of a page, and how many virtual-machine steps SQLite took for it."""
    taken = [0]

    def count() -> int:
        taken[0] += 1
        return 0

    conn.set_progress_handler(count, 1)
    try:
        page = queues.page(conn, "p", marker, 10, prefix)
    finally:
        conn.set_progress_handler(None, 1)
    return [q.name for q in page], taken[0]


@pytest.mark.parametrize("marker", [None, "", "a000000", "a019999"])
def test_a_prefix_far_after_the_marker_is_sought_not_walked_to(
    conn: sqlite3.Connection, marker: str | None
) -> None:
    names, taken = steps(conn, marker, "red")
    assert names == ["red-1", "red-2", "reddish"]
    # A walk over the other names would take several steps for each of them.
    assert taken < 1_000


def test_a_marker_inside_the_prefix_seeks_from_the_marker(conn: sqlite3.Connection) -> None:
    names, taken = steps(conn, "red-1", "red")
    assert names == ["red-2", "reddish"]
    assert taken < 1_000


def test_a_marker_past_the_prefix_finds_nothing_at_once(conn: sqlite3.Connection) -> None:
    names, taken = steps(conn, "s", "red")
    assert names == []
    assert taken < 1_000
