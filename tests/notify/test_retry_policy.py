"""Zaqar's retry policy: its defaults, its checks, and its four backoff series, pinned to
values worked out by hand from Zaqar's formulas (the working is beside each)."""

from __future__ import annotations

from typing import Any

import pytest

from herald.errors import InvalidRequest
from herald.service.retry_policy import (
    DEFAULT,
    MAX_DELAY,
    MAX_RETRIES,
    RetryPolicy,
    effective_retry_policy,
    parse_retry_policy,
)


def test_the_defaults_are_zaqars() -> None:
    assert (
        RetryPolicy(
            retries_with_no_delay=3,
            minimum_delay_retries=3,
            minimum_delay=5,
            maximum_delay=30,
            maximum_delay_retries=3,
            retry_backoff_function="linear",
            ignore_subscription_override=False,
        )
        == DEFAULT
    )
    # 3 at once, 3 after 5 s, linear 5..30 by 5 (30 excluded), 3 after 30 s.
    assert DEFAULT.delays() == (0, 0, 0, 5, 5, 5, 5, 10, 15, 20, 25, 30, 30, 30)


@pytest.mark.parametrize(
    ("function", "low", "high", "series"),
    [
        # linear: range(low, high, 5).
        ("linear", 5, 30, (5, 10, 15, 20, 25)),
        ("linear", 1, 21, (1, 6, 11, 16)),
        ("linear", 2, 12, (2, 7)),
        # arithmetic: n = (high-low)/5, d = 2(high-low)/(n(n-1)), low + (a-1)a d/2.
        # 5..30: n=5, d=2.5 -> 5, 7.5, 12.5, 20, 30.
        ("arithmetic", 5, 30, (5, 7, 12, 20, 30)),
        # 1..21: n=4, d=10/3 -> 1, 4.33, 11, 21.
        ("arithmetic", 1, 21, (1, 4, 11, 21)),
        # 10..60: n=10, d=10/9 -> 10, 11.1, 13.3, 16.7, 21.1, 26.7, 33.3, 41.1, 50, 60.
        ("arithmetic", 10, 60, (10, 11, 13, 16, 21, 26, 33, 41, 50, 60)),
        # geometric: n as above, k = (high/low)^(1/(n-1)), low k^(a-1).
        # 5..30: k = 6^(1/4) = 1.565 -> 5, 7.83, 12.25, 19.17, 30.
        ("geometric", 5, 30, (5, 7, 12, 19, 30)),
        # 1..21: k = 21^(1/3) = 2.759 -> 1, 2.76, 7.61, 21.
        ("geometric", 1, 21, (1, 2, 7, 21)),
        # 10..60: k = 6^(1/9) = 1.220 -> 10, 12.2, 14.9, 18.2, 22.2, 27.1, 33.0, 40.3, 49.2, 60.
        ("geometric", 10, 60, (10, 12, 14, 18, 22, 27, 33, 40, 49, 60)),
        # exponential: p = low/k, p k^a -- the same curve as geometric, reached another way.
        ("exponential", 5, 30, (5, 7, 12, 19, 30)),
        ("exponential", 10, 60, (10, 12, 14, 18, 22, 27, 33, 40, 49, 60)),
        # At the smallest spread both curved series have two points: the two ends.
        ("geometric", 2, 12, (2, 12)),
        ("arithmetic", 2, 12, (2, 12)),
    ],
)
def test_each_backoff_series_is_zaqars(
    function: Any, low: int, high: int, series: tuple[int, ...]
) -> None:
    policy = RetryPolicy(minimum_delay=low, maximum_delay=high, retry_backoff_function=function)
    assert policy.backoff() == series


def test_the_schedule_is_the_four_phases_in_order() -> None:
    policy = parse_retry_policy(
        {
            "retries_with_no_delay": 1,
            "minimum_delay_retries": 2,
            "minimum_delay": 1,
            "maximum_delay": 21,
            "maximum_delay_retries": 1,
            "retry_backoff_function": "geometric",
        }
    )
    assert policy is not None
    assert policy.delays() == (0, 1, 1, 1, 2, 7, 21, 21)


def test_phases_may_be_empty() -> None:
    policy = parse_retry_policy(
        {"retries_with_no_delay": 0, "minimum_delay_retries": 0, "maximum_delay_retries": 0}
    )
    assert policy is not None
    assert policy.delays() == (5, 10, 15, 20, 25)


@pytest.mark.parametrize("unset", [None, {}])
def test_no_policy_is_none(unset: Any) -> None:
    assert parse_retry_policy(unset) is None


def test_missing_keys_take_the_defaults_and_unknown_keys_are_ignored() -> None:
    assert parse_retry_policy({"minimum_delay": 10, "colour": "blue"}) == RetryPolicy(
        minimum_delay=10
    )


def _refused(document: Any) -> str:
    with pytest.raises(InvalidRequest) as caught:
        parse_retry_policy(document)
    return caught.value.description


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ([], "_retry_policy must be an object."),
        ("linear", "_retry_policy must be an object."),
        ({"minimum_delay": "5"}, "_retry_policy.minimum_delay must be an integer."),
        ({"minimum_delay": 5.5}, "_retry_policy.minimum_delay must be an integer."),
        ({"maximum_delay": True}, "_retry_policy.maximum_delay must be an integer."),
        ({"retries_with_no_delay": None}, "retries_with_no_delay must be an integer."),
        ({"retries_with_no_delay": -1}, "retries_with_no_delay must be an integer from 0 to 100"),
        ({"minimum_delay_retries": 101}, "minimum_delay_retries must be an integer from 0 to 100"),
        ({"maximum_delay_retries": 101}, "maximum_delay_retries must be an integer from 0 to 100"),
        ({"minimum_delay": -1}, "minimum_delay must be an integer from 0 to 86400"),
        ({"maximum_delay": MAX_DELAY + 1}, "maximum_delay must be an integer from 0 to 86400"),
        ({"retry_backoff_function": "cubic"}, "must be one of linear, arithmetic"),
        ({"retry_backoff_function": ["linear"]}, "must be one of linear, arithmetic"),
        ({"retry_backoff_function": None}, "must be one of linear, arithmetic"),
        ({"ignore_subscription_override": 1}, "ignore_subscription_override must be a boolean."),
        ({"minimum_delay": 31}, "minimum_delay must be less than maximum_delay."),
        ({"minimum_delay": 21}, "maximum_delay must be at least 10 seconds above minimum_delay."),
        (
            {"minimum_delay": 0, "maximum_delay": 20, "retry_backoff_function": "geometric"},
            "minimum_delay must be at least 1 for the geometric backoff function.",
        ),
        (
            {"minimum_delay": 0, "maximum_delay": 20, "retry_backoff_function": "exponential"},
            "at least 1 for the exponential",
        ),
    ],
)
def test_a_bad_policy_is_refused_with_its_reason(document: Any, words: str) -> None:
    assert words in _refused(document)


def test_the_name_in_messages_says_where_the_policy_came_from() -> None:
    with pytest.raises(InvalidRequest, match=r"^options\._retry_policy\.minimum_delay"):
        parse_retry_policy({"minimum_delay": "x"}, name="options._retry_policy")


def test_bounds_at_the_limit_are_allowed() -> None:
    # Spread of exactly 10, minimum 0 for linear and arithmetic, the largest delay and counts.
    assert parse_retry_policy({"minimum_delay": 20, "maximum_delay": 30}) is not None
    for function in ("linear", "arithmetic"):
        policy = parse_retry_policy(
            {"minimum_delay": 0, "maximum_delay": 10, "retry_backoff_function": function}
        )
        assert policy is not None
        assert policy.backoff()[0] == 0
    policy = parse_retry_policy(
        {
            "maximum_delay": MAX_DELAY,
            "retries_with_no_delay": MAX_RETRIES,
            "minimum_delay_retries": MAX_RETRIES,
            "maximum_delay_retries": MAX_RETRIES,
            "retry_backoff_function": "exponential",
        }
    )
    assert policy is not None
    delays = policy.delays()
    assert len(delays) == 3 * MAX_RETRIES + (MAX_DELAY - 5) // 5
    assert delays[-1] == MAX_DELAY
    assert max(delays) == MAX_DELAY


SUB = RetryPolicy(minimum_delay=1, maximum_delay=11)
QUEUE = RetryPolicy(minimum_delay=2, maximum_delay=12)
SUB_IGNORES = RetryPolicy(minimum_delay=1, maximum_delay=11, ignore_subscription_override=True)
QUEUE_IGNORES = RetryPolicy(minimum_delay=2, maximum_delay=12, ignore_subscription_override=True)


@pytest.mark.parametrize(
    ("subscription", "queue", "chosen"),
    [
        (None, None, DEFAULT),
        (SUB, None, SUB),
        (None, QUEUE, QUEUE),
        (SUB, QUEUE, SUB),
        (SUB, QUEUE_IGNORES, QUEUE_IGNORES),
        (SUB_IGNORES, QUEUE, QUEUE),
        # Zaqar: a subscription that ignores its own override with no queue policy gets defaults.
        (SUB_IGNORES, None, DEFAULT),
    ],
)
def test_which_policy_applies_is_zaqars_choice(
    subscription: RetryPolicy | None, queue: RetryPolicy | None, chosen: RetryPolicy
) -> None:
    assert effective_retry_policy(subscription, queue) == chosen
