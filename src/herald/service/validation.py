"""Checks of a subscription's options that must hold before it is stored."""

from __future__ import annotations

from typing import Any

from herald import errors
from herald.service.filters import compile_policy
from herald.service.names import is_queue_name
from herald.service.retry_policy import parse_retry_policy
from herald.service.subscribers import webhook_options


def check_subscription_options(options: dict[str, Any]) -> None:
    """Refuse options the delivery engine could not honour: a 400 naming the option."""
    if "_retry_policy" in options:
        parse_retry_policy(options["_retry_policy"], name="options._retry_policy")
    if "filter_policy" in options:
        compile_policy(options["filter_policy"])
    dlq = options.get("dead_letter_queue")
    if dlq is not None and not (isinstance(dlq, str) and is_queue_name(dlq)):
        raise errors.InvalidRequest(
            "options.dead_letter_queue must be the name of a queue of the same project."
        )
    webhook_options(options)
