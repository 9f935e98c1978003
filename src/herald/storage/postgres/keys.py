"""Client text as the keys PostgreSQL stores.

PostgreSQL text cannot hold NUL, so no project, queue name or client id
stored has one: text holding NUL names nothing, and only creating something
by such a name is refused, as the client's error.
"""

from __future__ import annotations

import uuid

from herald.errors import InvalidRequest

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


def storable(*texts: str) -> bool:
    """Whether PostgreSQL text can hold every one of `texts`."""
    return not any("\0" in text for text in texts)


def must_be_storable(*texts: str) -> None:
    """Refuse to create anything named by text PostgreSQL cannot hold."""
    if not storable(*texts):
        raise InvalidRequest("Project ids, queue names and client ids cannot hold NUL.")


def marker_place(marker: str) -> str:
    """A listing marker PostgreSQL can hold, with the same place among stored names:
    the text before its first NUL, since every name after one comes after the other."""
    return marker.partition("\0")[0]
