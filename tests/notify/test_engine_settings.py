"""The engine's per-subscription window: its bounds."""

from __future__ import annotations

import pytest

from herald.config import NotificationSettings


@pytest.mark.parametrize("window", [1, 1000])
def test_window_at_its_bounds_is_taken(window: int) -> None:
    assert NotificationSettings(per_subscription_window=window).per_subscription_window == window


@pytest.mark.parametrize("window", [0, 1001])
def test_window_past_its_bounds_is_refused(window: int) -> None:
    with pytest.raises(ValueError, match="per_subscription_window must be from 1 to 1000"):
        NotificationSettings(per_subscription_window=window)
