"""Checks of request values against the configured limits."""

from __future__ import annotations

import msgspec

from herald import errors
from herald.model import ClaimBody, Limits


def page_limit(limits: Limits, limit: int | None, top: int) -> int:
    """The page size asked for, or the default; a 400 outside 1..top."""
    if limit is None:
        return min(limits.default_page_size, top)
    if not 1 <= limit <= top:
        raise errors.InvalidRequest(f"Limit must be at least 1 and may not be greater than {top}.")
    return limit


def check_wait(limits: Limits, wait: float) -> float:
    """The seconds a request may wait for messages; a 400 outside 0..max_wait (NaN too)."""
    top = limits.max_wait
    if not 0 <= wait <= top:
        raise errors.InvalidParameter(
            f'The "wait" parameter is invalid. The value must be a number of seconds '
            f"from 0 to {top}."
        )
    return wait


def check_id_count(limits: Limits, ids: list[str]) -> None:
    top = limits.max_messages_per_page
    if not 1 <= len(ids) <= top:
        raise errors.InvalidRequest(f"Limit must be at least 1 and may not be greater than {top}.")


def check_message_ttl(limits: Limits, ttl: int) -> None:
    top, low = limits.max_message_ttl, limits.min_message_ttl
    if not low <= ttl <= top:
        raise errors.InvalidRequest(
            f"The TTL for a message may not exceed {top} seconds, and must be at "
            f"least {low} seconds long."
        )


def check_delay(limits: Limits, delay: int) -> None:
    top = limits.max_message_delay
    if not 0 <= delay <= top:
        raise errors.InvalidRequest(f"The delay of a message must be between 0 and {top} seconds.")


def claim_times(limits: Limits, body: ClaimBody) -> tuple[int, int]:
    """The claim's ttl and grace, defaulted and checked."""
    ttl = limits.default_claim_ttl if body.ttl is msgspec.UNSET else body.ttl
    grace = limits.default_claim_grace if body.grace is msgspec.UNSET else body.grace
    if not limits.min_claim_ttl <= ttl <= limits.max_claim_ttl:
        raise errors.InvalidRequest(
            f"The TTL for a claim may not exceed {limits.max_claim_ttl} seconds, "
            f"and must be at least {limits.min_claim_ttl} seconds long."
        )
    if not limits.min_claim_grace <= grace <= limits.max_claim_grace:
        raise errors.InvalidRequest(
            f"The grace for a claim may not exceed {limits.max_claim_grace} "
            f"seconds, and must be at least {limits.min_claim_grace} seconds long."
        )
    return ttl, grace


def check_document_size(limits: Limits, body: bytes, what: str) -> None:
    """Metadata, claim and purge documents hold at most `max_queue_metadata` bytes."""
    cap = limits.max_queue_metadata
    if len(body) > cap:
        raise errors.InvalidRequest(f"{what} is too large. Max size: {cap}")
