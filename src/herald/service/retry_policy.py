"""A seam until the full retry policy lands: Zaqar's `_retry_policy` checked and scheduled."""

from __future__ import annotations

from typing import Any

import msgspec

from herald import errors

FUNCTIONS = ("linear", "arithmetic", "exponential", "geometric")


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    retries_with_no_delay: int = 3
    minimum_delay_retries: int = 3
    minimum_delay: int = 5
    maximum_delay: int = 30
    maximum_delay_retries: int = 3
    retry_backoff_function: str = "linear"
    ignore_subscription_override: bool = False

    def delays(self) -> list[float]:
        """The wait before each retry, in order; after the last, delivery gives up."""
        out = [0.0] * self.retries_with_no_delay
        out += [float(self.minimum_delay)] * self.minimum_delay_retries
        step = self.minimum_delay
        while step < self.maximum_delay:
            out.append(float(step))
            step += 5
        out += [float(self.maximum_delay)] * self.maximum_delay_retries
        return out


DEFAULT = RetryPolicy()


def check_retry_policy(document: Any) -> RetryPolicy:
    if not isinstance(document, dict):
        raise errors.InvalidRequest("_retry_policy must be an object.")
    try:
        policy = msgspec.convert(document, RetryPolicy)
    except msgspec.ValidationError as exc:
        raise errors.InvalidRequest(f"_retry_policy is invalid: {exc}.") from None
    if policy.retry_backoff_function not in FUNCTIONS:
        raise errors.InvalidRequest(f"_retry_policy retry_backoff_function must be one of {FUNCTIONS}.")
    if policy.maximum_delay - policy.minimum_delay < 10:
        raise errors.InvalidRequest("_retry_policy maximum_delay must exceed minimum_delay by 10.")
    return policy
