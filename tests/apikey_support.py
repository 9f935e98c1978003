"""A Herald with `auth = "apikey"` on a SQLite file, and keys put straight into its store."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from herald.auth.keys import make_key
from herald.config import load_settings
from herald.storage.sqlite import SQLiteStore
from support import running_app

CACHE_SECONDS = 1.0


class KeyedServer:
    """A running server whose keys the test makes; `store_uri` is its SQLite file."""

    def __init__(self, url: str, path: Path) -> None:
        self.url = url
        self.path = path
        self.store_uri = f"sqlite:///{path}"

    def key(
        self,
        project: str,
        roles: tuple[str, ...] = (),
        *,
        expires_in: float | None = None,
        revoked: bool = False,
    ) -> str:
        """A new key of `project`, as its holder would have it."""
        now = time.time()
        expires = None if expires_in is None else now + expires_in
        made = make_key(project, roles, now=now, expires=expires)

        async def put() -> None:
            store = SQLiteStore(str(self.path))
            await store.open()
            try:
                assert await store.put_key(made.record)
                if revoked:
                    await store.revoke_key(made.record.id, now)
            finally:
                await store.close()

        asyncio.run(put())
        return made.key

    def client(self, key: str | None, *, header: str = "authorization") -> httpx.Client:
        """A client presenting `key` (in `Authorization` or `X-Auth-Token`), with a Client-ID."""
        headers = {"Client-ID": str(uuid.uuid4()), "Content-Type": "application/json"}
        if key is not None:
            headers["Authorization" if header == "authorization" else "X-Auth-Token"] = (
                f"Bearer {key}" if header == "authorization" else key
            )
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


@contextmanager
def keyed_server(
    directory: Path, cache_seconds: float = CACHE_SECONDS, **overrides: object
) -> Iterator[KeyedServer]:
    """Serve Herald with `auth = "apikey"` (and these settings) in this process until the
    block ends."""
    path = directory / "herald.sqlite3"
    settings = load_settings(
        environ={"HERALD_APIKEY_CACHE_SECONDS": str(cache_seconds)},
        overrides={"store": f"sqlite:///{path}", "auth": "apikey", **overrides},
    )
    with running_app(settings) as url:
        yield KeyedServer(url, path)
