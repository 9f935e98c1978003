"""What a command prints: aligned tables for people, JSON documents for scripts."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import msgspec


def print_json(document: Any) -> None:
    """One JSON document on stdout, indented."""
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(document), indent=2).decode())
    sys.stdout.write("\n")


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Columns padded to their widest cell; a table with no rows prints its header only."""
    cells = [list(header), *([cell_text(value) for value in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        line = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(line.rstrip())


def print_fields(fields: Sequence[tuple[str, object]]) -> None:
    """`name: value` lines."""
    for name, value in fields:
        print(f"{name}: {cell_text(value)}")


def cell_text(value: object) -> str:
    """A value as one line: JSON for documents, '-' for nothing."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()
