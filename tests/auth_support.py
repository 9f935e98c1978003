"""Helpers of the Keystone suite: Herald settings that trust a Keystone, serving, headers."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from herald.auth.keystone import KeystoneAuth
from herald.auth.signed_urls import SignedUrls
from herald.config import Settings, load_settings
from herald.transport.http.app import HeraldApp, create_app
from keystone_server import Keystone
from support import serving_app


def keystone_settings(directory: Path, keystone: Keystone, **overrides: str) -> Settings:
    """Settings for a Herald on SQLite under `directory` that trusts this Keystone."""
    service = keystone.accounts["herald"]
    environ = {
        "HERALD_AUTH": "keystone",
        "HERALD_KEYSTONE_AUTH_URL": keystone.auth_url,
        "HERALD_KEYSTONE_USERNAME": service.name,
        "HERALD_KEYSTONE_PASSWORD": service.password,
        "HERALD_KEYSTONE_PROJECT_NAME": service.project_name,
        **{f"HERALD_{key.upper()}": value for key, value in overrides.items()},
    }
    store = f"sqlite:///{directory / 'herald.sqlite3'}"
    return load_settings(environ=environ, overrides={"store": store})


@dataclass
class Served:
    """A Herald serving in this process: its URL and its Keystone identity step."""

    url: str
    app: HeraldApp

    @property
    def step(self) -> KeystoneAuth:
        # Pre-signed URLs are judged first, by a step wrapping the one `auth` chose.
        signed = self.app.identify
        assert isinstance(signed, SignedUrls)
        assert isinstance(signed.inner, KeystoneAuth)
        return signed.inner


@contextmanager
def serving(settings: Settings) -> Iterator[Served]:
    """Serve Herald with uvicorn in a thread of this process."""
    app = create_app(settings)
    with serving_app(app) as url:
        yield Served(url, app)


ServerFactory = Callable[..., Served]


def as_user(token: str, **extra: str) -> dict[str, str]:
    """Headers of a Zaqar request carrying the token and a fresh Client-ID."""
    return {"X-Auth-Token": token, "Client-ID": str(uuid.uuid4()), **extra}
