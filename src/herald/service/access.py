"""Each operation of the service is named by a policy action and checked before it runs.

Checking here, not in a transport, means every transport gets the same answer
for the same caller without adding a check of its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from herald.auth.policy import ACTIONS, Policy
from herald.identity import Caller

P = ParamSpec("P")
R = TypeVar("R")


class Guarded(Protocol):
    """What holds guarded operations: the policy of its service."""

    @property
    def policy(self) -> Policy: ...


S = TypeVar("S", bound=Guarded)
Operation = Callable[Concatenate[S, Caller, P], Coroutine[Any, Any, R]]


def action(
    name: str,
) -> Callable[[Operation[S, P, R]], Operation[S, P, R]]:
    """Name the operation's action; its caller is checked against the policy first."""
    if name not in ACTIONS:
        raise ValueError(f"{name!r} is not a policy action")

    def guard(operation: Operation[S, P, R]) -> Operation[S, P, R]:
        @functools.wraps(operation)
        async def checked(self: S, caller: Caller, /, *args: P.args, **kwargs: P.kwargs) -> R:
            self.policy.enforce(name, caller)
            return await operation(self, caller, *args, **kwargs)

        return checked

    return guard
