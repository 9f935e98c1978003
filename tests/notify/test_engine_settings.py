"""The engine's settings at their bounds: the per-subscription window, delivery workers."""

from __future__ import annotations

import pytest

from herald.config import NotificationSettings, Settings


@pytest.mark.parametrize("window", [1, 1000])
def test_window_at_its_bounds_is_taken(window: int) -> None:
    assert NotificationSettings(per_subscription_window=window).per_subscription_window == window


@pytest.mark.parametrize("window", [0, 1001])
def test_window_past_its_bounds_is_refused(window: int) -> None:
    with pytest.raises(ValueError, match="per_subscription_window must be from 1 to 1000"):
        NotificationSettings(per_subscription_window=window)


@pytest.mark.parametrize("count", [0, 16])
def test_delivery_workers_at_their_bounds_are_taken(count: int) -> None:
    assert Settings(delivery_workers=count).delivery_workers == count


@pytest.mark.parametrize("count", [-1, 17])
def test_delivery_workers_past_their_bounds_are_refused(count: int) -> None:
    with pytest.raises(ValueError, match=f"delivery_workers must be from 0 to 16, not {count}"):
        Settings(delivery_workers=count)


def test_delivery_workers_without_notifications_are_refused() -> None:
    with pytest.raises(ValueError, match=r"delivery_workers needs \[notifications\] enabled"):
        Settings(delivery_workers=1, notifications=NotificationSettings(enabled=False))
