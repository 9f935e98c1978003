"""The names of every key the Redis store writes."""

from __future__ import annotations

import re
from urllib.parse import quote


def _quote(text: str) -> str:
    # Percent-encoding leaves no ':' in a name, so no key can pass for another.
    return quote(text, safe="")


class Keys:
    """Every key name the driver uses, built here and nowhere else."""

    QUEUE_PARTS = ("ids", "ready", "delayed", "claimed", "expiry", "claims")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.expiring = f"{prefix}:expiring"
        self.claims = f"{prefix}:claims"
        self.next_id = f"{prefix}:next_id"
        self.message_prefix = f"{prefix}:m:"
        self.claim_prefix = f"{prefix}:c:"
        self.members_prefix = f"{prefix}:cm:"
        self.api_keys = f"{prefix}:apikeys"

    def queue_base(self, project: str, name: str) -> str:
        """The queue's record; its other keys hang off this name."""
        return f"{self.prefix}:q:{_quote(project)}:{_quote(name)}"

    def queue(self, base: str) -> list[str]:
        """The record, ids, ready, delayed, claimed, expiry and claims keys of a queue."""
        return [base, *(f"{base}:{part}" for part in self.QUEUE_PARTS)]

    def queue_index(self, project: str) -> str:
        return f"{self.prefix}:queues:{_quote(project)}"

    def index_of(self, base: str) -> str:
        """The queue index of the project a queue record belongs to."""
        quoted_project = base[len(self.prefix) + len(":q:") :].split(":", 1)[0]
        return f"{self.prefix}:queues:{quoted_project}"

    def message(self, message_id: str) -> str:
        return self.message_prefix + message_id

    def claim(self, claim_id: str) -> str:
        return self.claim_prefix + claim_id

    def api_key(self, key_id: str) -> str:
        """The hash holding one API key's record."""
        return f"{self.prefix}:apikey:{_quote(key_id)}"

    def project_api_keys(self, project: str) -> str:
        """The project's API key ids, scored by creation time (`api_keys` holds every id)."""
        return f"{self.prefix}:apikeys:{_quote(project)}"

    def pattern(self) -> str:
        """A SCAN pattern matching every key of this prefix."""
        return re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + ":*"
