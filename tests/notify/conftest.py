"""Fixtures of the delivery suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from delivery_support import Receiver, receiving


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on a free port, for one test."""
    with receiving() as state:
        yield state
