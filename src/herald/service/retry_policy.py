"""Zaqar's `_retry_policy`: how often and how long apart a failed notification is sent again.

A policy comes from a subscription's `options._retry_policy` or its queue's
`_retry_policy` metadata. After the first attempt fails, the retries come in
four phases: `retries_with_no_delay` at once, `minimum_delay_retries` each
`minimum_delay` seconds after the last, a backoff series from `minimum_delay`
towards `maximum_delay` shaped by `retry_backoff_function`, then
`maximum_delay_retries` each `maximum_delay` seconds apart. The series are
computed exactly as Zaqar computes them, float rounding included.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final, Literal

import msgspec

from herald.errors import InvalidRequest

BackoffFunction = Literal["linear", "arithmetic", "geometric", "exponential"]

# Zaqar's defaults (zaqar/common/consts.py), and the step of its backoff series.
RETRIES_WITH_NO_DELAY: Final = 3
MINIMUM_DELAY_RETRIES: Final = 3
MINIMUM_DELAY: Final = 5
MAXIMUM_DELAY: Final = 30
MAXIMUM_DELAY_RETRIES: Final = 3
BACKOFF_STEP: Final = 5
# Zaqar refuses a policy whose delays are less than two steps apart.
MINIMUM_SPREAD: Final = 2 * BACKOFF_STEP
# Herald's own bounds, where Zaqar has none: a day between retries and a hundred
# retries a phase keep a schedule to at most about 17,600 attempts, where an
# unbounded one could make a single subscription hold the engine forever.
MAX_DELAY: Final = 86_400
MAX_RETRIES: Final = 100

_COUNTS: Final = ("retries_with_no_delay", "minimum_delay_retries", "maximum_delay_retries")


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """A checked retry policy; the defaults are Zaqar's."""

    retries_with_no_delay: int = RETRIES_WITH_NO_DELAY
    minimum_delay_retries: int = MINIMUM_DELAY_RETRIES
    minimum_delay: int = MINIMUM_DELAY
    maximum_delay: int = MAXIMUM_DELAY
    maximum_delay_retries: int = MAXIMUM_DELAY_RETRIES
    retry_backoff_function: BackoffFunction = "linear"
    ignore_subscription_override: bool = False

    def backoff(self) -> tuple[int, ...]:
        """The delays of the backoff phase, in seconds."""
        series = _BACKOFF[self.retry_backoff_function]
        return tuple(series(self.minimum_delay, self.maximum_delay, BACKOFF_STEP))

    def delays(self) -> tuple[int, ...]:
        """Every retry's delay after the attempt before it, in order; its length is the
        number of retries after the first attempt."""
        return (
            (0,) * self.retries_with_no_delay
            + (self.minimum_delay,) * self.minimum_delay_retries
            + self.backoff()
            + (self.maximum_delay,) * self.maximum_delay_retries
        )


DEFAULT: Final = RetryPolicy()


def parse_retry_policy(document: Any, *, name: str = "_retry_policy") -> RetryPolicy | None:
    """The policy a `_retry_policy` value asks for, or None when it sets none (absent, null
    or `{}`, which Zaqar takes for no policy). Raises InvalidRequest naming what is wrong."""
    if document is None or document == {}:
        return None
    if not isinstance(document, dict):
        raise InvalidRequest(f"{name} must be an object.")
    # Keys Zaqar does not know are ignored, as Zaqar ignores them.
    fields: dict[str, Any] = {}
    for key in (*_COUNTS, "minimum_delay", "maximum_delay"):
        if key in document:
            fields[key] = _integer(document[key], f"{name}.{key}")
    for key in _COUNTS:
        if key in fields and not 0 <= fields[key] <= MAX_RETRIES:
            raise InvalidRequest(f"{name}.{key} must be an integer from 0 to {MAX_RETRIES}.")
    for key in ("minimum_delay", "maximum_delay"):
        if key in fields and not 0 <= fields[key] <= MAX_DELAY:
            raise InvalidRequest(f"{name}.{key} must be an integer from 0 to {MAX_DELAY}.")
    if "retry_backoff_function" in document:
        function = document["retry_backoff_function"]
        if not isinstance(function, str) or function not in _BACKOFF:
            raise InvalidRequest(
                f"{name}.retry_backoff_function must be one of linear, arithmetic, "
                "geometric or exponential."
            )
        fields["retry_backoff_function"] = function
    if "ignore_subscription_override" in document:
        override = document["ignore_subscription_override"]
        if not isinstance(override, bool):
            raise InvalidRequest(f"{name}.ignore_subscription_override must be a boolean.")
        fields["ignore_subscription_override"] = override
    policy = RetryPolicy(**fields)
    low, high = policy.minimum_delay, policy.maximum_delay
    if high < low:
        raise InvalidRequest(f"{name}.minimum_delay must be less than maximum_delay.")
    if high - low < MINIMUM_SPREAD:
        raise InvalidRequest(
            f"{name}.maximum_delay must be at least {MINIMUM_SPREAD} seconds above minimum_delay."
        )
    if low == 0 and policy.retry_backoff_function in ("geometric", "exponential"):
        # Both series divide by minimum_delay; Zaqar accepts 0 and then fails every retry.
        raise InvalidRequest(
            f"{name}.minimum_delay must be at least 1 for the "
            f"{policy.retry_backoff_function} backoff function."
        )
    return policy


def effective_retry_policy(
    subscription: RetryPolicy | None, queue: RetryPolicy | None
) -> RetryPolicy:
    """The policy a delivery follows, chosen as Zaqar chooses: the queue's when either sets
    `ignore_subscription_override`, else the subscription's, else the queue's, else the
    defaults. A policy is taken whole; missing keys take defaults, never the other's."""
    overridden = any(
        p is not None and p.ignore_subscription_override for p in (subscription, queue)
    )
    if overridden:
        return queue or DEFAULT
    return subscription or queue or DEFAULT


def _integer(value: Any, name: str) -> int:
    # bool is an int to Python, but `true` seconds means nothing.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{name} must be an integer.")
    return value


# The four series of zaqar/notification/tasks/webhook.py, as formulas. Zaqar
# passes BACKOFF_STEP as the third argument, so each series has
# (maximum - minimum) / step delays, or fewer for linear.


def _linear(minimum: int, maximum: int, step: int) -> list[int]:
    return list(range(minimum, maximum, step))


def _geometric(minimum: int, maximum: int, step: int) -> list[int]:
    count = int((maximum - minimum) / step)
    ratio = math.pow(10, math.log10(maximum / minimum) / (count - 1))
    return [int(minimum * math.pow(ratio, n - 1)) for n in range(1, count + 1)]


def _exponential(minimum: int, maximum: int, step: int) -> list[int]:
    count = int((maximum - minimum) / step)
    ratio = math.pow(10, math.log10(maximum / minimum) / (count - 1))
    start = minimum / ratio
    return [int(start * math.pow(ratio, n)) for n in range(1, count + 1)]


def _arithmetic(minimum: int, maximum: int, step: int) -> list[int]:
    count = int((maximum - minimum) / step)
    difference = 2.0 * (maximum - minimum) / (count * (count - 1))
    return [int(minimum + (n - 1) * n * difference / 2) for n in range(1, count + 1)]


_BACKOFF: Final[dict[str, Callable[[int, int, int], list[int]]]] = {
    "linear": _linear,
    "arithmetic": _arithmetic,
    "geometric": _geometric,
    "exponential": _exponential,
}
