"""How one delivery attempt went, in the terms an engine schedules by."""

from __future__ import annotations

from typing import Literal

import msgspec

Verdict = Literal["delivered", "retry", "failed", "undeliverable"]


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """The verdict of one attempt: `delivered`; `retry` (worth another attempt by the
    retry policy); `failed` (the subscriber refused it, another attempt would be refused
    too); `undeliverable` (this server cannot send it at all). `reason` is for the log
    and names no secret; `status` is the HTTP status when there was one."""

    verdict: Verdict
    reason: str
    status: int | None = None

    @property
    def delivered(self) -> bool:
        return self.verdict == "delivered"

    @property
    def retryable(self) -> bool:
        return self.verdict == "retry"
