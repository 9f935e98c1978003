"""The pieces drivers share."""

from __future__ import annotations

import pytest

from herald.storage.kit import prefix_end, row_id, row_ids


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        ("", None),
        ("a", "b"),
        ("red-", "red."),
        ("a\U0010ffff", "b"),
        ("\U0010ffff", None),
        ("x\ud7ff", "x\ue000"),
    ],
)
def test_prefix_end(prefix: str, end: str | None) -> None:
    assert prefix_end(prefix) == end


@pytest.mark.parametrize("name", ["red", "red-1", "red\U0010ffff", "red\x7f", "redé"])
def test_prefix_end_bounds_every_name_with_the_prefix(name: str) -> None:
    end = prefix_end("red")
    assert end is not None
    assert b"red" <= name.encode() < end.encode()
    assert end.encode() <= b"ree"


def test_row_ids_keep_the_first_of_each_and_drop_what_cannot_be_a_row() -> None:
    assert row_ids(["3", "1", "3", "x", "", "9" * 19, "٣"]) == [3, 1]
    assert row_id("9" * 18) == int("9" * 18)
