"""Storage drivers and the contract they share."""

from herald.storage.base import Store
from herald.storage.factory import open_store

__all__ = ["Store", "open_store"]
