"""Small pieces of SQL text shared by the SQLite jobs."""

from __future__ import annotations

from collections.abc import Sized

BATCH = 2000
"""Rows one housekeeping statement touches at most, so that no write transaction grows long."""


def marks(values: Sized) -> str:
    """One `?` placeholder per value, comma-separated, for an `IN (...)` list."""
    return ", ".join("?" * len(values))
