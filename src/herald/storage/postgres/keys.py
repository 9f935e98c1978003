"""Client text as the keys PostgreSQL stores."""

from __future__ import annotations

import uuid

NO_CLAIM = uuid.UUID(int=0)  # claim ids are version 4: never this one


def claim_key(text: str) -> uuid.UUID | None:
    """The claim id as stored, or None for text that no claim of ours can have."""
    try:
        key = uuid.UUID(text)
    except ValueError:
        return None
    return key if str(key) == text else None


def claim_keys(texts: list[str]) -> list[uuid.UUID]:
    """The claim ids among `texts` that a claim of ours can have."""
    return [key for key in map(claim_key, texts) if key is not None]
