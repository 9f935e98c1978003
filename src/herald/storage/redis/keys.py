"""The names of every key the Redis store writes."""

from __future__ import annotations

import re
from urllib.parse import quote


def _quote(text: str) -> str:
    # Percent-encoding leaves no ':' in a name, so no key can pass for another.
    return quote(text, safe="")


class Keys:
    """Every key name the driver uses, built here and nowhere else."""

    QUEUE_PARTS = (
        "ids",
        "ready",
        "delayed",
        "claimed",
        "expiry",
        "claims",
        "subscriptions",
        "subscribers",
    )

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.expiring = f"{prefix}:expiring"
        self.claims = f"{prefix}:claims"
        self.next_id = f"{prefix}:next_id"
        self.message_prefix = f"{prefix}:m:"
        self.claim_prefix = f"{prefix}:c:"
        self.members_prefix = f"{prefix}:cm:"
        self.api_keys = f"{prefix}:apikeys"
        # The outbox: deliveries by due and by post time, and their id counter;
        # every subscription by expiry, for the collector.
        self.deliveries_due = f"{prefix}:deliveries:due"
        self.deliveries_posted = f"{prefix}:deliveries:posted"
        self.next_delivery = f"{prefix}:next_delivery"
        self.subscriptions = f"{prefix}:subscriptions"
        self.subscription_prefix = f"{prefix}:s:"
        self.owed_prefix = f"{prefix}:sd:"
        self.delivery_prefix = f"{prefix}:d:"

    def queue_base(self, project: str, name: str) -> str:
        """The queue's record; its other keys hang off this name."""
        return f"{self.prefix}:q:{_quote(project)}:{_quote(name)}"

    def queue(self, base: str) -> list[str]:
        """The record, ids, ready, delayed, claimed, expiry, claims, subscriptions and
        subscribers keys of a queue."""
        return [base, *(f"{base}:{part}" for part in self.QUEUE_PARTS)]

    def queue_index(self, project: str) -> str:
        return f"{self.prefix}:queues:{_quote(project)}"

    def subscriptions_of(self, base: str) -> str:
        """The queue's subscription ids, scored by expiry."""
        return f"{base}:subscriptions"

    def index_of(self, base: str) -> str:
        """The queue index of the project a queue record belongs to."""
        quoted_project = base[len(self.prefix) + len(":q:") :].split(":", 1)[0]
        return f"{self.prefix}:queues:{quoted_project}"

    def message(self, message_id: str) -> str:
        return self.message_prefix + message_id

    def claim(self, claim_id: str) -> str:
        return self.claim_prefix + claim_id

    def subscription(self, subscription_id: str) -> str:
        """The hash holding one subscription; ids are the service's, unique per store."""
        return self.subscription_prefix + subscription_id

    def delivery(self, delivery_id: str) -> str:
        return self.delivery_prefix + delivery_id

    def api_key(self, key_id: str) -> str:
        """The hash holding one API key's record."""
        return f"{self.prefix}:apikey:{_quote(key_id)}"

    def project_api_keys(self, project: str) -> str:
        """The project's API key ids, scored by creation time (`api_keys` holds every id)."""
        return f"{self.prefix}:apikeys:{_quote(project)}"

    def pattern(self) -> str:
        """A SCAN pattern matching every key of this prefix."""
        return re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix) + ":*"
