"""Fixtures of the Keystone suite: one real Keystone per session and Herald servers using it.

Keystone comes from `tests/keystone_server.py`; where it cannot be built or
started the suite is skipped with a hint, or fails with HERALD_REQUIRE_BACKENDS=1.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest

from auth_support import Served, ServerFactory, keystone_settings, serving
from backends import backend_unreachable
from keystone_server import HINT, Keystone, KeystoneUnavailable, launch
from support import free_port


@pytest.fixture(scope="session")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystone]:
    """A real Keystone (fernet tokens, SQLite) with the accounts `launch` makes."""
    try:
        server = launch(tmp_path_factory.mktemp("keystone"), free_port())
    except (KeystoneUnavailable, httpx.HTTPError, OSError, subprocess.SubprocessError) as exc:
        backend_unreachable("Keystone", f"{HINT}. {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def keystone_herald(
    keystone: Keystone, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerFactory]:
    """A Herald with keystone auth and these settings, started on first use and shared."""
    servers: dict[tuple[tuple[str, str], ...], Served] = {}
    with ExitStack() as stack:

        def start(**overrides: str) -> Served:
            key = tuple(sorted(overrides.items()))
            if key not in servers:
                directory = tmp_path_factory.mktemp("herald")
                settings = keystone_settings(directory, keystone, **overrides)
                servers[key] = stack.enter_context(serving(settings))
            return servers[key]

        yield start


@pytest.fixture(scope="session")
def tokens(keystone: Keystone) -> Callable[[str], str]:
    """A fresh project-scoped token for one of the accounts `launch` made."""

    def token(name: str) -> str:
        account = keystone.accounts[name]
        return keystone.token(account.name, account.password, account.project_id)

    return token
