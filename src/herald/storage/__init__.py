"""Storage drivers and the contract they share."""

from herald.storage.base import Store, open_store

__all__ = ["Store", "open_store"]
